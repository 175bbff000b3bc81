"""OME-Zarr stores whose metadata or files are not what NGFF describes, read (io.lazy,
io.ngff) or written into (io.omezarr): each is one line naming what is wrong, never a
traceback, a reader that waits forever, or a write outside the store."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import zarr

from napari_maskprep.io import (
    ImageReadError,
    OutputExistsError,
    is_zarr_array,
    open_lazy,
    read_provenance,
    write_ome_zarr,
)

IMAGE = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)


def v3_image(path):
    """An NGFF 0.5 image of IMAGE (one level '0', chunks of 32, 0.5 µm a pixel)."""
    group = zarr.open_group(path, mode="w", zarr_format=3)
    group.create_array("0", shape=IMAGE.shape, dtype=IMAGE.dtype, chunks=(32, 32))[...] = IMAGE
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0.5, 0.5]}]}]}]}
    return path


def one_line(error):
    text = str(error.value)
    assert "\n" not in text and len(text) < 300, text
    return text


def v2_image(path):
    """An NGFF 0.4 image of IMAGE (one level '0', chunks of 32 in folders: 0/0/0)."""
    group = zarr.open_group(path, mode="w", zarr_format=2)
    group.create_array("0", shape=IMAGE.shape, dtype=IMAGE.dtype, chunks=(32, 32),
                       chunk_key_encoding={"name": "v2", "separator": "/"})[...] = IMAGE
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0.5, 0.5]}]}]}]
    return path


def socket_at(path):
    """``path`` made a UNIX socket, a file that is no file, as a FIFO or /dev/zero is: zarr
    waited for a FIFO's writer forever and read /dev/zero until memory ran out."""
    path.unlink()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return server


@pytest.mark.parametrize(("make", "chunk"), [(v2_image, "0/1"), (v3_image, "c/0/1")])
def test_a_chunk_that_is_no_file_is_named_when_read(tmp_path, make, chunk):
    path = make(tmp_path / "a.zarr")
    image = open_lazy(path)
    socket_at(path / "0" / chunk).close()  # the socket file stays
    with pytest.raises(ImageReadError) as caught:
        image.data.compute()
    assert one_line(caught) == (f"{path} level 0 (array '0'): chunk {chunk} is not a file (a "
                                "FIFO, socket or device); accepted: plain files")


def v2_consolidated(path):
    """:func:`v2_image` with its metadata consolidated in .zmetadata, which zarr reads
    first (as xarray and ngff-zarr write stores)."""
    zarr.consolidate_metadata(v2_image(path))
    return path


@pytest.mark.parametrize(("make", "name", "where"), [
    (v2_image, ".zattrs", "{path}"), (v2_image, ".zgroup", "{path}"),
    (v2_consolidated, ".zmetadata", "{path}"),  # a FIFO there hung open_lazy and info
    (v2_image, "0/.zarray", "{path} level 0 (array '0')"),
    (v3_image, "zarr.json", "{path}"), (v3_image, "0/zarr.json", "{path} level 0 (array '0')")])
def test_metadata_that_is_no_file_is_named_before_zarr_reads_it(tmp_path, make, name, where):
    path = make(tmp_path / "a.zarr")
    socket_at(path / name).close()  # the socket file stays
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (f"{where.format(path=path)}: its zarr metadata "
                                f"{name.split('/')[-1]} is not a file (a FIFO, socket or "
                                "device); accepted: plain files")
    if "/" not in name:  # maskprep info reads the store's own attributes
        with pytest.raises(ImageReadError) as caught:
            read_provenance(path)
        assert one_line(caught).startswith(f"{path}: its zarr metadata {name} is not a file")


@pytest.mark.parametrize(("unit", "scale", "size"), [
    ("picometer", 500_000.0, 0.5), ("decimeter", 2e-6, 0.2), ("inch", 1e-4, 2.54),
    ("nanometer", 250.0, 0.25)])
