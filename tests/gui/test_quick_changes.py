"""What a person does faster than a worker finishes: another input chosen while a preview
of the last one computes, progress reported faster than napari's bar repaints."""

from __future__ import annotations

import threading

import numpy as np
from napari.components import ViewerModel

import napari_maskprep as mp
from napari_maskprep._napari import _sample_data
from napari_maskprep._napari.applied import is_preview
from napari_maskprep._napari.recorder import RecorderWidget
from napari_maskprep._napari.stage import StageModel
from napari_maskprep._napari.widgets import PreprocessWidget, RefineWidget, SegmentWidget

TIMEOUT_S = 20


def _open(viewer: ViewerModel, sample: str) -> None:
    for data, kwargs, layer_type in getattr(_sample_data, sample)():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)


def test_a_preview_of_the_input_chosen_before_is_not_shown_over_the_new_one():
    """A stack's preview arriving once a 2D image was chosen was laid over that image: a
    traceback (a 3D translate for a 2D layer) in the console, or the other image's mask."""
    viewer = ViewerModel()
    _open(viewer, "nuclei_3d")
    _open(viewer, "nuclei")
    stack, image = viewer.layers["nuclei_3d"], viewer.layers["nuclei"]
    model = StageModel(viewer, "segment")
    model.set_op("segment.auto_threshold")
    model.set_input(stack)
    stale = model.request_preview()
    result = stale.run()
    model.set_input(image)  # chosen while that preview computed
    assert not model.is_current(stale)
    assert model.show_preview(stale, result) is None
    assert not any(is_preview(layer) for layer in viewer.layers)

    job = model.request_preview()
    shown = model.show_preview(job, job.run())
    assert shown.name == "nuclei-auto_threshold [preview]"
    np.testing.assert_array_equal(shown.data, mp.apply("segment.auto_threshold", image.data))


def test_a_preview_of_the_op_chosen_before_is_not_shown_over_the_input_the_new_op_takes():
    """Choosing an op that takes another input (colour channel: RGB images only) while a
    stack's preview computed left that preview current: it arrived over the RGB image as a
    3D layer with the image's two axis labels, a traceback in napari."""
    viewer = ViewerModel()
    _open(viewer, "nuclei_3d")
    _open(viewer, "he_tile")
    model = StageModel(viewer, "preprocess")
    model.set_op("preprocess.gaussian")
    model.set_input(viewer.layers["nuclei_3d"])
    stale = model.request_preview()
    result = stale.run()
    model.set_op("preprocess.color_channel")  # chosen while that preview computed
    assert model.input_layer is viewer.layers["he_tile"]
    assert model.show_preview(stale, result) is None
    assert not any(is_preview(layer) for layer in viewer.layers)


def test_progress_reported_faster_than_napari_repaints_reaches_its_end(make_napari_viewer,
                                                                       qtbot, monkeypatch):
    """napari's progress bar handles pending events as it moves, so each report queued
    behind it was handled inside the one before: a stack of a few hundred planes raised
    RecursionError in the console over and over, and the bar went back and forth."""
    viewer = make_napari_viewer()  # a window: napari's activity bars are drawn
    stack = np.random.default_rng(0).integers(0, 256, (400, 8, 8), dtype=np.uint8)
    layer = viewer.add_image(stack, name="stack")
    widget = PreprocessWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("preprocess.gaussian", layer)
    widget.per_plane_box.value = True
    ran = threading.Event()
    prepare = widget.model.prepare_apply

    def prepare_apply():
        job = prepare()
        run = job.run

        def run_and_tell(progress):
            try:
                return run(progress)
            finally:
                ran.set()

        job.run = run_and_tell
        return job

    monkeypatch.setattr(widget.model, "prepare_apply", prepare_apply)
    widget.apply()
    assert ran.wait(TIMEOUT_S)  # the GUI thread waits: every report is queued
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_S * 1000)
    assert (widget.progress_bar.value, widget.progress_bar.max) == (400, 400)
    np.testing.assert_array_equal(viewer.layers["stack-gaussian"].data,
                                  mp.apply("preprocess.gaussian", stack, per_plane=True))


