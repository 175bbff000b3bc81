"""kernels.edges equals its references: skimage.filters.sobel of skimage.filters.gaussian
(to 1e-6), scipy.ndimage.binary_fill_holes, and the closed regions scipy's fill and
8-connected labels give; Canny is skimage's own."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import feature, filters

from napari_maskprep import apply
from napari_maskprep.kernels.edges import (
    canny_candidates,
    canny_radius,
    closed_regions,
    find_edges,
    sobel_magnitude,
    unit_range,
)

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


@pytest.mark.parametrize(("dtype", "scale"), [(np.float64, 2.0**-1074), (np.float32, 2.0**-149)])
def test_unit_range_of_a_float_image_of_tiny_range(dtype, scale):
    # A span whose reciprocal overflows (5e-324 in float64, 1e-45 in float32) made it
    # inf times the pixels: NaN and inf, and segment.edges found no edges at all.
    levels = np.array([[0, 2, 1], [2, 0, 0]])
    out = unit_range((levels * scale).astype(dtype))
    assert out.dtype == dtype
    assert np.array_equal(out, [[0, 1, 0.5], [1, 0, 0]])


@pytest.mark.parametrize(("dtype", "scale"), [(np.float64, 2.0**-1074), (np.float64, 2.0**-1040),
                                              (np.float32, 2.0**-149), (np.float32, 2.0**-130)])
def test_edges_of_a_float_image_of_tiny_range(dtype, scale):
    image = np.zeros((9, 9))
    image[2:7, 2:7] = 2
    image[4, 4] = 1
    expected = np.zeros((9, 9), np.uint8)
    expected[2:7, 2:7] = expected[4, 1:8] = expected[1:8, 4] = 1
    assert np.array_equal(apply("segment.edges", (image * scale).astype(dtype)), expected)
    assert np.array_equal(apply("segment.edges", image), expected)


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


@pytest.mark.parametrize(("sigma", "low", "high"), [(1.0, 0.1, 0.2), (2.5, 0.02, 0.3),
                                                    (0.0, 0.15, 0.15)])
def test_canny_is_the_hysteresis_of_its_candidate_maps(nuclei, sigma, low, high):
    scaled = unit_range(nuclei)
    weak, strong = canny_candidates(scaled, sigma, low, high)
    assert not (strong & ~weak).any()
    pieces, _ = ndi.label(weak, np.ones((3, 3)))
    kept = np.isin(pieces, pieces[strong]) & weak
    np.testing.assert_array_equal(kept, feature.canny(scaled, sigma, low, high))


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.3])
def test_canny_candidates_of_a_window_with_its_margin_are_the_images(nuclei, sigma):
    """What a tiled run relies on: within ``canny_radius`` of a window's own pixels (or the
    image's border) lies all its candidate maps depend on."""
    scaled = unit_range(nuclei)
    whole = canny_candidates(scaled, sigma, 0.05, 0.2)
    r = canny_radius(sigma)
    for y0, y1, x0, x1 in [(50, 173, 61, 200), (0, 91, 13, 696), (100, 520, 0, 37),
                           (7, 29, 111, 130)]:
        a, b, c, d = max(0, y0 - r), min(520, y1 + r), max(0, x0 - r), min(696, x1 + r)
        part = canny_candidates(scaled[a:b, c:d], sigma, 0.05, 0.2)
        for got, want in zip(part, whole, strict=True):
            np.testing.assert_array_equal(got[y0 - a:y1 - a, x0 - c:x1 - c], want[y0:y1, x0:x1])
