"""Writing OME-Zarr image-labels (io.omezarr): chunk by chunk with a stride pyramid, read
back by ome-zarr's reader and ome-zarr-models, into an image's labels/, atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import (
    OutputExistsError,
    clean_stale_temporaries,
    open_lazy,
    provenance,
    read_provenance,
    write_ome_zarr,
    write_region,
)

from .test_lazy import IMAGE, ome_zarr_image

RNG = np.random.default_rng(7)
MASK = (RNG.random((2100, 1300)) < 0.3).astype(np.uint8)  # 3 levels: 2100, 1050, 525
SMALL = (IMAGE % 7 == 0).astype(np.uint8)  # 300 x 500
PROVENANCE = provenance("maskprep: 1\nsteps: []\n", SMALL, source="image.tif")


def test_roundtrip_with_a_nearest_pyramid_and_its_metadata(tmp_path):
    path = write_ome_zarr(da.from_array(MASK, chunks=128), tmp_path / "mask.zarr",
                          pixel_size=(0.5, 0.25), provenance=PROVENANCE, chunks=(256, 256))
    assert path == tmp_path / "mask.zarr" and os.listdir(tmp_path) == ["mask.zarr"]
    image = open_lazy(path)
    assert image.axes == "yx" and image.pixel_size == (0.5, 0.25)
    assert [level.shape for level in image.levels] == [(2100, 1300), (1050, 650), (525, 325)]
    assert image.data.chunks[0][:2] == (256, 256)
    for number, level in enumerate(image.levels):
        np.testing.assert_array_equal(level.compute(), MASK[::2**number, ::2**number])
    attrs = json.loads((path / ".zattrs").read_text())
    datasets = attrs["multiscales"][0]["datasets"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in datasets]
    assert scales == [[0.5, 0.25], [1.0, 0.5], [2.0, 1.0]]
    assert attrs["multiscales"][0]["axes"] == [
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"}]
    assert attrs["multiscales"][0]["version"] == "0.4" and attrs["multiscales"][0]["name"] == "mask"
    assert attrs["image-label"] == {"colors": [{"label-value": 1, "rgba": [0, 255, 0, 255]}],
                                    "version": "0.4"}
    assert read_provenance(path) == PROVENANCE


def test_ome_zarr_reader_and_models_open_it(tmp_path):
    import ome_zarr_models
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models.v04.image_label import ImageLabel

    path = write_ome_zarr(MASK, tmp_path / "mask.zarr", pixel_size=(0.5, 0.25))
    assert isinstance(ome_zarr_models.open_ome_zarr(zarr.open_group(path, mode="r")), ImageLabel)
    (node,) = list(Reader(parse_url(str(path)))())
    assert [type(s).__name__ for s in node.specs] == ["Label", "Multiscales"]
    assert node.metadata["color"] == {1: [0.0, 1.0, 0.0, 1.0]}
    assert [d.shape for d in node.data] == [(2100, 1300), (1050, 650), (525, 325)]
    np.testing.assert_array_equal(np.asarray(node.data[2]), MASK[::4, ::4])


def test_labels_3d_keep_their_values_and_have_no_colour(tmp_path):
    labels = (np.arange(2 * 1100 * 40, dtype=np.int32).reshape(2, 1100, 40) % 5)
    path = write_ome_zarr(labels, tmp_path / "labels.zarr", axes="zyx",
                          pixel_size=(2.0, 0.5, 0.5))
    image = open_lazy(path, level=1)
    assert image.axes == "zyx" and image.pixel_size == (2.0, 1.0, 1.0)
    assert image.data.dtype == np.int32 and image.data.chunks[0] == (1, 1)
    np.testing.assert_array_equal(image.data.compute(), labels[:, ::2, ::2])
    assert "colors" not in zarr.open_group(path, mode="r").attrs["image-label"]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_in_an_image_store_keeps_the_image_units_and_offset(tmp_path, version):
    # napari-ome-zarr lays a label over its image by the numbers each states: a label in µm
    # over an image in nm was drawn 1000 times too small, and one without the image's
    # translation beside it
    store = ome_zarr_image(tmp_path / "image.zarr", version, scale=(500, 250),
                           unit="nanometer")
    group = zarr.open_group(store, mode="a")
    attrs = group.attrs.asdict()
    for dataset in attrs.get("ome", attrs)["multiscales"][0]["datasets"]:
        dataset["coordinateTransformations"][1:] = [
            {"type": "translation", "translation": [1000.0, 2000.0]}]
    group.attrs.update(attrs)
    path = write_ome_zarr(SMALL, into=store, name="cells")
    attrs = zarr.open_group(path, mode="r").attrs.asdict()
    multiscale = attrs.get("ome", attrs)["multiscales"][0]
    assert [a.get("unit") for a in multiscale["axes"]] == ["nanometer", "nanometer"]
    assert [d["coordinateTransformations"] for d in multiscale["datasets"]] == [
        [{"type": "scale", "scale": [500.0, 250.0]},
         {"type": "translation", "translation": [1000.0, 2000.0]}],
        [{"type": "scale", "scale": [1000.0, 500.0]},
         {"type": "translation", "translation": [1000.0, 2000.0]}]]
    assert open_lazy(path).pixel_size == pytest.approx((0.5, 0.25))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_go_into_an_image_store_with_its_levels(tmp_path, version):
    import ome_zarr_models
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    store = ome_zarr_image(tmp_path / "image.zarr", version)
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    path = write_ome_zarr(SMALL, into=store, name="cells", provenance=PROVENANCE)
    assert path == store / "labels" / "cells"
    assert {p: p.read_bytes() for p in before} == before  # the image is untouched
    label = open_lazy(path, level=1)
    assert label.pixel_size == pytest.approx((1.0, 0.5))  # the image's, by default
    np.testing.assert_array_equal(label.data.compute(), SMALL[::2, ::2])
    model = ome_zarr_models.open_ome_zarr(zarr.open_group(store, mode="r"))
    assert type(model).__name__ == "Image" and type(model).__module__.endswith(
        "v05.image" if version == "0.5" else "v04.image")
    nodes = list(Reader(parse_url(str(store)))())
    assert [n.metadata.get("name") for n in nodes][-1] == "cells"
    assert read_provenance(path) == read_provenance(store) == PROVENANCE
    write_ome_zarr(SMALL, into=store, name="nuclei", provenance=PROVENANCE)
    attrs = zarr.open_group(store / "labels", mode="r").attrs.asdict()
    assert attrs.get("ome", attrs)["labels"] == ["cells", "nuclei"]
    with pytest.raises(OSError, match="holds several maskprep labels"):
        read_provenance(store)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_in_a_store_of_consolidated_metadata_is_listed_in_it(tmp_path, version):
    """zarr reads a store's consolidated metadata instead of its nodes: the label written
    beside the image was missing from it, so zarr found no labels (KeyError), maskprep info
    no provenance, and napari-ome-zarr showed the image alone."""
    store = ome_zarr_image(tmp_path / "image.zarr", version)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # v3's consolidation is no spec's
        zarr.consolidate_metadata(store)
    attrs = zarr.open_group(store, mode="r").attrs.asdict()
    write_ome_zarr(SMALL, into=store, name="cells", provenance=PROVENANCE)
    group = zarr.open_group(store, mode="r")
    assert group.metadata.consolidated_metadata is not None
    assert sorted(group.keys()) == ["labels", "s0", "s1"]
    assert group["labels"].attrs.asdict() == (
        {"ome": {"version": "0.5", "labels": ["cells"]}} if version == "0.5"
        else {"labels": ["cells"]})
    assert group["labels/cells/1"].shape == (150, 250)
    assert group.attrs.asdict() == attrs  # the image's own metadata as it was
    assert read_provenance(store) == PROVENANCE
    # A region edited, its provenance with it: read from the label, not the index made before
    edited = {**PROVENANCE, "recipe": "maskprep: 1\nsteps: []\n# edited\n"}
    write_region(store / "labels" / "cells", (0, 0), np.ones((2, 2), np.uint8),
                 provenance=edited)
    assert read_provenance(store) == edited


@pytest.mark.parametrize(("attrs", "message"), [
    # list("seg2") was written back as the labels 's', 'e', 'g', '2' (and 'cells')
    ('{"labels": "seg2"}', "its labels are 'seg2', not a list of names; accepted: OME-NGFF's "
                           "list (it is left as it is)"),
    ('{"labels": null}', "its labels are None, not a list of names; "),  # was 'NoneType' ...
    ('{"labels": ' + "[" * 50_000 + "]" * 50_000 + "}",  # was a RecursionError
     "its zarr metadata is damaged (maximum recursion depth exceeded"),
    ("garbage{", "its zarr metadata is damaged ("),  # was "Expecting value: line 1 ..."
])
def test_a_labels_group_of_damaged_metadata_is_refused_and_left(tmp_path, attrs, message):
    store = ome_zarr_image(tmp_path / "image.zarr")
    (store / "labels").mkdir()
    (store / "labels" / ".zgroup").write_text('{"zarr_format": 2}')
    (store / "labels" / ".zattrs").write_text(attrs)
    with pytest.raises(BadValueError) as refused:
        write_ome_zarr(SMALL, into=store, name="cells")
    assert str(refused.value).startswith(f"{store / 'labels'}: {message}")
    assert (store / "labels" / ".zattrs").read_text() == attrs
    assert not (store / "labels" / "cells").exists()


@pytest.mark.parametrize(("version", "found", "metadata"), [
    ("0.5", ".zgroup", {".zgroup": '{"zarr_format": 2}', ".zattrs": '{"labels": ["old"]}'}),
    ("0.4", "zarr.json", {"zarr.json": json.dumps({
        "zarr_format": 3, "node_type": "group",
        "attributes": {"ome": {"version": "0.5", "labels": ["old"]}}})}),
])
def test_a_labels_group_of_the_other_zarr_format_is_refused_and_left(tmp_path, version,
                                                                      found, metadata):
    """Its metadata of the image's format was written beside it: labels/ held both, the
    old label's listing hidden from zarr (v3 read alone), and the store refused by info."""
    store = ome_zarr_image(tmp_path / "image.zarr", version)
    (store / "labels").mkdir()
    for name, text in metadata.items():
        (store / "labels" / name).write_text(text)
    with pytest.raises(BadValueError) as refused:
        write_ome_zarr(SMALL, into=store, name="cells")
    formats = (3, 2) if version == "0.4" else (2, 3)
    assert str(refused.value) == (
        f"{store / 'labels'}: a zarr v{formats[0]} group ({found}) in an image of zarr "
        f"v{formats[1]}; it is left as it is (accepted: no labels, or labels of the image's "
        "zarr format)")
    assert sorted(os.listdir(store / "labels")) == sorted(metadata)


