"""preprocess.fill_nan in chunks equals the in-memory run bit for bit, on a real float
mosaic with the NaN borders of a registration (whole chunks, the probed corner included,
of NaN) and infinities; a float median is refused before any work."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.core.errors import RecipeError
from napari_maskprep.engine.tiled import run_tiled
from napari_maskprep.io import read_image

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


def test_a_float_median_is_refused_before_any_pass_over_the_chunks():
    image = da.from_array(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64),
                          chunks=32)
    with pytest.raises(RecipeError) as info:
        run_tiled(_recipe([("preprocess.fill_nan", {"fill": "median"})]).steps, image)
    assert str(info.value) == (
        "step 1 (preprocess.fill_nan): the median of a float image needs all its finite "
        "values at once; a tiled run fills with 'minimum', 'maximum' or 'zero' (or run it "
        "in memory)")
    whole = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)  # an integer one: no NaN
    np.testing.assert_array_equal(
        run_tiled(_recipe([("preprocess.fill_nan", {"fill": "median"})]).steps,
                  da.from_array(whole, chunks=32)).compute(), whole)


def test_an_image_without_a_finite_pixel_is_the_in_memory_one_line_error():
    image = np.full((100, 120), np.nan, np.float32)
    recipe = _recipe([("preprocess.fill_nan", {}), ("preprocess.gaussian", {})])
    with pytest.raises(RecipeError) as info:
        run_tiled(recipe.steps, da.from_array(image, chunks=50))
    message = ("preprocess.fill_nan: every pixel is NaN or infinite, so there is no minimum "
               "to fill with; accepted: an image with a finite pixel, or fill='zero'")
    assert str(info.value) == f"step 1 (preprocess.fill_nan): {message}"
    with pytest.raises(RecipeError) as info:
        recipe.run(image)
    assert str(info.value) == f"step 1 (preprocess.fill_nan): {message}"
