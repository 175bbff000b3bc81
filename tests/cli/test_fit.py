"""`maskprep fit`: the fitted recipe and the score table written, exit codes, errors."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_maskprep import MaskprepError, cli
from napari_maskprep.cli import main
from napari_maskprep.fit import fit_recipe
from napari_maskprep.io import read_image
from napari_maskprep.recipe import Recipe

from ..conftest import DATA
from ..recipe.test_fit import POOR, copy_set

DSB = DATA / "dsb2018_fluo_nuclei"


@pytest.fixture
def poor(tmp_path):
    path = tmp_path / "poor.maskprep.yaml"
    POOR.save(path)
    return path


def fit_args(poor, images, masks, output, *extra):
    return ["fit", str(poor), "--images", str(images), "--masks", str(masks), "-o", str(output),
            "--labels", "--trials", "8", *extra]


def test_fit_writes_the_fitted_recipe_and_the_scores(tmp_path, poor, capsys):
    images, masks = copy_set(DSB, tmp_path / "set")
    output = tmp_path / "fitted.maskprep.yaml"
    assert main(fit_args(poor, images, masks, output, "--holdout", "2a2032c4ed78f3fc")) == 0
    expected = fit_recipe(POOR, images, masks, labels=True, trials=8,
                          holdout=["2a2032c4ed78f3fc"])
    assert Recipe.load(output) == expected.recipe
    with open(tmp_path / "fitted.fit.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["image"], r["set"]) for r in rows] == [
        (s.name, "held-out" if s.held_out else "search") for s in expected.scores]
    assert [float(r["dice_after"]) for r in rows] == [round(s.after, 6) for s in expected.scores]
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["image", "set", "Dice", "before", "after"]
    assert "2a2032c4ed78f3fc  held-out" in out and "mean              held-out" in out
    assert "8 trials; changed: " in err and f"wrote {output}" in err


def test_a_report_path_a_budget_and_what_was_kept(tmp_path, capsys):
    recipe = tmp_path / "um.maskprep.yaml"
    Recipe([*POOR.steps[:2], {"op": "refine.open", "params": {"radius": "0.5 um"}},
            POOR.steps[2]]).save(recipe)
    report = tmp_path / "scores.csv"
    args = fit_args(recipe, DSB / "images", DSB / "masks", tmp_path / "f.json", "--budget",
                    "600", "--report", str(report), "--search", "4.min_size", "-q",
                    "--pixel-size", "0.25")
    assert main(args) == 0
    assert report.is_file() and Recipe.load(tmp_path / "f.json").steps[0] == POOR.steps[0]
    assert "kept: 3.radius = 0.5 um (sizes in micrometres are kept)" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (["--search", "7.sigma"], "search='7.sigma' is not a searchable parameter"),
    (["--holdout", "nope"], "holdout names 'nope'"),
    # --holdout names images; a fraction given to it said only 'no image with a mask'
    (["--holdout", "0.2"], "holdout names '0.2', which is no image with a mask; accepted: the "
                           "images' file stems (a fraction of them: holdout=0.2, "
                           "--holdout-fraction 0.2)\n"),
])
def test_bad_fits_exit_2_with_one_line(tmp_path, poor, capsys, extra, message):
    assert main(fit_args(poor, DSB / "images", DSB / "masks", tmp_path / "f.yaml", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("maskprep: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "f.yaml").exists()


def test_label_masks_without_labels_are_refused(tmp_path, poor, capsys):
    args = fit_args(poor, DSB / "images", DSB / "masks", tmp_path / "f.yaml")
    args.remove("--labels")
    assert main(args) == 2
    assert "accepted: a binary mask (0/1, 0/255), or label images with labels=True (--labels)" \
        in capsys.readouterr().err


def test_nothing_is_written_over_an_input(tmp_path, poor, capsys):
    images, masks = copy_set(DSB, tmp_path / "set", count=2)
    mask = next(masks.iterdir())
    before = mask.read_bytes()
    for output, extra in [(poor, []), (mask, []), (tmp_path / "f.yaml", ["--report", str(mask)])]:
        assert main(fit_args(poor, images, masks, output, *extra)) == 2
        assert "is one of the inputs; accepted: a new file name" in capsys.readouterr().err
    output = tmp_path / "f.yaml"  # the output, not an input
    assert main(fit_args(poor, images, masks, output, "--report", str(output))) == 2
    assert capsys.readouterr().err == (f"maskprep: error: --report {output} is the fitted "
                                       "recipe's output (-o); accepted: another file name\n")
    assert not output.exists()
    assert mask.read_bytes() == before and Recipe.load(poor) == POOR
    assert main(fit_args(poor, images, masks, tmp_path / "no" / "f.yaml")) == 2
    assert "not a file in an existing folder" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"), [("--trials", "0"), ("--budget", "-3"),
                                               ("--holdout-fraction", "1.5")])
def test_bad_options_exit_2(tmp_path, poor, option, value, capsys):
    with pytest.raises(SystemExit) as info:
        main(fit_args(poor, DSB / "images", DSB / "masks", tmp_path / "f.yaml", option, value))
    assert info.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_no_pairs_exit_2(tmp_path, poor, capsys):
    (tmp_path / "masks").mkdir()
    shutil.copy(next((DSB / "masks").iterdir()), tmp_path / "masks" / "other.tif")
    assert main(fit_args(poor, DSB / "images", tmp_path / "masks", tmp_path / "f.yaml")) == 2
    assert "has a mask of the same file stem" in capsys.readouterr().err


def test_the_report_s_default_name_never_replaces_a_person_s_file(tmp_path, poor, capsys):
    images, masks = copy_set(DSB, tmp_path / "set")
    notes = tmp_path / "fitted.fit.csv"
    notes.write_text("my own notes\n", encoding="utf-8")
    output = tmp_path / "fitted.maskprep.yaml"
    assert main(fit_args(poor, images, masks, output)) == 2
    assert capsys.readouterr().err.strip() == (
        f"maskprep: error: {notes} (the report's default name) exists and is not a fit "
        "report; it is left as it is (give --report, or move it)")
    assert notes.read_text(encoding="utf-8") == "my own notes\n" and not output.exists()
    notes.unlink()
    assert main(fit_args(poor, images, masks, output)) == 0
    assert main(fit_args(poor, images, masks, output)) == 0  # an earlier report: replaced


def test_a_file_that_is_no_recipe_or_report_is_never_replaced(tmp_path, poor, capsys):
    images, masks = copy_set(DSB, tmp_path / "set", count=2)
    notes = tmp_path / "notes.txt"  # -o and --report replaced a person's file
    notes.write_text("my own notes\n", encoding="utf-8")
    other = tmp_path / "other.fit.csv"
    assert main(fit_args(poor, images, masks, notes)) == 2
    assert capsys.readouterr().err.strip() == (
        f"maskprep: error: {notes} exists and is not a recipe; it is left as it is (give a "
        "new path, or a recipe to replace)")
    assert main(fit_args(poor, images, masks, other, "--report", str(notes))) == 2
    assert capsys.readouterr().err.strip() == (
        f"maskprep: error: {notes} exists and is not a fit report; it is left as it is (give "
        "another --report, or move it)")
    assert notes.read_text(encoding="utf-8") == "my own notes\n" and not other.exists()
    fitted = tmp_path / "fitted.maskprep.yaml"
    assert main(fit_args(poor, images, masks, fitted, "--report", str(other))) == 0
    assert main(fit_args(poor, images, masks, fitted, "--report", str(other))) == 0  # ours


@pytest.mark.parametrize("option", ["-o", "--report"])
def test_a_read_only_folder_is_refused_before_the_search(tmp_path, poor, capsys, monkeypatch,
                                                         option):
    # The whole search ran, then -o failed; or -o was written and --report failed, naming
    # its hidden temporary file ('cannot write .../.maskprep-tmp-...csv: Permission denied').
    images, masks = copy_set(DSB, tmp_path / "set", count=2)
    locked = tmp_path / "read-only"
    locked.mkdir()
    access = os.access  # root may write anywhere: the folder is made read-only here
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if Path(path) == locked and mode & os.W_OK else access(path, mode, **kw)))
    monkeypatch.setattr(cli, "fit_recipe", None)  # no search runs
    output, report = tmp_path / "fitted.maskprep.yaml", tmp_path / "fitted.fit.csv"
    target = locked / ("fitted.maskprep.yaml" if option == "-o" else "scores.csv")
    if option == "-o":
        output = target
    else:
        report = target
    assert main(fit_args(poor, images, masks, output, "--report", str(report))) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {option} {target}: its folder is not writable (read-only, or no "
        "permission); accepted: a file in a folder this user can write files in\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poor.maskprep.yaml", "read-only",
                                                          "set"]
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(("option", "name", "example"), [
    ("-o", "fitted.tif", "fitted.maskprep.yaml"), ("-o", "fitted.SVS", "fitted.maskprep.yaml"),
    ("--report", "scores.png", "fitted.fit.csv")])
def test_an_image_file_name_is_refused_for_what_fit_writes(tmp_path, poor, capsys, option,
                                                           name, example):
    # -o images/fitted.tif wrote the recipe (YAML) as an image of the folder: the next fit
    # named it an image without a mask, and maskprep run on the folder failed on it.
    images, masks = copy_set(DSB, tmp_path / "set", count=2)
    target = images / name
    extra = ["--report", str(target)] if option == "--report" else []
    output = target if option == "-o" else tmp_path / "fitted.maskprep.yaml"
    assert main(fit_args(poor, images, masks, output, *extra)) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {option} {target}: an image file's name, which maskprep run and "
        f"fit would read as an image; accepted: another suffix ({example})\n")
    assert sorted(p.name for p in tmp_path.rglob("*fit*")) == []
    assert not target.exists()


def test_an_image_name_that_is_not_utf8_is_reported(tmp_path, poor):
    # Its report was a traceback, after the whole search.
    images, masks = copy_set(DSB, tmp_path / "set", count=2)
    stem = os.fsdecode(b"caf\xe9")
    for folder in (images, masks):
        first = sorted(folder.iterdir())[0]
        first.rename(folder / f"{stem}{first.suffix}")
    output = tmp_path / "fitted.maskprep.yaml"
    for _ in range(2):  # the second run replaces the report it wrote
        assert main(fit_args(poor, images, masks, output, "--holdout-fraction", "0")) == 0
    with open(tmp_path / "fitted.fit.csv", newline="", encoding="utf-8",
              errors="surrogateescape") as f:
        assert stem in [row["image"] for row in csv.DictReader(f)]


def test_a_budget_over_before_any_trial_keeps_the_recipe(tmp_path, poor, capsys):
    """optuna's best_value raised (no trial completed): a traceback."""
    images, masks = copy_set(DSB, tmp_path / "set")
    output = tmp_path / "fitted.maskprep.yaml"
    assert main(fit_args(poor, images, masks, output, "--budget", "1e-9")) == 0
    assert Recipe.load(output) == POOR
    assert "changed: nothing" in capsys.readouterr().err


