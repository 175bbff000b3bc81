"""The Mask Prep panel and the pieces every stage view takes from op metadata: histogram
and threshold readout, sliders over the image's range, Try all, pick from image, options
that apply."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Labels
from qtpy.QtGui import QKeySequence
from scipy import ndimage
from skimage import color, exposure, filters

import napari_maskprep as mp
from napari_maskprep._napari import menus
from napari_maskprep._napari.montage import thumbnail
from napari_maskprep._napari.outputs import history
from napari_maskprep._napari.panel import SHORTCUTS, MaskPrepPanel, open_recorder
from napari_maskprep.ops.segment import ThresholdMethod

TIMEOUT_MS = 20000
LAPTOP = (1366, 768)


def wait_histogram(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: widget.histogram.histogram is not None and not widget.previewing,
                    timeout=TIMEOUT_MS)


def test_panel_holds_the_stages_and_the_recipe_and_fits_a_laptop_screen(make_napari_viewer,
                                                                        qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-maskprep", "nuclei")
    dock, panel = viewer.window.add_plugin_dock_widget("napari-maskprep", "Mask Prep")
    assert isinstance(panel, MaskPrepPanel)
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert titles == ["Preprocess", "Segment", "Refine", "Recipe"]
    for stage in ("preprocess", "segment", "refine"):
        panel.show_stage(stage)
        viewer.window.resize(*LAPTOP)
        qtbot.wait(50)
        # Four docks forced the window to 1420-1455 px high; the panel asks for no more
        # than the screen beside napari's layer list and layer controls.
        assert viewer.window.geometry()[2:] == LAPTOP, stage
        assert dock.height() < LAPTOP[1]
    assert [s.key().toString() for s in panel._shortcuts] == list(SHORTCUTS.values())


def test_separate_docks_scroll_and_four_of_them_fit_a_laptop_screen(make_napari_viewer, qtbot):
    """Each dock asked its whole height: Segment and the Recorder made napari's window 1086 px
    high, Train on top 1373 px, past a 1366 x 768 screen. Docked on its own, a widget is now
    a scroll area holding its form, whose rows stay at its top."""
    from qtpy.QtWidgets import QScrollArea

    from napari_maskprep._napari.fitting import form_of

    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-maskprep", "nuclei")
    viewer.window.resize(*LAPTOP)
    docked = {}
    for name in ("Segment", "Refine", "Recorder", "Train", "Edit region"):
        dock, widget = viewer.window.add_plugin_dock_widget("napari-maskprep", name)
        qtbot.wait(50)
        assert dock.widget() is widget.native and isinstance(widget.native, QScrollArea), name
        assert form_of(widget).parentWidget() is widget.native.viewport(), name
        docked[name] = dock, widget
        assert viewer.window.geometry()[2:] == LAPTOP, name
    for name, (dock, _) in docked.items():
        assert dock.minimumSizeHint().height() < 100, name
    segment = docked["Segment"][1]
    assert segment.native.verticalScrollBar().maximum() > 0  # squeezed: it scrolls
    rows = form_of(segment).layout()
    assert rows.itemAt(rows.count() - 1).spacerItem() is not None  # below the rows, a stretch


def test_panel_keys_act_on_the_stage_shown(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-maskprep", "nuclei")
    _, panel = viewer.window.add_plugin_dock_widget("napari-maskprep", "Mask Prep")
    window = panel.window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=TIMEOUT_MS)

    def press(key: str) -> None:  # as typed, anywhere in the window (the canvas too)
        sequence = QKeySequence(key)[0]
        qtbot.keyClick(window, sequence.key(), sequence.keyboardModifiers())

    segment = panel.show_stage("segment")
    assert panel.current_stage is segment
    ops = [spec.id for spec in segment.model.ops]
    before = segment.model.op.id
    press(SHORTCUTS["next_op"])
    assert segment.model.op.id == ops[(ops.index(before) + 1) % len(ops)]
    segment.select("segment.auto_threshold")
    press(SHORTCUTS["preview"])
    assert segment.preview_box.value
    press(SHORTCUTS["preview"])
    assert not segment.preview_box.value
    press(SHORTCUTS["apply"])
    qtbot.waitUntil(lambda: "nuclei-auto_threshold" in viewer.layers and not segment.running,
                    timeout=TIMEOUT_MS)
    nuclei = viewer.layers["nuclei"]
    out = viewer.layers["nuclei-auto_threshold"]
    assert isinstance(out, Labels) and out.data.dtype == np.uint8
    np.testing.assert_array_equal(out.scale, nuclei.scale)
    np.testing.assert_array_equal(out.data, mp.apply("segment.auto_threshold", nuclei.data))
    assert [s.op for s in panel.recorder.model.recipe.steps] == ["segment.auto_threshold"]
    panel.tabs.setCurrentIndex(3)  # the Recipe tab: no stage, the keys do nothing
    assert panel.current_stage is None
    press(SHORTCUTS["next_op"])
    press(SHORTCUTS["apply"])
    assert segment.model.op.id == "segment.auto_threshold" and not segment.running


def test_manual_threshold_slider_spans_the_image_and_starts_in_its_middle(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.threshold")
    data = viewer.layers["nuclei"].data
    low, high = float(data.min()), float(data.max())
    assert (low, high) == (122.0, 1998.0)
    editor = widget.param_editors["value"]
    assert (editor.slider.min, editor.slider.max) == (low, high)
    assert (editor.spin.min, editor.spin.max) == (low, high)
    assert editor.slider.step == editor.spin.step == 1.0
    assert widget.model.params["value"] == editor.value == 1060.0
    assert widget.readout.value == "threshold 1060 (image 122 to 1998)"
    editor.slider.value = 700
    assert widget.model.params["value"] == 700.0
    assert widget.histogram.thresholds == (700.0,)
    assert widget.readout.value.startswith("threshold 700 ")
    widget.preview_box.value = True
    wait_histogram(qtbot, widget)
    assert widget.histogram.thresholds == (700.0,)
    counts = np.bincount(data.ravel())[int(low):int(high) + 1]
    np.testing.assert_array_equal(widget.histogram.histogram.counts, counts)
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    out = viewer.layers["nuclei-threshold"]
    np.testing.assert_array_equal(out.data, (data > 700).astype(np.uint8))


def test_the_slider_spans_the_finite_values_of_an_image_holding_inf_and_nan(make_widget):
    """An image with inf raised OverflowError while the slider's step was worked out."""
    viewer, widget = make_widget("segment")
    data = np.linspace(2.0, 6.0, 30 * 30, dtype=np.float32).reshape(30, 30)
    data[5, 5], data[6, 6] = np.inf, np.nan
    widget.select("segment.threshold", viewer.add_image(data, name="with_inf"))
    editor = widget.param_editors["value"]
    assert (editor.slider.min, editor.slider.max) == (2.0, 6.0)
    assert widget.model.params["value"] == 4.0


