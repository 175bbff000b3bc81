"""kernels.color_range equals skimage.color.rgb2hsv in human units, bounds included within
HSV_TOLERANCE, on both paths (the formula, the uint8 look-up tables) and for every dtype."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import color

import napari_maskprep
from napari_maskprep.kernels import color_range
from napari_maskprep.kernels.color_range import HSV_TOLERANCE, hsv_in_range

SAMPLES = Path(napari_maskprep.__file__).parent / "samples"


def reference_hsv_mask(rgb, hue, saturation, value):
    """skimage.color.rgb2hsv in human units, bounds inclusive within the tolerance."""
    tol = HSV_TOLERANCE
    hsv = color.rgb2hsv(rgb[..., :3])
    h, s, v = hsv[..., 0] * 360, hsv[..., 1] * 100, hsv[..., 2] * 100
    keep = (v >= value[0] - tol) & (v <= value[1] + tol)
    keep &= (s >= saturation[0] - tol) & (s <= saturation[1] + tol)
    if hue[1] - hue[0] < 360 - tol:
        along = np.mod(h - hue[0], 360)
        keep &= (along <= (hue[1] - hue[0]) % 360 + tol) | (along >= 360 - tol)
    return keep


BOXES = [
    ((330, 30), (20, 100), (20, 100)),
    ((30, 30), (0, 100), (0, 100)),
    ((60, 180), (50, 50), (40, 60)),
    ((200, 100), (10, 90), (10, 90)),
    ((0, 360), (0, 20), (80, 100)),
    ((7 * 360 / 256, 100 * 360 / 256), (300 / 255, 20000 / 255), (0, 100)),
    ((229.3, 97.1), (1.65, 4.1), (81, 91)),
]


@pytest.fixture(scope="module")
def colours() -> np.ndarray:
    """Every 8th 8-bit colour (2**21), plus colours exactly on the bounds used in BOXES."""
    codes = np.arange(0, 2**24, 8, dtype=np.uint32)
    rgb = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], -1)
    on_bounds = [[200, 150, 100], [255, 204, 204], [100, 80, 80], [153, 153, 0], [1, 0, 0]]
    rgb = np.concatenate([rgb, np.resize(on_bounds, (1024, 3))])
    return rgb.astype(np.uint8).reshape(-1, 1024, 3)


@pytest.mark.parametrize("box", BOXES)
def test_both_paths_equal_reference(colours, box):
    reference = reference_hsv_mask(colours, *box)
    np.testing.assert_array_equal(color_range._by_formula(colours, *box), reference)
    np.testing.assert_array_equal(color_range._by_lut(colours, *box), reference)


@pytest.mark.parametrize("box", BOXES)
def test_same_mask_for_every_dtype(colours, box):
    as_uint8 = hsv_in_range(colours, *box)
    np.testing.assert_array_equal(hsv_in_range(colours.astype(np.uint16) * 257, *box), as_uint8)
    np.testing.assert_array_equal(hsv_in_range(colours.astype(np.float32) / 255, *box),
                                  as_uint8)


def test_he_tile_equals_reference():
    he = cv2.cvtColor(cv2.imread(str(SAMPLES / "he_tile.png")), cv2.COLOR_BGR2RGB)
    box = ((250, 340), (10, 100), (0, 90))  # haematoxylin purple
    mask = hsv_in_range(he, *box)
    np.testing.assert_array_equal(mask, reference_hsv_mask(he, *box))
    assert 0 < mask.mean() < 1


def test_3d_with_alpha_equals_reference():
    rgba = np.random.default_rng(6).integers(0, 256, (3, 8, 9, 4)).astype(np.uint8)
    box = ((90, 200), (30, 100), (0, 100))
    mask = hsv_in_range(rgba, *box)
    assert mask.shape == (3, 8, 9)
    np.testing.assert_array_equal(mask, reference_hsv_mask(rgba, *box))
