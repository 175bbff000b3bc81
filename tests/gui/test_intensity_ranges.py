"""A threshold's slider and spin box over inputs of very different intensity ranges."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_maskprep._napari.widgets import SegmentWidget
from napari_maskprep.samples import load


@pytest.fixture
def segment(qtbot):
    viewer = ViewerModel()
    widget = SegmentWidget(viewer)
    qtbot.addWidget(widget.native)
    return viewer, widget


def _ranges(widget) -> tuple[tuple[float, float], tuple[float, float]]:
    editor = widget.param_editors["value"]
    return (editor.spin.min, editor.spin.max), (editor.slider.min, editor.slider.max)


def test_the_slider_spans_each_input_s_intensities_in_turn(segment):
    """magicgui's float slider changes its scale as its bounds and step change, without
    scaling what it holds: after a bright image the slider spanned a tenth of a dim one's
    range, and choosing that image raised ('value 127.0 is outside of the allowed range:
    (0.0, 12.7)') with the threshold left as it was."""
    viewer, widget = segment
    image, _ = load("nuclei")  # 122 to 1998
    bright = viewer.add_image(image.astype(np.float64) * 1e5, name="bright")
    dim = viewer.add_image((image // 16).astype(np.uint8), name="dim")  # 7 to 124
    widget.select("segment.threshold", bright)
    assert _ranges(widget) == ((1.22e7, 1.998e8), (1.22e7, 1.998e8))
    widget.select("segment.threshold", dim)
    assert _ranges(widget) == ((7.0, 124.0), (7.0, 124.0))
    editor = widget.param_editors["value"]
    editor.slider.value = editor.slider.max
    assert widget.model.params["value"] == 124.0


def test_an_image_brighter_than_a_billion_gets_its_threshold_editor(segment):
    """Its threshold, put in the middle of its intensities, lay beyond the spin box's
    default bounds (1e9): choosing the op raised and showed no parameters at all."""
    viewer, widget = segment
    image, _ = load("nuclei")
    bright = viewer.add_image(image.astype(np.float64) * 1e6, name="bright")
    widget.select("segment.threshold", bright)
    assert widget.model.params["value"] == 1.06e9
    assert widget.param_editors["value"].value == 1.06e9
    assert _ranges(widget) == ((1.22e8, 1.998e9), (1.22e8, 1.998e9))


@pytest.mark.parametrize(("op", "dtype", "scale", "shown"), [
    ("segment.threshold", np.int32, 1000, "image 122000 to 1.998e+06"),
    ("segment.auto_threshold", np.int32, 1000, "image 122000 to 1.998e+06"),
    ("segment.auto_threshold", np.float32, 1, "image 122 to 1998"),
])
def test_the_readout_keeps_the_image_s_range_after_a_preview(segment, qtbot, op, dtype, scale,
                                                              shown):
    """After a preview the readout showed the histogram's first and last bin centres: an
    int32 image went from 'image 122000 to 1.998e+06' to 'image 125664 to 1.99434e+06'."""
    viewer, widget = segment
    image, _ = load("nuclei")  # 122 to 1998
    layer = viewer.add_image(image.astype(dtype) * scale, name="wide")
    widget.select(op, layer)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.histogram.histogram is not None and not widget.previewing,
                    timeout=30_000)
    assert widget.readout.value.endswith(f" ({shown})")


def test_the_readout_of_a_bool_image_after_a_preview_says_0_to_1(segment, qtbot):
    """A bool image read 'image 0.00195 to 0.998' (the centres of its histogram's end bins)."""
    viewer, widget = segment
    image, _ = load("nuclei")
    layer = viewer.add_image(image > 1000, name="flags")
    widget.select("segment.auto_threshold", layer)
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.histogram.histogram is not None and not widget.previewing,
                    timeout=30_000)
    assert widget.readout.value.endswith(" (image 0 to 1)")


def test_a_threshold_at_the_top_of_its_range_survives_the_bounds_set_again(segment, qtbot):
    """magicgui's float slider reads its bounds back a rounding off (4.171999 for 4.172): a
    threshold at the top (or bottom) of the range was outside the slider's, and setting the
    bounds again (on any layer added) raised 'value 4.172 is outside of the allowed range:
    (-4.275, 4.171999)' in napari; a value typed at an end left the slider where it was."""
    viewer, widget = segment
    layer = viewer.add_image(np.linspace(-4.275, 4.172, 64).reshape(8, 8), name="signed")
    widget.select("segment.threshold", layer)
    editor = widget.param_editors["value"]
    for end in (editor.spin.max, editor.spin.min):
        editor.spin.value = end
        assert editor.slider.value == pytest.approx(end, abs=1e-5)  # it followed to its end
        with qtbot.capture_exceptions() as raised:
            viewer.add_image(np.zeros((4, 4)), name="another")  # the bounds are set again
        assert raised == []
        assert widget.model.params["value"] == end
        assert editor.slider.value == pytest.approx(end, abs=1e-5)
        viewer.layers.remove("another")
    assert (editor.spin.min, editor.spin.max) == (-4.275, 4.172)


def test_the_slider_of_an_image_of_one_value_stays_at_it(segment, qtbot):
    """Its spin box spans the one value (5 to 5) and the slider a step more, so that it can
    be drawn: dragging the slider there raised 'value 5.1 is outside of the allowed range:
    (5.0, 5.0)' in napari."""
    viewer, widget = segment
    layer = viewer.add_image(np.full((8, 8), 5.0), name="flat")
    widget.select("segment.threshold", layer)
    editor = widget.param_editors["value"]
    assert (editor.spin.min, editor.spin.max) == (5.0, 5.0)
    with qtbot.capture_exceptions() as raised:
        editor.slider.value = editor.slider.max
    assert raised == []
    assert widget.model.params["value"] == 5.0
    assert editor.slider.value == 5.0
