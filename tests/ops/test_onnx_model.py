"""``segment.onnx_model``: tiny networks built here against their numpy references, tiles
against the whole image, thread counts, and the model files it refuses."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import dask.array as da
import numpy as np
import onnx
import pytest
from onnx import external_data_helper, helper

import napari_maskprep as mp
from napari_maskprep.core.errors import MaskprepError
from napari_maskprep.core.model_files import ModelFileError
from napari_maskprep.kernels import networks
from napari_maskprep.kernels.networks import open_network, run_network

from ..conftest import DATA
from ..networks import conv_net, model_file, reference, unet

OP = "segment.onnx_model"
# (builder, reference kind, multiple, halo, output channel)
NETWORKS = {"conv_net": (conv_net, 1, 2, 1), "unet": (unet, 2, 6, 0)}


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A real 360 x 360 uint8 fluorescence image (DSB 2018), stretched to 0..255."""
    raw = mp.io.read_image(DATA / "dsb2018_fluo_nuclei" / "images" / "2a2032c4ed78f3fc.png")
    return mp.apply("preprocess.rescale", raw, low=1.0, high=99.8)


def clear_threshold(expected: np.ndarray) -> float:
    """A threshold near 0.5 that no value of ``expected`` comes within 1e-4 of, so that
    float32 against float64 decides no pixel."""
    values = np.unique(expected)
    gaps = np.flatnonzero(np.diff(values) > 2e-4)
    middle = gaps[np.argmin(np.abs(values[gaps] - 0.5))]
    return float(values[middle] + values[middle + 1]) / 2


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("models")
    return {kind: model_file(folder, build()[0], f"{kind}.onnx")
            for kind, (build, *_) in NETWORKS.items()}


def params(models, kind: str, **extra) -> dict:
    _, multiple, halo, channel = NETWORKS[kind]
    return {"model": models[kind], "multiple": multiple, "halo": halo, "channel": channel,
            **extra}


