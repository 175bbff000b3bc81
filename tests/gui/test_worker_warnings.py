"""A worker's warnings reach its own widget, and running workers leave the process's
warning state as they found it.

superqt's workers heard their warnings by replacing ``warnings.showwarning`` (and adding an
'always' filter) for the whole process, from the worker's thread: workers overlapping in
time heard each other's warnings, and left a finished one's hook in place.
"""

from __future__ import annotations

import threading
import warnings

import pytest
from napari.components import ViewerModel
from napari.utils.notifications import NotificationSeverity
from qtpy.QtCore import QCoreApplication, QThreadPool

from napari_maskprep import MaskprepWarning
from napari_maskprep._napari import _sample_data
from napari_maskprep._napari.jobs import PreviewJob, TryAllJob
from napari_maskprep._napari.recorder import RecorderWidget
from napari_maskprep._napari.widgets import SegmentWidget
from napari_maskprep.recipe import Recipe

TIMEOUT_MS = 20000


def _warning_when_let(run, began: threading.Event, let: threading.Event, note: str):
    """``run`` that says it has begun, waits for ``let``, then warns ``note``."""
    def held(self, *args, **kwargs):
        began.set()
        let.wait(TIMEOUT_MS / 1000)
        warnings.warn(note, MaskprepWarning, stacklevel=1)
        return run(self, *args, **kwargs)
    return held


def _all_ended(qtbot) -> None:
    """Every worker's run has returned and what it sent the GUI thread was delivered."""
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0,
                    timeout=TIMEOUT_MS)
    QCoreApplication.sendPostedEvents()


@pytest.mark.filterwarnings("always:a note from the GUI thread")
def test_workers_ending_in_another_order_than_they_began_leave_the_warning_state(
        make_widget, qtbot, monkeypatch):
    """A preview began before a Try all and ended first: superqt left the preview's hook
    as warnings.showwarning and its 'always' filter, so later warnings from anywhere went
    to the finished preview instead of napari's notifications."""
    viewer, widget = make_widget("segment", "nuclei")
    widget.select("segment.auto_threshold", viewer.layers["nuclei"])
    heard: list[str] = []

    def previous(message, category, filename, lineno, file=None, line=None):
        heard.append(str(message))

    monkeypatch.setattr(warnings, "showwarning", previous)
    filters = list(warnings.filters)
    previewing, let_preview, trying, let_try = (threading.Event() for _ in range(4))
    monkeypatch.setattr(PreviewJob, "run", _warning_when_let(
        PreviewJob.run, previewing, let_preview, "a note from the preview"))
    monkeypatch.setattr(TryAllJob, "run", _warning_when_let(
        TryAllJob.run, trying, let_try, "a note from Try all"))
    widget.preview_box.value = True
    qtbot.waitUntil(previewing.is_set, timeout=TIMEOUT_MS)
    widget.try_all()
    qtbot.waitUntil(trying.is_set, timeout=TIMEOUT_MS)
    let_preview.set()
    qtbot.waitUntil(lambda: widget._preview_worker is None, timeout=TIMEOUT_MS)
    let_try.set()
    _all_ended(qtbot)
    assert warnings.showwarning is previous
    assert warnings.filters == filters
    warnings.warn("a note from the GUI thread", UserWarning, stacklevel=1)
    assert heard == ["a note from the GUI thread"]


def test_overlapping_workers_each_hear_their_own_warning(make_widget, qtbot, monkeypatch):
    """Two widgets' previews running at once: each warning reaches the status line of the
    widget whose preview gave it (superqt sent both to the preview begun last)."""
    segment_viewer, segment = make_widget("segment", "nuclei")
    segment.select("segment.auto_threshold", segment_viewer.layers["nuclei"])
    preprocess_viewer, preprocess = make_widget("preprocess", "nuclei")
    preprocess.select("preprocess.gaussian", preprocess_viewer.layers["nuclei"])
    gates = {op: (threading.Event(), threading.Event())
             for op in ("segment.auto_threshold", "preprocess.gaussian")}
    run = PreviewJob.run

    def held(self, *args, **kwargs):
        began, let = gates[self.spec.id]
        return _warning_when_let(run, began, let, f"a note from {self.spec.id}")(
            self, *args, **kwargs)

    monkeypatch.setattr(PreviewJob, "run", held)
    segment.preview_box.value = True
    qtbot.waitUntil(gates["segment.auto_threshold"][0].is_set, timeout=TIMEOUT_MS)
    preprocess.preview_box.value = True
    qtbot.waitUntil(gates["preprocess.gaussian"][0].is_set, timeout=TIMEOUT_MS)
    gates["segment.auto_threshold"][1].set()  # it warns while the other runs, then ends
    qtbot.waitUntil(lambda: segment._preview_worker is None, timeout=TIMEOUT_MS)
    gates["preprocess.gaussian"][1].set()
    _all_ended(qtbot)
    assert segment.status.value == "a note from segment.auto_threshold"
    assert preprocess.status.value == "a note from preprocess.gaussian"


