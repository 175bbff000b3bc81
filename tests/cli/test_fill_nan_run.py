"""`maskprep run` of a float image with NaN borders (registration, stitching): a recipe
that fills them first runs; without the fill, the failure names the op that would."""

from __future__ import annotations

import numpy as np
import tifffile

import napari_maskprep as mp
from napari_maskprep.cli import main

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
