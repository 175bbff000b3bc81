"""NaN and infinite pixels of a float image replaced by one value taken from its finite ones.

Reference: ``numpy.min``, ``numpy.max`` and ``numpy.median`` of ``image[numpy.isfinite(image)]``
(what ``skimage`` would compute on them), in the image's dtype, then
``numpy.where(numpy.isfinite(image), image, value)``. Of the zeros -0.0 counts below 0.0
(numpy's min and max return either, by their order and the dtype's vector loop).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import BadValueError

__all__ = ["extreme", "fill_nonfinite", "fill_value", "no_finite_pixel"]


def no_finite_pixel(fill: str) -> str:
    """Why an image without a finite pixel cannot be filled by ``fill``."""
    return (f"every pixel is NaN or infinite, so there is no {fill} to fill with; accepted: "
            "an image with a finite pixel, or fill='zero'")


def fill_value(image: np.ndarray, fill: str) -> np.generic | None:
    """The value ``fill`` names for the non-finite pixels of ``image`` (in its dtype), or
    None when there are none to fill (an integer image, or a float one all finite)."""
    if image.dtype.kind != "f":
        return None
    finite = np.isfinite(image)
    if finite.all():
        return None
    if fill == "zero":
        return image.dtype.type(0)
    values = image[finite]
    if values.size == 0:
        raise BadValueError(f"preprocess.fill_nan: {no_finite_pixel(fill)}")
    if fill == "median":
        return image.dtype.type(np.median(values))
    return extreme(values, fill)


def extreme(values: np.ndarray, fill: str) -> np.generic:
    """The smallest (``fill`` 'minimum') or largest ('maximum') of non-empty finite
    ``values``, -0.0 below 0.0: one zero whatever their order, so the smallest of a tiled
    run's chunks' smallest is the whole image's, bit for bit."""
    value = values.min() if fill == "minimum" else values.max()
    if value == 0:
        negative = np.signbit(values[values == 0])
        value = values.dtype.type(
            -0.0 if (negative.any() if fill == "minimum" else negative.all()) else 0.0)
    return value


def fill_nonfinite(image: np.ndarray, value: np.generic | None) -> np.ndarray:
    """A copy of ``image`` with its NaN and infinite pixels set to ``value`` (None: none)."""
    if value is None:
        return image.copy()
    return np.where(np.isfinite(image), image, value).astype(image.dtype, copy=False)