def test_outlines_are_offered_only_for_ops_that_draw_masks_or_labels(qtbot):
    """Preprocess offered 'outlines' beside every op, though its outputs are images, which
    it does not change."""
    viewer = ViewerModel()
    _open(viewer, "nuclei")
    shown = {}
    for widget in (PreprocessWidget(viewer), SegmentWidget(viewer), RefineWidget(viewer)):
        qtbot.addWidget(widget.native)
        shown[widget.model.stage] = not widget.outline_box.native.isHidden()
    assert shown == {"preprocess": False, "segment": True, "refine": True}


def test_the_histogram_box_says_when_it_shows_before_the_preview_runs(qtbot):
    """Before a preview, a threshold op showed an empty dark box labelled 'histogram',
    as if the image had none."""
    viewer = ViewerModel()
    _open(viewer, "nuclei")
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    view = widget.histogram
    assert view.histogram is None
    drawn = view.grab().toImage()
    background = drawn.pixelColor(0, 0).rgb()
    middle = {drawn.pixelColor(x, drawn.height() // 2).rgb() for x in range(drawn.width())}
    assert middle - {background}  # the words say so
    assert view.hint == "the histogram shows with the preview"


def test_try_all_of_an_input_no_longer_chosen_says_so_instead_of_running_on(qtbot):
    """Its results were dropped, rightly, but the status line went on saying 'trying every
    method…' with nothing running."""
    viewer = ViewerModel()
    _open(viewer, "nuclei")
    _open(viewer, "nuclei_3d")
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    assert widget.try_all() is not None
    assert widget.status.value == "trying every method…"
    widget.input_box.value = viewer.layers["nuclei_3d"]  # before its results arrive
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_S * 1000)
    assert widget.status.value == ("Try all ran on the op or input chosen before: "
                                   "press it again")
    assert widget.montage.buttons == {}


def test_the_status_of_the_op_or_input_chosen_before_gives_way_to_the_last_apply_s(qtbot):
    """'picked: value 160' stayed under region grow once it was chosen after a threshold's
    pick: a status about the op or input before is replaced by what the last Apply made
    (still true), and a pick still waiting for its click ends with the op it was for."""
    viewer = ViewerModel()
    _open(viewer, "nuclei")
    _open(viewer, "nuclei_3d")
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    image = viewer.layers["nuclei"]
    widget.select("segment.threshold", image)
    widget.pick_at([10, 20])
    assert widget.status.value == f"picked: value {image.data[10, 20]:g}"
    widget.select("segment.region_grow")
    assert widget.status.value == ""
    widget.select("segment.threshold")
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_S * 1000)
    summary = widget.status.value
    assert summary.endswith(")") and " objects, median " in summary
    widget.start_pick()
    assert widget.status.value == "click a pixel of the input image"
    widget.input_box.value = viewer.layers["nuclei_3d"]
    assert widget.status.value == summary
    assert widget._on_pick_click not in viewer.mouse_drag_callbacks


def test_seeds_removed_while_an_apply_grows_from_them_write_nothing(qtbot, shown):
    """The Apply wrote its output and the Recorder declared the removed seeds an input,
    holding the removed layer, as it does not for an input removed meanwhile."""
    viewer = ViewerModel()
    _open(viewer, "nuclei")
    truth = viewer.layers["nuclei-ground truth"].data
    seeds = viewer.add_points([np.argwhere(truth == n).mean(axis=0) for n in (1, 2)],
                              name="my clicks")
    widget, recorder = SegmentWidget(viewer), RecorderWidget(viewer)
    qtbot.addWidget(widget.native)
    qtbot.addWidget(recorder.native)
    widget.select("segment.region_grow", viewer.layers["nuclei"])
    widget.extra_boxes["seeds"].value = seeds
    assert widget.apply() is not None
    viewer.layers.remove(seeds)  # before the worker's result reaches the GUI thread
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_S * 1000)
    assert "nuclei-region_grow" not in viewer.layers
    assert recorder.model.records == [] and recorder.model.declared_layers == {}
    assert shown()[-1][1] == ("'my clicks' was removed while segment.region_grow ran; "
                              "nothing was written")


