"""A recipe run tiled on dask, for images larger than memory, equal to the in-memory run.

The steps are walked by their locality (``core.locality``):

- runs of ``Pointwise`` and ``Local`` steps become one ``map_overlap`` whose margin is the
  sum of their halos: each chunk is read with that much of its neighbours, run through the
  steps and cut back, so every kept pixel saw all it depends on;
- a ``GlobalStat`` step that names ``decide`` adds up its input's value counts over the
  chunks (counts add exactly), decides once from the whole image's counts, then applies
  the decision to each chunk;
- a component step (label, fill holes, remove small/large, keep largest, clear border)
  summarises each chunk, joins the objects that cross chunk faces on the client and
  relabels each chunk (:mod:`.tiled_components`).

Before a whole-image step, its input is written once, compressed, to a work folder, in
the same pass over the chunks that summarises it, so no step upstream runs twice and
memory holds a few chunks per worker, whatever the image's size.

All of the above equals the in-memory run bit for bit. Split touching and watershed (from
distance peaks) run only with a declared largest object size, each object made by the
chunk that holds its centre with that margin (:mod:`.tiled_objects`): equal to the
in-memory result up to the ids where no clump of touching objects is wider than that.
Hand edits recorded on a region (``box_checksums``) are written into the chunks their box
overlaps (:mod:`.tiled_edit`). Steps that need the whole image at once (region growing
from seeds, edges, CLAHE, equalize, rescale, hand edits recorded on a whole array, steps
with ``inputs:``) are refused before any work, naming the step.
"""

from __future__ import annotations

import functools
import itertools
import operator
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
from numcodecs import Blosc

from ..core.errors import MaskprepWarning, RecipeError, at_step
from ..core.locality import GlobalStat, Local, NonLocal, Pointwise
from ..core.validation import check_input, check_output, spatial_ndim
from ..kernels.histogram import value_counts
from .tiled_components import Grid, chunked_op, per_chunk
from .tiled_edit import EDIT_OP, edit_refusal, edited
from .tiled_objects import OWNED_OPS, assemble, extended, owned_objects

if TYPE_CHECKING:
    from ..recipe import Step

__all__ = ["check_tiled", "run_tiled"]

# The corner of the image every step is first run on in memory, to learn each step's
# output dtype and shape and to raise bad parameters before any real work.
_PROBE_SIDE = 64

_NOT_A_MASK = ("a tiled run takes a 0/1 mask here, not labels (run it in memory, or "
               "threshold the labels to a mask first)")


def _refusal(step: Step, object_size: int | None) -> str | None:
    """Why ``step`` cannot run tiled, or None."""
    spec = step.spec
    locality = spec.locality
    if spec.id == EDIT_OP:
        return edit_refusal(step)
    if step.inputs:
        return "reads another array (inputs:), which tiled runs do not support yet"
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
    return ("needs the whole image at once; run it in memory on an image (or a crop, or a "
            "pyramid level) that fits")


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
        self.first: tuple[Any, np.ndarray] | None = None  # (spec, input) of the first
        self.out: np.ndarray | None = None  # the last one's output on the probe

    def add(self, spec: Any, halo: int, function: Callable[[np.ndarray], np.ndarray],
            before: np.ndarray, after: np.ndarray) -> None:
        if self.first is None:
            self.first = (spec, before)
        self.functions.append(function)
        self.depth += halo
        self.out = after


