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
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction

import cv2
import numpy as np
from scipy import ndimage as ndi

__all__ = ["exact_mean_mask", "exact_window_sums"]

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
    their own windows where they are few, else by the whole image's limb sums. One limb
    and its sums are held at a time: a window spanning 5e-324 to 1e308 takes 53 limbs."""
    if not image.size:
        return np.zeros(image.shape, np.uint8)
    if image.dtype.kind != "f":
        greater = _whole_image_greater(image, block_size, offset, border)
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


def _whole_image_greater(image: np.ndarray, block_size: int, offset: float,
                         border: str) -> np.ndarray:
    """``_exact_greater`` of every pixel, by the whole image's limb sums."""
    count = block_size**image.ndim
    limb_bits = _limb_bits(count, block_size)
    limbs, number, exponent = _limbs(image, limb_bits)

    def pixels_and_sums(limb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return limb, exact_window_sums(limb, block_size, border)

    return _exact_greater(limbs, pixels_and_sums, number, exponent, count, offset, limb_bits)


def _float_greater(image: np.ndarray, block_size: int, offset: float,
                   border: str) -> np.ndarray:
    """``_exact_greater`` of a float image, by float64 window sums where their rounding
    cannot decide."""
    if image.dtype == np.float16:  # OpenCV's box filter takes float32 (exactly)
        image = image.astype(np.float32)
    greater, undecided = _rounded_greater(image, block_size, offset, border)
    few = np.count_nonzero(undecided)
    if not few:
        return greater
    count = block_size**image.ndim
    if few * count > image.size:  # a ramp: each pixel on its threshold, the whole image's
        return _whole_image_greater(image, block_size, offset, border)
    windows = _windows(image, undecided, block_size, border)
    limb_bits = _limb_bits(count, block_size)
    limbs, number, exponent = _limbs(windows, limb_bits)

    def pixels_and_sums(limb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return limb[:, count // 2], limb.sum(axis=1)  # a window's middle value is its pixel's

    greater[undecided] = _exact_greater(limbs, pixels_and_sums, number, exponent, count,
                                        offset, limb_bits)
    return greater


def _rounded_greater(image: np.ndarray, block_size: int, offset: float,
                     border: str) -> tuple[np.ndarray, np.ndarray]:
    """``value * n - sum > -offset * n`` where float64 window sums decide it, and the
    pixels where their rounding may (``_rounding_bound``)."""
    count = block_size**image.ndim
    with np.errstate(over="ignore", invalid="ignore"):
        margin = np.multiply(image, float(count), dtype=np.float64)
        margin -= _rounded_window_sums(image, block_size, border)
        if offset:
            margin += offset * count
        # A term past float64's range leaves no margin to bound: value * n overflowed
        # beside a window sum the running sums rounded to below it is inf, whatever the
        # exact margin's sign; inf - inf is NaN. Both are undecided.
        margin[np.isinf(margin)] = np.nan
        bound = _rounding_bound(image, block_size, offset)
        greater = margin > bound  # right wherever decided
        undecided = ~(greater | (margin < -bound))
    return greater, undecided


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


def _exact_greater(limbs: Iterable[np.ndarray],
                   pixels_and_sums: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                   number: int, exponent: int, count: int, offset: float,
                   limb_bits: int) -> np.ndarray:
    """``value * count - window sum > -offset * count`` in exact arithmetic, the pixels'
    values held in ``number`` ``limbs``, lowest first: ``pixels_and_sums(limb)`` gives a
    limb's values of the pixels and of their windows' sums."""
    bound = Fraction(-offset) * count / Fraction(2) ** exponent
    bound_limbs = _split(math.floor(bound), limb_bits, number)
    greater = None
    carry = None
    limbs = iter(limbs)  # next(), not zip(), whose tuple would keep the last limb
    for position, bound_limb in enumerate(bound_limbs):
        pixels, sums = pixels_and_sums(next(limbs))
        difference = pixels * float(count)
        difference -= sums
        del pixels, sums  # one limb at a time
        if carry is not None:
            difference += carry
        if position < number - 1:  # kept in [0, 2**limb_bits), the rest carried up
            carry = np.ldexp(difference, -limb_bits)
            np.floor(carry, out=carry)
            difference -= np.ldexp(carry, limb_bits)
        if greater is None:
            greater = difference > bound_limb
        else:  # a higher limb decides where it differs
            np.copyto(greater, difference > bound_limb, where=difference != bound_limb)
        del difference
    return greater


def _limbs(image: np.ndarray, limb_bits: int) -> tuple[Iterator[np.ndarray], int, int]:
    """float64 arrays of integers below ``2**limb_bits`` in magnitude, lowest first, cut
    one at a time as iterated; their number; and ``exponent``: ``image == sum(limb *
    2**(exponent + i * limb_bits))`` exactly."""
    if image.dtype.kind in "iub":
        bits = 8 * image.dtype.itemsize
        number = 1 if bits <= limb_bits else -(-bits // limb_bits)
        return _integer_limbs(image, limb_bits, number), number, 0
    largest = max(-float(image.min()), float(image.max()))
    if largest == 0:
        return iter([image.astype(np.float64)]), 1, 0
    smallest = min(float(np.min(image, initial=largest, where=image > 0)),
                   -float(np.max(image, initial=-largest, where=image < 0)))
    finfo = np.finfo(image.dtype)
    # Every value is a multiple of its own last bit, no finer than the dtype's smallest.
    lowest_bit = max(math.frexp(smallest)[1] - finfo.nmant - 1,
                     math.frexp(float(finfo.smallest_subnormal))[1] - 1)
    top = math.frexp(largest)[1]  # every magnitude is below 2**top
    number = max(1, -(-(top - lowest_bit) // limb_bits))
    return _float_limbs(image, limb_bits, number, lowest_bit, top), number, lowest_bit


def _float_limbs(image: np.ndarray, limb_bits: int, number: int, lowest_bit: int,
                 top: int) -> Iterator[np.ndarray]:
    """``_limbs`` of a float image, sign and magnitude: each limb takes the bits of
    ``|value|`` from ``2**low`` up to the next limb's, signed as ``value``."""
    for position in range(number):  # no limb kept here while the caller holds it
        yield _float_limb(image, lowest_bit + position * limb_bits, limb_bits,
                          top if position < number - 1 else None)


def _float_limb(image: np.ndarray, low: int, limb_bits: int, top: int | None) -> np.ndarray:
    """The bits of ``|image|`` from ``2**low`` up to ``2**(low + limb_bits)`` (all above
    ``2**low`` for the top limb, ``top`` None), signed as ``image``."""
    # float64 is exact for float16 and float32
    part = image.astype(np.float64) if top is None else _bits_below(image, low + limb_bits, top)
    np.ldexp(part, -low, out=part)
    return np.trunc(part, out=part)


def _bits_below(image: np.ndarray, high: int, top: int) -> np.ndarray:
    """float64 ``numpy.fmod(image, 2**high)`` (a zero's sign aside), exact, 30 times faster:
    ``image`` less its multiple of ``2**step`` truncated, for steps from the top down by
    1000 to ``high``, so that ``part / 2**step`` (below ``2**(top - step)``) stays finite."""
    part = image.astype(np.float64)  # exact for float16 and float32
    for step in range(high + 1000 * max(0, -(-(top - high - 1000) // 1000)), high - 1, -1000):
        multiple = np.ldexp(part, -step)
        np.trunc(multiple, out=multiple)
        np.ldexp(multiple, step, out=multiple)
        part -= multiple
    return part


def _integer_limbs(image: np.ndarray, limb_bits: int, number: int) -> Iterator[np.ndarray]:
    """Two's complement limbs of an integer image: the lower ones in [0, 2**limb_bits), the
    top one signed."""
    if number == 1:
        yield image.astype(np.float64)
        return
    values = image if image.dtype == np.uint64 else image.astype(np.int64, copy=False)
    for position in range(number):  # no limb kept here while the caller holds it
        yield _integer_limb(values, position * limb_bits,
                            limb_bits if position < number - 1 else None)


def _integer_limb(values: np.ndarray, low: int, limb_bits: int | None) -> np.ndarray:
    """float64 bits ``low`` to ``low + limb_bits`` of int64 or uint64 ``values`` (all above
    ``low``, signed, for the top limb, ``limb_bits`` None)."""
    part = values >> values.dtype.type(low)
    if limb_bits is not None:
        part &= values.dtype.type(2**limb_bits - 1)
    return part.astype(np.float64)


def _split(value: int, limb_bits: int, count: int) -> list[float]:
    """``value`` in ``count`` limbs as ``_integer_limbs`` cuts them, the top one clipped to
    +-2**60, beyond any top limb of a window's difference (below 2**53)."""
    limbs = [float((value >> (position * limb_bits)) & (2**limb_bits - 1))
             for position in range(count - 1)]
    top = value >> ((count - 1) * limb_bits)
    return [*limbs, float(min(max(top, -(2**60)), 2**60))]


def exact_window_sums(limb: np.ndarray, block_size: int, border: str) -> np.ndarray:
    """Each pixel's window sum of ``limb``, exact: float64 integers whose window sums stay
    below 2**53 in 2D (summed in float64), integers of up to 32 bits in 3D (int64)."""
    if limb.ndim == 2:
        return cv2.boxFilter(limb, -1, (block_size, block_size), normalize=False,
                             borderType=_BORDERS[border])
    sums = limb.astype(np.int64)
    for axis in range(limb.ndim):
        def along(start: int, stop: int | None, axis: int = axis) -> tuple[slice, ...]:
            return (slice(None),) * axis + (slice(start, stop),)

        if block_size > _period(sums.shape[axis], border):
            sums = _wide_window_sums(sums, axis, block_size, border)
            continue
        cumulative = _pad_axis(sums, axis, block_size // 2, border)
        np.cumsum(cumulative, axis=axis, out=cumulative)
        # window sum at i: cumulative[i + block - 1] - cumulative[i - 1]
        sums = cumulative[along(block_size - 1, None)].copy()
        sums[along(1, None)] -= cumulative[along(0, -block_size)]
    return sums.astype(np.float64)


def _pad_axis(array: np.ndarray, axis: int, width: int, border: str) -> np.ndarray:
    """``array`` padded by ``width`` along ``axis`` alone: the window sums of a volume
    padded along every axis at once (the box filter's border) held the window's cube, 8 GB
    for a 1 x 4 x 6 image and a window of 1001."""
    widths = [(0, 0)] * array.ndim
    widths[axis] = (width, width)
    return np.pad(array, widths, mode=border)


def _period(length: int, border: str) -> int:
    """After how many positions ``border`` repeats the values along an axis of ``length``
    (numpy's padding reflects again and again past a short axis)."""
    return 2 * length if border == "symmetric" else max(2 * length - 2, 1)


def _reflected(positions: np.ndarray, length: int, border: str) -> np.ndarray:
    """The index along an axis of ``length`` that ``border`` gives each position (as
    ``np.pad(np.arange(length), width, mode=border)``, any width)."""
    period = _period(length, border)
    turn = positions % period
    back = period - 1 - turn if border == "symmetric" else period - turn
    return np.where(turn < length, turn, back)


def _wide_window_sums(array: np.ndarray, axis: int, block_size: int,
                      border: str) -> np.ndarray:
    """The window sums along ``axis`` of a window wider than ``border``'s period there:
    whole periods (each a sum of the axis's values) and the rest of the window, read from
    fewer than three axis lengths rather than from the axis padded by the window (a 5 x 256
    x 256 stack and a window of 101 asked for 21 times its int64 sums, and was refused)."""
    length = array.shape[axis]
    turns, rest = divmod(block_size, _period(length, border))
    whole = np.take(array, _reflected(np.arange(_period(length, border)), length, border),
                    axis=axis).sum(axis=axis, keepdims=True)
    sums = np.broadcast_to(whole * turns, array.shape).copy()
    if rest:  # the window's first ``rest`` positions; the whole periods follow them
        start = -(block_size // 2)
        read = np.take(array, _reflected(np.arange(start, start + length + rest - 1),
                                         length, border), axis=axis)
        cumulative = np.cumsum(read, axis=axis)
        tail = (slice(None),) * axis
        sums += cumulative[tail + (slice(rest - 1, None),)]
        sums[tail + (slice(1, None),)] -= cumulative[tail + (slice(0, length - 1),)]
    return sums


def _windows(image: np.ndarray, where: np.ndarray, block_size: int,
             border: str) -> np.ndarray:
    """The ``block_size`` windows of the (few) pixels ``where``, one a row in C order, the
    border's values indexed as ``border`` reflects them rather than from a padded copy of
    the image (a volume's the window's cube)."""
    half = block_size // 2
    steps = np.arange(block_size)
    index = []
    for axis, (length, at) in enumerate(zip(image.shape, np.nonzero(where), strict=True)):
        reflected = np.pad(np.arange(length), half, mode=border)
        shape = [len(at)] + [1] * image.ndim
        shape[axis + 1] = block_size
        index.append(reflected[at[:, None] + steps].reshape(shape))
    return image[tuple(index)].reshape(len(index[0]), -1)


def _rounded_window_sums(image: np.ndarray, block_size: int, border: str) -> np.ndarray:
    """Each pixel's window sum of float32 or float64 ``image`` by float64 running sums,
    rounded as ``_rounding_bound`` bounds."""
    if image.ndim == 2:
        return cv2.boxFilter(image, cv2.CV_64F, (block_size, block_size), normalize=False,
                             borderType=_BORDERS[border])
    half = block_size // 2
    sums = image.astype(np.float64)
    for axis in range(image.ndim):
        if block_size > _period(sums.shape[axis], border):
            sums = _wide_window_sums(sums, axis, block_size, border) / block_size
            continue
        padded = _pad_axis(sums, axis, half, border)
        ndi.uniform_filter1d(padded, block_size, axis=axis, output=padded)
        sums = padded[(slice(None),) * axis + (slice(half, -half),)]
    return sums * float(block_size**image.ndim)
