"""StageModel without Qt: jobs, stale previews, caches, coordinates, in-place safety."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

import napari_maskprep as mp
from napari_maskprep._napari.jobs import ApplyCancelled
from napari_maskprep._napari.layers import points_in
from napari_maskprep._napari.planes import PerPlane
from napari_maskprep._napari.stage import StageModel
from napari_maskprep.ops import _thresholding
from napari_maskprep.samples import load


@pytest.fixture
def nuclei_viewer() -> ViewerModel:
    viewer = ViewerModel()
    image, truth = load("nuclei")
    viewer.add_image(image, name="nuclei")
    viewer.add_labels(truth.astype(np.int32), name="truth")
    return viewer


def test_points_are_converted_to_the_input_layers_pixels():
    viewer = ViewerModel()
    image = viewer.add_image(np.zeros((20, 30)), scale=(0.5, 2.0), translate=(1.0, 4.0))
    clicks = viewer.add_points([[3.0, 10.0]], scale=(1.0, 1.0))  # world coordinates
    np.testing.assert_allclose(points_in(clicks, image), [[4.0, 3.0]])
    stack = ViewerModel().add_image(np.zeros((2, 20, 30)), name="stack")
    with pytest.raises(ValueError, match="2D points but 'stack' is 3D"):
        points_in(clicks, stack)


def test_step_names_extra_inputs_by_role(nuclei_viewer):
    model = StageModel(nuclei_viewer, "segment")
    seeds = nuclei_viewer.add_points([[10.0, 10.0]], name="my clicks")
    model.set_op("segment.region_grow")
    assert model.extra_layers == {"seeds": seeds}
    model.set_param("tolerance", 25.0)
    step = model.step()
    assert step.op == "segment.region_grow" and step.inputs == {"seeds": "seeds"}
    assert step.params == mp.get_op("segment.region_grow").plain_params({"tolerance": 25.0})
    job = model.prepare_apply()
    assert job.extra_layers == {"seeds": seeds} and job.step == step


def test_a_stale_preview_is_dropped(nuclei_viewer):
    model = StageModel(nuclei_viewer, "preprocess")
    model.set_op("preprocess.gaussian")
    first = model.request_preview()
    model.set_param("sigma", 2.0)
    second = model.request_preview()
    assert model.show_preview(first, first.run()) is None
    layer = model.show_preview(second, second.run())
    assert layer.name == "nuclei-gaussian [preview]"
    np.testing.assert_array_equal(layer.data, mp.apply("preprocess.gaussian",
                                                       nuclei_viewer.layers["nuclei"].data,
                                                       sigma=2.0))
    model.remove_preview()
    assert "nuclei-gaussian [preview]" not in nuclei_viewer.layers


def test_a_whole_stack_preview_is_computed_once_for_all_planes():
    viewer = ViewerModel()
    stack = viewer.add_image(load("nuclei_3d")[0], name="stack")
    model = StageModel(viewer, "segment")
    model.set_op("segment.auto_threshold")  # a global statistic: needs the whole stack
    assert model.per_plane_choice is PerPlane.OPTIONAL and not model.effective_per_plane
    job = model.request_preview()
    model.show_preview(job, job.run())
    viewer.dims.set_current_step(0, 3)
    again = model.request_preview()
    assert again.index == (3,) and again.volume is job.whole_stack_result
    np.testing.assert_array_equal(again.run(), mp.apply("segment.auto_threshold",
                                                        stack.data)[3])
    model.set_param("method", "li")
    assert model.request_preview().volume is None


def test_a_threshold_preview_reuses_the_histogram_until_the_data_changes(nuclei_viewer,
                                                                           monkeypatch):
    histograms = []
    histogram = _thresholding.image_histogram
    monkeypatch.setattr(_thresholding, "image_histogram",
                        lambda *a, **k: histograms.append(1) or histogram(*a, **k))
    image = nuclei_viewer.layers["nuclei"]
    model = StageModel(nuclei_viewer, "segment")
    model.set_op("segment.auto_threshold")
    for polarity in ("bright", "dark", "auto"):
        model.set_param("polarity", polarity)
        job = model.request_preview()
        np.testing.assert_array_equal(
            job.run(), mp.apply("segment.auto_threshold", image.data, polarity=polarity))
    assert len(histograms) == 1 + 3  # the preview's one, then the three reference calls
    image.data = image.data // 2  # new data: the kept histogram no longer applies
    job = model.request_preview()
    np.testing.assert_array_equal(job.run(), mp.apply("segment.auto_threshold", image.data))
    assert len(histograms) == 4 + 2


def test_in_place_refuses_when_the_layer_changed_during_the_run(nuclei_viewer):
    mask = nuclei_viewer.add_labels(
        mp.apply("segment.auto_threshold", nuclei_viewer.layers["nuclei"].data), name="mask"
    )
    model = StageModel(nuclei_viewer, "refine")
    model.set_op("refine.open")
    model.set_input(mask)
    model.in_place = True
    job = model.prepare_apply()
    result = job.run()
    mask.paint((100, 100), 1)  # painted while the op ran
    painted = mask.data.copy()
    with pytest.raises(ValueError, match="changed while refine.open ran"):
        model.finish_apply(job, result)
    np.testing.assert_array_equal(mask.data, painted)


def test_in_place_refuses_labels_the_layer_cannot_hold():
    viewer = ViewerModel()
    dots = np.zeros((40, 40), np.uint8)
    dots[::2, ::2] = 1  # 400 separate objects: more labels than uint8 holds
    mask = viewer.add_labels(dots, name="dots")
    model = StageModel(viewer, "refine")
    model.set_op("refine.label")
    model.set_param("connectivity", model.op.param("connectivity").default)
    model.in_place = True
    job = model.prepare_apply()
    with pytest.raises(ValueError, match="untick 'in place'"):
        model.finish_apply(job, job.run())
    np.testing.assert_array_equal(mask.data, dots)


def test_cancel_stops_between_planes():
    stack = np.random.default_rng(0).random((12, 32, 32)).astype(np.float32)
    viewer = ViewerModel()
    viewer.add_image(stack, name="stack")
    model = StageModel(viewer, "preprocess")
    model.set_op("preprocess.gaussian")
    model.set_per_plane(True)
    job = model.prepare_apply()
    planes = []

    def progress(done: int, total: int) -> None:
        planes.append(done)
        if done == 3:
            job.cancel()

    with pytest.raises(ApplyCancelled):
        job.run(progress)
    assert planes == [1, 2, 3]


def test_a_mask_output_is_the_result_array_itself(nuclei_viewer):
    model = StageModel(nuclei_viewer, "segment")
    model.set_op("segment.auto_threshold")
    job = model.prepare_apply()
    result = job.run()
    applied = model.finish_apply(job, result)
    assert applied.output_layer.data is result and result.dtype == np.uint8