def test_labels_that_do_not_fit_the_image_are_refused(tmp_path):
    store = ome_zarr_image(tmp_path / "image.zarr")
    with pytest.raises(ValueError, match=r"do not fit the image .* of shape \(300, 500\)"):
        write_ome_zarr(SMALL[:, :400], into=store)
    with pytest.raises(ValueError, match="label name '../x'; accepted"):
        write_ome_zarr(SMALL, into=store, name="../x")
    assert not (store / "labels" / "mask").exists()


def test_nothing_existing_is_replaced_unless_asked_and_ours(tmp_path):
    foreign = ome_zarr_image(tmp_path / "image.zarr")
    with pytest.raises(OutputExistsError, match="exists; it is left as it is"):
        write_ome_zarr(SMALL, foreign)
    with pytest.raises(OutputExistsError, match="was not written by maskprep; it is never"):
        write_ome_zarr(SMALL, foreign, overwrite=True)
    assert open_lazy(foreign).data.dtype == np.uint16
    ours = write_ome_zarr(SMALL, tmp_path / "mask.zarr", provenance=PROVENANCE)
    write_ome_zarr(1 - SMALL, ours, provenance=PROVENANCE, overwrite=True)
    np.testing.assert_array_equal(open_lazy(ours).data.compute(), 1 - SMALL)
    assert sorted(os.listdir(tmp_path)) == ["image.zarr", "mask.zarr"]


