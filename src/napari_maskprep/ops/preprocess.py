"""Preprocessing operations: image in, image out (denoise, equalise, pick a channel).

Every op names its reference implementation (scikit-image, SciPy or OpenCV) in its Notes;
its fast paths live in ``kernels/`` and are tested equal to that reference there, exactly or
within the tolerance the Notes state.

Output dtypes follow the package policy: integer images stay integer (rounded and clipped to
their range), float64 stays float64, other floats become float32 (float16 arrives as float32).
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import numpy as np

from ..core.errors import BadValueError, MaskprepWarning
from ..core.locality import GlobalStat, Local, NonLocal, Pointwise
from ..core.registry import operation
from ..core.validation import looks_rgb
from ..kernels.background import rolling_ball, subtract_below, white_tophat
from ..kernels.color import hed_channel, hsv_channel, lab_channel, rgb_to_gray
from ..kernels.dtypes import inverted
from ..kernels.exposure import (
    equalization_table,
    equalize_adaptive,
    equalize_global,
    percentiles,
    percentiles_from_counts,
    stretch,
)
from ..kernels.gaussian import VECTOR_ALIGN, gaussian_blur, kernel_radius
from ..kernels.histogram import ValueCounts
from ..kernels.median import median_filter, median_within_limits
from . import _fill_nan as filling
from ._fill_nan import NanFill

__all__ = [
    "BackgroundMethod",
    "ColorSpace",
    "NanFill",
    "background",
    "clahe",
    "color_channel",
    "equalize",
    "fill_nan",
    "gaussian",
    "invert",
    "median",
    "rescale",
    "to_gray",
]


def _per_channel(func: Callable[..., np.ndarray], image: np.ndarray, **params: Any) -> np.ndarray:
    """``func`` on a grey image, or on each colour channel of an RGB(A) image independently."""
    if not looks_rgb(image):
        return func(image, **params)
    return np.stack([func(image[..., c], **params) for c in range(image.shape[-1])], axis=-1)


def _constant_warning(op: str, value: Any, stacklevel: int = 6) -> None:
    warnings.warn(
        f"preprocess.{op}: the image is constant ({value}); nothing to equalise, so it is "
        "returned unchanged",
        MaskprepWarning,
        stacklevel=stacklevel,  # the caller of the op
    )


# --------------------------------------------------------------------------- colour


@operation("preprocess.to_gray", input="image", output="image", locality=Pointwise(),
           ndim=(2, 3), channels="any")
def to_gray(image: np.ndarray) -> np.ndarray:
    """Convert an RGB(A) image to grey (luminance), keeping its dtype.

    Parameters
    ----------
    image : ndarray
        RGB or RGBA image (colour on the last axis; alpha is ignored), 2D or 3D, any numeric
        dtype. A grey image is returned as a copy.

    Returns
    -------
    ndarray
        Grey image, same dtype as the input (integers rounded and saturated; float16 becomes
        float32).

    Notes
    -----
    Reference: ``skimage.color.rgb2gray`` (Rec. 709 weights ``0.2125 R + 0.7154 G + 0.0721
    B``), computed in the input's own dtype: a uint8 image stays uint8, where scikit-image
    returns float64 in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.zeros((1, 5, 3), dtype=np.uint8)
    >>> rgb[0, :, 0] = [0, 100, 255, 0, 0]
    >>> rgb[0, :, 1] = [0, 0, 0, 255, 0]
    >>> rgb[0, :, 2] = [0, 0, 0, 0, 255]
    >>> to_gray(rgb)
    array([[  0,  21,  54, 182,  18]], dtype=uint8)
    """
    return rgb_to_gray(image) if looks_rgb(image) else image.copy()


class ColorSpace(str, enum.Enum):  # noqa: UP042 (the design's Enum style)
    """Colour space from which :func:`color_channel` takes one channel."""

    RGB = "rgb"  # 0 red, 1 green, 2 blue
    HSV = "hsv"  # 0 hue, 1 saturation, 2 value
    LAB = "lab"  # 0 L*, 1 a*, 2 b* (CIE 1976, D65 white)
    HED = "hed"  # 0 hematoxylin, 1 eosin, 2 DAB (Ruifrok & Johnston colour deconvolution)


_CHANNEL_NAMES = (
    "rgb: 0 red, 1 green, 2 blue; hsv: 0 hue, 1 saturation, 2 value; "
    "lab: 0 L*, 1 a*, 2 b*; hed: 0 hematoxylin, 1 eosin, 2 DAB"
)


@operation("preprocess.color_channel", input="image", output="image", locality=Pointwise(),
           ndim=(2, 3), channels="rgb")
def color_channel(
    image: np.ndarray,
    *,
    space: Annotated[ColorSpace, {"label": "colour space"}] = ColorSpace.RGB,
    channel: Annotated[int, {"min": 0, "max": 2, "tooltip": _CHANNEL_NAMES}] = 0,
) -> np.ndarray:
    """Take one channel of an RGB(A) image in the RGB, HSV, CIE Lab or HED colour space.

    Parameters
    ----------
    image : ndarray
        RGB or RGBA image (colour on the last axis; alpha is ignored), 2D or 3D, any numeric
        dtype. Integers are scaled as ``skimage.util.img_as_float`` does (uint8 / 255);
        floats are taken as they are (expected in [0, 1]).
    space : {'rgb', 'hsv', 'lab', 'hed'}
        Colour space.
    channel : int
        Channel index, 0 to 2: rgb 0 red, 1 green, 2 blue; hsv 0 hue, 1 saturation, 2 value;
        lab 0 L*, 1 a*, 2 b*; hed 0 hematoxylin, 1 eosin, 2 DAB.

    Returns
    -------
    ndarray
        ``space='rgb'``: the channel, same dtype as the input. Otherwise float32 (float64 for
        a float64 input) in scikit-image's units: hue (a fraction of a turn: 0 red, 1/3
        green, 2/3 blue), saturation and value in [0, 1]; L* in [0, 100], a* and b* about
        [-128, 127]; stain densities >= 0 (about 0 to 2 for 8-bit images; nuclei are bright
        in hematoxylin).

    Notes
    -----
    References: ``skimage.color.rgb2hsv``, ``rgb2lab`` (D65) and ``rgb2hed``, exactly for
    float64 input; others in float32, within 1e-4 (HSV), 1e-3 (Lab units) and 1e-5 (stain
    density) of them.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.zeros((1, 5, 3), dtype=np.uint8)
    >>> rgb[0] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [128, 128, 128]]
    >>> color_channel(rgb, space="hsv", channel=0).round(3)
    array([[0.   , 0.333, 0.667, 0.   , 0.   ]], dtype=float32)
    >>> color_channel(rgb, space="lab", channel=0).round(1)
    array([[ 53.2,  87.7,  32.3, 100. ,  53.6]], dtype=float32)
    """
    if space is ColorSpace.RGB:
        return image[..., channel].copy()
    convert = {ColorSpace.HSV: hsv_channel, ColorSpace.LAB: lab_channel,
               ColorSpace.HED: hed_channel}[space]
    return convert(image[..., :3], channel)


# --------------------------------------------------------------------------- no-data


@operation("preprocess.fill_nan", input="image", output="image", ndim=(2, 3), channels="any",
           finite=False,
           locality=GlobalStat(filling.fill_statistic, filling.fill_apply, filling.fill_key,
                               decide=filling.fill_decide, apply_decision=filling.fill_apply,
                               summary=filling.finite_range))
def fill_nan(image: np.ndarray, *, fill: NanFill = NanFill.MINIMUM) -> np.ndarray:
    """Replace NaN and infinite pixels (no-data, as at registration borders) by one value.

    Parameters
    ----------
    image : ndarray
        2D or 3D image, grey or RGB(A), any numeric dtype; the only op that takes NaN and
        infinite values. Integer images have none and are returned unchanged (a copy).
    fill : {'minimum', 'maximum', 'zero', 'median'}
        The value: the smallest finite value of the image (the default: filled pixels read
        as background for bright objects), the largest, 0, or the median of the finite
        values. All channels of an RGB(A) image together give one value.

    Returns
    -------
    ndarray
        Same shape and dtype (float16 becomes float32), every value finite. An image with
        no finite pixel is refused (there is no statistic to take), except with ``zero``.

    Notes
    -----
    Reference: ``numpy.min``, ``max`` or ``median`` of ``image[numpy.isfinite(image)]`` in
    the image's dtype, then ``numpy.where(numpy.isfinite(image), image, value)``, exactly;
    of the zeros, -0.0 is the smaller (numpy's min and max return either).

    Tiled (a dask array in): exactly equal, from the chunks' finite extremes; a median
    from one to four more passes over the chunks, a radix select on the values' bits
    (:mod:`napari_maskprep.kernels.rank_select`).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[np.nan, 2.0, 5.0], [np.inf, 3.0, -np.inf]], dtype=np.float32)
    >>> fill_nan(image)
    array([[2., 2., 5.],
           [2., 3., 2.]], dtype=float32)
    >>> fill_nan(image, fill="median")
    array([[3., 2., 5.],
           [3., 3., 3.]], dtype=float32)
    """
    params = {"fill": fill}
    return filling.fill_apply(image, filling.fill_statistic(image, params), params)


# --------------------------------------------------------------------------- denoise

# Not striped: the kernel runs its own tiles on threads, or cv2's parallel sepFilter2D.
# Aligned to VECTOR_ALIGN px: cv2's vector loop (fused multiply-add) and its shorter tail
# round a pixel differently, so a window's columns must fall in the loop the whole image's do.
@operation("preprocess.gaussian", input="image", output="image",
           locality=Local(halo=lambda p: kernel_radius(p["sigma"]) + 1, stripes=False,
                          align=lambda p: VECTOR_ALIGN),
           ndim=(2, 3), channels="any")
def gaussian(
    image: np.ndarray,
    *,
    sigma: Annotated[float, {"min": 0.1, "max": 50.0, "step": 0.1, "unit": "px"}] = 1.0,
) -> np.ndarray:
    """Gaussian blur, keeping the image's dtype (integers rounded).

    Parameters
    ----------
    image : ndarray
        2D or 3D image, grey or RGB(A) (channels are blurred independently), any numeric dtype.
    sigma : float
        Standard deviation of the Gaussian in pixels, the same along every spatial axis. The
        kernel is cut at 4 sigma; beyond the border the edge pixel is repeated.

    Returns
    -------
    ndarray
        Blurred image, same shape and dtype (float16 becomes float32).

    Notes
    -----
    Reference: ``skimage.filters.gaussian(image, sigma, preserve_range=True, truncate=4,
    mode='nearest')``, rounded for integer images. The fast paths (``cv2.sepFilter2D``, in
    cache-sized tiles where it pays) are within 1 grey level of it for integers and 1e-4
    relative for floats.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((5, 5), dtype=np.uint8)
    >>> image[2, 2] = 255
    >>> gaussian(image, sigma=1.0)
    array([[ 1,  3,  5,  3,  1],
           [ 3, 15, 25, 15,  3],
           [ 5, 25, 41, 25,  5],
           [ 3, 15, 25, 15,  3],
           [ 1,  3,  5,  3,  1]], dtype=uint8)
    """
    return gaussian_blur(image, sigma, has_channels=looks_rgb(image))


def _median_fits(data: np.ndarray, params: Mapping[str, Any]) -> bool:
    """Whether the median of ``data`` stays within its limits; only then does it run in
    stripes, so that a refusal names the whole image's shape."""
    shape = data.shape[:-1] if looks_rgb(data) else data.shape
    return median_within_limits(shape, data.dtype, params["radius"])


