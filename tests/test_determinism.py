"""The same input gives the same output: every op, every call, every thread count, every process.

Two fresh processes, one on one thread and one on two (cv2, OpenMP, OpenBLAS, MKL and with
them the package's ``thread_budget()``), each with its own hash seed, run every case of
``tests/determinism_cases.py`` twice. The four outputs of a case must be bit-identical: a
fast path that threads, splits into stripes or halves, reuses buffers or lets float noise
decide a tie shows up here as two digests. The processes send back sha256 digests of each
output's shape, dtype and bytes, not the arrays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_maskprep import list_ops
from napari_maskprep.kernels import watershed as _watershed

from .determinism_cases import CASES

WORKER = Path(__file__).with_name("determinism_cases.py")
THREAD_COUNTS = (1, 2)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _worker_run(threads: int) -> dict:
    """Every case run twice in a fresh process on ``threads`` threads."""
    env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, str(threads)),
           "MASKPREP_TEST_THREADS": str(threads),
           # Another hash seed per process: no result may depend on set or dict order.
           "PYTHONHASHSEED": str(threads)}
    done = subprocess.run([sys.executable, str(WORKER)], input=json.dumps(CASES), env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def runs() -> dict[int, dict]:
    """Both processes at once (one case list each): the whole module costs one run."""
    with ThreadPoolExecutor(len(THREAD_COUNTS)) as pool:
        return dict(zip(THREAD_COUNTS, pool.map(_worker_run, THREAD_COUNTS), strict=True))


def test_every_op_is_covered():
    assert {case["op"] for case in CASES} == {spec.id for spec in list_ops()}
    assert len({case["id"] for case in CASES}) == len(CASES)


def test_the_processes_run_on_one_and_two_threads(runs):
    assert runs[1]["thread_budget"] == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cores or 1) < 2:
        pytest.skip("one core: the two-thread process could use one thread only")
    assert runs[2]["thread_budget"] == 2


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_same_output_every_call_thread_count_and_process(runs, case):
    by_output: dict[str, list[str]] = {}  # a digest, or an error ("Type: message")
    for threads in THREAD_COUNTS:
        for call, result in enumerate(runs[threads]["results"][case["id"]], start=1):
            by_output.setdefault(result, []).append(f"{threads} thread(s) call {call}")
    assert not any(":" in result for result in by_output), by_output
    assert len(by_output) == 1, f"{len(by_output)} different outputs: {by_output}"


@pytest.mark.parametrize("radius", [200, 511, 885, 922, 1023])
def test_rounded_squared_distance_is_exact_on_one_and_two_threads(radius):
    # The corner of a quarter disc lies sqrt(radius**2 + 1) from the background. On one thread
    # OpenCV 5.1 returned 922.0 and 1023.0 (885.0 in some processes) for these: their
    # rounded squares were one off.
    yy, xx = np.ogrid[: radius + 2, : radius + 2]
    quarter = yy**2 + xx**2 <= radius**2
    exact = np.rint(ndi.distance_transform_edt(quarter) ** 2)
    assert exact[0, 0] == radius**2 + 1
    threads = cv2.getNumThreads()
    try:
        for count in THREAD_COUNTS:
            cv2.setNumThreads(count)
            for _ in range(3):
                squared = _watershed._squared_distance_to_background(quarter)
                np.testing.assert_array_equal(squared, exact)
    finally:
        cv2.setNumThreads(threads)
