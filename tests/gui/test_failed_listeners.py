"""A writer failing after it took a layer away puts it back: a preview whose layer type
changed has its old layer back, the stage knowing it."""

from __future__ import annotations

from napari_maskprep._napari import stage

from .test_failed_writes import BUG, TIMEOUT_MS, assert_same, fails, states, wait_idle


def test_a_bug_adding_a_preview_of_another_type_puts_the_old_preview_back(
        make_widget, qtbot, monkeypatch):
    """An RGB preview becomes a grey one (another layer: napari cannot change a layer's
    rgb): the old preview was removed before the new one was added, so a bug adding it
    left no preview, and the stage knowing none."""
    viewer, widget = make_widget("preprocess", "he_tile")
    tile = viewer.layers["he_tile"]
    widget.select("preprocess.gaussian", tile)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: "he_tile-gaussian [preview]" in viewer.layers, timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    preview = viewer.layers["he_tile-gaussian [preview]"]
    assert preview.rgb
    before = states(viewer)
    monkeypatch.setattr(stage, "add_layer", fails)
    widget.select("preprocess.to_gray")
    qtbot.waitUntil(lambda: widget.status.value.endswith("logged"), timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    assert widget.status.value == f"the preview of preprocess.to_gray {BUG}"
    assert_same(viewer, before)
    assert viewer.layers[-1] is preview and widget.model.preview_layer is preview

    monkeypatch.undo()
    widget.select("preprocess.gaussian")
    widget.select("preprocess.to_gray")  # only the last preview of quick changes runs
    qtbot.waitUntil(lambda: "he_tile-to_gray [preview]" in viewer.layers, timeout=TIMEOUT_MS)
    wait_idle(qtbot, widget)
    assert [x.name for x in viewer.layers] == ["he_tile-ground truth", "he_tile",
                                               "he_tile-to_gray [preview]"]
    assert widget.model.preview_layer is viewer.layers[-1] and not viewer.layers[-1].rgb
