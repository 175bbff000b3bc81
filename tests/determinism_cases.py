"""The cases of ``tests/test_determinism.py`` and the worker that runs them in a fresh process.

Run as a script with a JSON list of cases on stdin, it runs every case twice (all cases in
order, then all in reverse order, so that buffers a case leaves behind meet other cases) and
prints ``{case id: [digest, digest]}`` as JSON, with the thread budget it ran under. The
parent sets the thread counts: ``MASKPREP_TEST_THREADS`` for cv2 (read here before any op
runs) and OMP/OpenBLAS/MKL in the environment.

Inputs are real images from ``tests/data`` (uint16 and uint8 fluorescence, RGB H&E, a 3D
stack), masks and labels from their ground truth or a threshold, and the same tiled to
2048 x 2048 (4 MP), where stripes on threads, threaded histograms and contour tracing in
two halves switch on; and one small synthetic mask whose ties float noise would decide.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).parent / "data"
BIG = (2048, 2048)  # 4 MP: STRIPE_MIN_PIXELS, where the multi-threaded paths start

_FILES = {
    "fluo16": ("bbbc039_fluo_nuclei", "IXMtest_A12_s7_w1EAEEA614-51ED-43B3-A4FF-088730911E4C.tif"),
    "fluo8": ("dsb2018_fluo_nuclei", "2dec81a678ddcac2.png"),
    "he": ("dsb2018_brightfield_nuclei", "65c8527c16a01619.png"),
    "stack16": ("stardist_synthetic_3d", "img3d_z00-15.tif"),
}


def _read(name: str, folder: str) -> np.ndarray:
    from napari_maskprep.io import read_image

    dataset, file = _FILES[name]
    stem = Path(file).stem
    path = next((DATA / dataset / folder).glob(f"{stem}.*"))
    return read_image(path)


def _tiled(a: np.ndarray) -> np.ndarray:
    reps = (-(-BIG[0] // a.shape[0]), -(-BIG[1] // a.shape[1])) + (1,) * (a.ndim - 2)
    return np.ascontiguousarray(np.tile(a, reps)[: BIG[0], : BIG[1]])


def _tiled_labels(labels: np.ndarray) -> np.ndarray:
    """Labels tiled to BIG with the ids of each tile after the previous tile's."""
    rows, cols = labels.shape
    out = np.zeros(BIG, np.int32)
    top = int(labels.max())
    for k, (y, x) in enumerate((y, x) for y in range(0, BIG[0], rows)
                               for x in range(0, BIG[1], cols)):
        tile = out[y : y + rows, x : x + cols]
        piece = labels[: tile.shape[0], : tile.shape[1]]
        tile[...] = np.where(piece > 0, piece + k * top, 0)
    return out


