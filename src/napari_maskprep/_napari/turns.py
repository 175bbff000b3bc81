"""A new layer put into a napari window over several event-loop turns (Qt).

napari 0.9 adds a 16 MP Labels layer in one call that holds the event loop 120-150 ms on
two cores: its vispy visual (~10 ms), its layer controls (~13 ms), the dims and the layer
list (~15 ms) and making it the active layer (~20 ms: the layer list's and the controls'
selection; napari has no public way to insert without it) come with the insert, but also
the visuals of the polygon and brush tools' overlays (~25 ms, made though neither tool is
in use) and the first draw of its data (~45 ms with a software renderer: the texture is
allocated and uploaded). So the layer goes in hidden and its tool overlays hidden (napari
makes an overlay's visual once it is visible); showing it, then each overlay, are turns of
their own, the window repainting and taking clicks between them. A viewer model without a
window gets the layer in one go.

The first Labels layer of a session costs another ~250 ms once (napari imports pandas for
its features and builds its label colours): :func:`warm_up`, when a stage widget is made,
pays that off the path of the first preview.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from napari.layers import Labels, Layer
from qtpy.QtCore import QTimer

__all__ = ["can_insert_in_turns", "insert_in_turns", "is_settling", "warm_up"]

#: A Labels layer's overlays that draw only while painting (napari's keys).
TOOL_OVERLAYS = ("polygon", "brush_stroke")
#: A 0 ms timer runs as a posted event, before the repaint it should let through.
TURN_MS = 1

#: Layers inserted here with turns still due.
_settling: weakref.WeakSet[Layer] = weakref.WeakSet()


@cache
def warm_up() -> None:
    """Make (and drop) a tiny Labels layer, never added anywhere: napari's one-time costs
    of a first one, once a session."""
    Labels(np.zeros((1, 1), np.uint8))


def can_insert_in_turns(viewer: Any) -> bool:
    """Whether ``viewer`` draws in a window (a viewer model draws nothing)."""
    return getattr(viewer, "window", None) is not None


def insert_in_turns(viewer: Any, at: int, layer: Layer) -> None:
    """Insert ``layer`` (one napari has not drawn yet) at ``at`` in ``viewer``'s layer
    list now, as napari inserts; show it and its tool overlays in the turns after. Steps
    still due when the layer is removed are dropped, but its overlays are shown again."""
    layers = viewer.layers
    shown = layer.visible
    # napari's private overlays of the layer made here (no public way to reach them);
    # renamed or gone in another napari version, none is deferred and nothing breaks.
    overlays = [o for key in TOOL_OVERLAYS
                if (o := getattr(layer, "_overlays", {}).get(key)) is not None and o.visible]
    for overlay in overlays:
        overlay.visible = False
    layer.visible = False
    layers.insert(at, layer)
    steps: list[Callable[[], None]] = []
    if shown:
        steps.append(lambda: _show(layer))
    steps += [lambda o=o: setattr(o, "visible", True) for o in overlays]

    def next_step() -> None:
        if layer not in layers:
            for overlay in overlays:
                overlay.visible = True
            steps.clear()
        else:
            steps.pop(0)()
        if steps:
            QTimer.singleShot(TURN_MS, next_step)
        else:
            _settling.discard(layer)

    if steps:
        _settling.add(layer)
        QTimer.singleShot(TURN_MS, next_step)


def _show(layer: Layer) -> None:
    if not layer.visible:  # the setter draws the layer again even when it is shown already
        layer.visible = True


def is_settling(layer: Layer | None) -> bool:
    """Whether ``layer`` went in through :func:`insert_in_turns` with turns still due."""
    return layer is not None and layer in _settling
