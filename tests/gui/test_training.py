"""The Train widget: scribbles on the nuclei sample train a classifier in a worker, the preview
follows new strokes, Apply saves the model and is recorded like any other step."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Image

import napari_maskprep as mp
from napari_maskprep._napari import _sample_data
from napari_maskprep._napari import training as training_module
from napari_maskprep._napari.recorder import RecorderWidget
from napari_maskprep._napari.training import FOREGROUND, TrainWidget, default_model_path
from napari_maskprep.learning import feature_matrix
from napari_maskprep.samples import load

from ..conftest import dice

TIMEOUT_MS = 60000


@pytest.fixture
def trainer(qtbot):
    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    widget = TrainWidget(viewer)
    recorder = RecorderWidget(viewer)
    qtbot.addWidget(widget.native)
    qtbot.addWidget(recorder.native)
    yield viewer, widget, recorder
    qtbot.waitUntil(lambda: not widget.training and not widget.applying, timeout=TIMEOUT_MS)


def _paint_nuclei(viewer, widget) -> None:
    """The nuclei sample chosen, with strokes over its first 120 rows in a new scribble
    layer."""
    _, truth = load("nuclei")
    widget.image_box.value = viewer.layers["nuclei"]
    widget.add_button.changed.emit(True)
    viewer.layers["nuclei scribbles"].data = _strokes(truth, slice(0, 120))


def _strokes(truth: np.ndarray, rows: slice) -> np.ndarray:
    """Foreground strokes along every 8th row of the objects, background between them."""
    out = np.zeros(truth.shape, np.uint8)
    lines = np.zeros(truth.shape, bool)
    lines[rows][::8] = True
    out[lines & (truth == 0)] = 1
    out[lines & (truth > 0)] = FOREGROUND
    return out


def test_scribbles_train_a_preview_that_follows_new_strokes(trainer, qtbot, tmp_path):
    viewer, widget, recorder = trainer
    image, truth = load("nuclei")
    widget.image_box.value = viewer.layers["nuclei"]
    widget.add_button.changed.emit(True)
    scribbles = viewer.layers["nuclei scribbles"]
    assert widget.scribble_box.value is scribbles and scribbles.data.shape == image.shape
    widget.train()
    assert widget.status.value == "paint both classes: label 1 on background, 2 on objects"

    scribbles.data = _strokes(truth, slice(0, 120))  # strokes on the top rows only
    widget.train()
    preview = "nuclei-pixel_classifier [preview]"
    qtbot.waitUntil(lambda: preview in viewer.layers and not widget.training, timeout=TIMEOUT_MS)
    first = viewer.layers[preview].data.copy()
    assert widget.status.value.startswith("trained on ")
    assert dice(first, truth) > 0.8

    # A stroke painted as a person paints it retrains after the pause, on the cached features.
    more = _strokes(truth, slice(120, None))
    scribbles.paint(tuple(np.argwhere(more == FOREGROUND)[0]), FOREGROUND)
    scribbles.data = np.maximum(scribbles.data, more)
    qtbot.waitUntil(lambda: not np.array_equal(viewer.layers[preview].data, first),
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    trained = mp.train_pixel_classifier(image, scribbles.data)
    assert widget.model.classifier.text == trained.text
    assert np.array_equal(viewer.layers[preview].data, trained.predict(image))

    widget.path_edit.value = tmp_path / "nuclei.lgbm.txt"
    widget.apply_button.changed.emit(True)
    qtbot.waitUntil(lambda: "nuclei-pixel_classifier" in viewer.layers and not widget.applying,
                    timeout=TIMEOUT_MS)
    output = viewer.layers["nuclei-pixel_classifier"]
    np.testing.assert_array_equal(output.data, trained.predict(image))
    recipe = recorder.model.recipe
    assert [s.op for s in recipe.steps] == ["segment.pixel_classifier"]
    assert recipe.steps[0].params["model"]["path"] == str(tmp_path / "nuclei.lgbm.txt")
    path = recipe.save(tmp_path / "learned.maskprep.yaml")
    assert "path: nuclei.lgbm.txt" in path.read_text()
    np.testing.assert_array_equal(mp.Recipe.load(path).run(image), output.data)


def test_the_segment_widget_offers_the_classifier_and_asks_for_a_model(qtbot, shown):
    from napari_maskprep._napari.widgets import SegmentWidget

    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.select("segment.pixel_classifier", viewer.layers["nuclei"])
    assert widget.param_editors["model"].value is None
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert any("needs model={path, sha256}" in message for _, message in shown())


def test_a_lazy_image_is_refused_in_one_line(trainer):
    import dask.array as da

    viewer, widget, _ = trainer
    viewer.add_image(da.zeros((64, 64), dtype=np.uint16), name="lazy")
    widget.image_box.value = viewer.layers["lazy"]
    widget.add_button.changed.emit(True)
    widget.train()
    assert widget.status.value == ("'lazy' is a pyramid or lazy image: train on a region of "
                                   "it loaded as an image layer")


@pytest.mark.parametrize("lazy", ["pyramid", "dask"])
def test_apply_to_a_pyramid_or_lazy_image_is_refused_before_any_work(trainer, qtbot, tmp_path,
                                                                     shown, lazy):
    """A model trained on one image, applied to a pyramid chosen in the image box, wrote
    the pyramid's smallest level's mask (64 x 64 of 256 x 256) at the full level's scale,
    over a quarter of the image; a lazy image was read whole. Both are refused in one line,
    saving no model and adding no layer."""
    import dask.array as da

    viewer, widget, _ = trainer
    _paint_nuclei(viewer, widget)
    widget.train()
    qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    base = np.zeros((256, 256), np.uint16)
    data = [base, base[::2, ::2], base[::4, ::4]] if lazy == "pyramid" else da.from_array(base)
    viewer.add_image(data, name="big", multiscale=lazy == "pyramid", scale=(0.25, 0.25))
    widget.image_box.value = viewer.layers["big"]  # the preview of 'nuclei' goes
    names = [layer.name for layer in viewer.layers]
    widget.path_edit.value = tmp_path / "model.txt"
    widget.apply_button.changed.emit(True)
    qtbot.waitUntil(lambda: not widget.applying, timeout=TIMEOUT_MS)
    assert [message for _, message in shown()][-1:] == [
        "'big' is a pyramid or lazy image, which this Apply would read whole: apply to an "
        "image held in memory, or run the saved model on it with the Segment widget's pixel "
        "classifier (tiled, into OME-Zarr)"]
    assert [layer.name for layer in viewer.layers] == names
    assert not (tmp_path / "model.txt").exists()


def test_removing_the_image_removes_its_preview_and_a_training_under_way(trainer, qtbot,
                                                                          shown):
    """The widget kept the removed image: its preview stayed, a training that ended after
    the removal drew it again, and Apply segmented the removed image into a new layer."""
    viewer, widget, recorder = trainer
    _paint_nuclei(viewer, widget)
    widget.train()
    preview = "nuclei-pixel_classifier [preview]"
    qtbot.waitUntil(lambda: preview in viewer.layers and not widget.training, timeout=TIMEOUT_MS)
    viewer.layers.remove("nuclei")
    assert preview not in viewer.layers and widget.model.image is None
    widget.apply_button.changed.emit(True)
    assert not widget.applying and "nuclei-pixel_classifier" not in viewer.layers
    assert shown()[-1][1] == "choose an image first"

    for data, kwargs, layer_type in _sample_data.nuclei():  # again, removed while it trains
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    widget.image_box.value = viewer.layers["nuclei"]
    widget.train()
    assert widget.training
    viewer.layers.remove("nuclei")
    qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    assert preview not in viewer.layers and recorder.model.records == []


def test_a_preview_removed_by_hand_is_let_go_and_the_next_training_makes_a_new_one(
        trainer, qtbot):
    """The model held the removed preview layer (and its data) until the next training."""
    viewer, widget, _ = trainer
    _paint_nuclei(viewer, widget)
    widget.train()
    preview = "nuclei-pixel_classifier [preview]"
    qtbot.waitUntil(lambda: preview in viewer.layers and not widget.training, timeout=TIMEOUT_MS)
    removed = viewer.layers[preview]
    shown = removed.data.copy()
    viewer.layers.remove(preview)
    assert widget.model.preview is None
    widget.train()
    qtbot.waitUntil(lambda: preview in viewer.layers and not widget.training, timeout=TIMEOUT_MS)
    again = viewer.layers[preview]
    assert again is not removed and widget.model.preview is again
    np.testing.assert_array_equal(again.data, shown)  # the same strokes, the same classifier
    assert [x.name for x in viewer.layers] == ["nuclei-ground truth", "nuclei", preview,
                                                "nuclei scribbles"]


@pytest.mark.parametrize(("error", "said"), [
    (KeyError(np.longdouble), "training failed (KeyError: <class 'numpy.longdouble'>); a "
                              "bug: its traceback is logged"),
    (MemoryError(), "training failed (MemoryError)"),
])
def test_a_training_that_fails_without_a_message_says_what_failed(trainer, qtbot, monkeypatch,
                                                                   error, said, caplog):
    """The status line said only '<class 'numpy.longdouble'>' or 'MemoryError'; and
    napari relayed the worker's error besides, a notification with its traceback. A bug
    (the KeyError) is said as one and its traceback logged, as a stage's is; a lack of
    memory is not a bug."""
    viewer, widget, _ = trainer
    _paint_nuclei(viewer, widget)

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(training_module, "fit_classifier", fails)
    with qtbot.capture_exceptions() as relayed:
        widget.train()
        qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    assert relayed == []
    assert widget.status.value == said
    assert "nuclei-pixel_classifier [preview]" not in viewer.layers
    logged = [r.exc_info[0] for r in caplog.records
              if r.name == "napari_maskprep._napari.workers"]
    assert logged == ([] if isinstance(error, MemoryError) else [KeyError])


def test_train_layers_keep_the_images_units_and_axes(trainer, qtbot, tmp_path, shown):
    """The scribbles, preview and mask of a time-lapse in µm were in pixels with no axis
    names: napari warned 'Inconsistent units across layers' for each, and a refine of the
    mask took its frames for a volume."""
    viewer, widget, _ = trainer
    image, truth = load("nuclei")
    movie = viewer.add_image(np.stack([image, image]), name="movie", scale=(1, 0.65, 0.65),
                             units=("s", "um", "um"), axis_labels=("t", "y", "x"))
    widget.image_box.value = movie
    widget.add_button.changed.emit(True)
    scribbles = viewer.layers["movie scribbles"]
    scribbles.data = np.stack([_strokes(truth, slice(0, 120))] * 2)
    widget.train()
    qtbot.waitUntil(lambda: "movie-pixel_classifier [preview]" in viewer.layers
                    and not widget.training, timeout=TIMEOUT_MS)
    widget.path_edit.value = tmp_path / "movie.lgbm.txt"
    widget.apply_button.changed.emit(True)
    qtbot.waitUntil(lambda: "movie-pixel_classifier" in viewer.layers and not widget.applying,
                    timeout=TIMEOUT_MS)
    for name, axes in (("movie scribbles", 3), ("movie-pixel_classifier [preview]", 2),
                       ("movie-pixel_classifier", 3)):
        layer = viewer.layers[name]
        assert layer.units == movie.units[-axes:], name
        assert tuple(layer.axis_labels) == ("t", "y", "x")[-axes:], name
    assert not any("Inconsistent units" in message for _, message in shown())


def test_a_stack_with_a_z_scale_trains_on_the_plane_shown(qtbot):
    """The plane was the viewer's step on its first axis, not the image's plane there:
    strokes on plane 7 of a stack scaled (2, 1, 1) beside an unscaled layer were looked for
    on plane 19, past the stack's 16 (IndexError)."""
    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei_3d():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    image = viewer.layers["nuclei_3d"]
    image.scale, image.translate = (2.0, 1.0, 1.0), (5.0, 0.0, 0.0)
    widget = TrainWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.image_box.value = image
    widget.add_button.changed.emit(True)
    strokes = np.zeros(image.data.shape, np.uint8)
    strokes[7, 0, :] = 1
    strokes[7, 30, 20:30] = FOREGROUND
    widget.model.scribbles.data = strokes
    viewer.dims.set_point(0, 19.0)  # world z 19 = plane (19 - 5) / 2 = 7
    job = widget.model.train_job()
    np.testing.assert_array_equal(job.plane, image.data[7])
    np.testing.assert_array_equal(job.scribbles, strokes[7])


