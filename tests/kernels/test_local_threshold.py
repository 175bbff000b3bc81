"""kernels.local_threshold equals skimage.filters.threshold_local (mean, gaussian),
threshold_sauvola and threshold_niblack: to float rounding on the 2D fast path (so masks
differ only at pixels that close to the threshold), exactly where the reference runs."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import filters

from napari_maskprep.kernels.local_threshold import local_threshold_surface

from ..segment_images import as_dtype, nuclei_field

METHODS = ["sauvola", "niblack", "mean", "gaussian"]


@pytest.fixture(scope="module")
def nuclei() -> np.ndarray:
    return nuclei_field()


def reference_local_surface(image, method, block_size, k):
    if method in ("mean", "gaussian"):
        return filters.threshold_local(image, block_size, method=method)
    function = filters.threshold_sauvola if method == "sauvola" else filters.threshold_niblack
    return function(image, window_size=block_size, k=k)


def assert_masks_differ_only_near(image, surface, reference):
    near = np.abs(image.astype(np.float64) - reference) <= 1e-3
    for compare in (np.greater, np.less_equal):
        differs = compare(image, surface) != compare(image, reference)
        assert not np.any(differs & ~near)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("block_size", [3, 31])
def test_fast_surface_equals_reference(nuclei, method, dtype, block_size):
    image = as_dtype(nuclei[100:356, 100:420], dtype)
    surface = local_threshold_surface(image, method, block_size, 0.2)
    reference = reference_local_surface(image, method, block_size, 0.2)
    # float32 sums of the image's values: within 1e-6 of its range.
    np.testing.assert_allclose(surface, reference, rtol=0, atol=1e-6 * max(1, image.max()))
    assert_masks_differ_only_near(image, surface, reference)


@pytest.mark.parametrize("method", METHODS)
def test_random_2d_and_3d(method):
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (48, 64)).astype(np.uint8)
    surface = local_threshold_surface(image, method, 7, -0.1)
    assert_masks_differ_only_near(image, surface, reference_local_surface(image, method, 7, -0.1))
    # 3D runs the reference itself, but for the exact mean of 8- and 16-bit images.
    volume = rng.integers(0, 256, (6, 20, 24)).astype(np.uint8)
    surface = local_threshold_surface(volume, method, 5, 0.2)
    reference = reference_local_surface(volume, method, 5, 0.2)
    if method == "mean":
        np.testing.assert_allclose(surface, reference, rtol=0, atol=1e-12)
        assert_masks_differ_only_near(volume, surface, reference)
    else:
        np.testing.assert_array_equal(surface, reference)


@pytest.mark.parametrize(("shape", "block_size"), [((10, 16), 3), ((10, 16), 11),
                                                   ((37, 61), 31), ((5, 9, 12), 7)])
def test_the_mean_of_integers_is_the_same_from_any_crop_holding_the_window(shape, block_size):
    """Running sums round by where a row starts: a tiled run's chunks differed from the
    whole image by a pixel in a flat area, whose value equals its window's mean."""
    image = np.random.default_rng(7).integers(0, 2, shape).astype(np.uint8) * 255
    whole = local_threshold_surface(image, "mean", block_size, 0)
    half = block_size // 2
    cut = max(shape[-1] // 2, half)
    crop = image[..., cut - half:]
    np.testing.assert_array_equal(local_threshold_surface(crop, "mean", block_size, 0)
                                  [..., half:], whole[..., cut:])
