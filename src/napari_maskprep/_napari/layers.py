"""What maskprep reads from a napari layer: its array, pixel size, points, and whether it
is too large to load (a pyramid or a lazy array)."""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer, Points

__all__ = ["finite_range", "is_large", "layer_array", "layer_pixel_size", "points_in"]


def is_large(layer: Layer | None) -> bool:
    """Whether ``layer`` (an Image or Labels layer) holds a pyramid or a lazy array, which
    is never read whole."""
    if not isinstance(layer, Image | Labels):
        return False
    return bool(getattr(layer, "multiscale", False)) or not isinstance(layer.data, np.ndarray)


def layer_array(layer: Layer) -> Any:
    """The layer's full-resolution array (level 0 of a multiscale pyramid)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def layer_pixel_size(layer: Layer) -> tuple[float, ...] | None:
    """Micrometres per pixel along the layer's last (up to 3) axes, from its scale and
    units; None when it has none (scale 1 in pixels, napari's default). A scale in
    pixels (no physical unit set, as many readers leave it) is taken as micrometres. A
    time axis (labelled ``t`` or ``time``) has no pixel size: its frames are planes."""
    axes = [i for i in range(layer.ndim)[-3:]
            if str(layer.axis_labels[i]).lower() not in ("t", "time")]
    scale = [float(layer.scale[i]) for i in axes]
    units = [layer.units[i] for i in axes]
    if all(v == 1 for v in scale) and all(str(u) == "pixel" for u in units):
        return None
    sizes = []
    for value, unit in zip(scale, units, strict=True):
        if str(unit) != "pixel" and unit.dimensionality == "[length]":
            value *= (1 * unit).to("micrometer").magnitude
        sizes.append(value)
    return tuple(sizes) if all(v > 0 for v in sizes) else None


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
