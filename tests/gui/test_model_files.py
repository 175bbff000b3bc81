"""Steps whose model is a file get a file picker built from their parameter: the chosen
file's path and sha256 once it is a format the step reads; anything else is one line."""

from __future__ import annotations

import pickle

import numpy as np

import napari_maskprep as mp
from napari_maskprep._napari import editors
from napari_maskprep.core.model_files import ModelFile

from ..learned_models import tiny_classifier
from .test_widgets import wait_applied


def test_a_chosen_model_file_is_applied_like_the_op(make_widget, qtbot):
    viewer, widget = make_widget("segment", "nuclei")
    image = viewer.layers["nuclei"]
    widget.select("segment.pixel_classifier", image)
    editor = widget.param_editors["model"]
    assert editor.value is None and editor.note.value == "no model chosen"
    ref = tiny_classifier()
    editor.picker.value = ref.path
    assert editor.value == ref and widget.model.params["model"] == ref
    assert editor.note.value == f"sha256 {ref.sha256[:12]}…"
    widget.apply()
    wait_applied(qtbot, widget)
    out = viewer.layers["nuclei-pixel_classifier"]
    expected = mp.apply("segment.pixel_classifier", image.data, model=ref.to_plain())
    assert out.data.dtype == np.uint8
    np.testing.assert_array_equal(out.data, expected)


def test_a_pickle_or_another_format_is_refused_in_one_line(make_widget, tmp_path):
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.pixel_classifier", viewer.layers["nuclei"])
    editor = widget.param_editors["model"]
    ref = tiny_classifier()
    editor.picker.value = ref.path
    marker = tmp_path / "ran"
    bad = tmp_path / "model.txt"
    bad.write_bytes(pickle.dumps({"marker": str(marker)}))
    editor.picker.value = str(bad)
    assert editor.note.value.startswith(f"model file {bad}: a Python pickle, refused")
    assert editor.value == ref and widget.model.params["model"] == ref  # unchanged
    assert not marker.exists()
    onnx_ish = tmp_path / "net.onnx"
    onnx_ish.write_text("not a model")
    editor.picker.value = str(onnx_ish)
    assert editor.note.value == (f"model file {onnx_ish}: not a known model format; "
                                 "accepted: a LightGBM text model (booster.save_model)")
    assert isinstance(editor.value, ModelFile) and editor.value == ref


def test_a_model_file_that_cannot_be_read_says_what_failed(make_widget, tmp_path, monkeypatch):
    """An error without a message showed its class name alone: 'OSError'."""
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.pixel_classifier", viewer.layers["nuclei"])
    editor = widget.param_editors["model"]

    def unreadable(path):
        raise OSError

    monkeypatch.setattr(editors, "file_sha256", unreadable)
    editor.picker.value = str(tmp_path / "model.txt")
    assert editor.note.value == "checking the model file failed (OSError)"
    assert editor.value is None
