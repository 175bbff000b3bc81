"""``kernels.components`` equals ``scipy.ndimage.label`` / ``skimage.measure.label`` and the
selections built on them (hole filling, objects by size, the largest object, clearing the
border) on masks in 2D and 3D, on the labelling path and with the contour paths it picks."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.morphology
from scipy import ndimage as ndi
from skimage import measure, segmentation

from napari_maskprep.kernels import components, contours

from ..masks import (
    LABELS_2D,
    MASKS_2D,
    MASKS_3D,
    assert_same,
    level,
    random_masks,
    real_masks,
    real_volume,
    reference_fill,
    reference_select,
)


@pytest.mark.parametrize("max_hole_size", [None, 1, 6, 40])
def test_fill_holes_equals_scipy(max_hole_size):
    for mask in [*MASKS_2D, *random_masks(2, 20, seed=5), *real_masks(), *MASKS_3D,
                 real_volume()]:
        expected = reference_fill(mask, max_hole_size)
        assert_same(components._fill_holes_by_labels(mask, max_hole_size), expected)
        assert_same(components.fill_holes(mask, max_hole_size), expected)
        if mask.ndim == 2 and max_hole_size is None:
            assert_same(components._fill_all_holes_2d(mask), expected)


def test_fill_all_holes_by_one_flood_equals_scipy_on_speckle():
    rng = np.random.default_rng(9)
    for density in (0.3, 0.6):  # edge maps and noise: the contour path does not pay
        speckle = rng.random((120, 150)) < density
        assert not contours.use_contours(speckle.view(np.uint8))
        assert_same(components.fill_holes(speckle.view(np.uint8), None),
                    ndi.binary_fill_holes(speckle).view(np.uint8))


@pytest.mark.parametrize("connectivity", ["faces", "full"])
def test_select_by_size_equals_skimage(connectivity, monkeypatch):
    # Labelled in 2D too: the contour path has its own test (test_contours.py).
    monkeypatch.setattr(contours, "use_contours", lambda mask: False)
    for i, mask in enumerate([*MASKS_2D, *real_masks(), *MASKS_3D, real_volume()]):
        c = level(connectivity, mask.ndim)
        size = 1 + 7 * i
        for bounds in ((size, None), (0, size), (size, 3 * size)):
            assert_same(components.select_by_size(mask, c, *bounds),
                        reference_select(mask, c, *bounds))


def test_uint16_overflow_falls_back_to_int32():
    mask = np.zeros((600, 600), np.uint8)
    mask[1::2, ::2] = 1  # 90,000 single-pixel objects: more than uint16 labels hold
    mask[:40, :40] = 1
    labels, n = components._components_2d(mask, 8)
    assert labels.dtype == np.int32 and n == measure.label(mask).max() + 1 > 1 << 16
    assert not contours.use_contours(mask)
    expected = skimage.morphology.remove_small_objects(mask.astype(bool), max_size=1,
                                                       connectivity=2)
    assert_same(components.select_by_size(mask, 2, 2, None), expected)


@pytest.mark.parametrize("objects", [4_000, 80_000])
def test_3d_labels_are_uint16_where_they_fit_else_int32(objects):
    mask = np.zeros((4, 400, 400), np.uint8)
    mask[0::2, ::2, ::2] = 1  # single voxels two planes apart: one object each
    mask[:, 2 * int(np.sqrt(objects / 2)):] = 0
    mask[:, :, 2 * int(np.sqrt(objects / 2)):] = 0
    labels, n = components._components(mask, 3)
    expected, count = ndi.label(mask, structure=np.ones((3, 3, 3)))
    assert labels.dtype == (np.uint16 if count < 1 << 16 else np.int32)
    assert n == count + 1 and np.array_equal(labels, expected)
    assert components.label(mask, 3).dtype == np.int32
    mask[1, :20, :20] = 1  # joins 2 x 100 voxels of planes 0 and 2 face to face
    kept = components.select_by_size(mask, 1, 2, None)
    assert kept.sum() == 20 * 20 + 2 * 100 and kept[1, :20, :20].all()


@pytest.mark.parametrize("connectivity", ["faces", "full"])
def test_keep_largest_and_clear_border_equal_skimage(connectivity):
    for mask in [*MASKS_2D, *MASKS_3D, *random_masks(2, 10, seed=9), *real_masks(),
                 real_volume()]:
        c = level(connectivity, mask.ndim)
        labels = measure.label(mask.astype(bool), connectivity=c)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        largest = labels == sizes.argmax() if sizes.max() else np.zeros(mask.shape, bool)
        assert_same(components.keep_largest(mask, c), largest)
        assert_same(components.clear_border(mask, c), segmentation.clear_border(labels) > 0)


@pytest.mark.parametrize("connectivity", ["faces", "full"])
def test_label_equals_skimage_numbering(connectivity):
    rng = np.random.default_rng(11)
    thin = [(rng.random(shape) < 0.3).astype(np.uint8) for shape in [(13, 9, 1), (1, 8, 7)]]
    for mask in [*MASKS_2D, *MASKS_3D, *random_masks(2, 10, seed=10), *real_masks(),
                 real_volume(), *thin]:
        c = level(connectivity, mask.ndim)
        expected = measure.label(mask.astype(bool), connectivity=c)
        assert_same(components.label(mask, c), expected.astype(np.int32))
    for labels in LABELS_2D:
        expected = measure.label(labels, connectivity=level(connectivity, 2))
        assert_same(components.label(labels, level(connectivity, 2)), expected.astype(np.int32))
