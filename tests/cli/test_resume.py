"""`maskprep run --resume` keeps a mask only when the recipe and the input's pixels are the
ones it was made from and it reads whole: a mask of an input changed since, or a damaged
mask of ours, is made again; a file or store that is not ours is refused, untouched."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest
import tifffile

from napari_maskprep.batch import SUMMARY_NAME
from napari_maskprep.cli import main
from napari_maskprep.io import open_lazy, read_provenance

RECIPE = "maskprep: 1\nsteps:\n- op: segment.threshold\n  params: {value: 100}\n"


def _image(top: int) -> np.ndarray:
    image = np.zeros((40, 48), np.uint8)
    image[top:top + 6, 5:20] = 200
    return image


def _mask(path) -> np.ndarray:
    with open_lazy(path) as mask:
        return np.asarray(mask.data.compute())


def _rows(outdir):
    with open(outdir / SUMMARY_NAME, newline="", encoding="utf-8") as f:
        return {os.path.basename(r["file"]): r for r in csv.DictReader(f)}


@pytest.fixture
def batch(tmp_path):
    """Run the threshold recipe over a.tif and b.tif into out/ with the given options."""
    (tmp_path / "images").mkdir()
    for name, top in (("a", 2), ("b", 20)):
        tifffile.imwrite(tmp_path / "images" / f"{name}.tif", _image(top))
    (tmp_path / "r.maskprep.yaml").write_text(RECIPE)

    def run(*options):
        return main(["run", str(tmp_path / "r.maskprep.yaml"), str(tmp_path / "images"),
                     "-o", str(tmp_path / "out"), "-q", *options])

    return run


@pytest.mark.parametrize(("fmt", "tiled"), [("tif", "never"), ("tif", "always"),
                                            ("zarr", "never"), ("zarr", "always")])
def test_resume_remakes_the_mask_of_an_input_changed_since(tmp_path, batch, fmt, tiled):
    options = ["--format", fmt, "--tiled", tiled]
    assert batch(*options) == 0
    # Re-exported under the same name, same shape and dtype: only its pixels differ.
    tifffile.imwrite(tmp_path / "images" / "a.tif", _image(30))
    assert batch(*options, "--resume") == 0
    rows = _rows(tmp_path / "out")
    assert rows["a.tif"]["status"] == "ok"
    assert rows["a.tif"]["warnings"] == "a.tif changed since its mask was made; made again"
    assert rows["b.tif"]["status"] == "skipped"
    np.testing.assert_array_equal(_mask(tmp_path / "out" / f"a.{fmt}"),
                                  (_image(30) > 100).astype(np.uint8))
    assert batch(*options, "--resume") == 0
    assert {row["status"] for row in _rows(tmp_path / "out").values()} == {"skipped"}


def _truncate(path):
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        data_starts = page.dataoffsets[0]
        assert page.tags[65111].valueoffset < data_starts  # the provenance comes first
    os.truncate(path, data_starts + page.databytecounts[0] // 2)


def _break_level_metadata(store):
    (store / "0" / ".zarray").write_text("{broken")


def _delete_a_chunk(store):
    (store / "0" / "0" / "0").unlink()


@pytest.mark.parametrize(("fmt", "tiled", "damage"), [
    ("tif", "never", _truncate),
    ("zarr", "never", _break_level_metadata),
    ("zarr", "always", _break_level_metadata),
    ("zarr", "never", _delete_a_chunk),
])
def test_resume_remakes_a_damaged_mask_of_its_own(tmp_path, batch, fmt, tiled, damage):
    options = ["--format", fmt, "--tiled", tiled]
    assert batch(*options) == 0
    made = tmp_path / "out" / f"a.{fmt}"
    first = read_provenance(made)
    damage(made)
    assert read_provenance(made) == first  # damaged, still ours by its provenance
    assert batch(*options, "--resume") == 0
    row = _rows(tmp_path / "out")["a.tif"]
    assert row["status"] == "ok"
    assert row["warnings"].startswith(f"the earlier mask is unreadable ({made}")
    assert row["warnings"].endswith("); made again")
    np.testing.assert_array_equal(_mask(made), (_image(2) > 100).astype(np.uint8))
    assert _rows(tmp_path / "out")["b.tif"]["status"] == "skipped"


def _empty_file(tmp_path):
    path = tmp_path / "out" / "a.tif"
    path.write_bytes(b"")
    return path


def _store_without_readable_attributes(tmp_path):
    store = tmp_path / "out" / "a.zarr"
    shutil.copytree(tmp_path / "made.zarr", store)
    (store / ".zattrs").write_text("{broken")
    return store


@pytest.mark.parametrize(("fmt", "make"), [("tif", _empty_file),
                                           ("zarr", _store_without_readable_attributes)])
def test_resume_refuses_a_damaged_output_that_is_not_its_own(tmp_path, batch, fmt, make):
    # Nothing says maskprep wrote these (no readable provenance): they are left as they are.
    assert batch("--format", "zarr", "-o", str(tmp_path / "elsewhere")) == 0
    shutil.copytree(tmp_path / "elsewhere" / "a.zarr", tmp_path / "made.zarr")
    (tmp_path / "out").mkdir()
    foreign = make(tmp_path)
    before = sorted((p.relative_to(foreign.parent), p.read_bytes()) for p in
                    ([foreign] if foreign.is_file() else foreign.rglob("*")) if p.is_file())
    assert batch("--format", fmt, "--resume") == 1
    row = _rows(tmp_path / "out")["a.tif"]
    assert row["status"] == "failed"
    assert row["error"] == (f"{foreign} exists and has no provenance maskprep can read; it is "
                            "left as it is (move it, or write to another folder)")
    after = sorted((p.relative_to(foreign.parent), p.read_bytes()) for p in
                   ([foreign] if foreign.is_file() else foreign.rglob("*")) if p.is_file())
    assert after == before
    assert _rows(tmp_path / "out")["b.tif"]["status"] == "ok"


def test_resume_leaves_a_mask_of_its_own_cut_before_its_provenance_and_names_it(tmp_path,
                                                                                  batch):
    """Nothing tells it from another's damaged file: it is left as it is, as the help says."""
    assert batch() == 0
    made = tmp_path / "out" / "a.tif"
    os.truncate(made, 16)  # the TIFF header only
    assert batch("--resume") == 1
    row = _rows(tmp_path / "out")["a.tif"]
    assert (row["status"], row["error"]) == ("failed", (
        f"{made} exists and has no provenance maskprep can read; it is left as it is (move "
        "it, or write to another folder)"))
    assert made.stat().st_size == 16
    assert _rows(tmp_path / "out")["b.tif"]["status"] == "skipped"


