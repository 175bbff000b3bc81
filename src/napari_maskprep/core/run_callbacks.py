"""The dask callbacks (progress, cancel) of one run, given to each compute the run makes.

dask's global callbacks (``Callback.active``, what ``with callback:`` and ``register`` add
to) are set aside while any thread computes and put back after, so a counter registered
while another thread computed (a preview in napari) missed the run's tasks, or was
dropped for the rest of the run, and with it the run's Cancel. The run's computes pass its
callbacks to dask's local schedulers instead (``callbacks=``), which leaves the global
set alone; a dask.distributed client runs no such callbacks, so it is given none.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from typing import Any

import dask
from dask.base import get_scheduler
from dask.callbacks import Callback

__all__ = ["compute", "compute_in", "run_callbacks", "store"]

_CALLBACKS: contextvars.ContextVar[tuple[Callback, ...]] = contextvars.ContextVar(
    "maskprep_run_callbacks", default=())


@contextlib.contextmanager
def run_callbacks(*callbacks: Callback) -> Iterator[None]:
    """Within, what this thread computes through :func:`compute` runs ``callbacks``."""
    token = _CALLBACKS.set(callbacks)
    try:
        yield
    finally:
        _CALLBACKS.reset(token)


def compute(*collections: Any, **kwargs: Any) -> tuple[Any, ...]:
    """``dask.compute(*collections, **kwargs)``, with the callbacks of the run under way in
    this thread (:func:`run_callbacks`) on a local scheduler, and those registered
    globally (a caller's ``ProgressBar``) as dask would run them."""
    callbacks = _CALLBACKS.get()
    if not callbacks or not _local(kwargs.get("scheduler")):
        return dask.compute(*collections, **kwargs)
    # dask's pool threads run tasks in a copy of this context: a compute within a task is
    # not one of the run's, and its tasks are not counted twice.
    token = _CALLBACKS.set(())
    try:
        return dask.compute(*collections, callbacks=[
            *(c._callback for c in callbacks), *Callback.active], **kwargs)
    finally:
        _CALLBACKS.reset(token)


def store(source: Any, target: Any, **kwargs: Any) -> None:
    """``dask.array.store(source, target, **kwargs)`` through :func:`compute`."""
    import dask.array as da

    compute(da.store(source, target, compute=False, **kwargs))


def compute_in(pool: Executor, collection: Any) -> Future:
    """``collection`` computed in a thread of ``pool`` as a compute of this thread's run
    (its callbacks with it); the future's result is the computed value."""
    return pool.submit(contextvars.copy_context().run, lambda: compute(collection)[0])


def _local(scheduler: Any) -> bool:
    """Whether ``scheduler`` (None: the active one) is one of dask's local schedulers, not
    a dask.distributed client's."""
    get = get_scheduler(scheduler=scheduler)
    return "Client" not in type(getattr(get, "__self__", None)).__name__
