"""Masks written by io.masks.write_mask carry their pixel size where each format holds it:
TIFF resolution tags (and OME-XML for z spacing), PNG's pHYs chunk, OME-Zarr scales."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import (
    OutputExistsError,
    open_lazy,
    read_frame_interval,
    read_image,
    read_pixel_size,
    write_mask,
    write_ome_zarr,
)

MASK = np.array([[0, 1, 1], [0, 0, 1]], np.uint8)


def _png_chunks(path):
    data, pos, chunks = path.read_bytes(), 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def test_tiff_states_y_and_x_in_centimetres(tmp_path):
    path = write_mask(tmp_path / "m.tif", MASK, pixel_size=(0.25, 0.5))
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert page.tags["XResolution"].value == (20000, 1)
        assert page.tags["YResolution"].value == (40000, 1)
        assert page.resolutionunit == tifffile.RESUNIT.CENTIMETER
    assert read_pixel_size(path) == (0.25, 0.5)
    np.testing.assert_array_equal(read_image(path), MASK)


@pytest.mark.parametrize("shape", [(3, 2, 3), (2, 3, 2, 3)])
def test_tiff_states_z_spacing_of_a_volume(tmp_path, shape):
    mask = np.resize(MASK, shape).astype(np.int32)
    path = write_mask(tmp_path / "m.tif", mask, pixel_size=(2.0, 0.25, 0.5))
    assert read_pixel_size(path) == (2.0, 0.25, 0.5)
    np.testing.assert_array_equal(read_image(path), mask)
    with open_lazy(path) as image:
        assert image.axes == "tzyx"[-len(shape):] and image.pixel_size == (2.0, 0.25, 0.5)


def test_a_volume_of_one_plane_keeps_its_shape_and_its_y_and_x(tmp_path):
    # OME readers drop axes of length 1: the plane keeps its shaped description instead.
    mask = MASK[np.newaxis]
    path = write_mask(tmp_path / "m.tif", mask, pixel_size=(2.0, 0.25, 0.5))
    assert read_image(path).shape == (1, 2, 3)
    assert read_pixel_size(path) == (0.25, 0.5)


def test_png_states_y_and_x_in_pixels_per_metre(tmp_path):
    path = write_mask(tmp_path / "m.png", MASK, pixel_size=(0.25, 0.5))
    chunks = _png_chunks(path)
    assert [kind for kind, _ in chunks[:2]] == [b"IHDR", b"pHYs"]
    per_metre_x, per_metre_y = 2_000_000, 4_000_000
    assert chunks[1][1] == per_metre_x.to_bytes(4, "big") + per_metre_y.to_bytes(4, "big") + b"\1"
    np.testing.assert_array_equal(read_image(path), MASK * 255)


def test_png_leaves_out_a_size_its_whole_pixels_per_metre_cannot_hold(tmp_path):
    path = write_mask(tmp_path / "m.png", MASK, pixel_size=(2e6, 2e6))  # 0.5 px per metre
    assert b"pHYs" not in [kind for kind, _ in _png_chunks(path)]


def test_tiff_leaves_out_a_size_its_resolution_tags_cannot_hold(tmp_path):
    # 1e-6 um is 1e10 px per cm, past a TIFF rational's 2**32 - 1: the write failed with
    # "max_denominator should be at least 1"
    path = write_mask(tmp_path / "m.tif", MASK, pixel_size=(1e-6, 1e-6))
    assert read_pixel_size(path) is None
    np.testing.assert_array_equal(read_image(path), MASK)


def test_zarr_states_every_spatial_axis_or_none(tmp_path):
    path = write_mask(tmp_path / "m.zarr", MASK, pixel_size=(0.25, 0.5))
    with open_lazy(path) as image:
        assert image.pixel_size == (0.25, 0.5)
    volume = write_mask(tmp_path / "v.zarr", np.stack([MASK] * 3), pixel_size=(2.0, 0.25, 0.5))
    with open_lazy(volume) as image:
        assert image.axes == "zyx" and image.pixel_size == (2.0, 0.25, 0.5)
    unknown_z = write_mask(tmp_path / "u.zarr", np.stack([MASK] * 3), pixel_size=(0.25, 0.5))
    with open_lazy(unknown_z) as image:
        assert image.axes == "zyx" and image.pixel_size is None


@pytest.mark.parametrize("size", [(0.5,), (0.0, 1.0), (1, 2, 3, 4), "a"])
def test_a_bad_pixel_size_is_one_line_before_writing(tmp_path, size):
    accepted = r"; accepted: \(y, x\) or \(z, y, x\), positive sizes in µm$"
    with pytest.raises(BadValueError, match=r"^pixel_size=.*" + accepted) as caught:
        write_mask(tmp_path / "m.tif", MASK, pixel_size=size)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["cells.tif", "cells.png"])
def test_a_file_maskprep_did_not_write_is_never_replaced(tmp_path, name):
    """write_mask('cells.tif', mask) replaced a person's image without a word (its .zarr
    stores and write_bigtiff already refused to)."""
    path = tmp_path / name
    path.write_bytes(b"a person's image")
    with pytest.raises(OutputExistsError) as caught:
        write_mask(path, MASK)
    assert str(caught.value) == (f"{path} exists and was not written by maskprep; it is never "
                                 "replaced")
    assert path.read_bytes() == b"a person's image"
    ours = tmp_path / f"ours{path.suffix}"
    write_mask(ours, MASK, metadata={"maskprep_provenance": 1, "recipe": "r", "created": "now",
                                     "versions": {}, "input": {"source": None, "checksum": "c",
                                                               "shape": [2, 3], "dtype": "uint8"}})
    write_mask(ours, 1 - MASK)  # a mask maskprep wrote is replaced
    np.testing.assert_array_equal(read_image(ours) > 0, 1 - MASK)


def _time_increment(path) -> tuple[float, str] | None:
    """The TimeIncrement (and its unit) of a TIFF's OME-XML; None where it states none."""
    with tifffile.TiffFile(path) as tif:
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    if "TimeIncrement" not in pixels:
        return None
    return pixels["TimeIncrement"], pixels["TimeIncrementUnit"]