@pytest.mark.parametrize("kind", NETWORKS)
def test_the_network_equals_its_numpy_reference(kind, image):
    build, multiple, halo, channel = NETWORKS[kind]
    data, weights = build()
    expected = reference(kind, weights, image[None] / 255.0)[channel]
    network = open_network(data, threads=1)
    output = run_network(network, (image / np.float32(255))[..., None].astype(np.float32),
                         channel=channel, halo=halo, multiple=multiple)
    assert output.dtype == np.float32 and output.shape == image.shape
    np.testing.assert_allclose(output, expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("kind", NETWORKS)
def test_the_mask_is_the_reference_above_the_threshold(kind, image, models):
    build, _, _, channel = NETWORKS[kind]
    expected = reference(kind, build()[1], image[None] / 255.0)[channel]
    threshold = clear_threshold(expected)
    mask = mp.apply(OP, image, **params(models, kind, threshold=threshold))
    assert mask.dtype == np.uint8 and 0.05 < mask.mean() < 0.5
    np.testing.assert_array_equal(mask, expected > threshold)


def test_normalisation_is_integers_to_0_1_then_mean_and_std(image, models):
    kind = "conv_net"
    normalised = ((image / 255.0) - 0.2) / 0.5
    expected = reference(kind, conv_net()[1], normalised[None])[1]
    threshold = clear_threshold(expected)
    mask = mp.apply(OP, image, **params(models, kind, mean=0.2, std=0.5, threshold=threshold))
    assert 0.05 < mask.mean() < 0.5
    np.testing.assert_array_equal(mask, expected > threshold)
    as_float = mp.apply(OP, (image / 255.0).astype(np.float32),
                        **params(models, kind, mean=0.2, std=0.5, threshold=threshold))
    np.testing.assert_array_equal(as_float, mask)
    unscaled = mp.apply(OP, image, **params(models, kind, scale_integers=False, mean=51.0,
                                            std=127.5, threshold=threshold))
    np.testing.assert_array_equal(unscaled, mask)


@pytest.mark.parametrize("kind", NETWORKS)
def test_tiled_equals_in_memory(kind, image, models):
    # Steps fused with it widen the margin each chunk is read with (a Gaussian's 5 px and an
    # opening's 1 px): the U-Net's reads still start on its grid of 2, odd chunks included.
    step = {"op": OP, "params": params(models, kind, threshold=0.5)}
    recipes = [[step], [{"op": "preprocess.gaussian"}, step,
                        {"op": "refine.open", "params": {"radius": 1}}]]
    for recipe in map(mp.Recipe, recipes):
        whole = recipe.run(image)
        for chunks in ((64, 96), (63, 95), (50, 33)):
            tiled = recipe.run(da.from_array(image, chunks=chunks)).compute()
            np.testing.assert_array_equal(tiled, whole)
        assert 0.05 < whole.mean() < 0.5


def test_tiles_inside_one_run_equal_one_tile(image, models, monkeypatch):
    unet_params = params(models, "unet")
    whole = mp.apply(OP, image, **unet_params)
    monkeypatch.setattr(networks, "TILE", 50)  # 360 px: 8 x 8 tiles with their halos
    np.testing.assert_array_equal(mp.apply(OP, image, **unet_params), whole)


def test_the_same_output_on_one_and_two_threads(image):
    data, _ = unet(seed=3)
    x = np.tile(image, (2, 2))[..., None].astype(np.float32) / 255
    outputs = [run_network(open_network(data, threads=n), x, channel=0, halo=6, multiple=2)
               for n in (1, 2, 2)]
    assert all(np.array_equal(outputs[0], o) for o in outputs[1:])


def test_rgb_images_feed_three_channels(models, tmp_path):
    data, weights = conv_net(channels=3)
    he = 255 - mp.io.read_image(  # dark nuclei made bright, as the network sees brightness
        DATA / "dsb2018_brightfield_nuclei" / "images" / "1e488c42eb1a54a3.png")
    expected = reference("conv_net", weights, np.moveaxis(he, -1, 0) / 255.0)[1]
    threshold = clear_threshold(expected)
    mask = mp.apply(OP, he, model=model_file(tmp_path, data), multiple=1, halo=2, channel=1,
                    threshold=threshold)
    assert 0.02 < mask.mean() < 0.98
    np.testing.assert_array_equal(mask, expected > threshold)
    with pytest.raises(MaskprepError, match=r"takes 1 channel\(s\); the image has 3"):
        mp.apply(OP, he, **params(models, "conv_net"))


def test_a_model_in_a_recipe_file_is_found_beside_it(tmp_path, image):
    data, _ = conv_net()
    ref = model_file(tmp_path, data, "nuclei.onnx")
    recipe = mp.Recipe([{"op": OP, "params": {"model": ref, "multiple": 1, "halo": 2,
                                              "channel": 1, "threshold": 0.55}}])
    recipe.save(tmp_path / "cnn.maskprep.yaml")
    assert "path: nuclei.onnx" in (tmp_path / "cnn.maskprep.yaml").read_text()
    np.testing.assert_array_equal(mp.Recipe.load(tmp_path / "cnn.maskprep.yaml").run(image),
                                  recipe.run(image))


# -- refused models and parameters ------------------------------------------------------
def _unsafe(tmp_path, change) -> dict:
    model = onnx.load_model_from_string(conv_net(seed=7)[0])
    change(model)
    return model_file(tmp_path, model.SerializeToString(), "unsafe.onnx")


def test_weights_stored_outside_the_file_are_refused(tmp_path, image):
    def outside(model):
        tensor = model.graph.initializer[0]
        external_data_helper.set_external_data(tensor, location="../../secret/weights.bin")
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL

    with pytest.raises(MaskprepError, match=r"the tensor 'w1' is stored outside the file "
                       r"\(external data '../../secret/weights.bin'\); accepted: a self-"):
        mp.apply(OP, image, model=_unsafe(tmp_path, outside), multiple=1, halo=2)


ACCEPTED = ("accepted: operators of the default ONNX domain, without control flow (Loop, "
            "Scan, If, subgraphs), as segmentation networks are")


@pytest.mark.parametrize(("domain", "op_type"), [("my.company", "Relu"),
                                                 ("com.microsoft", "QuickGelu")])
def test_operators_outside_the_default_domain_are_refused(tmp_path, image, domain, op_type):
    """com.microsoft's operators (QuickGelu here) ran: onnxruntime implements them, but a
    segmentation network needs none, and each is more code a crafted file can reach."""
    def custom(model):
        model.graph.node[1].op_type, model.graph.node[1].domain = op_type, domain
        model.opset_import.append(helper.make_opsetid(domain, 1))

    with pytest.raises(MaskprepError) as info:
        mp.apply(OP, image, model=_unsafe(tmp_path, custom), multiple=1, halo=2)
    assert str(info.value) == (f"the ONNX model: a {op_type} node is of domain {domain!r}, "
                               f"not the default ONNX domain; {ACCEPTED}")


def _refusal(tmp_path, data: bytes) -> str:
    """The one line that refuses the model ``data`` when a recipe step opens it."""
    with pytest.raises(MaskprepError) as info:
        mp.apply(OP, np.zeros((4, 4), np.float32), model=model_file(tmp_path, data),
                 multiple=1, halo=0)
    return str(info.value)


def test_a_local_function_does_not_admit_the_other_operators_of_its_domain(tmp_path):
    """A function declared in com.microsoft let every node of that domain through the
    check: com.microsoft's Gelu ran."""
    opsets = [helper.make_opsetid("", 17)]
    unused = helper.make_function("com.microsoft", "Unused", ["a"], ["b"],
                                  [helper.make_node("Identity", ["a"], ["b"])], opsets)
    data = _network([helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")],
                    functions=[unused], domains=("com.microsoft",))
    assert _refusal(tmp_path, data) == ("the ONNX model: a Gelu node is of domain "
                                        "'com.microsoft', not the default ONNX domain; "
                                        f"{ACCEPTED}")


def test_two_bit_weights_are_not_taken_for_a_shape_beyond_the_file(tmp_path):
    """An int2 tensor holds four values a byte: 40000 of them in 10 kB were refused as
    'more values than the file holds', though onnxruntime runs them."""
    from onnx import TensorProto, numpy_helper

    if not hasattr(TensorProto, "INT2"):
        pytest.skip("onnx before 1.20 has no int2 tensors")
    weights = TensorProto(name="w", data_type=TensorProto.INT2, dims=[40000],
                          raw_data=bytes([0b01010101]) * 10000)  # 40000 ones
    model = onnx.load_model_from_string(_network(
        [helper.make_node("DequantizeLinear", ["w", "scale"], ["ones"]),
         helper.make_node("ReduceSum", ["ones"], ["count"]),
         helper.make_node("Sub", ["x", "count"], ["y"])],
        [weights, numpy_helper.from_array(np.array(1.0, np.float32), "scale")]))
    model.opset_import[0].version, model.ir_version = 25, 12
    image = np.array([[39999.0, 40001.0]], np.float32)
    mask = mp.apply(OP, image, model=model_file(tmp_path, model.SerializeToString()),
                    multiple=1, halo=0)
    np.testing.assert_array_equal(mask, [[0, 1]])


def _network(nodes, initializers=(), functions=(), domains=()) -> bytes:
    """A model of ``nodes`` from x (1, 1, h, w) to y, in opset 17."""
    from onnx import TensorProto

    graph = helper.make_graph(
        nodes, "crafted",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(initializers))
    opsets = [helper.make_opsetid(d, 1) for d in ("", *domains)]
    opsets[0].version = 17
    return helper.make_model(graph, opset_imports=opsets,
                             functions=list(functions)).SerializeToString()


def _loop_adding_one(times: int) -> bytes:
    """y = x + times, one Loop iteration at a time: the trip count is data."""
    from onnx import TensorProto, numpy_helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Add", ["carried", "one"], ["carried_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried_out", TensorProto.FLOAT, None)])
    return _network(
        [helper.make_node("Loop", ["trips", "", "x"], ["y"], name="spin", body=body)],
        [numpy_helper.from_array(np.array(times, np.int64), "trips"),
         numpy_helper.from_array(np.array(1, np.float32), "one")])


def _if_true_identity() -> bytes:
    from onnx import TensorProto, numpy_helper

    branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["out"])], "branch", [],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    return _network(
        [helper.make_node("If", ["yes"], ["y"], then_branch=branch, else_branch=branch)],
        [numpy_helper.from_array(np.array(True), "yes")])