def test_an_apply_that_failed_says_why_in_the_status_line(qtbot, shown):
    """The status line said 'running…', then went blank once an Apply failed: why was in a
    notification alone, which goes after a few seconds (the Recorder keeps it)."""
    viewer = ViewerModel()
    _open(viewer, "nuclei")
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    viewer.add_points([[-50.0, -50.0]], name="outside")  # checked by the op, in the worker
    widget.select("segment.region_grow", viewer.layers["nuclei"])
    assert widget.apply() is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_S * 1000)
    error = shown()[-1][1]
    assert "outside the image" in error and widget.status.value == error

    widget.select("segment.threshold")
    assert widget.status.value == ""  # about the op chosen before: it gives way
    widget.apply()
    viewer.layers.remove("nuclei")  # before the worker's result reaches the GUI thread
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_S * 1000)
    assert widget.status.value == ("'nuclei' was removed while segment.threshold ran; "
                                   "nothing was written")


def test_a_failed_apply_says_why_and_then_gives_way_to_what_the_last_one_made(qtbot, shown):
    """Starting an Apply forgot what the last one made: after it failed, choosing another op
    left the status line blank while the last Apply's layer still held what it said."""
    viewer = ViewerModel()
    _open(viewer, "nuclei")
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("segment.threshold", viewer.layers["nuclei"])
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_S * 1000)
    summary = widget.status.value
    assert summary.endswith(")") and " objects, median " in summary
    viewer.add_points([[-50.0, -50.0]], name="outside")  # checked by the op, in the worker
    widget.select("segment.region_grow")
    assert widget.apply() is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_S * 1000)
    error = shown()[-1][1]
    assert "outside the image" in error and widget.status.value == error
    widget.select("segment.threshold")
    assert widget.status.value == summary


def _watershed_of_a_with_markers_b(qtbot):
    """A segment widget on watershed of labels 'a', with labels 'b' as its markers."""
    viewer = ViewerModel()
    for name in ("a", "b"):
        viewer.add_labels(np.zeros((8, 8), np.uint8), name=name)
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("segment.watershed", viewer.layers["a"])
    markers = widget.extra_boxes["markers"]
    markers.value = viewer.layers["b"]
    return viewer, widget, markers


def test_another_input_chosen_lists_the_one_before_as_an_extra_and_not_itself(qtbot):
    """The extra inputs' pickers were listed for the input chosen before: after choosing
    'b' (the markers) as the input, the markers picker still offered 'b' and held it (a
    watershed of 'b' took 'b' as its own markers) and did not offer 'a' until a layer was
    added or removed."""
    viewer, widget, markers = _watershed_of_a_with_markers_b(qtbot)
    widget.input_box.value = viewer.layers["b"]
    assert [getattr(c, "name", c) for c in markers.choices] == [None, "a"]
    assert markers.value is None
    assert widget.model.extra_layers == {"markers": None, "image": None}


def test_none_chosen_for_an_optional_extra_input_lets_go_of_the_layer(qtbot):
    """Choosing "none" for watershed's markers changed the picker only: magicgui does not
    report None from a picker that is not nullable, so the preview, Apply and the step
    recorded kept the markers chosen before."""
    viewer, widget, markers = _watershed_of_a_with_markers_b(qtbot)
    assert widget.model.step().inputs == {"markers": "markers"}
    markers.native.setCurrentIndex(0)  # as a click on "none"
    assert markers.native.currentText() == "none"
    assert widget.model.extra_layers == {"markers": None, "image": None}
    assert widget.model.step().inputs == {}
