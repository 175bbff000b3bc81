"""The recipe recorder's logic, without Qt: record, edit, re-run, replay and batch.

:class:`RecipeRecorder` listens to every Apply of the stage widgets in its viewer
(``applied_steps.applied``) and to paint strokes on the Labels layers those Applies wrote,
and keeps the :class:`~napari_maskprep.recipe.Recipe` that reproduces the latest result.
Steps name their inputs by role, never by layer name:

- the first recorded step's input layer is the recipe's ``input``;
- a step reading the layer the previous step wrote simply chains;
- a step reading a layer written earlier (a branch: another op tried on an earlier result)
  makes the recipe follow the new branch: the steps after that layer's step are dropped,
  with a notice, so the recipe is always the lineage of the latest result;
- Apply again with the same op on the same input (the stage widget updates its output
  layer) changes that step's parameters in place and keeps the steps after it;
- extra inputs (seeds, markers, an image) read ``input``, an earlier step's ``id`` (given
  to that step on demand) or a declared recipe input named after the role
  (``inputs: {seeds: points}``), filled from the same layer on re-run and replay;
- paint strokes on a recorded Labels output become one ``edit.manual`` step right after the
  step that wrote the layer, diffed against the array as that step wrote it; later strokes
  on the same layer update that step (an undo back to the written array removes it).

The computations are jobs (:mod:`.recipe_jobs`) whose ``run`` touches no viewer state, so
the Qt view runs them in worker threads and hands the result back to the model on the GUI
thread.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer, Points
from psygnal import Signal

from ..core.errors import MaskprepError
from ..core.locality import Kind
from ..io import atomic_write
from ..ops.edit import ManualEdit
from ..recipe import Recipe, RecipeError, Step
from .applied import OUTPUT_OPACITY, AppliedStep, applied_steps, is_preview
from .folder_batch import plan_folder
from .large import TiledReplayJob
from .layers import is_large, layer_array, layer_channel, layer_pixel_size, points_in, unwrapped
from .outputs import history, lineage, replace_data, style_output
from .placing import add_store_layer
from .planes import PerPlane, check_grey, per_plane_choice
from .recipe_jobs import BatchJob, RunJob
from .rollback import follow, keeps, unfollow
from .strokes import ChangedBoxes, StrokeHistory, union
from .undo_keys import UndoKeys

__all__ = [
    "EDIT_OP",
    "RECORDED_CHANNEL",
    "REPLAY_SUFFIX",
    "RecipeRecorder",
    "RecordedStep",
]

EDIT_OP = "edit.manual"
RECORDED_CHANNEL = "recorded"  # a batch's channel: the recorded input layer's
REPLAY_SUFFIX = "-recipe"
NO_STEPS = "the recipe has no steps: record or load one first"
_RECORDER_KEY = "maskprep_recipe"  # layer metadata of replay outputs: never a replay target


@dataclass
class RecordedStep:
    """A recipe step and the layer it wrote in this viewer (None for a loaded recipe).

    ``written`` is a Labels output as the step left it; ``base`` is what an ``edit.manual``
    step diffs against (the array as the step before it wrote the layer).
    """

    step: Step
    output: weakref.ref[Layer] | None = None
    written: np.ndarray | None = field(default=None, repr=False)
    base: np.ndarray | None = field(default=None, repr=False)

    @property
    def layer(self) -> Layer | None:
        return self.output() if self.output is not None else None


class _Said:
    """The notices said about the Apply being recorded. Every recorder in its viewer hears
    it, and two whose recipes agree (the panel's Recipe tab and a Recorder dock beside it)
    each said the same: it is said once, by the first."""

    def __init__(self) -> None:
        self._apply: weakref.ref[AppliedStep] | None = None
        self._said: set[str] = set()

    def first(self, applied: AppliedStep, text: str) -> bool:
        if self._apply is None or self._apply() is not applied:
            self._apply, self._said = weakref.ref(applied), set()
        new = text not in self._said
        self._said.add(text)
        return new


_SAID = _Said()


def _refuse_large(layer: Layer) -> None:
    if is_large(layer):
        raise RecipeError(f"'{layer.name}' is too large to load, and Re-run works on images "
                          "held in memory: Replay the recipe on it (tiled, into OME-Zarr), or "
                          "Apply each step")


def _written(layer: Layer | None) -> np.ndarray | None:
    """A copy of a Labels output as written, to diff hand edits against; a pyramid written
    tiled is never read whole, so it is not diffed."""
    if isinstance(layer, Labels) and not is_large(layer):
        return np.array(layer_array(layer), copy=True)
    return None


def _by_plane(recipe: Recipe, layer: Layer) -> Recipe:
    """``recipe`` for ``layer``: each step run plane by plane where the stage widgets
    require it (:func:`~.planes.per_plane_choice`), as Apply runs it there. So a
    time-lapse's frames run each on its own, as maskprep run and a tiled replay run them
    (a loaded recipe, made on one image, would take the frames for a volume), and a 4D
    layer or a 2D-only op on a stack runs where the recipe alone asks for per_plane,
    which the Recorder has no box for. Hand edits keep their diff's own axes."""
    steps = [replace(step, per_plane=True) if step.op != EDIT_OP and per_plane_choice(
        step.spec, layer) is PerPlane.REQUIRED else step for step in recipe.steps]
    return Recipe(steps, name=recipe.name, inputs=recipe.inputs)


class RecipeRecorder:
    """The recipe recorded in one viewer, the layers its steps wrote, and what runs it.

    Parameters
    ----------
    viewer
        A ``napari.Viewer`` or ``napari.components.ViewerModel``.
    """

    #: The steps, their parameters or order changed.
    changed = Signal()
    #: Something the person should know (a branch followed, a step not recorded); what
    #: another recorder said about the same Apply is not said again.
    notice = Signal(str)
    #: A recorded output was painted; :meth:`capture_edits` turns it into a step. The view
    #: calls it once the stroke's events are over (an in-place Apply paints too: it must
    #: be told apart first).
    edit_pending = Signal()

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.name = ""
        self.records: list[RecordedStep] = []
        self.input_layer: Layer | None = None
        self.declared: dict[str, str] = {}  # recipe input name -> kind
        self.declared_layers: dict[str, Layer] = {}  # ... and the layer that filled it
        self._pending: list[Layer] = []
        self._changed = ChangedBoxes()  # where each pending layer was painted
        self._strokes = StrokeHistory()  # what napari's undo can take back, to tell it
        self._undo_keys = UndoKeys(self._history_moved)  # a hidden layer is not redrawn
        self._watched: list[Layer] = []
        self._writing = False  # our own writes to output layers are not hand edits
        applied_steps.applied.connect(self._on_applied)
        applied_steps.writing.connect(self._before_write)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        follow(self)  # a writer failing after we recorded its step takes the step back
        outputs = [x for x in viewer.layers if history(x)]
        latest = viewer.layers.selection.active if history(viewer.layers.selection.active) \
            else next(reversed(outputs), None)
        if latest is not None:  # opened after some Applies: start from what they made
            with contextlib.suppress(RecipeError):  # a history this version cannot read
                self.adopt(latest)

    # -- the recipe ------------------------------------------------------------------------
    @property
    def recipe(self) -> Recipe:
        return Recipe([r.step for r in self.records], name=self.name, inputs=self.declared)

    def clear(self) -> None:
        self.records = []
        self.input_layer = None
        self.declared, self.declared_layers = {}, {}
        self._pending = []
        self._watch_outputs()
        self.changed.emit()

    def _replace(self, records: list[RecordedStep], declared: dict[str, str] | None = None
                 ) -> None:
        """Adopt ``records`` if they make a valid recipe; raises RecipeError otherwise."""
        Recipe([r.step for r in records], name=self.name,
               inputs=self.declared if declared is None else declared)
        self.records = records
        if declared is not None:
            self.declared = declared
        self._watch_outputs()
        self.changed.emit()

    def savepoint(self) -> Callable[[], None]:
        """A callable putting the recipe back as it is now (the steps, ids given to them
        since included; their layers; what is pending), for :func:`.rollback.follow`."""
        records = [(r, r.step.id, r.step.enabled, r.output, r.written, r.base)
                   for r in self.records]
        kept = (self.input_layer, dict(self.declared), dict(self.declared_layers),
                list(self._pending))

        def put_back() -> None:
            for record, *fields in records:
                record.step.id, record.step.enabled = fields[:2]
                record.output, record.written, record.base = fields[2:]
            self.records = [x[0] for x in records]
            self.input_layer, self.declared, self.declared_layers, self._pending = kept
            self._watch_outputs()
            self.changed.emit()

        return put_back

    def set_params(self, index: int, params: Mapping[str, Any]) -> None:
        self.set_all_params({index: params})

    def set_all_params(self, changes: Mapping[int, Mapping[str, Any]]) -> None:
        """Step ``index`` given ``params``, for each; raises RecipeError, changing none, if
        a step refuses its own (a fit's settings are taken whole or not at all)."""
        records = list(self.records)
        for index, params in changes.items():
            record = records[index]
            step = record.step
            try:
                plain = step.spec.plain_params({**step.params, **params})
            except (TypeError, ValueError) as exc:
                raise RecipeError(f"step {index + 1} ({step.op}): {exc}") from None
            records[index] = RecordedStep(Step(step.op, plain, step.id, dict(step.inputs),
                                               step.per_plane, step.enabled),
                                          record.output, record.written, record.base)
        self._replace(records)

    def set_enabled(self, index: int, enabled: bool) -> None:
        """Enable or disable a step; raises RecipeError (and changes nothing) when an enabled
        step after it reads its output by id: that input would be missing."""
        step = self.records[index].step
        readers = [n for n, r in enumerate(self.records[index + 1:], start=index + 2)
                   if r.step.enabled and step.id in r.step.inputs.values()]
        if not enabled and step.id is not None and readers:
            self.changed.emit()  # the view shows the step enabled again
            raise RecipeError(f"step {index + 1} ({step.op}) cannot be disabled: step "
                              f"{readers[0]} reads its output ({step.id!r})")
        step.enabled = enabled
        self.changed.emit()

    def remove(self, index: int) -> None:
        removed = self.records[index]
        records = [r for i, r in enumerate(self.records) if i != index]
        self._replace(records)
        if removed.step.op == EDIT_OP and removed.layer is not None:
            # Its strokes are still on the layer, outside any box the next ones make.
            self._changed.add(removed.layer, None)

    def move(self, index: int, offset: int) -> int:
        """Move a step up (-1) or down (+1); its new index. Raises RecipeError if a step
        would then read an id defined after it."""
        to = index + offset
        if not 0 <= to < len(self.records):
            return index
        records = list(self.records)
        records[index], records[to] = records[to], records[index]
        self._replace(records)
        return to

    def require_steps(self, done: str) -> None:
        """Raise RecipeError for a recipe of no steps: nothing is ``done`` (saved...)."""
        if not self.records:
            raise RecipeError(f"{NO_STEPS}; nothing was {done}")

    def save(self, path: str | Path) -> Path:
        self.require_steps("saved")
        self.capture_edits()
        return self.recipe.save(path)

    def export(self, path: str | Path) -> Path:
        """Write the recipe as a Python script (``maskprep export``); raises RecipeError for
        a recipe with declared inputs, which a script cannot fill yet."""
        self.require_steps("exported")
        self.capture_edits()
        text = self.recipe.to_python()
        return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def load(self, path: str | Path) -> Recipe:
        """Replace the recipe with a file's; raises RecipeError and changes nothing if the
        file is not a valid recipe. Loaded steps have no layers until replayed."""
        recipe = Recipe.load(path)
        self.name = recipe.name
        self.records = [RecordedStep(step) for step in recipe.steps]
        self.input_layer = None
        self.declared = dict(recipe.inputs)
        self.declared_layers = {}
        self._pending = []
        self._watch_outputs()
        self.changed.emit()
        return recipe

    def adopt(self, layer: Layer) -> None:
        """Make the recipe the lineage of ``layer``, rebuilt from its history (see
        :mod:`.outputs`); raises RecipeError for a layer without one."""
        layer = unwrapped(layer)  # steps hold layers weakly: a proxy would go at once
        try:
            found = lineage(layer, self.viewer.layers)
        except ValueError as exc:
            raise RecipeError(str(exc)) from None
        self.records = [RecordedStep(step, None if out is None else weakref.ref(out),
                                     _written(out))
                        for step, out in zip(found.recipe.steps, found.outputs, strict=True)]
        self.input_layer = found.image
        self.declared, self.declared_layers = dict(found.recipe.inputs), found.declared_layers
        self._pending = []
        self._watch_outputs()
        self.changed.emit()

    # -- recording -------------------------------------------------------------------------
    def _producer(self, layer: Layer) -> int | None:
        """Index of the last step that wrote ``layer``; -1 for the recipe input."""
        for index in range(len(self.records) - 1, -1, -1):
            if self.records[index].layer is layer:
                return index
        return -1 if layer is self.input_layer and self.input_layer is not None else None

    def _new_id(self, op: str) -> str:
        base = op.split(".", 1)[1]
        used = {r.step.id for r in self.records}
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _source_for(self, role: str, layer: Layer, kinds: tuple[Kind, ...], before: int,
                    declared: dict[str, str]) -> str:
        """The recipe source of an extra input: ``input``, a step id or a declared input."""
        producer = self._producer(layer)
        if producer == -1:
            return "input"
        if producer is not None and producer < before:
            record = self.records[producer]
            if record.step.id is None:
                record.step.id = self._new_id(record.step.op)
            return record.step.id
        for name, known in self.declared_layers.items():
            if known is layer:
                return name
        name, n = role, 1
        while name in declared:
            n += 1
            name = f"{role}_{n}"
        wanted = Kind.POINTS if isinstance(layer, Points) else Kind.IMAGE if isinstance(
            layer, Image) else next((k for k in kinds if k in (Kind.MASK, Kind.LABELS)),
                                    Kind.LABELS)
        declared[name] = wanted.value
        self.declared_layers[name] = layer
        return name

    def _on_applied(self, applied: AppliedStep) -> None:
        if applied.output_layer not in self.viewer.layers:
            return  # another viewer's Apply
        out, source = unwrapped(applied.output_layer), unwrapped(applied.input_layer)
        # The stage wrote ``out`` before telling us: that write is the step, not an edit.
        self._pending = [x for x in self._pending if x is not out]
        self._changed.take(out)
        self.capture_edits(written=out)
        if not applied.in_place and self._producer(source) is None and history(source):
            if self.records:
                self._notify(applied, f"the recipe now follows '{out.name}', rebuilt from "
                                      f"the history of '{source.name}'")
            self.adopt(source)  # the steps that made what this Apply read come first
        if not self.records:
            self.input_layer = source
            self.declared, self.declared_layers = {}, {}
        at = self._producer(source)
        if at is None:
            recorded_on = (f"the recipe on '{self.input_layer.name}'" if self.input_layer
                           else "this recipe (loaded, or its image was removed)")
            self._notify(applied, f"{applied.step.op} on '{source.name}' was not recorded: "
                                  f"that layer is not part of {recorded_on}; Clear the recipe "
                                  "to record from it")
            return
        records = self.records[:at + 1]
        after = self.records[at + 1:]
        same_output = (not applied.in_place and after and after[0].step.op == applied.step.op
                       and after[0].layer is out)
        declared = dict(self.declared)
        inputs = {role: self._source_for(role, unwrapped(layer), next(
            (e.kinds for e in applied.step.spec.inputs if e.name == role), ()), at + 1, declared)
            for role, layer in applied.extra_layers.items()}
        step = Step(applied.step.op, dict(applied.step.params), inputs=inputs,
                    per_plane=applied.step.per_plane)
        written = _written(out)
        if same_output:
            step.id = after[0].step.id
            records += [RecordedStep(step, weakref.ref(out), written), *after[1:]]
        else:
            records.append(RecordedStep(step, weakref.ref(out), written))
            if after:
                dropped = ", ".join(r.step.op for r in after)
                which = (f"step {at + 2} was" if len(after) == 1
                         else f"steps {at + 2}-{at + 1 + len(after)} were")
                self._notify(applied, f"the recipe now follows '{out.name}'; {which} "
                                      f"dropped ({dropped})")
        used = {src for r in records for src in r.step.inputs.values()}
        declared = {n: k for n, k in declared.items() if n in used}
        self.declared_layers = {n: x for n, x in self.declared_layers.items() if n in declared}
        self._replace(records, declared)

    def _notify(self, applied: AppliedStep, text: str) -> None:
        if _SAID.first(applied, text):
            self.notice.emit(text)

    # -- hand edits ------------------------------------------------------------------------
    def _watch_outputs(self) -> None:
        for layer in self._watched:
            layer.events.paint.disconnect(self._on_output_painted)
            layer.events.data.disconnect(self._on_output_painted)
            layer.events.set_data.disconnect(self._on_output_redrawn)
        self._watched = list({id(x): x for r in self.records
                              if isinstance(x := r.layer, Labels)}.values())
        for layer in self._watched:
            layer.events.paint.connect(self._on_output_painted)
            layer.events.data.connect(self._on_output_painted)
            layer.events.set_data.connect(self._on_output_redrawn)
        self._undo_keys.follow(self._watched)

    def _on_output_painted(self, event: Any) -> None:
        layer = event.source
        if event.type == "paint":
            self._strokes.painted(layer, event.value)
        else:
            self._strokes.forget(layer)
        if not self._writing:
            self._changed.add(layer, event)
            self._edited(layer)

    def _on_output_redrawn(self, event: Any) -> None:
        self._history_moved(event.source)

    def _history_moved(self, layer: Layer) -> None:
        """napari's undo and redo only redraw (a hidden layer not even that: their keys are
        followed): a stroke they took back or put again is a hand edit, where it was."""
        for box in self._strokes.moved(layer):
            self._changed.grow(layer, box)
            self._edited(layer)

    def _edited(self, layer: Layer) -> None:
        if all(x is not layer for x in self._pending):
            self._pending.append(layer)
        self.edit_pending.emit()  # every stroke: the view captures once they stop

    def capture_edits(self, *, undone: bool = True, written: Layer | None = None) -> None:
        """Turn the paint strokes since the last call into ``edit.manual`` steps; with
        ``undone``, also what napari's undo and redo changed unseen (on a hidden layer they
        do not even redraw it), every output compared whole, but ``written``, which a step
        has just written."""
        pending, self._pending = self._pending, []
        pending += [x for x in self._watched if undone and x is not written
                    and self._undone(x) and all(x is not p for p in pending)]
        if not pending or self.input_layer is None or is_large(self.input_layer):
            return
        image = np.asarray(layer_array(self.input_layer))
        records = list(self.records)
        for layer in pending:
            at = self._producer(layer)
            if at is None or at < 0 or layer not in self.viewer.layers:
                continue
            current = np.asarray(layer_array(layer))
            record = records[at]
            is_edit = record.step.op == EDIT_OP
            base = record.base if is_edit else record.written
            changed = self._changed.take(layer)
            if base is None or base.shape != current.shape:
                continue
            if is_edit and changed is not None:  # the strokes captured before, too
                changed = union(changed, tuple(slice(*map(int, span.split(":")))
                                               for span in record.step.params["bbox"].split(",")))
            edit = ManualEdit.between(base, current, image=image, within=changed)
            if edit is None:
                if is_edit:
                    del records[at]  # painted back to what the op wrote: no edit left
                continue
            step = Step(EDIT_OP, edit.params(), inputs={"image": "input"})
            edited = RecordedStep(step, weakref.ref(layer), current.copy(), base)
            if is_edit:
                step.enabled = record.step.enabled
                records[at] = edited
            else:
                records.insert(at + 1, edited)
        self._replace(records)

    def _before_write(self, layer: Layer) -> None:
        """An Apply writes ``layer`` in place next: its strokes become their own step first."""
        if self._producer(unwrapped(layer)) is not None and layer in self.viewer.layers:
            self.capture_edits()

    def _undone(self, layer: Layer) -> bool:
        """Whether ``layer`` differs from what the last step writing it left there."""
        at = self._producer(layer)
        written = None if at is None or at < 0 else self.records[at].written
        return (written is not None and layer in self.viewer.layers
                and not np.array_equal(layer_array(layer), written))

    # -- running ---------------------------------------------------------------------------
    def _named_inputs(self, target: Layer) -> dict[str, Any]:
        """Arrays for the declared inputs: the layers that filled them when recorded, else
        a layer of the same name (a loaded recipe)."""
        named = {}
        for name in self.declared:
            layer = self.declared_layers.get(name)
            if layer is None or layer not in self.viewer.layers:
                layer = next((x for x in self.viewer.layers if x.name == name), None)
            if layer is None:
                raise RecipeError(f"the recipe needs its {name!r} input: add a layer named "
                                  f"'{name}' ({self.declared[name]})")
            named[name] = (points_in(layer, target) if isinstance(layer, Points)
                           else np.asarray(layer_array(layer)))
        return named

    def rerun_job(self, index: int) -> RunJob:
        """A job recomputing step ``index`` and every step after it."""
        self.capture_edits()
        if self.input_layer is None or self.input_layer not in self.viewer.layers:
            raise RecipeError("re-run needs the image the recipe was recorded on; to run a "
                              "loaded recipe, use Replay")
        if not 0 <= index < len(self.records):
            raise RecipeError(f"there is no step {index + 1}")
        source = self.input_layer
        _refuse_large(source)
        return RunJob(self.recipe, layer_array(source), self._named_inputs(source),
                      keep_from=index, target=source, pixel_size=layer_pixel_size(source))

    @keeps("records")
    def finish_rerun(self, job: RunJob) -> list[Layer]:
        """Write a re-run's outputs into the layers their steps wrote (GUI thread); raises
        RecipeError, writing nothing, if the input was removed, the steps changed or those
        layers were painted while it ran: the outputs would be of an image no longer open,
        go to other steps' layers, or over the strokes. Should it fail half way, each step
        keeps what it wrote before (the layers: its caller puts them back)."""
        if job.target not in self.viewer.layers:
            raise RecipeError(f"'{job.target.name}' was removed while the re-run ran; "
                              "nothing was written")
        targets = [self.records[i].layer for i in job.outputs if i < len(self.records)]
        painted = [x.name for x in self._pending if any(x is t for t in targets)]
        if painted or [s.to_dict() for s in self.recipe.steps] != job.steps_run:
            what = f"'{painted[0]}' was painted" if painted else "the recipe's steps changed"
            raise RecipeError(f"{what} while the re-run ran; nothing was written: Re-run again")
        updated: list[Layer] = []
        self._writing = True
        try:
            for index, output in job.outputs.items():
                if index >= len(self.records):
                    break
                record = self.records[index]
                layer = record.layer
                if layer is None or layer not in self.viewer.layers:
                    continue
                replace_data(layer, output)
                if isinstance(layer, Labels):  # a new record: the old one is kept
                    base = (np.array(job.inputs_of[index], copy=True)
                            if record.step.op == EDIT_OP else record.base)
                    self.records[index] = replace(record, written=np.array(output, copy=True),
                                                  base=base)
                if all(x is not layer for x in updated):
                    updated.append(layer)
        finally:
            self._writing = False
        return updated

    def replay_targets(self) -> list[Image]:
        """The open images a replay reads: not previews, stage outputs or replay outputs."""
        return [x for x in self.viewer.layers if isinstance(x, Image) and not is_preview(x)
                and "maskprep" not in x.metadata and _RECORDER_KEY not in x.metadata]

    def replay_job(self, layer: Layer) -> RunJob:
        self.capture_edits()
        recipe = self.recipe
        if not recipe.steps:
            raise RecipeError(NO_STEPS)
        check_grey(layer, RecipeError)
        if is_large(layer):  # a slide or a lazy stack: tiled into a store, never loaded
            return TiledReplayJob(recipe, layer, name=f"{layer.name}{REPLAY_SUFFIX}",
                                  pixel_size=layer_pixel_size(layer))
        return RunJob(_by_plane(recipe, layer), layer_array(layer), self._named_inputs(layer),
                      final_only=True, target=layer, pixel_size=layer_pixel_size(layer))

    def finish_replay(self, job: RunJob | TiledReplayJob) -> Layer:
        """Write a replay's result to ``<input>-recipe`` (updated if it is there; a tiled
        one's store as a new multiscale Labels layer)."""
        source = job.target
        if source not in self.viewer.layers:  # its name: Replay on all runs on several
            raise RecipeError(f"'{source.name}' was removed while the recipe replayed on it; "
                              "nothing was written")
        if isinstance(job, TiledReplayJob):
            return add_store_layer(self.viewer, job, job.store, metadata={
                _RECORDER_KEY: job.recorded.to_dict(), "input": source.name})
        result = next(iter(job.outputs.values()), np.asarray(job.image))
        name = f"{source.name}{REPLAY_SUFFIX}"
        metadata = {_RECORDER_KEY: job.recipe.to_dict(), "input": source.name}
        last = next((s for s in reversed(job.recipe.steps) if s.enabled), None)
        as_image = last is None or last.spec.output is Kind.IMAGE
        layer_type = Image if as_image else Labels
        existing = next((x for x in self.viewer.layers if x.name == name), None)
        if isinstance(existing, layer_type) and _RECORDER_KEY in existing.metadata:
            replace_data(existing, result)
            existing.metadata = metadata
            style_output(existing, result)
            return existing
        kwargs = {"name": name, "scale": source.scale, "translate": source.translate,
                  "units": source.units, "axis_labels": source.axis_labels,
                  "metadata": metadata}
        layer = Image(result, **kwargs) if as_image else Labels(result, opacity=OUTPUT_OPACITY,
                                                                **kwargs)
        style_output(layer, result)  # the colours of the stage outputs
        self.viewer.layers.append(layer)
        return layer

    def batch_job(self, infolder: str | Path, outfolder: str | Path, *, overwrite: bool,
                  fmt: str = "tif", channel: int | str | None = RECORDED_CHANNEL) -> BatchJob:
        """The recipe over a folder's images; ``channel``: the one of each file's channels
        to segment, None for none, :data:`RECORDED_CHANNEL` for the recorded input's (a
        channel layer of the reader, else none)."""
        self.capture_edits()
        recipe = self.recipe
        if not recipe.steps:
            raise RecipeError(NO_STEPS)
        if recipe.inputs:
            raise RecipeError(f"a batch cannot fill the recipe's {', '.join(recipe.inputs)} "
                              "input(s); only recipes reading the image alone run on folders")
        infolder, outfolder = Path(infolder), Path(outfolder)
        if not infolder.is_dir():
            raise RecipeError(f"input folder {infolder} does not exist")
        if channel == RECORDED_CHANNEL:  # recorded on a channel of a file: that of each
            channel = layer_channel(self.input_layer)
        try:
            plan = plan_folder(recipe, infolder, outfolder, fmt=fmt, resume=not overwrite,
                               channel=channel)
        except MaskprepError as exc:
            raise RecipeError(str(exc)) from None
        return BatchJob(plan)

    # -- events ----------------------------------------------------------------------------
    def _on_layer_removed(self, event: Any) -> None:
        layer = event.value
        if layer is self.input_layer:
            self.input_layer = None
        self.declared_layers = {n: x for n, x in self.declared_layers.items() if x is not layer}
        self._pending = [x for x in self._pending if x is not layer]
        if any(r.layer is layer for r in self.records):
            for record in self.records:
                if record.layer is layer:
                    record.output, record.written, record.base = None, None, None
            self._watch_outputs()
            self.changed.emit()

    def close(self) -> None:
        """Stop recording: no more Applies, layer removals or strokes followed."""
        applied_steps.applied.disconnect(self._on_applied)
        applied_steps.writing.disconnect(self._before_write)
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        unfollow(self)
        self.records, self._pending = [], []
        self._watch_outputs()