def test_control_flow_is_refused_before_it_runs(tmp_path):
    """A Loop ran as many times as its trip count said (a crafted 10^12 never ended), and an
    If held subgraphs that run as they choose; both are refused when the model opens."""
    image = np.zeros((4, 4), np.float32)
    for number, (data, named) in enumerate([
            (_loop_adding_one(3), "node 'spin' (Loop) is control flow (a loop, which may run "
                                  "without bound)"),
            # 'a If node is control flow, which may run without bound': no loop, an If's
            # branches are subgraphs whose nodes the checks above do not read
            (_if_true_identity(), "an If node is control flow (subgraphs that run as the data "
                                  "choose)")]):
        with pytest.raises(MaskprepError) as info:
            mp.apply(OP, image, model=model_file(tmp_path, data, f"flow{number}.onnx"),
                     multiple=1, halo=0, threshold=-1.0)
        assert str(info.value) == f"the ONNX model: {named}; {ACCEPTED}"


def _functions(depth: int, calls: int) -> list:
    """F0 is a Relu; F(k) calls F(k-1) ``calls`` times in a row."""
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    found = [helper.make_function("local", "F0", ["a"], ["b"],
                                  [helper.make_node("Relu", ["a"], ["b"])], opsets)]
    for k in range(1, depth + 1):
        names = ["a", *(f"t{i}" for i in range(calls - 1)), "b"]
        found.append(helper.make_function(
            "local", f"F{k}", ["a"], ["b"],
            [helper.make_node(f"F{k - 1}", [names[i]], [names[i + 1]], domain="local")
             for i in range(calls)], opsets))
    return found


