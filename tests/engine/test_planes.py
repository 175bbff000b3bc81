"""Local 2D ops run in horizontal stripes on threads must give the unsplit result exactly."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

import napari_maskprep as mp
from napari_maskprep.core import get_op, list_ops
from napari_maskprep.core.locality import Local
from napari_maskprep.engine import planes
from napari_maskprep.kernels import threads

SHAPE = (301, 257)  # odd sizes: the stripes and their halos do not fall on round rows


def _images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    smooth = ndi.gaussian_filter(rng.random(SHAPE), 3)
    grey8 = (smooth * 1024 % 256).astype(np.uint8)
    mask = (ndi.gaussian_filter(rng.random(SHAPE), 2) > 0.5).astype(np.uint8)
    mask[rng.random(SHAPE) > 0.97] ^= 1  # speckle: small objects and holes near the cuts
    return {
        "uint8": grey8,
        "uint16": grey8.astype(np.uint16) * 257 + rng.integers(0, 200, SHAPE, dtype=np.uint16),
        "float32": rng.random(SHAPE).astype(np.float32),
        "rgb": np.stack([grey8, grey8[::-1], grey8[:, ::-1]], axis=-1),
        "mask": mask,
        "labels": ndi.label(mask)[0].astype(np.int32),
    }


CASES = [
    ("preprocess.median", ("uint8", "uint16", "float32", "rgb"), [{"radius": 1}, {"radius": 3}]),
    ("preprocess.background", ("uint8",), [{"radius": 5}, {"radius": 4, "method": "tophat"}]),
    *[(f"refine.{name}", ("mask", "labels"),
       [{"radius": 1}, {"radius": 3, "shape": "disk"}, {"radius": 5, "shape": "square"},
        {"radius": 9, "shape": "disk"},
        {"radius": 2, "shape": "diamond"}])
      for name in ("erode", "dilate", "open", "close")],
    ("refine.smooth", ("mask",), [{"radius": 2}]),
]


@pytest.fixture
def two_stripes(monkeypatch):
    """Small images split in two stripes on two threads."""
    monkeypatch.setattr(threads, "STRIPE_MIN_PIXELS", 0)
    monkeypatch.setattr(planes, "_STRIPE_MIN_ROWS", 16)
    monkeypatch.setattr(threads, "thread_budget", lambda: 2)


def test_every_local_op_is_covered():
    local = {s.id for s in list_ops() if isinstance(s.locality, Local) and 2 in s.ndim}
    # Never split: local_threshold (stripes equal it, but gained nothing on 2 cores:
    # tests/kernels/test_local_threshold_ties.py), gaussian (cv2 parallelises it better
    # itself), pixel_classifier (LightGBM threads its prediction; the op bounds its memory
    # in blocks of rows itself) and onnx_model (onnxruntime threads, and tiles on its own
    # grid: tests/ops/test_onnx_model.py).
    unsplit = {"segment.local_threshold", "preprocess.gaussian", "segment.pixel_classifier",
               "segment.onnx_model"}
    assert local == {op_id for op_id, _, _ in CASES} | unsplit
    assert not any(get_op(op_id).locality.stripes for op_id in unsplit)


@pytest.mark.parametrize(("op_id", "inputs", "param_sets"), CASES, ids=[c[0] for c in CASES])
def test_stripes_equal_the_unsplit_run(op_id, inputs, param_sets, two_stripes, monkeypatch):
    spec = get_op(op_id)
    images = _images()
    for name in inputs:
        for params in param_sets:
            checked = spec.check_params(params)
            # Stripes even where the op would rather run whole (bit-packed masks).
            split = planes._run_in_stripes(spec, images[name], checked, 2)
            monkeypatch.setattr(threads, "STRIPE_MIN_PIXELS", 10**12)
            whole = spec(images[name], **params)
            monkeypatch.setattr(threads, "STRIPE_MIN_PIXELS", 0)
            assert split.dtype == whole.dtype and split.shape == whole.shape
            assert np.array_equal(split, whole), (name, params)


def test_no_stripes_on_one_thread_small_images_or_3d(monkeypatch):
    spec = get_op("refine.open")
    big = np.zeros((2048, 2049), np.int32)  # labels
    params = spec.check_params({"radius": 3})
    saved = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        assert threads.thread_budget() == 1
        assert planes._stripe_count(spec, big, params) == 1
    finally:
        cv2.setNumThreads(saved)
    monkeypatch.setattr(threads, "thread_budget", lambda: 2)
    assert planes._stripe_count(spec, big, params) == 2
    assert planes._stripe_count(spec, big[:1024], params) == 0  # 2 MP: under the minimum
    assert planes._stripe_count(get_op("refine.fill_holes"), big, {}) == 0  # not Local


@pytest.mark.parametrize("op_id", ["refine.erode", "refine.dilate", "refine.open",
                                   "refine.close"])
def test_bit_packed_masks_run_whole_labels_and_other_footprints_in_stripes(op_id, monkeypatch):
    monkeypatch.setattr(threads, "thread_budget", lambda: 2)
    spec = get_op(op_id)
    mask = np.zeros((2048, 2049), np.uint8)
    for data, params, stripes in [
        (mask, {"radius": 5}, 0),  # a disk: bit-packed
        (mask, {"radius": 5, "shape": "square"}, 2),  # cv2's square windows
        (mask.astype(np.int32), {"radius": 5}, 2),  # labels
    ]:
        assert planes._stripe_count(spec, data, spec.check_params(params)) == stripes


def test_a_refusal_within_one_plane_names_the_plane():
    """fill_nan on a time-lapse with one frame all NaN said 'every pixel is NaN or
    infinite' of the whole stack, whose other frames are finite."""
    frames = np.ones((2, 3, 8, 8), np.float32)
    frames[1, 2] = np.nan
    with pytest.raises(mp.BadValueError) as refused:
        mp.apply("preprocess.fill_nan", frames, per_plane=True)
    assert str(refused.value) == (
        "plane 1, 2 of 2 x 3: preprocess.fill_nan: every pixel is NaN or infinite, so there "
        "is no minimum to fill with; accepted: an image with a finite pixel, or fill='zero'")
    with pytest.raises(mp.BadValueError) as refused:  # one plane: the image is the plane
        mp.apply("preprocess.fill_nan", frames[1, 2:], per_plane=True)
    assert str(refused.value).startswith("preprocess.fill_nan: every pixel is NaN")


def test_a_stripe_s_warning_is_heard_where_the_op_was_run(two_stripes, monkeypatch):
    """Stripes run in the library's own threads: a warning raised in one (an op's, a
    library's it calls) goes to the registration of the thread that ran the op (a batch
    file's warnings column), not past it to the process's hook."""
    from napari_maskprep import MaskprepWarning
    from napari_maskprep.core.thread_warnings import heard

    real_check = planes.check_output

    def check_warning(spec, part, out):
        warnings.warn(f"stripe of {len(part)} rows", MaskprepWarning, stacklevel=1)
        return real_check(spec, part, out)

    monkeypatch.setattr(planes, "check_output", check_warning)
    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *_: shown.append(message))
    spec = get_op("refine.smooth")
    caught = []
    with heard(caught.append, always=MaskprepWarning):
        planes._run_in_stripes(spec, np.zeros((64, 64), np.uint8), spec.check_params({}), 2)
    assert sorted(str(x[0]) for x in caught) == ["stripe of 34 rows", "stripe of 34 rows"]
    assert shown == []
