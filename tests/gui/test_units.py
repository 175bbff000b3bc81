"""Sizes in px or µm in the stage widgets: offered when the input layer has a scale."""

from __future__ import annotations

import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep._napari.layers import layer_pixel_size
from napari_maskprep.core.units import Quantity

TIMEOUT_MS = 20000


def add_mask(viewer, **kwargs):
    image = viewer.layers["nuclei"].data
    return viewer.add_labels(mp.apply("segment.auto_threshold", image), name="mask", **kwargs)


def test_layer_pixel_size_from_scale_and_units(make_widget):
    viewer, _ = make_widget("refine", "nuclei")
    layer = viewer.layers["nuclei"]
    assert layer_pixel_size(layer) is None  # napari's default: scale 1, in pixels
    layer.scale = (0.5, 0.25)
    assert layer_pixel_size(layer) == (0.5, 0.25)  # a scale without a unit: micrometres
    layer.units = ("nm", "nm")
    assert layer_pixel_size(layer) == pytest.approx((0.0005, 0.00025))
    layer.scale = (1, 1)
    layer.units = ("µm", "µm")
    assert layer_pixel_size(layer) == (1.0, 1.0)


def test_px_or_um_is_offered_only_with_a_scale(make_widget, qtbot):
    viewer, widget = make_widget("refine", "nuclei")
    plain = add_mask(viewer)
    widget.select("refine.open", plain)
    radius = widget.param_editors["radius"]
    assert radius.unit_box.native.isHidden() and widget.param_editors["shape"] is not None
    scaled = viewer.add_labels(plain.data, name="scaled", scale=(0.5, 0.5))
    widget.select("refine.open", scaled)
    assert not radius.unit_box.native.isHidden()
    assert list(radius.unit_box.choices) == ["px", "um"]

    radius.value = 3
    radius.unit_box.value = "um"  # the value follows: 3 px are 1.5 µm
    assert radius.value == Quantity(1.5, "um") and radius.spin.value == 1.5
    assert widget.model.params["radius"] == Quantity(1.5, "um")
    radius.value = Quantity(2.0, "um")
    assert widget.model.step().params["radius"] == "2 um"  # the recipe keeps the unit

    steps = []
    widget.model.applied.connect(steps.append)
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(viewer.layers["scaled-open"].data,
                                  mp.apply("refine.open", plain.data, radius=4))
    assert steps[0].step.params == {"radius": "2 um", "shape": "disk"}

    radius.unit_box.value = "px"  # and back: 2 µm are 4 px
    assert radius.value == 4 and widget.model.params["radius"] == 4


def test_counts_are_areas_or_volumes_as_the_op_runs(make_widget):
    viewer, widget = make_widget("refine", "nuclei")
    stack = np.stack([add_mask(viewer).data] * 3)
    layer = viewer.add_labels(stack, name="stack", scale=(2.0, 0.5, 0.5))
    widget.select("refine.remove_small", layer)
    size = widget.param_editors["min_size"]
    assert list(size.unit_box.choices) == ["px", "um3"]
    size.value = 64
    size.unit_box.value = "um3"
    assert size.value == Quantity(32.0, "um3")  # 64 voxels of 0.5 um3
    assert widget.model._pixel_params()["min_size"] == 64
    widget.per_plane_box.value = True  # plane by plane it counts pixels: µm²
    assert "um2" in list(size.unit_box.choices)


def test_an_anisotropic_length_stays_in_px(make_widget):
    viewer, widget = make_widget("refine", "nuclei")
    layer = add_mask(viewer, scale=(0.5, 0.25))
    widget.select("refine.open", layer)
    assert widget.param_editors["radius"].unit_box.native.isHidden()  # no square pixels
    assert widget.param_editors["radius"].value == 2
    widget.select("refine.remove_small", layer)
    assert not widget.param_editors["min_size"].unit_box.native.isHidden()  # areas are fine


def test_a_micrometre_size_without_a_scale_is_one_line(make_widget, shown, qtbot):
    viewer, widget = make_widget("refine", "nuclei")
    widget.select("refine.open", add_mask(viewer))
    widget.param_editors["radius"].value = Quantity(2.0, "um")
    assert widget.apply() is None
    assert any("radius=2 um needs the image's pixel size" in m for _, m in shown())


@pytest.mark.parametrize(("given", "label", "decimals"), [
    (Quantity(0.0015, "mm"), "mm", 6), (Quantity(300.0, "nm"), "nm", 3),
    (Quantity(2.5e-6, "mm2"), "mm²", 9), (Quantity(1.5, "um"), "µm", 3)])
def test_a_size_in_nm_or_mm_is_shown_in_its_unit_unrounded(make_widget, given, label,
                                                             decimals):
    """A recipe's size in nm or mm (the recipe accepts them) raised KeyError: 'mm' when its
    step was shown, and millimetres at a micrometre's 3 decimals lost their value."""
    viewer, widget = make_widget("refine", "nuclei")
    widget.select("refine.remove_small" if given.unit.endswith("2") else "refine.open",
                  add_mask(viewer))
    name = "min_size" if given.unit.endswith("2") else "radius"
    editor = widget.param_editors[name]
    editor.value = given
    assert editor.value == given and widget.model.params[name] == given
    assert (editor.unit_box.value, editor.spin.native.decimals()) == (given.unit, decimals)
    assert editor.unit_box.native.currentText() == label