def test_scribbles_of_another_shape_than_the_stack_are_refused_in_one_line(qtbot):
    """Scribbles were indexed by the stack's plane before their shape was checked: a 3D
    layer of 3 planes on plane 4 of a 6-plane stack raised IndexError (a traceback), and a
    2D layer gave one row of it, named as the scribbles' shape ((50,))."""
    viewer = ViewerModel()
    viewer.add_image(np.zeros((6, 40, 50)), name="stack")
    viewer.add_labels(np.zeros((3, 40, 50), np.uint8), name="short")
    viewer.add_labels(np.zeros((40, 50), np.uint8), name="flat")
    widget = TrainWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.image_box.value = viewer.layers["stack"]
    viewer.dims.set_point(0, 4.0)
    shown = {}
    for name in ("short", "flat"):
        widget.scribble_box.value = viewer.layers[name]
        widget.train()
        shown[name] = widget.status.value
    accepted = "accepted: scribbles of the image's shape (New scribble layer adds them)"
    assert shown == {
        "short": f"the scribbles' shape (3, 40, 50) is not the image's (6, 40, 50); {accepted}",
        "flat": f"the scribbles' shape (40, 50) is not the image's (6, 40, 50); {accepted}",
    }
    assert not widget.training


def test_the_preview_follows_a_renamed_image_and_is_no_stage_input(trainer, qtbot):
    """Training again after the image was renamed left the old preview beside a new one;
    and the preview was offered to Refine as a mask to refine."""
    from napari_maskprep._napari.widgets import RefineWidget

    viewer, widget, _ = trainer
    refine = RefineWidget(viewer)
    qtbot.addWidget(refine.native)
    image = viewer.layers["nuclei"]
    image.data = image.data[:96, :128]  # a quick training
    widget.image_box.value = image
    widget.add_button.changed.emit(True)
    truth = viewer.layers["nuclei-ground truth"].data[:96, :128]
    widget.model.scribbles.data = _strokes(truth, slice(None))
    for name in ("nuclei", "cells"):
        image.name = name
        widget.train()
        qtbot.waitUntil(lambda n=name: f"{n}-pixel_classifier [preview]" in viewer.layers
                        and not widget.training, timeout=TIMEOUT_MS)
    assert [layer.name for layer in viewer.layers] == [
        "nuclei-ground truth", "cells", "cells-pixel_classifier [preview]", "nuclei scribbles"]
    assert [layer.name for layer in refine.input_box.choices] == [
        "nuclei-ground truth", "nuclei scribbles"]


