"""Reading images (io.images): what is not an image file is one ImageReadError line."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import tifffile

from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import (
    ImageReadError,
    SeveralImagesError,
    find_images,
    image_layout,
    open_lazy,
    read_image,
    takes_layout,
)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: None, "no such file"),
        (lambda p: os.mkfifo(p), "not a regular file"),  # would block for ever if opened
        (lambda p: p.write_bytes(b"II*\x00garbage"),
         r"cannot be read as a TIFF \(|the image is empty"),
        (lambda p: p.write_bytes(b""), r"the file is empty \(0 bytes\)"),
    ],
)
def test_what_is_not_an_image_is_one_line(tmp_path, make, match):
    path = tmp_path / "image.tif"
    make(path)
    with pytest.raises(ImageReadError, match=match) as caught:
        read_image(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_unsupported_suffix_names_the_accepted_ones(tmp_path):
    with pytest.raises(ImageReadError, match=r"unsupported file type .bmp; accepted: .tif"):
        read_image(tmp_path / "image.bmp")


@pytest.mark.parametrize(("write", "name", "what"), [
    (lambda p, a: tifffile.imwrite(p, a), "image.png", "holds a TIFF image, not the PNG"),
    (lambda p, a: cv2_write(".png", p, a), "image.tif", "holds a PNG image, not the TIFF"),
    (lambda p, a: cv2_write(".jpg", p, a), "image.png", "holds a JPEG image, not the PNG"),
    (lambda p, a: p.write_bytes(b"BM6\0\0\0"), "image.jpg",
     r"starts with b'BM6\\x00\\x00\\x00', no image format, not the JPEG"),
])
def test_a_file_not_of_the_format_its_name_says_is_one_line_saying_so(tmp_path, write,
                                                                       name, what):
    """A TIFF (or a JPEG) named .png was refused as 'a PNG cut short'."""
    path = tmp_path / name
    write(path, np.arange(64, dtype=np.uint8).reshape(8, 8))
    with pytest.raises(ImageReadError, match=rf"image\.\w+: {what} its name says; accepted: "
                       r"a file named for its format \(\.tif or \.tiff for TIFF, \.png for "
                       r"PNG, \.jpg or \.jpeg for JPEG\)$"):
        read_image(path)


def cv2_write(suffix, path, image):
    import cv2

    path.write_bytes(cv2.imencode(suffix, image)[1].tobytes())


def test_folders_give_their_images_sorted_without_hidden_files(tmp_path):
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    for name in ("b.tif", "a.TIFF", ".maskprep-tmp-x.tif", "notes.txt"):
        tifffile.imwrite(tmp_path / name, image)
    assert [p.name for p in find_images([tmp_path])] == ["a.TIFF", "b.tif"]
    np.testing.assert_array_equal(read_image(tmp_path / "b.tif"), image)


@pytest.mark.parametrize("write", [
    {"photometric": "rgb", "planarconfig": "separate"},  # tifffile's axes: SYX
    {"photometric": "minisblack", "metadata": {"axes": "CYX"}},
])
def test_colour_samples_first_are_read_last_as_the_lazy_reader_has_them(tmp_path, write):
    """A planar RGB TIFF was a stack of 3 planes in memory, RGB when run tiled: the mask's
    shape hung on the memory budget."""
    planes = np.arange(3 * 20 * 24, dtype=np.uint8).reshape(3, 20, 24)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, planes, **write)
    np.testing.assert_array_equal(read_image(path), np.moveaxis(planes, 0, -1))
    with open_lazy(path) as lazy:
        assert lazy.axes == "cyx"  # a colour axis of 3: taken last by the tiled run
    two = tmp_path / "two.tif"
    tifffile.imwrite(two, planes[:2], metadata={"axes": "CYX"})
    with pytest.raises(BadValueError, match=r"2 channels, not RGB"):
        read_image(two)  # two channels are not colour, nor a stack


def test_four_planes_of_a_channel_axis_are_channels_not_rgba(tmp_path):
    """Four grey planes of a TIFF's channel axis were read as RGBA, and the fourth
    channel, as alpha, dropped from the grey image segmented without a word: a TIFF's
    alpha is one of its samples, never a plane."""
    planes = np.zeros((4, 20, 24), np.uint16)
    planes[3, 5:10, 5:10] = 900  # the nuclei, in the last channel
    path = tmp_path / "four.tif"
    tifffile.imwrite(path, planes, photometric="minisblack", metadata={"axes": "CYX"})
    message = (f"{path}: axes 'cyx' of shape (4, 20, 24) (4 channels, not RGB: choose the "
               "one to segment, with --channel N); accepted: ")
    with pytest.raises(BadValueError) as in_memory:
        read_image(path)
    assert str(in_memory.value).startswith(message)
    assert not takes_layout(path)
    with open_lazy(path) as lazy:
        assert lazy.axes == "nyx"  # channels, which a tiled run refuses alike
    np.testing.assert_array_equal(read_image(path, channel=3), planes[3])


@pytest.mark.parametrize(("shape", "write", "extra"), [
    ((20, 24, 2), {}, "unassalpha"),  # YXS, as image editors save grey with transparency
    ((2, 20, 24), {"planarconfig": "separate"}, "assocalpha"),  # SYX
    ((3, 20, 24, 2), {}, "unassalpha"),  # a stack of grey+alpha planes
])
def test_grey_with_alpha_is_read_as_grey_in_memory_and_lazily(tmp_path, shape, write, extra):
    """Grey with an alpha sample was refused as "2 channels, not RGB"; the alpha only says
    where the grey is drawn, as it does for RGBA."""
    data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    grey = data[0] if write else data[..., 0]
    path = tmp_path / "grey_alpha.tif"
    tifffile.imwrite(path, data, photometric="minisblack", extrasamples=[extra], **write)
    np.testing.assert_array_equal(read_image(path), grey)
    with open_lazy(path) as lazy:
        arranged, axes = image_layout(lazy.data, lazy.axes, "f")
        assert axes == ("zyx" if len(shape) == 4 else "yx")
        np.testing.assert_array_equal(arranged.compute(), grey)
    plain = tmp_path / "two_samples.tif"  # two samples with no alpha: two channels
    tifffile.imwrite(plain, data, photometric="minisblack", extrasamples=["unspecified"],
                     **write)
    with pytest.raises(BadValueError, match=r"2 channels, not RGB"):
        read_image(plain)


def _plane_file(path, **write):
    tifffile.imwrite(path, np.arange(64 * 64, dtype=np.uint8).reshape(64, 64), **write)
    return path.read_bytes()


def _zero_strip(path):
    _plane_file(path, rowsperstrip=16)
    with tifffile.TiffFile(path, mode="r+") as tif:
        tif.pages[0].tags["StripByteCounts"].overwrite((1024, 0, 1024, 1024))


def _cut_stack(path, keep, **write):
    tifffile.imwrite(path, np.arange(5 * 64 * 64, dtype=np.uint8).reshape(5, 64, 64), **write)
    data = path.read_bytes()
    path.write_bytes(data[:keep(len(data))])


def _planes_missing(path):
    """An OME-TIFF stating 9 planes with 3 in it, as one file of a multi-file OME-TIFF
    (Micro-Manager, a split acquisition) copied without the others reads."""
    tifffile.imwrite(path, np.ones((3, 64, 64), np.uint8), ome=True, metadata={"axes": "ZYX"})
    data = path.read_bytes()
    path.write_bytes(data.replace(b'SizeZ="3"', b'SizeZ="9"'))


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda p: p.write_bytes(_plane_file(p)[:8]), "invalid offset to first page 8"),  # IndexError
    (lambda p: p.write_bytes(_plane_file(p)[:16]), "corrupted IFD structure"),
    (lambda p: p.write_bytes(_plane_file(p)[:2176]), r"failed to read|mmap length"),
    (lambda p: p.write_bytes(_plane_file(p)[:-10]), r"failed to read|mmap length"),
    (lambda p: p.write_bytes(_plane_file(p)[:8] + bytes(range(256)) * 20),
     "invalid data type"),
    (_zero_strip, "page 0 has a strip of 0 bytes"),  # was read as zeros
    (_planes_missing, r"6 of its 9 planes are missing: the other files of a multi-file "
     "OME-TIFF, or a damaged one"),  # were read as zeros, and masks made of them
    # read in part with a log on stderr: a mask of one plane for a stack of five
    (lambda p: _cut_stack(p, lambda n: n // 2, imagej=True),
     "invalid page offset|ImageJ series metadata invalid"),
    (lambda p: _cut_stack(p, lambda n: n // 2), "invalid page offset"),
    (lambda p: _cut_stack(p, lambda n: n - 100), "invalid page offset"),
])
def test_a_damaged_tiff_is_one_line_in_memory_and_lazily_and_nothing_is_logged(
        tmp_path, caplog, damage, reason):
    """A TIFF cut short gave 'IndexError: list index out of range' and tifffile's log on
    stderr; some were read in part (a stack as one plane), a strip of no bytes as zeros."""
    path = tmp_path / "cut.tif"
    damage(path)
    with pytest.raises(ImageReadError, match=r"cut.tif: cannot be read as a TIFF \(") as caught:
        read_image(path)
    assert "\n" not in str(caught.value) and "accepted: a complete, undamaged TIFF" in str(
        caught.value)
    assert caught.match(reason)
    with pytest.raises(ImageReadError, match=r"cut.tif: cannot be read as a TIFF \(") as caught:
        open_lazy(path).data.compute()
    assert "\n" not in str(caught.value) and "accepted: " in str(caught.value)
    assert caught.match(reason)
    assert not [r for r in caplog.records if r.name == "tifffile"]


def test_an_imagej_description_counting_fewer_planes_than_the_file_holds_is_refused(tmp_path):
    """tifffile reads the planes an ImageJ description counts: 'slices=2' on a file of 4
    planes was read as 2, the other half of the stack skipped without a word."""
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8), imagej=True,
                     metadata={"axes": "ZYX"})
    with tifffile.TiffFile(path) as tif:
        description = tif.pages.first.description
    tifffile.tiffcomment(path, description.replace("images=4", "images=2").replace(
        "slices=4", "slices=2"))
    message = (r"stack.tif: its ImageJ description counts 2 planes, but it holds 4; accepted: "
               "a TIFF whose ImageJ description matches its planes")
    with pytest.raises(ImageReadError, match=message):
        read_image(path)
    with pytest.raises(ImageReadError, match=message):
        open_lazy(path)


def test_an_ome_tiff_of_several_positions_is_refused_not_cut_to_its_first(tmp_path):
    """Only the first image of a multi-position OME-TIFF was segmented, without a word."""
    several = tmp_path / "plate.ome.tif"
    with tifffile.TiffWriter(several, ome=True) as tif:
        for well in range(3):
            tif.write(np.full((20, 30), well, np.uint8), metadata={"axes": "YX"})
    message = (f"{several}: holds 3 images of shape (20, 30) (OME-TIFF series: positions or "
               "wells); accepted: one chosen with series=N (0 to 2)")
    with pytest.raises(SeveralImagesError) as in_memory:
        read_image(several)
    with pytest.raises(SeveralImagesError) as lazily:
        open_lazy(several)
    assert str(in_memory.value) == str(lazily.value) == message
    # what a command words its own advice from (the library's named its flags)
    assert (lazily.value.numbers, lazily.value.shapes) == ([0, 1, 2], [(20, 30)] * 3)
    assert str(pickle.loads(pickle.dumps(lazily.value))) == message
    assert not takes_layout(several)  # napari's reader opens it as it is
    slide = tmp_path / "slide.ome.tif"  # a thumbnail beside the image is no second image
    with tifffile.TiffWriter(slide, ome=True) as tif:
        tif.write(np.ones((200, 300), np.uint8), metadata={"axes": "YX"})
        tif.write(np.zeros((20, 30), np.uint8), metadata={"axes": "YX"})
    np.testing.assert_array_equal(read_image(slide), np.ones((200, 300), np.uint8))
    assert takes_layout(slide)


@pytest.mark.parametrize("write", [
    {"imagej": True, "metadata": {"axes": "CYX", "mode": "composite"}},
    {"ome": True, "metadata": {"axes": "CYX"}},
])
def test_three_channels_of_an_imagej_or_ome_file_are_not_taken_for_rgb(tmp_path, write):
    """Three fluorescence channels were made one grey image as if red, green and blue (a
    warning said so): ImageJ and OME store RGB as samples, so their channels are channels."""
    path = tmp_path / "channels.tif"
    tifffile.imwrite(path, np.zeros((3, 20, 30), np.uint16), **write)
    with pytest.raises(BadValueError, match=r"axes 'cyx' of shape \(3, 20, 30\) \(3 channels, "
                                             r"not RGB"):
        read_image(path)
    with open_lazy(path) as lazy, pytest.raises(BadValueError, match=r"3 channels, not RGB"):
        image_layout(lazy.data, lazy.axes, str(path))
    rgb = tmp_path / "rgb.tif"  # RGB as these programs write it: samples
    tifffile.imwrite(rgb, np.zeros((20, 30, 3), np.uint8), photometric="rgb",
                     **{k: v for k, v in write.items() if k != "metadata"})
    assert read_image(rgb).shape == (20, 30, 3)


def _ycbcr(path, rgb):
    from PIL import Image

    Image.fromarray(rgb).convert("YCbCr").save(path)  # uncompressed


@pytest.mark.parametrize(("write", "model"), [
    (lambda p, rgb: tifffile.imwrite(p, np.dstack([rgb, rgb[..., :1]]),
                                     photometric="separated"), r"SEPARATED \(photometric 5\)"),
    (_ycbcr, r"YCBCR \(photometric 6\)"),
    (lambda p, rgb: tifffile.imwrite(p, rgb, photometric="cielab"), r"CIELAB \(photometric 8\)"),
])
def test_a_colour_model_that_is_not_read_is_one_line_in_memory_and_lazily(tmp_path, write,
                                                                         model):
    """tifffile returns samples as stored: CMYK was segmented as RGB and alpha (its black
    ink as transparency), uncompressed YCbCr and CIE Lab as RGB, without a word."""
    rgb = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    path = tmp_path / "colour.tif"
    write(path, rgb)
    message = (rf"colour.tif: its colour model {model} is not read; accepted: grey, RGB\(A\), "
               r"indexed colour or YCbCr compressed as JPEG \(save it as RGB\)$")
    with pytest.raises(ImageReadError, match=message):
        read_image(path)
    with pytest.raises(ImageReadError, match=message):
        open_lazy(path)


@pytest.mark.parametrize(("stored", "tile", "shown"), [
    (np.array([[0, 55, 255]], np.uint8), None, [[255, 200, 0]]),
    (np.array([[0, 55, 65535]], np.uint16), (16, 16), [[65535, 65480, 0]]),
    (np.array([[False, True]]), None, [[True, False]]),
])
def test_white_is_zero_is_read_as_shown_in_memory_and_lazily(tmp_path, stored, tile, shown):
    """A MINISWHITE TIFF (0 is white: scans, fax images) was read as stored, the inverse
    of what every viewer shows: a recipe's bright objects were the background."""
    path = tmp_path / "white.tif"
    tifffile.imwrite(path, stored, photometric="miniswhite", tile=tile)
    np.testing.assert_array_equal(read_image(path), shown)
    assert read_image(path).dtype == stored.dtype
    with open_lazy(path) as lazy:
        np.testing.assert_array_equal(lazy.data.compute(), shown)


