"""Image histograms counted in one pass, equal to scikit-image's.

Reference: ``skimage.exposure.histogram(image, 256, source_range="image")`` (counts and bin
centres), and ``numpy.bincount`` for the integer counts. Fast path: ``cv2.calcHist`` for
uint8 and uint16, on threads over chunks of rows for big images, and, for big uint8
images, two pixels at a time (pixel pairs viewed as uint16).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import cv2
import numpy as np

from .threads import STRIPE_MIN_PIXELS, cv_serial, thread_budget

__all__ = ["MAX_INTEGER_BINS", "Histogram", "ValueCounts", "image_histogram", "integer_counts",
           "value_counts"]

# Integer images whose values span at most this many integers get one bin per integer,
# as skimage.exposure.histogram does; wider ones get 256 bins like float images (skimage
# would allocate a count for every integer in the range).
MAX_INTEGER_BINS = 2**20
# OpenCV's calcHist counts in float32, exact up to 2**24 per bin: count in chunks.
_CALCHIST_CHUNK = 2**24
# uint8 images of at least this many pixels (rows of even length) are counted two pixels at a
# time, viewed as uint16, in a 65536-bin histogram. Where neighbours are often equal (a flat,
# noisy background) calcHist's increments of one counter collide and stall; pairs halve the
# increments and collide less. Measured at 4-16 MP: 0.4-0.65x the time on fluorescence
# images, 0.4-0.95x on others. At 1 MP it depends on the image (0.65x on a raw fluorescence
# field, up to 1.3x on smoothed or noise-like ones: the big table's set-up and cache misses).
_PAIR_MIN_PIXELS = 2**22


class Histogram(NamedTuple):
    """Counts (int64) and bin centres of an image's histogram."""

    counts: np.ndarray
    centers: np.ndarray
    per_value: bool  # one bin per integer value: counts above a threshold are exact


class ValueCounts(NamedTuple):
    """How many pixels hold each integer value ``low, low + 1, ...``: an exact summary of
    an 8- or 16-bit integer image that chunks of it add up to (:func:`value_counts`).

    Every histogram :func:`image_histogram` builds of the whole image follows from it,
    exactly (:meth:`histogram`), and so do the pixel count and the count above a value.
    """

    counts: np.ndarray  # int64
    low: int

    @property
    def dtype(self) -> np.dtype:
        """The 8- or 16-bit integer dtype whose range the counts cover."""
        bits = 8 if len(self.counts) == 256 else 16
        return np.dtype(f"{'int' if self.low < 0 else 'uint'}{bits}")

    @property
    def size(self) -> int:
        return int(self.counts.sum())

    def __add__(self, other: object) -> ValueCounts:  # type: ignore[override]
        if not isinstance(other, ValueCounts):
            return NotImplemented
        if (self.low, len(self.counts)) != (other.low, len(other.counts)):
            raise ValueError("value counts of different dtypes cannot be added")
        return ValueCounts(self.counts + other.counts, self.low)

    def count_above(self, value: float) -> int:
        """Pixels whose value is above ``value``."""
        start = max(0, math.floor(value) + 1 - self.low)
        return int(self.counts[start:].sum())

    def histogram(self, *, max_integer_bins: int = MAX_INTEGER_BINS) -> Histogram:
        """What ``image_histogram(image, max_integer_bins=...)`` returns for the image these
        counts were taken of (of at least one pixel)."""
        present = np.flatnonzero(self.counts)
        first, last = int(present[0]), int(present[-1])
        low, high = self.low + first, self.low + last
        counts = self.counts[first : last + 1]
        if high - low < max_integer_bins:
            return Histogram(counts, np.arange(low, high + 1), True)
        # numpy.histogram bins each pixel by its value alone, through float64 edges from
        # the minimum and maximum: weighting each value by its count bins them alike.
        binned, edges = np.histogram(np.arange(low, high + 1, dtype=np.float64), bins=256,
                                     range=(float(low), float(high)), weights=counts)
        return Histogram(binned.astype(np.int64), (edges[:-1] + edges[1:]) / 2.0, False)


