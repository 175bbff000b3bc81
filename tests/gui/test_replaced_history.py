"""A Labels layer whose data the plugin replaces loses napari's undo history with it:
Ctrl+Z must not write the strokes of the data replaced into the new result."""

from __future__ import annotations

import numpy as np

import napari_maskprep as mp

from .test_widgets import TIMEOUT_MS, preview_shows


def test_undo_after_the_preview_is_recomputed_keeps_the_new_preview(make_widget, qtbot):
    """napari keeps a Labels layer's undo history when its data is replaced: a stroke on
    the preview, the preview recomputed, then Ctrl+Z wrote the stroke's old pixel (the
    former preview's 1) into the new preview, whose pixel there is 0."""
    viewer, widget = make_widget("segment", "nuclei")
    image = viewer.layers["nuclei"]
    widget.select("segment.threshold", image)
    name = "nuclei-threshold [preview]"
    low, high = float(image.data.min()), float(image.data.max())
    widget.param_editors["value"].value = low
    widget.preview_box.value = True
    everything = mp.apply("segment.threshold", image.data, value=low)
    qtbot.waitUntil(lambda: preview_shows(viewer, name, everything), timeout=TIMEOUT_MS)
    preview = viewer.layers[name]
    pixel = tuple(int(i) for i in np.argwhere(everything == 1)[0])
    preview.paint(pixel, 2)
    assert preview.data[pixel] == 2

    widget.param_editors["value"].value = high
    nothing = mp.apply("segment.threshold", image.data, value=high)
    qtbot.waitUntil(lambda: preview_shows(viewer, name, nothing), timeout=TIMEOUT_MS)
    preview.undo()
    np.testing.assert_array_equal(preview.data, nothing)
