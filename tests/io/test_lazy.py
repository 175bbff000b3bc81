"""Opening images lazily (io.lazy): OME-Zarr 0.4 and 0.5, pyramidal and OME-TIFF, SVS-like
and plain TIFF as dask arrays with their pixel size, and one-line errors naming the file,
the level or the chunk."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import tifffile
import zarr

from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import (
    ImageReadError,
    image_group,
    image_layout,
    is_lazy_path,
    is_zarr_array,
    open_lazy,
    provenance,
    read_image,
    read_image_axes,
    write_ome_zarr,
)

IMAGE = np.arange(300 * 500, dtype=np.uint16).reshape(300, 500)


def ome_zarr_image(path, version="0.4", scale=(0.5, 0.25), unit="micrometer"):
    """An OME-Zarr image of IMAGE with two levels (stride 2), chunks of 128, by ome-zarr
    (which names them s0 and s1)."""
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_multiscale

    fmt = FormatV04() if version == "0.4" else FormatV05()
    group = zarr.open_group(path, mode="w", zarr_format=fmt.zarr_format)
    write_multiscale([IMAGE, IMAGE[::2, ::2]], group, fmt=fmt, axes="yx",
                     scale=dict(zip("yx", scale, strict=True)),
                     axes_units={"y": unit, "x": unit} if unit else None,
                     storage_options={"chunks": (128, 128)})
    return path


def one_line(error):
    text = str(error.value)
    assert "\n" not in text and len(text) < 300, text
    return text


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_opens_lazily_with_its_pyramid_and_pixel_size(tmp_path, version):
    path = ome_zarr_image(tmp_path / "image.zarr", version)
    image = open_lazy(path)
    assert image.axes == "yx" and image.path == path and image.ome_zarr
    assert image.pixel_size == (0.5, 0.25)
    assert [level.shape for level in image.levels] == [(300, 500), (150, 250)]
    assert image.data.chunks == ((128, 128, 44), (128, 128, 128, 116))
    np.testing.assert_array_equal(image.data.compute(), IMAGE)
    second = open_lazy(path, level=1)
    assert second.pixel_size == pytest.approx((1.0, 0.5))  # the file's scale for level 1
    np.testing.assert_array_equal(second.data.compute(), IMAGE[::2, ::2])


def test_nanometres_become_micrometres_and_no_unit_no_pixel_size(tmp_path):
    assert open_lazy(ome_zarr_image(tmp_path / "a.zarr", scale=(500, 250), unit="nanometer")
                     ).pixel_size == pytest.approx((0.5, 0.25))
    assert open_lazy(ome_zarr_image(tmp_path / "b.zarr", unit=None)).pixel_size is None


@pytest.mark.parametrize("scale", [(0, 0.25), (float("inf"), 1)])
def test_a_scale_that_is_no_size_states_no_pixel_size(tmp_path, scale):
    # It was taken, and every run of the store failed as a bad pixel_size, units or none.
    assert open_lazy(ome_zarr_image(tmp_path / "a.zarr", scale=scale)).pixel_size is None


def test_nothing_is_read_before_compute(tmp_path):
    path = ome_zarr_image(tmp_path / "image.zarr")
    for chunk in (path / "s0").rglob("*"):
        if chunk.is_file() and not chunk.name.startswith("."):
            chunk.write_bytes(b"garbage")  # every chunk damaged: opening must not notice
    image = open_lazy(path)
    assert image.data.shape == (300, 500)
    with pytest.raises(ImageReadError, match=r"level 0 \(array 's0'\): chunk 1/2 cannot be "
                                             r"read") as caught:
        image.data[128:256, 256:384].compute()
    one_line(caught)


def test_a_deleted_chunk_is_named_when_read(tmp_path):
    path = ome_zarr_image(tmp_path / "image.zarr")
    (path / "s1" / "0" / "1").unlink()
    image = open_lazy(path, level=1, missing_chunks="error")
    np.testing.assert_array_equal(image.data[:, :128].compute(), IMAGE[::2, :256:2])
    with pytest.raises(ImageReadError, match=r"level 1 \(array 's1'\): chunk 0/1 is missing"
                       ) as caught:
        image.data.compute()
    assert "missing_chunks='fill'" in one_line(caught)
    sparse = open_lazy(path, level=1, missing_chunks="fill").data.compute()
    assert (sparse[:128, 128:250] == 0).all()


def test_a_missing_chunk_is_the_fill_value_but_in_a_store_maskprep_wrote(tmp_path):
    """zarr's writers leave out chunks of the fill value (zarr 3 by default), and zarr,
    napari and Fiji read them as it: every run of such a store was refused. A store
    maskprep wrote holds every chunk, so a missing one there is damage."""
    path = ome_zarr_image(tmp_path / "image.zarr")
    (path / "s1" / "0" / "1").unlink()
    sparse = open_lazy(path, level=1).data.compute()
    assert (sparse[:128, 128:250] == 0).all()
    mask = (IMAGE > 30000).astype(np.uint8)
    made = provenance("maskprep: 1\nsteps: []\n", mask)
    ours = write_ome_zarr(mask, tmp_path / "mask.zarr", chunks=(128, 128), provenance=made)
    next(p for p in (ours / "0").rglob("*") if p.is_file()
         and not p.name.startswith((".", "zarr.json"))).unlink()
    with pytest.raises(ImageReadError, match=r"is missing \(deleted, or never written\)"):
        open_lazy(ours).data.compute()


def test_a_missing_level_is_named(tmp_path):
    path = ome_zarr_image(tmp_path / "image.zarr")
    with pytest.raises(ImageReadError, match=r"has no level 2; its levels are 0 to 1") as e:
        open_lazy(path, level=2)
    one_line(e)
    shutil.rmtree(path / "s1")
    with pytest.raises(ImageReadError, match=r"level 1 \(array 's1'\): is missing") as e:
        open_lazy(path)
    one_line(e)


def test_a_fifo_named_like_a_slide_is_refused_at_once(tmp_path):
    """open_lazy and read_pixel_size blocked for ever on a FIFO."""
    import os

    from napari_maskprep.io import read_pixel_size

    fifo = tmp_path / "slide.tif"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match=r"slide.tif: not a regular file; accepted: "):
        open_lazy(fifo)
    assert read_pixel_size(fifo) is None


def test_a_stated_shape_of_too_many_chunks_is_one_line(tmp_path):
    """A store claiming 10**12 px a side in chunks of 128 ran out of memory (MemoryError
    with no message) while dask planned its chunks."""
    import json

    path = ome_zarr_image(tmp_path / "image.zarr")
    meta = path / "s0" / ".zarray"
    stated = json.loads(meta.read_text())
    stated["shape"] = [10**12, 10**12]
    meta.write_text(json.dumps(stated))
    with pytest.raises(ImageReadError, match=r"level 0 \(array 's0'\): shape \(1000000000000, "
                                             r"1000000000000\) in chunks of \(128, 128\) is "
                                             r"6.1e\+19 chunks; accepted: at most 4194304") as e:
        open_lazy(path)
    one_line(e)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: None, "no such file or folder; accepted: an OME-Zarr folder"),
        (lambda p: p.mkdir(), "not a zarr store"),
        (lambda p: zarr.open_group(p, mode="w", zarr_format=2),
         "a zarr group without OME-NGFF multiscales metadata"),
        (lambda p: zarr.open_group(p, mode="w", zarr_format=2).attrs.update(
            multiscales=[{"version": "0.4", "axes": [], "datasets": []}]),
         "invalid OME-Zarr 0.4 metadata"),
    ],
)
def test_what_is_not_an_ome_zarr_is_one_line(tmp_path, make, match):
    path = tmp_path / "x.zarr"
    make(path)
    with pytest.raises(ImageReadError, match=match) as caught:
        open_lazy(path)
    assert str(path) in one_line(caught)


@pytest.mark.parametrize(("zarr_format", "attributes", "stated"), [
    # NGFF 0.3 (IDR's older stores): axes as names, refused as "invalid OME-Zarr 0.4
    # metadata (multiscales.0.axes.0: Input should be a valid dictionary ...)"
    (2, {"multiscales": [{"version": "0.3", "axes": ["y", "x"], "datasets": [{"path": "0"}]}]},
     "'0.3' on zarr v2"),
    (2, {"multiscales": [{"version": "0.5", "axes": [], "datasets": []}]}, "'0.5' on zarr v2"),
    (3, {"ome": {"version": "0.4", "multiscales": []}}, "'0.4' on zarr v3"),
])
def test_a_store_of_another_ngff_version_names_it(tmp_path, zarr_format, attributes, stated):
    path = tmp_path / "x.zarr"
    group = zarr.open_group(path, mode="w", zarr_format=zarr_format)
    group.create_array("0", shape=(4, 4), dtype="u1")
    group.attrs.update(attributes)
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (f"{path}: states OME-NGFF {stated}; accepted: NGFF 0.4 on "
                                "zarr v2 or 0.5 on zarr v3")


@pytest.mark.parametrize(("zarr_format", "attributes"), [
    (2, {}), (3, {}),
    # an "ome" that is no mapping raised TypeError ("argument of type 'int' is not iterable")
    *((3, {"ome": ome}) for ome in (5, None, [1], "multiscales"))])
def test_a_zarr_group_without_ngff_metadata_says_what_is_accepted(tmp_path, zarr_format,
                                                                  attributes):
    path = tmp_path / "x.zarr"
    group = zarr.open_group(path, mode="w", zarr_format=zarr_format)
    group.create_array("0", shape=(4, 4), dtype="u1")
    group.attrs.update(attributes)
    assert image_group(path) == path
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (
        f"{path}: a zarr group without OME-NGFF multiscales metadata (neither an OME-Zarr "
        "image nor a zarr array); accepted: an OME-Zarr folder (NGFF 0.4 or 0.5), a bare "
        "zarr array, a TIFF, OME-TIFF, pyramidal BigTIFF or Aperio SVS file")
    assert not is_zarr_array(path)


def bare_array(path, image, zarr_format, chunks=(128, 200)):
    """``image`` as a zarr array with no OME-NGFF metadata, as ``dask.array.to_zarr``
    writes it."""
    import dask.array as da

    da.from_array(image, chunks=chunks).to_zarr(path, zarr_format=zarr_format)
    return path


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_bare_zarr_array_opens_as_one_level_chunked_as_stored(tmp_path, zarr_format):
    """dask.array.to_zarr and zarr.save_array write no NGFF metadata; napari opens such an
    array, and maskprep refused it ("a zarr array without OME-NGFF ...")."""
    path = bare_array(tmp_path / "x.zarr", IMAGE, zarr_format)
    assert is_zarr_array(path) and is_lazy_path(path)
    with open_lazy(path) as image:
        assert (image.axes, image.pixel_size, image.channel_names) == ("yx", None, [])
        assert not image.ome_zarr
        assert len(image.levels) == 1 and image.data is image.levels[0]
        assert image.data.chunks == ((128, 128, 44), (200, 200, 100))
        np.testing.assert_array_equal(image.data.compute(), IMAGE)
    with pytest.raises(ImageReadError, match="has no level 1; its levels are 0 to 0"):
        open_lazy(path, level=1)
    saved = tmp_path / "saved.zarr"
    zarr.save_array(saved, IMAGE[:7, :9], zarr_format=zarr_format)
    np.testing.assert_array_equal(open_lazy(saved).data.compute(), IMAGE[:7, :9])


@pytest.mark.parametrize(("shape", "axes", "layout"), [
    ((3, 20, 30), "qyx", "zyx"), ((20, 30, 3), "yxc", "yxc"), ((20, 30, 4), "yxc", "yxc"),
    ((2, 3, 20, 30), "qqyx", "tzyx"), ((5, 20, 30, 3), "qyxc", "zyxc")])
def test_a_bare_zarr_array_s_axes_are_a_plain_tiff_s_of_its_shape(tmp_path, shape, axes,
                                                                    layout):
    from napari_maskprep.io.images import tiff_axes

    data = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    tifffile.imwrite(tmp_path / "plain.tif", data,  # tifffile's default, said out loud
                     photometric="rgb" if axes.endswith("c") else "minisblack")
    with tifffile.TiffFile(tmp_path / "plain.tif") as tif:
        assert tiff_axes(tif.series[0]) == axes
    image = open_lazy(bare_array(tmp_path / "x.zarr", data, 3, chunks=-1))
    assert image.axes == axes
    arranged, letters = image_layout(image.data, image.axes, "x.zarr")
    assert letters == layout
    np.testing.assert_array_equal(arranged.compute(), data)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_read_image_reads_a_zarr_store_whole(tmp_path, zarr_format):
    """read_image refused any store: "unsupported file type .zarr"."""
    np.testing.assert_array_equal(read_image(bare_array(tmp_path / "x.zarr", IMAGE,
                                                        zarr_format)), IMAGE)
    rgb = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    assert read_image_axes(bare_array(tmp_path / "rgb.zarr", rgb, zarr_format, -1))[1] == "yxc"
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.zarr", channel=2), rgb[..., 2])
    np.testing.assert_array_equal(read_image(ome_zarr_image(tmp_path / "o.zarr")), IMAGE)
    with pytest.raises(ImageReadError) as caught:
        read_image(tmp_path / "x.zarr", series=1)
    assert one_line(caught).startswith(f"{tmp_path / 'x.zarr'}: has no series 1; ")
    with pytest.raises(ImageReadError) as caught:
        read_image(tmp_path / "none.zarr")
    assert one_line(caught) == (f"{tmp_path / 'none.zarr'}: no such file or folder; accepted: "
                                "an OME-Zarr folder (NGFF 0.4 or 0.5), a bare zarr array, a "
                                "TIFF, OME-TIFF, pyramidal BigTIFF or Aperio SVS file")


def test_a_bare_zarr_array_s_missing_chunk_is_its_fill_value_or_named(tmp_path):
    path = bare_array(tmp_path / "x.zarr", IMAGE, 2)
    (path / "1.1").unlink()
    filled = IMAGE.copy()
    filled[128:256, 200:400] = 0
    np.testing.assert_array_equal(open_lazy(path).data.compute(), filled)
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path, missing_chunks="error").data.compute()
    assert one_line(caught) == (
        f"{path} (a zarr array): chunk 1.1 is missing (deleted, or never written); open "
        "with missing_chunks='fill' if the store is sparse")


@pytest.mark.parametrize(("zarr_format", "damage", "message"), [
    (2, lambda p: (p / ".zarray").write_text("{not json"), "its zarr metadata (.zarray) is "
                                                           "damaged ("),
    (3, lambda p: (p / "zarr.json").write_bytes((p / "zarr.json").read_bytes()[:30]),
     "its zarr metadata (zarr.json) is damaged ("),
    (2, lambda p: (p / ".zarray").unlink(), "its zarr metadata is incomplete (.zattrs "
                                            "without .zarray or .zgroup); accepted: an "
                                            "OME-Zarr folder (NGFF 0.4 or 0.5), a bare zarr "
                                            "array, "),
    (3, lambda p: (p / "zarr.json").unlink(), "not a zarr store (no zarr metadata); "),
])
def test_a_bare_zarr_array_opens_and_damaged_is_one_line(tmp_path, zarr_format, damage,
                                                         message):
    path = bare_array(tmp_path / "x.zarr", IMAGE, zarr_format)
    np.testing.assert_array_equal(open_lazy(path).data.compute(), IMAGE)
    damage(path)
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught).startswith(f"{path}: {message}")
    assert not is_zarr_array(path)


@pytest.mark.parametrize(("shape", "dtype"), [((300,), "u2"), ((0, 4), "u2"),
                                              ((4, 4), "c8")])
def test_a_zarr_array_that_is_no_image_is_one_line(tmp_path, shape, dtype):
    path = tmp_path / "x.zarr"
    zarr.create_array(path, shape=shape, dtype=dtype, zarr_format=3)
    with pytest.raises(ImageReadError) as caught:
        open_lazy(path)
    assert one_line(caught) == (
        f"{path} (a zarr array): shape {shape} of {np.dtype(dtype)}; accepted: an image of "
        "at least 2 axes, none empty, of numbers or booleans")


def test_pyramidal_ome_tiff_opens_lazily_with_pixel_size(tmp_path):
    path = tmp_path / "image.ome.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(IMAGE, tile=(128, 128), subifds=2,
                  metadata={"axes": "YX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.5})
        tif.write(IMAGE[::2, ::2], tile=(128, 128), subfiletype=1)
        tif.write(IMAGE[::4, ::4], tile=(128, 128), subfiletype=1)
    with open_lazy(path, level=2) as image:
        assert image.axes == "yx" and not image.ome_zarr
        assert [level.shape for level in image.levels] == [(300, 500), (150, 250), (75, 125)]
        assert image.levels[0].chunks == ((300,), (500,))  # its tiles read 1024 px a block
        assert image.pixel_size == pytest.approx((2.0, 1.0))
        np.testing.assert_array_equal(image.data.compute(), IMAGE[::4, ::4])
        np.testing.assert_array_equal(image.levels[0].compute(), IMAGE)


def test_small_tiles_are_read_in_blocks_a_tiled_run_takes_fast(tmp_path):
    """A dask task a tile: a 16 MP TIFF of 16 x 16 tiles took 60 s tiled, 1.6 s in memory."""
    image = np.arange(2500 * 1800, dtype=np.uint32).reshape(2500, 1800).astype(np.uint16)
    path = tmp_path / "tiny-tiles.tif"
    tifffile.imwrite(path, image, tile=(16, 16))
    with open_lazy(path) as lazy:
        assert lazy.data.chunks == ((1024, 1024, 452), (1024, 776))
        np.testing.assert_array_equal(lazy.data.compute(), image)
        np.testing.assert_array_equal(lazy.data[1000:1100, 1020:1030].compute(),
                                      image[1000:1100, 1020:1030])
    stack = np.zeros((3, 200, 300), np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack, tile=(64, 64), photometric="minisblack")
    with open_lazy(tmp_path / "stack.tif") as lazy:
        assert lazy.data.chunks == ((1, 1, 1), (200,), (300,))  # a page a plane, as stored


def test_svs_like_tiff_gives_its_mpp(tmp_path):
    path = tmp_path / "slide.svs"
    rgb = np.zeros((256, 384, 3), np.uint8)
    rgb[..., 1] = 7
    tifffile.imwrite(path, rgb, tile=(128, 128), photometric="rgb",
                     description="Aperio Image Library v12.0.5\n384x256 |AppMag = 20|MPP = 0.4990")
    with open_lazy(path) as image:
        assert image.axes == "yxc" and image.pixel_size == (0.499, 0.499)
        np.testing.assert_array_equal(image.data.compute(), rgb)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_plain_tiff_opens_lazily_with_its_resolution(tmp_path, compression):
    path = tmp_path / "plain.tif"
    stack = np.stack([IMAGE, IMAGE + 1])
    tifffile.imwrite(path, stack, compression=compression, resolution=(1e4 / 0.2, 1e4 / 0.4),
                     resolutionunit="CENTIMETER", metadata=None)
    with open_lazy(path) as image:
        assert image.axes[-2:] == "yx" and image.data.shape == (2, 300, 500)
        assert image.pixel_size == pytest.approx((0.4, 0.2))
        assert len(image.levels) == 1
        np.testing.assert_array_equal(image.data.compute(), stack)


@pytest.mark.parametrize("tile", [(128, 128), None])
def test_a_lazy_tiff_travels_by_path(tmp_path, tile):
    # What a dask worker receives: the path, reopened there, never the open file or the
    # pixels themselves.
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, IMAGE, tile=tile)
    with open_lazy(path) as image:
        sent = pickle.dumps(image.data)
        assert len(sent) < IMAGE.nbytes // 10
        received = pickle.loads(sent)
    np.testing.assert_array_equal(received.compute(), IMAGE)  # the sender's file is closed


def test_imagej_tiff_gives_z_spacing(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack([IMAGE] * 3), imagej=True, resolution=(4.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": 1.5})
    with open_lazy(path) as image:
        assert image.axes == "zyx" and image.pixel_size == pytest.approx((1.5, 0.5, 0.25))


def test_a_truncated_tiff_is_one_line(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, IMAGE, tile=(128, 128), compression="zlib")
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageReadError, match="cut.tif") as caught, open_lazy(path) as image:
        image.data.compute()
    one_line(caught)


def test_is_lazy_path(tmp_path):
    tifffile.imwrite(tmp_path / "small.tif", IMAGE)
    (tmp_path / "notes.txt").write_text("x")
    assert is_lazy_path(ome_zarr_image(tmp_path / "image.zarr"))
    assert not is_lazy_path(tmp_path / "small.tif")
    assert is_lazy_path(tmp_path / "small.tif", budget=IMAGE.nbytes - 1)
    assert not is_lazy_path(tmp_path / "notes.txt") and not is_lazy_path(tmp_path / "none.tif")
    assert not is_lazy_path(tmp_path)
    tifffile.imwrite(tmp_path / "small.svs", IMAGE, tile=(128, 128))
    assert is_lazy_path(tmp_path / "small.svs")  # only the lazy reader reads a slide file
    # Only the first image of a file of several was weighed: a plate of a small overview
    # then a large position read the position whole under --series 1.
    with tifffile.TiffWriter(tmp_path / "plate.ome.tif", ome=True) as tif:
        tif.write(IMAGE[:8, :8])
        tif.write(IMAGE)
    assert is_lazy_path(tmp_path / "plate.ome.tif", budget=IMAGE.nbytes - 1)
    assert not is_lazy_path(tmp_path / "plate.ome.tif", budget=IMAGE.nbytes)


@pytest.mark.parametrize(("shape", "match"), [
    (None, r"level 0 \(array 's0'\): its metadata is damaged \(Expecting "),
    ([-5, 500], r"level 0 \(array 's0'\): its metadata is damaged \(Expected all values to "
                r"be non-negative"),
    ([0, 500], r"level 0 \(array 's0'\): is empty \(shape \(0, 500\)\)"),
])
def test_damaged_or_empty_level_metadata_is_named(tmp_path, shape, match):
    """zarr's own words came alone ("Expecting property name ...") and an empty level
    read as "chunk 0.0 is missing"."""
    import json

    path = ome_zarr_image(tmp_path / "image.zarr")
    meta = path / "s0" / ".zarray"
    stated = json.loads(meta.read_text())
    stated["shape"] = shape
    meta.write_text("{not json" if shape is None else json.dumps(stated))
    with pytest.raises(ImageReadError, match=match) as e:
        open_lazy(path)
    one_line(e)


@pytest.mark.parametrize(("version", "name"), [("0.4", ".zattrs"), ("0.4", ".zgroup"),
                                              ("0.5", "zarr.json")])
def test_damaged_store_metadata_is_named_not_called_missing(tmp_path, version, name):
    """A store whose group metadata was cut short was "not a zarr store (no zarr
    metadata)", as if it were some other folder."""
    path = ome_zarr_image(tmp_path / "image.zarr", version)
    meta = path / name
    meta.write_bytes(meta.read_bytes()[:20])
    with pytest.raises(ImageReadError) as e:
        open_lazy(path)
    assert one_line(e).startswith(f"{path}: its zarr metadata ({name}) is damaged (")