@operation("preprocess.median", input="image", output="image",
           locality=Local(halo=lambda p: p["radius"], stripes=_median_fits),
           ndim=(2, 3), channels="any")
def median(
    image: np.ndarray,
    *,
    radius: Annotated[int, {"min": 1, "max": 25, "unit": "px"}] = 1,
) -> np.ndarray:
    """Median filter over a disk (2D) or ball (3D), keeping the image's dtype.

    Parameters
    ----------
    image : ndarray
        2D or 3D image, grey or RGB(A) (channels are filtered independently), any numeric
        dtype.
    radius : int
        Radius of the footprint, ``skimage.morphology.disk(radius)`` or ``ball(radius)``.
        Footprints of over 49 pixels are limited to ``MEDIAN_MAX_STEPS`` (2**31) steps
        and ``MEDIAN_MAX_OFFSET_BYTES`` (1 GB) of scipy's offsets: a larger radius on a
        larger image (radius 25 on a 16 x 61 x 57 float stack, on a 2048 x 2048 float
        image) raises a ``LimitError`` before starting.
        Beyond the border the edge pixel is repeated.

    Returns
    -------
    ndarray
        Filtered image, same shape and dtype (float16 becomes float32).

    Notes
    -----
    Reference: ``skimage.filters.median(image, footprint)`` (``scipy.ndimage.median_filter``
    with ``mode='nearest'``), exactly equal (``kernels.median``: selection networks up to 49
    pixels, ``skimage.filters.rank.median`` for larger uint8 footprints, and for 16-bit
    integer images of at most 1024 distinct values, by their ranks).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[1, 1, 1, 1],
    ...                   [1, 9, 1, 1],
    ...                   [1, 1, 5, 5],
    ...                   [1, 5, 5, 5]], dtype=np.uint8)
    >>> median(image, radius=1)
    array([[1, 1, 1, 1],
           [1, 1, 1, 1],
           [1, 5, 5, 5],
           [1, 5, 5, 5]], dtype=uint8)
    """
    return _per_channel(median_filter, image, radius=radius)


