"""`maskprep run` never loses data: inputs and other people's files are never replaced,
stale temporary files are cleaned, resume honours the recipe, the summary is whole."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_maskprep import batch
from napari_maskprep.batch import SUMMARY_NAME, plan_batch, run_batch
from napari_maskprep.cli import main
from napari_maskprep.core.errors import BadValueError
from napari_maskprep.core.processes import host_id
from napari_maskprep.io import open_lazy, read_image, read_provenance, write_region
from napari_maskprep.ops.edit import ManualEdit
from napari_maskprep.recipe import Recipe, Step

from ..conftest import RECIPE


def contents(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def summary_rows(outdir):
    with open(outdir / SUMMARY_NAME, newline="", encoding="utf-8",
              errors="surrogateescape") as f:
        return {os.path.basename(r["file"]): r for r in csv.DictReader(f)}


@pytest.mark.parametrize("fmt", ["tif", "png"])
def test_output_folder_holding_the_inputs_is_refused(tmp_path, recipe_file, folder, fmt, capsys):
    before = contents(folder)
    args = ["run", str(recipe_file), str(folder), "-o", str(folder), "--format", fmt]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds the input" in err and "--suffix" in err and len(err.splitlines()) == 1
    assert contents(folder) == before


def test_a_suffix_writes_beside_the_inputs_and_leaves_them_alone(recipe_file, folder, capsys):
    before = contents(folder)
    args = ["run", str(recipe_file), str(folder), "-o", str(folder), "--suffix", "_mask", "-q"]
    assert main(args) == 0
    masks = sorted(p.name for p in folder.glob("*_mask.tif"))
    assert len(masks) == 3
    assert {k: v for k, v in contents(folder).items() if k in before} == before
    assert main(args) == 0  # a second run does not take the masks for inputs
    assert sorted(p.name for p in folder.glob("*_mask*.tif")) == masks
    assert "3 written" in capsys.readouterr().err.splitlines()[-1]


def test_a_file_maskprep_did_not_write_is_never_replaced(tmp_path, recipe_file, folder, capsys):
    out = tmp_path / "out"
    out.mkdir()
    stem = sorted(folder.iterdir())[0].stem
    precious = np.arange(12, dtype=np.uint8).reshape(3, 4)
    tifffile.imwrite(out / f"{stem}.tif", precious)
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{stem}.tif exists and has no provenance maskprep can read" in err
    np.testing.assert_array_equal(tifffile.imread(out / f"{stem}.tif"), precious)
    assert len(list(out.glob("*.tif"))) == 3


def test_a_summary_maskprep_did_not_write_is_never_replaced(tmp_path, recipe_file, folder,
                                                           capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / SUMMARY_NAME).write_text("my own notes, hours of work\n", encoding="utf-8")
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"maskprep: error: {out / SUMMARY_NAME} exists and is not a "
                                "summary maskprep wrote; it is left as it is (move it, or "
                                "write to another folder)"]
    assert contents(out) == {SUMMARY_NAME: b"my own notes, hours of work\n"}
    (out / SUMMARY_NAME).unlink()
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 0
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 0  # ours


def test_a_mask_holding_hand_edits_is_replaced_only_by_its_own_recipe(tmp_path, recipe_file,
                                                                     folder, capsys):
    # Painted and written back as napari's Edit region does, the mask was replaced by the
    # next run of the recipe, and the hand edits were lost.
    image = sorted(folder.iterdir())[0]
    out = tmp_path / "out"
    args = ["run", str(recipe_file), str(image), "-o", str(out), "--format", "zarr", "-q"]
    assert main(args) == 0
    store = out / f"{image.stem}.zarr"
    before = open_lazy(store).data[:8, :8].compute()
    after = 1 - before
    edit = ManualEdit.in_region(before, after, origin=(0, 0),
                                shape=open_lazy(store).data.shape)
    info = read_provenance(store)
    edited = Recipe.loads(info["recipe"])
    edited.append(Step("edit.manual", edit.params()))
    write_region(store, (0, 0), after, provenance={**info, "recipe": edited.dumps()})
    for extra in ([], ["--resume"]):
        assert main(args + extra) == 1
        assert (f"{store} holds hand edits (edit.manual in the recipe that made it); it is "
                "left as it is (move it, or write to another folder)") in capsys.readouterr().err
        np.testing.assert_array_equal(open_lazy(store).data[:8, :8].compute(), after)
    edited.save(recipe_file)  # the recipe that made it replays the edits
    assert main(args) == 0
    np.testing.assert_array_equal(open_lazy(store).data[:8, :8].compute(), after)


def test_export_never_replaces_a_file_it_did_not_write(tmp_path, recipe_file, capsys):
    before = recipe_file.read_bytes()
    image = tmp_path / "image.tif"
    tifffile.imwrite(image, np.ones((4, 4), np.uint8))
    pixels = image.read_bytes()
    for target in (recipe_file, image):
        assert main(["export", str(recipe_file), "-o", str(target)]) == 2
        assert "exists and is not a script maskprep exported" in capsys.readouterr().err
    assert recipe_file.read_bytes() == before and image.read_bytes() == pixels
    script = tmp_path / "recipe.py"
    assert main(["export", str(recipe_file), "-o", str(script)]) == 0
    assert main(["export", str(recipe_file), "-o", str(script)]) == 0  # an earlier export


def test_export_over_a_fifo_is_refused_at_once(tmp_path, recipe_file):
    fifo = tmp_path / "script.py"
    os.mkfifo(fifo)  # read to see whether it was an earlier export, it blocked for ever
    exe = os.path.join(os.path.dirname(sys.executable), "maskprep")
    done = subprocess.run([exe, "export", str(recipe_file), "-o", str(fifo)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == (f"maskprep: error: {fifo} exists and is not a script maskprep "
                           "exported; it is left as it is (give a new path, or an earlier "
                           "export to replace)\n")


def test_an_overflowing_memory_limit_is_one_line(tmp_path, recipe_file, folder, capsys):
    with pytest.raises(SystemExit):
        main(["run", str(recipe_file), str(folder), "-o", str(tmp_path), "--memory-limit",
              "1e400GB"])
    assert "'1e400GB' is not a memory size of at least 1 MiB" in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, recipe_file, folder,
                                                          capsys):
    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path / "notes.txt" / "out"  # a file on the way: mkdir raised a traceback
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"maskprep: error: output folder {out} cannot be made (Not a "
                                "directory); accepted: a folder, or a path where one can be "
                                "made"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(
        tmp_path, recipe_file, folder, capsys, monkeypatch):
    # Each file failed with 'PermissionError: [Errno 13] ... .maskprep-tmp-...', then the
    # summary as a usage error naming its temporary file.
    out = tmp_path / "read-only"
    out.mkdir()
    access = os.access  # root may write anywhere: the folder is made read-only here
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if Path(path) == out and mode & os.W_OK else access(path, mode, **kw)))
    ran = []
    monkeypatch.setattr(batch, "run_file", lambda *args, **kwargs: ran.append(args))
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"maskprep: error: output folder {out} is not writable (read-only, or no "
        "permission); accepted: a folder this user can write files in"]
    assert ran == [] and list(out.iterdir()) == []


@pytest.mark.parametrize("where", ["recipe", "input", "output", "export", "fit images"])
def test_a_path_the_system_refuses_is_one_line(tmp_path, recipe_file, folder, where, capsys):
    long = str(tmp_path / ("a" * 300))  # longer than a file name may be: stat raised
    recipe, image, out = str(recipe_file), str(folder), str(tmp_path / "out")
    argv = {
        "recipe": ["run", long + ".yaml", image, "-o", out],
        "input": ["run", recipe, long, "-o", out],
        "output": ["run", recipe, image, "-o", long],
        "export": ["export", recipe, "-o", long],
        "fit images": ["fit", recipe, "--images", long, "--masks", image, "-o", out],
    }[where]
    assert main([*argv, "-q"] if argv[0] == "run" else argv) == 2
    suffix = ".yaml" if where == "recipe" else ""
    shown = f"{(long + suffix)[:40]}...{(long + suffix)[-20:]}"
    assert capsys.readouterr().err.splitlines() == [
        f"maskprep: error: {shown}: File name too long; accepted: a shorter name"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "nuclei.maskprep.yaml"]


@pytest.mark.parametrize(("argv", "argument"), [
    (["run", "R", "", "-o", "out"], "INPUT"),
    (["run", "R", "IN", "-o", ""], "-o/--output"),
    (["run", "", "IN", "-o", "out"], "recipe"),
    (["demo", "-o", ""], "-o/--output"),
    (["export", "R", "-o", ""], "-o/--output"),
    (["fit", "R", "--images", "IN", "--masks", "IN", "-o", ""], "-o/--output"),
    (["fit", "R", "--images", "", "--masks", "IN", "-o", "f.yaml"], "--images"),
    (["fit", "R", "--images", "IN", "--masks", "IN", "-o", "f.yaml", "--report", ""],
     "--report"),
    (["info", ""], "mask"),
])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(
        tmp_path, recipe_file, folder, monkeypatch, argv, argument, capsys):
    """An unset shell variable ("$OUT") gave '.': masks and a summary landed in the current
    folder, every image of it was run as INPUT, fit -o raised a traceback."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(sorted(folder.iterdir())[0], work)
    monkeypatch.chdir(work)
    names = {"R": str(recipe_file), "IN": str(folder)}
    with pytest.raises(SystemExit) as exit_:
        main([names.get(a, a) for a in argv])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"error: argument {argument}: an empty path; accepted: a file or folder name")
    assert [p.name for p in work.iterdir()] == [sorted(folder.iterdir())[0].name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "nuclei.maskprep.yaml",
                                                          "work"]


