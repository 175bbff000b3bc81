"""Multiscale and dask-backed layers in a stage widget, never loaded whole (no Qt).

A layer is *large* when its data is a pyramid or any lazy array (dask, zarr) rather than
a numpy array. For such a layer:

- a preview runs on what is on screen: the pyramid level napari displays
  (``layer.data_level``) cut to the visible region (``layer.corner_pixels``), at most
  :data:`MAX_PREVIEW_PIXELS` around its centre, read with the op's halo so a local op is
  exact there; sizes in px are scaled to that level. A whole-image statistic (automatic
  thresholds) is taken from the largest pyramid level that is small enough, else from
  the region itself, and the preview says so (:attr:`RegionPreviewJob.note`);
- an Apply runs the step tiled (``Recipe.run`` on the full-resolution dask array) in the
  worker, streaming into a new OME-Zarr store with its pyramid (``write_ome_zarr``), with
  progress over dask tasks and cancel between tasks; a step that cannot run tiled is
  refused before any work (``check_tiled``). The store's levels (``open_lazy``) become a
  multiscale Labels layer over the image.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.callbacks import Callback
from napari.layers import Layer

from ..core.locality import GlobalStat, Kind, Local, Pointwise
from ..core.registry import OpSpec
from ..core.run_callbacks import run_callbacks
from ..core.units import COUNT
from ..engine.statistics import StatisticCache
from ..engine.tiled import check_tiled, plane_steps, run_tiled
from ..io import open_lazy, provenance, write_ome_zarr
from ..large_images import DEFAULT_CHUNK, count_frames, run_by_frame
from ..recipe import Recipe, RecipeError, Step, resolve_units
from .jobs import ApplyCancelled, Cancellable
from .planes import is_time_lapse

if TYPE_CHECKING:
    from ..kernels.histogram import Histogram

__all__ = ["MAX_PREVIEW_PIXELS", "Region", "RegionPreviewJob", "TiledApplyJob", "TiledReplayJob",
           "level_params", "statistic_level", "store_levels", "store_path",
           "visible_region"]

MAX_PREVIEW_PIXELS = 2048 * 2048  # a preview never reads more than this (plus the halo)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_AXES = {2: "yx", 3: "zyx", 4: "tzyx"}
# Stores written to temporary folders are removed when napari's process ends: a slide's
# labels take gigabytes, and a temporary folder (often in memory, as tmpfs) is no place
# to keep them; the summary says so, and a store folder keeps them.
_TEMPORARY: set[Path] = set()
_TEMPORARY_LOCK = threading.Lock()
TEMPORARY_NOTE = "kept in a temporary folder until napari closes"


def _levels(layer: Layer) -> list[Any]:
    return list(layer.data) if getattr(layer, "multiscale", False) else [layer.data]


@dataclass(frozen=True)
class Region:
    """The part of one pyramid level a preview reads: ``index`` on the leading axes, then
    ``lo:hi`` on the last two (spatial) axes; ``factor`` is the level's downsampling per
    axis of the layer (napari's ``downsample_factors``)."""

    level: int
    factor: tuple[float, ...]
    index: tuple[int, ...]
    lo: tuple[int, int]
    hi: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int]:
        return self.hi[0] - self.lo[0], self.hi[1] - self.lo[1]

    def placement(self, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
        """Scale and translate that lay the region's pixels over ``layer``'s, as napari
        lays a pyramid level: pixel ``i`` of the level at data coordinate ``i * factor``."""
        scale = np.asarray(layer.scale, dtype=float) * np.asarray(self.factor)
        start = np.asarray((*self.index, *self.lo), dtype=float)
        return scale, np.asarray(layer.translate, dtype=float) + start * scale


def visible_region(layer: Layer, point: Any) -> Region:
    """The region of the displayed level on screen (``point``: the viewer's dims point, for
    the plane of nD data), clipped to :data:`MAX_PREVIEW_PIXELS` around its centre. A
    layer not yet drawn (no corners) gives its displayed level whole, clipped alike."""
    shapes = np.asarray(layer.level_shapes)
    level = int(layer.data_level) if getattr(layer, "multiscale", False) else 0
    factor = tuple(float(f) for f in np.asarray(layer.downsample_factors)[level])
    shape = shapes[level][:layer.ndim]
    lead = layer.ndim - 2
    plane = np.asarray(layer.world_to_data(point), dtype=float)[:lead] / np.asarray(factor[:lead])
    index = tuple(int(i) for i in np.clip(np.rint(plane), 0, shape[:lead] - 1))
    corners = np.asarray(layer.corner_pixels)[:, lead:layer.ndim]
    lo = np.clip(corners[0], 0, shape[lead:])
    hi = np.clip(corners[1] + 1, 0, shape[lead:])
    if np.any(hi - lo <= 1):
        lo, hi = np.zeros(2, int), shape[lead:].copy()
    size = hi - lo
    if size.prod() > MAX_PREVIEW_PIXELS:
        shrink = math.sqrt(MAX_PREVIEW_PIXELS / float(size.prod()))
        kept = np.maximum(1, np.floor(size * shrink)).astype(int)
        lo = lo + (size - kept) // 2
        hi = lo + kept
    return Region(level, factor, index, (int(lo[0]), int(lo[1])), (int(hi[0]), int(hi[1])))


def statistic_level(layer: Layer) -> int | None:
    """The largest pyramid level of at most :data:`MAX_PREVIEW_PIXELS` per plane, whose
    whole statistic stands in for the full image's in a preview; None if none is."""
    for level, shape in enumerate(np.asarray(layer.level_shapes)):
        spatial = shape[layer.ndim - 2:layer.ndim]
        if int(np.prod(spatial)) <= MAX_PREVIEW_PIXELS:
            return level
    return None


def level_params(spec: OpSpec, params: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """``params`` (sizes in full-resolution pixels) for a level ``factor`` times coarser:
    lengths divided by ``factor``, pixel counts by its square, kept within each range."""
    if factor == 1:
        return dict(params)
    scaled = dict(params)
    for p in spec.params:
        value = params.get(p.name)
        if p.measure is None or value is None:
            continue
        value = value / (factor ** 2 if p.measure == COUNT else factor)
        if p.type is int:
            value = p.round_to_grid(value)
        lo, hi = p.hints.get("min"), p.hints.get("max")
        scaled[p.name] = p.type(min(max(value, lo if lo is not None else value),
                                    hi if hi is not None else value))
    return spec.check_params(scaled)


def _halo(spec: OpSpec, params: Mapping[str, Any]) -> int:
    if isinstance(spec.locality, Local):
        return int(spec.locality.halo(params))
    return 0


class RegionPreviewJob:
    """A preview of a large layer: the op on :class:`Region` of one pyramid level.

    ``run`` reads the region (with the op's halo, cut back after) and nothing else but,
    for a whole-image statistic not yet kept, the ``basis`` level; ``note`` says what the
    preview is computed from when that differs from what Apply computes.
    """

    whole_stack_result = None

    def __init__(self, spec: OpSpec, layer: Layer, region: Region, params: Mapping[str, Any],
                 *, generation: int, statistics: StatisticCache, source: Hashable,
                 readout: bool = False) -> None:
        self.spec = spec
        # With ``readout``: the histogram the op decides from (the statistic's level, else
        # the region) and the thresholds it took, as a PreviewJob gives them.
        self.readout = readout
        self.histogram: Histogram | None = None
        self.thresholds: tuple[float, ...] = ()
        self.region = region
        self.generation = generation
        self.statistics = statistics
        levels = _levels(layer)
        self.data = levels[region.level]
        spatial = region.factor[-1]
        self.params = level_params(spec, params, spatial)
        self.basis: Any = None
        self.source = (source, "level", region.level)
        width = f"{region.shape[1]}×{region.shape[0]}"
        where = (f"pyramid level {region.level} (1/{spatial:.3g})" if region.level
                 else "full resolution")
        self.note = f"preview of the visible {width} px at {where}"
        locality = spec.locality
        if isinstance(locality, GlobalStat) and locality.statistic is not None:
            level = statistic_level(layer)
            if level is not None:
                shape = np.asarray(layer.level_shapes)[level][layer.ndim - 2:layer.ndim]
                self.basis = levels[level][region.index]
                self.source = (source, "level", level, region.index)
                self.note += (f"; {spec.name} from the whole of level {level} "
                              f"({shape[1]}×{shape[0]}), Apply from the full image")
            else:
                self.note += f"; {spec.name} from this region only, Apply from the full image"
        elif not isinstance(locality, Pointwise | Local):
            self.note += "; objects cut at its edges, Apply sees the whole image"

    def run(self) -> np.ndarray:
        halo = _halo(self.spec, self.params)
        lead = len(self.region.index)
        shape = self.data.shape[lead:lead + 2]
        start = [max(0, lo - halo) for lo in self.region.lo]
        stop = [min(n, hi + halo) for n, hi in zip(shape, self.region.hi, strict=True)]
        window = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
        block = np.asarray(self.data[(*self.region.index, *window)])
        if self.basis is not None:
            result = self.statistics.run(self.spec, block, self.source, self.params,
                                         basis=self.basis)
        else:
            result = self.spec(block, **self.params)
        if self.readout:
            # With a basis, run kept its statistic under this source: no read again. Else
            # the region's own histogram, kept for this region only.
            source = self.source if self.basis is not None else (
                self.source, tuple(self.region.lo), tuple(self.region.hi))
            self.histogram, self.thresholds = self.statistics.readout(
                self.spec, block, source, self.params)
        cut = tuple(slice(lo - a, hi - a)
                    for lo, hi, a in zip(self.region.lo, self.region.hi, start, strict=True))
        return result[cut]


def store_path(folder: Path, name: str) -> Path:
    """A new ``<name>.zarr`` in ``folder`` (``-2``, ``-3``... when taken); never an
    existing one."""
    stem = _SAFE_NAME.sub("_", name).strip("._-") or "mask"
    path, n = folder / f"{stem}.zarr", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.zarr"
    return path


class _Tasks(Callback):
    """Counts the dask tasks of the run it is given to (:func:`run_callbacks`), for a
    progress bar; raises :class:`ApplyCancelled` after the task in progress once
    ``cancelled`` is set. Only that run's computes run it: tasks of other threads (a
    preview computing meanwhile) are neither counted nor stopped."""

    def __init__(self, progress: Callable[[int, int], None] | None,
                 cancelled: threading.Event) -> None:
        super().__init__()
        self.progress, self.cancelled = progress, cancelled
        self.done = self.total = 0

    def _start_state(self, dsk: Any, state: Any) -> None:
        self.total += sum(len(state[k]) for k in ("ready", "waiting", "running"))

    def _pretask(self, *args: Any) -> None:
        if self.cancelled.is_set():
            raise ApplyCancelled

    def _posttask(self, *args: Any) -> None:
        if self.cancelled.is_set():
            raise ApplyCancelled
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))


