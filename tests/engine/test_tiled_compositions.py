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


@pytest.mark.parametrize(("space", "channel"), [("lab", 0), ("lab", 1), ("lab", 2), ("hsv", 0)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_colour_channel_in_chunks_is_the_whole_images(space, channel, dtype):
    # OpenCV's cube root (Lab) and float HSV (uint8 hue) round a row's last values, which
    # its vector loop leaves to scalar code, otherwise than the rest: in chunks, whose rows
    # end elsewhere, 4 of 30 pixels of a 5 x 6 uint8 L* differed by 1 ulp, as did hues.
    rgb = np.random.default_rng(0).integers(0, 256, (23, 37, 3)).astype(dtype)
    if dtype == np.uint16:
        rgb *= 257
    elif dtype == np.float32:
        rgb /= 255
    recipe = mp.Recipe([{"op": "preprocess.color_channel",
                         "params": {"space": space, "channel": channel}}])
    tiled = recipe.run(da.from_array(rgb, chunks=(5, 5, 3))).compute()
    np.testing.assert_array_equal(tiled, recipe.run(rgb))


@pytest.mark.filterwarnings("ignore:preprocess.clahe works on one channel")
def test_a_refusal_of_the_grey_image_names_the_whole_images_shape():
    # The check runs on a corner of 64 px a side; its message named the corner's grey
    # shape, (5, 64), where an RGB image's colour axis was all that was replaced.
    rgb = np.zeros((5, 67, 3), np.uint8)
    recipe = mp.Recipe([{"op": "preprocess.clahe", "params": {"tiles": 8}}])
    message = ("step 1 (preprocess.clahe): preprocess.clahe: tiles=8 is more than the "
               "image's 5 pixels along its shorter side (shape (5, 67)); accepted: tiles "
               "up to 5")
    for image in (rgb, da.from_array(rgb, chunks=(2, 7, 3))):
        with pytest.raises(mp.MaskprepError) as raised:
            recipe.run(image)
        assert str(raised.value) == message
