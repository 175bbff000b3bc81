"""``kernels.morphology`` equals scikit-image's erosion, dilation, opening and closing on
masks, on every path (bit-packed, cv2 with the footprint, distance transform), and treats
each label as its own mask."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.morphology
from skimage import segmentation

from napari_maskprep.kernels import morphology

from ..masks import (
    LABELS_2D,
    LABELS_3D,
    MASKS_2D,
    MASKS_3D,
    SHAPES,
    assert_same,
    border_masks,
    footprint,
    real_masks,
    real_volume,
    reference_morphology,
)

KERNELS = [(morphology.erosion, skimage.morphology.erosion),
           (morphology.dilation, skimage.morphology.dilation),
           (morphology.opening, skimage.morphology.opening),
           (morphology.closing, skimage.morphology.closing)]


def name_of(function) -> str:
    return f"{function.__module__.split('.')[0]}.{function.__name__}"


@pytest.mark.parametrize("kernel, reference", KERNELS, ids=name_of)
@pytest.mark.parametrize("shape", SHAPES)
def test_masks_equal_skimage_2d(kernel, reference, shape):
    for i, mask in enumerate([*MASKS_2D, *real_masks()]):
        radius = 1 + i % 5
        expected = reference(mask.astype(bool), footprint(shape, radius, 2))
        assert_same(kernel(mask, shape, radius), expected)


@pytest.mark.parametrize("kernel, reference", KERNELS, ids=name_of)
@pytest.mark.parametrize("shape", SHAPES)
def test_masks_equal_skimage_3d(kernel, reference, shape):
    for i, mask in enumerate([*MASKS_3D, real_volume()]):
        radius = 1 + i % 3
        expected = reference(mask.astype(bool), footprint(shape, radius, 3))
        assert_same(kernel(mask, shape, radius), expected)


@pytest.mark.parametrize("shape", ["disk", "diamond"])
def test_distance_transform_path_equals_skimage(shape, monkeypatch):
    monkeypatch.setitem(morphology._DISTANCE_MIN_PIXELS, shape, 0)
    for i, mask in enumerate([*MASKS_3D[:3], real_volume()]):
        radius = 1 + i % 4
        fp = footprint(shape, radius, 3)
        b = mask.astype(bool)
        assert_same(morphology.erosion(mask, shape, radius), skimage.morphology.erosion(b, fp))
        assert_same(morphology.dilation(mask, shape, radius), skimage.morphology.dilation(b, fp))
        assert_same(morphology.opening(mask, shape, radius), skimage.morphology.opening(b, fp))


def test_large_disk_equals_skimage():
    mask = real_masks()[1][100:190, 200:290]
    fp = footprint("disk", 30, 2)
    b = mask.astype(bool)
    assert_same(morphology.erosion(mask, "disk", 30), skimage.morphology.erosion(b, fp))
    assert_same(morphology.dilation(mask, "disk", 30), skimage.morphology.dilation(b, fp))


@pytest.mark.parametrize("kernel, reference", KERNELS, ids=name_of)
@pytest.mark.parametrize("shape", ["disk", "diamond"])
def test_paths_agree_around_the_switch(kernel, reference, shape, monkeypatch):
    # The default choice, then cv2 with the footprint array only, at the radii around where
    # the bit-packed path takes over.
    radii = sorted({r for (name, _), start in morphology._PACKED_MIN_RADIUS.items()
                    if name == shape for r in (start - 1, start, start + 1) if r >= 1})
    masks = [*MASKS_2D[:4], real_masks()[0][:120, :100], *border_masks()[:3]]
    for packed in (True, False):
        if not packed:
            monkeypatch.setattr(morphology, "_PACKED_MIN_RADIUS", {})
        for radius in radii:
            fp = footprint(shape, radius, 2)
            for mask in masks:
                assert_same(kernel(mask, shape, radius), reference_morphology(reference, mask, fp))


@pytest.mark.parametrize("shape", ["disk", "diamond"])
def test_bit_packed_path_covers_every_radius(shape):
    # Each footprint is exactly a union of centred rectangles, so the fast path applies up
    # to the largest radius the ops accept.
    for radius in range(1, 51):
        rectangles = morphology._rectangles(shape, radius)
        assert rectangles is not None
        heights, widths = zip(*rectangles, strict=True)
        assert widths[-1] == heights[0] == radius
        for steps in (1, 2):
            uses = morphology.runs_bit_packed(shape, radius, 2, steps)
            assert uses == (radius >= morphology._PACKED_MIN_RADIUS[shape, steps])


def test_footprints_are_those_of_scikit_image():
    for ndim in (2, 3):
        for shape in SHAPES:
            for radius in (1, 2, 5):
                assert_same(morphology.footprint(shape, radius, ndim).view(bool),
                            footprint(shape, radius, ndim))


@pytest.mark.parametrize("shape", SHAPES)
def test_labels_are_each_their_own_mask(shape):
    for labels in [*LABELS_2D, *LABELS_3D]:
        radius = 2 if labels.ndim == 2 else 1
        fp = footprint(shape, radius, labels.ndim)
        eroded, opened = np.zeros_like(labels), np.zeros_like(labels)
        for value in np.unique(labels)[1:]:
            eroded[skimage.morphology.erosion(labels == value, fp)] = value
            opened[skimage.morphology.opening(labels == value, fp)] = value
        assert_same(morphology.erosion(labels, shape, radius), eroded)
        assert_same(morphology.opening(labels, shape, radius), opened)

        grown = morphology.dilation(labels, shape, radius)
        assert_same(grown > 0, skimage.morphology.dilation(labels > 0, fp))
        assert_same(grown[labels > 0], labels[labels > 0])
        if shape == "disk":
            assert_same(grown, segmentation.expand_labels(labels, radius).astype(np.int32))

        closed = morphology.closing(labels, shape, radius)
        assert_same(closed[labels > 0], labels[labels > 0])
        for value in np.unique(closed)[1:]:
            assert np.all((closed == value) <= skimage.morphology.closing(labels == value, fp))


def test_single_label_equals_its_mask():
    for mask in MASKS_2D[:4]:
        labels = mask.astype(np.int32) * 7
        for kernel, _ in KERNELS:
            for shape in SHAPES:
                expected = kernel(mask, shape, 2).astype(np.int32) * 7
                assert_same(kernel(labels, shape, 2), expected)
