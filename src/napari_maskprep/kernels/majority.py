"""Majority vote (a binary median filter) in a disk or ball, by sums of boxes.

Reference: ``skimage.filters.median(mask, footprint=disk(radius))`` (``ball`` in 3D) on a
uint8 0/1 mask, ``mode='nearest'``: a pixel becomes foreground where more than half of the
footprint around it is (the footprint holds an odd number of pixels: no ties). The count in
the disk is a signed sum of a few ``cv2.boxFilter`` boxes, exact in integers; in 3D each
z-slice of the ball counts every plane, and the planes' counts are added along z. On int32
labels each label votes as its own mask; at most one label can hold a majority at a pixel,
so labels never merge, and a pixel no label holds a majority of becomes background. Compact
labels vote one by one in their boxes; else labels whose windows never meet vote together,
one mask a colour (``_Colours``), and a label too sparse to hold a majority anywhere not at
all: 2000 ids spread over 1024 x 1024 took 39-140 s at radius 10, now 0.2-2 s
(``benchmarks/smooth_labels.py``).
Tested on its own in ``tests/kernels/test_majority.py``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse import csgraph

from .components import dense_ids
from .morphology import footprint, z_slices

__all__ = ["majority"]


Boxes = list[tuple[int, int, int]]

# Labels are grouped in blocks at least this wide (_Colours): at a small radius, blocks of
# radius + 1 pixels made the sorting of (block, label) pairs cost more than the counting.
_MIN_SIDE = 8

# Labels are voted one by one while their widened boxes cover the image at most this many
# times; above it, a colour of labels at a time where that counts fewer pixels
# (benchmarks/smooth_labels.py).
_PER_LABEL_COVER = 4

# What one call to count a mask costs, in the pixels it counts for the same time: a colour
# whose pieces lie far apart is counted piece by piece where their boxes and calls cost less.
_CALL_PIXELS = 12_000


def majority(a: np.ndarray, radius: int) -> np.ndarray:
    """A uint8 0/1 mask (or int32 labels, label by label) voted by the majority of the disk
    (ball in 3D) of ``radius`` around each pixel; past the border the edge pixels repeat."""
    fp = footprint("disk", radius, a.ndim)
    # The footprint as boxes, once: on labels it counts every label's box (a third of the
    # time of 3 000 labels went to working the boxes out again).
    votes = (_boxes(fp) if a.ndim == 2 else
             [(_boxes(plane), offsets) for plane, offsets in z_slices(fp)])
    half = np.count_nonzero(fp) // 2
    if a.dtype == np.uint8:
        return _majority_mask(a, votes, half)
    return _majority_labels(a, votes, half, radius)


def _majority_mask(mask: np.ndarray, votes: Any, half: int) -> np.ndarray:
    """1 where more than ``half`` of the footprint (as :func:`majority` gives it in
    ``votes``) around a pixel is foreground."""
    return (_counts(mask, votes) > half).view(np.uint8)


def _counts(mask: np.ndarray, votes: Any) -> np.ndarray:
    """Foreground pixels of a uint8 0/1 mask in the footprint (``votes``) around each pixel."""
    if mask.ndim == 2:
        return _count_2d(mask, votes)
    depth = mask.shape[0]
    counts = np.zeros(mask.shape, np.int32)
    for boxes, offsets in votes:
        plane_counts = np.stack([_count_2d(m, boxes) for m in mask])
        for dz in offsets:  # past the ends the end planes repeat, as mode='nearest'
            counts += plane_counts[np.clip(np.arange(depth) + dz, 0, depth - 1)]
    return counts


def _majority_labels(labels: np.ndarray, votes: Any, half: int, radius: int) -> np.ndarray:
    """Per-label majority filter: at most one label holds a majority, so none merge.

    Label by label in its box where the boxes, widened by the radius, cover the image at
    most ``_PER_LABEL_COVER`` times (compact labels, small radius), or where that counts
    fewer pixels than a colour of labels at a time (:class:`_Colours`), whose work grows
    with the colours (a few), not with the labels: spread or scattered labels, a large
    radius, stacks. Each call to count a mask weighs as ``_CALL_PIXELS`` pixels.
    """
    dense, ids = dense_ids(labels)
    boxes = _widened_boxes(dense, radius)
    work = sum(math.prod(s.stop - s.start for s in box) for _, box in boxes)
    out = None
    if work > _PER_LABEL_COVER * dense.size:
        colours = _Colours(dense, half, radius)
        groups, by_colours = _groups(colours)
        if by_colours < work + _CALL_PIXELS * len(boxes):
            out = _vote_groups(dense, colours, groups, votes, half)
    if out is None:
        out = _per_label(dense, boxes, votes, half)
    return out if ids is None else ids[out]


def _widened_boxes(dense: np.ndarray, radius: int) -> list[tuple[int, tuple[slice, ...]]]:
    """Each label's box widened by ``radius`` (clipped to the image), with the label."""
    return [(index, tuple(slice(max(s.start - radius, 0), min(s.stop + radius, n))
                          for s, n in zip(box, dense.shape, strict=True)))
            for index, box in enumerate(ndi.find_objects(dense), start=1) if box is not None]


