"""Region growing: from each seed, the connected pixels within a tolerance of its value.

Reference: ``skimage.segmentation.flood(image, seed, tolerance=..., connectivity=...)`` for
each seed, OR'ed. On integer images it is called with ``floor(tolerance)``, which makes the
rule exactly ``|value - seed| <= tolerance`` (``flood`` itself truncates ``seed -
tolerance`` toward zero, admitting one more value below the seed for a fractional
tolerance). Fast path (2D): the pixels in the seed's value range (``cv2.inRange``, the same
float32 / float64 bounds as ``flood``), then the component holding the seed by
``cv2.floodFill``; seeds sharing a range share one pass. Identical to the reference. 3D
runs the reference.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from skimage import morphology

__all__ = ["grow_regions", "in_range", "seed_bounds"]

# Dtypes cv2.inRange compares natively (others use NumPy).
_INRANGE_DTYPES = (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64)


def grow_regions(
    image: np.ndarray, seeds: np.ndarray, tolerance: float, *, connectivity: int
) -> np.ndarray:
    """uint8 0/1 mask: the union of the regions grown from ``seeds`` (N x ndim coordinates,
    rounded) over pixels within ``tolerance`` of each seed's own value, connected as
    scikit-image's ``connectivity`` (1: faces, ``image.ndim``: full) says."""
    if image.dtype == np.float16:
        image = image.astype(np.float32)  # exact; flood does not take float16
    groups = _seed_groups(image, seeds, tolerance)
    if image.ndim == 2:
        return _grow_2d(image, groups, 4 if connectivity == 1 else 8)
    step = math.floor(tolerance) if image.dtype.kind in "iu" else tolerance
    result = np.zeros(image.shape, bool)
    for points in groups.values():
        # Within one range the regions are disjoint: a seed already grown is done. A seed
        # inside another range's region still grows its own.
        grown = np.zeros(image.shape, bool)
        for point in points:
            if not grown[point]:
                grown |= morphology.flood(image, point, connectivity=connectivity,
                                          tolerance=step)
        result |= grown
    return result.view(np.uint8)


def _seed_groups(
    image: np.ndarray, seeds: np.ndarray, tolerance: float
) -> dict[tuple, list[tuple[int, ...]]]:
    """Seeds grouped by their accepted value range (:func:`seed_bounds`)."""
    groups: dict[tuple, list[tuple[int, ...]]] = {}
    for point in np.rint(seeds).astype(np.intp):
        index = tuple(int(i) for i in point)
        bounds = seed_bounds(image[index].item(), image.dtype, tolerance)
        groups.setdefault(bounds, []).append(index)
    return groups


def seed_bounds(seed: float, dtype: np.dtype, tolerance: float) -> tuple[Any, Any]:
    """The value range [low, high] a seed of value ``seed`` grows over in an image of
    ``dtype`` (float16 taken as float32), as ``skimage.segmentation.flood`` accepts it.

    Integer images use ``floor(tolerance)``, so a pixel joins iff |value - seed| <= tolerance.
    """
    dtype = np.dtype(np.float32) if dtype == np.float16 else np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        step = math.floor(tolerance)
        return max(info.min, seed - step), min(info.max, seed + step)
    largest = float(np.finfo(dtype).max)
    # As flood: bounds in float64, then rounded to the image's dtype.
    return (dtype.type(max(-largest, seed - tolerance)),
            dtype.type(min(largest, seed + tolerance)))


def in_range(image: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """uint8 mask, non-zero where ``low <= image <= high`` (0/255 from OpenCV in 2D)."""
    if image.ndim == 2:
        return _in_range(image, low, high)
    return ((image >= low) & (image <= high)).view(np.uint8)


def _in_range(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """uint8 mask (0/255 from OpenCV, 0/1 from NumPy) of ``low <= image <= high``."""
    # A float bound reaches OpenCV as a 4x1 float64 array: on a 4x1 float64 image it is
    # compared pixel by pixel (bounds low, 0, 0, 0) rather than as a scalar.
    if image.dtype in _INRANGE_DTYPES and image.shape != (4, 1):
        return cv2.inRange(image, float(low), float(high))
    return ((image >= low) & (image <= high)).view(np.uint8)


def _grow_2d(image: np.ndarray, groups: dict, connectivity: int) -> np.ndarray:
    """OR of the floods, by cv2.floodFill on each value range's in-range mask."""
    height, width = image.shape
    result = np.zeros(image.shape, np.uint8)
    flags = connectivity | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    for (low, high), points in groups.items():
        in_range = _in_range(image, low, high)
        filled = np.zeros((height + 2, width + 2), np.uint8)
        for y, x in points:
            # Within one range the regions are disjoint: a seed already filled is done.
            if not filled[y + 1, x + 1]:
                cv2.floodFill(in_range, filled, (x, y), 0, 0, 0, flags)
        result |= filled[1:-1, 1:-1]
    return result
