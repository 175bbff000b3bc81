"""Local threshold surfaces: each pixel's threshold from its neighbourhood.

Reference: ``skimage.filters.threshold_local`` (methods mean and gaussian),
``skimage.filters.threshold_sauvola`` and ``threshold_niblack`` (``window_size``). Fast path
(2D, a window narrower than the image): ``cv2.blur`` / ``cv2.GaussianBlur`` (the same kernel
and "reflect" border as scipy's) in float32 (float64 for float64 and wide integers).
Sauvola and Niblack from the window's mean and standard deviation in float64: by
``cv2.boxFilter`` / ``cv2.sqrBoxFilter`` for 8- and 16-bit integers (exact sums), else each
window summed on its own (``_fixed_order_mean``). The surface agrees with the reference's
to about 1e-5 intensity units. Elsewhere (3D, wider windows) the mean's and the Gaussian's
reference runs itself. The surface of method mean on 8-, 16- and 32-bit integer images is
the exact window sum divided once. Float images of values so small or large that their
squares under- or overflow are thresholded scaled by a power of two, window by window
(``local_threshold_mask``).

What is exact, and what rounding decides:

- The masks of method mean, and of Niblack and Sauvola at ``k == 0`` (whose threshold is
  the window's mean), are decided in exact arithmetic (``kernels.exact_local_mean``), any
  dtype: a pixel equal to its window's mean (every pixel of a linear ramp) is background
  at offset 0.
- Niblack and Sauvola at ``k != 0`` sum each window on its own in one order, and the
  Gaussian weighs each pixel's own window: a pixel's threshold is the same from any crop
  holding its window (the Gaussian's read on a 32-column grid), so tiled runs equal
  in-memory ones bit for bit, in any process and thread count. But a pixel within rounding
  of its threshold is decided by that rounding: Niblack's and Sauvola's window mean is
  exact to about 1e-15, their standard deviation to about 1e-8, of the largest magnitude
  in the window (a ramp's window has a deviation, so a tie needs ``k * s`` to equal the
  pixel's distance to the mean, or Sauvola's ``s`` to equal ``R``), and the Gaussian's
  weights are rounded (every pixel of a linear ramp is on it in exact arithmetic).
- A window of one value thresholds exactly, any method (at the value; Sauvola's at
  ``value * (1 - k)``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import filters

from .exact_local_mean import exact_mean_mask, exact_window_sums

__all__ = ["gaussian_radius", "local_threshold_mask", "local_threshold_surface", "runs_fast"]

# Sums of up to this many squares (Sauvola and Niblack over the padded image) stay finite.
_MAX_SQUARES = 2**40
# The power of two a window of tiny values is scaled up by (one of huge values down by), per
# float dtype worked in: it takes the smallest subnormal above the square root of the
# smallest normal number, and the largest number below the square root of the largest
# over _MAX_SQUARES, so the window's squares neither under- nor overflow.
_SHIFTS = {np.dtype(np.float64): 600, np.dtype(np.float32): 90}


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

    A pixel of a float image whose window's largest magnitude is below the square root of
    the smallest normal number it is worked in (1e-154 in float64, 1e-19 in float32), or
    whose window's squares summed could overflow, is thresholded with its window scaled by
    a power of two (``_SHIFTS``) into the range where they do neither, exactly, with
    Sauvola's ``R`` scaled alike. Unscaled, its squares underflowed to 0 or overflowed
    (Niblack's standard deviation lost) and subnormal window sums rounded: the mask of
    ``image * 2**n`` (offset ``offset * 2**n``) is that of ``image`` wherever
    ``image * 2**n`` holds its values exactly (Sauvola's with ``R * 2**-n``). The scale is
    each pixel's window's, not the image's, so a crop holding the window (a tiled run's
    chunk) thresholds the pixel as the whole image does.
    """
    if method == "mean" or (method in ("sauvola", "niblack") and k == 0):
        # T is the window's mean (Sauvola's and Niblack's deviation weighs nothing).
        return exact_mean_mask(image, block_size, offset, dark=dark,
                               border="symmetric" if method == "mean" else "reflect")
    compare = np.less_equal if dark else np.greater
    exponents = _window_exponents(image, method, block_size)
    if isinstance(exponents, int):
        return _scaled_mask(image, exponents, method, block_size, k, offset, compare)
    mask = np.empty(image.shape, np.uint8)
    for exponent in np.unique(exponents).tolist():
        where = exponents == exponent
        band = _in_band(image, exponent)
        mask[where] = _scaled_mask(band, exponent, method, block_size, k, offset,
                                   compare)[where]
    return mask


def _scaled_mask(image: np.ndarray, exponent: int, method: str, block_size: int, k: float,
                 offset: float, compare: np.ufunc) -> np.ndarray:
    """The mask of ``image`` thresholded scaled by ``2**-exponent``."""
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
    surface = _surface(image, method, block_size, k, half_range)
    if method == "mean" and _sums_exactly(image.dtype):
        return surface
    return _exact_where_windows_are_flat(surface, image, method, block_size, k)