def test_a_stack_s_preview_follows_the_plane_shown(qtbot):
    """The preview (one 2D layer) kept the trained plane's prediction over every plane:
    on another plane it is now hidden, with a status line, while that plane is predicted
    by the same classifier in a worker thread, then shown."""
    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei_3d():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    image = viewer.layers["nuclei_3d"]
    truth = viewer.layers["nuclei_3d-ground truth"].data
    widget = TrainWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.image_box.value = image
    widget.add_button.changed.emit(True)
    strokes = np.zeros(image.data.shape, np.uint8)
    strokes[7] = _strokes(truth[7], slice(None))
    widget.model.scribbles.data = strokes
    viewer.dims.set_point(0, 7.0)
    widget.train()
    qtbot.waitUntil(lambda: not widget.training and not widget.predicting, timeout=TIMEOUT_MS)
    preview = viewer.layers["nuclei_3d-pixel_classifier [preview]"]
    trained = preview.data.copy()
    classifier = widget.model.classifier

    def predicted(z: int) -> np.ndarray:
        _, features = feature_matrix(image.data[z])
        return (classifier.model.probability_of(features) >= 0.5).astype(np.uint8).reshape(
            image.data.shape[1:])

    np.testing.assert_array_equal(trained, predicted(7))
    viewer.dims.set_point(0, 3.0)
    assert not preview.visible
    assert widget.status.value == "the preview is of plane 7: predicting plane 3..."
    qtbot.waitUntil(lambda: not widget.predicting, timeout=TIMEOUT_MS)
    assert preview.visible and widget.model.classifier is classifier
    assert widget.status.value.startswith("preview of plane 3: predicted in ")
    np.testing.assert_array_equal(preview.data, predicted(3))
    assert not np.array_equal(preview.data, trained)
    viewer.dims.set_point(0, 7.0)
    qtbot.waitUntil(lambda: not widget.predicting, timeout=TIMEOUT_MS)
    assert preview.visible
    np.testing.assert_array_equal(preview.data, trained)


