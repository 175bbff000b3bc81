"""Generated recipes run tiled on dask against the same recipe in memory.

Each case draws an image (a crop of a real uint8, uint16, RGB or 3D image under
``tests/data``, or a synthetic one whose objects, holes and thin lines sit on the chunk
seams), a chunking (odd sizes, uneven and 1 px last chunks, an image smaller than a chunk)
and a recipe of 1-5 steps from the ops the tiled executor accepts, with parameters across
their ranges. The tiled run must refuse the recipe in one line before any work, or give the
in-memory result: bit for bit, but for ``split_touching`` and ``watershed`` (run with an
object size as wide as the widest clump), which give it up to the ids. A recipe the
in-memory run refuses must be refused tiled too.

The default profile is small and derandomised. ``pytest -m fuzz_long tests/fuzz`` runs
many more cases; with ``MASKPREP_FUZZ_RANDOM=1`` both draw new cases on every run.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from scipy import ndimage

import napari_maskprep as mp
from napari_maskprep.core.errors import MaskprepError, MaskprepWarning
from napari_maskprep.io import read_image

from ..conftest import DATA

_RANDOM = bool(os.environ.get("MASKPREP_FUZZ_RANDOM"))
_COMMON = {
    "database": None,
    "derandomize": not _RANDOM,
    "deadline": None,  # a case runs a recipe twice over up to ~60 chunks
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
    "print_blob": _RANDOM,
}
FAST = settings(max_examples=150, **_COMMON)
LONG = settings(max_examples=2000, **_COMMON)

OWNED = ("refine.split_touching", "segment.watershed")
# Ops a tiled run takes on an image (some only RGB, some only 2D).
IMAGE_OPS = ["preprocess.gaussian", "preprocess.median", "preprocess.background",
             "preprocess.invert", "preprocess.to_gray", "preprocess.color_channel",
             "preprocess.equalize", "preprocess.rescale", "preprocess.clahe",
             "segment.threshold", "segment.auto_threshold", "segment.multi_threshold",
             "segment.local_threshold", "segment.color_range", "segment.region_grow",
             "segment.edges"]
MASK_OPS = ["refine.erode", "refine.dilate", "refine.open", "refine.close", "refine.smooth",
            "refine.fill_holes", "refine.remove_small", "refine.remove_large",
            "refine.keep_largest", "refine.clear_border", "refine.label", "refine.to_mask",
            *OWNED]
SEGMENT = {op for op in IMAGE_OPS if op.startswith("segment.")}
RGB_ONLY = {"preprocess.color_channel", "segment.color_range"}
ONLY_2D = {"preprocess.clahe", "segment.edges"}


@functools.cache
def _real(name: str) -> np.ndarray:
    folder = {"uint16": "bbbc039_fluo_nuclei", "uint8": "dsb2018_fluo_nuclei",
              "rgb": "dsb2018_brightfield_nuclei", "3d": "stardist_synthetic_3d"}[name]
    return read_image(sorted((DATA / folder / "images").iterdir())[0])


def _sizes(draw: st.DrawFn, length: int, small: int) -> tuple[int, ...]:
    """Chunk sizes along an axis of ``length``: regular, uneven, or with a 1 px end."""
    kind = draw(st.sampled_from(["regular", "regular", "uneven", "one_px_end", "whole"]))
    if kind == "whole" or length < 2:
        return (length,)
    if kind == "uneven":
        sizes, left = [], length
        while left > 0:
            size = min(left, draw(st.integers(1, max(1, length // 2))))
            sizes.append(size)
            left -= size
        return tuple(sizes)
    size = draw(st.integers(small, 512) if draw(st.booleans()) else st.integers(5, 63))
    body = length - 1 if kind == "one_px_end" else length
    sizes = [size] * (body // size) + ([body % size] if body % size else [])
    return tuple(sizes + [1]) if kind == "one_px_end" else tuple(sizes)


def _seams(chunks: tuple[int, ...]) -> list[int]:
    """Where chunks meet along an axis (its middle for one chunk)."""
    return list(np.cumsum(chunks)[:-1]) or [chunks[0] // 2]


@st.composite
def _synthetic(draw: st.DrawFn, shape: tuple[int, ...], chunks: tuple[tuple[int, ...], ...]
               ) -> np.ndarray:
    """Objects, rings (holes) and 1 px lines centred on chunk seams and corners, with or
    without noise; or a constant image. Integers of 8 to 32 bits, floats or bool."""
    dtype = np.dtype(draw(st.sampled_from(["uint8", "uint16", "int16", "int32", "uint32",
                                           "float32", "float64", "bool"])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = {"b": 1, "f": 1000.0}.get(dtype.kind) or int(
        np.iinfo(dtype).max * draw(st.sampled_from([0.05, 0.8, 1.0])))
    if draw(st.integers(0, 7)) == 0:
        return np.full(shape, draw(st.sampled_from([0, top])), dtype)
    image = np.zeros(shape, np.float64)
    grid = np.indices(shape)
    for _ in range(draw(st.integers(1, 8))):
        centre = [draw(st.sampled_from(_seams(c))) + draw(st.integers(-2, 1)) for c in chunks]
        radius = draw(st.integers(1, 20))
        distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)))
        shape_kind = draw(st.sampled_from(["disk", "ring", "line"]))
        if shape_kind == "disk":
            image[distance <= radius] = top
        elif shape_kind == "ring":
            image[(distance <= radius + 2) & (distance > radius)] = top
        else:
            axis = draw(st.integers(0, len(shape) - 1))
            line = [slice(None)] * len(shape)
            line[axis] = centre[axis] % shape[axis]
            image[tuple(line)] = top
    if dtype != np.bool_ and draw(st.booleans()):
        image += rng.normal(0, top / 10, shape)
    bottom = -top if dtype.kind in "if" and draw(st.booleans()) else 0
    return (image > top / 2 if dtype == np.bool_ else image.clip(bottom, top)).astype(dtype)


@st.composite
def images(draw: st.DrawFn) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """An image and its chunks."""
    source = draw(st.sampled_from(["uint16", "uint8", "rgb", "3d", "synthetic2d",
                                   "synthetic3d"]))
    three = source in ("3d", "synthetic3d")
    if source.startswith("synthetic"):
        shape = ((draw(st.integers(2, 16)),) if three else ()) + (
            draw(st.integers(1, 160)), draw(st.integers(1, 160)))
    else:
        real = _real(source)
        spatial = real.shape[:3] if three else real.shape[:2]
        largest = 700 if draw(st.integers(0, 4)) == 0 else 200
        shape = tuple(draw(st.integers(min(n, 8 if three else 20), min(n, largest)))
                      for n in spatial)
    chunks = tuple(_sizes(draw, n, 64 if n > 64 else 5) for n in shape)
    if source.startswith("synthetic"):
        return draw(_synthetic(shape, chunks)), chunks
    corner = tuple(draw(st.integers(0, n - s)) for n, s in zip(real.shape, shape, strict=False))
    image = real[tuple(slice(c, c + s) for c, s in zip(corner, shape, strict=False))]
    if source == "rgb":
        if draw(st.booleans()):  # RGBA
            image = np.concatenate([image, image[..., :1] // 2 + 100], axis=-1)
        chunks += (draw(st.sampled_from([(image.shape[-1],), (1, image.shape[-1] - 1)])),)
    return np.ascontiguousarray(image), chunks


def _params(draw: st.DrawFn, op: str, image: np.ndarray, ndim: int) -> dict[str, Any]:
    """Parameters for ``op`` across their ranges (some sized to the image)."""
    lo, hi = float(image.min()), float(image.max())
    ints, floats, pick = st.integers, st.floats, st.sampled_from
    footprints = ["ball", "cube", "octahedron"] if ndim == 3 else ["disk", "square", "diamond"]
    size = ints(1, 4000)
    connectivity = pick(["full", "faces"])
    table = {
        "preprocess.gaussian": {"sigma": floats(0.1, 12.0)},
        "preprocess.median": {"radius": ints(1, 12)},
        "preprocess.background": {"method": pick(["rolling_ball", "tophat"]),
                                  "radius": ints(1, 40), "light_background": st.booleans()},
        "preprocess.color_channel": {"space": pick(["rgb", "hsv", "lab", "hed"]),
                                     "channel": ints(0, 2)},
        "preprocess.rescale": {"low": floats(0.0, 49.0), "high": floats(50.0, 100.0)},
        "preprocess.clahe": {"clip_limit": floats(0.0, 100.0), "tiles": ints(1, 22)},
        "segment.threshold": {"value": floats(lo, max(lo, hi)),
                              "polarity": pick(["above", "below"])},
        "segment.auto_threshold": {
            "method": pick(["otsu", "li", "yen", "triangle", "isodata", "mean", "minimum"]),
            "polarity": pick(["bright", "dark", "auto"])},
        "segment.local_threshold": {"method": pick(["sauvola", "niblack", "mean", "gaussian"]),
                                    "block_size": ints(1, 60).map(lambda n: 2 * n + 1),
                                    "offset": floats(-20.0, 20.0), "k": floats(-1.0, 1.0),
                                    "polarity": pick(["bright", "dark"])},
        "segment.color_range": {"hue_min": floats(0, 360), "hue_max": floats(0, 360),
                                "sat_min": floats(0, 50), "sat_max": floats(50, 100),
                                "val_min": floats(0, 50), "val_max": floats(50, 100)},
        "segment.region_grow": {"tolerance": floats(0.0, max(1.0, (hi - lo) / 3)),
                                "connectivity": connectivity},
        "segment.edges": {"sigma": floats(0.0, 6.0), "low": floats(0.0, 0.3),
                          "high": floats(0.3, 1.0)},
        "segment.watershed": {"min_distance": ints(1, 20)},
        "refine.split_touching": {"min_distance": ints(1, 20)},
        "refine.fill_holes": {"max_hole_size": st.none() | size},
        "refine.remove_small": {"min_size": size, "connectivity": connectivity},
        "refine.remove_large": {"max_size": size, "connectivity": connectivity},
        "refine.keep_largest": {"connectivity": connectivity},
        "refine.clear_border": {"connectivity": connectivity},
        "refine.label": {"connectivity": connectivity},
        "refine.smooth": {"radius": ints(1, 12)},
    }
    for morphology in ("refine.erode", "refine.dilate", "refine.open", "refine.close"):
        table[morphology] = {"radius": ints(1, 12), "shape": pick(footprints)}
    if op == "segment.multi_threshold":
        classes = draw(ints(2, 4 if image.dtype == np.uint8 else 3))
        keep_from = draw(ints(0, classes - 1))
        return {"classes": classes, "keep_from": keep_from,
                "keep_to": draw(ints(keep_from, classes - 1))}
    return {name: draw(value) for name, value in table.get(op, {}).items()}


@st.composite
def recipes(draw: st.DrawFn, image: np.ndarray, ndim: int) -> list[dict[str, Any]]:
    """1-5 steps: image steps, a segment step, then mask steps; now and then an op on
    what it does not expect, or a disabled step."""
    rgb = image.ndim > ndim
    image_ops = [op for op in IMAGE_OPS if (rgb or op not in RGB_ONLY)
                 and (ndim == 2 or op not in ONLY_2D)]
    total = draw(st.integers(1, 5))
    before = draw(st.integers(0, min(2, total)))
    preprocess = [op for op in image_ops if op not in SEGMENT]
    segment = [op for op in image_ops if op in SEGMENT]
    ops = [draw(st.sampled_from(preprocess if i < before else segment if i == before
                                else MASK_OPS)) for i in range(total)]
    steps, split = [], False
    for op in ops:
        if draw(st.integers(0, 9)) == 0:
            op = draw(st.sampled_from(image_ops + MASK_OPS))
        if split:  # ids differ from in memory: only a mask of them compares
            op, split = "refine.to_mask", False
        step = {"op": op, "params": _params(draw, op, image, ndim)}
        if op == "segment.region_grow":
            seeds = draw(st.lists(st.tuples(*[st.integers(0, n - 1)
                                               for n in image.shape[:ndim]]),
                                  min_size=1, max_size=4))
            step["inputs"] = {"seeds": "seeds"}
            step["seeds"] = np.array(seeds, float)
        if op != "refine.to_mask" and draw(st.integers(0, 15)) == 0:
            step["enabled"] = False
        split = op in OWNED and step.get("enabled", True)
        steps.append(step)
    return steps


def _same_up_to_ids(got: np.ndarray, want: np.ndarray) -> bool:
    """Whether two labellings have the same objects, whatever their ids."""
    if not np.array_equal(got > 0, want > 0):
        return False
    pairs = np.unique(np.stack([got[want > 0], want[want > 0]]), axis=1)
    ids = np.unique(pairs[0])  # 1..N without gaps, as the tiled run numbers them
    return (len(ids) == len(np.unique(pairs[1])) == pairs.shape[1]
            and np.array_equal(ids, np.arange(1, len(ids) + 1)))


def _widest_clump(mask: np.ndarray) -> int:
    labels, _ = ndimage.label(mask > 0, np.ones((3,) * mask.ndim))
    boxes = ndimage.find_objects(labels)
    return max([max(s.stop - s.start for s in box) for box in boxes if box] + [1])


def _in_memory(recipe: mp.Recipe, image: np.ndarray, seeds: dict[str, np.ndarray]
               ) -> tuple[np.ndarray, int]:
    """The in-memory result and the object size that makes the owned ops agree (the widest
    clump any of them splits)."""
    widest, result = 1, image
    for _, step, output in recipe.iter_run(image, **seeds):
        if step.op in OWNED:
            widest = max(widest, _widest_clump(result))
        result = output
    return result, widest


def check_case(image: np.ndarray, chunks: tuple[tuple[int, ...], ...],
               steps: list[dict[str, Any]], extra: int, scheduler: str) -> None:
    drawn = [step.pop("seeds") for step in steps if "seeds" in step]
    seeds = {"seeds": drawn[-1]} if drawn else {}  # every region_grow reads the last
    try:
        recipe = mp.Recipe(steps=steps, inputs={"seeds": "points"} if seeds else {})
    except MaskprepError:
        event("refused parameters")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MaskprepWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            want, widest = _in_memory(recipe, image, seeds)
        except MaskprepError:
            event("refused in memory")
            with pytest.raises(MaskprepError):  # refused tiled too
                recipe.run(da.from_array(image, chunks=chunks), object_size=1,
                           **seeds).compute(scheduler=scheduler)
            return
        owned = any(step.op in OWNED for step in recipe.steps if step.enabled)
        try:
            lazy = recipe.run(da.from_array(image, chunks=chunks),
                              object_size=widest + extra if owned else None, **seeds)
        except MaskprepError as exc:
            assert "\n" not in str(exc), str(exc)
            event(f"refused tiled: {str(exc).split(':')[0]}")
            return
        got = lazy.compute(scheduler=scheduler)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.dtype, want.dtype)
    if [s.op for s in recipe.steps if s.enabled][-1:] in ([op] for op in OWNED):
        event("equal up to ids")
        assert _same_up_to_ids(got, want)
    else:
        event("equal")
        assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} pixels differ"


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, ...]:
    image, chunks = draw(images())
    ndim = 3 if image.ndim == 3 and image.shape[-1] not in (3, 4) else 2
    steps = draw(recipes(image, ndim))
    scheduler = draw(st.sampled_from(["sync", "sync", "threads"]))
    return image, chunks, steps, draw(st.integers(0, 8)), scheduler


def _touching_disks() -> tuple[Any, ...]:
    """Two touching disks astride a chunk corner, split apart: a case for the agreement up
    to ids, which the derandomised draws do not reach."""
    y, x = np.indices((60, 70))
    image = (((y - 24) ** 2 + (x - 26) ** 2 <= 81) | ((y - 30) ** 2 + (x - 40) ** 2 <= 100)
             ).astype(np.uint8) * 200
    steps = [{"op": "segment.threshold", "params": {"value": 100}},
             {"op": "refine.split_touching", "params": {"min_distance": 3}}]
    return image, ((25, 35), (30, 40)), steps, 0, "sync"


@FAST
@given(case=cases())
@example(case=_touching_disks())
def test_tiled_runs_equal_in_memory(case):
    with dask.config.set(scheduler="sync"):
        check_case(*case)


@pytest.mark.fuzz_long
@LONG
@given(case=cases())
def test_tiled_runs_equal_in_memory_long(case):
    check_case(*case)
