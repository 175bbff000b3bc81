"""The registry contract, checked for every op: shapes, dtypes, untouched inputs, clear errors."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
import skimage.filters
from scipy import ndimage as ndi

import napari_maskprep as mp
from napari_maskprep.core import Kind, MaskprepWarning, get_op
from napari_maskprep.core.locality import GlobalStat, Local, NonLocal, Pointwise
from napari_maskprep.core.registry import operation
from napari_maskprep.engine.statistics import StatisticCache
from napari_maskprep.ops import _thresholding, segment
from napari_maskprep.ops.edit import ManualEdit

from ..learned_models import model_params

REQUIRED = {
    "preprocess": {"to_gray", "color_channel", "fill_nan", "gaussian", "median", "equalize",
                   "clahe", "rescale", "background", "invert"},
    "segment": {"threshold", "auto_threshold", "multi_threshold", "local_threshold",
                "color_range", "region_grow", "watershed", "edges"},
    "refine": {"erode", "dilate", "open", "close", "fill_holes", "remove_small", "remove_large",
               "clear_border", "keep_largest", "smooth", "label", "split_touching", "to_mask"},
}
ALL_OPS = [s.id for s in mp.list_ops()]
DTYPES = [np.uint8, np.uint16, np.float32, bool]


def test_every_required_op_is_registered():
    for stage, names in REQUIRED.items():
        assert names <= {s.name for s in mp.list_ops(stage)}, stage


@pytest.mark.parametrize("op_id", ALL_OPS)
def test_spec_is_complete(op_id):
    spec = mp.get_op(op_id)
    assert spec.summary, "first docstring paragraph is the summary"
    assert "Examples" in spec.func.__doc__ and ">>>" in spec.func.__doc__
    assert isinstance(spec.locality, Pointwise | Local | GlobalStat | NonLocal)
    assert set(spec.ndim) <= {2, 3}
    for p in spec.params:
        assert p.check(p.default) == p.default or p.default is None, p.name
    if isinstance(spec.locality, Local):
        assert spec.locality.halo(spec.defaults()) >= 0


def _blobs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    field = ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 2)
    return field > np.median(field)


def _input(spec, dtype, spatial: tuple[int, ...]) -> np.ndarray:
    """A plausible main input of ``spec``'s kind, in ``dtype``."""
    blobs = _blobs(spatial, 0)
    if spec.input is Kind.IMAGE:
        rng = np.random.default_rng(1)
        smooth = ndi.gaussian_filter(rng.random(spatial), 1) + 0.6 * blobs
        if spec.channels == "rgb":
            smooth = np.stack([smooth, smooth[::-1] if smooth.ndim else smooth, 1 - smooth], -1)
        scaled = (smooth - smooth.min()) / np.ptp(smooth)
        if dtype is bool:
            return scaled > 0.5
        if np.issubdtype(dtype, np.integer):
            return (scaled * np.iinfo(dtype).max).astype(dtype)
        return scaled.astype(dtype)
    if dtype is np.uint16:
        return ndi.label(blobs)[0].astype(np.uint16)  # labels
    return blobs.astype(dtype)