def _small_stack_trainer(viewer, widget):
    """A 16 x 64 x 64 crop of the 3D sample in ``viewer``, strokes on plane 7 (quick)."""
    for data, kwargs, layer_type in _sample_data.nuclei_3d():
        getattr(viewer, f"add_{layer_type}")(data[:, :64, :64], **kwargs)
    truth = viewer.layers["nuclei_3d-ground truth"].data
    widget.image_box.value = viewer.layers["nuclei_3d"]
    widget.add_button.changed.emit(True)
    strokes = np.zeros(truth.shape, np.uint8)
    strokes[7] = _strokes(truth[7], slice(None))
    widget.model.scribbles.data = strokes
    viewer.dims.set_point(0, 7.0)


def _no_worker_running(qtbot):
    from qtpy.QtCore import QThreadPool

    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0,
                    timeout=TIMEOUT_MS)


def test_closing_its_dock_stops_it_following_the_viewer(make_napari_viewer, qtbot):
    """napari's close button only unparents a plugin's widget: the Train widget lived on,
    predicting each plane the viewer moved to, and retraining after strokes, into a
    preview left behind."""
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-maskprep", "Train")
    _small_stack_trainer(viewer, widget)
    widget.train()
    qtbot.waitUntil(lambda: not widget.training and not widget.predicting, timeout=TIMEOUT_MS)
    assert "nuclei_3d-pixel_classifier [preview]" in viewer.layers
    status = widget.status.value

    dock.destroyOnClose()  # the title bar's close button
    assert [layer.name for layer in viewer.layers] == [
        "nuclei_3d-ground truth", "nuclei_3d", "nuclei_3d scribbles"]
    viewer.dims.set_point(0, 3.0)
    assert not widget.predicting and widget.status.value == status
    viewer.layers["nuclei_3d scribbles"].events.paint(value=[])  # a stroke
    assert not widget._timer.isActive()  # no retraining once the strokes pause
    _no_worker_running(qtbot)
    assert [layer.name for layer in viewer.layers] == [
        "nuclei_3d-ground truth", "nuclei_3d", "nuclei_3d scribbles"]
    assert widget.status.value == status