def test_white_is_zero_of_floats_is_one_line(tmp_path):
    path = tmp_path / "white.tif"
    tifffile.imwrite(path, np.ones((4, 4), np.float32), photometric="miniswhite")
    with pytest.raises(ImageReadError, match=r"white.tif: 0 is white in it \(photometric "
                       r"MINISWHITE\), which is read for unsigned integers only, not float32; "
                       r"accepted: MINISBLACK \(0 is black\) for signed or float samples$"):
        read_image(path)


@pytest.mark.parametrize(("colours", "shown"), [
    ([[250, 250, 250], [10, 10, 10], [0, 0, 255]], [[[250, 250, 250], [10, 10, 10]],
                                                   [[0, 0, 255], [10, 10, 10]]]),
    ([[0, 0, 0], [0, 128, 0], [0, 255, 0]], [[0, 1], [2, 1]]),  # ImageJ's green LUT
])
@pytest.mark.parametrize("tile", [None, (16, 16)])
def test_a_palette_tiff_is_read_as_its_colours_unless_they_rise_with_the_index(
        tmp_path, colours, shown, tile):
    """A palette TIFF was read as its indices: an indexed-colour image (or one with
    ImageJ's inverted LUT) was segmented on numbers that do not order its brightness, the
    bright index 0 taken for the darkest. A table whose colours each rise with the index
    is a display LUT on intensities (ImageJ's), whose indices are read as they are."""
    colormap = np.repeat(np.array(colours, np.uint16).T[:, -1:] * 257, 256, axis=1)
    colormap[:, :3] = np.array(colours, np.uint16).T * 257  # the rest as the last
    path = tmp_path / "palette.tif"
    tifffile.imwrite(path, np.array([[0, 1], [2, 1]], np.uint8), photometric="palette",
                     colormap=colormap, tile=tile)
    np.testing.assert_array_equal(read_image(path), shown)
    assert read_image(path).dtype == np.uint8
    with open_lazy(path) as lazy:
        np.testing.assert_array_equal(lazy.data.compute(), shown)
        assert lazy.axes == ("yxc" if np.ndim(shown) == 3 else "yx")
    assert takes_layout(path)