def test_store_metadata_nested_past_json_s_recursion_is_named_damaged(tmp_path):
    """JSON nested deeper than Python's parser recurses failed zarr's open, and the check
    for which file is damaged failed again with it: a RecursionError, not one line."""
    path = ome_zarr_image(tmp_path / "image.zarr", "0.4")
    (path / ".zattrs").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ImageReadError) as e:
        open_lazy(path)
    assert one_line(e).startswith(f"{path}: its zarr metadata (.zattrs) is damaged (")


def test_a_damaged_tile_read_in_a_block_names_the_block_s_tiles(tmp_path):
    """Tiles are read in blocks of 1024 px, and a damaged one was named by its block's
    first tile, which reads well: tile 0.5 was reported as 'chunk 0.4'."""
    image = np.random.default_rng(0).integers(0, 255, (512, 2048), dtype=np.uint8)
    path = tmp_path / "damaged.tif"
    tifffile.imwrite(path, image, tile=(256, 256), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[0].dataoffsets[5], tif.pages[0].databytecounts[5]
    data = bytearray(path.read_bytes())
    data[offset:offset + count] = bytes(count)
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=r"level 0: chunks 0\.4 to 1\.7 cannot be read "
                                             r"\(DeflateError"), open_lazy(path) as lazy:
        lazy.data.compute()