def test_a_training_under_way_when_the_widget_is_deleted_finishes_unheard(qtbot):
    """Its slots touched the deleted Qt widgets, and its preview was drawn after the close."""
    viewer = ViewerModel()
    widget = TrainWidget(viewer)  # not qtbot's to close: Qt deletes it below
    _small_stack_trainer(viewer, widget)
    widget.train()
    assert widget.training
    widget.native.close()
    widget.native.deleteLater()
    qtbot.wait(50)
    viewer.dims.set_point(0, 3.0)
    _no_worker_running(qtbot)
    qtbot.wait(100)  # its signals, queued to the GUI thread, are delivered
    assert [layer.name for layer in viewer.layers] == [
        "nuclei_3d-ground truth", "nuclei_3d", "nuclei_3d scribbles"]


def test_a_model_trained_again_is_saved_beside_the_one_applied_before(trainer, qtbot, tmp_path,
                                                                     monkeypatch):
    """The model file box kept the first training's name (its digest) for every later one,
    of this image or another: Apply then replaced the model an earlier step was recorded
    with, so that step no longer replayed (its sha256 no longer matched)."""
    monkeypatch.chdir(tmp_path)  # where the default model files go
    viewer, widget, recorder = trainer
    _, truth = load("nuclei")
    widget.image_box.value = viewer.layers["nuclei"]
    widget.add_button.changed.emit(True)
    scribbles = viewer.layers["nuclei scribbles"]
    widget.live_box.value = False

    def train(strokes: np.ndarray) -> str:
        scribbles.data = strokes
        widget.train()
        qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
        return widget.model.classifier.text

    def apply() -> None:
        widget.apply_button.changed.emit(True)
        qtbot.waitUntil(lambda: not widget.applying, timeout=TIMEOUT_MS)

    first = train(_strokes(truth, slice(0, 120)))
    first_path = widget.path_edit.value
    assert first_path == default_model_path("nuclei", widget.model.classifier)
    apply()
    first_step = recorder.model.recipe.steps[0]  # as a saved recipe holds it
    second = train(_strokes(truth, slice(None)))
    assert second != first
    assert widget.path_edit.value == default_model_path("nuclei", widget.model.classifier)
    apply()
    assert first_path.read_text() == first
    assert widget.path_edit.value.read_text() == second
    image = viewer.layers["nuclei"].data
    [step] = recorder.model.recipe.steps
    assert step.params["model"]["path"] == str(widget.path_edit.value)
    np.testing.assert_array_equal(  # the first step still runs the model it was made with
        mp.apply("segment.pixel_classifier", image, **first_step.params),
        mp.train_pixel_classifier(image, _strokes(truth, slice(0, 120))).predict(image))

    chosen = tmp_path / "mine.lgbm.txt"  # a name of one's own is kept
    widget.path_edit.value = chosen
    train(_strokes(truth, slice(120, None)))
    assert widget.path_edit.value == chosen


