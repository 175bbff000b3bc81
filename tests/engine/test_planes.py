"""Local 2D ops run in horizontal stripes on threads must give the unsplit result exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

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
    # Never split: local_threshold (its running sums round differently from another first
    # row) and gaussian (cv2 parallelises it better itself).
    unsplit = {"segment.local_threshold", "preprocess.gaussian"}
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


def _seam_masks() -> list[np.ndarray]:
    """Masks whose objects and holes cross, touch and skirt the middle row in every way."""
    rng = np.random.default_rng(7)
    masks = []
    for rows, level in [(64, 0.5), (65, 0.3), (100, 0.7), (301, 0.5)]:
        smooth = (ndi.gaussian_filter(rng.random((rows, 57)), 2) > level).astype(np.uint8)
        smooth[rng.random(smooth.shape) > 0.95] ^= 1
        masks += [smooth, (rng.random((rows, 57)) > 0.5).astype(np.uint8)]
    drawn = np.zeros((80, 60), np.uint8)  # middle row 40
    cv2.circle(drawn, (12, 40), 8, 1, 2)  # a ring across the middle: its hole too
    cv2.rectangle(drawn, (26, 30), (34, 39), 1, 1)  # a hole that ends on row 39
    cv2.rectangle(drawn, (26, 41), (34, 50), 1, 1)  # ... and one that starts on row 41
    cv2.rectangle(drawn, (37, 33), (45, 47), 1, 1)
    drawn[40, 38:45] = 0  # a hole that is cut open on the middle row
    drawn[39, 48:60] = 1  # thin lines beside and on the middle row
    drawn[40, 50:53] = 1
    drawn[41, 54:59] = 1
    drawn[38:41, 2] = 1  # diagonal joints across it
    drawn[41:43, 3] = 1
    masks.append(drawn)
    big = np.zeros((80, 60), np.uint8)  # middle row 40: big pieces settle their objects
    big[10:40, 5:26] = 1  # a big piece above the middle ...
    big[40:44, 10] = 1  # ... joined by a small one below it
    big[41:43, 30:32] = 1  # small, beside the middle row only
    big[37:44, 40] = 1  # small, across it
    big[35:61, 45:56] = 1  # big, across it
    masks.append(big)
    return masks


@pytest.mark.parametrize(("op_id", "params"), [
    ("refine.fill_holes", {}), ("refine.fill_holes", {"max_hole_size": 5}),
    ("refine.remove_small", {"min_size": 20}),
    ("refine.remove_small", {"min_size": 20, "connectivity": "faces"}),
    ("refine.remove_large", {"max_size": 30, "connectivity": "faces"}),
])
def test_contours_traced_in_halves_equal_the_whole_trace(op_id, params, monkeypatch):
    from napari_maskprep.ops import refine

    op = get_op(op_id)
    masks = _seam_masks()
    monkeypatch.setattr(refine, "_use_contours", lambda mask: True)  # noise masks too
    whole = [op(mask, **params) for mask in masks]
    monkeypatch.setattr(refine, "STRIPE_MIN_PIXELS", 0)
    monkeypatch.setattr(refine, "thread_budget", lambda: 2)
    halves = []
    settle = refine._settle_in_halves
    monkeypatch.setattr(refine, "_settle_in_halves", lambda *a: halves.append(1) or settle(*a))
    for mask, expected in zip(masks, whole, strict=True):
        assert np.array_equal(op(mask, **params), expected)
    assert len(halves) == len(masks)
    assert sum(not np.array_equal(w, m) for w, m in zip(whole, masks, strict=True)) > 6
