"""Display options of a stage widget's outputs: thin Qt views over :class:`StageModel`."""

from __future__ import annotations

from magicgui.widgets import CheckBox

from .stage import StageModel

__all__ = ["outline_box"]


def outline_box(model: StageModel) -> CheckBox:
    """Masks and labels as outlines (napari's ``contour``) or filled, for the stage's
    outputs and preview, those written already included."""
    box = CheckBox(text="outlines", value=model.outline,
                   tooltip="draw masks and labels as outlines instead of filled")
    box.changed.connect(model.set_outline)
    return box