def test_a_budget_out_of_range_says_the_range(tmp_path, poor, capsys):
    """1e9 is a number of seconds above 0, which the refusal said it was not."""
    for value in ("1e9", "0", "nan"):
        with pytest.raises(SystemExit):
            main(fit_args(poor, DSB / "images", DSB / "masks", tmp_path / "f.yaml",
                          "--budget", value))
        assert (f"argument --budget: '{value}' is not a number of seconds above 0 and below "
                "1000000000") in capsys.readouterr().err


def test_images_and_masks_left_unpaired_are_named(tmp_path, poor, capsys):
    """A mask saved under another name left its image out of the fit without a word: a
    folder of 100 images fitted on the 3 whose names matched looked like a full run."""
    images, masks = copy_set(DSB, tmp_path / "set", count=3)
    first = sorted(masks.iterdir())[0]
    first.rename(masks / f"{first.stem}_mask.png")
    output = tmp_path / "fitted.maskprep.yaml"
    assert main([*fit_args(poor, images, masks, output)[:-1], "1", "-q"]) == 0
    assert capsys.readouterr().err.splitlines()[1] == (
        f"left out: 1 image without a mask of its stem ({first.stem}); 1 mask without an "
        f"image of its stem ({first.stem}_mask)")
    assert fit_recipe(POOR, images, masks, labels=True, trials=1).left_out == [
        f"1 image without a mask of its stem ({first.stem})",
        f"1 mask without an image of its stem ({first.stem}_mask)"]


