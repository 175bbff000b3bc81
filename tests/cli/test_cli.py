"""`maskprep ops | run | demo | info` end to end, through the installed console script."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_maskprep import batch
from napari_maskprep.batch import SUMMARY_NAME
from napari_maskprep.cli import main
from napari_maskprep.io import read_image
from napari_maskprep.recipe import Recipe

from ..conftest import DATA, RECIPE, dice, pairs
from ..core.test_registry import REQUIRED


def test_console_script_lists_every_required_op():
    exe = shutil.which("maskprep", path=str(__import__("pathlib").Path(sys.executable).parent))
    out = subprocess.run([exe, "ops"], capture_output=True, text=True, check=True).stdout
    listed = {line.split()[0] for line in out.splitlines() if not line.startswith(" ")}
    for stage, names in REQUIRED.items():
        assert {f"{stage}.{n}" for n in names} <= listed
    assert "    sigma = 1.0 px" in out


def test_run_writes_masks_with_provenance(tmp_path, recipe_file, capsys):
    images = [i for i, _ in pairs(DATA, "dsb2018_fluo_nuclei")[:3]]
    folder = tmp_path / "in"
    folder.mkdir()
    for i in images[:2]:
        shutil.copy(i, folder)
    code = main(["run", str(recipe_file), str(folder), str(images[2]), "-o", str(tmp_path / "out")])
    assert code == 0
    expected = Recipe.load(recipe_file).run(read_image(images[0]))
    written = tifffile.imread(tmp_path / "out" / f"{images[0].stem}.tif")
    np.testing.assert_array_equal(written, expected)
    assert written.dtype == np.uint8
    assert len(list((tmp_path / "out").glob("*.tif"))) == 3
    assert "3 written, 0 skipped" in capsys.readouterr().err

    assert main(["info", str(tmp_path / "out" / f"{images[0].stem}.tif"), "--recipe"]) == 0
    assert Recipe.loads(capsys.readouterr().out) == Recipe.load(recipe_file)


@pytest.mark.parametrize(("metadata", "axes"), [
    ({"photometric": "minisblack"}, "zyx"),
    ({"imagej": True, "metadata": {"axes": "TYX"}}, "tyx"),
])
def test_a_stack_to_png_is_refused_before_any_work(tmp_path, recipe_file, monkeypatch, capsys,
                                                   metadata, axes):
    """The PNG writer refused it once the recipe had run on the whole stack; then each such
    file failed once read whole, the batch's other files run (to PNG) before the user
    learnt that --format png was no choice for it."""
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.zeros((3, 8, 8), np.uint8), **metadata)
    plane = tmp_path / "plane.tif"
    tifffile.imwrite(plane, np.zeros((8, 8), np.uint8))
    read = []
    monkeypatch.setattr(batch, "read_image_axes", lambda *args, **kwargs: read.append(args))
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(plane), str(stack), "-o", str(out), "--format",
                 "png", "-q"]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {stack}: an image of shape (3, 8, 8) (axes {axes}), whose mask is "
        "more than the one plane a PNG holds; accepted for it: --format tif or --format "
        "zarr\n")
    assert not read and not out.exists()


def test_png_masks_are_0_255(tmp_path, recipe_file):
    image = pairs(DATA, "dsb2018_fluo_nuclei")[0][0]
    assert main(["run", str(recipe_file), str(image), "-o", str(tmp_path), "--format", "png"]) == 0
    png = read_image(tmp_path / f"{image.stem}.png")
    assert png.dtype == np.uint8 and set(np.unique(png)) == {0, 255}
    assert main(["info", str(tmp_path / f"{image.stem}.png"), "--recipe"]) == 0


def test_corrupt_input_is_reported_and_the_rest_written(tmp_path, recipe_file, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    good = [i for i, _ in pairs(DATA, "dsb2018_fluo_nuclei")[:2]]
    for i in good:
        shutil.copy(i, folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (folder / "truncated.tif").write_bytes(good[0].read_bytes()[:100])
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(folder), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "failed: " in err and "broken.png" in err and "truncated.tif" in err
    assert sorted(p.stem for p in out.glob("*.tif")) == sorted(i.stem for i in good)
    with open(out / "maskprep-summary.csv") as f:
        rows = {r["file"].split("/")[-1]: r for r in csv.DictReader(f)}
    assert rows["broken.png"]["status"] == "failed"
    assert rows[good[0].name]["status"] == "ok" and int(rows[good[0].name]["objects"]) > 0


def test_a_folder_named_zarr_that_is_no_store_says_so(tmp_path, recipe_file, capsys):
    # It ran in memory with tiling off inside the run, and failed for '--tiled never',
    # which nobody gave.
    folder = tmp_path / "in"
    (folder / "copied.zarr").mkdir(parents=True)
    shutil.copy(pairs(DATA, "dsb2018_fluo_nuclei")[0][0], folder)
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"failed: {folder / 'copied.zarr'}: not a zarr store (no zarr metadata); accepted: an "
        "OME-Zarr folder (NGFF 0.4 or 0.5), a bare zarr array, a TIFF, OME-TIFF, pyramidal "
        "BigTIFF or Aperio SVS file")
    assert len(list(out.glob("*.tif"))) == 1


def test_resume_skips_existing_outputs(tmp_path, recipe_file, capsys):
    image = pairs(DATA, "dsb2018_fluo_nuclei")[0][0]
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(image), "-o", str(out)]) == 0
    before = (out / f"{image.stem}.tif").stat().st_mtime_ns
    assert main(["run", str(recipe_file), str(image), "-o", str(out), "--resume"]) == 0
    assert "0 written, 1 skipped" in capsys.readouterr().err
    assert (out / f"{image.stem}.tif").stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("recipe_text", "message"),
    [
        ("maskprep: 1\nsteps: !!python/object/apply:os.system ['echo hi']\n", "is not accepted"),
        ("maskprep: 1\nsteps: [{op: segment.otsu}]", "unknown op 'segment.otsu'"),
        # wrong whatever the image: each file failed in turn (exit 1)
        ("maskprep: 1\nsteps: [{op: segment.pixel_classifier}]",
         "step 1 (segment.pixel_classifier): names no model file; accepted: model: "
         "{path: FILE, sha256: HEX}"),
        ("maskprep: 1\ninputs: {seeds: points}\n"
         "steps: [{op: segment.region_grow, inputs: {seeds: seeds}}]",
         "the recipe declares the input 'seeds' (points), which a batch cannot give"),
        ("maskprep: 1\nsteps: [{op: segment.auto_threshold, id: fg, enabled: false}, "
         "{op: segment.threshold}, {op: segment.watershed, inputs: {markers: fg}}]",
         "step 3 (segment.watershed) reads 'fg', the output of a disabled step"),
        # the smoothed image was written as the mask (1 object, all foreground; PNG not 0/255)
        ("maskprep: 1\nsteps: [{op: preprocess.gaussian}]",
         "the recipe's last enabled step (step 1, preprocess.gaussian) gives an image, not a "
         "mask; accepted: a recipe ending in a step that gives a mask or labels (segment., "
         "refine.)"),
        ("maskprep: 1\nsteps: [{op: segment.threshold, enabled: false}]",
         "the recipe has no enabled step, so no mask; accepted: a recipe ending in a step that "
         "gives a mask or labels (segment., refine.)"),
    ],
)
def test_bad_recipe_exits_2_and_runs_nothing(tmp_path, recipe_text, message, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(recipe_text)
    image = pairs(DATA, "dsb2018_fluo_nuclei")[0][0]
    assert main(["run", str(recipe), str(image), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_model_its_parser_refuses_is_a_bad_recipe_before_any_image(tmp_path, folder,
                                                                     capsys):
    """A model file of the right hash and format whose content LightGBM's checker refuses
    failed each image in turn, after reading it ('failed: ...' per file, exit 1): the
    recipe's check before any work read the file's hash and format only."""
    import hashlib

    model = tmp_path / "broken.lgbm.txt"
    model.write_text("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n"
                     "label_index=0\nmax_feature_idx=0\nobjective=binary sigmoid:1\n"
                     "feature_names=grey_raw\n\nTree=\nend of trees\n")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("maskprep: 1\nsteps: [{op: segment.pixel_classifier, params: {model: "
                      f"{{path: {model.name}, sha256: {digest}" + "}}}]\n")
    assert main(["run", str(recipe), str(folder), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "maskprep: error: step 1 (segment.pixel_classifier): model: not a readable LightGBM "
        "model (tree 0 is numbered '')"]
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2(tmp_path, recipe_file, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", str(recipe_file), str(empty), "-o", str(tmp_path / "o")]) == 2
    assert "no image files" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["run", str(recipe_file)])
    assert info.value.code == 2


def test_missing_input_is_a_usage_error_and_nothing_is_made(tmp_path, recipe_file, capsys):
    image = pairs(DATA, "dsb2018_fluo_nuclei")[0][0]
    code = main(["run", str(recipe_file), str(image), str(tmp_path / "nope.tif"), "-o",
                 str(tmp_path / "out")])
    assert code == 2
    assert "nope.tif: no such file or folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_demo_writes_masks_and_an_overlay(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} >= {"nuclei.tif", "he_tile.tif", "nuclei_3d.tif",
                                                     "overlay.png"}
    overlay = read_image(tmp_path / "overlay.png")
    assert overlay.ndim == 3 and overlay.shape[2] == 3 and overlay.shape[1] > 900
    scores = [float(line.split("Dice ")[1].split()[0])
              for line in out.splitlines() if "Dice" in line]
    assert len(scores) == 3 and min(scores) > 0.7


def test_run_on_images_not_in_the_repository(tmp_path, recipe_file, shared):
    """The acceptance check: the full shared sets, through the CLI, reach the issue's Dice."""
    he_recipe = tmp_path / "he.maskprep.yaml"
    he_recipe.write_text(RECIPE.replace("steps:\n", "steps:\n- op: preprocess.to_gray\n"))
    for dataset, modality, recipe, target in [
        ("bbbc039_fluo_nuclei", None, recipe_file, 0.93),
        ("dsb2018_fluo_nuclei", None, recipe_file, 0.86),
        ("dsb2018_brightfield_nuclei", "histology_rgb", he_recipe, 0.80),
    ]:
        items = pairs(shared, dataset, modality)
        out = tmp_path / dataset
        files = [str(i) for i, _ in items]
        assert main(["run", str(recipe), *files, "-o", str(out), "-q"]) == 0
        scores = [dice(read_image(out / f"{i.stem}.tif"), read_image(m)) for i, m in items]
        assert np.mean(scores) >= target, f"{dataset}: {np.mean(scores):.3f}"