def run_tiled(steps: Sequence[Step], image: Any, workdir: str | Path | None = None, *,
              object_size: int | None = None) -> da.Array:
    """The recipe's output as a dask array over the chunks of ``image``.

    Whole-image steps are resolved now (a pass over the chunks each, on the active dask
    scheduler); the rest stays lazy. Their inputs are stored under ``workdir`` (a new
    temporary folder if None; each stored array is removed once no graph reads it). Raises
    before any work when a step cannot run tiled or its parameters are bad.
    ``object_size``: the widest object in pixels, for the steps that split objects
    (:mod:`.tiled_objects`; equal to in memory up to ids where no clump is wider).
    """
    if object_size is not None and not (isinstance(object_size, int) and object_size >= 1):
        raise RecipeError(f"object_size={object_size!r}; accepted: a whole number of pixels "
                          ">= 1")
    check_tiled(steps, object_size=object_size)
    enabled = [(number, step) for number, step in enumerate(steps, 1) if step.enabled]
    current = image if isinstance(image, da.Array) else da.asarray(image)
    probes = _probe(enabled, current)
    for (number, step), (before, _) in zip(enabled, probes, strict=True):
        if isinstance(step.spec.locality, NonLocal) and (
                before.dtype not in (np.bool_, np.uint8)
                or check_input(step.spec, before).dtype != np.uint8):
            raise RecipeError(f"{at_step(number, step.op)}: {_NOT_A_MASK}")
    work = _WorkFolder(workdir)
    stored, fused = True, _Fused()
    for (number, step), (before, after) in zip(enabled, probes, strict=True):
        spec = step.spec
        params = spec.check_params(step.params)
        locality = spec.locality
        if isinstance(locality, Pointwise | Local):
            halo = locality.halo(params) if isinstance(locality, Local) else 0
            fused.add(spec, halo, functools.partial(_run_op, spec, params), before, after)
            continue
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
            else:
                current = _components(current, stored, spec, params, before, after, work)
                stored = False
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"{at_step(number, step.op)}: {exc}") from None
    return _map_fused(current, fused, work) if fused.functions else current


def _run_op(spec: Any, params: Mapping[str, Any], block: np.ndarray) -> np.ndarray:
    return spec(block, **params)


