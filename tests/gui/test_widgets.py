"""The stage widgets in a real napari viewer (Xvfb): apply, preview, cancel, undo, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from napari.layers import Image, Labels
from napari.utils.notifications import NotificationSeverity
from qtpy.QtWidgets import QCheckBox

import napari_maskprep as mp
from napari_maskprep._napari.applied import applied_steps, is_preview
from napari_maskprep._napari.outputs import history
from napari_maskprep._napari.widgets import PREVIEW_DELAY_MS, RefineWidget
from napari_maskprep.core.registry import OpSpec
from napari_maskprep.engine.statistics import StatisticCache

ERROR = NotificationSeverity.ERROR
INFO = NotificationSeverity.INFO
TIMEOUT_MS = 20000


def wait_applied(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)


def preview_shows(viewer, name: str, expected: np.ndarray) -> bool:
    return name in viewer.layers and np.array_equal(viewer.layers[name].data, expected)


def add_mask(viewer, name: str = "mask") -> Labels:
    image = viewer.layers["nuclei"].data
    return viewer.add_labels(mp.apply("segment.auto_threshold", image), name=name)


def seeds_in_nuclei(viewer, count: int) -> np.ndarray:
    """A pixel well inside each of the first ``count`` ground-truth nuclei."""
    truth = viewer.layers["nuclei-ground truth"].data
    points = []
    for label in range(1, count + 1):
        inside = np.argwhere(truth == label)
        points.append(inside[len(inside) // 2])
    return np.array(points, dtype=float)


@pytest.mark.parametrize("stage", ["preprocess", "segment", "refine"])
def test_widget_offers_its_stage_ops_and_only_matching_layers(make_widget, stage):
    viewer, widget = make_widget(stage, "nuclei")
    add_mask(viewer)
    viewer.add_points([[5.0, 5.0]], name="clicks")
    assert [v for v in widget.op_box.choices] == [s.id for s in mp.list_ops(stage)]
    inputs = [layer.name for layer in widget.input_box.choices]
    if stage == "refine":
        assert inputs == ["nuclei-ground truth", "mask"]
    else:
        assert inputs == ["nuclei"]


def test_parameter_editors_follow_the_param_hints(make_widget):
    viewer, widget = make_widget("preprocess", "nuclei")
    widget.select("preprocess.gaussian")
    sigma = widget.param_editors["sigma"]
    assert sigma.spin.native.suffix() == " px"
    assert (sigma.spin.min, sigma.spin.max, sigma.spin.step) == (0.1, 50.0, 0.1)
    assert (sigma.slider.min, sigma.slider.max) == (0.1, 50.0)
    sigma.slider.value = 2.5
    assert sigma.value == 2.5 and widget.model.params["sigma"] == 2.5

    widget.select("preprocess.background")
    method = widget.param_editors["method"]
    assert tuple(c.value for c in method.choices) == mp.get_op("preprocess.background").param(
        "method").choices
    flag = widget.param_editors["light_background"]
    # magicgui puts no label beside a check box: it shows its own text, the parameter's label
    assert flag.widget_type == "CheckBox" and flag.native.text() == "light background"


def test_optional_parameter_is_none_until_ticked(make_widget):
    viewer, widget = make_widget("refine", "nuclei")
    optional = [(s, p) for s in mp.list_ops("refine") for p in s.params if p.optional]
    if not optional:
        pytest.skip("no refine op has an optional parameter")
    spec, param = optional[0]
    widget.select(spec.id)
    editor = widget.param_editors[param.name]
    assert editor.value is None and not editor.editor.enabled
    editor.enable.value = True
    assert editor.editor.enabled
    assert widget.model.params[param.name] == editor.editor.value is not None
    editor.enable.value = False
    assert widget.model.params[param.name] is None


@pytest.mark.parametrize(
    ("stage", "op_id", "sample", "source"),
    [
        ("preprocess", "preprocess.gaussian", "nuclei", "nuclei"),
        ("segment", "segment.auto_threshold", "nuclei", "nuclei"),
        ("segment", "segment.color_range", "he_tile", "he_tile"),
        ("refine", "refine.fill_holes", "nuclei", "mask"),
    ],
)
def test_apply_writes_a_layer_named_after_input_and_op(make_widget, qtbot, stage, op_id,
                                                       sample, source):
    viewer, widget = make_widget(stage, sample, window=True)
    if source == "mask":
        add_mask(viewer)
    layer = viewer.layers[source]
    layer.scale = (0.5, 0.25)
    layer.translate = (10.0, -3.0)
    layer.units = ("µm", "µm")
    layer.axis_labels = ("y", "x")
    steps, everywhere = [], []
    widget.model.applied.connect(steps.append)
    applied_steps.applied.connect(everywhere.append)  # what a recorder listens to
    widget.select(op_id, layer)
    widget.apply()
    wait_applied(qtbot, widget)
    applied_steps.applied.disconnect(everywhere.append)

    spec = mp.get_op(op_id)
    out = viewer.layers[f"{source}-{spec.name}"]
    expected = mp.apply(op_id, layer.data)
    np.testing.assert_array_equal(out.data, expected)
    assert out.data.dtype == expected.dtype
    np.testing.assert_array_equal(out.scale, (0.5, 0.25))
    np.testing.assert_array_equal(out.translate, (10.0, -3.0))
    assert out.units == layer.units and out.axis_labels == ("y", "x")
    if spec.output is mp.Kind.IMAGE:
        assert isinstance(out, Image)
    else:
        assert isinstance(out, Labels)
        assert out.opacity == 0.5 and out.selected_label == 1
        assert out.data.dtype == np.uint8  # a mask stays uint8: paintable without a copy
    (applied,) = steps
    assert applied.step.op == op_id and applied.step.params == spec.plain_params({})
    assert applied.input_layer is layer and applied.output_layer is out
    assert everywhere == steps and applied.output_layer in viewer.layers
    assert not applied.in_place and applied.step.per_plane is False


def test_apply_again_updates_the_output_unless_new_layer(make_widget, qtbot):
    viewer, widget = make_widget("preprocess", "nuclei")
    widget.select("preprocess.gaussian", viewer.layers["nuclei"])
    widget.apply()
    wait_applied(qtbot, widget)
    out = viewer.layers["nuclei-gaussian"]
    count = len(viewer.layers)

    widget.param_editors["sigma"].value = 3.0
    widget.apply()
    wait_applied(qtbot, widget)
    assert len(viewer.layers) == count and viewer.layers["nuclei-gaussian"] is out
    np.testing.assert_array_equal(out.data, mp.apply("preprocess.gaussian",
                                                     viewer.layers["nuclei"].data, sigma=3.0))
    widget.new_layer_box.value = True
    widget.apply()
    wait_applied(qtbot, widget)
    assert len(viewer.layers) == count + 1


def test_hand_edited_output_is_kept_and_the_result_goes_to_a_new_layer(make_widget, qtbot, shown):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    widget.apply()
    wait_applied(qtbot, widget)
    out = viewer.layers["nuclei-auto_threshold"]
    out.paint((5, 5), 1)  # a hand edit, through napari's painting API
    painted = out.data.copy()

    widget.apply()
    wait_applied(qtbot, widget)
    np.testing.assert_array_equal(out.data, painted)
    new = viewer.layers[-1]
    assert new is not out and new.name.startswith("nuclei-auto_threshold")
    np.testing.assert_array_equal(new.data, mp.apply("segment.auto_threshold",
                                                     viewer.layers["nuclei"].data))
    assert any(sev == INFO and "was changed (painted or refined)" in msg for sev, msg in shown())


def test_refine_in_place_is_one_undo_step_that_restores_hand_edits(make_widget, qtbot):
    viewer, widget = make_widget("refine", "nuclei")
    mask = add_mask(viewer)
    original = mask.data.copy()
    mask.paint((40, 40), 1)  # hand edit before refining
    mask.paint((300, 500), 0)
    edited = mask.data.copy()
    assert not np.array_equal(edited, original)
    count = len(viewer.layers)

    widget.select("refine.open", mask)
    widget.param_editors["radius"].value = 3
    widget.in_place_box.value = True
    steps = []
    widget.model.applied.connect(steps.append)
    widget.apply()
    wait_applied(qtbot, widget)
    refined = mp.apply("refine.open", edited, radius=3)
    np.testing.assert_array_equal(mask.data, refined)
    assert mask.data.dtype == np.uint8 and len(viewer.layers) == count
    assert steps[0].in_place and steps[0].output_layer is mask

    mask.undo()
    np.testing.assert_array_equal(mask.data, edited)
    mask.redo()
    np.testing.assert_array_equal(mask.data, refined)
    mask.undo()
    mask.undo()  # then the two hand edits, one by one
    mask.undo()
    np.testing.assert_array_equal(mask.data, original)


def test_refine_in_place_on_a_hidden_labels_layer(make_widget, qtbot):
    """As the samples' ground truth is added (hidden): napari raised IndexError writing into
    the slice it never computed, after the data was written, with no undo step or record."""
    viewer, widget = make_widget("refine")
    original = np.zeros((30, 30), np.uint8)
    original[10:20, 10:20] = 1
    mask = viewer.add_labels(original.copy(), name="mask", visible=False)
    steps = []
    widget.model.applied.connect(steps.append)
    widget.select("refine.dilate", mask)
    widget.in_place_box.value = True
    widget.apply()
    wait_applied(qtbot, widget)
    np.testing.assert_array_equal(mask.data, mp.apply("refine.dilate", original))
    assert len(steps) == 1 and steps[0].in_place and not mask.visible
    mask.undo()
    np.testing.assert_array_equal(mask.data, original)


def test_a_widget_closed_while_its_apply_runs_lets_the_job_finish_unheard(qtbot):
    """Its slots touched the deleted Qt widgets: RuntimeError 'wrapped C/C++ object of
    type QPushButton has been deleted' when the job finished."""
    from napari.components import ViewerModel

    from napari_maskprep._napari.widgets import PreprocessWidget

    viewer = ViewerModel()
    widget = PreprocessWidget(viewer)  # not qtbot's to close: Qt deletes it below
    image = np.random.default_rng(0).random((1500, 1500)).astype(np.float32)
    widget.select("preprocess.median", viewer.add_image(image, name="big"))
    widget.param_editors["radius"].value = 6
    worker = widget.apply()
    widget.native.close()
    widget.native.deleteLater()
    qtbot.wait(50)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)
    qtbot.wait(100)  # its signals, queued to the GUI thread, are delivered
    assert [layer.name for layer in viewer.layers] == ["big"]


