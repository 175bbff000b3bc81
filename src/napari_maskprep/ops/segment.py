"""Segmentation operations: an image in, a mask (uint8 0/1) or labels (int32) out.

Thresholds follow scikit-image's convention: the foreground of a threshold ``t`` is
``image > t`` ("bright"), and the "dark" foreground is its complement ``image <= t``.
Each op names its reference (scikit-image / scipy) in its Notes. Its fast paths are
kernels (``kernels/``), each tested equal to its reference on its own (``tests/kernels``).
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np

from ..core.enums import Connectivity
from ..core.errors import BadValueError, LimitError, MaskprepWarning
from ..core.locality import PIECE_OF, GlobalStat, Kind, Local, NonLocal, Pointwise
from ..core.registry import operation
from ..kernels.color import rgb_to_gray
from ..kernels.color_range import hsv_in_range
from ..kernels.edges import closed_regions, find_edges, unit_range
from ..kernels.gaussian import VECTOR_ALIGN
from ..kernels.local_threshold import gaussian_radius, local_threshold_mask, runs_fast
from ..kernels.region_grow import grow_regions
from ..kernels.thresholds import at_least, greater
from ..kernels.watershed import distance_watershed
from ._docs import fill_doc
from ._thresholding import (
    AutoPolarity,
    ThresholdMethod,
    auto_threshold_apply,
    auto_threshold_decide,
    auto_threshold_from_histogram,
    auto_threshold_values,
    check_kept_classes,
    classes_key,
    keep_classes,
    multi_threshold_decide,
    multi_threshold_thresholds,
    multi_threshold_values,
    threshold_histogram,
    threshold_histogram_key,
)

__all__ = [
    "AutoPolarity",
    "Connectivity",
    "EdgeMethod",
    "LocalMethod",
    "Polarity",
    "Side",
    "ThresholdMethod",
    "auto_threshold",
    "color_range",
    "edges",
    "local_threshold",
    "multi_threshold",
    "region_grow",
    "threshold",
    "watershed",
]


# The grey input several ops take, described once.
_GREY_IMAGE = {"image": """image : ndarray
        Grey image, 2D or 3D, any numeric dtype."""}


class Side(enum.StrEnum):
    """Which side of a manual threshold is foreground."""

    ABOVE = "above"
    BELOW = "below"


class Polarity(enum.StrEnum):
    """Whether the objects are brighter or darker than the threshold."""

    BRIGHT = "bright"
    DARK = "dark"


class LocalMethod(enum.StrEnum):
    """Local threshold methods."""

    SAUVOLA = "sauvola"
    NIBLACK = "niblack"
    MEAN = "mean"
    GAUSSIAN = "gaussian"


class EdgeMethod(enum.StrEnum):
    """Edge detectors."""

    CANNY = "canny"
    SOBEL = "sobel"


@operation("segment.threshold", input="image", output="mask", locality=Pointwise(), ndim=(2, 3))
@fill_doc(_GREY_IMAGE)
def threshold(
    image: np.ndarray,
    *,
    value: Annotated[float, {"step": 1.0, "label": "threshold", "unit": "intensity",
                             "range": "intensity", "pick": "intensity"}] = 128.0,
    polarity: Side = Side.ABOVE,
) -> np.ndarray:
    """Threshold at a fixed value: foreground is ``image > value`` (or ``image < value``).

    Parameters
    ----------
    %(image)s
    value : float
        Threshold, in the image's own intensity units (no rescaling).
    polarity : {'above', 'below'}
        ``above``: foreground is ``image > value``; ``below``: ``image < value``.
        Pixels equal to ``value`` are background either way.

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask of the image's shape.

    Notes
    -----
    Reference: ``image > value`` in NumPy, exact for every dtype: ``value`` is moved to the
    image's number grid first (``kernels.thresholds``).

    Examples
    --------
    >>> image = np.array([[0, 50, 100], [150, 200, 250]], dtype=np.uint8)
    >>> threshold(image, value=100)
    array([[0, 0, 0],
           [1, 1, 1]], dtype=uint8)
    >>> threshold(image, value=100, polarity="below")
    array([[1, 1, 0],
           [0, 0, 0]], dtype=uint8)
    """
    if Side(polarity) is Side.ABOVE:
        return greater(image, value)
    return at_least(image, value, invert=True)


@operation("segment.auto_threshold", input="image", output="mask", ndim=(2, 3),
           locality=GlobalStat(threshold_histogram, auto_threshold_from_histogram,
                               threshold_histogram_key, auto_threshold_decide,
                               auto_threshold_apply, thresholds=auto_threshold_values))
@fill_doc(_GREY_IMAGE)
def auto_threshold(
    image: np.ndarray,
    *,
    method: ThresholdMethod = ThresholdMethod.OTSU,
    polarity: AutoPolarity = AutoPolarity.AUTO,
) -> np.ndarray:
    """Threshold at a value computed from the image's histogram (Otsu, Li, Yen, ...).

    Parameters
    ----------
    %(image)s
    method : {'otsu', 'li', 'yen', 'triangle', 'isodata', 'mean', 'minimum'}
        The ``skimage.filters.threshold_<method>`` threshold.
    polarity : {'bright', 'dark', 'auto'}
        ``bright``: foreground is ``image > t``; ``dark``: ``image <= t``; ``auto``:
        the side holding fewer pixels, i.e. dark when more than half of the pixels are
        above ``t`` (the median is above it: dark nuclei on a bright background).

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask. A constant image has no threshold: a MaskprepWarning and an empty mask;
        the same when ``minimum`` finds no two histogram peaks.

    Notes
    -----
    Reference: ``skimage.filters.threshold_<method>(image)`` then ``image > t``; the
    threshold is identical, from the histogram scikit-image builds (``kernels.histogram``,
    ``kernels.thresholds``). Integer images spanning more than 2**20 values get 256 bins
    like floats, and so do those spanning more than 256 values for ``minimum``
    (scikit-image's takes minutes on a 16-bit histogram).

    Examples
    --------
    >>> image = np.array([[10, 10, 10, 10], [10, 200, 210, 10], [10, 10, 10, 10]], np.uint8)
    >>> auto_threshold(image, method="otsu")
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]], dtype=uint8)
    >>> auto_threshold(255 - image, method="otsu")  # dark objects found by polarity="auto"
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]], dtype=uint8)
    """
    params = {"method": method, "polarity": polarity}
    return auto_threshold_from_histogram(image, threshold_histogram(image, params), params)


@operation("segment.multi_threshold", input="image", output="mask", ndim=(2, 3),
           locality=GlobalStat(multi_threshold_values, keep_classes, classes_key,
                               multi_threshold_decide, keep_classes,
                               thresholds=multi_threshold_thresholds),
           check=check_kept_classes)
@fill_doc(_GREY_IMAGE)
def multi_threshold(
    image: np.ndarray,
    *,
    classes: Annotated[int, {"min": 2, "max": 5}] = 3,
    keep_from: Annotated[int, {"min": 0, "max": 4, "label": "keep classes from",
                               "below": "classes"}] = 1,
    keep_to: Annotated[int, {"min": 0, "max": 4, "label": "keep classes to",
                             "below": "classes"}] = 2,
) -> np.ndarray:
    """Split intensities into classes by multi-Otsu; keep a run of classes as foreground.

    Parameters
    ----------
    %(image)s
    classes : int
        Number of intensity classes (2 to 5).
    keep_from, keep_to : int
        The classes kept, ``keep_from`` to ``keep_to`` inclusive; 0 is the darkest class,
        ``classes - 1`` the brightest.

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask. An image with fewer distinct values than ``classes``: a MaskprepWarning
        and an empty mask.

    Notes
    -----
    Reference: ``t = skimage.filters.threshold_multiotsu(image, classes)``; class ``k``
    holds ``t[k-1] < image <= t[k]``, as ``image > t`` in scikit-image's binary
    thresholds, so ``classes=2`` keeping class 1 equals Otsu. The thresholds are identical
    (``kernels.thresholds``); integer images spanning more than 256 values get 256 bins,
    as floats do (4-5 classes would be intractable on 16-bit per-value bins).

    Examples
    --------
    >>> image = np.array([[0, 0, 100, 100, 200, 200]], np.uint8)
    >>> multi_threshold(image, classes=3, keep_from=1, keep_to=1)
    array([[0, 0, 1, 1, 0, 0]], dtype=uint8)
    """
    params = {"classes": classes, "keep_from": keep_from, "keep_to": keep_to}
    return keep_classes(image, multi_threshold_values(image, params), params)


def _local_threshold_halo(params: dict) -> int:
    block_size = params["block_size"]
    if params["method"] == LocalMethod.GAUSSIAN:
        return gaussian_radius(block_size)
    return block_size // 2


def _local_threshold_align(params: dict) -> int:
    # OpenCV's Gaussian rounds a pixel by where it falls in its vector lanes (as
    # preprocess.gaussian); the other methods sum exactly, or each window in one order
    # with exact products (a kernel of ones).
    return VECTOR_ALIGN if params["method"] == LocalMethod.GAUSSIAN else 1


# Sauvola and Niblack off the 2D fast path (3D, or a window as wide as the image) run
# scikit-image's, which pads the image by the window in float64 several times over: the
# padded image may hold this many times the image's pixels, or 2**22 pixels (0.5 s), if more.
# A window of 1001 asked for 8 GB on a 1 x 12 x 18 stack, and took 3.5 s on a 9 x 1 x 4 one.
LOCAL_MAX_PADDING = 16


def _check_odd_window(params: Mapping[str, Any]) -> None:
    if params["block_size"] % 2 == 0:
        raise BadValueError(
            f"block_size={params['block_size']} is not accepted; expected an odd integer >= 3"
        )


def _check_local_work(image: np.ndarray, method: LocalMethod, block_size: int,
                      k: float) -> None:
    """The window's padding within its bound. Sauvola and Niblack (``k != 0``) off the 2D
    fast path pad every axis at once, by scikit-image's code; the mean (theirs at k = 0)
    sums one axis at a time, reading past a short axis no more than three of its lengths
    whatever the window (``kernels.exact_local_mean``), and the Gaussian is SciPy's, which
    pads nothing. A tiled run's chunk is bounded as the whole image is (``PIECE_OF``)."""
    shape = (PIECE_OF.get() or image.shape)[:image.ndim]
    if method in (LocalMethod.GAUSSIAN, LocalMethod.MEAN) or k == 0:
        return
    if runs_fast(shape, block_size) or not _pads_too_much(shape, block_size):
        return
    largest = max((size for size in range(3, block_size, 2)
                   if runs_fast(shape, size) or not _pads_too_much(shape, size)), default=None)
    accepted = (f"block_size <= {largest}" if largest else "no block_size") + \
        " for this image, or k=0, or method 'mean' or 'gaussian' (any block_size)"
    raise LimitError(
        f"method {method.value!r} with k={k} and block_size={block_size} pads the image of "
        f"shape {shape} to {_padded(shape, block_size):.1e} pixels, more than "
        f"{LOCAL_MAX_PADDING} times its own (or 2**22); accepted: {accepted}")


