"""ONNX segmentation networks: a model checked and opened with onnxruntime, then run on an
image tile by tile, each tile with a margin (the halo), equal to one run on the whole image.

Checking a model (:class:`CheckedModel`) parses its bytes with ``onnx`` (protobuf only, no
external data) and refuses, before onnxruntime sees them:

- text that is not UTF-8 (a damaged name, which onnxruntime's Python layer fails to decode);
- tensors stored outside the file (``external data``): the file's sha256 would not cover
  them, and their paths could point anywhere on the disk; tensors whose shape holds more
  values than the file could;
- operators outside the default ONNX domain (custom ops, ``com.microsoft``, ``ai.onnx.ml``):
  no custom op library is ever registered (``SessionOptions.register_custom_ops_library``
  is never called), and a segmentation network needs none;
- control flow (``Loop``, ``Scan``, ``If``, any node holding a subgraph): a loop's trip
  count is data, so one node could run without end; U-Nets use none;
- sparse tensors: onnxruntime makes them dense when it loads, outside any cap (a 162-byte
  file with a sparse 20000 x 20000 initializer took 1.6 GB);
- more than :data:`MAX_NODES` nodes once the model's local functions are expanded
  (onnxruntime inlines them when it loads: functions calling functions twice each, nested
  16 deep, made a 1.4 kB file that took 90 s to open), or a function that calls itself.

onnxruntime then builds a CPU session from the bytes (``session.load_model_format=ONNX``: no
ORT flatbuffer format), on a fixed number of threads, operators run in sequence. Every
session allocates from one arena shared by the process and capped at
:func:`memory_cap` (half the memory the process may use): a node asking for a tensor beyond it
(``ConstantOfShape``, ``Expand``, ``Tile`` or ``Range`` to a shape computed from the data)
fails as a one-line error instead of taking the machine's memory. The time one node takes
is not bounded: a MatMul of two 30000 x 30000 tensors expanded from the data fits the cap
and runs for hours, and onnxruntime checks for termination only between nodes.

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
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import BadValueError, LimitError, MaskprepError

__all__ = ["INSTALL", "MAX_NODES", "TILE", "CheckedModel", "Network", "memory_cap",
           "open_network", "run_network"]

INSTALL = "pip install 'napari-maskprep[onnx]'"
TILE = 1024  # px a side a tile holds besides its halo: a few hundred MB of activations at most
MAX_NODES = 10_000  # with local functions expanded; a U-Net has a few hundred
_MAX_NESTING = 64  # functions calling functions, each a Python frame here
_DEFAULT_DOMAINS = frozenset({"", "ai.onnx"})
_CONTROL_FLOW = frozenset({"Loop", "Scan", "If"})
_ACCEPTED = ("accepted: operators of the default ONNX domain, without control flow (Loop, "
             "Scan, If, subgraphs), as segmentation networks are")


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


def _check_node(onnx: Any, node: Any, local: set[tuple[str, str]], where: str) -> None:
    """Refuse custom operators and control flow (see the module's docstring); ``local``
    holds the (domain, name) of the model's local functions, which a node may call."""
    article = "an" if node.op_type[:1].upper() in "AEIOU" else "a"
    named = (f"node {node.name!r} ({node.op_type})" if node.name else
             f"{article} {node.op_type} node")
    if node.domain not in _DEFAULT_DOMAINS and (node.domain, node.op_type) not in local:
        raise BadValueError(f"{where}: {named} is of domain {node.domain!r}, not the "
                            f"default ONNX domain; {_ACCEPTED}")
    graphs = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    if node.op_type in _CONTROL_FLOW or any(a.type in graphs for a in node.attribute):
        why = ("a loop, which may run without bound" if node.op_type in ("Loop", "Scan") else
               "subgraphs that run as the data choose")
        raise BadValueError(f"{where}: {named} is control flow ({why}); {_ACCEPTED}")


def _expanded_size(model: Any, where: str) -> int:
    """The main graph's node count with every local function call expanded, as
    onnxruntime inlines them; a function that calls itself is refused."""
    functions = {(f.domain, f.name): f for f in model.functions}
    sizes: dict[tuple[str, str], int] = {}
    open_calls: set[tuple[str, str]] = set()

    def size(nodes: Any) -> int:
        total = 0
        for node in nodes:
            key = (node.domain, node.op_type)
            if key not in functions:
                total += 1
                continue
            if key in open_calls:
                raise BadValueError(f"{where}: the function {node.op_type!r} calls itself; "
                                    "accepted: functions that end")
            if key not in sizes:
                if len(open_calls) == _MAX_NESTING:
                    raise LimitError(f"{where}: functions nested more than {_MAX_NESTING} "
                                     f"deep; accepted: at most {_MAX_NESTING}")
                open_calls.add(key)
                sizes[key] = size(functions[key].node)
                open_calls.discard(key)
            total += sizes[key]
            if total > MAX_NODES:
                break
        return total

    return size(model.graph.node)


def _utf8(value: str | bytes) -> bool:
    if isinstance(value, str):
        return True
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _not_utf8(model: Any) -> str | None:
    """The name of the first text field, in the model or a message within, that is not
    UTF-8: a string (protobuf gives it as bytes then) or an attribute's text (s, strings:
    bytes in ONNX, which onnxruntime quotes in its errors)."""
    stack = [model]
    while stack:
        message = stack.pop()
        texts = ("s", "strings") if message.DESCRIPTOR.name == "AttributeProto" else ()
        for field, value in message.ListFields():
            repeated = getattr(field, "is_repeated", None)  # protobuf >= 5; label before
            if repeated is None:
                repeated = field.label == field.LABEL_REPEATED
            values = value if repeated else [value]
            if ((field.type == field.TYPE_STRING or field.name in texts)
                    and not all(_utf8(v) for v in values)):
                return field.name
            if field.type == field.TYPE_MESSAGE:
                stack.extend(values)
    return None


def _check_model(onnx: Any, model: Any, size: int, where: str) -> None:
    """Refuse text that is not UTF-8, custom operators, control flow, graphs too large once
    expanded, sparse tensors and external data (see the module's docstring)."""
    field = _not_utf8(model)
    if field:
        # onnxruntime's Python layer failed to decode it, printed four lines ('EP Error')
        # on stdout and tried again, then said only "'utf-8' codec can't decode byte"
        raise BadValueError(f"{where}: the field {field!r} holds text that is not UTF-8 (a "
                            "damaged file?); accepted: an ONNX file as exporters write it")
    # a function's (domain, name), not its domain alone: a function declared in
    # com.microsoft let every contrib op of that domain through
    local = {(f.domain, f.name) for f in model.functions}
    nodes = [*model.graph.node, *(n for f in model.functions for n in f.node)]
    for node in nodes:
        _check_node(onnx, node, local, where)
    if _expanded_size(model, where) > MAX_NODES:
        raise LimitError(f"{where}: more than {MAX_NODES} nodes once its functions are "
                         f"expanded; accepted: at most {MAX_NODES} (a U-Net has a few hundred)")
    sparse = (onnx.AttributeProto.SPARSE_TENSOR, onnx.AttributeProto.SPARSE_TENSORS)
    named = [s.values.name for s in model.graph.sparse_initializer]
    named += [a.name for n in nodes for a in n.attribute if a.type in sparse]
    if named:
        raise BadValueError(f"{where}: {named[0]!r} is a sparse tensor, which onnxruntime "
                            "makes dense when it loads, whatever its shape says; accepted: "
                            "dense tensors, as networks store their weights")
    tensors = [*model.graph.initializer]
    for node in nodes:
        for attribute in node.attribute:
            tensors += [attribute.t, *attribute.tensors]
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            location = next((e.value for e in tensor.external_data if e.key == "location"), "")
            raise BadValueError(
                f"{where}: the tensor {tensor.name!r} is stored outside the file (external "
                f"data {location!r}); accepted: a self-contained ONNX file, whose sha256 "
                "covers every weight (onnx.save_model(model, path))")
        # at least a quarter of a byte a value (int2): onnxruntime sized a shape of 2^62
        # before it read the data, and logged its integer overflow on stderr
        if any(d < 0 for d in tensor.dims) or math.prod(tensor.dims) > 4 * size:
            raise BadValueError(
                f"{where}: the tensor {tensor.name!r} has shape {list(tensor.dims)}, more "
                "values than the file holds; accepted: the shape of the values it stores")


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
        _check_model(onnx, model, len(data), where)
        self.data, self.where = data, where
        self.channels = _stated_channels(model)
        self._networks: dict[int, Network] = {}
        self._lock = threading.Lock()

    def network(self, threads: int) -> Network:
        """The model opened with onnxruntime on ``threads`` (the same results on any)."""
        with self._lock:
            if threads not in self._networks:
                self._networks[threads] = _open(self.data, threads, self.where)
            return self._networks[threads]


def _stated_channels(model: Any) -> int | None:
    """The channel count of the network's input where the model fixes it, as onnxruntime
    reads it (:attr:`Network.channels`), without opening it; None where it is free, and
    where the input is no (1, channels, height, width) tensor (opening it says so)."""
    weights = {tensor.name for tensor in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) != 1:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    return dims[1].dim_value if len(dims) == 4 and dims[1].HasField("dim_value") else None


def memory_cap() -> int:
    """Bytes onnxruntime may hold for all networks of the process together: half the
    memory this process may use (the machine's, or a container's or the shell's lower
    limit, which the kernel would enforce by killing the process)."""
    from distributed.system import memory_limit  # cgroup and RLIMIT_RSS aware

    return memory_limit() // 2


_arena_lock = threading.Lock()
_arena_cap: list[int] = []  # the cap of the arena registered, once per process


def _shared_arena(ort: Any) -> None:
    """Register the capped arena every session allocates from (once: onnxruntime keeps it
    for the process)."""
    with _arena_lock:
        if not _arena_cap:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                     ort.OrtMemType.DEFAULT)
            _arena_cap.append(memory_cap())
            # arena_extend_strategy 1: grow by what is asked, not to the next power of two
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(
                {"max_mem": _arena_cap[0], "arena_extend_strategy": 1}))


