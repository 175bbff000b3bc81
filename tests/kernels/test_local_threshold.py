"""kernels.local_threshold equals skimage.filters.threshold_local (mean, gaussian),
threshold_sauvola and threshold_niblack: to float rounding on the 2D fast path (so masks
differ only at pixels that close to the threshold), exactly where the reference runs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters

import napari_maskprep as mp
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


def _rounding_test_image():
    rng = np.random.default_rng(3)
    image = rng.uniform(-1, 1, (24, 90)) * 1e100
    image[:, 5] = 1e140
    image[7, 40] = -1e120
    image[16:, 60:] = 2.5e100  # flat: no standard deviation
    return image


def test_the_in_memory_mean_surface_is_exact_to_the_bound_readme_states():
    """Running sums carry the rounding of every value they passed along a row and a
    column: a pixel's mean surface is exact to about 1e-15 of the largest magnitude in the
    rows and columns its window spans. Beside 1e140 that is above 1e124: rows mixing it
    with 1e100 lose the 1e100 (the mean's mask is decided exactly all the same)."""
    image = _rounding_test_image()
    block_size = 7
    surface = local_threshold_surface(image, "mean", block_size, 0.2)
    exact = _exact_surface(image, "mean", block_size, 0.2)
    magnitude = np.abs(image)
    rows = ndi.maximum_filter1d(magnitude.max(axis=1), block_size, mode="nearest")
    columns = ndi.maximum_filter1d(magnitude.max(axis=0), block_size, mode="nearest")
    largest = np.maximum(rows[:, None], columns[None, :])
    assert (np.abs(surface - exact) <= 1e-15 * largest).all()
    # Right of the 1e140 column the 1e100 windows are lost: the caveat is not idle.
    assert (np.abs(surface - exact)[:, 20:] > 1e99).any()


def test_niblack_is_exact_to_the_bound_readme_states_of_its_own_window():
    """Niblack's and Sauvola's window sums ran along rows and columns, so 1e140 in a row
    left its rounding (1e124) in the 1e100 windows after it. Each window is now summed on
    its own: the standard deviation is exact to about 1e-8 of the largest magnitude in the
    window itself."""
    image = _rounding_test_image()
    block_size = 7
    surface = local_threshold_surface(image, "niblack", block_size, 0.2)
    exact = _exact_surface(image, "niblack", block_size, 0.2)
    largest = ndi.maximum_filter(np.abs(image), block_size, mode="mirror")
    assert (np.abs(surface - exact) <= 1e-8 * largest).all()


def _ramp_with_plateau(dtype, value, top, left):
    """A 14 x 18 ramp with a 9 x 11 plateau of ``value`` at ``(top, left)``."""
    rows, columns = np.indices((14, 18))
    step = 0.01 if np.dtype(dtype).kind == "f" else 3
    image = ((rows * 7 + columns * 5) % 17 + rows + columns).astype(np.float64) * step
    image = image.astype(dtype)
    image[top:top + 9, left:left + 11] = value
    return image


_PLATEAUS = {np.float32: [0.1, 0.3, 0.7, 0.9, 1.1], np.float64: [0.1, 0.3, 0.7, 0.9, 3.3],
             np.uint8: [77, 100, 201], np.uint16: [100, 3001, 50001],
             np.int32: [3001, 123457, -70001], np.int64: [3001, 123457, -70001]}


@pytest.mark.parametrize("dtype", list(_PLATEAUS))
@pytest.mark.parametrize("method", METHODS)
def test_a_window_of_one_value_thresholds_exactly(dtype, method):
    """Running sums and the mean's 1 / n rounded a plateau's means +-1 ulp off its value,
    Niblack's deviation to 1e-8 of it, and the Gaussian's weights do not sum to exactly 1,
    so pixels on their threshold (value > T false in exact arithmetic) were foreground by
    chance (2D, k 0.2: float64 Niblack 171 of these 700 pixels of windows of one value,
    float32 35; uint8 Gaussian 120 of 180). A window of one value now thresholds at
    exactly the value (Sauvola's at value * (1 - k)), in 2D and in 3D, wherever it lies."""
    block_size = 5
    reach = 3 if method == "gaussian" else 2
    k = 0.0 if method == "sauvola" else 0.2
    for value in _PLATEAUS[dtype]:
        for top, left in [(0, 0), (1, 2), (3, 5), (5, 7)]:
            image = _ramp_with_plateau(dtype, value, top, left)
            inside = (slice(top + reach, top + 9 - reach), slice(left + reach, left + 11 - reach))
            for data, at in [(image, inside), (np.stack([image] * 3), (slice(None), *inside))]:
                surface = local_threshold_surface(data, method, block_size, k)
                np.testing.assert_array_equal(surface[at], float(dtype(value)))
                np.testing.assert_array_equal(
                    local_threshold_mask(data, method, block_size, k, 0.0)[at], 0)
    if method == "sauvola":  # not on its threshold where k is not 0
        image = _ramp_with_plateau(dtype, _PLATEAUS[dtype][0], 1, 2)
        np.testing.assert_array_equal(local_threshold_surface(image, method, 5, 0.2)[3:8, 4:11],
                                      float(dtype(_PLATEAUS[dtype][0])) * (1 - 0.2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_a_constant_image_is_background(dtype):
    value = dtype(0.3 if np.dtype(dtype).kind == "f" else 3001)
    image = np.full((64, 64), value)
    for method in METHODS:
        for k in (0.2, 0.0, -0.2):
            if method != "sauvola" or k <= 0:
                np.testing.assert_array_equal(
                    local_threshold_mask(image, method, 7, k, 0.0), np.zeros((64, 64)))


def test_a_plateau_beside_other_values_thresholds_as_in_exact_arithmetic():
    """Niblack (k 0.2) of float64 0.1 beside other values: all 16 pixels whose windows hold
    only 0.1 were foreground."""
    image = np.array([[0.49, 0.25, 0.72, 0.1, 0.1, 0.1, 0.1, 0.1],
                      [0.44, 0.48, 0.14, 0.1, 0.1, 0.1, 0.1, 0.1],
                      [0.4, 0.41, 0.22, 0.1, 0.1, 0.1, 0.1, 0.1],
                      [0.13, 0.58, 0.54, 0.1, 0.1, 0.1, 0.1, 0.1]])
    expected = np.array([[1, 0, 1, 0, 0, 0, 0, 0],
                         [1, 1, 0, 0, 0, 0, 0, 0],
                         [0, 1, 0, 0, 0, 0, 0, 0],
                         [0, 1, 1, 0, 0, 0, 0, 0]], np.uint8)
    np.testing.assert_array_equal(image > _exact_surface(image, "niblack", 3, 0.2), expected)
    np.testing.assert_array_equal(local_threshold_mask(image, "niblack", 3, 0.2, 0.0), expected)


def _plateau_in_noise(dtype, value):
    """90 x 120 noise holding a 57 x 80 plateau of ``value`` at (13, 21)."""
    scale = 1.0 if np.dtype(dtype).kind == "f" else 6000
    image = (np.random.default_rng(3).random((90, 120)) * scale).astype(dtype)
    image[13:70, 21:101] = value
    return image


_LOCAL_STEPS = [{"op": "segment.local_threshold",
                 "params": {"method": method, "block_size": 9, "k": k}}
                for method, k in [("niblack", 0.2), ("sauvola", 0.0), ("mean", 0.0),
                                  ("gaussian", 0.0)]]


@pytest.mark.parametrize(("dtype", "value"), [(np.float32, 0.3), (np.float64, 0.1),
                                              (np.uint16, 3001)])
def test_a_plateau_is_background_in_memory_and_in_chunks(dtype, value):
    """The windows of one value rounded by where a chunk's rows start: float64 Sauvola (k 0)
    differed at 975 to 2202 of 10800 pixels, chunks 32, 45 x 50, 17 x 120 and 90 x 23;
    float32 Niblack at 1221 to 1663, and its Gaussian thresholded all of the plateau."""
    image = _plateau_in_noise(dtype, value)
    for step in _LOCAL_STEPS:
        recipe = mp.Recipe(steps=[step])
        in_memory = recipe.run(image)
        # Windows of the Gaussian (radius 5) and of block_size 9 that hold only the value.
        np.testing.assert_array_equal(in_memory[18:65, 26:96], 0)
        for chunks in (32, (45, 50), (17, 120), (90, 23)):
            np.testing.assert_array_equal(
                recipe.run(da.from_array(image, chunks=chunks)).compute(), in_memory)


_DETERMINISM_SCRIPT = """
import hashlib, os, sys
import cv2
cv2.setNumThreads(int(os.environ["MASKPREP_TEST_THREADS"]))
import dask.array as da, numpy as np
import napari_maskprep as mp
from tests.kernels.test_local_threshold import _LOCAL_STEPS, _plateau_in_noise

digest = hashlib.sha256()
for dtype, value in [(np.float32, 0.3), (np.float64, 0.1), (np.uint16, 3001)]:
    image = _plateau_in_noise(dtype, value)
    for step in _LOCAL_STEPS:
        recipe = mp.Recipe(steps=[step])
        for data in (image, da.from_array(image, chunks=(45, 50))):
            mask = np.asarray(recipe.run(data))
            digest.update(mask.tobytes())
            print(int(mask[18:65, 26:96].sum()), end=" ")
print(digest.hexdigest())
"""


def digest_in_a_process(script: str, threads: int, timeout: float = 120) -> str:
    """What ``script`` prints, run in a new process on ``threads`` threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "MASKPREP_TEST_THREADS": str(threads), "PYTHONHASHSEED": str(threads)}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=root,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_plateaus_threshold_the_same_in_every_process_and_thread_count():
    """Each process, on one thread and on two, in memory and in chunks: the same masks,
    with no plateau pixel foreground."""
    digests = {digest_in_a_process(_DETERMINISM_SCRIPT, threads) for threads in (1, 2)}
    assert len(digests) == 1, digests
    counts = digests.pop().split()[:-1]
    assert counts == ["0"] * 24