class _TiledRun(Cancellable):
    """Steps run tiled on a large layer's level 0 into a new OME-Zarr store named ``name``
    (a time-lapse's frames each on its own, as ``maskprep run`` runs them). ``recorded``
    is the recipe as the person has it, stored as the provenance.

    ``run`` returns the store's path; a cancel or an error leaves no store (nor the
    temporary folder made for it).
    """

    in_place = False
    extra_layers: Mapping[str, Layer] = {}

    def __init__(self, steps: list[Step], input_layer: Layer, *, name: str, recorded: Recipe,
                 pixel_size: tuple[float, ...] | None, folder: Path | None,
                 named: Mapping[str, Any], context: str) -> None:
        # A time-lapse runs frame by frame, as maskprep run runs it: each frame is an image.
        self.frames = is_time_lapse(input_layer)
        if self.frames:
            steps = [dataclasses.replace(step, per_plane=False) for step in steps]
            if named:
                raise ValueError(f"'{input_layer.name}' is a time-lapse too large to load, "
                                 "so it runs frame by frame, where no step can read other "
                                 "layers: run the recipe with maskprep run")
        steps = plane_steps(steps, _levels(input_layer)[0])  # one plane: per_plane, all at once
        check_tiled(steps, context=context)
        if folder is not None and not Path(folder).is_dir():
            raise ValueError(f"the store folder {folder} is not a folder that exists; choose "
                             "one, or leave it empty for a temporary folder")
        self._run_steps = steps
        self.recorded = recorded
        self.input_layer = input_layer
        self.data = _levels(input_layer)[0]
        self.pixel_size = pixel_size
        self.folder = folder
        self.named = dict(named)  # the steps' extra inputs by role (level-0 points)
        self.name = name
        self._cancelled = threading.Event()
        self.summary = ""  # objects and foreground of the written result, once run

    def run(self, progress: Callable[[int, int], None] | None = None) -> Path:
        import dask.array as da

        made = self.folder is None
        folder = _temporary_folder() if made else self.folder
        try:
            data = self.data if isinstance(self.data, da.Array) else da.from_array(self.data)
            recipe = Recipe(self._run_steps, inputs=self.recorded.inputs)
            # The tiled run's work files (inputs of whole-image steps) go with the run.
            with (run_callbacks(_Tasks(progress, self._cancelled)),
                  tempfile.TemporaryDirectory(prefix=".maskprep-work-", dir=folder) as work):
                if self.frames:  # sizes in µm resolved on each frame, as maskprep run does
                    result = run_by_frame(recipe, data, "tyx" + "c" * (data.ndim == 4),
                                          DEFAULT_CHUNK, self.pixel_size, None)
                    axes = "tyx"
                else:
                    steps = resolve_units(recipe.steps, self.pixel_size, data)
                    result = run_tiled(steps, data, workdir=work, named=self.named)
                    axes = _AXES[result.ndim]
                sizes = self.pixel_size
                if sizes is not None:
                    sizes = tuple(sizes)[-sum(a in "zyx" for a in axes):]
                metadata = provenance(self.recorded.dumps(), data,
                                      source=self.input_layer.name,
                                      pixel_size=self.pixel_size if recipe.uses_units else None,
                                      axes=axes if self.frames else None)
                path = write_ome_zarr(result, store_path(folder, self.name), axes=axes,
                                      pixel_size=sizes, provenance=metadata)
            with open_lazy(path) as written:  # one more pass, over the written labels
                objects, foreground = count_frames(written.data, axes)
                self.summary = (f"{objects} object{'s' * (objects != 1)}, "
                                f"{100 * foreground / max(written.data.size, 1):.3g}% of "
                                "the image")
            if made:
                self.summary += f"; {TEMPORARY_NOTE}"
            return path
        except BaseException:
            if made:
                _remove_temporary([folder])
            raise


