"""kernels.dtypes: the float results of kernels back in the input's dtype (numpy.rint, then
clipped to the dtype's range without wrapping), skimage.util.invert, and element-wise
min/max equal to numpy's."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import util

from napari_maskprep.kernels.dtypes import (
    elementwise_min_max,
    from_float,
    integer_bounds,
    inverted,
    work_float,
)

from ..preprocess_images import FAST_DTYPES, random_image

INTEGERS = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64]


@pytest.mark.parametrize("dtype", INTEGERS)
def test_integer_bounds_cast_without_wrapping(dtype):
    low, high = integer_bounds(np.dtype(dtype))
    info = np.iinfo(dtype)
    assert np.array([low, high]).astype(dtype).tolist() == [info.min, int(high)]
    assert info.max - int(high) < 2**11  # 64-bit: the float just below 2**63 or 2**64


@pytest.mark.parametrize("dtype", INTEGERS + [np.float32, np.float64])
def test_from_float_rounds_half_to_even_and_saturates(dtype):
    values = np.array([-1e30, -2.5, -0.5, 0.5, 1.5, 2.5, 1e30])
    out = from_float(values, np.dtype(dtype))
    assert out.dtype == (np.float64 if dtype == np.float64 else dtype)
    if np.dtype(dtype).kind == "f":
        assert np.array_equal(out, values.astype(dtype))
    else:
        info = np.iinfo(dtype)
        expected = [info.min, max(-2, info.min), 0, 0, 2, 2, int(integer_bounds(dtype)[1])]
        assert out.tolist() == expected


def test_work_float_is_float32_where_it_is_exact():
    assert [work_float(np.dtype(t)).__name__ for t in (np.uint8, np.int16, np.float32)] == [
        "float32"] * 3
    assert [work_float(np.dtype(t)).__name__ for t in (np.int32, np.uint64, np.float64)] == [
        "float64"] * 3


@pytest.mark.parametrize("dtype", [*FAST_DTYPES, np.int8, np.int16, np.int32, np.uint32])
def test_inverted_equals_skimage_invert_and_is_an_involution(dtype):
    image = random_image((4, 9, 11), dtype)
    out = inverted(image)
    assert np.array_equal(out, util.invert(image))
    np.testing.assert_allclose(inverted(out), image, atol=1e-6)


@pytest.mark.parametrize("shape", [(7, 9), (3, 7, 9)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_elementwise_min_max_equal_numpy(dtype, shape):
    a, b = random_image(shape, dtype, seed=1), random_image(shape, dtype, seed=2)
    minimum, maximum = elementwise_min_max(a)
    out = np.empty_like(a)
    minimum(a, b, out)
    assert np.array_equal(out, np.minimum(a, b))
    maximum(a, b, out)
    assert np.array_equal(out, np.maximum(a, b))