def _extras(spec, data: np.ndarray) -> dict[str, Any]:
    """The op's required extra arrays, and a trained model for each model parameter."""
    shape = data.shape[:-1] if spec.channels == "rgb" else data.shape
    return {**{i.name: np.array([[s // 2 for s in shape]], float)
               for i in spec.inputs if i.required},
            **model_params(spec, rgb=spec.channels == "rgb", volume=len(shape) == 3)}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op_id", ALL_OPS)
@pytest.mark.parametrize("spatial", [(24, 20), (5, 24, 20)], ids=["2d", "3d"])
def test_contract(op_id, dtype, spatial):
    spec = mp.get_op(op_id)
    data = _input(spec, dtype, spatial)
    before = data.copy()
    extras = _extras(spec, data)

    def run(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MaskprepWarning)
            return spec(data, **extras, **kw)

    if len(spatial) in spec.ndim:
        out = run()
    else:
        with pytest.raises(ValueError, match="per_plane"):
            run()
        out = run(per_plane=True)
    np.testing.assert_array_equal(data, before)
    assert out.shape[: len(spatial)] == spatial
    if spec.output is Kind.LABELS:
        assert out.dtype == np.int32
    elif spec.output is Kind.MASK:
        labels_in = spec.input is not Kind.IMAGE and dtype is np.uint16
        assert out.dtype in ((np.int32, np.uint8) if labels_in else (np.uint8,))
        if out.dtype == np.uint8:
            assert out.max(initial=0) <= 1
    else:
        assert out.shape == data.shape or out.shape == spatial
        assert out.dtype != np.float64, "no float64 output unless float64 came in"


@pytest.mark.parametrize("op_id", [s.id for s in mp.list_ops() if s.input is Kind.IMAGE])
def test_float64_in_gives_no_loss(op_id):
    spec = mp.get_op(op_id)
    data = _input(spec, np.float64, (24, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MaskprepWarning)
        out = spec(data, **_extras(spec, data))
    assert out.shape[:2] == (24, 20)


def test_rgb_to_a_grey_op_warns_and_uses_luminance():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[2:5, 2:5] = (200, 200, 200)
    with pytest.warns(MaskprepWarning, match="converted to grey"):
        out = mp.apply("segment.threshold", rgb, value=100)
    expected = np.zeros((8, 8), np.uint8)
    expected[2:5, 2:5] = 1
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((0, 4), np.uint8), "empty"),
        (np.array([[1.0, np.nan], [0.0, 1.0]], np.float32), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or infinite"),
        (np.arange(5, dtype=np.uint8), "2D"),
        (np.array([["a", "b"]]), "dtype <U1"),
    ],
    ids=["empty", "nan", "inf", "1d", "strings"],
)
def test_bad_input_is_one_clear_error(data, message):
    with pytest.raises((ValueError, TypeError), match=message) as info:
        mp.apply("preprocess.gaussian", data, sigma=1)
    assert "\n" not in str(info.value)


def test_a_masked_array_is_refused_not_its_mask_dropped():
    """np.asarray() dropped the mask: masked pixels were segmented by their hidden values."""
    image = np.ma.masked_array(np.arange(12.0).reshape(3, 4), mask=np.eye(3, 4, dtype=bool))
    accepted = ("is a masked array with 3 masked values, and its mask would be ignored; "
                "accepted: a plain array (fill them first: .filled(value), or "
                ".filled(numpy.nan) then preprocess.fill_nan)")
    with pytest.raises(mp.MaskprepError) as info:
        mp.apply("segment.threshold", image, value=3)
    assert str(info.value) == f"segment.threshold: input {accepted}"
    recipe = mp.Recipe([{"op": "preprocess.gaussian"},
                        {"op": "segment.threshold", "params": {"value": 3}}])
    with pytest.raises(mp.MaskprepError) as info:
        recipe.run(image)
    assert str(info.value) == ("step 1 (preprocess.gaussian): preprocess.gaussian: input "
                               f"{accepted}")
    with pytest.raises(mp.MaskprepError) as info:
        mp.apply("segment.region_grow", image.filled(0), np.ma.masked_array(
            [[1.0, 1.0]], mask=[[True, False]]))
    assert str(info.value) == ("segment.region_grow: 'seeds' " +
                               accepted.replace("with 3 masked", "with 1 masked"))
    nothing_masked = np.ma.masked_array(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(recipe.run(nothing_masked), recipe.run(image.data))


def test_4d_needs_per_plane_and_then_runs_every_plane():
    data = np.zeros((2, 3, 10, 10), np.uint8)
    data[1, 2, 3:6, 3:6] = 200
    with pytest.raises(ValueError, match="set per_plane: true"):
        mp.apply("segment.threshold", data, value=100)
    out = mp.apply("segment.threshold", data, value=100, per_plane=True)
    assert out.shape == data.shape
    assert out.sum() == 9 and out[1, 2, 4, 4] == 1


def test_per_plane_hands_each_plane_its_own_points():
    image = np.zeros((2, 9, 9), np.uint8)
    image[:, 1:4, 1:4] = 50
    image[:, 5:8, 5:8] = 50
    seeds = np.array([[0, 2, 2], [1, 6, 6]], float)
    out = mp.apply("segment.region_grow", image, seeds, tolerance=0, per_plane=True)
    assert out[0, 1:4, 1:4].all() and not out[0, 5:8, 5:8].any()
    assert out[1, 5:8, 5:8].all() and not out[1, 1:4, 1:4].any()


def test_progress_is_reported_per_plane():
    seen = []
    mp.apply("segment.threshold", np.zeros((3, 4, 4)), value=1, per_plane=True,
             progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("run", [
    lambda progress: mp.apply("segment.threshold", np.zeros((3, 4, 4)), value=1,
                              per_plane=True, progress=progress),
    lambda progress: mp.apply("segment.threshold", np.zeros((4, 4)), value=1,
                              progress=progress),
    lambda progress: mp.Recipe([{"op": "segment.threshold"}]).run(np.zeros((4, 4)),
                                                                 progress=progress),
])
def test_a_progress_that_is_not_callable_is_refused_in_one_line(run):
    with pytest.raises(mp.MaskprepError) as info:
        run(5)  # was "'int' object is not callable" after the first plane, or unnoticed
    assert str(info.value) == ("progress=5 is not accepted; expected a callable "
                               "progress(done, total), or None")


@pytest.mark.parametrize("per_plane", ["false", "no", 0, None])
def test_a_per_plane_that_is_not_a_bool_is_refused_in_one_line(per_plane):
    """per_plane='false' (truthy) ran a 2D op plane by plane over a stack, as asked not to."""
    with pytest.raises(mp.MaskprepError) as info:
        mp.apply("segment.edges", np.zeros((3, 8, 8)), per_plane=per_plane)
    assert str(info.value) == (f"per_plane={per_plane!r} is not accepted; expected True or "
                               "False")


def test_a_numpy_bool_per_plane_runs_plane_by_plane():
    stack = np.random.default_rng(0).random((3, 8, 8))
    np.testing.assert_array_equal(mp.apply("segment.edges", stack, per_plane=np.bool_(True)),
                                  mp.apply("segment.edges", stack, per_plane=True))


def test_unknown_parameter_names_the_closest():
    with pytest.raises(ValueError, match=r"no parameter 'sigmaa' \(did you mean sigma\?\)"):
        mp.apply("preprocess.gaussian", np.zeros((4, 4)), sigmaa=1)


def test_a_parameter_given_by_position_says_to_name_it():
    """mp.apply('refine.open', mask, 3) said only 'takes 1 array argument(s)'."""
    mask = np.zeros((4, 4), np.uint8)
    with pytest.raises(TypeError) as info:
        mp.apply("refine.open", mask, 3)
    assert str(info.value) == ("refine.open takes 1 array argument(s), got 2; accepted: "
                               "parameters by name (radius=, shape=)")
    with pytest.raises(TypeError) as info:
        mp.apply("refine.to_mask", mask, 1)
    assert str(info.value) == ("refine.to_mask takes 1 array argument(s), got 2; accepted: "
                               "parameters by name (none)")


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"sigma": 0}, ValueError, r"sigma=0.0 is out of range; expected a number in \[0.1"),
        ({"sigma": "big"}, TypeError, "expected a number"),
        ({"sigma": True}, TypeError, "expected a number"),
        ({"sigma": float("nan")}, ValueError, "expected a number"),
    ],
)
def test_bad_parameter_names_what_is_accepted(params, error, message):
    with pytest.raises(error, match=message):
        mp.apply("preprocess.gaussian", np.zeros((4, 4)), **params)


