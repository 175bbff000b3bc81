#!/usr/bin/env python
"""Smoke check of the benchmark harness (no pytest): ``python benchmarks/smoke_check.py``.

Runs ``python benchmarks/run.py --quick`` and checks more than "no crash": exit status 0,
every table and every target line printed, the recipe timed for both sides, and no op failing
on the benchmark images. Times are never asserted. Exit 0 when all holds, 1 otherwise.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

RUN = Path(__file__).resolve().with_name("run.py")
SECTIONS = (
    "== 2D ops, uint8",
    "== 2D ops, uint16",
    "== 5-step recipe",
    "-- recipe steps",
    "== preview of a changed threshold",
    "== targets ==",
)
TARGETS = (
    "ref/ours 1 thread",
    "ref/ours 2 threads",
    "ours/memcopy 1 thread",
    "peak extra memory",
    "ALL 2D local ops",
    "every op at least as fast as its reference",
    "ms/MP within",
    "recipe 3D",
    "preview segment.threshold",
    "preview segment.auto_threshold",
)


def main() -> int:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(RUN), "--quick"], capture_output=True, text=True,
                          timeout=600)
    elapsed = time.perf_counter() - t0
    out = proc.stdout
    problems = []
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
        problems.append(f"exit status {proc.returncode}: {tail}")
    problems += [f"missing section {s!r}" for s in SECTIONS if s not in out]
    target_lines = [ln for ln in out.splitlines() if re.match(r"^(MET|NOT MET) ", ln)]
    problems += [f"missing target line {t!r}" for t in TARGETS
                 if not any(t in ln for ln in target_lines)]
    recipe = [ln for ln in out.splitlines() if ln.startswith("recipe 2D uint8")]
    if not recipe or any(" n/a " in ln for ln in recipe):
        problems.append("the 2D recipe was not timed: " + (recipe[0] if recipe else "no row"))
    if "\nerrors:" in out:
        errors = out.split("\nerrors:", 1)[1].split("\nwarnings", 1)[0].strip()
        problems.append("ops failed on the benchmark images:\n    " + errors.replace("\n", "\n  "))
    print(f"benchmarks/run.py --quick: {elapsed:.0f} s, {len(target_lines)} target lines"
          + ("" if elapsed < 60 else " (over the 60 s budget of the quick mode)"))
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print("OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
