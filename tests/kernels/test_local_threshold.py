"""kernels.local_threshold equals skimage.filters.threshold_local (mean, gaussian),
threshold_sauvola and threshold_niblack: to float rounding on the 2D fast path (so masks
differ only at pixels that close to the threshold), exactly where the reference runs."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters

from napari_maskprep.kernels.local_threshold import local_threshold_mask, local_threshold_surface

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


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.int64])
@pytest.mark.parametrize("method", ["mean", "niblack", "sauvola"])
def test_a_window_of_zeros_thresholds_at_zero(dtype, method):
    """OpenCV's running sums carried the rounding of the values before a zero background
    into its windows: their means came out +-1e-16 (float64) and Niblack's standard
    deviation +-1e-8, so with offset 0 up to half the zeros of the background were
    foreground (float64 mean: 194 of 672 pixels; float32 Niblack 219)."""
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1 if np.dtype(dtype).kind == "f" else 2**31 - 1, (40, 120))
    image = image.astype(dtype)
    image[10:30, 60:] = 0
    surface = local_threshold_surface(image, method, 9, 0.2)
    np.testing.assert_array_equal(surface[14:26, 64:], 0)  # windows of zeros only
    assert (surface[10:30, 60:] >= 0).all()  # the rest of the zeros have values nearby
    mask = local_threshold_mask(image, method, 9, 0.2, 0.0)
    np.testing.assert_array_equal(mask[10:30, 60:], 0)


@pytest.mark.parametrize("method", ["mean", "niblack", "sauvola"])
def test_a_window_of_zeros_in_a_volume_thresholds_at_zero(method):
    """In 3D SciPy's running sums did the same: 4732 of 9576 zeros foreground (mean)."""
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (12, 40, 120))
    image[:, 10:30, 60:] = 0
    surface = local_threshold_surface(image, method, 5, 0.2)
    np.testing.assert_array_equal(surface[:, 12:28, 62:], 0)
    np.testing.assert_array_equal(local_threshold_mask(image, method, 5, 0.2, 0.0)
                                  [:, 10:30, 60:], 0)


def _exact_surface(image, method, block_size, k):
    """Niblack's or the mean's surface from each window summed in exact arithmetic (the
    mean's border as scipy's "reflect", Niblack's as numpy's)."""
    half = block_size // 2
    padded = np.pad(image, half, mode="symmetric" if method == "mean" else "reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (block_size, block_size))
    surface = np.empty(image.shape)
    for at in np.ndindex(image.shape):
        values = [Fraction(v) for v in windows[at].ravel().tolist()]
        mean = sum(values) / len(values)
        variance = sum((v - mean) ** 2 for v in values) / len(values)
        surface[at] = float(mean) - k * math.sqrt(variance) if method == "niblack" else mean
    return surface


@pytest.mark.parametrize("method", ["mean", "niblack"])
def test_the_in_memory_surface_is_exact_to_the_bound_readme_states(method):
    """Running sums carry the rounding of every value they passed along a row and a
    column: a pixel's mean is exact to about 1e-15, Niblack's and Sauvola's standard
    deviation to about 1e-8, of the largest magnitude in the rows and columns its window
    spans. Beside 1e140 that is above 1e124: rows mixing it with 1e100 lose the 1e100."""
    rng = np.random.default_rng(3)
    image = rng.uniform(-1, 1, (24, 90)) * 1e100
    image[:, 5] = 1e140
    image[7, 40] = -1e120
    image[16:, 60:] = 2.5e100  # flat: no standard deviation
    block_size = 7
    surface = local_threshold_surface(image, method, block_size, 0.2)
    exact = _exact_surface(image, method, block_size, 0.2)
    magnitude = np.abs(image)
    rows = ndi.maximum_filter1d(magnitude.max(axis=1), block_size, mode="nearest")
    columns = ndi.maximum_filter1d(magnitude.max(axis=0), block_size, mode="nearest")
    largest = np.maximum(rows[:, None], columns[None, :])
    bound = 1e-15 if method == "mean" else 1e-8
    assert (np.abs(surface - exact) <= bound * largest).all()
    # Right of the 1e140 column the 1e100 windows are lost: the caveat is not idle.
    assert (np.abs(surface - exact)[:, 20:] > 1e99).any()
