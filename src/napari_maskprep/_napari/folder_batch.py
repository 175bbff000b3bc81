"""The plan of a Recorder batch over a folder, a plate's positions or wells included.

A file of several images (an OME-TIFF of a plate's positions or wells as series) failed in
the batch, its error saying to pass ``--series``, which the Recorder has no box for. Where
the folder holds one, each series of each file runs as an image of its own, as ``maskprep
run --series all`` runs them (masks named ``<stem>_s<N>``); elsewhere masks are named as
they always were.
"""

from __future__ import annotations

from pathlib import Path

from ..batch import BatchPlan, plan_batch
from ..io import find_images, series_numbers
from ..recipe import Recipe

__all__ = ["plan_folder"]


def plan_folder(recipe: Recipe, infolder: Path, outfolder: Path, *, fmt: str, resume: bool,
                channel: int | str | None) -> BatchPlan:
    """The batch of ``recipe`` over the images of ``infolder`` (:func:`~..batch.plan_batch`):
    each series of each file where one holds several; masks beside the inputs, when
    written into their folder, named apart (``_mask``)."""
    plate = any(len(series_numbers(path)) > 1 for path in find_images([infolder]))
    suffix = "_mask" if outfolder.resolve() == infolder.resolve() else ""
    return plan_batch(recipe, [infolder], outfolder, fmt=fmt, resume=resume, channel=channel,
                      suffix=suffix, series="all" if plate else None)
