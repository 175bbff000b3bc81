"""kernels.background equals skimage.restoration.rolling_ball and
skimage.morphology.white_tophat exactly, on every dtype, in bands and threads, and with
balls wider than the image (where scikit-image reads past it, cut as it should be)."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from skimage import morphology, restoration

from napari_maskprep.core.errors import LimitError
from napari_maskprep.kernels import background as kernels
from napari_maskprep.kernels.background import rolling_ball, subtract_below, white_tophat

from ..preprocess_images import FAST_DTYPES, random_image, real_grey, volume_uint16


@pytest.mark.parametrize("radius", [1, 4, 15])
@pytest.mark.parametrize("dtype", [*FAST_DTYPES, np.int16])
def test_tophat_2d_fast_path_equals_skimage(dtype, radius):
    images = [random_image((53, 61), dtype) // (2 if dtype == np.int16 else 1)]
    if dtype != np.int16:
        images.append(real_grey(dtype)[:200, :250])
    for image in images:
        expected = morphology.white_tophat(image, morphology.disk(radius))
        assert np.array_equal(white_tophat(image, radius), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int8])
def test_tophat_rolled_path_equals_skimage(dtype):
    volume = volume_uint16()[:5, :30, :30]
    # Values 3..123: no difference overflows int8, where skimage would wrap around.
    if dtype == np.float32:
        volume = volume / np.float32(400)
    else:
        volume = ((volume - 100) // 2).astype(dtype)
    expected = morphology.white_tophat(volume, morphology.ball(2))
    assert np.array_equal(white_tophat(volume, 2), expected)
    if dtype == np.int8:  # 2D int8 is no cv2 depth: rolled too
        plane = volume[2]
        expected = morphology.white_tophat(plane, morphology.disk(3))
        assert np.array_equal(white_tophat(plane, 3), expected)


def test_tophat_saturates_where_skimage_wraps():
    image = np.full((9, 9), -128, np.int8)
    image[4, 4] = 127
    assert white_tophat(image, 2)[4, 4] == 127
    assert morphology.white_tophat(image, morphology.disk(2))[4, 4] == -1


@pytest.mark.parametrize("radius", [1, 2, 7, 25])
@pytest.mark.parametrize("dtype", FAST_DTYPES)
def test_rolling_ball_equals_skimage(dtype, radius):
    images = [random_image((29, 41), dtype), real_grey(dtype)[:70, :90],
              random_image((3, 60), dtype), random_image((60, 2), dtype)]  # thinner than the ball
    if dtype == np.uint16:  # the full range: drops saturate at 65535 instead of growing past it
        images.append(random_image((40, 40), np.uint8).astype(np.uint16) * 257)
    for image in images:
        expected = restoration.rolling_ball(image, radius=radius)
        assert np.array_equal(rolling_ball(image, radius), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_floor_of_drops_is_skimage_truncation(dtype):
    # scikit-image adds pixel and drop in float64 and truncates the minimum; unsigned images
    # roll on pixel + floor(drop) instead: equal for every pixel value and drop of the ball.
    info = np.iinfo(dtype)
    values = np.unique(np.linspace(0, info.max, 4097).astype(dtype)).astype(np.float64)
    for radius in (1, 5, 25, 200):
        kernel = restoration.ball_kernel(radius, 2)
        drop = kernel[radius, radius] - kernel
        drop = np.unique(drop[np.isfinite(drop)])
        assert np.array_equal(np.floor(values[:, None] + drop), values[:, None] + np.floor(drop))


def test_rolling_ball_bands_and_threads_join_seamlessly(monkeypatch):
    image = real_grey(np.uint8)[:150, :80]
    expected = restoration.rolling_ball(image, radius=6)
    monkeypatch.setattr(kernels, "_BALL_BAND_BYTES", 1)  # bands of 16 rows, on 2 threads
    monkeypatch.setattr(kernels, "thread_budget", lambda: 2)
    assert np.array_equal(rolling_ball(image, 6), expected)


def test_rolling_ball_float_ignores_nan_as_skimage():
    image = random_image((30, 30), np.float32)
    image[10:13, 4:20] = np.nan
    out = rolling_ball(image, 4)
    expected = restoration.rolling_ball(image, radius=4)
    assert np.array_equal(out, expected, equal_nan=True)
    assert np.isfinite(out[11, 10])  # NaN neighbours are skipped, not spread


@pytest.mark.parametrize("radius", [1, 2, 4])
@pytest.mark.parametrize("dtype", FAST_DTYPES)
def test_rolling_ball_3d_equals_skimage(dtype, radius, monkeypatch):
    volume = volume_uint16()[:7, :30, :26]
    volume = volume.astype(dtype) if dtype != np.uint8 else (volume // 4).astype(dtype)
    if dtype in (np.float32, np.float64):
        volume = volume / dtype(400)
    expected = restoration.rolling_ball(volume, radius=radius)
    assert np.array_equal(rolling_ball(volume, radius), expected)
    monkeypatch.setattr(kernels, "_BALL_BAND_BYTES", 1)  # bands of 2 radii of planes, 2 threads
    monkeypatch.setattr(kernels, "thread_budget", lambda: 2)
    assert np.array_equal(rolling_ball(volume, radius), expected)


def test_rolling_ball_signed_integers_roll_in_float64_as_skimage():
    # skimage truncates towards zero, where floor(drop) would be wrong below 0.
    image = (random_image((20, 24), np.uint8).astype(np.int16) - 128)
    expected = image - restoration.rolling_ball(image, radius=3)
    assert np.array_equal(subtract_below(image, rolling_ball(image, 3)), expected)


def _cut(footprint: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``footprint`` without the offsets that reach outside an image of ``shape`` from every
    pixel (``n`` or more along an axis of ``n``): the same morphology, as scikit-image
    computes it correctly only for footprints no wider than twice the image."""
    centre = np.array(footprint.shape) // 2
    cut = [slice(max(0, c - n + 1), c + n) for c, n in zip(centre, shape, strict=True)]
    return footprint[tuple(cut)]