def test_parameter_values_are_coerced_to_the_declared_type():
    method = get_op("segment.auto_threshold").param("method")
    otsu = segment.ThresholdMethod.OTSU
    for value in ("otsu", "OTSU", "Otsu", otsu):
        assert method.check(value) is otsu
    # A member of another Enum is taken by its value.
    assert method.check(segment.LocalMethod.MEAN) is segment.ThresholdMethod.MEAN
    for value in ("otsu2", 1, ["otsu"]):  # unknown, another type, unhashable
        with pytest.raises(ValueError, match=re.escape(f"method={value!r} is not accepted;")):
            method.check(value)
    sigma = get_op("preprocess.gaussian").param("sigma")
    for value in (2, 2.0, np.float32(2.0), np.int64(2)):
        assert sigma.check(value) == 2.0 and type(sigma.check(value)) is float
    for value in (np.bool_(True), "2", [2.0]):
        with pytest.raises(TypeError, match="expected a number"):
            sigma.check(value)
    radius = get_op("refine.open").param("radius")
    assert radius.check(3.0) == 3 and type(radius.check(np.int32(3))) is int
    with pytest.raises(TypeError, match="expected an integer"):
        radius.check(2.5)


@pytest.mark.parametrize(
    ("name", "value", "error", "message"),
    [
        ("radius", float("inf"), mp.BadValueError, r"radius=inf is not a finite number"),
        ("radius", float("nan"), mp.BadValueError, r"radius=nan is not a finite number"),
        ("radius", 10**400, mp.BadValueError, r"radius=1000000.*\.\.\..* is out of range"),
        ("radius", -(10**30), mp.BadValueError, r"is out of range; expected an integer in"),
        ("sigma", 10**400, mp.BadValueError, r"sigma=1000.*\.\.\..* is out of range"),
        ("min_size", 2**63, mp.BadValueError, r"min_size=9223372036854775808 is out of range"),
        ("method", "x" * 10**6, mp.BadValueError, r"method='xxx.*\.\.\..*' is not accepted"),
        ("method", [[[["otsu"]]]], mp.BadValueError, r"method=\[\[\[\[\.\.\.\]\]\]\]"),
    ],
)
def test_parameter_values_past_any_bound_give_one_short_error(name, value, error, message):
    op = {"radius": "refine.open", "sigma": "preprocess.gaussian",
          "min_size": "refine.remove_small", "method": "segment.auto_threshold"}[name]
    with pytest.raises(error, match=message) as caught:
        get_op(op).param(name).check(value)
    assert isinstance(caught.value, mp.MaskprepError) and len(str(caught.value)) < 300


