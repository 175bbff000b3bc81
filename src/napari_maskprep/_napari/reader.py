"""File › Open for TIFF, OME-TIFF and whole-slide files, read as ``maskprep run`` reads them.

napari's own TIFF reader names no axes and sets no pixel size, and reads a slide whole. This
one gives each layer the file's axes (``t`` first for a time-lapse, so its frames are
segmented one by one), its pixel size in µm (so sizes can be set in µm), and opens a file
larger than :data:`~..io.LAZY_BUDGET`, a pyramid or an SVS slide lazily, as a multiscale
layer that no step reads whole (a file without a pyramid gets one of strided views). A mask
written by maskprep opens as a Labels layer. A file of channels that are not colour (an
ImageJ hyperstack, an OME-TIFF) opens as one layer a channel, named by its OME name, each
remembering its channel (``layers.CHANNEL_KEY``), so that a batch of such files segments
that channel; napari's reader gave one layer whose channels the ops took as a z stack.
Each image of a multi-series OME-TIFF (a plate's positions or wells) opens so, as layers
of its own named ``<stem> (series N)``, each with its own pixel size, read lazily as the
file is; only the first is shown, since they lie on one another (napari's reader opened
the first alone, without a word).

A recipe file dropped on the window (or opened) loads into the Recorder instead: no layer.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import napari
import numpy as np

from ..io import (
    PYRAMID_TOP,
    SLIDE_SUFFIXES,
    channel_count,
    channel_names,
    image_layout,
    is_lazy_path,
    keep_tiff_open,
    open_lazy,
    read_channels,
    read_image_axes,
    read_pixel_size,
    series_numbers,
    takes_layout,
    written_by_maskprep,
)
from .layers import CHANNEL_KEY, lazy_range
from .outputs import mask_colormap

__all__ = ["get_reader", "get_recipe_reader"]

_CHANNEL_COLOURS = ("green", "magenta", "cyan", "yellow", "red", "blue")  # napari's cycle

LayerData = tuple[Any, dict[str, Any], str]
SUFFIXES = (".tif", ".tiff", *SLIDE_SUFFIXES)
RECIPE_SUFFIXES = (".maskprep.yaml", ".maskprep.yml", ".maskprep.json")
NO_LAYER = [(None,)]  # napari's word for "read, and nothing to add"


def get_reader(path: str | list[str]) -> Callable[[str], list[LayerData]] | None:
    """The reader for one TIFF or slide file; None for anything else, and for a TIFF whose
    axes (of any image, for a multi-series TIFF) the ops cannot take, whole or channel
    by channel (5 dimensions): napari's reader opens those as they are."""
    if not isinstance(path, str | os.PathLike) or Path(path).suffix.lower() not in SUFFIXES:
        return None
    if not Path(path).is_file():  # a FIFO would block the header read, a device never end
        return None
    with keep_tiff_open(path):  # each image of a multi-series file: they may differ
        if Path(path).suffix.lower() in (".tif", ".tiff") and not all(
                takes_layout(path, series=n) or channel_count(path, n)
                for n in _series(Path(path))):
            return None
    return read_layers


def _strided_pyramid(level: Any, axes: str) -> list[Any]:
    """Every 2nd, 4th, ... pixel of a lazy image without a pyramid, down to
    :data:`~..io.PYRAMID_TOP` a side: napari draws a plain layer from its whole plane (all
    of a slide read for one look), a multiscale one from the level and tiles it shows."""
    at = [i for i, a in enumerate(axes) if a in "yx"]
    levels = [level]
    while max(levels[-1].shape[i] for i in at) > PYRAMID_TOP:
        levels.append(levels[-1][tuple(slice(None, None, 2) if i in at else slice(None)
                                       for i in range(level.ndim))])
    return levels


def read_layers(path: str) -> list[LayerData]:
    """The file as one layer, or one a channel: ``[t][z]yx[c]`` with its axis names and
    pixel size; a multi-series OME-TIFF so for each of its images, named by its series,
    the first alone visible."""
    path = Path(path)
    with keep_tiff_open(path):  # its header parsed once, not once a series and channel
        is_lazy, is_mask = is_lazy_path(path), written_by_maskprep(path)
        numbers = _series(path)
        if numbers == [None]:
            return _image_layers(path, None, _stem(path), is_lazy, is_mask)
        return [(data, kwargs | {"visible": n == numbers[0]}, kind) for n in numbers
                for data, kwargs, kind in _image_layers(path, n, f"{_stem(path)} (series {n})",
                                                        is_lazy, is_mask)]


def _series(path: Path) -> list[int | None]:
    """The series to open, each as layers of its own: every image of a multi-series
    OME-TIFF; ``[None]`` for a file of one image."""
    numbers = series_numbers(path)
    return list(numbers) if len(numbers) > 1 else [None]