def test_an_imagej_tiff_with_any_lut_is_read_as_its_values(tmp_path):
    """ImageJ saves an 8-bit image with its display LUT as a palette: with Fire's (blue
    rises, then falls) it was read as colours, converted to grey, and its values, which
    Fiji measures and thresholds, scrambled."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ramp = np.arange(256)
    fire = np.stack([ramp, np.clip((ramp - 80) * 2, 0, 255),
                     np.concatenate([ramp[:128] * 2, 255 - ramp[:128] * 2])])
    path = tmp_path / "fire.tif"
    tifffile.imwrite(path, values, imagej=True, photometric="palette",
                     colormap=(fire * 257).astype(np.uint16))
    np.testing.assert_array_equal(read_image(path), values)
    with open_lazy(path) as lazy:
        np.testing.assert_array_equal(lazy.data.compute(), values)


def test_ycbcr_compressed_as_jpeg_is_read_as_rgb(tmp_path):
    from PIL import Image

    rgb = np.tile(np.array([[200, 30, 90]], np.uint8), (32, 32, 1))
    path = tmp_path / "ycbcr.tif"
    Image.fromarray(rgb).convert("YCbCr").save(path, compression="jpeg", quality=95)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].photometric == 6
    np.testing.assert_allclose(read_image(path), rgb, atol=3)
    with open_lazy(path) as lazy:
        np.testing.assert_allclose(lazy.data.compute(), rgb, atol=3)


@pytest.mark.parametrize("progressive", [0, 1])
def test_a_jpeg_cut_short_is_one_line_and_a_whole_one_reads(tmp_path, progressive):
    """OpenCV decodes the missing part of a cut JPEG as grey and says nothing: the mask of
    a half-downloaded photo was reported ok."""
    import cv2

    rgb = np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    _, encoded = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, progressive])
    data = encoded.tobytes()
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(data + b"\0trailer a camera appends")
    assert read_image(whole).shape == (64, 80, 3)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageReadError, match=r"cut.jpg: the JPEG is cut short \(it ends inside "
                                             r"its image data\); accepted: a complete JPEG"):
        read_image(cut)


def test_a_png_cut_short_is_one_line(tmp_path):
    import cv2

    _, encoded = cv2.imencode(".png", np.arange(64 * 80, dtype=np.uint16).reshape(64, 80))
    cut = tmp_path / "cut.png"
    cut.write_bytes(encoded.tobytes()[:-20])  # its last chunk, IEND, is gone
    with pytest.raises(ImageReadError, match=r"cut.png: the PNG is cut short \(it ends inside "
                                             r"its image data\); accepted: a complete PNG"):
        read_image(cut)


def test_an_animated_png_is_refused_not_cut_to_its_first_frame(tmp_path):
    """OpenCV decodes an animated PNG's first frame alone: a time-lapse saved as APNG was
    segmented as its first frame, without a word."""
    from PIL import Image

    frames = np.zeros((3, 16, 20), np.uint8)
    frames[1, 4:8, 4:8] = frames[2, 9:14, 9:14] = 200  # nothing in the first frame
    path = tmp_path / "movie.png"
    Image.fromarray(frames[0]).save(path, save_all=True, duration=100,
                                    append_images=[Image.fromarray(f) for f in frames[1:]])
    with pytest.raises(ImageReadError) as refused:
        read_image(path)
    assert str(refused.value) == (f"{path}: an animated PNG of 3 frames, of which only the "
                                  "first would be read; accepted: a PNG of one image (save "
                                  "the frames as a TIFF stack)")
    Image.fromarray(frames[1]).save(path, save_all=True, append_images=[])  # one frame
    np.testing.assert_array_equal(read_image(path), frames[1])


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_an_image_cut_short_before_its_data_is_one_line_naming_what_is_accepted(tmp_path,
                                                                                suffix):
    """A JPEG of its first 200 bytes (headers, no scan) said 'cannot read image (ValueError:
    not a decodable image)'."""
    import cv2

    data = cv2.imencode(suffix, np.zeros((64, 64), np.uint8) + 9)[1].tobytes()
    path = tmp_path / f"header{suffix}"
    path.write_bytes(data[:150] if suffix == ".jpg" else data[:50] + b"IEND")
    kind = "JPEG" if suffix == ".jpg" else "PNG"
    with pytest.raises(ImageReadError) as refused:
        read_image(path)
    assert str(refused.value) == (f"{path}: the {kind} cannot be decoded (cut short before its "
                                  f"image data, or damaged); accepted: a complete, undamaged "
                                  f"{kind} file")


