"""Warnings heard by the context that raised them: nested registrations, warnings passed
on, dask tasks heard with the thread that starts them, and the process's warning state
left as found whatever order threads end in."""

from __future__ import annotations

import threading
import warnings

import dask
import dask.array as da
import pytest

from napari_maskprep import MaskprepWarning
from napari_maskprep.core.thread_warnings import heard, unheard

WAIT_S = 20


@pytest.fixture
def process_hook(monkeypatch) -> list[str]:
    """The messages the process's ``showwarning`` (in place before any was heard) shows."""
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *_: shown.append(str(message)))
    return shown


def _messages(caught) -> list[str]:
    return [str(shown[0]) for shown in caught]


def test_the_innermost_registration_takes_its_context_s_warnings(process_hook):
    outer, inner = [], []
    with heard(outer.append):
        with heard(inner.append, always=MaskprepWarning):
            warnings.warn("inner", MaskprepWarning, stacklevel=1)
        warnings.warn("outer", MaskprepWarning, stacklevel=1)
    assert (_messages(outer), _messages(inner), process_hook) == (["outer"], ["inner"], [])


def test_an_unheard_category_is_dropped_and_other_warnings_go_on_to_the_enclosing(
        process_hook):
    outer = []
    with heard(outer.append), unheard(MaskprepWarning):
        warnings.warn("dropped", MaskprepWarning, stacklevel=1)
        warnings.warn("passed on", UserWarning, stacklevel=1)
    assert (_messages(outer), process_hook) == (["passed on"], [])


@pytest.mark.filterwarnings("always:passed on")
def test_outside_any_registration_other_warnings_go_on_to_the_process_s_hook(process_hook):
    with unheard(MaskprepWarning):
        warnings.warn("dropped", MaskprepWarning, stacklevel=1)
        warnings.warn("passed on", UserWarning, stacklevel=1)
    assert process_hook == ["passed on"]


def test_the_tasks_of_a_dask_compute_are_heard_with_the_thread_that_starts_it(process_hook):
    def warns(block):
        if block.shape == (2, 2):  # a chunk, not dask's probes of the function
            warnings.warn("a note from a chunk", MaskprepWarning, stacklevel=1)
        return block

    caught = []
    with heard(caught.append), dask.config.set(scheduler="threads"):
        da.zeros((4, 4), chunks=2).map_blocks(warns).sum().compute()
    assert (_messages(caught), process_hook) == (["a note from a chunk"] * 4, [])


@pytest.mark.filterwarnings("always:a note from elsewhere")
def test_threads_ending_in_another_order_than_they_began_leave_the_warning_state(
        process_hook):
    previous, filters = warnings.showwarning, list(warnings.filters)
    gates = {name: (threading.Event(), threading.Event()) for name in ("a", "b")}
    caught: dict[str, list] = {"a": [], "b": []}

    def held(name):
        began, let = gates[name]
        with heard(caught[name].append, always=MaskprepWarning):
            began.set()
            let.wait(WAIT_S)
            warnings.warn(f"a note from {name}", MaskprepWarning, stacklevel=1)

    threads = {name: threading.Thread(target=held, args=(name,)) for name in gates}
    for name in ("a", "b"):
        threads[name].start()
        assert gates[name][0].wait(WAIT_S)
    warnings.warn("a note from elsewhere", MaskprepWarning, stacklevel=1)
    for name in ("a", "b"):  # a, begun first, ends first
        gates[name][1].set()
        threads[name].join()
    assert {name: _messages(c) for name, c in caught.items()} == {
        "a": ["a note from a"], "b": ["a note from b"]}
    assert warnings.showwarning is previous
    assert warnings.filters == filters
    warnings.warn("a note from elsewhere", MaskprepWarning, stacklevel=1)
    assert process_hook == ["a note from elsewhere"] * 2


def _note() -> None:
    """One warning always raised at one place (one key in this module's registry)."""
    warnings.warn("a note from one place", MaskprepWarning, stacklevel=1)


@pytest.mark.filterwarnings("default:a note from one place")
def test_a_warning_shown_meanwhile_by_an_unheard_thread_is_still_heard_at_its_place(
        process_hook):
    """'default' marks the place of a warning it shows in its module's registry, and
    ``warnings`` returns at a marked place before it reads any filter: the mark an unheard
    thread left held back a heard context's warning raised there after it."""
    began, let = threading.Event(), threading.Event()
    caught = []

    def held():
        with heard(caught.append, always=MaskprepWarning):
            began.set()
            let.wait(WAIT_S)
            _note()

    thread = threading.Thread(target=held)
    thread.start()
    assert began.wait(WAIT_S)
    _note()
    let.set()
    thread.join()
    assert (_messages(caught), process_hook) == (
        ["a note from one place"], ["a note from one place"])


@pytest.mark.filterwarnings("default:a note from one place")
def test_a_warning_shown_before_at_its_place_is_heard(process_hook):
    caught = []
    _note()
    with heard(caught.append, always=MaskprepWarning):
        _note()
    assert (_messages(caught), process_hook) == (
        ["a note from one place"], ["a note from one place"])


@pytest.mark.filterwarnings("default:a note from one place")
def test_a_router_left_under_another_hook_keeps_default_showing_a_place_once(
        process_hook, monkeypatch):
    """A hook put on top while a context was heard, which later puts back what it found,
    leaves the router as the hook once none is heard: it passes each warning on, and the
    process's 'default' still shows one place once."""
    with heard([].append):
        left = warnings.showwarning
    monkeypatch.setattr(warnings, "showwarning", left)
    _note()
    _note()
    assert process_hook == ["a note from one place"]


def test_catch_warnings_recording_inside_a_registration_records_and_gives_it_back(
        process_hook):
    """Code heard that records its own warnings (pytest.warns, a library's
    catch_warnings(record=True)) takes them, and the registration hears the rest."""
    caught = []
    with heard(caught.append, always=MaskprepWarning):
        with pytest.warns(MaskprepWarning, match="recorded by pytest"):
            warnings.warn("recorded by pytest", MaskprepWarning, stacklevel=1)
        with warnings.catch_warnings(record=True) as recorded:
            warnings.warn("recorded by the library", MaskprepWarning, stacklevel=1)
        warnings.warn("heard after", MaskprepWarning, stacklevel=1)
    assert ([str(x.message) for x in recorded], _messages(caught), process_hook) == (
        ["recorded by the library"], ["heard after"], [])
