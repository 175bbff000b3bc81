"""How many threads a kernel may use, and cv2 held to one thread while ours run.

Kernels that split their work (stripes, halves, bands) ask :func:`thread_budget`; the
benchmarks' single-thread runs set cv2 to one thread, and so every kernel follows.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

__all__ = ["STRIPE_MIN_PIXELS", "cv_serial", "thread_budget"]

# Local 2D work on images of at least this many pixels is split over threads: below it the
# threads' start-up costs more than it saves.
STRIPE_MIN_PIXELS = 4 * 2**20


def thread_budget() -> int:
    """Threads an op may use: cv2's setting (1 in the benchmarks' single-thread runs) and no
    more than the cores this process may run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cv2.getNumThreads(), cores or 1))


_cv_serial_lock = threading.Lock()
_cv_serial_users = 0
_cv_saved_threads = 1


@contextmanager
def cv_serial() -> Iterator[None]:
    """cv2 on one thread while stripes run: its own parallel loops nested in ours would
    serialise or oversubscribe the cores (measured: no gain over one unsplit call)."""
    global _cv_serial_users, _cv_saved_threads
    with _cv_serial_lock:
        if _cv_serial_users == 0:
            _cv_saved_threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _cv_serial_users += 1
    try:
        yield
    finally:
        with _cv_serial_lock:
            _cv_serial_users -= 1
            if _cv_serial_users == 0:
                cv2.setNumThreads(_cv_saved_threads)
