"""The computations of a stage widget, apart from the viewer: a preview of the plane shown
and an Apply of the whole input. Their ``run`` touches no viewer state, so the view runs
them in a worker thread; the model writes their results into the viewer.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Layer

from ..core.locality import Kind, Local, Pointwise
from ..core.registry import OpSpec
from ..engine.statistics import StatisticCache
from ..recipe import Step
from .layers import layer_origin
from .outputs import describe, object_features
from .planes import is_time_lapse

if TYPE_CHECKING:
    from ..kernels.histogram import Histogram

__all__ = ["ApplyCancelled", "ApplyJob", "PreviewJob", "TryAllJob", "digest"]


class ApplyCancelled(Exception):
    """Raised between planes of a running Apply after :meth:`ApplyJob.cancel`."""


def digest(array: Any) -> tuple[tuple[int, ...], str, int]:
    """A cheap fingerprint telling whether an array changed (4 ms per 16 MB)."""
    a = np.ascontiguousarray(np.asarray(array))
    return a.shape, a.dtype.str, zlib.crc32(a.data)


def _halo(spec: OpSpec, params: Mapping[str, Any]) -> int | None:
    """Planes on each side a 3D op needs to get one plane right; None: the whole stack."""
    if isinstance(spec.locality, Pointwise):
        return 0
    if isinstance(spec.locality, Local):
        return int(spec.locality.halo(params))
    return None


def _points_in_planes(pts: np.ndarray, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
    """Points whose leading coordinates fall in [lo, hi), shifted to start at lo."""
    lead = len(lo)
    rounded = np.rint(pts[:, :lead])
    inside = np.all((rounded >= lo) & (rounded < hi), axis=1)
    out = pts[inside].copy()
    out[:, :lead] -= lo
    return out


class PreviewJob:
    """One preview computation: the op on the plane shown (or on all of 2D data).

    ``index`` is the shown plane's position on the leading axes (empty for 2D data).
    ``run`` cuts the planes it needs out of the data, so lazy (dask) arrays are only read
    there, in the worker thread.
    """

    note = ""  # nothing to say about what it is computed from

    def __init__(
        self,
        spec: OpSpec,
        data: Any,
        extras: Mapping[str, np.ndarray],
        params: Mapping[str, Any],
        *,
        index: tuple[int, ...],
        per_plane: bool,
        generation: int,
        cache_key: tuple[Any, ...],
        point_roles: frozenset[str] = frozenset(),
        volume: np.ndarray | None = None,
        statistics: StatisticCache | None = None,
        source: tuple[Any, ...] = (),
        readout: bool = False,
    ) -> None:
        self.spec = spec
        self.data = data
        self.extras = dict(extras)
        self.params = dict(params)
        self.index = index
        self.per_plane = per_plane
        self.generation = generation
        self.cache_key = cache_key
        self.point_roles = point_roles  # extra inputs that are coordinates, not arrays
        self.volume = volume  # a cached whole-stack result, when the op needs the whole stack
        self.whole_stack_result: np.ndarray | None = None
        # Whole-image statistics (histograms) of the input, kept while only parameters change;
        # ``source`` names the input layer and its data version.
        self.statistics = statistics
        self.source = source
        # With ``readout``: the histogram of what the op read and the thresholds it took.
        self.readout = readout
        self.histogram: Histogram | None = None
        self.thresholds: tuple[float, ...] = ()

    def _call(self, data: Any, extras: Mapping[str, np.ndarray],
              part: tuple[Any, ...] = ()) -> np.ndarray:
        """The op on ``data``, the ``part`` (plane index, slab) of the input that it is."""
        if self.statistics is not None and not extras:
            key = (*self.source, part)
            result = self.statistics.run(self.spec, np.asarray(data), key, self.params)
            if self.readout:
                self.histogram, self.thresholds = self.statistics.readout(
                    self.spec, np.asarray(data), key, self.params)
            return result
        return self.spec(np.asarray(data), **extras, **self.params)

    def run(self) -> np.ndarray:
        """The preview plane (for nD data) or the whole 2D result."""
        if not self.index:
            return self._call(self.data, self.extras)
        if self.per_plane:
            hi = tuple(i + 1 for i in self.index)
            extras = {
                name: _points_in_planes(a, self.index, hi)[:, len(self.index):]
                if name in self.point_roles else a[self.index]
                for name, a in self.extras.items()
            }
            return self._call(self.data[self.index], extras, ("plane", self.index))
        # A 3D op on a 3D stack: a slab of planes around the shown one is exact for local
        # ops; anything else needs the whole stack (kept for the next plane shown).
        (plane,) = self.index
        halo = _halo(self.spec, self.params)
        if halo is None:
            if self.volume is None:
                self.whole_stack_result = self._call(self.data, self.extras)
                self.volume = self.whole_stack_result
            return self.volume[plane]
        lo, hi = max(0, plane - halo), min(self.data.shape[0], plane + halo + 1)
        extras = {
            name: _points_in_planes(a, (lo,), (hi,)) if name in self.point_roles else a[lo:hi]
            for name, a in self.extras.items()
        }
        return self._call(self.data[lo:hi], extras, ("slab", lo, hi))[plane - lo]


class TryAllJob:
    """One preview for each value of a choice ("Try all" the threshold methods), on the
    plane shown; their histogram is counted once (the jobs share a statistic cache)."""

    def __init__(self, spec: OpSpec, param: str, jobs: Mapping[str, PreviewJob]) -> None:
        self.spec = spec
        self.param = param
        self.jobs = dict(jobs)

    def run(self) -> dict[str, tuple[np.ndarray, tuple[float, ...]]]:
        """Each value's mask and the thresholds it took."""
        results = {}
        for choice, job in self.jobs.items():
            results[choice] = (np.array(job.run()), job.thresholds)  # not a view of a stack
            job.volume = job.whole_stack_result = None  # one method's stack held at a time
        return results


