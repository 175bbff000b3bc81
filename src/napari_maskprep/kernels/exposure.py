"""Contrast: global histogram equalisation, CLAHE, and the percentile stretch.

References (``tests/kernels/test_exposure.py``):

- :func:`equalize_global` is the classic formula of ``cv2.equalizeHist``: for uint8 that
  function, for other integers of up to 16 bits the same formula in the same float32
  arithmetic over a per-value histogram (a look-up table, bit-identical on uint8); floats and
  32/64-bit integers use every distinct value as a bin (``numpy.unique``).
- :func:`equalize_adaptive` is ``cv2.createCLAHE(clip_limit, (tiles, tiles)).apply`` for
  uint8 and uint16; other dtypes are mapped linearly from their [min, max] to uint16,
  equalised, and scaled to the output range.
- :func:`percentiles` is ``numpy.percentile`` ('linear'), bit-identical, from a histogram
  for uint8/uint16; :func:`stretch` is ``skimage.exposure.rescale_intensity`` with integers
  rounded (a look-up table for uint8/uint16).

For integers of up to 16 bits, the equalisation's look-up table and the percentiles follow
from the counts of each value alone (:func:`equalization_table`,
:func:`percentiles_from_counts`): a tiled run adds the chunks' counts and gets the in-memory
result exactly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .dtypes import as_2d, from_float, work_float

__all__ = ["equalization_table", "equalize_adaptive", "equalize_global", "percentiles",
           "percentiles_from_counts", "stretch"]


def equalize_global(image: np.ndarray) -> np.ndarray:
    """Histogram equalisation of a non-constant image, same dtype: each value ``v`` maps to
    ``(cdf(v) - m) / (N - m)`` times the dtype's maximum, rounded, for integers (signed too:
    0..max), or in [0, 1] for floats (``m``: the count of the smallest value)."""
    if image.dtype == np.uint8:
        return cv2.equalizeHist(as_2d(image)).reshape(image.shape)
    if image.dtype.kind in "iu" and image.dtype.itemsize <= 2:
        return _equalize_histogram(image)
    return _equalize_ranks(image)


def equalize_adaptive(image: np.ndarray, clip_limit: float, tiles: int, *,
                      lowest: float, highest: float) -> np.ndarray:
    """OpenCV's CLAHE of a non-constant 2D image whose minimum and maximum are ``lowest`` and
    ``highest``, same dtype: other integers than uint8 and uint16 in 0..their maximum, floats
    in [0, 1]."""
    equalizer = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    if image.dtype in (np.uint8, np.uint16):
        return equalizer.apply(image)
    work = work_float(image.dtype)
    if image.dtype.kind in "iu":
        span = float(int(highest) - int(lowest))  # float(highest) - float(lowest) can be 0
    else:
        span = float(highest) - float(lowest)
    if 65535 / span > float(np.finfo(work).max):  # a float32 span below 2e-34
        work = np.float64
    if image.dtype.itemsize == 8 and image.dtype.kind in "iu":
        # Exact in uint64 arithmetic, which wraps modulo 2**64, before float64 rounds it:
        # values 2**64 - 2 and 2**64 - 1 are one float64.
        start = np.array(lowest, image.dtype).view(np.uint64)
        offset = (image.view(np.uint64) - start).astype(work)
    else:
        offset = image.astype(work) - work(lowest)
    if math.isinf(65535 / span):  # a float64 span below 4e-304: offset / span is finite
        offset /= work(span)
        span = 1.0
    scaled = np.minimum(np.rint(offset * work(65535 / span)), 65535)
    levels = equalizer.apply(scaled.astype(np.uint16)).astype(work) / work(65535)
    if image.dtype.kind in "iu":
        return from_float(levels * work(np.iinfo(image.dtype).max), image.dtype)
    return levels.astype(work_float(image.dtype), copy=False)


def percentiles(image: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """``numpy.percentile(image, [low, high])`` ('linear'); from a histogram for uint8/uint16."""
    if image.dtype not in (np.uint8, np.uint16):
        lo, hi = np.percentile(image, [low, high])
        return float(lo), float(hi)
    return percentiles_from_counts(np.bincount(image.ravel()), 0, image.dtype, low, high)


def percentiles_from_counts(counts: np.ndarray, first: int, dtype: np.dtype, low: float,
                            high: float) -> tuple[float, float]:
    """``numpy.percentile(image, [low, high])`` ('linear') of an integer image of ``dtype``
    of which ``counts[i]`` pixels hold the value ``first + i``, bit for bit."""
    cdf = np.cumsum(counts)
    size = int(cdf[-1])
    result = []
    for q in (low, high):
        position = q / 100 * (size - 1)
        below = int(np.floor(position))
        t = position - below
        # The values of rank `below` and `below + 1` in sorted order, in the image's dtype:
        # numpy subtracts them there (int8 and int16 differences wrap around).
        ranks = np.searchsorted(cdf, [below, min(below + 1, size - 1)], side="right")
        a, b = (ranks + first).astype(dtype)
        diff = np.subtract(np.array(b, dtype), np.array(a, dtype))
        # numpy's _lerp, so the result is bit-identical to numpy.percentile.
        result.append(float(b - diff * (1 - t)) if t >= 0.5 else float(a + diff * t))
    return result[0], result[1]


def stretch(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``lo`` to 0, ``hi`` to the top (the dtype's maximum for integers, rounded; 1.0 for
    floats), clipped, same dtype; where ``hi == lo``, the top above it and 0 elsewhere."""
    top = float(np.iinfo(image.dtype).max) if image.dtype.kind in "iu" else 1.0

    def stretched(values: np.ndarray) -> np.ndarray:
        if hi == lo:
            return np.where(values > lo, top, 0.0).astype(values.dtype)
        # Far above a tiny hi - lo the ratio overflows to inf, which the clip makes 1.
        with np.errstate(over="ignore"):
            return np.clip((values - lo) / (hi - lo), 0, 1) * top

    if image.dtype in (np.uint8, np.uint16):
        lut = from_float(stretched(np.arange(int(top) + 1, dtype=np.float64)), image.dtype)
        if image.dtype == np.uint8:
            return cv2.LUT(as_2d(image), lut).reshape(image.shape)
        return lut[image]
    work = work_float(image.dtype)
    if work(hi - lo) == 0:  # percentiles closer than float32 holds (1e-46): 0 / 0 otherwise
        work = np.float64
    return from_float(stretched(image.astype(work, copy=False)), image.dtype)


