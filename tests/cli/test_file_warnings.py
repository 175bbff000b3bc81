"""A batch file's warnings column holds its own warnings, and files run in threads at once
leave the process's warning state as they found it.

A file collected its warnings with ``catch_warnings(record=True)``, which acts on the whole
process (Python 3.11 has no warning state per thread): while it ran, another thread's
warning (a napari preview's) went into the file's column, and two files ending in another
order than they began left one's list where every later warning went.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import tifffile

from napari_maskprep import MaskprepWarning, Recipe
from napari_maskprep.batch import run_file

RECIPE = "maskprep: 1\nsteps:\n- op: segment.threshold\n  params: {value: 100}\n"
WAIT_S = 20


def _process_hook(monkeypatch) -> list[str]:
    """The messages the process's ``showwarning`` (in place before any file ran) shows."""
    heard: list[str] = []

    def previous(message, category, filename, lineno, file=None, line=None):
        heard.append(str(message))

    monkeypatch.setattr(warnings, "showwarning", previous)
    return heard


def _files_held(monkeypatch, tmp_path, names) -> dict[str, tuple[threading.Event, ...]]:
    """An image ``<name>.tif`` for each name (its first pixel numbers it), and a recipe
    run that says it has begun on one, waits until let, then warns its name."""
    gates = {name: (threading.Event(), threading.Event()) for name in names}
    for number, name in enumerate(names, 1):
        image = np.zeros((20, 24), np.uint8)
        image[0, 0] = number
        tifffile.imwrite(tmp_path / f"{name}.tif", image)
    run = Recipe.run

    def held(self, image, **kwargs):
        name = names[int(image[0, 0]) - 1]
        began, let = gates[name]
        began.set()
        let.wait(WAIT_S)
        warnings.warn(f"a note from {name}.tif", MaskprepWarning, stacklevel=1)
        return run(self, image, **kwargs)

    monkeypatch.setattr(Recipe, "run", held)
    return gates


def _run_in_a_thread(tmp_path, name: str, results: dict) -> threading.Thread:
    def file():
        results[name] = run_file(Recipe.loads(RECIPE), tmp_path / f"{name}.tif",
                                 tmp_path / f"{name}-mask.tif")

    thread = threading.Thread(target=file)
    thread.start()
    return thread


@pytest.mark.filterwarnings("always:a note from elsewhere")
def test_a_file_s_warnings_column_holds_only_its_own(tmp_path, monkeypatch):
    heard = _process_hook(monkeypatch)
    (began, let), = _files_held(monkeypatch, tmp_path, ["a"]).values()
    results: dict = {}
    thread = _run_in_a_thread(tmp_path, "a", results)
    assert began.wait(WAIT_S)
    warnings.warn("a note from elsewhere", MaskprepWarning, stacklevel=1)
    let.set()
    thread.join()
    assert (results["a"].status, results["a"].warnings) == ("ok", "a note from a.tif")
    assert heard == ["a note from elsewhere"]


@pytest.mark.filterwarnings("always:a note from elsewhere")
def test_files_ending_in_another_order_than_they_began_leave_the_warning_state(
        tmp_path, monkeypatch):
    heard = _process_hook(monkeypatch)
    previous, filters = warnings.showwarning, list(warnings.filters)
    gates = _files_held(monkeypatch, tmp_path, ["a", "b"])
    results: dict = {}
    threads = {}
    for name in ("a", "b"):
        threads[name] = _run_in_a_thread(tmp_path, name, results)
        assert gates[name][0].wait(WAIT_S)
    for name in ("a", "b"):  # a, begun first, ends first
        gates[name][1].set()
        threads[name].join()
    assert {name: (r.status, r.warnings) for name, r in results.items()} == {
        "a": ("ok", "a note from a.tif"), "b": ("ok", "a note from b.tif")}
    assert warnings.showwarning is previous
    assert warnings.filters == filters
    warnings.warn("a note from elsewhere", MaskprepWarning, stacklevel=1)
    assert heard == ["a note from elsewhere"]
