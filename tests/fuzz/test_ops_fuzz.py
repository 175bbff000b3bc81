"""Every op against odd dtypes, memory layouts, shapes and parameters at and past their bounds.

Each case ends in one of two ways: a result of the declared kind and dtype, with the input
unchanged, or one of the package's own errors (:class:`MaskprepError`) in one short line
that names what it is about. Any other exception, a case slower than the deadline, or a
message that grows with the input is a defect.

The default profile is small and derandomised, so the suite stays fast and every run tries
the same cases. ``pytest -m fuzz_long tests/fuzz`` runs the long profile: many more cases,
still derandomised; with ``MASKPREP_FUZZ_RANDOM=1`` both draw new cases on every run, and a
failure prints how to reproduce it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napari_maskprep as mp
from napari_maskprep.core import Kind, MaskprepWarning
from napari_maskprep.core.model_files import ModelFile
from napari_maskprep.core.validation import looks_rgb

from ..learned_models import tiny_classifier

OPS = [s.id for s in mp.list_ops()]

DTYPES = [
    "?", "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2", "f4", "f8",
    ">u2", ">i2", ">u4", ">i8", ">u8", ">f4", ">f8",
]
LAYOUTS = ["c", "fortran", "transposed", "broadcast", "readonly", "strided", "reversed"]
SHAPES = ["empty", "1x1", "1xN", "Nx1", "2d", "3d_one_plane", "3d", "1d", "4d"]
# Words a message about the input or a parameter contains (besides the parameter's name).
INPUT_WORDS = ("input", "image", "mask", "label", "seeds", "markers", "per_plane", "data")
MAX_MESSAGE = 300

_RANDOM = bool(os.environ.get("MASKPREP_FUZZ_RANDOM"))
_COMMON = {
    "database": None,
    "derandomize": not _RANDOM,
    "deadline": 2000,  # ms per case: inputs are tiny, so only runaway work gets near it
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": _RANDOM,
}
FAST = settings(max_examples=80, **_COMMON)
LONG = settings(max_examples=1000, **_COMMON)


@dataclass
class Case:
    """One drawn call: what goes in, and whether the call must fail."""

    data: np.ndarray
    arrays: dict[str, Any]
    params: dict[str, Any]
    per_plane: bool
    must_fail: str | None  # why, when the call must raise


def _values(draw: st.DrawFn, dtype: np.dtype, shape: tuple[int, ...],
            rng: np.random.Generator) -> np.ndarray:
    """Values of ``dtype`` (native byte order) in a drawn pattern."""
    pattern = draw(st.sampled_from(["random", "small", "binary", "constant", "extremes",
                                    "nonfinite"]))
    native = dtype.newbyteorder("=")
    if native.kind == "b":
        return rng.random(shape) < 0.5
    if native.kind in "iu":
        info = np.iinfo(native)
        if pattern == "random":
            return rng.integers(info.min, info.max, shape, dtype=native, endpoint=True)
        if pattern in ("small", "nonfinite"):
            return rng.integers(0, min(4, info.max), shape, endpoint=True).astype(native)
        if pattern == "binary":
            return rng.integers(0, 1, shape, endpoint=True).astype(native)
        choices = np.array([info.min, info.max, 0, 1, info.max - 1], dtype=native)
        if pattern == "constant":
            return np.full(shape, draw(st.sampled_from(list(choices))), native)
        return rng.choice(choices, shape)
    info = np.finfo(native)
    if pattern == "random":
        values = rng.normal(0, 1e3, shape)
    elif pattern == "small":
        values = rng.random(shape)
    elif pattern == "binary":
        values = rng.integers(0, 1, shape, endpoint=True).astype(float)
    elif pattern == "constant":
        values = np.full(shape, draw(st.sampled_from([0.0, 1.0, -2.5, float(info.max)])))
    elif pattern == "extremes":
        choices = [0.0, 1.0, float(info.max), float(-info.max), float(info.tiny), -1.0]
        values = rng.choice(choices, shape)
    else:
        values = rng.choice([0.0, 0.5, np.nan, np.inf, -np.inf], shape)
    with np.errstate(over="ignore"):
        values = values.astype(native)
    return values


def _laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """``a``'s values in another memory layout (same shape, same values)."""
    if a.ndim == 0 or a.size == 0:
        return a
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "transposed" and a.ndim >= 2:
        return np.ascontiguousarray(a.swapaxes(0, 1)).swapaxes(0, 1)
    if layout == "broadcast":
        return np.broadcast_to(a[:1], a.shape)  # zero stride along the first axis
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "strided":
        big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "reversed":
        return np.ascontiguousarray(a[::-1])[::-1]
    return a