@pytest.mark.parametrize(("depth", "calls", "message"), [
    (14, 2, "more than 10000 nodes once its functions are expanded; accepted: at most 10000 "
            "(a U-Net has a few hundred)"),
    (65, 1, "functions nested more than 64 deep; accepted: at most 64"),
])
def test_local_functions_that_expand_too_far_are_refused(tmp_path, depth, calls, message):
    """onnxruntime inlines local functions when it opens a model: 16 levels of functions
    calling the one below twice (a 1.4 kB file) took 90 s to open, 30 would never end."""
    data = _network([helper.make_node(f"F{depth}", ["x"], ["y"], domain="local")],
                    functions=_functions(depth, calls), domains=("local",))
    assert _refusal(tmp_path, data) == f"the ONNX model: {message}"


def test_a_function_that_calls_itself_is_refused_by_name(tmp_path):
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    itself = helper.make_function("local", "F", ["a"], ["b"],
                                  [helper.make_node("F", ["a"], ["b"], domain="local")], opsets)
    data = _network([helper.make_node("F", ["x"], ["y"], domain="local")],
                    functions=[itself], domains=("local",))
    assert _refusal(tmp_path, data) == ("the ONNX model: the function 'F' calls itself; "
                                        "accepted: functions that end")


def test_local_functions_within_the_limit_run(tmp_path):
    """F3 is eight Relus in a row: x's positive values are kept."""
    data = _network([helper.make_node("F3", ["x"], ["y"], domain="local")],
                    functions=_functions(3, 2), domains=("local",))
    image = np.array([[-1.0, 0.25, 0.75]], np.float32)
    mask = mp.apply(OP, image, model=model_file(tmp_path, data), multiple=1, halo=0)
    np.testing.assert_array_equal(mask, [[0, 0, 1]])


def test_sparse_tensors_are_refused_before_onnxruntime_makes_them_dense(tmp_path):
    """onnxruntime made a sparse initializer dense when it loaded the model, outside the
    arena's cap: a 162-byte file holding one value of a 20000 x 20000 tensor took 1.6 GB
    (here 2 x 2, which loaded and ran: the refusal does not depend on the size)."""
    from onnx import numpy_helper

    one = numpy_helper.from_array(np.array([1.0], np.float32), "dense_later")
    sparse = helper.make_sparse_tensor(one, numpy_helper.from_array(np.array([0], np.int64),
                                                                    "at"), [2, 2])
    nodes = [helper.make_node("ReduceSum", ["dense_later"], ["s"], keepdims=0),
             helper.make_node("Add", ["x", "s"], ["y"])]
    initializer = _network(nodes)
    model = onnx.load_model_from_string(initializer)
    model.graph.sparse_initializer.append(sparse)
    constant = _network([helper.make_node("Constant", [], ["dense_later"], sparse_value=sparse),
                         *nodes])
    for number, (data, name) in enumerate([(model.SerializeToString(), "dense_later"),
                                           (constant, "sparse_value")]):
        with pytest.raises(MaskprepError) as info:
            mp.apply(OP, np.zeros((4, 4), np.float32), multiple=1, halo=0,
                     model=model_file(tmp_path, data, f"sparse{number}.onnx"))
        assert str(info.value) == (f"the ONNX model: {name!r} is a sparse tensor, which "
                                   "onnxruntime makes dense when it loads, whatever its shape "
                                   "says; accepted: dense tensors, as networks store their "
                                   "weights")


