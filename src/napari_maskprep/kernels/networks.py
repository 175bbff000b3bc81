"""ONNX segmentation networks: a model checked and opened with onnxruntime, then run on an
image tile by tile, each tile with a margin (the halo), equal to one run on the whole image.

Checking a model (:class:`CheckedModel`) parses its bytes with ``onnx`` (protobuf only, no
external data) and refuses, before onnxruntime sees them:

- tensors stored outside the file (``external data``): the file's sha256 would not cover
  them, and their paths could point anywhere on the disk;
- operators outside the standard domains (custom ops): no custom op library is ever
  registered (``SessionOptions.register_custom_ops_library`` is never called), so such a
  model could not run anyway, and is refused by name.

onnxruntime then builds a CPU session from the bytes (``session.load_model_format=ONNX``: no
ORT flatbuffer format), on a fixed number of threads, operators run in sequence.

Tiling (:func:`run_network`): tiles start at multiples of ``multiple`` (the network's
total downsampling, 2^k for a U-Net with k poolings) and read ``halo`` pixels around
them; a tile that reaches the image's end is padded there (reflected) to a multiple, as the
whole image is. A network that is translation-equivariant for shifts by ``multiple`` and
whose outputs see no further than ``halo`` then gives every pixel the same value in a tile
as in one whole-image run: convolutions in onnxruntime's CPU kernels compute each output
from the same inputs in the same order whatever the tile's size or the thread count
(tested bit for bit in ``tests/ops/test_onnx_model.py``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import BadValueError, MaskprepError

__all__ = ["INSTALL", "TILE", "CheckedModel", "Network", "open_network", "run_network"]

INSTALL = "pip install 'napari-maskprep[onnx]'"
TILE = 1024  # px a side a tile holds besides its halo: a few hundred MB of activations at most
# Operator domains onnxruntime's CPU provider implements itself: anything else is custom.
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})


@dataclass(frozen=True)
class Network:
    """An opened network: its session, input and output names, and the input's channel
    count where the model fixes it (None where it is free)."""

    session: Any
    input_name: str
    output_name: str
    channels: int | None


def _modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise MaskprepError(f"segment.onnx_model needs onnxruntime and onnx, which are not "
                            f"installed: {INSTALL}") from None
    return onnx, onnxruntime


def _graphs(onnx: Any, model: Any) -> list[Any]:
    """The model's graph, every subgraph (If, Loop, Scan bodies) and its functions' nodes."""
    found, stack = [], [model.graph]
    while stack:
        graph = stack.pop()
        found.append(graph)
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    stack.append(attribute.g)
                stack.extend(attribute.graphs)
    return found


def _check_model(onnx: Any, model: Any, where: str) -> None:
    """Refuse external data and custom operators (see the module's docstring)."""
    local = {f.domain for f in model.functions}
    nodes = [n for g in _graphs(onnx, model) for n in g.node]
    nodes += [n for f in model.functions for n in f.node]
    for node in nodes:
        if node.domain not in _STANDARD_DOMAINS and node.domain not in local:
            raise BadValueError(
                f"{where}: the operator {node.op_type!r} of domain {node.domain!r} is a custom "
                "op; accepted: standard ONNX operators (no custom op library is loaded)")
    tensors = []
    for graph in _graphs(onnx, model):
        tensors += list(graph.initializer)
        tensors += [t for s in graph.sparse_initializer for t in (s.values, s.indices)]
        for node in graph.node:
            for attribute in node.attribute:
                tensors += [attribute.t, *attribute.tensors]
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            location = next((e.value for e in tensor.external_data if e.key == "location"), "")
            raise BadValueError(
                f"{where}: the tensor {tensor.name!r} is stored outside the file (external "
                f"data {location!r}); accepted: a self-contained ONNX file, whose sha256 "
                "covers every weight (onnx.save_model(model, path))")


class CheckedModel:
    """An ONNX model's bytes, checked (see the module's docstring): :meth:`network` opens it
    on a number of threads, once per number."""

    def __init__(self, data: bytes, *, where: str = "model") -> None:
        onnx, _ = _modules()
        try:
            model = onnx.load_model_from_string(data, format="protobuf")
        except Exception as exc:  # protobuf's DecodeError and others: the bytes are no model
            raise BadValueError(f"{where}: not a valid ONNX model ({type(exc).__name__})"
                                ) from None
        _check_model(onnx, model, where)
        self.data, self.where = data, where
        self._networks: dict[int, Network] = {}
        self._lock = threading.Lock()

    def network(self, threads: int) -> Network:
        """The model opened with onnxruntime on ``threads`` (the same results on any)."""
        with self._lock:
            if threads not in self._networks:
                self._networks[threads] = _open(self.data, threads, self.where)
            return self._networks[threads]


def _open(data: bytes, threads: int, where: str) -> Network:
    _, ort = _modules()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.load_model_format", "ONNX")
    options.log_severity_level = 3  # errors only: warnings would print from inside the op
    try:
        session = ort.InferenceSession(data, sess_options=options,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's Fail, InvalidGraph, NotImplemented ...
        why = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise BadValueError(f"{where}: onnxruntime cannot load the network ({why})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if (len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 4
            or not outputs or outputs[0].type != "tensor(float)"):
        shown = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs)
        first = f"{outputs[0].name}: {outputs[0].type}" if outputs else "no output"
        raise BadValueError(f"{where}: the network takes {shown or 'no input'} and gives "
                            f"{first} first; accepted: one float input (1, channels, height, "
                            "width) and a float output first")
    batch = inputs[0].shape[0]
    if isinstance(batch, int) and batch != 1:
        raise BadValueError(f"{where}: the network takes a fixed batch of {batch} "
                            f"{inputs[0].shape}; accepted: a batch of 1 (or a free one)")
    fixed = [d for d in inputs[0].shape[2:] if isinstance(d, int)]
    if fixed:
        raise BadValueError(f"{where}: the network takes a fixed input size "
                            f"{inputs[0].shape[2:]}; accepted: free height and width")
    channels = inputs[0].shape[1]
    return Network(session, inputs[0].name, outputs[0].name,
                   channels if isinstance(channels, int) else None)


def open_network(data: bytes, *, threads: int, where: str = "model") -> Network:
    """Check ``data`` (an ONNX model's bytes) and open it with onnxruntime on ``threads``.

    The network must take one float tensor of shape (1, channels, height, width), height
    and width free, and give a float tensor of shape (1, classes, height, width) first.
    Raises :class:`MaskprepError` in one line naming ``where`` (the file).
    """
    return CheckedModel(data, where=where).network(threads)


def _runtime_errors() -> tuple[type[Exception], ...]:
    """onnxruntime's own exceptions (Fail, InvalidArgument, RuntimeException ...)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(v for v in vars(state).values()
                 if isinstance(v, type) and issubclass(v, Exception))


def _starts(size: int, step: int) -> range:
    return range(0, size, step)


def run_network(network: Network, image: np.ndarray, *, channel: int, halo: int,
                multiple: int) -> np.ndarray:
    """The network's output ``channel`` on ``image`` (float32, height x width x channels),
    tile by tile: float32, height x width.

    ``halo`` must be a multiple of ``multiple``; see the module's docstring.
    """
    height, width, channels = image.shape
    if network.channels is not None and network.channels != channels:
        raise BadValueError(f"the network takes {network.channels} channel(s); the image has "
                            f"{channels}")
    step = multiple * math.ceil(TILE / multiple)
    planar = np.ascontiguousarray(np.moveaxis(image, -1, 0))
    out = np.empty((height, width), np.float32)
    for y in _starts(height, step):
        for x in _starts(width, step):
            top, left = max(0, y - halo), max(0, x - halo)
            bottom, right = min(height, y + step + halo), min(width, x + step + halo)
            window = planar[:, top:bottom, left:right]
            extra = (-window.shape[1] % multiple, -window.shape[2] % multiple)
            if any(extra):
                window = np.pad(window, ((0, 0), (0, extra[0]), (0, extra[1])), mode="reflect")
            try:
                result = network.session.run([network.output_name],
                                             {network.input_name: window[None]})[0]
            except _runtime_errors() as exc:  # a shape the graph does not take, a failed op
                why = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
                raise BadValueError(f"the network failed on an input of shape "
                                    f"{(1, *window.shape)} ({why})") from None
            if result.ndim != 4 or result.shape[0] != 1 or result.shape[2:] != window.shape[1:]:
                raise BadValueError(f"the network gives shape {result.shape} for an input of "
                                    f"shape {(1, *window.shape)}; accepted: (1, classes, "
                                    "height, width), the input's height and width")
            if not 0 <= channel < result.shape[1]:
                raise BadValueError(f"channel={channel} is out of range: the network gives "
                                    f"{result.shape[1]} channel(s)")
            rows = slice(y - top, min(y + step, height) - top)
            cols = slice(x - left, min(x + step, width) - left)
            out[y: y + step, x: x + step] = result[0, channel, rows, cols]
    return out
