"""kernels.gaussian equals skimage.filters.gaussian (scipy.ndimage.gaussian_filter), and its
tiles equal one cv2.sepFilter2D of the whole image bit for bit."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters

from napari_maskprep.kernels import gaussian as kernels
from napari_maskprep.kernels.gaussian import gaussian_blur

from ..preprocess_images import (
    FAST_DTYPES,
    assert_within_one,
    fluo_uint8,
    fluo_uint16,
    he_images,
    random_image,
    real_grey,
    volume_uint16,
)


def has_channels(image: np.ndarray) -> bool:
    return image.ndim >= 3 and image.shape[-1] in (3, 4)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_blur(image, sigma, has_channels=has_channels(image))


def gaussian_reference(image: np.ndarray, sigma: float) -> np.ndarray:
    blurred = filters.gaussian(
        image, sigma=sigma, preserve_range=True, truncate=4, mode="nearest",
        channel_axis=-1 if has_channels(image) else None,
    )
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        return np.clip(np.rint(blurred), info.min, info.max).astype(image.dtype)
    return blurred


def assert_gaussian_matches(image: np.ndarray, sigma: float) -> None:
    out = blur(image, sigma)
    expected = gaussian_reference(image, sigma)
    if image.dtype.kind in "iu":
        assert_within_one(out, expected)
    else:
        assert out.dtype == image.dtype
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_kernel_radius_is_scipys_truncation():
    assert [kernels.kernel_radius(s) for s in (0.1, 0.5, 1.0, 2.0, 7.3)] == [0, 2, 4, 8, 29]


@pytest.mark.parametrize("sigma", [0.5, 1.5, 4.0])
@pytest.mark.parametrize("dtype", [*FAST_DTYPES, np.int16])
def test_2d_fast_path_matches_skimage(dtype, sigma):
    assert_gaussian_matches(random_image((67, 81), dtype), sigma)
    if dtype != np.int16:
        assert_gaussian_matches(real_grey(dtype), sigma)


@pytest.mark.parametrize("sigma", [0.7, 2.0, 7.0])
def test_binary_image_within_one(sigma):
    # cv2.GaussianBlur's fixed-point uint8 path is off by 2-3 here; ours must not be.
    mask = (random_image((120, 130), np.float32) > 0.5).astype(np.uint8) * 255
    assert_gaussian_matches(mask, sigma)


def test_rgb_and_edge_cases_match_skimage():
    assert_gaussian_matches(he_images()[0][0], 2.0)
    assert_gaussian_matches(np.stack([he_images()[0][0][:40, :50]] * 3), 1.0)  # 3D RGB
    assert_gaussian_matches(random_image((3, 4), np.uint8), 5.0)  # kernel larger than image
    image = random_image((8, 9), np.uint16)
    assert np.array_equal(blur(image, 0.1), image)  # kernel of size 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int8, np.int32])
def test_3d_and_other_dtypes_match_skimage(dtype):
    volume = volume_uint16()
    if dtype in (np.float32, np.float64):
        volume = (volume / 400.0).astype(dtype)
    elif dtype != np.uint16:
        volume = random_image(volume.shape, dtype)
    assert_gaussian_matches(volume, 1.5)
    assert_gaussian_matches(volume[0], 1.5)  # 2D int8 / int32: the scipy path too


@pytest.mark.parametrize("sigma", [0.5, 0.8, 1.0, 2.0, 3.0, 7.3])
def test_uint16_float_path_equals_cv2_uint16(sigma):
    # The float32 round trip must reproduce cv2's own (slow) uint16 filter bit for bit.
    kernel = cv2.getGaussianKernel(2 * int(4 * sigma + 0.5) + 1, sigma, cv2.CV_64F)
    steps = np.where(random_image((97, 131), np.float32, seed=2) > 0.5, 65535, 0)
    for image in (random_image((97, 131), np.uint16), steps.astype(np.uint16), fluo_uint16()):
        expected = cv2.sepFilter2D(image, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
        assert np.array_equal(blur(image, sigma), expected)


def gaussian_whole_image(image: np.ndarray, sigma: float) -> np.ndarray:
    """One ``cv2.sepFilter2D`` of the whole image (uint16 in float32, rounded half to even):
    the result the tiles must reproduce bit for bit."""
    kernel = cv2.getGaussianKernel(2 * int(4 * sigma + 0.5) + 1, sigma, cv2.CV_64F)
    if image.dtype == np.uint8:
        return cv2.sepFilter2D(image, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    blurred = cv2.sepFilter2D(
        image.astype(np.float32), -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE
    )
    return np.clip(np.rint(blurred), 0, 65535).astype(np.uint16)


# Several bands and stripes with partial last ones, more columns than a tile but fewer than
# the halo, fewer rows than the halo, RGB.
TILED_SHAPES = [(150, 200), (61, 333, 3), (200, 41), (100, 6), (5, 160), (2, 70)]


@pytest.mark.parametrize("sigma", [0.8, 2.0, 3.0, 7.3])
@pytest.mark.parametrize(("dtype", "threads"), [(np.uint8, 1), (np.uint16, 1), (np.uint16, 3)])
def test_tiles_equal_the_whole_image(monkeypatch, dtype, threads, sigma):
    # uint8 takes tiles on one thread only.
    monkeypatch.setattr(kernels, "_TILE_COLUMNS", 37)
    monkeypatch.setattr(kernels, "_TILE_BYTES", 1)  # stripes of the minimum, 8 kernel radii
    monkeypatch.setattr(kernels, "thread_budget", lambda: threads)
    sep_filter = cv2.sepFilter2D
    filter_calls = []

    def counted(*args, **kwargs):
        filter_calls.append(args[0].shape)
        return sep_filter(*args, **kwargs)

    for shape in TILED_SHAPES:
        image = random_image(shape, dtype, seed=7)
        expected = gaussian_whole_image(image, sigma)
        filter_calls.clear()
        with monkeypatch.context() as patch:
            patch.setattr(cv2, "sepFilter2D", counted)
            out = blur(image, sigma)
        assert np.array_equal(out, expected)
        if shape == (150, 200):  # 6 bands of 37 columns, in stripes of up to 8 kernel radii
            stripes = -(-150 // (8 * int(4 * sigma + 0.5)))
            assert len(filter_calls) == 6 * -(-stripes // threads) * threads  # even shares
        assert_gaussian_matches(image, sigma)


@pytest.mark.parametrize("width", [1024, 2048, 3780, 3840, 4500])
@pytest.mark.parametrize("channels", [(), (3,)], ids=["grey", "rgb"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_default_tiles_equal_the_whole_image(monkeypatch, dtype, channels, width):
    # The real tile sizes. Bands widened off cv2's slow 4 KB ring rows: 1024 and 2048 columns
    # padded with the edge pixel, 3780 with its last band read from further left, 3840 with
    # its first band read further right too.
    monkeypatch.setattr(kernels, "thread_budget", lambda: 1)  # uint8 takes tiles on one only
    image = random_image((100, width, *channels), dtype, seed=8)
    for sigma in (1.0, 3.0):
        expected = gaussian_whole_image(image, sigma)
        assert np.array_equal(blur(image, sigma), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int8, np.float32])
@pytest.mark.parametrize("shape", [(7, 33, 29), (1, 20, 21), (40, 9, 11), (5, 12, 14, 3)])
def test_3d_float32_path_matches_scipy(dtype, shape):
    # Per-plane cv2 + a z pass (chunked columns) against one scipy.ndimage.gaussian_filter.
    image = random_image(shape, dtype, seed=3)
    sigma = 1.7
    sigmas = (sigma, sigma, sigma, 0.0)[: len(shape)] if len(shape) == 3 else (sigma,) * 3 + (0,)
    expected = ndi.gaussian_filter(image, sigmas, mode="nearest", truncate=4, output=np.float32)
    out = blur(image, sigma)
    assert out.dtype == image.dtype and out.shape == image.shape
    if image.dtype.kind in "iu":
        info = np.iinfo(dtype)
        rounded = np.clip(np.rint(expected), info.min, info.max)
        assert np.abs(out - rounded).max() <= 1
        assert np.mean(out != rounded) < 0.01  # only ties broken by float32 rounding
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_float32_path_same_on_one_and_more_cv2_threads():
    # One cv2 thread filters in place, more use a second buffer: the values must not change.
    images = [random_image((6, 31, 27), np.uint16, seed=6), fluo_uint16()]
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        many = [blur(image, 2.0) for image in images]
        cv2.setNumThreads(1)
        one = [blur(image, 2.0) for image in images]
    finally:
        cv2.setNumThreads(threads)
    assert all(np.array_equal(a, b) for a, b in zip(one, many, strict=True))


def test_3d_z_pass_spans_column_chunks(monkeypatch):
    monkeypatch.setattr(kernels, "_Z_CHUNK", 50)  # several chunks, the last one partial
    image = random_image((9, 17, 23), np.float32, seed=4)
    expected = ndi.gaussian_filter(image, 2.0, mode="nearest", truncate=4)
    np.testing.assert_allclose(blur(image, 2.0), expected, rtol=1e-5, atol=1e-6)


def test_uint8_tiles_pay_only_on_one_thread_and_wide_or_aliased_rows(monkeypatch):
    calls = []
    monkeypatch.setattr(kernels, "_gaussian_2d_tiled",
                        lambda image, kernel: calls.append(image.shape) or image)
    image = fluo_uint8()  # 256 wide: neither wide nor on a 4 KB ring row
    for threads, wide in [(1, (10, 4500)), (1, (10, 1024)), (2, (10, 4500))]:
        monkeypatch.setattr(kernels, "thread_budget", lambda threads=threads: threads)
        blur(np.zeros(wide, np.uint8), 1.0)
        blur(image, 1.0)
    assert calls == [(10, 4500), (10, 1024)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_a_single_voxel_stack_is_itself(dtype):
    # cv2 took the 1 x 1 float32 result for a scalar and gave 4 values: 'cannot reshape
    # array of size 4 into shape (1,1,1)'.
    out = gaussian_blur(np.full((1, 1, 1), 7, dtype), 1.0, has_channels=False)
    assert out.dtype == dtype and out.shape == (1, 1, 1) and out[0, 0, 0] == 7
