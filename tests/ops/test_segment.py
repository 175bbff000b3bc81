"""Tests of the segment ops: exact values on tiny arrays, real images, polarity and
parameters, bad input. Their kernels are tested against their references in tests/kernels."""

from __future__ import annotations

import math
import time

import dask.array as da
import numpy as np
import pytest
import tifffile
from skimage import filters

from napari_maskprep import Recipe
from napari_maskprep.core import MaskprepWarning, get_op
from napari_maskprep.core.errors import LimitError
from napari_maskprep.core.locality import GlobalStat, Local, NonLocal, Pointwise
from napari_maskprep.kernels.local_threshold import local_threshold_surface
from napari_maskprep.ops import segment as seg

from ..segment_images import BBBC039, as_dtype, disks, nuclei_field


@pytest.fixture(scope="module")
def nuclei() -> np.ndarray:
    return nuclei_field()


def test_specs():
    expected = {
        "segment.threshold": Pointwise,
        "segment.auto_threshold": GlobalStat,
        "segment.multi_threshold": GlobalStat,
        "segment.local_threshold": Local,
        "segment.color_range": Pointwise,
        "segment.region_grow": NonLocal,
        "segment.watershed": NonLocal,
        "segment.edges": NonLocal,
    }
    for op_id, locality in expected.items():
        assert isinstance(get_op(op_id).locality, locality)
    assert get_op("segment.watershed").output.value == "labels"
    assert [i.name for i in get_op("segment.watershed").inputs] == ["markers", "image"]
    assert get_op("segment.edges").ndim == (2,)
    halo = get_op("segment.local_threshold").locality.halo
    assert halo({"method": seg.LocalMethod.MEAN, "block_size": 35}) == 17
    # The Gaussian kernel (sigma (b - 1) / 6, truncated at 4 sigma) reaches further.
    assert halo({"method": seg.LocalMethod.GAUSSIAN, "block_size": 35}) == 23


def test_docstrings_are_filled():
    # The shared grey-image parameter is written once; the docs and tooltips read it filled.
    for op in (seg.threshold, seg.auto_threshold, seg.multi_threshold, seg.local_threshold,
               seg.region_grow):
        assert "%(" not in op.__doc__
        assert "image : ndarray\n        Grey image, 2D or 3D, any numeric dtype." in op.__doc__


# --- threshold -----------------------------------------------------------------------


