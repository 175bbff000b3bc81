"""kernels.thresholds equals scikit-image's threshold_<method> and threshold_multiotsu (the
same values, not merely within a bin), and its comparisons are exact for every dtype."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import filters

from napari_maskprep import apply
from napari_maskprep.kernels.histogram import MAX_INTEGER_BINS, image_histogram
from napari_maskprep.kernels.thresholds import (
    MINIMUM_MAX_BINS,
    MULTI_OTSU_MAX_BINS,
    at_least,
    greater,
    histogram_threshold,
    multiotsu_indices,
    multiotsu_thresholds,
)

from ..segment_images import as_dtype, nuclei_field

METHODS = ["otsu", "li", "yen", "triangle", "isodata", "mean", "minimum"]


@pytest.fixture(scope="module")
def nuclei() -> np.ndarray:
    return nuclei_field()


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float16, np.float32, np.float64]
)
@pytest.mark.parametrize("value", [-1e6, -0.5, 0.1, 3.0, 100.7, 1e6])
def test_comparisons_are_exact_for_every_dtype(dtype, value):
    rng = np.random.default_rng(1)
    image = (rng.normal(0, 50, (2, 30, 40))).astype(dtype)
    exact = image.astype(np.float64)  # holds every value exactly; value is a float64
    np.testing.assert_array_equal(greater(image, value), exact > value)
    np.testing.assert_array_equal(greater(image, value, invert=True), exact <= value)
    np.testing.assert_array_equal(at_least(image, value), exact >= value)
    np.testing.assert_array_equal(at_least(image, value, invert=True), exact < value)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_histogram_threshold_equals_skimage(nuclei, method, dtype):
    # The histogram is skimage's, so the threshold is identical (not merely within a bin).
    image = as_dtype(nuclei[:260, :348], dtype)
    reference_image = image
    bins = MAX_INTEGER_BINS
    if method == "minimum":
        bins = MINIMUM_MAX_BINS
        if np.ptp(image) >= 256:
            # 256 bins, as for floats: skimage's per-value smoothing takes minutes on 16-bit.
            reference_image = image.astype(np.float64)
    value = histogram_threshold(image, method, image_histogram(image, max_integer_bins=bins))
    try:
        reference = float(getattr(filters, f"threshold_{method}")(reference_image))
    except RuntimeError:  # minimum: no two peaks
        assert value is None
        return
    assert value == reference
    np.testing.assert_array_equal(greater(image, value), image > reference)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_multiotsu_thresholds_equal_skimage(nuclei, dtype):
    image = as_dtype(nuclei, dtype)
    hist = image_histogram(image, max_integer_bins=MULTI_OTSU_MAX_BINS)
    for classes in (2, 3, 4):
        np.testing.assert_array_equal(multiotsu_thresholds(hist, classes),
                                      filters.threshold_multiotsu(image, classes=classes))


def test_multiotsu_on_a_wide_integer_range_uses_256_bins(nuclei):
    # 12-bit data: 256 bins like floats (skimage's per-value multi-Otsu is intractable here).
    hist = image_histogram(nuclei, max_integer_bins=MULTI_OTSU_MAX_BINS)
    floats = filters.threshold_multiotsu(nuclei.astype(np.float64), classes=3)
    np.testing.assert_allclose(multiotsu_thresholds(hist, 3), floats)


def _random_histograms(count: int, seed: int):
    """(probabilities as scikit-image takes them, thresholds): sparse, flat, peaked and
    tie-ridden histograms of 4 to 40 bins, starting and ending with an occupied bin."""
    rng = np.random.default_rng(seed)
    for trial in range(count):
        size, thresholds = int(rng.integers(4, 41)), int(rng.integers(1, 5))
        counts = [
            rng.integers(0, 5, size), rng.integers(0, 1000, size) * (rng.random(size) < 0.3),
            np.ones(size, int), rng.random(size) < 0.15,
        ][trial % 4].astype(np.float64)
        counts[0], counts[-1] = max(counts[0], 1), max(counts[-1], 1)
        if trial % 5 == 0:
            counts[rng.integers(0, size)] = 1e6  # one value dominates
        if np.count_nonzero(counts) > thresholds + 1:
            yield (counts / counts.sum()).astype(np.float32), thresholds


def test_multiotsu_search_equals_skimages():
    # The same thresholds as scikit-image's exhaustive search, ties and rounding included.
    for prob, thresholds in _random_histograms(400, seed=7):
        expected = filters.threshold_multiotsu(hist=(prob, np.arange(len(prob))),
                                               classes=thresholds + 1)
        np.testing.assert_array_equal(multiotsu_indices(prob, thresholds), expected)


@pytest.mark.parametrize("exponent", [540, 980])
@pytest.mark.parametrize("method", ["otsu", "yen", "isodata", "triangle", "minimum"])
def test_thresholds_of_huge_values_are_those_of_the_values_scaled_down(exponent, method):
    # Otsu's variance, (pixels x value)**2 at most, overflowed float64 past about 1e154 with
    # values still accepted (up to 1.6e296): a RuntimeWarning, and the first bin's threshold.
    levels = np.array([[0, 1, 1, 2, 8], [9, 9, 10, 1, 0]], np.float64)
    huge = np.ldexp(levels, exponent)
    expected = histogram_threshold(levels, method, image_histogram(levels))
    found = histogram_threshold(huge, method, image_histogram(huge))
    assert found == math.ldexp(expected, exponent)
    if method == "otsu":
        assert np.array_equal(apply("segment.auto_threshold", huge, method="otsu"),
                              [[0, 0, 0, 0, 1], [1, 1, 1, 0, 0]])


@pytest.mark.parametrize(("dtype", "exponent"), [(np.float64, -600), (np.float64, -1060),
                                                 (np.float32, -70), (np.float32, -120)])
@pytest.mark.parametrize("method", ["otsu", "yen", "isodata", "triangle", "minimum"])
def test_thresholds_of_tiny_values_are_those_of_the_values_scaled_up(dtype, exponent, method):
    # Otsu squares differences of values: below 1e-154 (float64) or 1e-19 (float32) they
    # underflowed to 0 and the threshold was the first bin's.
    levels = np.array([[0, 1, 1, 2, 8], [9, 9, 10, 1, 0]], dtype)
    tiny = np.ldexp(levels, exponent).astype(dtype)
    assert np.array_equal(np.ldexp(tiny, -exponent), levels)  # exactly held
    expected = histogram_threshold(levels, method, image_histogram(levels))
    found = histogram_threshold(tiny, method, image_histogram(tiny))
    assert found == math.ldexp(expected, exponent)
    if method == "otsu":
        assert expected == 2.01171875
        assert np.array_equal(apply("segment.auto_threshold", tiny, method="otsu"),
                              [[0, 0, 0, 0, 1], [1, 1, 1, 0, 0]])
