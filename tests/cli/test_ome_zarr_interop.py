"""`maskprep run` on OME-Zarr stores writes masks that lie over the image in other readers:
into the store (--label-name) with the image's axes but its channels, and as new stores
(--format zarr) in the image's units and offset."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import zarr

import napari_maskprep as mp
from napari_maskprep.cli import main
from napari_maskprep.io import open_lazy

from ..io.test_omezarr_interop import check_over_the_image, multiscale, ngff_image

STEPS = [{"op": "segment.threshold", "params": {"value": 100}},
         {"op": "refine.label", "params": {}}]


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "r.maskprep.yaml"
    mp.Recipe(steps=STEPS).save(path)
    return path


def _summary(outdir):
    with open(outdir / "maskprep-summary.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_of_a_5d_store_keeps_its_axes_of_length_1(tmp_path, recipe_file, version):
    """The label of a (t, c, z, y, x) image of one frame and one channel was (z, y, x)."""
    store = tmp_path / "image.zarr"
    image = ngff_image(store, (1, 1, 3, 40, 60), "tczyx", version, scale=(1, 1, 2, .5, .5),
                       translation=(0, 0, 0, 3, 4))
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--label-name",
                 "cells", "-q"]) == 0
    label = store / "labels" / "cells"
    want = mp.Recipe(steps=STEPS).run(image[0, 0])
    with open_lazy(label) as written:
        assert written.axes == "tzyx"
        np.testing.assert_array_equal(written.data.compute(), want[None])
    check_over_the_image(store, label)
    row, = _summary(outdir)
    assert (row["status"], row["output"], int(row["objects"])) == (
        "ok", str(label), int(want.max()))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_mask_store_of_a_store_takes_its_units_offset_and_time_scale(tmp_path, recipe_file,
                                                                       version):
    """A mask store of an image in nanometres with an offset was written in micrometres
    at 0 (and a time-lapse's frames 1 s apart): opened over the image in napari-ome-zarr,
    which lays layers by their numbers, it was 1000 times too small and beside it."""
    store = tmp_path / "image.zarr"
    image = ngff_image(store, (2, 40, 60), "tyx", version, scale=(30, 500, 250),
                       translation=(0, 1000, 2000), unit="nanometer")
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--format", "zarr",
                 "-q"]) == 0
    written = multiscale(outdir / "image.zarr")
    assert [(a["name"], a.get("unit")) for a in written["axes"]] == [
        ("t", "second"), ("y", "nanometer"), ("x", "nanometer")]
    assert written["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [30.0, 500.0, 250.0]},
        {"type": "translation", "translation": [0.0, 1000.0, 2000.0]}]
    with open_lazy(outdir / "image.zarr") as mask:
        assert mask.pixel_size == pytest.approx((0.5, 0.25))
        np.testing.assert_array_equal(mask.data.compute(), np.stack(
            [mp.Recipe(steps=STEPS).run(frame) for frame in image]))


def bioformats2raw_store(path, version):
    """A bioformats2raw container, as its converter writes every image: the image as
    ``0``, an OME-XML naming it."""
    group = zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)
    layout = {"bioformats2raw.layout": 3}
    group.attrs.update(layout if version == "0.4" else {"ome": {"version": "0.5", **layout}})
    image = ngff_image(path / "0", (40, 60), "yx", version, scale=(.5, .5))
    (path / "OME").mkdir()
    (path / "OME" / "METADATA.ome.xml").write_text(
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
        '<Image ID="Image:0" Name="image"/></OME>')
    return image


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_of_a_bioformats2raw_store_goes_under_its_image(tmp_path, recipe_file,
                                                                version, capsys):
    """It went into the container's own labels/, where no reader looks (and maskprep info
    found none): a label belongs to an image group; readers look in 0/labels."""
    store = tmp_path / "converted.zarr"
    image = bioformats2raw_store(store, version)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--label-name",
                 "cells", "-q"]) == 0
    label = store / "0" / "labels" / "cells"
    assert not (store / "labels").exists()
    with open_lazy(label) as written:
        np.testing.assert_array_equal(written.data.compute(), mp.Recipe(steps=STEPS).run(image))
    check_over_the_image(store / "0", label)
    assert _summary(outdir)[0]["output"] == str(label)
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--label-name",
                 "cells", "--resume", "-q"]) == 0
    assert _summary(outdir)[0]["status"] == "skipped"
    capsys.readouterr()
    assert main(["info", str(store), "--recipe"]) == 0  # the store's label's recipe
    assert capsys.readouterr().out == mp.Recipe(steps=STEPS).dumps()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_the_image_s_pyramid_cannot_take_is_refused_before_the_image_is_read(
        tmp_path, recipe_file, capsys, monkeypatch, version):
    """Level 1 at 2/3 of level 0 (no stride gives it) was refused only once the whole
    store had been read (its checksum) and the recipe's whole-image passes run."""
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_multiscale

    store = tmp_path / "image.zarr"
    fmt = FormatV04() if version == "0.4" else FormatV05()
    data = (np.arange(60 * 90) % 251).astype(np.uint16).reshape(60, 90)
    write_multiscale([data, data[:40, :60]], zarr.open_group(store, mode="w",
                                                               zarr_format=fmt.zarr_format),
                     fmt=fmt, axes="yx")
    files = sorted(store.rglob("*"))
    monkeypatch.setattr("napari_maskprep.large_images.checksum",
                        lambda *a, **k: pytest.fail("the image was read"))
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--label-name",
                 "cells", "-q"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"failed: {store}: pyramid level of shape (40, 60) is not (60, 90) divided "
        "by whole numbers; accepted: levels each the one before taken every n-th pixel (2, "
        "3, ... per axis)")
    assert sorted(store.rglob("*")) == files


