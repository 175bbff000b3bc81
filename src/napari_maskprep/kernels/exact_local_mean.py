"""``image > mean - offset`` decided in exact arithmetic, each pixel against the mean of its
window: no rounding decides a pixel on its threshold (every pixel of a linear ramp is its
window's mean), so any crop holding the window (a tiled run's chunk), any thread count and
any process give the same mask.

The image's values are integers times ``2**exponent`` (floats too: the smallest one's last
bit), cut into limbs of ``limb_bits`` bits so that their window sums are exact in float64
whatever the order they are summed in (OpenCV's running sums, or int64 cumulative sums in
3D). With ``n`` the window's pixels, ``value * n - sum`` is then an exact integer held in
limbs, compared with ``floor(-offset * n / 2**exponent)``, exact in Python integers.
8- to 32-bit integers take one limb (one box sum, as the mean's division did). A float
image is decided first by float64 running box sums wherever their rounding, bounded, cannot
change the sign of ``value * n - sum + offset * n``; the pixels within that bound (ties,
and next to none else in a real image) then take limbs, as many as the magnitudes of the
values in their windows span.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

import cv2
import numpy as np
from scipy import ndimage as ndi

__all__ = ["exact_mean_mask"]

# The border of a window past the image's edge: scipy's "reflect" (d c b a | a b c d), the
# mean's reference, or numpy's "reflect" (d c b | a b c d), scikit-image's Niblack's and
# Sauvola's padding.
_BORDERS = {"symmetric": cv2.BORDER_REFLECT, "reflect": cv2.BORDER_REFLECT_101}


def exact_mean_mask(image: np.ndarray, block_size: int, offset: float, *, dark: bool,
                    border: str) -> np.ndarray:
    """uint8 ``image > mean - offset`` (``<=`` with ``dark``) in exact arithmetic, ``mean``
    over each pixel's ``block_size`` window padded by ``border`` ("symmetric" or
    "reflect", numpy's names). ``image`` holds finite values.

    Integer images are decided exactly at once. Float images first by float64 window sums,
    where a pixel's margin ``value * n - sum + offset * n`` exceeds the bound on their
    rounding (``_rounding_bound``); only the pixels within it are decided in limbs, from
    their own windows where they are few, else by the whole image's limb sums."""
    if not image.size:
        return np.zeros(image.shape, np.uint8)
    count = block_size**image.ndim
    limb_bits = _limb_bits(count, block_size)
    if image.dtype.kind != "f":
        limbs, exponent = _limbs(image, limb_bits)
        sums = (_window_sums(limb, block_size, border) for limb in limbs)
        greater = _exact_greater(limbs, sums, exponent, count, offset, limb_bits)
    else:
        greater = _float_greater(image, block_size, offset, border)
    if dark:
        np.logical_not(greater, out=greater)
    return greater.view(np.uint8)


def _limb_bits(count: int, block_size: int) -> int:
    """Bits of a limb: the partial sums of running box sums hold at most ``count +
    block_size`` of a limb's values, and a difference twice that and a carry: all below
    2**53, exact in float64."""
    return 51 - (count + block_size + 1).bit_length()


