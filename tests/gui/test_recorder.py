"""The Recorder: record Applies and hand edits as a recipe, edit, re-run, replay, batch."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from napari.components import ViewerModel
from napari.utils.key_bindings import KeymapHandler
from napari.utils.notifications import NotificationSeverity
from npe2 import PluginManifest
from qtpy.QtCore import QEvent
from qtpy.QtGui import QHelpEvent
from qtpy.QtWidgets import QApplication, QLabel, QToolTip

import napari_maskprep as mp
from napari_maskprep._napari import _sample_data
from napari_maskprep._napari.fitting import shown_text
from napari_maskprep._napari.outputs import describe
from napari_maskprep._napari.recorder import RecorderWidget, open_recorder
from napari_maskprep._napari.widgets import PreprocessWidget, RefineWidget, SegmentWidget
from napari_maskprep.batch import SUMMARY_NAME
from napari_maskprep.core.locality import Kind
from napari_maskprep.presets import preset_names, preset_path

from .test_menus import find_action

ERROR = NotificationSeverity.ERROR
WARNING = NotificationSeverity.WARNING
TIMEOUT_MS = 20000
FINAL = "nuclei-gaussian-auto_threshold-fill_holes"


class Session:
    """A viewer with the nuclei sample, the three stage widgets and the Recorder."""

    def __init__(self, viewer, qtbot) -> None:
        self.viewer, self.qtbot = viewer, qtbot
        self.preprocess = PreprocessWidget(viewer)
        self.segment = SegmentWidget(viewer)
        self.refine = RefineWidget(viewer)
        self.recorder = RecorderWidget(viewer)
        for widget in (self.preprocess, self.segment, self.refine, self.recorder):
            qtbot.addWidget(widget.native)

    def apply(self, widget, op_id: str, layer_name: str, **params) -> None:
        widget.select(op_id, self.viewer.layers[layer_name])
        for name, value in params.items():
            widget.param_editors[name].value = value
        widget.apply()
        self.qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)

    def record_three(self) -> None:
        self.apply(self.preprocess, "preprocess.gaussian", "nuclei", sigma=1.5)
        self.apply(self.segment, "segment.auto_threshold", "nuclei-gaussian", method="li")
        self.apply(self.refine, "refine.fill_holes", "nuclei-gaussian-auto_threshold")

    def wait(self, worker) -> None:
        self.qtbot.waitUntil(lambda: not self.recorder.running, timeout=TIMEOUT_MS)

    def wait_steps(self, count: int) -> None:
        self.qtbot.waitUntil(lambda: len(self.recorder.model.records) == count,
                             timeout=TIMEOUT_MS)


@pytest.fixture
def session(qtbot):
    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    made = Session(viewer, qtbot)
    yield made
    for widget in (made.preprocess, made.segment, made.refine):
        qtbot.waitUntil(lambda w=widget: not w.running, timeout=TIMEOUT_MS)
    made.recorder.cancel()
    qtbot.waitUntil(lambda: not made.recorder.running, timeout=TIMEOUT_MS)


def paint(layer, rows: slice, cols: slice, value: int) -> None:
    """One brush stroke, as napari's paint tool records it (one undoable history item)."""
    ys, xs = np.mgrid[rows, cols]
    layer.data_setitem((ys.ravel(), xs.ravel()), value)


def test_applies_are_recorded_by_role_and_replay_bit_for_bit(session, tmp_path):
    session.record_three()
    recipe = session.recorder.model.recipe
    assert [s.op for s in recipe.steps] == ["preprocess.gaussian", "segment.auto_threshold",
                                            "refine.fill_holes"]
    assert recipe.steps[0].params == mp.get_op("preprocess.gaussian").plain_params(
        {"sigma": 1.5})
    assert recipe.steps[1].params["method"] == "li"
    assert all(not s.inputs and s.id is None for s in recipe.steps) and not recipe.inputs
    assert session.recorder.steps.count() == 3
    assert session.recorder.steps.item(0).text() == "1. preprocess.gaussian  sigma=1.5"

    script = session.recorder.export(tmp_path / "nuclei.py").read_text()
    compile(script, "nuclei.py", "exec")
    assert "apply('preprocess.gaussian', result, sigma=1.5)" in script

    path = session.recorder.save(tmp_path / "nuclei.maskprep.yaml")
    session.recorder.model.clear()
    assert session.recorder.load(path) and session.recorder.model.recipe == recipe
    session.recorder.target_box.value = session.viewer.layers["nuclei"]
    session.wait(session.recorder.replay())
    replayed = session.viewer.layers["nuclei-recipe"]
    recorded = session.viewer.layers[FINAL].data
    assert replayed.data.dtype == recorded.dtype
    np.testing.assert_array_equal(replayed.data, recorded)


def test_reapply_updates_a_step_and_a_branch_is_followed(session, shown):
    session.record_three()
    session.apply(session.segment, "segment.auto_threshold", "nuclei-gaussian", method="otsu")
    ops = [(s.op, s.params.get("method")) for s in session.recorder.model.recipe.steps]
    assert ops == [("preprocess.gaussian", None), ("segment.auto_threshold", "otsu"),
                   ("refine.fill_holes", None)]
    session.apply(session.segment, "segment.threshold", "nuclei-gaussian")
    assert [s.op for s in session.recorder.model.recipe.steps] == ["preprocess.gaussian",
                                                                   "segment.threshold"]
    assert any("now follows 'nuclei-gaussian-threshold'" in m for _, m in shown())


def test_applies_in_another_viewer_are_not_recorded(session, qtbot):
    other = ViewerModel()
    other.add_image(session.viewer.layers["nuclei"].data, name="nuclei")
    widget = PreprocessWidget(other)
    qtbot.addWidget(widget.native)
    widget.select("preprocess.gaussian")
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert "nuclei-gaussian" in other.layers and session.recorder.model.records == []


def test_seed_points_become_a_declared_input(session):
    viewer = session.viewer
    truth = viewer.layers["nuclei-ground truth"].data
    seeds = viewer.add_points([np.argwhere(truth == n).mean(axis=0) for n in (1, 2)],
                              name="my clicks")
    session.segment.select("segment.region_grow", viewer.layers["nuclei"])
    session.segment.extra_boxes["seeds"].value = seeds
    session.segment.apply()
    session.qtbot.waitUntil(lambda: not session.segment.running, timeout=TIMEOUT_MS)
    recipe = session.recorder.model.recipe
    assert recipe.inputs == {"seeds": "points"}
    assert recipe.steps[0].inputs == {"seeds": "seeds"}
    session.recorder.target_box.value = viewer.layers["nuclei"]
    session.wait(session.recorder.replay())
    np.testing.assert_array_equal(viewer.layers["nuclei-recipe"].data,
                                  viewer.layers["nuclei-region_grow"].data)


