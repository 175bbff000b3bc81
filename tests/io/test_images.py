"""Reading images (io.images): what is not an image file is one ImageReadError line."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import ImageReadError, find_images, open_lazy, read_image


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: None, "no such file"),
        (lambda p: os.mkfifo(p), "not a regular file"),  # would block for ever if opened
        (lambda p: p.write_bytes(b"II*\x00garbage"), "cannot read image|the image is empty"),
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
