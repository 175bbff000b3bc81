"""A file's axes as ops take them (io.axes): the same layouts accepted in memory and tiled,
time frames segmented one by one."""

import dask.array as da
import numpy as np
import pytest

from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io.axes import each_frame, image_layout


@pytest.mark.parametrize(("axes", "shape", "expected_axes", "expected_shape"), [
    ("YX", (5, 6), "yx", (5, 6)),
    ("ZYX", (2, 5, 6), "zyx", (2, 5, 6)),
    ("QYX", (2, 5, 6), "zyx", (2, 5, 6)),  # tifffile's unnamed pages: a stack
    ("IYXS", (2, 5, 6, 3), "zyxc", (2, 5, 6, 3)),
    ("QQYX", (4, 2, 5, 6), "tzyx", (4, 2, 5, 6)),  # two unnamed: frames of stacks
    ("QQYX", (1, 2, 5, 6), "zyx", (2, 5, 6)),
    ("ZYX", (1, 5, 6), "zyx", (1, 5, 6)),  # a stack of one plane stays a stack
    ("QYX", (1, 5, 6), "zyx", (1, 5, 6)),
    ("SYX", (3, 5, 6), "yxc", (5, 6, 3)),  # planar RGB
    ("CYX", (4, 5, 6), "yxc", (5, 6, 4)),
    ("TYX", (7, 5, 6), "tyx", (7, 5, 6)),
    ("TZYX", (7, 2, 5, 6), "tzyx", (7, 2, 5, 6)),
    ("TZCYX", (7, 2, 3, 5, 6), "tzyxc", (7, 2, 5, 6, 3)),
    ("TCZYX", (1, 1, 2, 5, 6), "zyx", (2, 5, 6)),  # OME-Zarr's singleton t and c dropped
    ("tczyx", (3, 1, 1, 5, 6), "tzyx", (3, 1, 5, 6)),
    ("YX", (5, 6, 3), "yxc", (5, 6, 3)),  # axes that do not describe the array: its shape
    ("YX", (2, 5, 6), "zyx", (2, 5, 6)),
])
def test_layouts_as_ops_take_them(axes, shape, expected_axes, expected_shape):
    data = np.arange(np.prod(shape)).reshape(shape)
    arranged, letters = image_layout(data, axes, "f.tif")
    assert letters == expected_axes
    assert arranged.shape == expected_shape


def test_colour_samples_move_last_with_their_values():
    planar = np.arange(3 * 2 * 4).reshape(3, 2, 4)
    arranged, _ = image_layout(planar, "SYX", "f.tif")
    assert [arranged[..., k].tolist() for k in range(3)] == planar.tolist()


def test_dask_arrays_are_arranged_lazily():
    data = da.zeros((3, 1, 40, 50), np.uint16, chunks=(1, 1, 20, 20))
    arranged, letters = image_layout(data, "tcyx", "s.zarr")
    assert letters == "tyx"
    assert isinstance(arranged, da.Array) and arranged.shape == (3, 40, 50)


@pytest.mark.parametrize(("axes", "shape", "words"), [
    ("CYX", (5, 8, 9), "(5 channels, not RGB: choose the one to segment, with --channel "
                       "N); accepted: y and x, with z (a stack), t (time frames"),
    ("CYX", (2, 8, 9), "(2 channels, not RGB"),
    ("ZTYX", (2, 3, 8, 9), "axes 'ztyx' of shape (2, 3, 8, 9); accepted"),
    ("AYX", (2, 8, 9), "axes 'ayx' of shape (2, 8, 9); accepted"),
    ("QZYX", (2, 3, 8, 9), "axes 'qzyx'"),
    ("QQQYX", (2, 2, 3, 8, 9), "axes 'qqqyx'"),
    ("CYXS", (2, 8, 9, 3), "(2 and 3 channels, not RGB"),
])
def test_other_layouts_are_refused_in_one_line(axes, shape, words):
    with pytest.raises(BadValueError) as caught:
        image_layout(np.zeros(shape, np.uint8), axes, "f.tif")
    message = str(caught.value)
    assert message.startswith("f.tif: ") and words in message and "\n" not in message


def test_each_frame_runs_frames_on_their_own():
    image = np.array([[[1, 2], [3, 4]], [[10, 20], [30, 40]]])
    by_max = each_frame(lambda frame: (frame >= frame.max()).astype(np.uint8), image, "tyx")
    assert by_max.tolist() == [[[0, 0], [0, 1]], [[0, 0], [0, 1]]]
    whole = each_frame(lambda volume: (volume >= volume.max()).astype(np.uint8), image, "zyx")
    assert whole.tolist() == [[[0, 0], [0, 0]], [[0, 0], [0, 1]]]