def _image_layers(path: Path, series: int | None, name: str, is_lazy: bool, is_mask: bool
                  ) -> list[LayerData]:
    """The image ``series`` of the file as the layer ``name``, or one a channel."""
    count = channel_count(path, series) if path.suffix.lower() in (".tif", ".tiff") else 0
    if not count:
        return [_layer(is_mask, name, *_read(path, is_lazy, None, series), is_lazy)]
    if is_lazy:
        channels = [_read(path, True, n, series) for n in range(count)]
    else:
        pixel_size = read_pixel_size(path, series)
        channels = [(data, axes, pixel_size, {})
                    for data, axes in read_channels(path, series)]
    layers = []
    for n, (channel, (data, axes, pixel_size, kwargs)) in enumerate(
            zip(channel_names(path, series), channels, strict=True)):
        kwargs |= {"metadata": {CHANNEL_KEY: n}, "blending": "additive",
                   "colormap": _CHANNEL_COLOURS[n % len(_CHANNEL_COLOURS)]}
        layers.append(_layer(is_mask, f"{name} [{channel}]", data, axes, pixel_size, kwargs,
                             is_lazy))
    return layers


def _stem(path: Path) -> str:
    return path.name.removesuffix(path.suffix).removesuffix(".ome")


def _read(path: Path, is_lazy: bool, channel: int | None, series: int | None
          ) -> tuple[Any, str, tuple[float, ...] | None, dict[str, Any]]:
    """The file's data (of its image ``series``; a lazy pyramid if ``is_lazy``), axes,
    pixel size and layer options, of ``channel`` only if given."""
    if not is_lazy:
        data, axes = read_image_axes(path, channel, series)
        return data, axes, read_pixel_size(path, series), {}
    lazy = open_lazy(path, series=series)
    levels, axes = [], ""
    for level in lazy.levels:
        arranged, axes = image_layout(level, lazy.axes, str(path), channel)
        levels.append(arranged)
    # The file stays open while a layer reads it. The image keeps no array, or the
    # finalizer holding it would keep them, and the file, open for good.
    lazy.data, lazy.levels = None, []
    weakref.finalize(levels[0], lazy.close)
    if len(levels) == 1:
        levels = _strided_pyramid(levels[0], axes)
    data = levels if len(levels) > 1 else levels[0]
    return data, axes, lazy.pixel_size, {"multiscale": len(levels) > 1}


def _layer(is_mask: bool, name: str, data: Any, axes: str, pixel_size: tuple[float, ...] | None,
           kwargs: dict[str, Any], is_lazy: bool) -> LayerData:
    """The layer data tuple of ``data``, named ``name``: axis names, scale in µm, contrast;
    labels if ``is_mask`` (a file maskprep wrote)."""
    spatial = [a for a in axes if a in "zyx"]
    sizes = dict(zip(spatial[-len(pixel_size):], pixel_size, strict=True)) if pixel_size else {}
    named = axes.replace("c", "")
    kwargs |= {
        "name": name,
        "axis_labels": tuple(named),
        "scale": tuple(sizes.get(a, 1.0) for a in named),
        "units": tuple("micrometer" if a in sizes else "pixel" for a in named),
    }
    if is_mask:
        if (data[0] if kwargs.get("multiscale") else data).dtype == np.uint8:
            kwargs["colormap"] = mask_colormap()  # a mask (maskprep writes labels as int32)
        return data, kwargs, "labels"
    if is_lazy:
        low, high = (0, 0) if axes.endswith("c") else lazy_range(data, kwargs["multiscale"])
        if low < high:  # napari would span a lazy array's dtype: a uint16 slide shows black
            kwargs["contrast_limits"] = (float(low), float(high))
    return data, kwargs | {"rgb": axes.endswith("c")}, "image"


def get_recipe_reader(path: str | list[str]) -> Callable[[str], list[Any]] | None:
    """The reader for one recipe file (``*.maskprep.yaml``); None for anything else."""
    if not isinstance(path, str | os.PathLike) or not str(path).lower().endswith(
            RECIPE_SUFFIXES):
        return None
    return read_recipe


def read_recipe(path: str) -> list[Any]:
    """Load the recipe into the Recorder of the viewer in front (the Mask Prep panel's
    Recipe tab when it is docked), ready to replay; an invalid recipe is a one-line error
    there, and nothing changes."""
    from .panel import open_recorder  # the widgets load when a recipe is opened, not a TIFF

    viewer = napari.current_viewer()
    if viewer is None:
        raise ValueError(f"{path}: a recipe opens in the Recorder of a napari window; "
                         "none is open")
    open_recorder(viewer).load(path)
    return NO_LAYER