def value_counts(image: np.ndarray) -> ValueCounts:
    """The :class:`ValueCounts` of an 8- or 16-bit integer image, over its dtype's range."""
    if image.dtype.kind not in "iu" or image.dtype.itemsize > 2:
        raise ValueError(f"value counts need an 8- or 16-bit integer image; got {image.dtype}")
    info = np.iinfo(image.dtype)
    return ValueCounts(integer_counts(image, int(info.min), int(info.max)), int(info.min))


def image_histogram(image: np.ndarray, *,
                    max_integer_bins: int = MAX_INTEGER_BINS) -> Histogram:
    """Counts and bin centres equal to ``skimage.exposure.histogram(image, 256)``.

    Integer images: one bin per integer from the image's minimum to its maximum (uint8 and
    uint16 counted by ``cv2.calcHist``, one pass), unless they span ``max_integer_bins``
    values or more; floats (and those): 256 equal bins over ``[min, max]`` by
    ``numpy.histogram``, exactly as scikit-image computes them (one bin per value where the
    range holds too few floats for 256 bins).
    """
    if image.dtype == np.uint8:  # 256 bins always fit: minimum and maximum from the counts
        counts = integer_counts(image, 0, 255)
        low, high = (int(i) for i in np.flatnonzero(counts)[[0, -1]])
        return Histogram(counts[low : high + 1], np.arange(low, high + 1), True)
    if image.dtype.kind in "iu":
        low, high = int(image.min()), int(image.max())
        if high - low < max_integer_bins:
            counts = integer_counts(image, low, high)
            return Histogram(counts, np.arange(low, high + 1), True)
    values = image.reshape(-1)
    try:
        counts, edges = np.histogram(values, bins=256)
    except ValueError:
        # Fewer than 256 representable values between minimum and maximum (a constant
        # image, or two values a few float steps apart, as 1e300 or 1.0 and 1.0000001):
        # numpy cannot make 256 distinct bins, and scikit-image fails with it. Each value
        # is then a bin of its own.
        centers, counts = np.unique(values, return_counts=True)
        return Histogram(counts.astype(np.int64), centers, True)
    return Histogram(counts.astype(np.int64), (edges[:-1] + edges[1:]) / 2.0, False)


def integer_counts(image: np.ndarray, low: int, high: int) -> np.ndarray:
    """Count of each integer value ``low..high`` in an integer ``image`` (int64), as
    ``numpy.bincount(image.ravel() - low, minlength=high - low + 1)``."""
    if image.dtype not in (np.uint8, np.uint16):
        flat = image.reshape(-1)
        offset = (flat - flat.dtype.type(low) if image.dtype.kind == "u"
                  else flat.astype(np.int64) - low)
        return np.bincount(offset.astype(np.intp, copy=False), minlength=high - low + 1)
    size = 256 if image.dtype == np.uint8 else 65536
    rows = image.reshape(-1, image.shape[-1])
    step = max(1, _CALCHIST_CHUNK // rows.shape[1])
    threads = thread_budget() if image.size >= STRIPE_MIN_PIXELS else 1
    # Big images: chunks of rows counted on parallel threads (calcHist releases the GIL).
    step = min(step, -(-rows.shape[0] // threads))
    even_rows = rows.shape[1] % 2 == 0
    pairs = image.dtype == np.uint8 and image.size >= _PAIR_MIN_PIXELS and even_rows

    def count(start: int) -> np.ndarray:
        chunk = np.ascontiguousarray(rows[start : start + step])
        if pairs:
            joint = cv2.calcHist([chunk.view(np.uint16)], [0], None, [65536], [0, 65536])
            joint = joint.reshape(256, 256)  # counts of (one pixel, its neighbour)
            # Its two marginals count every pixel once. No sum exceeds the chunk's pixels
            # (<= 2**24), so float32 adds them exactly.
            return (joint.sum(axis=0) + joint.sum(axis=1)).astype(np.int64)
        return cv2.calcHist([chunk], [0], None, [size], [0, size]).ravel().astype(np.int64)

    starts = range(0, rows.shape[0], step)
    if threads > 1 and len(starts) > 1:
        # calcHist's own parallel loop, nested in these threads, oversubscribes the cores:
        # 16 MP uint16 on two cores 9.0 -> 6.1 ms with cv2 on one thread meanwhile.
        with cv_serial(), ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(count, starts))[low : high + 1]
    return sum(map(count, starts))[low : high + 1]
