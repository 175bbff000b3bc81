"""The logic of a stage widget (Preprocess, Segment, Refine), without Qt.

:class:`StageModel` knows which op is chosen, its parameter values, which layers it reads,
how a preview plane is cut out of nD data, where an Apply writes and which :class:`Step`
it records. The computations are jobs (``jobs.PreviewJob``, ``jobs.ApplyJob``) whose
``run`` touches no viewer state, so the Qt view can run them in a worker thread; writing
their result into the viewer goes back through the model on the GUI thread.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer, Points
from psygnal import Signal

from ..core.locality import Kind
from ..core.registry import OpSpec, list_ops
from ..engine.statistics import StatisticCache
from ..recipe import Step
from .applied import PREVIEW_KEY, PREVIEW_SUFFIX, AppliedStep, applied_steps, is_preview
from .jobs import ApplyJob, PreviewJob, TryAllJob, digest
from .large import RegionPreviewJob, TiledApplyJob, visible_region
from .layers import finite_range, is_large, layer_array, layer_pixel_size, lazy_range, points_in
from .opinfo import (
    compared_param,
    has_intensity_range,
    intensity_params,
    middle,
    picked_values,
    shows_histogram,
)
from .outputs import history, output_metadata, replace_data, style_output
from .placing import (
    add_layer,
    add_store_layer,
    can_become_output,
    is_rgb,
    place_as_output,
    write_in_place,
)
from .planes import PerPlane, check_grey, per_plane_choice, plane_at
from .rollback import keeps

__all__ = ["StageModel"]

_LAYER_TYPES = {Kind.IMAGE: Image, Kind.MASK: Labels, Kind.LABELS: Labels, Kind.POINTS: Points}


@dataclass
class _Output:
    """The layer an Apply wrote for (input layer, op), and its data as written."""

    source: weakref.ref[Layer]
    layer: weakref.ref[Layer]
    written: tuple[tuple[int, ...], str, int]


@dataclass
class _VolumeCache:
    key: tuple[Any, ...]
    result: np.ndarray = field(repr=False)


class StageModel:
    """The state of one stage widget: op, parameters, layers, preview and outputs.

    Parameters
    ----------
    viewer
        A ``napari.Viewer`` or ``napari.components.ViewerModel``.
    stage
        ``"preprocess"``, ``"segment"`` or ``"refine"``.
    """

    #: Something a preview depends on changed (op, parameter, layer, data, shown plane).
    changed = Signal()
    #: Another op was chosen, or the parameters were reset to the op's defaults.
    op_changed = Signal(object)
    #: Layers were added, removed or renamed: the input pickers need refreshing.
    layers_changed = Signal()
    #: An Apply wrote its result; carries an :class:`AppliedStep`.
    applied = Signal(object)
    #: Parameter values changed here, not through ``set_param`` (fitted to the input's
    #: intensities, picked from the image): the editors need to show them.
    values_changed = Signal()
    #: The input layer left the viewer: a preview must not follow to another by itself.
    input_removed = Signal()

    def __init__(self, viewer: Any, stage: str) -> None:
        self.viewer = viewer
        self.stage = stage
        self.ops = list_ops(stage)
        if not self.ops:
            raise ValueError(f"no {stage} operations are registered")
        self.op: OpSpec = self.ops[0]
        self.params: dict[str, Any] = self.op.defaults()
        self.input_layer: Layer | None = None
        self.extra_layers: dict[str, Layer | None] = {}
        self.per_plane = False
        self.in_place = False
        self.new_layer = False
        self.outline = False  # masks and labels drawn as outlines (napari's contour)
        self.object_table = False  # labels outputs get a row per object (napari's features)
        self.store_folder: Path | None = None  # where Apply on a large layer writes; None: temp
        self._preview_layer: Layer | None = None
        self._preview_painted = False  # its undo steps must not follow it into an output
        self._generation = 0
        self._source_version = 0  # bumped when a layer the op reads changes its data
        self._volume_cache: _VolumeCache | None = None
        self._statistics = StatisticCache()
        self.last_summary = ""  # what the last Apply that wrote made, in one line
        self._outputs: dict[tuple[int, str], _Output] = {}
        self._plane: tuple[int, ...] = ()
        self._watched: list[Layer] = []
        self._touched: set[str] = set()  # parameters set by hand since the op was chosen
        self._intensities: tuple[tuple[int, int], tuple[float, float] | None] | None = None

        layers = viewer.layers
        layers.events.inserted.connect(self._on_layers_inserted)
        layers.events.removed.connect(self._on_layer_removed)
        layers.events.moved.connect(self._on_layers_moved)
        for layer in layers:
            layer.events.name.connect(self._on_layers_moved)
        viewer.dims.events.current_step.connect(self._on_current_step)
        self._camera = getattr(viewer, "scene", viewer).camera  # napari < 0.9: viewer.camera
        self._camera.events.center.connect(self._on_view_moved)
        self._camera.events.zoom.connect(self._on_view_moved)
        self._choose_defaults()
        self._fit_intensities()

    # -- choosing ------------------------------------------------------------------------------
    def spec(self, op_id: str) -> OpSpec:
        for spec in self.ops:
            if spec.id == op_id:
                return spec
        known = ", ".join(s.id for s in self.ops)
        raise ValueError(f"{op_id!r} is not a {self.stage} operation; known: {known}")

    def set_op(self, op_id: str) -> None:
        spec = self.spec(op_id)
        if spec is self.op:
            return
        self.op = spec
        self._generation += 1  # a preview of the op before (or its input) is never shown
        self.params = spec.defaults()
        self._touched = set()
        self._choose_defaults()
        self._fit_intensities()
        self.op_changed.emit(spec)
        self.changed.emit()

    def reset_params(self) -> None:
        self.params = self.op.defaults()
        self._touched = set()
        self._fit_intensities()
        self.op_changed.emit(self.op)
        self.changed.emit()

    def set_param(self, name: str, value: Any) -> None:
        self.op.param(name)  # unknown names are a programming error: KeyError
        self._touched.add(name)
        if self.params.get(name) != value:
            self.params[name] = value
            self.changed.emit()

    def set_input(self, layer: Layer | None) -> None:
        if layer is not self.input_layer:
            self.input_layer = layer
            self._generation += 1  # a preview of the input before is never laid over it
            for role, extra in self.extra_layers.items():
                if extra is layer:  # no extra input is the input (extra_candidates)
                    self.extra_layers[role] = None
            self._watch_sources()
            if self._fit_intensities():
                self.values_changed.emit()
            self.changed.emit()
            self.layers_changed.emit()  # the extras' pickers: the input before, not this one

    @property
    def intensities(self) -> tuple[float, float] | None:
        """The input image's (min, max), None without one (or for an RGB image, or an op
        with no parameter over its intensities): what a slider over them spans. A layer
        too large to load gives an estimate from windows of one of its levels
        (:func:`~.layers.lazy_range`; napari's contrast limits span its dtype)."""
        layer = self.input_layer
        if not isinstance(layer, Image) or layer.rgb or not has_intensity_range(self.op):
            return None  # nothing to bound: the image is not read
        key = self._source_key(layer)
        if self._intensities is None or self._intensities[0] != key:
            if is_large(layer):  # windows of a pyramid's level, or of a lazy array
                low, high = lazy_range(layer.data, layer.multiscale)
            else:
                low, high = finite_range(np.asarray(layer_array(layer)))
            self._intensities = key, (float(low), float(high))
        return self._intensities[1]

    def _fit_intensities(self) -> bool:
        """Put the intensity parameters not set by hand in the middle of the input's range;
        whether any changed."""
        intensities = self.intensities
        if intensities is None:
            return False
        before = dict(self.params)
        for name in intensity_params(self.op):
            if name not in self._touched:
                self.params[name] = middle(self.op.param(name), intensities)
        return self.params != before

    def pick(self, position: Any) -> dict[str, float]:
        """Set the parameters that pick from the image (their ``pick`` hint) from the input
        pixel at ``position`` (world coordinates); returns what was set."""
        layer = self._require_input()
        index = np.rint(layer.world_to_data(position)).astype(int)
        data = layer_array(layer)
        spatial = data.shape[: layer.ndim]
        if np.any(index < 0) or np.any(index >= spatial):
            return {}
        values = picked_values(self.op, np.asarray(data[tuple(index)]))
        self.params.update(values)
        self._touched.update(values)
        if values:
            self.values_changed.emit()
            self.changed.emit()
        return values

    def set_extra(self, role: str, layer: Layer | None) -> None:
        if role not in self.extra_layers:
            raise KeyError(role)
        if layer is not self.extra_layers[role]:
            self.extra_layers[role] = layer
            self._watch_sources()
            self.changed.emit()

    def set_per_plane(self, value: bool) -> None:
        if value != self.per_plane:
            self.per_plane = value
            self.changed.emit()

    def set_outline(self, on: bool) -> None:
        """Draw this stage's Labels outputs (the layers whose history ends with one of its
        ops, written already or to come) and its preview as outlines, or filled."""
        self.outline = on
        for layer in self.viewer.layers:
            ops = [entry["step"]["op"] for entry in history(layer)[-1:]]
            if isinstance(layer, Labels) and (layer is self._preview_layer or any(
                    op.startswith(f"{self.stage}.") for op in ops)):
                layer.contour = int(on)

    def input_candidates(self) -> list[Layer]:
        kind = _LAYER_TYPES[self.op.input]
        return [
            layer for layer in self.viewer.layers
            if isinstance(layer, kind) and not is_preview(layer)
            and (self.op.channels != "rgb" or getattr(layer, "rgb", False))
        ]

    def extra_candidates(self, role: str) -> list[Layer]:
        extra = next(e for e in self.op.inputs if e.name == role)
        kinds = tuple({_LAYER_TYPES[k] for k in extra.kinds})
        return [
            layer for layer in self.viewer.layers
            if isinstance(layer, kinds) and not is_preview(layer) and layer is not self.input_layer
        ]

    def _choose_defaults(self) -> None:
        candidates = self.input_candidates()
        if self.input_layer not in candidates:
            active = self.viewer.layers.selection.active
            self.input_layer = active if active in candidates else next(iter(candidates), None)
        self.extra_layers = {}
        for extra in self.op.inputs:
            options = self.extra_candidates(extra.name)
            self.extra_layers[extra.name] = options[0] if extra.required and options else None
        self._watch_sources()

    @property
    def per_plane_choice(self) -> PerPlane:
        return per_plane_choice(self.op, self.input_layer)

    @property
    def effective_per_plane(self) -> bool:
        choice = self.per_plane_choice
        return choice is PerPlane.REQUIRED or (choice is PerPlane.OPTIONAL and self.per_plane)

    @property
    def pixel_size(self) -> tuple[float, ...] | None:
        """The input layer's pixel size in micrometres (None if unknown)."""
        return None if self.input_layer is None else layer_pixel_size(self.input_layer)

    @property
    def working_ndim(self) -> int:
        """The spatial axes the op works over on the input: 3 for a volume, else 2."""
        sdim = 2 if self.input_layer is None else self.input_layer.ndim
        return max(2, self.op.working_ndim(sdim, self.effective_per_plane))

    def _pixel_params(self) -> dict[str, Any]:
        """The parameters checked, sizes in micrometres turned into pixels."""
        return self.op.resolve_units(self.params, self.pixel_size, ndim=self.working_ndim)

    @property
    def input_is_large(self) -> bool:
        """The input is a pyramid or lazy: previews read the screen, Apply runs tiled."""
        return is_large(self.input_layer)

    @property
    def can_run_in_place(self) -> bool:
        return (self.stage == "refine" and isinstance(self.input_layer, Labels)
                and not self.input_is_large)

    def step(self) -> Step:
        """The recipe step the current settings describe (parameters checked)."""
        return Step(
            op=self.op.id,
            params=self.op.plain_params(self.params),
            inputs={role: role for role, layer in self.extra_layers.items() if layer is not None},
            per_plane=self.effective_per_plane,
        )

    # -- what a computation reads ---------------------------------------------------------------
    def input_kind_text(self) -> str:
        """What the op reads, for people: "an Image layer", "an RGB Image layer"..."""
        kind = ("RGB " if self.op.channels == "rgb" else "") + _LAYER_TYPES[self.op.input].__name__
        return f"{'an' if kind[0] in 'AEIOUR' else 'a'} {kind} layer"

    def _require_input(self) -> Layer:
        if self.input_layer is None:
            raise ValueError(f"{self.op.id} needs {self.input_kind_text()}; add or open one")
        check_grey(self.input_layer)
        return self.input_layer

    def _extra_arrays(self, target: Layer) -> dict[str, np.ndarray]:
        arrays = {}
        for extra in self.op.inputs:
            layer = self.extra_layers.get(extra.name)
            if layer is None:
                if extra.required:
                    names = dict.fromkeys(_LAYER_TYPES[k].__name__ for k in extra.kinds)
                    kinds = " or ".join(names)
                    raise ValueError(
                        f"{self.op.id} needs a {kinds} layer for its {extra.name!r} input; "
                        "add one and choose it"
                    )
                continue
            if isinstance(layer, Points):
                arrays[extra.name] = points_in(layer, target)
            else:
                arrays[extra.name] = np.asarray(layer_array(layer))
        return arrays

    def shown_plane(self, layer: Layer) -> tuple[int, ...]:
        """The leading-axis index of the plane the viewer shows (empty for 2D data)."""
        return plane_at(layer, self.viewer.dims.point)

    # -- preview -------------------------------------------------------------------------------
    def request_preview(self) -> PreviewJob | RegionPreviewJob:
        """A job for the current settings; results of older jobs are dropped."""
        self._generation += 1
        layer = self._require_input()
        params = self._pixel_params()
        if is_large(layer):
            return self._region_preview(layer, params)
        per_plane = self.effective_per_plane
        index = self.shown_plane(layer)
        if not per_plane and layer.ndim not in self.op.ndim:
            index = ()  # the whole input: the op itself says which data it can take
        key = self._volume_key(layer)
        cache = self._volume_cache
        return PreviewJob(
            self.op, layer_array(layer), self._extra_arrays(layer), params,
            index=index, per_plane=per_plane, generation=self._generation,
            cache_key=key,
            point_roles=frozenset(
                r for r, x in self.extra_layers.items() if isinstance(x, Points)
            ),
            volume=cache.result if cache is not None and cache.key == key else None,
            statistics=self._statistics,
            source=self._source_key(layer),
            readout=shows_histogram(self.op),
        )

    def try_all(self) -> TryAllJob:
        """Every value of the op's compared choice (its threshold ``method``), each on the
        plane shown with the other parameters as they are: a job for a worker thread."""
        param = compared_param(self.op)
        if param is None:
            raise ValueError(f"{self.op.id} has no method to compare")
        layer = self._require_input()
        if is_large(layer):
            raise ValueError(f"'{layer.name}' is too large to load; Try all needs a layer "
                             "held in memory")
        index = self.shown_plane(layer)
        jobs = {}
        for choice in param.choices or ():
            params = self.op.resolve_units({**self.params, param.name: choice}, self.pixel_size,
                                           ndim=self.working_ndim)
            jobs[choice] = PreviewJob(
                self.op, layer_array(layer), {}, params, index=index,
                per_plane=self.effective_per_plane,  # unticked: a stack's histogram, as Apply
                generation=self._generation, cache_key=(), statistics=self._statistics,
                source=self._source_key(layer), readout=True,
            )
        return TryAllJob(self.op, param.name, jobs)

    def _region_preview(self, layer: Layer, params: dict[str, Any]) -> RegionPreviewJob:
        """A preview of what is on screen of a layer too large to load."""
        roles = [role for role, extra in self.extra_layers.items() if extra is not None]
        if roles or any(extra.required for extra in self.op.inputs):
            raise ValueError(f"'{layer.name}' is too large to load, so a preview reads only "
                             f"what is on screen; {self.op.id} also reads other layers, "
                             "which it cannot follow there yet")
        region = visible_region(layer, self.viewer.dims.point)
        return RegionPreviewJob(self.op, layer, region, params, generation=self._generation,
                                statistics=self._statistics, source=self._source_key(layer),
                                readout=shows_histogram(self.op))

    def _source_key(self, layer: Layer) -> tuple[int, int]:
        """The input layer and the version of the data the op reads."""
        return id(layer), self._source_version

    def _volume_key(self, layer: Layer) -> tuple[Any, ...]:
        step = self.step()
        return (*self._source_key(layer), step.op, tuple(step.params.items()), self.pixel_size,
                tuple((r, id(x)) for r, x in self.extra_layers.items()))

    def is_current(self, job: PreviewJob) -> bool:
        return job.generation == self._generation

    @keeps("_preview_layer", "_preview_painted")  # a failure: the layer is put back too
    def show_preview(self, job: PreviewJob | RegionPreviewJob, result: np.ndarray
                     ) -> Layer | None:
        """Put ``result`` in the preview layer; None (and nothing shown) if ``job`` is stale.

        For nD data the preview layer holds one plane, with leading axes of length 1
        translated to the plane it was computed for, so it shows on that plane only. The
        preview of a large layer holds the region it was computed on, laid over it.
        """
        if job.whole_stack_result is not None:
            self._volume_cache = _VolumeCache(job.cache_key, job.whole_stack_result)
        if not self.is_current(job) or self.input_layer is None:
            return None
        source = self.input_layer
        if isinstance(job, RegionPreviewJob):
            lead = len(job.region.index)
            scale, translate = job.region.placement(source)
        else:
            lead = len(job.index)
            scale = np.asarray(source.scale, dtype=float)
            translate = np.asarray(source.translate, dtype=float).copy()
            translate[:lead] += np.asarray(job.index) * scale[:lead]
        data = result.reshape((1,) * lead + result.shape)
        name = self._preview_name(source)
        layer_type = Image if self.op.output is Kind.IMAGE else Labels
        layer, rgb = self._preview_layer, is_rgb(data, source)
        if (
            layer is None or layer not in self.viewer.layers or type(layer) is not layer_type
            or layer.ndim != source.ndim or getattr(layer, "rgb", False) != rgb
        ):
            self.remove_preview()
            layer = add_layer(
                self.viewer, layer_type, data, source, name=name, translate=translate, rgb=rgb,
                metadata={PREVIEW_KEY: True}, scale=scale, outline=self.outline,
            )
            self._preview_layer, self._preview_painted = layer, False
            if isinstance(layer, Labels):
                layer.events.paint.connect(self._on_preview_painted)
        else:
            # Each setter redraws the layer: only what changed (a slider move: the data).
            if not np.array_equal(layer.scale, scale):
                layer.scale = scale
            if not np.array_equal(layer.translate, translate):
                layer.translate = translate
            if layer.name != name:
                layer.name = name
            replace_data(layer, data)
            style_output(layer, data, self.outline)
        return layer

    def _preview_name(self, source: Layer) -> str:
        return f"{source.name}-{self.op.name}{PREVIEW_SUFFIX}"

    def remove_preview(self) -> None:
        self._generation += 1  # a preview still computing is now stale
        layer, self._preview_layer = self._preview_layer, None
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)

    @property
    def preview_layer(self) -> Layer | None:
        return self._preview_layer

    # -- apply ---------------------------------------------------------------------------------
    def prepare_apply(self) -> ApplyJob:
        """Check the settings and capture what the op reads; raises ValueError/TypeError."""
        layer = self._require_input()
        if self.in_place and not self.can_run_in_place:
            raise ValueError(f"{self.op.id} cannot run in place on '{layer.name}'; only a refine "
                             "op on a Labels layer can")
        step = self.step()
        if is_large(layer):
            return TiledApplyJob(self.op, step, layer, pixel_size=self.pixel_size,
                                 folder=self.store_folder, named=self._extra_arrays(layer))
        params = self._pixel_params()
        return ApplyJob(
            self.op, layer_array(layer), self._extra_arrays(layer), params,
            per_plane=self.effective_per_plane, step=step, input_layer=layer,
            extra_layers={r: x for r, x in self.extra_layers.items() if x is not None},
            in_place=self.in_place, table=self.object_table, pixel_size=self.pixel_size,
        )

    @keeps("_preview_layer", "_outputs", "last_summary")
    def finish_apply(self, job: ApplyJob | TiledApplyJob, result: Any, *,
                     later: Callable[[Callable[[], None]], None] | None = None) -> AppliedStep:
        """Write ``result`` into the viewer and announce the step (GUI thread); a tiled
        job's result is its store, added as a new multiscale Labels layer. ``later`` runs
        a callable in a later event-loop turn: given, the announcement of a new layer (not
        shown, so not painted on, until turns after) goes there, so that what listeners do
        with it (a Recorder rebuilding its step list) is not added to napari's insert. A
        failure leaves the preview and outputs it knows as they were (the layers: its caller)."""
        source = job.input_layer
        # An extra input (seeds) too: a Recorder would declare the removed layer an input.
        for layer in (source, *job.extra_layers.values()):
            if layer not in self.viewer.layers:
                raise ValueError(f"'{layer.name}' was removed while {job.spec.id} ran; "
                                 "nothing was written")
        kept, inserted = None, False
        summary = getattr(job, "summary", "")  # a tiled result is never read whole
        if isinstance(job, TiledApplyJob):
            target = add_store_layer(self.viewer, job, result)
        elif job.in_place:
            changed = write_in_place(job, result)
            summary = f"{summary}; {changed} pixels changed".lstrip("; ")
            target = source
            target.metadata = {**source.metadata,
                               **output_metadata(job.step, source, job.extra_layers)}
        else:
            key = (id(source), job.spec.id)
            previous = self._outputs.get(key)
            target = None
            if previous is not None and previous.source() is source and not self.new_layer:
                layer = previous.layer()
                if layer is not None and layer in self.viewer.layers:
                    if digest(layer.data) == previous.written:
                        target = layer
                    else:
                        kept = layer  # changed since (painted, refined): never overwrite it
            name = f"{source.name}-{job.spec.name}"
            metadata = output_metadata(job.step, source, job.extra_layers)
            layer_type = Image if job.spec.output is Kind.IMAGE else Labels
            preview = None if self._preview_painted else self._preview_layer  # as the output?
            adopted = target is None and preview in self.viewer.layers and can_become_output(
                preview, layer_type, result, source)  # then no layer is added, none removed
            if adopted:
                target, self._preview_layer = preview, None
            inserted = target is None
            if inserted:
                target = add_layer(
                    self.viewer, layer_type, result, source, name=name,
                    translate=source.translate, rgb=is_rgb(result, source), metadata=metadata,
                    outline=self.outline,
                )
            else:
                replace_data(target, result)
                target.metadata = metadata  # before the name: no longer a preview when renamed
                style_output(target, result, self.outline)
                if adopted:
                    place_as_output(self.viewer, target, name)
            self._outputs[key] = _Output(weakref.ref(source), weakref.ref(target),
                                         job.result_digest)
        if getattr(job, "features", None) is not None:
            target.features = job.features
        self.last_summary = summary
        applied = AppliedStep(
            step=job.step, input_layer=source, extra_layers=job.extra_layers,
            output_layer=target, in_place=job.in_place, kept_layer=kept,
        )
        self.applied.emit(applied)
        if later is not None and inserted:
            later(partial(applied_steps.applied.emit, applied))
        else:
            applied_steps.applied.emit(applied)
        return applied

    def _on_preview_painted(self, event: Any) -> None:
        if event.source is self._preview_layer:  # not once an Apply made it its output
            self._preview_painted = True

    # -- events --------------------------------------------------------------------------------
    def _watch_sources(self) -> None:
        """Follow data changes of the layers the op reads (points added, labels painted,
        axes named)."""
        for layer in self._watched:
            layer.events.data.disconnect(self._on_source_data)
            layer.events.axis_labels.disconnect(self._on_source_axes)
            if isinstance(layer, Labels):
                layer.events.paint.disconnect(self._on_source_data)
        self._watched = [x for x in (self.input_layer, *self.extra_layers.values()) if x]
        self._source_version += 1  # other layers: no cached result or statistic applies
        for layer in self._watched:
            layer.events.data.connect(self._on_source_data)
            layer.events.axis_labels.connect(self._on_source_axes)
            if isinstance(layer, Labels):
                layer.events.paint.connect(self._on_source_data)
        self._plane = self.shown_plane(self.input_layer) if self.input_layer else ()

    def _on_source_data(self, event: Any = None) -> None:
        self._source_version += 1
        self.changed.emit()

    def _on_source_axes(self, event: Any = None) -> None:
        """An axis named t makes a stack frames (:func:`is_time_lapse`): the options too."""
        self.layers_changed.emit()
        self._on_source_data()

    def _on_current_step(self, event: Any = None) -> None:
        if self.input_layer is None:
            return
        plane = self.shown_plane(self.input_layer)
        if plane != self._plane:
            self._plane = plane
            self.changed.emit()

    def _on_view_moved(self, event: Any = None) -> None:
        if self.input_is_large:  # the preview shows what is on screen
            self.changed.emit()

    def _on_layers_inserted(self, event: Any) -> None:
        event.value.events.name.connect(self._on_layers_moved)
        self._refresh_choices()

    def _on_layers_moved(self, event: Any = None) -> None:
        if self._preview_layer is not None and getattr(event, "source", None) is self.input_layer:
            self._preview_layer.name = self._preview_name(self.input_layer)  # input renamed
        self.layers_changed.emit()

    def _on_layer_removed(self, event: Any) -> None:
        layer = event.value
        layer.events.name.disconnect(self._on_layers_moved)
        if layer is self._preview_layer:
            self._preview_layer = None
        for role, extra in self.extra_layers.items():
            if extra is layer:  # the preview was made from it: made again without it
                self.extra_layers[role] = None
                self.remove_preview()
                self.changed.emit()
        self._refresh_choices()

    def _refresh_choices(self) -> None:
        """Fill empty pickers from the layers now present, then tell the view."""
        before = (self.input_layer, dict(self.extra_layers))
        # A removal nested in another's (a preview removed as its input goes) comes before
        # that layer's own event: a layer no longer in the viewer is dropped here already.
        if self.input_layer is not None and self.input_layer not in self.viewer.layers:
            self.input_layer = None  # first: the preview's removal refreshes pickers
            self.input_removed.emit()
            self.remove_preview()
        for role, extra in self.extra_layers.items():
            if extra is not None and extra not in self.viewer.layers:
                self.extra_layers[role] = None
        candidates = self.input_candidates()
        if self.input_layer is None and candidates:
            self.input_layer = candidates[0]
            if self._fit_intensities():
                self.values_changed.emit()
        for extra in self.op.inputs:
            options = self.extra_candidates(extra.name)
            if extra.required and self.extra_layers.get(extra.name) is None and options:
                self.extra_layers[extra.name] = options[0]
        if before != (self.input_layer, self.extra_layers):
            self._watch_sources()
            self.changed.emit()
        self.layers_changed.emit()

    def close(self) -> None:
        """Disconnect from the viewer and remove the preview layer."""
        self.remove_preview()
        for layer in self._watched:
            layer.events.data.disconnect(self._on_source_data)
            layer.events.axis_labels.disconnect(self._on_source_axes)
            if isinstance(layer, Labels):
                layer.events.paint.disconnect(self._on_source_data)
        self._watched = []
        layers = self.viewer.layers
        layers.events.inserted.disconnect(self._on_layers_inserted)
        layers.events.removed.disconnect(self._on_layer_removed)
        layers.events.moved.disconnect(self._on_layers_moved)
        for layer in layers:
            layer.events.name.disconnect(self._on_layers_moved)
        self.viewer.dims.events.current_step.disconnect(self._on_current_step)
        self._camera.events.center.disconnect(self._on_view_moved)
        self._camera.events.zoom.disconnect(self._on_view_moved)
