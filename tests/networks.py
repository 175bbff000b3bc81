"""Tiny ONNX segmentation networks built in the tests (no download), their numpy references,
and model files of them for the tests of ``segment.onnx_model``.

``conv_net``: 3x3 convolution, ReLU, 3x3 convolution, sigmoid (receptive radius 2, two
output channels). ``unet``: a one-level U-Net: convolution and ReLU, 2x2 max pooling,
convolution and ReLU, nearest upsampling, the skip connection concatenated, a convolution
and a sigmoid (downsampling 2, receptive radius 5). Weights come from a seeded generator.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

__all__ = ["conv_net", "model_file", "network_model", "reference", "unet"]


def _weights(seed: int, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Random weights that make a network see brightness: positive filters, negative biases
    (each ReLU passes what is brighter than its level); a last layer's first output channel
    of two counts against the foreground."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if name.startswith("w"):
            a = 8 * np.abs(rng.normal(size=shape)) / np.prod(shape[1:])
            if shape[0] == 2:
                a[0] *= -1
        else:
            a = -rng.uniform(1.0, 3.0, size=shape)
        out[name] = a.astype(np.float32)
    return out


def conv_net(seed: int = 0, channels: int = 1) -> tuple[bytes, dict[str, np.ndarray]]:
    """The serialised model and its weights."""
    from onnx import helper

    w = _weights(seed, {"w1": (4, channels, 3, 3), "b1": (4,), "w2": (2, 4, 3, 3), "b2": (2,)})
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "w2", "b2"], ["z"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["z"], ["y"])]
    return _model(nodes, w, channels, 2), w


def unet(seed: int = 0) -> tuple[bytes, dict[str, np.ndarray]]:
    from onnx import helper

    w = _weights(seed, {"w1": (4, 1, 3, 3), "b1": (4,), "w2": (4, 4, 3, 3), "b2": (4,),
                        "w3": (1, 8, 3, 3), "b3": (1,)})
    w["scales"] = np.array([1, 1, 2, 2], np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p", "w2", "b2"], ["h2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h2"], ["r2"]),
             helper.make_node("Resize", ["r2", "", "scales"], ["u"], mode="nearest"),
             helper.make_node("Concat", ["u", "r1"], ["c"], axis=1),
             helper.make_node("Conv", ["c", "w3", "b3"], ["z"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["z"], ["y"])]
    return _model(nodes, w, 1, 1), w


def _model(nodes, weights: dict[str, np.ndarray], channels: int, classes: int) -> bytes:
    from onnx import TensorProto, checker, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes, "h", "w"])],
        [numpy_helper.from_array(a, name) for name, a in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    checker.check_model(model)
    return model.SerializeToString()


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX Conv (a cross-correlation) with 3x3 kernels and one pixel of zero padding."""
    return np.stack([b[o] + sum(ndi.correlate(x[i], w[o, i].astype(np.float64),
                                              mode="constant") for i in range(x.shape[0]))
                     for o in range(w.shape[0])])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def reference(kind: str, weights: dict[str, np.ndarray], image: np.ndarray) -> np.ndarray:
    """The network's output (classes x height x width, float64) on ``image`` (channels x
    height x width), in numpy and SciPy; a U-Net input is first padded (reflected) to even
    sides, as the op does."""
    x = image.astype(np.float64)
    if kind == "conv_net":
        h = np.maximum(_conv(x, weights["w1"], weights["b1"]), 0)
        return _sigmoid(_conv(h, weights["w2"], weights["b2"]))
    height, width = x.shape[1:]
    x = np.pad(x, ((0, 0), (0, height % 2), (0, width % 2)), mode="reflect")
    r1 = np.maximum(_conv(x, weights["w1"], weights["b1"]), 0)
    pooled = r1.reshape(4, r1.shape[1] // 2, 2, r1.shape[2] // 2, 2).max(axis=(2, 4))
    r2 = np.maximum(_conv(pooled, weights["w2"], weights["b2"]), 0)
    up = r2.repeat(2, axis=1).repeat(2, axis=2)
    out = _sigmoid(_conv(np.concatenate([up, r1]), weights["w3"], weights["b3"]))
    return out[:, :height, :width]


def model_file(folder: Path, data: bytes, name: str = "net.onnx") -> dict[str, str]:
    """``data`` written to ``folder/name``: the step's model parameter naming it."""
    path = Path(folder) / name
    path.write_bytes(data)
    return {"path": str(path), "sha256": hashlib.sha256(data).hexdigest()}


_FOLDER = tempfile.TemporaryDirectory(prefix="maskprep-networks-")  # removed at exit


@functools.cache
def network_model(kind: str, channels: int = 1) -> dict[str, str]:
    """A model file of ``conv_net`` (1 or 3 input channels) or ``unet`` (seed 0), written
    once per process."""
    data, _ = conv_net(channels=channels) if kind == "conv_net" else unet()
    return model_file(Path(_FOLDER.name), data, f"{kind}-{channels}.onnx")
