"""kernels.rank_select: the keys sort as the floats do, and the values at ranks and the
median found from chunks' summaries are numpy's partition and median, bit for bit, whether
the search counts digits or gathers."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest

from napari_maskprep.kernels import rank_select
from napari_maskprep.kernels.rank_select import RankSearch, median_of, middle_ranks, ordered_keys

DTYPES = [np.float16, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_keys_sort_as_the_values_with_minus_zero_just_below_zero(dtype):
    info = np.finfo(dtype)
    values = np.array([-np.inf, info.min, -1.5, -info.smallest_subnormal, -0.0, 0.0,
                       info.smallest_subnormal, info.tiny, 1.0, 1.5, info.max, np.inf], dtype)
    keys = ordered_keys(values)
    assert keys.dtype == np.dtype(f"u{np.dtype(dtype).itemsize}")
    assert (keys[1:] > keys[:-1]).all()


def _search(chunks: list[np.ndarray], ranks: tuple[int, ...], dtype) -> tuple[tuple, int]:
    """The values at ``ranks`` found from ``chunks``' summaries, and the passes it took."""
    count = sum(int(np.isfinite(chunk).sum()) for chunk in chunks)
    search = RankSearch.start(np.dtype(dtype), ranks, count)
    passes = 0
    while isinstance(search, RankSearch):
        total = functools.reduce(operator.add, [search.summary(chunk) for chunk in chunks])
        search, passes = search.step(total), passes + 1
    return search, passes


def _values(rng: np.random.Generator, kind: str, size: int, dtype) -> np.ndarray:
    values = {
        "normal": lambda: rng.normal(size=size),
        "ties": lambda: rng.integers(-2, 3, size).astype(np.float64),
        "zeros": lambda: np.where(rng.random(size) < 0.5, -0.0, 0.0),
        "special": lambda: rng.choice([np.inf, -np.inf, np.nan, 1.5, -2.5, 0.0, -0.0], size),
        "wide": lambda: rng.normal(size=size) * 10.0 ** rng.integers(-300, 300, size),
    }[kind]()
    with np.errstate(over="ignore"):
        return values.astype(dtype)


@pytest.mark.parametrize("gather_max", [0, 40, rank_select.GATHER_MAX])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "special", "wide"])
def test_ranks_and_median_from_chunks_are_numpy_s(monkeypatch, gather_max, dtype, kind):
    monkeypatch.setattr(rank_select, "GATHER_MAX", gather_max)
    rng = np.random.default_rng(len(kind) + gather_max)
    for size in (1, 2, 7, 300, 301):
        values = _values(rng, kind, size, dtype)
        finite = values[np.isfinite(values)]
        if not finite.size:
            continue
        chunks = np.split(values, np.sort(rng.integers(0, size, 3)))  # some empty
        ranks = middle_ranks(finite.size)
        found, _ = _search(chunks, ranks, dtype)
        # the keys compare the bits (-0.0 and 0.0 are equal values)
        np.testing.assert_array_equal(ordered_keys(np.array(found, dtype)),
                                      np.sort(ordered_keys(finite))[list(ranks)])
        np.testing.assert_array_equal(np.array(found), np.partition(finite, ranks)[list(ranks)])
        assert median_of(found, np.dtype(dtype)).tobytes() == np.median(finite).tobytes()


def test_any_ranks_are_the_sorted_keys_at_them():
    rng = np.random.default_rng(3)
    values = np.where(rng.random(1001) < 0.3, -0.0, rng.integers(-3, 4, 1001)).astype(np.float32)
    ranks = (0, 400, 700, 1000)
    found, _ = _search(np.split(values, [100, 500]), ranks, np.float32)
    np.testing.assert_array_equal(ordered_keys(np.array(found)),
                                  np.sort(ordered_keys(values))[list(ranks)])


@pytest.mark.parametrize(("dtype", "gather_max", "passes"), [
    (np.float16, 0, 1), (np.float32, 0, 2), (np.float64, 0, 4),  # 16 bits a pass
    (np.float64, 1000, 2),  # the top 16 bits leave a few hundred keys: gathered
    (np.float64, 5000, 1),  # all of them gathered at once
])
def test_passes_count_16_bits_each_until_few_are_left(monkeypatch, dtype, gather_max, passes):
    monkeypatch.setattr(rank_select, "GATHER_MAX", gather_max)
    values = np.random.default_rng(5).normal(size=5000).astype(dtype)
    found, taken = _search(np.split(values, [1234]), middle_ranks(5000), dtype)
    assert taken == passes
    assert median_of(found, np.dtype(dtype)) == np.median(values)


def test_the_median_of_two_huge_values_overflows_as_numpy_s():
    middle = (np.float32(3e38), np.float32(3.4e38))
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert median_of(middle, np.dtype(np.float32)) == np.float32(np.inf)
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert np.median(np.array([1.0, 3e38, 3.4e38, 3.4e38], np.float32)) == np.inf