def test_hand_edits_are_recorded_replayed_and_reapplied_after_rerun(session, shown):
    session.record_three()
    final = session.viewer.layers[FINAL]
    written = final.data.copy()
    paint(final, slice(10, 14), slice(10, 20), 1)
    session.wait_steps(4)
    paint(final, slice(40, 42), slice(40, 45), 0)  # a second stroke: the same edit step
    session.qtbot.waitUntil(lambda: session.recorder.model.recipe.steps[3].params["bbox"]
                            != "10:14,10:20", timeout=TIMEOUT_MS)  # captured once they stop
    assert len(session.recorder.model.records) == 4
    recipe = session.recorder.model.recipe
    edit = recipe.steps[3]
    assert edit.op == "edit.manual" and edit.inputs == {"image": "input"}
    assert edit.params["bbox"] == "10:42,10:45"
    painted = final.data.copy()
    edited = painted != written  # the pixels the strokes changed
    total = int(np.count_nonzero(edited))

    session.recorder.target_box.value = session.viewer.layers["nuclei"]
    session.wait(session.recorder.replay())
    np.testing.assert_array_equal(session.viewer.layers["nuclei-recipe"].data, painted)
    session.viewer.add_image(np.flipud(session.viewer.layers["nuclei"].data), name="flipped")
    session.recorder.target_box.value = session.viewer.layers["flipped"]
    session.wait(session.recorder.replay())
    assert (WARNING, f"edit.manual: hand edits of {total} pixels were made on another image; "
                     "skipped") in shown()

    # A new upstream parameter, re-run from there: the edit is re-applied, with a count.
    session.recorder.select_step(0)
    session.recorder.param_editors["sigma"].value = 3.0
    assert session.recorder.model.recipe.steps[0].params["sigma"] == 3.0
    session.wait(session.recorder.rerun())
    image = session.viewer.layers["nuclei"].data
    upstream = mp.apply("refine.fill_holes", mp.apply("segment.auto_threshold", mp.apply(
        "preprocess.gaussian", image, sigma=3.0), method="li"))
    still = int(np.count_nonzero(upstream[edited] != painted[edited]))
    rerun = session.viewer.layers[FINAL].data
    np.testing.assert_array_equal(rerun[edited], painted[edited])
    np.testing.assert_array_equal(rerun[~edited], upstream[~edited])
    assert not np.array_equal(upstream, written)  # sigma 3 changed the mask under the edit
    assert (WARNING, f"edit.manual: the mask changed upstream since these hand edits; "
                     f"{still} of {total} edited pixels still change it") in shown()
    assert len(session.recorder.model.records) == 4  # writing the re-run is not a hand edit
    # It says what it found, as a replay does (it said only which layers it updated).
    status = session.recorder.status.value
    assert status.startswith("updated nuclei-gaussian, ") and status.endswith(
        ": " + describe(rerun, Kind.MASK, None))


def test_steps_can_be_disabled_moved_and_deleted(session):
    session.record_three()
    recorder = session.recorder
    recorder.steps.item(2).setCheckState(recorder.steps.item(2).checkState().Unchecked)
    assert recorder.model.recipe.steps[2].enabled is False
    recorder.select_step(2)
    recorder.up_button.native.click()
    assert [s.op for s in recorder.model.recipe.steps][1:] == ["refine.fill_holes",
                                                                "segment.auto_threshold"]
    assert recorder.selected == 1
    recorder.delete_button.native.click()
    assert [s.op for s in recorder.model.recipe.steps] == ["preprocess.gaussian",
                                                           "segment.auto_threshold"]


def test_a_step_read_by_id_cannot_be_disabled_or_deleted(session, shown):
    viewer = session.viewer
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    session.apply(session.refine, "refine.erode", "nuclei-auto_threshold")
    session.segment.select("segment.watershed", viewer.layers["nuclei-auto_threshold-erode"])
    session.segment.extra_boxes["markers"].value = viewer.layers["nuclei-auto_threshold"]
    session.apply(session.segment, "segment.watershed", "nuclei-auto_threshold-erode")
    recipe = session.recorder.model.recipe
    assert recipe.steps[0].id == "auto_threshold" and not recipe.inputs
    assert recipe.steps[2].inputs["markers"] == "auto_threshold"
    recorder = session.recorder
    recorder.steps.item(0).setCheckState(recorder.steps.item(0).checkState().Unchecked)
    recorder.select_step(0)
    recorder.delete()
    assert recorder.model.recipe == recipe and recorder.steps.item(0).checkState().value == 2
    assert [m for _, m in shown()] == [
        "step 1 (segment.auto_threshold) cannot be disabled: step 3 reads its output "
        "('auto_threshold')",
        "step 2 (segment.watershed): input 'markers' reads 'auto_threshold', which is neither "
        "'input', an earlier step's id nor a declared recipe input"]


def test_a_hostile_recipe_is_refused_and_changes_nothing(session, shown, tmp_path):
    session.record_three()
    before = session.recorder.model.recipe
    hostile = tmp_path / "evil.maskprep.yaml"
    hostile.write_text("maskprep: 1\nsteps: !!python/object/apply:os.system ['touch pwned']\n")
    assert not session.recorder.load(hostile)
    ((severity, message),) = shown()
    assert severity == ERROR and "is not accepted" in message and "\n" not in message
    assert session.recorder.model.recipe == before
    assert not (tmp_path / "pwned").exists()