def _shape(draw: st.DrawFn, kind: str, channels: int) -> tuple[int, ...]:
    n = st.integers(2, 20)
    spatial = {
        "empty": lambda: draw(st.sampled_from([(0, 5), (5, 0), (0, 4, 4)])),
        "1x1": lambda: (1, 1),
        "1xN": lambda: (1, draw(n)),
        "Nx1": lambda: (draw(n), 1),
        "2d": lambda: (draw(n), draw(n)),
        "3d_one_plane": lambda: (1, draw(n), draw(n)),
        "3d": lambda: (draw(st.integers(2, 4)), draw(st.integers(2, 12)),
                       draw(st.integers(2, 12))),
        "1d": lambda: (draw(n),),
        "4d": lambda: (2, 2, draw(st.integers(2, 8)), draw(st.integers(2, 8))),
    }[kind]()
    return (*spatial, channels) if channels else spatial


def _param_value(draw: st.DrawFn, p) -> tuple[Any, bool]:
    """A value for parameter ``p`` and whether it lies outside what ``p`` accepts."""
    if p.optional and draw(st.integers(0, 3)) == 0:
        return None, False
    if p.type is ModelFile:
        if draw(st.integers(0, 9)) == 0:
            return {"path": "no-such-model.txt", "sha256": "0" * 64}, True
        return tiny_classifier(draw(st.integers(0, 7)) == 0).to_plain(), False
    if p.choices is not None:
        if draw(st.integers(0, 9)) == 0:
            return "no-such-choice", True
        return draw(st.sampled_from(p.choices)), False
    if p.type is bool:
        return draw(st.booleans()), False
    if p.type is str:
        return draw(st.text(max_size=12)), False
    lo, hi = p.hints.get("min"), p.hints.get("max")
    if p.type is int:
        top = hi if hi is not None else 10**6
        inside = st.one_of(st.sampled_from([lo, top]), st.integers(lo, top))
        outside = st.sampled_from([lo - 1] + ([hi + 1] if hi is not None else [2**64]))
    else:
        low = lo if lo is not None else -1e6
        top = hi if hi is not None else 1e6
        inside = st.one_of(st.sampled_from([low, top]),
                           st.floats(low, top, allow_nan=False, allow_infinity=False))
        past = [np.nextafter(lo, -np.inf)] if lo is not None else []
        past += [np.nextafter(hi, np.inf)] if hi is not None else []
        outside = st.sampled_from([*past, float("nan"), float("inf")])
    if draw(st.integers(0, 9)) == 0:
        return draw(outside), True
    return draw(inside), False


@st.composite
def cases(draw: st.DrawFn, spec) -> Case:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    layout = draw(st.sampled_from(LAYOUTS))
    shape_kind = draw(st.sampled_from(SHAPES))
    rgb = spec.channels == "rgb" or (spec.input is Kind.IMAGE and draw(st.integers(0, 7)) == 0)
    channels = draw(st.sampled_from([3, 4])) if rgb and shape_kind not in ("1d", "empty") else 0
    shape = _shape(draw, shape_kind, channels)
    values = _values(draw, dtype, shape, rng)
    data = _laid_out(values.astype(dtype), layout)
    spatial = shape[:-1] if channels else shape
    seen = np.asarray(data)  # a broadcast keeps only some of the values
    must_fail = None
    if seen.size == 0:
        must_fail = "empty input"
    elif seen.dtype.kind == "f" and not np.isfinite(seen).all() and spec.finite:
        must_fail = "NaN or infinite input"
    elif spec.input is not Kind.IMAGE and seen.dtype.kind == "i" and (seen < 0).any():
        must_fail = "negative labels"
    params = {}
    for p in spec.params:
        value, bad = _param_value(draw, p)
        params[p.name] = value
        if bad:
            must_fail = must_fail or f"{p.name}={value!r} is not accepted"
    if (not spec.finite and seen.dtype.kind == "f" and seen.size
            and not np.isfinite(seen).any() and params["fill"] != "zero"):
        must_fail = must_fail or "no finite pixel to fill from"
    arrays = _extra_arrays(draw, spec, spatial, rng)
    per_plane = len(spatial) > 2 and draw(st.booleans())
    return Case(data, arrays, params, per_plane, must_fail)