def test_every_ngff_space_unit_gives_the_pixel_size(tmp_path, unit, scale, size):
    # picometer, decimeter, inch, ... are NGFF's units too; they stated no pixel size, so a
    # recipe's sizes in um were refused on such a store as if it gave none.
    path = v3_image(tmp_path / "a.zarr")
    meta = json.loads((path / "zarr.json").read_text())
    multiscale = meta["attributes"]["ome"]["multiscales"][0]
    for axis in multiscale["axes"]:
        axis["unit"] = unit
    multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] = [scale, scale]
    (path / "zarr.json").write_text(json.dumps(meta))
    assert open_lazy(path).pixel_size == pytest.approx((size, size), rel=1e-12)


@pytest.mark.parametrize("dtype", ["datetime64[s]", "timedelta64[ms]", "complex64", "<U4"])
def test_a_level_of_no_numbers_is_refused_when_opened(tmp_path, dtype):
    # datetime64 failed on hashing ("cannot include dtype 'M' in a buffer"), strings and
    # complex only at the first step, after the store was read.
    path = v2_image(tmp_path / "a.zarr")
    group = zarr.open_group(path, mode="a")
    del group["0"]
    group.create_array("0", shape=(4, 4), dtype=dtype, chunks=(4, 4))
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (f"{path} level 0 (array '0'): holds {np.dtype(dtype)}; "
                                "accepted: integers, floats or booleans")


@pytest.mark.parametrize(("repeat", "message"), [
    ("datasets", "states a pyramid of 65 levels; accepted: at most 64"),
    ("multiscales", "states 65 multiscales; accepted: at most 64")])
def test_a_store_stating_more_levels_than_any_pyramid_is_refused_before_they_open(
        tmp_path, monkeypatch, repeat, message):
    # Each level's array was opened, 8 ms a level, twice: 100 000 levels took 13 minutes.
    path = v2_image(tmp_path / "a.zarr")
    meta = json.loads((path / ".zattrs").read_text())
    if repeat == "datasets":
        meta["multiscales"][0]["datasets"] *= 65
    else:
        meta["multiscales"] *= 65
    (path / ".zattrs").write_text(json.dumps(meta))
    monkeypatch.setattr(zarr.Group, "__getitem__", None)  # no level is opened
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == f"{path}: {message}"


@pytest.mark.parametrize(("where", "transform", "scale", "shift"), [
    ("dataset", {"type": "translation", "translation": [float("nan"), 1.0]},
     "[0.5, 0.5]", "[nan, 1.0]"),
    ("dataset", {"type": "translation", "translation": [0.0, float("inf")]},
     "[0.5, 0.5]", "[0.0, inf]"),
    ("multiscale", {"type": "scale", "scale": [0.0, 1.0]}, "[0.0, 0.5]", "[0.0, 0.0]")])
@pytest.mark.parametrize("into", [True, False])
def test_a_mask_is_not_laid_over_an_image_placed_nowhere(tmp_path, where, transform, scale,
                                                         shift, into):
    # The label (into=) or mask store (like=) copied NaN into its .zattrs (no JSON a strict
    # reader takes) or a scale of 0, and was written without a word.
    path = v2_image(tmp_path / "a.zarr")
    meta = json.loads((path / ".zattrs").read_text())
    multiscale = meta["multiscales"][0]
    if where == "dataset":
        multiscale["datasets"][0]["coordinateTransformations"].append(transform)
    else:
        multiscale["coordinateTransformations"] = [transform]
    (path / ".zattrs").write_text(json.dumps(meta))
    mask = (IMAGE > 2000).astype(np.uint8)
    with pytest.raises(ImageReadError) as caught:
        if into:
            write_ome_zarr(mask, into=path, name="m")
        else:
            write_ome_zarr(mask, tmp_path / "m.zarr", like=path)
    assert one_line(caught) == (f"{path}: level 0 states the scale {scale} and the "
                                f"translation {shift}, which no mask can state to lie over "
                                "it; accepted: finite numbers, no scale 0")
    assert not (path / "labels").exists() and not (tmp_path / "m.zarr").exists()


