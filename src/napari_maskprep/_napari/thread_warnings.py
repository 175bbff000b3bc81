"""Warnings heard by the thread that raised them (no Qt).

``warnings.catch_warnings`` and a replaced ``warnings.showwarning`` act on the whole
process, and Python 3.11 has no warning state per thread or context: code hearing its
warnings that way from a worker thread hears every other thread's while it runs, and two
overlapping in time, the first begun ending first, leave the second's hook (or list) where
every later warning goes. Here a thread registers where its warnings go (:func:`heard`), in
a context variable, so the tasks of a dask compute it starts (dask's threads run them in a
copy of its context: a tiled preview's chunks) are heard with it; while any is registered,
one router stands as ``warnings.showwarning``, set and taken away on the GUI thread, sending
each warning where its context says, and any other to the hook it replaced (napari's
notifications).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Hearing", "heard"]

# Where a warning raised in this context goes (``showwarning``'s arguments); None: not heard.
_HEARD: contextvars.ContextVar[Callable[[tuple[Any, ...]], None] | None] = (
    contextvars.ContextVar("maskprep_heard", default=None))


class _HeardThread:
    """The message pattern of a filter that matches any warning raised where warnings are
    heard (a thread in :func:`heard`, its dask tasks) and none elsewhere (``warnings`` calls
    a pattern's ``match``)."""

    def match(self, _text: str) -> bool:
        return _HEARD.get() is not None


# A heard thread's warnings are all shown, as superqt's and the Recorder's 'always' did:
# one shown before at the same place (an earlier preview's) would be held back by
# 'default', and pytest's 'error' would raise it in the op. Filters of its own (a tiled
# run's probe ignores its warnings) come before this one and still hold.
_ALWAYS_HEARD = ("always", _HeardThread(), Warning, None, 0)


class _Router:
    """``warnings.showwarning`` while threads are heard: a warning raised in one goes
    where it registered; any other to the hook this one replaced."""

    def __init__(self, previous: Callable[..., Any]) -> None:
        self.previous = previous

    def __call__(self, *shown: Any) -> None:
        heard = _HEARD.get()
        if heard is None:
            self.previous(*shown)
        else:
            heard(shown)


class Hearing:
    """The router and filter, there from the first :meth:`begin` to the last :meth:`end`,
    both called on the GUI thread only (a worker's ``start`` runs there and its end comes
    there queued), so no order in which threads end can leave either behind. A hook put on
    top meanwhile (another viewer's notifications) is left there, the router under it."""

    running = 0
    router: _Router | None = None

    @classmethod
    def begin(cls) -> None:
        if not isinstance(warnings.showwarning, _Router):  # or another hook came on top
            cls.router = _Router(warnings.showwarning)
            warnings.showwarning = cls.router
        if all(entry is not _ALWAYS_HEARD for entry in warnings.filters):
            warnings.filters.insert(0, _ALWAYS_HEARD)
            _filters_changed()
        cls.running += 1

    @classmethod
    def end(cls, *_: Any) -> None:
        cls.running -= 1
        if cls.running:
            return
        if cls.router is not None and warnings.showwarning is cls.router:
            warnings.showwarning = cls.router.previous
        cls.router = None
        warnings.filters[:] = [x for x in warnings.filters if x is not _ALWAYS_HEARD]
        _filters_changed()


def _filters_changed() -> None:
    """Tell ``warnings`` its filters changed, as ``filterwarnings`` does (it takes no
    pattern object): the places where a warning was shown once are forgotten, or 'default'
    would still hold back a heard thread's warning shown there before."""
    changed = getattr(warnings, "_filters_mutated", None)  # private (3.11-3.13 have it)
    if changed is not None:
        changed()


@contextlib.contextmanager
def heard(collect: Callable[[tuple[Any, ...]], None]) -> Iterator[None]:
    """Within, every warning raised in this thread, or in the tasks of a dask compute it
    starts, goes to ``collect`` (``showwarning``'s arguments), and no other thread's; once
    out, where it went before. On the GUI thread
    (a job run there, as tests do) this begins and ends the :class:`Hearing`; in another,
    one begun on the GUI thread must hold (a plugin worker's ``start`` begins one)."""
    on_gui = threading.current_thread() is threading.main_thread()
    if on_gui:
        Hearing.begin()
    token = _HEARD.set(collect)
    try:
        yield
    finally:
        _HEARD.reset(token)
        if on_gui:
            Hearing.end()