def test_an_integer_past_int64_names_the_bound_it_is_past():
    """min_size=2**63 (or '1e30 um2' at 0.5 um) said 'is out of range; expected an integer
    >= 1', which it is: the bound it broke, int64's, was not named."""
    with pytest.raises(mp.BadValueError) as caught:
        get_op("refine.remove_small").param("min_size").check(2**63)
    assert str(caught.value) == (
        "min_size=9223372036854775808 is out of range (an integer an array holds is "
        "-9223372036854775808 to 9223372036854775807); expected an integer >= 1, or an area "
        "or volume such as '30 um2', '30 um3'")


def test_unknown_op_names_the_closest_ids():
    with pytest.raises(mp.UnknownOpError, match="did you mean refine.fill_holes"):
        mp.get_op("refine.fill_hole")
    # a method's name as an op's: the op that has it first
    for op_id, op, choice in [("segment.otsu", "segment.auto_threshold", "method: otsu"),
                              ("segment.Sauvola", "segment.local_threshold", "method: sauvola"),
                              ("segment.canny", "segment.edges", "method: canny")]:
        with pytest.raises(mp.UnknownOpError) as info:
            mp.get_op(op_id)
        assert str(info.value).startswith(f"unknown op '{op_id}'; did you mean {op} ({choice}),")
    for not_an_id in (["refine.open"], 7, None):
        with pytest.raises(mp.UnknownOpError, match="unknown op"):
            mp.get_op(not_an_id)


def test_registering_an_id_twice_raises():
    with pytest.raises(ValueError, match="already registered"):
        operation("refine.open", input="mask", output="mask", locality=NonLocal())(
            lambda mask: mask
        )


def test_mask_and_labels_are_told_apart():
    spec = mp.get_op("refine.to_mask")
    np.testing.assert_array_equal(spec(np.array([[0, 3], [1, 0]])), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="negative"):
        spec(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="fractional"):
        spec(np.array([[0, 0.5]]))


