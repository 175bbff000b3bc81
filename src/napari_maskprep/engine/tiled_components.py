"""Component steps over the chunks of a tiled mask, equal to the in-memory op bit for bit.

Each chunk is labelled on its own (``kernels.components.label``) and summarised: the pixel
count and first pixel of each of its objects, which of them touch the image's border, and
its labels on its faces. On the client the faces of neighbouring chunks are laid side by
side, one plane per chunk boundary, and every pair of touching pixels across the boundary
joins two chunk objects (with full connectivity also through the diagonal neighbours, which
covers objects that cross a chunk corner); ``scipy.sparse.csgraph.connected_components``
turns the joins into the image's objects. Their sizes are the sums of their pieces', their
first pixel the first of their pieces', so the whole-image tables follow exactly:

- ``refine.label``: ids 1..N in the raster order of the objects' first pixels, as the
  in-memory labelling numbers them;
- ``refine.remove_small``, ``remove_large``, ``keep_largest`` (first in raster order of
  equal ones), ``clear_border``: which objects stay;
- ``refine.fill_holes``: the same for the face-connected background, whose pieces that do
  not reach the border (and are small enough) are the holes.

Each chunk's labels, stored as it was summarised (a tiled run keeps them in its work
folder: reading them back costs a third of labelling again), are then mapped through its
part of the table. The chunk labels are only ever compared with themselves, so any
labelling that is a function of the chunk's pixels will do; integers throughout, hence
exact and the same on any thread count.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..core.enums import Connectivity
from ..core.run_callbacks import compute
from ..kernels import components
from ..kernels.threads import one_thread_each

__all__ = ["ChunkedComponents", "Grid", "Pieces", "chunked_op", "count_objects",
           "flagged_objects", "per_chunk", "pieces"]


@dataclass(frozen=True)
class Grid:
    """The image's shape and its dask chunks along each axis."""

    shape: tuple[int, ...]
    chunks: tuple[tuple[int, ...], ...]

    def start(self, index: tuple[int, ...]) -> tuple[int, ...]:
        """The image coordinates of chunk ``index``'s first pixel."""
        return tuple(sum(c[:i]) for c, i in zip(self.chunks, index, strict=True))


@dataclass(frozen=True)
class _Summary:
    count: int  # objects in the chunk, ids 1..count
    sizes: np.ndarray  # int32 pixel count per id (index 0 unused)
    first: np.ndarray  # int64 image raster index of each object's first pixel (or empty)
    on_border: np.ndarray  # bool per id: touches the image's border
    faces: dict[tuple[int, int], np.ndarray]  # (axis, 0 | -1) -> chunk labels on that face


@dataclass(frozen=True)
class _Table:
    """Per chunk, a look-up table from its labels to output values."""

    luts: dict[tuple[int, ...], np.ndarray]

    def part(self, index: tuple[int, ...]) -> np.ndarray:
        return self.luts[index]