def test_batch_writes_good_masks_and_a_summary_and_resumes(session, tmp_path):
    session.record_three()
    image = session.viewer.layers["nuclei"].data
    infolder, outfolder = tmp_path / "in", tmp_path / "out"
    infolder.mkdir()
    tifffile.imwrite(infolder / "a.tif", image[:160, :160])
    tifffile.imwrite(infolder / "b.tif", image[160:320, 160:320])
    (infolder / "broken.tif").write_bytes(b"not a tiff at all")
    recorder = session.recorder
    recorder.infolder.value = infolder
    recorder.outfolder.value = outfolder

    def statuses() -> dict[str, str]:
        with open(outfolder / SUMMARY_NAME, newline="") as f:
            return {row["file"].rsplit("/", 1)[-1]: row["status"] for row in csv.DictReader(f)}

    session.wait(recorder.run_batch())
    assert statuses() == {"a.tif": "ok", "b.tif": "ok", "broken.tif": "failed"}
    recipe = recorder.model.recipe
    for name, crop in (("a", image[:160, :160]), ("b", image[160:320, 160:320])):
        np.testing.assert_array_equal(tifffile.imread(outfolder / f"{name}.tif"),
                                      recipe.run(crop))
    assert "2 written, 0 skipped, 1 failed" in recorder.status.value

    session.wait(recorder.run_batch())  # overwrite unticked: resume
    assert statuses() == {"a.tif": "skipped", "b.tif": "skipped", "broken.tif": "failed"}

    job = recorder.model.batch_job(infolder, tmp_path / "cancelled", overwrite=True)
    job.cancel()  # stops after the file in progress
    outcome = job.run()
    assert outcome.cancelled and [r.status for r in outcome.results] == ["ok"]
    assert sorted(p.name for p in (tmp_path / "cancelled").iterdir()) == ["a.tif", SUMMARY_NAME]


def test_a_batch_into_its_input_folder_writes_masks_beside_the_images(session, tmp_path):
    """It was refused with the command line's advice ('--suffix _mask'), which the Recorder
    has no box for: the masks are now named <image>_mask beside the images, which stay."""
    session.record_three()
    image = session.viewer.layers["nuclei"].data
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", image[:160, :160])
    before = (folder / "a.tif").read_bytes()
    recorder = session.recorder
    recorder.infolder.value = recorder.outfolder.value = folder
    session.wait(recorder.run_batch())
    assert "1 written, 0 skipped, 0 failed" in recorder.status.value
    np.testing.assert_array_equal(tifffile.imread(folder / "a_mask.tif"),
                                  recorder.model.recipe.run(image[:160, :160]))
    assert (folder / "a.tif").read_bytes() == before
    session.wait(recorder.run_batch())  # its own masks are not taken for inputs
    assert "0 written, 1 skipped, 0 failed" in recorder.status.value


def test_the_recorder_is_in_the_manifest_and_docks_from_the_menu(make_napari_viewer, qtbot,
                                                                  tmp_path):
    manifest = PluginManifest.from_distribution("napari-maskprep")
    placed = [i.command for i in manifest.contributions.menus["napari/layers/segment"]
              if hasattr(i, "command")]
    assert "napari-maskprep.open_recorder" in placed
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-maskprep", "nuclei")
    find_action(viewer.window.layers_menu, "Recipe recorder (Mask Prep)").trigger()
    recorder = viewer.window.dock_widgets["Recorder (napari-maskprep)"]
    assert isinstance(recorder, RecorderWidget)
    assert open_recorder(viewer) is recorder  # one per viewer
    _, segment = viewer.window.add_plugin_dock_widget("napari-maskprep", "Segment")
    segment.select("segment.auto_threshold", viewer.layers["nuclei"])
    segment.apply()
    qtbot.waitUntil(lambda: not segment.running, timeout=TIMEOUT_MS)
    assert [s.op for s in recorder.model.recipe.steps] == ["segment.auto_threshold"]
    recorder.select_step(0)
    shot = viewer.screenshot(path=str(tmp_path / "recorder.png"), canvas_only=False)
    assert shot.shape[0] > 300 and (tmp_path / "recorder.png").exists()


def test_a_narrow_recorder_keeps_labels_names_and_folders_readable(make_napari_viewer, qtbot,
                                                                    tmp_path):
    viewer = make_napari_viewer(show=True)
    dock, recorder = viewer.window.add_plugin_dock_widget("napari-maskprep", "Recorder")
    _, preprocess = viewer.window.add_plugin_dock_widget("napari-maskprep", "Preprocess",
                                                         tabify=True)
    dock.raise_()
    qtbot.wait(300)  # shown before the long names come
    common = "experiment_2024_03_14_plate1_wellA01_field003_DAPI_maxproj"
    image = _sample_data.nuclei()[1][0]
    first, second = (viewer.add_image(image, name=f"{common}_{ch}") for ch in ("ch1", "ch2"))
    preprocess.select("preprocess.gaussian", first)
    preprocess.apply()
    qtbot.waitUntil(lambda: not preprocess.running, timeout=TIMEOUT_MS)
    recorder.select_step(0)
    folder = tmp_path / "a" / "folder" / "holding" / "the" / "images" / "to" / "segment"
    recorder.infolder.value = folder
    dock.setMaximumWidth(dock.minimumSizeHint().width())  # as narrow as it goes
    qtbot.wait(200)
    assert dock.width() < 400

    labels = [x for x in recorder.native.findChildren(QLabel) if x.isVisible() and x.text()]
    assert "sigma" in [x.text() for x in labels]
    assert all(x.width() >= x.sizeHint().width() for x in labels), [
        (x.text(), x.width(), x.sizeHint().width()) for x in labels]

    box = recorder.target_box
    shown_names = []
    for layer in (first, second):
        box.value = layer
        shown_names.append(shown_text(box.native))
        hover = box.native.rect().center()
        QApplication.sendEvent(box.native, QHelpEvent(QEvent.Type.ToolTip, hover,
                                                      box.native.mapToGlobal(hover)))
        assert QToolTip.text() == layer.name
    assert shown_names[0] != shown_names[1] and "…" in shown_names[0]
    assert shown_names[0].endswith("ch1") and shown_names[1].endswith("ch2")

    field = recorder.infolder.line_edit.native
    assert field.toolTip() == str(folder)
    assert field.width() > 0.55 * recorder.native.width()
    viewer.window._qt_window.grab().save(str(tmp_path / "narrow-recorder.png"))


