"""The images of a multi-series OME-TIFF (positions, wells), read one at a time by number:
in memory and lazily (contiguous and tiled), each with its own pixel size and channel
names. Such a file was refused in one line, whatever one asked, so a plate could not be
segmented at all."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import tifffile

from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import (
    ImageReadError,
    channel_names,
    keep_tiff_open,
    list_series,
    open_lazy,
    read_image,
    read_image_axes,
    read_pixel_size,
    series_numbers,
    write_ome_zarr,
)

SIZES = (0.5, 1.0, 1.5)  # µm per pixel of each position


def positions() -> list[np.ndarray]:
    """Three positions of uint16, each holding its own values."""
    return [(np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) + 1000 * n)
            for n in range(len(SIZES))]


def write_plate(path, tile=None, thumbnail=True):
    """An OME-TIFF as a microscope writes positions: one series each, with its own pixel
    size and name, then a thumbnail of another shape."""
    with tifffile.TiffWriter(path, ome=True) as tif:
        for n, (data, size) in enumerate(zip(positions(), SIZES, strict=True)):
            tif.write(data, tile=tile, metadata={"axes": "YX", "Name": f"Well A{n + 1}",
                                                 "PhysicalSizeX": size,
                                                 "PhysicalSizeY": size})
        if thumbnail:
            tif.write(np.zeros((4, 6), np.uint8), metadata={"axes": "YX"})
    return path


def refused_alike(path, message: str, series: int | None = None) -> None:
    """``path`` is refused in this one line, in memory and lazily alike."""
    with pytest.raises(ImageReadError) as in_memory:
        read_image(path, series=series)
    with pytest.raises(ImageReadError) as lazily:
        open_lazy(path, series=series)
    assert str(in_memory.value) == str(lazily.value) == message


def each_series_reads(path, images) -> None:
    """Series N of ``path`` is ``images[N]``, in memory and lazily alike."""
    for number, image in enumerate(images):
        np.testing.assert_array_equal(read_image(path, series=number), image)
        with open_lazy(path, series=number) as lazy:
            np.testing.assert_array_equal(lazy.data.compute(), image)


@pytest.mark.parametrize("tile", [None, (16, 16)])  # memory-mapped, and through its tiles
def test_each_series_is_read_with_its_own_pixels_and_pixel_size(tmp_path, tile):
    path = write_plate(tmp_path / "plate.ome.tif", tile)
    for n, expected in enumerate(positions()):
        np.testing.assert_array_equal(read_image(path, series=n), expected)
        image, axes = read_image_axes(path, series=n)
        assert axes == "yx" and image.dtype == np.uint16
        assert read_pixel_size(path, n) == (SIZES[n], SIZES[n])
        with open_lazy(path, series=n) as lazy:
            np.testing.assert_array_equal(lazy.data.compute(), expected)
            assert lazy.pixel_size == (SIZES[n], SIZES[n]) and lazy.axes == "yx"
    with open_lazy(path, series=0) as first, open_lazy(path, series=1) as second:
        # dask keys tasks by name: one name for two series would give one's pixels for both
        assert first.data.name != second.data.name
        np.testing.assert_array_equal((second.data - first.data).compute(),
                                      np.full((20, 30), 1000, np.uint16))


def test_the_series_of_a_file_are_listed_from_its_header(tmp_path):
    path = write_plate(tmp_path / "plate.ome.tif")
    assert [info.describe() for info in list_series(path)] == [
        "series 0 'Well A1': shape (20, 30) uint16, axes yx, pixel size 0.5 x 0.5 um",
        "series 1 'Well A2': shape (20, 30) uint16, axes yx, pixel size 1 x 1 um",
        "series 2 'Well A3': shape (20, 30) uint16, axes yx, pixel size 1.5 x 1.5 um",
    ]
    assert series_numbers(path) == [0, 1, 2]  # the thumbnail is no image to segment
    one = tmp_path / "one.tif"
    tifffile.imwrite(one, positions()[0])
    png = tmp_path / "one.png"
    cv2.imwrite(str(png), positions()[0])
    assert series_numbers(one) == series_numbers(png) == [0]
    assert [info.number for info in list_series(one)] == [0]


def test_channels_are_named_as_each_series_names_them(tmp_path):
    path = tmp_path / "channels.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for n, names in enumerate((["DAPI", "GFP"], ["GFP", "DAPI"])):
            tif.write(np.stack([np.full((8, 8), 10 * n + c, np.uint16) for c in range(2)]),
                      metadata={"axes": "CYX", "Channel": {"Name": names}})
    assert channel_names(path, 1) == ["GFP", "DAPI"]
    np.testing.assert_array_equal(read_image(path, channel="GFP", series=0),
                                  np.full((8, 8), 1, np.uint16))
    np.testing.assert_array_equal(read_image(path, channel="GFP", series=1),
                                  np.full((8, 8), 10, np.uint16))
    with open_lazy(path, series=1) as lazy:
        assert lazy.channel_names == ["GFP", "DAPI"]
    # a series the file lacks is said, not that it names no channels
    with pytest.raises(ImageReadError, match=r"channels\.ome\.tif: has no series 2; accepted: "
                                             r"series 0, 1 \(its 2 images of shape "):
        read_image(path, channel="GFP", series=2)
    with pytest.raises(ImageReadError) as refused:  # nor that none was chosen
        read_image(path, channel="GFP")
    assert str(refused.value) == (
        f"{path}: holds 2 images of shape (2, 8, 8) (OME-TIFF series: positions or wells); "
        "accepted: one chosen with series=N (0, 1)")


@pytest.mark.parametrize(("series", "message"), [
    (None, "{path}: holds 3 images of shape (20, 30) (OME-TIFF series: positions or wells); "
           "accepted: one chosen with series=N (0 to 2)"),
    (3, "{path}: its series 3 is of shape (4, 6) (a label, macro or thumbnail image), not "
        "(20, 30); accepted: series 0 to 2 (its 3 images of shape (20, 30))"),
    (7, "{path}: has no series 7; accepted: series 0 to 2 (its 3 images of shape (20, 30))"),
])
def test_a_series_that_is_no_image_of_the_file_is_one_line(tmp_path, series, message):
    path = write_plate(tmp_path / "plate.ome.tif")
    refused_alike(path, message.format(path=path), series)


def test_a_file_of_one_image_is_series_0_only(tmp_path):
    tif, png, store = tmp_path / "one.tif", tmp_path / "one.png", tmp_path / "one.zarr"
    tifffile.imwrite(tif, positions()[0])
    cv2.imwrite(str(png), positions()[0])
    write_ome_zarr(positions()[0], store)
    for path in (tif, png):
        np.testing.assert_array_equal(read_image(path, series=0), positions()[0])
    with open_lazy(store, series=0) as lazy:
        np.testing.assert_array_equal(lazy.data.compute(), positions()[0])
    with pytest.raises(ImageReadError, match=r"^.*one\.tif: has no series 1; accepted: series "
                                             r"0 \(its one image of shape \(20, 30\)\)$"):
        read_image(tif, series=1)
    with pytest.raises(ImageReadError, match=r"^.*one\.png: has no series 1; accepted: series "
                                             r"0 \(a PNG holds one image\)$"):
        read_image(png, series=1)
    with pytest.raises(ImageReadError, match=r"^.*one\.zarr: has no series 1; accepted: "
                                             r"series 0 \(an OME-Zarr store is read as one "
                                             r"image, a bioformats2raw store's first\)$"):
        open_lazy(store, series=1)


def test_a_tiff_written_image_by_image_is_its_images_not_its_first(tmp_path):
    """tifffile makes each write to a file a series of its own, so a stack written plane by
    plane was read as its first plane alone, without a word, in memory and lazily."""
    path = tmp_path / "planes.tif"
    with tifffile.TiffWriter(path) as tif:
        for image in positions():
            tif.write(image)
    message = (f"{path}: holds 3 images of shape (20, 30) (TIFF series: images written one "
               "by one); accepted: one chosen with series=N (0 to 2)")
    refused_alike(path, message)
    assert series_numbers(path) == [0, 1, 2]
    each_series_reads(path, positions())


@pytest.mark.parametrize("bad", [-1, 1.0, True, "all", "1"])
def test_a_series_that_is_no_number_is_one_line_before_reading(tmp_path, bad):
    message = (r"^series .*; accepted: a series' number from 0 \(an OME-TIFF's positions or "
               r"wells\), or None for a file of one image$")
    with pytest.raises(BadValueError, match=message):
        read_image(tmp_path / "not-read.tif", series=bad)
    with pytest.raises(BadValueError, match=message):
        open_lazy(tmp_path, series=bad)


def _handles(path) -> int:
    """How many of this process's open files are ``path``."""
    return sum(os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve())
               for fd in os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_reads_kept_open_share_one_file_and_read_it_anew_once_it_changes(tmp_path):
    """Within keep_tiff_open the reads of a plate share one open file, its header parsed
    once; a file written again meanwhile is another file, read afresh, never the pixels
    or pixel size of the one it replaced; nothing stays open after."""
    path = write_plate(tmp_path / "plate.ome.tif")
    with keep_tiff_open(path):
        assert _handles(path) == 1
        np.testing.assert_array_equal(read_image(path, series=2), positions()[2])
        assert read_pixel_size(path, 2) == (1.5, 1.5) and _handles(path) == 1
        with tifffile.TiffWriter(path, ome=True) as tif:  # a plate of 2 positions now
            for data in positions()[1:]:
                tif.write(data + 1, metadata={"axes": "YX", "PhysicalSizeX": 2.0,
                                              "PhysicalSizeY": 2.0})
        np.testing.assert_array_equal(read_image(path, series=0), positions()[1] + 1)
        assert read_pixel_size(path, 0) == (2.0, 2.0) and series_numbers(path) == [0, 1]
    assert _handles(path) == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("tile", [None, (16, 16)])  # memory-mapped, and through its tiles
