"""Warnings heard by the context that raised them, in any thread.

``warnings.catch_warnings``, ``simplefilter`` and a replaced ``warnings.showwarning`` act on
the whole process, and Python 3.11 has no warning state per thread or context: code hearing
its warnings that way from a thread (a batch's file, a plugin worker) hears every other
thread's while it runs, its filters hold for every thread, and two overlapping in time, the
first begun ending first, leave the second's hook, list or filters where every later warning
goes. Here code registers where its warnings go (:func:`heard`) in a context variable, so
the tasks of a dask compute it starts (dask's threads run them in a copy of its context: a
tiled run's chunks) are heard with it; while any is registered, one router stands as
``warnings.showwarning``, sending each warning where its context says, and any other to the
hook it replaced (the process's, or napari's notifications).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Hearing", "heard", "in_this_context", "unheard"]

R = TypeVar("R")

Shown = tuple[Any, ...]  # ``showwarning``'s arguments: message, category, filename, lineno, ...


@dataclass(frozen=True)
class _Heard:
    """Where the warnings raised in a context go, the category shown whatever the process's
    filters say, and the registration it is nested in."""

    collect: Callable[[Shown], None]
    always: type[Warning]
    enclosing: _Heard | None


# The innermost registration of this context; None: not heard.
_HEARD: contextvars.ContextVar[_Heard | None] = contextvars.ContextVar(
    "maskprep_heard", default=None)


class _HeardAlways(type):
    def __subclasscheck__(cls, category: type) -> bool:
        heard = _HEARD.get()
        while heard is not None:
            if issubclass(category, heard.always):
                return True
            heard = heard.enclosing
        return False


class _AlwaysHeard(Warning, metaclass=_HeardAlways):
    """The category of one filter: ``warnings`` asks ``issubclass(category, _AlwaysHeard)``,
    true for the categories the registrations of the warning's context show always, so
    one process-wide filter acts per context."""


# A registration's categories are all shown, as superqt's and catch_warnings' 'always' did:
# one shown before at the same place would be held back by 'default', and pytest's 'error'
# would raise it in the op. Other categories go through the process's filters.
_ALWAYS_HEARD = ("always", None, _AlwaysHeard, None, 0)


class _Router:
    """``warnings.showwarning`` while contexts are heard: a warning raised in one goes
    where it registered; any other to the hook this one replaced."""

    def __init__(self, previous: Callable[..., Any]) -> None:
        self.previous = previous

    def __call__(self, *shown: Any) -> None:
        heard = _HEARD.get()
        if heard is None:
            # 'default' marked its place in its module's registry, which warnings reads
            # before any filter: a heard context's warning raised there would be held
            # back. Forgotten, it is shown again there too while any is heard (a router
            # left under another's hook once none is heard forgets nothing).
            if Hearing.running:
                _filters_changed()
            self.previous(*shown)
        else:
            heard.collect(shown)


class Hearing:
    """The router and filter, there from the first :meth:`begin` to the last :meth:`end`,
    from any threads in any order (a count under a lock), so no order in which heard
    contexts end can leave either behind. A hook put on top meanwhile (another viewer's
    notifications) is left there, the router under it."""

    _lock = threading.Lock()
    running = 0
    router: _Router | None = None

    @classmethod
    def begin(cls) -> None:
        with cls._lock:
            if not isinstance(warnings.showwarning, _Router):  # or another hook came on top
                cls.router = _Router(warnings.showwarning)
                warnings.showwarning = cls.router
            if all(entry is not _ALWAYS_HEARD for entry in warnings.filters):
                warnings.filters.insert(0, _ALWAYS_HEARD)
            _filters_changed()
            cls.running += 1

    @classmethod
    def end(cls) -> None:
        with cls._lock:
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
    category object of ours): the places where a warning was shown once are forgotten, or
    'default' would still hold back a heard context's warning shown there before (as a
    ``catch_warnings`` with ``simplefilter`` did each time it began)."""
    changed = getattr(warnings, "_filters_mutated", None)  # private (3.11-3.13 have it)
    if changed is not None:
        changed()


@contextlib.contextmanager
def heard(collect: Callable[[Shown], None], always: type[Warning] = Warning
          ) -> Iterator[None]:
    """Within, every warning raised in this context, or in the tasks of a dask compute it
    starts, goes to ``collect`` (``showwarning``'s arguments), and no other context's: those
    of ``always`` whatever the process's filters say, others as they say (an enclosing
    registration's ``always`` holds too). Nested, the innermost takes them; once out, they
    go where they went before."""
    Hearing.begin()
    token = _HEARD.set(_Heard(collect, always, _HEARD.get()))
    try:
        yield
    finally:
        _HEARD.reset(token)
        Hearing.end()


@contextlib.contextmanager
def unheard(category: type[Warning]) -> Iterator[None]:
    """Within, the warnings of ``category`` raised in this context (or its dask tasks) are
    dropped, and no other context's; any other goes where it would have gone (an enclosing
    :func:`heard`, or the process's hook), the process's filters untouched."""
    enclosing = _HEARD.get()

    def drop(shown: Shown) -> None:
        if issubclass(shown[1], category):
            return
        if enclosing is not None:
            enclosing.collect(shown)
            return
        token = _HEARD.set(None)  # the router passes it to the hook it replaced
        try:
            warnings.showwarning(*shown)
        finally:
            _HEARD.reset(token)

    with heard(drop, always=category):
        yield


def in_this_context(function: Callable[..., R]) -> Callable[..., R]:
    """``function`` to run in threads of the library's own pools (stripes, a feature
    thread) heard where it was made, as dask's threads run a compute's tasks: each call in
    a copy of this context (one context cannot run in two threads at once)."""
    context = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> R:
        return context.copy().run(function, *args, **kwargs)

    return run
