"""`maskprep export` builds the script from data: a hostile recipe name is only ever a string."""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_maskprep.cli import main
from napari_maskprep.io import read_pixel_size, read_provenance
from napari_maskprep.recipe import Recipe, RecipeError

STEPS = [
    {"op": "preprocess.gaussian", "params": {"sigma": 1.0}, "id": "smooth"},
    {"op": "segment.auto_threshold", "params": {"method": "otsu"}},
    {"op": "refine.open", "params": {"radius": 1}, "enabled": False},
    {"op": "segment.watershed", "inputs": {"image": "smooth"}},
]
MODULE_NAMES = {"RECIPE_NAME", "RECIPE", "EXPORTED_BY", "process", "main", "shown"}
IMPORTS = {("argparse", None), ("sys", None), ("warnings", None), ("pathlib", "Path"),
           ("napari_maskprep", "MaskprepWarning"), ("napari_maskprep", "apply"),
           ("napari_maskprep.batch", "check_replaceable"),
           ("napari_maskprep.batch", "plan_outputs"), ("napari_maskprep.io", "each_frame"),
           ("napari_maskprep.io", "provenance"), ("napari_maskprep.io", "read_image_axes"),
           ("napari_maskprep.io", "read_pixel_size"),
           ("napari_maskprep.io", "read_frame_interval"),
           ("napari_maskprep.io", "SeveralImagesError"),
           ("napari_maskprep.io", "write_mask")}


def statements_are_the_template_s(script: str, name: str) -> None:
    """The script's top level is the template's, and ``process`` only calls ``apply`` with
    constants and earlier results."""
    module = ast.parse(script)
    imports, defined = set(), set()
    for node in module.body:
        if isinstance(node, ast.Import):
            imports |= {(a.name, None) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imports |= {(node.module, a.name) for a in node.names}
        elif isinstance(node, ast.Assign):
            (target,) = node.targets
            assert isinstance(node.value, ast.Constant)
            defined.add(target.id)
            if target.id == "RECIPE_NAME":
                assert node.value.value == (name or "unnamed recipe")
        elif isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        else:
            assert isinstance(node, ast.Expr | ast.If), ast.dump(node)
    assert imports == IMPORTS and defined == MODULE_NAMES
    process = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "process")
    for node in process.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            assert call.func.id == "apply" and isinstance(call.args[0], ast.Constant)
            for keyword in call.keywords:
                assert isinstance(keyword.value, ast.Constant | ast.Name)
        else:
            assert isinstance(node, ast.Expr | ast.Assign | ast.Return), ast.dump(node)


HOSTILE = [
    '"""\nimport os; os.system("touch pwned")\n"""',
    "'''\n__import__('os').system('touch pwned')\n#",
    "\\\n\x1b[31m\x00\r\t\u2028 {}",
    "é\ufeff😀" * 50,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_name_stays_a_string_and_the_script_runs(tmp_path, name):
    recipe = Recipe(STEPS, name=name)
    script = tmp_path / "exported.py"
    script.write_text(recipe.to_python(), encoding="utf-8")
    statements_are_the_template_s(script.read_text(encoding="utf-8"), name)
    inputs = tmp_path / "in"
    inputs.mkdir()
    image = np.zeros((40, 50), np.uint8)
    image[5:20, 5:30] = 200
    tifffile.imwrite(inputs / "a.tif", image)
    done = subprocess.run([sys.executable, str(script), str(inputs), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "pwned").exists()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "a.tif"), recipe.run(image))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(max_size=200))
def test_any_name_exports_a_script_of_the_template_s_statements(name):
    try:
        recipe = Recipe(STEPS, name=name)
    except RecipeError as exc:  # lone surrogates: not text that a file can hold
        assert "not valid Unicode text" in str(exc)
        return
    statements_are_the_template_s(recipe.to_python(), name)


