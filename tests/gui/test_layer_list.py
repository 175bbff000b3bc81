"""Layer pickers of the Recorder, Train and Edit region widgets follow renamed layers."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_maskprep._napari.recorder import RecorderWidget
from napari_maskprep._napari.region_widget import RegionEditWidget
from napari_maskprep._napari.training import TrainWidget

from .test_regions import store_layer


def shown(box) -> list[str]:
    return [box.native.itemText(i) for i in range(box.native.count())]


@pytest.mark.parametrize(("make", "boxes"), [
    (RecorderWidget, {"target_box": ["cells"], "fit_mask_box": ["truth"]}),
    (TrainWidget, {"image_box": ["cells"], "scribble_box": ["-----", "truth"]}),
])
def test_pickers_show_a_renamed_layer_by_its_new_name(qtbot, make, boxes):
    viewer = ViewerModel()
    image = viewer.add_image(np.arange(64, dtype=np.uint8).reshape(8, 8), name="nuclei")
    truth = viewer.add_labels(np.zeros((8, 8), np.uint8), name="nuclei-ground truth")
    widget = make(viewer)
    qtbot.addWidget(widget.native)
    image.name, truth.name = "cells", "truth"
    assert {name: shown(getattr(widget, name)) for name in boxes} == boxes
    added = viewer.add_image(np.zeros((8, 8), np.uint8), name="later")
    added.name = "renamed later"
    first = next(iter(boxes))
    assert shown(getattr(widget, first)) == ["cells", "renamed later"]
    assert getattr(widget, first).value is image


def test_the_edit_region_picker_shows_a_renamed_layer_by_its_new_name(qtbot, tmp_path):
    viewer = ViewerModel()
    widget = RegionEditWidget(viewer)
    qtbot.addWidget(widget.native)
    layer, _ = store_layer(viewer, tmp_path)
    layer.name = "mask of slide 3"
    assert shown(widget.layer_box) == ["mask of slide 3"] and widget.layer_box.value is layer


def test_a_stage_preview_is_no_mask_to_fit_to(qtbot):
    from napari_maskprep._napari.widgets import SegmentWidget

    viewer = ViewerModel()
    image = viewer.add_image(np.arange(64, dtype=np.uint8).reshape(8, 8), name="nuclei")
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="corrected")
    recorder, segment = RecorderWidget(viewer), SegmentWidget(viewer)
    qtbot.addWidget(recorder.native)
    qtbot.addWidget(segment.native)
    segment.select("segment.auto_threshold", image)
    segment.preview_box.value = True
    qtbot.waitUntil(lambda: segment.model.preview_layer is not None, timeout=20000)
    qtbot.waitUntil(lambda: not segment.previewing, timeout=20000)
    assert "nuclei-auto_threshold [preview]" in viewer.layers
    assert shown(recorder.fit_mask_box) == ["corrected"]