def _temporary_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="maskprep-"))
    with _TEMPORARY_LOCK:
        _TEMPORARY.add(folder)
    return folder


def _remove_temporary(folders: list[Path] | None = None) -> None:
    """Remove ``folders`` (default: every temporary folder a tiled run made)."""
    with _TEMPORARY_LOCK:
        chosen = list(_TEMPORARY) if folders is None else folders
        _TEMPORARY.difference_update(chosen)
    for folder in chosen:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_remove_temporary)


class TiledApplyJob(_TiledRun):
    """One Apply on a large layer: the step run tiled (:class:`_TiledRun`)."""

    def __init__(self, spec: OpSpec, step: Step, input_layer: Layer, *,
                 pixel_size: tuple[float, ...] | None, folder: Path | None,
                 named: Mapping[str, Any] | None = None) -> None:
        if spec.output is Kind.IMAGE:
            raise ValueError(f"{spec.id} gives an image; on '{input_layer.name}' (too large "
                             "to load) Apply writes masks and labels only, into an OME-Zarr "
                             "store: preview it here, run it in a recipe ending in a mask")
        self.spec = spec
        self.step = step  # as recorded: per plane on a time-lapse, as a replay runs it
        # check_tiled lets through extra inputs that are points only (region growing's seeds).
        recorded = Recipe([step], inputs=dict.fromkeys(named or {}, "points"))
        super().__init__([step], input_layer, name=f"{input_layer.name}-{spec.name}",
                         recorded=recorded, pixel_size=pixel_size, folder=folder,
                         named=named or {}, context=f"'{input_layer.name}' is too large to "
                         "load, so Apply runs tiled, and ")