def _seeds(labels: np.ndarray) -> np.ndarray:
    """One point per label, on one of its own pixels (the middle one in raster order)."""
    points = []
    for index in range(1, int(labels.max()) + 1):
        pixels = np.argwhere(labels == index)
        if len(pixels):
            points.append(pixels[len(pixels) // 2])
    return np.array(points, np.float64)


def _painted(mask: np.ndarray) -> np.ndarray:
    """The mask after hand edits: a block painted, the rows of an object erased."""
    out = mask.copy()
    out[40:70, 100:160] = 1
    out[200:260] = 0
    return out


def _touching_discs() -> np.ndarray:
    """Two touching discs and a border strip, 40 x 60: OpenCV 5.1's raw distance is a float32
    step off the exact one here, differently from call to call, and its ties split them."""
    yy, xx = np.mgrid[:40, :60]
    mask = ((yy - 20) ** 2 + (xx - 19) ** 2 <= 100) | ((yy - 20) ** 2 + (xx - 38) ** 2 <= 100)
    mask[:, :3] = True
    return mask.view(np.uint8)


def _nan_border(image: np.ndarray) -> np.ndarray:
    """``image`` in float32 with the NaN border of a registered field, and an infinity."""
    out = image.astype(np.float32)
    out[:12], out[:, -7:], out[100, 100] = np.nan, np.nan, np.inf
    return out


_BUILDERS: dict[str, Any] = {
    "fluo16": lambda: _read("fluo16", "images"),
    "fluo8": lambda: _read("fluo8", "images"),
    "he": lambda: _read("he", "images"),
    "stack16": lambda: _read("stack16", "images"),
    "fluo_nan": lambda: _nan_border(_input("fluo16")),
    "fluo16_4mp": lambda: _tiled(_input("fluo16")),
    "fluo8_4mp": lambda: _tiled(_input("fluo8")),
    "he_4mp": lambda: _tiled(_input("he")),
    "nuclei_labels": lambda: _read("fluo16", "masks").astype(np.int32),
    "nuclei": lambda: (_input("nuclei_labels") > 0).view(np.uint8),
    "nuclei_painted": lambda: _painted(_input("nuclei")),
    "nuclei_labels_4mp": lambda: _tiled_labels(_input("nuclei_labels")),
    "nuclei_4mp": lambda: (_input("nuclei_labels_4mp") > 0).view(np.uint8),
    # A raw threshold: ragged outlines with holes (traced), and speckle (labelled).
    "bright_4mp": lambda: (_input("fluo16_4mp") > 170).view(np.uint8),
    "speckle_4mp": lambda: (_input("fluo16_4mp") > 150).view(np.uint8),
    "touching_discs": _touching_discs,
    "stack_labels": lambda: _read("stack16", "masks").astype(np.int32),
    "stack_mask": lambda: (_input("stack_labels") > 0).view(np.uint8),
    "seeds": lambda: _seeds(_input("nuclei_labels")),
    "stack_seeds": lambda: _seeds(_input("stack_labels")),
}


@functools.cache
def _input(name: str) -> np.ndarray:
    a = _BUILDERS[name]()
    a.flags.writeable = False  # ops never mutate their input: a write would raise
    return a


def _case(op: str, input: str, *, extras: dict[str, str] | None = None,
          per_plane: bool = False, edit: tuple[str, str] | None = None,
          model: str | None = None, **params: Any) -> dict[str, Any]:
    """One case as JSON data. ``edit``: (before, after) inputs whose difference is the
    ``edit.manual`` diff; ``model``: 'grey' or 'rgb', the tiny trained model of
    ``tests/learned_models.py`` the worker trains (the same file content in every process),
    or 'unet' for the pooling network of ``tests/networks.py``."""
    shown = [input, *(f"{k}={v}" for k, v in params.items()),
             *(f"{k}={v}" for k, v in (extras or {}).items())]
    if per_plane:
        shown.append("per_plane")
    if edit:
        shown.append(f"edit={edit[0]}->{edit[1]}")
    if model:
        shown.append(f"model={model}")
    return {"id": f"{op}[{','.join(shown)}]", "op": op, "input": input, "params": params,
            "extras": extras or {}, "per_plane": per_plane, "edit": edit, "model": model}


def _morphology_cases(op: str) -> list[dict[str, Any]]:
    return [
        _case(op, "nuclei"),  # cv2 with the footprint (radius 1; open/close: bit-packed)
        _case(op, "nuclei", radius=4),  # bit-packed disk
        _case(op, "nuclei", radius=6, shape="diamond"),
        _case(op, "nuclei", radius=3, shape="square"),
        _case(op, "nuclei_labels", radius=2),
        _case(op, "stack_mask"),
        _case(op, "stack_mask", radius=20, shape="ball"),  # exact distance transform
        _case(op, "stack_mask", radius=10, shape="octahedron"),
        _case(op, "stack_labels", radius=2),
        _case(op, "nuclei_4mp", radius=4),  # bit-packed, whole, on two threads
        _case(op, "nuclei_4mp", radius=3, shape="square"),  # cv2 in stripes
        _case(op, "nuclei_labels_4mp", radius=2),  # labels in stripes
    ]


CASES: list[dict[str, Any]] = [
    # preprocess
    _case("preprocess.to_gray", "he"),
    _case("preprocess.to_gray", "he_4mp"),
    _case("preprocess.color_channel", "he"),
    _case("preprocess.color_channel", "he", space="hsv", channel=1),
    _case("preprocess.color_channel", "he", space="lab", channel=0),
    _case("preprocess.color_channel", "he", space="hed", channel=0),
    _case("preprocess.color_channel", "he_4mp", space="lab", channel=2),
    _case("preprocess.color_channel", "he_4mp", space="hed", channel=1),
    _case("preprocess.fill_nan", "fluo_nan"),
    _case("preprocess.fill_nan", "fluo_nan", fill="median"),
    _case("preprocess.gaussian", "fluo16"),
    _case("preprocess.gaussian", "fluo16", sigma=3.0),
    _case("preprocess.gaussian", "fluo8"),
    _case("preprocess.gaussian", "he"),
    _case("preprocess.gaussian", "stack16"),
    _case("preprocess.gaussian", "fluo16_4mp", sigma=2.0),  # float32 tiles on threads
    _case("preprocess.gaussian", "fluo8_4mp", sigma=2.0),  # tiles on 1 thread, cv2 on 2
    _case("preprocess.gaussian", "fluo8_4mp", sigma=0.5),
    _case("preprocess.median", "fluo16"),
    _case("preprocess.median", "fluo16", radius=3),
    _case("preprocess.median", "fluo8", radius=5),  # rank median
    _case("preprocess.median", "he", radius=2),
    _case("preprocess.median", "stack16"),
    _case("preprocess.median", "fluo16_4mp"),  # stripes
    _case("preprocess.median", "fluo8_4mp", radius=2),
    _case("preprocess.equalize", "fluo16"),
    _case("preprocess.equalize", "fluo8"),
    _case("preprocess.equalize", "stack16"),
    _case("preprocess.equalize", "fluo16_4mp"),
    _case("preprocess.clahe", "fluo16"),
    _case("preprocess.clahe", "fluo8", clip_limit=4.0, tiles=4),
    _case("preprocess.clahe", "stack16", per_plane=True),
    _case("preprocess.clahe", "fluo16_4mp"),
    _case("preprocess.rescale", "fluo16"),
    _case("preprocess.rescale", "fluo8", low=2.0, high=98.0),
    _case("preprocess.rescale", "fluo16_4mp"),
    _case("preprocess.background", "fluo16"),
    _case("preprocess.background", "fluo16", method="tophat", radius=5),
    _case("preprocess.background", "fluo8", radius=10, light_background=True),
    _case("preprocess.background", "stack16", radius=3),
    _case("preprocess.background", "fluo16_4mp", radius=5),  # stripes, bands on threads
    _case("preprocess.background", "fluo8_4mp", method="tophat", radius=7),
    _case("preprocess.invert", "fluo16"),
    _case("preprocess.invert", "he"),
    # segment
    _case("segment.threshold", "fluo16", value=400.0),
    _case("segment.threshold", "stack16", value=200.0, polarity="below"),
    *[_case("segment.auto_threshold", "fluo16", method=method)
      for method in ("otsu", "li", "yen", "triangle", "isodata", "mean", "minimum")],
    _case("segment.auto_threshold", "fluo8", method="li", polarity="dark"),
    _case("segment.auto_threshold", "he"),
    _case("segment.auto_threshold", "stack16"),
    _case("segment.auto_threshold", "fluo8_4mp"),  # pixel pairs, chunks on threads
    _case("segment.auto_threshold", "fluo16_4mp"),
    _case("segment.auto_threshold", "fluo16_4mp", method="minimum"),
    _case("segment.multi_threshold", "fluo16"),
    _case("segment.multi_threshold", "fluo8", classes=4, keep_from=2, keep_to=3),
    _case("segment.multi_threshold", "fluo8_4mp"),
    *[_case("segment.local_threshold", "fluo16", method=method)
      for method in ("sauvola", "niblack", "mean", "gaussian")],
    _case("segment.local_threshold", "fluo8", method="mean", block_size=51, offset=-2.0),
    _case("segment.local_threshold", "stack16", method="mean", block_size=7),
    _case("segment.local_threshold", "fluo16_4mp"),
    _case("segment.local_threshold", "fluo16_4mp", method="sauvola"),
    _case("segment.color_range", "he", hue_min=200.0, hue_max=330.0, sat_min=15.0),
    _case("segment.color_range", "he", hue_min=330.0, hue_max=30.0, val_max=80.0),
    _case("segment.color_range", "he_4mp", hue_min=200.0, hue_max=330.0, sat_min=15.0),
    _case("segment.region_grow", "fluo16", extras={"seeds": "seeds"}),
    _case("segment.region_grow", "fluo16", extras={"seeds": "seeds"}, tolerance=50.0,
          connectivity="faces"),
    _case("segment.region_grow", "stack16", extras={"seeds": "stack_seeds"}, tolerance=30.0),
    _case("segment.watershed", "nuclei"),
    _case("segment.watershed", "nuclei", min_distance=2),
    _case("segment.watershed", "nuclei", extras={"markers": "seeds"}),
    _case("segment.watershed", "nuclei", extras={"markers": "nuclei_labels", "image": "fluo16"}),
    _case("segment.watershed", "stack_mask", min_distance=2),
    _case("segment.watershed", "nuclei_4mp"),
    _case("segment.watershed", "touching_discs", min_distance=4),
    _case("segment.edges", "fluo16"),
    _case("segment.edges", "fluo16", method="sobel"),
    _case("segment.edges", "fluo8", sigma=2.0),
    _case("segment.edges", "stack16", per_plane=True),
    _case("segment.edges", "fluo16_4mp"),
    _case("segment.pixel_classifier", "fluo16", model="grey"),
    _case("segment.pixel_classifier", "fluo16_4mp", model="grey", threshold=0.3),
    _case("segment.pixel_classifier", "he", model="rgb"),
    _case("segment.pixel_classifier", "stack16", model="grey", per_plane=True),
    # tiny networks (tests/networks.py): "grey" is the two-convolution one, "unet" pools
    _case("segment.onnx_model", "fluo8", model="grey", multiple=1, halo=2, channel=1),
    _case("segment.onnx_model", "fluo16", model="unet", multiple=2, halo=6),
    _case("segment.onnx_model", "fluo8_4mp", model="unet", multiple=2, halo=6),
    # refine
    *_morphology_cases("refine.erode"),
    *_morphology_cases("refine.dilate"),
    *_morphology_cases("refine.open"),
    *_morphology_cases("refine.close"),
    _case("refine.fill_holes", "nuclei"),
    _case("refine.fill_holes", "nuclei_labels"),
    _case("refine.fill_holes", "stack_mask"),
    _case("refine.fill_holes", "bright_4mp"),  # traced in two halves
    _case("refine.fill_holes", "bright_4mp", max_hole_size=20),
    _case("refine.fill_holes", "speckle_4mp"),  # the background labelled
    _case("refine.remove_small", "nuclei"),
    _case("refine.remove_small", "nuclei", min_size=200, connectivity="faces"),
    _case("refine.remove_small", "nuclei_labels"),
    _case("refine.remove_small", "stack_mask", min_size=50),
    _case("refine.remove_small", "bright_4mp"),
    _case("refine.remove_small", "bright_4mp", min_size=20, connectivity="faces"),
    _case("refine.remove_small", "speckle_4mp"),
    _case("refine.remove_large", "nuclei", max_size=300),
    _case("refine.remove_large", "nuclei_labels", max_size=300),
    _case("refine.remove_large", "bright_4mp", max_size=300),
    _case("refine.keep_largest", "nuclei"),
    _case("refine.keep_largest", "nuclei", connectivity="faces"),
    _case("refine.keep_largest", "nuclei_labels"),
    _case("refine.keep_largest", "stack_mask"),
    _case("refine.keep_largest", "bright_4mp"),
    _case("refine.clear_border", "nuclei"),
    _case("refine.clear_border", "nuclei", connectivity="faces"),
    _case("refine.clear_border", "nuclei_labels"),
    _case("refine.clear_border", "stack_mask"),
    _case("refine.label", "nuclei"),
    _case("refine.label", "nuclei", connectivity="faces"),
    _case("refine.label", "nuclei_labels"),
    _case("refine.label", "stack_mask"),
    _case("refine.label", "speckle_4mp"),
    _case("refine.smooth", "nuclei"),
    _case("refine.smooth", "nuclei_labels"),
    _case("refine.smooth", "stack_mask", radius=1),
    _case("refine.smooth", "bright_4mp"),  # stripes
    _case("refine.split_touching", "nuclei"),
    _case("refine.split_touching", "nuclei", min_distance=3),
    _case("refine.split_touching", "nuclei_labels"),
    _case("refine.split_touching", "stack_mask", min_distance=2),
    _case("refine.split_touching", "nuclei_4mp"),
    _case("refine.split_touching", "touching_discs", min_distance=4),
    _case("refine.to_mask", "nuclei_labels"),
    _case("refine.to_mask", "nuclei"),
    # edit
    _case("edit.manual", "nuclei", edit=("nuclei", "nuclei_painted")),
    _case("edit.manual", "nuclei", extras={"image": "fluo16"}, edit=("nuclei", "nuclei_painted")),
    _case("edit.manual", "nuclei_labels", edit=("nuclei", "nuclei_painted")),  # re-applied
]


def digest(a: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes."""
    h = hashlib.sha256(f"{a.shape}|{a.dtype.str}|".encode())
    h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _run(case: dict[str, Any]) -> str:
    import napari_maskprep as mp
    from napari_maskprep.ops.edit import ManualEdit

    params = dict(case["params"])
    if case["model"]:
        from learned_models import model_params  # the worker runs with tests/ on its path

        params.update(model_params(mp.get_op(case["op"]), rgb=case["model"] == "rgb",
                                   network="unet" if case["model"] == "unet" else "conv_net"))
    if case["edit"]:
        before, after = (_input(name) for name in case["edit"])
        image = case["extras"].get("image")
        edit = ManualEdit.between(before, after, image=None if image is None else _input(image))
        params.update(edit.params())
    extras = {name: _input(source) for name, source in case["extras"].items()}
    out = mp.apply(case["op"], _input(case["input"]), per_plane=case["per_plane"], **extras,
                   **params)
    return digest(out)


def main() -> None:
    import cv2

    from napari_maskprep.core.errors import MaskprepWarning
    from napari_maskprep.kernels.threads import thread_budget

    cv2.setNumThreads(int(os.environ["MASKPREP_TEST_THREADS"]))
    warnings.simplefilter("ignore", MaskprepWarning)  # suspicious input warns; results count
    cases = json.load(sys.stdin)
    results: dict[str, list[str]] = {case["id"]: [] for case in cases}
    for case in [*cases, *reversed(cases)]:
        try:
            results[case["id"]].append(_run(case))
        except Exception as exc:  # reported per case, so that one failure hides no other
            results[case["id"]].append(f"{type(exc).__name__}: {exc}")
    json.dump({"thread_budget": thread_budget(), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