@pytest.mark.parametrize(("suffix", "reason"), [
    (".jpg", r"the JPEG's image data is damaged \(Corrupt JPEG data: premature end of data "
             r"segment\); accepted: an undamaged JPEG file"),
    (".png", r"the PNG's image data is damaged \(libpng error: [^)]+\); accepted: an "
             r"undamaged PNG file"),
])
def test_image_data_damaged_in_the_middle_is_one_line_and_nothing_is_printed(
        tmp_path, capfd, suffix, reason):
    """libjpeg decodes damaged data as grey blocks and only writes a warning to stderr:
    the mask of a JPEG with a block of bytes overwritten was reported ok (and libpng's
    error was a bare 'not a decodable image' under its own line on stderr)."""
    import cv2

    grey = np.tile(np.arange(256, dtype=np.uint8), (256, 1))
    data = bytearray(cv2.imencode(suffix, grey)[1].tobytes())
    middle = len(data) // 2
    data[middle:middle + 64] = np.random.default_rng(0).bytes(64)
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=rf"damaged\{suffix}: {reason}$"):
        read_image(path)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_grey_png_with_alpha_is_read_as_grey_as_a_tiff_is(tmp_path, dtype):
    """OpenCV reads a grey and alpha PNG as BGRA: it was segmented as colour (with the
    'converted to grey' warning, and refused by steps that take grey), a TIFF of the same
    samples as grey."""
    import imagecodecs

    grey = np.arange(12, dtype=dtype).reshape(3, 4) * 20
    path = tmp_path / "grey-alpha.png"
    path.write_bytes(imagecodecs.png_encode(np.dstack([grey, np.full_like(grey, 200)])))
    image = read_image(path)
    np.testing.assert_array_equal(image, grey)
    assert image.dtype == dtype


