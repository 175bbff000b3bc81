"""`maskprep run` of a float image with NaN borders (registration, stitching): a recipe
that fills them first runs; without the fill, the failure names the op that would."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

import napari_maskprep as mp
from napari_maskprep.cli import main
from napari_maskprep.core.errors import RecipeError

RECIPE = """\
maskprep: 1
steps:
- op: preprocess.fill_nan
  params: {fill: minimum}
- op: preprocess.gaussian
  params: {sigma: 1.0}
- op: segment.threshold
  params: {value: 10.0}
"""


def _nan_bordered() -> np.ndarray:
    image = np.full((40, 50), 3.0, np.float32)
    image[:5], image[:, -4:] = np.nan, np.nan
    image[20, 20] = 50.0
    return image


def test_gaussian_after_fill_nan_runs_on_an_image_with_nan_borders(tmp_path, capsys):
    image = _nan_bordered()
    tifffile.imwrite(tmp_path / "field.tif", image)
    recipe = tmp_path / "fill.maskprep.yaml"
    recipe.write_text(RECIPE)
    assert main(["run", str(recipe), str(tmp_path / "field.tif"), "-o", str(tmp_path / "out")]) == 0
    assert "1 written, 0 skipped (done before), 0 failed" in capsys.readouterr().err
    blurred = mp.apply("preprocess.gaussian", np.nan_to_num(image, nan=3.0), sigma=1.0)
    assert blurred[20, 20] > 10.0 > blurred[20, 21]
    want = np.zeros((40, 50), np.uint8)
    want[20, 20] = 1
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "field.tif"), want)


def test_without_the_fill_the_failure_points_at_fill_nan(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "field.tif", _nan_bordered())
    recipe = tmp_path / "blur.maskprep.yaml"
    recipe.write_text(RECIPE.replace("- op: preprocess.fill_nan\n  params: {fill: minimum}\n",
                                     ""))
    assert main(["run", str(recipe), str(tmp_path / "field.tif"), "-o", str(tmp_path / "out")]) == 1
    assert ("field.tif: step 1 (preprocess.gaussian): preprocess.gaussian: image contains NaN "
            "or infinite values; accepted: finite values (add preprocess.fill_nan first, or "
            "replace them, e.g. numpy.nan_to_num)") in capsys.readouterr().err


_NAN_LINE = ("step {number} (segment.local_threshold): segment.local_threshold: image "
             "contains NaN or infinite values; accepted: finite values (add "
             "preprocess.fill_nan first, or replace them, e.g. numpy.nan_to_num)")


def _nan_far_from_the_corner() -> np.ndarray:
    """NaN in the last chunk, outside the 64 px corner a tiled run probes first."""
    image = np.random.default_rng(0).random((150, 140)).astype(np.float32)
    image[140, 130] = np.nan
    return image


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_tiled_nan_outside_the_probed_corner_names_the_step_and_writes_nothing(
        tmp_path, capsys, fmt):
    """The chunks refuse NaN only as they run: the line lacked the step ('segment.
    local_threshold: image contains NaN ...', where in memory and in the corner it is
    'step 1 (...): ...'). No mask, and no temporary store or file, is left."""
    tifffile.imwrite(tmp_path / "field.tif", _nan_far_from_the_corner())
    recipe = tmp_path / "local.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n- op: segment.local_threshold\n"
                      "- op: refine.open\n  params: {radius: 1}\n")
    out = tmp_path / "out"
    assert main(["run", str(recipe), str(tmp_path / "field.tif"), "-o", str(out), "-q",
                 "--tiled", "always", "--chunk", "64", "--format", fmt]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"failed: {tmp_path / 'field.tif'}: " + _NAN_LINE.format(number=1)
    assert sorted(p.name for p in out.iterdir()) == ["maskprep-summary.csv"]


def test_tiled_nan_in_a_chunk_is_the_step_s_that_refuses_it_not_the_pass_s():
    """A whole-image step's pass (fill holes) runs the steps before it on each chunk: the
    NaN the local threshold refuses there was said of step 2 (refine.fill_holes)."""
    image = da.from_array(_nan_far_from_the_corner(), chunks=64)
    recipe = mp.Recipe.from_dict({"maskprep": 1, "steps": [
        {"op": "segment.local_threshold"}, {"op": "refine.fill_holes"}]})
    with pytest.raises(RecipeError) as info:
        recipe.run(image).compute()
    assert str(info.value) == _NAN_LINE.format(number=1)
