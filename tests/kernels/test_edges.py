"""kernels.edges equals its references: skimage.filters.sobel of skimage.filters.gaussian
(to 1e-6), scipy.ndimage.binary_fill_holes, and the closed regions scipy's fill and
8-connected labels give; Canny is skimage's own."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import feature, filters

from napari_maskprep.kernels.edges import closed_regions, find_edges, sobel_magnitude, unit_range

from ..segment_images import nuclei_field


@pytest.fixture(scope="module")
def nuclei() -> np.ndarray:
    return nuclei_field()


def reference_closed_regions(edge_map):
    filled = ndi.binary_fill_holes(edge_map)
    pieces, n = ndi.label(filled, np.ones((3, 3)))
    encloses = np.zeros(n + 1, bool)
    encloses[pieces[filled & ~edge_map]] = True
    encloses[0] = False
    return encloses[pieces]


def test_unit_range_rescales_by_minimum_and_maximum(nuclei):
    image = nuclei[:64, :80]
    low, high = float(image.min()), float(image.max())
    np.testing.assert_allclose(unit_range(image), (image - low) / (high - low), atol=1e-6)
    assert unit_range(np.full((3, 4), 7, np.uint8)) is None


def test_closed_regions_ring_filled_arc_dropped():
    ring = np.array([[0, 0, 0, 0, 0, 0, 0],
                     [0, 0, 1, 1, 1, 0, 0],
                     [0, 1, 0, 0, 0, 1, 0],
                     [0, 1, 0, 0, 0, 1, 0],
                     [0, 1, 0, 0, 0, 1, 0],
                     [0, 0, 1, 1, 1, 0, 0],
                     [0, 0, 0, 0, 0, 0, 0]], np.uint8)  # 8-connected: diagonal corners close it
    filled = np.array([[0, 0, 0, 0, 0, 0, 0],
                       [0, 0, 1, 1, 1, 0, 0],
                       [0, 1, 1, 1, 1, 1, 0],
                       [0, 1, 1, 1, 1, 1, 0],
                       [0, 1, 1, 1, 1, 1, 0],
                       [0, 0, 1, 1, 1, 0, 0],
                       [0, 0, 0, 0, 0, 0, 0]], np.uint8)
    np.testing.assert_array_equal(closed_regions(ring), filled)
    arc = ring.copy()
    arc[5, 2:5] = 0  # open at the bottom
    np.testing.assert_array_equal(closed_regions(arc), np.zeros((7, 7), np.uint8))
    both = np.hstack([ring, arc])
    np.testing.assert_array_equal(closed_regions(both), np.hstack([filled, 0 * filled]))


def test_closed_regions_equals_scipy_reference():
    rng = np.random.default_rng(10)
    for density in (0.3, 0.5, 0.7):
        edge_map = rng.random((100, 130)) < density
        np.testing.assert_array_equal(closed_regions(edge_map),
                                      reference_closed_regions(edge_map))


def test_sobel_fast_path_equals_reference(nuclei):
    scaled = unit_range(nuclei[:256, :320])
    for sigma in (0.0, 1.0, 2.5):
        reference = filters.sobel(filters.gaussian(scaled, sigma=sigma) if sigma else scaled)
        fast = sobel_magnitude(scaled, sigma)
        np.testing.assert_allclose(fast, reference, atol=1e-6)
        threshold = 0.02
        differs = (fast > threshold) != (reference > threshold)
        assert not np.any(differs & (np.abs(reference - threshold) > 1e-6))
    edge_map = find_edges(scaled, method="sobel", sigma=1.0, low=0.1, high=0.2,
                          sobel_threshold=0.02)
    np.testing.assert_array_equal(
        closed_regions(edge_map),
        reference_closed_regions(filters.sobel(filters.gaussian(scaled, sigma=1.0)) > 0.02))


def test_canny_regions_equal_reference(nuclei):
    scaled = unit_range(nuclei[:256, :320])
    edge_map = find_edges(scaled, method="canny", sigma=2.0, low=0.05, high=0.1,
                          sobel_threshold=0.05)
    reference = feature.canny(scaled, sigma=2.0, low_threshold=0.05, high_threshold=0.1)
    np.testing.assert_array_equal(closed_regions(edge_map), reference_closed_regions(reference))