def _padded(shape: tuple[int, ...], block_size: int) -> int:
    return math.prod(n + block_size - 1 for n in shape)


def _pads_too_much(shape: tuple[int, ...], block_size: int) -> bool:
    return _padded(shape, block_size) > max(2**22, LOCAL_MAX_PADDING * math.prod(shape))


# Not striped, though stripes with the window's halo give the whole image's mask bit for bit
# (sums exact or each window's in one order; tests/kernels/test_local_threshold_ties.py):
# on this shared 2-core machine they gained nothing (4096 x 4096, block 35, stripes/whole:
# mean and 8/16-bit Niblack and Sauvola 0.85-1.13 at the same CPU time; the Gaussian and
# float Niblack and Sauvola, cv2's separable filters held to one thread, 1.2-2.0).
@operation("segment.local_threshold", input="image", output="mask", ndim=(2, 3),
           locality=Local(halo=_local_threshold_halo, stripes=False,
                          align=_local_threshold_align), check=_check_odd_window)
@fill_doc(_GREY_IMAGE)
def local_threshold(
    image: np.ndarray,
    *,
    method: LocalMethod = LocalMethod.GAUSSIAN,
    block_size: Annotated[int, {"min": 3, "max": 1001, "step": 2, "unit": "px"}] = 35,
    offset: Annotated[float, {"step": 1.0, "unit": "intensity"}] = 0.0,
    k: Annotated[float, {"min": -1.0, "max": 1.0, "step": 0.05,
                         "when": {"method": ("sauvola", "niblack")}}] = 0.2,
    polarity: Polarity = Polarity.BRIGHT,
) -> np.ndarray:
    """Threshold each pixel against its neighbourhood (mean, Gaussian, Sauvola, Niblack).

    Parameters
    ----------
    %(image)s
    method : {'sauvola', 'niblack', 'mean', 'gaussian'}
        Local threshold ``T``: the mean over a ``block_size`` window; a Gaussian-weighted
        mean (sigma ``(block_size - 1) / 6``); Niblack ``m - k * s``; Sauvola
        ``m * (1 + k * (s / R - 1))`` with ``m``, ``s`` the window's mean and standard
        deviation and ``R`` half the dtype's range (1 for floats), as in scikit-image.
    block_size : int
        Odd window width in pixels (3 or more). Sauvola and Niblack at ``k != 0`` on 3D
        images, or with a window as wide as a 2D image, pad the image by the window: to at
        most ``LOCAL_MAX_PADDING`` (16) times its pixels or 2**22 pixels, else a
        ``LimitError`` naming the largest ``block_size`` the image takes. The mean and the
        Gaussian take any window (past the border the image reflects again and again).
    offset : float
        Subtracted from ``T`` (intensity units), as ``threshold_local``'s ``offset``.
    k : float
        Sauvola / Niblack weight of the local standard deviation (ignored otherwise).
    polarity : {'bright', 'dark'}
        ``bright``: foreground is ``image > T - offset``; ``dark``: its complement.

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask.

    Notes
    -----
    Reference: ``skimage.filters.threshold_local`` (mean, gaussian),
    ``threshold_sauvola`` / ``threshold_niblack`` (``window_size=block_size``). In 2D
    OpenCV computes ``T`` to about 1e-5 intensity units (``kernels.local_threshold``), so
    only pixels that close to ``T`` can differ. Every mask is the same in memory and tiled,
    in any process and thread count. Method mean, and Niblack and Sauvola at ``k = 0``
    (``T`` the mean), decide each pixel in exact arithmetic, any dtype: a pixel equal to
    its window's mean (as on a linear ramp) is background at offset 0. Otherwise a pixel
    within rounding of ``T`` is decided by it: Niblack's and Sauvola's ``T`` to about
    1e-15 (mean) and 1e-8 (deviation) of the largest magnitude in the window; the
    Gaussian's weights are rounded, so a linear ramp's pixels, on ``T`` in exact
    arithmetic, fall either way. A window holding one value ``v``
    thresholds at exactly ``v`` (Sauvola's ``v * (1 - k)``), so at offset 0 a flat area is
    background, in memory and tiled (by Sauvola with ``k > 0``, foreground if ``v > 0``).
    Float images of tiny (below 1e-154 in float64, 1e-19 in float32) or huge values are
    thresholded scaled by a power of two: the mask of ``image * 2**n`` with
    ``offset * 2**n`` is that of ``image`` (Sauvola's with ``R`` scaled alike, as ``R`` is
    1 for floats of any scale).

    Examples
    --------
    >>> image = np.zeros((3, 5), np.uint8)
    >>> image[1, 2] = 90
    >>> local_threshold(image, method="mean", block_size=3, offset=-5)
    array([[0, 0, 0, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 0, 0, 0]], dtype=uint8)
    """
    method = LocalMethod(method)
    _check_local_work(image, method, block_size, k)
    return local_threshold_mask(image, method.value, block_size, k, offset,
                                dark=Polarity(polarity) is Polarity.DARK)