def test_export_refuses_a_step_reading_a_disabled_step(tmp_path, capsys):
    recipe = Recipe([STEPS[0], STEPS[1], {**STEPS[3]}])
    recipe.steps[0].enabled = False
    with pytest.raises(RecipeError, match=r"step 3 \(segment.watershed\) reads 'smooth', the "
                                          "output of a disabled step"):
        recipe.to_python()
    with pytest.raises(RecipeError, match=r"step 3 \(segment.watershed\): reads 'smooth'"):
        recipe.run(np.zeros((8, 8), np.uint8))
    path = recipe.save(tmp_path / "r.maskprep.yaml")
    assert main(["export", str(path), "-o", str(tmp_path / "r.py")]) == 2
    assert "output of a disabled step" in capsys.readouterr().err


def test_export_refuses_sizes_in_micrometres_in_one_line(tmp_path, capsys):
    recipe = Recipe([STEPS[1], {"op": "refine.open", "params": {"radius": "2 um"}}])
    message = ("step 2 (refine.open): radius is given in micrometres; exported scripts take "
               "sizes in pixels only (give it in px, or replay the recipe with maskprep run)")
    with pytest.raises(RecipeError) as info:
        recipe.to_python()
    assert str(info.value) == message
    path = recipe.save(tmp_path / "r.maskprep.yaml")
    assert main(["export", str(path), "-o", str(tmp_path / "r.py")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "r.py").exists()
    recipe.steps[1].enabled = False  # a disabled step is not exported
    assert "apply('refine.open'" not in recipe.to_python()


def test_export_names_the_unit_a_size_is_given_in():
    recipe = Recipe([STEPS[1], {"op": "refine.remove_small", "params": {"min_size": "3 mm2"}}])
    with pytest.raises(RecipeError) as info:
        recipe.to_python()
    assert str(info.value) == (
        "step 2 (refine.remove_small): min_size is given in millimetres; exported scripts take "
        "sizes in pixels only (give it in px, or replay the recipe with maskprep run)")


def test_export_refuses_a_recipe_ending_on_an_image_as_run_does(tmp_path, capsys):
    """The script wrote the smoothed image as each mask, where maskprep run refuses."""
    path = Recipe([STEPS[1], STEPS[0]]).save(tmp_path / "r.maskprep.yaml")
    message = ("the recipe's last enabled step (step 2, preprocess.gaussian) gives an image, "
               "not a mask; accepted: a recipe ending in a step that gives a mask or labels "
               "(segment., refine.)")
    assert main(["export", str(path), "-o", str(tmp_path / "r.py")]) == 2
    assert capsys.readouterr().err == f"maskprep: error: {message}\n"
    assert main(["run", str(path), str(path), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"maskprep: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.maskprep.yaml"]


def test_export_into_a_missing_folder_is_one_line_naming_what_is_accepted(tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    Recipe(STEPS).save(tmp_path / "r.maskprep.yaml")
    assert main(["export", "r.maskprep.yaml", "-o", "missing/r.py"]) == 2
    assert capsys.readouterr().err == (  # was "[Errno 2] No such file or directory: ..."
        "maskprep: error: missing/r.py: No such file or directory; accepted: a file in a "
        "folder that exists and may be written\n")


def test_exported_script_refuses_to_write_over_its_inputs(tmp_path):
    script = tmp_path / "exported.py"
    script.write_text(Recipe(STEPS[:2]).to_python())
    image = np.zeros((10, 10), np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", image)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), "-o", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "holds the input a.tif" in done.stderr
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), image)


def test_an_exported_script_says_in_one_line_that_its_output_folder_cannot_be_made(tmp_path):
    """mkdir under a file, or a name too long to look up, ended the script in a traceback."""
    script = tmp_path / "exported.py"
    script.write_text(Recipe(STEPS[:2]).to_python())
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((10, 10), np.uint8))
    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path / "notes.txt" / "out"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "a.tif"), "-o", str(out)],
                          capture_output=True, text=True)
    assert (done.returncode, done.stderr.splitlines()) == (2, [
        f"error: output folder {out} cannot be made (Not a directory); accepted: a folder, "
        "or a path where one can be made"])
    long = tmp_path / ("a" * 300)
    done = subprocess.run([sys.executable, str(script), str(long), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert (done.returncode, done.stderr.splitlines()) == (2, [
        f"error: [Errno 36] File name too long: {str(long)!r}"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "exported.py", "notes.txt"]


@pytest.mark.parametrize("argv", [["", "-o", "out"], ["a.tif", "-o", ""]])
def test_an_exported_script_refuses_an_empty_path(tmp_path, argv):
    """'' was the current folder: every image in it ran, or the masks were written there."""
    script = tmp_path / "exported.py"
    script.write_text(Recipe(STEPS[:2]).to_python())
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((10, 10), np.uint8))
    done = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True,
                          cwd=tmp_path)
    assert (done.returncode, done.stderr.splitlines()) == (2, [
        "error: an empty path as an input or the output folder; accepted: a file or folder "
        "name"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "exported.py"]


def test_an_exported_script_shows_a_file_name_s_escapes_and_names_it_once_as_run_does(
        tmp_path, capsys):
    """A file named with a terminal escape (a window title here) reached the terminal as
    a command, and each failure named its file twice ('failed: a.tif: a.tif: ...')."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "bad\x1b]0;pwn\x07.tif").write_bytes(b"hello")
    Recipe(STEPS[:2]).save(tmp_path / "r.maskprep.yaml")
    (tmp_path / "r.py").write_text(Recipe(STEPS[:2]).to_python())
    done = subprocess.run([sys.executable, str(tmp_path / "r.py"), str(inputs), "-o",
                           str(tmp_path / "py")], capture_output=True, text=True)
    assert main(["run", "-q", str(tmp_path / "r.maskprep.yaml"), str(inputs), "-o",
                 str(tmp_path / "cli")]) == 1
    ran = capsys.readouterr().err.splitlines()[:1]
    assert done.returncode == 1 and done.stderr.splitlines() == ran
    assert ran[0].startswith(f"failed: {inputs}/bad\\x1b]0;pwn\\x07.tif: starts with b'hello'")


def test_an_exported_script_reports_a_step_s_warning_in_one_line_as_run_does(tmp_path, capsys):
    """The script showed Python's warning format (file, line number, source line)."""
    rgb = np.zeros((20, 24, 3), np.uint8)
    rgb[5:15, 6:18] = (200, 40, 90)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    Recipe([{"op": "segment.auto_threshold"}]).save(tmp_path / "r.maskprep.yaml")
    assert main(["export", str(tmp_path / "r.maskprep.yaml"), "-o", str(tmp_path / "r.py")]) == 0
    done = subprocess.run([sys.executable, str(tmp_path / "r.py"), str(tmp_path / "rgb.tif"),
                           "-o", str(tmp_path / "py")], capture_output=True, text=True)
    assert done.returncode == 0
    assert main(["run", str(tmp_path / "r.maskprep.yaml"), str(tmp_path / "rgb.tif"), "-o",
                 str(tmp_path / "cli")]) == 0
    ran = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert done.stderr.splitlines() == ran and len(ran) == 1
    assert "the RGB image was converted to grey" in ran[0]


def test_an_exported_script_segments_one_channel_as_run_does(tmp_path):
    """The script, like maskprep run, refused a file of channels; --channel N chooses one."""
    channels = np.zeros((2, 30, 40), np.uint16)
    channels[0, 5:15, 5:20] = 900
    channels[1, 10:25, 20:35] = 700
    tifffile.imwrite(tmp_path / "two.tif", channels, imagej=True, metadata={"axes": "CYX"})
    Recipe(STEPS[:2]).save(tmp_path / "r.maskprep.yaml")
    (tmp_path / "r.py").write_text(Recipe(STEPS[:2]).to_python())
    done = subprocess.run([sys.executable, str(tmp_path / "r.py"), str(tmp_path / "two.tif"),
                           "-o", str(tmp_path / "py"), "--channel", " 1"],  # as run reads it
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    refused = subprocess.run([sys.executable, str(tmp_path / "r.py"), str(tmp_path / "two.tif"),
                              "-o", str(tmp_path / "py"), "--channel", "-1"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.splitlines()[-1] == (
        "r.py: error: argument --channel: '-1' is not a channel's number, from 0")
    assert main(["run", "-q", str(tmp_path / "r.maskprep.yaml"), str(tmp_path / "two.tif"),
                 "-o", str(tmp_path / "cli"), "--channel", "1"]) == 0
    mask = tifffile.imread(tmp_path / "py" / "two.tif")
    np.testing.assert_array_equal(mask, tifffile.imread(tmp_path / "cli" / "two.tif"))
    np.testing.assert_array_equal(mask, Recipe(STEPS[:2]).run(channels[1]))


def test_an_exported_script_reruns_into_its_folder_and_writes_masks_as_run_does(
        tmp_path, capsys):
    """The script wrote masks without provenance or pixel size: run again into the same
    folder (new images added), it refused each of its own masks as 'not written by
    maskprep', and its masks lost the input's pixel size that maskprep run's carry."""
    image = np.zeros((30, 40), np.uint16)
    image[5:15, 5:20] = 900
    tifffile.imwrite(tmp_path / "a.tif", image, resolution=(1e4 / 0.5, 1e4 / 0.5),
                     resolutionunit="CENTIMETER")
    recipe = Recipe(STEPS[:2])
    recipe.save(tmp_path / "r.maskprep.yaml")
    (tmp_path / "r.py").write_text(recipe.to_python())
    for _ in range(2):
        done = subprocess.run([sys.executable, str(tmp_path / "r.py"), str(tmp_path / "a.tif"),
                               "-o", str(tmp_path / "py")], capture_output=True, text=True)
        assert (done.returncode, done.stderr) == (0, "")
    assert main(["run", "-q", str(tmp_path / "r.maskprep.yaml"), str(tmp_path / "a.tif"),
                 "-o", str(tmp_path / "cli")]) == 0
    ours, theirs = read_provenance(tmp_path / "py" / "a.tif"), read_provenance(
        tmp_path / "cli" / "a.tif")
    for stored in ours, theirs:
        del stored["created"]
    assert ours == theirs and ours["recipe"] == recipe.dumps()
    assert read_pixel_size(tmp_path / "py" / "a.tif") == (0.5, 0.5)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "py" / "a.tif"),
                                  tifffile.imread(tmp_path / "cli" / "a.tif"))
    assert main(["run", "-q", "--resume", str(tmp_path / "r.maskprep.yaml"),
                 str(tmp_path / "a.tif"), "-o", str(tmp_path / "py")]) == 0
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "0 written, 1 skipped (done before), 0 failed")


def test_an_exported_script_refuses_a_plate_with_advice_it_can_follow(tmp_path):
    """A plate (an OME-TIFF of several positions or wells) failed with run's advice, 'one
    chosen with --series N, or each ... with --series all', which the script does not take:
    it now says that it reads files of one image, and what segments a plate."""
    plate = tmp_path / "plate.ome.tif"
    with tifffile.TiffWriter(plate, ome=True) as tif:
        for n in range(3):
            tif.write(np.full((20, 30), n, np.uint16), metadata={"axes": "YX"})
    (tmp_path / "r.py").write_text(Recipe(STEPS[:2]).to_python())
    done = subprocess.run([sys.executable, str(tmp_path / "r.py"), str(plate), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (1, (
        f"failed: {plate}: holds 3 images (OME-TIFF series: positions or wells), which an "
        "exported script does not choose between; accepted: a file of one image (segment a "
        "plate with maskprep run and the recipe, with --series N or --series all)\n"))
    assert list((tmp_path / "out").iterdir()) == []
