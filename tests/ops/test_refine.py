"""Tests of the refine ops: exact values on tiny arrays (masks and labels), parameters and
bad input. Their kernels are tested equal to the references in ``tests/kernels``."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import measure, morphology

from napari_maskprep.core import get_op, list_ops
from napari_maskprep.ops import refine

from ..masks import assert_same, i32, real_labels, u8


# --------------------------------------------------------------------------- morphology
def test_erode_values():
    mask = np.zeros((5, 5), np.uint8)
    mask[:, 1:4] = 1
    expected = np.zeros_like(mask)
    expected[:, 2] = 1  # a column touching the top and bottom border is not eaten from there
    assert_same(refine.erode(mask, radius=1, shape="square"), expected)
    disk = np.zeros((5, 5), np.uint8)
    disk[1:4, 1:4] = 1
    disk[0, 2] = disk[4, 2] = disk[2, 0] = disk[2, 4] = 1
    assert_same(refine.erode(disk, radius=1), u8([[0, 0, 0, 0, 0],
                                                  [0, 0, 1, 0, 0],
                                                  [0, 1, 1, 1, 0],
                                                  [0, 0, 1, 0, 0],
                                                  [0, 0, 0, 0, 0]]))


def test_erode_labels_each_label_as_its_own_mask():
    labels = i32([[1, 1, 1, 2, 2, 2],
                  [1, 1, 1, 2, 2, 2],
                  [1, 1, 1, 2, 2, 2]])
    expected = i32([[1, 1, 0, 0, 2, 2],
                    [1, 1, 0, 0, 2, 2],
                    [1, 1, 0, 0, 2, 2]])
    assert_same(refine.erode(labels, radius=1, shape="square"), expected)


def test_dilate_values():
    mask = np.zeros((3, 5), np.uint8)
    mask[1, 2] = 1
    assert_same(refine.dilate(mask, radius=1), u8([[0, 0, 1, 0, 0],
                                                   [0, 1, 1, 1, 0],
                                                   [0, 0, 1, 0, 0]]))
    assert_same(refine.dilate(mask, radius=1, shape="square"), u8([[0, 1, 1, 1, 0],
                                                                  [0, 1, 1, 1, 0],
                                                                  [0, 1, 1, 1, 0]]))


def test_dilate_labels_grows_into_background_only():
    labels = i32([[1, 1, 2, 2, 0, 0, 3]])
    # 1 and 2 touch: neither overwrites the other; the gap is shared by distance.
    assert_same(refine.dilate(labels, radius=1), i32([[1, 1, 2, 2, 2, 3, 3]]))
    assert_same(refine.dilate(labels, radius=3, shape="square"), i32([[1, 1, 2, 2, 2, 3, 3]]))
    two = i32([[4, 0, 0, 0, 0, 9]])
    assert_same(refine.dilate(two, radius=2), i32([[4, 4, 4, 9, 9, 9]]))


def test_open_values():
    mask = np.zeros((5, 7), np.uint8)
    mask[1:4, 1:4] = 1
    mask[2, 4:6] = 1  # a spur
    mask[0, 6] = 1  # a speck
    expected = np.zeros_like(mask)
    expected[1:4, 1:4] = 1
    assert_same(refine.open_(mask, radius=1, shape="square"), expected)


def test_open_labels_never_grows_a_label():
    labels = np.zeros((5, 8), np.int32)
    labels[1:4, 0:3] = 5
    labels[1:4, 3:7] = 6
    labels[2, 7] = 6  # a spur of 6
    expected = labels.copy()
    expected[2, 7] = 0
    assert_same(refine.open_(labels, radius=1, shape="square"), expected)


def test_close_values():
    mask = np.ones((4, 7), np.uint8)
    mask[1:3, 3] = 0  # a two-pixel slit inside
    assert_same(refine.close(mask, radius=1, shape="square"), np.ones_like(mask))
    gap = u8([[1, 1, 0, 1, 1]])
    assert_same(refine.close(gap, radius=1, shape="square"), u8([[1, 1, 1, 1, 1]]))


def test_close_labels_fills_own_gaps_never_between_labels():
    labels = i32([[1, 1, 0, 1, 1, 0, 2, 2]])
    # the gap inside 1 closes, the gap between 1 and 2 does not
    assert_same(refine.close(labels, radius=1, shape="square"), i32([[1, 1, 1, 1, 1, 0, 2, 2]]))


def test_footprint_names_in_3d_and_refused_in_2d():
    volume = np.zeros((5, 5, 5), np.uint8)
    volume[2, 2, 2] = 1
    ball = refine.dilate(volume, radius=1, shape="ball")
    assert_same(ball, refine.dilate(volume, radius=1, shape="disk"))
    assert ball.sum() == 7
    assert refine.dilate(volume, radius=1, shape="cube").sum() == 27
    assert refine.dilate(volume, radius=2, shape="octahedron").sum() == 25
    with pytest.raises(ValueError, match=r"shape='ball' is a 3D footprint but the data is 2D"):
        refine.erode(np.ones((4, 4), np.uint8), shape="ball")


# --------------------------------------------------------------------------- holes
def test_fill_holes_values():
    mask = u8([[1, 1, 1, 1, 1, 0],
               [1, 0, 1, 0, 0, 1],
               [1, 1, 1, 1, 1, 0],
               [0, 0, 0, 0, 1, 0]])
    assert_same(refine.fill_holes(mask), u8([[1, 1, 1, 1, 1, 0],
                                             [1, 1, 1, 1, 1, 1],
                                             [1, 1, 1, 1, 1, 0],
                                             [0, 0, 0, 0, 1, 0]]))
    assert_same(refine.fill_holes(mask, max_hole_size=1), u8([[1, 1, 1, 1, 1, 0],
                                                              [1, 1, 1, 0, 0, 1],
                                                              [1, 1, 1, 1, 1, 0],
                                                              [0, 0, 0, 0, 1, 0]]))
    # a background region touching the border is no hole, and holes are 4-connected
    ring = u8([[0, 1, 0],
               [1, 0, 1],
               [0, 1, 0]])
    assert_same(refine.fill_holes(ring), u8([[0, 1, 0], [1, 1, 1], [0, 1, 0]]))
    assert_same(refine.fill_holes(u8([[1, 0, 1]])), u8([[1, 0, 1]]))


def test_fill_holes_labels():
    labels = i32([[3, 3, 3, 0, 1, 1, 2, 2],
                  [3, 0, 3, 0, 1, 0, 0, 2],
                  [3, 3, 3, 0, 1, 1, 2, 2]])
    # the hole in 3 takes 3; the gap enclosed by 1 and 2 together stays background
    expected = labels.copy()
    expected[1, 1] = 3
    assert_same(refine.fill_holes(labels), expected)
    nested = np.zeros((7, 7), np.int32)
    nested[1:6, 1:6] = 4
    nested[2:5, 2:5] = 0
    nested[3, 3] = 9  # an island of 9 in a hole of 4: bordered by two ids, not filled
    assert_same(refine.fill_holes(nested), nested)
    nested[3, 3] = 0
    expected = nested.copy()
    expected[2:5, 2:5] = 4
    assert_same(refine.fill_holes(nested), expected)
    assert_same(refine.fill_holes(nested, max_hole_size=8), nested)


def test_fill_holes_max_size_differs_from_remove_small_holes_at_the_border():
    # remove_small_holes also fills small background regions touching the border; we do not
    mask = u8([[0, 1, 1],
               [1, 1, 1]])
    assert_same(refine.fill_holes(mask, max_hole_size=5), mask)
    assert morphology.remove_small_holes(mask.astype(bool), max_size=5).all()


# --------------------------------------------------------------------------- objects
def test_remove_small_and_large_values():
    mask = u8([[1, 1, 0, 0, 1],
               [1, 1, 0, 0, 0],
               [0, 0, 1, 0, 0],
               [0, 0, 0, 0, 1],
               [0, 0, 0, 1, 1]])
    # full connectivity: objects of 5 (the block and its diagonal pixel), 1 and 3 pixels
    assert_same(refine.remove_small(mask, min_size=3), u8([[1, 1, 0, 0, 0],
                                                           [1, 1, 0, 0, 0],
                                                           [0, 0, 1, 0, 0],
                                                           [0, 0, 0, 0, 1],
                                                           [0, 0, 0, 1, 1]]))
    assert_same(refine.remove_small(mask, min_size=5), u8([[1, 1, 0, 0, 0],
                                                           [1, 1, 0, 0, 0],
                                                           [0, 0, 1, 0, 0],
                                                           [0, 0, 0, 0, 0],
                                                           [0, 0, 0, 0, 0]]))
    # faces: the diagonal pixel is an object of its own
    assert_same(refine.remove_small(mask, min_size=3, connectivity="faces"),
                u8([[1, 1, 0, 0, 0],
                    [1, 1, 0, 0, 0],
                    [0, 0, 0, 0, 0],
                    [0, 0, 0, 0, 1],
                    [0, 0, 0, 1, 1]]))
    assert_same(refine.remove_large(mask, max_size=4), u8([[0, 0, 0, 0, 1],
                                                           [0, 0, 0, 0, 0],
                                                           [0, 0, 0, 0, 0],
                                                           [0, 0, 0, 0, 1],
                                                           [0, 0, 0, 1, 1]]))
    assert_same(refine.remove_large(mask, max_size=4, connectivity="faces"), mask)


def test_remove_small_and_large_labels_keep_ids():
    labels = i32([[5, 5, 0, 7],
                  [5, 5, 9, 9],
                  [0, 0, 0, 9]])
    assert_same(refine.remove_small(labels, min_size=3), i32([[5, 5, 0, 0],
                                                              [5, 5, 9, 9],
                                                              [0, 0, 0, 9]]))
    assert_same(refine.remove_large(labels, max_size=3), i32([[0, 0, 0, 7],
                                                              [0, 0, 9, 9],
                                                              [0, 0, 0, 9]]))
    sparse = labels.copy()
    sparse[sparse == 9] = 2_000_000_000  # ids far above the pixel count
    assert_same(refine.remove_small(sparse, min_size=3), np.where(labels == 7, 0, sparse))


def test_keep_largest_values():
    mask = u8([[1, 1, 0, 1],
               [0, 0, 0, 1],
               [1, 0, 1, 1]])
    assert_same(refine.keep_largest(mask), u8([[0, 0, 0, 1],
                                               [0, 0, 0, 1],
                                               [0, 0, 1, 1]]))
    tie = u8([[1, 1, 0, 1, 1]])  # equal sizes: the first in raster order wins
    assert_same(refine.keep_largest(tie), u8([[1, 1, 0, 0, 0]]))
    assert_same(refine.keep_largest(np.zeros((3, 3), np.uint8)), np.zeros((3, 3), np.uint8))
    labels = i32([[4, 4, 0, 6],
                  [0, 0, 0, 6],
                  [9, 9, 0, 6]])
    assert_same(refine.keep_largest(labels), np.where(labels == 6, labels, 0))
    assert_same(refine.keep_largest(np.where(labels == 6, 0, labels)),
                i32([[4, 4, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]))


def test_clear_border_values():
    mask = u8([[1, 0, 0, 0, 0],
               [0, 1, 0, 1, 0],
               [0, 0, 0, 0, 0]])
    # (1, 1) touches the border pixel (0, 0) diagonally: one object with full connectivity
    assert_same(refine.clear_border(mask), u8([[0, 0, 0, 0, 0],
                                               [0, 0, 0, 1, 0],
                                               [0, 0, 0, 0, 0]]))
    assert_same(refine.clear_border(mask, connectivity="faces"), u8([[0, 0, 0, 0, 0],
                                                                     [0, 1, 0, 1, 0],
                                                                     [0, 0, 0, 0, 0]]))
    labels = i32([[0, 0, 0, 0, 0],
                  [0, 2, 0, 3, 0],
                  [0, 0, 0, 0, 3]])
    assert_same(refine.clear_border(labels), np.where(labels == 3, 0, labels))


def test_label_values_and_labels_input():
    mask = u8([[1, 0, 1],
               [0, 1, 0],
               [0, 0, 1]])
    assert_same(refine.label(mask), i32([[1, 0, 1], [0, 1, 0], [0, 0, 1]]))
    assert_same(refine.label(mask, connectivity="faces"), i32([[1, 0, 2], [0, 3, 0], [0, 0, 4]]))
    labels = i32([[7, 7, 3, 0, 7]])  # touching labels stay apart; two pieces of 7, two ids
    assert_same(refine.label(labels), i32([[1, 1, 2, 0, 3]]))


# --------------------------------------------------------------------------- smooth, split, mask
def test_smooth_values():
    mask = np.zeros((6, 6), np.uint8)
    mask[2:5, 1:4] = 1
    mask[1, 2] = 1  # a bump
    mask[3, 2] = 0  # a pit
    expected = np.zeros_like(mask)
    expected[2:5, 1:4] = 1
    assert_same(refine.smooth(mask, radius=1), expected)
    labels = np.zeros((7, 7), np.int32)
    labels[2:6, 0:3] = 2
    labels[2:6, 3:6] = 8
    expected = labels.copy()
    labels[1, 4] = 8  # a bump of 8
    assert_same(refine.smooth(labels, radius=1), expected)


def two_touching_disks() -> np.ndarray:
    yy, xx = np.mgrid[:40, :60]
    return (((yy - 20) ** 2 + (xx - 19) ** 2 <= 100)
            | ((yy - 20) ** 2 + (xx - 38) ** 2 <= 100)).astype(np.uint8)


def test_split_touching_two_disks():
    mask = two_touching_disks()
    assert len(measure.regionprops(measure.label(mask))) == 1
    labels = refine.split_touching(mask, min_distance=5)
    assert labels.dtype == np.int32
    assert_same(labels > 0, mask)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert labels[20, 15] != labels[20, 42]


def test_split_touching_labels_splits_each_label():
    disks = two_touching_disks().astype(np.int32)
    labels = np.concatenate([disks * 5, disks * 3], axis=0)
    split = refine.split_touching(labels, min_distance=5)
    assert_same(split > 0, labels > 0)
    assert set(np.unique(split)) == {0, 1, 2, 3, 4}
    # ids numbered by label then piece: label 3 (lower half) comes first
    assert set(np.unique(split[40:])) == {0, 1, 2} and set(np.unique(split[:40])) == {0, 3, 4}
    for value in range(1, 5):  # every piece lies inside a single input label
        assert len(np.unique(labels[split == value])) == 1
    assert_same(refine.split_touching(np.zeros((4, 5, 6), np.int32)), np.zeros((4, 5, 6), np.int32))


def test_split_touching_one_label_splits_like_its_mask():
    mask = two_touching_disks()
    mask[:, :3] = 1  # touching the border: outside the array is not background, for both
    from_labels = refine.split_touching(mask.astype(np.int32) * 7, min_distance=4)
    from_mask = refine.split_touching(mask, min_distance=4)
    assert_same(from_labels > 0, mask)
    # a mask is split component by component, each in its bounding box, as a label is
    np.testing.assert_array_equal(from_labels, from_mask)


def test_to_mask():
    labels = i32([[0, 3, 3], [7, 0, 2]])
    assert_same(refine.to_mask(labels), u8([[0, 1, 1], [1, 0, 1]]))
    mask = u8([[0, 1], [1, 0]])
    out = refine.to_mask(mask)
    assert_same(out, mask)
    assert out is not mask


# --------------------------------------------------------------------------- contract, bad input
REFINE_IDS = [spec.id for spec in list_ops("refine")]


@pytest.mark.parametrize("op_id", REFINE_IDS)
@pytest.mark.parametrize("kind", ["mask", "labels"])
def test_dtype_shape_and_input_untouched(op_id, kind):
    spec = get_op(op_id)
    data = real_labels()[:120, :150]
    data = (data > 0).astype(np.uint8) if kind == "mask" else data
    before = data.copy()
    out = spec(data)
    assert out.shape == data.shape
    mask_out = spec.output.value == "mask" and (kind == "mask" or op_id == "refine.to_mask")
    assert out.dtype == (np.uint8 if mask_out else np.int32)
    if mask_out:
        assert out.max() <= 1
    np.testing.assert_array_equal(data, before)


def test_labels_ids_kept_by_every_mask_op():
    labels = real_labels()[:200, :200]
    for op_id in REFINE_IDS:
        spec = get_op(op_id)
        if spec.output.value != "mask" or op_id == "refine.to_mask":
            continue
        out = spec(labels)
        grown = out > 0
        ids = set(np.unique(out)) - {0}
        assert ids <= set(np.unique(labels)) - {0}, op_id
        inside = grown & (labels > 0)
        np.testing.assert_array_equal(out[inside], labels[inside], err_msg=op_id)


def test_radius_zero_is_refused():
    expected = r"radius=0 is out of range; expected an integer in \[1, 50\]"
    with pytest.raises(ValueError, match=expected):
        refine.erode(np.ones((4, 4), np.uint8), radius=0)


@pytest.mark.parametrize("op, params, message", [
    (refine.open_, {"shape": "hexagon"}, "shape='hexagon' is not accepted; expected one of 'disk'"),
    (refine.remove_small, {"connectivity": 3},
     "connectivity=3 is not accepted; expected one of 'faces', 'full'"),
    (refine.fill_holes, {"max_hole_size": 0},
     "max_hole_size=0 is out of range; expected an integer >= 1 or null"),
    (refine.dilate, {"shape": "cube"}, "shape='cube' is a 3D footprint but the data is 2D"),
    (refine.smooth, {"radius": 51}, r"radius=51 is out of range; expected an integer in \[1, 50\]"),
])
def test_bad_parameters_are_refused(op, params, message):
    with pytest.raises(ValueError, match=message):
        op(np.ones((4, 4), np.uint8), **params)


def test_fractional_mask_is_refused():
    with pytest.raises(ValueError, match=r"refine.erode: input has fractional values; accepted: "
                                         r"a 0/1 mask or integer labels"):
        refine.erode(np.array([[0.0, 0.5], [1.0, 1.0]]))


def test_float_and_bool_masks_are_accepted():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    assert_same(refine.erode(mask, radius=1, shape="square"), refine.erode(mask.astype(np.float32),
                                                                           radius=1,
                                                                           shape="square"))
    labels = np.array([[0.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    assert_same(refine.dilate(labels, radius=1), i32([[2, 2, 2], [0, 2, 2]]))
