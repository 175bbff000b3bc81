"""The parts of ``preprocess.fill_nan`` that its ``GlobalStat`` runs apart: the fill value
taken from the whole image (in memory, or from its chunks' summaries in a tiled run: a
median from more passes, :mod:`..kernels.rank_select`), then its pointwise apply."""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..core.errors import BadValueError
from ..core.locality import NextPass
from ..kernels.nonfinite import extreme, fill_nonfinite, fill_value, no_finite_pixel
from ..kernels.rank_select import RankSearch, median_of, middle_ranks

__all__ = ["FiniteRange", "NanFill", "fill_apply", "fill_decide", "fill_key", "fill_statistic",
           "finite_range"]


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
    its smallest and largest finite values (None without any) and how many finite values
    it holds (where a median is); chunks' add up."""

    nonfinite: bool
    low: np.generic | None
    high: np.generic | None
    count: int

    def __add__(self, other: object) -> FiniteRange:  # type: ignore[override]
        if not isinstance(other, FiniteRange):
            return NotImplemented
        lows = [v for v in (self.low, other.low) if v is not None]
        highs = [v for v in (self.high, other.high) if v is not None]
        return FiniteRange(self.nonfinite or other.nonfinite,
                           extreme(np.array(lows), "minimum") if lows else None,
                           extreme(np.array(highs), "maximum") if highs else None,
                           self.count + other.count)


def finite_range(chunk: np.ndarray) -> FiniteRange:
    """The :class:`FiniteRange` of one chunk (an integer one holds no NaN: nothing to fill)."""
    if chunk.dtype.kind != "f":
        return FiniteRange(False, None, None, 0)
    finite = np.isfinite(chunk)
    values = chunk[finite]
    if values.size == 0:
        return FiniteRange(True, None, None, 0)
    return FiniteRange(values.size < chunk.size, extreme(values, "minimum"),
                       extreme(values, "maximum"), values.size)


def fill_decide(summary: FiniteRange, params: Mapping[str, Any]) -> Any:
    """The value a tiled run fills with, from the whole image's :class:`FiniteRange` (the
    same as in memory), or, for a median, the passes over the chunks that find it."""
    fill = NanFill(params["fill"])
    if not summary.nonfinite:
        return None
    if fill is NanFill.ZERO:
        return 0.0
    if summary.low is None:
        raise BadValueError(f"preprocess.fill_nan: {no_finite_pixel(fill.value)}")
    if fill is NanFill.MEDIAN:
        return _median_pass(RankSearch.start(summary.low.dtype, middle_ranks(summary.count),
                                             summary.count))
    return summary.low if fill is NanFill.MINIMUM else summary.high


def _median_pass(search: RankSearch) -> NextPass:
    """The next pass of the search for the median's middle values, and what it decides."""

    def decide(total: Any) -> Any:
        found = search.step(total)
        if isinstance(found, RankSearch):
            return _median_pass(found)
        return median_of(found, search.dtype)

    return NextPass(search.summary, decide)