def _ball_kernel(radius: int, shape: tuple[int, ...]) -> np.ndarray:
    """``skimage.restoration.ball_kernel(radius, ndim)`` cut as :func:`_cut` (by its own
    formula: the whole kernel of radius 200 in 3D is 0.5 GB)."""
    axes = np.meshgrid(*[np.arange(-min(radius, n - 1), min(radius, n - 1) + 1.0)
                         for n in shape], indexing="ij")
    squares = np.sum(np.stack(axes, axis=-1) ** 2, axis=-1)
    kernel = np.sqrt(np.clip(radius**2 - squares, 0, None))
    kernel[np.sqrt(squares) > radius] = np.inf
    return kernel


def test_cut_kernels_are_skimages():
    for ndim in (2, 3):
        shape = (5, 9, 40)[-ndim:]
        kernel = restoration.ball_kernel(20, ndim)
        assert np.array_equal(_ball_kernel(20, shape), _cut(kernel, shape))
        for radius in (1, 2, 7, 20):
            flat = morphology.disk(radius) if ndim == 2 else morphology.ball(radius)
            assert np.array_equal(kernels._flat_ball(radius, (radius,) * ndim), flat)


@pytest.mark.parametrize("radius", [3, 30, 200])
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (3, 3), (2, 7), (9, 40), (1, 3, 3),
                                   (2, 2, 9), (4, 16, 16)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int32, np.uint64, np.int64,
                                   np.float32, np.float64])
def test_tophat_of_a_ball_wider_than_the_image_equals_skimage(dtype, shape, radius):
    # scipy's grey opening, under skimage's white_tophat, read past the image when the ball
    # was wider than twice it: values changed from call to call.
    image = (random_image(shape, np.float64, seed=radius) * 100).astype(dtype)
    footprint = morphology.disk(radius) if len(shape) == 2 else kernels._flat_ball(radius, shape)
    expected = morphology.white_tophat(image, _cut(footprint, shape))
    out = white_tophat(image, radius)
    assert out.dtype == image.dtype
    assert np.array_equal(out, expected)
    assert np.array_equal(white_tophat(image, radius), out)


def test_tophat_on_the_bundled_stack_is_quick_and_small():
    # scipy's grey opening of the 16 x 61 x 57 stack by ball(25) allocated 21 GB.
    volume = volume_uint16()
    tracemalloc.start()
    start = time.perf_counter()
    out = white_tophat(volume, 25)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 5 and peak < 32 * 2**20, (elapsed, peak)
    part = volume[:, :20, :16]  # z is cut to 15 planes either side, as on the whole stack
    expected = morphology.white_tophat(part, _cut(kernels._flat_ball(8, part.shape), part.shape))
    assert np.array_equal(white_tophat(part, 8), expected)
    assert out.dtype == volume.dtype and out.shape == volume.shape


@pytest.mark.parametrize("shape", [(4, 16, 16), (5, 40), (1, 9), (2, 1, 7), (1, 1)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int16, np.int64])
def test_rolling_ball_wider_than_the_image_equals_skimage_and_is_quick(shape, dtype):
    # Radius 200 on a 4 x 16 x 16 stack ran for over a minute (a 401**3 kernel).
    image = (random_image(shape, np.float64, seed=3) * 250).astype(dtype)
    start = time.perf_counter()
    out = rolling_ball(image, 200)
    assert time.perf_counter() - start < 2
    expected = restoration.rolling_ball(image, kernel=_ball_kernel(200, shape))
    assert np.array_equal(out, expected)


def test_64_bit_integers_keep_the_background_under_the_pixel():
    # skimage rolls in float64, where 2**64 - 1 rounds up to 2**64 and wraps when cast back.
    image = np.array([[2**64 - 1, 2**64 - 2, 5], [0, 2**53 + 3, 7]], np.uint64)
    with np.errstate(all="raise"):
        assert (rolling_ball(image, 3) <= image).all()
    signed = np.array([[-(2**63), 2**63 - 1, 0, 5]], np.int64)
    out = white_tophat(signed, 3)
    assert out.tolist() == [[0, 2**63 - 1, 2**63 - 1, 2**63 - 1]]  # saturated, not wrapped


@pytest.mark.parametrize("technique", [rolling_ball, white_tophat])
def test_work_beyond_the_limit_is_refused_before_starting(technique):
    stack = np.broadcast_to(np.uint8(0), (64, 512, 512))
    start = time.perf_counter()
    with pytest.raises(LimitError, match=r"more than the limit of 5.5e\+11"):
        technique(stack, 200)
    assert time.perf_counter() - start < 2, "refused before any work"
