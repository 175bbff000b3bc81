"""Object-splitting steps in chunks: each object is made by the one chunk that holds its
centre, from that chunk and a margin of its neighbours as wide as the largest object.

``refine.split_touching`` and ``segment.watershed`` (from distance peaks) decide where one
object ends and the next begins from the whole connected clump they lie in, so no fixed
halo makes them exact. With a declared largest object size ``s`` (px, its widest extent):

1. each chunk runs the op in memory on itself plus ``s`` px of its neighbours on every side;
2. it keeps the objects whose centre (the mean of their pixel coordinates, rounded down)
   lies in the chunk itself, renumbered 1..n, and drops the rest: they belong to the chunk
   their centre is in, which sees them whole too;
3. ids are offset by the counts of the chunks before (raster order of chunks), and every
   pixel takes the label of the object that owns it, the chunk's own objects first.

Both ops split each connected clump on its own (``kernels.watershed``), so a clump no
wider than ``s`` is split in the chunk that holds its pieces' centres exactly as in
memory: the result equals the in-memory one up to the ids, which are 1..N without gaps in
the order of the chunks. A clump wider than ``s`` may be split otherwise near the margin's
edge, and a piece whose centre each chunk places in the other is lost: the tests measure
both on real nuclei.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

__all__ = ["OWNED_OPS", "assemble", "extended", "owned_objects"]

OWNED_OPS = frozenset({"refine.split_touching", "segment.watershed"})


def extended(chunks: Sequence[Sequence[int]], index: tuple[int, ...], margin: int
             ) -> tuple[tuple[slice, ...], tuple[int, ...], tuple[int, ...]]:
    """The image region of chunk ``index`` grown by ``margin`` (clipped to the image), its
    start, and the chunk's own start and stop."""
    region, start, core_start, core_stop = [], [], [], []
    for sizes, i in zip(chunks, index, strict=True):
        lo = sum(sizes[:i])
        hi = lo + sizes[i]
        a, b = max(0, lo - margin), min(sum(sizes), hi + margin)
        region.append(slice(a, b))
        start.append(a)
        core_start.append(lo)
        core_stop.append(hi)
    return tuple(region), tuple(start), (tuple(core_start), tuple(core_stop))


def owned_objects(labels: np.ndarray, start: Sequence[int], core: tuple[Sequence[int], ...]
                  ) -> tuple[np.ndarray, int]:
    """``labels`` of an extended chunk keeping only the objects whose centre lies in the
    chunk (``core``: its start and stop in the image), renumbered 1..n in id order."""
    flat = labels.reshape(-1)
    top = int(flat.max(initial=0))
    counts = np.bincount(flat, minlength=top + 1)
    owned = counts > 0
    owned[0] = False
    for axis, (offset, lo, hi) in enumerate(zip(start, *core, strict=True)):
        shape = [1] * labels.ndim
        shape[axis] = labels.shape[axis]
        position = np.broadcast_to(np.arange(labels.shape[axis]).reshape(shape), labels.shape)
        # Coordinate sums are integers below 2**53: exact in float64, then floor-divided.
        sums = np.bincount(flat, position.reshape(-1), minlength=top + 1).astype(np.int64)
        centre = offset + sums // np.maximum(counts, 1)
        owned &= (centre >= lo) & (centre < hi)
    lut = np.zeros(top + 1, np.int32)
    count = int(owned.sum())
    lut[owned] = np.arange(1, count + 1, dtype=np.int32)
    return lut[labels], count


def assemble(index: tuple[int, ...], chunks: Sequence[Sequence[int]], margin: int,
             offsets: Mapping[tuple[int, ...], int],
             load: Callable[[tuple[int, ...]], np.ndarray]) -> np.ndarray:
    """Chunk ``index`` of the result: the owned objects of it and its neighbours, with
    their image-wide ids; the chunk's own objects are painted last, so they win where a
    neighbour's version of an object overlaps them."""
    _, _, (core_start, core_stop) = extended(chunks, index, margin)
    out = np.zeros(tuple(b - a for a, b in zip(core_start, core_stop, strict=True)), np.int32)
    near = [range(max(0, i - 1), min(len(c), i + 2)) for c, i in zip(chunks, index, strict=True)]
    order = sorted(itertools.product(*near), key=lambda other: other == index)
    for other in order:
        region, start, _ = extended(chunks, other, margin)
        lo = [max(r.start, a) for r, a in zip(region, core_start, strict=True)]
        hi = [min(r.stop, b) for r, b in zip(region, core_stop, strict=True)]
        if any(a >= b for a, b in zip(lo, hi, strict=True)):
            continue
        stamp = load(other)[tuple(slice(a - s, b - s) for a, b, s in zip(lo, hi, start,
                                                                         strict=True))]
        target = out[tuple(slice(a - c, b - c) for a, b, c in zip(lo, hi, core_start,
                                                                  strict=True))]
        np.copyto(target, stamp + np.int32(offsets[other]), where=stamp > 0)
    return out
