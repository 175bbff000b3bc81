"""Median filter over a disk (2D) or ball (3D), edge pixels repeated, in the image's dtype.

Reference: ``skimage.filters.median(image, footprint)``, i.e.
``scipy.ndimage.median_filter(image, footprint=disk(radius) | ball(radius), mode='nearest')``.
Both fast paths are exactly equal to it (``tests/kernels/test_median.py``):

- footprints of up to 49 pixels (disk radius <= 4, ball radius <= 2): forgetful selection, a
  network of element-wise min/max over shifted views of the padded image, run in
  cache-sized blocks (the five pixels of ``disk(1)`` by a ten-pass median-of-five network);
- larger uint8 footprints, where it does less work: ``skimage.filters.rank.median`` (a
  sliding histogram) on the edge-padded image; likewise 16-bit integer images of at most
  1024 distinct values, each pixel replaced by its value's rank among them (an order kept,
  so the median's rank gives the median: radius 25 on 1 MP took 0.3 s, not 25 s).

``cv2.medianBlur`` is not used: its window is a square. Beyond ``MEDIAN_MAX_STEPS`` steps
or ``MEDIAN_MAX_OFFSET_BYTES`` of scipy's offsets the filter refuses with a ``LimitError``
before starting.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import morphology
from skimage.filters import rank

from ..core.errors import LimitError
from .dtypes import CV_DTYPES, elementwise_min_max

__all__ = ["MEDIAN_MAX_OFFSET_BYTES", "MEDIAN_MAX_STEPS", "median_filter", "median_within_limits"]

# The most work the median's footprint filters may take (pixel x footprint pixel steps for
# scipy's selection, pixel x face pixel steps for skimage's sliding histogram): about 25 s on
# one core (measured 8e7 selection steps a second), and the most memory scipy's offsets may
# take (1 GB). Beyond them the filter refuses before starting: scipy's median of the
# 16 x 61 x 57 stack by ball(25) asked for 22 GB.
MEDIAN_MAX_STEPS = 2**31
MEDIAN_MAX_OFFSET_BYTES = 2**30


def median_within_limits(shape: tuple[int, ...], dtype: np.dtype, radius: int) -> bool:
    """Whether the median of a grey image of ``shape`` and ``dtype`` stays within
    ``MEDIAN_MAX_STEPS`` and ``MEDIAN_MAX_OFFSET_BYTES``."""
    _, steps, offsets = _median_plan(shape, dtype, radius)
    return steps <= MEDIAN_MAX_STEPS and offsets <= MEDIAN_MAX_OFFSET_BYTES


def median_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Median of a 2D or 3D grey image over ``disk(radius)`` / ``ball(radius)``, same dtype.

    Raises
    ------
    LimitError
        Beyond ``MEDIAN_MAX_STEPS`` or ``MEDIAN_MAX_OFFSET_BYTES``, before any work.
    """
    footprint = _footprint(radius, image.ndim)
    path, steps, offsets = _median_plan(image.shape, image.dtype, radius)
    if path == "network":
        return _median_by_selection(image, footprint)
    ranked = None
    if path == "scipy" and image.dtype in (np.uint16, np.int16) and _rank_is_cheaper(
            image.shape, radius):
        ranked = _ranks(image)  # few values: the sliding histogram's steps, not scipy's
        if ranked is not None:
            path, steps, offsets = "rank", _sliding_steps(image.shape, radius), 0
    if steps > MEDIAN_MAX_STEPS or offsets > MEDIAN_MAX_OFFSET_BYTES:
        raise LimitError(
            f"preprocess.median: radius={radius} on an image of shape {image.shape} "
            f"({image.dtype}) takes about {steps:.1e} steps and {offsets / 2**20:.0f} MB, "
            f"more than the limits of {MEDIAN_MAX_STEPS:.1e} and "
            f"{MEDIAN_MAX_OFFSET_BYTES // 2**20} MB; accepted: a smaller radius or image"
        )
    if ranked is not None:
        values, ranks = ranked
        return values[_rank_median(ranks, footprint)]
    if path == "rank":
        return _rank_median(image, footprint)
    return ndi.median_filter(image, footprint=footprint, mode="nearest")


