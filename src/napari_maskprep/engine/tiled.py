"""A recipe run tiled on dask, for images larger than memory, equal to the in-memory run.

The steps are walked by their locality (``core.locality``):

- runs of ``Pointwise`` and ``Local`` steps become one ``map_overlap`` whose margin is the
  sum of their halos: each chunk is read with that much of its neighbours, run through the
  steps and cut back, so every kept pixel saw all it depends on;
- a ``GlobalStat`` step that names ``decide`` (thresholds, equalize, rescale) adds up its
  input's value counts over the chunks (counts add exactly; per colour channel where it
  says ``per_channel``), decides once from the whole image's counts, then applies the
  decision to each chunk; 8- and 16-bit integer images only, but for a step that names
  its own ``summary`` of a chunk (``fill_nan``: the finite extremes), added up the same way,
  and for a decision the summary leaves open (a median), more passes over the stored
  chunks (``NextPass``) until it is made;
- a component step (label, fill holes, remove small/large, keep largest, clear border)
  summarises each chunk, joins the objects that cross chunk faces on the client and
  relabels each chunk (:mod:`.tiled_components`);
- region growing from seed points and Canny edges read their seeds' values or the image's
  extremes in one pass, then join per-chunk labellings the same way
  (:mod:`.tiled_regions`). Points are the only extra input a tiled run reads, from the
  recipe's declared inputs (``named``);
- CLAHE adds up the histograms of OpenCV's regions over the chunks, then maps each chunk
  through the tables of the regions around it (:mod:`.tiled_clahe`).

Whether a chunk is RGB or grey, a mask or labels, is the whole image's: chunks thinner
than 5 px along the last two axes join a neighbour (``looks_rgb`` reads a shape), and a
mask step whose input is not known to be 0/1 (the image itself, or labels) reads that
input's largest value first, one pass: in memory labels up to 1 are a mask.

Before a whole-image step, its input is written once, compressed, to a work folder
(:mod:`.tiled_store`), in the same pass over the chunks that summarises it, so no step
upstream runs twice and memory holds a few chunks per worker, whatever the image's size.

All of the above equals the in-memory run bit for bit. Split touching and watershed (from
distance peaks) run only with a declared largest object size, each object made by the
chunk that holds its centre with that margin (:mod:`.tiled_objects`): equal to the
in-memory result up to the ids where no clump of touching objects is wider than that.
Hand edits recorded on a region (``box_checksums``) are written into the chunks their box
overlaps (:mod:`.tiled_edit`). Hand edits recorded on a whole array, Sobel edges, steps
reading an image, mask or labels (``inputs:`` other than points), ``per_plane`` steps on a
stack (on one plane they run as in memory: on the whole image), and whole-image
statistics of float or 32/64-bit images are refused before any pass over the chunks,
naming the step and why.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from ..core.errors import MaskprepWarning, RecipeError, at_step
from ..core.locality import GlobalStat, Kind, Local, NextPass, NonLocal, Pointwise, piece_of
from ..core.run_callbacks import compute
from ..core.thread_warnings import unheard
from ..core.validation import check_extra, check_input, check_output, looks_rgb, spatial_ndim
from ..kernels.histogram import value_counts
from ..kernels.threads import one_thread_each
from .tiled_clahe import clahe
from .tiled_clahe import refusal as clahe_refusal
from .tiled_components import Grid, chunked_op, per_chunk
from .tiled_edit import EDIT_OP, edit_refusal, edited
from .tiled_objects import OWNED_OPS, assemble, extended, owned_objects
from .tiled_regions import REGION_OPS, edges, region_grow
from .tiled_regions import refusal as region_refusal
from .tiled_store import StoredChunks, StoredLabels, WorkFolder, summarised

if TYPE_CHECKING:
    from ..recipe import Step

__all__ = ["check_tiled", "plane_steps", "run_tiled"]

# The corner of the image every step is first run on in memory, to learn each step's
# output dtype and shape and to raise bad parameters before any real work.
_PROBE_SIDE = 64

# No chunk is thinner along the last two axes: ops tell an RGB image from a grey stack by
# its shape (``looks_rgb``: a last axis of 3 or 4 after one of more than 4), so a chunk
# 3 px wide of a grey stack, or 4 px high of an RGB image, would be read as the other.
_MIN_CHUNK = 5

# The steps run on their input's grey image by their own modules.
_WHOLE_IMAGE_OPS = REGION_OPS | {"preprocess.clahe"}

_NOT_A_MASK = ("a tiled run takes a 0/1 mask here, not labels (run it in memory, or "
               "threshold the labels to a mask first)")


def _refusal(step: Step, object_size: int | None) -> str | None:
    """Why ``step`` cannot run tiled, or None."""
    spec = step.spec
    locality = spec.locality
    if spec.id == EDIT_OP:
        return edit_refusal(step)
    if step.inputs and not _reads_points_only(step):
        return ("reads another input (inputs:) that may be an image, mask or labels, which "
                "tiled runs do not support yet (they take inputs that can only be points, "
                "as region growing's seeds; a watershed's markers may be labels)")
    if step.per_plane:
        return "runs plane by plane (per_plane: true), which tiled runs do not support yet"
    if spec.id in OWNED_OPS:
        return None if object_size is not None else (
            "splits objects by their whole clump; it runs tiled only with a declared "
            "largest object size (object_size=PX, --object-size PX), the margin each chunk "
            "is run with")
    if isinstance(locality, Pointwise | Local):
        return None
    if isinstance(locality, GlobalStat) and locality.decide is not None:
        return None
    if isinstance(locality, NonLocal) and chunked_op(spec.id, spec.defaults(), 2) is not None:
        return None
    if spec.id in REGION_OPS:
        return region_refusal(spec.id, {**spec.defaults(), **step.params})
    if spec.id == "preprocess.clahe":
        return None
    return ("needs the whole image at once; run it in memory on an image (or a crop, or a "
            "pyramid level) that fits")


def _reads_points_only(step: Step) -> bool:
    """Whether every extra input ``step`` reads can only be points (small: N x ndim)."""
    kinds = {extra.name: extra.kinds for extra in step.spec.inputs}
    return all(kinds[name] == (Kind.POINTS,) for name in step.inputs)


def plane_steps(steps: Sequence[Step], image: Any) -> list[Step]:
    """``steps`` as they run on ``image`` (anything with an array's ``ndim`` and
    ``shape``): on one plane (2D, grey or colour), a step run plane by plane
    (``per_plane``) runs on the whole image, as in memory."""
    if image.ndim - looks_rgb(image) != 2:
        return list(steps)
    return [dataclasses.replace(step, per_plane=False) for step in steps]


def check_tiled(steps: Sequence[Step], context: str = "", object_size: int | None = None
                ) -> None:
    """Raise :class:`RecipeError` naming the first enabled step that cannot run tiled
    (after ``context``, which says why the run is tiled)."""
    for number, step in enumerate(steps, 1):
        why = step.enabled and _refusal(step, object_size)
        if why:
            raise RecipeError(f"{context}{at_step(number, step.op)} cannot run tiled: it {why}")


class _Fused:
    """Pointwise and Local steps waiting to run together in one map_overlap."""

    def __init__(self) -> None:
        self.functions: list[Callable[[np.ndarray], np.ndarray]] = []
        self.depth = 0
        self.align = 1  # chunks are read from multiples of it (Local.align)
        self.first: tuple[Any, np.ndarray] | None = None  # (spec, input) of the first
        self.out: np.ndarray | None = None  # the last one's output on the probe
        self.head = 0  # how many pointwise functions (no halo, no grid) come first
        self.head_out: np.ndarray | None = None  # their output on the probe

    def add(self, spec: Any, halo: int, function: Callable[[np.ndarray], np.ndarray],
            before: np.ndarray, after: np.ndarray, align: int = 1) -> None:
        if self.first is None:
            self.first = (spec, before)
        self.functions.append(function)
        if not self.depth and not halo and align == 1:
            self.head += 1
            self.head_out = after
        self.depth += halo
        self.align = math.lcm(self.align, align)
        self.out = after


def run_tiled(steps: Sequence[Step], image: Any, workdir: str | Path | None = None, *,
              object_size: int | None = None, named: Mapping[str, Any] | None = None
              ) -> da.Array:
    """The recipe's output as a dask array over the chunks of ``image``.

    Whole-image steps are resolved now (a pass over the chunks each, on the active dask
    scheduler); the rest stays lazy. Their inputs are stored under ``workdir`` (a new
    temporary folder if None; each stored array is removed once no graph reads it). Raises
    before any work when a step cannot run tiled or its parameters are bad.
    ``object_size``: the widest object in pixels, for the steps that split objects
    (:mod:`.tiled_objects`; equal to in memory up to ids where no clump is wider).
    ``named``: the recipe's declared inputs; a tiled run reads points from them only
    (region growing's seeds).
    """
    if object_size is not None and not (isinstance(object_size, int) and object_size >= 1):
        raise RecipeError(f"object_size={object_size!r}; accepted: a whole number of pixels "
                          ">= 1")
    steps = plane_steps(steps, image)
    check_tiled(steps, object_size=object_size)
    enabled = [(number, step) for number, step in enumerate(steps, 1) if step.enabled]
    current = _without_thin_chunks(_as_dask(image))
    points = _points(enabled, current, named or {})
    probes = _probe(enabled, _corner(current), current.shape, points)
    _refuse_inputs(enabled, probes, current.dtype)
    work = WorkFolder(workdir)
    stored, fused = True, _Fused()
    known_mask = current.dtype == np.bool_  # values 0/1 for sure, whatever the probe saw
    for at, (number, step) in enumerate(enabled):
        spec = step.spec
        params = spec.check_params(step.params)
        locality = spec.locality
        if isinstance(locality, Pointwise | Local):
            corner = probes[at][0]
            if spec.input == "mask" and not known_mask and corner.dtype != np.bool_:
                # Mask or labels is decided by the whole input's largest value, as in
                # memory: a corner of 0 and 1 may belong to labels up to N, and a corner
                # labelled on its own may hold ids 1 and 2 of what is one object.
                if fused.functions:
                    current, stored, fused = _map_fused(current, fused, work), False, _Fused()
                labels = float(compute(current.max())[0]) > 1  # NaN: the chunks refuse it
                if labels == _zero_one(corner):
                    probes[at:] = _probe(enabled[at:], _as_labels(corner) if labels else
                                         (corner > 0).view(np.uint8), current.shape, points)
                    _refuse_inputs(enabled, probes, current.dtype, first=at)
            before, after = probes[at]
            halo, align = ((locality.halo(params), locality.align(params))
                           if isinstance(locality, Local) else (0, 1))
            fused.add(spec, halo, functools.partial(_run_op, spec, params, after.dtype,
                                                    current.shape, at_step(number, step.op)),
                      before, after, align)
            known_mask = spec.output == "mask" and after.dtype == np.uint8
            continue
        before, after = probes[at]
        known_mask = (spec.output == "mask" and after.dtype == np.uint8
                      and spec.id != EDIT_OP)  # an edit may paint a second label
        if fused.functions:
            current, stored, fused = _map_fused(current, fused, work), False, _Fused()
        try:
            if isinstance(locality, GlobalStat):
                current, apply = _global_stat(current, stored, spec, params, before, work)
                stored = True
                fused.add(spec, 0, apply, before, after)
            elif spec.id == EDIT_OP:
                current = edited(current, image, step)
                stored = False
            elif spec.id in OWNED_OPS:
                current = _owned(current, spec, params, object_size, work)
                stored = False
            elif spec.id in _WHOLE_IMAGE_OPS:
                current = _whole_image(current, stored, spec, params, before,
                                       points.get(number), work)
                stored = False
            else:
                current = _components(current, spec, params, after, work)
                stored = False
        except RecipeError:
            raise  # a step's chunks upstream, which name it (_run_op)
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"{at_step(number, step.op)}: {exc}") from None
    return _map_fused(current, fused, work) if fused.functions else current


def _input_refusal(step: Step, before: np.ndarray) -> str | None:
    """Why ``step`` cannot run tiled on its input (as the probe saw it), or None."""
    spec = step.spec
    with unheard(MaskprepWarning):  # the chunks say it, as they run
        grey = check_input(spec, before)
    if step.op == "preprocess.clahe":
        # A bool image is read as float32 (refused as well): the message names the input's.
        dtype = before.dtype if before.dtype == np.bool_ else grey.dtype
        return clahe_refusal(dtype, spec.check_params(step.params))
    if isinstance(spec.locality, GlobalStat) and spec.locality.summary is not None:
        return None  # a summary of any dtype
    if isinstance(spec.locality, GlobalStat) and (grey.dtype.kind not in "iu"
                                                  or grey.dtype.itemsize > 2):
        return (f"a tiled run needs an 8- or 16-bit integer image here; got {before.dtype} "
                "(run it in memory, or convert the image first)")
    if step.op == EDIT_OP and before.dtype.kind in "iu" and before.dtype != np.uint8:
        return None  # labels: tiled_edit keeps them labels, as in memory
    if isinstance(spec.locality, NonLocal) and step.op not in REGION_OPS and (
            before.dtype not in (np.bool_, np.uint8) or grey.dtype != np.uint8):
        return _NOT_A_MASK
    return None


def _refuse_inputs(enabled: Sequence[tuple[int, Step]],
                   probes: Sequence[tuple[np.ndarray, np.ndarray]], image_dtype: np.dtype,
                   first: int = 0) -> None:
    """Raise for the first step from ``enabled[first]`` that cannot run tiled on its input,
    saying which step gave a dtype the image does not have (a bool image's Gaussian is
    float32, which a threshold refuses): the last before it whose input had another."""
    for at in range(first, len(enabled)):
        (number, step), before = enabled[at], probes[at][0]
        why = _input_refusal(step, before)
        if why and at and before.dtype != image_dtype:
            maker = at - 1
            while maker and probes[maker][0].dtype == before.dtype:
                maker -= 1
            given, op = enabled[maker]
            why += f"; step {given} ({op.op}) gives {before.dtype} for the {image_dtype} image"
        if why:
            raise RecipeError(f"{at_step(number, step.op)}: {why}")


def _run_op(spec: Any, params: Mapping[str, Any], dtype: np.dtype, whole: tuple[int, ...],
            step: str, block: np.ndarray) -> np.ndarray:
    """``spec`` on one chunk; what it refuses there (NaN outside the probed corner) is
    raised naming the ``step``, as in memory, not the step whose pass read the chunk."""
    try:
        with piece_of(whole):  # work bounds are the whole image's
            out = spec(block, **params)
    except RecipeError:
        raise
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{step}: {exc}") from None
    # A chunk of labels holding only ids 0 and 1 comes back as a uint8 mask: the same
    # values, in the dtype the whole image's run has.
    return out.astype(dtype) if spec.input == "mask" and out.dtype != dtype else out


def _zero_one(a: np.ndarray) -> bool:
    return a.dtype != np.bool_ and (a.size == 0 or a.max() <= 1)


def _as_labels(corner: np.ndarray) -> np.ndarray:
    """``corner`` as a corner of labels: int32 with a label 2, so ops take it as labels."""
    labels = corner.astype(np.int32)
    if labels.size:
        labels.flat[-1] = 2
    return labels


def _as_dask(image: Any) -> da.Array:
    """``image`` as a dask array; raises :class:`RecipeError` in one line for what the
    chunks could not run as the whole image does: chunk sizes unknown (NaN, as after
    boolean indexing), which no chunk grid can be planned on, and masked chunks, whose
    mask a tiled run would ignore (an in-memory run refuses a masked array)."""
    x = image if isinstance(image, da.Array) else da.asarray(image)
    if any(math.isnan(size) for sizes in x.chunks for size in sizes):
        raise RecipeError(f"the dask array's chunk sizes are unknown (shape {x.shape}); "
                          "accepted: known sizes (call .compute_chunk_sizes() on it first)")
    if isinstance(x._meta, np.ma.MaskedArray):
        raise RecipeError("the dask array is masked, and a tiled run would ignore its mask; "
                          "accepted: a plain dask array (fill it first: "
                          "dask.array.ma.filled(x, value), or numpy.nan then "
                          "preprocess.fill_nan)")
    return x


def _without_thin_chunks(x: da.Array) -> da.Array:
    """``x`` with each chunk thinner than ``_MIN_CHUNK`` along its last two axes joined to
    a neighbour: each chunk is then RGB or grey as the whole image is."""
    changed = {}
    for axis in range(max(x.ndim - 2, 0), x.ndim):
        sizes = list(x.chunks[axis])
        if len(sizes) < 2 or min(sizes) >= _MIN_CHUNK:
            continue
        joined: list[int] = []
        for size in sizes:
            if joined and (size < _MIN_CHUNK or joined[-1] < _MIN_CHUNK):
                joined[-1] += size
            else:
                joined.append(size)
        changed[axis] = tuple(joined)
    return x.rechunk(changed) if changed else x


def _corner(image: da.Array) -> np.ndarray:
    corner = tuple(slice(0, _PROBE_SIDE) for _ in range(image.ndim))
    if image.ndim >= 3 and image.shape[-1] in (3, 4):
        corner = corner[:-1] + (slice(None),)
    return np.asarray(compute(image[corner])[0])


def _probe(enabled: Sequence[tuple[int, Step]], corner: np.ndarray, shape: tuple[int, ...],
           points: Mapping[int, Mapping[str, np.ndarray]]
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each step's input and output on a small ``corner`` of an image of ``shape``, run in
    memory: their dtypes and trailing (colour) axes are those of the tiled run."""
    current = corner
    spatial = len(shape) - 1 if looks_rgb(corner) else len(shape)
    probes = []
    with unheard(MaskprepWarning), piece_of(shape):  # a corner is not the image
        for number, step in enabled:
            # The op refuses no points and points outside: the corner's run gets them
            # moved into it.
            moved = {name: np.minimum(np.rint(p), np.array(current.shape[:p.shape[1]]) - 1)
                     for name, p in points.get(number, {}).items()}
            if not step.spec.finite:  # a corner of no-data (a NaN border) is not the image
                current = np.nan_to_num(current, nan=0, posinf=0, neginf=0)
            try:
                out = step.spec(current, **moved, **step.params)
            except (TypeError, ValueError) as exc:
                # The error names the whole image's shape, not the corner's (with its
                # colour axis, or without, as an op that takes the grey image names it).
                whole = tuple(shape[:spatial]) + current.shape[spatial:]
                why = str(exc).replace(str(current.shape), str(whole)).replace(
                    str(current.shape[:spatial]), str(tuple(shape[:spatial])))
                raise RecipeError(f"{at_step(number, step.op)}: {why}") from None
            probes.append((current, out))
            current = out
    return probes


def _points(enabled: Sequence[tuple[int, Step]], image: da.Array, named: Mapping[str, Any]
            ) -> dict[int, dict[str, np.ndarray]]:
    """The points each step reads from the recipe's named inputs, checked against the
    image's spatial shape (steps reading points take a grey image)."""
    spatial = image.shape[:-1] if looks_rgb(image) else image.shape
    whole = np.broadcast_to(np.zeros((), np.uint8), spatial)
    out: dict[int, dict[str, np.ndarray]] = {}
    for number, step in enabled:
        if step.op == EDIT_OP:
            continue  # its image's box is read by the edit itself (tiled_edit)
        for name, source in step.inputs.items():
            if source not in named:
                raise RecipeError(f"{at_step(number, step.op)}: its {name!r} input reads "
                                  f"{source!r}; a tiled run reads points only from the "
                                  "recipe's declared inputs, given to Recipe.run")
            extra = next(i for i in step.spec.inputs if i.name == name)
            try:
                out.setdefault(number, {})[name] = check_extra(step.spec, extra, named[source],
                                                               whole)
            except (TypeError, ValueError) as exc:
                raise RecipeError(f"{at_step(number, step.op)}: {exc}") from None
    return out


def _map_fused(x: da.Array, fused: _Fused, workdir: WorkFolder) -> da.Array:
    """``x`` through the fused steps, each chunk with ``fused.depth`` px of its neighbours.

    With a halo, ``x`` is first stored, each chunk with its bands (the ``depth`` px along
    each face), and every chunk is then read back with its neighbours' bands: memory holds
    a few chunks whatever the image's size. dask's ``map_overlap`` held more chunks the
    wider the image (a Gaussian then a zarr write: 280 MB at 256 MP, 620 MB at 1 GP).
    """
    spec, before = fused.first
    out = fused.out
    spatial = spatial_ndim(spec, before)
    if any(len(c) > 1 for c in x.chunks[spatial:]):  # ops take colour axes whole
        x = x.rechunk({i: -1 for i in range(spatial, x.ndim)})
    functions = fused.functions
    if fused.depth and fused.head:
        # Pointwise steps before the first with a halo run once per chunk, before it is
        # stored: a threshold before an opening stores the mask, which compresses 30-50x
        # (an image 2-3x), and thresholds no halo twice.
        x = _map_functions(x, functions[:fused.head], fused.head_out)
        functions = functions[fused.head:]
        spatial = min(spatial, x.ndim)  # a colour axis the first took as an image axis
    run = one_thread_each(functools.partial(_run_functions, functions))

    meta = np.empty((0,) * out.ndim, out.dtype)
    depth = {}
    align = fused.align
    margin = -(-fused.depth // align) * align  # each read then starts on the grid
    for axis in range(spatial):
        if len(x.chunks[axis]) == 1:
            continue
        if margin >= x.shape[axis]:  # one chunk along this axis holds all it needs
            x = x.rechunk({axis: -1})
            continue
        if margin:
            x = x.rechunk({axis: da.overlap.ensure_minimum_chunksize(margin, x.chunks[axis])})
        if any(c % align for c in x.chunks[axis][:-1]):
            x = x.rechunk({axis: _aligned(x.shape[axis], max(x.chunks[axis]), align, margin)})
        if margin:
            depth[axis] = margin
    if not depth:
        return _map_functions(x, functions, out)
    stored = StoredChunks(workdir, x.chunks, x.dtype, bands=depth)
    per_chunk(x, lambda block, index: stored.save(index, block))
    extra = (0,) * (x.ndim - out.ndim)  # the colour axis an op dropped: one chunk

    def chunk(block_id: tuple[int, ...]) -> np.ndarray:
        block, core = stored.read_extended(tuple(block_id) + extra)
        return run(block)[core[:out.ndim]]

    return da.map_blocks(chunk, chunks=x.chunks[:out.ndim], dtype=out.dtype, meta=meta)


def _run_functions(functions: Sequence[Callable[[np.ndarray], np.ndarray]],
                   block: np.ndarray) -> np.ndarray:
    for f in functions:
        block = f(block)
    return block


def _map_functions(x: da.Array, functions: Sequence[Callable[[np.ndarray], np.ndarray]],
                   out: np.ndarray) -> da.Array:
    """``x`` through ``functions`` chunk by chunk (no halo); ``out`` is their output on the
    probe (its dtype, and colour axes dropped)."""
    return x.map_blocks(one_thread_each(functools.partial(_run_functions, functions)),
                        dtype=out.dtype, meta=np.empty((0,) * out.ndim, out.dtype),
                        drop_axis=tuple(range(out.ndim, x.ndim)) or None)


def _aligned(length: int, largest: int, align: int, margin: int) -> tuple[int, ...]:
    """Chunk sizes along an axis of ``length`` that start on multiples of ``align``, none
    smaller than ``margin`` (a short last chunk joins the one before it)."""
    size = -(-largest // align) * align
    sizes = [size] * (length // size) + ([length % size] if length % size else [])
    if len(sizes) > 1 and sizes[-1] < max(margin, _MIN_CHUNK):
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)


def _global_stat(x: da.Array, stored: bool, spec: Any, params: Mapping[str, Any],
                 before: np.ndarray, workdir: WorkFolder
                 ) -> tuple[da.Array, Callable[[np.ndarray], np.ndarray]]:
    """``x`` stored, and the pointwise apply of the decision its value counts give (one
    decision per colour channel where the op decides channel by channel)."""
    locality = spec.locality
    grey = check_input(spec, before)
    if looks_rgb(before) and len(x.chunks[-1]) > 1:  # a chunk holds every colour channel
        x = x.rechunk({x.ndim - 1: -1})
    channels = grey.shape[-1] if locality.per_channel and looks_rgb(grey) else 0

    def planes(image: np.ndarray) -> list[np.ndarray]:
        return [image[..., c] for c in range(channels)] if channels else [image]

    summary = locality.summary or value_counts
    x, counts = summarised(x, stored, workdir, lambda block, index: [
        summary(plane) for plane in planes(check_input(spec, block))])
    decisions = [locality.decide(functools.reduce(operator.add, parts), params)
                 for parts in zip(*counts.values(), strict=True)]
    while any(isinstance(decision, NextPass) for decision in decisions):
        decisions = _next_pass(x, spec, planes, decisions)

    def apply(block: np.ndarray) -> np.ndarray:
        image = check_input(spec, block)
        out = [locality.apply_decision(plane, decision, params)
               for plane, decision in zip(planes(image), decisions, strict=True)]
        return check_output(spec, image, np.stack(out, axis=-1) if channels else out[0])

    return x, apply


def _next_pass(x: da.Array, spec: Any, planes: Callable[[np.ndarray], list[np.ndarray]],
               decisions: Sequence[Any]) -> list[Any]:
    """``decisions`` after one more pass over the stored chunks ``x`` for those that are a
    :class:`NextPass` (a median narrowed by 16 more bits)."""
    parts = per_chunk(x, lambda block, index: [
        decision.summary(plane) if isinstance(decision, NextPass) else None
        for decision, plane in zip(decisions, planes(check_input(spec, block)), strict=True)])
    return [decision.decide(functools.reduce(operator.add, summaries))
            if isinstance(decision, NextPass) else decision
            for decision, summaries in zip(decisions, zip(*parts.values(), strict=True),
                                           strict=True)]


def _components(x: da.Array, spec: Any, params: Mapping[str, Any], after: np.ndarray,
                workdir: WorkFolder) -> da.Array:
    """``x`` through a component step: each chunk labelled and summarised (its labels
    stored, as labelling a chunk again cost 3-4x reading them back), resolved, looked up."""
    op = chunked_op(spec.id, params, x.ndim)
    grid = Grid(x.shape, x.chunks)
    labelled = StoredLabels(workdir, x.chunks)

    def summarise(block: np.ndarray, index: tuple[int, ...]) -> Any:
        mask = check_input(spec, block)
        if mask.dtype != np.uint8:  # a uint8 image with values above 1 in this chunk
            raise ValueError(f"chunk {index}: {_NOT_A_MASK}")
        labels, sizes = op.label(mask)
        labelled.save(index, labels)
        return op.summarise_labelled(labels, sizes, index, grid)

    resolved = op.resolve(per_chunk(x, summarise), grid)

    def chunk(block_id: tuple[int, ...]) -> np.ndarray:
        return op.apply_labelled(labelled.load(block_id), resolved.part(block_id))

    return da.map_blocks(chunk, chunks=x.chunks, dtype=after.dtype,
                         meta=np.empty((0,) * x.ndim, after.dtype))


def _whole_image(x: da.Array, stored: bool, spec: Any, params: Mapping[str, Any],
            before: np.ndarray, points: Mapping[str, np.ndarray], workdir: WorkFolder
            ) -> da.Array:
    """``x`` through region growing, edges (:mod:`.tiled_regions`) or CLAHE
    (:mod:`.tiled_clahe`), on its grey image."""
    grey = check_input(spec, before)
    if x.ndim > grey.ndim or grey.dtype != before.dtype:  # RGB to grey, bool to float
        x = x.rechunk({axis: -1 for axis in range(grey.ndim, x.ndim)}).map_blocks(
            functools.partial(check_input, spec), dtype=grey.dtype,
            drop_axis=tuple(range(grey.ndim, x.ndim)) or None,
            meta=np.empty((0,) * grey.ndim, grey.dtype))
    if spec.id == "segment.edges":
        return edges(x, params, workdir)
    if spec.id == "preprocess.clahe":
        return clahe(x, stored, params, workdir)
    return region_grow(x, stored, params, points["seeds"], workdir)


def _owned(x: da.Array, spec: Any, params: Mapping[str, Any], margin: int,
           workdir: WorkFolder) -> da.Array:
    """``x`` through an object-splitting step, each object made by the chunk that holds its
    centre with ``margin`` px of its neighbours (:mod:`.tiled_objects`)."""
    for axis in range(x.ndim):  # a margin reaches no further than the next chunk
        if len(x.chunks[axis]) > 1 and margin > min(x.chunks[axis]):
            x = x.rechunk({axis: da.overlap.ensure_minimum_chunksize(
                min(margin, x.shape[axis]), x.chunks[axis])})
    chunks = x.chunks
    source = StoredChunks(workdir, chunks, x.dtype,
                           bands={axis: margin for axis in range(x.ndim) if len(chunks[axis]) > 1})
    per_chunk(x, lambda block, index: source.save(index, block))
    stamps = StoredChunks(workdir, chunks, np.dtype(np.int32))

    def one(_: np.ndarray, index: tuple[int, ...]) -> int:
        block = source.read_extended(index)[0]
        _, start, core = extended(chunks, index, margin)
        labels = check_output(spec, block, spec(block, **params))
        stamp, count = owned_objects(labels, start, core)
        stamps.save(index, stamp)
        return count

    counts = per_chunk(da.zeros(x.numblocks, np.uint8, chunks=1), one)
    indices = sorted(counts)
    offsets = dict(zip(indices, np.cumsum([0] + [counts[i] for i in indices[:-1]]).tolist(),
                       strict=True))

    def load(index: tuple[int, ...]) -> np.ndarray:
        region = extended(chunks, index, margin)[0]
        return stamps.load(index, tuple(r.stop - r.start for r in region))

    def chunk(block_id: tuple[int, ...]) -> np.ndarray:
        return assemble(block_id, chunks, margin, offsets, load)

    return da.map_blocks(chunk, chunks=chunks, dtype=np.int32,
                         meta=np.empty((0,) * len(chunks), np.int32))
