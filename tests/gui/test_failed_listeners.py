"""A writer failing after it took a layer away or a listener acted on it puts those back
too: a preview whose layer type changed has its old layer back (the stage knowing it), and
a Recorder that had recorded the failed Apply's step has its recipe as before."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import NotificationSeverity

from napari_maskprep._napari import stage

from .test_failed_writes import (
    BUG,
    TIMEOUT_MS,
    assert_same,
    fails,
    nuclei_segment_and_recorder,
    recorder_failing_once,
    states,
    wait_idle,
)

ERROR = NotificationSeverity.ERROR


def test_a_bug_adding_a_preview_of_another_type_puts_the_old_preview_back(
        make_widget, qtbot, monkeypatch):
    """An RGB preview becomes a grey one (another layer: napari cannot change a layer's
    rgb): the old preview was removed before the new one was added, so a bug adding it
    left no preview, and the stage knowing none."""
    viewer, widget = make_widget("preprocess", "he_tile")
    tile = viewer.layers["he_tile"]
    widget.select("preprocess.gaussian", tile)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: "he_tile-gaussian [preview]" in viewer.layers, timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    preview = viewer.layers["he_tile-gaussian [preview]"]
    assert preview.rgb
    before = states(viewer)
    monkeypatch.setattr(stage, "add_layer", fails)
    widget.select("preprocess.to_gray")
    qtbot.waitUntil(lambda: widget.status.value.endswith("logged"), timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    assert widget.status.value == f"the preview of preprocess.to_gray {BUG}"
    assert_same(viewer, before)
    assert viewer.layers[-1] is preview and widget.model.preview_layer is preview

    monkeypatch.undo()
    widget.select("preprocess.gaussian")
    widget.select("preprocess.to_gray")  # only the last preview of quick changes runs
    qtbot.waitUntil(lambda: "he_tile-to_gray [preview]" in viewer.layers, timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    assert [x.name for x in viewer.layers] == ["he_tile-ground truth", "he_tile",
                                               "he_tile-to_gray [preview]"]
    assert widget.model.preview_layer is viewer.layers[-1] and not viewer.layers[-1].rgb


def test_a_bug_in_the_recorder_after_it_recorded_a_step_takes_the_step_back(
        qtbot, shown, monkeypatch):
    """Apply again writes into its output and the Recorder hears of it at once: a bug in
    the Recorder once it had replaced the step's settings left the step (Li's) in the
    recipe, while the layer was put back as Otsu's threshold wrote it."""
    viewer, widget, recorder = nuclei_segment_and_recorder(qtbot)
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    widget.apply()
    qtbot.waitUntil(lambda: len(recorder.model.records) == 1, timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    output = viewer.layers["nuclei-auto_threshold"]
    recipe = recorder.model.recipe.to_dict()
    (record,) = recorder.model.records
    before = states(viewer)
    assert recipe["steps"][0]["params"]["method"] == "otsu"

    recorder_failing_once(monkeypatch)
    widget.param_editors["method"].value = "li"
    widget.apply()
    wait_idle(qtbot, widget)
    said = f"segment.auto_threshold on 'nuclei' {BUG}"  # the Recorder's, not psygnal's
    assert shown() == [(ERROR, said)] and widget.status.value == said
    assert_same(viewer, before)
    assert recorder.model.recipe.to_dict() == recipe
    assert recorder.model.records == [record] and record.layer is output
    assert np.array_equal(record.written, output.data)
    assert recorder.steps.count() == 1
