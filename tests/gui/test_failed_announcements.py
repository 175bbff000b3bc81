"""An Apply that adds a layer announces its step on a later event-loop turn, outside the
write: a bug in the Recorder hearing of it there is one line saying the step was written but
not recorded, the Recorder put back as it was, the written layer kept."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import NotificationSeverity
from skimage.filters import threshold_otsu

from napari_maskprep._napari.outputs import history

from .test_failed_writes import (
    TIMEOUT_MS,
    nuclei_segment_and_recorder,
    recorder_failing_once,
    wait_idle,
)

ERROR = NotificationSeverity.ERROR
LAYERS = ["nuclei-ground truth", "nuclei", "nuclei-auto_threshold"]


def test_a_bug_recording_a_new_layer_keeps_it_and_puts_the_recorder_back(
        qtbot, shown, monkeypatch):
    """The first Apply adds its layer and the Recorder fails recording it: the bug reached
    napari as a traceback, and left the step in the recipe (its list of steps not redrawn),
    the status line the Apply's summary."""
    viewer, widget, recorder = nuclei_segment_and_recorder(qtbot)
    recipe = recorder.model.recipe.to_dict()
    recorder_failing_once(monkeypatch)
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    widget.apply()
    qtbot.waitUntil(lambda: widget.status.value.endswith("logged"), timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    said = ("segment.auto_threshold on 'nuclei' was written but not recorded: recording it "
            "failed (KeyError: 'sigma'); a bug: its traceback is logged")
    assert widget.status.value == said and shown() == [(ERROR, said)]
    assert [x.name for x in viewer.layers] == LAYERS
    output = viewer.layers["nuclei-auto_threshold"]  # written whole: the person's result
    nuclei = np.asarray(viewer.layers["nuclei"].data)
    assert np.array_equal(output.data, nuclei > threshold_otsu(nuclei))
    assert history(output)[-1]["step"]["op"] == "segment.auto_threshold"
    assert recorder.model.recipe.to_dict() == recipe
    assert recorder.model.records == [] and recorder.steps.count() == 0

    monkeypatch.undo()  # the Recorder put back hears the next Apply (into that layer)
    widget.apply()
    qtbot.waitUntil(lambda: len(recorder.model.records) == 1, timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    assert [x.name for x in viewer.layers] == LAYERS
    assert recorder.model.records[0].layer is output
    assert [s.op for s in recorder.model.recipe.steps] == ["segment.auto_threshold"]
    assert recorder.steps.count() == 1
