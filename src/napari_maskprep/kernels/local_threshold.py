"""Local threshold surfaces: each pixel's threshold from its neighbourhood.

Reference: ``skimage.filters.threshold_local`` (methods mean and gaussian),
``skimage.filters.threshold_sauvola`` and ``threshold_niblack`` (``window_size``). Fast path
(2D, a window narrower than the image): ``cv2.blur`` / ``cv2.GaussianBlur`` (the same kernel
and "reflect" border as scipy's) in float32 (float64 for float64 and wide integers);
Sauvola and Niblack from the window's mean and standard deviation by ``cv2.boxFilter`` /
``cv2.sqrBoxFilter`` in float64. The surface agrees with the reference's to about 1e-5
intensity units. Elsewhere (3D, wider windows) the reference runs itself. Method mean on
8-, 16- and 32-bit integer images is the exact window sum (``cv2.boxFilter``
unnormalised in float64 in 2D, int64 cumulative sums in 3D) divided once: within rounding of the
reference, and the same from any crop holding the window, so a tiled run equals the
in-memory one (running sums of non-integers, OpenCV's or SciPy's, round by where the row
starts). Float images of values so small or large that their squares under- or overflow
are thresholded scaled by a power of two (``local_threshold_mask``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage import filters

__all__ = ["gaussian_radius", "local_threshold_mask", "local_threshold_surface", "runs_fast"]

# Sums of up to this many squares (Sauvola and Niblack over the padded image) stay finite.
_MAX_SQUARES = 2**40


def gaussian_radius(block_size: int) -> int:
    """Radius of the Gaussian kernel of method "gaussian" for a ``block_size`` window."""
    # skimage's sigma for method="gaussian", and scipy's kernel radius (truncate=4).
    return int(4.0 * (block_size - 1) / 6.0 + 0.5)


def runs_fast(shape: tuple[int, ...], block_size: int) -> bool:
    """Whether the fast path computes the surface of an image of ``shape``: 2D, with a
    window narrower than the image. Elsewhere the reference pads the image by the window."""
    return len(shape) == 2 and block_size < min(shape)


def local_threshold_mask(
    image: np.ndarray, method: str, block_size: int, k: float, offset: float, *,
    dark: bool = False,
) -> np.ndarray:
    """``image > T - offset`` (``image <= T - offset`` with ``dark``) as a uint8 0/1 mask,
    ``T`` the surface of ``local_threshold_surface``.

    A float image whose largest magnitude is below the square root of the smallest normal
    number it is worked in (1e-154 in float64, 1e-19 in float32), or whose squares summed
    could overflow, is thresholded scaled by a power of two to that magnitude in [0.5, 1),
    exactly, with Sauvola's ``R`` scaled alike. Unscaled, its squares underflowed to 0 or
    overflowed (Niblack's standard deviation lost) and subnormal window sums rounded: the
    mask of ``image * 2**n`` (offset ``offset * 2**n``) is now that of ``image`` wherever
    ``image * 2**n`` holds its values exactly (Sauvola's with ``R * 2**-n``).
    """
    exponent = _scale_exponent(image)
    compare = np.less_equal if dark else np.greater
    if not exponent:
        surface = local_threshold_surface(image, method, block_size, k)
        if offset:
            surface -= offset
        return compare(image, surface).view(np.uint8)
    scaled = np.ldexp(image, -exponent)
    # Beyond the dtype's range (R of a tiny image, T of a huge one) inf computes and
    # compares as the value would.
    with np.errstate(over="ignore"):
        surface = local_threshold_surface(
            scaled, method, block_size, k,
            half_range=_ldexp(_half_range(image.dtype), -exponent))
        # Compared at the larger of the two scales, where scaling is exact.
        if exponent > 0:
            surface, compared = np.ldexp(surface, exponent), image
        else:
            offset, compared = _ldexp(offset, -exponent), scaled
        if offset:
            surface -= offset
    return compare(compared, surface).view(np.uint8)


def local_threshold_surface(
    image: np.ndarray, method: str, block_size: int, k: float, *,
    half_range: float | None = None,
) -> np.ndarray:
    """The per-pixel threshold of ``method`` ("mean", "gaussian", "sauvola", "niblack")
    over a ``block_size`` window, ``k`` weighing Sauvola's and Niblack's standard deviation
    (an offset is not applied); ``half_range`` is Sauvola's ``R`` (by default half the
    dtype's range, 1 for floats, as scikit-image's)."""
    fast = runs_fast(image.shape, block_size)
    if method == "mean" and image.dtype.itemsize <= 4 and image.dtype.kind in "iub":
        return _exact_window_mean(image, block_size)
    if method in ("mean", "gaussian"):
        if not fast:
            return filters.threshold_local(image, block_size, method=method)
        work = image.astype(_work_dtype(image.dtype))
        if method == "mean":
            return cv2.blur(work, (block_size, block_size), borderType=cv2.BORDER_REFLECT)
        size = 2 * gaussian_radius(block_size) + 1
        if size >= min(image.shape):
            return filters.threshold_local(image, block_size, method=method)
        sigma = (block_size - 1) / 6.0
        return cv2.GaussianBlur(work, (size, size), sigma, sigmaY=sigma,
                                borderType=cv2.BORDER_REFLECT)
    if half_range is None:
        half_range = _half_range(image.dtype)
    if not fast:
        if method == "sauvola":
            return filters.threshold_sauvola(image, window_size=block_size, k=k, r=half_range)
        return filters.threshold_niblack(image, window_size=block_size, k=k)
    # Local mean and standard deviation in float64 (the variance subtracts two close
    # numbers), with numpy's "reflect" border like skimage's padding.
    work = image.astype(np.float64)
    window = (block_size, block_size)
    mean = cv2.boxFilter(work, -1, window, borderType=cv2.BORDER_REFLECT_101)
    square_mean = cv2.sqrBoxFilter(work, -1, window, borderType=cv2.BORDER_REFLECT_101)
    std = np.sqrt(np.clip(square_mean - mean * mean, 0, None))
    if method == "niblack":
        return mean - k * std
    return mean * (1 + k * (std / half_range - 1))


def _half_range(dtype: np.dtype) -> float:
    """Sauvola's ``R``: half the dtype's range, as scikit-image's ``dtype_limits``."""
    if dtype.kind in "iu":
        return 0.5 * (float(np.iinfo(dtype).max) - float(np.iinfo(dtype).min))
    return 1.0  # skimage's dtype range for floats is [-1, 1]


def _scale_exponent(image: np.ndarray) -> int:
    """The binary exponent of a float image's largest magnitude where its squares (summed
    over up to _MAX_SQUARES pixels) under- or overflow in the float dtype it is worked in,
    else 0 (integer images, all zeros, and values in between)."""
    if image.dtype.kind != "f" or image.size == 0:
        return 0
    largest = max(-float(image.min()), float(image.max()))
    work = np.finfo(np.result_type(image.dtype, np.float32))  # float16 is worked in float32
    if largest == 0 or (math.sqrt(float(work.tiny)) <= largest
                        <= math.sqrt(float(work.max) / _MAX_SQUARES)):
        return 0
    return math.frexp(largest)[1]


def _ldexp(value: float, exponent: int) -> float:
    """``value * 2**exponent``: exact, or infinite beyond float64's range."""
    with np.errstate(over="ignore"):
        return float(np.ldexp(value, exponent))


def _exact_window_mean(image: np.ndarray, block_size: int) -> np.ndarray:
    """The mean of each pixel's ``block_size`` window (scipy's "reflect" border), from
    exact window sums of integers of up to 32 bits, and one division.

    2D sums in float64, exact: every partial sum is an integer below 2**53 (1001**2 values
    below 2**32), whatever the order it is summed in. 3D sums in int64, whose cumulative
    sums may wrap around: their differences, the window sums (below 2**62), are exact all
    the same."""
    if image.ndim == 2:  # OpenCV's running sums: 16 MP in 45 ms
        sums = cv2.boxFilter(image.astype(np.float64), -1, (block_size, block_size),
                             normalize=False, borderType=cv2.BORDER_REFLECT)
    else:
        sums = np.pad(image.astype(np.int64), block_size // 2, mode="symmetric")
        for axis in range(image.ndim):
            def along(start: int, stop: int | None, axis: int = axis) -> tuple[slice, ...]:
                return (slice(None),) * axis + (slice(start, stop),)

            # window sum at i: cumulative[i + block - 1] - cumulative[i] + value[i]
            cumulative = np.cumsum(sums, axis=axis)
            last = cumulative.shape[axis] - block_size + 1
            window = cumulative[along(block_size - 1, None)] - cumulative[along(0, last)]
            window += sums[along(0, last)]
            sums = window
        sums = sums.astype(np.float64)
    sums /= float(block_size) ** image.ndim
    return sums


def _work_dtype(dtype: np.dtype) -> type:
    # float32 holds every value of 8/16-bit integers and float32 exactly.
    return np.float32 if dtype in (np.uint8, np.int8, np.uint16, np.int16, np.float16,
                                   np.float32) else np.float64
