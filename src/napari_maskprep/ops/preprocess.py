"""Preprocessing operations: image in, image out (denoise, equalise, pick a channel).

Every op names its reference implementation (scikit-image or SciPy) in its Notes. Where
OpenCV, a look-up table or plain numpy is faster, that fast path is used only where
``tests/ops/test_preprocess.py`` shows it equal to the reference: exactly, or within the
tolerance the Notes state.

Output dtypes follow the package policy: integer images stay integer (rounded and clipped to
their range), float64 stays float64, other floats become float32.
"""

from __future__ import annotations

import enum
import itertools
import math
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, NamedTuple

import cv2
import numpy as np

from ..core.errors import BadValueError, LimitError, MaskprepWarning
from ..core.locality import GlobalStat, Local, NonLocal, Pointwise
from ..core.registry import operation
from ..core.validation import looks_rgb
from ..kernels.color import hed_channel, hsv_channel, lab_channel, rgb_to_gray
from ..kernels.dtypes import (
    CV_DTYPES,
    elementwise_min_max,
    inverted,
)
from ..kernels.exposure import equalize_adaptive, equalize_global, percentiles, stretch
from ..kernels.gaussian import gaussian_blur, kernel_radius
from ..kernels.median import median_filter, median_within_limits
from ..kernels.threads import thread_budget

__all__ = [
    "BackgroundMethod",
    "ColorSpace",
    "background",
    "clahe",
    "color_channel",
    "equalize",
    "gaussian",
    "invert",
    "median",
    "rescale",
    "to_gray",
]


def _no_half(image: np.ndarray) -> np.ndarray:
    """float16 as float32, the dtype the output will have (nothing here computes in float16)."""
    return image.astype(np.float32) if image.dtype == np.float16 else image


def _per_channel(func: Callable[..., np.ndarray], image: np.ndarray, **params: Any) -> np.ndarray:
    """``func`` on a grey image, or on each colour channel of an RGB(A) image independently."""
    if not looks_rgb(image):
        return func(image, **params)
    return np.stack([func(image[..., c], **params) for c in range(image.shape[-1])], axis=-1)


