"""What a person does faster than a worker finishes: another input chosen while a preview
of the last one computes, progress reported faster than napari's bar repaints."""

from __future__ import annotations

import numpy as np
from napari.components import ViewerModel

import napari_maskprep as mp
from napari_maskprep._napari import _sample_data
from napari_maskprep._napari.applied import is_preview
from napari_maskprep._napari.stage import StageModel


def _open(viewer: ViewerModel, sample: str) -> None:
    for data, kwargs, layer_type in getattr(_sample_data, sample)():
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)


def test_a_preview_of_the_input_chosen_before_is_not_shown_over_the_new_one():
    """A stack's preview arriving once a 2D image was chosen was laid over that image: a
    traceback (a 3D translate for a 2D layer) in the console, or the other image's mask."""
    viewer = ViewerModel()
    _open(viewer, "nuclei_3d")
    _open(viewer, "nuclei")
    stack, image = viewer.layers["nuclei_3d"], viewer.layers["nuclei"]
    model = StageModel(viewer, "segment")
    model.set_op("segment.auto_threshold")
    model.set_input(stack)
    stale = model.request_preview()
    result = stale.run()
    model.set_input(image)  # chosen while that preview computed
    assert not model.is_current(stale)
    assert model.show_preview(stale, result) is None
    assert not any(is_preview(layer) for layer in viewer.layers)

    job = model.request_preview()
    shown = model.show_preview(job, job.run())
    assert shown.name == "nuclei-auto_threshold [preview]"
    np.testing.assert_array_equal(shown.data, mp.apply("segment.auto_threshold", image.data))
