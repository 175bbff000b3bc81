"""`maskprep run` and `maskprep info` on a bare zarr array (no OME-NGFF metadata, as
``dask.array.to_zarr`` writes it, zarr format 2 or 3): it runs tiled as an OME-Zarr store
does, its mask written as asked and never over it; it states no pixel size."""

from __future__ import annotations

import csv

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

import napari_maskprep as mp
from napari_maskprep.batch import count_objects
from napari_maskprep.cli import main
from napari_maskprep.core.arrays import checksum
from napari_maskprep.io import open_lazy, read_provenance

_STEPS = [{"op": "preprocess.gaussian", "params": {"sigma": 1.0}},
          {"op": "segment.auto_threshold", "params": {}},
          {"op": "refine.label", "params": {}}]


def _blobs() -> np.ndarray:
    """600 x 700 uint16: 30 bright squares on a noisy background."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 60, (600, 700)).astype(np.uint16)
    for y, x in rng.integers(20, 580, (30, 2)):
        image[y - 8:y + 8, x - 8:x + 8] += 1000
    return image


IMAGE = _blobs()


def _array(path, zarr_format=3, image=IMAGE):
    da.from_array(image, chunks=(128, 200)).to_zarr(path, zarr_format=zarr_format)
    return path


def _files(path):
    return {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _summary(outdir):
    with open(outdir / "maskprep-summary.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "r.maskprep.yaml"
    mp.Recipe(steps=_STEPS).save(path)
    return path


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_bare_zarr_array_runs_tiled_into_the_mask_asked(tmp_path, recipe_file, capsys,
                                                          zarr_format, fmt):
    """It was refused: "a zarr array without OME-NGFF multiscales metadata"."""
    source = _array(tmp_path / "x.zarr", zarr_format)
    before = _files(source)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(source), "-o", str(outdir), "--format", fmt,
                 "--chunk", "256", "-q"]) == 0
    want = mp.Recipe(steps=_STEPS).run(IMAGE)
    out = outdir / f"x.{fmt}"
    with open_lazy(out) as written:
        assert written.pixel_size is None  # none stated, none made up
        np.testing.assert_array_equal(written.data.compute(), want)
    row, = _summary(outdir)
    assert (row["status"], row["output"]) == ("ok", str(out))
    assert int(row["objects"]) == count_objects(want) == 30
    stored = read_provenance(out)["input"]
    assert (stored["source"], stored["checksum"], stored["axes"]) == (
        "x.zarr", checksum(IMAGE), "yx")
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[:2] == [f"input: x.zarr  {checksum(IMAGE)}  shape [600, 700] uint16",
                         "axes: yx"]
    assert _files(source) == before


def test_a_size_in_um_on_a_bare_zarr_array_needs_a_pixel_size(tmp_path, capsys):
    recipe = tmp_path / "um.maskprep.yaml"
    mp.Recipe(steps=[_STEPS[1], {"op": "refine.remove_small",
                                 "params": {"min_size": "60 um2"}}]).save(recipe)
    source = _array(tmp_path / "x.zarr")
    assert main(["run", str(recipe), str(source), "-o", str(tmp_path / "a"), "-q"]) == 1
    row, = _summary(tmp_path / "a")
    assert row["status"] == "failed" and row["error"] == (
        "step 2 (refine.remove_small): min_size=60 um2 needs the image's pixel size, which "
        "is unknown; give it (pixel_size=..., --pixel-size, a layer scale) or give "
        "min_size in px")
    assert not (tmp_path / "a" / "x.tif").exists()
    assert main(["run", str(recipe), str(source), "-o", str(tmp_path / "b"), "-q",
                 "--pixel-size", "0.5", "--format", "zarr"]) == 0
    with open_lazy(tmp_path / "b" / "x.zarr") as written:
        assert written.pixel_size == (0.5, 0.5)
        mask = written.data.compute()
    np.testing.assert_array_equal(mask, mp.Recipe.load(recipe).run(IMAGE, pixel_size=0.5))
    assert np.count_nonzero(mask) == 30 * 256  # 60 um2 is 240 px: every square stays


def test_a_mask_never_replaces_a_bare_zarr_array(tmp_path, recipe_file, capsys):
    source = _array(tmp_path / "x.zarr")
    before = _files(source)
    for extra, message in [
            (["-o", str(tmp_path), "--format", "zarr"],
             f"the output folder {tmp_path} holds the input x.zarr, which its mask could "
             "replace; write to another folder or name the masks apart with a suffix "
             "(--suffix _mask)"),
            (["-o", str(source / "c")],
             f"the output folder {source / 'c'} is inside the input store {source}; write to "
             "a folder outside it (or into its labels/ with --label-name)"),
            (["-o", str(tmp_path / "out"), "--label-name", "cells"],
             f"{source} is not an OME-Zarr store run tiled; a label name writes into the "
             "input stores only")]:
        assert main(["run", str(recipe_file), str(source), *extra, "-q"]) == 2
        assert capsys.readouterr().err.strip() == f"maskprep: error: {message}"
    assert _files(source) == before
    # beside it, named apart: written; a foreign array where the mask goes: kept
    assert main(["run", str(recipe_file), str(source), "-o", str(tmp_path), "--format", "zarr",
                 "--suffix", "_mask", "-q"]) == 0
    np.testing.assert_array_equal(open_lazy(tmp_path / "x_mask.zarr").data.compute(),
                                  mp.Recipe(steps=_STEPS).run(IMAGE))
    other = _array(tmp_path / "out" / "x.zarr", image=IMAGE[:64, :64])
    kept = _files(other)
    assert main(["run", str(recipe_file), str(source), "-o", str(tmp_path / "out"), "--format",
                 "zarr", "-q"]) == 1
    assert _summary(tmp_path / "out")[0]["status"] == "failed"
    assert _files(other) == kept and _files(source) == before


def test_info_on_a_bare_zarr_array_says_it_holds_no_provenance(tmp_path, capsys):
    """It said "cannot read (ContainsArrayError: An array exists in store ...)"."""
    source = _array(tmp_path / "x.zarr")
    assert main(["info", str(source)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"maskprep: error: {source}: holds no maskprep provenance (not written by maskprep)")


def test_a_zarr_group_without_ngff_metadata_is_one_line(tmp_path, recipe_file, capsys):
    store = tmp_path / "g.zarr"
    zarr.open_group(store, mode="w").create_array("0", shape=(4, 4), dtype="u1")
    tifffile.imwrite(tmp_path / "plain.tif", IMAGE[:64, :64])
    assert main(["run", str(recipe_file), str(store), "-o", str(tmp_path / "out"), "-q"]) == 1
    row, = _summary(tmp_path / "out")
    assert row["status"] == "failed" and row["error"] == (
        f"{store}: a zarr group without OME-NGFF multiscales metadata (neither an OME-Zarr "
        "image nor a zarr array); accepted: an OME-Zarr folder (NGFF 0.4 or 0.5), a bare "
        "zarr array, a TIFF, OME-TIFF, pyramidal BigTIFF or Aperio SVS file")
