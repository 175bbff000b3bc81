"""The Recorder dock widget: a thin Qt view over :class:`RecipeRecorder`.

It lists the recorded steps (tick = enabled), edits the selected step's parameters with the
stage widgets' editors, moves, deletes and re-runs steps, saves and loads recipe files,
replays the recipe on an image, on every open image or on a folder, and fits its parameters
to a corrected mask (:mod:`.mask_fit`). Computation runs in
napari thread workers; this module only wires controls and workers to the model.
"""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    LineEdit,
    ProgressBar,
    PushButton,
    Widget,
)
from napari.layers import Labels
from napari.utils.notifications import show_error, show_info, show_warning
from napari.viewer import Viewer
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QFileDialog, QListWidget, QListWidgetItem

from ..core.errors import MaskprepError
from ..core.model_files import ModelFile
from ..fit import FitResult
from ..io import MASK_FORMATS
from ..presets import preset_names, preset_path
from ..recipe import RecipeError, Step
from .applied import is_preview
from .editors import param_editor, row, text_line
from .fitting import fit_form
from .layer_list import LayerListWatcher
from .lifetime import Lifetime, drop_results
from .mask_fit import MaskFitJob, apply_fit, describe_fit
from .opinfo import param_docs
from .recipe_jobs import BatchJob, BatchOutcome, RunJob
from .recording import EDIT_OP, RECORDED_CHANNEL, RecipeRecorder
from .workers import JOB_ERRORS, Failure, ProgressRelay, create_worker, outcome, written_outcome

if TYPE_CHECKING:
    from superqt.utils import WorkerBase

__all__ = ["RecorderWidget", "open_recorder", "step_summary"]

PLUGIN = "napari-maskprep"
WIDGET_NAME = "Recorder"
RECIPE_FILTER = "Mask Prep recipes (*.maskprep.yaml *.yaml *.yml *.json)"
STEP_LIST_ROWS = 8  # tall enough for a typical recipe without scrolling
NO_CHANNEL = "none"  # the batch's channel box: files segmented whole
_CHANNELS = 8  # the channels the batch's box offers, from 0
CAPTURE_DELAY_MS = 400  # strokes closer together than this make one capture of hand edits
# What a run's recipe or files can raise (an output folder that cannot be made or written
# in, a full disk); anything else is a bug, which outcome logs.
_RUN_ERRORS = (MaskprepError, *JOB_ERRORS)


def _run_outcome(job: RunJob, doing: str = "the replay") -> RunJob | Failure:
    return outcome(job.run, failed=doing, caught=_RUN_ERRORS)


def step_summary(step: Step) -> str:
    """One line for the step list: the op and its parameters, short."""
    if step.op == EDIT_OP:
        box = step.params.get("bbox", "").replace(",", ", ")
        return f"{EDIT_OP}  hand edits in [{box}]"
    models = {p.name for p in step.spec.model_params}
    params = ", ".join(f"{k}={Path(v['path']).name}" if k in models and v else f"{k}={v}"
                       for k, v in step.params.items())
    return f"{step.op}  {params}" if params else step.op


def _show_messages(messages: list[str]) -> None:
    for message in messages:  # an edit re-applied or skipped: worth a look, not an error
        show_warning(message)