def _extra_arrays(draw: st.DrawFn, spec, spatial: tuple[int, ...],
                  rng: np.random.Generator) -> dict[str, Any]:
    arrays: dict[str, Any] = {}
    for extra in spec.inputs:
        if not extra.required and draw(st.booleans()):
            continue
        kinds = extra.kinds
        if Kind.POINTS in kinds and (Kind.LABELS not in kinds or draw(st.booleans())):
            count = draw(st.integers(1, 3))
            upper = np.maximum(np.array(spatial) - 1, 0)
            points = rng.uniform(0, 1, (count, len(spatial))) * upper
            if draw(st.integers(0, 9)) == 0:
                points[0, 0] = -5.0  # outside the image
            arrays[extra.name] = points
        elif Kind.LABELS in kinds:
            arrays[extra.name] = rng.integers(0, 3, spatial).astype(np.int32)
        else:
            dtype = np.dtype(draw(st.sampled_from(DTYPES)))
            values = _values(draw, dtype, spatial, rng)
            arrays[extra.name] = _laid_out(values.astype(dtype),
                                           draw(st.sampled_from(LAYOUTS)))
    return arrays


def _spatial_shape(spec, data: np.ndarray) -> tuple[int, ...]:
    """The shape of a mask made from ``data``: without the colour axis of an image."""
    colour = spec.input is Kind.IMAGE and (spec.channels == "rgb" or looks_rgb(data))
    return data.shape[:-1] if colour else data.shape


def _expected_image_dtypes(spec, data: np.ndarray, params: dict[str, Any]) -> set[np.dtype]:
    native = data.dtype.newbyteorder("=")
    if native.kind == "b" or native == np.float16:
        native = np.dtype(np.float32)
    if spec.id == "preprocess.color_channel" and str(params.get("space")) != "rgb":
        return {np.dtype(np.float32), np.dtype(np.float64)}
    return {native}


def _check_result(spec, case: Case, out: Any) -> None:
    assert isinstance(out, np.ndarray), type(out)
    assert not np.shares_memory(out, case.data), "the result shares memory with the input"
    spatial = _spatial_shape(spec, case.data)
    if spec.output is Kind.IMAGE:
        assert out.shape in (case.data.shape, spatial), (out.shape, case.data.shape)
        assert out.dtype in _expected_image_dtypes(spec, case.data, case.params), out.dtype
        return
    assert out.shape == spatial, (out.shape, spatial)
    if spec.output is Kind.LABELS:
        assert out.dtype == np.int32, out.dtype
        assert out.min(initial=0) >= 0
        return
    assert out.dtype in (np.uint8, np.int32), out.dtype
    if out.dtype == np.uint8:
        assert out.max(initial=0) <= 1, "a mask holds 0 and 1 only"
    else:
        assert spec.input is not Kind.IMAGE, "labels come back only where labels came in"


def _check_error(spec, case: Case, error: Exception) -> None:
    if not isinstance(error, mp.MaskprepError):
        raise AssertionError(f"{type(error).__name__} is not a MaskprepError") from error
    message = str(error)
    assert "\n" not in message, message
    assert len(message) < MAX_MESSAGE, message
    names = (spec.id, *(p.name for p in spec.params), *(i.name for i in spec.inputs))
    assert any(word in message for word in (*names, *INPUT_WORDS)), message


def check_case(spec, case: Case) -> None:
    before = case.data.copy()
    arrays_before = {k: np.copy(v) for k, v in case.arrays.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        warnings.simplefilter("always", MaskprepWarning)
        try:
            out = spec(case.data, **case.arrays, **case.params, per_plane=case.per_plane)
        except Exception as error:  # the outcome under test: which error, and its message
            _check_error(spec, case, error)
            out = None
    for w in caught:
        assert "\n" not in str(w.message) and len(str(w.message)) < MAX_MESSAGE, w.message
    np.testing.assert_array_equal(case.data, before, err_msg="the input was changed")
    for name, value in case.arrays.items():
        np.testing.assert_array_equal(value, arrays_before[name], err_msg=f"{name} changed")
    if out is None:
        return
    assert case.must_fail is None, f"ran although {case.must_fail}"
    _check_result(spec, case, out)


@pytest.fixture(scope="module", autouse=True)
def _trained_models() -> None:
    """The tiny models the cases draw, trained before any draw (training inside a strategy
    would use the random module there, which Hypothesis refuses)."""
    tiny_classifier(False)
    tiny_classifier(True)


@pytest.mark.parametrize("op_id", OPS)
@FAST
@given(data=st.data())
def test_op_gives_a_result_or_one_short_error(op_id, data):
    spec = mp.get_op(op_id)
    check_case(spec, data.draw(cases(spec)))


@pytest.mark.fuzz_long
@pytest.mark.parametrize("op_id", OPS)
@LONG
@given(data=st.data())
def test_op_gives_a_result_or_one_short_error_long(op_id, data):
    spec = mp.get_op(op_id)
    check_case(spec, data.draw(cases(spec)))
