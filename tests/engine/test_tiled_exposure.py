"""Equalisation and the percentile stretch in chunks equal the in-memory ops bit for bit:
the value counts of the chunks add up to the image's, which decide the look-up table or
the percentiles once (per channel for RGB)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.core.errors import MaskprepWarning, RecipeError
from napari_maskprep.engine.tiled import run_tiled
from napari_maskprep.io import read_image

from ..conftest import DATA, pairs


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    """Four real 520x696 uint16 nuclei fields side by side: 1040x1392."""
    fields = [read_image(image) for image, _ in pairs(DATA, "bbbc039_fluo_nuclei")[:4]]
    return np.block([[fields[0], fields[1]], [fields[2], fields[3]]])


@pytest.fixture(scope="module")
def rgb_mosaic() -> np.ndarray:
    """Eight real brightfield RGB fields, 2 x 4: 512x1280x3 uint8."""
    fields = [read_image(image)[:256, :320, :3]
              for image, _ in pairs(DATA, "dsb2018_brightfield_nuclei")[:8]]
    return np.concatenate([np.concatenate(fields[:4], axis=1),
                           np.concatenate(fields[4:], axis=1)], axis=0)


def _same_tiled(steps: list[tuple[str, dict]], image: np.ndarray, chunks) -> None:
    recipe = mp.Recipe(steps=[{"op": op, "params": params} for op, params in steps])
    want = recipe.run(image)
    got = run_tiled(recipe.steps, da.from_array(image, chunks=chunks)).compute()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


_DTYPES = {
    "uint16": lambda m: m,
    "uint8": lambda m: (m >> 4).clip(0, 255).astype(np.uint8),
    "int16": lambda m: (m.astype(np.int32) * 9 - 20_000).clip(-32768, 32767).astype(np.int16),
    "int8": lambda m: ((m >> 4).astype(np.int16) - 128).clip(-128, 127).astype(np.int8),
}


@pytest.mark.parametrize("dtype", sorted(_DTYPES))
@pytest.mark.parametrize("chunks", [256, (300, 512), (511, 333)])
def test_equalize_and_rescale_in_chunks_equal_memory(mosaic, dtype, chunks):
    image = _DTYPES[dtype](mosaic)
    for steps in ([("preprocess.equalize", {})],
                  [("preprocess.rescale", {})],
                  [("preprocess.rescale", {"low": 0.0, "high": 100.0})],
                  [("preprocess.rescale", {"low": 37.3, "high": 99.97})],
                  [("preprocess.gaussian", {"sigma": 2.0}), ("preprocess.rescale", {}),
                   ("preprocess.equalize", {}), ("segment.auto_threshold", {})],
                  [("preprocess.fill_nan", {"fill": "median"}), ("preprocess.equalize", {})]):
        _same_tiled(steps, image, chunks)


@pytest.mark.parametrize("chunks", [(256, 256, 3), (200, 301, 1), (512, 512, 2)])
def test_rescale_of_rgb_stretches_each_channel_by_its_own_percentiles(rgb_mosaic, chunks):
    _same_tiled([("preprocess.rescale", {"low": 2.0, "high": 98.0})], rgb_mosaic, chunks)
    _same_tiled([("preprocess.rescale", {}), ("preprocess.to_gray", {}),
                 ("preprocess.equalize", {})], rgb_mosaic, chunks)


def test_statistics_of_a_grey_op_on_rgb_chunks_split_across_channels(rgb_mosaic):
    """A grey op takes the image's luminance: its counts come from chunks holding all three
    channels, not from each channel's chunk alone."""
    for op in ("preprocess.equalize", "segment.auto_threshold"):
        with pytest.warns(MaskprepWarning, match="converted to grey"):
            _same_tiled([(op, {})], rgb_mosaic, (256, 320, 1))


@pytest.mark.parametrize("chunks", [(8, 32, 32), (5, 20, 41)])
def test_3d_volume_in_bricks(chunks):
    volume = read_image(next((DATA / "stardist_synthetic_3d" / "images").glob("*.tif")))
    _same_tiled([("preprocess.equalize", {})], volume, chunks)
    _same_tiled([("preprocess.rescale", {"low": 5.0, "high": 99.5})], volume, chunks)


