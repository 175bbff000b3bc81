"""Where paint strokes changed a Labels layer, from napari's paint events (no Qt).

A ``paint`` event carries the history atoms of one stroke: a box of slices with a mask
(brush, fill, polygon) or index arrays (``data_setitem``). Their union bounds every pixel
the stroke changed, so hand edits are diffed inside it instead of over the whole image.
Any other data change (``layer.data = ...``) counts as changing the whole layer.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Box", "ChangedBoxes", "atoms_box", "union"]

Box = tuple[slice, ...]


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
        box = None if atoms is None else atoms_box(atoms, np.shape(layer.data))
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
