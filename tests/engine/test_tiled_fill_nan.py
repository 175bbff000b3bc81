"""preprocess.fill_nan in chunks equals the in-memory run bit for bit, on a real float
mosaic with the NaN borders of a registration (whole chunks, the probed corner included,
of NaN) and infinities; a float median too, from more passes over the chunks, none of
which holds more than a chunk."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback

import napari_maskprep as mp
from napari_maskprep.core.errors import RecipeError
from napari_maskprep.engine.tiled import run_tiled
from napari_maskprep.io import read_image
from napari_maskprep.kernels import rank_select

from ..conftest import DATA, pairs


@pytest.fixture(scope="module")
def bordered() -> np.ndarray:
    """Two real 520x696 uint16 nuclei fields side by side in float64 (1040x696), with a
    NaN border 300 px high and 40 px wide, and a few infinities."""
    fields = [read_image(image) for image, _ in pairs(DATA, "bbbc039_fluo_nuclei")[:2]]
    image = np.vstack(fields).astype(np.float64) / 7.0
    image[:300], image[:, -40:] = np.nan, np.nan
    image[500, 100], image[900, 10], image[700, 400] = np.inf, -np.inf, np.nan
    return image


def _recipe(steps: list[tuple[str, dict]]) -> mp.Recipe:
    return mp.Recipe(steps=[{"op": op, "params": params} for op, params in steps])


@pytest.mark.parametrize("fill", ["minimum", "maximum", "zero"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunks", [256, (333, 517)])
def test_fill_then_blur_in_chunks_equals_memory(bordered, fill, dtype, chunks):
    image = bordered.astype(dtype)
    recipe = _recipe([("preprocess.fill_nan", {"fill": fill}),
                      ("preprocess.gaussian", {"sigma": 2.0})])
    want = recipe.run(image)
    got = run_tiled(recipe.steps, da.from_array(image, chunks=chunks)).compute()
    assert got.dtype == want.dtype == dtype
    np.testing.assert_array_equal(got, want)
    filled = run_tiled(recipe.steps[:1], da.from_array(image, chunks=chunks)).compute()
    value = {"minimum": np.nanmin, "maximum": np.nanmax, "zero": lambda a: 0}[fill](
        np.where(np.isinf(image), np.nan, image))
    np.testing.assert_array_equal(filled, np.where(np.isfinite(image), image, value))


@pytest.mark.parametrize("chunks", [(8, 32, 32), (3, 20, 50)])
def test_a_stack_in_bricks_equals_memory(bordered, chunks):
    stack = bordered[250:1010:50, 300:400].reshape(16, 100, -1)[:, :, :60].astype(np.float32)
    stack = np.ascontiguousarray(stack)
    recipe = _recipe([("preprocess.fill_nan", {"fill": "maximum"})])
    np.testing.assert_array_equal(
        run_tiled(recipe.steps, da.from_array(stack, chunks=chunks)).compute(),
        recipe.run(stack))


def _bits(a: np.ndarray) -> np.ndarray:
    """``a``'s bits: -0.0 and 0.0 differ."""
    return a.view(f"u{a.dtype.itemsize}")


def _median_image(seed: int, shape: tuple[int, ...], dtype: str, odd: bool) -> np.ndarray:
    """Ties, negatives, -0.0 and 0.0 (a third of the values: the median is often a zero),
    NaN, +inf and -inf, and a NaN band as wide as a chunk; an odd or even finite count."""
    rng = np.random.default_rng(seed)
    image = rng.choice([-0.0, 0.0, -0.0, 1.0, -1.0, 2.5, -3.25, 1e-3], shape)
    image += np.where(rng.random(shape) < 0.3, rng.normal(0.0, 5.0, shape), 0.0)
    image = image.astype(dtype)
    holes = rng.random(shape)
    image[holes < 0.1], image[holes > 0.97], image[holes > 0.99] = np.nan, np.inf, -np.inf
    stack = image.ndim == 3 and shape[-1] != 3
    image[(slice(None),) * stack + (slice(0, 10),)] = np.nan  # chunks without a finite value
    finite = np.flatnonzero(np.isfinite(image))
    if (finite.size % 2 == 1) != odd:
        image.flat[finite[-1]] = np.nan
    return image


@pytest.mark.parametrize("gather_max", [0, rank_select.GATHER_MAX])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("odd", [False, True])
@pytest.mark.parametrize(("shape", "chunks"), [((61, 47), 10), ((61, 47), (25, 47)),
                                               ((61, 47), (61, 47)), ((4, 30, 21), (3, 10, 8)),
                                               ((40, 33, 3), (10, 11, 3))])
