"""Shared test fixtures: paths to the bundled real images and their ground truth; another
thread held inside a dask compute."""

from __future__ import annotations

import contextlib
import csv
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pytest

from napari_maskprep.demo import dice  # noqa: F401 (re-exported for the tests)
from napari_maskprep.io import read_image

DATA = Path(__file__).parent / "data"

# The classical recipe the shared data's README scores (Dice 0.94 on BBBC039).
RECIPE = """\
maskprep: 1
name: test
steps:
- op: preprocess.gaussian
  params: {sigma: 1.0}
- op: segment.auto_threshold
  params: {method: otsu, polarity: auto}
- op: refine.remove_small
  params: {min_size: 20}
- op: refine.fill_holes
"""


def shared_data() -> Path | None:
    """The full image sets beside the checkout (``../shared/data``), when present."""
    env = os.environ.get("MASKPREP_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    return next((p for p in candidates if (p / "README.md").is_file()), None)


def pairs(root: Path, dataset: str, modality: str | None = None) -> list[tuple[Path, Path]]:
    """(image, mask) paths listed in a set's index.csv, optionally of one modality."""
    with open(root / dataset / "index.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if modality in (None, r["modality"])]
    return [(root / dataset / r["image"], root / dataset / r["mask"]) for r in rows]


@pytest.fixture
def nuclei_image() -> np.ndarray:
    """A real 520x696 uint16 fluorescence nuclei image (BBBC039)."""
    image, _ = pairs(DATA, "bbbc039_fluo_nuclei")[0]
    return read_image(image)


@pytest.fixture
def shared() -> Path:
    """The full shared image sets; CI has them beside the checkout."""
    root = shared_data()
    if root is None:
        pytest.skip("../shared/data is not beside this checkout")
    return root


@contextlib.contextmanager
def another_thread_computing() -> Iterator[None]:
    """Another thread inside a dask compute (its one task waiting) from entering the block
    to leaving it: dask's global callbacks are set aside meanwhile."""
    inside, release = threading.Event(), threading.Event()

    def task() -> None:
        inside.set()
        release.wait()

    thread = threading.Thread(target=dask.delayed(task)().compute,
                              kwargs={"scheduler": "threads"})
    thread.start()
    inside.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()