def _probe(enabled: Sequence[tuple[int, Step]], image: da.Array
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each step's input and output on a small corner of ``image``, run in memory: their
    dtypes and trailing (colour) axes are those of the tiled run."""
    corner = tuple(slice(0, _PROBE_SIDE) for _ in range(image.ndim))
    if image.ndim >= 3 and image.shape[-1] in (3, 4):
        corner = corner[:-1] + (slice(None),)
    current = np.asarray(image[corner])
    probes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MaskprepWarning)  # a corner is not the image
        for number, step in enabled:
            try:
                out = step.spec(current, **step.params)
            except (TypeError, ValueError) as exc:
                raise RecipeError(f"{at_step(number, step.op)}: {exc}") from None
            probes.append((current, out))
            current = out
    return probes


def _map_fused(x: da.Array, fused: _Fused, workdir: _WorkFolder) -> da.Array:
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

    def run(block: np.ndarray) -> np.ndarray:
        for f in functions:
            block = f(block)
        return block

    meta = np.empty((0,) * out.ndim, out.dtype)
    depth = {}
    for axis in range(spatial):
        if fused.depth == 0 or len(x.chunks[axis]) == 1:
            continue
        if fused.depth >= x.shape[axis]:  # one chunk along this axis holds all it needs
            x = x.rechunk({axis: -1})
            continue
        x = x.rechunk({axis: da.overlap.ensure_minimum_chunksize(fused.depth,
                                                                  x.chunks[axis])})
        depth[axis] = fused.depth
    if not depth:
        return x.map_blocks(run, dtype=out.dtype, meta=meta,
                            drop_axis=tuple(range(out.ndim, x.ndim)) or None)
    stored = _StoredChunks(workdir, x.chunks, x.dtype, bands=depth)
    per_chunk(x, lambda block, index: stored.save(index, block))
    extra = (0,) * (x.ndim - out.ndim)  # the colour axis an op dropped: one chunk

    def chunk(block_id: tuple[int, ...]) -> np.ndarray:
        block, core = stored.read_extended(tuple(block_id) + extra)
        return run(block)[core[:out.ndim]]

    return da.map_blocks(chunk, chunks=x.chunks[:out.ndim], dtype=out.dtype, meta=meta)


def _summarised(x: da.Array, stored: bool, workdir: _WorkFolder,
                summarise: Callable[[np.ndarray, tuple[int, ...]], Any]
                ) -> tuple[da.Array, dict[tuple[int, ...], Any]]:
    """One pass over the chunks of ``x``: each chunk summarised and, unless ``x`` is already
    stored, saved to the work folder, which the returned array reads back."""
    if stored:
        return x, per_chunk(x, summarise)
    target = _StoredChunks(workdir, x.chunks, x.dtype)

    def save_and_summarise(block: np.ndarray, index: tuple[int, ...]) -> Any:
        target.save(index, block)
        return summarise(block, index)

    return target.array(), per_chunk(x, save_and_summarise)


class _WorkFolder:
    """Where a tiled run keeps its stored chunks: a given folder, or a new temporary one
    removed once the last array stored in it (which holds this object) is gone."""

    def __init__(self, path: str | Path | None) -> None:
        if path is None:
            self.path = Path(tempfile.mkdtemp(prefix="maskprep-tiled-"))
            weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)
        else:
            self.path = Path(path)


class _StoredChunks:
    """The chunks of one array, compressed, as files in their own folder of the work folder,
    removed when this object (held by the graphs that read it) is gone.

    Each chunk is written and read once, so one Blosc-LZ4 frame per file is all it needs: at
    64 MP a zarr array's codec pipeline and locks took a third of the run (1.2 of 3.6 s),
    raw .npy files the disk's bandwidth (2.4 s); masks compress 30-50x, images 2-3x.
    """

    _CODEC = Blosc(cname="lz4", clevel=1, shuffle=Blosc.NOSHUFFLE)

    def __init__(self, workdir: _WorkFolder, chunks: tuple[tuple[int, ...], ...],
                 dtype: np.dtype, bands: Mapping[int, int] | None = None) -> None:
        workdir.path.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir  # a temporary work folder lives as long as what it stores
        self.folder = Path(tempfile.mkdtemp(prefix="step-", dir=workdir.path))
        self.chunks, self.dtype = chunks, np.dtype(dtype)
        self.bands = dict(bands or {})  # axis -> width of the bands kept along it
        self.starts = [np.cumsum((0,) + tuple(c)).tolist() for c in chunks]
        weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def _path(self, index: tuple[int, ...], band: str = "") -> Path:
        return self.folder / ("-".join(map(str, index)) + band)

    def _write(self, path: Path, block: np.ndarray) -> None:
        path.write_bytes(self._CODEC.encode(np.ascontiguousarray(block, self.dtype)))

    def _read(self, path: Path, shape: tuple[int, ...]) -> np.ndarray:
        data = self._CODEC.decode(path.read_bytes())
        return np.frombuffer(data, self.dtype).reshape(shape)

    def _shape(self, index: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(c[i] for c, i in zip(self.chunks, index, strict=True))

    def save(self, index: tuple[int, ...], block: np.ndarray) -> None:
        """Store a chunk, and its first and last ``width`` px along each banded axis."""
        self._write(self._path(index), block)
        for axis, width in self.bands.items():
            for side, where in (("lo", slice(0, width)), ("hi", slice(-width, None))):
                self._write(self._path(index, f"-{axis}{side}"),
                            block[(slice(None),) * axis + (where,)])

    def load(self, block_id: tuple[int, ...], shape: tuple[int, ...] | None = None
             ) -> np.ndarray:
        return self._read(self._path(block_id), shape or self._shape(block_id)).copy()

    def read_extended(self, index: tuple[int, ...]) -> tuple[np.ndarray, tuple[slice, ...]]:
        """Chunk ``index`` grown by the band width along each banded axis (clipped to the
        array), from its own file and its neighbours' bands, and where the chunk lies in it."""
        lo = [s[i] for s, i in zip(self.starts, index, strict=True)]
        hi = [s[i + 1] for s, i in zip(self.starts, index, strict=True)]
        width = [self.bands.get(axis, 0) for axis in range(len(index))]
        a = [max(0, low - w) for low, w in zip(lo, width, strict=True)]
        b = [min(s[-1], high + w) for high, w, s in zip(hi, width, self.starts, strict=True)]
        out = np.empty(tuple(y - x for x, y in zip(a, b, strict=True)), self.dtype)
        steps = [(-1, 0, 1) if w else (0,) for w in width]
        for step in itertools.product(*steps):
            other = tuple(i + d for i, d in zip(index, step, strict=True))
            if any(not 0 <= o < len(c) for o, c in zip(other, self.chunks, strict=True)):
                continue
            o_lo = [s[o] for s, o in zip(self.starts, other, strict=True)]
            o_hi = [s[o + 1] for s, o in zip(self.starts, other, strict=True)]
            shape = [y - x for x, y in zip(o_lo, o_hi, strict=True)]
            origin = list(o_lo)
            band = ""
            for axis, d in enumerate(step):  # a neighbour's part lies in one of its bands
                if d:
                    band = f"-{axis}{'lo' if d > 0 else 'hi'}"
                    shape[axis] = width[axis]
                    origin[axis] = o_lo[axis] if d > 0 else o_hi[axis] - width[axis]
                    break
            data = self._read(self._path(other, band), tuple(shape))
            x0 = [max(p, q) for p, q in zip(a, o_lo, strict=True)]
            x1 = [min(p, q) for p, q in zip(b, o_hi, strict=True)]
            out[tuple(slice(u - p, v - p) for u, v, p in zip(x0, x1, a, strict=True))] = \
                data[tuple(slice(u - p, v - p) for u, v, p in zip(x0, x1, origin,
                                                                 strict=True))]
        core = tuple(slice(low - x, high - x) for low, high, x in zip(lo, hi, a, strict=True))
        return out, core

    def array(self) -> da.Array:
        return da.map_blocks(self.load, chunks=self.chunks, dtype=self.dtype,
                             meta=np.empty((0,) * len(self.chunks), self.dtype))


def _global_stat(x: da.Array, stored: bool, spec: Any, params: Mapping[str, Any],
                 before: np.ndarray, workdir: _WorkFolder
                 ) -> tuple[da.Array, Callable[[np.ndarray], np.ndarray]]:
    """``x`` stored, and the pointwise apply of the decision its value counts give."""
    locality = spec.locality
    grey = check_input(spec, before)
    if grey.dtype.kind not in "iu" or grey.dtype.itemsize > 2:
        raise ValueError(f"a tiled run needs an 8- or 16-bit integer image here; got "
                         f"{grey.dtype} (run it in memory, or convert the image first)")
    x, counts = _summarised(x, stored, workdir,
                            lambda block, index: value_counts(check_input(spec, block)))
    decision = locality.decide(functools.reduce(operator.add, counts.values()), params)

    def apply(block: np.ndarray) -> np.ndarray:
        image = check_input(spec, block)
        return check_output(spec, image, locality.apply_decision(image, decision, params))

    return x, apply


def _components(x: da.Array, stored: bool, spec: Any, params: Mapping[str, Any],
                before: np.ndarray, after: np.ndarray, workdir: _WorkFolder) -> da.Array:
    """``x`` through a component step: summarised (and stored), resolved, relabelled."""
    op = chunked_op(spec.id, params, x.ndim)
    grid = Grid(x.shape, x.chunks)

    def summarise(block: np.ndarray, index: tuple[int, ...]) -> Any:
        mask = check_input(spec, block)
        if mask.dtype != np.uint8:  # a uint8 image with values above 1 in this chunk
            raise ValueError(f"chunk {index}: {_NOT_A_MASK}")
        return op.summarise(mask, index, grid)

    x, summaries = _summarised(x, stored, workdir, summarise)
    resolved = op.resolve(summaries, grid)
    parts = {index: resolved.part(index) for index in summaries}

    def apply(block: np.ndarray, block_id: tuple[int, ...]) -> np.ndarray:
        return op.apply(check_input(spec, block), block_id, grid, parts[block_id])

    return x.map_blocks(apply, dtype=after.dtype, meta=np.empty((0,) * x.ndim, after.dtype))


def _owned(x: da.Array, spec: Any, params: Mapping[str, Any], margin: int,
           workdir: _WorkFolder) -> da.Array:
    """``x`` through an object-splitting step, each object made by the chunk that holds its
    centre with ``margin`` px of its neighbours (:mod:`.tiled_objects`)."""
    for axis in range(x.ndim):  # a margin reaches no further than the next chunk
        if len(x.chunks[axis]) > 1 and margin > min(x.chunks[axis]):
            x = x.rechunk({axis: da.overlap.ensure_minimum_chunksize(
                min(margin, x.shape[axis]), x.chunks[axis])})
    chunks = x.chunks
    source = _StoredChunks(workdir, chunks, x.dtype,
                           bands={axis: margin for axis in range(x.ndim) if len(chunks[axis]) > 1})
    per_chunk(x, lambda block, index: source.save(index, block))
    stamps = _StoredChunks(workdir, chunks, np.dtype(np.int32))

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