def _constant_warning(op: str, value: Any) -> None:
    warnings.warn(
        f"preprocess.{op}: the image is constant ({value}); nothing to equalise, so it is "
        "returned unchanged",
        MaskprepWarning,
        stacklevel=6,  # the caller of the op
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


# --------------------------------------------------------------------------- denoise


# Not striped: the kernel runs its own tiles on threads, or cv2's parallel sepFilter2D.
@operation("preprocess.gaussian", input="image", output="image",
           locality=Local(halo=lambda p: kernel_radius(p["sigma"]) + 1, stripes=False),
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
    pixels, ``skimage.filters.rank.median`` for larger uint8 footprints).

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


@operation("preprocess.equalize", input="image", output="image", locality=GlobalStat(),
           ndim=(2, 3))
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
    if hi == lo:
        warnings.warn(
            f"preprocess.rescale: percentiles {low} and {high} are the same value ({lo}); "
            "pixels above it are set to the maximum, the rest to 0",
            MaskprepWarning,
            stacklevel=7,  # the caller of the op
        )
    return stretch(image, lo, hi)


@operation("preprocess.rescale", input="image", output="image", locality=GlobalStat(),
           ndim=(2, 3), channels="any")
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

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[0, 50, 100, 150, 200]], dtype=np.uint8)
    >>> rescale(image, low=0.0, high=75.0)
    array([[  0,  85, 170, 255, 255]], dtype=uint8)
    """
    if low >= high:
        raise BadValueError(
            f"low={low} must be below high={high}; accepted: percentiles 0 <= low < high <= 100"
        )
    return _per_channel(_rescale_channel, image, low=low, high=high)


class BackgroundMethod(str, enum.Enum):  # noqa: UP042 (the design's Enum style)
    """How :func:`background` estimates the background."""

    ROLLING_BALL = "rolling_ball"  # skimage.restoration.rolling_ball
    TOPHAT = "tophat"  # morphological opening with a disk / ball (white top-hat)


def _subtract_below(image: np.ndarray, below: np.ndarray) -> np.ndarray:
    """``image - below`` for ``below <= image``, saturated where a signed dtype would wrap."""
    if image.dtype.kind != "i":
        return np.subtract(image, below, dtype=image.dtype)
    # The difference lies in [0, 2**64): exact in uint64 arithmetic, which wraps modulo 2**64
    # (int64 arithmetic overflowed for int64 images spanning more than half their range).
    difference = np.subtract(image.astype(np.int64, copy=False).view(np.uint64),
                             below.astype(np.int64, copy=False).view(np.uint64))
    return np.minimum(difference, np.iinfo(image.dtype).max).astype(image.dtype)


def _background_halo(params: Mapping[str, Any]) -> int:
    # A top-hat is an erosion then a dilation, each reaching `radius`; the rolling ball
    # (scikit-image's) is a single non-flat erosion.
    return params["radius"] * (2 if params["method"] == BackgroundMethod.TOPHAT else 1)


_BALL_BAND_BYTES = 2**19  # the rolling ball's band: fewer, larger bands measured faster
# The most bytes the rolling ball or the top-hat may pass over (pixels x passes x bytes per
# pixel): 2**39, about 20-45 s on one core (measured 1.3-3e10 bytes a second, uint8 to float32,
# 2D and 3D). Beyond it the op refuses with a LimitError before starting: a ball of radius 200
# over a 64 x 512 x 512 stack would take hours.
BACKGROUND_MAX_BYTES = 2**39
# 2D top-hats by a disk up to this radius run cv2.morphologyEx, whose cost grows with the
# disk's area; larger disks roll row by row (_roll, flat), whose cost grows with the radius
# only. Measured at 1 MP on one core: equal at radius 10 (8 ms uint8, 10-20 ms uint16 and
# float32); at radius 25 cv2 47 ms, rolled 11 ms (uint8); at radius 200 3.7 s against 0.13 s.
_TOPHAT_CV2_MAX_RADIUS = 10


def _ball_reach(shape: tuple[int, ...], radius: int) -> tuple[int, ...]:
    """How far a ball of ``radius`` reaches along each axis of an image of ``shape``.

    ``radius``, or ``n - 1`` on an axis of ``n < radius + 1`` pixels: an offset of ``n`` or
    more along it takes every pixel outside the image, where nothing counts, so a ball cut
    there gives the same result for a fraction of the work (radius 200 on a 4 x 16 x 16
    stack ran for over a minute).
    """
    return tuple(min(radius, n - 1) for n in shape)


class _Ball(NamedTuple):
    """A ball cut to its ``reach``, row by row: ``drops[i, w]`` is the height drop at
    half-width ``w`` of the row at offset ``leads[i]`` (along all axes but the last), inf
    outside the ball; ``kept[i, w]`` whether that half-width counts (see :func:`_ball`)."""

    reach: tuple[int, ...]
    leads: np.ndarray
    drops: np.ndarray
    kept: np.ndarray


def _ball(radius: int, reach: tuple[int, ...], dtype: np.dtype, *, flat: bool = False
          ) -> _Ball:
    """The rows of the ball and their height drops, those that count.

    Along one row the drop ``radius - height`` grows with the distance ``w`` from the centre,
    so the lowest ``pixel + drop`` over that row of the ball is the lowest of ``min(pixels
    within w) + drop(w)`` over the ``w`` kept: a ``w`` whose next one drops no more is
    dominated by it. Drops are computed as scikit-image's ``ball_kernel`` computes them, for
    the rows within reach only; for unsigned integer images, which it rolls in float64 and
    truncates, ``floor(drop)`` gives the same truncated result (``floor(min(p + d)) ==
    min(p + floor(d))`` for integers ``p``; a drop is either an exact integer or an
    irrational number far from one). ``flat``: every drop 0, the flat disk or ball
    (``skimage.morphology.disk`` / ``ball``) of the top-hat: each row's widest half-width.
    """
    work = np.dtype(np.float64) if dtype.kind == "u" else dtype
    leads = np.array(list(itertools.product(*(range(-p, p + 1) for p in reach[:-1]))),
                     np.int64).reshape(-1, len(reach) - 1)
    squares = (leads.astype(np.float64) ** 2).sum(axis=1)[:, None] + np.arange(
        reach[-1] + 1, dtype=np.float64) ** 2
    inside = squares <= radius * radius
    rows = inside[:, 0]  # rows that cross the ball
    leads, squares, inside = leads[rows], squares[rows], inside[rows]
    if flat:
        drops = np.where(inside, 0.0, np.inf)
    else:
        height = np.sqrt(np.clip(radius**2 - squares, 0, None)).astype(work)
        drops = np.where(inside, work.type(radius) - height, np.inf).astype(work)
        if dtype.kind == "u":
            drops = np.floor(drops)
    next_drops = np.concatenate([drops[:, 1:], np.full((len(drops), 1), np.inf, drops.dtype)],
                                axis=1)
    kept = inside & ~(np.isfinite(next_drops) & (next_drops <= drops))
    return _Ball(reach, leads, drops, kept)


def _ball_terms(ball: _Ball, dtype: np.dtype) -> dict[int, dict[Any, list[tuple[int, ...]]]]:
    """The kept drops as ``{half-width: {drop: [row offsets]}}``, as :func:`_roll` takes them."""
    terms: dict[int, dict[Any, list[tuple[int, ...]]]] = {}
    for i, w in zip(*np.nonzero(ball.kept), strict=True):
        value = ball.drops[i, w]
        value = int(value) if dtype.kind == "u" else value
        lead = tuple(int(d) for d in ball.leads[i])
        terms.setdefault(int(w), {}).setdefault(value, []).append(lead)
    return terms


def _ball_passes(ball: _Ball, shape: tuple[int, ...]) -> int:
    """Whole-image passes of :func:`_roll`: the growing row minima over the padded image,
    one raise per drop (but 0) and width, one minimum per kept offset."""
    reach = ball.reach
    padded = math.prod((n + 2 * p) / n for n, p in zip(shape[:-1], reach[:-1], strict=True))
    raises = sum(np.count_nonzero(np.unique(ball.drops[ball.kept[:, w], w]))
                 for w in range(reach[-1] + 1))
    return math.ceil(2 * reach[-1] * padded) + raises + int(np.count_nonzero(ball.kept))


def _check_ball_work(shape: tuple[int, ...], itemsize: int, passes: int, radius: int,
                     method: BackgroundMethod) -> None:
    """LimitError if rolling the ball passes over more than BACKGROUND_MAX_BYTES."""
    work = math.prod(shape) * itemsize * passes
    if work > BACKGROUND_MAX_BYTES:
        raise LimitError(
            f"preprocess.background: {method.value} with radius={radius} on an image of shape "
            f"{shape} passes over about {work:.1e} bytes, more than the limit of "
            f"{BACKGROUND_MAX_BYTES:.1e}; accepted: a smaller radius or image"
            + (" (or method='tophat')" if method is BackgroundMethod.ROLLING_BALL else "")
        )


def _checked_ball(image: np.ndarray, dtype: np.dtype, radius: int, method: BackgroundMethod
                  ) -> tuple[_Ball, dict[int, dict[Any, list[tuple[int, ...]]]]]:
    """The ball and its terms for rolling ``image`` in ``dtype``, within BACKGROUND_MAX_BYTES.

    Each row of the ball costs at least one pass (two for the top-hat): that bound is
    checked before the rows are computed, the exact count before they are rolled.
    """
    reach = _ball_reach(image.shape, radius)
    steps = 2 if method is BackgroundMethod.TOPHAT else 1  # erosion and dilation
    rows = math.prod(2 * p + 1 for p in reach[:-1])
    _check_ball_work(image.shape, dtype.itemsize, steps * rows, radius, method)
    ball = _ball(radius, reach, dtype, flat=method is BackgroundMethod.TOPHAT)
    passes = steps * _ball_passes(ball, image.shape)
    _check_ball_work(image.shape, dtype.itemsize, passes, radius, method)
    return ball, _ball_terms(ball, dtype)


def _roll(image: np.ndarray, terms: dict[int, dict[Any, list[tuple[int, ...]]]],
          reach: tuple[int, ...], *, lowest: bool = True) -> np.ndarray:
    """The lowest ``pixel + drop`` over the ball's ``terms`` (the highest pixel, for a flat
    ball with ``lowest=False``); pixels outside the image are ignored.

    The ball is rolled as scikit-image rolls it (a non-flat erosion), but row by row of the
    ball: for each half-width ``w`` the minimum of each pixel's ``2w + 1`` row neighbours,
    grown from the one before by two element-wise minima, is raised by each drop that
    changes at ``w`` and folded into the result shifted by each offset with that drop. That
    is a few whole-band passes of SIMD minima per row of the ball and drop instead of scalar
    steps per pixel and ball pixel: 30-40x faster at radius 25 in 2D.
    """
    ndim, integer = image.ndim, image.dtype.kind in "iu"
    if integer:
        info = np.iinfo(image.dtype)
        fill = info.max if lowest else info.min
    else:
        fill = np.inf if lowest else -np.inf
    if not lowest:
        extremum = elementwise_min_max(image)[1]
    elif integer:
        extremum = elementwise_min_max(image)[0]
    else:
        def extremum(a, b, out):
            np.fmin(a, b, out=out)  # ignores NaN, as scikit-image's comparison does

    if integer:
        # Saturating is exact: the result is at most the pixel itself. The arrays added are
        # contiguous, so they flatten to 2D for cv2.
        def add(a, value, out):
            cv2.add(a.reshape(-1, a.shape[-1]), value, dst=out.reshape(-1, out.shape[-1]))
    else:
        def add(a, value, out):
            np.add(a, value, out=out)

    size, rest, cols = image.shape[0], image.shape[1:-1], image.shape[-1]
    first, middle, last = reach[0], reach[1:-1], reach[-1]
    padded_rest = tuple(n + 2 * p for n, p in zip(rest, middle, strict=True))
    plane_bytes = (cols + 2 * last) * math.prod(padded_rest) * image.itemsize
    # At least 16 rows (2D) or 2 reaches of planes (3D) of its own, so the halo stays small.
    band = max(16 if ndim == 2 else 2 * first, _BALL_BAND_BYTES // plane_bytes, 1)
    inner = tuple(slice(p, p + n) for n, p in zip(rest, middle, strict=True))
    out = np.empty_like(image)

    def roll(tops: range) -> None:
        for top in tops:
            height = min(band, size - top)
            # The band and `reach` pixels around it along every axis, fill beyond the image.
            source = np.full((height + 2 * first, *padded_rest, cols + 2 * last), fill,
                             image.dtype)
            above, below = max(0, top - first), min(size, top + height + first)
            source[(slice(above - top + first, below - top + first), *inner,
                    slice(last, last + cols))] = image[above:below]
            row_extremum = source[..., last : last + cols].copy()
            raised = np.empty_like(row_extremum)
            result = out[top : top + height]
            result.fill(fill)
            for w in range(last + 1):
                if w:
                    extremum(row_extremum, source[..., last - w : last - w + cols],
                             row_extremum)
                    extremum(row_extremum, source[..., last + w : last + w + cols],
                             row_extremum)
                for value, offsets in terms.get(w, {}).items():
                    shifted = row_extremum
                    if value:
                        add(row_extremum, value, raised)  # once for all offsets sharing it
                        shifted = raised
                    for lead in offsets:
                        view = shifted[(slice(first + lead[0], first + lead[0] + height),
                                        *(slice(p + d, p + d + n) for d, p, n
                                          in zip(lead[1:], middle, rest, strict=True)))]
                        extremum(result, view, result)

    tops = range(0, size, band)
    threads = min(thread_budget(), len(tops))
    if threads == 1:
        roll(tops)
        return out
    with ThreadPoolExecutor(threads) as pool:  # bands write disjoint rows / planes
        list(pool.map(roll, [tops[i::threads] for i in range(threads)]))
    return out


def _rolling_ball_fast(image: np.ndarray, radius: int) -> np.ndarray:
    """``skimage.restoration.rolling_ball(image, radius=radius)`` for 2D and 3D uint8,
    uint16, float32 and float64 images, exactly equal, by :func:`_roll` (no work limit)."""
    reach = _ball_reach(image.shape, radius)
    return _roll(image, _ball_terms(_ball(radius, reach, image.dtype), image.dtype), reach)


def _rolling_ball(image: np.ndarray, radius: int) -> np.ndarray:
    """scikit-image's rolling-ball background, within BACKGROUND_MAX_BYTES."""
    direct = image.dtype in (np.uint8, np.uint16, np.float32, np.float64)
    dtype = image.dtype if direct else np.dtype(np.float64)
    ball, terms = _checked_ball(image, dtype, radius, BackgroundMethod.ROLLING_BALL)
    if direct:
        return _roll(image, terms, ball.reach)
    # scikit-image rolls other dtypes in float64 and casts the result back, truncating. A
    # 64-bit integer may round up in float64: the background is kept at most the pixel.
    rolled = _roll(image.astype(np.float64), terms, ball.reach)
    info = np.iinfo(image.dtype)
    top = float(info.max)
    if int(top) > info.max:  # 64-bit: the float above the maximum would wrap around
        top = np.nextafter(top, 0)
    return np.minimum(np.clip(rolled, float(info.min), top).astype(image.dtype), image)


