"""Measurements. Run as a script (``python bench_measure.py JOB_JSON``) it is the fresh
subprocess that measures one configuration: the thread limits are set in its environment
before numpy / OpenCV load, and it is pinned to that many cores, so a "1 thread" figure really
is one core whatever the library underneath does.

Timing: best of ``repeats`` calls (``time.perf_counter``), after a warm-up call on a small crop
(imports, thread pools, kernel caches). Memory (``mode: mem``, one call in a fresh process):
tracemalloc peak of what the call allocates (numpy buffers are traced; the input, allocated
before, is not counted; the output is) and the RSS high-water mark over the RSS before the
call (``/proc/self/clear_refs`` resets the mark just before the call; where that is refused,
``ru_maxrss`` of the fresh process is used) -- the RSS figure also sees OpenCV's own buffers.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "DASK_NUM_WORKERS")
RESULT_MARK = "@@BENCH-RESULT@@ "


def thread_env(n: int) -> dict[str, str]:
    return {k: str(n) for k in THREAD_ENV}


def limit_threads(n: int) -> list[int]:
    """Pin this process to ``n`` cores and tell OpenCV / dask to use ``n`` threads."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > n:
        cpus = cpus[:n]
        os.sched_setaffinity(0, cpus)
    import cv2

    cv2.setNumThreads(n)
    try:
        import dask

        dask.config.set({"num_workers": n})
    except ImportError:
        pass
    return cpus


# --------------------------------------------------------------------------- memory probes
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_kb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --------------------------------------------------------------------------- helpers
def _crop(a, n2=192, n3=(8, 64, 64)):
    if a.ndim == 2:
        return a[:n2, :n2]
    return a[: n3[0], : n3[1], : n3[2]]