def test_preview_creates_updates_and_removes_its_layer(make_widget, qtbot):
    viewer, widget = make_widget("preprocess", "nuclei", window=True)
    image = viewer.layers["nuclei"]
    widget.select("preprocess.gaussian", image)
    name = "nuclei-gaussian [preview]"
    count = len(viewer.layers)
    widget.preview_box.value = True
    expected = mp.apply("preprocess.gaussian", image.data, sigma=1.0)
    qtbot.waitUntil(lambda: preview_shows(viewer, name, expected), timeout=TIMEOUT_MS)
    assert viewer.layers.selection.active is not viewer.layers[name]

    for sigma in (1.5, 2.0, 4.0):  # quick changes: only the last one's result stays
        widget.param_editors["sigma"].value = sigma
    expected = mp.apply("preprocess.gaussian", image.data, sigma=4.0)
    qtbot.waitUntil(lambda: preview_shows(viewer, name, expected), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert len(viewer.layers) == count + 1
    np.testing.assert_array_equal(viewer.layers[name].data, expected)

    widget.preview_box.value = False
    assert name not in viewer.layers and len(viewer.layers) == count


def test_preview_of_a_stack_is_the_shown_plane(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei_3d")
    stack = viewer.layers["nuclei_3d"]
    stack.scale = (2.0, 1.0, 1.0)
    widget.select("segment.auto_threshold", stack)
    assert not widget.planes_row.native.isHidden() and widget.per_plane_box.enabled
    viewer.dims.set_point(0, 10.0)  # world z = plane 5 of the stack (z scale 2)
    widget.preview_box.value = True
    name = "nuclei_3d-auto_threshold [preview]"
    whole = mp.apply("segment.auto_threshold", stack.data)  # threshold over the whole stack
    qtbot.waitUntil(lambda: preview_shows(viewer, name, whole[5:6]), timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(viewer.layers[name].translate, (10.0, 0.0, 0.0))

    widget.per_plane_box.value = True  # now each plane is thresholded on its own
    plane = mp.apply("segment.auto_threshold", stack.data[5])
    qtbot.waitUntil(lambda: preview_shows(viewer, name, plane[None]), timeout=TIMEOUT_MS)

    viewer.dims.set_point(0, 18.0)
    plane = mp.apply("segment.auto_threshold", stack.data[9])
    qtbot.waitUntil(lambda: preview_shows(viewer, name, plane[None]), timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(viewer.layers[name].translate, (18.0, 0.0, 0.0))


def test_preview_of_a_local_3d_op_is_exact_on_the_shown_plane(make_widget, qtbot):
    viewer, widget = make_widget("preprocess", "nuclei_3d")
    stack = viewer.layers["nuclei_3d"]
    widget.select("preprocess.gaussian", stack)
    widget.param_editors["sigma"].value = 1.5
    viewer.dims.set_current_step(0, 8)
    widget.preview_box.value = True
    whole = mp.apply("preprocess.gaussian", stack.data, sigma=1.5)  # 3D blur
    name = "nuclei_3d-gaussian [preview]"
    qtbot.waitUntil(lambda: preview_shows(viewer, name, whole[8:9]), timeout=TIMEOUT_MS)


def test_a_2d_only_op_runs_every_plane_of_a_stack(make_widget, qtbot):
    flat = [s for s in mp.list_ops("segment") if s.ndim == (2,) and not s.inputs]
    if not flat:
        pytest.skip("no 2D-only segment op")
    viewer, widget = make_widget("segment", "nuclei_3d")
    stack = viewer.layers["nuclei_3d"]
    widget.select(flat[0].id, stack)
    assert not widget.planes_row.native.isHidden() and widget.per_plane_box.value
    assert not widget.per_plane_box.enabled  # not optional for a 2D-only op
    steps = []
    widget.model.applied.connect(steps.append)
    widget.apply()
    wait_applied(qtbot, widget)
    out = viewer.layers[f"nuclei_3d-{flat[0].name}"]
    np.testing.assert_array_equal(out.data, mp.apply(flat[0].id, stack.data, per_plane=True))
    assert steps[0].step.per_plane is True
    assert widget.progress_bar.value == widget.progress_bar.max == stack.data.shape[0]


@pytest.mark.parametrize("shape", [(10, 20, 3), (3, 20, 20, 4)])
def test_a_grey_stack_3_or_4_pixels_wide_is_refused_in_one_line(make_widget, qtbot, shown,
                                                                  tmp_path, shape):
    """A grey layer (napari: not RGB) 3 or 4 pixels wide, a stack or volumes, was read by
    the ops as RGB(A): Apply warned 'the RGB image was converted to grey', then failed with
    'could not broadcast input array from shape (3,) into shape (2,)'; the preview and a
    Replay alike. Each now refuses it before any work, saying why and what is accepted."""
    from napari_maskprep._napari.recorder import RecorderWidget

    viewer, widget = make_widget("segment")
    narrow = viewer.add_image(np.arange(np.prod(shape), dtype=np.uint8).reshape(shape),
                              name="narrow", rgb=False)
    recorder = RecorderWidget(viewer)
    qtbot.addWidget(recorder.native)
    said = (f"'narrow' is {shape[-1]} pixels wide along its last axis, which maskprep takes "
            "for colour channels, though the layer is not RGB; accepted: a grey image at "
            "least 5 pixels wide (pad or transpose it) or an RGB layer")
    widget.select("segment.auto_threshold", narrow)
    assert widget.apply() is None
    assert widget.status.value == said
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: not widget.previewing, timeout=5000)
    assert widget.status.value == said
    recorder.model.load(mp.Recipe([{"op": "segment.auto_threshold"}]).save(
        tmp_path / "r.maskprep.yaml"))
    recorder.target_box.value = narrow
    assert recorder.replay() is None and recorder.status.value == said
    assert [message for _, message in shown()] == [said, said]
    assert [layer.name for layer in viewer.layers] == ["narrow"]


def test_a_time_lapse_layer_is_segmented_frame_by_frame(make_widget, qtbot):
    """A layer whose first axis a reader names t (napari-ome-zarr does) is frames, as
    `maskprep run` takes a time-lapse file: an Otsu over all frames lost a dim frame."""
    viewer, widget = make_widget("segment", "nuclei_3d")
    stack = viewer.layers["nuclei_3d"]
    stack.data = stack.data.copy()
    stack.data[3:] //= 4  # bleached frames
    stack.axis_labels = ("t", "y", "x")
    widget.select("segment.auto_threshold", stack)
    assert widget.per_plane_box.value and not widget.per_plane_box.enabled
    assert widget.per_plane_box.tooltip.startswith("a time-lapse: each frame")
    assert widget.per_plane_box.text == "per frame (time-lapse)"
    steps = []
    widget.model.applied.connect(steps.append)
    widget.apply()
    wait_applied(qtbot, widget)
    out = viewer.layers["nuclei_3d-auto_threshold"]
    frames = np.stack([mp.apply("segment.auto_threshold", frame) for frame in stack.data])
    np.testing.assert_array_equal(out.data, frames)
    assert not np.array_equal(frames, mp.apply("segment.auto_threshold", stack.data))
    assert steps[0].step.per_plane is True


def test_region_grow_preview_follows_added_points(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    image = viewer.layers["nuclei"]
    seeds = seeds_in_nuclei(viewer, 2)
    points = viewer.add_points(seeds[:1], name="seeds")
    widget.select("segment.region_grow", image)
    assert widget.extra_boxes["seeds"].value is points
    widget.param_editors["tolerance"].value = 150.0
    widget.preview_box.value = True
    name = "nuclei-region_grow [preview]"
    one = mp.apply("segment.region_grow", image.data, seeds[:1], tolerance=150.0)
    qtbot.waitUntil(lambda: preview_shows(viewer, name, one), timeout=TIMEOUT_MS)

    points.add(seeds[1])  # a click in the Points layer
    two = mp.apply("segment.region_grow", image.data, seeds, tolerance=150.0)
    assert not np.array_equal(one, two)
    qtbot.waitUntil(lambda: preview_shows(viewer, name, two), timeout=TIMEOUT_MS)

    widget.apply()
    wait_applied(qtbot, widget)
    assert name not in viewer.layers  # Apply ends the preview: the output shows the result
    np.testing.assert_array_equal(viewer.layers["nuclei-region_grow"].data, two)


def test_cancel_stops_a_long_per_plane_run(make_widget, qtbot, shown):
    viewer, widget = make_widget("preprocess")
    stack = np.random.default_rng(0).integers(0, 60000, (40, 256, 256), dtype=np.uint16)
    layer = viewer.add_image(stack, name="stack")
    widget.select("preprocess.gaussian", layer)
    widget.param_editors["sigma"].value = 50.0
    widget.per_plane_box.value = True
    widget.progress_bar.changed.connect(lambda value: widget.cancel_button.native.click())
    start = time.perf_counter()
    widget.apply()
    assert widget.cancel_button.enabled and not widget.apply_button.enabled
    wait_applied(qtbot, widget)
    elapsed = time.perf_counter() - start

    assert "stack-gaussian" not in viewer.layers
    assert 1 <= widget.progress_bar.value < widget.progress_bar.max == 40
    assert any(sev == INFO and "cancelled" in msg for sev, msg in shown())
    assert widget.apply_button.enabled and not widget.cancel_button.enabled
    one_plane = time.perf_counter()
    mp.apply("preprocess.gaussian", stack[0], sigma=50.0)
    one_plane = time.perf_counter() - one_plane
    assert elapsed < 20 * one_plane + 1.0  # far less than the 40 planes of a full run


def test_bad_parameter_notifies_and_writes_nothing(make_widget, qtbot, shown):
    viewer, widget = make_widget("preprocess", "nuclei")
    widget.select("preprocess.gaussian", viewer.layers["nuclei"])
    widget.model.set_param("sigma", -1.0)  # the spin box cannot go there; a script can
    count = len(viewer.layers)
    assert widget.apply() is None
    assert len(viewer.layers) == count
    ((severity, message),) = shown()
    assert severity == ERROR and "sigma=-1.0" in message and "\n" not in message


def test_missing_and_bad_inputs_notify_with_one_line(make_widget, qtbot, shown):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.region_grow", viewer.layers["nuclei"])
    assert widget.apply() is None  # no Points layer for the seeds
    viewer.add_points([[-50.0, -50.0]], name="outside")  # checked by the core, in the worker
    assert widget.extra_boxes["seeds"].value is viewer.layers["outside"]
    assert widget.apply() is not None
    wait_applied(qtbot, widget)
    errors = [msg for sev, msg in shown() if sev == ERROR]
    assert len(errors) == 2
    assert "Points layer for its 'seeds' input" in errors[0]
    assert "outside the image" in errors[1]
    assert all("\n" not in msg and "Traceback" not in msg for msg in errors)
    assert "nuclei-region_grow" not in viewer.layers


def test_closing_the_widget_ends_its_preview(make_widget, qtbot):
    viewer, widget = make_widget("preprocess", "nuclei", window=True, show=True)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    dock, same = viewer.window.add_plugin_dock_widget("napari-maskprep", "Preprocess")
    assert same is widget
    viewer.window.remove_dock_widget(dock)
    assert not widget.preview_box.value
    assert not any(layer.name.endswith("[preview]") for layer in viewer.layers)


def test_a_core_warning_becomes_a_notification_and_the_result_is_written(make_widget, qtbot,
                                                                        shown):
    viewer, widget = make_widget("segment", "he_tile")
    widget.select("segment.auto_threshold", viewer.layers["he_tile"])  # a grey op, RGB input
    widget.apply()
    wait_applied(qtbot, widget)
    warnings = [msg for sev, msg in shown() if sev == NotificationSeverity.WARNING]
    assert len(warnings) == 1 and "converted to grey" in warnings[0]
    assert viewer.layers["he_tile-auto_threshold"].data.dtype == np.uint8

    widget.preview_box.value = True  # while tuning, the warning is a note, not a pop-up
    qtbot.waitUntil(lambda: "converted to grey" in widget.status.value, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert "he_tile-auto_threshold [preview]" in viewer.layers


def test_deleting_the_input_while_previewing_clears_the_picker_and_the_preview(make_widget,
                                                                              qtbot):
    viewer, widget = make_widget("preprocess", "nuclei", window=True, show=True)
    widget.select("preprocess.gaussian", viewer.layers["nuclei"])
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    viewer.layers.remove("nuclei")
    qtbot.wait(200)  # the canvas draws again without the removed layers
    assert [layer.name for layer in viewer.layers] == ["nuclei-ground truth"]
    assert widget.model.input_layer is None and widget.input_box.value is None
    assert widget.model.preview_layer is None


def test_deleting_an_input_two_stages_read_while_one_previews_it(make_widget, qtbot):
    """The preview's removal, nested in the input's, refreshed the other stage's pickers
    while it still held the deleted input: ValueError 'not a valid choice'."""
    from napari_maskprep._napari.widgets import SegmentWidget

    viewer, widget = make_widget("preprocess", "nuclei")
    other = SegmentWidget(viewer)
    qtbot.addWidget(other.native)
    widget.select("preprocess.gaussian", viewer.layers["nuclei"])
    other.select("segment.auto_threshold", viewer.layers["nuclei"])
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    viewer.layers.remove("nuclei")
    assert [layer.name for layer in viewer.layers] == ["nuclei-ground truth"]
    assert other.model.input_layer is None and other.input_box.value is None
    assert widget.model.input_layer is None and widget.model.preview_layer is None


def test_a_failed_apply_keeps_the_preview_on(make_widget, qtbot, shown):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.multi_threshold", viewer.layers["nuclei"])
    widget.preview_box.value = True
    widget.param_editors["keep_from"].value = 2
    widget.param_editors["keep_to"].value = 1  # checked by the op, in the worker
    widget.apply()
    wait_applied(qtbot, widget)
    errors = [msg for sev, msg in shown() if sev == ERROR]
    assert len(errors) == 1 and "keep" in errors[0]
    assert widget.preview_box.value
    assert "nuclei-multi_threshold" not in viewer.layers
    widget.preview_box.value = False
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)


def test_an_op_failing_without_a_message_says_what_failed(make_widget, qtbot, shown,
                                                         monkeypatch):
    """An error without a message (OSError() of a full disk) showed an empty error
    notification and left the status line blank, as did the preview's."""
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.threshold", viewer.layers["nuclei"])

    def fails(*args, **kwargs):
        raise OSError

    monkeypatch.setattr(OpSpec, "__call__", fails)
    widget.apply()
    wait_applied(qtbot, widget)
    said = "segment.threshold on 'nuclei' failed (OSError)"
    assert [msg for sev, msg in shown() if sev == ERROR] == [said]
    assert widget.status.value == said
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.status.value == "the preview of segment.threshold failed (OSError)"


def test_a_bug_in_an_op_says_one_line_and_logs_its_traceback(make_widget, qtbot, shown,
                                                            monkeypatch, caplog):
    """An error no input explains (a KeyError, RuntimeError or IndexError of a bug) was not
    caught in the worker: napari showed its traceback, the status line kept 'running…'
    or nothing, and Try all left no line at all."""
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])

    def fails(*args, **kwargs):
        raise KeyError("sigma")

    monkeypatch.setattr(OpSpec, "__call__", fails)
    monkeypatch.setattr(StatisticCache, "run", fails)  # a preview's threshold, from the cache
    widget.apply()
    wait_applied(qtbot, widget)
    said = ("segment.auto_threshold on 'nuclei' failed (KeyError: 'sigma'); a bug: its "
            "traceback is logged")
    assert shown() == [(ERROR, said)]
    assert widget.status.value == said
    assert widget.apply_button.enabled and not widget.cancel_button.enabled
    assert "nuclei-auto_threshold" not in viewer.layers
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.status.value == ("the preview of segment.auto_threshold failed (KeyError: "
                                   "'sigma'); a bug: its traceback is logged")
    widget.preview_box.value = False
    widget.try_all()
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.status.value == ("Try all of segment.auto_threshold failed (KeyError: "
                                   "'sigma'); a bug: its traceback is logged")
    assert widget.montage.buttons == {}
    assert len(shown()) == 1  # the Apply's line only: no traceback notification
    logged = [r for r in caplog.records if r.name == "napari_maskprep._napari.workers"]
    assert [r.getMessage() for r in logged] == [
        "segment.auto_threshold on 'nuclei' failed", "the preview of segment.auto_threshold "
        "failed", "Try all of segment.auto_threshold failed"]
    assert all(r.exc_info[0] is KeyError for r in logged)


def test_a_bug_writing_an_apply_or_a_preview_says_one_line_and_leaves_no_layer(
        make_widget, qtbot, shown, monkeypatch, caplog):
    """A bug raised on the GUI thread, as an Apply's result was written into the viewer or
    a preview shown, escaped to napari as a traceback: the status line said the last
    summary, the layer inserted before the bug stayed, and nothing was logged."""
    from napari_maskprep._napari import stage

    viewer, widget = make_widget("segment", "nuclei")
    nuclei = viewer.layers["nuclei"]
    widget.select("segment.auto_threshold", nuclei)
    widget.preview_box.value = True
    preview = "nuclei-auto_threshold [preview]"
    expected = mp.apply("segment.auto_threshold", nuclei.data)
    qtbot.waitUntil(lambda: preview_shows(viewer, preview, expected), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    names = [x.name for x in viewer.layers]

    def fails(*args, **kwargs):
        raise KeyError("sigma")

    said = ("segment.auto_threshold on 'nuclei' failed (KeyError: 'sigma'); a bug: its "
            "traceback is logged")
    monkeypatch.setattr(stage, "output_metadata", fails)  # before the preview is adopted
    widget.apply()
    wait_applied(qtbot, widget)
    assert shown() == [(ERROR, said)]
    assert widget.status.value == said
    assert widget.apply_button.enabled and not widget.cancel_button.enabled
    assert widget.preview_box.value and preview_shows(viewer, preview, expected)
    assert [x.name for x in viewer.layers] == names

    widget.preview_box.value = False
    monkeypatch.undo()
    monkeypatch.setattr(stage, "AppliedStep", fails)  # once its new layer is in
    widget.apply()
    wait_applied(qtbot, widget)
    assert shown() == [(ERROR, said)] * 2
    assert widget.status.value == said and widget.apply_button.enabled
    assert [x.name for x in viewer.layers] == names[:-1]  # neither output nor preview

    monkeypatch.setattr(stage, "add_layer", fails)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.status.value == ("the preview of segment.auto_threshold failed (KeyError: "
                                   "'sigma'); a bug: its traceback is logged")
    assert [x.name for x in viewer.layers] == names[:-1] and len(shown()) == 2
    logged = [r for r in caplog.records if r.name == "napari_maskprep._napari.workers"]
    assert [r.getMessage() for r in logged] == [
        "segment.auto_threshold on 'nuclei' failed", "segment.auto_threshold on 'nuclei' "
        "failed", "the preview of segment.auto_threshold failed"]
    assert all(r.exc_info[0] is KeyError for r in logged)


def test_each_apply_says_its_objects_and_sizes_and_pixels_changed_in_place(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    widget.apply()
    wait_applied(qtbot, widget)
    mask = viewer.layers["nuclei-auto_threshold"].data
    labels = mp.apply("refine.label", mask)
    sizes = np.bincount(labels.ravel())[1:]
    assert labels.max() > 10
    assert widget.status.value == (f"{labels.max()} objects, median {np.median(sizes):g} px "
                                   f"(range {sizes.min()}-{sizes.max()})")

    painted = viewer.add_labels(mask.copy(), name="painted")
    refine = RefineWidget(viewer)
    qtbot.addWidget(refine.native)
    refine.select("refine.open", painted)
    refine.in_place_box.value = True
    refine.apply()
    wait_applied(qtbot, refine)
    opened = mp.apply("refine.open", mask)
    labels = mp.apply("refine.label", opened)
    sizes = np.bincount(labels.ravel())[1:]
    assert refine.status.value == (
        f"{labels.max()} objects, median {np.median(sizes):g} px (range {sizes.min()}-"
        f"{sizes.max()}); {np.count_nonzero(opened != mask)} pixels changed")


def test_outputs_and_preview_can_be_shown_as_outlines(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    widget.apply()
    wait_applied(qtbot, widget)
    output = viewer.layers["nuclei-auto_threshold"]
    assert output.contour == 0  # filled
    (outlines,) = [w for w in widget.native.findChildren(QCheckBox) if w.text() == "outlines"]
    outlines.setChecked(True)
    assert output.contour == 1
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.model.preview_layer.contour == 1
    widget.preview_box.value = False
    widget.new_layer_box.value = True
    widget.apply()
    wait_applied(qtbot, widget)
    assert viewer.layers[-1] is not output and viewer.layers[-1].contour == 1
    outlines.setChecked(False)
    assert output.contour == 0 and viewer.layers[-1].contour == 0


def show_preview(widget, qtbot):
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    return widget.model.preview_layer


def test_apply_makes_the_shown_preview_its_output(make_widget, qtbot):
    """napari adds a 16 MP layer in ~100 ms and removes one in more: the preview becomes the
    output instead, named, placed, shown and chosen as a new output would be."""
    viewer, widget = make_widget("segment", "nuclei")
    image = viewer.layers["nuclei"]
    viewer.layers.remove("nuclei-ground truth")
    refine = RefineWidget(viewer)
    qtbot.addWidget(refine.native)
    assert refine.model.input_layer is None  # no Labels layer to refine yet
    widget.select("segment.auto_threshold", image)
    preview = show_preview(widget, qtbot)
    viewer.add_image(np.zeros((4, 4)), name="later")  # above the preview
    viewer.add_points([[1.0, 1.0]], name="seeds")  # outputs go under points
    preview.visible = False
    inserted = []
    viewer.layers.events.inserted.connect(lambda event: inserted.append(event.value))
    widget.apply()
    wait_applied(qtbot, widget)
    output = viewer.layers["nuclei-auto_threshold"]
    assert output is preview and inserted == []
    assert [x.name for x in viewer.layers] == ["nuclei", "later", "nuclei-auto_threshold",
                                               "seeds"]
    np.testing.assert_array_equal(output.data, mp.apply("segment.auto_threshold", image.data))
    assert widget.model.preview_layer is None and not widget.preview_box.value
    assert not is_preview(output)
    assert history(output)[-1]["step"]["op"] == "segment.auto_threshold"
    assert output.visible and list(viewer.layers.selection) == [output]
    assert viewer.layers.selection.active is output
    assert refine.model.input_layer is output and refine.input_box.value is output

    widget.apply()  # unchanged since: the same layer is updated
    wait_applied(qtbot, widget)
    assert viewer.layers["nuclei-auto_threshold"] is output and len(viewer.layers) == 4


def test_a_painted_preview_is_not_made_the_output(make_widget, qtbot):
    """Its undo steps would follow it: Ctrl+Z on the output would paint preview pixels."""
    viewer, widget = make_widget("segment", "nuclei")
    image = viewer.layers["nuclei"]
    widget.select("segment.auto_threshold", image)
    preview = show_preview(widget, qtbot)
    preview.paint((10, 10), 1)
    widget.apply()
    wait_applied(qtbot, widget)
    output = viewer.layers["nuclei-auto_threshold"]
    assert output is not preview and preview not in viewer.layers
    np.testing.assert_array_equal(output.data, mp.apply("segment.auto_threshold", image.data))


def test_the_preview_of_one_plane_is_not_made_the_output_of_a_stack(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei_3d")
    stack = viewer.layers["nuclei_3d"]
    widget.select("segment.auto_threshold", stack)
    viewer.dims.set_point(0, 0.0)  # the first plane: the preview is placed like the stack
    preview = show_preview(widget, qtbot)
    assert preview.data.shape == (1, *stack.data.shape[1:])
    np.testing.assert_array_equal(preview.translate, stack.translate)
    widget.apply()
    wait_applied(qtbot, widget)
    output = viewer.layers["nuclei_3d-auto_threshold"]
    assert output is not preview and preview not in viewer.layers
    np.testing.assert_array_equal(output.data, mp.apply("segment.auto_threshold", stack.data))
    np.testing.assert_array_equal(output.translate, stack.translate)


def test_deleting_the_seeds_while_previewing_removes_the_preview_grown_from_them(make_widget,
                                                                                 qtbot):
    """The preview grown from the removed seeds stayed, with nothing in the status line."""
    viewer, widget = make_widget("segment", "nuclei")
    viewer.add_points(seeds_in_nuclei(viewer, 2), name="seeds")
    widget.select("segment.region_grow", viewer.layers["nuclei"])
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    viewer.layers.remove("seeds")
    assert "nuclei-region_grow [preview]" not in viewer.layers
    qtbot.waitUntil(lambda: "Points layer for its 'seeds' input" in widget.status.value,
                    timeout=TIMEOUT_MS)
    assert widget.model.preview_layer is None and widget.preview_box.value


def test_renaming_the_input_renames_its_preview(make_widget, qtbot):
    viewer, widget = make_widget("preprocess", "nuclei")
    widget.select("preprocess.gaussian", viewer.layers["nuclei"])
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    viewer.layers["nuclei"].name = "cells"
    assert [layer.name for layer in viewer.layers] == [
        "nuclei-ground truth", "cells", "cells-gaussian [preview]"]
    assert [layer.name for layer in widget.input_box.choices] == ["cells"]


def test_deleting_the_input_unticks_preview_and_no_other_layer_is_previewed(make_widget,
                                                                           qtbot):
    viewer, widget = make_widget("preprocess", "nuclei")
    viewer.add_image(np.zeros((8, 8), np.uint8), name="other")
    widget.select("preprocess.gaussian", viewer.layers["nuclei"])
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    viewer.layers.remove("nuclei")
    assert not widget.preview_box.value and not widget.previewing
    assert widget.input_box.value is viewer.layers["other"]
    viewer.add_image(np.ones((8, 8), np.uint8), name="nuclei")  # opened again
    qtbot.wait(3 * PREVIEW_DELAY_MS)
    assert not widget.previewing and widget.model.preview_layer is None
    assert [layer.name for layer in viewer.layers] == ["nuclei-ground truth", "other", "nuclei"]


def test_a_preview_turned_from_a_mask_to_labels_colours_each_object(make_widget, qtbot):
    """The preview layer kept the mask's cyan-only colormap when the op chosen next made
    labels: every object but label 1 was drawn the same yellow, the output it became too."""
    viewer, widget = make_widget("refine", "nuclei")
    mask = add_mask(viewer)
    widget.select("refine.fill_holes", mask)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.model.preview_layer is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    widget.select("refine.label", mask)
    qtbot.waitUntil(lambda: preview_shows(viewer, "mask-label [preview]",
                                          mp.apply("refine.label", mask.data)),
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    labels = np.arange(70)
    napari_default = Labels(np.zeros((2, 2), np.int32)).colormap.map(labels)
    np.testing.assert_array_equal(widget.model.preview_layer.colormap.map(labels),
                                  napari_default)
    widget.apply()
    wait_applied(qtbot, widget)
    np.testing.assert_array_equal(viewer.layers["mask-label"].colormap.map(labels),
                                  napari_default)


def test_a_threshold_moves_into_a_float_image_s_range_whose_end_the_spin_box_rounds(
        make_widget, qtbot):
    """1500 on the uint16 nuclei, then a float copy spanning 0.001862 to 0.030488: the
    spin box, at 5 decimals, rounds its top to 0.03049, and the slider (up to 0.030488)
    refused that value (ValueError out of the input picker's signal)."""
    viewer, widget = make_widget("segment", "nuclei")
    nuclei = viewer.layers["nuclei"]
    widget.select("segment.threshold", nuclei)
    widget.param_editors["value"].value = 1500.0
    scaled = viewer.add_image(nuclei.data.astype(np.float32) / 65535, name="scaled")
    assert round(float(scaled.data.max()), 6) == 0.030488
    widget.input_box.value = scaled
    editor = widget.param_editors["value"]
    assert widget.model.params["value"] == editor.value == editor.spin.max == 0.03049
    assert editor.slider.value == 0.03049


def test_a_threshold_starts_mid_range_on_a_float_image_and_follows_the_input(make_widget):
    """The editor, made at 1 decimal (the param's step), showed 0.0162 as 0.0; bounding it
    to the image then moved it to the image's minimum as if typed, so it stayed there
    (everything foreground) on every input chosen after."""
    viewer, widget = make_widget("segment", "nuclei")
    nuclei = viewer.layers["nuclei"]
    scaled = viewer.add_image(nuclei.data.astype(np.float32) / 65535, name="scaled")
    low, high = float(scaled.data.min()), float(scaled.data.max())
    widget.input_box.value = scaled
    widget.select("segment.threshold")  # its editors made while a float image is the input
    assert widget.model.params["value"] == pytest.approx((low + high) / 2)
    assert widget.param_editors["value"].value == pytest.approx((low + high) / 2, abs=1e-5)
    widget.input_box.value = nuclei
    assert widget.model.params["value"] == (122 + 1998) / 2


def test_the_histogram_of_an_input_no_longer_chosen_is_cleared(make_widget, qtbot):
    """With the preview off, choosing another input kept the first one's histogram, and the
    readout said its range ('image 122 to 1998' for a float image of 0.0019 to 0.0305)."""
    viewer, widget = make_widget("segment", "nuclei")
    nuclei = viewer.layers["nuclei"]
    scaled = viewer.add_image(nuclei.data.astype(np.float32) / 65535, name="scaled")
    widget.select("segment.threshold", nuclei)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.histogram.histogram is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.readout.value == "threshold 1060 (image 122 to 1998)"
    widget.preview_box.value = False
    widget.input_box.value = scaled
    low, high = widget.model.intensities
    assert widget.histogram.histogram is None
    assert widget.readout.value == (f"threshold {widget.model.params['value']:.6g} "
                                    f"(image {low:g} to {high:g})")
    assert f"image {low:g}" == "image 0.0018616"


def test_a_mask_of_volumes_over_time_is_written_and_counted_volume_by_volume(qtbot):
    """Apply of a threshold on a (t, z, y, x) stack computed the mask, then failed counting
    its objects ('refine.label works on 2D or 3D data; got 4D data'), writing nothing."""
    from napari.components import ViewerModel

    from napari_maskprep._napari.widgets import SegmentWidget

    viewer = ViewerModel()
    volume = np.zeros((4, 8, 8), np.uint8)
    volume[1:3, 1:3, 1:3] = volume[1:3, 5:7, 5:7] = 200  # two objects
    stack = np.stack([volume, np.roll(volume, 1, axis=-1), volume])  # 3 time points
    layer = viewer.add_image(stack, name="tz", axis_labels=("t", "z", "y", "x"))
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("segment.threshold", layer)
    widget.param_editors["value"].value = 100
    widget.apply()
    wait_applied(qtbot, widget)
    output = viewer.layers["tz-threshold"]
    assert output.data.dtype == np.uint8
    np.testing.assert_array_equal(output.data, stack > 100)
    assert widget.status.value == "2 objects in each of 3 volumes, median 8 px (range 8-8)"


def test_one_object_in_each_frame_is_said_in_the_singular():
    """The status line said '1 objects in each of 3 volumes' of a time-lapse with one
    object a frame."""
    from napari_maskprep._napari.outputs import describe
    from napari_maskprep.core.locality import Kind

    frames = np.zeros((2, 6, 6), np.uint8)
    frames[:, 1:3, 1:3] = 1
    assert describe(frames, Kind.MASK, plane="frame") == (
        "1 object in each of 2 frames, median 4 px (range 4-4)")
    frames[1, 4:6, 4:6] = 1
    assert describe(frames, Kind.MASK, plane="frame") == (
        "1-2 objects in each of 2 frames, median 4 px (range 4-4)")
