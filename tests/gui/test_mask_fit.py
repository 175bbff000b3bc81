"""The Recorder's "Fit to mask" (the recorded recipe fitted to a Labels layer), and its steps
that name a model file."""

from __future__ import annotations

import napari_maskprep as mp
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
