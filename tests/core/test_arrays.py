"""Arrays as ops see them (core.arrays.native): native byte order, float16 and long double
converted once to the dtype a result would have."""

from __future__ import annotations

import numpy as np
import pytest

import napari_maskprep as mp

IMAGE = np.random.default_rng(0).random((32, 32))


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8,
                    reason="long double is float64 here (Windows, some ARM)")
@pytest.mark.parametrize("op", ["preprocess.gaussian", "preprocess.background",
                                "segment.local_threshold"])
def test_a_long_double_image_runs_as_float64(op):
    """scipy.ndimage refuses long double: the Gaussian raised "RuntimeError: array type
    dtype('float128') not supported", the background "ValueError: Invalid integer data
    type 'f'." and the local threshold "KeyError: dtype('float128')"."""
    out = mp.apply(op, IMAGE.astype(np.longdouble))
    expected = mp.apply(op, IMAGE)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
