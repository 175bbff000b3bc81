"""Component steps in chunks equal the in-memory ops on random masks in every chunk layout,
down to chunks one pixel thick: objects and holes across faces, edges and corners."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

import napari_maskprep as mp
from napari_maskprep.engine.tiled import run_tiled
from napari_maskprep.engine.tiled_components import chunked_op

_STEPS = [("refine.label", {}), ("refine.label", {"connectivity": "faces"}),
          ("refine.fill_holes", {}), ("refine.fill_holes", {"max_hole_size": 4}),
          ("refine.remove_small", {"min_size": 6}),
          ("refine.remove_large", {"max_size": 9, "connectivity": "faces"}),
          ("refine.keep_largest", {}), ("refine.keep_largest", {"connectivity": "faces"}),
          ("refine.clear_border", {}), ("refine.clear_border", {"connectivity": "faces"})]


def _masks(ndim: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    yield np.zeros((5,) * ndim, np.uint8)
    yield np.ones((6,) * ndim, np.uint8)
    for _ in range(count):
        shape = tuple(int(n) for n in rng.integers(3, 40 if ndim == 2 else 12, ndim))
        blurred = ndi.gaussian_filter(rng.random(shape), rng.uniform(0.5, 2.0))
        yield (blurred > rng.uniform(0.45, 0.55)).astype(np.uint8)


@pytest.mark.parametrize("ndim", [2, 3])
def test_every_component_step_in_random_chunks_equals_memory(ndim):
    rng = np.random.default_rng(ndim)
    for mask in _masks(ndim, 12, seed=10 + ndim):
        chunks = tuple(int(rng.integers(1, n + 1)) for n in mask.shape)
        for op, params in _STEPS:
            want = mp.apply(op, mask, **params)
            step = mp.recipe.Step(op, params)
            got = run_tiled([step], da.from_array(mask, chunks=chunks)).compute()
            assert got.dtype == want.dtype, (op, params, chunks)
            np.testing.assert_array_equal(got, want, err_msg=f"{op} {params} {chunks}")


def test_an_object_across_a_chunk_corner_is_one_object():
    mask = np.zeros((6, 6), np.uint8)
    mask[2, 2] = mask[3, 3] = 1  # diagonal neighbours, in chunks (0, 0) and (1, 1)
    got = run_tiled([mp.recipe.Step("refine.label", {})], da.from_array(mask, chunks=3))
    np.testing.assert_array_equal(got.compute(), mask.astype(np.int32))
    faces = run_tiled([mp.recipe.Step("refine.label", {"connectivity": "faces"})],
                      da.from_array(mask, chunks=3))
    np.testing.assert_array_equal(faces.compute()[[2, 3], [2, 3]], [1, 2])


def test_a_hole_spread_over_four_chunks_is_filled_and_one_open_to_the_border_is_not():
    mask = np.ones((8, 8), np.uint8)
    mask[3:5, 3:5] = 0  # a hole around the corner the four chunks share
    mask[6:, 1] = 0  # a notch reaching the bottom edge: not a hole
    got = run_tiled([mp.recipe.Step("refine.fill_holes", {})], da.from_array(mask, chunks=4))
    want = mask.copy()
    want[3:5, 3:5] = 1
    np.testing.assert_array_equal(got.compute(), want)


def test_only_the_component_ops_have_a_chunked_form():
    assert chunked_op("refine.label", {}, 2) is not None
    assert chunked_op("refine.split_touching", {}, 2) is None


def test_each_chunk_is_labelled_once_per_step_its_labels_read_back(monkeypatch):
    """A component step labelled each chunk to summarise it and again to apply the table
    (3-4x the time of reading the labels back): now once, and the result is the same."""
    from napari_maskprep.kernels import components

    calls = []
    original = components._components

    def counting(mask, connectivity):
        calls.append(mask.shape)
        return original(mask, connectivity)

    monkeypatch.setattr(components, "_components", counting)
    mask = next(m for m in _masks(2, 3, seed=7) if m.shape[0] > 20 and m.shape[1] > 20)
    for op, params in [("refine.fill_holes", {}), ("refine.remove_small", {"min_size": 6})]:
        want = mp.apply(op, mask, **params)
        calls.clear()
        got = run_tiled([mp.recipe.Step(op, params)], da.from_array(mask, chunks=10)).compute()
        chunks = -(-mask.shape[0] // 10) * -(-mask.shape[1] // 10)
        assert len([c for c in calls if c != mask.shape]) == chunks  # the probe's corner aside
        np.testing.assert_array_equal(got, want)


def test_a_chunk_of_more_objects_than_uint16_numbers_is_read_back_as_int32():
    mask = np.zeros((1024, 520), np.uint8)
    mask[::2, ::2] = 1  # 262 144 single pixels, 65 536 in the first chunk of 512 x 512
    mask[600:700, 100:200] = 1
    step = mp.recipe.Step("refine.remove_small", {"min_size": 2, "connectivity": "faces"})
    got = run_tiled([step], da.from_array(mask, chunks=512)).compute()
    want = mp.apply("refine.remove_small", mask, min_size=2, connectivity="faces")
    assert np.count_nonzero(want) == 100 * 100 + 2 * 50  # the square, the dots touching it
    np.testing.assert_array_equal(got, want)
