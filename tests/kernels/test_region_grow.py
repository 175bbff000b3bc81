"""kernels.region_grow equals skimage.segmentation.flood for each seed, OR'ed (with
floor(tolerance) on integer images): the 2D fast path on a real image in every dtype, 3D."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import segmentation

from napari_maskprep.kernels.region_grow import grow_regions

from ..segment_images import as_dtype, nuclei_field


def reference_grow(image, seeds, tolerance, connectivity):
    step = np.floor(tolerance) if image.dtype.kind in "iu" else tolerance
    out = np.zeros(image.shape, bool)
    for point in np.rint(seeds).astype(int):
        out |= segmentation.flood(image, tuple(point), tolerance=step,
                                  connectivity=connectivity)
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("connectivity", [1, 2])
def test_2d_equals_flood(dtype, connectivity):
    image = as_dtype(nuclei_field(), dtype)
    rng = np.random.default_rng(7)
    seeds = np.column_stack([rng.uniform(0, 519, 15), rng.uniform(0, 695, 15)])
    tolerance = {np.uint8: 4.5, np.uint16: 40.0, np.int16: 35.7}.get(dtype, 0.01)
    np.testing.assert_array_equal(
        grow_regions(image, seeds, tolerance, connectivity=connectivity),
        reference_grow(image, seeds, tolerance, connectivity),
    )


def test_3d_equals_flood():
    volume = np.random.default_rng(8).integers(0, 20, (5, 12, 14)).astype(np.uint8)
    seeds = np.array([[2, 5, 6], [0, 0, 0], [4.4, 11.2, 13]])
    for connectivity in (1, 3):
        np.testing.assert_array_equal(grow_regions(volume, seeds, 6, connectivity=connectivity),
                                      reference_grow(volume, seeds, 6, connectivity))


@pytest.mark.parametrize("ndim", [2, 3])
def test_a_seed_inside_another_seeds_region_grows_its_own(ndim):
    """Seed 10 grows over 10..12; seed 12, inside that region, over 10..14 (3D once
    skipped it: a seed already covered by any region was taken as done)."""
    line = np.array([10, 12, 14, 16], np.uint8)
    image = line.reshape((1,) * (ndim - 1) + (4,))
    seeds = np.array([[0] * (ndim - 1) + [0], [0] * (ndim - 1) + [1]])
    got = grow_regions(image, seeds, 2, connectivity=1)
    np.testing.assert_array_equal(got.reshape(-1), [1, 1, 1, 0])
    np.testing.assert_array_equal(got, reference_grow(image, seeds, 2, 1))