def _failing_late() -> da.Array:
    """SMALL in chunks of 128, the last of which fails as a full disk does."""
    def fail_late(block, block_info=None):
        if block_info[0]["chunk-location"] == (1, 1):
            raise OSError(28, "No space left on device")
        return block

    return da.from_array(SMALL, chunks=128).map_blocks(fail_late, dtype=np.uint8)


def test_a_failed_write_leaves_no_store(tmp_path):
    mask = _failing_late()
    with pytest.raises(OSError, match="No space left"):
        write_ome_zarr(mask, tmp_path / "mask.zarr")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_failed_write_into_an_image_store_leaves_it_as_it_was(tmp_path, version):
    # It made the image's labels/ group, listing no label, before the label was written
    store = ome_zarr_image(tmp_path / "image.zarr", version)
    files = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}

    mask = _failing_late()
    with pytest.raises(OSError, match="No space left"):
        write_ome_zarr(mask, into=store, name="seg")
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == files
    assert not (store / "labels").exists()


def test_a_label_refused_for_the_image_s_pyramid_writes_nothing_into_it(tmp_path):
    from ome_zarr.writer import write_multiscale

    store = tmp_path / "image.zarr"  # level 1 is level 0 over 1.5: no stride gives it
    write_multiscale([IMAGE, IMAGE[:200, :333]], zarr.open_group(store, mode="w",
                                                                  zarr_format=2), axes="yx")
    files = sorted(store.rglob("*"))
    with pytest.raises(BadValueError) as error:
        write_ome_zarr(SMALL, into=store, name="seg")
    assert str(error.value) == (f"{store}: pyramid level of shape (200, 333) is not (300, 500) "
                                "divided by whole numbers; accepted: levels each the one before "
                                "taken every n-th pixel (2, 3, ... per axis)")
    assert sorted(store.rglob("*")) == files


