"""segment.local_threshold of a float image mixing tiny (or huge) and ordinary values, in
chunks, equals the in-memory run: each pixel is thresholded at the scale its own window
needs, which a chunk holding the window sees as the whole image does."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.engine.tiled import run_tiled

# 0-15 levels: Niblack's standard deviation matters (a flat window has none).
_LEVELS = np.array([[0, 1, 1, 2, 8, 9, 3], [9, 9, 10, 1, 0, 3, 3], [4, 4, 12, 2, 2, 7, 6],
                    [0, 15, 6, 5, 1, 1, 1], [2, 2, 2, 14, 13, 0, 5]])


def _threshold(method: str) -> mp.Recipe:
    return mp.Recipe(steps=[{"op": "segment.local_threshold",
                             "params": {"method": method, "block_size": 3, "k": 0.5}}])


def _mixed(dtype, exponent: int, shape: tuple[int, ...]) -> np.ndarray:
    """Levels tiled over ``shape``, the first 21 columns scaled by ``2**exponent`` (tiny or
    huge), the rest as they are."""
    rows = -(-shape[-2] // 5)
    plane = np.tile(_LEVELS, (rows, 6))[:shape[-2], :shape[-1]].astype(dtype)
    image = np.broadcast_to(plane, shape).copy()
    image[..., :21] = np.ldexp(image[..., :21], exponent)
    return image


@pytest.mark.parametrize(("dtype", "exponent", "shape", "chunks"), [
    (np.float64, -600, (20, 42), (10, 14)),  # tiny: squares below 1e-308 underflowed
    (np.float64, 600, (20, 42), (10, 14)),  # huge: squares past 1e308 overflowed
    (np.float32, -80, (4, 20, 42), (2, 10, 14)),  # scikit-image's float32 squares (3D)
])
@pytest.mark.parametrize("method", ["niblack", "sauvola"])
def test_tiny_or_huge_values_beside_ordinary_ones_threshold_the_same_in_chunks(
        dtype, exponent, shape, chunks, method):
    """The whole image's largest value chose one scale for all of it: its ordinary values
    kept it unscaled, so Niblack of the tiny columns lost their standard deviation (their
    squares underflowed), while a chunk holding only tiny columns was scaled and kept it
    (49 of the 420 tiny pixels differed, float64 2**-600); beside huge values the ordinary
    ones were scaled down to underflow instead (54 pixels, Sauvola 145)."""
    image = _mixed(dtype, exponent, shape)
    recipe = _threshold(method)
    want = recipe.run(image)
    got = run_tiled(recipe.steps, da.from_array(image, chunks=chunks)).compute()
    np.testing.assert_array_equal(got, want)
    # Each part is thresholded as it would be alone (away from where they meet).
    alone = recipe.run(np.ascontiguousarray(image[..., :21]))
    np.testing.assert_array_equal(want[..., :20], alone[..., :20])
    ordinary = recipe.run(np.ascontiguousarray(image[..., 21:]))
    np.testing.assert_array_equal(want[..., 22:], ordinary[..., 1:])


def test_a_chunk_s_window_padding_is_bounded_as_the_whole_image_s(monkeypatch):
    """Niblack in 3D pads its input by the window, up to 16 times its pixels (or 2**22).
    A chunk with its margin is narrower than the image, so it pads more of itself: a chunk
    of 5 x 230 x 230 (pads to 5.5e6 pixels) raised a LimitError as it ran, while the whole
    5 x 600 x 600 image ran in memory. A tiled run bounds each chunk, and refuses before any
    chunk runs, as the whole image is bounded in memory. The threshold itself is a
    stand-in here: the real one takes seconds on an image this large."""
    monkeypatch.setattr("napari_maskprep.ops.segment.local_threshold_mask",
                        lambda image, *args, **kwargs: (image > 99).view(np.uint8))
    image = (np.indices((5, 600, 600)).sum(0) * 37 % 251).astype(np.uint8)
    recipe = mp.Recipe(steps=[{"op": "segment.local_threshold",
                               "params": {"method": "niblack", "block_size": 61}}])
    got = recipe.run(da.from_array(image, chunks=(5, 200, 200))).compute()
    np.testing.assert_array_equal(got, recipe.run(image))
    wider = da.from_array(np.zeros((5, 500, 600), np.uint8), chunks=(5, 200, 200))
    with pytest.raises(mp.RecipeError) as refused:
        recipe.run(wider)
    assert str(refused.value) == (
        "step 1 (segment.local_threshold): method 'niblack' with k=0.2 and block_size=61 pads "
        "the image of shape (5, 500, 600) to 2.4e+07 pixels, more than 16 times its own (or "
        "2**22); accepted: block_size <= 59 for this image, or k=0, or method 'mean' or "
        "'gaussian' (any block_size)")