def test_import_loads_no_gui_module():
    import subprocess
    import sys

    code = ("import sys, napari_maskprep as m; m.list_ops(); "
            "bad = [n for n in sys.modules if n.split('.')[0] in "
            "('napari', 'magicgui', 'qtpy', 'PyQt6', 'PyQt5', 'PySide6')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# The ops whose statistic and pointwise apply a preview may run separately.
SPLIT_CASES = [
    ("segment.auto_threshold", [{"method": "otsu", "polarity": "bright"},
                                {"method": "otsu", "polarity": "dark"},
                                {"method": "li", "polarity": "auto"},
                                {"method": "minimum", "polarity": "bright"}]),
    ("segment.multi_threshold", [{"classes": 3, "keep_from": 1, "keep_to": 2},
                                 {"classes": 3, "keep_from": 2, "keep_to": 2},
                                 {"classes": 4, "keep_from": 1, "keep_to": 1}]),
]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize(("op_id", "param_sets"), SPLIT_CASES)
def test_statistic_cache_gives_the_plain_call_result(op_id, param_sets, dtype):
    rng = np.random.default_rng(21)
    image = (rng.gamma(2.0, 30.0, (40, 50)) + 40 * (rng.random((40, 50)) > 0.7)).astype(dtype)
    spec = get_op(op_id)
    cache = StatisticCache()
    for params in param_sets:
        np.testing.assert_array_equal(cache.run(spec, image, "v1", params), spec(image, **params))


def test_statistic_cache_computes_the_statistic_once_per_source_and_key(monkeypatch):
    spec = get_op("segment.auto_threshold")
    calls = []
    histogram = _thresholding.image_histogram
    monkeypatch.setattr(_thresholding, "image_histogram",
                        lambda *a, **k: calls.append(1) or histogram(*a, **k))
    rng = np.random.default_rng(5)
    image = np.clip(rng.normal(60, 10, (20, 20)) + 120 * (rng.random((20, 20)) > 0.5), 0, 255)
    image = image.astype(np.uint8)  # two peaks, as method "minimum" needs
    cache = StatisticCache(size=2)
    cache.run(spec, image, "v1", {"polarity": "bright"})
    cache.run(spec, image, "v1", {"polarity": "dark"})
    cache.run(spec, image, "v1", {"method": "li"})  # same histogram
    assert len(calls) == 1
    cache.run(spec, image, "v2", {"polarity": "dark"})  # new content: recomputed
    cache.run(spec, image, "v1", {"method": "minimum"})  # other bins: recomputed
    assert len(calls) == 3
    cache.run(spec, image, "v1", {"polarity": "bright"})  # dropped: only 2 are kept
    assert len(calls) == 4 and len(cache) == 2


def test_statistic_cache_takes_the_statistic_from_a_basis_and_applies_it_to_the_data():
    spec = get_op("segment.auto_threshold")
    whole = np.random.default_rng(8).integers(0, 256, (60, 80), dtype=np.uint8)
    region = whole[10:30, 5:45]
    threshold = skimage.filters.threshold_otsu(whole)
    cache = StatisticCache()
    params = {"polarity": "bright"}
    result = cache.run(spec, region, "level 2", params, basis=whole)
    np.testing.assert_array_equal(result, (region > threshold).astype(np.uint8))
    # Kept under its source: the basis is not needed again.
    corner = whole[:5, :5]
    np.testing.assert_array_equal(cache.run(spec, corner, "level 2", params),
                                  (corner > threshold).astype(np.uint8))


def test_statistic_cache_passes_other_ops_and_errors_through():
    cache = StatisticCache()
    image = np.arange(30, dtype=np.uint8).reshape(5, 6)
    threshold = get_op("segment.threshold")
    np.testing.assert_array_equal(cache.run(threshold, image, "v1", {"value": 10}), image > 10)
    assert len(cache) == 0
    with pytest.raises(ValueError, match="keep_from=2, keep_to=1"):
        cache.run(get_op("segment.multi_threshold"), image, "v1",
                  {"classes": 3, "keep_from": 2, "keep_to": 1})
    with pytest.raises(ValueError, match="per_plane"):
        cache.run(get_op("segment.auto_threshold"), np.zeros((2, 2, 5, 6), np.uint8), "v1", {})


# Memory layouts and byte orders an array can arrive in, each with the same values.
LAYOUTS = {
    "fortran": np.asfortranarray,
    "transposed": lambda a: np.ascontiguousarray(a.swapaxes(0, 1)).swapaxes(0, 1),
    "broadcast": lambda a: np.broadcast_to(a[:1], a.shape),  # zero stride along axis 0
    "reversed": lambda a: np.ascontiguousarray(a[::-1])[::-1],
    "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
}


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("layout", [*LAYOUTS, "read-only"])
@pytest.mark.parametrize("op_id", ALL_OPS)
def test_every_layout_and_byte_order_gives_the_c_order_result(op_id, layout):
    # cv2 raised multi-line cv2.errors on Fortran-order, transposed and broadcast arrays,
    # and numpy a TypeError on big-endian ones.
    spec = mp.get_op(op_id)
    data = _input(spec, np.uint16 if spec.input is Kind.IMAGE else np.uint8, (24, 20))
    arranged = _read_only(data) if layout == "read-only" else LAYOUTS[layout](data)
    extras = _extras(spec, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MaskprepWarning)
        expected = spec(np.ascontiguousarray(arranged).astype(data.dtype), **extras)
        out = spec(arranged, **extras)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("op_id", [s.id for s in mp.list_ops() if s.input is Kind.IMAGE])
def test_float16_is_taken_as_float32(op_id):
    spec = mp.get_op(op_id)
    half = _input(spec, np.float16, (24, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MaskprepWarning)
        out = spec(half, **_extras(spec, half))
        expected = spec(half.astype(np.float32), **_extras(spec, half))
    np.testing.assert_array_equal(out, expected)


def test_float_images_too_large_to_sum_are_one_error():
    # Otsu's moments and the histogram's bin centres overflowed near float32's maximum.
    image = np.array([[3e38, 0, 1, 0]], np.float32)
    with pytest.raises(mp.BadValueError, match=r"image has values from 0 to 3e\+38, too large"
                       r" for sums over float32; accepted: values within \+-3.09e\+26") as info:
        mp.apply("segment.auto_threshold", image)
    assert len(str(info.value)) < 300
    assert mp.apply("segment.auto_threshold", image / 1e13, polarity="bright").tolist() == [
        [1, 0, 0, 0]]


def test_grey_uint8_to_a_mask_op_warns_that_it_was_taken_as_labels():
    # A grey image given to refine.open came back as int32 labels without a word.
    grey = np.array([[0, 0, 0, 0], [0, 200, 200, 0], [0, 200, 90, 0], [0, 0, 0, 0]], np.uint8)
    message = (r"refine.open: the uint8 input holds values up to 200, so it was taken as "
               r"labels and int32 labels came back; for a mask give 0/1 values")
    with pytest.warns(MaskprepWarning, match=message) as caught:
        out = mp.apply("refine.open", grey, radius=1, shape="square")
    assert out.dtype == np.int32 and caught[0].filename == __file__
    assert len(str(caught[0].message)) < 300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mp.apply("refine.open", (grey > 0).astype(np.uint8), radius=1)  # a mask: no warning
        mp.apply("refine.open", grey.astype(np.uint16), radius=1)  # labels: no warning
        assert mp.apply("refine.to_mask", grey).dtype == np.uint8  # a mask comes back
        # A 0/1 mask painted into labels by hand is no grey image.
        mask = (grey > 0).astype(np.uint8)
        painted = mask.copy()
        painted[2, 2] = 2
        edit = ManualEdit.between(mask, painted).params()
        assert mp.apply("edit.manual", mask, **edit).dtype == np.int32


def test_a_16_bit_intensity_image_to_a_mask_op_warns_that_it_was_taken_as_labels():
    """A raw uint16 image into refine.open (the threshold step forgotten) gave an all-zero
    int32 result without a word; the same recipe on uint8 warned."""
    camera = np.random.default_rng(2).integers(100, 4000, (32, 32)).astype(np.uint16)
    with pytest.warns(MaskprepWarning, match=r"^refine.open: the uint16 input has no 0 "
                      r"\(background\) and changes from pixel to pixel like an intensity "
                      r"image; it was taken as labels, one per value: threshold it first"):
        mp.apply("refine.open", camera, radius=1)
    tissue = np.kron(np.arange(1, 17, dtype=np.uint16).reshape(4, 4), np.ones((8, 8), int))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mp.apply("refine.open", tissue.astype(np.uint16), radius=1)  # labels filling it all
        camera[5, 5] = 0
        mp.apply("refine.open", camera, radius=1)  # background somewhere: labels, as given


def test_an_rgb_image_to_a_mask_op_is_refused_in_one_line():
    """Its colours were taken as a (y, x, 3) stack of labels: a 3D result the napari replay
    could not show (axis_labels of 2 for 3 axes), minutes of refine.smooth on uint16."""
    rgb = np.random.default_rng(1).integers(0, 255, (40, 40, 3)).astype(np.uint8)
    with pytest.raises(mp.BadValueError, match=r"^refine.open: the input looks like an RGB "
                       r"image \(shape \(40, 40, 3\)\); accepted: a 0/1 mask or labels"):
        mp.apply("refine.open", rgb)
    volume = np.zeros((3, 6, 3), np.uint8)  # a 0/1 stack of that shape is a mask
    assert mp.apply("refine.open", volume, radius=1).shape == (3, 6, 3)


def test_rgb_of_64_bit_integers_converts_to_grey_without_wrapping():
    top = np.iinfo(np.int64).max
    rgb = np.full((6, 6, 3), top, np.int64)
    with pytest.warns(MaskprepWarning, match="converted to grey"):
        out = mp.apply("segment.threshold", rgb, value=2**62)
    assert out.all()