KILLED_MID_WRITE = """
import os, sys
import dask.array as da, numpy as np
from napari_maskprep.io import write_ome_zarr

def die(block, block_info=None):
    if block_info[0]["chunk-location"] == (1, 1):
        os._exit(9)
    return block

mask = da.from_array(np.ones((300, 500), np.uint8), chunks=128).map_blocks(die, dtype=np.uint8)
write_ome_zarr(mask, sys.argv[1], provenance={"x": 1})
"""


def test_a_killed_write_leaves_only_a_temporary_that_is_cleaned(tmp_path):
    run = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(tmp_path / "mask.zarr")],
                         env={**os.environ, "DASK_SCHEDULER": "synchronous"})
    assert run.returncode == 9
    (left,) = os.listdir(tmp_path)
    assert left.startswith(".maskprep-tmp-") and "mask.zarr" in left
    assert clean_stale_temporaries(tmp_path) == 1 and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"axes": "xy"}, "axes='xy' for a 2D array; accepted"),
        ({"axes": "zyx"}, "axes='zyx' for a 2D array"),
        ({"pixel_size": (1.0,)}, r"pixel_size=\(1.0,\); accepted: 2 positive sizes"),
        ({"pixel_size": (1.0, -1.0)}, "accepted: 2 positive sizes in µm, one per axis yx"),
        ({"chunks": (0, 128)}, "chunks=.*accepted: 2 positive integers"),
    ],
)
def test_bad_arguments_are_one_line_before_any_write(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match) as caught:
        write_ome_zarr(SMALL, tmp_path / "mask.zarr", **kwargs)
    assert "\n" not in str(caught.value) and os.listdir(tmp_path) == []


def test_float_data_is_refused(tmp_path):
    with pytest.raises(TypeError, match="dtype float32; accepted: a mask"):
        write_ome_zarr(SMALL.astype(np.float32), tmp_path / "mask.zarr")


def test_info_reads_a_mask_store_a_label_and_an_image_holding_one(tmp_path, capsys):
    from napari_maskprep.cli import main

    store = ome_zarr_image(tmp_path / "image.zarr")
    paths = [write_ome_zarr(SMALL, tmp_path / "mask.zarr", provenance=PROVENANCE),
             write_ome_zarr(SMALL, into=store, provenance=PROVENANCE), store]
    for path in paths:
        assert main(["info", str(path), "--recipe"]) == 0
        assert capsys.readouterr().out == PROVENANCE["recipe"]
    assert main(["info", str(store / "labels")]) == 2
    assert "holds no maskprep provenance" in capsys.readouterr().err


@pytest.mark.parametrize("into", [False, True])
def test_writing_shows_no_deprecation_warning_of_ome_zarr(tmp_path, into):
    """ome-zarr 0.18 warns of its deprecated Scaler on import: napari showed that warning to
    the person on their first tiled Apply. A fresh process, where the import happens; into
    an image's labels, the labels list was written first, by a writer imported unsilenced."""
    where = (f"into={str(ome_zarr_image(tmp_path / 'image.zarr'))!r}" if into else
             repr(str(tmp_path / "m.zarr")))
    code = ("import numpy as np; from napari_maskprep.io import write_ome_zarr; "
            f"write_ome_zarr(np.ones({IMAGE.shape}, np.uint8), {where})")
    run = subprocess.run([sys.executable, "-W", "error:Call to deprecated class Scaler", "-c",
                          code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-300:]
