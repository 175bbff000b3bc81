"""kernels.median equals skimage.filters.median (scipy.ndimage.median_filter with
mode='nearest') exactly, on every path: selection networks, the rank median, scipy."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters, morphology

from napari_maskprep.core.errors import LimitError
from napari_maskprep.kernels import median as kernels
from napari_maskprep.kernels.median import median_filter, median_within_limits

from ..preprocess_images import FAST_DTYPES, random_image, real_grey, volume_uint16


def median_reference(image: np.ndarray, radius: int) -> np.ndarray:
    footprint = morphology.disk(radius) if image.ndim == 2 else morphology.ball(radius)
    return filters.median(image, footprint)


@pytest.mark.parametrize("radius", [1, 2, 4, 5])  # 5: past the selection network
@pytest.mark.parametrize("dtype", [*FAST_DTYPES, np.int16])
def test_2d_equals_skimage(dtype, radius):
    for image in (random_image((45, 52), dtype), real_grey(dtype)[:100, :120]):
        out = median_filter(image, radius)
        assert out.dtype == image.dtype
        assert np.array_equal(out, median_reference(image, radius))


@pytest.mark.parametrize("radius", [1, 2, 3])  # 3: past the selection network
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_3d_equals_skimage(dtype, radius):
    volume = volume_uint16()[:6, :40, :40]
    volume = (volume // 2).astype(dtype) if dtype != np.float32 else (volume / 400).astype(dtype)
    assert np.array_equal(median_filter(volume, radius), median_reference(volume, radius))


def _few_values(image: np.ndarray, dtype, count: int) -> np.ndarray:
    """``image`` in ``dtype`` with ``count`` distinct values, spread over a 16-bit range."""
    levels = np.linspace(np.iinfo(dtype).min, np.iinfo(dtype).max, count).astype(dtype)
    ranks = np.argsort(np.argsort(image, axis=None, kind="stable")).reshape(image.shape)
    return levels[ranks * count // image.size]


@pytest.mark.parametrize(("dtype", "radius", "shape"), [
    (np.uint16, 5, (60, 70)), (np.uint16, 10, (60, 70)), (np.int16, 7, (60, 70)),
    (np.uint16, 3, (16, 61, 57)),
])
def test_16_bit_images_of_few_values_take_the_rank_median_exactly(monkeypatch, dtype, radius,
                                                                  shape):
    """scipy took 25 s at radius 25 on 1 MP; ranked values through skimage's rank median
    0.3 s, without its 'Bad rank filter performance' warning (1024 values at most)."""
    grey = volume_uint16() if len(shape) == 3 else real_grey(np.uint16)[:60, :70]
    for count in (1, 2, 413, 1024):
        image = _few_values(grey, dtype, count)
        assert len(np.unique(image)) == count
        expected = median_reference(image, radius)
        with monkeypatch.context() as patched, warnings.catch_warnings():
            warnings.simplefilter("error")
            patched.setattr(kernels.ndi, "median_filter", lambda *a, **k: pytest.fail("scipy"))
            out = median_filter(image, radius)
        assert out.dtype == image.dtype
        assert np.array_equal(out, expected)


def test_16_bit_images_of_few_values_are_limited_by_the_rank_median_s_work_not_scipy_s():
    """Over 2**31 of scipy's steps (refused), 1.1e8 of the sliding histogram's."""
    small = _few_values(random_image((1100, 1000), np.uint8), np.uint8, 200)
    assert not median_within_limits(small.shape, np.dtype(np.uint16), 25)  # by shape alone
    spread = small.astype(np.uint16) * 257  # order kept: the median commutes with it
    assert np.array_equal(median_filter(spread, 25), median_filter(small, 25) * np.uint16(257))


def test_16_bit_images_of_more_values_stay_with_scipy_without_a_warning():
    image = _few_values(real_grey(np.uint16)[:60, :70], np.uint16, 1025)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = median_filter(image, 5)
    assert np.array_equal(out, median_reference(image, 5))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])  # cv2's and numpy's min/max
def test_median_of_five_every_order_and_tie(dtype):
    # All 5**5 tuples of the values 0..4, one per row: every order, every pattern of ties.
    values = np.indices((5,) * 5).reshape(5, -1, 1).astype(dtype)
    out = np.empty_like(values[0])
    kernels._median_of_five(list(values), out, values[0])
    assert np.array_equal(out, np.median(values, axis=0).astype(dtype))


@pytest.mark.parametrize("count", [3, 7, 9, 13, 49])
def test_forgetful_selection_every_count_is_the_median(count):
    values = list(random_image((count, 300), np.uint8, seed=count) // 32)  # many ties
    assert np.array_equal(kernels._forgetful_median(values), np.median(values, axis=0))


def test_blocks_join_seamlessly():
    # The selection network runs in blocks of 2**18 pixels: 7000 rows of 40 are two blocks.
    image = random_image((7000, 40), np.uint8) // 16  # many ties
    assert np.array_equal(median_filter(image, 2), median_reference(image, 2))


@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (2, 2, 4), (1, 3, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_footprint_wider_than_the_image_is_quick_and_exact(shape, dtype):
    # skimage's rank median slid a ball(25) over a 52 x 52 x 54 padding of a 2 x 2 x 4 image.
    image = random_image(shape, dtype)
    start = time.perf_counter()
    out = median_filter(image, 25)
    assert time.perf_counter() - start < 0.5
    footprint = morphology.disk(25) if len(shape) == 2 else morphology.ball(25)
    expected = ndi.median_filter(image, footprint=footprint, mode="nearest")
    assert np.array_equal(out, expected)


def test_limits_refuse_before_any_work():
    # scipy's median of the 16 x 61 x 57 stack by ball(25) asked for 22 GB of offsets.
    shape = volume_uint16().shape
    assert not median_within_limits(shape, np.dtype(np.float32), 25)
    assert median_within_limits(shape, np.dtype(np.float32), 4)
    with pytest.raises(LimitError, match=r"takes about 3.6e\+09 steps and 20723 MB"):
        median_filter(np.broadcast_to(np.float32(0), shape), 25)