def test_ome_zarr_masks_carry_provenance(tmp_path, recipe_file, capsys):
    import zarr

    image = pairs(DATA, "dsb2018_fluo_nuclei")[0][0]
    for _ in range(2):  # the second run replaces the first folder
        assert main(["run", str(recipe_file), str(image), "-o", str(tmp_path), "--format",
                     "zarr"]) == 0
    group = zarr.open_group(tmp_path / f"{image.stem}.zarr", mode="r")
    np.testing.assert_array_equal(group["0"][:], Recipe.load(recipe_file).run(read_image(image)))
    assert group.attrs["multiscales"][0]["axes"][-1] == {"name": "x", "type": "space"}
    capsys.readouterr()
    assert main(["info", str(tmp_path / f"{image.stem}.zarr"), "--recipe"]) == 0
    assert Recipe.loads(capsys.readouterr().out) == Recipe.load(recipe_file)


FAULTS_OF_A_REUSED_BUFFER = """
import resource, sys
import numpy as np
from napari_maskprep.cluster import keep_freed_memory
if sys.argv[1] == "keep":
    keep_freed_memory()
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(48 * 2**20, np.uint8)  # above glibc's own ceiling for keeping freed buffers
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[-1])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_cli_keeps_freed_buffers_for_the_next_image():
    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", FAULTS_OF_A_REUSED_BUFFER, mode],
                             capture_output=True, text=True, check=True)
        return int(out.stdout)

    fresh = faults("default")
    assert fresh >= 48 // 2  # each new buffer faults its pages in (2 MiB ones with THP)
    assert faults("keep") * 10 < fresh  # the freed buffer is handed out again


def test_a_2d_only_step_on_a_stack_is_refused_before_any_file_runs(tmp_path, capsys):
    """CLAHE (2D only) without per_plane failed each stack after the batch began, one row
    each, the 2D files beside them written; a time-lapse of 2D frames runs frame by frame."""
    plane = np.zeros((16, 20), np.uint8)
    plane[4:12, 5:15] = 200
    tifffile.imwrite(tmp_path / "flat.tif", plane)
    tifffile.imwrite(tmp_path / "frames.tif", np.stack([plane] * 2), imagej=True,
                     metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([plane] * 3), imagej=True,
                     metadata={"axes": "ZYX"})
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n- op: preprocess.clahe\n"
                      "- {op: segment.threshold, params: {value: 100}}\n")
    inputs = [str(tmp_path / name) for name in ("flat.tif", "frames.tif", "stack.tif")]
    out = tmp_path / "out"
    assert main(["run", "-q", str(recipe), *inputs, "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {tmp_path / 'stack.tif'}: step 1 (preprocess.clahe): "
        "preprocess.clahe works on 2D data; got 3D data of shape (3, 16, 20); set per_plane: "
        "true to run it plane by plane over the leading axes\n")
    assert not out.exists()
    assert main(["run", "-q", str(recipe), *inputs[:2], "-o", str(out)]) == 0
    np.testing.assert_array_equal(read_image(out / "frames.tif"), np.stack([plane // 200] * 2))
    recipe.write_text(recipe.read_text().replace("clahe\n", "clahe\n  per_plane: true\n"))
    assert main(["run", "-q", str(recipe), inputs[2], "-o", str(out)]) == 0
    np.testing.assert_array_equal(read_image(out / "stack.tif"), np.stack([plane // 200] * 3))


def test_a_4d_image_with_a_per_plane_recipe_writes_a_4d_mask(tmp_path, capsys):
    """The mask was written as a stack of 10 planes for a (2, 5, y, x) image, then the file
    reported failed: counting its objects ran a 3D op on 4D data."""
    mask = np.zeros((2, 5, 16, 16), np.uint8)
    mask[0, 1:3, 2:5, 2:5] = mask[0, 3, 10:12, 10:12] = mask[1, 4, 0:2, 0:2] = 200
    tifffile.imwrite(tmp_path / "tz.tif", mask)
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n- {op: segment.threshold, params: {value: 100}, "
                      "per_plane: true}\n")
    assert main(["run", "-q", str(recipe), str(tmp_path / "tz.tif"), "-o",
                 str(tmp_path / "out")]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "tz.tif"), mask // 200)
    with open(tmp_path / "out" / SUMMARY_NAME, newline="") as f:
        row = next(csv.DictReader(f))
    assert (row["status"], row["objects"]) == ("ok", "3")


def test_a_folder_s_files_of_kinds_maskprep_does_not_read_are_noted(tmp_path, recipe_file,
                                                                    capsys):
    """A folder of .czi files beside one .tif ran the .tif alone, without a word."""
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", np.zeros((8, 8), np.uint8))
    for name in ("b.czi", "c.nd2", "d.bmp", "e.lif", "notes.txt", ".hidden.czi"):
        (folder / name).write_bytes(b"not read")
    assert main(["run", "-q", str(recipe_file), str(folder), "-o", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "maskprep: note: 4 file(s) in the folders given are of a kind maskprep does not read, "
        "not run (b.czi, c.nd2, d.bmp, ...); accepted: .tif, .tiff, .png, .jpg, .jpeg, .svs, "
        ".btf, .tf8, .zarr (convert others to OME-TIFF, e.g. with Fiji or bfconvert)")
    assert (tmp_path / "out" / "a.tif").exists()
