"""Provenance, export to Python and dask batches reproduce `maskprep run` bit for bit."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_maskprep.cli import main
from napari_maskprep.io import open_lazy, read_image, read_provenance
from napari_maskprep.recipe import Recipe


@pytest.fixture
def inputs(folder):
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    return folder


def test_provenance_reproduces_the_mask(tmp_path, inputs, recipe_file):
    assert main(["run", str(recipe_file), str(inputs), "-o", str(tmp_path / "out")]) == 1
    for mask_path in (tmp_path / "out").glob("*.tif"):
        info = read_provenance(mask_path)
        image = read_image(inputs / info["input"]["source"])
        from napari_maskprep.core.arrays import checksum

        assert info["input"]["checksum"] == checksum(image)
        assert set(info["versions"]) >= {"napari-maskprep", "numpy", "opencv", "scikit-image"}
        again = Recipe.loads(info["recipe"]).run(image)
        np.testing.assert_array_equal(again, tifffile.imread(mask_path))


def test_info_on_a_foreign_file_exits_2(tmp_path, capsys):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8))
    assert main(["info", str(path)]) == 2
    assert "holds no maskprep provenance" in capsys.readouterr().err


def test_exported_script_reproduces_run(tmp_path, inputs, recipe_file):
    script = tmp_path / "nuclei.py"
    assert main(["export", str(recipe_file), "-o", str(script)]) == 0
    text = script.read_text()
    assert "result = apply('preprocess.gaussian', result, sigma=1.0)" in text
    done = subprocess.run([sys.executable, str(script), str(inputs), "-o", str(tmp_path / "py")],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "corrupt.png" in done.stderr
    assert main(["run", str(recipe_file), str(inputs), "-o", str(tmp_path / "cli")]) == 1
    written = sorted(p.name for p in (tmp_path / "cli").glob("*.tif"))
    assert written == sorted(p.name for p in (tmp_path / "py").glob("*.tif")) and len(written) == 3
    for name in written:
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "py" / name),
                                      tifffile.imread(tmp_path / "cli" / name))


def test_dask_local_cluster_equals_sequential(tmp_path, inputs, recipe_file, capsys,
                                             monkeypatch):
    monkeypatch.chdir(tmp_path)  # the output folder as a person types it: relative
    assert main(["run", str(recipe_file), str(inputs), "-o", "seq", "-q"]) == 1
    assert main(["run", str(recipe_file), str(inputs), "-o", "par", "-q",
                 "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("corrupt.png") == 2
    rows = {}
    for run in ("seq", "par"):  # the summaries alike (a worker's output path was absolute)
        with open(tmp_path / run / "maskprep-summary.csv", newline="") as f:
            rows[run] = sorted(({**row, "seconds": "", "output": row["output"].replace(
                f"{run}/", "OUT/")} for row in csv.DictReader(f)), key=lambda r: r["file"])
    assert rows["seq"] == rows["par"]
    names = sorted(p.name for p in (tmp_path / "seq").glob("*.tif"))
    assert names == sorted(p.name for p in (tmp_path / "par").glob("*.tif")) and len(names) == 3
    assert sorted(r["output"] for r in rows["par"]) == ["", *(f"OUT/{n}" for n in names)]
    for name in names:
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "seq" / name),
                                      tifffile.imread(tmp_path / "par" / name))


def test_scheduler_address_runs_on_an_existing_cluster(tmp_path, inputs, recipe_file, capsys,
                                                       monkeypatch):
    """Its workers run in a folder of their own: relative input paths were sent as typed,
    and every file failed there ('no such file')."""
    from dask.distributed import LocalCluster

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        monkeypatch.chdir(tmp_path)
        code = main(["run", str(recipe_file), "images", "-o", "out", "-q",
                     "--scheduler", cluster.scheduler_address])
    assert code == 1
    assert capsys.readouterr().err.startswith("failed: images/corrupt.png: the PNG is cut short")
    masks = sorted((tmp_path / "out").glob("*.tif"))
    assert len(masks) == 3
    for mask in masks:
        image = read_image(inputs / f"{mask.stem}.png")
        np.testing.assert_array_equal(tifffile.imread(mask), Recipe.load(recipe_file).run(image))


def test_hand_edits_apply_only_to_the_image_they_were_made_on(tmp_path, inputs, recipe_file,
                                                               capsys):
    from napari_maskprep.ops.edit import ManualEdit

    recipe = Recipe.load(recipe_file)
    painted_on = sorted(inputs.glob("*.png"))[0]
    image = read_image(painted_on)
    before = recipe.run(image)
    after = before.copy()
    after[:10, :10] = 1
    recipe.append({"op": "edit.manual", "inputs": {"image": "input"},
                   "params": ManualEdit.between(before, after, image=image).params()})
    edited = recipe.save(tmp_path / "edited.maskprep.yaml")
    assert main(["run", str(edited), str(inputs), "-o", str(tmp_path / "out"), "-q",
                 "--workers", "2"]) == 1
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / f"{painted_on.stem}.tif"),
                                  after)
    others = [p for p in sorted(inputs.glob("*.png"))[1:] if p.name != "corrupt.png"]
    for other in others:
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / f"{other.stem}.tif"),
                                      Recipe.load(recipe_file).run(read_image(other)))
    assert capsys.readouterr().err.count("made on another image; skipped") == len(others)


def test_a_tiled_run_on_a_cluster_reads_relative_inputs(tmp_path, inputs, recipe_file,
                                                        monkeypatch):
    """The chunks of a TIFF or a store given by a relative path were read by workers in a
    folder of their own: 'no such file'."""
    import dask.array as da
    from dask.distributed import LocalCluster

    from napari_maskprep.io import write_ome_zarr

    image = read_image(sorted(inputs.glob("*.png"))[0])
    image = image[..., 0] if image.ndim == 3 else image
    tifffile.imwrite(tmp_path / "plane.tif", image)
    write_ome_zarr(da.from_array(image, chunks=128), tmp_path / "plane.zarr")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        monkeypatch.chdir(tmp_path)
        for name, fmt in (("plane.tif", "tif"), ("plane.zarr", "zarr")):
            assert main(["run", str(recipe_file), name, "-o", "out", "--suffix", "_mask", "-q",
                         "--tiled", "always", "--chunk", "128", "--format", fmt,
                         "--scheduler", cluster.scheduler_address]) == 0
    expected = Recipe.load(recipe_file).run(image)
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "plane_mask.tif"), expected)
    with open_lazy(tmp_path / "out" / "plane_mask.zarr") as written:
        np.testing.assert_array_equal(written.data.compute(), expected)