_DEGREES = {"min": 0.0, "max": 360.0, "step": 1.0, "unit": "deg"}
_PERCENT = {"min": 0.0, "max": 100.0, "step": 1.0, "unit": "%"}


def _pick(measure: str, bound: str) -> dict[str, object]:
    """A colour bound a click on the image sets: the picked pixel's measure -/+ a margin."""
    return {"pick": measure, "bound": bound, "margin": 15.0}


@operation("segment.color_range", input="image", output="mask", locality=Pointwise(),
           ndim=(2, 3), channels="rgb")
def color_range(
    image: np.ndarray,
    *,
    hue_min: Annotated[float, _DEGREES | _pick("hue", "min")] = 0.0,
    hue_max: Annotated[float, _DEGREES | _pick("hue", "max")] = 360.0,
    sat_min: Annotated[float, _PERCENT | _pick("saturation", "min")] = 0.0,
    sat_max: Annotated[float, _PERCENT | _pick("saturation", "max")] = 100.0,
    val_min: Annotated[float, _PERCENT | _pick("value", "min")] = 0.0,
    val_max: Annotated[float, _PERCENT | _pick("value", "max")] = 100.0,
) -> np.ndarray:
    """Keep pixels whose colour lies in a hue / saturation / value box (HSV, human units).

    Parameters
    ----------
    image : ndarray
        RGB or RGBA image (last axis; alpha ignored), 2D or 3D. Integers are scaled by
        their dtype's maximum (uint8 255, uint16 65535); floats are expected in [0, 1].
    hue_min, hue_max : float
        Hue range in degrees (0 red, 120 green, 240 blue). ``hue_min > hue_max`` wraps
        through 360/0: 330 to 30 keeps reds. 0 to 360 keeps every hue.
    sat_min, sat_max : float
        Saturation range in percent (0 grey, 100 pure colour).
    val_min, val_max : float
        Value (brightness: the largest channel) range in percent.

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask of the spatial shape.

    Notes
    -----
    Reference: ``skimage.color.rgb2hsv`` (hue x 360, saturation and value x 100), kept
    where each lies in its range, bounds included (``kernels.color_range``). A colour
    within 0.003 degrees or percentage points of a bound counts as on it, so one colour
    stored as uint8, uint16 or float gives the same mask.

    Examples
    --------
    >>> image = np.array([[[255, 0, 0], [0, 255, 0], [255, 0, 40], [128, 128, 128],
    ...                    [255, 128, 0]]], np.uint8)  # hues 0, 120, 351, grey, 30.1
    >>> color_range(image, hue_min=330, hue_max=30, sat_min=50)  # reds only
    array([[1, 0, 1, 0, 0]], dtype=uint8)
    """
    if image.dtype.kind == "f":
        low, high = float(image[..., :3].min()), float(image[..., :3].max())
        if low < 0.0 or high > 1.0:
            warnings.warn(f"segment.color_range expects float RGB in [0, 1]; got values in "
                          f"[{low:g}, {high:g}] (value is then out of the 0-100 % scale)",
                          MaskprepWarning, stacklevel=3)
    return hsv_in_range(image, (hue_min, hue_max), (sat_min, sat_max), (val_min, val_max))