def test_a_file_name_s_control_characters_are_shown_escaped_on_one_line(tmp_path,
                                                                        recipe_file, capsys):
    """A warning printed its file's name as it is (a terminal escape reached the terminal),
    and a name holding a line break split a failure over two lines."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    tifffile.imwrite(inputs / "flat\x1b]0;pwn\x07.tif", np.full((8, 8), 7, np.uint8))
    (inputs / "two\nlines.tif").write_bytes(b"hello")
    assert main(["run", str(recipe_file), str(inputs), "-o", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"warning: {inputs}/flat\\x1b]0;pwn\\x07.tif: ")
    assert err[1].startswith(f"failed: {inputs}/two\\nlines.tif: starts with b'hello'")
    assert len(err) == 3 and "\x1b" not in "".join(err)


def test_an_output_path_s_control_characters_are_shown_escaped(tmp_path, recipe_file, capsys):
    """The lines saying where run and export wrote ('... -> OUTDIR', 'wrote SCRIPT') printed
    the path as it is: a folder or script name holding a terminal escape reached the
    terminal, where every error about the same path shows it escaped."""
    tifffile.imwrite(tmp_path / "flat.tif", np.full((8, 8), 7, np.uint8))
    outdir, script = tmp_path / "out\x1b[31m", tmp_path / "s\x1b]0;pwn\x07.py"
    assert main(["run", str(recipe_file), str(tmp_path / "flat.tif"), "-o", str(outdir),
                 "-q"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"1 written, 0 skipped (done before), 0 failed -> {tmp_path}/out\\x1b[31m "
        "(summary: maskprep-summary.csv)")
    assert main(["export", str(recipe_file), "-o", str(script)]) == 0
    assert capsys.readouterr().err == (f"wrote {tmp_path}/s\\x1b]0;pwn\\x07.py: python "
                                       f"{tmp_path}/s\\x1b]0;pwn\\x07.py INPUT... -o OUTDIR\n")


def test_planning_checks_paths_before_anything_is_made(tmp_path, folder):
    recipe = Recipe.loads(RECIPE)
    with pytest.raises(BadValueError, match="no such file or folder"):
        plan_batch(recipe, [folder, tmp_path / "gone.tif"], tmp_path / "out")
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(sorted(folder.iterdir())[0], a / "same.png")
    shutil.copy(sorted(folder.iterdir())[1], b / "same.png")
    with pytest.raises(BadValueError) as both:
        plan_batch(recipe, [a, b], tmp_path / "out")
    # 'run them separately' was the advice: into one folder, the second mask replaced the first
    assert str(both.value) == (
        f"{a / 'same.png'} and {b / 'same.png'} would both write {tmp_path / 'out' / 'same.tif'}"
        "; give them different names, or write their masks to different folders (in one "
        "folder, the second replaces the first)")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadValueError, match="exists and is not a folder"):
        plan_batch(recipe, [a], tmp_path / "file")
    # A mask name over the file system's 255 bytes failed once the recipe had run, with
    # "OSError: [Errno 36] File name too long".
    with pytest.raises(BadValueError, match=r"^the mask name 'same_x+\.\.\.x+\.tif' is 259 "
                                            r"bytes, over the 255 a file name may have; "
                                            r"accepted: a shorter suffix or input file name$"):
        plan_batch(recipe, [a], tmp_path / "out", suffix="_" + "x" * 250)
    with pytest.raises(BadValueError, match=r"^the mask name 'same_s0_x+\.\.\.x+\.tif' is 256 "):
        plan_batch(recipe, [a], tmp_path / "out", suffix="_" + "x" * 244, series=0)
    assert not (tmp_path / "out").exists()
    with pytest.raises(BadValueError, match="suffix '/x'; accepted"):
        plan_batch(recipe, [a], tmp_path / "out", suffix="/x")
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(a / "same.png", linked / "same.png")  # the mask would land on an input
    with pytest.raises(BadValueError) as refused:
        plan_batch(recipe, [a], linked, fmt="png")
    assert str(refused.value) == (f"the mask {linked / 'same.png'} would replace an input; "
                                  "write elsewhere")
    (linked / "same.png").unlink()
    os.symlink(a / "same.png", linked / "same_s0.png")  # a series' mask would
    with pytest.raises(BadValueError) as refused:
        plan_batch(recipe, [a], linked, fmt="png", series=0)
    assert str(refused.value) == (f"the mask {linked / 'same_s0.png'} would replace an input; "
                                  "write elsewhere")
    assert not (tmp_path / "out").exists()


def test_stale_temporary_files_are_cleaned_and_never_read(tmp_path, recipe_file, folder):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = out / f".maskprep-tmp-{host_id()}-{dead}-x.tif.abc123.tif"
    running = out / f".maskprep-tmp-{host_id()}-{os.getpid()}-y.tif.def456.tif"
    other_host = out / f".maskprep-tmp-00000000-{dead}-z.tif.ghi789.tif"
    for path in (stale, running, other_host):
        path.write_bytes(b"half a tiff")
    (out / ".maskprep-tmp-folder").mkdir()
    assert main(["run", str(recipe_file), str(folder), str(out), "-o", str(out),
                 "--suffix", "_m", "-q"]) == 0
    assert not stale.exists() and running.exists() and other_host.exists()
    assert len(summary_rows(out)) == 3  # the hidden files were never taken for inputs


def test_resume_reruns_a_file_whose_recipe_differs(tmp_path, recipe_file, folder, capsys):
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 0
    first = summary_rows(out)
    other = tmp_path / "other.maskprep.yaml"
    other.write_text(RECIPE.replace("min_size: 20", "min_size: 200"))
    assert main(["run", str(other), str(folder), "-o", str(out), "-q", "--resume"]) == 0
    assert "3 written, 0 skipped" in capsys.readouterr().err
    for mask in out.glob("*.tif"):
        assert Recipe.loads(read_provenance(mask)["recipe"]) == Recipe.load(other)
    assert main(["run", str(other), str(folder), "-o", str(out), "-q", "--resume"]) == 0
    assert "0 written, 3 skipped" in capsys.readouterr().err
    rows = summary_rows(out)
    for name, row in rows.items():  # skipped rows keep their counts, read from the mask
        assert row["status"] == "skipped"
        mask = read_image(out / f"{os.path.splitext(name)[0]}.tif")
        assert int(row["objects"]) == batch.count_objects(mask) > 0
        assert int(row["objects"]) <= int(first[name]["objects"])


def test_resume_summary_keeps_the_rows_of_files_not_run_again(tmp_path, recipe_file, folder):
    out = tmp_path / "out"
    images = sorted(folder.iterdir())
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 0
    assert main(["run", str(recipe_file), str(images[0]), "-o", str(out), "-q",
                 "--resume"]) == 0
    rows = summary_rows(out)
    assert set(rows) == {p.name for p in images}
    assert rows[images[0].name]["status"] == "skipped"
    assert {rows[p.name]["status"] for p in images[1:]} == {"ok"}


def test_a_file_name_that_is_not_utf8_keeps_its_row(tmp_path, recipe_file, folder):
    # Linux names are bytes: the summary was a traceback after every mask was written.
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1, as an old share may hold
    shutil.copy(sorted(folder.iterdir())[0], folder / name)
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 0
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q", "--resume"]) == 0
    rows = summary_rows(out)  # the name as the file system has it, once
    assert len(rows) == 4 and rows[name]["status"] == "skipped"


def test_file_names_a_spreadsheet_would_evaluate_are_written_as_text(tmp_path, recipe_file,
                                                                     folder, monkeypatch):
    # A file named "=HYPERLINK(...)" reached the summary as it is: a formula when opened.
    images = sorted(folder.iterdir())
    names = ["=1+1.png", "+2.png", "-3.png", "@SUM(A1).png"]
    for image, name in zip(images, names, strict=False):
        image.rename(folder / name)
    (folder / "\tnotes.txt").write_text("not an image")
    out = tmp_path / "out"
    monkeypatch.chdir(folder)  # inputs given by relative name: the cell starts with it
    args = ["run", "-o", str(out), "-q", "--", str(recipe_file), *names[:3], "\tnotes.txt"]
    assert main(args) == 1
    assert main(["run", str(recipe_file), names[0], "-o", str(out), "-q", "--resume"]) == 0
    with open(out / SUMMARY_NAME, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], r["status"]) for r in rows] == [
        ("'+2.png", "ok"), ("'-3.png", "ok"), ("'\tnotes.txt", "failed"), ("'=1+1.png", "skipped")]
    assert rows[2]["error"].startswith("'\tnotes.txt: ")
    assert rows[0]["output"] == str(out / "+2.tif") and float(rows[0]["seconds"]) >= 0


def test_a_batch_summary_neutralises_formulas_in_text_cells_only(tmp_path):
    result = batch.FileResult("=cmd|' /C calc'!A0", "failed", error="-2+3 bad", objects=-1,
                              foreground_fraction=-0.5, warnings="@x\r\ty")
    path = batch.write_summary([result, batch.FileResult("a.png", "ok", output="\rb.tif")],
                               tmp_path / SUMMARY_NAME)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[1:] == [["'=cmd|' /C calc'!A0", "failed", "", "-1", "-0.5", "0.0", "'-2+3 bad",
                         "'@x\r\ty"],
                        ["a.png", "ok", "'\rb.tif", "0", "0.0", "0.0", "", ""]]


def test_a_resumed_summary_neutralises_the_rows_an_older_version_wrote(tmp_path):
    path = tmp_path / SUMMARY_NAME
    path.write_text("file,status,output,objects,foreground_fraction,seconds,error,warnings\r\n"
                    "=1+1.png,failed,,0,0.0,0.1,=1+1.png: bad,\r\n"
                    "+2.png,ok,out/+2.tif,-1,0.5,0.2,,\r\n", encoding="utf-8")
    batch.write_summary([batch.FileResult("+2.png", "skipped", "out/+2.tif", 3, 0.25, 0.0)],
                        path, merge=True)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[1:] == [["'=1+1.png", "failed", "", "0", "0.0", "0.1", "'=1+1.png: bad", ""],
                        ["'+2.png", "skipped", "out/+2.tif", "3", "0.25", "0.0", "", ""]]


def test_summary_is_written_atomically(tmp_path, recipe_file, folder, monkeypatch):
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 0
    before = (out / SUMMARY_NAME).read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch.csv, "DictWriter", full_disk)
    with pytest.raises(OSError, match="No space left"):
        batch.write_summary([], out / SUMMARY_NAME)
    assert (out / SUMMARY_NAME).read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".maskprep-tmp")]


def test_interrupt_writes_the_summary_of_what_was_done(tmp_path, recipe_file, folder,
                                                       monkeypatch, capsys):
    calls = []
    run_file = batch.run_file

    def interrupted_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return run_file(*args, **kwargs)

    monkeypatch.setattr(batch, "run_file", interrupted_second)
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 130
    err = capsys.readouterr().err
    assert "interrupted after 1 of 3 images: 1 written" in err and "Traceback" not in err
    assert len(summary_rows(out)) == 1 and len(list(out.glob("*.tif"))) == 1


def test_failures_name_their_file_and_counting_failures_stay_per_file(
        tmp_path, recipe_file, folder, monkeypatch, capsys):
    count = batch.count_objects
    first = sorted(folder.iterdir())[0]

    def out_of_memory_on_the_first(mask):
        if mask.shape == read_image(first).shape:
            raise MemoryError("Unable to allocate 9.1 GiB")
        return count(mask)

    monkeypatch.setattr(batch, "count_objects", out_of_memory_on_the_first)
    bad = tmp_path / "bad.maskprep.yaml"
    bad.write_text("maskprep: 1\nsteps:\n- {op: segment.color_range}\n")
    out = tmp_path / "out"
    assert main(["run", str(recipe_file), str(folder), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"failed: {first}: MemoryError: Unable to allocate" in err
    assert len(list(out.glob("*.tif"))) == 3 and len(summary_rows(out)) == 3
    monkeypatch.setattr(batch, "count_objects", count)
    assert main(["run", str(bad), str(first), "-o", str(tmp_path / "o2"), "-q"]) == 1
    line = capsys.readouterr().err.splitlines()[0]
    assert line.startswith(f"failed: {first}: step 1 (segment.color_range): ")


def test_scheduler_address_is_checked_before_work(tmp_path, recipe_file, folder, capsys):
    for address in ("tcp://nohost:notaport", "tcp://[::1", "::::"):
        assert main(["run", str(recipe_file), str(folder), "-o", str(tmp_path / "out"),
                     "--scheduler", address]) == 2
        err = capsys.readouterr().err
        assert "scheduler address" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    plan = plan_batch(Recipe.loads(RECIPE), [folder], tmp_path / "out")
    with pytest.raises(BadValueError, match=r"no dask scheduler answered at 'tcp://127.0.0.1:9'"):
        run_batch(plan, scheduler="tcp://127.0.0.1:9", connect_timeout=1)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def other_server():
    """A TCP server on a free port that answers each connection with the bytes given (none:
    it waits, as an HTTP server does for a request) and keeps it open."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []

    def serve(reply):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.sendall(reply)
            held.append(conn)

    def start(reply):
        threading.Thread(target=serve, args=(reply,), daemon=True).start()
        return f"tcp://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    listener.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize(("reply", "message"), [
    (b"", "no dask scheduler answered at '{}' within 1 s"),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "the server at '{}' answered, but not as a dask "
     "scheduler; accepted: a dask.distributed scheduler's address (its port is 8786 by "
     "default; 8787 is its dashboard)"),
])
def test_a_server_that_is_no_dask_scheduler_is_one_line(tmp_path, folder, other_server, reply,
                                                        message):
    """dask's Client waited for ever on a server that took the connection and said nothing
    (the dashboard's port, --scheduler tcp://host:8787), and took an HTTP reply's first 8
    bytes for a frame size: a 3 EiB allocation and its traceback."""
    address = other_server(reply)
    plan = plan_batch(Recipe.loads(RECIPE), [folder], tmp_path / "out")
    with pytest.raises(BadValueError) as info:
        run_batch(plan, scheduler=address, connect_timeout=1)
    assert str(info.value) == message.format(address)
    assert not (tmp_path / "out").exists()