@pytest.mark.parametrize("labels", ["file", "link"])
def test_a_label_is_not_written_where_labels_is_a_file_or_a_link_out(tmp_path, labels):
    # A file 'labels' failed as "FileExistsError: [Errno 17] File exists: ..."; a link to
    # another folder had the label and the labels list written there, outside the store.
    path = v2_image(tmp_path / "a.zarr")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if labels == "file":
        (path / "labels").write_text("notes")
    else:
        (path / "labels").symlink_to(elsewhere)
    with pytest.raises(OutputExistsError) as caught:
        write_ome_zarr((IMAGE > 2000).astype(np.uint8), into=path, name="m")
    what = "a file" if labels == "file" else "a link out of the store"
    assert one_line(caught) == (f"{path / 'labels'} is {what}; it is left as it is (accepted: "
                                "no labels, or a labels folder inside the image store)")
    assert list(elsewhere.iterdir()) == []
    assert labels == "link" or (path / "labels").read_text() == "notes"


@pytest.mark.parametrize(("make", "meta"), [(v2_image, "0/.zarray"), (v3_image, "0/zarr.json")])
def test_chunks_of_0_px_are_refused_when_opened(tmp_path, make, meta):
    # dask divided by them: 'ZeroDivisionError: integer division or modulo by zero'.
    path = make(tmp_path / "a.zarr")
    stated = json.loads((path / meta).read_text())
    if "chunks" in stated:
        stated["chunks"] = [0, 32]
    else:
        stated["chunk_grid"]["configuration"]["chunk_shape"] = [0, 32]
    (path / meta).write_text(json.dumps(stated))
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (f"{path} level 0 (array '0'): states chunks of (0, 32); "
                                "accepted: chunks of at least 1 px a side")


def with_label(path, names):
    """v2_image at ``path`` with a label 'm' (no provenance) listed as ``names``."""
    v2_image(path)
    v2_image(path / "labels" / "m")
    (path / "labels" / ".zgroup").write_text('{"zarr_format": 2}')
    (path / "labels" / ".zattrs").write_text(json.dumps({"labels": names}))
    return path


@pytest.mark.parametrize("names", [[5, None, "../..", "", "m"], 5])
def test_maskprep_info_passes_over_label_names_that_are_no_names(tmp_path, names):
    # '../..' failed as "cannot read (ValueError: The path 'labels/../..' is invalid ...)",
    # a list that is no list as "cannot read (TypeError: 'int' object is not iterable)".
    path = with_label(tmp_path / "a.zarr", names)
    with pytest.raises(ImageReadError) as caught:
        read_provenance(path)
    assert one_line(caught) == f"{path}: holds no maskprep provenance (not written by maskprep)"


@pytest.mark.parametrize("name", ["labels/.zattrs", "labels/m/.zattrs"])
def test_maskprep_info_names_a_label_s_metadata_that_is_no_file(tmp_path, name):
    # zarr waited forever on a FIFO there (maskprep info reads the store's labels).
    path = with_label(tmp_path / "a.zarr", ["m"])
    socket_at(path / name).close()
    with pytest.raises(ImageReadError) as caught:
        read_provenance(path)
    folder = (path / name).parent
    assert one_line(caught) == (f"{folder}: its zarr metadata .zattrs is not a file (a FIFO, "
                                "socket or device); accepted: plain files")


