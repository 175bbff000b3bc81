"""What maskprep reads from a napari layer: its array, pixel size, points, the file's
channel it holds, whether it is too large to load (a pyramid or a lazy array), and the
layer itself behind napari's proxy of it."""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer, Points

from ..io import image_group
from ..io.ngff import ngff_attributes

__all__ = ["CHANNEL_KEY", "finite_range", "is_large", "layer_array", "layer_channel",
           "layer_origin", "layer_pixel_size", "lazy_range", "points_in", "sampled_range",
           "unwrapped"]

CHANNEL_KEY = "maskprep_channel"  # metadata of a layer the reader made of one file channel

SAMPLE_WINDOWS = 4  # a side's windows: 16 of a plane, read from a lazy array's extent
SAMPLE_SIDE = 512


def unwrapped(layer: Any) -> Any:
    """The layer behind napari's proxy of it, or the layer given. napari hands each plugin
    widget its own short-lived proxies (``viewer.layers[name]``, the layers it adds), each
    its own object: a proxy is not its layer (``is``), and what is kept under one goes with
    it. ``__wrapped__`` is public: napari unwraps its proxies so too."""
    return getattr(layer, "__wrapped__", layer)


def is_large(layer: Layer | None) -> bool:
    """Whether ``layer`` (an Image or Labels layer) holds a pyramid or a lazy array, which
    is never read whole."""
    if not isinstance(layer, Image | Labels):
        return False
    return bool(getattr(layer, "multiscale", False)) or not isinstance(layer.data, np.ndarray)


def layer_array(layer: Layer) -> Any:
    """The layer's full-resolution array (level 0 of a multiscale pyramid)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def layer_channel(layer: Layer | None) -> int | None:
    """The channel of its file that ``layer`` holds (the reader's :data:`CHANNEL_KEY`, or
    napari-ome-zarr's channel layer's), or None: a batch then segments that channel of
    each file."""
    channel = None if layer is None else layer.metadata.get(CHANNEL_KEY)
    if isinstance(channel, int) and not isinstance(channel, bool):
        return channel
    return None if layer is None else _ome_zarr_channel(layer)


def _ome_zarr_channel(layer: Layer) -> int | None:
    """The channel napari-ome-zarr split ``layer`` from, by the name it gives each channel
    layer (the store's omero label, after the image's name and ': ', else channel_N);
    None for a layer of another reader, a renamed one, or a store that cannot be read."""
    import zarr

    source = layer.source
    if source.reader_plugin != "napari-ome-zarr" or source.path is None:
        return None
    try:
        ome = ngff_attributes(zarr.open_group(image_group(source.path), mode="r"))
        image = ome["multiscales"][0].get("name") or ""
        channels = ome["omero"]["channels"]
        labels = [str(c.get("label", f"channel_{n}")) for n, c in enumerate(channels)]
    except Exception:  # no store, no omero block or one of another form: no channel known
        return None
    names = [f"{image}: {label}" if image else label for label in labels]
    return names.index(layer.name) if names.count(layer.name) == 1 else None


def _micrometre_axes(layer: Layer) -> tuple[list[int], list[float]]:
    """The axes a pixel size is given for (the last up to 3, a time axis excluded) and the
    micrometres one world unit makes along each (1 for a scale in pixels, or not a length)."""
    axes = [i for i in range(layer.ndim)[-3:]
            if str(layer.axis_labels[i]).lower() not in ("t", "time")]
    factors = [float((1 * unit).to("micrometer").magnitude)
               if str(unit) != "pixel" and unit.dimensionality == "[length]" else 1.0
               for unit in (layer.units[i] for i in axes)]
    return axes, factors


def layer_pixel_size(layer: Layer) -> tuple[float, ...] | None:
    """Micrometres per pixel along the layer's last (up to 3) axes, from its scale and
    units; None when it has none (scale 1 in pixels, napari's default). A scale in
    pixels (no physical unit set, as many readers leave it) is taken as micrometres. A
    time axis (labelled ``t`` or ``time``) has no pixel size: its frames are planes."""
    axes, factors = _micrometre_axes(layer)
    scale = [float(layer.scale[i]) for i in axes]
    if all(v == 1 for v in scale) and all(str(layer.units[i]) == "pixel" for i in axes):
        return None
    sizes = tuple(v * f for v, f in zip(scale, factors, strict=True))
    return sizes if all(v > 0 for v in sizes) else None


def layer_origin(layer: Layer) -> tuple[float, ...] | None:
    """Where pixel 0 lies in micrometres (the layer's translate) along the axes
    :func:`layer_pixel_size` gives; None when that gives none."""
    if layer_pixel_size(layer) is None:
        return None
    axes, factors = _micrometre_axes(layer)
    return tuple(float(layer.translate[i]) * f for i, f in zip(axes, factors, strict=True))


def points_in(points: Points, target: Layer) -> np.ndarray:
    """Coordinates of ``points`` in ``target``'s data space (scale and translate only)."""
    ndim = target.ndim
    coords = np.asarray(points.data, dtype=np.float64)
    if coords.shape[1] < ndim:
        raise ValueError(
            f"'{points.name}' holds {coords.shape[1]}D points but '{target.name}' is {ndim}D; "
            "add the points while viewing that layer"
        )
    scale, translate = np.asarray(points.scale[-ndim:]), np.asarray(points.translate[-ndim:])
    world = coords[:, -ndim:] * scale + translate
    return (world - np.asarray(target.translate)) / np.asarray(target.scale)


def finite_range(data: np.ndarray) -> tuple[float, float]:
    """The smallest and largest finite values (a slider cannot span NaN or infinity);
    (0, 0) when there are none."""
    if data.dtype.kind != "f":
        return (data.min(), data.max()) if data.size else (0, 0)
    finite = data if np.isfinite(data).all() else data[np.isfinite(data)]
    return (finite.min(), finite.max()) if finite.size else (0, 0)


def sampled_range(data: Any) -> tuple[float, float]:
    """:func:`finite_range` of a lazy (dask) array estimated from 16 windows of 512 × 512
    spread evenly over its middle plane (at most 4 MP read, whatever its size): napari
    gives a dask array the dtype's range (0 to 65535 for uint16), which a slider cannot be
    set with nor an image seen in. The windows stand for the image: a rare extreme
    elsewhere may be missed."""
    import dask

    lead = tuple(n // 2 for n in data.shape[:-2])
    boxes = [(slice(int(y), int(y) + SAMPLE_SIDE), slice(int(x), int(x) + SAMPLE_SIDE))
             for y in np.linspace(0, data.shape[-2], SAMPLE_WINDOWS, endpoint=False)
             for x in np.linspace(0, data.shape[-1], SAMPLE_WINDOWS, endpoint=False)]
    windows = dask.compute(*(data[lead + box] for box in boxes))
    return finite_range(np.concatenate([window.ravel() for window in windows]))


def lazy_range(data: Any, multiscale: bool) -> tuple[float, float]:
    """:func:`sampled_range` of a lazy layer's data: of its pyramid's third level (its
    smallest, if it has fewer), where a 512 px window spans 2048 px of the full image. The
    smallest level of a pyramid of strided views (the reader's, for a file without one)
    is made of every tile of the file, which would all be read."""
    return sampled_range(data[min(2, len(data) - 1)] if multiscale else data)
