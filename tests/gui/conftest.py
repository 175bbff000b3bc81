"""GUI fixtures: a display guard, viewers with the bundled samples, notification capture."""

from __future__ import annotations

import os
import sys

import pytest
from napari.components import ViewerModel
from napari.utils.notifications import notification_manager

from napari_maskprep._napari import _sample_data
from napari_maskprep._napari import widgets as widgets_module
from napari_maskprep._napari.widgets import StageWidget

WIDGETS = {"preprocess": "Preprocess", "segment": "Segment", "refine": "Refine"}


@pytest.fixture(autouse=True, scope="session")
def _x_display() -> None:
    # pytest-xvfb silently does nothing when Xvfb is missing, and Qt then aborts the whole
    # run without a word when napari creates its QApplication: fail first, saying why.
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        pytest.fail(
            "GUI tests need an X display and none is set: install Xvfb (apt-get install "
            "xvfb xauth; pytest-xvfb then starts it) or run them in a desktop session",
            pytrace=False,
        )


@pytest.fixture
def shown():
    """A function returning the napari notifications shown so far: (severity, message)."""
    start = len(notification_manager.records)
    yield lambda: [(n.severity, n.message) for n in notification_manager.records[start:]]
    del notification_manager.records[start:]


@pytest.fixture
def make_widget(make_napari_viewer, qtbot):
    """``make_widget(stage, *samples)``: a viewer holding the samples, and a stage widget.

    With ``window=True`` it is a full napari window (canvas, menus) with the widget docked
    as a user would dock it; otherwise a ``ViewerModel`` with the widget standing alone,
    which is ten times quicker to make and enough for everything but the window itself.
    A window is not shown unless ``show=True``, so Qt reports its widgets as not visible:
    test what was hidden with ``native.isHidden()``.
    """
    widgets: list[StageWidget] = []

    def make(
        stage: str, *samples: str, window: bool = False, show: bool = False
    ) -> tuple[ViewerModel, StageWidget]:
        viewer = make_napari_viewer(show=show) if window else ViewerModel()
        for sample in samples:
            if window:
                viewer.open_sample("napari-maskprep", sample)
            else:  # the same sample command, without napari's plugin machinery
                for data, kwargs, layer_type in getattr(_sample_data, sample)():
                    getattr(viewer, f"add_{layer_type}")(data, **kwargs)
        if window:
            _, widget = viewer.window.add_plugin_dock_widget("napari-maskprep", WIDGETS[stage])
        else:
            widget = getattr(widgets_module, f"{WIDGETS[stage]}Widget")(viewer)
            qtbot.addWidget(widget.native)
        widgets.append(widget)
        return viewer, widget

    yield make
    for widget in widgets:  # no worker may outlive its test (it would touch a closed viewer)
        widget.cancel()
        qtbot.waitUntil(lambda w=widget: not w.running and not w.previewing, timeout=20000)