@operation("segment.region_grow", input="image", output="mask", locality=NonLocal(), ndim=(2, 3))
@fill_doc(_GREY_IMAGE)
def region_grow(
    image: np.ndarray,
    seeds: Annotated[np.ndarray, Kind.POINTS],
    *,
    tolerance: Annotated[float, {"min": 0.0, "step": 1.0, "unit": "intensity",
                                 "range": "intensity span"}] = 10.0,
    connectivity: Connectivity = Connectivity.FULL,
) -> np.ndarray:
    """Grow regions from seed points over pixels within ``tolerance`` of each seed's value.

    Parameters
    ----------
    %(image)s
    seeds : ndarray
        N x ndim seed coordinates (rounded to the nearest pixel).
    tolerance : float
        A pixel joins a seed's region if ``|value - seed value| <= tolerance`` and it is
        connected to the seed through such pixels. Each seed grows from its own value.
    connectivity : {'faces', 'full'}
        ``faces``: 4 neighbours in 2D (6 in 3D); ``full``: 8 (26).

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask: the union of the seeds' regions.

    Notes
    -----
    Reference: ``skimage.segmentation.flood(image, seed, tolerance=..., connectivity=1
    or ndim)`` for each seed, OR'ed, with ``floor(tolerance)`` on integer images, which
    makes the rule exactly ``|value - seed| <= tolerance``. Identical
    (``kernels.region_grow``: OpenCV in 2D). Tiled (a dask array in, the seeds a recipe
    input): identical, the regions joined across chunk faces (``engine.tiled_regions``).

    Examples
    --------
    >>> image = np.array([[10, 12, 50, 11], [11, 13, 50, 10]], np.uint8)
    >>> region_grow(image, np.array([[0, 0]]), tolerance=5)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]], dtype=uint8)
    """
    full = Connectivity(connectivity) is Connectivity.FULL
    return grow_regions(image, seeds, tolerance, connectivity=image.ndim if full else 1)


