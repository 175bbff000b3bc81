"""What a dock widget needs to run jobs in napari's worker threads (Qt only): workers that
hear their own warnings, results and one-line failures instead of tracebacks, progress
carried to the GUI thread, and a call back when the widget is hidden."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from napari.qt.threading import FunctionWorker
from napari.qt.threading import create_worker as napari_worker
from napari.utils.notifications import show_warning
from psygnal import EmitLoopError
from qtpy.QtCore import QEvent, QObject, Signal

from ..core.thread_warnings import heard
from .jobs import ApplyCancelled
from .rollback import NOT_PUT_BACK, FollowedState, ViewerState

__all__ = ["JOB_ERRORS", "Failure", "HideWatcher", "ProgressRelay", "announced_outcome",
           "create_worker", "error_line", "outcome", "show_worker_warning", "written_outcome"]

_LOG = logging.getLogger(__name__)


class HideWatcher(QObject):
    """Calls back when the watched widget is hidden (its dock closed or tabbed away)."""

    def __init__(self, watched: Any, on_hide: Any) -> None:
        super().__init__(watched)
        self._on_hide = on_hide
        watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Hide:
            self._on_hide()
        return False


class ProgressRelay(QObject):
    """Carries (done, total) from the worker thread to the GUI thread (queued signal)."""

    advanced = Signal(int, int)


@dataclass(frozen=True)
class Failure:
    """What a worker returns instead of raising (superqt would show a traceback), with the
    error's notes (what was done about it: a region's store put back)."""

    message: str
    cancelled: bool = False
    notes: tuple[str, ...] = ()


def error_line(exc: BaseException, failed: str) -> str:
    """The one line a person is shown for ``exc``: its message's first line; for an error
    without one, or whose text is no message (a KeyError's key), what ``failed`` and the
    error's kind ("training failed (KeyError: 'x')")."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text and not isinstance(exc, LookupError):
        return text
    return f"{failed} failed ({type(exc).__name__}{': ' + text if text else ''})"


# What a job's bad input or its machine can raise: OSError for a tiled run's damaged tile
# (ImageReadError) or a full disk, MemoryError for an image too large for what is free.
JOB_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, OSError, MemoryError)


def _bug_line(exc: BaseException, failed: str) -> str:
    """The one line a person is shown for an error no input explains (a bug), whose
    traceback :func:`outcome` logged: what ``failed``, the error's kind and its text (a
    listener's own, not psygnal's wrapper saying a callback raised)."""
    while isinstance(exc, EmitLoopError) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"{failed} failed ({type(exc).__name__}{': ' + text if text else ''}); "
            "a bug: its traceback is logged")


def outcome(func: Any, *args: Any, failed: str,
            caught: tuple[type[Exception], ...] = JOB_ERRORS) -> Any:
    """The function's result, or the one-line error the user is shown instead (for an
    error without a message, what ``failed`` and its kind: :func:`error_line`). Any other
    error is a bug: one line too (raised, it would reach napari as a traceback), and its
    traceback is logged for a report."""
    try:
        return func(*args)
    except ApplyCancelled:
        return Failure("cancelled", cancelled=True)
    except caught as exc:
        return Failure(error_line(exc, failed), notes=tuple(getattr(exc, "__notes__", ())))
    except Exception as exc:
        _LOG.exception("%s failed", failed)
        return Failure(_bug_line(exc, failed), notes=tuple(getattr(exc, "__notes__", ())))


def written_outcome(viewer: Any, func: Any, *args: Any, failed: str,
                    caught: tuple[type[Exception], ...]) -> Any:
    """:func:`outcome` of ``func`` writing a worker's result into ``viewer`` (GUI thread:
    raised there, a bug too reached napari as a traceback); on a failure, the layers it
    added are removed and those it changed put back (:class:`.rollback.ViewerState`), so
    none is left half made, half written, or a preview named as an output; a part that
    could not be put back (a bug, logged) is said after the writer's error."""
    before = ViewerState(viewer)
    result = outcome(func, *args, failed=failed, caught=caught)
    if isinstance(result, Failure) and not before.restore():
        return replace(result, message=f"{result.message}; {NOT_PUT_BACK}")
    return result


def announced_outcome(viewer: Any, announce: Callable[[], None], *, failed: str) -> Any:
    """:func:`outcome` of ``announce`` telling listeners (a Recorder) of a step written into
    ``viewer`` in an earlier event-loop turn, outside :func:`written_outcome`: raised there,
    a bug reached napari as a traceback, its listener left half updated. On a failure (a
    bug: a line naming it, its traceback logged) the :func:`.rollback.follow`-ed models
    are put back, and the layers kept as written: the output is the person's result."""
    before = FollowedState(viewer)
    result = outcome(announce, failed=failed, caught=())
    if isinstance(result, Failure):
        before.restore()
    return result


def show_worker_warning(warning: tuple[Any, ...]) -> None:
    """A worker's warning (``showwarning`` arguments) as a one-line notification."""
    show_warning(str(warning[0]))


class _Worker(FunctionWorker):
    """napari's worker for a plain function, hearing its warnings in its own thread.

    superqt's ``run`` hears them by replacing ``warnings.showwarning`` and the filters for
    the whole process, from the worker's thread, and restores what it found when it ends:
    workers overlapping in time heard each other's warnings, and one begun first and ended
    first left its hook in place for good. Here they reach its ``warned`` as superqt's did,
    from its thread and the dask tasks it starts (:mod:`..core.thread_warnings`); ``run`` is
    otherwise superqt's for a plain function: started, returned unless aborted, errored,
    finished."""

    def run(self) -> None:
        self.started.emit()
        self._running = True
        try:
            with heard(self.warned.emit):
                result = self.work()
            if not self.abort_requested:
                self.returned.emit(result)
        except Exception as exc:
            self.errored.emit(exc)
        self._running = False
        self.finished.emit()
        self._finished.emit(self)


def create_worker(func: Callable[..., Any], *args: Any, **kwargs: Any) -> _Worker:
    """napari's ``create_worker`` for ``func(*args, **kwargs)``, whose warnings reach its
    ``warned`` alone, and every other thread's the hook that was there before."""
    return napari_worker(func, *args, _worker_class=_Worker, **kwargs)
