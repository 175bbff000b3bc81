"""Preprocessing ops: exact values, parameters, dtypes, untouched inputs, warnings, errors.

The kernels under them are tested equal to their references in ``tests/kernels``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from skimage import morphology, restoration, util

from napari_maskprep.core import MaskprepWarning, get_op
from napari_maskprep.core.errors import LimitError
from napari_maskprep.core.locality import GlobalStat, Local, NonLocal, Pointwise
from napari_maskprep.kernels.gaussian import gaussian_blur
from napari_maskprep.ops import preprocess as pp

from ..preprocess_images import (
    FAST_DTYPES,
    fluo_uint8,
    he_images,
    random_image,
    real_grey,
    volume_uint16,
)


def op(name: str):
    return get_op(f"preprocess.{name}")


# --------------------------------------------------------------------------- registry view


def test_specs_declare_channels_ndim_and_locality():
    expected = {
        "to_gray": ("any", (2, 3), Pointwise),
        "color_channel": ("rgb", (2, 3), Pointwise),
        "gaussian": ("any", (2, 3), Local),
        "median": ("any", (2, 3), Local),
        "equalize": ("grey", (2, 3), GlobalStat),
        "clahe": ("grey", (2,), NonLocal),
        "rescale": ("any", (2, 3), GlobalStat),
        "background": ("grey", (2, 3), Local),
        "invert": ("any", (2, 3), Pointwise),
    }
    for name, (channels, ndim, locality) in expected.items():
        spec = op(name)
        assert (spec.channels, spec.ndim, type(spec.locality)) == (channels, ndim, locality)
        assert spec.input.value == spec.output.value == "image"


def test_local_halos_cover_the_footprint():
    assert op("gaussian").locality.halo({"sigma": 2.0}) >= 8  # kernel radius int(4 * 2 + 0.5)
    assert op("median").locality.halo({"radius": 3}) == 3
    halo = op("background").locality.halo
    assert halo({"radius": 5, "method": pp.BackgroundMethod.TOPHAT}) == 10  # erode + dilate
    assert halo({"radius": 5, "method": pp.BackgroundMethod.ROLLING_BALL}) == 5


# --------------------------------------------------------------------------- contract


CASES = [
    ("to_gray", {}),
    ("gaussian", {"sigma": 1.5}),
    ("median", {"radius": 2}),
    ("equalize", {}),
    ("clahe", {"tiles": 2}),
    ("rescale", {"low": 2.0, "high": 98.0}),
    ("background", {"method": "tophat", "radius": 2}),
    ("background", {"method": "rolling_ball", "radius": 2, "light_background": True}),
    ("invert", {}),
]


@pytest.mark.parametrize("shape", [(23, 29), (4, 23, 29)], ids=["2d", "3d"])
@pytest.mark.parametrize("dtype", [*FAST_DTYPES, np.int16, np.int8, np.int32, np.float16])
@pytest.mark.parametrize(("name", "params"), CASES, ids=lambda c: c if isinstance(c, str) else "")
def test_dtype_kept_and_input_untouched(name, params, dtype, shape):
    image = random_image(shape, dtype)
    before = image.copy()
    out = op(name)(image, per_plane=op(name).ndim == (2,) and len(shape) == 3, **params)
    assert out.shape == shape
    assert out.dtype == (np.float32 if dtype == np.float16 else dtype)
    assert np.array_equal(image, before)
    assert not np.shares_memory(out, image)


@pytest.mark.parametrize("space", ["rgb", "hsv", "lab", "hed"])
@pytest.mark.parametrize("dtype", [*FAST_DTYPES, np.int16, np.float16])
@pytest.mark.parametrize("shape", [(9, 11, 3), (2, 9, 11, 4)], ids=["2d-rgb", "3d-rgba"])
def test_color_channel_dtype_and_input_untouched(space, dtype, shape):
    image = random_image(shape, dtype)
    before = image.copy()
    out = op("color_channel")(image, space=space, channel=2)
    assert out.shape == shape[:-1]
    if space == "rgb":
        assert out.dtype == (np.float32 if dtype == np.float16 else dtype)
    else:
        assert out.dtype == (np.float64 if dtype == np.float64 else np.float32)
    assert np.array_equal(image, before)


# --------------------------------------------------------------------------- to_gray


def test_to_gray_exact_values():
    rgba = np.zeros((1, 5, 4), np.uint8)
    rgba[0, :, :3] = [[0, 0, 0], [100, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]
    rgba[..., 3] = 7  # alpha is ignored
    assert op("to_gray")(rgba).tolist() == [[0, 21, 182, 18, 255]]


def test_to_gray_of_grey_is_a_copy():
    image = random_image((6, 7), np.uint16)
    out = op("to_gray")(image)
    assert np.array_equal(out, image) and out is not image and not np.shares_memory(out, image)


# --------------------------------------------------------------------------- color_channel


def test_color_channel_exact_values():
    rgb = np.array(
        [[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8
    )
    cc = op("color_channel")
    assert cc(rgb, space="rgb", channel=1).tolist() == [[0, 255, 0, 255, 0]]
    hue = cc(rgb, space="hsv", channel=0)
    np.testing.assert_allclose(hue, [[0, 1 / 3, 2 / 3, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(cc(rgb, space="hsv", channel=1), [[1, 1, 1, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(cc(rgb, space="hsv", channel=2), [[1, 1, 1, 1, 0]], atol=1e-6)
    # White is L* 100 and (to skimage's precision, -0.0024 and 0.0047) a* = b* = 0.
    np.testing.assert_allclose(cc(rgb, space="lab", channel=0)[0, 3:], [100, 0], atol=1e-3)
    np.testing.assert_allclose(cc(rgb, space="lab", channel=1)[0, 3:], [-0.00245, 0], atol=1e-4)
    np.testing.assert_allclose(cc(rgb, space="lab", channel=2)[0, 3:], [0.00465, 0], atol=1e-4)
    # White carries no stain; pure red has no hematoxylin (it absorbs red light least).
    for channel in range(3):
        assert cc(rgb, space="hed", channel=channel)[0, 3] == 0


def test_color_channel_hue_is_a_fraction_of_a_turn():
    hue = op("color_channel")(random_image((64, 64, 3), np.uint8), space="hsv", channel=0)
    assert hue.min() >= 0 and hue.max() < 1


@pytest.mark.parametrize("index", range(len(he_images())))
def test_hematoxylin_is_bright_in_nuclei(index):
    rgb, labels = he_images()[index]
    hematoxylin = op("color_channel")(rgb, space="hed", channel=0)
    nuclei = labels > 0
    assert hematoxylin[nuclei].mean() > 1.5 * hematoxylin[~nuclei].mean()


def test_color_channel_bad_input():
    cc = op("color_channel")
    with pytest.raises(ValueError, match=r"needs an RGB/RGBA image .* got shape \(20, 20\)"):
        cc(random_image((20, 20), np.uint8), space="hed")
    rgb = random_image((20, 20, 3), np.uint8)
    message = r"channel=3 is out of range; expected an integer in \[0, 2\]"
    with pytest.raises(ValueError, match=message):
        cc(rgb, space="hsv", channel=3)
    with pytest.raises(ValueError, match=r"space='xyz' is not accepted; expected one of 'rgb'"):
        cc(rgb, space="xyz")


# --------------------------------------------------------------------------- gaussian


def test_gaussian_exact_values():
    impulse = np.zeros((5, 5), np.uint8)
    impulse[2, 2] = 255
    out = op("gaussian")(impulse, sigma=1.0)
    assert out[2].tolist() == [5, 25, 41, 25, 5]
    assert np.array_equal(out, out.T)
    ramp = np.tile(np.arange(6, dtype=np.float32), (4, 1))
    # A linear ramp is unchanged except where the repeated border bends it.
    np.testing.assert_allclose(op("gaussian")(ramp, sigma=0.5)[:, 2:-2], ramp[:, 2:-2], atol=1e-6)


def test_gaussian_of_a_view_is_the_kernel_on_a_copy():
    view = fluo_uint8().T  # cv2 refuses transposed views: the op copies it first
    expected = gaussian_blur(np.ascontiguousarray(view), 1.0, has_channels=False)
    assert np.array_equal(op("gaussian")(view, sigma=1.0), expected)


def test_gaussian_bad_sigma():
    message = r"sigma=0.0 is out of range; expected a number in \[0.1, 50"
    with pytest.raises(ValueError, match=message):
        op("gaussian")(random_image((5, 5), np.uint8), sigma=0)
    with pytest.raises(TypeError, match=r"sigma='big' is not accepted"):
        op("gaussian")(random_image((5, 5), np.uint8), sigma="big")


# --------------------------------------------------------------------------- median


def test_median_exact_values():
    image = np.zeros((7, 7), np.uint8)
    image[1, 1] = 200  # an isolated speck goes
    image[3:, 3:] = 50  # a corner of a large block stays, its sharp corner rounds off
    out = op("median")(image, radius=2)
    expected = np.zeros((7, 7), np.uint8)
    expected[3:, 3:] = 50
    expected[3, 3] = 0
    assert np.array_equal(out, expected)
    volume = np.zeros((3, 3, 3), np.float32)
    volume[1, 1, 1] = 1.0
    assert not op("median")(volume, radius=1).any()


def test_median_rgb_filters_channels_independently():
    rgb = he_images()[0][0][:60, :70]
    out = op("median")(rgb, radius=2)
    for c in range(3):
        assert np.array_equal(out[..., c], op("median")(rgb[..., c], radius=2))


def test_median_bad_radius():
    message = r"radius=0 is out of range; expected an integer in \[1, 25\]"
    with pytest.raises(ValueError, match=message):
        op("median")(random_image((5, 5), np.uint8), radius=0)


def test_median_beyond_its_limits_is_one_short_error():
    # scipy's median of the 16 x 61 x 57 stack by ball(25) asked for 22 GB of offsets.
    volume = volume_uint16().astype(np.float32)
    with pytest.raises(LimitError, match=r"radius=25 on an image of shape \(16, 61, 57\) "
                       r"\(float32\) takes about 3.6e\+09 steps and 20723 MB") as caught:
        op("median")(volume, radius=25)
    assert len(str(caught.value)) < 300
    # Big 2D images are striped only within the limits: the error names the whole image.
    with pytest.raises(LimitError, match=r"shape \(2048, 2048\)"):
        op("median")(np.zeros((2048, 2048), np.float32), radius=25)


# --------------------------------------------------------------------------- equalize


def test_equalize_exact_values():
    eq = op("equalize")
    image = np.array([[10, 10, 10, 20], [30, 40, 50, 200]], np.uint8)
    assert eq(image).tolist() == [[0, 0, 0, 51], [102, 153, 204, 255]]
    wide = np.array([[0, 1000, 1000, 65535]], np.uint16)
    assert eq(wide).tolist() == [[0, 43690, 43690, 65535]]  # 2/3 of 65535
    floats = np.array([[0.5, 0.5, 0.7, 0.9]], np.float32)
    assert eq(floats).tolist() == [[0.0, 0.0, 0.5, 1.0]]
    signed = np.array([[-5, 3, 3, 9]], np.int8)
    assert eq(signed).tolist() == [[0, 85, 85, 127]]


def test_equalize_3d_is_global():
    volume = volume_uint16()
    flat = volume.reshape(-1, volume.shape[-1])
    assert np.array_equal(op("equalize")(volume), op("equalize")(flat).reshape(volume.shape))


def test_equalize_constant_image_warns_and_is_unchanged():
    image = np.full((4, 5), 7, np.uint16)
    with pytest.warns(MaskprepWarning, match="preprocess.equalize: the image is constant"):
        out = op("equalize")(image)
    assert np.array_equal(out, image) and out is not image


# --------------------------------------------------------------------------- clahe


def test_clahe_exact_values():
    image = np.array([[10, 10, 20, 20], [10, 10, 20, 30]], np.uint8)
    assert op("clahe")(image, clip_limit=0.0, tiles=1).tolist() == [
        [128, 128, 223, 223], [128, 128, 223, 255]
    ]


def test_clahe_needs_per_plane_for_3d():
    volume = volume_uint16()[:3]
    with pytest.raises(ValueError, match="set per_plane: true"):
        op("clahe")(volume)
    out = op("clahe")(volume, per_plane=True, tiles=4)
    assert np.array_equal(out[1], op("clahe")(volume[1], tiles=4))


def test_clahe_constant_and_bad_params():
    with pytest.warns(MaskprepWarning, match="preprocess.clahe: the image is constant"):
        assert (op("clahe")(np.full((8, 8), 3.0)) == 3.0).all()
    image = random_image((8, 8), np.uint8)
    message = r"tiles=0 is out of range; expected an integer in \[1, 64\]"
    with pytest.raises(ValueError, match=message):
        op("clahe")(image, tiles=0)
    with pytest.raises(ValueError, match=r"clip_limit=-1.0 is out of range"):
        op("clahe")(image, clip_limit=-1)


def test_clahe_tiles_past_the_image_are_one_error():
    # OpenCV mirrored a 1 x 2 image into 64 x 64 tiles of 65536 bins: 0.7 s.
    with pytest.raises(ValueError, match=r"tiles=64 is more than the image's 2 pixels along its"
                       r" shorter side \(shape \(2, 9\)\); accepted: tiles up to 2"):
        op("clahe")(random_image((2, 9), np.float32), tiles=64)


# --------------------------------------------------------------------------- rescale


def test_rescale_exact_values():
    rs = op("rescale")
    assert rs(np.array([[0, 50, 100, 150, 200]], np.uint8), low=0, high=75).tolist() == [
        [0, 85, 170, 255, 255]
    ]
    floats = np.array([[0.0, 0.25, 0.5, 1.0, 3.0]], np.float32)
    assert rs(floats, low=0, high=75).tolist() == [[0.0, 0.25, 0.5, 1.0, 1.0]]
    signed = np.array([[-100, 0, 100]], np.int16)
    assert rs(signed, low=0, high=100).tolist() == [[0, 16384, 32767]]  # 16383.5 to even


def test_rescale_rgb_stretches_each_channel():
    rgb = he_images()[0][0]
    out = op("rescale")(rgb)
    for c in range(3):
        assert np.array_equal(out[..., c], op("rescale")(rgb[..., c]))


def test_rescale_equal_percentiles_warns_and_steps():
    image = np.zeros((10, 10), np.uint16)
    image[0, :3] = [5, 9, 70]
    with pytest.warns(MaskprepWarning, match="percentiles 1.0 and 50.0 are the same value"):
        out = op("rescale")(image, low=1, high=50)
    assert np.array_equal(out, np.where(image > 0, 65535, 0).astype(np.uint16))


def test_rescale_bad_params():
    image = random_image((5, 5), np.uint8)
    with pytest.raises(ValueError, match=r"low=50.0 must be below high=50.0"):
        op("rescale")(image, low=50, high=50)
    with pytest.raises(ValueError, match=r"high=101.0 is out of range"):
        op("rescale")(image, high=101)


# --------------------------------------------------------------------------- background


def test_background_exact_values():
    image = np.full((5, 5), 10, np.uint8)
    image[1, 1] = 90
    image[3:] = 20
    bg = op("background")
    expected = np.zeros((5, 5), np.uint8)
    expected[1, 1] = 80
    assert np.array_equal(bg(image, method="tophat", radius=1), expected)
    flat = np.full((7, 7), 10, np.uint8)
    flat[3, 3] = 90
    expected = np.zeros((7, 7), np.uint8)
    expected[3, 3] = 80
    assert np.array_equal(bg(flat, method="rolling_ball", radius=2), expected)
    # Dark object on a bright background: it stays dark, the background becomes white.
    dark = 255 - flat
    for method in ("tophat", "rolling_ball"):
        out = bg(dark, method=method, radius=2, light_background=True)
        assert np.array_equal(out, 255 - expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_rolling_ball_equals_skimage(dtype):
    image = real_grey(dtype)[:48, :56]
    out = op("background")(image, method="rolling_ball", radius=5)
    assert np.array_equal(out, image - restoration.rolling_ball(image, radius=5))
    inverted = util.invert(image)
    light = op("background")(inverted, method="rolling_ball", radius=5, light_background=True)
    np.testing.assert_allclose(light, util.invert(out), atol=1e-6)  # 1 - (1 - x) for floats


def test_light_background_tophat_is_inverted_white_tophat():
    image = util.invert(fluo_uint8())
    expected = util.invert(morphology.white_tophat(util.invert(image), morphology.disk(6)))
    out = op("background")(image, method="tophat", radius=6, light_background=True)
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("method", ["rolling_ball", "tophat"])
def test_background_beyond_its_work_limit_is_one_short_error(method):
    stack = np.broadcast_to(np.uint8(0), (64, 512, 512))
    start = time.perf_counter()
    with pytest.raises(LimitError, match=r"radius=200 on an image of shape \(64, 512, 512\)"
                       r".* more than the limit") as caught:
        op("background")(stack, method=method, radius=200)
    assert time.perf_counter() - start < 2, "refused before any work"
    assert len(str(caught.value)) < 300 and "\n" not in str(caught.value)


def test_background_bad_params():
    image = random_image((9, 9), np.uint8)
    message = r"radius=0 is out of range; expected an integer in \[1, 200\]"
    with pytest.raises(ValueError, match=message):
        op("background")(image, radius=0)
    message = r"method='ball' is not accepted; expected one of 'rolling_ball'"
    with pytest.raises(ValueError, match=message):
        op("background")(image, method="ball")
    message = r"light_background='yes' is not accepted; expected true or false"
    with pytest.raises(TypeError, match=message):
        op("background")(image, light_background="yes")


# --------------------------------------------------------------------------- invert


def test_invert_exact_values():
    inv = op("invert")
    assert inv(np.array([[0, 1, 255]], np.uint8)).tolist() == [[255, 254, 0]]
    assert inv(np.array([[0, 1, 65535]], np.uint16)).tolist() == [[65535, 65534, 0]]
    assert inv(np.array([[-32768, -1, 0, 32767]], np.int16)).tolist() == [[32767, 0, -1, -32768]]
    assert inv(np.array([[0.0, 0.25, 1.0]])).tolist() == [[1.0, 0.75, 0.0]]


def test_invert_keeps_alpha():
    rgba = random_image((6, 7, 4), np.uint8)
    out = op("invert")(rgba)
    assert np.array_equal(out[..., :3], 255 - rgba[..., :3])
    assert np.array_equal(out[..., 3], rgba[..., 3])