def test_a_float_store_a_step_cannot_threshold_tiled_is_refused_before_it_is_read(
        tmp_path, capsys, monkeypatch):
    """Otsu of a float32 store was refused only once the whole store had been read for
    its checksum."""
    recipe = tmp_path / "otsu.maskprep.yaml"
    mp.Recipe(steps=[{"op": "segment.auto_threshold", "params": {}}]).save(recipe)
    store = tmp_path / "image.zarr"
    ngff_image(store, (40, 60), "yx", scale=(0.5, 0.5))
    image = zarr.open_group(store, mode="r")
    floats = store.parent / "float.zarr"
    group = zarr.open_group(floats, mode="w", zarr_format=2)
    group.attrs.update(image.attrs.asdict())
    for name in ("s0", "s1"):
        group.create_array(name, data=np.asarray(image[name]).astype(np.float32),
                           chunks=(16, 16))
    monkeypatch.setattr("napari_maskprep.large_images.checksum",
                        lambda *a, **k: pytest.fail("the image was read"))
    assert main(["run", str(recipe), str(floats), "-o", str(tmp_path / "out"), "--format",
                 "zarr", "-q"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"failed: {floats}: step 1 (segment.auto_threshold): a tiled run needs an 8- or "
        "16-bit integer image here; got float32 (run it in memory, or convert the image "
        "first)")
    assert not (tmp_path / "out" / "float.zarr").exists()


def test_a_labels_group_that_cannot_list_the_label_is_refused_before_the_image_is_read(
        tmp_path, recipe_file, capsys, monkeypatch):
    store = tmp_path / "image.zarr"
    ngff_image(store, (40, 60), "yx", "0.5", scale=(0.5, 0.5))
    (store / "labels").mkdir()
    (store / "labels" / ".zgroup").write_text('{"zarr_format": 2}')
    monkeypatch.setattr("napari_maskprep.large_images.checksum",
                        lambda *a, **k: pytest.fail("the image was read"))
    assert main(["run", str(recipe_file), str(store), "-o", str(tmp_path / "out"),
                 "--label-name", "cells", "-q"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"failed: {store / 'labels'}: a zarr v2 group (.zgroup) in an image of zarr v3; it is "
        "left as it is (accepted: no labels, or labels of the image's zarr format)")
    assert os.listdir(store / "labels") == [".zgroup"]
