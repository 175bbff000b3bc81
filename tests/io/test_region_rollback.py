"""A region write that fails part way (a chunk of a pyramid level, the provenance) leaves
the OME-Zarr store as it was, every level and its provenance; when what it replaced cannot
be written back either, the error says where the store may hold part of the edit."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_maskprep.io import (
    PNG_KEY,
    RegionNotRestoredError,
    omezarr,
    open_lazy,
    write_ome_zarr,
    write_region,
)


def _levels(store) -> list[np.ndarray]:
    return [np.asarray(level) for level in open_lazy(store).levels]


def read_provenance(store) -> dict:
    return zarr.open_group(store, mode="r").attrs[PNG_KEY]


@pytest.fixture
def store(tmp_path):
    mask = (np.random.default_rng(0).random((2500, 2300)) < 0.3).astype(np.uint8)
    store = write_ome_zarr(mask, tmp_path / "mask.zarr", chunks=(256, 256))  # three levels
    zarr.open_group(store, mode="r+").attrs[PNG_KEY] = {"recipe": "what made it"}
    return store


def _failing(monkeypatch, *numbers: int) -> list[int]:
    """Chunk writes (one call a level, then one a level put back) raising at ``numbers``."""
    write, calls = omezarr._write_whole_chunks, []

    def chunks(*args):
        calls.append(len(calls) + 1)
        if calls[-1] in numbers:
            raise OSError(28, "No space left on device")
        return write(*args)

    monkeypatch.setattr(omezarr, "_write_whole_chunks", chunks)
    return calls


@pytest.mark.parametrize("failing", [2, 3])
def test_a_level_failing_leaves_every_level_as_it_was(store, monkeypatch, failing):
    """Level 0 (and 1) were written and level 1 (or 2) raised: the store's levels then
    disagreed, level 0 holding an edit its pyramid did not show."""
    before, provenance = _levels(store), read_provenance(store)
    calls = _failing(monkeypatch, failing)
    with pytest.raises(OSError, match=r"^\[Errno 28\] No space left on device$"):
        write_region(store, (300, 500), np.ones((400, 700), np.uint8),
                     provenance={**provenance, "recipe": "edited"})
    assert calls == list(range(1, 2 * failing + 1))  # each level written, written back
    for now, then in zip(_levels(store), before, strict=True):
        assert np.array_equal(now, then)
    assert read_provenance(store) == provenance


def test_the_provenance_failing_leaves_every_level_as_it_was(store, monkeypatch):
    before, provenance = _levels(store), read_provenance(store)
    with pytest.raises(TypeError):  # not JSON: zarr refuses it once every level is written
        write_region(store, (300, 500), np.ones((400, 700), np.uint8),
                     provenance={"recipe": object()})
    for now, then in zip(_levels(store), before, strict=True):
        assert np.array_equal(now, then)
    assert read_provenance(store) == provenance


def test_a_level_not_put_back_is_named_with_its_box(store, monkeypatch):
    """Only the levels written to are written back, and named when that fails."""
    before = _levels(store)
    calls = _failing(monkeypatch, 3, 5)  # level 2 fails, then putting back level 1
    with pytest.raises(RegionNotRestoredError) as caught:
        write_region(store, (300, 500), np.ones((400, 700), np.uint8))
    assert str(caught.value) == (
        f"{store} may hold part of the edit in level 1 [150:350, 250:600]: writing the "
        "region failed (OSError: [Errno 28] No space left on device) and so did writing "
        "back what it replaced there; check that part")
    assert calls == [1, 2, 3, 4, 5, 6]
    now = _levels(store)
    assert np.array_equal(now[0], before[0]) and np.array_equal(now[2], before[2])
    assert not np.array_equal(now[1], before[1])


def test_a_first_level_failing_puts_back_that_level_alone(store, monkeypatch):
    """Level 0 failing: it alone is written back (a chunk of it may be new), the levels
    never written are not (nor named, should the write back fail)."""
    before = _levels(store)
    calls = _failing(monkeypatch, 1)
    with pytest.raises(OSError, match=r"^\[Errno 28\] No space left on device$"):
        write_region(store, (300, 500), np.ones((400, 700), np.uint8))
    assert calls == [1, 2]
    for now, then in zip(_levels(store), before, strict=True):
        assert np.array_equal(now, then)
