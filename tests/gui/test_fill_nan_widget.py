"""preprocess.fill_nan in the generic stage widget: a choice box for ``fill``, and an
image holding NaN filled into a new layer."""

from __future__ import annotations

import numpy as np

import napari_maskprep as mp

from .test_widgets import TIMEOUT_MS, preview_shows, wait_applied


def test_fill_nan_offers_a_choice_box_and_fills_a_nan_bordered_layer(make_widget, qtbot):
    viewer, widget = make_widget("preprocess")
    data = np.linspace(2.0, 6.0, 30 * 30, dtype=np.float32).reshape(30, 30)
    data[:3], data[:, -2:] = np.nan, np.nan
    layer = viewer.add_image(data, name="registered")
    widget.select("preprocess.fill_nan", layer)
    fill = widget.param_editors["fill"]
    assert fill.widget_type == "ComboBox"
    assert [c.value for c in fill.choices] == ["minimum", "maximum", "zero", "median"]
    fill.value = mp.get_op("preprocess.fill_nan").param("fill").choices[3]
    assert widget.model.params["fill"] == "median"
    widget.apply()
    wait_applied(qtbot, widget)
    out = viewer.layers["registered-fill_nan"].data
    expected = np.where(np.isnan(data), np.median(data[~np.isnan(data)]), data)
    np.testing.assert_array_equal(out, expected.astype(np.float32))
    assert out.dtype == np.float32


def test_the_preview_of_fill_nan_follows_the_fill_choice(make_widget, qtbot):
    viewer, widget = make_widget("preprocess")
    data = np.linspace(2.0, 6.0, 20 * 20, dtype=np.float32).reshape(20, 20)
    data[:, :4] = np.nan
    widget.select("preprocess.fill_nan", viewer.add_image(data, name="registered"))
    widget.preview_box.value = True
    name = "registered-fill_nan [preview]"
    for fill in ("minimum", "maximum"):
        widget.param_editors["fill"].value = mp.get_op("preprocess.fill_nan").param(
            "fill").choices[("minimum", "maximum").index(fill)]
        expected = mp.apply("preprocess.fill_nan", data, fill=fill)
        qtbot.waitUntil(lambda e=expected: preview_shows(viewer, name, e), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.previewing, timeout=TIMEOUT_MS)
    assert viewer.layers[name].data[0, 0] == data[:, 4:].max()
