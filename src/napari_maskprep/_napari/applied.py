"""What a stage's Apply announces, and how its preview layers are told apart (no Qt).

:class:`AppliedStep` is one Apply: the recorded step, the layers read and written. Every
stage model emits it on its own ``applied`` signal and on :data:`applied_steps`, which a
recipe recorder listens to without holding the stage widgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from napari.layers import Layer
from psygnal import Signal

from ..recipe import Step

__all__ = [
    "OUTPUT_OPACITY",
    "PREVIEW_KEY",
    "PREVIEW_SUFFIX",
    "AppliedStep",
    "AppliedSteps",
    "applied_steps",
    "is_preview",
]

PREVIEW_SUFFIX = " [preview]"
PREVIEW_KEY = "maskprep_preview"  # layer metadata flag: a preview is never an input
OUTPUT_OPACITY = 0.5


@dataclass(frozen=True)
class AppliedStep:
    """What one Apply did: the recorded step and the layers it read and wrote.

    ``step.inputs`` maps each extra input role (``seeds``, ``markers``...) to the role's
    own name; ``extra_layers`` says which layer filled it, so a recorder can map it to a
    recipe source. ``kept_layer`` is the previous output of this op on this input, left
    alone because it changed since it was written (painted by hand, refined in place);
    the result went to ``output_layer``, a new layer, instead.
    """

    step: Step
    input_layer: Layer
    extra_layers: Mapping[str, Layer]
    output_layer: Layer
    in_place: bool
    kept_layer: Layer | None = None


class AppliedSteps:
    """Every Apply of every stage widget, for listeners that do not hold the widgets.

    A recipe recorder connects to ``applied_steps.applied`` and keeps the
    :class:`AppliedStep` events whose ``output_layer`` is in its own viewer's layers
    (napari hands plugins proxies of the viewer, so compare layers, not viewers).
    ``writing`` carries a layer an Apply is about to write in place: strokes on it not yet
    recorded must be taken first, or the Apply's write would be taken for all of its change.
    """

    applied = Signal(object)
    writing = Signal(object)


applied_steps = AppliedSteps()


def is_preview(layer: Layer) -> bool:
    return bool(layer.metadata.get(PREVIEW_KEY))