def test_workers_are_bounded(tmp_path, recipe_file, folder, capsys):
    with pytest.raises(SystemExit):
        main(["run", str(recipe_file), str(folder), "-o", str(tmp_path), "--workers", "10**9"])
    with pytest.raises(SystemExit):
        main(["run", str(recipe_file), str(folder), "-o", str(tmp_path), "--workers", "100000"])
    assert "from 1 to 256" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_listing_quietly():
    exe = os.path.join(os.path.dirname(sys.executable), "maskprep")
    # `maskprep ops | true`: the pipe's reader is gone before the listing starts, and the
    # listing is buffered as in any shell (unbuffered, the first write fails inside main)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([exe, "ops"], stdout=write_end, stderr=subprocess.PIPE,
                              env=env, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 141
    err = done.stderr.decode()
    assert "Traceback" not in err and "Exception ignored" not in err


def test_demo_never_replaces_a_person_s_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "not-a-folder"
    target.write_text("my notes")
    assert main(["demo", "-o", "not-a-folder"]) == 2
    assert capsys.readouterr().err == (  # was "[Errno 17] File exists: ..."
        "maskprep: error: not-a-folder: File exists; accepted: a folder, or a path where one "
        "can be made\n")
    assert target.read_text() == "my notes"
    mine = tmp_path / "mine"
    mine.mkdir()
    tifffile.imwrite(mine / "nuclei.tif", np.ones((3, 3), np.uint8))
    assert main(["demo", "-o", str(mine)]) == 2
    assert "nuclei.tif exists and has no provenance maskprep can read" in capsys.readouterr().err
    np.testing.assert_array_equal(tifffile.imread(mine / "nuclei.tif"), np.ones((3, 3)))
    assert sorted(p.name for p in mine.iterdir()) == ["nuclei.tif"]
    demo = tmp_path / "demo"
    assert main(["demo", "-o", str(demo)]) == 0
    assert main(["demo", "-o", str(demo)]) == 0  # its own files from before are replaced
    assert read_provenance(demo / "overlay.png")["input"]["source"] == "overlay"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_png_or_jpeg_over_the_memory_limit_fails_before_it_is_decoded(tmp_path, recipe_file,
                                                                         suffix):
    """A PNG or JPEG runs in memory only and was read whatever --memory-limit said: an
    875 KB PNG of 30 000 px a side took 8 GB. Its header says what it would take."""
    import cv2

    cv2.imwrite(str(tmp_path / f"big{suffix}"), np.zeros((3000, 3000), np.uint8))  # 9 MB
    cv2.imwrite(str(tmp_path / f"small{suffix}"), np.zeros((100, 100), np.uint8))
    outdir = tmp_path / "out"
    args = ["run", str(recipe_file), str(tmp_path / f"big{suffix}"),
            str(tmp_path / f"small{suffix}"), "-o", str(outdir), "-q"]
    assert main([*args, "--memory-limit", "64MB"]) == 1  # 8 MB an image in memory
    rows = summary_rows(outdir)
    assert rows[f"big{suffix}"]["status"] == "failed"
    assert rows[f"big{suffix}"]["error"] == (
        f"{tmp_path / f'big{suffix}'}: a 3000 x 3000 px image takes 0.00838 GiB once read, "
        "over the 0.00745 GiB an image may take in memory (--memory-limit); PNG and JPEG run "
        "in memory only: save it as a TIFF or OME-Zarr to run it tiled")
    assert rows[f"small{suffix}"]["status"] == "ok" and not (outdir / "big.tif").exists()
    assert main([*args, "--memory-limit", "128MB"]) == 0  # 16 MB: it fits
