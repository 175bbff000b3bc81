"""Pixels on their local threshold in exact arithmetic (every pixel of a linear ramp is its
window's mean) are decided exactly, not by rounding: the same mask in memory, in chunks of
any size, in horizontal stripes, and in every process and thread count."""

from __future__ import annotations

import hashlib
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.core import get_op
from napari_maskprep.engine import planes
from napari_maskprep.kernels.local_threshold import local_threshold_mask

from ..segment_images import as_dtype, nuclei_field
from .test_local_threshold import digest_in_a_process

# Methods whose threshold is the window's mean: Niblack's and Sauvola's at k 0.
_MEAN_METHODS = [("mean", "symmetric"), ("niblack", "reflect"), ("sauvola", "reflect")]

_SLOPES = {
    np.uint8: [(0, (1, 1, 2)), (40, (3, 5, 1))],
    np.uint16: [(0, (3, 7, 11)), (20000, (301, 97, 5))],
    np.int32: [(-70001, (1000003, 17, -5)), (5, (-3, 1, 2))],
    np.int64: [(2**50, (2**33 + 1, -7, 3)), (-(2**60), (12345, 678, 9))],
    np.float32: [(0.0, (0.01, 0.03, 0.05)), (0.5, (1e-3, -2.5e-4, 0.125)), (1.0, (3.0, 1.0, 2.0))],
    np.float64: [(0.0, (0.01, 0.03, 0.05)), (0.2, (0.1, 0.7, -0.3)), (1e-3, (1e-5, 3e-7, 1e-4)),
                 (-7.0, (3.0, 1.0, 2.0))],
}


def _ramp(shape, dtype, start, slopes):
    """``start + sum(slope * index)`` along each axis, rounded once to ``dtype``."""
    if np.dtype(dtype).kind == "f":
        value = np.full(shape, start, np.float64)
        for axis, index in enumerate(np.indices(shape)):
            value += slopes[axis] * index
        return value.astype(dtype)
    value = np.full(shape, start, np.int64)
    for axis, index in enumerate(np.indices(shape)):
        value += slopes[axis] * index
    return value.astype(dtype)


def _exact_margins(image, block_size, border):
    """Each pixel's value less its window's mean, in Fractions."""
    padded = np.pad(image, block_size // 2, mode=border)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (block_size,) * image.ndim)
    margins = np.empty(image.shape, object)
    for at in np.ndindex(image.shape):
        values = windows[at].ravel().tolist()
        margins[at] = Fraction(image[at].item()) - sum(map(Fraction, values)) / len(values)
    return margins


def _exact_mean_mask(image, block_size, offset, border, margins=None):
    """``image > mean - offset`` with each window summed in Fractions."""
    if margins is None:
        margins = _exact_margins(image, block_size, border)
    return (margins > -Fraction(offset)).astype(np.uint8)


@pytest.mark.parametrize("dtype", list(_SLOPES))
@pytest.mark.parametrize(("shape", "block_size"), [((12, 15), 3), ((12, 15), 5), ((12, 15), 9),
                                                   ((7, 13), 15), ((4, 6, 7), 3),
                                                   ((4, 6, 7), 5)])
def test_a_ramp_thresholds_at_its_window_mean_exactly(dtype, shape, block_size):
    """On a ramp each pixel equals its window's mean (to the ramp's own rounding), and
    OpenCV's and SciPy's running sums and the mean's division decided it by their
    rounding (block 5, offset 0, 180 pixels): the float64 ramp 0.01/0.03 differed from
    exact arithmetic at 42 pixels by the mean, 35 by Niblack at k 0, float32's at 37 by the
    mean, an int64 ramp (2**33 + 1)/-7 from 2**50 at 15 and 10."""
    for start, slopes in _SLOPES[dtype]:
        image = _ramp(shape, dtype, start, slopes[-len(shape):])
        margins = {border: _exact_margins(image, block_size, border)
                   for border in ("symmetric", "reflect")}
        for offset in (0.0, 1.0, -0.5, 0.01):
            for method, border in _MEAN_METHODS:
                want = _exact_mean_mask(image, block_size, offset, border, margins[border])
                got = local_threshold_mask(image, method, block_size, 0.0, offset)
                np.testing.assert_array_equal(got, want, err_msg=f"{method} {slopes} {offset}")
                dark = local_threshold_mask(image, method, block_size, 0.0, offset, dark=True)
                np.testing.assert_array_equal(dark, 1 - want)


def test_a_window_spanning_tiny_and_huge_values_thresholds_exactly():
    """Limbs from 2**-1074 to 1.7e308: a mean no float holds, and sums past float64's
    range (inf, NaN), decided all the same, without a warning."""
    image = np.array([[1e300, 5e-324, 3.0, -1e-300, 0.0], [0.1, 1e-310, 2.0, 7.0, 1.7e308],
                      [5e-324, 0.0, -1e300, 4.0, 1e-5], [1.0, 1.7e308, 1.7e308, 2e-323, 3.0]])
    for data in (image, np.stack([image, -image[::-1], image])):
        for offset in (0.0, 5e-324, -1e299, 1.7e308):
            for method, border in _MEAN_METHODS:
                np.testing.assert_array_equal(
                    local_threshold_mask(data, method, 3, 0.0, offset),
                    _exact_mean_mask(data, 3, offset, border))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(200, 230), (5, 64, 90)])