class RecorderWidget(Container):
    """Record every Apply as a recipe step; edit, re-run, save, load, replay and batch."""

    def __init__(self, napari_viewer: Viewer) -> None:
        self.viewer = napari_viewer
        self.model = RecipeRecorder(napari_viewer)
        self._syncing = False
        self.name_edit = LineEdit(label="recipe", tooltip="the recipe's name (saved in the file)")
        self.name_edit.native.setPlaceholderText("unnamed")
        self.steps = QListWidget()
        self.steps.setToolTip("recorded steps; untick to disable a step")
        # Long parameter lists wrap instead of hiding behind a horizontal scroll bar.
        self.steps.setWordWrap(True)
        self.steps.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.steps.setMinimumHeight(self.steps.fontMetrics().lineSpacing() * STEP_LIST_ROWS)
        steps_box = Container(labels=False, label="steps")
        steps_box.margins = (0, 0, 0, 0)
        steps_box.native.layout().addWidget(self.steps)
        self.up_button = PushButton(text="Up")
        self.down_button = PushButton(text="Down")
        self.delete_button = PushButton(text="Delete")
        self.rerun_button = PushButton(
            text="Re-run from here",
            tooltip="recompute the selected step and those after it into their layers")
        self.params_box = Container(labels=True, label="parameters")
        self.params_box.margins = (0, 0, 0, 0)
        self.save_button = PushButton(text="Save…")
        self.load_button = PushButton(text="Load…")
        self.export_button = PushButton(text="Export…", tooltip="save as a Python script")
        self.clear_button = PushButton(text="Clear")
        self.preset_box = ComboBox(
            label="preset", choices=[("load a preset…", None), *((n, n) for n in preset_names())],
            tooltip="a bundled recipe with its trained model (maskprep presets): load it, "
                    "then replay it on an image")
        self.target_box = ComboBox(label="replay on", choices=self._target_choices)
        self.replay_button = PushButton(text="Replay")
        self.replay_all_button = PushButton(text="Replay on all images")
        self.fit_mask_box = ComboBox(
            label="fit to mask", choices=self._mask_choices,
            tooltip="a Labels layer holding the corrected mask of the 'replay on' image "
                    "(any label above 0 is foreground)")
        self.fit_button = PushButton(
            text="Fit to mask",
            tooltip="search the recipe's parameters for the best Dice against the mask")
        self.infolder = FileEdit(label="input folder", mode="d")
        self.outfolder = FileEdit(label="output folder", mode="d")
        self.format_box = ComboBox(choices=list(MASK_FORMATS), value="tif",
                                   tooltip="mask file format (PNG masks are 0/255)")
        self.channel_box = ComboBox(
            choices=[("as recorded", RECORDED_CHANNEL), ("no channel", NO_CHANNEL),
                     *((f"channel {n}", str(n)) for n in range(_CHANNELS))],
            value=RECORDED_CHANNEL,
            tooltip="which channel of each file to segment, for files of several channels: "
                    "the one of the layer the recipe was recorded on (a file's channel opened "
                    "with Mask Prep's reader), or one by its number (from 0)")
        self.overwrite_box = CheckBox(
            text="overwrite existing",
            tooltip="unticked (resume a batch): a mask this recipe made from the input as it "
                    "is now is kept; one of a changed input, another pixel size or damaged "
                    "is made again")
        self.batch_button = PushButton(text="Run batch")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(label="", visible=False)
        self.status = text_line()
        self.param_editors: dict[str, Widget] = {}
        self._params_shown_for: tuple[int | None, str | None] = (None, None)
        super().__init__(
            widgets=[
                self.name_edit, steps_box,
                row("", self.up_button, self.down_button, self.delete_button),
                row("", self.rerun_button), self.params_box,
                row("file", self.save_button, self.load_button, self.export_button,
                     self.clear_button),
                self.preset_box,
                self.target_box, row("", self.replay_button, self.replay_all_button),
                self.fit_mask_box, row("", self.fit_button),
                self.infolder, self.outfolder,
                row("masks as", self.format_box, self.overwrite_box),
                row("channel", self.channel_box),
                row("", self.batch_button, self.cancel_button),
                self.progress_bar, self.status,
            ],
            labels=True,
        )
        fit_form(self, pickers=[self.target_box, self.fit_mask_box],
                 folders=[self.infolder, self.outfolder])
        self._workers: list[WorkerBase] = []
        self._batch_job: BatchJob | None = None
        self._fit_job: MaskFitJob | None = None
        self._relay = ProgressRelay()
        self._relay.advanced.connect(self._on_batch_progress)
        # One capture once the strokes stop (each restarts the delay), after the stroke's
        # events: an in-place Apply's paint is told apart first.
        self._capture_timer = QTimer(self.native)
        self._capture_timer.setSingleShot(True)
        self._capture_timer.setInterval(CAPTURE_DELAY_MS)
        self._capture_timer.timeout.connect(self._capture_edits)

        self.model.changed.connect(self._sync_steps)
        self.model.notice.connect(show_info)
        self.model.edit_pending.connect(lambda: self._capture_timer.start())
        self.steps.currentRowChanged.connect(self._on_step_selected)
        self.steps.itemChanged.connect(self._on_item_changed)
        self.name_edit.changed.connect(self._on_name)
        self.up_button.changed.connect(partial(self.move, -1))
        self.down_button.changed.connect(partial(self.move, 1))
        self.delete_button.changed.connect(self.delete)
        self.rerun_button.changed.connect(self.rerun)
        self.save_button.changed.connect(self._on_save)
        self.load_button.changed.connect(self._on_load)
        self.preset_box.changed.connect(self._on_preset)
        self.export_button.changed.connect(self._on_export)
        self.clear_button.changed.connect(self.model.clear)
        self.replay_button.changed.connect(self.replay)
        self.replay_all_button.changed.connect(self.replay_all)
        self.batch_button.changed.connect(self.run_batch)
        self.fit_button.changed.connect(self.fit)
        self.cancel_button.changed.connect(self.cancel)
        self._layer_list = LayerListWatcher(napari_viewer.layers, self._refresh_targets)
        self.lifetime = Lifetime(self, self._on_end, viewer=self.viewer)
        self._sync_steps()

    # -- public ------------------------------------------------------------------------------
    @property
    def selected(self) -> int | None:
        index = self.steps.currentRow()
        return index if 0 <= index < len(self.model.records) else None

    def select_step(self, index: int) -> None:
        self.steps.setCurrentRow(index)

    @property
    def running(self) -> bool:
        """A re-run, replay or batch is computing."""
        return bool(self._workers)

    def move(self, offset: int) -> None:
        index = self.selected
        if index is None:
            return
        try:
            to = self.model.move(index, offset)
        except RecipeError as exc:
            show_error(str(exc))
            return
        self.select_step(to)

    def delete(self) -> None:
        index = self.selected
        if index is None:
            return
        try:
            self.model.remove(index)
        except RecipeError as exc:  # a later step reads this step's output by id
            show_error(str(exc))
            return
        self.select_step(min(index, len(self.model.records) - 1))

    def save(self, path: str | Path) -> Path | None:
        try:
            return self.model.save(path)
        except (RecipeError, OSError) as exc:
            self._fail(str(exc))
            return None

    def export(self, path: str | Path) -> Path | None:
        try:
            return self.model.export(path)
        except (RecipeError, OSError) as exc:
            self._fail(str(exc))
            return None

    def load(self, path: str | Path) -> bool:
        """Load a recipe file; an invalid one is a one-line error and changes nothing. The
        status line says which (napari's reader loads files here too)."""
        try:
            self.model.load(path)
        except RecipeError as exc:
            self._fail(str(exc))
            return False
        self.status.value = f"loaded {Path(path).name}"
        return True

    def load_preset(self, name: str) -> bool:
        """Load a bundled preset (:func:`~napari_maskprep.presets.preset_names`), as
        :meth:`load` loads a file."""
        path = preset_path(name)
        if path is None:
            show_error(f"no preset {name!r}; the presets: {', '.join(preset_names())}")
            return False
        if not self.load(path):
            return False
        self.status.value = f"loaded preset {name}: replay it on an image"
        return True

    def rerun(self) -> WorkerBase | None:
        index = self.selected
        if index is None:
            self._fail("select the step to re-run from")
            return None
        return self._start(self.model.rerun_job, index, self._on_rerun_result, "the re-run")

    def replay(self) -> WorkerBase | None:
        layer = self.target_box.value
        if layer is None:
            self._fail("open an image to replay the recipe on")
            return None
        return self._start(self.model.replay_job, layer, self._on_replay_result, "the replay")

    def replay_all(self) -> list[WorkerBase]:
        workers = [self._start(self.model.replay_job, layer, self._on_replay_result,
                               "the replay") for layer in self.model.replay_targets()]
        return [w for w in workers if w is not None]

    def run_batch(self) -> WorkerBase | None:
        if self._batch_job is not None:
            return None
        try:
            chosen = self.channel_box.value
            for box in (self.infolder, self.outfolder):  # empty reads ".": napari's own folder
                if not box.line_edit.value.strip():
                    raise RecipeError(f"choose the {box.label.lower()} first")
            job = self.model.batch_job(
                self.infolder.value, self.outfolder.value, overwrite=self.overwrite_box.value,
                fmt=self.format_box.value,
                channel=chosen if chosen == RECORDED_CHANNEL else (
                    None if chosen == NO_CHANNEL else int(chosen)))
        except RecipeError as exc:
            self._fail(str(exc))
            return None
        self._batch_job = job
        self._set_batch_running(True)
        worker = create_worker(_batch_outcome, job, self._relay.advanced.emit)
        worker.returned.connect(self._on_batch_result)
        worker.finished.connect(self._on_batch_finished)
        return self._launch(worker)

    def fit(self) -> WorkerBase | None:
        """Fit the recipe's parameters to the chosen mask of the 'replay on' image."""
        if self._fit_job is not None:
            return None
        try:
            job = MaskFitJob(self.model, self.target_box.value, self.fit_mask_box.value)
        except RecipeError as exc:
            self._fail(str(exc))
            return None
        self._fit_job = job
        self.fit_button.enabled = False
        self.progress_bar.visible = True
        self.progress_bar.value = 0
        self.status.value = "fitting the recipe to the mask…"
        worker = create_worker(_fit_outcome, job, self._relay.advanced.emit)
        worker.returned.connect(self._on_fit_result)
        worker.finished.connect(self._on_fit_finished)
        return self._launch(worker)

    def cancel(self) -> None:
        """Stop a running batch after the file in progress."""
        if self._batch_job is not None:
            self._batch_job.cancel()
            self.status.value = "cancelling after this file…"

    # -- running -----------------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        """A run that could not start or failed: its one line, shown and kept in the status
        line (which said it was running)."""
        show_error(message)
        self.status.value = message

    def _start(self, make_job: Any, argument: Any, on_result: Any, doing: str
               ) -> WorkerBase | None:
        try:
            job = make_job(argument)
        except RecipeError as exc:
            self._fail(str(exc))
            return None
        worker = create_worker(_run_outcome, job, doing)
        worker.returned.connect(on_result)
        return self._launch(worker)

    def _written(self, finish: Any, result: Any, doing: str) -> Any:
        """What ``finish`` makes of a run's ``result`` in the viewer, or its failure (the
        recipe changed meanwhile; a bug), shown."""
        written = written_outcome(self.viewer, finish, result, failed=doing,
                                  caught=(RecipeError,))
        if isinstance(written, Failure):
            self._fail(written.message)
        return written

    def _launch(self, worker: WorkerBase) -> WorkerBase:
        self._workers.append(worker)
        worker.finished.connect(partial(self._workers.remove, worker))
        worker.start()
        return worker

    def _on_rerun_result(self, outcome: RunJob | Failure) -> None:
        if isinstance(outcome, Failure):
            self._fail(outcome.message)
            return
        _show_messages(outcome.messages)
        updated = self._written(self.model.finish_rerun, outcome, "the re-run")
        if isinstance(updated, Failure):
            return
        summary = f": {outcome.summary}" if outcome.summary and updated else ""
        self.status.value = f"updated {', '.join(x.name for x in updated) or 'no layer'}{summary}"

    def _on_replay_result(self, outcome: RunJob | Failure) -> None:
        if isinstance(outcome, Failure):
            self._fail(outcome.message)
            return
        _show_messages(outcome.messages)
        layer = self._written(self.model.finish_replay, outcome, "the replay")
        if isinstance(layer, Failure):
            return
        summary = f": {outcome.summary}" if outcome.summary else ""
        self.status.value = f"replayed into {layer.name}{summary}"

    def _set_batch_running(self, running: bool) -> None:
        self.batch_button.enabled = not running
        self.cancel_button.enabled = running
        self.progress_bar.visible = running or self._fit_job is not None  # the fit's bar too
        self.progress_bar.value = 0
        self.status.value = "running the batch…" if running else self.status.value

    def _on_batch_progress(self, done: int, total: int) -> None:
        self.progress_bar.max = total
        self.progress_bar.value = done

    def _on_batch_result(self, outcome: BatchOutcome | Failure) -> None:
        if isinstance(outcome, Failure):
            self._fail(outcome.message)
            return
        counts = {s: sum(r.status == s for r in outcome.results)
                  for s in ("ok", "skipped", "failed")}
        text = (f"{'cancelled: ' if outcome.cancelled else ''}{counts['ok']} written, "
                f"{counts['skipped']} skipped, {counts['failed']} failed; "
                f"summary: {outcome.summary}")
        self.status.value = text
        (show_warning if counts["failed"] else show_info)(text)

    def _on_batch_finished(self) -> None:
        self._batch_job = None
        self._set_batch_running(False)

    def _on_fit_result(self, outcome: FitResult | Failure) -> None:
        if isinstance(outcome, Failure):
            self._fail(outcome.message)
            return
        fit = partial(apply_fit, self.model, self._fit_job)
        if isinstance(self._written(fit, outcome, "the fit"), Failure):
            return
        self.status.value = describe_fit(outcome)
        show_info(self.status.value)

    def _on_fit_finished(self) -> None:
        self._fit_job = None
        self.fit_button.enabled = True
        self.progress_bar.visible = self._batch_job is not None

    # -- syncing -----------------------------------------------------------------------------
    def _target_choices(self, *_: Any) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self.model.replay_targets()]

    def _mask_choices(self, *_: Any) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Labels) and not is_preview(layer)]

    def _refresh_targets(self, event: Any = None) -> None:
        self.target_box.reset_choices()
        self.fit_mask_box.reset_choices()

    def _sync_steps(self) -> None:
        """Show the model's steps, keeping the selection where it was."""
        self._syncing = True
        try:
            index = self.steps.currentRow()
            # Items are updated, not rebuilt: this runs inside the list's own itemChanged
            # when a tick changes, and deleting the emitting item there would crash.
            records = self.model.records
            while self.steps.count() > len(records):
                self.steps.takeItem(self.steps.count() - 1)
            while self.steps.count() < len(records):
                item = QListWidgetItem()
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.steps.addItem(item)
            for number, record in enumerate(records, start=1):
                item = self.steps.item(number - 1)
                item.setText(f"{number}. {step_summary(record.step)}")
                checked = Qt.CheckState.Checked if record.step.enabled else Qt.CheckState.Unchecked
                item.setCheckState(checked)
                layer = record.layer
                item.setToolTip(f"writes '{layer.name}'" if layer is not None else
                                "no layer yet (loaded recipe)")
            if self.model.records:
                self.steps.setCurrentRow(min(max(index, 0), len(self.model.records) - 1))
            with self.name_edit.changed.blocked():
                self.name_edit.value = self.model.name
        finally:
            self._syncing = False
        self._build_params()

    def _build_params(self) -> None:
        """Editors for the selected step's parameters (the stage widgets' own editors).

        The same step keeps its editors, only their values follow the model: an editor
        must not be deleted while it emits (a slider being dragged).
        """
        index = self.selected
        has_step = index is not None
        for button in (self.up_button, self.down_button, self.delete_button, self.rerun_button):
            button.enabled = has_step
        step = self.model.records[index].step if index is not None else None
        shown_for = (index, step.op if step is not None else None)
        if shown_for == self._params_shown_for and step is not None:
            checked = step.spec.check_params(step.params)
            for name, editor in self.param_editors.items():
                if editor.value != checked[name]:
                    with editor.changed.blocked():
                        editor.value = checked[name]
            return
        self._params_shown_for = shown_for
        self.params_box.clear()
        self.param_editors = {}
        if step is None:
            return
        if step.op == EDIT_OP:
            note = text_line()
            note.value = "hand edits: paint the layer again to change them"
            self.params_box.append(note)
            return
        spec = step.spec
        docs = param_docs(spec)
        checked = spec.check_params(step.params)  # enum members, as the editors expect
        for param in spec.params:
            if param.type is ModelFile:  # a file and its hash: shown, changed by recording
                note = text_line()
                note.label = param.name
                model = checked[param.name]
                note.value = (f"{Path(model.path).name} ({model.sha256[:8]})"
                              if model is not None else "none")
                note.tooltip = model.path if model is not None else ""
                self.params_box.append(note)
                continue
            editor = param_editor(param, checked[param.name], docs.get(param.name, ""))
            editor.changed.connect(partial(self._on_param, index, param.name))
            self.param_editors[param.name] = editor
            self.params_box.append(editor)

    def _on_step_selected(self, index: int) -> None:
        if not self._syncing:
            self._build_params()

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if not self._syncing:
            index = self.steps.row(item)
            try:
                self.model.set_enabled(index, item.checkState() == Qt.CheckState.Checked)
            except RecipeError as exc:
                show_error(str(exc))

    def _on_param(self, index: int, name: str, value: Any) -> None:
        try:
            self.model.set_params(index, {name: value})
        except RecipeError as exc:
            show_error(str(exc))

    def _on_name(self, value: str) -> None:
        self.model.name = value

    def _capture_edits(self) -> None:
        try:  # after each pause in the strokes: outputs are compared whole when used
            self.model.capture_edits(undone=False)
        except (RecipeError, ValueError) as exc:
            show_error(str(exc))

    # -- files -------------------------------------------------------------------------------
    def _refused_empty(self, done: str) -> bool:
        """Whether a recipe of no steps was refused (the status line says so), before a
        file dialog asks where to write it."""
        try:
            self.model.require_steps(done)
        except RecipeError as exc:
            self._fail(str(exc))
            return True
        return False

    def _on_save(self) -> None:
        if self._refused_empty("saved"):
            return
        path, _ = QFileDialog.getSaveFileName(self.native, "Save recipe",
                                              f"{self.model.name or 'recipe'}.maskprep.yaml",
                                              RECIPE_FILTER)
        if path and self.save(path) is not None:
            self.status.value = f"saved {Path(path).name}"

    def _on_export(self) -> None:
        if self._refused_empty("exported"):
            return
        path, _ = QFileDialog.getSaveFileName(self.native, "Export recipe as Python",
                                              f"{self.model.name or 'recipe'}.py",
                                              "Python scripts (*.py)")
        if path and self.export(path) is not None:
            self.status.value = f"exported {Path(path).name}"

    def _on_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.native, "Load recipe", "", RECIPE_FILTER)
        if path:
            self.load(path)

    def _on_preset(self, name: str | None) -> None:
        if name is not None:
            self.load_preset(name)
            self.preset_box.value = None  # the box offers presets; it holds none

    def _on_end(self) -> None:
        """Its dock closed, the viewer closed or :meth:`close`: no more recording, captures
        or layer picks; a batch stops after its file, and runs still going finish unheard
        (a replay would write into the viewer unasked, their slots touch deleted widgets)."""
        if self._batch_job is not None:
            self._batch_job.cancel()
        drop_results(*self._workers)
        self._workers = []
        with contextlib.suppress(TypeError, RuntimeError):  # at exit it may be gone first
            self._relay.advanced.disconnect(self._on_batch_progress)
        with contextlib.suppress(RuntimeError):  # deleted with the widget
            self._capture_timer.stop()
        self._layer_list.close()
        self.model.close()


def _batch_outcome(job: BatchJob, progress: Any) -> BatchOutcome | Failure:
    return outcome(job.run, progress, failed="the batch", caught=_RUN_ERRORS)


def _fit_outcome(job: MaskFitJob, progress: Any) -> FitResult | Failure:
    return outcome(job.run, progress, failed="the fit", caught=_RUN_ERRORS)


def open_recorder(viewer: Viewer) -> RecorderWidget:
    """Dock the Recorder (napari keeps one per viewer) and bring it to the front."""
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET_NAME)
    dock.show()
    dock.raise_()
    return widget