def test_the_lazy_images_of_a_plate_hold_one_open_file_between_them(tmp_path, tile):
    """Each series opened lazily held the file open for itself (and parsed its series list
    again): a plate of 384 wells of 4 channels held over 1 500 files, past the usual limit
    of 1 024 a process. They now share one, let go when the last is closed."""
    path = write_plate(tmp_path / "plate.ome.tif", tile)
    opened = [open_lazy(path, series=n) for n in (0, 1, 2, 2)]
    assert _handles(path) == 1
    for image, n in zip(opened, (0, 1, 2, 2), strict=True):
        np.testing.assert_array_equal(image.data.compute(), positions()[n])
        assert image.pixel_size == (SIZES[n], SIZES[n])
    for image in opened[:-1]:
        image.close()
    np.testing.assert_array_equal(opened[-1].data.compute(), positions()[2])
    opened[-1].close()
    del opened, image
    assert _handles(path) == 0


@pytest.mark.parametrize(("metadata", "kind"), [
    ({}, "TIFF series: images written one by one"),  # tifffile's shaped description
    ({"metadata": None}, "TIFF pages of several shapes"),  # plain pages: an image, a thumbnail
])
def test_a_tiff_of_images_of_several_shapes_is_refused_without_one_chosen(tmp_path, metadata,
                                                                         kind):
    """A TIFF whose images differ in shape was read as its first alone, without a word, in
    memory and lazily; now each is an image to choose, as those of one shape are."""
    path = tmp_path / "pages.tif"
    first, second = np.full((64, 64), 1, np.uint8), np.full((32, 48), 2, np.uint8)
    tifffile.imwrite(path, first, **metadata)
    tifffile.imwrite(path, second, append=True, **metadata)
    message = (f"{path}: holds 2 images of shapes (64, 64), (32, 48) ({kind}); accepted: one "
               "chosen with series=N (0, 1)")
    refused_alike(path, message)
    assert [info.describe() for info in list_series(path)] == [
        "series 0: shape (64, 64) uint8, axes yx, pixel size not stated",
        "series 1: shape (32, 48) uint8, axes yx, pixel size not stated"]
    each_series_reads(path, (first, second))
    with pytest.raises(ImageReadError) as missing:
        read_image(path, series=2)
    assert str(missing.value) == (f"{path}: has no series 2; accepted: series 0, 1 (its 2 "
                                  "images of shapes (64, 64), (32, 48))")