def _surface(image: np.ndarray, method: str, block_size: int, k: float,
             half_range: float | None) -> np.ndarray:
    fast = runs_fast(image.shape, block_size)
    if method == "mean" and _sums_exactly(image.dtype):
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
    # Local mean and standard deviation in float64 (the variance subtracts two close
    # numbers), with numpy's "reflect" border like skimage's padding.
    work = image.astype(np.float64)
    if fast and image.dtype.kind in "iub" and image.dtype.itemsize <= 2:
        # Sums of up to 1001**2 squares below 2**32: exact in any order.
        window = (block_size, block_size)
        mean = cv2.boxFilter(work, -1, window, borderType=cv2.BORDER_REFLECT_101)
        square_mean = cv2.sqrBoxFilter(work, -1, window, borderType=cv2.BORDER_REFLECT_101)
    else:
        mean = _fixed_order_mean(work, block_size)
        square_mean = _fixed_order_mean(np.square(work, out=work), block_size)
    std = np.sqrt(np.clip(square_mean - mean * mean, 0, None))
    if method == "niblack":
        return mean - k * std
    return mean * (1 + k * (std / half_range - 1))


def _fixed_order_mean(values: np.ndarray, block_size: int) -> np.ndarray:
    """The mean of each pixel's window of float64 ``values`` (numpy's "reflect" border),
    each window summed in one order of its own: running sums (OpenCV's box filters,
    scikit-image's integral images) carry the rounding of the values before a window into
    it, so a tiled run's chunk, whose rows start elsewhere, rounded them otherwise (a
    float64 Sauvola's on a ramp whose windows' deviation is ``R``, on its threshold,
    differed at 1003 of 4224 pixels). A kernel of ones rounds alike in OpenCV's vector
    loop and its tail (its products are exact)."""
    if runs_fast(values.shape, block_size):
        ones = np.ones(block_size)
        sums = cv2.sepFilter2D(values, cv2.CV_64F, ones, ones,
                               borderType=cv2.BORDER_REFLECT_101)
    else:  # SciPy's correlation sums each output's window in the kernel's order
        half = block_size // 2
        sums = np.pad(values, half, mode="reflect")
        for axis in range(values.ndim):  # then the padding of that axis is done with
            sums = ndi.correlate1d(sums, np.ones(block_size), axis=axis)
            sums = sums[(slice(None),) * axis + (slice(half, -half),)]
        sums = np.ascontiguousarray(sums)
    sums /= block_size**values.ndim
    return sums


def _sums_exactly(dtype: np.dtype) -> bool:
    """Whether method mean takes the exact window sums of ``_exact_window_mean``."""
    return dtype.itemsize <= 4 and dtype.kind in "iub"


def _exact_where_windows_are_flat(surface: np.ndarray, image: np.ndarray, method: str,
                                  block_size: int, k: float) -> np.ndarray:
    """``surface`` set to the exact threshold of a window of one value ``v`` where a
    pixel's window holds only ``v``: ``v`` (mean, Gaussian, Niblack: no deviation),
    Sauvola's ``v * (1 - k)``.

    Running sums (OpenCV's in 2D, SciPy's in 3D) carry the rounding of the values they
    passed along each axis on into the windows after, and their means are multiplied by
    ``1 / n``: a flat area's means came out +-1 ulp of ``v`` (Niblack's deviation the
    square root of the squares' rounding, 1e-8 of ``v``; the Gaussian's weights do not sum
    to exactly 1), so at offset 0 a pixel on its threshold, ``v > T`` false in exact
    arithmetic, was foreground by chance, and by where a tiled run's chunk starts (Niblack
    at k 0, block 7: 1780 of 3264 such pixels of float64 0.1 plateaus in noise, all of
    uint16 3001's; the Gaussian all of a float32 0.3 plateau's)."""
    reach = gaussian_radius(block_size) if method == "gaussian" else block_size // 2
    flat = _flat_windows(image, reach)
    if flat is None:
        return surface
    if method == "sauvola":
        np.multiply(image, 1.0 - k, out=surface, where=flat, dtype=np.float64)
    else:
        np.copyto(surface, image, where=flat)
    return surface


def _flat_windows(image: np.ndarray, reach: int) -> np.ndarray | None:
    """Whether each pixel's window (``2 * reach + 1`` wide, clipped to the image, which
    holds the values of any reflected border) holds one value: no two neighbours in it
    differ; None where no window does. Counts or maxima of the differing pairs, exact in
    any order, so a crop holding the window (a tiled run's chunk) finds the same."""
    if not image.size:
        return None
    if image.ndim == 2:
        return _flat_windows_2d(image, reach)
    flat = np.ones(image.shape, bool)
    for axis in range(image.ndim):
        sizes = [2 * reach + 1] * image.ndim
        sizes[axis] = 2 * reach  # centred by SciPy on the pairs i - reach to i + reach - 1
        flat &= ndi.maximum_filter(_differs(image, axis), size=sizes, mode="constant") == 0
    return flat


