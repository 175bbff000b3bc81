"""``kernels.majority`` equals ``skimage.filters.median`` of a 0/1 mask in a disk or ball,
and, on labels, the median of each label's own mask."""

from __future__ import annotations

import numpy as np
from skimage import filters, segmentation

from napari_maskprep.kernels import majority

from ..masks import (
    LABELS_2D,
    LABELS_3D,
    MASKS_2D,
    MASKS_3D,
    assert_same,
    footprint,
    real_masks,
    real_volume,
)


def test_masks_equal_skimage_median():
    for i, mask in enumerate([*MASKS_2D, *MASKS_3D, *real_masks(), real_volume()]):
        radius = 1 + i % 4
        expected = filters.median(mask, footprint=footprint("disk", radius, mask.ndim))
        assert_same(majority.majority(mask, radius), expected)


def test_labels_equal_the_median_of_each_label():
    for labels in [*LABELS_2D, *LABELS_3D]:
        fp = footprint("disk", 2, labels.ndim)
        expected = np.zeros_like(labels)
        for value in np.unique(labels)[1:]:
            own = (labels == value).astype(np.uint8)
            expected[filters.median(own, footprint=fp) > 0] = value
        assert_same(majority.majority(labels, 2), expected)


def _smooth_label_by_label(labels: np.ndarray, radius: int) -> np.ndarray:
    """The reference: each label's own mask through scikit-image's median."""
    fp = footprint("disk", radius, labels.ndim)
    expected = np.zeros_like(labels)
    for value in np.unique(labels[labels != 0]):
        expected[filters.median((labels == value).astype(np.uint8), footprint=fp) > 0] = value
    return expected


def _labels_with_ties(seed: int) -> list[np.ndarray]:
    """Pixel noise of a few ids (windows split between them), ids scattered over several
    objects, one id per row, labels touching the border, stacks of one plane."""
    rng = np.random.default_rng(seed)
    out = []
    for ndim in (2, 2, 3):
        shape = tuple(rng.integers(1, 30 if ndim == 2 else 9, ndim))
        out.append(rng.integers(0, 4, shape).astype(np.int32))
        blobs = segmentation.expand_labels(
            np.where(rng.random(shape) < 0.05, rng.integers(1, 5, shape), 0), 3)
        out.append(blobs.astype(np.int32))
        rows = np.broadcast_to(np.arange(shape[0], dtype=np.int32)[(...,) + (None,) *
                                                                   (ndim - 1)], shape)
        out.append(np.ascontiguousarray(rows % 3))
    out.append(np.where(rng.random((1, 12, 9)) < 0.5, 70001, 2).astype(np.int32))
    return out


def test_labels_by_colours_equal_label_by_label():
    """Both ways of voting labels (_per_label, the only one before; _by_colours) equal the
    reference on images where windows split between ids, at radii 1 to 5."""
    for seed in range(4):
        for i, labels in enumerate(_labels_with_ties(seed)):
            radius = 1 + (seed + i) % 5
            expected = _smooth_label_by_label(labels, radius)
            assert_same(majority.majority(labels, radius), expected)
            fp = footprint("disk", radius, labels.ndim).astype(np.uint8)
            votes = (majority._boxes(fp) if labels.ndim == 2 else
                     [(majority._boxes(p), o) for p, o in majority.z_slices(fp)])
            half = int(fp.sum()) // 2
            dense, ids = majority.dense_ids(labels)
            by_colours = majority._by_colours(dense, votes, half, radius)
            assert_same(by_colours if ids is None else ids[by_colours], expected)


def test_many_spread_labels_take_a_few_counts(monkeypatch):
    """Labels were voted one by one, each in its box: ids spread over the image each
    counted the whole image (2000 ids as pixel noise: 140 s at 1024 x 1024, radius 10).
    They are now counted a colour at a time, and only where an id can hold a majority:
    noise of 2000 ids (256 x 256, radius 10) counts nothing (before: 18 000 box filters of
    1.1e9 pixels at radius 6), and 300 ids each used by 8 objects across the image
    (radius 6) 54 box filters of 1.2e6 pixels (before: 2700 of 1.2e8)."""
    pixels = []
    real = majority.cv2.boxFilter
    monkeypatch.setattr(majority.cv2, "boxFilter",
                        lambda src, *args, **kwargs: pixels.append(src.size) or
                        real(src, *args, **kwargs))
    noise = np.random.default_rng(0).integers(0, 2001, (256, 256)).astype(np.int32)
    assert not majority.majority(noise, 10).any()
    assert pixels == []
    seeds = np.zeros((256, 256), np.int32)
    seeds.flat[np.random.default_rng(1).choice(seeds.size, 2400, replace=False)] = (
        np.arange(2400) % 300 + 1)
    scattered = segmentation.expand_labels(seeds, 3).astype(np.int32)
    smoothed = majority.majority(scattered, 6)
    assert (len(pixels), sum(pixels)) == (54, 1_210_752)
    assert_same(smoothed, _smooth_label_by_label(scattered, 6))


def test_compact_labels_in_a_stack_keep_the_per_label_path(monkeypatch):
    """200 labels in 12 x 48 x 48 at radius 2 cover the stack 4.9 times in their widened
    boxes, past the bound of the per-label path: they took the colours, 170 groups over
    5.8e6 pixels (box filters of 2.0e7), where the labels' own boxes count 2.5e6 (9.5e5):
    2000 such labels in 32 x 256 x 256 took 91 s against 4 s. The fewer pixels decide now."""
    seeds = np.zeros((12, 48, 48), np.int32)
    seeds.flat[np.random.default_rng(0).choice(seeds.size, 200, replace=False)] = (
        np.arange(1, 201))
    labels = segmentation.expand_labels(seeds, 3).astype(np.int32)
    pixels = []
    real = majority.cv2.boxFilter
    monkeypatch.setattr(majority.cv2, "boxFilter",
                        lambda src, *args, **kwargs: pixels.append(src.size) or
                        real(src, *args, **kwargs))
    smoothed = majority.majority(labels, 2)
    assert sum(pixels) == 952_707  # the per-label path's; the colours' 19_875_072
    assert_same(smoothed, _smooth_label_by_label(labels, 2))