def test_a_replayed_mask_has_the_colours_of_the_stage_outputs(session):
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    session.recorder.target_box.value = session.viewer.layers["nuclei"]
    session.wait(session.recorder.replay())
    replayed = session.viewer.layers["nuclei-recipe"]
    objects = mp.apply("refine.label", replayed.data)
    sizes = np.bincount(objects.ravel())[1:]
    # A replay says what it found, as an Apply does (issue 14): it said where it wrote only.
    assert session.recorder.status.value == (
        f"replayed into nuclei-recipe: {objects.max()} objects, median "
        f"{np.median(sizes):g} px (range {sizes.min()}-{sizes.max()})")
    stage_output = session.viewer.layers["nuclei-auto_threshold"]
    cyan = stage_output.colormap.map(1)
    np.testing.assert_array_equal(cyan, [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(replayed.colormap.map(1), cyan)
    assert replayed.colormap.map(0)[3] == 0  # background transparent


def test_a_recorder_opened_late_rebuilds_the_recipe_from_the_outputs_history(qtbot, tmp_path):
    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    late = Session.__new__(Session)  # the stage widgets, and no Recorder yet
    late.viewer, late.qtbot = viewer, qtbot
    late.preprocess, late.segment, late.refine = (
        PreprocessWidget(viewer), SegmentWidget(viewer), RefineWidget(viewer))
    for widget in (late.preprocess, late.segment, late.refine):
        qtbot.addWidget(widget.native)
    late.apply(late.preprocess, "preprocess.gaussian", "nuclei", sigma=1.5)

    late.recorder = RecorderWidget(viewer)  # opened after the first Apply
    qtbot.addWidget(late.recorder.native)
    late.apply(late.segment, "segment.auto_threshold", "nuclei-gaussian", method="li")
    late.apply(late.refine, "refine.fill_holes", "nuclei-gaussian-auto_threshold")
    steps = late.recorder.model.recipe.steps
    assert [s.op for s in steps] == ["preprocess.gaussian", "segment.auto_threshold",
                                     "refine.fill_holes"]
    assert steps[0].params["sigma"] == 1.5 and late.recorder.model.input_layer.name == "nuclei"

    final = viewer.layers[FINAL]
    history = final.metadata["maskprep"]["history"]
    assert [(h["step"]["op"], h["input"]) for h in history] == [
        ("preprocess.gaussian", "nuclei"), ("segment.auto_threshold", "nuclei-gaussian"),
        ("refine.fill_holes", "nuclei-gaussian-auto_threshold")]
    again = RecorderWidget(viewer)  # opened now: the whole lineage of the latest output
    qtbot.addWidget(again.native)
    assert again.model.recipe == late.recorder.model.recipe
    assert [r.layer for r in again.model.records] == [
        viewer.layers["nuclei-gaussian"], viewer.layers["nuclei-gaussian-auto_threshold"], final]
    replayed = again.model.recipe.run(viewer.layers["nuclei"].data)
    np.testing.assert_array_equal(replayed, final.data)
    again.target_box.value = viewer.layers["nuclei"]
    again.replay()
    qtbot.waitUntil(lambda: not again.running, timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(viewer.layers["nuclei-recipe"].data, final.data)


def test_a_lineage_finds_its_image_renamed_and_re_runs_on_it(session, shown):
    """The image was found by its name: renamed before the Recorder rebuilt the recipe from
    an output's history, the recipe had no input layer and Re-run was refused."""
    session.record_three()
    viewer = session.viewer
    viewer.layers["nuclei"].name = "raw"
    viewer.add_image(np.zeros_like(viewer.layers["raw"].data), name="nuclei")  # a namesake
    again = RecorderWidget(viewer)  # rebuilt from the history of the latest output
    session.qtbot.addWidget(again.native)
    assert again.model.input_layer is viewer.layers["raw"]
    again.select_step(0)
    again.param_editors["sigma"].value = 3.0
    again.rerun()
    session.qtbot.waitUntil(lambda: not again.running, timeout=TIMEOUT_MS)
    assert shown() == []
    expected = mp.apply("refine.fill_holes", mp.apply("segment.auto_threshold", mp.apply(
        "preprocess.gaussian", viewer.layers["raw"].data, sigma=3.0), method="li"))
    np.testing.assert_array_equal(viewer.layers[FINAL].data, expected)


def test_brush_dabs_are_captured_once_when_they_stop_and_only_where_they_painted(
        session, monkeypatch):
    from napari_maskprep._napari import recording

    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    mask = session.viewer.layers["nuclei-auto_threshold"]
    written = mask.data.copy()
    calls = []
    between = recording.ManualEdit.between

    def counted(before, after, **kwargs):
        calls.append(kwargs.get("within"))
        return between(before, after, **kwargs)

    monkeypatch.setattr(recording.ManualEdit, "between", counted)
    mask.brush_size = 10
    for i in range(20):  # twenty clicks of the brush, the event loop running between them
        mask.paint((200 + 3 * i, 300 + 2 * i), 0 if i % 2 else 1)
        session.qtbot.wait(5)
    session.wait_steps(2)
    assert len(calls) == 1  # one capture for the twenty strokes
    changed = np.nonzero(written != mask.data)
    (within,) = calls
    assert all(s.start <= c.min() and c.max() < s.stop for s, c in zip(within, changed,
                                                                      strict=True))
    assert all(s.stop - s.start <= 80 for s in within)  # the dabs' box, not the image
    step = session.recorder.model.recipe.steps[1]
    whole = between(written, mask.data, image=session.viewer.layers["nuclei"].data)
    assert step.op == "edit.manual" and step.params == whole.params()


def test_after_deleting_an_edit_step_the_next_capture_compares_the_whole_layer(session):
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    mask = session.viewer.layers["nuclei-auto_threshold"]
    written = mask.data.copy()
    paint(mask, slice(10, 14), slice(10, 20), 1)
    session.wait_steps(2)
    session.recorder.model.remove(1)
    paint(mask, slice(300, 302), slice(40, 45), 0)
    session.wait_steps(2)
    edit = session.recorder.model.recipe.steps[1]
    assert edit.params == mp.ops.edit.ManualEdit.between(
        written, mask.data, image=session.viewer.layers["nuclei"].data).params()
    assert edit.params["bbox"].startswith("10:302")


def test_a_refine_recipe_replayed_onto_an_rgb_image_is_one_line(session, shown):
    """Its colours were taken as a 3D labels stack: ValueError 'axis_labels=... must have
    length ndim=3' escaped from the replay's result slot."""
    session.apply(session.refine, "refine.open", "nuclei-ground truth")
    rgb = np.random.default_rng(0).integers(0, 255, (40, 40, 3)).astype(np.uint8)
    session.viewer.add_image(rgb, name="rgb", rgb=True)
    before = [layer.name for layer in session.viewer.layers]
    session.recorder.target_box.value = session.viewer.layers["rgb"]
    session.wait(session.recorder.replay())
    assert [layer.name for layer in session.viewer.layers] == before
    assert any("the input looks like an RGB image (shape (40, 40, 3))" in message
               for _, message in shown())


def test_a_preset_is_loaded_from_its_box_and_replays_as_the_command_line_runs_it(session):
    """A napari user had no way to the bundled presets but a file dialog into the package."""
    assert list(session.recorder.preset_box.choices) == [None, *preset_names()]
    session.recorder.preset_box.value = "fluorescence-nuclei"
    assert session.recorder.preset_box.value is None  # ready to offer another
    assert [record.step.op for record in session.recorder.model.records] == [
        "preprocess.rescale", "segment.pixel_classifier", "refine.fill_holes",
        "refine.remove_small"]
    assert session.recorder.status.value == ("loaded preset fluorescence-nuclei: replay it "
                                             "on an image")
    nuclei = session.viewer.layers["nuclei"]
    session.recorder.target_box.value = nuclei
    session.wait(session.recorder.replay())
    expected = mp.Recipe.load(preset_path("fluorescence-nuclei")).run(nuclei.data)
    np.testing.assert_array_equal(session.viewer.layers["nuclei-recipe"].data, expected)
    truth = session.viewer.layers["nuclei-ground truth"].data > 0
    assert 2 * np.sum(expected & truth) / (expected.sum() + truth.sum()) > 0.9  # Dice


def test_a_loaded_recipe_replays_on_a_time_lapse_frame_by_frame(tmp_path):
    """A recipe loaded from a file (made on one image) replayed on an in-memory time-lapse
    ran on its frames as one volume: one threshold for all, and a dim frame came out
    empty, where maskprep run and a tiled replay segment each frame on its own."""
    from napari_maskprep._napari.recording import RecipeRecorder

    frames = np.random.default_rng(4).integers(0, 200, (3, 60, 80), dtype=np.uint8)
    frames[1] //= 4
    viewer = ViewerModel()
    movie = viewer.add_image(frames, name="movie", axis_labels=("t", "y", "x"))
    model = RecipeRecorder(viewer)
    model.load(mp.Recipe([{"op": "segment.auto_threshold"}, {"op": "refine.label"}]
                         ).save(tmp_path / "r.maskprep.yaml"))
    job = model.replay_job(movie).run()
    expected = np.stack([mp.Recipe(model.recipe.steps).run(frame) for frame in frames])
    np.testing.assert_array_equal(model.finish_replay(job).data, expected)


@pytest.mark.parametrize(("shape", "axes", "recipe"), [
    ((2, 3, 30, 40), ("t", "z", "y", "x"), [{"op": "segment.auto_threshold"}]),
    ((2, 3, 30, 40), ("0", "1", "2", "3"), [{"op": "segment.auto_threshold"}]),
    ((3, 30, 40), ("0", "1", "2"), [{"op": "preprocess.clahe"}, {"op": "segment.edges"}]),
])
def test_a_loaded_recipe_replays_on_a_layer_as_apply_runs_its_steps(session, tmp_path, shape,
                                                                       axes, recipe):
    """Replay of a recipe made on a 2D image, on a 4D layer (a time-lapse of stacks, named
    t, z, y, x or not) or with a 2D-only op on a stack, said 'set per_plane: true to run it
    plane by plane': the Recorder has no such box, and Apply of each step on that layer
    runs plane by plane, as it must there. Replay now runs the steps as Apply does."""
    image = np.random.default_rng(5).integers(0, 200, shape, dtype=np.uint8)
    session.viewer.add_image(image, name="stacks", axis_labels=axes)
    session.recorder.load(mp.Recipe(recipe).save(tmp_path / "r.maskprep.yaml"))
    session.recorder.target_box.value = session.viewer.layers["stacks"]
    session.wait(session.recorder.replay())
    replayed = session.viewer.layers["stacks-recipe"].data
    expected = mp.Recipe([{**step, "per_plane": True} for step in recipe]).run(image)
    np.testing.assert_array_equal(replayed, expected)
    assert replayed.dtype == np.uint8 and replayed.shape == shape


def test_a_threshold_applied_again_shows_its_new_value_in_the_recorder(session):
    """The Recorder's editor of the step shown had a hidden 0-1 intensity slider: setting
    it to the value applied again (600) raised from inside the Apply, in a traceback."""
    session.apply(session.segment, "segment.threshold", "nuclei", value=500.0)
    session.apply(session.segment, "segment.threshold", "nuclei", value=600.0)
    assert session.recorder.model.recipe.steps[0].params["value"] == 600.0
    assert session.recorder.param_editors["value"].value == 600.0
    assert not session.segment.preview_box.value and len(session.recorder.model.records) == 1


def test_a_rerun_writes_nothing_over_strokes_or_steps_that_changed_while_it_ran(session,
                                                                                shown):
    """Its outputs were written by step index into the layers as they were: over strokes
    painted meanwhile (lost, no edit step), or into another step's layer."""
    session.record_three()
    recorder, final = session.recorder, session.viewer.layers[FINAL]
    recorder.model.set_params(0, {"sigma": 3.0})
    job = recorder.model.rerun_job(0).run()  # what the worker does
    paint(final, slice(10, 14), slice(10, 20), 1)  # painted while it ran
    painted = final.data.copy()
    recorder._on_rerun_result(job)
    message = (f"'{FINAL}' was painted while the re-run ran; nothing was written: Re-run again")
    assert [m for sev, m in shown() if sev == ERROR] == [message]
    np.testing.assert_array_equal(final.data, painted)
    session.wait_steps(4)  # the strokes become an edit step, for the next re-run

    job = recorder.model.rerun_job(0).run()
    recorder.model.remove(1)  # the threshold step deleted while it ran
    gaussian = session.viewer.layers["nuclei-gaussian"].data.copy()
    recorder._on_rerun_result(job)
    assert shown()[-1] == (ERROR, "the recipe's steps changed while the re-run ran; nothing "
                                  "was written: Re-run again")
    np.testing.assert_array_equal(session.viewer.layers["nuclei-gaussian"].data, gaussian)
    np.testing.assert_array_equal(final.data, painted)


def test_a_rerun_writes_nothing_once_its_input_was_removed_while_it_ran(session, shown):
    """Its outputs were written into the step layers of an image no longer open, as a
    stage's Apply and a replay refuse to."""
    session.record_three()
    recorder, final = session.recorder, session.viewer.layers[FINAL]
    recorder.model.set_params(0, {"sigma": 3.0})
    job = recorder.model.rerun_job(0).run()  # what the worker does
    written = final.data.copy()
    session.viewer.layers.remove("nuclei")  # removed while it ran
    recorder._on_rerun_result(job)
    message = "'nuclei' was removed while the re-run ran; nothing was written"
    assert [m for sev, m in shown() if sev == ERROR] == [message]
    assert recorder.status.value == message
    np.testing.assert_array_equal(final.data, written)


def test_a_step_undone_with_ctrl_z_is_not_replayed(session, tmp_path):
    """napari's undo tells no one (no paint, no data event): a refine in place undone, or a
    stroke, stayed in the saved recipe, whose replay then differed from the layer."""
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    mask = session.viewer.layers["nuclei-auto_threshold"]
    thresholded = mask.data.copy()
    session.refine.in_place_box.value = True
    session.apply(session.refine, "refine.remove_small", "nuclei-auto_threshold", min_size=200)
    assert not np.array_equal(mask.data, thresholded)
    mask.undo()
    np.testing.assert_array_equal(mask.data, thresholded)
    image = session.viewer.layers["nuclei"].data
    recipe = mp.Recipe.load(session.recorder.save(tmp_path / "undone.maskprep.yaml"))
    np.testing.assert_array_equal(recipe.run(image), thresholded)
    mask.redo()
    refined = mask.data.copy()
    recipe = mp.Recipe.load(session.recorder.save(tmp_path / "redone.maskprep.yaml"))
    assert [s.op for s in recipe.steps] == ["segment.auto_threshold", "refine.remove_small"]
    np.testing.assert_array_equal(recipe.run(image), refined)


def test_the_step_list_follows_ctrl_z_and_redo_as_they_happen(session, qtbot, monkeypatch):
    """The list changed only when the recipe was next saved or run: undo and redo send no
    paint event, only a redraw, now told from a redraw of a slice by a pixel of the
    stroke, never by comparing whole layers (as saving does)."""
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    mask = session.viewer.layers["nuclei-auto_threshold"]
    thresholded = mask.data.copy()
    session.refine.in_place_box.value = True
    session.apply(session.refine, "refine.remove_small", "nuclei-auto_threshold", min_size=200)
    compared = []
    monkeypatch.setattr(session.recorder.model, "_undone", compared.append)
    steps = session.recorder.steps

    def listed() -> list[str]:
        return [steps.item(i).text().split("  ")[0] for i in range(steps.count())]

    assert listed() == ["1. segment.auto_threshold", "2. refine.remove_small"]
    mask.undo()  # Ctrl+Z
    qtbot.waitUntil(lambda: len(listed()) == 3, timeout=TIMEOUT_MS)
    assert listed()[2].endswith("edit.manual")
    image = session.viewer.layers["nuclei"].data
    np.testing.assert_array_equal(session.recorder.model.recipe.run(image), thresholded)
    mask.redo()
    qtbot.waitUntil(lambda: len(listed()) == 2, timeout=TIMEOUT_MS)
    paint(mask, slice(5, 9), slice(5, 9), 1)
    qtbot.waitUntil(lambda: len(listed()) == 3, timeout=TIMEOUT_MS)
    mask.undo()  # the stroke taken back: no edit left
    qtbot.waitUntil(lambda: len(listed()) == 2, timeout=TIMEOUT_MS)
    session.viewer.dims.set_point(0, 1.0)  # redraws that undo nothing change nothing
    mask.refresh()
    assert compared == [] and len(listed()) == 2


def test_a_batch_with_an_empty_folder_box_is_refused(session, shown, tmp_path, monkeypatch):
    """An empty box reads as '.': the batch ran over, or wrote its masks into, the folder
    napari was started from."""
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite(tmp_path / "a.tif", session.viewer.layers["nuclei"].data)
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    recorder = session.recorder
    assert recorder.run_batch() is None
    assert shown()[-1] == (ERROR, "choose the input folder first")
    recorder.infolder.value = tmp_path
    assert recorder.run_batch() is None
    assert shown()[-1] == (ERROR, "choose the output folder first")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_the_recorder_shows_a_small_float_threshold_as_recorded(session):
    """Its editor, at the parameter's 1 decimal, showed 0.0302 as 0.0."""
    nuclei = session.viewer.layers["nuclei"]
    session.viewer.add_image(nuclei.data.astype(np.float32) / 65535, name="scaled")
    session.apply(session.segment, "segment.threshold", "scaled", value=0.0302)
    session.recorder.select_step(0)
    assert session.recorder.model.recipe.steps[0].params["value"] == 0.0302
    assert session.recorder.param_editors["value"].value == 0.0302


def test_a_batch_into_a_folder_that_cannot_be_made_says_so_in_one_line(session, shown, tmp_path):
    """run_batch's BadValueError was not caught in the worker: a traceback, and the status
    line stayed at 'running the batch…'."""
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    infolder = tmp_path / "in"
    infolder.mkdir()
    tifffile.imwrite(infolder / "a.tif", session.viewer.layers["nuclei"].data[:64, :64])
    (tmp_path / "notes.txt").write_text("a file, where the output folder would go")
    outfolder = tmp_path / "notes.txt" / "masks"
    recorder = session.recorder
    recorder.infolder.value = infolder
    recorder.outfolder.value = outfolder
    session.wait(recorder.run_batch())
    message = (f"output folder {outfolder} cannot be made (Not a directory); accepted: a "
               "folder, or a path where one can be made")
    assert shown()[-1] == (ERROR, message)
    assert recorder.status.value == message
    assert recorder.batch_button.enabled and not recorder.progress_bar.visible


def test_an_undo_on_a_hidden_layer_is_followed_as_it_happens(session):
    """napari's undo does not redraw a hidden layer, which told the Recorder nothing: the
    stroke stayed in the step list, and an in-place Apply then was recorded after it,
    though its result no longer held it (saving could not tell either)."""
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    mask = session.viewer.layers["nuclei-auto_threshold"]
    thresholded = mask.data.copy()
    paint(mask, slice(5, 35), slice(5, 35), 1)
    session.wait_steps(2)
    mask.visible = False
    keys = KeymapHandler()  # as napari's canvas does, the layer active
    keys.keymap_providers = [mask, session.viewer]
    keys.press_key("Control-Z")
    np.testing.assert_array_equal(mask.data, thresholded)
    session.wait_steps(1)
    keys.press_key("Control-Shift-Z")
    session.wait_steps(2)
    keys.press_key("Control-Z")
    session.wait_steps(1)
    session.refine.in_place_box.value = True
    session.apply(session.refine, "refine.remove_small", "nuclei-auto_threshold", min_size=200)
    recipe = session.recorder.model.recipe
    assert [s.op for s in recipe.steps] == ["segment.auto_threshold", "refine.remove_small"]
    np.testing.assert_array_equal(recipe.run(session.viewer.layers["nuclei"].data), mask.data)
    session.recorder.model.clear()  # napari's own keys back on the layers let go of
    assert mask.keymap == {}


@pytest.mark.parametrize("closed", ["first", "second"])
def test_two_recorders_both_follow_an_undo_and_one_closed_leaves_the_other(session, closed):
    """A second Recorder's undo keys replaced the first's on a layer both follow: the first
    kept a stroke undone on a hidden layer in its step list. Closing the first then gave
    napari's own keys back under the second, which no longer saw an undo either."""
    second = RecorderWidget(session.viewer)
    session.qtbot.addWidget(second.native)
    recorders = [session.recorder, second]

    def listed(recorder) -> list[str]:
        return [r.step.op for r in recorder.model.records]

    def wait_listed(*ops: str) -> None:
        session.qtbot.waitUntil(lambda: all(listed(r) == list(ops) for r in recorders),
                                timeout=TIMEOUT_MS)

    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    mask = session.viewer.layers["nuclei-auto_threshold"]
    paint(mask, slice(5, 35), slice(5, 35), 1)
    wait_listed("segment.auto_threshold", "edit.manual")
    mask.visible = False
    keys = KeymapHandler()  # as napari's canvas does, the layer active
    keys.keymap_providers = [mask, session.viewer]
    keys.press_key("Control-Z")
    wait_listed("segment.auto_threshold")
    keys.press_key("Control-Shift-Z")
    wait_listed("segment.auto_threshold", "edit.manual")

    gone = recorders.pop(0 if closed == "first" else 1)
    gone.close()
    assert listed(gone) == []
    keys.press_key("Control-Z")
    wait_listed("segment.auto_threshold")
    keys.press_key("Control-Shift-Z")
    wait_listed("segment.auto_threshold", "edit.manual")
    recorders[0].model.clear()  # the last to let go gives napari's own keys back
    assert mask.keymap == {}


@pytest.mark.parametrize("hand", ["stroke", "undo"])
def test_hand_edits_just_before_an_in_place_apply_are_recorded_before_it(session, hand):
    """Strokes (or an undo) not yet captured when an in-place Apply wrote the layer were
    dropped: the Apply's write was taken for all of the layer's change, and the recipe no
    longer made the layer."""
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    mask = session.viewer.layers["nuclei-auto_threshold"]
    image = session.viewer.layers["nuclei"].data
    if hand == "undo":
        paint(mask, slice(5, 35), slice(5, 35), 1)
        session.wait_steps(2)
    session.recorder._capture_timer.setInterval(10 * 60 * 1000)  # the Apply comes first
    if hand == "stroke":
        paint(mask, slice(5, 35), slice(5, 35), 1)
    else:
        mask.undo()
    session.refine.in_place_box.value = True
    session.apply(session.refine, "refine.remove_small", "nuclei-auto_threshold", min_size=200)
    recipe = session.recorder.model.recipe
    edits = ["edit.manual"] if hand == "stroke" else []
    assert [s.op for s in recipe.steps] == ["segment.auto_threshold", *edits,
                                            "refine.remove_small"]
    if hand == "stroke":  # kept by the refine: an object of 900 pixels
        assert recipe.steps[1].params["bbox"] == "5:35,5:35"
        assert np.all(mask.data[5:35, 5:35] == 1)
    np.testing.assert_array_equal(recipe.run(image), mask.data)


def test_the_status_line_says_what_loading_a_recipe_did(session, shown, tmp_path):
    """A recipe opened in napari (File › Open, or dropped on it) left the status line as it
    was, 'the recipe has no steps: record or load one first' beside the steps just loaded;
    a file that could not be loaded left the line before it there too."""
    recorder = session.recorder
    recorder.replay()
    assert recorder.status.value == "the recipe has no steps: record or load one first"
    path = tmp_path / "otsu.maskprep.yaml"
    path.write_text("maskprep: 1\nsteps:\n- op: segment.auto_threshold\n")
    assert recorder.load(path)
    assert recorder.status.value == "loaded otsu.maskprep.yaml"
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    assert not recorder.load(bad)
    with pytest.raises(mp.RecipeError) as refused:
        mp.Recipe.load(bad)
    message = str(refused.value)  # one line, naming the file
    assert message.startswith(f"{bad}: ") and "\n" not in message
    assert recorder.status.value == message
    assert shown()[-1] == (ERROR, message)
    assert [s.op for s in recorder.model.recipe.steps] == ["segment.auto_threshold"]


def test_a_docked_recorder_opened_late_keeps_its_steps_layers_and_says_nothing_needless(
        make_napari_viewer, qtbot, shown):
    """napari hands a docked widget proxies of the layers: the step adopted from the active
    layer (a proxy, held weakly) lost its layer at once, and an Apply reading an output
    already recorded (the layer itself, not that proxy) was taken for a branch: 'the recipe
    now follows ..., rebuilt from the history of ...' for a recipe that only grew."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-maskprep", "nuclei")
    session = Session(viewer, qtbot)
    session.apply(session.preprocess, "preprocess.gaussian", "nuclei")
    _, recorder = viewer.window.add_plugin_dock_widget("napari-maskprep", "Recorder")
    gaussian = viewer.layers["nuclei-gaussian"]
    assert [r.layer is gaussian for r in recorder.model.records] == [True]
    session.apply(session.segment, "segment.auto_threshold", "nuclei-gaussian")
    assert [r.step.op for r in recorder.model.records] == ["preprocess.gaussian",
                                                           "segment.auto_threshold"]
    assert shown() == []


@pytest.mark.parametrize(("stage", "op", "layer", "said"), [
    ("refine", "refine.remove_small", "nuclei-gaussian-auto_threshold",
     "step 3 was dropped (refine.fill_holes)"),
    ("segment", "segment.threshold", "nuclei-gaussian",
     "steps 2-3 were dropped (segment.auto_threshold, refine.fill_holes)")])
def test_a_branch_says_which_steps_it_dropped(session, shown, stage, op, layer, said):
    """One step dropped was 'steps 3-3 were dropped (...)'."""
    session.record_three()
    session.apply(getattr(session, stage), op, layer)
    assert shown() == [(NotificationSeverity.INFO,
                        f"the recipe now follows '{layer}-{op.split('.')[1]}'; {said}")]


@pytest.mark.parametrize(("action", "done"), [("save", "saved"), ("export", "exported")])
def test_an_empty_recipe_is_not_saved_and_the_status_line_says_so(session, shown, tmp_path,
                                                                   monkeypatch, action, done):
    """Save wrote a recipe of no steps without a word (and Export a script doing nothing),
    after asking where."""
    recorder = session.recorder
    asked = []
    monkeypatch.setattr("napari_maskprep._napari.recorder.QFileDialog.getSaveFileName",
                        lambda *args: asked.append(args) or (str(tmp_path / "r.yaml"), ""))
    getattr(recorder, f"{action}_button").changed.emit(True)
    message = f"the recipe has no steps: record or load one first; nothing was {done}"
    assert (asked, recorder.status.value, shown()) == ([], message, [(ERROR, message)])
    assert getattr(recorder, action)(tmp_path / "r.yaml") is None
    assert recorder.status.value == message
    assert list(tmp_path.iterdir()) == []


def test_two_recorders_of_one_viewer_say_each_notice_once(session, shown):
    """The panel's Recipe tab and a Recorder dock beside it both record every Apply: each
    notice was shown twice, once by each."""
    second = RecorderWidget(session.viewer)
    session.qtbot.addWidget(second.native)
    session.record_three()
    session.apply(session.refine, "refine.remove_small", "nuclei-gaussian-auto_threshold")
    said = ("the recipe now follows 'nuclei-gaussian-auto_threshold-remove_small'; step 3 was "
            "dropped (refine.fill_holes)")
    assert shown() == [(NotificationSeverity.INFO, said)]
    ops = ["preprocess.gaussian", "segment.auto_threshold", "refine.remove_small"]
    assert [r.step.op for r in second.model.records] == ops
    session.apply(session.refine, "refine.fill_holes", "nuclei-gaussian-auto_threshold")
    assert shown()[1:] == [(NotificationSeverity.INFO, "the recipe now follows 'nuclei-"
                            "gaussian-auto_threshold-fill_holes'; step 3 was dropped "
                            "(refine.remove_small)")]  # the next Apply's notice: said too


def test_an_image_removed_while_the_recipe_replays_on_it_is_named(session, shown):
    """The refusal said 'the replayed layer was removed', naming no layer: with Replay on
    all images, which of them was not said."""
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    viewer, recorder = session.viewer, session.recorder
    recorder.target_box.value = viewer.layers["nuclei"]
    assert recorder.replay() is not None
    viewer.layers.remove("nuclei")  # before the worker's result reaches the GUI thread
    session.wait(None)
    message = "'nuclei' was removed while the recipe replayed on it; nothing was written"
    assert recorder.status.value == message and shown()[-1] == (ERROR, message)
    assert "nuclei-recipe" not in viewer.layers


def test_a_bug_in_a_replay_re_run_batch_or_fit_says_one_line_and_logs_its_traceback(
        session, shown, tmp_path, monkeypatch, caplog):
    """An error no input explains (a RuntimeError or IndexError of a bug) was not caught in
    the worker: napari showed its traceback and the status line kept 'running the batch…'
    or 'fitting the recipe to the mask…'."""
    from napari_maskprep._napari import mask_fit, recipe_jobs

    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    recorder, nuclei = session.recorder, session.viewer.layers["nuclei"]

    def fails(*args, **kwargs):
        raise RuntimeError("stale cache\nsecond line")

    def out_of_range(*args, **kwargs):
        raise IndexError("list index out of range")

    monkeypatch.setattr(mp.Recipe, "iter_run", fails)
    monkeypatch.setattr(recipe_jobs, "run_batch", out_of_range)
    monkeypatch.setattr(mask_fit, "fit_recipe", fails)
    recorder.target_box.value = nuclei
    session.wait(recorder.replay())
    recorder.select_step(0)
    session.wait(recorder.rerun())
    recorder.infolder.value, recorder.outfolder.value = tmp_path, tmp_path / "out"
    tifffile.imwrite(tmp_path / "a.tif", nuclei.data[:64, :64])
    session.wait(recorder.run_batch())
    assert recorder.batch_button.enabled and not recorder.cancel_button.enabled
    recorder.fit_mask_box.value = session.viewer.layers["nuclei-ground truth"]
    session.wait(recorder.fit())
    assert recorder.fit_button.enabled and not recorder.progress_bar.visible
    bug = "; a bug: its traceback is logged"
    said = [f"the replay failed (RuntimeError: stale cache){bug}",
            f"the re-run failed (RuntimeError: stale cache){bug}",
            f"the batch failed (IndexError: list index out of range){bug}",
            f"the fit failed (RuntimeError: stale cache){bug}"]
    assert shown() == [(ERROR, line) for line in said]
    assert recorder.status.value == said[-1]
    assert "nuclei-recipe" not in session.viewer.layers
    logged = [r for r in caplog.records if r.name == "napari_maskprep._napari.workers"]
    assert [r.getMessage() for r in logged] == [
        "the replay failed", "the re-run failed", "the batch failed", "the fit failed"]
    assert [r.exc_info[0] for r in logged] == [RuntimeError, RuntimeError, IndexError,
                                               RuntimeError]


def test_a_bug_writing_a_replay_re_run_or_fit_says_one_line_and_logs_its_traceback(
        session, shown, monkeypatch, caplog):
    """A bug raised on the GUI thread, as a replay's or re-run's result was written into
    the viewer or a fit's settings given to the steps, escaped to napari as a traceback
    and the status line kept what it said before."""
    from napari_maskprep._napari import mask_fit, recording
    from napari_maskprep._napari import recorder as recorder_module

    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    recorder, nuclei = session.recorder, session.viewer.layers["nuclei"]
    output = session.viewer.layers["nuclei-auto_threshold"]
    written = output.data.copy()
    names = [x.name for x in session.viewer.layers]

    def fails(*args, **kwargs):
        raise KeyError("sigma")

    monkeypatch.setattr(recording, "style_output", fails)  # the replay's new layer
    monkeypatch.setattr(recording, "replace_data", fails)  # the re-run's output
    monkeypatch.setattr(mask_fit, "fit_recipe", lambda *args, **kwargs: "fitted")
    monkeypatch.setattr(recorder_module, "apply_fit", fails)
    recorder.target_box.value = nuclei
    session.wait(recorder.replay())
    recorder.select_step(0)
    session.wait(recorder.rerun())
    recorder.fit_mask_box.value = session.viewer.layers["nuclei-ground truth"]
    session.wait(recorder.fit())
    assert recorder.fit_button.enabled and not recorder.progress_bar.visible
    bug = "failed (KeyError: 'sigma'); a bug: its traceback is logged"
    said = [f"the replay {bug}", f"the re-run {bug}", f"the fit {bug}"]
    assert shown() == [(ERROR, line) for line in said]
    assert recorder.status.value == said[-1]
    assert [x.name for x in session.viewer.layers] == names
    np.testing.assert_array_equal(output.data, written)
    logged = [r for r in caplog.records if r.name == "napari_maskprep._napari.workers"]
    assert [r.getMessage() for r in logged] == [
        "the replay failed", "the re-run failed", "the fit failed"]
    assert all(r.exc_info[0] is KeyError for r in logged)
