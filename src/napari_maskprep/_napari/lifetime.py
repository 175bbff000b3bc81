"""When a dock widget stops following the viewer (Qt only).

napari's close button only unparents a plugin's widget (``remove_dock_widget``): it lives
on, unseen, and Qt deletes it only with the viewer, so a widget that waited for its
``destroyed`` signal went on recording Applies, previewing and picking layers after its
dock was closed. :class:`Lifetime` calls back once, at the first of: the widget leaves
its parent (the dock), is closed (``close()`` in code, magicgui's or Qt's) or deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QEvent, QObject

__all__ = ["Lifetime", "drop_results"]


class _EndEvents(QObject):
    """Calls back when the watched widget is closed or left without a parent."""

    def __init__(self, watched: Any, on_end: Callable[[], None]) -> None:
        super().__init__(watched)
        self._on_end = on_end
        watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind == QEvent.Type.Close or (kind == QEvent.Type.ParentChange
                                         and watched.parent() is None):
            self._on_end()
        return False


class Lifetime:
    """Runs ``on_end()`` once, when ``widget`` leaves its dock, is closed or is deleted.

    ``widget`` is a QWidget or a magicgui widget (its native one is watched). Given the
    ``viewer``, a magicgui widget's choices stop following the layer list at the end too:
    napari keeps those of a docked one in step and never lets go. A panel holding other
    widgets ends theirs from its own ``on_end``: they stay in it when its dock is closed
    (:meth:`end` runs once, however often it is called).
    """

    def __init__(self, widget: Any, on_end: Callable[[], None], *, viewer: Any = None
                 ) -> None:
        self.ended = False
        self._on_end = on_end
        self._choices = (viewer, widget.reset_choices) if viewer is not None else None
        native = getattr(widget, "native", widget)
        self._events = _EndEvents(native, self.end)
        native.destroyed.connect(self.end)

    def end(self, *_: Any) -> None:
        if self.ended:
            return
        self.ended = True
        if self._choices is not None:
            viewer, reset_choices = self._choices
            events = viewer.layers.events
            for event in (events.inserted, events.removed, events.reordered, events.renamed):
                event.disconnect(reset_choices)  # nothing if it was never docked
        self._on_end()


def drop_results(*workers: Any) -> None:
    """Let workers still running finish unheard: their slots would write into the viewer
    for a widget that is gone, or touch its deleted Qt widgets. None entries are skipped."""
    for worker in workers:
        if worker is None:
            continue
        for signal in (worker.returned, worker.errored, worker.warned, worker.finished):
            with contextlib.suppress(TypeError, RuntimeError):  # none connected
                signal.disconnect()
