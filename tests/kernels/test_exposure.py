"""kernels.exposure: equalisation is cv2.equalizeHist's formula (that function for uint8),
CLAHE is OpenCV's, the percentiles are numpy's bit for bit, and the stretch is
skimage.exposure.rescale_intensity with integers rounded."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from skimage import exposure

from napari_maskprep.kernels import exposure as kernels
from napari_maskprep.kernels.exposure import (
    equalize_adaptive,
    equalize_global,
    percentiles,
    stretch,
)

from ..preprocess_images import FAST_DTYPES, fluo_uint8, fluo_uint16, random_image, real_grey


def clahe(image: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    return equalize_adaptive(image, clip_limit, tiles, lowest=image.min(), highest=image.max())


def rescale(image: np.ndarray, low: float, high: float) -> np.ndarray:
    return stretch(image, *percentiles(image, low, high))


# --------------------------------------------------------------------------- equalisation


@pytest.mark.parametrize("source", ["random", "real"])
def test_uint8_equalisation_is_cv2_equalizehist_and_the_general_formula(source):
    image = random_image((61, 77), np.uint8) // 3 if source == "random" else fluo_uint8()
    out = equalize_global(image)
    assert np.array_equal(out, cv2.equalizeHist(image))
    assert np.array_equal(out, kernels._equalize_histogram(image))  # what uint16 / int16 use


def test_equalisation_is_skimage_equalize_hist_stretched_to_full_range():
    image = fluo_uint8()
    levels = exposure.equalize_hist(image)  # cdf(v) / N
    lowest = levels.min()
    expected = (levels - lowest) / (1 - lowest) * 255
    assert np.abs(equalize_global(image) - expected).max() <= 0.5 + 1e-6


def test_floats_and_wide_integers_agree_with_the_histogram_path():
    image = fluo_uint8()
    by_histogram = equalize_global(image) / 255
    np.testing.assert_allclose(equalize_global(image / 255.0), by_histogram, atol=0.5 / 255)
    np.testing.assert_allclose(
        equalize_global(image.astype(np.int32)) / np.iinfo(np.int32).max, by_histogram,
        atol=0.5 / 255,
    )
    assert np.array_equal(
        equalize_global(image.astype(np.int16)), kernels._equalize_ranks(image.astype(np.int16))
    )


# --------------------------------------------------------------------------- CLAHE


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(("clip_limit", "tiles"), [(2.0, 8), (0.0, 3), (10.0, 1)])
def test_clahe_is_opencv_clahe(dtype, clip_limit, tiles):
    for image in (random_image((64, 80), dtype), real_grey(dtype)):
        expected = cv2.createCLAHE(clip_limit, (tiles, tiles)).apply(image)
        assert np.array_equal(clahe(image, clip_limit, tiles), expected)


def test_clahe_one_tile_without_clipping_is_global_equalisation():
    image = fluo_uint8()
    cdf = np.cumsum(np.bincount(image.ravel(), minlength=256))
    expected = cdf[image] * 255 / image.size
    assert np.abs(clahe(image, 0.0, 1) - expected).max() <= 0.5 + 1e-3


def test_clahe_other_dtypes_go_through_uint16():
    image16 = fluo_uint16().copy()
    image16[0, :2] = [0, 65535]  # full range: the mapping to uint16 is the identity
    expected = cv2.createCLAHE(2.0, (8, 8)).apply(image16)
    out = clahe(image16.astype(np.float32) / 65535)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert np.array_equal(out, expected.astype(np.float32) / np.float32(65535))
    signed = clahe((image16 // 2).astype(np.int16))
    assert signed.min() >= 0 and signed.max() == 32767


def test_clahe_of_64_bit_extremes_maps_every_value():
    # 2**64 - 2 and 2**64 - 1 are one float64: their span came out 0 (ZeroDivisionError).
    image = np.array([[2**64 - 1, 2**64 - 2], [2**64 - 1, 2**64 - 2]], np.uint64)
    out = clahe(image, 0.0, 1)
    assert out.dtype == np.uint64 and out[0, 0] > out[0, 1]
    signed = np.array([[-(2**63), 2**63 - 1], [0, 5]], np.int64)
    out = clahe(signed, 0.0, 1)
    assert out[0, 1] == out.max() and out[0, 0] == out.min() >= 0
    tiny = np.array([[0, 1e-45], [0, 0]], np.float32)  # 65535 / span overflows float32
    assert clahe(tiny, 2.0, 1).dtype == np.float32


@pytest.mark.parametrize(("dtype", "scale", "offset"), [
    (np.float64, 2.0**-1070, 0.0),  # span 1.5e-323: 65535 / span was inf, the output NaN
    (np.float64, 2.0**-1040, 2.0**-1000),  # span 3e-313 near 9e-302
    (np.float32, 2.0**-149, 0.0),  # span 4e-45: float32 levels were inf
])
def test_clahe_of_a_float_image_of_tiny_range_is_that_of_the_image_scaled_up(dtype, scale,
                                                                            offset):
    levels = np.array([[0, 1, 2, 3], [3, 3, 1, 0]])
    image = (levels * scale + offset).astype(dtype)
    assert np.array_equal((image - dtype(offset)) / dtype(scale), levels)  # exactly held
    as_uint16 = (levels * 21845).astype(np.uint16)  # 0 to 65535, as the kernel maps them
    expected = cv2.createCLAHE(0.0, (1, 1)).apply(as_uint16).astype(dtype) / dtype(65535)
    out = kernels.equalize_adaptive(image, 0.0, 1, lowest=image.min(), highest=image.max())
    assert out.dtype == dtype
    assert np.array_equal(out, expected)
    assert np.array_equal(np.round(out, 4), [[0.25, 0.5, 0.6250, 1], [1, 1, 0.5, 0.25]])


# --------------------------------------------------------------------------- stretch


def rescale_reference(image: np.ndarray, low: float, high: float) -> np.ndarray:
    lo, hi = np.percentile(image, [low, high])
    top = np.iinfo(image.dtype).max if image.dtype.kind in "iu" else 1.0
    out = exposure.rescale_intensity(image, in_range=(lo, hi), out_range=(0, top))
    return np.rint(out).astype(image.dtype) if image.dtype.kind in "iu" else out


@pytest.mark.parametrize("dtype", FAST_DTYPES)
@pytest.mark.parametrize(("low", "high"), [(1.0, 99.0), (0.0, 100.0), (12.3, 99.6)])
def test_stretch_matches_skimage(dtype, low, high):
    for image in (random_image((50, 60), dtype), real_grey(dtype)):
        out = rescale(image, low, high)
        expected = rescale_reference(image, low, high)
        if dtype in (np.uint8, np.uint16):  # histogram percentiles + look-up table
            assert np.array_equal(out, expected)
        else:
            assert out.dtype == dtype
            np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_histogram_percentiles_equal_numpy(dtype):
    image = random_image((37, 41), dtype) // 7
    for q in (0.0, 0.5, 1.0, 37.3, 50.0, 99.0, 100.0):
        assert percentiles(image, q, q) == (np.percentile(image, q),) * 2


def test_stretch_between_equal_bounds_is_a_step():
    image = np.array([[0, 5, 9, 70]], np.uint16)
    assert stretch(image, 5.0, 5.0).tolist() == [[0, 0, 65535, 65535]]
    assert stretch(image / 70, 0.5, 0.5).tolist() == [[0.0, 0.0, 0.0, 1.0]]


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.float32, np.float64, np.uint64])
def test_stretch_between_percentiles_a_hair_apart(dtype):
    # A high percentile of 1e-173 lies 2e-175 above 0: float32 made that 0 (0 / 0) and the
    # ratio overflowed (RuntimeWarnings, NaN cast to integers).
    image = np.array([[0, 1], [1, 4]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = rescale(image, 0.0, 1e-173)
    top = np.iinfo(dtype).max if image.dtype.kind in "iu" else 1
    assert out[0, 0] == 0 and (out.ravel()[1:] >= top * 0.99).all()
