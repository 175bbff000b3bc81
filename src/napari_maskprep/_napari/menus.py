"""Layers › Filter / Segment menu commands: one per op, resolved from the registry.

A menu item opens (or raises) its stage's dock widget, or its tab of a docked Mask Prep
panel, preset to the op and the active layer, and applies the op with its default
parameters: the result appears at once, as with napari's own filters, and the widget is
there to tune and apply again (which updates the same output layer).

The manifest names each command ``<stage>_<op name>`` in this module; the module-level
``__getattr__`` turns such a name into the command, so no op has code of its own here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error
from napari.viewer import Viewer

from ..core.registry import UnknownOpError, get_op
from .panel import docked_panel

if TYPE_CHECKING:
    from superqt.utils import WorkerBase

    from .widgets import StageWidget

__all__ = ["open_stage_widget", "run_from_menu"]

PLUGIN = "napari-maskprep"
WIDGET_NAMES = {"preprocess": "Preprocess", "segment": "Segment", "refine": "Refine"}


def open_stage_widget(viewer: Viewer, stage: str) -> StageWidget:
    """The stage's tab of a docked Mask Prep panel, shown; without a panel, the stage's
    dock widget, docked if it was not (napari keeps one per viewer)."""
    panel = docked_panel(viewer)
    if panel is not None:
        return panel.show_stage(stage)
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET_NAMES[stage])
    dock.show()
    dock.raise_()
    return widget


def run_from_menu(viewer: Viewer, op_id: str) -> WorkerBase | None:
    """Preset the stage widget to ``op_id`` with default parameters on the active layer,
    then Apply; errors (wrong layer type, missing seeds) become notifications."""
    widget = open_stage_widget(viewer, get_op(op_id).stage)
    try:
        widget.select(op_id, viewer.layers.selection.active, defaults=True)
    except ValueError as exc:
        show_error(str(exc))
        return None
    return widget.apply()


def _menu_command(op_id: str) -> Callable[[Viewer], WorkerBase | None]:
    def command(viewer: Viewer) -> WorkerBase | None:
        return run_from_menu(viewer, op_id)

    command.__name__ = command.__qualname__ = op_id.replace(".", "_")
    command.__doc__ = f"Apply {op_id} with its default parameters to the active layer."
    return command


def __getattr__(name: str) -> Callable[[Viewer], WorkerBase | None]:
    stage, _, op_name = name.partition("_")
    if stage in WIDGET_NAMES and op_name:
        try:
            spec = get_op(f"{stage}.{op_name}")
        except UnknownOpError:
            pass
        else:
            return _menu_command(spec.id)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