# --------------------------------------------------------------------------- contrast


def _equalize_decide(counts: ValueCounts, params: Mapping[str, Any]) -> np.ndarray | None:
    """The look-up table ``equalize`` applies to the image of ``counts`` (a tiled run's
    whole-image summary); None for a constant image, returned unchanged."""
    present = np.flatnonzero(counts.counts)
    if len(present) == 1:
        _constant_warning("equalize", counts.low + int(present[0]), stacklevel=3)
        return None
    return equalization_table(counts.counts, counts.dtype)


def _equalize_apply(image: np.ndarray, table: np.ndarray | None,
                    params: Mapping[str, Any]) -> np.ndarray:
    if table is None:
        return image.copy()
    low = int(np.iinfo(image.dtype).min)
    return table[image if low == 0 else image.astype(np.int32) - low]


@operation("preprocess.equalize", input="image", output="image", ndim=(2, 3),
           locality=GlobalStat(decide=_equalize_decide, apply_decision=_equalize_apply))
def equalize(image: np.ndarray) -> np.ndarray:
    """Global histogram equalisation: the darkest value to 0, the brightest to the maximum.

    Parameters
    ----------
    image : ndarray
        2D or 3D grey image, any numeric dtype.

    Returns
    -------
    ndarray
        Same dtype (float16 becomes float32). With ``cdf(v)`` the number of pixels <= v,
        ``N`` the number of pixels and ``m`` the count of the smallest value, each value v
        maps to ``(cdf(v) - m) / (N - m)`` times the dtype's maximum, rounded, for integers
        (signed integers use 0..max), or in [0, 1] for floats. A constant image is returned
        unchanged with a warning.

    Notes
    -----
    Reference: ``cv2.equalizeHist``'s formula, exactly (that function for uint8). Floats and
    32/64-bit integers use every distinct value as a bin. ``skimage.exposure.equalize_hist``
    differs: it returns ``cdf(v) / N`` (the darkest value does not reach 0) and bins floats
    in 256 bins; for integer images ours is its result ``s`` stretched as
    ``(s - s.min()) / (1 - s.min())`` to the dtype's range, rounded.

    Tiled (a dask array in): 8- and 16-bit integer images only, exactly equal, from the
    value counts of the chunks added up; other dtypes are refused before any work (a float
    image of a whole slide may hold a distinct value per pixel: its table would not fit in
    memory).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[10, 10, 10, 20],
    ...                   [30, 40, 50, 200]], dtype=np.uint8)
    >>> equalize(image)
    array([[  0,   0,   0,  51],
           [102, 153, 204, 255]], dtype=uint8)
    """
    lowest, highest = image.min(), image.max()
    if lowest == highest:
        _constant_warning("equalize", lowest)
        return image.copy()
    return equalize_global(image)


