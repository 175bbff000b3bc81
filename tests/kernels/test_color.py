"""kernels.color equals skimage.color: rgb2gray (within one grey level for integers, rounded
in the image's dtype), and rgb2hsv, rgb2lab, rgb2hed (exactly for float64, within the
tolerances below in float32)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color

from napari_maskprep.kernels.color import hed_channel, hsv_channel, lab_channel, rgb_to_gray

from ..preprocess_images import FAST_DTYPES, assert_within_one, he_images, random_image

CHANNEL = {"hsv": hsv_channel, "lab": lab_channel, "hed": hed_channel}
REFERENCE = {"hsv": color.rgb2hsv, "lab": color.rgb2lab, "hed": color.rgb2hed}
# float32 fast paths vs the float64 reference: hue/saturation/value, Lab units, stain density.
TOLERANCE = {"hsv": 1e-4, "lab": 1e-3, "hed": 1e-5}


@pytest.mark.parametrize("dtype", FAST_DTYPES)
def test_rgb_to_gray_matches_skimage_rgb2gray(dtype):
    rgb = he_images()[0][0]
    reference = color.rgb2gray(rgb) * 255  # rgb2gray scales uint8 to [0, 1]
    if np.dtype(dtype).kind == "f":
        rgb = rgb.astype(dtype) / 255
        reference = color.rgb2gray(rgb)
    elif dtype == np.uint16:
        rgb = rgb.astype(np.uint16) * 257
        reference = reference * 257
    out = rgb_to_gray(rgb)
    assert out.dtype == dtype
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-6)
    else:
        assert_within_one(out, np.rint(reference).astype(dtype))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint64, np.int64])
def test_rgb_to_gray_of_other_integers_rounds_and_saturates(dtype):
    info = np.iinfo(dtype)
    rgb = np.array([[[info.max] * 3, [info.min] * 3, [0, 100, 0]]], dtype)
    out = rgb_to_gray(rgb)
    assert out.dtype == dtype
    assert out[0, 0] >= info.max - 2**11 and out[0, 1] == info.min and out[0, 2] == 72


def _hue_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b)
    return np.minimum(d, 1 - d)


@pytest.mark.parametrize("space", ["hsv", "lab", "hed"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("source", ["random", "he"])
def test_fast_paths_match_skimage(space, dtype, source):
    rgb = random_image((40, 50, 3), np.uint8, seed=3) if source == "random" else he_images()[1][0]
    if dtype == np.uint16:
        rgb = rgb.astype(np.uint16) * 257 + np.uint16(random_image(rgb.shape, np.uint8) // 2)
    elif dtype == np.float32:
        rgb = rgb.astype(np.float32) / 255
    reference = REFERENCE[space](rgb)
    for channel in range(3):
        out = CHANNEL[space](rgb, channel)
        assert out.dtype == np.float32
        expected = reference[..., channel]
        diff = _hue_distance(out, expected) if (space, channel) == ("hsv", 0) else out - expected
        assert np.abs(diff).max() <= TOLERANCE[space], (space, channel)


@pytest.mark.parametrize("space", ["hsv", "lab", "hed"])
def test_float64_is_the_reference(space):
    rgb = he_images()[2][0] / 255.0
    for channel in range(3):
        out = CHANNEL[space](rgb, channel)
        assert out.dtype == np.float64
        assert np.array_equal(out, REFERENCE[space](rgb)[..., channel])


def test_floats_out_of_the_unit_range_match_skimage():
    rgb = (random_image((20, 30, 3), np.float32) * 1.6 - 0.3).astype(np.float32)
    for space in ("hsv", "lab", "hed"):
        expected = REFERENCE[space](rgb)[..., 1]
        np.testing.assert_allclose(CHANNEL[space](rgb, 1), expected, atol=TOLERANCE[space],
                                   rtol=1e-5)


def test_hsv_where_skimage_divides_by_zero_is_finite():
    # Value 0 with a spread (negative channels): skimage's saturation is -inf, with a
    # RuntimeWarning (an error under these tests).
    rgb = np.array([[[0.0, -0.5, -1.0]] + [[0.2, 0.4, 0.1]] * 4], np.float32)
    for dtype in (np.float32, np.float64):
        saturation = hsv_channel(rgb.astype(dtype), 1)
        assert np.isfinite(saturation).all() and saturation[0, 0] == 0
    signed = np.array([[[0, -5, -9]] + [[3, 9, 1]] * 4], np.int64)
    assert np.isfinite(hsv_channel(signed, 1)).all()
