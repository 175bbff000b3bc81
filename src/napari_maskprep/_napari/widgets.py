"""The Preprocess, Segment and Refine dock widgets: one generic view over :class:`StageModel`.

Every control is derived from the op registry: the op picker lists a stage's ops, the
layer pickers offer the layer types the op's input kinds map to, and each parameter's
editor comes from its :class:`~napari_maskprep.core.registry.Param` (type, range, step,
unit, choices, optional). Computation runs in napari thread workers; this module only
wires controls, timers and workers to the model.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    ProgressBar,
    PushButton,
    Widget,
)
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt, QTimer

from ..core.locality import Kind
from ..core.registry import OpSpec
from .editors import NumberEdit, OptionalEdit, param_editor, row, text_line
from .fitting import ScrollingForm, fit_form
from .histogram import HistogramView, HueBar, value_range
from .jobs import ApplyJob, PreviewJob, TryAllJob
from .lifetime import Lifetime, drop_results
from .montage import MethodMontage
from .opinfo import (
    bounds,
    compared_param,
    hue_range,
    intensity_params,
    is_shown,
    param_docs,
    picks,
    shows_histogram,
)
from .options import object_table_box, outline_box
from .planes import PerPlane, is_time_lapse
from .stage import StageModel
from .turns import is_settling, warm_up
from .workers import (
    Failure,
    HideWatcher,
    ProgressRelay,
    announced_outcome,
    create_worker,
    outcome,
    show_worker_warning,
    written_outcome,
)

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer
    from superqt.utils import WorkerBase

    from .applied import AppliedStep

__all__ = ["PreprocessWidget", "RefineWidget", "SegmentWidget", "StageWidget"]

PREVIEW_DELAY_MS = 150  # parameter changes closer together than this share one preview


def _doing(job: ApplyJob) -> str:
    """What an Apply's failure names: its op and input."""
    return f"{job.spec.id} on '{job.input_layer.name}'"


