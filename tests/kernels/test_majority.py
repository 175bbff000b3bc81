"""``kernels.majority`` equals ``skimage.filters.median`` of a 0/1 mask in a disk or ball,
and, on labels, the median of each label's own mask."""

from __future__ import annotations

import numpy as np
from skimage import filters

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