class Cancellable:
    """A job another thread may cancel: it checks :attr:`cancelled` as it goes."""

    _cancelled: threading.Event

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


class ApplyJob(Cancellable):
    """One Apply: the op on the whole input; :meth:`cancel` stops it between planes."""

    def __init__(
        self,
        spec: OpSpec,
        data: Any,
        extras: Mapping[str, np.ndarray],
        params: Mapping[str, Any],
        *,
        per_plane: bool,
        step: Step,
        input_layer: Layer,
        extra_layers: Mapping[str, Layer],
        in_place: bool,
        table: bool = False,
        pixel_size: tuple[float, ...] | None = None,
    ) -> None:
        self.spec = spec
        self.data = data
        self.extras = dict(extras)
        self.params = dict(params)
        self.per_plane = per_plane
        self.step = step
        self.input_layer = input_layer
        self.extra_layers = dict(extra_layers)
        self.in_place = in_place
        self.table = table  # a labels result gets a row per object (napari's ``features``)
        self.pixel_size = pixel_size  # µm a pixel, for object sizes in µm² (None: unknown)
        self.origin = layer_origin(input_layer)  # where pixel 0 lies in µm, for centroids
        self.features: dict[str, np.ndarray] | None = None
        self.summary = ""  # objects and their sizes in the result, once run
        self.result_digest: tuple[tuple[int, ...], str, int] | None = None  # once run
        self.input_digest = digest(data) if in_place else None
        # In place: the pixels the result changes, found off the GUI thread.
        self.changed: tuple[np.ndarray, ...] = ()
        self._cancelled = threading.Event()

    def run(self, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """The op's output; raises :class:`ApplyCancelled` once cancelled."""

        def report(done: int, total: int) -> None:
            if self.cancelled:
                raise ApplyCancelled
            if progress is not None:
                progress(done, total)

        if self.cancelled:
            raise ApplyCancelled
        result = self.spec(
            np.asarray(self.data), per_plane=self.per_plane, progress=report,
            **self.extras, **self.params,
        )
        if self.cancelled:  # an op that is not per plane cannot stop halfway
            raise ApplyCancelled
        # Here, off the GUI thread.
        # A time-lapse's frames, and labels numbered on each plane, are counted plane by plane.
        plane = ("frame" if is_time_lapse(self.input_layer) else "plane"
                 if self.per_plane and self.spec.output is Kind.LABELS else None)
        self.summary = describe(result, self.spec.output, self.pixel_size, plane)
        self.result_digest = digest(result)
        if self.in_place and result.shape == np.shape(self.data):
            self.changed = np.nonzero(np.asarray(self.data) != result)
        if self.table and self.spec.output is Kind.LABELS:
            # The image the objects were found in: the input, or the one a step reads beside.
            image = self.data if self.spec.input is Kind.IMAGE else self.extras.get("image")
            grey = image is not None and np.ndim(image) == result.ndim
            self.features = object_features(result, np.asarray(image) if grey else None,
                                            planes=plane is not None,
                                            pixel_size=self.pixel_size, origin=self.origin)
        return result
