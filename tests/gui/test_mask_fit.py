"""The Recorder's "Fit to mask" (the recorded recipe fitted to a Labels layer), and its steps
that name a model file."""

from __future__ import annotations

import threading

import tifffile

import napari_maskprep as mp
from napari_maskprep._napari import recorder as recorder_module
from napari_maskprep._napari.workers import Failure
from napari_maskprep.fit import dice

from ..networks import conv_net, model_file
from .test_recorder import ERROR, TIMEOUT_MS
from .test_recorder import session as session  # noqa: F401 (the fixture, used by name)


def test_fit_to_mask_gives_the_recorded_steps_the_best_parameters(session, shown):
    session.apply(session.preprocess, "preprocess.gaussian", "nuclei", sigma=6.0)
    session.apply(session.segment, "segment.auto_threshold", "nuclei-gaussian",
                  method="triangle")
    recorder = session.recorder
    image = session.viewer.layers["nuclei"].data
    truth = session.viewer.layers["nuclei-ground truth"].data
    before = dice(recorder.model.recipe.run(image), truth)
    recorder.target_box.value = session.viewer.layers["nuclei"]
    recorder.fit_mask_box.value = session.viewer.layers["nuclei-ground truth"]
    assert recorder.fit() is not None
    assert not recorder.fit_button.enabled
    session.qtbot.waitUntil(lambda: not recorder.running, timeout=TIMEOUT_MS)
    assert recorder.fit_button.enabled
    after = dice(recorder.model.recipe.run(image), truth)
    assert before < 0.75 and after > 0.9
    assert recorder.status.value.startswith(f"Dice {before:.3f} → {after:.3f} in 60 trials; ")
    assert recorder.model.records[0].step.params["sigma"] != 6.0
    assert [s for s, _ in shown() if s == ERROR] == []


def test_fit_without_a_mask_is_one_error_and_changes_nothing(session, shown):
    session.apply(session.preprocess, "preprocess.gaussian", "nuclei", sigma=2.0)
    session.apply(session.segment, "segment.auto_threshold", "nuclei-gaussian")
    recipe = session.recorder.model.recipe
    session.viewer.layers.remove("nuclei-ground truth")
    session.viewer.layers.remove("nuclei-gaussian-auto_threshold")
    assert session.recorder.fit_mask_box.value is None
    assert session.recorder.fit() is None
    assert shown() == [(ERROR, "pick the image the recipe reads and a Labels layer holding "
                               "its corrected mask")]
    assert session.recorder.model.recipe == recipe


def test_the_progress_bar_stays_shown_while_a_fit_outlasts_a_batch(session, tmp_path,
                                                                  monkeypatch):
    """The batch and the fit share the bar: the batch ending hid it while the fit ran."""
    session.apply(session.segment, "segment.auto_threshold", "nuclei")
    go_on = threading.Event()

    def held_fit(job, progress):
        go_on.wait(TIMEOUT_MS / 1000)
        return Failure("fit stopped by the test")

    monkeypatch.setattr(recorder_module, "_fit_outcome", held_fit)
    recorder, bar = session.recorder, session.recorder.progress_bar.native
    recorder.target_box.value = session.viewer.layers["nuclei"]
    recorder.fit_mask_box.value = session.viewer.layers["nuclei-ground truth"]
    assert recorder.fit() is not None
    infolder = tmp_path / "in"
    infolder.mkdir()
    tifffile.imwrite(infolder / "a.tif", session.viewer.layers["nuclei"].data[:64, :64])
    recorder.infolder.value, recorder.outfolder.value = infolder, tmp_path / "out"
    assert recorder.run_batch() is not None
    session.qtbot.waitUntil(lambda: recorder.batch_button.enabled, timeout=TIMEOUT_MS)
    assert recorder.status.value.startswith("1 written, 0 skipped, 0 failed; ")
    assert not bar.isHidden()  # the fit still runs
    go_on.set()
    session.qtbot.waitUntil(lambda: not recorder.running, timeout=TIMEOUT_MS)
    assert bar.isHidden()
    assert recorder.status.value == "fit stopped by the test"


def test_a_step_with_a_model_file_shows_the_file_and_its_hash(session, tmp_path):
    data, _ = conv_net()
    model = model_file(tmp_path, data, "nuclei.onnx")
    recipe = mp.Recipe([{"op": "segment.onnx_model",
                         "params": {"model": model, "multiple": 1, "halo": 2}}])
    recipe.save(tmp_path / "cnn.maskprep.yaml")
    recorder = session.recorder
    assert recorder.load(tmp_path / "cnn.maskprep.yaml")
    recorder.select_step(0)
    shown = {w.label: w.value for w in recorder.params_box}
    assert shown["model"] == f"nuclei.onnx ({model['sha256'][:8]})"
    assert recorder.steps.item(0).text().startswith("1. segment.onnx_model  model=nuclei.onnx, ")
    assert set(recorder.param_editors) == {p.name for p in recipe.steps[0].spec.params} - {
        "model"}
