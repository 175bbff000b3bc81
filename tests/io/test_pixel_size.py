"""The pixel size a file states (io.images.read_pixel_size), in micrometres per pixel, and
the same from the lazy reader that tiled runs use."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile

from napari_maskprep.io import open_lazy, read_pixel_size

STACK = np.zeros((3, 8, 8), np.uint8)


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        # ImageJ: pixels per unit in the resolution tags, the unit and the z spacing in its
        # description.
        (lambda p: tifffile.imwrite(p, STACK, imagej=True, resolution=(2.0, 4.0),
                                    metadata={"unit": "um", "spacing": 1.5, "axes": "ZYX"}),
         (1.5, 0.25, 0.5)),
        (lambda p: tifffile.imwrite(p, STACK[0], imagej=True, resolution=(2.0, 2.0),
                                    metadata={"unit": "micron"}),
         (0.5, 0.5)),
        (lambda p: tifffile.imwrite(p, STACK[0], imagej=True, resolution=(0.004, 0.004),
                                    metadata={"unit": "nm"}),
         (0.25, 0.25)),
        # OME-XML PhysicalSize, in µm unless it says otherwise.
        (lambda p: tifffile.imwrite(p, STACK, ome=True, metadata={
            "axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25, "PhysicalSizeZ": 2.0}),
         (2.0, 0.25, 0.5)),
        (lambda p: tifffile.imwrite(p, STACK[0], ome=True, metadata={
            "axes": "YX", "PhysicalSizeX": 650.0, "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": 650.0, "PhysicalSizeYUnit": "nm"}),
         (0.65, 0.65)),
        # Ångström, as electron microscopy states it (OME's Å, ImageJ's escaped \u00C5):
        # the size was unknown.
        (lambda p: tifffile.imwrite(p, STACK[0], ome=True, metadata={
            "axes": "YX", "PhysicalSizeX": 5000.0, "PhysicalSizeXUnit": "\u00c5",
            "PhysicalSizeY": 2500.0, "PhysicalSizeYUnit": "\u00c5"}),
         (0.25, 0.5)),
        (lambda p: tifffile.imwrite(p, STACK[0], imagej=True, resolution=(0.0002, 0.0002),
                                    metadata={"unit": "\\u00C5"}),
         (0.5, 0.5)),
        # A stack whose z spacing is not stated: y and x (the lazy reader stated none).
        (lambda p: tifffile.imwrite(p, STACK, imagej=True, resolution=(2.0, 4.0),
                                    metadata={"unit": "um", "axes": "ZYX"}),
         (0.25, 0.5)),
        (lambda p: tifffile.imwrite(p, STACK, ome=True, metadata={
            "axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25}),
         (0.25, 0.5)),
        # ... or stated as no size: a negative ImageJ spacing (a stack taken downwards) lost
        # y and x too.
        (lambda p: tifffile.imwrite(p, STACK, imagej=True, resolution=(2.0, 4.0),
                                    metadata={"unit": "um", "spacing": -1.5, "axes": "ZYX"}),
         (0.25, 0.5)),
        # Plain TIFF resolution in pixels per millimetre (tifffile's unit 4; read whole,
        # it was unknown) or centimetre.
        (lambda p: tifffile.imwrite(p, STACK[0], resolution=(2000, 2000), resolutionunit=4),
         (0.5, 0.5)),
        (lambda p: tifffile.imwrite(p, STACK[0], resolution=(20000, 20000),
                                    resolutionunit="CENTIMETER"),
         (0.5, 0.5)),
        # Unknown: no resolution, a unitless one, desktop software's 72 dpi.
        (lambda p: tifffile.imwrite(p, STACK[0]), None),
        (lambda p: tifffile.imwrite(p, STACK[0], resolution=(2, 2)), None),
        (lambda p: tifffile.imwrite(p, STACK[0], resolution=(72, 72), resolutionunit="INCH"),
         None),
        (lambda p: p.write_bytes(b"II*\x00garbage"), None),
        # Sizes that are not positive finite numbers are unknown (tiled, inf was taken, and
        # a size that is no number refused the file).
        (lambda p: tifffile.imwrite(
            p, STACK, photometric="minisblack", resolution=(2.0, 2.0),
            description="ImageJ=1.11a\nimages=3\nslices=3\nunit=um\nspacing=abc\n"), None),
        (lambda p: tifffile.imwrite(p, STACK[0], ome=True, metadata={
            "PhysicalSizeX": float("inf"), "PhysicalSizeY": 0.5}), None),
        (lambda p: tifffile.imwrite(p, STACK[0], ome=True, metadata={
            "PhysicalSizeX": float("nan"), "PhysicalSizeY": -1}), None),
    ],
)
def test_tiff_pixel_size(tmp_path, write, expected):
    path = tmp_path / "image.tif"
    write(path)
    found = read_pixel_size(path)
    assert found == (None if expected is None else pytest.approx(expected))
    if path.stat().st_size > 16:  # an image, which runs tiled with the size it states
        with open_lazy(path) as image:
            assert image.pixel_size == (None if expected is None else pytest.approx(expected))


def test_other_files_state_none(tmp_path):
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), STACK[0])
    assert read_pixel_size(path) is None
    assert read_pixel_size(tmp_path / "missing.tif") is None