def test_a_jpeg_with_a_video_appended_reads(tmp_path):
    """A motion photo is a JPEG with its video appended, whose bytes may hold FF DA (the
    start of a scan) after the image's end: it was refused as cut short."""
    import cv2

    rgb = np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    _, encoded = cv2.imencode(".jpg", rgb)
    photo = tmp_path / "motion.jpg"
    photo.write_bytes(encoded.tobytes() + b"\0\0\0\x18ftypmp42" + b"\x12\xff\xda\x34" * 8)
    assert read_image(photo).shape == (64, 80, 3)


@pytest.mark.parametrize("kind", ["rgb16", "palette-transparent", "rgb-transparent"])
def test_a_png_s_decoded_size_is_what_reading_it_takes(tmp_path, kind):
    """Pillow's mode says RGB for 16 bits a sample and no alpha for a transparent colour
    (tRNS), which OpenCV reads as wide samples and an alpha: a 16-bit colour PNG twice
    over the memory budget passed the check."""
    from PIL import Image

    from napari_maskprep.io import decoded_size

    rgb = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = tmp_path / "image.png"
    if kind == "rgb16":
        import cv2

        cv2.imwrite(str(path), rgb.astype(np.uint16) * 257)
    elif kind == "palette-transparent":
        Image.fromarray(rgb).convert("P").save(path, transparency=0)
    else:
        Image.fromarray(rgb).save(path, transparency=(0, 0, 0))
    assert decoded_size(path) == (30, 40, read_image(path).nbytes)


def test_a_png_too_large_for_opencv_is_one_line_before_decoding(tmp_path):
    """A PNG of more pixels than OpenCV decodes failed with OpenCV's assertion
    ("loadsave.cpp:80 ... CV_IO_MAX_IMAGE"), naming no accepted input."""
    import struct
    import zlib

    header = b"IHDR" + struct.pack(">IIBBBBB", 40000, 30000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + header + struct.pack(">I", zlib.crc32(header))
    data = b"IDAT" + zlib.compress(bytes(30001))  # the first row and a bit: never decoded
    chunk += struct.pack(">I", len(data) - 4) + data + struct.pack(">I", zlib.crc32(data))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + end)
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    assert str(caught.value) == (
        f"{path}: a 40000 x 30000 px PNG, over the 1073741824 pixels a PNG is read to; "
        "accepted: a smaller one, or the image as a tiled TIFF or OME-Zarr, which run tiled")