def _flat_windows_2d(image: np.ndarray, reach: int) -> np.ndarray | None:
    """``_flat_windows`` by OpenCV's unnormalised box sums (int32, saturated to uint16) of
    the differing pairs: each row's across the window, then, where any window passes, the
    pixel's own column's. OpenCV centres an even width ``2 * reach`` at ``reach``: the
    pairs from ``i - reach`` to ``i + reach - 1``."""
    size = 2 * reach + 1
    rows = cv2.boxFilter(_differs(image, 1), cv2.CV_16U, (2 * reach, size),
                         anchor=(reach, reach), normalize=False,
                         borderType=cv2.BORDER_CONSTANT)
    if cv2.countNonZero(rows) == rows.size:
        return None
    column = cv2.boxFilter(_differs(image, 0), cv2.CV_16U, (1, 2 * reach),
                           anchor=(0, reach), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return cv2.bitwise_or(rows, column) == 0


def _differs(image: np.ndarray, axis: int) -> np.ndarray:
    """uint8 1 at ``i`` where the pair ``(i, i + 1)`` along ``axis`` differs (0 past the end)."""
    differs = np.zeros(image.shape, np.uint8)
    head = (slice(None),) * axis + (slice(None, -1),)
    tail = (slice(None),) * axis + (slice(1, None),)
    np.not_equal(image[tail], image[head], out=differs[head].view(bool))
    return differs


def _half_range(dtype: np.dtype) -> float:
    """Sauvola's ``R``: half the dtype's range, as scikit-image's ``dtype_limits``."""
    if dtype.kind in "iu":
        return 0.5 * (float(np.iinfo(dtype).max) - float(np.iinfo(dtype).min))
    return 1.0  # skimage's dtype range for floats is [-1, 1]


def _window_exponents(image: np.ndarray, method: str, block_size: int) -> int | np.ndarray:
    """Per pixel, ``-shift`` where its window's largest magnitude is tiny (its squares
    underflow in the float dtype the image is worked in), ``shift`` where it is huge (its
    window's squares summed could overflow), else 0 (integer images, zeros, and values in
    between); one int where every pixel has the same."""
    if image.dtype.kind != "f" or image.size == 0:
        return 0
    low, high, shift = _bounds(image.dtype)
    largest = max(-float(image.min()), float(image.max()))
    if largest == 0:
        return 0
    if largest < low:
        return -shift
    # A window of zeros thresholds alike at any scale.
    magnitude = np.abs(image)
    zeros = image.size - np.count_nonzero(image)
    tiny = np.count_nonzero(magnitude < low) > zeros
    if not tiny and (largest <= high or np.count_nonzero(magnitude <= high) == zeros):
        return shift if largest > high else 0
    reach = gaussian_radius(block_size) if method == "gaussian" else block_size // 2
    window = ndi.maximum_filter(magnitude, size=2 * reach + 1, mode="nearest")
    exponents = np.zeros(image.shape, np.int16)
    exponents[(window > 0) & (window < low)] = -shift
    exponents[window > high] = shift
    return exponents


def _in_band(image: np.ndarray, exponent: int) -> np.ndarray:
    """``image`` with the values that no window of the pixels at ``exponent`` holds set to
    0, so that they neither under- nor overflow (running sums carry an inf along a row)."""
    low, high, _ = _bounds(image.dtype)
    if exponent < 0:
        return np.where(np.abs(image) >= low, 0, image)
    if exponent == 0:
        return np.where(np.abs(image) > high, 0, image)
    return image


def _bounds(dtype: np.dtype) -> tuple[float, float, int]:
    """The smallest magnitude whose square is a normal number in the float dtype that
    ``dtype`` is worked in, the largest whose squares summed stay finite, and its shift."""
    work = np.finfo(np.result_type(dtype, np.float32))  # float16 is worked in float32
    return (math.sqrt(float(work.tiny)), math.sqrt(float(work.max) / _MAX_SQUARES),
            _SHIFTS[work.dtype])


def _ldexp(value: float, exponent: int) -> float:
    """``value * 2**exponent``: exact, or infinite beyond float64's range."""
    with np.errstate(over="ignore"):
        return float(np.ldexp(value, exponent))


def _exact_window_mean(image: np.ndarray, block_size: int) -> np.ndarray:
    """The mean of each pixel's ``block_size`` window (scipy's "reflect" border), from
    exact window sums of integers of up to 32 bits (every partial sum in 2D an integer
    below 2**53: 1001**2 values below 2**32), and one division."""
    sums = exact_window_sums(image.astype(np.float64) if image.ndim == 2 else image,
                             block_size, "symmetric")
    sums /= float(block_size) ** image.ndim
    return sums


def _work_dtype(dtype: np.dtype) -> type:
    # float32 holds every value of 8/16-bit integers and float32 exactly.
    return np.float32 if dtype in (np.uint8, np.int8, np.uint16, np.int16, np.float16,
                                   np.float32) else np.float64
