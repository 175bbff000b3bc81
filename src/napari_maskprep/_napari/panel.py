"""The Mask Prep panel: the three stages and the recipe in one dock, as tabs (Qt only).

Each tab holds the same generic view the separate dock widgets are (:class:`StageWidget`,
:class:`RecorderWidget`), in a scroll area, so the dock asks no more height than a laptop
screen has beside napari's layer list and layer controls. Keyboard shortcuts act on the
stage tab shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QFrame, QScrollArea, QShortcut, QTabWidget, QVBoxLayout, QWidget

from . import recorder
from .fitting import ScrollingForm
from .lifetime import Lifetime
from .recorder import RecorderWidget
from .widgets import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["SHORTCUTS", "DockedRecorder", "MaskPrepPanel", "docked_panel", "open_recorder"]

STAGES = {"preprocess": "Preprocess", "segment": "Segment", "refine": "Refine"}
RECIPE_TAB = "Recipe"
#: What each key does on the stage tab shown (shown in the tabs' tooltips). Not Alt+P: napari
#: opens its Plugins menu with it.
SHORTCUTS = {"apply": "Ctrl+Return", "preview": "Alt+T", "next_op": "Alt+N"}


def _scrolling(content: QWidget) -> QScrollArea:
    """``content`` at the top of a vertical scroll area: the panel is as short as the dock
    allows, and a tall dock leaves the room below the controls instead of between them."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(content)
    layout.addStretch()
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(page)
    return area


class MaskPrepPanel(QWidget):
    """Preprocess, Segment, Refine and the recipe Recorder as tabs of one dock widget."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.stages = {stage: StageWidget(napari_viewer, stage) for stage in STAGES}
        self.recorder = RecorderWidget(napari_viewer)
        self.tabs = QTabWidget()
        keys = ", ".join(f"{key}: {action.replace('_', ' ')}" for action, key in SHORTCUTS.items())
        for stage, title in STAGES.items():
            self.tabs.addTab(_scrolling(self.stages[stage].native), title)
            self.tabs.setTabToolTip(self.tabs.count() - 1, f"{title} ({keys})")
        self.tabs.addTab(_scrolling(self.recorder.native), RECIPE_TAB)
        self.tabs.setTabToolTip(self.tabs.count() - 1, "the recorded recipe: edit, save, replay")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self._shortcuts = []
        for action, key in SHORTCUTS.items():
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)  # over the canvas too
            shortcut.activated.connect(getattr(self, action))
            self._shortcuts.append(shortcut)
        self.lifetime = Lifetime(self, self._on_end)

    def _on_end(self) -> None:
        """Its dock closed, the viewer closed or ``close()``: its tabs stay in it, unparented
        and unclosed, so they are ended here."""
        for widget in (*self.stages.values(), self.recorder):
            widget.lifetime.end()

    @property
    def current_stage(self) -> StageWidget | None:
        """The stage widget of the tab shown (None on the Recipe tab)."""
        index = self.tabs.currentIndex()
        stages = list(self.stages.values())
        return stages[index] if index < len(stages) else None

    def show_stage(self, stage: str) -> StageWidget:
        self.tabs.setCurrentIndex(list(STAGES).index(stage))
        return self.stages[stage]

    def show_recipe(self) -> RecorderWidget:
        self.tabs.setCurrentIndex(len(STAGES))
        return self.recorder

    def apply(self) -> None:
        """Apply the shown stage's op (the Apply button)."""
        if self.current_stage is not None:
            self.current_stage.apply()

    def preview(self) -> None:
        """Turn the shown stage's preview on or off."""
        if self.current_stage is not None:
            box = self.current_stage.preview_box
            box.value = not box.value

    def next_op(self) -> None:
        """Choose the shown stage's next op (after the last: the first)."""
        stage = self.current_stage
        if stage is not None:
            ops = [spec.id for spec in stage.model.ops]
            stage.op_box.value = ops[(ops.index(stage.model.op.id) + 1) % len(ops)]


class DockedRecorder(RecorderWidget, ScrollingForm):
    """The Recorder docked on its own, in a scroll area (the panel's Recipe tab is a
    plain :class:`RecorderWidget` in the tab's own)."""


def docked_panel(viewer: napari.Viewer) -> MaskPrepPanel | None:
    """The Mask Prep panel docked in the viewer's window, its dock shown and raised."""
    for docked in viewer.window.dock_widgets.values():
        if isinstance(docked, MaskPrepPanel):
            dock = docked.parent()  # napari's dock around it (its documented route)
            dock.show()
            dock.raise_()
            return docked
    return None


def open_recorder(viewer: napari.Viewer) -> RecorderWidget:
    """The Recipe tab of a docked Mask Prep panel, shown (a second recorder would record
    every Apply again); without a panel, the Recorder's own dock widget."""
    panel = docked_panel(viewer)
    if panel is not None:
        return panel.show_recipe()
    return recorder.open_recorder(viewer)