def test_a_threshold_typed_before_any_image_is_open_is_taken(make_widget):
    """The hidden slider (0 to 1 until an image bounds it) refused a typed 5: ValueError."""
    _, widget = make_widget("segment")
    widget.select("segment.threshold")
    widget.param_editors["value"].spin.native.setValue(5.0)  # as typed
    assert widget.model.params["value"] == 5.0


def test_histogram_shows_the_input_and_the_threshold_the_op_takes(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    data = viewer.layers["nuclei"].data
    widget.select("segment.auto_threshold")
    widget.preview_box.value = True
    wait_histogram(qtbot, widget)
    shown = widget.histogram.histogram
    assert shown.counts.sum() == data.size
    assert len(shown.counts) == int(data.max()) - int(data.min()) + 1  # a bin per value
    otsu = filters.threshold_otsu(data)
    assert widget.histogram.thresholds == pytest.approx((otsu,))
    assert widget.readout.value == f"threshold {otsu:.6g} (image 122 to 1998)"
    # A parameter of the apply side only: the kept statistic is shown, not counted again.
    widget.param_editors["polarity"].value = widget.param_editors["polarity"].choices[0]
    assert widget.previewing  # the change started the preview's delay
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.histogram.histogram is shown
    widget.param_editors["method"].value = ThresholdMethod.LI
    qtbot.waitUntil(lambda: widget.histogram.thresholds != pytest.approx((otsu,))
                    and not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.histogram.thresholds == pytest.approx((filters.threshold_li(data),))


def test_multi_threshold_draws_each_threshold_and_caps_classes_kept(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    data = viewer.layers["nuclei"].data
    widget.select("segment.multi_threshold")
    keep_to = widget.param_editors["keep_to"]
    assert (keep_to.slider.min, keep_to.slider.max) == (0, 2)  # classes=3: 0 to 2
    widget.preview_box.value = True
    wait_histogram(qtbot, widget)
    coarse = exposure.histogram(data.astype(np.float64), nbins=256, source_range="image")
    assert widget.histogram.thresholds == pytest.approx(
        tuple(filters.threshold_multiotsu(hist=coarse, classes=3)))
    widget.param_editors["classes"].value = 2
    assert (keep_to.spin.min, keep_to.spin.max) == (0, 1)
    assert widget.model.params["keep_to"] == keep_to.value == 1  # moved in from 2
    assert widget.model.params["keep_from"] == 1
    qtbot.waitUntil(lambda: len(widget.histogram.thresholds) == 1 and not widget.previewing,
                    timeout=TIMEOUT_MS)
    # Multi-Otsu on 256 bins of a 16-bit image (the op's documented reference).
    assert widget.histogram.thresholds == pytest.approx(
        tuple(filters.threshold_multiotsu(hist=coarse, classes=2)))


def test_try_all_shows_every_method_and_a_click_chooses_it(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    data = viewer.layers["nuclei"].data
    widget.select("segment.threshold")
    assert widget.try_all_button.native.isHidden()  # no method to compare
    widget.select("segment.auto_threshold")
    assert not widget.try_all_button.native.isHidden()
    widget.try_all()
    qtbot.waitUntil(lambda: bool(widget.montage.buttons) and not widget.previewing,
                    timeout=TIMEOUT_MS)
    buttons = widget.montage.buttons
    assert list(buttons) == [m.value for m in ThresholdMethod]
    assert buttons["otsu"].isChecked() and not buttons["li"].isChecked()
    assert buttons["otsu"].text() == f"otsu\n{filters.threshold_otsu(data):.4g}"
    assert buttons["li"].iconSize().width() == 72
    # 520 x 696 px shrunk by a stride of 10: the icon keeps the plane's shape.
    assert buttons["li"].icon().actualSize(buttons["li"].iconSize()).height() == 52
    buttons["li"].click()
    assert widget.model.params["method"] is ThresholdMethod.LI
    assert widget.param_editors["method"].value is ThresholdMethod.LI
    assert buttons["li"].isChecked() and not buttons["otsu"].isChecked()
    assert widget.model.step().params["method"] == "li"
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    out = viewer.layers["nuclei-auto_threshold"]
    assert history(out)[-1]["step"]["params"]["method"] == "li"


def test_a_bug_showing_try_all_s_results_says_one_line(make_widget, qtbot, monkeypatch,
                                                       caplog):
    """A bug as the montage was built, on the GUI thread, reached napari as a traceback."""
    from napari_maskprep._napari import montage

    def fails(*args, **kwargs):
        raise KeyError("mask")

    monkeypatch.setattr(montage, "_icon", fails)
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.auto_threshold")
    widget.try_all()
    qtbot.waitUntil(lambda: widget._try_all_worker is None, timeout=TIMEOUT_MS)
    said = ("Try all of segment.auto_threshold failed (KeyError: 'mask'); a bug: its "
            "traceback is logged")
    assert widget.status.value == said
    logged = [r for r in caplog.records if r.name == "napari_maskprep._napari.workers"]
    assert [r.getMessage() for r in logged] == ["Try all of segment.auto_threshold failed"]
    assert logged[0].exc_info[0] is KeyError


def test_try_all_results_for_an_op_no_longer_chosen_are_dropped(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.auto_threshold")
    widget.try_all()
    widget.select("segment.multi_threshold")
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert widget.montage.buttons == {} and widget.try_all_button.native.isHidden()


def test_try_all_on_an_image_one_pixel_high_or_wide_shows_its_masks(make_widget, qtbot):
    """The montage squeezed each mask to draw it: a mask one pixel high or wide lost an
    axis, and its thumbnail raised IndexError in napari instead of showing the masks."""
    viewer, widget = make_widget("segment")
    for data in (np.array([[1, 5, 9, 2, 8]], np.uint8), np.array([[[1], [5], [9]]], np.uint8)):
        layer = viewer.add_image(data)
        widget.select("segment.auto_threshold", layer)
        widget.try_all()
        qtbot.waitUntil(lambda: bool(widget.montage.buttons) and not widget.previewing,
                        timeout=TIMEOUT_MS)
        buttons = widget.montage.buttons
        assert list(buttons) == [m.value for m in ThresholdMethod]
        assert buttons["otsu"].text() == f"otsu\n{filters.threshold_otsu(data):.4g}"
        viewer.layers.remove(layer)
        qtbot.waitUntil(lambda: not widget.montage.buttons, timeout=TIMEOUT_MS)


def test_thumbnail_shrinks_by_a_whole_stride():
    mask = np.zeros((200, 100), np.uint8)
    mask[0, 0] = mask[2, 2] = 1
    small = thumbnail(mask, size=96)
    assert small.shape == (67, 34) and small.dtype == np.uint8
    assert small[0, 0] == 255 and small.sum() == 255


def test_region_grow_tolerance_slider_spans_the_image_range(make_widget):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.region_grow")
    editor = widget.param_editors["tolerance"]
    assert (editor.slider.min, editor.slider.max) == (0.0, 1998.0 - 122.0)
    assert widget.model.params["tolerance"] == 10.0  # a tolerance keeps its default
    assert widget.histogram_box.native.isHidden()


def test_a_click_on_the_image_picks_the_colour_box_and_the_hue_bar_follows(make_widget):
    viewer, widget = make_widget("segment", "he_tile")
    widget.select("segment.color_range")
    assert not widget.pick_button.native.isHidden() and not widget.hue_box.native.isHidden()
    assert widget.hue_bar.hues == (0.0, 360.0)
    layer = viewer.layers["he_tile"]
    widget.start_pick()
    assert widget._on_pick_click in viewer.mouse_drag_callbacks
    values = widget.pick_at([150, 200])
    assert widget._on_pick_click not in viewer.mouse_drag_callbacks  # one click only
    hsv = color.rgb2hsv(layer.data[150:151, 200:201])[0, 0]
    hue, sat, val = hsv[0] * 360, hsv[1] * 100, hsv[2] * 100
    assert values == pytest.approx({
        "hue_min": round((hue - 15) % 360, 1), "hue_max": round((hue + 15) % 360, 1),
        "sat_min": round(max(sat - 15, 0), 1), "sat_max": round(min(sat + 15, 100), 1),
        "val_min": round(max(val - 15, 0), 1), "val_max": round(min(val + 15, 100), 1),
    })
    assert {k: widget.model.params[k] for k in values} == values
    assert widget.param_editors["hue_min"].value == values["hue_min"]
    assert widget.hue_bar.hues == (values["hue_min"], values["hue_max"])
    assert widget.hue_bar.kept(hue) and not widget.hue_bar.kept((hue + 180) % 360)
    assert widget.pick_at([-50, 200]) == {}  # outside: nothing set
    assert widget.status.value == "that point is outside the input"


def test_a_click_picks_the_manual_threshold_from_the_pixel(make_widget):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.threshold")
    data = viewer.layers["nuclei"].data
    assert widget.pick_at([10, 20]) == {"value": float(data[10, 20])}
    assert widget.param_editors["value"].value == float(data[10, 20])


def test_options_that_do_not_apply_are_hidden(make_widget):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.local_threshold")
    method = widget.param_editors["method"]
    assert method.value.value == "gaussian"
    assert widget.param_editors["k"].native.isHidden()
    method.value = type(method.value)("sauvola")
    assert not widget.param_editors["k"].native.isHidden()
    method.value = type(method.value)("mean")
    assert widget.param_editors["k"].native.isHidden()
    assert not widget.param_editors["block_size"].native.isHidden()


def test_edge_thresholds_show_for_their_method_only(make_widget):
    """Canny's low and high and the Sobel threshold were all shown whichever method ran."""
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.edges")
    hidden = {name: editor.native.isHidden() for name, editor in widget.param_editors.items()}
    assert hidden == {"method": False, "sigma": False, "low": False, "high": False,
                      "sobel_threshold": True}
    method = widget.param_editors["method"]
    method.value = type(method.value)("sobel")
    hidden = {name: editor.native.isHidden() for name, editor in widget.param_editors.items()}
    assert hidden == {"method": False, "sigma": False, "low": True, "high": True,
                      "sobel_threshold": False}


def test_object_table_gives_labels_a_row_per_object(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    nuclei = viewer.layers["nuclei"].data
    mask = viewer.add_labels(mp.apply("segment.auto_threshold", nuclei), name="mask")
    widget.select("segment.auto_threshold")
    assert widget.table_row.native.isHidden()  # a mask: no label to hover
    widget.select("segment.watershed", mask)
    assert not widget.table_row.native.isHidden()
    widget.extra_boxes["image"].value = viewer.layers["nuclei"]
    widget.table_box.value = True
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    out = viewer.layers["mask-watershed"]
    labels = mp.apply("segment.watershed", mask.data, image=nuclei)
    np.testing.assert_array_equal(out.data, labels)
    features = out.features
    assert list(features.columns) == ["index", "area", "centroid-0", "centroid-1",
                                      "mean_intensity"]
    present = np.unique(labels[labels > 0])
    np.testing.assert_array_equal(features["index"], present)
    np.testing.assert_array_equal(features["area"], np.bincount(labels.ravel())[present])
    np.testing.assert_allclose(features["mean_intensity"],
                               ndimage.mean(nuclei, labels, present))
    np.testing.assert_allclose(features["centroid-1"],
                               [c[1] for c in ndimage.center_of_mass(mask.data, labels,
                                                                     present)])


def test_without_the_tick_labels_get_no_table(make_widget, qtbot):
    viewer, widget = make_widget("refine", "nuclei")
    mask = viewer.add_labels(mp.apply("segment.auto_threshold", viewer.layers["nuclei"].data),
                             name="mask")
    widget.select("refine.label", mask)
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert viewer.layers["mask-label"].features.shape[1] == 0


def test_a_float_image_gets_256_bins_and_a_slider_over_its_range(make_widget, qtbot):
    viewer, widget = make_widget("segment")
    image = np.linspace(-1.5, 2.5, 64 * 80, dtype=np.float32).reshape(64, 80)
    viewer.add_image(image, name="float", scale=(0.5, 0.5))
    widget.select("segment.threshold", viewer.layers["float"])
    editor = widget.param_editors["value"]
    assert (editor.slider.min, editor.slider.max) == (-1.5, 2.5)
    assert widget.model.params["value"] == 0.5
    assert editor.slider.step == editor.spin.step == 0.001  # a thousandth of the range
    editor.slider.value = 0.123
    assert widget.model.params["value"] == pytest.approx(0.123)
    editor.slider.value = 0.5
    widget.preview_box.value = True
    wait_histogram(qtbot, widget)
    shown = widget.histogram.histogram
    assert len(shown.counts) == 256 and shown.counts.sum() == image.size
    assert widget.histogram.thresholds == (0.5,)
    preview = viewer.layers["float-threshold [preview]"]
    np.testing.assert_array_equal(preview.data, (image > 0.5).astype(np.uint8))
    np.testing.assert_array_equal(preview.scale, (0.5, 0.5))


def test_a_menu_item_uses_the_docked_panel(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-maskprep", "nuclei")
    _, panel = viewer.window.add_plugin_dock_widget("napari-maskprep", "Mask Prep")
    panel.show_stage("refine")
    docked = set(viewer.window.dock_widgets)
    nuclei = viewer.layers["nuclei"]
    viewer.layers.selection.active = nuclei
    menus.run_from_menu(viewer, "preprocess.gaussian")
    preprocess = panel.stages["preprocess"]
    assert panel.current_stage is preprocess and preprocess.model.input_layer is nuclei
    qtbot.waitUntil(lambda: not preprocess.running, timeout=TIMEOUT_MS)
    out = viewer.layers["nuclei-gaussian"]
    assert out.data.dtype == np.uint16 and out.data.shape == nuclei.data.shape  # the input's
    np.testing.assert_array_equal(out.data, mp.apply("preprocess.gaussian", nuclei.data))
    assert set(viewer.window.dock_widgets) == docked  # no Preprocess dock beside the panel


def test_a_stack_shows_the_histogram_of_what_the_op_reads(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei_3d")
    stack = viewer.layers["nuclei_3d"].data
    widget.select("segment.auto_threshold", viewer.layers["nuclei_3d"])
    widget.preview_box.value = True
    wait_histogram(qtbot, widget)
    assert widget.histogram.histogram.counts.sum() == stack.size  # a 3D op: the whole stack
    assert widget.histogram.thresholds == pytest.approx((filters.threshold_otsu(stack),))
    widget.per_plane_box.value = True  # plane by plane: the shown plane's
    qtbot.waitUntil(lambda: not widget.previewing
                    and widget.histogram.histogram.counts.sum() == stack[0].size,
                    timeout=TIMEOUT_MS)
    plane = stack[widget.model.shown_plane(viewer.layers["nuclei_3d"])]
    assert widget.histogram.thresholds == pytest.approx((filters.threshold_otsu(plane),))


def test_the_recipe_menu_item_shows_the_panels_recorder(make_napari_viewer):
    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget("napari-maskprep", "Mask Prep")
    docked = set(viewer.window.dock_widgets)
    assert open_recorder(viewer) is panel.recorder
    assert panel.tabs.tabText(panel.tabs.currentIndex()) == "Recipe"
    assert set(viewer.window.dock_widgets) == docked  # no second recorder


def _labelled_with_table(viewer, widget, qtbot, name):
    """The object table of layer ``name`` labelled with the table box ticked."""
    widget.select("refine.label", viewer.layers[name])
    widget.table_box.value = True
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    return viewer.layers[f"{name}-label"].features


def test_a_time_lapse_is_summed_up_frame_by_frame(make_widget, qtbot):
    """Frames were counted as one volume: objects through time, sizes summed over frames,
    no µm² (the time axis taken as a third pixel size)."""
    viewer, widget = make_widget("refine")
    frames = np.zeros((3, 40, 50), np.uint8)
    frames[:, 2:6, 2:7] = 1  # 20 px in every frame
    frames[1:, 20:30, 10:20] = 1  # 100 px in the last two frames
    viewer.add_labels(frames, name="movie", scale=(1.0, 0.5, 0.5), axis_labels=("t", "y", "x"),
                      units=("s", "um", "um"))
    widget.select("refine.remove_small", viewer.layers["movie"])
    widget.param_editors["min_size"].value = 5
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert widget.status.value == ("1-2 objects in each of 3 frames, median 20 px (range "
                                   "20-100) = 5 µm² (5-25)")
    features = _labelled_with_table(viewer, widget, qtbot, "movie-remove_small")  # by frame
    # Each frame's objects in µm² and µm (0.5 µm a pixel); the frame stays an index.
    assert list(features.columns) == ["index", "area_um2", "centroid-0", "centroid-1_um",
                                      "centroid-2_um"]
    np.testing.assert_array_equal(features["index"], [1, 1, 2, 1, 2])
    np.testing.assert_array_equal(features["area_um2"], [5, 5, 25, 5, 25])
    np.testing.assert_array_equal(features["centroid-0"], [0, 1, 1, 2, 2])
    np.testing.assert_allclose(features["centroid-1_um"], [1.75, 1.75, 12.25, 1.75, 12.25])


def test_the_object_table_is_in_micrometres_where_the_viewer_places_the_objects(make_widget,
                                                                               qtbot):
    """The table gave pixels and pixel indices beside a summary in µm²: the area is now in
    µm² and the centroids in µm, scale (in nm here) and translate applied."""
    viewer, widget = make_widget("refine")
    mask = np.zeros((40, 50), np.uint8)
    mask[2:6, 2:7] = 1  # 20 px, centre (3.5, 4)
    mask[20:30, 10:20] = 1  # 100 px, centre (24.5, 14.5)
    viewer.add_labels(mask, name="cells", scale=(500, 250), translate=(1000, 2000),
                      units=("nm", "nm"))
    features = _labelled_with_table(viewer, widget, qtbot, "cells")
    assert list(features.columns) == ["index", "area_um2", "centroid-0_um", "centroid-1_um"]
    np.testing.assert_array_equal(features["index"], [1, 2])
    np.testing.assert_allclose(features["area_um2"], [2.5, 12.5])  # 0.125 µm² a pixel
    np.testing.assert_allclose(features["centroid-0_um"], [1 + 3.5 * 0.5, 1 + 24.5 * 0.5])
    np.testing.assert_allclose(features["centroid-1_um"], [2 + 4 * 0.25, 2 + 14.5 * 0.25])
    assert widget.status.value == ("2 objects, median 60 px (range 20-100) = 7.5 µm² "
                                   "(2.5-12.5)")


def test_a_volume_s_object_table_gives_cubic_micrometres(make_widget, qtbot):
    viewer, widget = make_widget("refine")
    mask = np.zeros((4, 10, 10), np.uint8)
    mask[1:3, 2:4, 2:7] = 1  # 20 voxels, centre (1.5, 2.5, 4)
    viewer.add_labels(mask, name="cells", scale=(2, 0.5, 0.5), translate=(-1, 0, 0),
                      units=("um", "um", "um"))
    features = _labelled_with_table(viewer, widget, qtbot, "cells")
    assert list(features.columns) == ["index", "area_um3", "centroid-0_um", "centroid-1_um",
                                      "centroid-2_um"]
    np.testing.assert_allclose(features["area_um3"], [10])  # 0.5 µm³ a voxel
    np.testing.assert_allclose(features["centroid-0_um"], [2])
    np.testing.assert_allclose(features["centroid-1_um"], [1.25])
    np.testing.assert_allclose(features["centroid-2_um"], [2])


def test_the_summary_gives_object_sizes_in_square_micrometres_with_a_scale(make_widget, qtbot):
    viewer, widget = make_widget("segment")
    image = np.zeros((40, 50), np.uint8)
    image[2:6, 2:7] = 200  # 20 px
    image[20:30, 10:20] = 200  # 100 px
    viewer.add_image(image, name="cells", scale=(0.5, 0.5), units=("um", "um"))
    widget.select("segment.threshold", viewer.layers["cells"])
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    # 0.25 µm² a pixel: 20 px = 5 µm², 100 px = 25 µm², median 60 px = 15 µm².
    assert widget.status.value == "2 objects, median 60 px (range 20-100) = 15 µm² (5-25)"


def test_try_all_on_a_stack_thresholds_as_the_per_plane_box_says(make_widget, qtbot):
    """Unticked, each method thresholds the whole stack, as its preview and Apply do; the
    montage showed each method's threshold of the shown plane alone."""
    viewer, widget = make_widget("segment", "nuclei_3d")
    stack = viewer.layers["nuclei_3d"]
    widget.select("segment.auto_threshold", stack)
    viewer.dims.set_point(0, 5.0)
    whole = widget.model.try_all().run()
    for method in ("otsu", "li", "mean"):
        expected = mp.apply("segment.auto_threshold", stack.data, method=method)[5]
        np.testing.assert_array_equal(whole[method][0], expected)
    widget.per_plane_box.value = True
    planes = widget.model.try_all().run()
    expected = mp.apply("segment.auto_threshold", stack.data[5], method="otsu")
    np.testing.assert_array_equal(planes["otsu"][0], expected)
    assert planes["otsu"][1] != whole["otsu"][1]


def test_try_all_of_an_input_no_longer_chosen_is_cleared_or_dropped(make_widget, qtbot):
    """The montage kept the first input's masks and thresholds after another input was
    chosen, and a Try all finishing after the switch showed the old input's."""
    viewer, widget = make_widget("segment", "nuclei")
    nuclei = viewer.layers["nuclei"]
    scaled = viewer.add_image(nuclei.data.astype(np.float32) / 65535, name="scaled")
    widget.select("segment.auto_threshold", nuclei)
    widget.try_all()
    qtbot.waitUntil(lambda: bool(widget.montage.buttons) and not widget.previewing,
                    timeout=TIMEOUT_MS)
    late = widget.model.try_all()  # computed on nuclei, finished after the switch
    widget.input_box.value = scaled
    assert widget.montage.buttons == {}
    widget._on_try_all_result(late, late.run())
    assert widget.montage.buttons == {}
    widget.try_all()
    qtbot.waitUntil(lambda: bool(widget.montage.buttons) and not widget.previewing,
                    timeout=TIMEOUT_MS)
    otsu = filters.threshold_otsu(scaled.data)
    assert widget.montage.buttons["otsu"].text() == f"otsu\n{otsu:.4g}"