@operation("preprocess.clahe", input="image", output="image", locality=NonLocal(), ndim=(2,))
def clahe(
    image: np.ndarray,
    *,
    clip_limit: Annotated[float, {
        "min": 0.0, "max": 100.0, "step": 0.5, "label": "clip limit",
        "tooltip": "histogram bins are cut at clip limit x the mean bin count; "
                   "0 = no limit (plain adaptive equalisation)",
    }] = 2.0,
    tiles: Annotated[int, {
        "min": 1, "max": 64, "label": "tiles per axis",
        "tooltip": "the image is cut into tiles x tiles regions, each equalised on its own",
    }] = 8,
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (CLAHE), OpenCV's.

    Parameters
    ----------
    image : ndarray
        2D grey image, any numeric dtype (run a stack with ``per_plane``).
    clip_limit : float
        OpenCV's ``clipLimit``: each tile's histogram is clipped at ``clip_limit`` times its
        mean bin count (at least 1) and the excess spread over all bins. 0 disables clipping.
    tiles : int
        Number of tiles along each axis (OpenCV's ``tileGridSize`` is ``(tiles, tiles)``),
        at most the image's shorter side: a tile holds at least one pixel.

    Returns
    -------
    ndarray
        Same dtype: integers in 0..their maximum, floats in [0, 1] (float32, float64 for
        float64). A constant image is returned unchanged with a warning.

    Notes
    -----
    Reference: ``cv2.createCLAHE(clip_limit, (tiles, tiles)).apply`` (other dtypes than
    uint8 and uint16 mapped linearly from their [min, max] to uint16 and back). Not
    ``skimage.exposure.equalize_adapthist``: its ``clip_limit=0.01`` is about OpenCV's 2.5.

    Tiled (a dask array in): uint8 and uint16 images, exactly equal (the regions'
    histograms added up over the chunks, ``kernels.clahe``); 16-bit images take up to 22
    tiles a side there (the histograms of all regions are held at once); other dtypes are
    refused before any work.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[10, 10, 20, 20],
    ...                   [10, 10, 20, 30]], dtype=np.uint8)
    >>> clahe(image, clip_limit=0.0, tiles=1)
    array([[128, 128, 223, 223],
           [128, 128, 223, 255]], dtype=uint8)
    """
    if tiles > min(image.shape):
        # OpenCV would mirror the image until every tile holds a pixel, and for 16-bit
        # levels count 65536 bins a tile: 0.7 s for a 1 x 2 image at tiles=64.
        raise BadValueError(
            f"preprocess.clahe: tiles={tiles} is more than the image's {min(image.shape)} "
            f"pixels along its shorter side (shape {image.shape}); accepted: tiles up to "
            f"{min(image.shape)}"
        )
    lowest, highest = image.min(), image.max()
    if lowest == highest:
        _constant_warning("clahe", lowest)
        return image.copy()
    return equalize_adaptive(image, clip_limit, tiles, lowest=lowest, highest=highest)


def _rescale_channel(image: np.ndarray, low: float, high: float) -> np.ndarray:
    lo, hi = percentiles(image, low, high)
    _warn_if_equal(low, high, lo, hi, stacklevel=8)
    return stretch(image, lo, hi)


def _warn_if_equal(low: float, high: float, lo: float, hi: float, stacklevel: int) -> None:
    if hi == lo:
        warnings.warn(
            f"preprocess.rescale: percentiles {low} and {high} are the same value ({lo}); "
            "pixels above it are set to the maximum, the rest to 0",
            MaskprepWarning,
            stacklevel=stacklevel,  # the caller of the op
        )


def _rescale_decide(counts: ValueCounts, params: Mapping[str, Any]) -> tuple[float, float]:
    """The two percentiles of one channel of a tiled run's image, from its value counts."""
    low, high = params["low"], params["high"]
    lo, hi = percentiles_from_counts(counts.counts, counts.low, counts.dtype, low, high)
    _warn_if_equal(low, high, lo, hi, stacklevel=3)
    return lo, hi