def _rank_median(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    # It ignores pixels outside the image: padded with the edge values, it gives the
    # reference's mode='nearest'.
    radius = footprint.shape[0] // 2
    padded = np.pad(image, radius, mode="edge")
    inner = (slice(radius, -radius),) * image.ndim
    return np.ascontiguousarray(rank.median(padded, footprint)[inner])


# skimage's rank filters warn ('Bad rank filter performance') above this many histogram
# bins, and a filter silencing it is not thread-safe (tiled runs): more values take scipy.
_RANK_MAX_BINS = 2**10


def _ranks(image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The sorted distinct values of a 16-bit integer ``image`` and each pixel's index among
    them (uint16), or None if it has more than :data:`_RANK_MAX_BINS` values (or none)."""
    base = -32768 if image.dtype == np.int16 else 0
    keys = image.astype(np.int32) - base if base else image
    present = np.bincount(keys.ravel(), minlength=65536) > 0
    if not 0 < np.count_nonzero(present) <= _RANK_MAX_BINS:
        return None
    values = (np.flatnonzero(present) + base).astype(image.dtype)
    index = (np.cumsum(present) - 1).astype(np.uint16)
    return values, index[keys]


def _footprint(radius: int, ndim: int) -> np.ndarray:
    return morphology.disk(radius) if ndim == 2 else morphology.ball(radius)


@functools.cache
def _footprint_pixels(radius: int, ndim: int) -> int:
    return int(np.count_nonzero(_footprint(radius, ndim)))


def _median_plan(shape: tuple[int, ...], dtype: np.dtype, radius: int
                 ) -> tuple[str, int, int]:
    """How the median of a grey image of ``shape`` runs: ('network' | 'rank' | 'scipy',
    steps, bytes of scipy's offsets).

    scipy selects among the footprint's pixels for every pixel, and keeps the footprint's
    offsets for every combination of borders it can meet; skimage's rank median (uint8)
    slides a histogram over the edge-padded image, updating one face of the footprint per
    step. Each is used where it does less.
    """
    count = _footprint_pixels(radius, len(shape))
    if count <= _NETWORK_MAX_PIXELS:
        return "network", 0, 0
    if dtype == np.uint8 and _rank_is_cheaper(shape, radius):
        return "rank", _sliding_steps(shape, radius), 0
    offsets = math.prod(min(n, 2 * radius + 1) for n in shape) * count * 8
    return "scipy", math.prod(shape) * count, offsets


def _sliding_steps(shape: tuple[int, ...], radius: int) -> int:
    padded = math.prod(n + 2 * radius for n in shape)
    return padded * (2 * radius + 1) ** (len(shape) - 1)


def _rank_is_cheaper(shape: tuple[int, ...], radius: int) -> bool:
    """Whether the sliding histogram takes fewer steps than scipy's selection."""
    selection = math.prod(shape) * _footprint_pixels(radius, len(shape))
    return _sliding_steps(shape, radius) < selection


# Footprints of up to this many pixels (disk radius <= 4, ball radius <= 2) take the selection
# network: its cost grows with the square of the size, and beyond it scikit-image's
# sliding-histogram rank median (uint8) or SciPy's selection are faster.
_NETWORK_MAX_PIXELS = 49
_BLOCK_PIXELS = 2**18  # the network runs block by block so its working copies stay in cache


def _forgetful_median(values: list[np.ndarray]) -> np.ndarray:
    """Element-wise median of an odd number ``2k + 1`` of arrays, by forgetful selection.

    Of any ``k + 2`` of the values the smallest lies at or below the median and the largest at
    or above it, so both are dropped and the next value taken in; of the last three, the
    middle one is the median.
    """
    k = len(values) // 2
    kept = [v.copy() for v in values[: k + 2]]
    spare = np.empty_like(kept[0])
    for new in [*values[k + 2 :], None]:
        # Compare-exchange the smallest into kept[0], then the largest into kept[-1].
        for i in range(1, len(kept)):
            np.minimum(kept[0], kept[i], out=spare)
            np.maximum(kept[0], kept[i], out=kept[i])
            kept[0], spare = spare, kept[0]
        for i in range(1, len(kept) - 1):
            np.maximum(kept[-1], kept[i], out=spare)
            np.minimum(kept[-1], kept[i], out=kept[i])
            kept[-1], spare = spare, kept[-1]
        if new is None:
            return kept[1]
        np.copyto(kept[-1], new)  # reuse the dropped arrays' memory
        spare = kept[0]
        kept = kept[1:]


def _median_of_five(values: list[np.ndarray], out: np.ndarray, image: np.ndarray) -> None:
    """Element-wise median of five arrays in ten min/max passes (forgetful selection takes 21).

    The median of five is the median of ``e`` and the two middle values of the pairs
    ``(a, b)`` and ``(c, d)``: the larger of the two minima and the smaller of the two maxima.
    """
    a, b, c, d, e = values
    minimum, maximum = elementwise_min_max(image)
    low, high, spare = np.empty_like(out), np.empty_like(out), np.empty_like(out)
    minimum(a, b, low)
    maximum(a, b, high)
    minimum(c, d, spare)
    maximum(low, spare, low)
    maximum(c, d, spare)
    minimum(high, spare, high)
    # The median of e, low and high.
    minimum(e, low, spare)
    maximum(e, low, low)
    minimum(low, high, low)
    maximum(spare, low, out)


def _median_by_selection(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Median over ``footprint`` (edge pixels repeated) from shifted views of the padded image."""
    radius = footprint.shape[0] // 2
    if image.ndim == 2 and image.dtype in CV_DTYPES:  # twice as fast as np.pad
        padded = cv2.copyMakeBorder(image, *(radius,) * 4, cv2.BORDER_REPLICATE)
    else:
        padded = np.pad(image, radius, mode="edge")
    offsets = np.argwhere(footprint)
    # For each footprint pixel, its view of the padded image along all axes but the first.
    trailing = [
        tuple(slice(d, d + n) for d, n in zip(offset[1:], image.shape[1:], strict=True))
        for offset in offsets
    ]
    out = np.empty_like(image)
    rows = max(1, _BLOCK_PIXELS // image[0].size)
    for start in range(0, image.shape[0], rows):
        stop = min(start + rows, image.shape[0])
        shifted = [
            padded[(slice(start + offset[0], stop + offset[0]), *rest)]
            for offset, rest in zip(offsets, trailing, strict=True)
        ]
        if len(shifted) == 5:  # disk(1), the default
            _median_of_five(shifted, out[start:stop], image)
        else:
            out[start:stop] = _forgetful_median(shifted)
    return out