class TiledReplayJob(_TiledRun):
    """A recipe replayed on a large layer: its enabled steps run tiled (:class:`_TiledRun`)
    into a store in a new temporary folder. ``run`` returns the job, its store in
    ``store``."""

    def __init__(self, recipe: Recipe, input_layer: Layer, *, name: str,
                 pixel_size: tuple[float, ...] | None) -> None:
        steps = [step for step in recipe.steps if step.enabled]
        where = f"'{input_layer.name}' is too large to load, so the replay runs tiled"
        if recipe.inputs:
            raise RecipeError(f"{where}, and it cannot fill the recipe's "
                              f"{', '.join(recipe.inputs)} input(s): run it with maskprep run")
        if not steps or steps[-1].spec.output is Kind.IMAGE:
            raise RecipeError(f"{where} into a mask or labels, and the recipe ends in an "
                              "image: add a segment step")
        try:
            super().__init__(steps, input_layer, name=name, recorded=recipe,
                             pixel_size=pixel_size, folder=None, named={},
                             context=f"{where}, and ")
        except ValueError as exc:
            raise RecipeError(str(exc)) from None
        self.target = input_layer
        self.messages: list[str] = []
        self.store: Path | None = None

    def run(self, progress: Callable[[int, int], None] | None = None) -> TiledReplayJob:
        self.store = super().run(progress)
        return self


def store_levels(path: Path) -> list[Any] | Any:
    """A written store as a Labels layer's data: its pyramid levels as lazy arrays, or its
    one level's array (napari refuses a multiscale layer of one level, as a store of an
    image of at most 1024 px a side is)."""
    levels = open_lazy(path).levels
    return levels if len(levels) > 1 else levels[0]