def test_a_float_median_in_chunks_equals_memory_bit_for_bit(monkeypatch, gather_max, dtype,
                                                            odd, shape, chunks):
    """Digit passes (16 bits each) or the values gathered at once, alike."""
    monkeypatch.setattr(rank_select, "GATHER_MAX", gather_max)
    recipe = _recipe([("preprocess.fill_nan", {"fill": "median"})])
    for seed in range(3):
        image = _median_image(seed, shape, dtype, odd)
        want = recipe.run(image)
        got = run_tiled(recipe.steps, da.from_array(image, chunks=chunks)).compute()
        assert got.dtype == want.dtype == ("float32" if dtype == "float16" else dtype)
        np.testing.assert_array_equal(_bits(got), _bits(want))
        finite = image[np.isfinite(image)].astype(want.dtype)  # float16 is read as float32
        assert (finite.size % 2 == 1) == odd
        assert _bits(got.flat[0]) == _bits(np.median(finite))  # a NaN pixel, filled


def test_a_median_of_zeros_is_zero_however_many_are_negative():
    """The middle values -0.0 and 0.0: numpy's median (a mean, summed from +0.0) is 0.0,
    whichever its partition put there; the chunks' search finds -0.0 first."""
    image = np.array([[np.nan, -0.0, -0.0, 0.0], [-0.0, np.nan, 0.0, -5.0]], np.float32)
    recipe = _recipe([("preprocess.fill_nan", {"fill": "median"})])
    want = recipe.run(image)
    got = run_tiled(recipe.steps, da.from_array(image, chunks=(1, 2))).compute()
    np.testing.assert_array_equal(_bits(got), _bits(want))
    assert _bits(got[0, 0]) == _bits(np.float32(0.0))


@pytest.mark.parametrize(("fill", "zero"), [("minimum", -0.0), ("maximum", 0.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_smallest_or_largest_of_signed_zeros_is_one_zero_in_chunks_too(fill, zero, dtype):
    """numpy's min and max of -0.0 and 0.0 return either, by their order and the dtype's
    vector loop; the chunks' extremes were taken in chunk order, so a float64 image filled
    with -0.0 in memory was filled with 0.0 tiled. -0.0 now counts below 0.0, alike."""
    image = np.array([[np.nan, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0, -0.0]], dtype)
    recipe = _recipe([("preprocess.fill_nan", {"fill": fill})])
    want = recipe.run(image)
    assert _bits(want[0, 0]) == _bits(np.array(zero, dtype))
    got = recipe.run(da.from_array(image, chunks=(1, 5))).compute()
    np.testing.assert_array_equal(_bits(got), _bits(want))


def test_a_median_runs_tiled_without_an_array_larger_than_a_chunk(monkeypatch):
    """No task of the run, nor of writing its result, makes more than a chunk: the median
    is found from the chunks' summaries, in two digit passes for float32 past the first."""
    monkeypatch.setattr(rank_select, "GATHER_MAX", 0)
    image = _median_image(4, (400, 300), "float32", odd=False)
    chunk_bytes = 100 * 75 * 4
    largest = [0]

    def posttask(key, result, dsk, state, worker_id):
        if isinstance(result, np.ndarray) and result.dtype != object:
            largest[0] = max(largest[0], result.nbytes)

    searches = []
    summary = rank_select.RankSearch.summary

    def counted(search, chunk):
        searches.append((search.known, chunk.shape))
        return summary(search, chunk)

    monkeypatch.setattr(rank_select.RankSearch, "summary", counted)
    recipe = _recipe([("preprocess.fill_nan", {"fill": "median"})])
    with Callback(posttask=posttask):
        out = run_tiled(recipe.steps, da.from_array(image, chunks=(100, 75)))
        got = np.empty(image.shape, out.dtype)
        da.store(out, got)
    assert 0 < largest[0] <= chunk_bytes
    assert sorted(searches) == [(known, (100, 75)) for known in (0, 16) for _ in range(16)]
    np.testing.assert_array_equal(_bits(got), _bits(recipe.run(image)))


def test_an_integer_median_has_nothing_to_fill():
    whole = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    np.testing.assert_array_equal(
        run_tiled(_recipe([("preprocess.fill_nan", {"fill": "median"})]).steps,
                  da.from_array(whole, chunks=32)).compute(), whole)


@pytest.mark.parametrize("fill", ["minimum", "median"])
def test_an_image_without_a_finite_pixel_is_the_in_memory_one_line_error(fill):
    image = np.full((100, 120), np.nan, np.float32)
    image[5, 5] = np.inf
    recipe = _recipe([("preprocess.fill_nan", {"fill": fill}), ("preprocess.gaussian", {})])
    with pytest.raises(RecipeError) as info:
        run_tiled(recipe.steps, da.from_array(image, chunks=50))
    message = (f"preprocess.fill_nan: every pixel is NaN or infinite, so there is no {fill} "
               "to fill with; accepted: an image with a finite pixel, or fill='zero'")
    assert str(info.value) == f"step 1 (preprocess.fill_nan): {message}"
    with pytest.raises(RecipeError) as info:
        recipe.run(image)
    assert str(info.value) == f"step 1 (preprocess.fill_nan): {message}"