@pytest.mark.parametrize(("axes", "plane"), [(None, "plane 7 of 16"),
                                             (("z", "y", "x"), "plane z=7 of 16")])
def test_a_stack_s_status_names_the_plane_trained_on_and_the_strokes_left(qtbot, axes, plane):
    """On a stack it trained on the plane shown and said only 'trained on 120 labelled
    pixels': a person who painted other planes could not tell they were left out."""
    viewer = ViewerModel()
    widget = TrainWidget(viewer)
    qtbot.addWidget(widget.native)
    _small_stack_trainer(viewer, widget)
    if axes is not None:
        viewer.layers["nuclei_3d"].axis_labels = axes
    strokes = widget.model.scribbles.data.copy()
    shown = int(np.count_nonzero(strokes[7]))
    strokes[3, 0, :5] = strokes[9, 0, :2] = 1  # 7 labelled pixels on two other planes
    widget.model.scribbles.data = strokes
    widget.train()
    qtbot.waitUntil(lambda: not widget.training and not widget.predicting, timeout=TIMEOUT_MS)
    assert widget.status.value.startswith(
        f"trained on {shown} labelled pixels of {plane} (the 7 on other planes are not "
        "used): features ")


def test_an_image_removed_while_apply_segments_it_gets_no_mask_and_no_step(trainer, qtbot,
                                                                          tmp_path):
    """Apply finishing after its image was removed added the removed image's mask and
    announced the step: the Recorder recorded it and kept the removed layer as its input."""
    viewer, widget, recorder = trainer
    _paint_nuclei(viewer, widget)
    widget.train()
    qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    widget.path_edit.value = tmp_path / "nuclei.lgbm.txt"
    widget.apply_button.changed.emit(True)
    assert widget.applying
    viewer.layers.remove("nuclei")  # before the worker's result reaches the GUI thread
    qtbot.waitUntil(lambda: not widget.applying, timeout=TIMEOUT_MS)
    assert "nuclei-pixel_classifier" not in viewer.layers
    assert recorder.model.records == [] and recorder.model.input_layer is None
    assert widget.status.value == (f"saved {tmp_path / 'nuclei.lgbm.txt'}; 'nuclei' was "
                                   "removed while segment.pixel_classifier ran; nothing was "
                                   "written")
    assert widget.apply_button.enabled


def test_the_status_names_the_file_apply_saved_not_the_box_changed_since(trainer, qtbot,
                                                                        tmp_path):
    """Apply said 'saved <the model file box>' once done: a name typed (or a retrain's new
    default name) meanwhile was reported as the file saved, which holds no model."""
    viewer, widget, _ = trainer
    _paint_nuclei(viewer, widget)
    widget.train()
    qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    saved = tmp_path / "nuclei.lgbm.txt"
    widget.path_edit.value = saved
    widget.apply_button.changed.emit(True)
    widget.path_edit.value = tmp_path / "next.lgbm.txt"  # while it segments
    qtbot.waitUntil(lambda: not widget.applying, timeout=TIMEOUT_MS)
    assert widget.status.value == f"saved {saved}; wrote 'nuclei-pixel_classifier'"
    assert saved.is_file() and not (tmp_path / "next.lgbm.txt").exists()


