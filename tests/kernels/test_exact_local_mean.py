"""kernels.exact_local_mean against exact arithmetic on adversarial images (magnitudes from
5e-324 to 1.7e308, 64-bit integer extremes, windows wider than the image), and the memory
its limbs take."""

from __future__ import annotations

import functools
import math
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from napari_maskprep.kernels.exact_local_mean import _bits_below, exact_mean_mask
from napari_maskprep.kernels.local_threshold import local_threshold_mask


def _exact_mask(image, block_size, offset, dark, border):
    """``value * n - sum > -offset * n`` in Fractions (``<=`` with ``dark``), each window's
    sum weighing the image's values by how often its reflected border repeats them."""
    half = block_size // 2
    weights = []  # per axis: how often each index falls in each pixel's window
    for length in image.shape:
        reflected = np.pad(np.arange(length), half, mode=border)
        weights.append([np.bincount(reflected[i:i + block_size], minlength=length).astype(object)
                        for i in range(length)])
    values = np.array([Fraction(value) for value in image.ravel().tolist()], object)
    values = values.reshape(image.shape)
    count = block_size**image.ndim
    bound = -Fraction(offset) * count
    mask = np.zeros(image.shape, np.uint8)
    for at in np.ndindex(image.shape):
        weight = functools.reduce(np.multiply.outer,
                                  [axis[i] for axis, i in zip(weights, at, strict=True)])
        mask[at] = (values[at] * count - (weight * values).sum() > bound) != dark
    return mask


def _mixed(dtype):
    """A ramp beside a dtype's largest and smallest magnitudes, and a plateau."""
    finfo = np.finfo(dtype)
    image = (np.add.outer(np.arange(6), np.arange(7)) * 0.7 + 0.1).astype(dtype)
    image[0, 0], image[5, 6] = finfo.max, -finfo.smallest_subnormal
    image[2, 3], image[3, 1] = finfo.smallest_subnormal, -finfo.max
    image[4:, :3] = dtype(0.1)
    return image


_IMAGES = {
    "float64 mixed": _mixed(np.float64),
    "float32 mixed": _mixed(np.float32),
    "float16 mixed": _mixed(np.float16),
    "float64 near 2**53": 2.0**53 + np.arange(20.0).reshape(4, 5) * 2 - 7,
    "int64 extremes": np.array([[-(2**63), 2**63 - 1, 0, -1], [5, -(2**62), 2**62, 7]], np.int64),
    "uint64 above 2**63": (np.arange(12, dtype=np.uint64) * np.uint64(3) + np.uint64(2**63 + 1)
                           ).reshape(3, 4),
    "one column": np.array([[1e-300], [0.5], [1e300], [0.5]]),
    "one row": np.array([[3, 1, 4, 1, 5]], np.int8),
    "one plane": (np.arange(24.0).reshape(1, 4, 6) * 0.3 + 1e-310),
    "tiny ramp volume": (np.arange(18, dtype=np.float64).reshape(2, 3, 3) * 5e-324),
}


@pytest.mark.parametrize("name", list(_IMAGES))
@pytest.mark.parametrize("block_size", [3, 5, 11])
@pytest.mark.parametrize("offset", [0.0, -0.0, 0.1, -1e-300, 1e300, -2.5])
def test_masks_equal_exact_arithmetic(name, block_size, offset):
    image = _IMAGES[name]
    for border, dark in (("symmetric", False), ("reflect", True)):
        want = _exact_mask(image, block_size, offset, dark, border)
        got = exact_mean_mask(image, block_size, offset, dark=dark, border=border)
        np.testing.assert_array_equal(got, want)


def test_bits_below_equal_fmod():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(size=500) * 10.0 ** rng.integers(-320, 308, 500),
                             [5e-324, -1.7e308, 1.7e308, 0.0, -0.0, 2.0**-1022]])
    top = math.frexp(float(np.abs(values).max()))[1]
    for high in [*range(-1074, 1024, 37), -1073, 0, 1023]:
        want = np.fmod(values, math.ldexp(1.0, high))  # a zero's sign aside
        np.testing.assert_array_equal(_bits_below(values, high, top), want)