def test_a_percentile_between_two_values_in_different_chunks_is_interpolated():
    image = np.zeros((4, 4), np.uint8)
    image[3, 3] = 200  # rank 15 of 16; the 99th percentile lies 0.85 of the way to it
    got = run_tiled([mp.recipe.Step("preprocess.rescale", {"low": 0.0, "high": 99.0})],
                    da.from_array(image, chunks=2)).compute()
    np.testing.assert_array_equal(got, mp.apply("preprocess.rescale", image, low=0.0,
                                                high=99.0))
    assert got[3, 3] == 255 and np.percentile(image, 99) == pytest.approx(170.0)


def test_a_constant_image_warns_once_and_is_unchanged():
    image = da.full((64, 64), 7, dtype=np.uint16, chunks=32)
    with pytest.warns(MaskprepWarning, match=r"preprocess.equalize: the image is constant "
                                             r"\(7\)") as caught:
        got = run_tiled([mp.recipe.Step("preprocess.equalize", {})], image)
    assert len(caught) == 1
    np.testing.assert_array_equal(got.compute(), np.full((64, 64), 7, np.uint16))
    with pytest.warns(MaskprepWarning, match="percentiles 1.0 and 99.0 are the same value"):
        got = run_tiled([mp.recipe.Step("preprocess.rescale", {})], image)
    np.testing.assert_array_equal(got.compute(), np.zeros((64, 64), np.uint16))


@pytest.mark.parametrize("op", ["preprocess.equalize", "preprocess.rescale"])
def test_a_float_image_is_refused_in_one_line(op):
    image = da.from_array(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64),
                          chunks=32)
    with pytest.raises(RecipeError, match=rf"^step 1 \({op}\): a tiled run needs an 8- or "
                                          r"16-bit integer image here; got float32"):
        run_tiled([mp.recipe.Step(op, {})], image)


@pytest.mark.parametrize("dtype", ["uint16", "uint8"])
@pytest.mark.parametrize("chunks", [256, (300, 512), (511, 333)])
def test_clahe_in_chunks_equals_opencvs_on_the_whole_image(mosaic, dtype, chunks):
    """OpenCV's regions span chunks (tiles=8: 130 x 174 px; 13 does not divide the sides,
    so OpenCV pads the image by reflection first), and a pixel's output blends the tables
    of the four regions around it."""
    image = _DTYPES[dtype](mosaic)
    for params in ({}, {"clip_limit": 0.0, "tiles": 3}, {"clip_limit": 5.0, "tiles": 13},
                   {"tiles": 1}):
        _same_tiled([("preprocess.clahe", params)], image, chunks)
    _same_tiled([("preprocess.gaussian", {"sigma": 1.5}), ("preprocess.clahe", {}),
                 ("segment.auto_threshold", {}), ("refine.fill_holes", {})], image, chunks)


def test_clahe_of_a_constant_image_warns_once_and_is_unchanged():
    image = da.full((96, 80), 3, dtype=np.uint8, chunks=(40, 32))
    with pytest.warns(MaskprepWarning, match=r"preprocess.clahe: the image is constant "
                                             r"\(3\)") as caught:
        got = run_tiled([mp.recipe.Step("preprocess.clahe", {})], image)
    assert len(caught) == 1
    np.testing.assert_array_equal(got.compute(), np.full((96, 80), 3, np.uint8))


def test_clahe_refuses_other_dtypes_and_too_many_16_bit_tiles_before_any_pass():
    image = da.zeros((256, 256), dtype=np.uint16, chunks=64)
    with pytest.raises(RecipeError, match=r"^step 1 \(preprocess.clahe\): a tiled run keeps "
                                          r"the histograms of all tiles x tiles regions at "
                                          r"once: on a 16-bit image it takes tiles up to 22; "
                                          r"got tiles=23$"):
        run_tiled([mp.recipe.Step("preprocess.clahe", {"tiles": 23})], image)
    with pytest.raises(RecipeError, match=r"^step 2 \(preprocess.clahe\): a tiled run needs a "
                                          r"uint8 or uint16 image here; got float32"):
        run_tiled([mp.recipe.Step("preprocess.gaussian", {}),
                   mp.recipe.Step("preprocess.clahe", {})], image.astype(np.float32))


def test_clahe_refusing_a_bool_image_names_bool_not_the_float32_it_would_be_read_as():
    image = da.zeros((256, 256), dtype=bool, chunks=64)
    with pytest.raises(RecipeError) as info:
        run_tiled([mp.recipe.Step("preprocess.clahe", {}),
                   mp.recipe.Step("segment.auto_threshold", {})], image)
    assert str(info.value) == ("step 1 (preprocess.clahe): a tiled run needs a uint8 or uint16 "
                               "image here; got bool (run it in memory, or convert the image "
                               "first)")
