"""maskprep run --pixel-size z,y,x is checked against each input's spatial axes as its run
lays them out (large_images.check_pixel_size_axes)."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_maskprep.cli import main
from napari_maskprep.io import read_pixel_size

RECIPE = "maskprep: 1\nsteps:\n- op: segment.threshold\n  params: {value: 100}\n"


def _stack() -> np.ndarray:
    image = np.zeros((3, 12, 16), np.uint8)
    image[:, 2:6, 3:9] = 200
    return image


def test_a_z_y_x_pixel_size_runs_a_plain_tiff_stack(tmp_path, capsys):
    # tifffile names a plain stack's pages q, which the run takes as z: the header check
    # counted y and x only and refused the stack ('the image has the spatial axes y, x').
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text(RECIPE)
    tifffile.imwrite(tmp_path / "stack.tif", _stack(), photometric="minisblack")
    assert main(["run", str(recipe), str(tmp_path / "stack.tif"), "-o", str(tmp_path / "out"),
                 "--pixel-size", "2,0.5,0.5", "-q"]) == 0, capsys.readouterr().err
    written = tmp_path / "out" / "stack.tif"
    np.testing.assert_array_equal(tifffile.imread(written), (_stack() > 100).astype(np.uint8))
    assert read_pixel_size(written) == (2.0, 0.5, 0.5)  # the mask carries it


def test_a_z_y_x_pixel_size_for_one_2d_channel_is_still_refused(tmp_path, capsys):
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text(RECIPE)
    tifffile.imwrite(tmp_path / "two.tif", _stack()[:2], imagej=True, metadata={"axes": "CYX"})
    out = tmp_path / "out"
    assert main(["run", str(recipe), str(tmp_path / "two.tif"), "-o", str(out),
                 "--pixel-size", "2,0.5,0.5", "--channel", "1", "-q"]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {tmp_path / 'two.tif'}: the pixel size 2 x 0.5 x 0.5 um has 3 "
        "values; the image has the spatial axes y, x; accepted: 1 value, or 2 (one per axis; "
        "run 2D and 3D images apart)\n")
    assert not out.exists()