def _per_label(dense: np.ndarray, boxes: list[tuple[int, tuple[slice, ...]]], votes: Any,
               half: int) -> np.ndarray:
    """Each label voted as its own mask in its widened box: outside it the label is absent,
    so the replicated edge is 0 there and the true border elsewhere."""
    out = np.zeros_like(dense)
    for index, box in boxes:
        keep = _majority_mask((dense[box] == index).view(np.uint8), votes, half).view(bool)
        out[box][keep] = index
    return out


def _by_colours(dense: np.ndarray, votes: Any, half: int, radius: int) -> np.ndarray:
    """Every label voted a colour of :class:`_Colours` at a time."""
    colours = _Colours(dense, half, radius)
    return _vote_groups(dense, colours, _groups(colours)[0], votes, half)


def _groups(colours: _Colours) -> tuple[list[np.ndarray], int]:
    """The pieces counted together: each colour over its box, or piece by piece over each
    piece's box where those cover fewer pixels; and the pixels counted, calls included."""
    areas = colours.areas()
    groups, work = [], 0
    for colour in range(colours.count):
        pieces = np.flatnonzero(colours.colour == colour)
        whole = colours.area(pieces) + _CALL_PIXELS
        apart = int(areas[pieces].sum()) + _CALL_PIXELS * pieces.size
        groups += [pieces[i:i + 1] for i in range(pieces.size)] if apart < whole else [pieces]
        work += min(apart, whole)
    return groups, work


def _vote_groups(dense: np.ndarray, colours: _Colours, groups: list[np.ndarray], votes: Any,
                 half: int) -> np.ndarray:
    """Each group of pieces voted as one mask over its box (:meth:`_Colours.voters`)."""
    out = np.zeros_like(dense)
    for group in groups:
        box, voters, owner = colours.voters(group)
        won = (_counts(voters, votes) > half) & (owner > 0)
        out[box][won] = owner[won]
    return out