@operation("segment.watershed", input="mask", output="labels", locality=NonLocal(), ndim=(2, 3))
def watershed(
    mask: np.ndarray,
    markers: Annotated[np.ndarray | None, {"kind": (Kind.POINTS, Kind.LABELS)}] = None,
    image: Annotated[np.ndarray | None, Kind.IMAGE] = None,
    *,
    min_distance: Annotated[int, {"min": 1, "max": 100, "unit": "px"}] = 5,
) -> np.ndarray:
    """Split a mask into labelled objects by a watershed from distance peaks or markers.

    Parameters
    ----------
    mask : ndarray
        Foreground mask (labels are treated as one mask: ``mask > 0``), 2D or 3D.
    markers : ndarray, optional
        Seed points (N x ndim; point ``i`` seeds label ``i + 1``; points on background
        are ignored with a warning) or a labels image (its labels inside the mask seed,
        ids kept). Without markers, the seeds are the peaks of the distance to the
        background, ``min_distance`` apart, in every connected component.
    image : ndarray, optional
        Grey image to flood instead of the distance: the watershed runs on ``-image``, so
        bright objects split along darker seams (invert a dark-object image first). An
        RGB image is converted to grey with a warning.
    min_distance : int
        Smallest distance between two distance peaks, in pixels (unused with markers).

    Returns
    -------
    labels : ndarray of int32
        0 = background; every mask pixel is labelled (a component without a marker
        becomes one label).

    Notes
    -----
    Reference: ``scipy.ndimage.distance_transform_edt``, ``skimage.feature
    .peak_local_max(labels=components, exclude_border=False)``,
    ``skimage.segmentation.watershed(-distance, markers, mask=mask)``: identical labels
    (``kernels.watershed``, shared with ``refine.split_touching``); without markers or
    image, to the reference run on each connected component alone (on the whole array it
    may give the pixels where the floods of two equal peaks of one object meet to the
    other peak).

    Examples
    --------
    >>> mask = np.zeros((5, 9), np.uint8)
    >>> mask[1:4, 1:4] = mask[1:4, 5:8] = 1
    >>> mask[2, 4] = 1  # a one-pixel bridge joins two squares
    >>> watershed(mask, min_distance=1)
    array([[0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0, 2, 2, 2, 0],
           [0, 1, 1, 1, 1, 2, 2, 2, 0],
           [0, 1, 1, 1, 0, 2, 2, 2, 0],
           [0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=int32)
    """
    if image is not None and image.ndim == mask.ndim + 1:
        warnings.warn("segment.watershed floods a grey image; the RGB 'image' input was "
                      "converted to grey (luminance) first", MaskprepWarning, stacklevel=3)
        image = rgb_to_gray(image)
    return distance_watershed(mask, min_distance=min_distance, markers=markers, image=image)