def test_the_few_ties_of_a_real_field_are_decided_from_their_own_windows(dtype, shape):
    """A real field whose float sums decide every pixel but the 12 x 14 patch of quarters
    (ties): those are decided exactly from their own windows, as the whole image's would."""
    field = as_dtype(nuclei_field()[:shape[-2], :shape[-1]], dtype)
    image = np.broadcast_to(field, shape).copy()
    image[..., 40:52, 60:74] = np.arange(168).reshape(12, 14) % 3 * 0.25
    around = (slice(None),) * (len(shape) - 2) + (slice(32, 60), slice(52, 82))
    block_size = 5 if len(shape) == 2 else 3  # few enough undecided windows to gather
    for method, border in _MEAN_METHODS:
        got = local_threshold_mask(image, method, block_size, 0.0, 0.0)
        want = _exact_mean_mask(image[..., 30:62, 50:84], block_size, 0.0, border)
        np.testing.assert_array_equal(got[around], want[..., 2:-2, 2:-2])


def _tiled_images():
    """Ramps of each dtype and a real fluorescence field in uint16, float32 and float64."""
    field = nuclei_field()[:300, :530]
    images = {}
    for dtype, ramps in _SLOPES.items():
        start, slopes = ramps[1]
        images[np.dtype(dtype).name] = _ramp((300, 530), dtype, start, slopes[:2])
    images.update({f"field {np.dtype(dtype).name}": as_dtype(field, dtype)
                   for dtype in (np.uint16, np.float32, np.float64)})
    images["float64 stack"] = _ramp((5, 120, 270), np.float64, 0.2, (0.3, 0.1, 0.7))
    return images


def _recipes():
    """Each method; at block 5 a window of the float64 ramp 0.1/0.7 has Sauvola's
    deviation R (1), on its threshold at any k."""
    return {f"{method} k={k} block {block_size}": mp.Recipe(steps=[{
        "op": "segment.local_threshold",
        "params": {"method": method, "block_size": block_size, "k": k, "offset": 0.0}}])
        for method, k, block_size in [("mean", 0.0, 9), ("niblack", 0.0, 9), ("sauvola", 0.0, 9),
                                      ("niblack", 0.2, 9), ("sauvola", 0.2, 5),
                                      ("gaussian", 0.0, 9)]}