def test_apply_again_keeps_a_mask_painted_since_and_any_layer_of_its_name(trainer, qtbot,
                                                                         tmp_path):
    """Apply wrote into whatever layer was named '<image>-pixel_classifier': strokes painted
    on the last Apply's mask, or an image of one's own of that name, were overwritten."""
    viewer, widget, _ = trainer
    image, truth = load("nuclei")
    widget.image_box.value = viewer.layers["nuclei"]
    widget.add_button.changed.emit(True)
    viewer.layers["nuclei scribbles"].data = _strokes(truth, slice(0, 120))
    widget.live_box.value = False
    widget.train()
    qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    widget.path_edit.value = tmp_path / "nuclei.lgbm.txt"
    predicted = widget.model.classifier.predict(image)

    def apply() -> None:
        widget.apply_button.changed.emit(True)
        qtbot.waitUntil(lambda: not widget.applying, timeout=TIMEOUT_MS)

    apply()
    output = viewer.layers["nuclei-pixel_classifier"]
    apply()  # nothing painted: the same layer is written again
    assert [x.name for x in viewer.layers].count("nuclei-pixel_classifier") == 1
    output.data_setitem((np.array([0]), np.array([0])), 7)  # a stroke on it
    painted = output.data.copy()
    apply()
    np.testing.assert_array_equal(output.data, painted)
    np.testing.assert_array_equal(viewer.layers["nuclei-pixel_classifier [1]"].data, predicted)
    assert widget.status.value == (
        f"saved {tmp_path / 'nuclei.lgbm.txt'}; 'nuclei-pixel_classifier' was changed since "
        "the last Apply (or is not its mask), so it was kept; wrote "
        "'nuclei-pixel_classifier [1]'")

    viewer.layers.remove(output)
    viewer.layers.remove("nuclei-pixel_classifier [1]")
    mine = viewer.add_image(np.ones((4, 4)), name="nuclei-pixel_classifier")
    apply()
    assert isinstance(mine, Image) and np.array_equal(mine.data, np.ones((4, 4)))
    np.testing.assert_array_equal(viewer.layers["nuclei-pixel_classifier [1]"].data, predicted)


def test_a_bug_writing_apply_s_mask_says_one_line_and_leaves_no_layer(trainer, qtbot,
                                                                     tmp_path, monkeypatch,
                                                                     caplog):
    """A bug raised on the GUI thread as Apply wrote its mask (after the layer was added)
    escaped to napari as a traceback: the half-made layer stayed, without the step
    announced, and the status line kept 'segmenting the whole image...'."""
    viewer, widget, recorder = trainer
    _paint_nuclei(viewer, widget)
    widget.train()
    qtbot.waitUntil(lambda: not widget.training, timeout=TIMEOUT_MS)
    names = [x.name for x in viewer.layers]

    def fails(*args, **kwargs):
        raise KeyError("sigma")

    monkeypatch.setattr(training_module, "style_output", fails)
    widget.path_edit.value = tmp_path / "nuclei.lgbm.txt"
    widget.apply_button.changed.emit(True)
    qtbot.waitUntil(lambda: not widget.applying, timeout=TIMEOUT_MS)
    assert widget.status.value == ("segmenting the whole image failed (KeyError: 'sigma'); "
                                   "a bug: its traceback is logged")
    assert widget.apply_button.enabled
    assert [x.name for x in viewer.layers] == names
    assert recorder.model.records == []
    logged = [r for r in caplog.records if r.name == "napari_maskprep._napari.workers"]
    assert [(r.getMessage(), r.exc_info[0]) for r in logged] == [
        ("segmenting the whole image failed", KeyError)]


def test_strokes_of_one_class_say_which_class_is_missing_and_train_nothing(trainer, qtbot):
    """Strokes of background only said 'paint both classes', as if nothing were painted;
    strokes holding 3 and no 2 said it too, rather than that 3 is no class."""
    viewer, widget, _ = trainer
    _, truth = load("nuclei")
    widget.image_box.value = viewer.layers["nuclei"]
    widget.add_button.changed.emit(True)
    strokes = _strokes(truth, slice(0, 120))
    for painted, status in (
            (np.where(strokes == FOREGROUND, 0, strokes),
             "the strokes hold only background (1): paint 2 on objects too"),
            (np.where(strokes == 1, 0, strokes),
             "the strokes hold only objects (2): paint 1 on background too"),
            (np.where(strokes == FOREGROUND, 3, strokes),
             "scribbles hold labels above 2; paint with 1 (background) and 2 (objects) only")):
        viewer.layers["nuclei scribbles"].data = painted
        widget.train()
        assert (widget.status.value, widget.training) == (status, False)

    stack_viewer = ViewerModel()
    stack_widget = TrainWidget(stack_viewer)
    qtbot.addWidget(stack_widget.native)
    _small_stack_trainer(stack_viewer, stack_widget)
    painted = stack_widget.model.scribbles.data.copy()
    painted[painted == 1] = 0
    stack_widget.model.scribbles.data = painted
    stack_widget.train()
    assert stack_widget.status.value == ("the strokes on plane 7 of 16 hold only objects (2): "
                                         "paint 1 on background too")