def test_threshold_exact():
    image = np.array([[0, 99, 100], [101, 200, 255]], np.uint8)
    np.testing.assert_array_equal(seg.threshold(image, value=100), [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(
        seg.threshold(image, value=100, polarity="below"), [[1, 1, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(seg.threshold(image, value=99.5), [[0, 0, 1], [1, 1, 1]])
    assert seg.threshold(image, value=100).dtype == np.uint8


def test_threshold_float32_value_between_floats():
    # 0.1 is not a float32: the pixel holding float32(0.1) is above 0.1 (it is larger).
    image = np.array([[np.float32(0.1), np.nextafter(np.float32(0.1), np.float32(0))] * 3],
                     np.float32)
    np.testing.assert_array_equal(seg.threshold(image, value=0.1), [[1, 0] * 3])


def test_threshold_rgb_warns_and_uses_luminance():
    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[:3] = 255
    with pytest.warns(MaskprepWarning, match="converted to grey"):
        mask = seg.threshold(rgb, value=128)
    np.testing.assert_array_equal(mask, np.repeat([[1], [1], [1], [0], [0], [0]], 6, axis=1))


def test_threshold_bad_value():
    with pytest.raises(ValueError, match="value=nan is not a finite number"):
        seg.threshold(np.zeros((4, 4)), value=float("nan"))
    with pytest.raises(ValueError, match="polarity='up' is not accepted"):
        seg.threshold(np.zeros((4, 4)), value=1, polarity="up")


# --- auto_threshold ------------------------------------------------------------------


def test_auto_threshold_bright_and_dark_nuclei():
    bright = np.full((6, 8), 20, np.uint8)
    bright[1:3, 1:3] = 200
    bright[3:5, 5:7] = 210
    expected = (bright > 100).view(np.uint8)
    np.testing.assert_array_equal(seg.auto_threshold(bright), expected)
    # Dark nuclei on a bright background: polarity=auto finds the nuclei, not the background.
    dark = 255 - bright
    np.testing.assert_array_equal(seg.auto_threshold(dark, polarity="auto"), expected)
    np.testing.assert_array_equal(seg.auto_threshold(dark, polarity="dark"), expected)
    np.testing.assert_array_equal(seg.auto_threshold(dark, polarity="bright"), 1 - expected)


def test_auto_threshold_pixels_at_threshold_are_background():
    image = np.array([[0, 0, 10, 10, 10, 100, 100, 100]], np.uint8)
    assert filters.threshold_otsu(image) == 10
    np.testing.assert_array_equal(seg.auto_threshold(image, polarity="bright"),
                                  [[0, 0, 0, 0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(seg.auto_threshold(image, polarity="dark"),
                                  [[1, 1, 1, 1, 1, 0, 0, 0]])


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_auto_threshold_constant_image_warns(dtype):
    with pytest.warns(MaskprepWarning, match="constant"):
        mask = seg.auto_threshold(np.full((5, 6), 7, dtype))
    np.testing.assert_array_equal(mask, np.zeros((5, 6), np.uint8))


def test_auto_threshold_minimum_without_two_peaks_warns():
    image = np.arange(64, dtype=np.uint8).reshape(8, 8)  # flat histogram
    with pytest.warns(MaskprepWarning, match="no two peaks"):
        mask = seg.auto_threshold(image, method="minimum")
    assert not mask.any()


def test_auto_threshold_isodata_without_a_threshold_warns():
    """scikit-image's isodata raised IndexError: no value here is midway between the means
    of the values below and above it."""
    image = np.array([[-58.38249742002438, 174.61993690198437, -60.731044695358975]])
    with pytest.warns(MaskprepWarning, match="'isodata' found no threshold"):
        mask = seg.auto_threshold(image, method="isodata")
    np.testing.assert_array_equal(mask, np.zeros((1, 3), np.uint8))


def test_auto_threshold_minimum_on_wide_integers_is_quick():
    image = np.random.default_rng(12).integers(-32768, 32767, (20, 24)).astype(np.int16)
    reference = filters.threshold_minimum(image.astype(np.float64))  # skimage's own: minutes
    np.testing.assert_array_equal(seg.auto_threshold(image, method="minimum", polarity="bright"),
                                  image > reference)


def test_auto_threshold_3d_random_equals_skimage():
    image = np.random.default_rng(2).gamma(2.0, 300, (4, 30, 40)).astype(np.uint16)
    for method in ("otsu", "li", "yen", "triangle", "isodata", "mean"):
        reference = getattr(filters, f"threshold_{method}")(image)
        np.testing.assert_array_equal(
            seg.auto_threshold(image, method=method, polarity="bright"), image > reference
        )


def test_auto_threshold_auto_polarity_on_floats():
    image = np.full((10, 10), 0.9, np.float32)
    image[2:4, 2:4] = 0.1  # dark objects, more than half the pixels above the threshold
    image += np.random.default_rng(3).normal(0, 0.01, image.shape).astype(np.float32)
    np.testing.assert_array_equal(seg.auto_threshold(image), image < 0.5)


def test_auto_threshold_statistic_and_apply_are_separate():
    image = np.random.default_rng(4).integers(0, 256, (64, 64)).astype(np.uint8)
    locality = get_op("segment.auto_threshold").locality
    params = {"method": seg.ThresholdMethod.OTSU, "polarity": seg.AutoPolarity.AUTO}
    histogram = locality.statistic(image, params)
    np.testing.assert_array_equal(locality.apply(image, histogram, params),
                                  seg.auto_threshold(image))
    # A changed polarity needs only the pointwise apply.
    for polarity in (seg.AutoPolarity.BRIGHT, seg.AutoPolarity.DARK):
        np.testing.assert_array_equal(
            locality.apply(image, histogram, {**params, "polarity": polarity}),
            seg.auto_threshold(image, polarity=polarity))


def test_auto_threshold_bbbc039_dice():
    dice = []
    for path in BBBC039:
        truth = tifffile.imread(str(path).replace("images", "masks")) > 0
        smooth = filters.gaussian(tifffile.imread(path), sigma=1, preserve_range=True)
        mask = seg.auto_threshold(smooth, method="otsu", polarity="auto").astype(bool)
        dice.append(2 * np.count_nonzero(mask & truth) / (mask.sum() + truth.sum()))
    assert np.mean(dice) >= 0.90


# --- multi_threshold -----------------------------------------------------------------


def test_multi_threshold_exact():
    image = np.array([[0, 0, 100, 100, 200, 200, 50, 150]], np.uint8)
    thresholds = filters.threshold_multiotsu(image, classes=3)
    assert thresholds.tolist() == [50, 100]
    np.testing.assert_array_equal(seg.multi_threshold(image, classes=3, keep_from=0, keep_to=0),
                                  [[1, 1, 0, 0, 0, 0, 1, 0]])
    np.testing.assert_array_equal(seg.multi_threshold(image, classes=3, keep_from=1, keep_to=1),
                                  [[0, 0, 1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(seg.multi_threshold(image, classes=3, keep_from=1, keep_to=2),
                                  [[0, 0, 1, 1, 1, 1, 0, 1]])
    np.testing.assert_array_equal(seg.multi_threshold(image, classes=3, keep_from=0, keep_to=2),
                                  np.ones((1, 8)))


def test_multi_threshold_two_classes_is_otsu(nuclei):
    image = as_dtype(nuclei, np.uint8)
    np.testing.assert_array_equal(
        seg.multi_threshold(image, classes=2, keep_from=1, keep_to=1),
        seg.auto_threshold(image, method="otsu", polarity="bright"),
    )


def test_multi_threshold_five_classes_is_quick_and_equals_skimage():
    # skimage tries C(256, 4) = 1.7e8 combinations: 15 s for a 12 x 14 image.
    rng = np.random.default_rng(3)
    image = rng.random((12, 14)).astype(np.float32)
    start = time.perf_counter()
    seg.multi_threshold(image, classes=5, keep_from=1, keep_to=3)
    assert time.perf_counter() - start < 0.5
    image = rng.integers(0, 128, (12, 14)).astype(np.uint8)  # 128 bins: skimage in 0.2 s
    np.testing.assert_array_equal(seg.multi_threshold_values(image, {"classes": 5}),
                                  filters.threshold_multiotsu(image, classes=5))


def test_multi_threshold_bad_classes():
    image = np.arange(30, dtype=np.uint8).reshape(5, 6)
    with pytest.raises(ValueError, match=r"keep_to=3 are not accepted with classes=3"):
        seg.multi_threshold(image, classes=3, keep_from=1, keep_to=3)
    with pytest.raises(ValueError, match=r"keep_from=2, keep_to=1"):
        seg.multi_threshold(image, classes=3, keep_from=2, keep_to=1)
    with pytest.raises(ValueError, match=r"classes=6 is out of range"):
        seg.multi_threshold(image, classes=6)


def test_multi_threshold_too_few_values_warns():
    image = np.array([[0, 0, 9, 9, 0, 9]], np.uint8)
    with pytest.warns(MaskprepWarning, match="only 2 distinct"):
        mask = seg.multi_threshold(image, classes=3, keep_from=1, keep_to=1)
    assert not mask.any()


@pytest.mark.parametrize("values", [[1.0, np.nextafter(np.float32(1), np.float32(2))],
                                    [1e20, 1e20], [-3.0, -3.0]], ids=["1-ulp", "big", "const"])
def test_float_histogram_of_few_representable_values(values):
    # numpy cannot make 256 bins between values a few float steps apart (nor around 1e20):
    # a ValueError escaped; each value is then a bin of its own.
    image = np.array([values * 3], np.float32)
    if values[0] == values[1]:
        with pytest.warns(MaskprepWarning, match="the image is constant"):
            assert not seg.auto_threshold(image).any()
    else:
        assert seg.auto_threshold(image, polarity="bright").tolist() == [[0, 1] * 3]
        assert seg.multi_threshold(image, classes=2, keep_from=1, keep_to=1).sum() == 3


@pytest.mark.parametrize("shape", [(6, 7), (1, 2, 2), (3, 6, 3)])
def test_watershed_of_an_empty_mask_is_empty(shape):
    # In 3D skimage's peak_local_max gave no peak as a (0, 2) array: a ValueError escaped.
    out = seg.watershed(np.zeros(shape, np.uint8), min_distance=1)
    assert out.dtype == np.int32 and out.shape == shape and not out.any()


def test_local_threshold_window_far_wider_than_the_image_is_one_error():
    # skimage's Sauvola / Niblack pad by the window: 8 GB for a 1 x 12 x 18 stack. The
    # error says which block_size this image takes (block 151 pads it to 4.2e6 <= 2**22).
    stack = np.random.default_rng(0).random((1, 12, 18)).astype(np.float32)
    for method in ("niblack", "sauvola"):
        with pytest.raises(LimitError, match=(
                rf"^method '{method}' with k=0.2 and block_size=1001 pads the image of shape "
                r"\(1, 12, 18\) to 1.0e\+09 pixels, more than 16 times its own \(or 2\*\*22\); "
                r"accepted: block_size <= 151 for this image, or k=0, or method 'mean' or "
                r"'gaussian' \(any block_size\)$")):
            seg.local_threshold(stack, method=method, block_size=1001)
        assert seg.local_threshold(stack, method=method, block_size=151).shape == stack.shape
    assert seg.local_threshold(stack, method="niblack", block_size=5).shape == stack.shape


def test_local_threshold_mean_of_a_window_far_wider_than_a_volume_s_axis():
    """A volume's exact mean padded one axis at a time: 3 planes and a window of 1001 took
    334 times the image in int64 and were refused (LimitError), though a 2D image takes any
    window. Past a short axis the mean now reads whole periods of its reflection (numpy's
    padding reflects again and again), so any window runs, in memory and tiled, equal to
    scikit-image's threshold_local (scipy's 'reflect' border, repeated alike)."""
    stack = (np.random.default_rng(1).random((3, 64, 256)) * 200).astype(np.uint8)
    expected = (stack > filters.threshold_local(stack.astype(np.float64), 1001,
                                                method="mean")).view(np.uint8)
    assert expected.sum() == 24566
    for method, k in (("mean", 0.2), ("niblack", 0.0), ("sauvola", 0.0)):
        np.testing.assert_array_equal(
            seg.local_threshold(stack, method=method, block_size=1001, k=k), expected)
    recipe = Recipe.from_dict({"maskprep": 1, "steps": [
        {"op": "segment.local_threshold", "params": {"method": "mean", "block_size": 1001}}]})
    tiled = recipe.run(da.from_array(stack, chunks=(3, 16, 40))).compute()
    np.testing.assert_array_equal(tiled, expected)
    # 5 planes of 1 x 3, block 7 (past the period 6 of the reflected axis of 3):
    # [9 3 0 | 0 3 9 | 9 3 0] -> window means 33/7, 27/7, 24/7 along the row.
    row = np.array([[[0, 3, 9]]] * 5, np.uint8).reshape(5, 1, 3)
    assert seg.local_threshold(row, method="mean", block_size=7).tolist() == [[[0, 0, 1]]] * 5
    assert seg.local_threshold(row, method="mean", block_size=7,
                               offset=-0.3).tolist() == [[[0, 0, 1]]] * 5


# --- local_threshold -----------------------------------------------------------------


def test_local_threshold_exact():
    image = np.full((5, 7), 10, np.uint8)
    image[2, 2] = 100
    image[2, 5] = 0
    expected_bright = np.zeros((5, 7), np.uint8)
    expected_bright[2, 2] = 1
    np.testing.assert_array_equal(
        seg.local_threshold(image, method="mean", block_size=3, offset=-2), expected_bright
    )
    # dark: the complement of image > T - offset, so the dark pixel and the flat background.
    expected_dark = 1 - expected_bright
    np.testing.assert_array_equal(
        seg.local_threshold(image, method="mean", block_size=3, offset=-2, polarity="dark"),
        expected_dark,
    )
    # offset 2: dark pixels are 2 below their local mean: the dark spot and the
    # neighbours of the bright one (their mean is 20).
    expected_dark = np.zeros((5, 7), np.uint8)
    expected_dark[1:4, 1:4] = 1
    expected_dark[2, 2] = 0
    expected_dark[2, 5] = 1
    np.testing.assert_array_equal(
        seg.local_threshold(image, method="mean", block_size=3, offset=2, polarity="dark"),
        expected_dark,
    )


def test_local_threshold_bad_block_size():
    image = np.zeros((10, 10), np.uint8)
    with pytest.raises(ValueError, match="block_size=4 is not accepted; expected an odd"):
        seg.local_threshold(image, block_size=4)
    with pytest.raises(ValueError, match="block_size=1 is out of range"):
        seg.local_threshold(image, block_size=1)


_LEVELS = np.array([[0, 1, 1, 2, 8, 9, 3], [9, 9, 10, 1, 0, 3, 3], [4, 4, 12, 2, 2, 7, 6],
                    [0, 15, 6, 5, 1, 1, 1], [2, 2, 2, 14, 13, 0, 5]])
_NIBLACK_OF_LEVELS = [[0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 1, 1],
                      [0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0, 1]]
# Tiny: 1e-181 and subnormal (float64), 1e-21 and subnormal (float32). Huge: squares past
# float64's 1e308 and float32's 3e38. The offset 0.25 scaled alike is held exactly too.
_SCALES = [(np.float64, -600), (np.float64, -1070), (np.float64, 600),
           (np.float32, -70), (np.float32, -145), (np.float32, 70)]


def _scaled_levels(dtype, exponent, shape):
    levels = _LEVELS.astype(dtype).reshape(shape)
    scaled = np.ldexp(levels, exponent).astype(dtype)
    assert np.array_equal(np.ldexp(scaled, -exponent), levels)  # exactly held
    return levels, scaled


@pytest.mark.parametrize(("dtype", "exponent"), _SCALES)
@pytest.mark.parametrize("shape", [(5, 7), (1, 5, 7)])  # OpenCV's and scikit-image's
@pytest.mark.parametrize("method", ["niblack", "mean", "gaussian"])
def test_local_thresholds_of_tiny_and_huge_values_are_those_of_the_values_scaled(
        dtype, exponent, shape, method):
    # Niblack squares the values: below 1e-154 (float64) or 1e-19 (float32) they underflowed
    # to 0 (no standard deviation), above they overflowed (or were refused); subnormal
    # window sums rounded (Gaussian).
    levels, scaled = _scaled_levels(dtype, exponent, shape)
    expected = seg.local_threshold(levels, method=method, block_size=3, k=0.5, offset=0.25)
    if method == "niblack":
        np.testing.assert_array_equal(expected.reshape(5, 7), _NIBLACK_OF_LEVELS)
    found = seg.local_threshold(scaled, method=method, block_size=3, k=0.5,
                                offset=math.ldexp(0.25, exponent))
    np.testing.assert_array_equal(found, expected)
    dark = seg.local_threshold(scaled, method=method, block_size=3, k=0.5,
                               offset=math.ldexp(0.25, exponent), polarity="dark")
    np.testing.assert_array_equal(dark, 1 - expected)


@pytest.mark.parametrize(("dtype", "exponent"), _SCALES)
@pytest.mark.parametrize("shape", [(5, 7), (1, 5, 7)])
def test_sauvola_of_tiny_and_huge_values_is_that_of_the_values_with_r_scaled(
        dtype, exponent, shape):
    # Sauvola's R is 1 for floats whatever their scale: the image scaled by 2**n thresholds
    # as the image itself with R = 2**-n. Tiny values: s / R vanishes, T = m * (1 - k);
    # huge ones: T = m * k * s, past the largest float (no pixel above it).
    levels, scaled = _scaled_levels(dtype, exponent, shape)
    with np.errstate(over="ignore"):  # R = 2**1070 is inf in float64, as in the op
        surface = local_threshold_surface(levels, "sauvola", 3, 0.5,
                                          half_range=float(np.ldexp(1.0, -exponent)))
    expected = (levels > surface - 0.25).view(np.uint8)
    found = seg.local_threshold(scaled, method="sauvola", block_size=3, k=0.5,
                                offset=math.ldexp(0.25, exponent))
    np.testing.assert_array_equal(found, expected)
    if exponent == 600:
        assert not found.any()
    if exponent == -600:
        np.testing.assert_array_equal(found.reshape(5, 7), [
            [0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1],
            [0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0, 1]])


# --- color_range ---------------------------------------------------------------------


def test_color_range_hue_wraps_through_red():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [230, 20, 60], [255, 60, 0], [0, 0, 255],
                     [200, 150, 100]]], np.uint8)  # hues 0, 120, 349, 14, 240, exactly 30
    np.testing.assert_array_equal(seg.color_range(rgb, hue_min=330, hue_max=30),
                                  [[1, 0, 1, 1, 0, 1]])
    np.testing.assert_array_equal(seg.color_range(rgb, hue_min=30, hue_max=330),
                                  [[0, 1, 0, 0, 1, 1]])


def test_color_range_saturation_value_and_alpha():
    rgb = np.array([[[255, 204, 204, 0], [128, 128, 128, 255], [51, 0, 0, 9], [255, 0, 0, 9],
                     [0, 0, 0, 0]]], np.uint8)  # S 20 %, grey, V 20 %, pure red, black
    np.testing.assert_array_equal(seg.color_range(rgb, sat_min=20), [[1, 0, 1, 1, 0]])
    np.testing.assert_array_equal(seg.color_range(rgb, sat_max=19.9), [[0, 1, 0, 0, 1]])
    np.testing.assert_array_equal(seg.color_range(rgb, val_min=20.5), [[1, 1, 0, 1, 0]])
    # Greys have hue 0: kept by a red hue range unless saturation excludes them.
    np.testing.assert_array_equal(seg.color_range(rgb, hue_min=350, hue_max=10),
                                  [[1, 1, 1, 1, 1]])


def test_color_range_bad_input():
    with pytest.raises(ValueError, match="needs an RGB/RGBA image"):
        seg.color_range(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="hue_max=400.0 is out of range"):
        seg.color_range(np.zeros((8, 8, 3), np.uint8), hue_max=400)
    with pytest.warns(MaskprepWarning, match=r"expects float RGB in \[0, 1\]"):
        seg.color_range(np.full((8, 8, 3), 2.0, np.float32))


# --- region_grow ---------------------------------------------------------------------


def test_region_grow_one_seed():
    image = np.array([[10, 12, 50, 11],
                      [11, 13, 50, 10],
                      [50, 50, 50, 12]], np.uint8)
    region = seg.region_grow(image, np.array([[0, 0]]), tolerance=3)
    np.testing.assert_array_equal(region, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    assert region.dtype == np.uint8


def test_region_grow_several_seeds_each_from_its_own_value():
    image = np.array([[10, 14, 50, 100, 104],
                      [12, 18, 50, 99, 108]], np.uint8)
    seeds = np.array([[0, 0], [0, 3]])
    np.testing.assert_array_equal(seg.region_grow(image, seeds, tolerance=4),
                                  [[1, 1, 0, 1, 1], [1, 0, 0, 1, 0]])


def test_region_grow_connectivity():
    image = np.array([[5, 0, 0], [0, 5, 0], [0, 0, 5]], np.uint8)
    seed = np.array([[0, 0]])
    np.testing.assert_array_equal(seg.region_grow(image, seed, tolerance=0), np.eye(3))
    np.testing.assert_array_equal(
        seg.region_grow(image, seed, tolerance=0, connectivity="faces"),
        [[1, 0, 0], [0, 0, 0], [0, 0, 0]],
    )


def test_region_grow_fractional_tolerance_on_integers():
    # |value - seed| <= 2.5: 7 is 3 away and stays out (flood's own rounding would admit it).
    image = np.array([[7, 8, 10, 12, 13]], np.uint8)
    np.testing.assert_array_equal(seg.region_grow(image, np.array([[0, 2]]), tolerance=2.5),
                                  [[0, 1, 1, 1, 0]])


def test_region_grow_on_a_4x1_float64_image():
    """OpenCV took the float bounds as a 4x1 array on a 4x1 float64 image: all grown."""
    image = np.array([[10.0], [20.0], [30.0], [40.0]])
    np.testing.assert_array_equal(seg.region_grow(image, np.array([[1, 0]]), tolerance=0.0),
                                  [[0], [1], [0], [0]])


def test_region_grow_bad_seeds():
    image = np.zeros((6, 7), np.uint8)
    with pytest.raises(ValueError, match=r"seeds point 1 at \(6.0, 2.0\) is outside the image"):
        seg.region_grow(image, np.array([[1, 1], [6, 2]]), tolerance=1)
    with pytest.raises(ValueError, match="needs the 'seeds' input"):
        seg.region_grow(image, tolerance=1)
    with pytest.raises(ValueError, match="must be an N x 2 array"):
        seg.region_grow(image, np.array([[1, 1, 1]]), tolerance=1)



def test_region_grow_seeds_of_the_image_s_shape_are_points():
    """Seeds shaped as the image were taken for a labels image: a mask given as seeds
    ended in IndexError deep in the op, and N x 2 points on an N x 2 image were refused
    as 'fractional values' of a mask."""
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError) as info:
        seg.region_grow(image, np.ones((8, 8), np.int32), tolerance=1)
    assert str(info.value) == ("segment.region_grow: 'seeds' must be an N x 2 array of "
                               "coordinates; got shape (8, 8)")
    image = np.array([[0, 50], [50, 100]], np.uint8)
    np.testing.assert_array_equal(
        seg.region_grow(image, np.array([[0.4, 0.0], [1.0, 0.6]]), tolerance=1),
        [[1, 0], [0, 1]])


# --- watershed -----------------------------------------------------------------------


def assert_split_at_bisector(labels, mask, left, right, split_x):
    """Every mask pixel is labelled; pixels nearer the left centre get the left label."""
    np.testing.assert_array_equal(labels > 0, mask > 0)
    xx = np.indices(mask.shape)[1]
    assert np.all(labels[(mask > 0) & (xx < split_x)] == left)
    assert np.all(labels[(mask > 0) & (xx > split_x)] == right)


def test_watershed_splits_touching_disks():
    mask = disks((21, 31), [(10, 9), (10, 21)], 7)
    labels = seg.watershed(mask, min_distance=3)
    assert labels.dtype == np.int32
    assert set(np.unique(labels)) == {0, 1, 2}
    assert_split_at_bisector(labels, mask, 1, 2, 15)


def test_watershed_with_point_markers():
    mask = disks((21, 31), [(10, 9), (10, 21)], 7)
    labels = seg.watershed(mask, np.array([[10.0, 22.0], [9.0, 8.0]]))
    assert_split_at_bisector(labels, mask, 2, 1, 15)
    # One marker for both: one label.
    one = seg.watershed(mask, np.array([[10.0, 9.0]]))
    np.testing.assert_array_equal(one, mask.astype(np.int32))


def test_watershed_with_label_markers_keeps_ids():
    mask = disks((21, 31), [(10, 9), (10, 21)], 7)
    markers = np.zeros(mask.shape, np.int32)
    markers[10, 9] = 7
    markers[10, 21] = 3
    assert_split_at_bisector(seg.watershed(mask, markers), mask, 7, 3, 15)


def test_watershed_unmarked_component_and_labels_input():
    mask = disks((21, 31), [(10, 9), (10, 21)], 7).astype(np.int32)
    mask[0:3, 28:31] = 5  # a separate component, and labels input (treated as a mask)
    with pytest.warns(MaskprepWarning, match="1 of 2 marker points lie on background"):
        labels = seg.watershed(mask, np.array([[10.0, 9.0], [19.0, 0.0]]))
    assert labels[10, 9] == 1 and labels[10, 21] == 1
    assert np.all(labels[0:3, 28:31] == 2)
    np.testing.assert_array_equal(labels > 0, mask > 0)


def test_watershed_floods_the_image():
    # Two bright blobs in one square mask: the seam follows the dark valley, not the distance.
    mask = np.ones((9, 12), np.uint8)
    image = np.zeros((9, 12), np.float32)
    image[:, :4] = 10
    image[:, 5:] = 10
    markers = np.array([[4.0, 1.0], [4.0, 10.0]])
    labels = seg.watershed(mask, markers, image)
    assert np.all(labels[:, :4] == 1) and np.all(labels[:, 5:] == 2)
    with pytest.warns(MaskprepWarning, match="RGB 'image' input was converted"):
        seg.watershed(mask, markers, np.repeat(image[..., None], 3, axis=2))


def test_watershed_3d_balls():
    zz, yy, xx = np.indices((15, 15, 25))
    mask = ((np.sqrt((zz - 7) ** 2 + (yy - 7) ** 2 + (xx - 7) ** 2) <= 6)
            | (np.sqrt((zz - 7) ** 2 + (yy - 7) ** 2 + (xx - 17) ** 2) <= 6)).astype(np.uint8)
    labels = seg.watershed(mask, min_distance=3)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert labels[7, 7, 7] != labels[7, 7, 17]
    np.testing.assert_array_equal(labels > 0, mask > 0)


def test_watershed_all_foreground_is_one_label():
    np.testing.assert_array_equal(seg.watershed(np.ones((6, 8), np.uint8)),
                                  np.ones((6, 8), np.int32))


def test_watershed_bad_markers():
    mask = np.ones((6, 8), np.uint8)
    with pytest.raises(ValueError, match=r"markers point 0 at \(9.0, 1.0\) is outside"):
        seg.watershed(mask, np.array([[9.0, 1.0]]))
    # Markers take labels too: labels of another shape were told only of points
    with pytest.raises(ValueError) as info:
        seg.watershed(mask, np.zeros((6, 7), np.int32))
    assert str(info.value) == ("segment.watershed: 'markers' must be an N x 2 array of "
                               "coordinates, or labels of the input's shape (6, 8); got shape "
                               "(6, 7)")


# --- edges ---------------------------------------------------------------------------


def test_edges_canny_disk_filled_and_step_dropped():
    image = (disks((15, 15), [(7, 7)], 4.5) * 200).astype(np.uint8)
    mask = seg.edges(image, method="canny", sigma=1.0)
    # The disk (radius 4.5) and Canny's ring just outside it, filled.
    expected = np.zeros((15, 15), np.uint8)
    expected[4:11, 3:12] = 1
    expected[3, 4:11] = expected[11, 4:11] = 1
    np.testing.assert_array_equal(mask, expected)
    # A straight step edge closes nothing: no region, for either method.
    step = np.zeros((15, 15), np.uint8)
    step[:, 8:] = 200
    assert not seg.edges(step, method="canny").any()
    assert not seg.edges(step, method="sobel", sigma=0).any()


def test_edges_same_for_any_dtype_and_range():
    image = disks((15, 15), [(7, 7)], 4.5)
    as_uint8 = seg.edges(image * 200, method="canny")
    np.testing.assert_array_equal(seg.edges(image.astype(np.uint16) * 3000 + 100), as_uint8)
    np.testing.assert_array_equal(seg.edges(image.astype(np.float32)), as_uint8)


def test_edges_bad_input():
    image = np.zeros((10, 10), np.uint8)
    with pytest.raises(ValueError, match="low=0.5 is not accepted with high=0.2"):
        seg.edges(image, low=0.5)
    with pytest.raises(ValueError, match="set per_plane: true"):
        seg.edges(np.zeros((3, 10, 10), np.uint8))
    with pytest.warns(MaskprepWarning, match="constant"):
        assert not seg.edges(image).any()


# --- every op: dtype, shape, input untouched -------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_ops_keep_shape_and_input(dtype):
    rng = np.random.default_rng(11)
    grey = (rng.random((20, 24)) * 200).astype(dtype)
    rgb = (rng.random((20, 24, 3)) * (255 if dtype == np.uint8 else 1)).astype(
        np.uint8 if dtype == np.uint8 else np.float32)
    calls = [
        (seg.threshold, grey, (), {"value": 100}),
        (seg.auto_threshold, grey, (), {}),
        (seg.multi_threshold, grey, (), {}),
        (seg.local_threshold, grey, (), {"block_size": 5}),
        (seg.color_range, rgb, (), {"hue_min": 10, "hue_max": 200}),
        (seg.region_grow, grey, (np.array([[3, 4]]),), {"tolerance": 20}),
        (seg.watershed, (grey > 100).astype(np.uint8), (), {}),
        (seg.edges, grey, (), {}),
    ]
    for op, data, extra, params in calls:
        before = data.copy()
        out = op(data, *extra, **params)
        np.testing.assert_array_equal(data, before)
        assert out.shape == (20, 24)
        if op is seg.watershed:
            assert out.dtype == np.int32
        else:
            assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
