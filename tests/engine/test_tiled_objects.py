"""Object-splitting steps in chunks (each object made by the chunk that holds its centre,
with a margin as wide as the largest object): on real nuclei they find the same objects as
in memory, nearly all identical, and never cut or double one at a seam."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.core.errors import RecipeError
from napari_maskprep.engine.tiled import run_tiled
from napari_maskprep.io import read_image

from ..conftest import DATA, pairs


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    fields = [read_image(image) for image, _ in pairs(DATA, "bbbc039_fluo_nuclei")[:4]]
    return np.block([[fields[0], fields[1]], [fields[2], fields[3]]])


def _recipe(op: str) -> mp.Recipe:
    return mp.Recipe(steps=[{"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
                            {"op": "segment.auto_threshold", "params": {}},
                            {"op": op, "params": {"min_distance": 5}}])


def _identical_objects(want: np.ndarray, got: np.ndarray) -> int:
    """Objects with exactly the same pixels in both, whatever their ids."""
    sizes_want, sizes_got = np.bincount(want.ravel()), np.bincount(got.ravel())
    both = (want > 0) & (got > 0)
    pairs_, overlap = np.unique(np.stack([want[both], got[both]]), axis=1, return_counts=True)
    return int(np.sum((overlap == sizes_want[pairs_[0]]) & (overlap == sizes_got[pairs_[1]])))


def _pixels_agreeing(want: np.ndarray, got: np.ndarray) -> float:
    """The share of foreground pixels in the tiled object that overlaps their object most."""
    both = (want > 0) & (got > 0)
    pairs_, overlap = np.unique(np.stack([want[both], got[both]]), axis=1, return_counts=True)
    best = np.zeros(want.max() + 1, np.int64)
    np.maximum.at(best, pairs_[0], overlap)
    return best.sum() / np.count_nonzero(want)


@pytest.mark.parametrize("op", ["refine.split_touching", "segment.watershed"])
@pytest.mark.parametrize(("object_size", "chunks"), [(60, 256), (100, (300, 512))])
def test_split_objects_in_chunks_are_the_in_memory_objects(mosaic, op, object_size, chunks):
    """Every clump of touching nuclei here is narrower than ``object_size``: each is split
    in the chunk that holds it whole, as in memory (component by component), so every one
    of the 353 objects comes out with the same pixels; only the ids are numbered apart."""
    recipe = _recipe(op)
    want = recipe.run(mosaic)
    got = recipe.run(da.from_array(mosaic, chunks=chunks), object_size=object_size).compute()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got > 0, want > 0)  # no pixel lost or added
    assert got.max() == want.max() == len(np.unique(got)) - 1 == 353  # ids 1..N, no double
    assert _identical_objects(want, got) == want.max()


def test_a_clump_wider_than_the_object_size_is_split_close_to_memory(mosaic):
    recipe = _recipe("refine.split_touching")
    want = recipe.run(mosaic)
    got = recipe.run(da.from_array(mosaic, chunks=128), object_size=12).compute()
    # Measured: 91% of objects identical, 96% of pixels in their object's best match, 99.93%
    # of the foreground kept (a piece no chunk owns is dropped), none added.
    assert np.count_nonzero((got > 0) & (want == 0)) == 0
    assert np.mean((got > 0)[want > 0]) >= 0.998
    assert _identical_objects(want, got) >= 0.85 * want.max()
    assert _pixels_agreeing(want, got) >= 0.94


def test_an_object_across_a_chunk_corner_is_made_once_and_whole():
    yy, xx = np.mgrid[:80, :80]
    mask = ((yy - 40) ** 2 + (xx - 41) ** 2 <= 12 ** 2).astype(np.uint8)  # on the corner
    mask |= ((yy - 10) ** 2 + (xx - 70) ** 2 <= 6 ** 2).astype(np.uint8)
    step = mp.recipe.Step("refine.split_touching", {"min_distance": 3})
    got = run_tiled([step], da.from_array(mask, chunks=40), object_size=30).compute()
    want = mp.apply("refine.split_touching", mask, min_distance=3)
    assert got.max() == want.max() == 2
    for k in (1, 2):
        assert len(np.unique(got[want == k])) == 1  # neither cut nor shared


def test_without_an_object_size_they_are_refused_before_any_work():
    image = da.zeros((64, 64), dtype=np.uint8, chunks=32)
    with pytest.raises(RecipeError, match=r"^step 3 \(refine.split_touching\) cannot run "
                                          r"tiled: it splits objects by their whole clump; "
                                          r"it runs tiled only with a declared largest "
                                          r"object size"):
        _recipe("refine.split_touching").run(image)
    with pytest.raises(RecipeError, match=r"^object_size=0; accepted: a whole number"):
        _recipe("refine.split_touching").run(image, object_size=0)