def _flat_ball(radius: int, reach: tuple[int, ...]) -> np.ndarray:
    """uint8 ``skimage.morphology.disk(radius)`` (2D) or ``ball(radius)`` (3D), cut to
    ``reach`` along each axis."""
    axes = [np.arange(-p, p + 1).reshape([-1 if i == axis else 1 for i in range(len(reach))])
            for axis, p in enumerate(reach)]
    return (sum(a * a for a in axes) <= radius * radius).astype(np.uint8)


def _white_tophat(image: np.ndarray, radius: int) -> np.ndarray:
    reach = _ball_reach(image.shape, radius)
    if (image.ndim == 2 and image.dtype in CV_DTYPES
            and max(reach) <= _TOPHAT_CV2_MAX_RADIUS):
        # cv2 ignores pixels outside the image; the reference reflects them, which for a
        # symmetric convex footprint only repeats pixels already inside it: equal results.
        return cv2.morphologyEx(image, cv2.MORPH_TOPHAT, _flat_ball(radius, reach))
    # The opening by the flat disk or ball as an erosion and a dilation rolled row by row,
    # for every dtype: equal to scipy's grey opening, which reads past the image where the
    # ball is wider than it and allocated 21 GB for a radius-25 ball on a 16 x 61 x 57 stack.
    _, terms = _checked_ball(image, image.dtype, radius, BackgroundMethod.TOPHAT)
    opened = _roll(_roll(image, terms, reach), terms, reach, lowest=False)
    return _subtract_below(image, opened)


