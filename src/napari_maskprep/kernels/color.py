"""Colour conversions: RGB to grey (luminance) in the image's own dtype, and one channel of
RGB in the HSV, CIE Lab or HED colour space.

References: ``skimage.color.rgb2gray`` (Rec. 709 weights), ``rgb2hsv``, ``rgb2lab`` (D65)
and ``rgb2hed``, which the channels use as they are for float64 input. Other inputs are
computed in float32: HSV of uint8 by ``cv2.cvtColor`` (within 1e-4 of the reference), Lab
and HED by look-up tables (uint8, uint16) or float32 numpy, then ``cv2.transform`` for the
matrix product (within 1e-3 in Lab units and 1e-5 in stain density). OpenCV's own Lab is
not used: it differs from scikit-image by up to 0.45. Tested in
``tests/kernels/test_color.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from skimage import color, util

from .dtypes import as_2d, integer_bounds

__all__ = ["GRAY_WEIGHTS", "hed_channel", "hsv_channel", "lab_channel", "rgb_to_gray"]

# Rec. 709 luminance, the weights of skimage.color.rgb2gray (our reference).
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Luminance of an RGB(A) image, keeping its dtype (integers rounded, saturated).

    Same weights as ``skimage.color.rgb2gray``; computed by ``cv2.transform`` in the
    input's own dtype, so a uint8 image never goes through float64.
    """
    rgb = rgb[..., :3]
    if rgb.dtype in (np.uint8, np.uint16, np.float32, np.float64) and rgb.shape[-2] > 0:
        flat = np.ascontiguousarray(rgb).reshape(-1, rgb.shape[-2], 3)
        depth = np.float64 if rgb.dtype == np.float64 else np.float32
        matrix = np.array([GRAY_WEIGHTS], dtype=depth)
        return cv2.transform(flat, matrix).reshape(rgb.shape[:-1])
    gray = np.tensordot(rgb.astype(np.float64, copy=False), GRAY_WEIGHTS, axes=([-1], [0]))
    if np.issubdtype(rgb.dtype, np.integer):
        return np.clip(np.rint(gray), *integer_bounds(rgb.dtype)).astype(rgb.dtype)
    return gray.astype(np.float32)


