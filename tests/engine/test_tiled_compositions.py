"""Recipes of several steps on the smallest images and chunks, tiled against in memory:
cases found by random composition testing."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.kernels import gaussian as kernels


def _freed_buffers_of(shape: tuple[int, ...], dtype: type) -> None:
    """Leaves numpy's cache of small freed buffers holding the largest value of ``dtype``,
    so a result read from uninitialised memory shows."""
    held = [np.full(shape, np.iinfo(dtype).max, dtype) for _ in range(8)]
    del held


@pytest.mark.parametrize(("shape", "threads"), [((1, 1), 1), ((2, 1), 2), ((3, 1), 2)])
def test_uint16_blur_of_one_pixel_tiles_is_the_image(monkeypatch, shape, threads):
    # A uint16 blur of 7 taps or more rounds its float32 tiles back with cv2.add, which
    # took a 1 x 1 tile for a scalar and left that pixel uninitialised (5 came back as
    # 15924 in memory and 10678 tiled).
    monkeypatch.setattr(kernels, "thread_budget", lambda: threads)
    image = np.full(shape, 5, np.uint16)
    recipe = mp.Recipe([{"op": "preprocess.gaussian", "params": {"sigma": 1.7}}])
    _freed_buffers_of(shape, np.uint16)
    np.testing.assert_array_equal(recipe.run(image), image)
    _freed_buffers_of(shape, np.uint16)
    np.testing.assert_array_equal(recipe.run(da.from_array(image, chunks=1)).compute(), image)