class StageWidget(Container):
    """A stage's dock widget: op, input layers, parameters, Preview, Apply and Cancel.

    The model (:attr:`model`) holds all state; its ``applied`` signal carries an
    :class:`~napari_maskprep._napari.stage.AppliedStep` for every Apply.
    """

    def __init__(self, viewer: napari.Viewer, stage: str) -> None:
        warm_up()  # here, not at the first preview
        self.viewer = viewer
        self.model = StageModel(viewer, stage)
        self._syncing = False
        self.op_box = ComboBox(
            label="operation",
            choices=[(spec.name.replace("_", " "), spec.id) for spec in self.model.ops],
            value=self.model.op.id,
        )
        for i, spec in enumerate(self.model.ops):
            self.op_box.native.setItemData(i, spec.summary, Qt.ItemDataRole.ToolTipRole)
        self._summary = text_line()
        self.input_box = ComboBox(label="input", choices=self._input_choices)
        self.per_plane_box = CheckBox(text="per plane (2D)")
        self.in_place_box = CheckBox(
            text="in place", tooltip="change the input Labels layer; one Ctrl+Z undoes it"
        )
        self.new_layer_box = CheckBox(
            text="new layer", tooltip="write a new layer instead of updating the last output"
        )
        self.preview_box = CheckBox(
            text="preview", tooltip="show the result on the current plane while you tune"
        )
        self.store_box = FileEdit(mode="d", nullable=True, label="store in", visible=False,
                                  tooltip="Apply on a layer too large to load writes an "
                                  "OME-Zarr store here (empty: a temporary folder)")
        self.store_box.line_edit.native.setPlaceholderText("a temporary folder")
        self.status = text_line()
        self.apply_button = PushButton(text="Apply")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(label="", visible=False)
        self.planes_row = row("planes", self.per_plane_box)
        # From the op's metadata: its input's histogram and thresholds, a montage of its
        # methods, parameters picked by a click on the image.
        self.histogram = HistogramView()
        self._readouts_of: int | None = None  # id of the input the histogram, montage read
        self.histogram_box = Container(labels=False, label="histogram")
        self.histogram_box.margins = (0, 0, 0, 0)
        self.histogram_box.native.layout().addWidget(self.histogram)
        self.readout = text_line()
        self.pick_button = PushButton(text="Pick from image",
                                      tooltip="then click a pixel of the input image")
        self.try_all_button = PushButton(text="Try all",
                                         tooltip="every method side by side on this plane; "
                                         "click one to use it")
        self.montage = MethodMontage(self._on_method_chosen)
        self.montage_box = Container(labels=False, label="")
        self.montage_box.margins = (0, 0, 0, 0)
        self.montage_box.native.layout().addWidget(self.montage)
        self.tools_row = row("", self.pick_button, self.try_all_button)
        self.hue_bar = HueBar()
        self.hue_box = Container(labels=False, label="hues")
        self.hue_box.margins = (0, 0, 0, 0)
        self.hue_box.native.layout().addWidget(self.hue_bar)
        self._try_all_worker: WorkerBase | None = None
        self._picking = False
        self.table_box = object_table_box(self.model)
        self.outline_box = outline_box(self.model)
        self.table_row = row("", self.table_box)
        self._op_widgets: list[Widget] = []
        self.extra_boxes: dict[str, ComboBox] = {}
        self.param_editors: dict[str, Widget] = {}
        super().__init__(
            widgets=[
                self.op_box, self._summary, self.input_box, self.planes_row,
                self.histogram_box, self.readout, self.hue_box, self.tools_row,
                self.montage_box,
                row("output", self.new_layer_box, self.in_place_box, self.outline_box),
                self.table_row,
                self.store_box,
                row("", self.preview_box, self.apply_button, self.cancel_button),
                self.progress_bar, self.status,
            ],
            labels=True,
        )
        fit_form(self, pickers=[self.input_box])  # long layer names alike differ by their ends
        self._preview_timer = QTimer(self.native)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._start_preview)
        self._preview_worker: WorkerBase | None = None
        self._preview_again = False
        self._apply_job: ApplyJob | None = None
        self._apply_worker: WorkerBase | None = None
        self._apply_failure = ""  # why the running Apply wrote nothing, once it is known
        self._announcing = 0  # Applies whose new layer the Recorder hears of next turn
        self._output: weakref.ref[Layer] | None = None  # the last Apply's new layer
        self._progress: progress | None = None
        self._pending_progress: tuple[int, int] | None = None  # (done, total) not shown yet
        self._showing_progress = False
        self._closed = False  # its dock or the viewer closed (:class:`Lifetime`)
        self._status_for = self._choice()  # the op and input the status line is about
        self._relay = ProgressRelay()
        self._relay.advanced.connect(self._on_progress)

        self.op_box.changed.connect(self._on_op_chosen)
        self.input_box.changed.connect(self._on_input_chosen)
        self.per_plane_box.changed.connect(self._on_per_plane)
        self.in_place_box.changed.connect(self._on_in_place)
        self.new_layer_box.changed.connect(self._on_new_layer)
        self.store_box.changed.connect(lambda folder: setattr(self.model, "store_folder", folder))
        self.preview_box.changed.connect(self._on_preview_toggled)
        self.apply_button.changed.connect(self.apply)
        self.pick_button.changed.connect(self.start_pick)
        self.try_all_button.changed.connect(self.try_all)
        self.model.values_changed.connect(self._show_values)
        self.cancel_button.changed.connect(self.cancel)
        self.model.op_changed.connect(self._rebuild_op_widgets)
        self.model.layers_changed.connect(self._sync_layers)
        self.model.changed.connect(self._drop_stale_status)
        self.model.changed.connect(self._schedule_preview)
        self.model.input_removed.connect(self._on_input_removed)
        self.lifetime = Lifetime(self, self._on_end, viewer=self.viewer)
        # A preview belongs to a visible widget: closing or tabbing it away ends it.
        self._hide_watcher = HideWatcher(self.native, lambda: setattr(self.preview_box,
                                                                       "value", False))
        self._rebuild_op_widgets(self.model.op)

    # -- public --------------------------------------------------------------------------------
    def select(self, op_id: str, layer: Layer | None = None, *, defaults: bool = False) -> None:
        """Choose an op (and its input layer); ``defaults`` resets its parameters."""
        self.op_box.value = op_id
        if defaults:
            self.model.reset_params()
        if layer is not None:
            if layer not in self.model.input_candidates():
                raise ValueError(  # __class__: napari hands commands proxies of its layers
                    f"{op_id} cannot read '{layer.name}' ({layer.__class__.__name__} layer); "
                    f"select {self.model.input_kind_text()}"
                )
            self.input_box.value = layer

    def try_all(self) -> WorkerBase | None:
        """Run every method of the op on the plane shown, in a worker; the montage shows
        them once done. None if it could not start."""
        if self._try_all_worker is not None:
            return None
        try:
            job = self.model.try_all()
        except (ValueError, TypeError) as exc:
            self.status.value = str(exc)
            return None
        self.status.value = "trying every method…"
        worker = create_worker(outcome, job.run, failed=f"Try all of {job.spec.id}")
        worker.returned.connect(partial(self._on_try_all_result, job))
        worker.warned.connect(self._on_preview_warning)
        worker.finished.connect(self._on_try_all_finished)
        self._try_all_worker = worker
        worker.start()
        return worker

    def start_pick(self) -> None:
        """The next click on the canvas sets the parameters that pick from the image."""
        if not self._picking:
            self._picking = True
            self.viewer.mouse_drag_callbacks.append(self._on_pick_click)
            self.status.value = "click a pixel of the input image"

    def pick_at(self, position: Any) -> dict[str, float]:
        """Set the picking parameters from the input pixel at ``position`` (world)."""
        self._stop_picking()
        try:
            values = self.model.pick(position)
        except ValueError as exc:
            self.status.value = str(exc)
            return {}
        shown = ", ".join(f"{name.replace('_', ' ')} {value:g}" for name, value in values.items())
        self.status.value = f"picked: {shown}" if values else "that point is outside the input"
        return values

    def _stop_picking(self) -> None:
        if self._picking:
            self._picking = False
            self.viewer.mouse_drag_callbacks.remove(self._on_pick_click)

    @property
    def running(self) -> bool:
        """An Apply is computing, or its new layer is still going in (for this widget: once
        closed, none is)."""
        output = self._output() if self._output is not None else None
        return not self._closed and (self._apply_job is not None or self._announcing > 0
                                     or is_settling(output))

    @property
    def previewing(self) -> bool:
        """A preview (or Try all) is computing or waiting for its delay."""
        return not self._closed and (self._preview_worker is not None
                                     or self._preview_timer.isActive()
                                     or self._try_all_worker is not None)

    def apply(self) -> WorkerBase | None:
        """Run the op on the whole input in a worker thread; None if it could not start."""
        if self._apply_job is not None:
            return None
        try:
            job = self.model.prepare_apply()
        except (ValueError, TypeError) as exc:
            show_error(str(exc))
            self.status.value = str(exc)
            return None
        self._apply_job = job
        self._progress = progress(total=0, desc=f"{job.spec.name} on {job.input_layer.name}")
        self.progress_bar.value = 0
        self._set_running(True)
        worker = create_worker(outcome, job.run, self._relay.advanced.emit,
                               failed=_doing(job))
        worker.returned.connect(partial(self._on_apply_result, job))
        worker.warned.connect(show_worker_warning)
        worker.finished.connect(self._on_apply_finished)
        self._apply_worker = worker
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop the running Apply after the plane in progress; nothing is written."""
        if self._apply_job is not None:
            self._apply_job.cancel()
            if not self._closed:
                self.status.value = "cancelling…"

    # -- building --------------------------------------------------------------------------------
    def _input_choices(self, widget: ComboBox | None = None) -> list[tuple[str, Layer]]:
        return [(layer.name, layer) for layer in self.model.input_candidates()]

    def _extra_choices(self, role: str, widget: ComboBox | None = None
                       ) -> list[tuple[str, Layer]]:
        return [(layer.name, layer) for layer in self.model.extra_candidates(role)]

    def _rebuild_op_widgets(self, spec: OpSpec) -> None:
        """Replace the extra-input pickers and parameter editors with those of ``spec``."""
        for widget in self._op_widgets:
            self.remove(widget)
        self._syncing = True
        try:
            self.op_box.value = spec.id
            self.histogram.set_histogram(None)
            self.montage.show_results({}, "")
            self.readout.value = ""
            self._summary.value = spec.summary.replace("``", "")
            self.input_box.tooltip = self.model.input_kind_text()
            self._op_widgets = []
            self.extra_boxes = {}
            self.param_editors = {}
            for extra in spec.inputs:
                kinds = " or ".join(k.value for k in extra.kinds)
                # An optional one is nullable: magicgui reports choosing None from no other.
                box = ComboBox(
                    label=extra.name, nullable=not extra.required,
                    tooltip=f"{kinds} layer" + ("" if extra.required else " (optional)"),
                )
                box.null_string = "none"  # the name of magicgui's own None entry
                box.choices = partial(self._extra_choices, extra.name)
                box.changed.connect(partial(self._on_extra_chosen, extra.name))
                self.extra_boxes[extra.name] = box
                self._op_widgets.append(box)
            docs = param_docs(spec)
            for param in spec.params:
                value = self.model.params[param.name]
                editor = param_editor(param, value, docs.get(param.name, ""))
                editor.changed.connect(partial(self._on_param, param.name))
                self.param_editors[param.name] = editor
                self._op_widgets.append(editor)
            at = self.index(self.input_box) + 1
            for offset, widget in enumerate(self._op_widgets):
                self.insert(at + offset, widget)
        finally:
            self._syncing = False
        self._sync_layers()

    def _show_values(self) -> None:
        """Show the model's parameter values, and the bounds and options they imply."""
        self._syncing = True  # the bounds first: an editor would clamp a value to the old
        try:
            self._sync_params()
            for name, editor in self.param_editors.items():
                if editor.value != self.model.params[name]:
                    editor.value = self.model.params[name]
        finally:
            self._syncing = False

    def _sync_params(self) -> None:
        """Hide parameters that do not apply; bound sliders by the input's intensities or
        another parameter; show the op's extras (histogram, Try all, pick)."""
        spec, params = self.model.op, self.model.params
        intensities = self.model.intensities
        for name, editor in self.param_editors.items():
            param = spec.param(name)
            editor.visible = is_shown(param, params)
            number = editor.editor if isinstance(editor, OptionalEdit) else editor
            span = bounds(param, params, intensities)
            if isinstance(number, NumberEdit) and span is not None:
                number.set_bounds(*span)  # a value outside moves in, through _on_param
        histogram = shows_histogram(spec)
        self.histogram_box.visible = histogram
        self.readout.visible = histogram
        if self._readouts_of != id(self.model.input_layer):  # another input's: not this
            self.histogram.set_histogram(None)
            self.montage.show_results({}, "")
        lines = [params[name] for name in intensity_params(spec)]
        if lines:
            self.histogram.set_thresholds(lines)
            self._show_readout(lines)
        pick, try_all = bool(picks(spec)), compared_param(spec) is not None
        self.pick_button.visible = pick  # (``visible`` reads False until the dock is shown)
        self.try_all_button.visible = try_all
        self.tools_row.visible = pick or try_all
        self.table_row.visible = spec.output is Kind.LABELS
        self.outline_box.visible = spec.output is not Kind.IMAGE  # an image has no outline
        hues = hue_range(spec, params)
        self.hue_box.visible = hues is not None
        if hues is not None:
            self.hue_bar.set_range(*hues)

    def _show_readout(self, thresholds: Sequence[float]) -> None:
        values = ", ".join(f"{value:.6g}" for value in thresholds) or "none"
        shown = self.histogram.histogram
        intensities = self.model.intensities  # None for an op with no range: not read
        if intensities is None and shown is not None:
            intensities = value_range(shown)
        span = "" if intensities is None else f" (image {intensities[0]:g} to {intensities[1]:g})"
        self.readout.value = f"threshold {values}{span}"

    def _sync_layers(self) -> None:
        """Show the model's layer choices and the options that apply to them."""
        self._syncing = True
        try:
            self.input_box.reset_choices()
            if self.model.input_layer is not None:
                self.input_box.value = self.model.input_layer
            for role, box in self.extra_boxes.items():
                box.reset_choices()
                chosen = self.model.extra_layers.get(role)
                if chosen is not None or None in box.choices:
                    box.value = chosen
        finally:
            self._syncing = False
        if self.input_box.value is not self.model.input_layer:
            self.model.set_input(self.input_box.value)
        self._sync_options()

    def _sync_options(self) -> None:
        choice = self.model.per_plane_choice
        self.planes_row.visible = choice is not PerPlane.NOT_APPLICABLE
        self.per_plane_box.enabled = choice is PerPlane.OPTIONAL
        with self.per_plane_box.changed.blocked():
            self.per_plane_box.value = self.model.effective_per_plane
        frames = is_time_lapse(self.model.input_layer) and choice is PerPlane.REQUIRED
        self.per_plane_box.text = "per frame (time-lapse)" if frames else "per plane (2D)"
        if frames:
            tip = "a time-lapse: each frame is processed on its own, as maskprep run does"
        elif choice is PerPlane.REQUIRED:
            tip = "this op works on 2D planes only: every plane of the stack is processed"
        else:
            tip = "ticked: each 2D plane on its own; unticked: the whole stack in 3D"
        self.per_plane_box.tooltip = tip
        for editor in self.param_editors.values():
            number = editor.editor if isinstance(editor, OptionalEdit) else editor
            if isinstance(number, NumberEdit):
                number.set_pixel_size(self.model.pixel_size, self.model.working_ndim)
        self.in_place_box.visible = self.model.stage == "refine"
        self.in_place_box.enabled = self.model.can_run_in_place
        self.new_layer_box.enabled = not (self.in_place_box.value and self.model.can_run_in_place)
        self.store_box.visible = self.model.input_is_large
        self._sync_params()

    # -- control events ------------------------------------------------------------------------
    def _choice(self) -> tuple[OpSpec, int]:
        return self.model.op, id(self.model.input_layer)

    def _drop_stale_status(self) -> None:
        """Another op or input chosen: a pick, Try all note, preview warning or error about
        the one before no longer holds (a pick waiting for its click ends), while what the
        last Apply made still does, and an Apply running still runs."""
        if self._choice() == self._status_for:
            return
        self._status_for = self._choice()
        self._stop_picking()
        if self._apply_job is None:
            self.status.value = self.model.last_summary

    def _on_op_chosen(self, op_id: str) -> None:
        if not self._syncing:
            self.model.set_op(op_id)

    def _on_input_chosen(self, layer: Layer | None) -> None:
        if not self._syncing:
            self.model.set_input(layer)
            self._sync_options()

    def _on_extra_chosen(self, role: str, layer: Layer | None) -> None:
        if not self._syncing:
            self.model.set_extra(role, layer)

    def _on_param(self, name: str, value: Any) -> None:
        if not self._syncing:
            self.model.set_param(name, value)
            self._sync_params()

    def _on_method_chosen(self, choice: str) -> None:
        param = compared_param(self.model.op)
        if param is not None:
            self.param_editors[param.name].value = param.type(choice)  # through _on_param

    def _on_pick_click(self, viewer: Any, event: Any) -> None:
        self.pick_at(event.position)

    def _on_try_all_result(self, job: TryAllJob, result: Any) -> None:
        source = next(iter(job.jobs.values())).source  # (input layer id, data version)
        if job.spec is not self.model.op or source[0] != id(self.model.input_layer):
            self.status.value = "Try all ran on the op or input chosen before: press it again"
            return
        if isinstance(result, Failure):
            self.status.value = result.message
            return
        self.status.value = ""
        self._readouts_of = id(self.model.input_layer)
        chosen = getattr(self.model.params.get(job.param), "value", None)
        shown = outcome(self.montage.show_results, result, chosen,
                        failed=f"Try all of {job.spec.id}", caught=())
        if isinstance(shown, Failure):
            self.status.value = shown.message

    def _on_try_all_finished(self) -> None:
        self._try_all_worker = None

    def _on_per_plane(self, value: bool) -> None:
        self.model.set_per_plane(value)
        self._sync_options()  # a count is an area per plane, a volume in 3D

    def _on_in_place(self, value: bool) -> None:
        self.model.in_place = value
        self._sync_options()

    def _on_new_layer(self, value: bool) -> None:
        self.model.new_layer = value

    # -- preview -------------------------------------------------------------------------------
    def _on_preview_toggled(self, on: bool) -> None:
        if on:
            self._start_preview()
        else:
            self._preview_timer.stop()
            self.model.remove_preview()
            self.status.value = ""

    def _on_input_removed(self) -> None:
        self.preview_box.value = False  # a preview of another layer is asked for, never made

    def _schedule_preview(self) -> None:
        if self.preview_box.value:
            self._preview_timer.start()  # restarts: only the last of quick changes runs

    def _start_preview(self) -> None:
        if not self.preview_box.value:
            return
        if self._preview_worker is not None:
            self._preview_again = True  # one preview at a time; rerun with the latest
            return
        self.status.value = ""  # what this preview finds wrong or suspicious goes here
        try:
            job = self.model.request_preview()
        except (ValueError, TypeError) as exc:
            self.status.value = str(exc)
            return
        worker = create_worker(outcome, job.run, failed=f"the preview of {job.spec.id}")
        worker.returned.connect(partial(self._on_preview_result, job))
        worker.warned.connect(self._on_preview_warning)
        worker.finished.connect(self._on_preview_finished)
        self._preview_worker = worker
        worker.start()

    def _on_preview_result(self, job: PreviewJob, result: Any) -> None:
        if not self.preview_box.value or not self.model.is_current(job):
            return
        if isinstance(result, Failure):
            self.status.value = result.message
            return
        if job.histogram is not None:
            self.histogram.set_histogram(job.histogram)
            self._readouts_of = id(self.model.input_layer)
            thresholds = job.thresholds or tuple(
                self.model.params[name] for name in intensity_params(self.model.op))
            self.histogram.set_thresholds(thresholds)
            self._show_readout(thresholds)
        shown = written_outcome(self.viewer, self.model.show_preview, job, result,
                                failed=f"the preview of {job.spec.id}", caught=())
        if isinstance(shown, Failure):
            self.status.value = shown.message
        elif shown is not None and job.note:
            # What a preview of a large layer is computed from, after any warning.
            self.status.value = "; ".join(x for x in (self.status.value, job.note) if x)

    def _on_preview_warning(self, warning: tuple[Any, ...]) -> None:
        self.status.value = str(warning[0])  # while tuning, a note here, not a pop-up each time

    def _on_preview_finished(self) -> None:
        self._preview_worker = None
        if self._preview_again:
            self._preview_again = False
            self._start_preview()

    # -- apply ---------------------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        self.apply_button.enabled = not running
        self.cancel_button.enabled = running
        self.progress_bar.visible = running
        self.status.value = "running…" if running else self.model.last_summary

    def _on_progress(self, done: int, total: int) -> None:
        # napari's bar handles pending events as it moves: a report arriving then is kept
        # and shown once it returns, not handled inside it (a recursion as deep as the queue).
        self._pending_progress = (done, total)
        if self._showing_progress:
            return
        self._showing_progress = True
        try:
            while self._pending_progress is not None:
                (done, total), self._pending_progress = self._pending_progress, None
                self.progress_bar.max = total
                self.progress_bar.value = done
                if self._progress is not None:
                    self._progress.total = total
                    self._progress.update(done - self._progress.n)
        finally:
            self._showing_progress = False

    def _on_apply_result(self, job: ApplyJob, result: Any) -> None:
        if not isinstance(result, Failure):  # an input removed meanwhile: a ValueError
            finish = partial(self.model.finish_apply,
                             later=partial(self._announce_later, _doing(job)))
            result = written_outcome(self.viewer, finish, job, result, failed=_doing(job),
                                     caught=(ValueError,))
        if isinstance(result, Failure):
            self._apply_failure = (f"{job.spec.id} cancelled; nothing was written"
                                   if result.cancelled else result.message)
            (show_info if result.cancelled else show_error)(self._apply_failure)
            return
        applied: AppliedStep = result
        self._output = weakref.ref(applied.output_layer)
        self.preview_box.value = False  # the output layer now shows the result
        if applied.kept_layer is not None:
            show_info(
                f"'{applied.kept_layer.name}' was changed (painted or refined) since the last "
                f"Apply, so it was kept; the result is in '{applied.output_layer.name}'"
            )

    def _announce_later(self, doing: str, announce: Callable[[], None]) -> None:
        """Run ``announce`` in the next turn; the Apply counts as running until then. A bug
        in a listener there is one line (the Recorder put back, the new layer kept)."""
        self._announcing += 1

        def run() -> None:
            self._announcing -= 1
            said = announced_outcome(
                self.viewer, announce, failed=f"{doing} was written but not recorded: recording it")
            if isinstance(said, Failure):
                show_error(said.message)
                self.status.value = said.message
                if self._apply_job is not None:  # kept where 'running…' will be
                    self._apply_failure = said.message

        QTimer.singleShot(0, run)

    def _on_apply_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self._apply_job = None
        self._apply_worker = None
        self._set_running(False)
        if self._apply_failure:  # kept where 'running…' was: the notification goes
            self.status.value, self._apply_failure = self._apply_failure, ""

    def _on_end(self) -> None:
        """Its dock closed, the viewer closed or :meth:`close`: no more picks, previews or
        layer picks; the preview goes, an Apply stops after its plane, unheard."""
        self._stop_picking()
        if self._apply_job is not None:
            self._apply_job.cancel()
        self._closed = True
        with contextlib.suppress(RuntimeError):  # deleted with the widget
            self._preview_timer.stop()
        if self._progress is not None:
            with contextlib.suppress(RuntimeError):  # the viewer's activity dock went first
                self._progress.close()
        with contextlib.suppress(TypeError, RuntimeError):  # at exit it may be gone first
            self._relay.advanced.disconnect(self._on_progress)
        drop_results(self._apply_worker, self._preview_worker, self._try_all_worker)
        self.model.close()


# napari hands the viewer only to a class whose __init__ takes `napari_viewer` (it
# inspects __init__, so plain factory functions would get no viewer): one per stage, in
# a scroll area (the panel holds plain StageWidgets in scroll areas of its own).
class PreprocessWidget(StageWidget, ScrollingForm):
    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer, "preprocess")


class SegmentWidget(StageWidget, ScrollingForm):
    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer, "segment")


class RefineWidget(StageWidget, ScrollingForm):
    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer, "refine")