def _rescale_apply(image: np.ndarray, bounds: tuple[float, float],
                   params: Mapping[str, Any]) -> np.ndarray:
    return stretch(image, *bounds)


def _check_percentiles(params: Mapping[str, Any]) -> None:
    low, high = params["low"], params["high"]
    if low >= high:
        raise BadValueError(
            f"low={low} must be below high={high}; accepted: percentiles 0 <= low < high <= 100"
        )


@operation("preprocess.rescale", input="image", output="image", ndim=(2, 3), channels="any",
           locality=GlobalStat(decide=_rescale_decide, apply_decision=_rescale_apply,
                               per_channel=True), check=_check_percentiles)
def rescale(
    image: np.ndarray,
    *,
    low: Annotated[float, {"min": 0.0, "max": 100.0, "step": 0.1, "unit": "%"}] = 1.0,
    high: Annotated[float, {"min": 0.0, "max": 100.0, "step": 0.1, "unit": "%"}] = 99.0,
) -> np.ndarray:
    """Percentile contrast stretch: the ``low`` percentile to 0, ``high`` to the maximum.

    Parameters
    ----------
    image : ndarray
        2D or 3D image, grey or RGB(A) (each channel stretched by its own percentiles), any
        numeric dtype.
    low, high : float
        Percentiles (0 to 100, ``low < high``) mapped to the bottom and the top of the output
        range; values outside are clipped.

    Returns
    -------
    ndarray
        Same dtype (float16 becomes float32): integers span 0..the dtype's maximum (signed
        integers too), rounded; floats span [0, 1]. If both percentiles are the same value
        (a near-constant image) a warning is given and pixels above it get the maximum, the
        rest 0.

    Notes
    -----
    Reference: ``skimage.exposure.rescale_intensity(image, in_range=(p_low, p_high),
    out_range=(0, max))`` with ``numpy.percentile``; integers are rounded where
    scikit-image truncates. Exactly equal for uint8/uint16, within 1e-6 for floats.

    Tiled (a dask array in): 8- and 16-bit integer images only, exactly equal (the
    percentiles follow from the value counts of the chunks added up, per channel); other
    dtypes are refused before any work (a float image of a whole slide may hold a distinct
    value per pixel: its counts would not fit in memory).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[0, 50, 100, 150, 200]], dtype=np.uint8)
    >>> rescale(image, low=0.0, high=75.0)
    array([[  0,  85, 170, 255, 255]], dtype=uint8)
    """
    return _per_channel(_rescale_channel, image, low=low, high=high)


