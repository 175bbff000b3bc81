"""``kernels.contours`` on 2D masks equals SciPy's hole filling and scikit-image's object
selection, traced whole or in two halves; its size bounds hold and its path choice follows
the number of contours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import measure

from napari_maskprep.kernels import contours

from ..masks import (
    MASKS_2D,
    assert_same,
    level,
    random_masks,
    real_masks,
    reference_fill,
    reference_select,
)


@pytest.mark.parametrize("max_hole_size", [None, 1, 6, 40])
def test_fill_holes_2d_equals_scipy(max_hole_size):
    for mask in [*MASKS_2D, *random_masks(2, 20, seed=5), *real_masks()]:
        assert_same(contours.fill_holes_2d(mask, max_hole_size),
                    reference_fill(mask, max_hole_size))


@pytest.mark.parametrize("connectivity", ["faces", "full"])
def test_select_by_size_2d_equals_skimage(connectivity):
    rng = np.random.default_rng(6)
    c = level(connectivity, 2)
    for mask in [*MASKS_2D, *random_masks(2, 20, seed=7), *real_masks()]:
        low, high = int(rng.integers(1, 40)), int(rng.integers(1, 60))
        for bounds in ((low, None), (0, high), (low, low + high)):
            assert_same(contours.select_by_size_2d(mask, c, *bounds),
                        reference_select(mask, c, *bounds))


def largest_object(mask: np.ndarray) -> np.ndarray:
    """The reference: the largest 8-connected object, the first of equal ones."""
    labels = measure.label(mask.astype(bool), connectivity=2)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == sizes.argmax() if sizes.max() else np.zeros(mask.shape, bool)


def test_keep_largest_2d_equals_skimage():
    for mask in [*MASKS_2D, *random_masks(2, 10, seed=9), *real_masks()]:
        assert_same(contours.keep_largest_2d(mask), largest_object(mask))


def test_keep_largest_2d_clears_the_others_when_bounds_settle_it():
    mask = np.zeros((200, 200), np.uint8)
    cv2.ellipse(mask, (100, 100), (80, 60), 0, 0, 360, 1, -1)
    cv2.circle(mask, (100, 100), 20, 0, -1)  # a hole ...
    cv2.circle(mask, (100, 100), 5, 1, -1)  # ... holding a speck of its own
    mask[::17, ::13] = 1  # specks, some on the section
    traced, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer = np.flatnonzero(hierarchy[0, :, 3] < 0)
    _, lower, upper = contours._bounds(traced, hierarchy, outer, np.ones(len(outer), bool))
    assert lower.max() > np.sort(upper)[-2]  # the shortcut is taken
    assert_same(contours.keep_largest_2d(mask), largest_object(mask))


def test_bounds_hold_the_size_of_objects_with_holes():
    drawn = np.zeros((120, 120), np.uint8)
    cv2.circle(drawn, (40, 40), 30, 1, -1)
    cv2.circle(drawn, (40, 40), 12, 0, -1)  # a hole ...
    cv2.circle(drawn, (40, 40), 4, 1, -1)  # ... holding an object of its own
    drawn[60:66, 90:118] = 1
    drawn[62, 95:100] = 0  # a thin hole: bounding box 7 pixels, hole 5
    blobs = (ndi.gaussian_filter(np.random.default_rng(3).random((300, 300)), 3) > 0.45)
    holed = 0
    for mask in [*real_masks(), drawn, blobs.astype(np.uint8)]:
        traced, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        outer = np.flatnonzero(hierarchy[0, :, 3] < 0)
        _, lower, upper = contours._bounds(traced, hierarchy, outer, np.ones(len(outer), bool))
        labels = measure.label(mask, connectivity=2)
        first = np.array([traced[i][0, 0] for i in outer])  # (x, y) of each first pixel
        sizes = np.bincount(labels.ravel())[labels[first[:, 1], first[:, 0]]]
        assert (lower <= sizes).all() and (sizes <= upper).all()
        with_holes = hierarchy[0, outer, 2] >= 0
        holed += np.count_nonzero(lower[with_holes] > sizes[with_holes] // 2)
    assert holed >= 3  # objects with holes get a bound worth having, not 0


def test_path_choice_follows_contour_count():
    assert all(contours.use_contours(mask) for mask in real_masks())
    speckle = (np.random.default_rng(8).random((512, 512)) < 0.3).astype(np.uint8)
    assert not contours.use_contours(speckle)


def seam_masks() -> list[np.ndarray]:
    """Masks whose objects and holes cross, touch and skirt the middle row in every way."""
    rng = np.random.default_rng(7)
    masks = []
    for rows, threshold in [(64, 0.5), (65, 0.3), (100, 0.7), (301, 0.5)]:
        smooth = (ndi.gaussian_filter(rng.random((rows, 57)), 2) > threshold).astype(np.uint8)
        smooth[rng.random(smooth.shape) > 0.95] ^= 1
        masks += [smooth, (rng.random((rows, 57)) > 0.5).astype(np.uint8)]
    drawn = np.zeros((80, 60), np.uint8)  # middle row 40
    cv2.circle(drawn, (12, 40), 8, 1, 2)  # a ring across the middle: its hole too
    cv2.rectangle(drawn, (26, 30), (34, 39), 1, 1)  # a hole that ends on row 39
    cv2.rectangle(drawn, (26, 41), (34, 50), 1, 1)  # ... and one that starts on row 41
    cv2.rectangle(drawn, (37, 33), (45, 47), 1, 1)
    drawn[40, 38:45] = 0  # a hole that is cut open on the middle row
    drawn[39, 48:60] = 1  # thin lines beside and on the middle row
    drawn[40, 50:53] = 1
    drawn[41, 54:59] = 1
    drawn[38:41, 2] = 1  # diagonal joints across it
    drawn[41:43, 3] = 1
    masks.append(drawn)
    big = np.zeros((80, 60), np.uint8)  # middle row 40: big pieces settle their objects
    big[10:40, 5:26] = 1  # a big piece above the middle ...
    big[40:44, 10] = 1  # ... joined by a small one below it
    big[41:43, 30:32] = 1  # small, beside the middle row only
    big[37:44, 40] = 1  # small, across it
    big[35:61, 45:56] = 1  # big, across it
    masks.append(big)
    return masks


@pytest.mark.parametrize(("kernel", "args"), [
    (contours.fill_holes_2d, (None,)), (contours.fill_holes_2d, (5,)),
    (contours.select_by_size_2d, (2, 20, None)),
    (contours.select_by_size_2d, (1, 20, None)),
    (contours.select_by_size_2d, (1, 0, 30)),
], ids=["fill_holes", "fill_small_holes", "remove_small", "remove_small_faces",
        "remove_large_faces"])
def test_traced_in_halves_equals_the_whole_trace(kernel, args, monkeypatch):
    masks = seam_masks()
    whole = [kernel(mask, *args) for mask in masks]
    monkeypatch.setattr(contours, "STRIPE_MIN_PIXELS", 0)
    monkeypatch.setattr(contours, "thread_budget", lambda: 2)
    halves = []
    settle = contours._settle_in_halves
    monkeypatch.setattr(contours, "_settle_in_halves", lambda *a: halves.append(1) or settle(*a))
    for mask, expected in zip(masks, whole, strict=True):
        assert np.array_equal(kernel(mask, *args), expected)
    assert len(halves) == len(masks)
    assert sum(not np.array_equal(w, m) for w, m in zip(whole, masks, strict=True)) > 6
