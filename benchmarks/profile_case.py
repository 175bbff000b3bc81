#!/usr/bin/env python
"""Where the time and memory of one benchmark case go (for fixing a NOT MET target).

    python benchmarks/profile_case.py recipe --mp 16            # per-step time + memory
    python benchmarks/profile_case.py small50 --mp 16 --dtype uint8
    python benchmarks/profile_case.py gauss3 --mp 16 --dtype uint16 --threads 1

Runs our op (case keys as in bench_cases.py) on the cached benchmark input, pinned to
``--threads`` cores: best-of-N time, a cProfile of one call (top functions by own time), and
for the recipe each step's time and tracemalloc peak (bytes per pixel, with what the recipe
still holds from earlier steps).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--mp", type=float, default=16)
    ap.add_argument("--dtype", default="uint8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stack", action="store_true", help="the 64x512x512 uint16 stack")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    for k, v in __import__("bench_measure").thread_env(args.threads).items():
        os.environ.setdefault(k, v)
    import bench_measure as bm

    bm.limit_threads(args.threads)
    import numpy as np
    from bench_cases import ALL, recipe_steps
    from bench_data import Inputs, default_cache_dir, side_for

    case = ALL[args.case]
    shape = (64, 512, 512) if args.stack else (side_for(args.mp),) * 2
    dtype = "uint16" if args.stack else args.dtype
    inputs = Inputs(default_cache_dir())
    data = inputs.get("mask" if case.input == "mask" else "image", dtype, shape)
    upstream = bm._upstream(data) if case.input == "upstream" else None
    run = bm.Runner(case, data, upstream=upstream)
    run.copy()
    copy_t = bm._best(run.copy, 5)[0]
    run.ours_fn(bm._crop(run.data))[0]()
    fn, recipe = run.ours_fn()
    best, times, _ = bm._best(fn, args.repeats)
    px = run.data.size
    print(f"{case.label} {dtype} {'x'.join(map(str, shape))}, {args.threads} thread(s): "
          f"best {best * 1e3:.1f} ms of {[round(t * 1e3, 1) for t in times]}; "
          f"memcopy {copy_t * 1e3:.2f} ms -> {best / copy_t:.1f}x; {best * 1e3 / (px / 2**20):.3f} "
          f"ms/MP")
    if run.notes:
        print("notes:", run.notes)
    if recipe is not None:
        print("\nper step (best of 3 for time; tracemalloc peak during the step, B/px):")
        steps = [None] * len(recipe.steps)
        for _ in range(3):
            t0 = time.perf_counter()
            for i, _ in enumerate(recipe.iter_run(run.data)):
                t1 = time.perf_counter()
                steps[i] = min(steps[i] or 1e9, t1 - t0)
                t0 = t1
        x = run.data
        for i, step in enumerate(recipe.steps):
            tracemalloc.start()
            y = step.spec(x, **step.params)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            live = (x.nbytes if i else 0)  # the step's input, held by the recipe
            print(f"  {step.op:24s} {steps[i] * 1e3:8.1f} ms  {steps[i] / copy_t:7.1f}x copy  "
                  f"peak {peak / px:5.2f} B/px (+ input held {live / px:4.2f}) "
                  f"-> out {y.dtype} {y.nbytes / px:.0f} B/px")
            x = y
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(args.top)
    text = s.getvalue()
    body = text[text.find("   ncalls"):]
    print("\ncProfile of one call, by own time:\n" + body.replace(str(Path.cwd()) + "/", ""))
    _ = np, recipe_steps
    return 0


if __name__ == "__main__":
    sys.exit(main())