def _fit_params(spec, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keep the parameters the op declares; report the others (a name changed upstream)."""
    known = {p.name for p in spec.params}
    kept = {k: v for k, v in params.items() if k in known}
    dropped = [f"{spec.id}: no parameter {k!r} (dropped)" for k in params if k not in known]
    return kept, dropped


def _recipe_for(steps_raw: list[dict[str, Any]]):
    from napari_maskprep import get_op
    from napari_maskprep.recipe import Recipe

    notes: list[str] = []
    steps = []
    for s in steps_raw:
        spec = get_op(s["op"])
        params, dropped = _fit_params(spec, s["params"])
        notes += dropped
        steps.append({"op": s["op"], "params": params})
    return Recipe(steps), notes


class Runner:
    """Callables for one case on one input: ``ours()``, ``ref()``, ``copy()``."""

    def __init__(self, case, data, *, upstream=None):

        self.case = case
        self.data = data if case.input != "upstream" else upstream
        self.notes: list[str] = []
        self.op_params = case.op_params(self.data) if case.op else {}
        self._dst = None  # the memcopy target, made on first use (not in memory jobs)

    # ours
    def ours_fn(self, data=None):
        data = self.data if data is None else data
        if self.case.steps is not None:
            recipe, notes = _recipe_for(list(self.case.steps))
            self.notes += [n for n in notes if n not in self.notes]
            return (lambda: recipe.run(data)), None
        if self.case.op is None:
            from bench_cases import recipe_steps

            recipe, notes = _recipe_for(recipe_steps(self.data.ndim))
            self.notes += [n for n in notes if n not in self.notes]
            return lambda: recipe.run(data), recipe
        from napari_maskprep import get_op

        spec = get_op(self.case.op)
        params, dropped = _fit_params(spec, self.op_params)
        self.notes += [n for n in dropped if n not in self.notes]
        if self.case.preview_from is not None:
            # As the napari widget previews: statistics of the (unchanged) input kept from the
            # preview before, so a changed parameter costs only what depends on it.
            from napari_maskprep.engine.statistics import StatisticCache

            cache = StatisticCache()
            cache.run(spec, data, "upstream", {**params, **self.case.preview_from})
            return (lambda: cache.run(spec, data, "upstream", params)), None
        return (lambda: spec(data, **params)), None

    def ref_fn(self, data=None):
        data = self.data if data is None else data
        if self.case.op is None and self.case.steps is None:
            from bench_cases import ref_recipe_steps

            steps = ref_recipe_steps(self.data.ndim)

            def run():
                x = data
                for _, f in steps:
                    x = f(x)
                return x

            return run
        return lambda: self.case.reference(data, self.op_params)

    def copy(self):
        import numpy as np

        if self._dst is None:
            self._dst = np.empty_like(self.data)
        np.copyto(self._dst, self.data)


BUDGET_S = 4.0  # stop repeating once the repeats of one measurement took this long
# Calls under a millisecond are repeated past ``repeats`` until this long is spent (at most
# MAX_CALLS; not in single-call quick runs): on this shared VM the best of 25 calls of
# 0.05 ms still moved by 10% run to run.
MIN_SPENT_S, MAX_CALLS = 0.2, 1000


def _best(fn, repeats: int) -> tuple[float, list[float], Any]:
    times = []
    out = None
    spent = 0.0
    while len(times) < repeats or (repeats > 1 and spent < MIN_SPENT_S
                                   and len(times) < MAX_CALLS):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
        if spent > BUDGET_S:
            break
    return min(times), times, out


def _steps_ours(recipe, data, repeats):
    best_total, best_steps, out = float("inf"), None, None
    spent = 0.0
    for _ in range(repeats):
        out = None
        steps = []
        t0 = time.perf_counter()
        for _, _, out in recipe.iter_run(data):  # noqa: B007 - the last output is returned
            t1 = time.perf_counter()
            steps.append(t1 - t0)
            t0 = t1
        total = sum(steps)  # a real run's total, before merging the per-step minima
        best_total = min(best_total, total)
        spent += total
        if best_steps is not None:
            steps = [min(a, b) for a, b in zip(best_steps, steps, strict=True)]
        best_steps = steps
        if spent > BUDGET_S:
            break
    return best_total, best_steps, out


def _steps_ref(ndim, data, repeats):
    from bench_cases import ref_recipe_steps

    steps_fns = ref_recipe_steps(ndim)
    best_total, best_steps, out = float("inf"), None, None
    spent = 0.0
    for _ in range(repeats):
        out = data
        steps = []
        for _, f in steps_fns:
            t0 = time.perf_counter()
            out = f(out)
            steps.append(time.perf_counter() - t0)
        total = sum(steps)  # a real run's total, before merging the per-step minima
        best_total = min(best_total, total)
        spent += total
        if best_steps is not None:
            steps = [min(a, b) for a, b in zip(best_steps, steps, strict=True)]
        best_steps = steps
        if spent > BUDGET_S:
            break
    return best_total, best_steps, out


def agreement(ours, ref) -> str:
    """How far our output is from the reference's: mask pixels that differ, or max |diff|."""
    import numpy as np

    if ours is None or ref is None:
        return ""
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    if ours.shape != ref.shape:
        return f"shape {ours.shape} vs {ref.shape}"
    if ref.dtype == bool or (ours.dtype in (np.uint8, np.int32) and ref.dtype.kind in "bi"
                             and ours.max(initial=0) <= 1 and ref.max(initial=0) <= 1):
        diff = int(np.count_nonzero((ours != 0) != (ref != 0)))
        return "same" if diff == 0 else f"{100 * diff / ours.size:.3f}% px differ"
    if ref.dtype.kind in "iu" and ours.dtype.kind in "iu" and ref.max(initial=0) > 1 \
            and ours.dtype == np.int32:  # labels: the foreground, the count, then the ids
        if np.array_equal(ours, ref):
            return "same"
        fg = np.count_nonzero((ours != 0) != (ref != 0))
        ids = np.count_nonzero(ours != ref)
        return (("same fg" if fg == 0 else f"fg {100 * fg / ours.size:.3f}% px differ")
                + f", {ours.max()} vs {ref.max()} labels, ids {100 * ids / ours.size:.3f}% "
                "px differ")
    a, b = ours.astype(np.float64), ref.astype(np.float64)
    scale = ""
    if ref.dtype.kind == "f" and ours.dtype.kind in "iu" and b.max(initial=0) <= 1 < a.max():
        a /= np.iinfo(ours.dtype).max  # the reference returns [0, 1] floats
        scale = " (of 1)"
    d = float(np.max(np.abs(a - b)))
    return "same" if d == 0 else f"max|d|={d:.3g}{scale}"


# --------------------------------------------------------------------------- jobs
def time_job(job: dict[str, Any], inputs) -> dict[str, Any]:
    """Time every case of one (dtype, shape, threads) configuration."""
    import numpy as np
    from bench_cases import ALL

    shape = tuple(job["shape"])
    dtype = job["dtype"]
    repeats = job["repeats"]
    impls = job["impls"]
    out: dict[str, Any] = {"cases": {}}
    upstream = None
    for key in job["cases"]:
        case = ALL[key]
        rec: dict[str, Any] = {}
        out["cases"][key] = rec
        try:
            kind = "mask" if case.input == "mask" else "image"
            data = inputs.get(kind, dtype, shape)
            if case.input == "upstream" and upstream is None:
                upstream = _upstream(data)
            run = Runner(case, data, upstream=upstream)
            if "copy" in impls:
                run.copy()
                rec["copy"] = _best(run.copy, 15)[0]  # cheap: many repeats, stable ratios
                if case.floor is not None:
                    try:
                        case.floor(_crop(run.data))
                        rec["floor"] = _best(functools.partial(case.floor, run.data),
                                             repeats)[0]
                    except Exception as exc:  # e.g. cv2.medianBlur's 16-bit limits
                        rec["floor_error"] = _one_line(exc)
            ours_out = ref_out = None
            if "ours" in impls:
                try:
                    warm, _ = run.ours_fn(_crop(run.data))
                    warm()
                    fn, recipe = run.ours_fn()
                    if recipe is not None:
                        rec["ours"], rec["steps_ours"], ours_out = _steps_ours(
                            recipe, run.data, repeats)
                        rec["step_ops"] = [s.op for s in recipe.steps]
                    else:
                        rec["ours"], rec["ours_all"], ours_out = _best(fn, repeats)
                except Exception as exc:  # an op that is missing or fails: report, go on
                    rec["ours_error"] = _one_line(exc)
            if "ref" in impls and (case.ref is not None or case.op is None):
                mp = float(np.prod(shape)) / 2**20
                if mp <= min(case.ref_max_mp, job.get("ref_max_mp", 16.0)) * 1.01:
                    run.ref_fn(_crop(run.data))()
                    if case.op is None and case.steps is None:
                        rec["ref"], rec["steps_ref"], ref_out = _steps_ref(
                            run.data.ndim, run.data, repeats)
                        from bench_cases import ref_recipe_steps

                        rec["step_refs"] = [n for n, _ in ref_recipe_steps(run.data.ndim)]
                    else:
                        rec["ref"], _, ref_out = _best(run.ref_fn(), repeats)
            if ours_out is not None and ref_out is not None:
                rec["agree"] = agreement(ours_out, ref_out)
            ours_out = ref_out = None
            if run.notes:
                rec["notes"] = run.notes
        except Exception as exc:
            rec["error"] = _one_line(exc)
            rec["trace"] = traceback.format_exc(limit=4)
        gc.collect()
    return out


def _upstream(image):
    """The cached upstream result the preview thresholds: our Gaussian (sigma 2) output."""
    try:
        from napari_maskprep import apply

        return apply("preprocess.gaussian", image, sigma=2.0)
    except Exception:
        import cv2

        return cv2.GaussianBlur(image, (0, 0), 2.0)


def mem_job(job: dict[str, Any], inputs, *, rss: bool = True) -> dict[str, Any]:
    """Peak extra memory of one call of one case (ours or ref), in this fresh process
    (``rss=False``: in-process quick mode, tracemalloc only)."""
    from bench_cases import ALL

    case = ALL[job["case"]]
    shape = tuple(job["shape"])
    kind = "mask" if case.input == "mask" else "image"
    data = inputs.get(kind, job["dtype"], shape)
    upstream = _upstream(data) if case.input == "upstream" else None
    run = Runner(case, data, upstream=upstream)
    impl = job["impl"]
    try:
        if impl == "ours":
            run.ours_fn(_crop(run.data))[0]()
            fn = run.ours_fn()[0]
        else:
            run.ref_fn(_crop(run.data))()
            fn = run.ref_fn()
    except Exception as exc:
        return {"error": _one_line(exc)}
    gc.collect()
    import tracemalloc

    rss0 = _status_kb("VmRSS")
    reset = _reset_hwm() and _status_kb("VmHWM") is not None
    maxrss0 = _maxrss_kb()
    tracemalloc.start()
    result = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if not rss:
        rss_extra, how = None, "not measured in-process"
    elif reset:
        rss_extra = (_status_kb("VmHWM") - rss0) * 1024
        how = "VmHWM after clear_refs"
    else:
        rss_extra = (_maxrss_kb() - max(maxrss0, rss0 or 0)) * 1024
        how = "ru_maxrss"
    del result
    return {"trace": peak, "rss": None if rss_extra is None else max(0, rss_extra), "how": how,
            "pixels": int(run.data.size)}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    from bench_data import Inputs

    cache = job.get("cache_dir")
    inputs = Inputs(Path(cache) if cache else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if job["mode"] == "prepare":
            for kind, dtype, shape in job["items"]:
                inputs.ensure(kind, dtype, tuple(shape))
            result: dict[str, Any] = {}
        elif job["mode"] == "time":
            result = time_job(job, inputs)
        else:
            result = mem_job(job, inputs)
    seen = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
                   for w in caught if not issubclass(w.category, (FutureWarning,))})
    if seen:
        result["warnings"] = seen
    return result


def main() -> None:
    job = json.loads(sys.argv[1])
    limit_threads(int(job.get("threads", 1)))
    try:
        result = run_job(job)
    except Exception as exc:
        result = {"error": _one_line(exc), "trace": traceback.format_exc(limit=6)}
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