@operation(
    "preprocess.background",
    input="image",
    output="image",
    locality=Local(halo=_background_halo),
    ndim=(2, 3),
)
def background(
    image: np.ndarray,
    *,
    method: BackgroundMethod = BackgroundMethod.ROLLING_BALL,
    radius: Annotated[int, {"min": 1, "max": 200, "unit": "px"}] = 25,
    light_background: Annotated[
        bool,
        {
            "label": "light background",
            "tooltip": "dark objects on a bright background (brightfield, H&E)",
        },
    ] = False,
) -> np.ndarray:
    """Subtract a smooth background, keeping objects smaller than ``radius``.

    Parameters
    ----------
    image : ndarray
        2D or 3D grey image, any numeric dtype.
    method : {'rolling_ball', 'tophat'}
        'rolling_ball': ``skimage.restoration.rolling_ball``, a ball of radius ``radius``
        rolled under the intensity surface (``radius`` is also its height in grey levels,
        so on a float image in [0, 1] it acts as a flat disk); its time grows with the
        square of the radius (the cube in 3D).
        'tophat': white top-hat, the image minus its morphological opening by a disk (2D)
        or ball (3D) of radius ``radius``; its time grows with the radius (its square in
        3D).
    radius : int
        Ball or disk radius in pixels: larger than the objects to keep. A ball wider than
        the image is cut to it (the same result: pixels outside never count). The work is
        limited to ``BACKGROUND_MAX_BYTES`` (2**39 bytes passed over, about half a minute):
        a larger radius on a larger image (3D radius 200 on a 64 x 512 x 512 stack) raises
        a ``LimitError`` before starting.
    light_background : bool
        For dark objects on a bright background: the image is inverted (as
        ``skimage.util.invert``: unsigned ``max - x``, signed ``-1 - x``, float ``1 - x``),
        the background subtracted, and the result inverted back, so objects stay dark on a
        now flat bright background (the dtype's maximum; 1.0 for floats).

    Returns
    -------
    ndarray
        Same dtype (float16 becomes float32). Without ``light_background`` values are
        >= 0: the background is 0.

    Notes
    -----
    References: ``image - skimage.restoration.rolling_ball(image, radius=radius)`` and
    ``skimage.morphology.white_tophat(image, disk(radius) / ball(radius))``. The rolling
    ball rolls row by row of the ball over running row minima, exactly equal (measured on
    one core: 30x faster than scikit-image at radius 25 in 2D, 50x at radius 5 in 3D);
    dtypes other than uint8, uint16, float32 and float64 roll in float64 and are truncated
    back, as scikit-image does. The top-hat's opening rolls a flat ball the same way, for
    every dtype, exactly equal (radius 25, 1 MP uint8: 11 ms; 3D radius 10: 180x faster than
    scikit-image); 2D disks of radius up to 10 of uint8, uint16, int16, float32 and float64
    take ``cv2.morphologyEx(MORPH_TOPHAT)`` with the same disk, exactly equal. Where a
    signed integer difference would overflow it saturates (scikit-image wraps around).
    scikit-image and SciPy read past the image where the ball is wider than it (results
    change from call to call) and allocate memory growing with the ball's volume times the
    image's (21 GB for a ball of radius 25 on a 16 x 61 x 57 stack); this op does neither.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[10, 10, 10, 10, 10],
    ...                   [10, 90, 10, 10, 10],
    ...                   [10, 10, 10, 10, 10],
    ...                   [20, 20, 20, 20, 20],
    ...                   [20, 20, 20, 20, 20]], dtype=np.uint8)
    >>> background(image, method="tophat", radius=1)
    array([[ 0,  0,  0,  0,  0],
           [ 0, 80,  0,  0,  0],
           [ 0,  0,  0,  0,  0],
           [ 0,  0,  0,  0,  0],
           [ 0,  0,  0,  0,  0]], dtype=uint8)
    """
    image = _no_half(image)
    if light_background:
        image = inverted(image)
    if method is BackgroundMethod.TOPHAT:
        result = _white_tophat(image, radius)
    else:
        result = _subtract_below(image, _rolling_ball(image, radius))
    return inverted(result) if light_background else result


@operation(
    "preprocess.invert",
    input="image",
    output="image",
    locality=Pointwise(),
    ndim=(2, 3),
    channels="any",
)
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
    image = _no_half(image)
    inverted_image = inverted(image)
    if looks_rgb(image) and image.shape[-1] == 4:
        inverted_image[..., 3] = image[..., 3]
    return inverted_image
