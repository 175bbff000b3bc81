"""A tiled run gives the same bytes in every process, on one thread or two, with dask's
threaded or synchronous scheduler: chunks finish in any order, the result must not care."""

from __future__ import annotations

import os
import subprocess
import sys

_SCRIPT = """
import hashlib, os, sys
import cv2
cv2.setNumThreads(int(os.environ["MASKPREP_TEST_THREADS"]))
import dask, dask.array as da, numpy as np
from scipy import ndimage as ndi
import napari_maskprep as mp

rng = np.random.default_rng(4)
image = (ndi.gaussian_filter(rng.random((300, 410)), 4) * 4000).astype(np.uint16)
recipe = mp.Recipe(steps=[
    {"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
    {"op": "segment.auto_threshold", "params": {}},
    {"op": "refine.fill_holes", "params": {}},
    {"op": "refine.remove_small", "params": {"min_size": 20}},
    {"op": "refine.label", "params": {}},
])
with dask.config.set(scheduler=sys.argv[1]):
    labels = recipe.run(da.from_array(image, chunks=(64, 100))).compute()
print(hashlib.sha256(labels.tobytes()).hexdigest(), labels.max())
"""


def _digest(threads: int, scheduler: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "MASKPREP_TEST_THREADS": str(threads),
           "PYTHONHASHSEED": str(threads)}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, scheduler], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_tiled_labels_are_the_same_in_every_process_thread_count_and_scheduler():
    digests = {_digest(threads, scheduler) for threads in (1, 2)
               for scheduler in ("threads", "synchronous")}
    assert len(digests) == 1, digests
    assert int(digests.pop().split()[1]) > 5  # objects were found and numbered
