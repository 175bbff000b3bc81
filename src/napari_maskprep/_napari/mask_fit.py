"""Fit the recorded recipe to a mask painted or corrected in napari, without Qt.

:class:`MaskFitJob` holds copies of an image layer's array and a Labels layer's (any label
above 0 is foreground) and runs :func:`napari_maskprep.fit.fit_recipe` on them in a worker
thread; :func:`apply_fit` gives the recorder the fitted parameters on the GUI thread. One
image means no held-out image: the Dice it reports is the one the search maximised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from napari.layers import Image, Labels

from ..core.errors import MaskprepError
from ..fit import FitResult, fit_recipe
from ..recipe import Recipe, RecipeError
from .layers import is_large, layer_array, layer_pixel_size
from .recording import NO_STEPS, RecipeRecorder

__all__ = ["FIT_TRIALS", "MaskFitJob", "apply_fit", "describe_fit"]

FIT_TRIALS = 60  # a few seconds on a 1 MP image with a 4-step recipe on 2 cores


class MaskFitJob:
    """The recipe, an image and its mask: ``run`` searches the recipe's parameters."""

    def __init__(self, recorder: RecipeRecorder, image: Image | None, mask: Labels | None, *,
                 trials: int = FIT_TRIALS) -> None:
        recorder.capture_edits()
        self.recipe: Recipe = recorder.recipe
        if not self.recipe.steps:
            raise RecipeError(NO_STEPS)
        if image is None or mask is None:
            raise RecipeError("pick the image the recipe reads and a Labels layer holding its "
                              "corrected mask")
        for layer in (image, mask):
            if is_large(layer):
                raise RecipeError(f"'{layer.name}' is a pyramid or a lazy array; fitting reads "
                                  "images whole: crop a region into a layer of its own first")
        self.image = np.array(layer_array(image), copy=True)
        self.mask = np.array(layer_array(mask), copy=True)
        self.pixel_size = layer_pixel_size(image)
        self.trials = trials

    def run(self, progress: Callable[[int, int], None] | None = None) -> FitResult:
        try:
            return fit_recipe(self.recipe, [self.image], [self.mask], trials=self.trials,
                              holdout=0, labels=True, progress=progress,
                              pixel_size=self.pixel_size if self.recipe.uses_units else None)
        except MaskprepError as exc:
            raise RecipeError(str(exc)) from None


def apply_fit(recorder: RecipeRecorder, job: MaskFitJob, result: FitResult) -> None:
    """Give the recorder's steps the fitted parameters, if the recipe is still the one that
    was fitted (it may have changed while the search ran): all at once, so a step refusing
    its own leaves the others as they were too, never half the recipe fitted."""
    if recorder.recipe != job.recipe:
        raise RecipeError("the recipe changed while fitting; nothing was changed: fit again")
    changes = {index: new.params for index, (old, new)
               in enumerate(zip(job.recipe.steps, result.recipe.steps, strict=True))
               if new.params != old.params}
    if changes:  # none: the steps, and the view's selection, stay as they are
        recorder.set_all_params(changes)


def describe_fit(result: FitResult) -> str:
    """One line: Dice before and after, and what changed."""
    before, after = result.mean(held_out=False, after=False), result.mean(held_out=False)
    changes = ", ".join(f"{k} {old} → {new}" for k, (old, new) in result.changed.items())
    return (f"Dice {before:.3f} → {after:.3f} in {result.trials} trials; "
            f"{changes or 'no setting beat the recipe as it is'}")
