"""How one checked op call runs: on the whole array, plane by plane over leading axes (the
step's ``per_plane``), or, for a large 2D ``Local`` op, in horizontal stripes on threads
with the op's halo, which equals the whole-array run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import BadValueError, MaskprepError
from ..core.thread_warnings import in_this_context
from ..core.validation import check_output, spatial_ndim
from ..kernels import threads
from ..kernels.threads import cv_serial

if TYPE_CHECKING:
    from ..core.registry import OpSpec

__all__ = ["per_plane_line", "run_spatial"]

# Each stripe holds at least this many rows of its own and 4 halos' worth, so that the halo
# stays a small overhead and a stripe never gets shorter than the op's window.
_STRIPE_MIN_ROWS = 256


def _plane_inputs(
    arrays: Mapping[str, np.ndarray], index: tuple[int, ...], lead: int
) -> dict[str, np.ndarray]:
    """Extra inputs restricted to one plane: points on it (last two coordinates), arrays sliced."""
    out = {}
    for name, a in arrays.items():
        if a.dtype == np.float64 and a.ndim == 2 and a.shape[1] == lead + 2:
            on_plane = np.all(np.rint(a[:, :lead]) == np.array(index), axis=1)
            out[name] = a[on_plane, lead:]
        else:
            out[name] = a[index]
    return out


def per_plane_line(spec: OpSpec, sdim: int, shape: tuple[int, ...]) -> str:
    """What a step of ``spec`` without ``per_plane`` says of ``sdim``-D data of ``shape``
    whose dimension it does not work on, but plane by plane."""
    dims = " or ".join(f"{n}D" for n in spec.ndim)
    return (f"{spec.id} works on {dims} data; got {sdim}D data of shape {shape}; set "
            "per_plane: true to run it plane by plane over the leading axes")


def run_spatial(
    spec: OpSpec,
    data: np.ndarray,
    arrays: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    *,
    per_plane: bool,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run ``spec.func`` on the whole array, or plane by plane over leading axes."""
    sdim = spatial_ndim(spec, data)
    if not per_plane and sdim in spec.ndim:
        stripes = 0 if arrays or sdim != 2 else _stripe_count(spec, data, params)
        if stripes > 1:
            return _run_in_stripes(spec, data, params, stripes)
        return check_output(spec, data, spec.func(data, **arrays, **params))
    dims = " or ".join(f"{n}D" for n in spec.ndim)
    if sdim < 2:
        raise BadValueError(
            f"{spec.id} works on {dims} data; got {sdim}D data of shape {data.shape}"
        )
    if not per_plane:
        raise BadValueError(per_plane_line(spec, sdim, data.shape))
    if 2 not in spec.ndim:
        raise BadValueError(f"{spec.id} does not work plane by plane; it needs {dims} data")
    lead = sdim - 2
    planes = list(np.ndindex(*data.shape[:lead]))
    out = None
    for i, index in enumerate(planes):
        plane = data[index]
        try:
            result = spec.func(plane, **_plane_inputs(arrays, index, lead), **params)
        except MaskprepError as exc:  # what one plane lacks (fill_nan: a plane all NaN)
            if len(planes) == 1:
                raise
            where, of = ", ".join(map(str, index)), " x ".join(map(str, data.shape[:lead]))
            raise type(exc)(f"plane {where} of {of}: {exc}") from None
        result = check_output(spec, plane, result)
        if out is None:
            out = np.empty(data.shape[:lead] + result.shape, result.dtype)
        out[index] = result
        if progress is not None:
            progress(i + 1, len(planes))
    return out


def _stripe_count(spec: OpSpec, data: np.ndarray, params: Mapping[str, Any]) -> int:
    stripes = getattr(spec.locality, "stripes", False)  # only Local ops have stripes
    if not stripes or data.shape[0] * data.shape[1] < threads.STRIPE_MIN_PIXELS:
        return 0
    if callable(stripes) and not stripes(data, params):
        return 0
    halo = spec.locality.halo(params)
    fitting = data.shape[0] // max(_STRIPE_MIN_ROWS, 4 * halo)
    return min(threads.thread_budget(), fitting)


def _run_in_stripes(
    spec: OpSpec, data: np.ndarray, params: Mapping[str, Any], count: int
) -> np.ndarray:
    """``spec.func`` on ``count`` horizontal stripes in threads (cv2 and numpy release the
    GIL), each with ``halo`` rows of its neighbours, so the result equals the unsplit run."""
    halo = spec.locality.halo(params)
    rows = data.shape[0]
    cuts = [rows * i // count for i in range(count + 1)]

    def stripe(i: int) -> np.ndarray:
        start, stop = max(cuts[i] - halo, 0), min(cuts[i + 1] + halo, rows)
        part = data[start:stop]
        out = check_output(spec, part, spec.func(part, **params))
        return out[cuts[i] - start : cuts[i + 1] - start]

    with cv_serial(), ThreadPoolExecutor(count) as pool:
        parts = list(pool.map(in_this_context(stripe), range(count)))
        out = np.empty((rows, *parts[0].shape[1:]), parts[0].dtype)
        # numpy's copy releases the GIL too: the stripes are gathered in parallel.
        list(pool.map(lambda i: np.copyto(out[cuts[i] : cuts[i + 1]], parts[i]), range(count)))
    return out