@pytest.mark.filterwarnings("always:a note from the GUI thread")
def test_replays_ending_in_another_order_than_they_began_each_show_their_own_warnings(
        qtbot, monkeypatch, shown):
    """A replay collected its warnings with catch_warnings(record=True), for the whole
    process, from its thread: a second replay begun before the first ended took the first's
    warnings, and the first ending first left the second's list as where every later
    warning went."""
    viewer = ViewerModel()
    for data, kwargs, layer_type in _sample_data.nuclei():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    viewer.add_image(viewer.layers["nuclei"].data[:64, :64], name="corner")
    segment, recorder = SegmentWidget(viewer), RecorderWidget(viewer)
    for widget in (segment, recorder):
        qtbot.addWidget(widget.native)
    segment.select("segment.auto_threshold", viewer.layers["nuclei"])
    segment.apply()
    qtbot.waitUntil(lambda: len(recorder.model.records) == 1, timeout=TIMEOUT_MS)
    _all_ended(qtbot)
    heard: list[str] = []

    def previous(message, category, filename, lineno, file=None, line=None):
        heard.append(str(message))

    monkeypatch.setattr(warnings, "showwarning", previous)
    filters = list(warnings.filters)
    gates = {name: (threading.Event(), threading.Event()) for name in ("nuclei", "corner")}
    iter_run = Recipe.iter_run

    def held(self, image, **kwargs):
        name = "corner" if image.shape == (64, 64) else "nuclei"
        began, let = gates[name]
        began.set()
        let.wait(TIMEOUT_MS / 1000)
        warnings.warn(f"a note from the replay on {name}", MaskprepWarning, stacklevel=1)
        yield from iter_run(self, image, **kwargs)

    monkeypatch.setattr(Recipe, "iter_run", held)
    for name in ("nuclei", "corner"):
        recorder.target_box.value = viewer.layers[name]
        recorder.replay()
        qtbot.waitUntil(gates[name][0].is_set, timeout=TIMEOUT_MS)
    gates["nuclei"][1].set()
    qtbot.waitUntil(lambda: "nuclei-recipe" in viewer.layers, timeout=TIMEOUT_MS)
    gates["corner"][1].set()
    qtbot.waitUntil(lambda: "corner-recipe" in viewer.layers, timeout=TIMEOUT_MS)
    _all_ended(qtbot)
    assert [m for severity, m in shown() if severity == NotificationSeverity.WARNING] == [
        "a note from the replay on nuclei", "a note from the replay on corner"]
    assert warnings.showwarning is previous
    assert warnings.filters == filters
    warnings.warn("a note from the GUI thread", UserWarning, stacklevel=1)
    assert heard == ["a note from the GUI thread"]


def _heard_by_a_worker(qtbot, job) -> list[str]:
    """The messages of the warnings a plugin worker running ``job`` hears."""
    from napari_maskprep._napari.workers import create_worker

    heard: list[str] = []
    worker = create_worker(job)
    worker.warned.connect(lambda w: heard.append(str(w[0])))
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        worker.start()
    _all_ended(qtbot)
    return heard


def test_a_warning_from_a_dask_task_a_worker_starts_reaches_the_worker(qtbot):
    """A tiled preview computes its chunks in dask's threads: their warnings, heard by
    thread id, went past the worker to the process's hook (printed on stderr)."""
    import dask
    import dask.array as da

    def warns(block):
        if block.shape == (2, 2):  # a chunk, not dask's probes of the function (0 x 0, 1 x 1)
            warnings.warn("a note from a chunk", MaskprepWarning, stacklevel=1)
        return block

    def job():
        chunks = da.zeros((4, 4), chunks=2).map_blocks(warns)
        with dask.config.set(scheduler="threads"):
            return int(chunks.sum().compute())

    assert _heard_by_a_worker(qtbot, job) == ["a note from a chunk"] * 4


def _note_once_more() -> None:
    warnings.warn("a note shown before", MaskprepWarning, stacklevel=1)


def test_a_warning_shown_once_before_still_reaches_a_worker(qtbot, monkeypatch):
    """Under 'default', a warning shown once is remembered at its place and held back after;
    the filter that lets a worker hear every warning went in without warnings being told the
    filters changed, so the memory held a worker's same warning back."""
    monkeypatch.setattr(warnings, "showwarning", lambda *shown: None)
    warnings.resetwarnings()
    warnings.simplefilter("default")
    _note_once_more()  # shown on this thread, and remembered
    assert _heard_by_a_worker(qtbot, _note_once_more) == ["a note shown before"]
