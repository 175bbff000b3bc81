"""The parts of ``preprocess.fill_nan`` that its ``GlobalStat`` runs apart: the fill value
taken from the whole image (in memory, or from its chunks' summaries in a tiled run), then
its pointwise apply."""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..core.errors import BadValueError
from ..kernels.nonfinite import fill_nonfinite, fill_value, no_finite_pixel

__all__ = ["FiniteRange", "NanFill", "fill_apply", "fill_decide", "fill_key", "fill_refusal",
           "fill_statistic", "finite_range"]


class NanFill(str, enum.Enum):  # noqa: UP042 (the design's Enum style)
    """The value :func:`fill_nan` puts in a float image's NaN and infinite pixels."""

    MINIMUM = "minimum"  # the smallest finite value: background for bright objects
    MAXIMUM = "maximum"
    ZERO = "zero"
    MEDIAN = "median"  # of the finite values


def fill_statistic(image: np.ndarray, params: Mapping[str, Any]) -> Any:
    return fill_value(image, NanFill(params["fill"]).value)


def fill_apply(image: np.ndarray, value: Any, params: Mapping[str, Any]) -> np.ndarray:
    return fill_nonfinite(image, value)


def fill_key(params: Mapping[str, Any]) -> Hashable:
    return params["fill"]


class FiniteRange(NamedTuple):
    """What a tiled run needs to fill an image: whether it holds NaN or infinite pixels,
    and its smallest and largest finite values (None without any); chunks' add up."""

    nonfinite: bool
    low: np.generic | None
    high: np.generic | None

    def __add__(self, other: object) -> FiniteRange:  # type: ignore[override]
        if not isinstance(other, FiniteRange):
            return NotImplemented
        lows = [v for v in (self.low, other.low) if v is not None]
        highs = [v for v in (self.high, other.high) if v is not None]
        return FiniteRange(self.nonfinite or other.nonfinite, min(lows, default=None),
                           max(highs, default=None))


def finite_range(chunk: np.ndarray) -> FiniteRange:
    """The :class:`FiniteRange` of one chunk (an integer one holds no NaN)."""
    if chunk.dtype.kind != "f":
        return FiniteRange(False, None, None)
    finite = np.isfinite(chunk)
    values = chunk[finite]
    if values.size == 0:
        return FiniteRange(True, None, None)
    return FiniteRange(values.size < chunk.size, values.min(), values.max())


def fill_refusal(dtype: np.dtype, params: Mapping[str, Any]) -> str | None:
    """Why a tiled run cannot fill an image of ``dtype``: a median needs every value."""
    if dtype.kind == "f" and NanFill(params["fill"]) is NanFill.MEDIAN:
        return ("the median of a float image needs all its finite values at once; a tiled "
                "run fills with 'minimum', 'maximum' or 'zero' (or run it in memory)")
    return None


def fill_decide(summary: FiniteRange, params: Mapping[str, Any]) -> Any:
    """The value a tiled run fills with, from the whole image's :class:`FiniteRange` (the
    same as in memory; a float median is refused before the run, by ``fill_refusal``)."""
    fill = NanFill(params["fill"])
    if not summary.nonfinite:
        return None
    if fill is NanFill.ZERO:
        return 0.0
    if summary.low is None:
        raise BadValueError(f"preprocess.fill_nan: {no_finite_pixel(fill.value)}")
    return summary.low if fill is NanFill.MINIMUM else summary.high
