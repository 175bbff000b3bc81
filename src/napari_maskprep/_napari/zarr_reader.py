"""File › Open for a bare zarr array (no OME-NGFF metadata, as ``dask.array.to_zarr`` and
``zarr.save_array`` write it), read as ``maskprep run`` reads it: a lazy layer (a pyramid of
strided views) whose axes are named from its shape as a plain TIFF's, no pixel size.
napari's own reader names no axes; an OME-Zarr image is napari-ome-zarr's to open."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..io import is_zarr_array
from .reader import LayerData, read_layers

__all__ = ["get_reader"]


def get_reader(path: str | list[str]) -> Callable[[str], list[LayerData]] | None:
    """The reader for one bare zarr array (zarr format 2 or 3); None for anything else."""
    if not isinstance(path, str | os.PathLike) or not is_zarr_array(path):
        return None
    return read_layers
