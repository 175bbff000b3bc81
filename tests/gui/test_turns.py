"""A stage's new layer goes into a napari window over several event-loop turns and ends up
as any output: in the list at once with its data, name, dtype and scale, active (a preview:
not); shown, its paint tools' overlays shown, a few turns later."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from napari.layers import Labels

import napari_maskprep as mp
from napari_maskprep._napari.applied import applied_steps
from napari_maskprep._napari.turns import TOOL_OVERLAYS, insert_in_turns
from napari_maskprep._napari.widgets import RefineWidget, SegmentWidget

TIMEOUT_MS = 20000


def _settled(layer: Labels) -> bool:
    return layer.visible and all(layer._overlays[key].visible for key in TOOL_OVERLAYS)


def _window_with_nuclei(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = (np.arange(60 * 80) % 251).reshape(60, 80).astype(np.uint16)
    viewer.add_image(image, name="nuclei", scale=(0.5, 0.25))
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    return viewer, widget, image


def test_an_applied_mask_is_written_at_once_then_shown_and_made_active(
        make_napari_viewer, qtbot):
    viewer, widget, image = _window_with_nuclei(make_napari_viewer, qtbot)
    job = widget.model.prepare_apply()
    output = widget.model.finish_apply(job, job.run()).output_layer
    assert output.name == "nuclei-auto_threshold" and output in viewer.layers
    np.testing.assert_array_equal(output.data, mp.apply("segment.auto_threshold", image))
    assert output.data.dtype == np.uint8 and tuple(output.scale) == (0.5, 0.25)
    assert list(viewer.layers.selection) == [output] and not output.visible  # shown later
    qtbot.waitUntil(lambda: _settled(output), timeout=TIMEOUT_MS)


def test_a_preview_is_shown_without_taking_the_active_layer(make_napari_viewer, qtbot):
    viewer, widget, image = _window_with_nuclei(make_napari_viewer, qtbot)
    widget.preview_box.value = True
    name = "nuclei-auto_threshold [preview]"
    qtbot.waitUntil(lambda: name in viewer.layers and _settled(viewer.layers[name]),
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    preview = viewer.layers[name]
    np.testing.assert_array_equal(preview.data, mp.apply("segment.auto_threshold", image))
    assert list(viewer.layers.selection) == [viewer.layers["nuclei"]]


def test_a_layer_hidden_by_its_maker_stays_hidden(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((4, 4)), name="image")
    layer = Labels(np.zeros((4, 4), np.uint8), name="new", visible=False)
    insert_in_turns(viewer, 0, layer)
    qtbot.waitUntil(lambda: all(layer._overlays[key].visible for key in TOOL_OVERLAYS),
                    timeout=TIMEOUT_MS)
    assert list(viewer.layers) == [layer, image] and not layer.visible


def test_a_layer_removed_before_its_turns_keeps_its_overlays(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = Labels(np.zeros((4, 4), np.uint8), name="new")
    insert_in_turns(viewer, 0, layer)
    viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: all(layer._overlays[key].visible for key in TOOL_OVERLAYS),
                    timeout=TIMEOUT_MS)
    assert len(viewer.layers) == 0


def test_a_stage_widget_pays_for_the_first_labels_layer():
    # napari imports pandas for the first Labels layer (~0.2 s): with a stage widget, not
    # at its first preview.
    code = (
        "import sys\n"
        "from qtpy.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from napari.components import ViewerModel\n"
        "from napari_maskprep._napari.widgets import RefineWidget, SegmentWidget\n"
        "before = 'pandas' in sys.modules\n"
        "SegmentWidget(ViewerModel())\n"
        "print(before, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "True"]


def test_the_recorder_hears_of_a_new_layer_in_the_turn_after_its_insert(
        make_napari_viewer, qtbot):
    viewer, widget, image = _window_with_nuclei(make_napari_viewer, qtbot)
    heard, later = [], []
    applied_steps.applied.connect(heard.append)
    try:
        job = widget.model.prepare_apply()
        output = widget.model.finish_apply(job, job.run(), later=later.append).output_layer
        assert heard == [] and len(later) == 1
        later[0]()
        assert [a.output_layer for a in heard] == [output]
        # In place: at once, before any stroke can land on the layer it wrote.
        refine = RefineWidget(viewer)
        qtbot.addWidget(refine.native)
        refine.select("refine.open", output)
        refine.in_place_box.value = True
        job = refine.model.prepare_apply()
        refine.model.finish_apply(job, job.run(), later=later.append)
        assert len(heard) == 2 and heard[1].in_place and len(later) == 1
    finally:
        applied_steps.applied.disconnect(heard.append)


def test_an_apply_runs_until_the_recorder_has_heard_of_it_and_its_layer_is_in(
        make_napari_viewer, qtbot):
    viewer, widget, image = _window_with_nuclei(make_napari_viewer, qtbot)
    heard = []
    applied_steps.applied.connect(heard.append)
    try:
        widget.apply()
        qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
        assert [a.output_layer.name for a in heard] == ["nuclei-auto_threshold"]
        assert _settled(heard[0].output_layer)  # a stroke can land on it now
    finally:
        applied_steps.applied.disconnect(heard.append)