class BackgroundMethod(str, enum.Enum):  # noqa: UP042 (the design's Enum style)
    """How :func:`background` estimates the background."""

    ROLLING_BALL = "rolling_ball"  # skimage.restoration.rolling_ball
    TOPHAT = "tophat"  # morphological opening with a disk / ball (white top-hat)


def _background_halo(params: Mapping[str, Any]) -> int:
    # A top-hat is an erosion then a dilation, each reaching `radius`; the rolling ball
    # (scikit-image's) is a single non-flat erosion.
    return params["radius"] * (2 if params["method"] == BackgroundMethod.TOPHAT else 1)


@operation("preprocess.background", input="image", output="image",
           locality=Local(halo=_background_halo), ndim=(2, 3))
def background(
    image: np.ndarray,
    *,
    method: BackgroundMethod = BackgroundMethod.ROLLING_BALL,
    radius: Annotated[int, {"min": 1, "max": 200, "unit": "px"}] = 25,
    light_background: Annotated[bool, {
        "label": "light background",
        "tooltip": "dark objects on a bright background (brightfield, H&E)",
    }] = False,
) -> np.ndarray:
    """Subtract a smooth background, keeping objects smaller than ``radius``.

    Parameters
    ----------
    image : ndarray
        2D or 3D grey image, any numeric dtype.
    method : {'rolling_ball', 'tophat'}
        'rolling_ball': ``skimage.restoration.rolling_ball``, a ball of radius ``radius``
        rolled under the intensity surface (``radius`` is also its height in grey levels:
        on floats in [0, 1] it acts as a flat disk); time grows with the radius squared
        (cubed in 3D). 'tophat': white top-hat, the image minus its opening by a disk (2D)
        or ball (3D) of radius ``radius``; time grows with the radius (squared in 3D).
    radius : int
        Ball or disk radius in pixels: larger than the objects to keep. The work is limited
        to ``BACKGROUND_MAX_BYTES`` (2**39 bytes passed over, about half a minute): beyond it
        (3D radius 200 on a 64 x 512 x 512 stack) a ``LimitError`` is raised before starting.
    light_background : bool
        For dark objects on a bright background: the image is inverted (as
        ``skimage.util.invert``), the background subtracted, and the result inverted back:
        objects stay dark on a flat bright background (the dtype's maximum; 1.0 for floats).

    Returns
    -------
    ndarray
        Same dtype (float16 becomes float32). Without ``light_background`` values are
        >= 0: the background is 0.

    Notes
    -----
    References: ``image - skimage.restoration.rolling_ball(image, radius=radius)`` and
    ``skimage.morphology.white_tophat(image, disk(radius) / ball(radius))``, exactly equal
    (where a signed difference would overflow it saturates; scikit-image wraps around).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((5, 5), 10, dtype=np.uint8)
    >>> image[1, 1], image[3:] = 90, 20
    >>> background(image, method="tophat", radius=1)
    array([[ 0,  0,  0,  0,  0],
           [ 0, 80,  0,  0,  0],
           [ 0,  0,  0,  0,  0],
           [ 0,  0,  0,  0,  0],
           [ 0,  0,  0,  0,  0]], dtype=uint8)
    """
    image = inverted(image) if light_background else image
    if method is BackgroundMethod.TOPHAT:
        result = white_tophat(image, radius)
    else:
        result = subtract_below(image, rolling_ball(image, radius))
    return inverted(result) if light_background else result


