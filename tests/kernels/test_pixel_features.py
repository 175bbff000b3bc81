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
    compute_features,
    feature_blocks,
    feature_halo,
    feature_names,
    parse_feature_name,
)

from ..conftest import DATA, pairs
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
