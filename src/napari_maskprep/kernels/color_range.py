"""Colour ranges: the pixels whose hue, saturation and value lie in a box, in human units
(hue in degrees with wrap-around, saturation and value in percent).

Reference: ``skimage.color.rgb2hsv`` (hue x 360, saturation and value x 100), kept where each
lies in its range, bounds included, within ``HSV_TOLERANCE``. Computed in float32 (float64
for float64 input) from the channels directly, without dividing them or a float64 copy of
the image. Fast path for uint8: one ``cv2.cvtColor`` pass whose rounded HSV codes decide most
pixels through look-up tables; the pixels near a bound are computed as above. Both equal the
reference.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["HSV_TOLERANCE", "hsv_in_range"]

Range = tuple[float, float]  # inclusive bounds: degrees for hue, percent otherwise

# A colour within this many degrees / percentage points of a bound counts as on it, so the
# same colour stored as uint8, uint16 or float gives the same mask despite rounding
# (float32 x/255 is off by up to ~2e-3 degrees for near-grey colours; distinct 8-bit
# colours differ from an integer bound by at least 1/255 ~ 3.9e-3).
HSV_TOLERANCE = 3e-3
# Bits of the uint8 path's per-channel LUTs, combined with AND: 3 = certainly inside,
# 1 = too close to a bound to tell from OpenCV's rounded HSV, 0 = certainly outside.
_INSIDE, _UNSURE, _OUTSIDE = 3, 1, 0
# OpenCV's uint8 hue and saturation are off by less than one step (rounding plus its
# fixed-point reciprocal); decide only where the bounds are farther than this.
_CV2_HSV_MARGIN = 1.5


def hsv_in_range(rgb: np.ndarray, hue: Range, saturation: Range, value: Range) -> np.ndarray:
    """uint8 mask of the pixels of ``rgb`` whose HSV lies in the given inclusive ranges:
    ``hue`` in degrees from ``hue[0]`` up (through 360 -> 0) to ``hue[1]``, ``saturation``
    and ``value`` in percent.

    ``rgb``'s last axis holds red, green, blue (and alpha, ignored). Integers are scaled by
    their dtype's maximum, floats taken in [0, 1]; greys (all channels equal) have hue 0
    and saturation 0, as ``skimage.color.rgb2hsv`` defines them.
    """
    rgb = rgb[..., :3]
    if rgb.dtype == np.uint8:
        return _by_lut(rgb, hue, saturation, value)
    return _by_formula(rgb, hue, saturation, value)


def _by_lut(rgb: np.ndarray, hue: Range, saturation: Range, value: Range) -> np.ndarray:
    """:func:`_by_formula` of a uint8 image, from one ``cv2.cvtColor`` pass.

    Value (the largest channel) is exact in OpenCV's HSV and decided by a LUT; hue and
    saturation come rounded, so LUTs decide the pixels whose codes are clearly inside or
    outside, and only pixels near a bound are evaluated by :func:`_by_formula`.
    """
    spatial = rgb.shape[:-1]
    rgb2d = np.ascontiguousarray(rgb).reshape(-1, rgb.shape[-2], 3)
    hsv = cv2.cvtColor(rgb2d, cv2.COLOR_RGB2HSV_FULL)
    hue_code, sat_code, val_code = cv2.split(hsv)
    tol = HSV_TOLERANCE
    # Value: the float32 formula of _by_formula, for every code.
    val = np.arange(256, dtype=np.float32) * np.float32(100.0 / 255.0)
    val_ok = (val >= value[0] - tol) & (val <= value[1] + tol)
    val_lut = np.where(val_ok, _INSIDE, _OUTSIDE).astype(np.uint8)
    sat_scale = 100.0 / 255.0
    sat_centers = np.arange(256) * sat_scale
    sat_lut = _rounded_channel_lut(
        sat_scale, saturation,
        (sat_centers >= saturation[0] - tol) & (sat_centers <= saturation[1] + tol),
    )
    state = cv2.bitwise_and(cv2.LUT(val_code, val_lut), cv2.LUT(sat_code, sat_lut))
    if hue[1] - hue[0] < 360.0 - tol:
        hue_scale = 360.0 / 256.0
        hue_lut = _rounded_channel_lut(
            hue_scale, hue, _hue_in_arc(np.arange(256) * hue_scale, hue), circular=True
        )
        cv2.bitwise_and(state, cv2.LUT(hue_code, hue_lut), dst=state)
    mask = (state == _INSIDE).view(np.uint8)
    unsure = np.flatnonzero(state == _UNSURE)
    if unsure.size:
        pixels = rgb2d.reshape(-1, 3)[unsure][np.newaxis]
        mask.reshape(-1)[unsure] = _by_formula(pixels, hue, saturation, value)[0]
    return mask.reshape(spatial)


def _by_formula(rgb: np.ndarray, hue: Range, saturation: Range, value: Range) -> np.ndarray:
    """uint8 mask of pixels whose HSV (degrees, %, %) lies in the given inclusive ranges.

    HSV as ``skimage.color.rgb2hsv`` defines it (greys have hue 0 and saturation 0),
    computed in float32 (float64 for float64 input) without dividing the RGB values.
    """
    tol = HSV_TOLERANCE
    work = np.float64 if rgb.dtype == np.float64 else np.float32
    red, green, blue = (rgb[..., i].astype(work) for i in range(3))
    top = np.maximum(np.maximum(red, green), blue)
    delta = top - np.minimum(np.minimum(red, green), blue)
    percent = 100.0 / _rgb_scale(rgb.dtype)
    val = top * work(percent)
    keep = (val >= value[0] - tol) & (val <= value[1] + tol)
    sat = np.divide(delta, top, out=np.zeros_like(delta), where=top > 0)
    sat *= work(100.0)
    keep &= (sat >= saturation[0] - tol) & (sat <= saturation[1] + tol)
    if hue[1] - hue[0] >= 360.0 - tol:
        return keep.view(np.uint8)
    # Hue in degrees: which channel is the maximum picks the sextant pair.
    red_top = red == top
    green_top = ~red_top & (green == top)
    numerator = np.where(red_top, green - blue, np.where(green_top, blue - red, red - green))
    base = np.where(red_top, work(0.0), np.where(green_top, work(120.0), work(240.0)))
    ratio = np.divide(numerator, delta, out=np.zeros_like(delta), where=delta > 0)
    degrees = base + work(60.0) * ratio
    degrees[delta == 0] = 0.0
    keep &= _hue_in_arc(degrees, hue)
    return keep.view(np.uint8)


def _hue_in_arc(degrees: np.ndarray, hue: Range) -> np.ndarray:
    """Whether each hue lies on the arc from hue[0] up (through 360 -> 0) to hue[1]."""
    tol = HSV_TOLERANCE
    along = np.mod(degrees - hue[0], 360.0)
    width = (hue[1] - hue[0]) % 360.0
    return (along <= width + tol) | (along >= 360.0 - tol)


def _rounded_channel_lut(
    scale: float, bounds: Range, inside: np.ndarray, circular: bool = False
) -> np.ndarray:
    """LUT over OpenCV's 0..255 channel codes (code * scale = true value +- margin)."""
    centers = np.arange(256) * scale
    reach = _CV2_HSV_MARGIN * scale + HSV_TOLERANCE + 1e-2
    near = np.zeros(256, bool)
    for bound in bounds:
        gap = np.abs(centers - bound)
        near |= (np.minimum(gap, 360.0 - gap) if circular else gap) <= reach
    return np.where(near, _UNSURE, np.where(inside, _INSIDE, _OUTSIDE)).astype(np.uint8)


def _rgb_scale(dtype: np.dtype) -> float:
    """The value of full intensity: the integer dtype's maximum, 1 for floats."""
    return float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0