def _float_greater(image: np.ndarray, block_size: int, offset: float,
                   border: str) -> np.ndarray:
    """``_exact_greater`` of a float image, by float64 window sums where their rounding
    cannot decide."""
    if image.dtype == np.float16:  # OpenCV's box filter takes float32 (exactly)
        image = image.astype(np.float32)
    count = block_size**image.ndim
    # Sums past float64's range are inf or NaN: undecided, as they are within any bound.
    with np.errstate(over="ignore", invalid="ignore"):
        margin = np.multiply(image, float(count), dtype=np.float64)
        margin -= _rounded_window_sums(image, block_size, border)
        if offset:
            margin += offset * count
        bound = _rounding_bound(image, block_size, offset)
        greater = margin > bound  # right wherever decided
        undecided = ~(greater | (margin < -bound))
    few = np.count_nonzero(undecided)
    if not few:
        return greater
    limb_bits = _limb_bits(count, block_size)
    if few * count > image.size:  # a ramp: each pixel on its threshold, the whole image's
        limbs, exponent = _limbs(image, limb_bits)
        sums = (_window_sums(limb, block_size, border) for limb in limbs)
        return _exact_greater(limbs, sums, exponent, count, offset, limb_bits)
    padded = np.pad(image, block_size // 2, mode=border)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (block_size,) * image.ndim)
    windows = windows[undecided].reshape(few, count)
    limbs, exponent = _limbs(windows, limb_bits)
    greater[undecided] = _exact_greater(  # a window's middle value is its pixel's
        [limb[:, count // 2] for limb in limbs], (limb.sum(axis=1) for limb in limbs),
        exponent, count, offset, limb_bits)
    return greater


def _rounding_bound(image: np.ndarray, block_size: int, offset: float) -> float:
    """A bound on the rounding of ``value * n - sum + offset * n`` by float64 running box
    sums (``n`` values in a window of the largest magnitude ``M``): each step along an
    axis of length ``l`` rounds a partial sum of at most ``(block_size + 1) * M`` values
    times the windows already summed, and a pixel's sum carries at most ``l + block_size``
    steps of each axis, so ``2u n M sum(l + block_size)`` bounds them (``u = 2**-53``),
    and four more roundings the margin's; doubled for safety. Subnormal rounding is below
    ``2**-1000``."""
    count = block_size**image.ndim
    largest = max(-float(image.min()), float(image.max()))
    steps = sum(length + block_size for length in image.shape) + image.ndim + 4
    return 4 * 2.0**-53 * count * (steps * 2 * largest + abs(offset)) + 2.0**-1000


def _exact_greater(limbs: list[np.ndarray], sums: Iterable[np.ndarray], exponent: int,
                   count: int, offset: float, limb_bits: int) -> np.ndarray:
    """``value * count - window sum > -offset * count`` in exact arithmetic, the pixels'
    values held in ``limbs``, their windows' sums of each limb in ``sums``."""
    bound = Fraction(-offset) * count / Fraction(2) ** exponent
    bound_limbs = _split(math.floor(bound), limb_bits, len(limbs))
    greater = None
    carry = None
    for position, (limb, sum_, bound_limb) in enumerate(zip(limbs, sums, bound_limbs, strict=True)):
        difference = limb * float(count)
        difference -= sum_
        if carry is not None:
            difference += carry
        if position < len(limbs) - 1:  # kept in [0, 2**limb_bits), the rest carried up
            carry = np.floor(np.ldexp(difference, -limb_bits))
            difference -= np.ldexp(carry, limb_bits)
        if greater is None:
            greater = difference > bound_limb
        else:  # a higher limb decides where it differs
            np.copyto(greater, difference > bound_limb, where=difference != bound_limb)
    return greater


def _limbs(image: np.ndarray, limb_bits: int) -> tuple[list[np.ndarray], int]:
    """float64 arrays of integers below ``2**limb_bits`` in magnitude, lowest first, and
    ``exponent``: ``image == sum(limb * 2**(exponent + i * limb_bits))`` exactly."""
    if image.dtype.kind in "iub":
        return _integer_limbs(image, limb_bits), 0
    work = image.astype(np.float64)  # exact for float16 and float32
    magnitude = np.abs(work)
    largest = float(magnitude.max())
    if largest == 0:
        return [work], 0
    smallest = float(np.min(magnitude, initial=largest, where=magnitude > 0))
    finfo = np.finfo(image.dtype)
    # Every value is a multiple of its own last bit, no finer than the dtype's smallest.
    lowest_bit = max(math.frexp(smallest)[1] - finfo.nmant - 1,
                     math.frexp(float(finfo.smallest_subnormal))[1] - 1)
    top = math.frexp(largest)[1]  # every magnitude is below 2**top
    count = max(1, -(-(top - lowest_bit) // limb_bits))
    limbs = []
    for position in range(count):
        low = lowest_bit + position * limb_bits
        part = work
        if position < count - 1:  # the bits below the next limb's: fmod is exact
            part = np.fmod(work, math.ldexp(1.0, low + limb_bits))
        limbs.append(np.trunc(np.ldexp(part, -low)))
    return limbs, lowest_bit


def _integer_limbs(image: np.ndarray, limb_bits: int) -> list[np.ndarray]:
    """Two's complement limbs of an integer image: the lower ones in [0, 2**limb_bits), the
    top one signed."""
    bits = 8 * image.dtype.itemsize
    if bits <= limb_bits:
        return [image.astype(np.float64)]
    values = image if image.dtype == np.uint64 else image.astype(np.int64)
    mask = values.dtype.type(2**limb_bits - 1)
    count = -(-bits // limb_bits)
    limbs = []
    for position in range(count):
        part = values >> values.dtype.type(position * limb_bits)
        if position < count - 1:
            part = part & mask
        limbs.append(part.astype(np.float64))
    return limbs


def _split(value: int, limb_bits: int, count: int) -> list[float]:
    """``value`` in ``count`` limbs as ``_integer_limbs`` cuts them, the top one clipped to
    +-2**60, beyond any top limb of a window's difference (below 2**53)."""
    limbs = [float((value >> (position * limb_bits)) & (2**limb_bits - 1))
             for position in range(count - 1)]
    top = value >> ((count - 1) * limb_bits)
    return [*limbs, float(min(max(top, -(2**60)), 2**60))]


def _window_sums(limb: np.ndarray, block_size: int, border: str) -> np.ndarray:
    """Each pixel's window sum of ``limb`` (integers), exact."""
    if limb.ndim == 2:
        return cv2.boxFilter(limb, -1, (block_size, block_size), normalize=False,
                             borderType=_BORDERS[border])
    sums = np.pad(limb.astype(np.int64), block_size // 2, mode=border)
    for axis in range(limb.ndim):
        def along(start: int, stop: int | None, axis: int = axis) -> tuple[slice, ...]:
            return (slice(None),) * axis + (slice(start, stop),)

        # window sum at i: cumulative[i + block - 1] - cumulative[i] + value[i]
        cumulative = np.cumsum(sums, axis=axis)
        last = cumulative.shape[axis] - block_size + 1
        window = cumulative[along(block_size - 1, None)] - cumulative[along(0, last)]
        window += sums[along(0, last)]
        sums = window
    return sums.astype(np.float64)


def _rounded_window_sums(image: np.ndarray, block_size: int, border: str) -> np.ndarray:
    """Each pixel's window sum of float32 or float64 ``image`` by float64 running sums,
    rounded as ``_rounding_bound`` bounds."""
    if image.ndim == 2:
        return cv2.boxFilter(image, cv2.CV_64F, (block_size, block_size), normalize=False,
                             borderType=_BORDERS[border])
    half = block_size // 2
    sums = np.pad(image.astype(np.float64), half, mode=border)
    for axis in range(image.ndim):
        sums = ndi.uniform_filter1d(sums, block_size, axis=axis)
    sums = sums[(slice(half, -half),) * image.ndim]
    sums *= float(block_size**image.ndim)
    return sums
