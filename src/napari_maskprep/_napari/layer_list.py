"""Keeping a widget's layer pickers in step with the viewer's layer list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["LayerListWatcher"]


class LayerListWatcher:
    """Calls ``callback(event)`` when a layer is added, removed, moved or renamed.

    napari's layer list tells of a rename only from 0.7 (its ``renamed`` event); before,
    only each layer's own ``name`` event does, so those are followed here.
    """

    def __init__(self, layers: Any, callback: Callable[[Any], None]) -> None:
        self._layers = layers
        self._callback = callback
        for event in self._list_events():
            event.connect(self._on_list_changed)
        for layer in layers:
            layer.events.name.connect(callback)

    def _list_events(self) -> tuple[Any, ...]:
        events = self._layers.events
        return events.inserted, events.removed, events.moved

    def _on_list_changed(self, event: Any) -> None:
        if event.type == "inserted":
            event.value.events.name.connect(self._callback)
        elif event.type == "removed":
            event.value.events.name.disconnect(self._callback)
        self._callback(event)

    def close(self) -> None:
        for event in self._list_events():
            event.disconnect(self._on_list_changed)
        for layer in self._layers:
            layer.events.name.disconnect(self._callback)
