"""A network whose model fixes its input's channel count is checked against the channels
that reach it from each input's header before a batch runs: a grey network on RGB images
(or the reverse) ran and failed every file ('the network takes 1 channel(s); the image has
3'), each after reading it."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import yaml

import napari_maskprep as mp
from napari_maskprep.cli import main
from napari_maskprep.io import read_image
from napari_maskprep.kernels.networks import CheckedModel, open_network

from ..networks import conv_net, network_model

NETWORK = {"op": "segment.onnx_model", "params": {"multiple": 1, "halo": 2, "channel": 1}}
TO_GRAY = {"op": "preprocess.to_gray", "params": {}}
COLOURS = {"op": "segment.color_range", "params": {}}  # a mask
CLAHE = {"op": "preprocess.clahe", "params": {"tiles": 16}}  # grey, of more than 8 px
GAUSSIAN = {"op": "preprocess.gaussian", "params": {"sigma": 1.0}}  # keeps the colours


@pytest.fixture
def images(tmp_path):
    """A grey and an RGB image, each in a folder of its own."""
    rng = np.random.default_rng(3)
    for name, shape, photometric in (("grey", (40, 48), "minisblack"),
                                     ("rgb", (40, 48, 3), "rgb")):
        (tmp_path / name).mkdir()
        tifffile.imwrite(tmp_path / name / f"{name}.tif",
                         rng.integers(0, 256, shape, dtype=np.uint8), photometric=photometric)
    return tmp_path


def _recipe(tmp_path, channels: int, *before: dict):
    path = tmp_path / f"r{channels}-{len(before)}.maskprep.yaml"
    network = {**NETWORK, "params": {**NETWORK["params"],
                                     "model": network_model("conv_net", channels)}}
    path.write_text(yaml.safe_dump({"maskprep": 1, "steps": [*before, network]}))
    return path


@pytest.mark.parametrize(("folder", "channels", "before", "why"), [
    ("rgb", 1, (), "the network takes 1 channel(s); the image has 3; accepted: an image of 1 "
     "channel(s) (of a colour image: preprocess.to_gray or preprocess.color_channel before "
     "the step)"),
    ("grey", 3, (), "the network takes 3 channel(s); the image has 1; accepted: an image of 3 "
     "channel(s)"),
    ("rgb", 3, (TO_GRAY,), "the network takes 3 channel(s); the image has 3, 1 after step 1 "
     "(preprocess.to_gray); accepted: an image of 3 channel(s)"),
    ("rgb", 3, (COLOURS,), "the network takes 3 channel(s); the image has 3, 1 after step 1 "
     "(segment.color_range); accepted: an image of 3 channel(s)"),
    ("rgb", 3, (CLAHE,), "the network takes 3 channel(s); the image has 3, 1 after step 1 "
     "(preprocess.clahe); accepted: an image of 3 channel(s)"),
    ("rgb", 1, (GAUSSIAN,), "the network takes 1 channel(s); the image has 3; accepted: an "
     "image of 1 channel(s) (of a colour image: preprocess.to_gray or "
     "preprocess.color_channel before the step)"),
])
@pytest.mark.parametrize("tiled", ["never", "always"])
def test_a_network_s_channel_count_is_checked_before_any_work(images, capsys, folder,
                                                             channels, before, why, tiled):
    recipe = _recipe(images, channels, *before)
    out = images / "out"
    assert main(["run", "-q", str(recipe), str(images / folder), "-o", str(out),
                 "--tiled", tiled]) == 2
    number = len(before) + 1
    assert capsys.readouterr().err == (
        f"maskprep: error: {images / folder / f'{folder}.tif'}: step {number} "
        f"(segment.onnx_model): {why}\n")
    assert not out.exists()


@pytest.mark.parametrize(("folder", "channels", "before", "options"), [
    ("rgb", 3, (), ()),
    ("grey", 1, (), ()),
    ("rgb", 1, (TO_GRAY,), ()),
    ("rgb", 3, (GAUSSIAN,), ()),
    ("rgb", 1, (GAUSSIAN, TO_GRAY), ()),
    ("rgb", 1, (), ("--channel", "1")),  # its green alone
])
def test_the_channels_that_reach_the_network_run(images, folder, channels, before, options):
    recipe = _recipe(images, channels, *before)
    out = images / "out"
    assert main(["run", "-q", str(recipe), str(images / folder), "-o", str(out),
                 *options]) == 0
    image = read_image(images / folder / f"{folder}.tif")
    if options:
        image = image[..., 1]
    np.testing.assert_array_equal(read_image(out / f"{folder}.tif"),
                                  mp.Recipe.load(recipe).run(image))


def test_the_channel_count_is_read_from_the_model_as_onnxruntime_reads_it():
    from onnx import TensorProto, helper

    for channels in (1, 3):
        data = conv_net(channels=channels)[0]
        assert CheckedModel(data).channels == open_network(data, threads=1).channels == channels
    graph = helper.make_graph(  # its input's channels free: none checked before it runs
        [helper.make_node("Identity", ["x"], ["y"])], "copy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "c", "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "c", "h", "w"])])
    free = helper.make_model(graph).SerializeToString()
    assert CheckedModel(free).channels is open_network(free, threads=1).channels is None
