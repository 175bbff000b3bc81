"""Reading images (io.images): what is not an image file is one ImageReadError line."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from napari_maskprep.io import ImageReadError, find_images, read_image


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: None, "no such file"),
        (lambda p: os.mkfifo(p), "not a regular file"),  # would block for ever if opened
        (lambda p: p.write_bytes(b"II*\x00garbage"), "cannot read image|the image is empty"),
        (lambda p: p.write_bytes(b""), "cannot read image"),
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