def three_channels(path, dtype, colours):
    """A cyx OME-Zarr of 3 channels, with omero channel colours unless ``colours`` is None."""
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    planes = (np.arange(3 * 40 * 50) % 251).astype(dtype).reshape(3, 40, 50)
    group = zarr.open_group(path, mode="w", zarr_format=2)
    write_image(planes, group, fmt=FormatV04(), axes="cyx", scaler=None)
    if colours is not None:
        group.attrs["omero"] = {"channels": [{"color": c, "label": f"ch{i}"}
                                             for i, c in enumerate(colours)]}
    return path, planes


@pytest.mark.parametrize(("dtype", "colours", "colour"), [
    (np.uint8, None, True),  # RGB, as a slide converted without rendering settings
    (np.uint8, ("FF0000", "00FF00", "0000ff"), True),  # bioformats2raw's RGB slide
    (np.uint16, None, False),  # fluorescence channels: no colour image is uint16 here
    (np.uint16, ("FF0000", "00FF00", "0000FF"), False),
    (np.uint8, ("0000FF", "00FF00", "FF00FF"), False),  # DAPI, GFP, a far-red channel
])
def test_three_ome_zarr_channels_are_colour_only_as_rgb_uint8(tmp_path, dtype, colours,
                                                               colour):
    """Every 3-channel OME-Zarr was read as RGB: a fluorescence store of 3 uint16 channels
    was segmented on their luminance, silently. Channel colours without a display window
    (omero metadata that ome-zarr-models finds incomplete) were refused; napari reads them."""
    path, planes = three_channels(tmp_path / "three.zarr", dtype, colours)
    image = open_lazy(path)
    assert image.axes == ("cyx" if colour else "nyx")
    if colour:
        data, axes = image_layout(image.data, image.axes, "three.zarr")
        assert axes == "yxc"
        np.testing.assert_array_equal(data.compute(), np.moveaxis(planes, 0, -1))
    else:
        with pytest.raises(BadValueError, match=r"^three.zarr: axes 'cyx' of shape \(3, 40, "
                                                r"50\) \(3 channels, not RGB: choose"):
            image_layout(image.data, image.axes, "three.zarr")