def test_fit_reads_the_channel_it_is_told_of_files_with_channels(tmp_path, poor, capsys):
    # A folder of two-channel TIFFs was refused with 'choose the one to segment, with
    # --channel N', an option fit did not have.
    images, masks = copy_set(DSB, tmp_path / "set", count=2)
    planes = []
    for path in sorted(images.iterdir()):
        grey = read_image(path)
        planes.append(grey)
        path.unlink()
        tifffile.imwrite(images / f"{path.stem}.tif", np.stack([grey[::-1], grey]),
                         imagej=True, metadata={"axes": "CYX"})
    output = tmp_path / "fitted.maskprep.yaml"
    assert main(fit_args(poor, images, masks, output, "--channel", "1", "-q")) == 0
    truth = [read_image(p) for p in sorted(masks.iterdir())]
    expected = fit_recipe(POOR, planes, truth, labels=True, trials=8)
    assert Recipe.load(output) == expected.recipe
    assert [(s.held_out, s.before, s.after) for s in fit_recipe(
        POOR, images, masks, labels=True, trials=8, channel=1).scores] == [
        (s.held_out, s.before, s.after) for s in expected.scores]
    with pytest.raises(MaskprepError) as info:
        fit_recipe(POOR, planes, truth, labels=True, channel=1)
    assert str(info.value) == ("channel 1 with images given as arrays; accepted: a channel "
                               "with folders of files (it picks the channel of each)")


def test_the_paths_fit_wrote_are_shown_escaped(tmp_path, capsys):
    # 'wrote OUTPUT and REPORT' printed the paths as given: a name holding a terminal escape
    # reached the terminal, where run's and export's lines show it escaped.
    image = np.zeros((32, 32), np.uint8)
    image[8:24, 8:24] = 200
    for folder, array in (("images", image), ("masks", (image > 0).astype(np.uint8))):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "a.tif", array)
    recipe = tmp_path / "r.maskprep.yaml"
    Recipe([{"op": "segment.threshold", "params": {"value": 50.0}}]).save(recipe)
    output = tmp_path / "fit\x1b[31m.maskprep.yaml"
    assert main(["fit", str(recipe), "--images", str(tmp_path / "images"), "--masks",
                 str(tmp_path / "masks"), "-o", str(output), "--trials", "1",
                 "--holdout-fraction", "0", "-q"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"wrote {tmp_path}/fit\\x1b[31m.maskprep.yaml and {tmp_path}/fit\\x1b[31m.fit.csv")