class _Colours:
    """Labels, piece by piece, grouped into colours, each colour's pixels counted as one mask.

    The image is cut into blocks of at least ``radius + 1`` pixels a side: the footprint
    around a pixel (its edge pixels repeated past the border) reads only the 3 x 3 (x 3)
    blocks around the pixel's block. A label can hold a majority in a block only where its
    pixels in those blocks, each weighted by how often one footprint can read it (edge
    pixels repeat), are more than ``half``: these are the label's *decided* blocks, and the
    blocks around them its *read* blocks. A label's read blocks that touch are one *piece*
    (an id used by objects far apart has a piece for each). Pieces whose read blocks meet
    get different colours, and a colour's mask holds its pieces' pixels in their read blocks
    only, so in a piece's decided blocks its colour counts the piece's label alone. A label
    decided nowhere (most of them at a large radius) is never counted.
    """

    def __init__(self, dense: np.ndarray, half: int, radius: int) -> None:
        self.side = side = max(radius + 1, _MIN_SIDE)
        self.grid = tuple(-(-n // side) for n in dense.shape)
        self.blocks = np.ravel_multi_index(
            np.meshgrid(*(np.arange(n) // side for n in dense.shape), indexing="ij"),
            self.grid).astype(np.int32)
        self.top = int(dense.max()) + 1
        keys = self.blocks.astype(np.int64) * self.top + dense
        held = dense > 0
        weights = _repeats(dense.shape, radius)
        near, totals = _sparse_sum(*self._around(*_sparse_sum(keys[held], weights[held])))
        self.decided = near[totals > half]
        self.read, _ = _sparse_sum(*self._around(self.decided,
                                                 np.ones(self.decided.size, np.int64)))
        self.piece = self._pieces()  # of each read (block, label)
        self.colour = _greedy_colours(self.read // self.top, self.piece)  # of each piece
        self.count = int(self.colour.max(initial=-1)) + 1
        self.pixels = np.full(dense.shape, -1, np.int32)  # the piece each pixel votes for
        if self.read.size:
            found = np.searchsorted(self.read, keys).clip(max=self.read.size - 1)
            in_read = self.read[found] == keys
            self.pixels[in_read] = self.piece[found[in_read]]
        self.decided_piece = self.piece[np.searchsorted(self.read, self.decided)]

    def _around(self, keys: np.ndarray, weights: np.ndarray, shifts: Any = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Every (block, label) key moved to each block around its own (itself included,
        none past the grid), with its weight."""
        coords = np.unravel_index(keys // self.top, self.grid)
        labels = keys % self.top
        moved_keys, moved_weights = [], []
        for shift in shifts or itertools.product((-1, 0, 1), repeat=len(self.grid)):
            moved = [c + s for c, s in zip(coords, shift, strict=True)]
            inside = np.logical_and.reduce(
                [(m >= 0) & (m < n) for m, n in zip(moved, self.grid, strict=True)])
            block = np.ravel_multi_index([m[inside] for m in moved], self.grid)
            moved_keys.append(block.astype(np.int64) * self.top + labels[inside])
            moved_weights.append(weights[inside])
        return np.concatenate(moved_keys), np.concatenate(moved_weights)

    def _pieces(self) -> np.ndarray:
        """The piece of each read (block, label): its label's read blocks that touch."""
        edges = [np.empty(0, np.int64)] * 2
        for shift in itertools.product((-1, 0, 1), repeat=len(self.grid)):
            indices = np.arange(self.read.size)
            moved, kept = self._around(self.read, indices, [shift])
            found = np.searchsorted(self.read, moved).clip(max=max(self.read.size - 1, 0))
            same = self.read[found] == moved if moved.size else moved.astype(bool)
            edges = [np.concatenate([edges[0], kept[same]]),
                     np.concatenate([edges[1], found[same]])]
        graph = sparse.coo_matrix((np.ones(edges[0].size, np.int8), edges),
                                  shape=(self.read.size,) * 2)
        return csgraph.connected_components(graph, directed=False)[1]

    def areas(self) -> np.ndarray:
        """The pixels of each piece's box (:meth:`voters`)."""
        coords = np.unravel_index(self.read // self.top, self.grid)
        areas = np.ones(self.colour.size, np.int64)
        for c in coords:
            low = np.full(self.colour.size, np.iinfo(np.int64).max)
            high = np.zeros(self.colour.size, np.int64)
            np.minimum.at(low, self.piece, c)
            np.maximum.at(high, self.piece, c)
            areas *= (high - low + 1) * self.side
        return areas

    def area(self, pieces: np.ndarray) -> int:
        """The pixels of the box of ``pieces`` together (:meth:`voters`)."""
        return math.prod(s.stop - s.start for s in self._box(np.isin(self.piece, pieces)))

    def _box(self, read: np.ndarray) -> tuple[slice, ...]:
        coords = np.unravel_index(self.read[read] // self.top, self.grid)
        return tuple(slice(int(c.min()) * self.side, (int(c.max()) + 1) * self.side)
                     for c in coords)

    def voters(self, pieces: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
        """The box of the read blocks of ``pieces`` (a footprint in one of their decided
        blocks reads in it, or past the image's border), the uint8 mask of their pixels in
        it, and the label each of its pixels' block is decided for (0: none; a block is
        decided for at most one piece of a colour)."""
        chosen = np.zeros(self.colour.size + 1, bool)
        chosen[pieces + 1] = True
        box = self._box(chosen[self.piece + 1])
        decided = self.decided[chosen[self.decided_piece + 1]]
        blocks = np.zeros(math.prod(self.grid), np.int32)
        blocks[decided // self.top] = decided % self.top
        return box, chosen[self.pixels[box] + 1].view(np.uint8), blocks[self.blocks[box]]


def _repeats(shape: tuple[int, ...], radius: int) -> np.ndarray:
    """How often one footprint around some pixel can read each pixel (int64): once, but
    ``radius + 1`` times along an axis where the pixel is at an end (edge pixels repeat past
    the border), ``2 * radius + 1`` along an axis one pixel long."""
    weights = np.ones((), np.int64)
    for n in shape:
        along = np.ones(n, np.int64)
        along[[0, -1]] = radius + 1 if n > 1 else 2 * radius + 1
        weights = np.multiply.outer(weights, along)
    return weights


def _sparse_sum(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, sorted, and the sum of the weights of each."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    return keys[starts], np.add.reduceat(weights[order], starts) if keys.size else weights


def _greedy_colours(blocks: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """A colour for each piece such that the pieces listed in one block differ, given
    (block, piece) pairs sorted by block."""
    top = int(pieces.max(initial=-1)) + 1
    pairs = [np.empty(0, np.int64)]
    for step in range(1, pieces.size):
        same = blocks[step:] == blocks[:-step]
        if not same.any():
            break
        pairs.append(pieces[:-step][same].astype(np.int64) * top + pieces[step:][same])
    pairs = np.unique(np.concatenate(pairs))
    neighbours: list[list[int]] = [[] for _ in range(top)]
    for a, b in zip((pairs // top).tolist(), (pairs % top).tolist(), strict=True):
        neighbours[a].append(b)
        neighbours[b].append(a)
    colour = np.full(top, -1, np.int64)
    for piece in sorted(range(top), key=lambda p: -len(neighbours[p])):
        taken = {int(colour[other]) for other in neighbours[piece]}
        colour[piece] = next(c for c in itertools.count() if c not in taken)
    return colour


def _boxes(plane: np.ndarray) -> Boxes:
    """A centred, row-convex 2D footprint as a signed sum of centred boxes.

    Returns (sign, half height, half width) triples: the footprint is the union of a
    staircase of boxes, and adding each box after the first while taking away its overlap
    with the one before counts every footprint pixel once. In this order no partial sum
    exceeds twice the footprint's pixel count.
    """
    radius = plane.shape[0] // 2
    half_widths = [(int(row.sum()) - 1) // 2 for row in plane[radius:]] + [-1]
    corners = [(dy, half_widths[dy]) for dy in range(radius + 1)
               if half_widths[dy] > half_widths[dy + 1]]
    boxes = [(1, *corners[0])]
    for (a_before, _), (a, b) in zip(corners, corners[1:], strict=False):
        boxes += [(1, a, b), (-1, a_before, b)]
    return boxes


def _count_2d(mask: np.ndarray, boxes: Boxes) -> np.ndarray:
    """Number of foreground pixels in the 2D footprint of these :func:`_boxes` around each
    pixel (int16, the footprint has at most 7845 pixels); outside the array the border
    pixels repeat (``mode='nearest'``)."""
    (_, a, b), *rest = boxes
    total = cv2.boxFilter(mask, cv2.CV_16S, (2 * b + 1, 2 * a + 1), normalize=False,
                          borderType=cv2.BORDER_REPLICATE)
    box = np.empty_like(total)
    for sign, a, b in rest:
        cv2.boxFilter(mask, cv2.CV_16S, (2 * b + 1, 2 * a + 1), dst=box, normalize=False,
                      borderType=cv2.BORDER_REPLICATE)
        (cv2.add if sign > 0 else cv2.subtract)(total, box, dst=total)
    return total
