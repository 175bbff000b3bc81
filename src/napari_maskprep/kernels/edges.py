"""Edges to regions: Canny or Sobel edges of an image rescaled to [0, 1], then the regions
the edges close, filled.

Reference: ``skimage.feature.canny`` / ``skimage.filters.sobel`` of
``skimage.filters.gaussian``, on the image rescaled by its own minimum and maximum;
``scipy.ndimage.binary_fill_holes`` of the edge map, and ``scipy.ndimage.label`` (8
neighbours) to keep each filled piece that encloses a non-edge pixel. Fast paths: hole
filling by ``components.fill_holes`` (identical), pieces by
``cv2.connectedComponents`` (identical), Sobel by ``cv2.GaussianBlur`` + ``cv2.Sobel`` (the
same kernels and borders; magnitudes agree to about 1e-6, so only pixels that close to the
threshold can differ). Canny is scikit-image's (OpenCV's smooths and scales differently).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage import feature

from .components import fill_holes

__all__ = ["canny_candidates", "canny_radius", "closed_regions", "find_edges", "scaled_to_unit",
           "sobel_magnitude", "unit_range"]


def unit_range(image: np.ndarray) -> np.ndarray | None:
    """The image rescaled to [0, 1] by its own minimum and maximum; None if constant."""
    low, high = float(image.min()), float(image.max())
    if low == high:
        return None
    return scaled_to_unit(image, low, high)


def scaled_to_unit(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """``image`` mapped from [low, high] (``low < high``) to [0, 1], pixel by pixel."""
    work = np.float64 if image.dtype == np.float64 else np.float32
    scaled = image.astype(work)
    scaled -= work(low)
    if 1.0 / (high - low) <= float(np.finfo(work).max):
        scaled *= work(1.0 / (high - low))
    else:  # a span below 3e-39 (float32) or 6e-309 (float64): its reciprocal is inf
        scaled /= work(high) - work(low)
    return scaled


def find_edges(scaled: np.ndarray, *, method: str, sigma: float, low: float, high: float,
               sobel_threshold: float) -> np.ndarray:
    """Edges of ``scaled`` (an image in [0, 1]) after a Gaussian of ``sigma``: "canny" by
    hysteresis between ``low`` and ``high``, "sobel" where the magnitude exceeds
    ``sobel_threshold``."""
    if method == "canny":
        return feature.canny(scaled, sigma=sigma, low_threshold=low, high_threshold=high)
    return sobel_magnitude(scaled, sigma) > sobel_threshold


def canny_candidates(scaled: np.ndarray, sigma: float, low: float, high: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The two maps ``skimage.feature.canny`` runs its hysteresis on: the local maxima of
    the gradient of at least ``low``, and those of at least ``high`` (``low <= high``).

    Its non-maximum suppression does not depend on the thresholds, and with both
    thresholds equal every candidate is kept: ``canny(image, sigma, t, t)`` is exactly the
    map at ``t``. Canny's edges are the 8-connected pieces of the first map that hold a
    pixel of the second.
    """
    return (feature.canny(scaled, sigma=sigma, low_threshold=low, high_threshold=low),
            feature.canny(scaled, sigma=sigma, low_threshold=high, high_threshold=high))


def canny_radius(sigma: float) -> int:
    """How far from a pixel Canny's edge decision before the hysteresis looks: the
    Gaussian's radius (scipy's, truncated at 4 sigma), one more for the Sobel gradient
    and one for the non-maximum suppression, which compares the gradient's neighbours."""
    return int(4.0 * sigma + 0.5) + 2


def sobel_magnitude(scaled: np.ndarray, sigma: float) -> np.ndarray:
    """``skimage.filters.sobel(skimage.filters.gaussian(scaled, sigma))`` by OpenCV."""
    if sigma > 0:
        size = 2 * int(4.0 * sigma + 0.5) + 1
        scaled = cv2.GaussianBlur(scaled, (size, size), sigma, sigmaY=sigma,
                                  borderType=cv2.BORDER_REPLICATE)
    # skimage's kernels are [1, 0, -1] x [1, 2, 1] / 4; magnitude sqrt((gx^2 + gy^2) / 2).
    gx = cv2.Sobel(scaled, -1, 1, 0, ksize=3, scale=0.25, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(scaled, -1, 0, 1, ksize=3, scale=0.25, borderType=cv2.BORDER_REFLECT)
    magnitude = cv2.magnitude(gx, gy)
    magnitude *= scaled.dtype.type(math.sqrt(0.5))
    return magnitude


def closed_regions(edge_map: np.ndarray) -> np.ndarray:
    """Regions enclosed by edges, as a uint8 mask: closed contours filled, open ones dropped.

    The edges are filled (``binary_fill_holes``); a connected piece of the filled map
    (8-connected) is kept, edges and interior, if it encloses at least one non-edge
    pixel. An open fragment encloses nothing and disappears.
    """
    edge_map = edge_map.view(np.uint8)
    filled = fill_holes(edge_map, None)
    n, pieces = cv2.connectedComponents(filled, connectivity=8, ltype=cv2.CV_32S)
    encloses = np.zeros(n, np.uint8)
    encloses[pieces[filled > edge_map]] = 1
    encloses[0] = 0
    return encloses[pieces]
