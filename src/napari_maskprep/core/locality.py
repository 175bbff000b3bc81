"""What an array means (its kind) and what a tiled executor needs to know of an op (its
locality)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..kernels.histogram import ValueCounts

__all__ = ["PIECE_OF", "GlobalStat", "Kind", "Local", "Locality", "NextPass", "NonLocal",
           "Pointwise", "piece_of"]

# The shape of the whole image a Local op is given a piece of (a chunk with its margin) while
# a tiled run probes and runs it; None in memory. An op that bounds its work relative to its
# input's size bounds the whole image's: a piece narrower than a window pads more of itself
# than the whole image does, so it was refused in chunks where the image ran in memory.
PIECE_OF: ContextVar[tuple[int, ...] | None] = ContextVar("piece_of", default=None)


@contextmanager
def piece_of(shape: tuple[int, ...]) -> Iterator[None]:
    """Ops run within it on pieces of an image of ``shape`` (``PIECE_OF``)."""
    token = PIECE_OF.set(tuple(shape))
    try:
        yield
    finally:
        PIECE_OF.reset(token)


class Kind(enum.StrEnum):
    """What an array means: it decides validation, output dtype and napari layer type."""

    IMAGE = "image"  # any numeric dtype; RGB/RGBA = last axis of size 3/4
    MASK = "mask"  # uint8 0/1; as an input kind, refine ops also accept labels
    LABELS = "labels"  # int32, 0 = background
    POINTS = "points"  # N x ndim float coordinates


def _one(params: Mapping[str, Any]) -> int:
    return 1


# Locality: what a tiled / dask executor needs to know about an op.
@dataclass(frozen=True)
class Pointwise:
    """Each output pixel depends only on the same input pixel."""


@dataclass(frozen=True)
class Local:
    """Each output pixel depends on input pixels within ``halo(params)`` pixels.

    ``stripes``: large 2D inputs may be run in horizontal stripes (with the halo) in
    parallel; False where a result also depends on where the array starts, or
    ``stripes(data, params)`` where it depends on the input whether stripes pay.
    ``align(params)``: the grid the arrays the op is given must start on (a network with
    pooling gives the same values only on shifts by its downsampling): a tiled run reads
    each chunk from a multiple of it, as the whole image starts at 0.
    """

    halo: Callable[[Mapping[str, Any]], int]
    stripes: bool | Callable[[np.ndarray, Mapping[str, Any]], bool] = True
    align: Callable[[Mapping[str, Any]], int] = _one


def _no_params(params: Mapping[str, Any]) -> Hashable:
    return ()


@dataclass(frozen=True)
class GlobalStat:
    """A statistic over the whole image (e.g. a threshold), then a pointwise apply.

    An op that can run the two parts separately names them: ``statistic(image, params)``
    is the whole-image part (a histogram), ``apply(image, statistic, params)`` makes the
    output from it, and ``statistic_key(params)`` gives the parameter values the statistic
    depends on. A :class:`StatisticCache` then computes the statistic once per input and
    reuses it while only the other parameters change (a threshold preview).

    An op that can run tiled names two more: ``decide(counts, params)`` takes what it needs
    from the whole image's :class:`~napari_maskprep.kernels.histogram.ValueCounts` (which
    the chunks' counts add up to, exactly), and ``apply_decision(chunk, decision, params)``
    makes each chunk's output from it, pointwise. The tiled result then equals the
    in-memory one. ``per_channel``: an RGB(A) image's channels are counted, decided and
    applied apart (``decide`` and ``apply_decision`` see one channel at a time).
    ``summary(chunk)``: what ``decide`` reads in place of value counts, for an op whose
    decision needs less of the image (chunks' summaries add up with ``+``; any dtype).
    ``decide`` may return a :class:`NextPass` where the summary leaves its decision open.

    An op may also name ``thresholds(image, statistic, params)``: the intensity thresholds
    it takes from its statistic (empty when it has none), which a GUI draws on the
    histogram of the input.
    """

    statistic: Callable[[np.ndarray, Mapping[str, Any]], Any] | None = None
    apply: Callable[[np.ndarray, Any, Mapping[str, Any]], np.ndarray] | None = None
    statistic_key: Callable[[Mapping[str, Any]], Hashable] = _no_params
    decide: Callable[[ValueCounts, Mapping[str, Any]], Any] | None = None
    apply_decision: Callable[[np.ndarray, Any, Mapping[str, Any]], np.ndarray] | None = None
    thresholds: Callable[[np.ndarray, Any, Mapping[str, Any]], tuple[float, ...]] | None = None
    per_channel: bool = False
    summary: Callable[[np.ndarray], Any] | None = None


@dataclass(frozen=True)
class NextPass:
    """What a ``GlobalStat.decide`` returns where its decision needs one more pass over the
    chunks (an exact median: each pass narrows the values it can be): each chunk's
    ``summary(chunk)``, added up with ``+``, goes to ``decide(total)``, which gives the
    decision or another ``NextPass``."""

    summary: Callable[[np.ndarray], Any]
    decide: Callable[[Any], Any]


@dataclass(frozen=True)
class NonLocal:
    """Needs the whole image (fill holes, connected components, region growing)."""


Locality = Pointwise | Local | GlobalStat | NonLocal
