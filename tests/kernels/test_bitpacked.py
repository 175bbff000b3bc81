"""``kernels.bitpacked`` equals scikit-image's erosion and dilation by the same union of
centred rectangles, across block seams, word bounds and the array's border."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.morphology

from napari_maskprep.kernels import bitpacked, morphology

from ..masks import (
    MASKS_2D,
    assert_same,
    border_masks,
    footprint,
    odd_shape_masks,
    real_masks,
    reference_morphology,
)
from .test_morphology import KERNELS, name_of


@pytest.mark.parametrize("kernel, reference", KERNELS, ids=name_of)
@pytest.mark.parametrize("shape", ["disk", "diamond"])
def test_disks_and_diamonds_equal_skimage(kernel, reference, shape, monkeypatch):
    # Every radius bit-packed, one step or two (opening, closing: one packing for both).
    monkeypatch.setattr(morphology, "_PACKED_MIN_RADIUS", {(shape, 1): 1, (shape, 2): 1})
    masks = [*MASKS_2D, real_masks()[1][:90, :150], *border_masks()]
    cases = [(radius, mask) for radius in range(1, 9) for mask in [*masks, *odd_shape_masks()]]
    cases += [(radius, mask) for radius in (13, 20) for mask in odd_shape_masks()]
    for radius, mask in cases:
        expected = reference_morphology(reference, mask, footprint(shape, radius, 2))
        # One block, then blocks of a few rows, so that the blocks' seams are crossed.
        for block_words in (1 << 16, 1):
            monkeypatch.setattr(bitpacked, "_BLOCK_WORDS", block_words)
            assert_same(kernel(mask, shape, radius), expected)


@pytest.mark.parametrize("rectangles", [((2, 2),), ((0, 3),), ((4, 0), (1, 3)),
                                        ((3, 1), (0, 5)), ((6, 6), (2, 9))])
def test_any_union_of_centred_rectangles_equals_skimage(rectangles, monkeypatch):
    radius = max(max(rectangle) for rectangle in rectangles)
    fp = np.zeros((2 * radius + 1,) * 2, bool)
    for h, w in rectangles:
        fp[radius - h:radius + h + 1, radius - w:radius + w + 1] = True
    monkeypatch.setattr(bitpacked, "_BLOCK_WORDS", 1)
    for mask in [*MASKS_2D[:6], *border_masks(), *odd_shape_masks()]:
        for erode, reference in ((True, skimage.morphology.erosion),
                                 (False, skimage.morphology.dilation)):
            result = bitpacked.filter_steps(mask, rectangles, (erode,))
            assert_same(result, reference_morphology(reference, mask, fp))
