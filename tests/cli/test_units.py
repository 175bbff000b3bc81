"""`maskprep run` with sizes in micrometres: --pixel-size, or the pixel size the file states."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_maskprep.cli import main
from napari_maskprep.io import open_lazy, read_pixel_size, read_provenance
from napari_maskprep.recipe import Recipe

RECIPE = """\
maskprep: 1
steps:
- op: segment.threshold
  params: {value: 5}
- op: refine.remove_small
  params: {min_size: 1 um2}
"""


def tiny() -> np.ndarray:
    """A 3-pixel and a 5-pixel object: 1 um2 is 4 pixels at 0.5 um."""
    image = np.zeros((8, 8), np.uint8)
    image[1, 1:4] = 9
    image[5, 1:6] = 9
    return image


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "um.maskprep.yaml"
    path.write_text(RECIPE)
    return path


def test_pixel_size_given_on_the_command_line(tmp_path, recipe_file, capsys):
    tifffile.imwrite(tmp_path / "tiny.tif", tiny())
    code = main(["run", str(recipe_file), str(tmp_path / "tiny.tif"), "-o",
                 str(tmp_path / "out"), "--pixel-size", "0.5", "-q"])
    assert code == 0, capsys.readouterr().err
    written = tifffile.imread(tmp_path / "out" / "tiny.tif")
    assert written.sum() == 5 and written[5, 1:6].all()
    info = read_provenance(tmp_path / "out" / "tiny.tif")
    assert info["input"]["pixel_size"] == [0.5]
    assert Recipe.loads(info["recipe"]) == Recipe.load(recipe_file)  # "1 um2" as written
    assert main(["info", str(tmp_path / "out" / "tiny.tif")]) == 0
    assert "pixel size: 0.5 um" in capsys.readouterr().out


def test_pixel_size_read_from_the_file(tmp_path, recipe_file, capsys):
    # 1 um2 at 0.25 x 0.5 um is 8 pixels: both objects go; at 1 um per pixel, none does.
    tifffile.imwrite(tmp_path / "fine.tif", tiny(), imagej=True, resolution=(2.0, 4.0),
                     metadata={"unit": "um"})
    tifffile.imwrite(tmp_path / "coarse.tif", tiny(), resolution=(10000, 10000),
                     resolutionunit="CENTIMETER")
    assert main(["run", str(recipe_file), str(tmp_path / "fine.tif"),
                 str(tmp_path / "coarse.tif"), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert tifffile.imread(tmp_path / "out" / "fine.tif").sum() == 0
    assert tifffile.imread(tmp_path / "out" / "coarse.tif").sum() == 8
    assert read_provenance(tmp_path / "out" / "fine.tif")["input"]["pixel_size"] == [0.25, 0.5]
    # --pixel-size overrides the file's; --resume reruns what another pixel size made.
    assert main(["run", str(recipe_file), str(tmp_path / "fine.tif"), "-o",
                 str(tmp_path / "out"), "--pixel-size", "0.5", "--resume", "-q"]) == 0
    assert tifffile.imread(tmp_path / "out" / "fine.tif").sum() == 5
    assert "1 written, 0 skipped" in capsys.readouterr().err
    assert main(["run", str(recipe_file), str(tmp_path / "fine.tif"), "-o",
                 str(tmp_path / "out"), "--pixel-size", "0.5", "--resume", "-q"]) == 0
    assert "0 written, 1 skipped" in capsys.readouterr().err


def test_a_file_without_pixel_size_fails_in_one_line(tmp_path, recipe_file, capsys):
    tifffile.imwrite(tmp_path / "plain.tif", tiny())
    code = main(["run", str(recipe_file), str(tmp_path / "plain.tif"), "-o",
                 str(tmp_path / "out"), "-q"])
    assert code == 1
    with open(tmp_path / "out" / "maskprep-summary.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "failed" and row["error"] == (
        "step 2 (refine.remove_small): min_size=1 um2 needs the image's pixel size, which is "
        "unknown; give it (pixel_size=..., --pixel-size, a layer scale) or give min_size in px")
    assert not (tmp_path / "out" / "plain.tif").exists()


@pytest.mark.parametrize("text", ["0", "-1", "a", "0.5,", "1,2,3,4", "nan", "inf"])
def test_bad_pixel_size_is_a_usage_error(tmp_path, recipe_file, capsys, text):
    tifffile.imwrite(tmp_path / "tiny.tif", tiny())
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(recipe_file), str(tmp_path / "tiny.tif"), "-o", str(tmp_path / "out"),
              f"--pixel-size={text}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "is not a pixel size; accepted: micrometres per pixel" in err
    assert not (tmp_path / "out").exists()


def test_per_axis_pixel_size(tmp_path, recipe_file):
    tifffile.imwrite(tmp_path / "tiny.tif", tiny())
    assert main(["run", str(recipe_file), str(tmp_path / "tiny.tif"), "-o",
                 str(tmp_path / "out"), "--pixel-size", "0.5,0.25", "-q"]) == 0
    assert tifffile.imread(tmp_path / "out" / "tiny.tif").sum() == 0  # 8 pixels needed
    assert read_provenance(tmp_path / "out" / "tiny.tif")["input"]["pixel_size"] == [0.5, 0.25]


@pytest.mark.parametrize("recipe_text", [RECIPE, "maskprep: 1\nsteps:\n- op: "
                                                  "segment.auto_threshold\n"])
def test_a_z_y_x_pixel_size_for_a_2d_image_is_refused_before_any_file_runs(
        tmp_path, recipe_text, capsys):
    """Without sizes in um the 2D image took the last two values silently; with them it
    failed after the batch began: now either recipe is refused, nothing written."""
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text(recipe_text)
    tifffile.imwrite(tmp_path / "stack.tif", _blobs((3, 12, 16)), imagej=True,
                     metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "tiny.tif", tiny())
    out = tmp_path / "out"
    assert main(["run", str(recipe), str(tmp_path / "stack.tif"), str(tmp_path / "tiny.tif"),
                 "-o", str(out), "--pixel-size", "2,0.5,0.5", "-q"]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {tmp_path / 'tiny.tif'}: the pixel size 2 x 0.5 x 0.5 um has 3 "
        "values; the image has the spatial axes y, x; accepted: 1 value, or 2 (one per axis; "
        "run 2D and 3D images apart)\n")
    assert not out.exists()
    recipe.write_text("maskprep: 1\nsteps:\n- op: segment.auto_threshold\n")
    assert main(["run", str(recipe), str(tmp_path / "stack.tif"), "-o", str(out),
                 "--pixel-size", "2,0.5,0.5", "-q"]) == 0  # the stack's three axes: run
    assert _written_pixel_size(out / "stack.tif") == (2.0, 0.5, 0.5)


def _blobs(shape) -> np.ndarray:
    image = np.zeros(shape, np.uint8)
    image[..., 2:6, 3:9] = 200
    return image


def _written_pixel_size(path):
    if path.suffix == ".png":
        data = path.read_bytes()
        at = data.index(b"pHYs") + 4
        per_metre_x, per_metre_y = (int.from_bytes(data[at + i:at + i + 4], "big")
                                    for i in (0, 4))
        assert data[at + 8] == 1  # the unit: metres
        return round(1e6 / per_metre_y, 6), round(1e6 / per_metre_x, 6)  # whole px per m
    if path.suffix == ".zarr":
        with open_lazy(path) as image:
            return image.pixel_size
    return read_pixel_size(path)


@pytest.mark.parametrize(("fmt", "tiled"), [("tif", "never"), ("tif", "always"),
                                            ("png", "never"), ("zarr", "never"),
                                            ("zarr", "always")])
def test_every_mask_carries_the_pixel_size_of_its_input(tmp_path, fmt, tiled):
    # y 0.25 um, x 0.5 um: ImageJ pixels per micrometre, (x, y)
    tifffile.imwrite(tmp_path / "flat.tif", _blobs((12, 16)), imagej=True,
                     resolution=(2.0, 4.0), metadata={"unit": "um"})
    tifffile.imwrite(tmp_path / "given.tif", _blobs((12, 16)))
    recipe = tmp_path / "plain.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n- op: segment.auto_threshold\n")
    out = tmp_path / "out"
    for name, extra in (("flat", []), ("given", ["--pixel-size", "0.3"])):
        assert main(["run", str(recipe), str(tmp_path / f"{name}.tif"), "-o", str(out),
                     "--format", fmt, "--tiled", tiled, "-q", *extra]) == 0
    assert _written_pixel_size(out / f"flat.{fmt}") == (0.25, 0.5)
    assert _written_pixel_size(out / f"given.{fmt}") == (0.3, 0.3)


@pytest.mark.parametrize(("fmt", "tiled"), [("tif", "never"), ("tif", "always"),
                                            ("zarr", "never"), ("zarr", "always")])
def test_a_volume_s_mask_carries_its_z_spacing(tmp_path, fmt, tiled):
    tifffile.imwrite(tmp_path / "stack.tif", _blobs((3, 12, 16)), imagej=True,
                     resolution=(2.0, 4.0), metadata={"unit": "um", "spacing": 1.5,
                                                      "axes": "ZYX"})
    recipe = tmp_path / "plain.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n- op: segment.auto_threshold\n")
    assert main(["run", str(recipe), str(tmp_path / "stack.tif"), "-o", str(tmp_path / "out"),
                 "--format", fmt, "--tiled", tiled, "-q"]) == 0
    written = tmp_path / "out" / f"stack.{fmt}"
    assert _written_pixel_size(written) == (1.5, 0.25, 0.5)
    with open_lazy(written) as mask:
        assert mask.axes == "zyx"
        np.testing.assert_array_equal(mask.data.compute(), _blobs((3, 12, 16)) > 0)


@pytest.mark.parametrize(("fmt", "tiled", "expected"), [
    ("tif", "never", (0.25, 0.5)), ("tif", "always", (0.25, 0.5)),
    ("zarr", "never", None), ("zarr", "always", None),  # OME-Zarr: every spatial axis or none
])
def test_a_stack_without_z_spacing_keeps_y_and_x_where_its_format_can(tmp_path, fmt, tiled,
                                                                      expected):
    # Tiled into OME-Zarr, its (y, x) size was refused for the stack's three axes.
    tifffile.imwrite(tmp_path / "stack.tif", _blobs((5, 12, 16)), resolution=(2e4, 4e4),
                     resolutionunit="CENTIMETER")
    recipe = tmp_path / "plain.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n- op: segment.auto_threshold\n")
    assert main(["run", str(recipe), str(tmp_path / "stack.tif"), "-o", str(tmp_path / "out"),
                 "--format", fmt, "--tiled", tiled, "-q"]) == 0
    written = tmp_path / "out" / f"stack.{fmt}"
    assert _written_pixel_size(written) == expected
    with open_lazy(written) as mask:
        np.testing.assert_array_equal(mask.data.compute(), _blobs((5, 12, 16)) > 0)


def _run_both(tmp_path, recipe_text, image_path):
    """(status, error, mask) of ``maskprep run`` on one file in memory and tiled."""
    recipe = tmp_path / "um.maskprep.yaml"
    recipe.write_text(recipe_text)
    found = []
    for tiled in ("never", "always"):
        out = tmp_path / f"out-{tiled}"
        main(["run", str(recipe), str(image_path), "-o", str(out), "--tiled", tiled, "-q"])
        with open(out / "maskprep-summary.csv", newline="") as f:
            (row,) = list(csv.DictReader(f))
        mask = out / f"{image_path.stem}.tif"
        found.append((row["status"], row["error"],
                      tifffile.imread(mask).tolist() if mask.exists() else None))
    return found


STACK_WITHOUT_Z = {
    "imagej": lambda p: tifffile.imwrite(p, _blobs((3, 12, 16)), imagej=True,
                                         resolution=(2.0, 2.0),
                                         metadata={"axes": "ZYX", "unit": "um"}),
    "ome": lambda p: tifffile.imwrite(p, _blobs((3, 12, 16)), ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}),
}


@pytest.mark.parametrize("size", ["sigma: 1 um", "min_size: 2 um3"])
@pytest.mark.parametrize("write", STACK_WITHOUT_Z.values(), ids=STACK_WITHOUT_Z)
def test_a_stack_without_z_spacing_gives_one_answer_in_memory_and_tiled(tmp_path, write,
                                                                       size):
    # Tiled, the lazy reader stated no pixel size for a stack without z spacing ("which is
    # unknown"); in memory its (y, x) was known and not enough for three axes.
    write(tmp_path / "stack.tif")
    op = "preprocess.gaussian" if size.startswith("sigma") else "refine.remove_small"
    steps = [f"- op: {op}\n  params: {{{size}}}\n", "- op: segment.auto_threshold\n"]
    text = "maskprep: 1\nsteps:\n" + "".join(steps if op.startswith("pre") else steps[::-1])
    in_memory, tiled = _run_both(tmp_path, text, tmp_path / "stack.tif")
    assert in_memory == tiled
    assert in_memory[:2] == ("failed", f"step {1 if op.startswith('pre') else 2} ({op}): "
                             f"{size.replace(': ', '=')} needs the pixel size along 3 axes; "
                             "only 0.5 x 0.5 um (y, x) is known; give it for z, y, x"
                             + ("; or set per_plane: true (each 2D plane on its own)"
                                if op.startswith("pre") else ""))  # um3 has no 2D plane


def test_resolution_in_millimetres_is_one_pixel_size_in_memory_and_tiled(tmp_path):
    # Tiled, 2000 px per mm was 0.5 um; in memory it was unknown, and the run failed.
    tifffile.imwrite(tmp_path / "tiny.tif", tiny(), resolution=(2000.0, 2000.0),
                     resolutionunit=4)
    in_memory, tiled = _run_both(tmp_path, RECIPE, tmp_path / "tiny.tif")
    assert in_memory == tiled
    kept = tiny() == 9
    kept[1] = False  # 1 um2 is 4 pixels at 0.5 um: the 3-pixel object goes
    assert in_memory[:2] == ("ok", "") and np.array_equal(in_memory[2], kept)
    assert read_pixel_size(tmp_path / "out-never" / "tiny.tif") == (0.5, 0.5)


def _stack_file(path, spacing=2.0):
    """A 3 x 12 x 16 stack at spacing x 0.5 x 0.5 um; its 6 x 6 square is 36 px a plane."""
    tifffile.imwrite(path, _blobs((3, 12, 16)), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": spacing})


def _steps(*steps) -> str:
    return "maskprep: 1\nsteps:\n- op: segment.auto_threshold\n" + "".join(steps)


@pytest.mark.parametrize(("step", "expected"), [
    ("- op: refine.remove_small\n  params: {min_size: 1 um2}\n",
     "step 2 (refine.remove_small): min_size=1 um2: this step counts voxels of 3D data; give "
     "min_size in um3 or px; or set per_plane: true (each 2D plane on its own)"),
    ("- op: refine.open\n  params: {radius: 0.5 um}\n",
     "step 2 (refine.open): radius=0.5 um: the pixel size 2 x 0.5 x 0.5 um differs between axes, "
     "and a length in um needs cubic voxels; give radius in px; or set per_plane: true (each "
     "2D plane on its own)"),
])
def test_a_size_no_stack_takes_is_refused_before_any_file_runs(tmp_path, capsys, step,
                                                               expected):
    # Each file failed after the batch began, one summary row each, and nothing written.
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text(_steps(step))
    tifffile.imwrite(tmp_path / "flat.tif", _blobs((12, 16)), imagej=True,
                     resolution=(2.0, 2.0), metadata={"unit": "um"})
    _stack_file(tmp_path / "stack.tif")
    out = tmp_path / "out"
    assert main(["run", str(recipe), str(tmp_path / "flat.tif"), str(tmp_path / "stack.tif"),
                 "-o", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {tmp_path / 'stack.tif'}: {expected}\n")
    assert not out.exists()
    recipe.write_text(_steps(step.replace("  params", "  per_plane: true\n  params")))
    assert main(["run", str(recipe), str(tmp_path / "stack.tif"), "-o", str(out), "-q"]) == 0
    expected = _blobs((3, 12, 16)) > 0
    if "open" in step:  # a disk of radius 1 px takes the corners
        expected[:, [2, 2, 5, 5], [3, 8, 3, 8]] = False
    np.testing.assert_array_equal(tifffile.imread(out / "stack.tif"), expected)


def test_a_volume_on_a_plane_is_refused_before_any_file_runs(tmp_path, capsys):
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text(_steps("- op: refine.remove_small\n  params: {min_size: 1 um3}\n"))
    tifffile.imwrite(tmp_path / "tiny.tif", tiny())
    assert main(["run", str(recipe), str(tmp_path / "tiny.tif"), "-o", str(tmp_path / "out"),
                 "--pixel-size", "0.5", "-q"]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {tmp_path / 'tiny.tif'}: step 2 (refine.remove_small): "
        "min_size=1 um3: this step counts pixels of 2D planes; give min_size in um2 or px\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("tiled", ["never", "always"])
def test_the_pixel_size_given_is_the_one_checked_before_any_file_runs(tmp_path, capsys,
                                                                     tiled):
    # 0.5 um on 2 x 0.5 x 0.5 um voxels is refused; --pixel-size 0.5 (cubic) overrides it:
    # a ball of radius 1 px takes the block's corners in each plane.
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text(_steps("- op: refine.open\n  params: {radius: 0.5 um}\n"))
    _stack_file(tmp_path / "stack.tif")
    run = ["run", str(recipe), str(tmp_path / "stack.tif"), "-o", str(tmp_path / "out"),
           "--tiled", tiled, "-q"]
    assert main(run) == 2
    assert "needs cubic voxels" in capsys.readouterr().err
    assert main([*run, "--pixel-size", "0.5"]) == 0
    expected = _blobs((3, 12, 16)) > 0
    expected[:, [2, 2, 5, 5], [3, 8, 3, 8]] = False
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "stack.tif"), expected)
    capsys.readouterr()
    assert main([*run, "--pixel-size", "0.5,0.25"]) == 2  # y and x only, for a stack
    assert capsys.readouterr().err == (
        f"maskprep: error: {tmp_path / 'stack.tif'}: step 2 (refine.open): radius=0.5 um needs "
        "the pixel size along 3 axes; only 0.5 x 0.25 um (y, x) is known; give it for z, y, x\n")
