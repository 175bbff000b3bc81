"""Display options of a stage widget's outputs: thin Qt views over :class:`StageModel`."""

from __future__ import annotations

from magicgui.widgets import CheckBox

from .stage import StageModel

__all__ = ["object_table_box", "outline_box"]


def outline_box(model: StageModel) -> CheckBox:
    """Masks and labels as outlines (napari's ``contour``) or filled, for the stage's
    outputs and preview, those written already included."""
    box = CheckBox(text="outlines", value=model.outline,
                   tooltip="draw masks and labels as outlines instead of filled")
    box.changed.connect(model.set_outline)
    return box


def object_table_box(model: StageModel) -> CheckBox:
    """Labels outputs with a row per object in napari's ``features`` (label, area,
    centroid, mean intensity of the input image; sizes in µm with a scale): shown on
    hover, kept with the layer."""
    box = CheckBox(text="object table", value=model.object_table,
                   tooltip="labels outputs get a table: label, area, centroid (in µm² and "
                   "µm when the layer has a scale), mean intensity (shown for the label "
                   "under the cursor)")
    box.changed.connect(lambda on: setattr(model, "object_table", on))
    return box
