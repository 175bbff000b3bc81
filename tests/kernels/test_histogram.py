"""kernels.histogram equals skimage.exposure.histogram (counts and bin centres) and
numpy.bincount, on every path: calcHist, pixel pairs, chunks of rows on threads."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import exposure, filters

from napari_maskprep.core import get_op
from napari_maskprep.kernels import histogram
from napari_maskprep.kernels.histogram import image_histogram, integer_counts

from ..segment_images import FLUO_UINT8, as_dtype, nuclei_field


@pytest.fixture(scope="module")
def nuclei() -> np.ndarray:
    return nuclei_field()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_histogram_is_skimages(nuclei, dtype):
    image = as_dtype(nuclei, dtype)
    counts, centers, per_value = image_histogram(image)
    ref_counts, ref_centers = exposure.histogram(image.reshape(-1), 256, source_range="image")
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(centers, ref_centers)
    assert per_value == (image.dtype.kind in "iu")


def test_histogram_counts_beyond_float32_precision():
    # cv2.calcHist counts in float32; 2**24 + 1 pixels of one value must still be exact.
    image = np.zeros((4097, 4097), np.uint8)
    image[0, :3] = 1
    counts = image_histogram(image).counts
    assert counts.tolist() == [4097 * 4097 - 3, 3]


@pytest.mark.parametrize("path", FLUO_UINT8[:3], ids=lambda p: p.stem)
def test_pixel_pair_histogram_is_skimages_on_real_images(path, monkeypatch):
    # Big uint8 images are counted two pixels at a time; forced here on small real ones.
    monkeypatch.setattr(histogram, "_PAIR_MIN_PIXELS", 0)
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image.shape[1] % 2 == 0
    counts, centers, _ = image_histogram(image)
    ref_counts, ref_centers = exposure.histogram(image.reshape(-1), 256, source_range="image")
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(centers, ref_centers)
    np.testing.assert_array_equal(
        get_op("segment.auto_threshold")(image, method="otsu", polarity="bright"),
        image > filters.threshold_otsu(image))


def test_pixel_pair_histogram_edge_cases(nuclei, monkeypatch):
    monkeypatch.setattr(histogram, "_PAIR_MIN_PIXELS", 0)
    real = as_dtype(nuclei, np.uint8)
    alternating = np.zeros((3, 8), np.uint8)
    alternating[:, 1::2] = 255
    cases = [
        np.zeros((4, 6), np.uint8), np.full((4, 6), 255, np.uint8), alternating,
        np.arange(256, dtype=np.uint8).reshape(1, 256),  # one row, every value once
        real, real[:, :-1],  # odd rows: counted one pixel at a time
        real[::-3, 1::2], real[:60, :80].reshape(3, 20, 80),  # a strided view, 3D
    ]
    for image in cases:
        expected = np.bincount(image.ravel(), minlength=256)
        assert np.array_equal(integer_counts(image, 0, 255), expected), image.shape
    monkeypatch.setattr(histogram, "STRIPE_MIN_PIXELS", 0)  # chunks of rows on two threads
    monkeypatch.setattr(histogram, "thread_budget", lambda: 2)
    expected = np.bincount(real.ravel(), minlength=256)
    assert np.array_equal(integer_counts(real, 0, 255), expected)
    np.testing.assert_array_equal(
        get_op("segment.auto_threshold")(real, method="otsu", polarity="auto"),
        real > filters.threshold_otsu(real))


def test_pixel_pair_histogram_counts_beyond_float32_precision():
    # Over 2**24 pixels, even rows: pairs counted in float32 by calcHist, chunk by chunk.
    image = np.zeros((4096, 4098), np.uint8)
    assert image.size >= histogram._PAIR_MIN_PIXELS
    image[0, :3] = 1
    image[-1, -1] = 255
    assert integer_counts(image, 0, 255)[[0, 1, 255]].tolist() == [4096 * 4098 - 4, 3, 1]


def _smooth_image(dtype: type) -> np.ndarray:
    """301 x 257 (odd: chunks of rows do not fall on round rows), smooth with noise."""
    rng = np.random.default_rng(0)
    grey8 = (ndi.gaussian_filter(rng.random((301, 257)), 3) * 1024 % 256).astype(np.uint8)
    if dtype == np.uint8:
        return grey8
    return grey8.astype(np.uint16) * 257 + rng.integers(0, 200, grey8.shape, dtype=np.uint16)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_threaded_histogram_counts_exactly(dtype, monkeypatch):
    monkeypatch.setattr(histogram, "STRIPE_MIN_PIXELS", 0)
    monkeypatch.setattr(histogram, "thread_budget", lambda: 2)
    rng = np.random.default_rng(1)
    for shape in [(301, 257), (3, 1001), (1, 7)]:  # odd splits, a single row
        image = rng.integers(5, 900, shape).astype(dtype)
        low, high = int(image.min()), int(image.max())
        expected = np.bincount(image.ravel() - low, minlength=high - low + 1)
        assert np.array_equal(integer_counts(image, low, high), expected)
    image = _smooth_image(dtype)
    split = get_op("segment.auto_threshold")(image, method="otsu")
    monkeypatch.setattr(histogram, "thread_budget", lambda: 1)
    assert np.array_equal(split, get_op("segment.auto_threshold")(image, method="otsu"))