def _equalize_histogram(image: np.ndarray) -> np.ndarray:
    """Integers of up to 16 bits: OpenCV's equalizeHist formula, for any such dtype."""
    info = np.iinfo(image.dtype)
    index = image if info.min == 0 else image.astype(np.int32) - info.min
    counts = np.bincount(index.ravel(), minlength=int(info.max) - int(info.min) + 1)
    return equalization_table(counts, image.dtype)[index]


def equalization_table(counts: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The look-up table of :func:`equalize_global` for an integer image of ``dtype`` (up
    to 16 bits) whose value ``min + i`` ``counts[i]`` pixels hold (``min``: the dtype's)."""
    info = np.iinfo(dtype)
    cdf = np.cumsum(counts)
    first = counts[np.flatnonzero(counts)[0]]
    # float32 arithmetic as cv2.equalizeHist, so uint8 results are bit-identical to it.
    scale = np.float32(info.max) / np.float32(int(cdf[-1]) - first)
    lut = np.rint((cdf - first).astype(np.float32) * scale)
    return np.clip(lut, 0, info.max).astype(dtype)


def _equalize_ranks(image: np.ndarray) -> np.ndarray:
    """Floats and wide integers: every distinct value is its own histogram bin."""
    _, inverse, counts = np.unique(image, return_inverse=True, return_counts=True)
    level = (np.cumsum(counts) - counts[0]) / (image.size - counts[0])
    if image.dtype.kind in "iu":
        level = level * float(np.iinfo(image.dtype).max)
    return from_float(level, image.dtype)[inverse].reshape(image.shape)
