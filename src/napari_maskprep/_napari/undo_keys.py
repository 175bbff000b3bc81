"""napari's undo and redo keys on the Labels layers a recorder follows (no Qt).

napari's undo and redo (Ctrl+Z, Ctrl+Shift+Z) send no event, only a redraw, and a hidden
layer is not redrawn: a stroke taken back there stayed in the step list until the layer
was shown again or the recipe used, and an in-place Apply on the layer meanwhile was
recorded after the stroke, which its result no longer held. :class:`UndoKeys` binds both
keys on each layer followed, to napari's own undo or redo and then a call back with the
layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from app_model.types import KeyCode, KeyMod
from napari.layers import Labels

__all__ = ["UndoKeys"]

UNDO = KeyMod.CtrlCmd | KeyCode.KeyZ  # napari's own keys for Labels.undo and redo
REDO = KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ


class UndoKeys:
    """Calls ``after(layer)`` after each undo or redo key pressed on a layer followed."""

    def __init__(self, after: Callable[[Labels], None]) -> None:
        self._after = after
        self._bound: list[tuple[Labels, dict[Any, Any]]] = []  # each layer's own bindings

    def _key(self, method: str) -> Callable[[Labels], None]:
        def pressed(layer: Labels) -> None:
            getattr(layer, method)()
            self._after(layer)

        return pressed

    def follow(self, layers: Iterable[Labels]) -> None:
        """Bind the keys on ``layers`` alone; those followed before get their own back."""
        self.release()
        for layer in layers:
            self._bound.append((layer, {key: layer.bind_key(key, self._key(method),
                                                            overwrite=True)
                                        for key, method in ((UNDO, "undo"), (REDO, "redo"))}))

    def release(self) -> None:
        for layer, own in self._bound:
            for key, func in own.items():
                layer.bind_key(key, func, overwrite=True)  # None: napari's class binding
        self._bound = []