def _mask_pixel_size(path):
    with open_lazy(path) as mask:
        return mask.pixel_size


@pytest.mark.parametrize(("fmt", "tiled"), [("tif", "never"), ("tif", "always"),
                                            ("zarr", "never"), ("zarr", "always")])
def test_resume_remakes_a_mask_given_another_pixel_size(tmp_path, batch, fmt, tiled):
    # The recipe has no size in um: the mask was kept with the pixel size of the first run.
    options = ["--format", fmt, "--tiled", tiled]
    assert batch(*options, "--pixel-size", "0.5") == 0
    assert batch(*options, "--pixel-size", "0.25", "--resume") == 0
    assert {row["status"] for row in _rows(tmp_path / "out").values()} == {"ok"}
    assert _mask_pixel_size(tmp_path / "out" / f"a.{fmt}") == (0.25, 0.25)
    assert read_provenance(tmp_path / "out" / f"a.{fmt}")["mask"] == {"pixel_size": [0.25, 0.25]}
    assert batch(*options, "--pixel-size", "0.25", "--resume") == 0
    assert {row["status"] for row in _rows(tmp_path / "out").values()} == {"skipped"}
    assert batch(*options, "--resume") == 0  # none given: the files state none
    assert {row["status"] for row in _rows(tmp_path / "out").values()} == {"ok"}
    assert _mask_pixel_size(tmp_path / "out" / f"a.{fmt}") is None


def test_resume_help_says_what_is_made_again(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert ("--resume skip inputs whose mask this recipe made from the input's pixels as they "
            "are now, at the same pixel size (a changed input, another pixel size or a "
            "damaged mask whose provenance still reads is redone; an output with no "
            "provenance maskprep can read is left as it is, and named)") in help_text
