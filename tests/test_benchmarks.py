"""The benchmark harness still runs end to end (quick mode); no time is asserted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE = Path(__file__).resolve().parents[1] / "benchmarks" / "smoke_check.py"


@pytest.mark.skipif(not SMOKE.exists(), reason="benchmarks/ is not part of this checkout")
def test_quick_benchmark_prints_every_target(tmp_path):
    # Quick mode keeps its inputs in memory; any cache or temporary file goes to tmp_path.
    env = {**os.environ, "MASKPREP_BENCH_CACHE": str(tmp_path), "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(SMOKE)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("OK"), proc.stdout
    found = re.search(r"(\d+) target lines", proc.stdout)
    assert found and int(found.group(1)) >= 10, proc.stdout