class ChunkedComponents:
    """One component step, in three stages: summarise each chunk, resolve on the client,
    apply to each chunk (see the module's docstring)."""

    def __init__(self, op_id: str, params: Mapping[str, Any], ndim: int) -> None:
        self.op_id = op_id
        self.holes = op_id == "refine.fill_holes"
        connectivity = params.get("connectivity", Connectivity.FULL)
        self.connectivity = (1 if self.holes or Connectivity(connectivity) is Connectivity.FACES
                             else ndim)
        self.params = dict(params)
        # Only these need the objects' raster order (their first pixels).
        self.ordered = op_id in ("refine.label", "refine.keep_largest")

    def _target(self, mask: np.ndarray) -> np.ndarray:
        """What is labelled: the chunk's objects, or its background for holes."""
        return np.ascontiguousarray((mask == 0).view(np.uint8) if self.holes else mask)

    def label(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's labels (uint16 or int32) and the pixel count of each."""
        return components.labelled_sizes(self._target(block), self.connectivity)

    def summarise(self, block: np.ndarray, index: tuple[int, ...], grid: Grid) -> _Summary:
        return self.summarise_labelled(*self.label(block), index, grid)

    def summarise_labelled(self, labels: np.ndarray, sizes: np.ndarray,
                           index: tuple[int, ...], grid: Grid) -> _Summary:
        count = len(sizes) - 1
        start = grid.start(index)
        faces, on_border = _faces(labels, count, index, grid)
        first = np.zeros(count + 1 if self.ordered else 0, np.int64)
        if self.ordered:
            local = np.unravel_index(_first_pixels(labels, count), labels.shape)
            first[1:] = np.ravel_multi_index(
                tuple(coordinate + s for coordinate, s in zip(local, start, strict=True)),
                grid.shape)
        # A chunk's counts fit int32; the image's table of objects is what grows with it.
        return _Summary(count, sizes.astype(np.int32), first, on_border, faces)

    def resolve(self, summaries: Mapping[tuple[int, ...], _Summary], grid: Grid) -> _Table:
        indices = sorted(summaries)
        offsets, objects, count = _joined(summaries, grid, self.connectivity)
        ordered = [summaries[index] for index in indices]
        # Pixel counts add up exactly in float64 (below 2**53 pixels).
        sizes = np.bincount(objects, np.concatenate([s.sizes[1:] for s in ordered] + [[]]),
                            minlength=count).astype(np.int64)
        on_border = np.bincount(
            objects, np.concatenate([s.on_border[1:] for s in ordered] + [[]]),
            minlength=count) > 0
        first = np.full(count if self.ordered else 0, np.iinfo(np.int64).max, np.int64)
        if self.ordered:
            np.minimum.at(first, objects, np.concatenate([s.first[1:] for s in ordered]
                                                         + [np.zeros(0, np.int64)]))
        values = self._values(sizes, first, on_border)
        luts = {}
        for index in indices:
            s = summaries[index]
            nodes = objects[offsets[index]:offsets[index] + s.count]
            luts[index] = np.concatenate(([values[-1]], values[nodes])).astype(values.dtype)
        return _Table(luts)

    def _values(self, sizes: np.ndarray, first: np.ndarray, on_border: np.ndarray
                ) -> np.ndarray:
        """The output value of each object; the last entry is the background's."""
        p = self.params
        if self.op_id == "refine.label":
            ids = np.empty(len(first), np.int32)
            ids[np.argsort(first, kind="stable")] = np.arange(1, len(first) + 1)
            return np.concatenate((ids, [0])).astype(np.int32)
        if self.holes:  # the value is "fill"
            keep = ~on_border
            if p.get("max_hole_size") is not None:
                keep &= sizes <= p["max_hole_size"]
        elif self.op_id == "refine.remove_small":
            keep = sizes >= p["min_size"]
        elif self.op_id == "refine.remove_large":
            keep = sizes <= p["max_size"]
        elif self.op_id == "refine.keep_largest":
            keep = np.zeros(len(sizes), bool)
            if len(sizes):  # lexsort: largest first, then the earliest first pixel
                keep[np.lexsort((first, -sizes))[0]] = True
        else:  # refine.clear_border
            keep = ~on_border
        return np.concatenate((keep, [False])).astype(np.uint8)

    def apply_labelled(self, labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
        """The chunk's output from its :meth:`label` labels and its part of the table."""
        if self.holes:  # label 0 is the mask itself, which stays
            lut = lut.copy()
            lut[0] = 1
        return components.look_up(lut, labels)


def chunked_op(op_id: str, params: Mapping[str, Any], ndim: int) -> ChunkedComponents | None:
    """The tiled form of a component step on a 0/1 mask, or None for other ops."""
    if op_id not in _OPS:
        return None
    return ChunkedComponents(op_id, params, ndim)


_OPS = frozenset({"refine.label", "refine.fill_holes", "refine.remove_small",
                  "refine.remove_large", "refine.keep_largest", "refine.clear_border"})


def per_chunk(x: Any, summarise: Callable[[np.ndarray, tuple[int, ...]], Any]
              ) -> dict[tuple[int, ...], Any]:
    """``summarise(chunk, index)`` of every chunk of the dask array ``x``, on the active
    scheduler: one task per chunk, built as one graph layer, so a slide of 10,000 chunks
    starts at once (a delayed call per chunk took 15 s to build)."""
    summarise = one_thread_each(summarise)

    def one(block: np.ndarray, block_id: tuple[int, ...]) -> np.ndarray:
        cell = np.empty((1,) * block.ndim, object)
        cell[(0,) * block.ndim] = summarise(block, block_id)
        return cell

    cells, = compute(x.map_blocks(one, chunks=tuple((1,) * n for n in x.numblocks),
                                  dtype=object, meta=np.empty((0,) * x.ndim, object)))
    return {index: cells[index] for index in np.ndindex(*x.numblocks)}


def count_objects(result: Any) -> tuple[int, int]:
    """(objects, foreground pixels) of a tiled result, in one pass over its chunks: a mask's
    connected objects (full connectivity), or the distinct ids of labels."""
    if result.dtype != np.uint8:
        found = per_chunk(result, lambda block, index: (np.unique(block),
                                                        np.count_nonzero(block)))
        distinct = functools.reduce(np.union1d, (ids for ids, _ in found.values()),
                                    np.zeros(1, result.dtype))
        return len(distinct) - 1, sum(pixels for _, pixels in found.values())
    grid = Grid(result.shape, result.chunks)
    op = ChunkedComponents("refine.label", {}, result.ndim)
    summaries = per_chunk(result, lambda block, index: op.summarise(block, index, grid))
    count = _joined(summaries, grid, result.ndim)[2]
    return count, int(sum(int(s.sizes[1:].sum()) for s in summaries.values()))


@dataclass(frozen=True)
class Pieces:
    """One labelling of one chunk as the join sees it: its objects ``1..count``, its
    labels on the faces it shares with other chunks, and a flag per object (index 0
    unused) that any of an image object's pieces may raise."""

    count: int
    faces: dict[tuple[int, int], np.ndarray]
    flags: np.ndarray


def pieces(labels: np.ndarray, count: int, index: tuple[int, ...], grid: Grid,
           flags: np.ndarray) -> Pieces:
    """The :class:`Pieces` of chunk ``index``, labelled ``1..count`` in ``labels``."""
    return Pieces(count, _faces(labels, count, index, grid)[0], flags)


def flagged_objects(summaries: Mapping[tuple[int, ...], Pieces], grid: Grid,
                    connectivity: int) -> dict[tuple[int, ...], np.ndarray]:
    """Per chunk, a uint8 look-up table from its labels to 1 where the image object the
    label is a piece of has a flag raised in any of its pieces, 0 elsewhere."""
    offsets, objects, count = _joined(summaries, grid, connectivity)
    indices = sorted(summaries)
    flags = np.concatenate([summaries[index].flags[1:] for index in indices] + [[]])
    keep = (np.bincount(objects, flags, minlength=count) > 0).view(np.uint8)
    return {index: np.concatenate(([0], keep[objects[offsets[index]:offsets[index]
                                                     + summaries[index].count]]))
            .astype(np.uint8) for index in indices}


def _faces(labels: np.ndarray, count: int, index: tuple[int, ...], grid: Grid
           ) -> tuple[dict[tuple[int, int], np.ndarray], np.ndarray]:
    """The chunk's labels on each face it shares with another chunk, and which labels
    touch the image's border."""
    faces, on_border = {}, np.zeros(count + 1, bool)
    for axis in range(labels.ndim):
        for side, at_edge in ((0, index[axis] == 0),
                              (-1, index[axis] == len(grid.chunks[axis]) - 1)):
            face = np.take(labels, side, axis=axis)
            if at_edge:
                on_border[face.reshape(-1)] = True
            else:
                faces[(axis, side)] = face.copy()
    on_border[0] = False
    return faces, on_border


def _joined(summaries: Mapping[tuple[int, ...], Any], grid: Grid, connectivity: int
            ) -> tuple[dict[tuple[int, ...], int], np.ndarray, int]:
    """Each chunk's first node, the image object of each node, and how many there are:
    the node of (chunk, id) is ``offsets[chunk] + id - 1``."""
    offsets, total = {}, 0
    for index in sorted(summaries):
        offsets[index] = total
        total += summaries[index].count
    objects, count = _join(summaries, offsets, total, grid, connectivity)
    return offsets, objects, count


def _first_pixels(labels: np.ndarray, count: int) -> np.ndarray:
    """The flat index of the first pixel of each id 1..count of raster-ordered labels (each
    id first appears after all lower ids, as both labellings number them).

    Only the rows (lines along the last axis) where a new id appears are scanned: at 2048^2
    a running maximum over every pixel took 16 ms, longer than the labelling.
    """
    if count == 0:
        return np.zeros(0, np.intp)
    rows = labels.reshape(-1, labels.shape[-1])
    highest = rows.max(axis=1).astype(np.int64)
    before = np.concatenate(([0], np.maximum.accumulate(highest)[:-1]))
    fresh = np.flatnonzero(highest > before)  # rows where new ids appear
    scanned = rows[fresh].astype(np.int64)
    seen = np.maximum(np.maximum.accumulate(scanned, axis=1), before[fresh, None])
    new = scanned > np.concatenate((before[fresh, None], seen[:, :-1]), axis=1)
    row, column = np.nonzero(new)
    first = fresh[row] * rows.shape[1] + column
    if len(first) != count:  # not raster-ordered: find each first pixel the slow way
        ids, where = np.unique(labels.reshape(-1), return_index=True)
        return where[ids > 0]
    return first


def _join(summaries: Mapping[tuple[int, ...], Any], offsets: Mapping[tuple[int, ...], int],
          total: int, grid: Grid, connectivity: int) -> tuple[np.ndarray, int]:
    """The image object of each chunk object (node), and how many objects there are."""
    ndim = len(grid.shape)
    heads, tails = [], []
    for axis in range(ndim):
        for boundary in range(len(grid.chunks[axis]) - 1):
            before = _plane(summaries, offsets, grid, axis, boundary, -1)
            after = _plane(summaries, offsets, grid, axis, boundary + 1, 0)
            steps = ([(0,) * (ndim - 1)] if connectivity == 1
                     else list(itertools.product((-1, 0, 1), repeat=ndim - 1)))
            for step in steps:
                a = before[tuple(slice(max(0, -d), n - max(0, d))
                                 for d, n in zip(step, before.shape, strict=True))]
                b = after[tuple(slice(max(0, d), n - max(0, -d))
                                for d, n in zip(step, after.shape, strict=True))]
                touching = (a >= 0) & (b >= 0)
                head, tail = a[touching], b[touching]
                # Along a boundary one pair of objects touches over many pixels in a row:
                # keep each run once (the background of a 4 GP mask: 175 -> 3 MB).
                new = np.ones(len(head), bool)
                new[1:] = (head[1:] != head[:-1]) | (tail[1:] != tail[:-1])
                heads.append(head[new])
                tails.append(tail[new])
    head = np.concatenate(heads) if heads else np.zeros(0, np.int64)
    tail = np.concatenate(tails) if tails else np.zeros(0, np.int64)
    graph = sparse.coo_matrix((np.ones(len(head), np.int8), (head, tail)), shape=(total, total))
    count, objects = csgraph.connected_components(graph, directed=False)
    return objects, count


def _plane(summaries: Mapping[tuple[int, ...], Any], offsets: Mapping[tuple[int, ...], int],
           grid: Grid, axis: int, chunk: int, side: int) -> np.ndarray:
    """The nodes on one side of a chunk boundary along ``axis``, laid out over the whole
    plane of the image (-1 on background)."""
    shape = grid.shape[:axis] + grid.shape[axis + 1:]
    plane = np.full(shape, -1, np.int64)
    for index, s in summaries.items():
        if index[axis] != chunk:
            continue
        face = s.faces[(axis, side)]
        start = grid.start(index)
        where = tuple(slice(b, b + n) for b, n in
                      zip(start[:axis] + start[axis + 1:], face.shape, strict=True))
        plane[where] = np.where(face > 0, face.astype(np.int64) + offsets[index] - 1, -1)
    return plane
