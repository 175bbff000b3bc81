"""The Layers › Filter / Segment menu items, triggered as a user would, and the manifest."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from napari.utils._proxies import PublicOnlyProxy
from npe2 import PluginManifest
from qtpy.QtWidgets import QMenu

import napari_maskprep as mp
from napari_maskprep._napari.menus import WIDGET_NAMES, run_from_menu
from napari_maskprep._napari.opinfo import intensity_params, middle

MANIFEST = PluginManifest.from_distribution("napari-maskprep")
TIMEOUT_MS = 20000


def menu_commands() -> list[tuple[str, str]]:
    """(op id, menu title) of every op command placed in a menu or our submenus."""
    placed = [item.command for items in MANIFEST.contributions.menus.values()
              for item in items if hasattr(item, "command")]
    commands = {c.id: c for c in MANIFEST.contributions.commands}
    return [(cid.split(".", 1)[1].replace("_", ".", 1), commands[cid].title) for cid in placed
            if commands[cid].python_name.startswith("napari_maskprep._napari.menus:")]


def find_action(menu: QMenu, text: str):
    menu.aboutToShow.emit()  # app-model updates enablement from the context on show
    for action in menu.actions():
        if action.text() == text:
            return action
        if action.menu() is not None and (found := find_action(action.menu(), text)):
            return found
    return None


def test_manifest_places_the_common_ops_in_napari_menus():
    menus = MANIFEST.contributions.menus
    assert {"napari/layers/filter", "napari/layers/segment"} <= set(menus)
    ops = {op for op, _ in menu_commands()}
    assert {"preprocess.gaussian", "preprocess.median", "preprocess.clahe",
            "preprocess.background", "segment.auto_threshold", "refine.fill_holes"} <= ops
    for command in MANIFEST.contributions.commands:
        if command.python_name.startswith("napari_maskprep._napari.menus:"):
            spec = mp.get_op(command.python_name.split(":")[1].replace("_", ".", 1))
            kind = "image" if spec.input is mp.Kind.IMAGE else "labels"
            rgb = " and active_layer_is_rgb" if spec.channels == "rgb" else ""
            assert command.enablement == f"active_layer_type == '{kind}'{rgb}", spec.id
    widgets = {w.display_name for w in MANIFEST.contributions.widgets}
    assert {*WIDGET_NAMES.values(), "Recorder", "Edit region", "Mask Prep", "Train"} <= widgets
    assert [s.key for s in MANIFEST.contributions.sample_data] == ["nuclei", "he_tile",
                                                                   "nuclei_3d"]


def test_every_menu_item_applies_its_op_with_defaults_to_the_active_layer(make_napari_viewer,
                                                                           qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-maskprep", "nuclei")
    viewer.open_sample("napari-maskprep", "he_tile")
    nuclei, rgb = viewer.layers["nuclei"], viewer.layers["he_tile"]
    mask = viewer.add_labels(mp.apply("segment.auto_threshold", nuclei.data), name="mask")
    truth = viewer.layers["nuclei-ground truth"].data
    seeds = viewer.add_points([np.argwhere(truth == 1).mean(axis=0)], name="seeds")
    for op_id, title in menu_commands():
        spec = mp.get_op(op_id)
        layer = mask if spec.input is not mp.Kind.IMAGE else rgb if spec.channels == "rgb" \
            else nuclei
        viewer.layers.selection.active = layer
        action = find_action(viewer.window.layers_menu, f"{title} (Mask Prep)")
        assert action is not None and action.isEnabled(), title
        action.trigger()
        _, widget = viewer.window.add_plugin_dock_widget("napari-maskprep",
                                                         WIDGET_NAMES[spec.stage])
        assert widget.model.op is spec and widget.model.input_layer is layer
        qtbot.waitUntil(lambda w=widget: not w.running, timeout=TIMEOUT_MS)
        extras = [seeds.data for extra in spec.inputs if extra.required]
        # An intensity (the manual threshold) starts in the middle of the image's range.
        span = (float(layer.data.min()), float(layer.data.max()))
        fitted = {name: middle(spec.param(name), span) for name in intensity_params(spec)}
        out = viewer.layers[f"{layer.name}-{spec.name}"]
        np.testing.assert_array_equal(out.data, mp.apply(op_id, layer.data, *extras, **fitted),
                                      err_msg=op_id)


def test_a_menu_item_on_the_wrong_layer_type_is_disabled(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-maskprep", "nuclei")
    viewer.layers.selection.active = viewer.layers["nuclei-ground truth"]  # Labels
    action = find_action(viewer.window.layers_menu, "Gaussian blur (Mask Prep)")
    assert action is not None and not action.isEnabled()


@pytest.mark.parametrize("module", ["napari_maskprep", "napari_maskprep.recipe"])
def test_the_library_imports_no_gui(module):
    code = (
        f"import sys, {module}\n"
        "gui = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('napari', 'magicgui', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'vispy'))\n"
        "assert not gui, gui"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_wrong_layer_error_names_the_layer_type_not_its_proxy(make_napari_viewer, shown):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-maskprep", "nuclei")
    viewer.layers.selection.active = viewer.layers["nuclei"]
    # napari hands commands a proxy of the viewer, whose layers are proxies too
    assert run_from_menu(PublicOnlyProxy(viewer), "refine.open") is None
    ((_, message),) = shown()
    assert message == "refine.open cannot read 'nuclei' (Image layer); select a Labels layer"


@pytest.mark.parametrize("sample", ["nuclei", "he_tile", "nuclei_3d"])
def test_after_open_sample_the_image_is_active_and_its_menu_items_enabled(make_napari_viewer,
                                                                          sample):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-maskprep", sample)
    assert viewer.layers.selection.active is viewer.layers[sample]
    assert not viewer.layers[f"{sample}-ground truth"].visible
    action = find_action(viewer.window.layers_menu, "Auto threshold (Mask Prep)")
    assert action is not None and action.isEnabled()