def hsv_channel(rgb: np.ndarray, channel: int) -> np.ndarray:
    """Channel 0 hue, 1 saturation or 2 value of ``skimage.color.rgb2hsv(rgb)``, float32
    (float64 for float64 input)."""
    if rgb.dtype == np.float64:
        return _reference_hsv(rgb, channel)
    if rgb.dtype != np.uint8:
        # cv2's float HSV divides by (V + FLT_EPSILON): off by up to 1e-2 for uint16 or floats
        # near 0, so only uint8 (smallest non-zero V = 1/255) takes the OpenCV path.
        return _reference_hsv(util.img_as_float32(rgb), channel)
    # cv2 converts a row's last (width mod its vector width) pixels in scalar code, which
    # rounds the hue otherwise: rows of whole vectors give each pixel the same value
    # wherever it lies, so an image cut in chunks converts as the whole image does.
    pixels = rgb.reshape(-1, rgb.shape[-1])
    scaled = np.zeros((-(-len(pixels) // _HSV_ROW) * _HSV_ROW, 3), np.float32)
    np.multiply(pixels, np.float32(1 / 255), out=scaled[: len(pixels)], dtype=np.float32)
    hsv = cv2.cvtColor(scaled.reshape(-1, _HSV_ROW, 3), cv2.COLOR_RGB2HSV)
    out = np.ascontiguousarray(hsv.reshape(-1, 3)[: len(pixels), channel]).reshape(rgb.shape[:-1])
    if channel == 0:
        out = out / np.float32(360)  # OpenCV's hue is in degrees, skimage's a fraction of a turn
        out[out >= 1] -= 1
    return out


def lab_channel(rgb: np.ndarray, channel: int) -> np.ndarray:
    """Channel 0 L*, 1 a* or 2 b* of ``skimage.color.rgb2lab(rgb)``, float32 (float64 for
    float64 input); only the XYZ rows the channel needs are computed."""
    if rgb.dtype == np.float64:
        return np.ascontiguousarray(color.rgb2lab(rgb)[..., channel])
    linear = _pointwise_lut(rgb, _srgb_to_linear)
    rows = {0: [1], 1: [0, 1], 2: [1, 2]}[channel]  # L* needs Y; a* X, Y; b* Y, Z
    to_xyz = _XYZ_FROM_RGB / _D65_WHITE[:, None]
    pixels = as_2d(linear, colour=True)
    f = [
        cv2.transform(pixels, to_xyz[[r]].astype(np.float32)).reshape(rgb.shape[:-1])
        for r in rows
    ]
    # skimage.color.xyz2lab: cube root above 0.008856, linear below. numpy.cbrt, not
    # cv2.pow: cv2 rounds a row's last values (in scalar code) otherwise than the rest, so
    # chunks of the image gave other values; numpy's is also faster.
    f = [np.where(t > 0.008856, np.cbrt(t), np.float32(7.787) * t + np.float32(16 / 116))
         for t in f]
    if channel == 0:
        return np.float32(116) * f[0] - np.float32(16)
    return np.float32(500 if channel == 1 else 200) * (f[0] - f[1])


def hed_channel(rgb: np.ndarray, channel: int) -> np.ndarray:
    """Stain density 0 hematoxylin, 1 eosin or 2 DAB of ``skimage.color.rgb2hed(rgb)``,
    float32 (float64 for float64 input)."""
    if rgb.dtype == np.float64:
        return np.ascontiguousarray(color.rgb2hed(rgb)[..., channel])
    density = _pointwise_lut(rgb, _stain_density)
    to_stain = color.hed_from_rgb[:, [channel]].T.astype(np.float32)
    stain = cv2.transform(as_2d(density, colour=True), to_stain)
    return np.maximum(stain.reshape(rgb.shape[:-1]), 0)


# Linear sRGB -> CIE XYZ and the D65 white point (2 degree observer): the constants of
# skimage.color.rgb2xyz / rgb2lab (not public there).
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
# Pixels per row of the uint8 HSV conversion: a multiple of any vector width cv2 uses.
_HSV_ROW = 64
_LOG_1E6 = float(np.log(1e-6))  # skimage.color.separate_stains clips at 1e-6 before the log


def _pointwise_lut(rgb: np.ndarray, func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``func`` (float64 in [0, 1] -> float) on every value of an RGB image, as float32.

    uint8/uint16 images go through a look-up table of every possible value; others are
    converted to float32 first.
    """
    if rgb.dtype in (np.uint8, np.uint16):
        levels = np.iinfo(rgb.dtype).max
        lut = func(np.arange(levels + 1) / levels).astype(np.float32)
        if rgb.dtype == np.uint8:  # cv2.LUT is several times faster than numpy indexing
            return cv2.LUT(as_2d(rgb, colour=True), lut).reshape(rgb.shape)
        return lut[rgb]
    return func(util.img_as_float32(rgb)).astype(np.float32, copy=False)


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    # skimage.color.rgb2xyz: inverse sRGB companding.
    curve = np.power((np.maximum(v, 0.04045) + 0.055) / 1.055, 2.4)
    return np.where(v > 0.04045, curve, v / 12.92)


def _stain_density(v: np.ndarray) -> np.ndarray:
    # skimage.color.separate_stains: optical density normalised by -log(1e-6).
    return np.log(np.maximum(v, 1e-6)) / _LOG_1E6


def _reference_hsv(rgb: np.ndarray, channel: int) -> np.ndarray:
    """One channel of skimage.color.rgb2hsv (float64 in, float64 out; else float32).

    Below 0 (signed or float input) a pixel's value can be 0 with a non-zero spread, where
    scikit-image divides by zero: that saturation is 0 here, not infinite.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.ascontiguousarray(color.rgb2hsv(rgb)[..., channel])
    if rgb.dtype.kind in "if" and not np.isfinite(out).all():
        out[~np.isfinite(out)] = 0
    return out