def _with_peak(function, *args, **kwargs):
    """``function``'s result and the peak of the memory Python's allocators gave it."""
    tracemalloc.start()
    try:
        return function(*args, **kwargs), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("image", "method"), [
    (np.arange(24.0).reshape(1, 4, 6) * 0.1, "mean"),  # a ramp: every pixel a tie
    (np.arange(24, dtype=np.uint8).reshape(1, 4, 6) ** 2, "mean"),
    (np.arange(24, dtype=np.int64).reshape(2, 3, 4) * 2**40, "niblack"),
    (np.sin(np.arange(24.0)).reshape(2, 2, 6) + 0.5, "sauvola"),  # ties: few
    (np.arange(60.0).reshape(6, 10) % 7, "mean"),
])
def test_a_window_wider_than_a_volume_takes_the_memory_of_the_volume(image, method):
    """The window sums of a volume, and the windows of its few ties, were taken from the
    image padded along every axis at once by the window: 135 MB for these at a window of
    201, 16 GB at 1001. Padded one axis at a time, and the ties' windows indexed."""
    mask, peak = _with_peak(local_threshold_mask, image, method, 201, 0.0, 0.25, dark=True)
    border = "symmetric" if method == "mean" else "reflect"
    np.testing.assert_array_equal(mask, _exact_mask(image, 201, 0.25, True, border))
    assert peak < 2**20


@pytest.mark.parametrize("spread", [False, True])
def test_the_limbs_take_few_bytes_a_pixel(spread):
    """Every pixel of a ramp is on its threshold, so the whole image is decided in limbs;
    values from 5e-324 to 1e300 take 53 of them. They were all held at once, with the
    first pass's margin and a float64 copy of the image: 66 bytes a pixel for a ramp's 2
    limbs, 440 for 53."""
    image = np.add.outer(np.arange(512), np.arange(512)) * 0.7 + 0.1
    if spread:
        image[0, 0], image[9, 9] = 1e300, 5e-324
    mask, peak = _with_peak(exact_mean_mask, image, 35, 0.0, dark=False, border="symmetric")
    assert (peak - mask.nbytes) / image.size < 40


@pytest.mark.parametrize("scale", [0.1, 2**40])
def test_the_sums_of_a_volume_take_few_bytes_a_pixel(scale):
    """A volume's window sums kept the padded copy of each axis beside its cumulative sums
    (int64) and beside its filtered copy (the float64 first pass): 56 bytes a pixel for
    these ramps (24 planes, a window of 9 pads them to 32), 84 before each axis was padded
    alone. Both now run in place in the padded copy."""
    image = np.indices((24, 96, 96)).sum(axis=0) * scale
    mask, peak = _with_peak(exact_mean_mask, image, 9, 0.0, dark=False, border="symmetric")
    assert (peak - mask.nbytes) / image.size < 50


def _drifting_row(block_size, length, tail):
    """A row whose running window sums (OpenCV's, each step ``sum += new - old``) round
    down at every step: each ``new - old`` is 15 units of the values' last bit above a
    multiple of the sum's (32 units), over ``length - tail`` values swinging between
    1.05 and 1.75 times 2**1013, then ``tail`` values just above float64's largest over
    ``block_size**2``, so that ``value * n`` overflows."""
    unit = 2.0**961  # the last bit of values in [2**1013, 2**1014)
    smallest = int(np.finfo(np.float64).max / block_size**2 / unit) + 20
    low, high = int(2**52 * 1.05), int(2**52 * 1.75)
    rng = np.random.default_rng(1)
    units = [int(value) for value in rng.integers(low, high, block_size)]
    while len(units) < length - tail:
        step = 32 * int(rng.integers(-(2**40), 2**40)) + 15
        if low <= units[-block_size] + step < high:
            units.append(units[-block_size] + step)
    for i in range(length - tail, length):
        target = smallest + (0, 7, 3)[i % 3]
        units.append(target + (15 - (target - units[i - block_size])) % 32)
    return np.array([value * unit for value in units])


def test_an_overflowed_value_times_n_is_no_margin():
    """``value * n`` past float64's range, beside a window sum the running sums rounded
    down to below it, made the first pass's margin inf: taken as foreground, whatever the
    exact margin's sign (30 pixels of the middle row below their window's mean)."""
    image = np.tile(_drifting_row(35, 440, 80), (35, 1))
    mask = exact_mean_mask(image, 35, 0.0, dark=False, border="symmetric")
    want = _exact_mask(image[:1], 35, 0.0, False, "symmetric")  # the rows are alike
    np.testing.assert_array_equal(mask, np.tile(want, (35, 1)))
