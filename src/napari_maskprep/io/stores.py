"""Any input read whole as an array: an image file (:mod:`.images`) or a zarr store
(:mod:`.lazy`: an OME-Zarr image's full resolution, or a bare zarr array, as
``dask.array.to_zarr`` writes it), so that ``io.read_image`` takes what ``maskprep run``
does."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import images
from .axes import check_channel, image_layout, resolve_channel
from .lazy import open_lazy

__all__ = ["read_image", "read_image_axes"]


def read_image(path: str | os.PathLike[str], channel: int | str | None = None,
               series: int | None = None) -> np.ndarray:
    """The array of :func:`read_image_axes`."""
    return read_image_axes(path, channel, series)[0]


def read_image_axes(path: str | os.PathLike[str], channel: int | str | None = None,
                    series: int | None = None) -> tuple[np.ndarray, str]:
    """An image and its axes, ``[t][z]yx[c]``, only ``channel`` if given: a file as
    :func:`~.images.read_image_axes` reads it; a zarr store (a folder, or a path named
    ``.zarr``) as :func:`~.lazy.open_lazy` opens it, its level 0 read whole (a channel
    name: of an OME-Zarr's omero labels)."""
    path = Path(path)
    if path.suffix.lower() != ".zarr" and not path.is_dir():
        return images.read_image_axes(path, channel, series)
    if channel is not None:
        channel = check_channel(channel)  # before the store is read
    with open_lazy(path, series=series) as image:
        number = resolve_channel(channel, image.channel_names, str(path))
        data, axes = image_layout(image.data, image.axes, str(path), number)
        return np.asarray(data.compute()), axes