def _check_hysteresis(params: Mapping[str, Any]) -> None:
    low, high = params["low"], params["high"]
    if low > high:
        raise BadValueError(f"low={low} is not accepted with high={high}; expected low <= high")


@operation("segment.edges", input="image", output="mask", locality=NonLocal(), ndim=(2,),
           check=_check_hysteresis)
def edges(
    image: np.ndarray,
    *,
    method: EdgeMethod = EdgeMethod.CANNY,
    sigma: Annotated[float, {"min": 0.0, "max": 20.0, "step": 0.1, "unit": "px"}] = 1.0,
    low: Annotated[float, {"min": 0.0, "max": 4.0, "step": 0.01,
                           "when": {"method": ("canny",)}}] = 0.1,
    high: Annotated[float, {"min": 0.0, "max": 4.0, "step": 0.01,
                            "when": {"method": ("canny",)}}] = 0.2,
    sobel_threshold: Annotated[float, {"min": 0.0, "max": 1.0, "step": 0.01,
                                       "when": {"method": ("sobel",)}}] = 0.05,
) -> np.ndarray:
    """Find edges (Canny or Sobel), then fill the regions they close; open edges vanish.

    Parameters
    ----------
    image : ndarray
        Grey 2D image, any numeric dtype.
    method : {'canny', 'sobel'}
        ``canny``: thin edges by hysteresis between ``low`` and ``high``; ``sobel``:
        pixels whose Sobel gradient magnitude exceeds ``sobel_threshold``.
    sigma : float
        Gaussian smoothing before the gradient, in pixels (0: none).
    low, high : float
        Canny hysteresis thresholds on the gradient magnitude of the image rescaled to
        [0, 1] by its own minimum and maximum (scikit-image's convention for float images),
        so they do not depend on dtype or exposure. ``low <= high``.
    sobel_threshold : float
        Sobel edge threshold, in the same [0, 1]-rescaled units (scikit-image's
        normalised Sobel: a sharp full-range step gives about 0.7).

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask of the regions enclosed by edges, the enclosing edges included. A
        constant image has no edges: a MaskprepWarning and an empty mask.

    Notes
    -----
    Reference: ``skimage.feature.canny`` / ``skimage.filters.sobel`` of
    ``skimage.filters.gaussian`` on the rescaled image, ``scipy.ndimage.binary_fill_holes``
    of the edges, and each 8-connected piece of it kept if it encloses a non-edge pixel: a
    closed ring gives a filled disk, an open arc nothing (``kernels.edges``). Tiled (a
    dask array in): Canny identical (``engine.tiled_regions``); Sobel is refused there,
    as OpenCV's float filters round a row's last columns otherwise than inside a longer row.

    Examples
    --------
    >>> image = np.zeros((5, 6), np.uint8)
    >>> image[1:4, 1:5] = 200  # a bright rectangle: its edges close around it
    >>> edges(image, sigma=0.5)
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 0, 0, 0, 0, 0]], dtype=uint8)
    """
    scaled = unit_range(image)
    if scaled is None:
        warnings.warn("segment.edges: the image is constant, so it has no edges; the mask is "
                      "empty", MaskprepWarning, stacklevel=3)
        return np.zeros(image.shape, np.uint8)
    edge_map = find_edges(scaled, method=EdgeMethod(method).value, sigma=sigma, low=low,
                          high=high, sobel_threshold=sobel_threshold)
    return closed_regions(edge_map)
