"""preprocess.fill_nan: exact arrays for each fill, dtypes kept, integers untouched, errors;
and every other op pointing at it when handed NaN."""

from __future__ import annotations

import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.engine.statistics import StatisticCache

NAN, INF = np.nan, np.inf

# Finite values 4, 1, 7, 2 (median 3.0, the mean of 2 and 4); NaN, +inf and -inf to fill.
FLAT = [[NAN, 4.0, 1.0],
        [INF, 7.0, -INF],
        [2.0, NAN, NAN]]
FILLED = {
    "minimum": [[1.0, 4.0, 1.0], [1.0, 7.0, 1.0], [2.0, 1.0, 1.0]],
    "maximum": [[7.0, 4.0, 1.0], [7.0, 7.0, 7.0], [2.0, 7.0, 7.0]],
    "zero": [[0.0, 4.0, 1.0], [0.0, 7.0, 0.0], [2.0, 0.0, 0.0]],
    "median": [[3.0, 4.0, 1.0], [3.0, 7.0, 3.0], [2.0, 3.0, 3.0]],
}


@pytest.mark.parametrize("fill", sorted(FILLED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_fill_replaces_nan_and_both_infinities_in_2d(fill, dtype):
    out = mp.apply("preprocess.fill_nan", np.array(FLAT, dtype), fill=fill)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.array(FILLED[fill], dtype))


@pytest.mark.parametrize("fill", sorted(FILLED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_stack_takes_one_value_from_all_its_planes(fill, dtype):
    """The statistic is the whole stack's: plane 1 alone holds the largest value, 9."""
    stack = np.array([FLAT, [[NAN, 9.0, 3.0], [3.0, 3.0, 3.0], [3.0, 3.0, NAN]]], dtype)
    value = {"minimum": 1.0, "maximum": 9.0, "zero": 0.0, "median": 3.0}[fill]
    want = np.where(np.isfinite(stack), stack, value).astype(dtype)
    out = mp.apply("preprocess.fill_nan", stack, fill=fill)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, want)
    assert out[1, 0, 0] == out[0, 0, 0] == value


def test_the_median_is_numpy_s_of_the_finite_values_in_the_image_s_dtype():
    image = np.array([[0.1, 0.2, NAN, 0.7]], np.float32)
    out = mp.apply("preprocess.fill_nan", image, fill="median")
    assert out[0, 2] == np.median(np.array([0.1, 0.2, 0.7], np.float32))
    assert out[0, 2] == np.float32(0.2)


def test_a_finite_image_comes_back_as_an_equal_copy():
    image = np.array([[1.5, 2.5], [0.0, -3.0]], np.float32)
    out = mp.apply("preprocess.fill_nan", image, fill="maximum")
    np.testing.assert_array_equal(out, image)
    assert out.dtype == np.float32 and not np.shares_memory(out, image)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32])
@pytest.mark.parametrize("fill", ["minimum", "median"])
def test_integer_images_pass_through_unchanged(dtype, fill):
    image = np.array([[0, 5, 9], [3, 3, 1]], dtype)
    out = mp.apply("preprocess.fill_nan", image, fill=fill)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("fill", ["minimum", "maximum", "median"])
def test_an_image_without_a_finite_pixel_is_one_line(fill):
    image = np.array([[NAN, INF], [-INF, NAN]], np.float32)
    with pytest.raises(mp.BadValueError) as info:
        mp.apply("preprocess.fill_nan", image, fill=fill)
    assert str(info.value) == (
        f"preprocess.fill_nan: every pixel is NaN or infinite, so there is no {fill} to fill "
        "with; accepted: an image with a finite pixel, or fill='zero'")
    np.testing.assert_array_equal(mp.apply("preprocess.fill_nan", image, fill="zero"),
                                  np.zeros((2, 2), np.float32))


def test_a_bad_fill_is_refused_naming_the_choices():
    with pytest.raises(mp.BadValueError, match="minimum.*maximum.*zero.*median"):
        mp.apply("preprocess.fill_nan", np.array(FLAT), fill="mean")


def test_the_input_is_not_changed():
    image = np.array(FLAT, np.float32)
    mp.apply("preprocess.fill_nan", image)
    np.testing.assert_array_equal(image, np.array(FLAT, np.float32))


def test_other_ops_refusing_nan_point_at_fill_nan():
    with pytest.raises(mp.BadValueError) as info:
        mp.apply("preprocess.gaussian", np.array(FLAT, np.float32))
    assert str(info.value) == (
        "preprocess.gaussian: image contains NaN or infinite values; accepted: finite values "
        "(add preprocess.fill_nan first, or replace them, e.g. numpy.nan_to_num)")


def test_a_recipe_fills_then_blurs_and_the_cache_keeps_the_fill_value():
    image = np.full((6, 8), 5.0, np.float32)
    image[:2], image[:, -1] = NAN, NAN
    image[3, 3] = 9.0
    recipe = mp.Recipe(steps=[{"op": "preprocess.fill_nan", "params": {"fill": "minimum"}},
                              {"op": "preprocess.gaussian", "params": {"sigma": 1.0}}])
    filled = np.where(np.isnan(image), np.float32(5.0), image)
    np.testing.assert_array_equal(recipe.run(image),
                                  mp.apply("preprocess.gaussian", filled, sigma=1.0))
    cache = StatisticCache()
    spec = mp.get_op("preprocess.fill_nan")
    np.testing.assert_array_equal(cache.run(spec, image, "v1", {"fill": "minimum"}), filled)
    np.testing.assert_array_equal(cache.run(spec, image, "v1", {"fill": "maximum"}),
                                  np.where(np.isnan(image), np.float32(9.0), image))
    assert len(cache) == 2