def _not_utf8(data: bytes, text: bytes, nth: int) -> bytes:
    """``data`` with the ``nth`` occurrence of ``text`` given a byte that is not UTF-8."""
    at = -1
    for _ in range(nth):
        at = data.index(text, at + 1)
    return data[:at + 1] + b"\xe9" + data[at + 2:]


def test_text_that_is_not_utf8_is_one_line(tmp_path, capfd):
    """One byte of a name (the Sigmoid's input) or of an attribute's text (Pad's mode)
    changed to one that is not UTF-8: onnxruntime's Python layer printed four lines ('EP
    Error ... Falling back to ['CPUExecutionProvider'] and retrying.') on stdout, retried,
    and the error said only "'utf-8' codec can't decode byte"."""
    from onnx import numpy_helper

    named = _network([helper.make_node("Relu", ["x"], ["hidden"]),
                      helper.make_node("Sigmoid", ["hidden"], ["y"])])
    padded = _network([helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect")],
                      [numpy_helper.from_array(np.zeros(8, np.int64), "pads")])
    for number, (data, field) in enumerate([(_not_utf8(named, b"hidden", 2), "input"),
                                            (_not_utf8(padded, b"reflect", 1), "s")]):
        with pytest.raises(MaskprepError) as info:
            mp.apply(OP, np.zeros((4, 4), np.float32), multiple=1, halo=0,
                     model=model_file(tmp_path, data, f"text{number}.onnx"))
        assert str(info.value) == (f"the ONNX model: the field {field!r} holds text that is "
                                   "not UTF-8 (a damaged file?); accepted: an ONNX file as "
                                   "exporters write it")
        assert capfd.readouterr() == ("", "")


def test_a_tensor_shape_beyond_the_file_is_one_line(tmp_path, capfd):
    """A weight's shape edited to 2^62 x 1 x 3 x 3: onnxruntime sized it before reading its
    data and logged '[E:onnxruntime:Default, allocator.cc:99 ...] Integer overflow' on
    stderr, a line before ours."""
    def huge(model):
        model.graph.initializer[0].dims[0] = 2**62

    with pytest.raises(MaskprepError) as info:
        mp.apply(OP, np.zeros((4, 4), np.float32), multiple=1, halo=2,
                 model=_unsafe(tmp_path, huge))
    assert str(info.value) == ("the ONNX model: the tensor 'w1' has shape [4611686018427387904"
                               ", 1, 3, 3], more values than the file holds; accepted: the "
                               "shape of the values it stores")
    assert capfd.readouterr() == ("", "")


_CAPPED = """
import sys
import numpy as np
import napari_maskprep as mp
from napari_maskprep.core.errors import MaskprepError
from napari_maskprep.kernels import networks
networks.memory_cap = lambda: 64 * 2**20
try:
    mp.apply("segment.onnx_model", np.ones((4, 4), np.float32),
             model={"path": sys.argv[1], "sha256": sys.argv[2]}, multiple=1, halo=0)
except MaskprepError as exc:
    print(exc)
"""


def test_a_tensor_beyond_the_memory_cap_is_one_line(tmp_path):
    """A ConstantOfShape to a shape computed from the image's data (here 10^4 x max(x) each
    side, 400 MB for an image of ones) was allocated whatever its size: onnxruntime took
    what the machine had. Sessions now allocate from one arena capped at memory_cap() (64
    MiB in a fresh process here)."""
    from onnx import TensorProto, numpy_helper

    data = _network(
        [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
         helper.make_node("Mul", ["m", "big"], ["scaled"]),
         helper.make_node("Cast", ["scaled"], ["n"], to=TensorProto.INT64),
         helper.make_node("Reshape", ["n", "one"], ["side"]),
         helper.make_node("Concat", ["side", "side"], ["shape"], axis=0),
         helper.make_node("ConstantOfShape", ["shape"], ["huge"]),
         helper.make_node("ReduceSum", ["huge"], ["total"]),
         helper.make_node("Mul", ["x", "total"], ["y"])],
        [numpy_helper.from_array(np.array(1e4, np.float32), "big"),
         numpy_helper.from_array(np.array([1], np.int64), "one")])
    model = model_file(tmp_path, data)
    done = subprocess.run([sys.executable, "-c", _CAPPED, model["path"], model["sha256"]],
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout == ("the network's ConstantOfShape node asks for more memory than "
                           "networks may hold (0.1 GiB in all) on an input of shape "
                           "(1, 1, 4, 4); accepted: a network whose tensors fit\n")
    assert done.stderr == ""
    small = np.full((4, 4), 1e-4, np.float32)  # a 1 x 1 tensor of zeros: y = 0
    np.testing.assert_array_equal(mp.apply(OP, small, model=model, multiple=1, halo=0,
                                           threshold=-1.0), np.ones((4, 4), np.uint8))


def test_the_memory_cap_is_half_of_a_containers_limit(monkeypatch):
    """The cap was half the host's memory (sysconf), so in a container whose cgroup allows
    less the arena could grow past the container's limit: the kernel killed the process
    instead of onnxruntime failing in one line."""
    import distributed.system

    monkeypatch.setattr(distributed.system, "memory_limit", lambda: 6 * 2**30)
    assert networks.memory_cap() == 3 * 2**30


def test_tampered_and_mismatched_models_are_refused(tmp_path, image, models):
    ref = dict(models["conv_net"])
    ref["sha256"] = "0" * 64
    with pytest.raises(ModelFileError, match="has sha256 .* not the 000000000000... the step"):
        mp.apply(OP, image, model=ref, multiple=1, halo=2)
    data, _ = conv_net(seed=11)
    tampered = model_file(tmp_path, data, "tampered.onnx")
    path = tmp_path / "tampered.onnx"
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ModelFileError, match="has sha256"):
        mp.apply(OP, image, model=tampered, multiple=1, halo=2)


class Exploit:
    """Unpickling this writes a marker file: the proof that a pickle ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_files_that_are_not_onnx_are_refused_unread(tmp_path, image):
    marker = tmp_path / "ran"
    cases = [(pickle.dumps(Exploit(str(marker))), "a Python pickle, refused because loading"),
             (b"hello, I am a text file\n", "not a known model format; accepted: an ONNX"),
             (b"PK\x03\x04" + bytes(40), "accepted: an ONNX model")]
    for number, (data, message) in enumerate(cases):
        with pytest.raises(ModelFileError, match=message) as info:
            mp.apply(OP, image, model=model_file(tmp_path, data, f"m{number}.onnx"),
                     multiple=1, halo=2)
        assert "\n" not in str(info.value)
    assert not marker.exists()
    with pytest.raises(MaskprepError, match=r"the ONNX model: onnxruntime \S+ cannot load"):
        mp.apply(OP, image, model=model_file(tmp_path, b"\x08\x07\x12\x03abc", "bad.onnx"),
                 multiple=1, halo=2)



@pytest.mark.parametrize(("change", "reason"), [
    # said '(... model_load_utils.h:46 void onnxruntime::model_load_utils::ValidateOpsetForDomain
    # (const s)': 160 characters of onnxruntime's code and C++ signature, no reason
    (lambda m: setattr(m.opset_import[0], "version", 40),
     r"ONNX Runtime only \*guarantees\* support for models stamped with official released "
     r"onnx opset versions\. Opset 40 is under development and support for this is limited\. "
     r"\.\.\. Current official support for domain ai\.onnx is till opset \d+\."),
    (lambda m: setattr(m, "ir_version", 99),
     r"Unsupported model IR version: 99, max supported IR version: \d+"),
])
def test_a_model_of_a_newer_onnx_says_what_onnxruntime_supports(tmp_path, image, change,
                                                                 reason):
    model = onnx.load_model_from_string(_network([helper.make_node("Relu", ["x"], ["y"])]))
    change(model)
    with pytest.raises(MaskprepError) as info:
        mp.apply(OP, image, model=model_file(tmp_path, model.SerializeToString(), "new.onnx"),
                 multiple=1, halo=0)
    import onnxruntime

    assert re.fullmatch(rf"the ONNX model: onnxruntime {re.escape(onnxruntime.__version__)} "
                        rf"cannot load the network \({reason}\)", str(info.value))

def test_without_onnxruntime_one_line_says_what_to_install(tmp_path, image, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    model = model_file(tmp_path, conv_net(seed=5)[0])  # never opened: no session cached
    with pytest.raises(MaskprepError, match=r"needs onnxruntime and onnx, which are not "
                       r"installed: pip install 'napari-maskprep\[onnx\]'"):
        mp.apply(OP, image, model=model, multiple=1, halo=2)


@pytest.mark.parametrize(("extra", "message"), [
    ({"model": None}, r"needs its model: \{path: FILE.onnx, sha256: HEX\}"),
    ({"halo": 3}, "halo=3 is not a multiple of multiple=2"),
    ({"channel": 4}, r"channel=4 is out of range: the network gives 1 channel\(s\)"),
    ({"model": {"path": "x.onnx"}}, "model: a model file has exactly the keys path and sha256"),
])
def test_bad_parameters_are_one_line(image, models, extra, message):
    with pytest.raises(MaskprepError, match=message) as info:
        mp.apply(OP, image, **{**params(models, "unet"), **extra})
    assert "\n" not in str(info.value)


def test_a_fixed_input_size_is_refused(tmp_path, image):
    model = onnx.load_model_from_string(conv_net(seed=9)[0])
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim[2:], (64, 64),
                         strict=True):
        dim.dim_value = size
    ref = model_file(tmp_path, model.SerializeToString(), "fixed.onnx")
    with pytest.raises(MaskprepError, match=r"fixed input size \[64, 64\]; accepted: free"):
        mp.apply(OP, image, model=ref, multiple=1, halo=2)


def test_a_fixed_batch_other_than_one_is_refused_when_the_model_opens(tmp_path, image):
    """A batch fixed at 2 was opened, then onnxruntime's InvalidArgument came out of the op
    with its traceback."""
    model = onnx.load_model_from_string(conv_net(seed=9)[0])
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    ref = model_file(tmp_path, model.SerializeToString(), "batch2.onnx")
    with pytest.raises(MaskprepError, match=r"the network takes a fixed batch of 2 \[2, 1, "
                                            r"'h', 'w'\]; accepted: a batch of 1"):
        mp.apply(OP, image, model=ref, multiple=1, halo=2)


def test_a_network_that_fails_while_it_runs_is_one_line(tmp_path, capfd):
    """A graph that only takes some sizes (here a reshape to 4 x 4) raised onnxruntime's own
    exception, several lines long, from inside the op; onnxruntime also logged it on
    stderr itself ('[E:onnxruntime:, sequential_executor.cc ...'), a line before ours."""
    from onnx import TensorProto, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "fixed_reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([1, 1, 4, 4], np.int64), "shape")])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ref = model_file(tmp_path, data.SerializeToString(), "reshape.onnx")
    square = np.arange(16, dtype=np.float32).reshape(4, 4) / 16
    assert mp.apply(OP, square, model=ref, multiple=1, halo=0).sum() == 7
    with pytest.raises(MaskprepError, match=r"^the network failed on an input of shape "
                                            r"\(1, 1, 5, 5\) \(.*\)$"):
        mp.apply(OP, np.zeros((5, 5), np.float32), model=ref, multiple=1, halo=0)
    assert capfd.readouterr().err == ""


def test_a_network_whose_first_output_is_not_float_says_so(tmp_path, image):
    """The message named only the input, which was right, as what was wrong."""
    from onnx import TensorProto

    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64)], "integers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, None)])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ref = model_file(tmp_path, data.SerializeToString(), "integers.onnx")
    with pytest.raises(MaskprepError, match=r"takes x: tensor\(float\) \[1, 1, 'h', 'w'\] "
                                            r"and gives y: tensor\(int64\) first; accepted"):
        mp.apply(OP, image, model=ref, multiple=1, halo=0)