@pytest.mark.parametrize("name", list(_tiled_images()))
def test_ramps_and_a_real_field_threshold_the_same_in_chunks(name):
    """Running sums round by where a chunk's rows start: of 159000 pixels, block 9, chunks
    of 64, a float64 ramp 0.1/0.7 differed between memory and chunks at 26923 by the mean
    (29310 by Niblack and Sauvola at k 0), an int64 ramp at 9644 (18162), the real field in
    float64 at 55 (59); Niblack's (k 0.2) of the int64 ramp at 76472, Sauvola's (k 0.2,
    block 5, windows of deviation R) of the float64 ramp at 59817."""
    image = _tiled_images()[name]
    for label, recipe in _recipes().items():
        in_memory = recipe.run(image)
        for chunks in (64, 100, 257):
            tiled = recipe.run(da.from_array(image, chunks=chunks)).compute()
            np.testing.assert_array_equal(tiled, in_memory, err_msg=f"{label} {chunks}")


def _striped(image, recipe, count):
    """The recipe's one step run by ``engine.planes`` in ``count`` horizontal stripes on
    threads, each with the halo of its window, as a striped op would be."""
    spec = get_op("segment.local_threshold")
    return planes._run_in_stripes(spec, image, spec.check_params(recipe.steps[0].params), count)


def _striped_images():
    """Both ramps of each dtype, the real field in five dtypes, and the float64 field with
    its left columns tiny (below 1e-154: thresholded scaled by 2**600, window by window)."""
    field = nuclei_field()[:300, :530]
    images = {f"ramp {np.dtype(dtype).name} {start}": _ramp((300, 530), dtype, start, slopes[:2])
              for dtype, ramps in _SLOPES.items() for start, slopes in ramps}
    images.update({f"field {np.dtype(dtype).name}": as_dtype(field, dtype)
                   for dtype in (np.uint8, np.uint16, np.int32, np.float32, np.float64)})
    tiny = as_dtype(field, np.float64)
    tiny[:, :200] = np.ldexp(tiny[:, :200], -600)
    images["field float64 tiny and ordinary"] = tiny
    return images


@pytest.mark.parametrize("name", list(_striped_images()))
def test_stripes_threshold_as_the_whole_image(name):
    """Each window is summed exactly or in one order of its own, and the Gaussian's
    columns stay where they are: stripes whose halo is the window's give the whole image's
    mask bit for bit, each method and dtype (block 35: the Gaussian's halo of 23 rows)."""
    image = _striped_images()[name]
    recipes = {**_recipes(), **{f"{method} block 35": mp.Recipe(steps=[{
        "op": "segment.local_threshold",
        "params": {"method": method, "block_size": 35, "k": 0.2, "offset": 1.0}}])
        for method in ("mean", "niblack", "sauvola", "gaussian")}}
    for label, recipe in recipes.items():
        whole = recipe.run(image)
        for count in (2, 3):
            np.testing.assert_array_equal(_striped(image, recipe, count), whole,
                                          err_msg=f"{label} {count}")


_PROCESS_SCRIPT = """
import os
import cv2
cv2.setNumThreads(int(os.environ["MASKPREP_TEST_THREADS"]))
from tests.kernels.test_local_threshold_ties import _digest
print(_digest())
"""


def _digest() -> str:
    """sha256 of the masks of the ``_tiled_images`` that differed, in memory, in chunks of
    100 and (2D) in two stripes on threads; 'differs' where they differ."""
    digest = hashlib.sha256()
    images = _tiled_images()
    for name in ("int64", "float64", "field float64", "float64 stack"):
        image = images[name]
        for recipe in _recipes().values():
            in_memory = np.asarray(recipe.run(image))
            tiled = recipe.run(da.from_array(image, chunks=100)).compute()
            if not np.array_equal(tiled, in_memory):
                return "differs"
            if image.ndim == 2 and not np.array_equal(_striped(image, recipe, 2), in_memory):
                return "differs"
            digest.update(in_memory.tobytes())
    return digest.hexdigest()


def test_ties_threshold_the_same_in_every_process_and_thread_count():
    """Two processes, on one thread and on two, and this one: the same masks, in memory,
    in chunks and in stripes alike."""
    digests = {digest_in_a_process(_PROCESS_SCRIPT, threads, timeout=300)
               for threads in (1, 2)} | {_digest()}
    assert len(digests) == 1 and "differs" not in digests, digests