@pytest.mark.parametrize(("metadata", "seconds"), [
    ({"imagej": True, "metadata": {"axes": "TYX", "finterval": 0.5, "tunit": "min"}}, 30.0),
    ({"imagej": True, "metadata": {"axes": "TYX", "finterval": 2.5}}, 2.5),  # ImageJ's sec
    ({"ome": True, "metadata": {"axes": "TYX", "TimeIncrement": 250,
                                "TimeIncrementUnit": "ms"}}, 0.25),
    ({"imagej": True, "metadata": {"axes": "TYX"}}, None),
    ({"imagej": True, "metadata": {"axes": "TYX", "finterval": 2.0, "tunit": "frame"}}, None),
])
def test_a_time_lapse_s_mask_states_the_time_between_frames_its_input_does(tmp_path, metadata,
                                                                         seconds):
    """A time-lapse's mask named its time axis but lost the time between its frames."""
    image = tmp_path / "movie.tif"
    tifffile.imwrite(image, np.resize(MASK, (3, 2, 3)), photometric="minisblack", **metadata)
    assert read_frame_interval(image) == seconds
    mask = write_mask(tmp_path / "m.tif", np.resize(MASK, (3, 2, 3)), axes="tyx",
                      frame_interval=read_frame_interval(image))
    assert _time_increment(mask) == (None if seconds is None else (seconds, "s"))
    assert read_frame_interval(mask) == seconds


def test_a_time_between_frames_is_written_only_for_frames_and_checked(tmp_path):
    path = write_mask(tmp_path / "m.tif", np.resize(MASK, (3, 2, 3)), axes="tyx",
                      frame_interval=2, pixel_size=(0.25, 0.5))
    assert _time_increment(path) == (2.0, "s") and read_pixel_size(path) == (0.25, 0.5)
    stack = write_mask(tmp_path / "z.tif", np.resize(MASK, (3, 2, 3)), axes="zyx",
                       frame_interval=2, pixel_size=(1.0, 0.25, 0.5))
    assert _time_increment(stack) is None and read_frame_interval(stack) is None
    for bad in (0, -1.0, float("nan"), float("inf"), True, "2 s"):
        with pytest.raises(BadValueError) as refused:
            write_mask(tmp_path / "bad.tif", MASK, frame_interval=bad)
        assert str(refused.value) == (f"frame_interval={bad!r}; accepted: the seconds between "
                                      "time frames, a positive number, or None")
    assert not (tmp_path / "bad.tif").exists()


def test_an_ome_zarr_time_lapse_states_its_time_between_frames_by_its_unit(tmp_path):
    import zarr

    store = write_ome_zarr(np.resize(MASK, (3, 2, 3)), tmp_path / "movie.zarr", axes="tyx")
    assert read_frame_interval(store) is None  # a scale of 1 in no unit: no time stated
    group = zarr.open_group(store, mode="r+")
    multiscales = group.attrs["multiscales"]
    multiscales[0]["axes"][0]["unit"] = "minute"
    for dataset in multiscales[0]["datasets"]:
        dataset["coordinateTransformations"][0]["scale"][0] = 2.0
    group.attrs["multiscales"] = multiscales
    assert read_frame_interval(store) == 120.0
