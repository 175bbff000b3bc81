"""How many threads a kernel may use, and cv2 held to one thread while ours run.

Kernels that split their work (stripes, halves, bands) ask :func:`thread_budget`; the
benchmarks' single-thread runs set cv2 to one thread, and so every kernel follows, as does
each chunk of a tiled run (:func:`one_thread_each`), where the chunks are what runs at once.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import cv2

__all__ = ["STRIPE_MIN_PIXELS", "cv_serial", "one_thread_each", "thread_budget"]

# Local 2D work on images of at least this many pixels is split over threads: below it the
# threads' start-up costs more than it saves.
STRIPE_MIN_PIXELS = 4 * 2**20


_ONE_THREAD: ContextVar[bool] = ContextVar("maskprep_one_thread", default=False)


def thread_budget() -> int:
    """Threads an op may use: cv2's setting (1 in the benchmarks' single-thread runs) and no
    more than the cores this process may run on; 1 within :func:`one_thread_each`."""
    if _ONE_THREAD.get():
        return 1
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


def one_thread_each(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as one of several that dask runs at once (a chunk of a tiled run, a
    frame of a time-lapse): the kernels under it take one thread, as splitting each chunk
    over the cores as well ran 4 threads on 2 cores (the he-nuclei classifier tiled:
    10.8-12.0 -> 9.9-10.7 s, 1.3 MP on 2 cores)."""
    return functools.update_wrapper(_OneThread(function), function)


class _OneThread:
    """A callable of this module (not a closure over its context variable, which cannot be
    pickled), so that a graph holding one still goes to a cluster's workers."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = _ONE_THREAD.set(True)
        try:
            return self.function(*args, **kwargs)
        finally:
            _ONE_THREAD.reset(token)