@pytest.mark.parametrize("names", [["x", "y"], ["q", None]])
def test_dimension_names_that_are_not_the_axes_are_refused(tmp_path, names):
    # NGFF 0.5 has a level's zarr dimension_names be its axes: ['x', 'y'] over axes y, x
    # was read by the axes alone, without a word, though either may be the true order.
    path = v3_image(tmp_path / "a.zarr")
    meta = json.loads((path / "0" / "zarr.json").read_text())
    meta["dimension_names"] = names
    (path / "0" / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (f"{path} level 0 (array '0'): its dimension_names {names} are "
                                "not its axes ['y', 'x'], so which is which is unknown; "
                                "accepted: the axes' names, in their order (NGFF 0.5)")


def test_dimension_names_of_the_axes_or_none_are_read(tmp_path):
    path = v3_image(tmp_path / "a.zarr")
    meta = json.loads((path / "0" / "zarr.json").read_text())
    meta["dimension_names"] = ["Y", None]
    (path / "0" / "zarr.json").write_text(json.dumps(meta))
    np.testing.assert_array_equal(open_lazy(path).data.compute(), IMAGE)


@pytest.mark.parametrize(("folder", "where"), [("", "{path}"), ("0", "{path} level 0 (array '0')")])
def test_a_folder_of_zarr_v2_and_v3_metadata_is_refused(tmp_path, folder, where):
    # zarr read the v3 metadata alone, warning in two lines, and the v2 level then seemed
    # missing ('level 0 (array '0'): is missing; the store is incomplete').
    path = v2_image(tmp_path / "a.zarr")
    other = v3_image(tmp_path / "b.zarr")
    (path / folder / "zarr.json").write_bytes((other / folder / "zarr.json").read_bytes())
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (f"{where.format(path=path)}: holds the metadata of zarr v2 "
                                "(.zgroup or .zarray) and of zarr v3 (zarr.json); accepted: "
                                "one of them")


@pytest.mark.parametrize("name", [".zattrs", ".zarray"])
def test_is_zarr_array_leaves_a_fifo_unread(tmp_path, monkeypatch, name):
    # napari asks it of every .zarr folder opened; zarr.open waited forever on a FIFO there.
    path = tmp_path / "a.zarr"
    zarr.open_array(path, mode="w", shape=(4, 4), dtype="u1", zarr_format=2)[...] = 1
    (path / ".zattrs").write_text("{}")
    assert is_zarr_array(path)
    (path / name).unlink()
    os.mkfifo(path / name)
    opened = []
    monkeypatch.setattr(zarr, "open", lambda *args, **kwargs: opened.append(args))
    assert not is_zarr_array(path)
    assert opened == []  # zarr is not asked to read it


@pytest.mark.parametrize("make", [v2_image, v3_image])
def test_a_chunk_file_larger_than_any_chunk_is_refused_before_it_is_read(tmp_path, make):
    # zarr read a chunk's file whole before decoding it: a sparse file of 100 GB, which
    # takes no disk, filled the memory.
    path = make(tmp_path / "a.zarr")
    chunk = "0/1" if make is v2_image else "c/0/1"
    image = open_lazy(path)
    with open(path / "0" / chunk, "r+b") as file:
        file.truncate(2 * 32 * 32 * 2 + 2**20 + 1)  # one byte past the bound
    with pytest.raises(ImageReadError) as caught:
        image.data.compute()
    assert one_line(caught) == (f"{path} level 0 (array '0'): chunk {chunk} is 1052673 bytes, "
                                "more than a chunk of (32, 32) uint16 takes; accepted: at most "
                                "1052672 bytes")


@pytest.mark.parametrize(("make", "name"), [(v2_image, ".zattrs"), (v3_image, "zarr.json"),
                                            (v2_image, "0/.zarray")])
def test_metadata_larger_than_64_mib_is_refused_before_it_is_read(tmp_path, monkeypatch,
                                                                  make, name):
    # zarr reads a metadata file whole and parses it: a sparse file of 100 GB filled memory.
    path = make(tmp_path / "a.zarr")
    with open(path / name, "r+b") as file:
        file.truncate(2**26 + 1)
    if "/" not in name:
        monkeypatch.setattr(zarr, "open", None)  # zarr is not asked to read it
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    folder = (path / name).parent
    where = f"{path} level 0 (array '0')" if folder != path else str(path)
    assert one_line(caught) == (f"{where}: its zarr metadata {name.split('/')[-1]} is "
                                "67108865 bytes; accepted: at most 67108864 (64 MiB)")


@pytest.mark.parametrize("make", [v2_image, v3_image])
@pytest.mark.parametrize("key, values", [("scale", [True, 0.5]), ("translation", [0, False])])
def test_a_boolean_in_a_transform_is_named_not_read_as_a_number(tmp_path, make, key, values):
    """ome-zarr-models reads JSON true and false as 1 and 0: a scale of true gave a pixel
    size of 1 um without a word."""
    path = make(tmp_path / "a.zarr")
    group = zarr.open_group(path, mode="r+")
    attributes = group.attrs.asdict()
    ome = attributes.get("ome", attributes)
    transforms = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    transforms[:] = [{"type": "scale", "scale": [0.5, 0.5]}]
    transforms[0 if key == "scale" else 1:] = [{"type": key, key: values}]
    group.attrs.update(attributes)
    with pytest.raises(ImageReadError) as error:
        open_lazy(path)
    assert one_line(error) == f"{path}: states the {key} {json.dumps(values)}; accepted: numbers"