@operation("preprocess.invert", input="image", output="image", locality=Pointwise(),
           ndim=(2, 3), channels="any")
def invert(image: np.ndarray) -> np.ndarray:
    """Invert intensities within the dtype's range, as ``skimage.util.invert``.

    Parameters
    ----------
    image : ndarray
        2D or 3D image, grey or RGB(A), any numeric dtype. An alpha channel is kept as it is.

    Returns
    -------
    ndarray
        Same dtype (float16 becomes float32): unsigned integers ``max - x`` (uint8
        ``255 - x``, uint16 ``65535 - x``); signed integers ``-1 - x`` (``max + min - x``,
        so the range maps onto itself); floats ``1 - x`` (images in [0, 1] stay in [0, 1]).

    Notes
    -----
    For integers both formulas are the bitwise complement ``~x`` (``numpy.invert``), which
    cannot overflow.

    Examples
    --------
    >>> import numpy as np
    >>> invert(np.array([[0, 1, 254, 255]], dtype=np.uint8))
    array([[255, 254,   1,   0]], dtype=uint8)
    >>> invert(np.array([[-128, -1, 0, 127]], dtype=np.int8))
    array([[ 127,    0,   -1, -128]], dtype=int8)
    >>> invert(np.array([[0.0, 0.25, 1.0]], dtype=np.float32))
    array([[1.  , 0.75, 0.  ]], dtype=float32)
    """
    inverted_image = inverted(image)
    if looks_rgb(image) and image.shape[-1] == 4:
        inverted_image[..., 3] = image[..., 3]
    return inverted_image
