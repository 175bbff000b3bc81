"""NaN and infinite pixels of a float image replaced by one value taken from its finite ones.

Reference: ``numpy.min``, ``numpy.max`` and ``numpy.median`` of ``image[numpy.isfinite(image)]``
(what ``skimage`` would compute on them), in the image's dtype, then
``numpy.where(numpy.isfinite(image), image, value)``.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import BadValueError

__all__ = ["fill_nonfinite", "fill_value", "no_finite_pixel"]

_STATISTICS = {"minimum": np.min, "maximum": np.max, "median": np.median}


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
    return image.dtype.type(_STATISTICS[fill](values))


def fill_nonfinite(image: np.ndarray, value: np.generic | None) -> np.ndarray:
    """A copy of ``image`` with its NaN and infinite pixels set to ``value`` (None: none)."""
    if value is None:
        return image.copy()
    return np.where(np.isfinite(image), image, value).astype(image.dtype, copy=False)
