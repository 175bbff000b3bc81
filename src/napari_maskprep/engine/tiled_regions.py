"""Region growing and edges over the chunks of a tiled image, equal to the in-memory ops bit
for bit, on the component join of :mod:`.tiled_components`.

- ``segment.region_grow``: each seed's value is read once, in the pass that stores the
  input. Seeds whose value ranges (``kernels.region_grow.seed_bounds``) are the same share
  one labelling of each chunk's pixels in that range; the pieces are joined across chunk
  faces, and the image objects holding a seed are the regions, as the in-memory flood
  fills them.
- ``segment.edges`` (Canny): the image's minimum and maximum (one pass), then each chunk
  with a margin of the Gaussian's radius + 2 gives Canny's two candidate maps
  (``kernels.edges.canny_candidates``, exactly as on the whole image: the margin holds all
  they depend on, and at the image's border the chunk's border is the image's). The
  hysteresis keeps the 8-connected pieces of the low map that hold a high pixel; the edges'
  holes are filled as ``refine.fill_holes`` fills them tiled, and each 8-connected piece
  of the filled map is kept where it holds a filled hole. Three joins, three passes.

Method ``sobel`` is refused: OpenCV's float filters round the last columns of a row
otherwise than the same columns inside a longer row (by 1e-7), so a chunk does not give the
whole image's magnitudes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import dask.array as da
import numpy as np

from ..core.enums import Connectivity
from ..core.errors import MaskprepWarning
from ..kernels import components
from ..kernels.edges import canny_candidates, canny_radius, scaled_to_unit
from ..kernels.region_grow import in_range, seed_bounds
from ..kernels.threads import one_thread_each
from .tiled_components import Grid, chunked_op, flagged_objects, per_chunk, pieces
from .tiled_store import StoredChunks, StoredLabels, WorkFolder, summarised

__all__ = ["REGION_OPS", "edges", "refusal", "region_grow"]

REGION_OPS = frozenset({"segment.region_grow", "segment.edges"})

_SOBEL = ("finds Sobel edges with OpenCV's float filters, which round the last columns of a "
          "row otherwise than inside a longer row, so chunks would not equal the whole image "
          "(use method canny, or run it in memory)")


def refusal(op_id: str, params: Mapping[str, Any]) -> str | None:
    """Why a region step with these (checked) parameters cannot run tiled, or None."""
    if op_id == "segment.edges" and params["method"] == "sobel":
        return _SOBEL
    return None


def _meta(dtype: Any, ndim: int) -> np.ndarray:
    return np.empty((0,) * ndim, dtype)


def region_grow(x: da.Array, stored: bool, params: Mapping[str, Any], seeds: np.ndarray,
                workdir: WorkFolder) -> da.Array:
    """The grey image ``x`` through ``segment.region_grow`` from ``seeds`` (checked N x ndim
    points); ``stored``: whether ``x`` already reads stored chunks."""
    grid = Grid(x.shape, x.chunks)
    points = np.rint(seeds).astype(np.intp).reshape(-1, x.ndim)
    owner = np.stack([np.searchsorted(np.cumsum(sizes), points[:, axis], side="right")
                      for axis, sizes in enumerate(x.chunks)], axis=1)

    def local(index: tuple[int, ...], which: np.ndarray) -> tuple[np.ndarray, ...]:
        """The coordinates, within chunk ``index``, of the seeds ``which`` it holds."""
        inside = which[(owner[which] == index).all(axis=1)]
        return tuple((points[inside] - grid.start(index)).T)

    everyone = np.arange(len(points))

    def seed_values(block: np.ndarray, index: tuple[int, ...]) -> dict[int, Any]:
        inside = everyone[(owner == index).all(axis=1)]
        return dict(zip(inside.tolist(), block[local(index, inside)].tolist(), strict=True))

    x, found = summarised(x, stored, workdir, seed_values)
    values = {seed: value for chunk in found.values() for seed, value in chunk.items()}
    groups: dict[tuple[Any, Any], list[int]] = {}
    for seed in range(len(points)):
        bounds = seed_bounds(values[seed], x.dtype, params["tolerance"])
        groups.setdefault(bounds, []).append(seed)
    ranges = [(bounds, np.array(members, np.intp)) for bounds, members in groups.items()]
    full = Connectivity(params["connectivity"]) is Connectivity.FULL
    connectivity = x.ndim if full else 1

    def summarise(block: np.ndarray, index: tuple[int, ...]) -> list[Any]:
        out = []
        for bounds, members in ranges:
            labels, sizes = components.labelled_sizes(in_range(block, *bounds), connectivity)
            seeded = np.zeros(len(sizes), bool)
            seeded[labels[local(index, members)]] = True  # a seed is always in its range
            out.append(pieces(labels, len(sizes) - 1, index, grid, seeded))
        return out

    found = per_chunk(x, summarise)
    tables = [flagged_objects({index: parts[g] for index, parts in found.items()}, grid,
                              connectivity) for g in range(len(ranges))]

    @one_thread_each
    def apply(block: np.ndarray, block_id: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(block.shape, np.uint8)
        for (bounds, _), table in zip(ranges, tables, strict=True):
            lut = table[tuple(block_id)]
            if lut.any():  # no region of this range reaches the chunk: skip its labelling
                labels = components.compact_labels(in_range(block, *bounds), connectivity)
                out |= components.look_up(lut, labels)
        return out

    return x.map_blocks(apply, dtype=np.uint8, meta=_meta(np.uint8, x.ndim))


def edges(x: da.Array, params: Mapping[str, Any], workdir: WorkFolder) -> da.Array:
    """The grey 2D image ``x`` through ``segment.edges`` (Canny; see the module's
    docstring)."""
    sigma, low, high = params["sigma"], params["low"], params["high"]
    radius = canny_radius(sigma)
    for axis in range(x.ndim):  # a chunk's margin lies in its next neighbours
        if len(x.chunks[axis]) > 1:
            x = x.rechunk({axis: -1 if radius >= x.shape[axis] else
                           da.overlap.ensure_minimum_chunksize(radius, x.chunks[axis])})
    chunks = x.chunks
    grid = Grid(x.shape, chunks)
    source = StoredChunks(workdir, chunks, x.dtype,
                          bands={axis: radius for axis in range(x.ndim) if len(chunks[axis]) > 1})

    def save(block: np.ndarray, index: tuple[int, ...]) -> tuple[float, float]:
        source.save(index, block)
        return float(block.min()), float(block.max())

    extremes = per_chunk(x, save).values()
    lowest, highest = min(e[0] for e in extremes), max(e[1] for e in extremes)
    if lowest == highest:
        warnings.warn("segment.edges: the image is constant, so it has no edges; the mask is "
                      "empty", MaskprepWarning, stacklevel=3)
        return da.zeros(x.shape, dtype=np.uint8, chunks=chunks)
    every_chunk = da.zeros(x.numblocks, np.uint8, chunks=1)
    candidates = StoredChunks(workdir, chunks, np.uint8)

    def weak_pieces(_: np.ndarray, index: tuple[int, ...]) -> Any:
        block, core = source.read_extended(index)
        weak, strong = canny_candidates(scaled_to_unit(block, lowest, highest), sigma, low,
                                        high)
        weak, strong = weak[core].view(np.uint8), strong[core]
        candidates.save(index, weak + strong)  # 1 weak, 2 strong (strong ones are weak too)
        labels, sizes = components.labelled_sizes(weak, 2)
        has_strong = np.zeros(len(sizes), bool)
        has_strong[labels[strong]] = True
        has_strong[0] = False
        return pieces(labels, len(sizes) - 1, index, grid, has_strong)

    hysteresis = flagged_objects(per_chunk(every_chunk, weak_pieces), grid, 2)
    edge_maps = StoredChunks(workdir, chunks, np.uint8)
    fill = chunked_op("refine.fill_holes", {"max_hole_size": None}, x.ndim)

    # Labels are stored and read back in a later pass: labelling again costs 3-4x.
    hole_labels, filled_labels = StoredLabels(workdir, chunks), StoredLabels(workdir, chunks)

    def holes(_: np.ndarray, index: tuple[int, ...]) -> Any:
        weak = (candidates.load(index) > 0).view(np.uint8)
        edge_map = components.look_up(hysteresis[index], components.compact_labels(weak, 2))
        edge_maps.save(index, edge_map)
        labels, sizes = fill.label(edge_map)
        hole_labels.save(index, labels)
        return fill.summarise_labelled(labels, sizes, index, grid)

    filling = fill.resolve(per_chunk(every_chunk, holes), grid)

    def enclosing_pieces(_: np.ndarray, index: tuple[int, ...]) -> Any:
        edge_map = edge_maps.load(index)
        full_map = fill.apply_labelled(hole_labels.load(index), filling.part(index))
        labels, sizes = components.labelled_sizes(full_map, 2)
        filled_labels.save(index, labels)
        encloses = np.zeros(len(sizes), bool)
        encloses[labels[full_map > edge_map]] = True
        return pieces(labels, len(sizes) - 1, index, grid, encloses)

    regions = flagged_objects(per_chunk(every_chunk, enclosing_pieces), grid, 2)

    @one_thread_each
    def chunk(block_id: tuple[int, ...]) -> np.ndarray:
        index = tuple(block_id)
        return components.look_up(regions[index], filled_labels.load(index))

    return da.map_blocks(chunk, chunks=chunks, dtype=np.uint8, meta=_meta(np.uint8, x.ndim))
