"""The dtypes kernels compute in and return, and the array forms OpenCV takes.

The package's dtype policy is scikit-image's: integer images stay integer (rounded to
nearest, saturated), float64 stays float64, other floats become float32. :func:`inverted` is
``skimage.util.invert``, exactly; :func:`from_float` is ``numpy.rint`` then ``numpy.clip``
to the dtype's range (``tests/kernels/test_dtypes.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

__all__ = [
    "CV_DTYPES",
    "CV_INT_DEPTHS",
    "as_2d",
    "elementwise_min_max",
    "from_float",
    "integer_bounds",
    "inverted",
    "work_float",
]

# The dtypes cv2's filters and morphology take (not int8, 32/64-bit integers or float16).
CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
# cv2's depths of the integer dtypes among them.
CV_INT_DEPTHS = {np.dtype(np.uint8): cv2.CV_8U, np.dtype(np.uint16): cv2.CV_16U,
                 np.dtype(np.int16): cv2.CV_16S}


def work_float(dtype: np.dtype) -> type:
    """Float type for intermediate results: float32 unless float64 is needed for precision."""
    wide_int = dtype.kind in "iu" and dtype.itemsize > 2  # float32 is exact up to 2**24 only
    return np.float64 if dtype == np.float64 or wide_int else np.float32


def integer_bounds(dtype: np.dtype) -> tuple[float, float]:
    """The lowest and highest floats that cast to the integer ``dtype`` without wrapping."""
    info = np.iinfo(dtype)
    top = float(info.max)
    if int(top) > info.max:  # 64-bit: the float above the maximum would wrap around
        top = np.nextafter(top, 0)
    return float(info.min), top


def from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results as the output dtype of a ``dtype`` input: integers rounded and clipped."""
    if dtype.kind in "iu":
        return np.clip(np.rint(values), *integer_bounds(dtype)).astype(dtype)
    return values.astype(np.float64 if dtype == np.float64 else np.float32, copy=False)


def as_2d(a: np.ndarray, *, colour: bool = False) -> np.ndarray:
    """``a`` as one 2D image (plus the colour axis if ``colour``), the most cv2 accepts.

    Only for computations where pixels are independent or the result is global.
    """
    a = np.ascontiguousarray(a)
    return a.reshape(-1, *a.shape[-2:]) if colour else a.reshape(-1, a.shape[-1])


def elementwise_min_max(image: np.ndarray) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Element-wise ``(minimum, maximum)``, each ``f(a, b, out)``, for views of ``image``.

    OpenCV's on 2D integer images: on the row-strided views of a padded image they run 2.5x
    faster than numpy's. numpy's elsewhere, and on floats, whose NaN numpy propagates.
    """
    if image.ndim == 2 and image.dtype in CV_INT_DEPTHS:
        return (
            lambda a, b, out: cv2.min(a, b, dst=out),
            lambda a, b, out: cv2.max(a, b, dst=out),
        )
    return (
        lambda a, b, out: np.minimum(a, b, out=out),
        lambda a, b, out: np.maximum(a, b, out=out),
    )


def inverted(image: np.ndarray) -> np.ndarray:
    """skimage.util.invert: unsigned max - x, signed -1 - x (both ``~x``), float 1 - x."""
    if image.dtype.kind in "iu":
        return np.invert(image)
    return np.subtract(1, image, dtype=image.dtype)
