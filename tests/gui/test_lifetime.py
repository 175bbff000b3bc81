"""Dock widgets stop following the viewer once their dock is closed.

napari's close button (``destroyOnClose``) only unparents a plugin's widget: it is not
deleted, so its ``destroyed`` signal never comes, and a widget that waited for it went on
recording Applies, capturing strokes, picking layers and previewing, unseen.
"""

from __future__ import annotations

import gc
import threading
import warnings

import numpy as np
import pytest
from napari.components import ViewerModel
from qtpy.QtCore import QCoreApplication, QEvent, QThreadPool

from napari_maskprep._napari import _sample_data
from napari_maskprep._napari.jobs import PreviewJob, TryAllJob
from napari_maskprep._napari.large import store_levels
from napari_maskprep._napari.recorder import RecorderWidget
from napari_maskprep._napari.widgets import SegmentWidget
from napari_maskprep.io import write_ome_zarr

TIMEOUT_MS = 20000
PLUGIN = "napari-maskprep"


def _apply(qtbot, widget, op_id: str, layer) -> None:
    widget.select(op_id, layer)
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)


def _stroke(layer) -> None:
    """One brush stroke, as napari's paint tool records it."""
    rows, cols = np.mgrid[5:35, 5:35]
    layer.data_setitem((rows.ravel(), cols.ravel()), 1)


def _no_worker_running(qtbot) -> None:
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0,
                    timeout=TIMEOUT_MS)


def _segment_beside(viewer, qtbot) -> SegmentWidget:
    """A Segment widget standing alone in ``viewer`` (its Applies reach every recorder)."""
    segment = SegmentWidget(viewer)
    qtbot.addWidget(segment.native)
    return segment