_ORT_CODE = re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : ")
_ORT_SOURCE = re.compile(r"\S+\.(?:h|cc|cpp):\d+ ")


def _load_reason(message: str) -> str:
    """onnxruntime's load error without its code, source line and C++ signature, which
    filled the first 160 characters kept of it: a model of a newer opset or IR version
    said 'model_load_utils.h:46 void onnxruntime::...ValidateOpsetForDomain(const s'."""
    text = message.strip().splitlines()[0] if message.strip() else ""
    text = text[m.end():] if (m := _ORT_CODE.match(text)) else text
    if (source := _ORT_SOURCE.match(text)) and "(" in text:
        depth = 0
        for i in range(text.index("(", source.end()), len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                text = text[i + 1:].strip()
                break
    if len(text) <= 300:
        return text
    # long: its first sentences and its last, which says what is supported
    sentences = text.split(". ")
    kept = sentences[0]
    for sentence in sentences[1:-1]:
        if len(kept) + len(sentence) > 200:
            break
        kept += ". " + sentence
    return f"{kept}. ... {sentences[-1]}"[:300]


def _open(data: bytes, threads: int, where: str) -> Network:
    _, ort = _modules()
    _shared_arena(ort)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.load_model_format", "ONNX")
    options.add_session_config_entry("session.use_env_allocators", "1")  # the capped arena
    # fatal only: warnings, and errors that come back as exceptions (each told in one line
    # by the caller), would print from inside the op
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(data, sess_options=options,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's Fail, InvalidGraph, NotImplemented ...
        raise BadValueError(f"{where}: onnxruntime {ort.__version__} cannot load the network "
                            f"({_load_reason(str(exc))})") from None
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


def _failed(message: str, shape: tuple[int, ...]) -> MaskprepError:
    """onnxruntime's error of a run, in one line."""
    op = re.search(r"while running (\w+) node", message)
    if op and ("Failed to allocate memory" in message or "Available memory of" in message):
        return LimitError(f"the network's {op[1]} node asks for more memory than networks "
                          f"may hold ({_arena_cap[0] / 2**30:.1f} GiB in all) on an input of "
                          f"shape {shape}; accepted: a network whose tensors fit")
    why = message.strip().splitlines()[0][:160] if message.strip() else ""
    return BadValueError(f"the network failed on an input of shape {shape} ({why})")


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
                raise _failed(str(exc), (1, *window.shape)) from None
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
