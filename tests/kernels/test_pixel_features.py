"""The pixel classifier's filter bank equals its scikit-image / SciPy / NumPy references, and
a tile computed with its halo equals the same pixels of the whole image, bit for bit."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import feature
from skimage.color import rgb2hed

from napari_maskprep.io import read_image
from napari_maskprep.kernels.pixel_features import (
    GREY_CHANNELS,
    RGB_CHANNELS,
    VOLUME_CHANNELS,
    compute_features,
    feature_blocks,
    feature_halo,
    feature_names,
    parse_feature_name,
)

from ..conftest import DATA, pairs
from ..preprocess_images import volume_uint16
from ..segment_images import nuclei_field

SIGMAS = (1.0, 2.5, 4.0)


def _grey() -> np.ndarray:
    return nuclei_field()[100:220, 200:350]


def _features(image: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    out = compute_features(image, names, rgb=False)
    return {n: out[:, i].reshape(image.shape) for i, n in enumerate(names)}


def _close(result: np.ndarray, expected: np.ndarray, border: int = 0, scale: float = 1.0
           ) -> None:
    """Equal within float32 rounding of values up to ``scale`` (differences of values near
    the input's maximum lose what float32 keeps of them: the tolerance follows the input)."""
    inner = (slice(border, -border or None),) * 2
    np.testing.assert_allclose(result[inner], expected[inner], rtol=0, atol=2e-6 * scale)


def test_names_list_every_filter_at_every_scale_and_parse_back():
    names = feature_names(RGB_CHANNELS, SIGMAS)
    assert len(names) == 5 * (1 + 8 * 3 - 1)
    assert names[:3] == ["red_raw", "red_gauss_s1", "red_gradient_s1"]
    assert "hema_dog_s2p5" in names and "hema_dog_s4" not in names
    assert parse_feature_name("eosin_struct_lo_s2p5", RGB_CHANNELS) == ("eosin", "struct_lo", 2.5)
    assert parse_feature_name("grey_raw", GREY_CHANNELS) == ("grey", "raw", None)
    for bad in ("grey_blur_s1", "red_raw", "grey_gauss_s64", "grey_gauss_1", "__import__"):
        with pytest.raises(ValueError, match="feature"):
            parse_feature_name(bad, GREY_CHANNELS)
    assert feature_halo(names, RGB_CHANNELS) == 32  # 4 sigma + 1, rounded up to 32 columns


def test_each_filter_equals_its_reference():
    image = _grey()
    x = image.astype(np.float32) / 65535
    got = _features(image, feature_names(GREY_CHANNELS, SIGMAS))
    _close(got["grey_raw"], x)
    top = float(x.max())
    for i, sigma in enumerate(SIGMAS):
        close = functools.partial(_close, scale=top * (1 + sigma**2))
        s = f"s{sigma:g}".replace(".", "p")
        g = ndi.gaussian_filter(x.astype(np.float64), sigma, mode="nearest", truncate=4)
        close(got[f"grey_gauss_{s}"], g)
        dy, dx = np.gradient(g)
        close(got[f"grey_gradient_{s}"], np.hypot(dy, dx), border=1)
        hrr = np.zeros_like(g)
        hcc = np.zeros_like(g)
        hrr[1:-1] = np.diff(g, 2, axis=0)
        hcc[:, 1:-1] = np.diff(g, 2, axis=1)
        hrc = np.gradient(np.gradient(g, axis=0), axis=1)
        close(got[f"grey_log_{s}"], sigma**2 * (hrr + hcc), border=1)
        hi, lo = feature.hessian_matrix_eigvals([hrr, hrc, hcc])
        close(got[f"grey_hess_hi_{s}"], hi, border=1)
        close(got[f"grey_hess_lo_{s}"], lo, border=1)
        tensor = feature.structure_tensor(x.astype(np.float64), sigma, mode="nearest",
                                          order="rc")
        hi, lo = feature.structure_tensor_eigenvalues(tensor)
        close(got[f"grey_struct_hi_{s}"], hi)
        close(got[f"grey_struct_lo_{s}"], lo)
        if i + 1 < len(SIGMAS):
            following = ndi.gaussian_filter(x.astype(np.float64), SIGMAS[i + 1],
                                            mode="nearest", truncate=4)
            close(got[f"grey_dog_{s}"], g - following)


def test_stain_channels_equal_rgb2hed():
    rgb = read_image(pairs(DATA, "dsb2018_brightfield_nuclei")[0][0])[:40, :50]
    names = ["hema_raw", "eosin_raw", "blue_raw"]
    got = compute_features(rgb, names, rgb=True)
    hed = np.maximum(rgb2hed(rgb), 0)
    np.testing.assert_allclose(got[:, 0].reshape(40, 50), hed[..., 0], atol=1e-5)
    np.testing.assert_allclose(got[:, 1].reshape(40, 50), hed[..., 1], atol=1e-5)
    np.testing.assert_array_equal(got[:, 2].reshape(40, 50), rgb[..., 2] / np.float32(255))


@pytest.mark.parametrize("rgb", [False, True], ids=["grey", "rgb"])
def test_tiles_with_their_halo_equal_the_whole_image_bit_for_bit(rgb):
    he = pairs(DATA, "dsb2018_brightfield_nuclei")[1][0]
    image = read_image(he)[:150] if rgb else _grey()
    names = feature_names(RGB_CHANNELS if rgb else GREY_CHANNELS, SIGMAS)
    whole = compute_features(image, names, rgb=rgb).reshape(*image.shape[:2], len(names))
    # A budget of a few pixels: tiles of 32 x 32 (the least) with 32 px of halo each side.
    tiles = list(feature_blocks(image, names, rgb=rgb, block_bytes=1))
    rows, cols = image.shape[:2]
    assert [(r.start, c.start) for (r, c), _ in tiles] == [
        (y, x) for y in range(0, rows, 32) for x in range(0, cols, 32)]
    for (r, c), features in tiles:
        expected = whole[r, c].reshape(-1, len(names))
        assert np.array_equal(features, expected), (r, c)


def test_unwanted_features_are_zero_and_the_others_unchanged():
    image = _grey()
    names = feature_names(GREY_CHANNELS, SIGMAS)
    wanted = [i % 3 == 0 for i in range(len(names))]
    some = compute_features(image, names, rgb=False, wanted=wanted)
    every = compute_features(image, names, rgb=False)
    for i, keep in enumerate(wanted):
        assert np.array_equal(some[:, i], every[:, i] if keep else np.zeros_like(every[:, i]))


def test_volume_filters_equal_their_scipy_and_numpy_references():
    stack = volume_uint16()
    names = feature_names(VOLUME_CHANNELS, (1.0, 2.0))
    assert names[:3] == ["volume_raw", "volume_gauss_s1", "volume_gradient_s1"]
    assert "volume_hess_mid_s2" in names and not any("struct" in n for n in names)
    with pytest.raises(ValueError, match="filter in gauss, gradient, log, dog, hess_hi, "
                                         "hess_mid, hess_lo"):
        parse_feature_name("volume_struct_hi_s1", VOLUME_CHANNELS)
    with pytest.raises(ValueError, match="unknown feature"):
        parse_feature_name("grey_hess_mid_s1", GREY_CHANNELS)
    got = {n: f.reshape(stack.shape) for n, f in zip(
        names, compute_features(stack, names, rgb=False).T, strict=True)}
    x = stack.astype(np.float32) / np.float32(65535)
    g = ndi.gaussian_filter(x, 2.0, mode="nearest", truncate=4)
    np.testing.assert_array_equal(got["volume_gauss_s2"], g)
    inner = (slice(2, -2),) * 3  # np.gradient is one-sided at the border
    _close(got["volume_gradient_s2"][inner],
           np.sqrt(sum(d * d for d in np.gradient(g)))[inner])
    hessian = [[ndi.correlate1d(ndi.correlate1d(g, [-0.5, 0, 0.5], axis=i, mode="nearest"),
                                [-0.5, 0, 0.5], axis=j, mode="nearest") if i != j else
                ndi.correlate1d(g, [1, -2, 1], axis=i, mode="nearest") for j in range(3)]
               for i in range(3)]
    eig = np.linalg.eigvalsh(np.moveaxis(np.array(hessian, np.float64), (0, 1), (-2, -1)))
    for k, name in enumerate(("hess_lo", "hess_mid", "hess_hi")):
        _close(got[f"volume_{name}_s2"], eig[..., k])
    _close(got["volume_log_s2"], 4 * sum(hessian[i][i] for i in range(3)))


def test_volume_tiles_with_their_halo_equal_the_whole_stack_bit_for_bit():
    stack = np.tile(volume_uint16(), (1, 2, 2))  # 16 x 122 x 114: tiles are crops of it
    names = feature_names(VOLUME_CHANNELS, SIGMAS)
    whole = compute_features(stack, names, rgb=False).reshape(*stack.shape, len(names))
    tiles = list(feature_blocks(stack, names, rgb=False, block_bytes=1))
    assert [(p.stop, r.start, c.start) for (p, r, c), _ in tiles] == [
        (16, y, x) for y in range(0, 122, 32) for x in range(0, 114, 32)]
    for block, features in tiles:
        assert np.array_equal(features, whole[block].reshape(-1, len(names))), block
