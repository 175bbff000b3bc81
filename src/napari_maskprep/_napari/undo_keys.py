"""napari's undo and redo keys on the Labels layers a recorder follows (no Qt).

napari's undo and redo (Ctrl+Z, Ctrl+Shift+Z) send no event, only a redraw, and a hidden
layer is not redrawn: a stroke taken back there stayed in the step list until the layer
was shown again or the recipe used, and an in-place Apply on the layer meanwhile was
recorded after the stroke, which its result no longer held. :class:`UndoKeys` binds both
keys on each layer followed, to napari's own undo or redo and then a call back with the
layer.

A layer has one binding per key, shared by every recorder following it: a second
recorder's binding replaced the first's (which then missed the undo), and the first
letting go gave napari's keys back under the second. Layers are kept as themselves:
napari hands each plugin widget its own short-lived proxies of them, and an entry kept
under one went with it while another recorder still followed the layer.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from app_model.types import KeyCode, KeyMod
from napari.layers import Labels

from .layers import unwrapped

__all__ = ["UndoKeys"]

UNDO = KeyMod.CtrlCmd | KeyCode.KeyZ  # napari's own keys for Labels.undo and redo
REDO = KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ


class _Followed:
    """A layer's keys while followed: its own bindings, given back when the last of its
    followers lets go, and those followers, each called back after an undo or redo."""

    def __init__(self, layer: Labels) -> None:
        self.followers: list[UndoKeys] = []
        self.own: dict[Any, Any] = {key: layer.bind_key(key, _pressed(method), overwrite=True)
                                    for key, method in ((UNDO, "undo"), (REDO, "redo"))}


_FOLLOWED: weakref.WeakKeyDictionary[Labels, _Followed] = weakref.WeakKeyDictionary()


def _pressed(method: str) -> Callable[[Labels], None]:
    def pressed(layer: Labels) -> None:
        getattr(layer, method)()
        for follower in list(_FOLLOWED[unwrapped(layer)].followers):
            follower.after(layer)

    return pressed


class UndoKeys:
    """Calls ``after(layer)`` after each undo or redo key pressed on a layer followed."""

    def __init__(self, after: Callable[[Labels], None]) -> None:
        self.after = after
        self._layers: list[Labels] = []

    def follow(self, layers: Iterable[Labels]) -> None:
        """Follow the keys on ``layers`` alone; those followed before by no other recorder
        get their own back."""
        self.release()
        for layer in map(unwrapped, layers):
            if layer not in _FOLLOWED:
                _FOLLOWED[layer] = _Followed(layer)
            _FOLLOWED[layer].followers.append(self)
            self._layers.append(layer)

    def release(self) -> None:
        """Let go of the layers followed; again, or of a layer no longer followed, nothing
        (it runs in every Apply: a traceback here would come in each)."""
        layers, self._layers = self._layers, []
        for layer in layers:
            followed = _FOLLOWED.get(layer)
            if followed is None or self not in followed.followers:
                continue
            followed.followers.remove(self)
            if not followed.followers:
                del _FOLLOWED[layer]
                for key, func in followed.own.items():
                    layer.bind_key(key, func, overwrite=True)  # None: napari's class binding
