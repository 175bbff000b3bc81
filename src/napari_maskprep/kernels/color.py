"""Colour conversions: RGB to grey (luminance) in the image's own dtype.

Reference: ``skimage.color.rgb2gray`` (Rec. 709 weights).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["GRAY_WEIGHTS", "rgb_to_gray"]

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
        info = np.iinfo(rgb.dtype)
        # 64-bit: float(max) is 2**63 or 2**64, which the cast would wrap around.
        top = np.nextafter(float(info.max), 0) if info.bits == 64 else info.max
        return np.clip(np.rint(gray), info.min, top).astype(rgb.dtype)
    return gray.astype(np.float32)