@pytest.mark.parametrize("shape", [
    (32, 32),  # half the size: the image's pyramid level
    (10, 20),  # a thumbnail of another aspect
])
def test_a_page_marked_as_a_reduced_image_is_no_image_to_choose(tmp_path, shape):
    """A page the file marks as a reduced image of another is no image of its own: the
    file is its first page, without a word, as any reader opens it."""
    path = tmp_path / "thumbnailed.tif"
    tifffile.imwrite(path, np.full((64, 64), 1, np.uint8), metadata=None)
    tifffile.imwrite(path, np.full(shape, 1, np.uint8), append=True, metadata=None,
                     subfiletype=1)
    np.testing.assert_array_equal(read_image(path), np.full((64, 64), 1, np.uint8))
    assert series_numbers(path) == [0]


def test_an_ome_tiff_of_positions_of_several_sizes_is_each_position(tmp_path):
    """Positions of another size than the first were taken for a slide's thumbnail: the
    file was read as its first position alone, without a word, and the others could not
    be chosen. A thumbnail (a quarter of the first's height and width at most) is none."""
    path = tmp_path / "positions.ome.tif"
    large, small = np.full((40, 48), 1, np.uint16), np.full((30, 24), 2, np.uint16)
    with tifffile.TiffWriter(path, ome=True) as tif:
        for image in (large, small, np.zeros((10, 12), np.uint16)):  # the last: a thumbnail
            tif.write(image, metadata={"axes": "YX"})
    message = (f"{path}: holds 2 images of shapes (40, 48), (30, 24) (OME-TIFF series: "
               "positions or wells); accepted: one chosen with series=N (0, 1)")
    refused_alike(path, message)
    assert series_numbers(path) == [0, 1]
    each_series_reads(path, (large, small))
    with pytest.raises(ImageReadError) as thumbnail:
        read_image(path, series=2)
    assert str(thumbnail.value) == (
        f"{path}: its series 2 is of shape (10, 12) (a label, macro or thumbnail image), not "
        "(40, 48); accepted: series 0, 1 (its 2 images of shapes (40, 48), (30, 24))")
