"""Where paint strokes changed a Labels layer, from napari's paint events (no Qt).

A ``paint`` event carries the history atoms of one stroke: a box of slices with a mask
(brush, fill, polygon) or index arrays (``data_setitem``). Their union bounds every pixel
the stroke changed, so hand edits are diffed inside it instead of over the whole image.
Any other data change (``layer.data = ...``) counts as changing the whole layer.

napari's undo and redo send no paint event, only a redraw (``set_data``, sent for each
slice shown too): :class:`StrokeHistory` keeps one pixel each announced stroke changed and
the value it wrote there, so a redraw is told to be an undo or a redo by reading a pixel
or two, never by comparing the layer.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Box", "ChangedBoxes", "StrokeHistory", "atoms_box", "union"]

Box = tuple[slice, ...]
UNDO_DEPTH = 100  # the strokes napari's Labels can undo


def union(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box holding both; None (the whole layer) if either is."""
    if a is None or b is None:
        return None
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b,
                                                                                strict=True))


def _atom_box(where: Any, shape: Sequence[int]) -> Box | None:
    if len(where) != len(shape):
        return None
    if all(isinstance(s, slice) for s in where):
        spans = [s.indices(n) for s, n in zip(where, shape, strict=True)]
        return None if any(step != 1 for *_, step in spans) else tuple(
            slice(start, stop) for start, stop, _ in spans)
    arrays = [np.asarray(a) for a in where]
    if any(a.size == 0 or a.dtype.kind not in "iu" for a in arrays):
        return None
    return tuple(slice(int(a.min()), int(a.max()) + 1) for a in arrays)


def atoms_box(atoms: Any, shape: Sequence[int]) -> Box | None:
    """The box of the pixels a paint event's history atoms changed; None when it cannot
    be told (then the whole layer is compared)."""
    box: Box | None = None
    try:
        for atom in atoms:
            part = _atom_box(atom[0], shape)
            if part is None:
                return None
            box = part if box is None else union(box, part)
    except (TypeError, IndexError):
        return None
    return box


class ChangedBoxes:
    """The box each painted layer changed in since it was last taken."""

    def __init__(self) -> None:
        self._boxes: dict[int, tuple[weakref.ref[Any], Box | None]] = {}

    def add(self, layer: Any, event: Any) -> None:
        """Grow ``layer``'s box by what ``event`` changed (a paint event's atoms)."""
        atoms = event.value if getattr(event, "type", "") == "paint" else None
        self.grow(layer, None if atoms is None else atoms_box(atoms, np.shape(layer.data)))

    def grow(self, layer: Any, box: Box | None) -> None:
        """Grow ``layer``'s box by ``box`` (None: the whole layer)."""
        known = self._boxes.get(id(layer))
        if known is not None and known[0]() is layer:
            box = union(known[1], box)
        self._boxes[id(layer)] = (weakref.ref(layer), box)

    def take(self, layer: Any) -> Box | None:
        """``layer``'s box, forgotten; None means anywhere (a change not from a stroke)."""
        known = self._boxes.pop(id(layer), None)
        if known is None or known[0]() is not layer:
            return None
        return known[1]


@dataclass
class _Stroke:
    pixel: tuple[int, ...]  # one pixel the stroke changed
    value: Any  # what it wrote there
    box: Box | None


def _changed_pixel(atom: Any) -> tuple[tuple[int, ...], Any] | None:
    """A pixel a history atom changed and the value it wrote there: a box, its mask and
    a label (brush, fill), or index arrays, the values before and after (data_setitem)."""
    if len(atom) == 4:
        where, mask, _, value = atom
        starts = tuple(s.start or 0 for s in where)
        if mask is None:
            return starts, value
        inside = np.flatnonzero(mask)
        offset = np.unravel_index(inside[0], mask.shape) if inside.size else None
        return None if offset is None else (
            tuple(int(a + b) for a, b in zip(starts, offset, strict=True)), value)
    where, before, after = atom
    arrays = np.broadcast_arrays(*(np.asarray(a) for a in where))
    after = np.broadcast_to(after, np.shape(before))
    changed = np.flatnonzero(np.asarray(before) != after)
    if not changed.size or arrays[0].shape != np.shape(before):
        return None
    k = int(changed[0])
    return tuple(int(a.ravel()[k]) for a in arrays), after.ravel()[k]


class StrokeHistory:
    """The strokes of each layer napari can undo and redo, as its paint events announced
    them; :meth:`moved` says which an undo or a redo took back or put again."""

    def __init__(self) -> None:
        self._layers: dict[int, tuple[weakref.ref[Any], deque[_Stroke], list[_Stroke]]] = {}

    def _stacks(self, layer: Any) -> tuple[deque[_Stroke], list[_Stroke]]:
        known = self._layers.get(id(layer))
        if known is None or known[0]() is not layer:
            known = (weakref.ref(layer), deque(maxlen=UNDO_DEPTH), [])
            self._layers[id(layer)] = known
        return known[1], known[2]

    def painted(self, layer: Any, atoms: Any) -> None:
        """A stroke (a paint event's atoms): on top of the undo stack, the redo stack gone."""
        done, undone = self._stacks(layer)
        undone.clear()
        try:
            found = next((p for atom in reversed(atoms) if (p := _changed_pixel(atom))), None)
        except (TypeError, ValueError, IndexError):
            found = None
        if found is not None:  # a stroke that changed nothing is not told by its pixels
            done.append(_Stroke(*found, atoms_box(atoms, np.shape(layer.data))))

    def forget(self, layer: Any) -> None:
        """The layer's data was replaced: the strokes' pixels say nothing any more."""
        self._layers.pop(id(layer), None)

    def moved(self, layer: Any) -> list[Box | None]:
        """The boxes of the strokes undone or redone since the last call (a pixel read
        each; a layer that is not a NumPy array is not read)."""
        data = layer.data
        if id(layer) not in self._layers or not isinstance(data, np.ndarray):
            return []
        done, undone = self._stacks(layer)
        boxes = []
        while done and data[done[-1].pixel] != done[-1].value:
            undone.append(done.pop())
            boxes.append(undone[-1].box)
        while undone and data[undone[-1].pixel] == undone[-1].value:
            done.append(undone.pop())
            boxes.append(done[-1].box)
        return boxes