def test_a_closed_recorder_records_nothing_and_captures_no_strokes(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei")
    dock, recorder = viewer.window.add_plugin_dock_widget(PLUGIN, "Recorder")
    segment = _segment_beside(viewer, qtbot)
    _apply(qtbot, segment, "segment.auto_threshold", viewer.layers["nuclei"])
    assert [r.step.op for r in recorder.model.records] == ["segment.auto_threshold"]
    mask = viewer.layers["nuclei-auto_threshold"]
    targets = recorder.target_box.choices

    dock.destroyOnClose()  # the title bar's close button
    _stroke(mask)
    assert not recorder._capture_timer.isActive()
    _apply(qtbot, segment, "segment.threshold", viewer.layers["nuclei"])
    assert recorder.model.records == []
    viewer.add_image(viewer.layers["nuclei"].data, name="another")
    assert recorder.target_box.choices == targets
    assert not recorder.running


def test_a_recorder_docked_again_records_alone(make_napari_viewer, qtbot):
    """The closed one went on recording beside the new one (a second recorder)."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei")
    dock, first = viewer.window.add_plugin_dock_widget(PLUGIN, "Recorder")
    dock.destroyOnClose()
    _, second = viewer.window.add_plugin_dock_widget(PLUGIN, "Recorder")
    assert second is not first
    _apply(qtbot, _segment_beside(viewer, qtbot), "segment.auto_threshold",
           viewer.layers["nuclei"])
    assert [r.step.op for r in second.model.records] == ["segment.auto_threshold"]
    assert first.model.records == []


def test_closing_one_of_two_recorders_leaves_the_other_following_ctrl_z(make_napari_viewer,
                                                                         qtbot):
    """Closing the first gave napari's own undo keys back on a layer both followed: an undo
    on it hidden then stayed in the other's step list."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei")
    dock, first = viewer.window.add_plugin_dock_widget(PLUGIN, "Recorder")
    second = RecorderWidget(viewer)
    viewer.window.add_dock_widget(second, name="another Recorder")
    _apply(qtbot, _segment_beside(viewer, qtbot), "segment.auto_threshold",
           viewer.layers["nuclei"])
    mask = viewer.layers["nuclei-auto_threshold"]
    _stroke(mask)
    qtbot.waitUntil(lambda: len(first.model.records) == len(second.model.records) == 2,
                    timeout=TIMEOUT_MS)
    dock.destroyOnClose()
    mask.visible = False
    viewer.layers.selection.active = mask
    viewer.window._qt_viewer._key_map_handler.press_key("Control-Z")  # the active layer
    qtbot.waitUntil(lambda: len(second.model.records) == 1, timeout=TIMEOUT_MS)
    assert [r.step.op for r in second.model.records] == ["segment.auto_threshold"]


def test_a_replay_under_way_when_the_recorder_closes_writes_nothing(make_napari_viewer, qtbot):
    """Its result went into the viewer after the close, by a widget no longer shown."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei")
    dock, recorder = viewer.window.add_plugin_dock_widget(PLUGIN, "Recorder")
    _apply(qtbot, _segment_beside(viewer, qtbot), "segment.auto_threshold",
           viewer.layers["nuclei"])
    names = [layer.name for layer in viewer.layers]
    assert recorder.replay() is not None
    dock.destroyOnClose()
    _no_worker_running(qtbot)
    qtbot.wait(100)  # its signals, queued to the GUI thread, are delivered
    assert [layer.name for layer in viewer.layers] == names
    assert not recorder.running


def _held(run, entered: threading.Event, gate: threading.Event):
    """``run`` that says it has begun, then waits for ``gate``."""
    def held(self, *args, **kwargs):
        entered.set()
        gate.wait(TIMEOUT_MS / 1000)
        return run(self, *args, **kwargs)
    return held


@pytest.mark.filterwarnings("always:a note from elsewhere")
def test_a_warning_after_a_panel_closed_and_reopened_reaches_no_deleted_status_line(
        make_napari_viewer, qtbot, monkeypatch):
    """superqt hears a worker's warnings by replacing warnings.showwarning for the whole
    process: a preview whose worker began before a Try all's and ended first leaves the
    preview's in place once the Try all ends. Every warning after, from anywhere, went to
    the preview's status line: once its panel was closed (with the Try all under way),
    reopened and the closed one deleted, a RuntimeError (its QLabel was deleted)."""
    heard = []  # what the hook there before any worker hears
    monkeypatch.setattr(warnings, "showwarning", lambda message, *_: heard.append(str(message)))
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei")
    dock, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Mask Prep")
    segment = panel.show_stage("segment")
    segment.select("segment.auto_threshold", viewer.layers["nuclei"])
    previewing, preview_gate, trying, try_gate = (threading.Event() for _ in range(4))
    monkeypatch.setattr(PreviewJob, "run", _held(PreviewJob.run, previewing, preview_gate))
    monkeypatch.setattr(TryAllJob, "run", _held(TryAllJob.run, trying, try_gate))
    segment.preview_box.value = True
    qtbot.waitUntil(previewing.is_set, timeout=TIMEOUT_MS)
    segment.try_all()
    qtbot.waitUntil(trying.is_set, timeout=TIMEOUT_MS)
    preview_gate.set()
    qtbot.waitUntil(lambda s=segment: s._preview_worker is None, timeout=TIMEOUT_MS)
    dock.destroyOnClose()  # the Try all under way
    del dock, panel, segment
    gc.collect()  # the closed panel's Qt widgets are deleted
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Mask Prep")
    try_gate.set()
    _no_worker_running(qtbot)
    with qtbot.capture_exceptions() as raised:
        warnings.warn("a note from elsewhere", UserWarning, stacklevel=1)
        qtbot.wait(100)
    assert raised == []
    assert panel.stages["segment"].status.value == ""
    assert heard == ["a note from elsewhere"]


def test_a_recorder_closed_by_code_stops_too(qtbot):
    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    recorder = RecorderWidget(viewer)
    qtbot.addWidget(recorder.native)
    recorder.close()
    _apply(qtbot, _segment_beside(viewer, qtbot), "segment.auto_threshold",
           viewer.layers["nuclei"])
    assert recorder.model.records == []


def test_a_recorder_whose_progress_relay_went_first_at_exit_ends_quietly(qtbot):
    """At interpreter exit with the viewer still open, Qt may delete the Recorder's
    progress relay before the Recorder: its end raised 'wrapped C/C++ object of type
    ProgressRelay has been deleted' in the console."""
    viewer = ViewerModel()
    recorder = RecorderWidget(viewer)
    qtbot.addWidget(recorder.native)
    recorder._relay.deleteLater()
    QCoreApplication.sendPostedEvents(recorder._relay, QEvent.Type.DeferredDelete)
    recorder.close()
    assert recorder.lifetime.ended
    viewer.add_image(np.zeros((4, 4)), name="after")
    assert recorder.target_box.choices == ()  # it no longer follows the layer list


def test_a_closed_edit_region_widget_no_longer_follows_the_layers(make_napari_viewer,
                                                                  tmp_path):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Edit region")
    assert widget.layer_box.choices == ()
    dock.destroyOnClose()
    store = write_ome_zarr(np.zeros((1200, 1500), np.uint8), tmp_path / "mask.zarr",
                           chunks=(256, 256))
    viewer.add_labels(store_levels(store), multiscale=True, name="mask",
                      metadata={"maskprep": {"store": str(store)}})
    assert widget.layer_box.choices == ()
    assert not widget.open_button.enabled


def test_a_closed_stage_widget_stops_picking_previewing_and_following(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei", window=True)
    dock = widget.native.parent()
    widget.select("segment.threshold", viewer.layers["nuclei"])
    widget.start_pick()
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert "nuclei-threshold [preview]" in viewer.layers
    choices = widget.input_box.choices

    dock.destroyOnClose()
    assert [layer.name for layer in viewer.layers] == ["nuclei-ground truth", "nuclei"]
    assert widget._on_pick_click not in viewer.mouse_drag_callbacks
    viewer.add_image(viewer.layers["nuclei"].data, name="another")
    assert widget.input_box.choices == choices
    assert widget.model.input_layer is viewer.layers["nuclei"]
    viewer.layers["nuclei"].axis_labels = ("row", "column")  # its input's axes renamed
    assert not widget._preview_timer.isActive()  # no preview asked for again


def test_a_closed_panel_s_stages_and_recorder_stop(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei")
    dock, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Mask Prep")
    refine = panel.stages["refine"]
    masks = refine.input_box.choices
    assert masks == (viewer.layers["nuclei-ground truth"],)
    dock.destroyOnClose()
    _apply(qtbot, _segment_beside(viewer, qtbot), "segment.auto_threshold",
           viewer.layers["nuclei"])
    assert panel.recorder.model.records == []
    assert refine.input_box.choices == masks  # the new mask is not offered


def test_a_panel_reopened_beside_a_recorder_dock_follows_the_same_layer_quietly(
        make_napari_viewer, qtbot):
    """napari hands each plugin widget its own proxies of the layers: the undo keys were
    kept under the first proxy seen, dropped when that proxy went with the closed panel
    while a Recorder dock still followed the layer (KeyError), then taken for another
    recorder's (ValueError in list.remove), both raised in every Apply after."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei")
    dock, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Mask Prep")
    _apply(qtbot, panel.show_stage("segment"), "segment.auto_threshold",
           viewer.layers["nuclei"])
    viewer.window.remove_dock_widget(dock)
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Mask Prep")
    _, recorder = viewer.window.add_plugin_dock_widget(PLUGIN, "Recorder")
    _apply(qtbot, panel.show_stage("refine"), "refine.remove_small",
           viewer.layers["nuclei-auto_threshold"])
    ops = ["segment.auto_threshold", "refine.remove_small"]
    assert [r.step.op for r in panel.recorder.model.records] == ops
    assert [r.step.op for r in recorder.model.records] == ops
    panel.recorder.close()
    recorder.close()
    assert viewer.layers["nuclei-auto_threshold-remove_small"].keymap == {}
