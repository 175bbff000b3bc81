"""Values at given ranks of a float image's finite values, and their median, exactly, from
summaries of the image's chunks that add up: a radix select on the values' bits.

Reference: ``numpy.partition(values, ranks)[ranks]`` of ``values = image[numpy.isfinite(image)]``,
and ``numpy.median(values)``. Each value's bits map to an unsigned key whose order is the
values' (a negative's bits flipped, a positive's sign bit set; -0.0 just below 0.0). A pass over
the chunks counts the next 16 bits of the keys that start with each wanted rank's known bits
(counts add), which fixes 16 more bits of it; once at most ``GATHER_MAX`` keys are left, a pass
gathers them and a partition ends the search. float32 takes two passes, float64 two to four,
an image of at most ``GATHER_MAX`` finite values one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["GATHER_MAX", "DigitCounts", "Gathered", "RankSearch", "median_of", "middle_ranks",
           "ordered_keys"]

_DIGIT_BITS = 16
_DIGITS = 2**_DIGIT_BITS
# Keys a pass gathers at most (8 MB of float64 keys, over all chunks): fewer left, and the
# next pass gathers them rather than counting another 16 bits.
GATHER_MAX = 2**20


def _unsigned(dtype: np.dtype) -> tuple[np.dtype, int]:
    return np.dtype(f"u{dtype.itemsize}"), 8 * dtype.itemsize


def ordered_keys(values: np.ndarray) -> np.ndarray:
    """Unsigned integers of ``values``' width, in the order of the (finite) float values."""
    unsigned, bits = _unsigned(values.dtype)
    raw = np.ascontiguousarray(values).view(unsigned)
    sign = unsigned.type(1) << unsigned.type(bits - 1)
    return np.where(raw >= sign, ~raw, raw | sign)


def _values(keys: Sequence[int], dtype: np.dtype) -> tuple[np.generic, ...]:
    """The float values of ``dtype`` whose :func:`ordered_keys` are ``keys``."""
    unsigned, bits = _unsigned(dtype)
    keys = np.array(keys, unsigned)
    sign = unsigned.type(1) << unsigned.type(bits - 1)
    return tuple(np.where(keys >= sign, keys ^ sign, ~keys).view(dtype))


def middle_ranks(count: int) -> tuple[int, ...]:
    """The ranks (from 0) ``numpy.median`` averages among ``count`` values: one or two."""
    return tuple(sorted({(count - 1) // 2, count // 2}))


def median_of(middle: Sequence[np.generic], dtype: np.dtype) -> np.generic:
    """``numpy.median`` of the values whose :func:`middle_ranks` hold ``middle``, in ``dtype``:
    numpy's median is the mean of its partition's slice of those one or two values, which is
    this one's, so even the rounding (float16 averaged in float32) and an overflow are numpy's
    (and which zero a partition puts there cannot matter: numpy's sum starts from +0.0)."""
    return dtype.type(np.median(np.array(middle, dtype)))


class DigitCounts(NamedTuple):
    """How many keys starting with each searched prefix hold each value of their next 16
    bits, sparse: the nonzero counts' flat indices (prefix number * 65536 + digit) and the
    counts (int64). Chunks' add up."""

    bins: np.ndarray
    counts: np.ndarray
    size: int

    def dense(self) -> np.ndarray:
        out = np.zeros(self.size, np.int64)
        out[self.bins] = self.counts
        return out

    def __add__(self, other: object) -> DigitCounts:  # type: ignore[override]
        if not isinstance(other, DigitCounts):
            return NotImplemented
        total = self.dense() + other.dense()
        bins = np.flatnonzero(total)
        return DigitCounts(bins, total[bins], self.size)


class Gathered(NamedTuple):
    """The keys starting with each searched prefix, in pieces; chunks' add up by joining."""

    pieces: tuple[tuple[np.ndarray, ...], ...]

    def __add__(self, other: object) -> Gathered:  # type: ignore[override]
        if not isinstance(other, Gathered):
            return NotImplemented
        return Gathered(tuple(a + b for a, b in zip(self.pieces, other.pieces, strict=True)))


@dataclass(frozen=True)
class RankSearch:
    """Where a search for some ranks of a float image's finite values stands: each wanted
    value's key starts with ``known`` bits, its ``prefix``, and is the ``rank``-th (from 0)
    of the image's keys that do. ``gather``: the next pass collects those keys."""

    dtype: np.dtype
    targets: tuple[tuple[int, int], ...]  # (prefix, rank among the keys starting with it)
    known: int
    gather: bool

    @classmethod
    def start(cls, dtype: np.dtype, ranks: Sequence[int], count: int) -> RankSearch:
        """The search for ``ranks`` among ``count`` finite values of ``dtype``."""
        return cls(np.dtype(dtype), tuple((0, rank) for rank in ranks), 0, count <= GATHER_MAX)

    def _prefixes(self) -> list[int]:
        return sorted({prefix for prefix, _ in self.targets})

    def summary(self, chunk: np.ndarray) -> DigitCounts | Gathered:
        """What this pass needs of one chunk (of the image's dtype, any shape)."""
        keys = ordered_keys(chunk[np.isfinite(chunk)])
        bits = _unsigned(self.dtype)[1]
        groups = [keys if not self.known else keys[(keys >> (bits - self.known)) == prefix]
                  for prefix in self._prefixes()]
        if self.gather:
            return Gathered(tuple((group,) for group in groups))
        shift = bits - self.known - _DIGIT_BITS
        counts = np.concatenate([  # uint16 keeps the digit: the 16 bits below the prefix
            np.bincount((group >> shift).astype(np.uint16), minlength=_DIGITS)
            for group in groups])
        bins = np.flatnonzero(counts)
        return DigitCounts(bins, counts[bins], counts.size)

    def step(self, total: DigitCounts | Gathered) -> RankSearch | tuple[np.generic, ...]:
        """From the whole image's summary of this pass: the wanted values (in the order of
        ``targets``), or the search's next pass."""
        prefixes = self._prefixes()
        bits = _unsigned(self.dtype)[1]
        if isinstance(total, Gathered):
            keys = [np.concatenate(pieces) for pieces in total.pieces]
            found = [np.partition(keys[prefixes.index(prefix)], rank)[rank]
                     for prefix, rank in self.targets]
            return _values(found, self.dtype)
        counts = total.dense().reshape(len(prefixes), _DIGITS)
        targets = []
        for prefix, rank in self.targets:
            below = np.cumsum(counts[prefixes.index(prefix)])
            digit = int(np.searchsorted(below, rank, side="right"))
            targets.append(((prefix << _DIGIT_BITS) | digit,
                            rank - (int(below[digit - 1]) if digit else 0)))
        known = self.known + _DIGIT_BITS
        if known == bits:
            return _values([prefix for prefix, _ in targets], self.dtype)
        left = sum(int(counts[prefixes.index(prefix >> _DIGIT_BITS), prefix & (_DIGITS - 1)])
                   for prefix in {prefix for prefix, _ in targets})
        return RankSearch(self.dtype, tuple(targets), known, left <= GATHER_MAX)
