"""Preprocessing operations: image in, image out (denoise, equalise, pick a channel)."""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np

from .registry import Local, operation


@operation(
    "preprocess.gaussian",
    input="image",
    output="image",
    locality=Local(halo=lambda p: int(4 * p["sigma"] + 0.5) + 1),
    ndim=(2, 3),
    channels="any",
)
def gaussian(
    image: np.ndarray,
    *,
    sigma: Annotated[float, {"min": 0.1, "max": 50.0, "step": 0.1, "unit": "px"}] = 1.0,
) -> np.ndarray:
    """Gaussian blur, keeping the image's dtype (integers rounded).

    ...
    """
    raise NotImplementedError
