"""kernels.nonfinite: the fill value is numpy's min, max or median of the finite values in
the image's dtype, and only NaN and infinite pixels change."""

from __future__ import annotations

import numpy as np
import pytest

from napari_maskprep.kernels.nonfinite import fill_nonfinite, fill_value

REFERENCE = {"minimum": np.min, "maximum": np.max, "median": np.median}


@pytest.mark.parametrize("fill", sorted(REFERENCE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(37, 41), (5, 19, 23)])
def test_the_value_and_the_fill_equal_numpy_on_the_finite_values(fill, dtype, shape):
    rng = np.random.default_rng(7)
    image = rng.normal(100.0, 30.0, shape).astype(dtype)
    holes = rng.random(shape)
    image[holes < 0.2], image[holes > 0.97], image[holes < 0.01] = np.nan, np.inf, -np.inf
    finite = image[np.isfinite(image)]
    value = fill_value(image, fill)
    assert value.dtype == dtype and value == dtype(REFERENCE[fill](finite))
    out = fill_nonfinite(image, value)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.where(np.isfinite(image), image, value))


def test_nothing_to_fill_gives_no_value_and_a_copy():
    for image in (np.arange(6, dtype=np.uint16).reshape(2, 3), np.ones((2, 3), np.float32)):
        assert fill_value(image, "median") is None
        out = fill_nonfinite(image, None)
        np.testing.assert_array_equal(out, image)
        assert out.dtype == image.dtype and not np.shares_memory(out, image)
