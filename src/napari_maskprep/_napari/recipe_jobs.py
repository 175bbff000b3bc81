"""The computations of the Recorder, apart from the viewer: a recipe run on one image
(re-run, replay) and over a folder's images (batch). Their ``run`` touches no viewer state,
so the Recorder's view runs them in worker threads and hands the result back to the model
(:mod:`.recording`) on the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Layer

from ..batch import SUMMARY_NAME, BatchPlan, FileResult, run_batch, write_summary
from ..core.thread_warnings import heard
from ..recipe import Recipe
from .outputs import describe
from .planes import is_time_lapse

__all__ = ["BatchCancelled", "BatchJob", "BatchOutcome", "RunJob"]


class BatchCancelled(Exception):
    """Raised between files of a running batch after :meth:`BatchJob.cancel`."""


def _capture_warnings(func: Callable[[], Any]) -> tuple[Any, list[str]]:
    """``func()`` and the messages of the warnings it gave (edit re-applied or skipped),
    heard in its own thread: catch_warnings would take every thread's, and two replays
    ending in another order than they began left one's list where all later warnings went."""
    caught: list[tuple[Any, ...]] = []
    with heard(caught.append):
        result = func()
    return result, list(dict.fromkeys(str(shown[0]) for shown in caught))


class RunJob:
    """The recipe on one image: ``run`` returns every enabled step's output, by index.

    ``keep_from`` drops the outputs of steps before it as they go (a re-run from a step
    writes only that step's output layer and those after it); ``final_only`` keeps just
    the last output (replay).
    """

    def __init__(self, recipe: Recipe, image: Any, named: Mapping[str, Any], *,
                 keep_from: int = 0, final_only: bool = False, target: Layer | None = None,
                 pixel_size: tuple[float, ...] | None = None) -> None:
        self.recipe = recipe
        self.steps_run = [step.to_dict() for step in recipe.steps]  # the steps share edits
        self.image = image
        self.pixel_size = pixel_size  # for sizes in micrometres: the layer's scale
        self.named = dict(named)
        self.keep_from = keep_from
        self.final_only = final_only
        self.target = target  # the layer a replay (or re-run) read
        self.outputs: dict[int, np.ndarray] = {}
        self.inputs_of: dict[int, np.ndarray] = {}  # what each kept step read (edit bases)
        self.messages: list[str] = []
        self.summary = ""  # the last output's objects and their sizes, once run

    def run(self) -> RunJob:
        def compute() -> None:
            previous = np.asarray(self.image)
            for index, _, output in self.recipe.iter_run(self.image, pixel_size=self.pixel_size,
                                                         **self.named):
                if self.final_only:
                    self.outputs = {index: output}
                elif index >= self.keep_from:
                    self.outputs[index] = output
                    self.inputs_of[index] = previous
                previous = output

        _, self.messages = _capture_warnings(compute)
        if self.outputs:  # here, off the GUI thread
            index, result = max(self.outputs.items(), key=lambda item: item[0])
            frames = self.target is not None and is_time_lapse(self.target)
            self.summary = describe(result, self.recipe.steps[index].spec.output,
                                    self.pixel_size, "frame" if frames else None)
        return self


@dataclass
class BatchOutcome:
    results: list[FileResult]
    summary: Path
    cancelled: bool


class BatchJob:
    """The recipe over the images of a folder, one file at a time; ``cancel`` stops it
    between files. The summary CSV lists the files done, even after a cancel."""

    def __init__(self, plan: BatchPlan) -> None:
        self.plan = plan
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def run(self, progress: Callable[[int, int], None] | None = None) -> BatchOutcome:
        results: list[FileResult] = []
        total = len(self.plan.runs)  # each series of a plate is one

        def on_result(result: FileResult) -> None:
            results.append(result)
            if progress is not None:
                progress(len(results), total)
            if self._cancelled.is_set() and len(results) < total:
                raise BatchCancelled

        cancelled = False
        try:
            run_batch(self.plan, on_result=on_result)
        except BatchCancelled:
            cancelled = True
        summary = write_summary(results, self.plan.outdir / SUMMARY_NAME,
                                merge=self.plan.resume or cancelled)
        return BatchOutcome(results, summary, cancelled)
