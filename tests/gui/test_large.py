"""Multiscale and dask-backed layers: preview on what is shown, Apply tiled into OME-Zarr."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import dask.array as da
import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Labels
from napari.utils.notifications import NotificationSeverity

import napari_maskprep as mp
from napari_maskprep._napari import large
from napari_maskprep._napari.applied import PREVIEW_SUFFIX
from napari_maskprep._napari.jobs import ApplyCancelled
from napari_maskprep._napari.large import (
    MAX_PREVIEW_PIXELS,
    TEMPORARY_NOTE,
    RegionPreviewJob,
    TiledApplyJob,
    TiledReplayJob,
    level_params,
)
from napari_maskprep._napari.layers import is_large
from napari_maskprep._napari.recorder import RecorderWidget, _run_outcome
from napari_maskprep._napari.recording import RecipeRecorder
from napari_maskprep._napari.stage import StageModel
from napari_maskprep._napari.workers import Failure, outcome
from napari_maskprep.engine.tiled import check_tiled
from napari_maskprep.io import ImageReadError, open_lazy, write_ome_zarr
from napari_maskprep.ops.segment import EdgeMethod
from napari_maskprep.recipe import RecipeError, Step

from ..conftest import another_thread_computing

ERROR = NotificationSeverity.ERROR
TIMEOUT_MS = 20000
SLIDE = 100_000  # px a side of the fake whole-slide image
CHUNK = 1024


class Reads:
    """Chunks computed, per pyramid level, by block index (counted through map_blocks)."""

    def __init__(self) -> None:
        self.chunks: dict[int, set[tuple[int, ...]]] = {}

    def counted(self, array: da.Array, level: int) -> da.Array:
        def block(x: np.ndarray, block_info=None) -> np.ndarray:
            self.chunks.setdefault(level, set()).add(tuple(block_info[0]["chunk-location"]))
            return x

        return array.map_blocks(block, dtype=array.dtype)

    def clear(self) -> None:
        self.chunks.clear()


def small_pyramid(reads: Reads | None = None, shape=(1200, 1600), levels=3, chunk=256):
    """A random uint8 image and its stride pyramid as dask arrays."""
    image = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    arrays = [da.from_array(image[::2**k, ::2**k], chunks=chunk) for k in range(levels)]
    if reads is not None:
        arrays = [reads.counted(a, k) for k, a in enumerate(arrays)]
    return image, arrays


def slide_pyramid(reads: Reads) -> list[da.Array]:
    """A 100k × 100k lazy pyramid (chunks of 1024) down to about 1.5k, no pixel stored."""
    sides = [SLIDE]
    while sides[-1] > 1600:
        sides.append((sides[-1] + 1) // 2)
    rng = da.random.default_rng(0)
    return [reads.counted(rng.integers(0, 256, (n, n), chunks=CHUNK, dtype=np.uint8), level)
            for level, n in enumerate(sides)]


def chunks_over(lo, hi, chunk=CHUNK) -> set[tuple[int, int]]:
    rows = range(lo[0] // chunk, (hi[0] - 1) // chunk + 1)
    cols = range(lo[1] // chunk, (hi[1] - 1) // chunk + 1)
    return {(r, c) for r in rows for c in cols}


def show(layer, level: int, lo, hi) -> None:
    """What napari does when it draws: the displayed level and its visible corners."""
    layer.data_level = level
    layer.corner_pixels = np.array([lo, [hi[0] - 1, hi[1] - 1]])


def segment_model(viewer, op: str, **params) -> StageModel:
    model = StageModel(viewer, "segment")
    model.set_op(op)
    for name, value in params.items():
        model.set_param(name, value)
    return model


def test_a_pyramid_or_a_dask_array_is_large_a_numpy_array_is_not():
    viewer = ViewerModel()
    _, levels = small_pyramid()
    assert is_large(viewer.add_image(levels, multiscale=True))
    assert is_large(viewer.add_image(levels[0]))
    assert not is_large(viewer.add_image(np.zeros((4, 4))))
    assert not is_large(viewer.add_points([[1.0, 1.0]]))


def test_threshold_preview_is_the_op_on_the_visible_region_of_the_shown_level():
    viewer = ViewerModel()
    image, levels = small_pyramid()
    layer = viewer.add_image(levels, multiscale=True, name="slide", scale=(0.5, 0.5),
                             translate=(10.0, 20.0))
    model = segment_model(viewer, "segment.threshold", value=100.0)
    show(layer, 1, (100, 120), (356, 632))
    job = model.request_preview()
    result = job.run()
    region = image[::2, ::2][100:356, 120:632]
    assert np.array_equal(result, mp.apply("segment.threshold", region, value=100.0))
    preview = model.show_preview(job, result)
    assert isinstance(preview, Labels) and preview.name == f"slide-threshold{PREVIEW_SUFFIX}"
    assert preview.data.dtype == np.uint8 and preview.data.shape == (256, 512)
    assert tuple(preview.scale) == (1.0, 1.0)  # level 1: twice the image's pixel size
    assert tuple(preview.translate) == (10.0 + 100 * 1.0, 20.0 + 120 * 1.0)
    # A pixel of the preview lies over the image pixel it was computed from.
    assert np.array_equal(preview.data_to_world((0, 0)), layer.data_to_world((200, 240)))
    assert job.note == "preview of the visible 512×256 px at pyramid level 1 (1/2)"


@pytest.mark.parametrize("multiscale", [False, True])
def test_a_lazy_layer_s_threshold_spans_its_values_not_its_dtype(multiscale):
    """A dask-backed uint16 layer's threshold slider spanned 0 to 65535 (napari's range for
    a dask array), and its default threshold, the middle, selected nothing."""
    image = np.random.default_rng(3).integers(900, 3100, (2048, 2048), dtype=np.uint16)
    levels = [da.from_array(image[::k, ::k], chunks=256) for k in (1, 2, 4)]
    viewer = ViewerModel()
    layer = viewer.add_image(levels if multiscale else levels[0], multiscale=multiscale)
    model = segment_model(viewer, "segment.threshold")
    model.set_input(layer)
    smallest = image[::4, ::4] if multiscale else image  # its windows cover it whole
    assert model.intensities == (smallest.min(), smallest.max())
    assert 900 <= model.params["value"] <= 3100


def test_dask_layer_previews_the_visible_region_at_full_resolution():
    viewer = ViewerModel()
    image, levels = small_pyramid()
    layer = viewer.add_image(levels[0], name="big")
    model = segment_model(viewer, "segment.threshold", value=50.0)
    layer.corner_pixels = np.array([[10, 30], [409, 829]])
    job = model.request_preview()
    assert np.array_equal(job.run(), mp.apply("segment.threshold", image[10:410, 30:830],
                                              value=50.0))
    assert job.note == "preview of the visible 800×400 px at full resolution"


def test_a_local_op_is_exact_on_the_region_and_its_sizes_follow_the_level():
    viewer = ViewerModel()
    image, levels = small_pyramid()
    layer = viewer.add_image(levels, multiscale=True, name="slide")
    model = StageModel(viewer, "preprocess")
    model.set_op("preprocess.median")
    model.set_param("radius", 6)  # full-resolution pixels: 3 at level 1
    show(layer, 1, (50, 60), (250, 300))
    result = model.request_preview().run()
    whole = mp.apply("preprocess.median", image[::2, ::2], radius=3)
    assert np.array_equal(result, whole[50:250, 60:300])
    spec = mp.get_op("refine.remove_small")
    assert level_params(spec, {"min_size": 64, "connectivity": "full"}, 4.0)["min_size"] == 4
    assert level_params(mp.get_op("refine.open"), {"radius": 1}, 8.0)["radius"] == 1  # min


def test_preview_on_a_100k_slide_reads_only_the_chunks_on_screen():
    viewer = ViewerModel()
    reads = Reads()
    levels = slide_pyramid(reads)
    assert len(levels) == 7 and levels[-1].shape == (1563, 1563)
    layer = viewer.add_image(levels, multiscale=True, name="slide")
    model = segment_model(viewer, "segment.threshold", value=128.0)
    reads.clear()  # napari read the top level's thumbnail

    # As opened: the coarsest level, 2.4 MP, previewed whole.
    model.request_preview().run()
    assert reads.chunks == {6: chunks_over((0, 0), (1563, 1563))}

    # Zoomed in at full resolution: 1024 × 2048 pixels in the middle.
    show(layer, 0, (50_000, 50_000), (51_024, 52_048))
    reads.clear()  # what napari itself read to draw
    result = model.request_preview().run()
    assert result.shape == (1024, 2048)
    assert reads.chunks == {0: chunks_over((50_000, 50_000), (51_024, 52_048))}

    # A wide view is cut to the preview's budget around its centre.
    show(layer, 2, (0, 0), (25_000, 25_000))
    reads.clear()
    job = model.request_preview()
    assert np.prod(job.region.shape) <= MAX_PREVIEW_PIXELS
    job.run()
    assert set(reads.chunks) == {2} and len(reads.chunks[2]) <= 9


def test_auto_threshold_preview_takes_its_threshold_from_a_small_whole_level():
    viewer = ViewerModel()
    reads = Reads()
    layer = viewer.add_image(slide_pyramid(reads), multiscale=True, name="slide")
    model = segment_model(viewer, "segment.auto_threshold")
    show(layer, 0, (50_000, 50_000), (50_512, 50_512))
    reads.clear()
    job = model.request_preview()
    job.run()
    assert reads.chunks == {0: {(48, 48), (48, 49), (49, 48), (49, 49)},
                            6: chunks_over((0, 0), (1563, 1563))}
    assert job.note.endswith("auto_threshold from the whole of level 6 (1563×1563), Apply "
                             "from the full image")
    reads.clear()
    model.set_param("polarity", "dark")  # the statistic is kept: only the region is read
    model.request_preview().run()
    assert set(reads.chunks) == {0}


def test_preview_of_an_op_reading_other_layers_is_refused_in_one_line():
    viewer = ViewerModel()
    _, levels = small_pyramid()
    viewer.add_image(levels, multiscale=True, name="slide")
    viewer.add_points([[5.0, 5.0]], name="seeds")
    model = segment_model(viewer, "segment.region_grow")
    with pytest.raises(ValueError, match="too large to load") as caught:
        model.request_preview()
    assert "\n" not in str(caught.value)


@pytest.fixture
def slide_widget(make_widget, tmp_path):
    """A Segment widget on a small multiscale image whose Apply writes under tmp_path."""

    def make(op: str, **params):
        viewer, widget = make_widget("segment")
        image, levels = small_pyramid()
        layer = viewer.add_image(levels, multiscale=True, name="slide", scale=(0.25, 0.25),
                                 translate=(5.0, 6.0))
        widget.select(op, layer)
        for name, value in params.items():
            widget.param_editors[name].value = value
        widget.store_box.value = tmp_path
        return viewer, widget, image, levels

    return make


def test_apply_on_a_pyramid_runs_tiled_into_an_ome_zarr_store(slide_widget, qtbot, tmp_path):
    viewer, widget, image, levels = slide_widget("segment.auto_threshold", method="li")
    assert not widget.store_box.native.isHidden()
    assert widget.apply() is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    out = viewer.layers["slide-auto_threshold"]
    store = tmp_path / "slide-auto_threshold.zarr"
    assert isinstance(out, Labels) and out.multiscale
    assert out.metadata["maskprep"]["store"] == str(store)
    assert tuple(out.scale) == (0.25, 0.25) and tuple(out.translate) == (5.0, 6.0)
    assert out.data[0].dtype == np.uint8 and len(out.data) == 2  # 1200 × 1600, 600 × 800
    expected = mp.Recipe([{"op": "segment.auto_threshold", "params": {"method": "li"}}])
    assert np.array_equal(np.asarray(out.data[0]), expected.run(levels[0]).compute())
    assert np.array_equal(np.asarray(out.data[0]), expected.run(image))
    mask = expected.run(image)
    objects = int(mp.apply("refine.label", mask).max())
    assert widget.status.value == (f"{objects} objects, {100 * mask.mean():.3g}% of the image")
    with open_lazy(store) as written:
        assert written.pixel_size == (0.25, 0.25)
    assert [p.name for p in tmp_path.iterdir()] == [store.name]  # no work files left
    # Apply again: a new store beside the first, which is never overwritten.
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert (tmp_path / "slide-auto_threshold-2.zarr").is_dir()


def test_apply_on_a_lazy_time_lapse_runs_frame_by_frame(make_widget, qtbot, tmp_path):
    """A lazy (t, y, x) layer, as napari-ome-zarr opens a movie: Apply was refused (a step
    run plane by plane cannot run tiled), though maskprep run segments its frames."""
    viewer, widget = make_widget("segment")
    frames = np.random.default_rng(4).integers(0, 200, (3, 300, 400), dtype=np.uint8)
    frames[1] //= 4  # a dim frame gets a threshold of its own
    layer = viewer.add_image(da.from_array(frames, chunks=(1, 128, 128)), name="movie",
                             axis_labels=("t", "y", "x"), scale=(1.0, 0.5, 0.5))
    widget.select("segment.auto_threshold", layer)
    widget.store_box.value = tmp_path
    assert widget.apply() is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    out = viewer.layers["movie-auto_threshold"]
    expected = np.stack([mp.apply("segment.auto_threshold", frame) for frame in frames])
    np.testing.assert_array_equal(np.asarray(out.data), expected)
    assert tuple(out.axis_labels) == ("t", "y", "x") and tuple(out.scale) == (1.0, 0.5, 0.5)
    with open_lazy(tmp_path / "movie-auto_threshold.zarr") as written:
        assert written.axes == "tyx"
    objects = sum(int(mp.apply("refine.label", frame).max()) for frame in expected)
    assert widget.status.value.startswith(f"{objects} objects, ")


def test_a_cancelled_apply_on_a_lazy_time_lapse_reads_no_frame(tmp_path, monkeypatch):
    """A time-lapse's first frame (run to learn the result's dtype) was computed outside
    the Apply's callbacks: Cancel did not stop it, nor did the progress count it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    viewer = ViewerModel()
    frames = np.random.default_rng(4).integers(0, 200, (3, 300, 400), dtype=np.uint8)
    reads = Reads()
    viewer.add_image(reads.counted(da.from_array(frames, chunks=(1, 128, 128)), 0),
                     name="movie", axis_labels=("t", "y", "x"))
    job = segment_model(viewer, "segment.auto_threshold").prepare_apply()
    assert isinstance(job, TiledApplyJob)
    reads.clear()  # of what napari drew
    job.cancel()
    with pytest.raises(ApplyCancelled):
        job.run()
    assert reads.chunks == {}
    assert list(tmp_path.iterdir()) == []


def test_region_grow_on_a_pyramid_reads_the_seeds_in_level_0_pixels(slide_widget, qtbot,
                                                                    monkeypatch):
    errors = []
    monkeypatch.setattr("napari_maskprep._napari.widgets.show_error", errors.append)
    viewer, widget, image, _ = slide_widget("segment.region_grow", tolerance=40.0)
    pixels = np.array([[100.0, 200.0], [900.0, 1300.0]])
    seeds = viewer.add_points(pixels * 0.25 + (5.0, 6.0), name="clicks")  # world coordinates
    widget.extra_boxes["seeds"].value = seeds
    assert widget.apply() is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert errors == []
    out = viewer.layers["slide-region_grow"]
    expected = mp.apply("segment.region_grow", image, pixels, tolerance=40.0)
    assert 0 < expected.sum() < expected.size  # the seeds grow, and not over everything
    assert np.array_equal(np.asarray(out.data[0]), expected)


def test_a_step_that_cannot_run_tiled_is_refused_before_any_work(slide_widget, shown):
    viewer, widget, _, _ = slide_widget("segment.edges", method=EdgeMethod.SOBEL)
    assert widget.apply() is None
    with pytest.raises(RecipeError) as caught:
        check_tiled([Step("segment.edges", {"method": "sobel"})])
    assert str(caught.value).split(": it ")[-1] in widget.status.value
    assert widget.status.value.startswith("'slide' is too large to load, so Apply runs tiled")
    assert "\n" not in widget.status.value
    assert shown() == [(ERROR, widget.status.value)]
    assert [x.name for x in viewer.layers] == ["slide"]


def test_an_image_result_is_refused_on_a_large_layer(make_widget):
    viewer, widget = make_widget("preprocess")
    _, levels = small_pyramid()
    widget.select("preprocess.gaussian", viewer.add_image(levels, multiscale=True, name="s"))
    assert widget.apply() is None
    assert "writes masks and labels only" in widget.status.value


_REPLAY_INTO_A_TEMPORARY_FOLDER = """
import sys, tempfile
import dask.array as da, numpy as np
from napari.layers import Image
import napari_maskprep as mp
from napari_maskprep._napari.large import TiledReplayJob
from napari_maskprep.io import open_lazy
tempfile.tempdir = sys.argv[1]
image = np.random.default_rng(7).integers(0, 256, (600, 700), dtype=np.uint8)
layer = Image([da.from_array(image, chunks=256), da.from_array(image[::2, ::2])],
              multiscale=True, name="slide")
recipe = mp.Recipe([{"op": "segment.threshold", "params": {"value": 128.0}}])
job = TiledReplayJob(recipe, layer, name="slide-recipe", pixel_size=None).run()
assert np.array_equal(np.asarray(open_lazy(job.store).data), recipe.run(image))
print(job.store, job.summary, sep="\\n")
"""


def test_a_store_in_a_temporary_folder_is_removed_when_napari_closes(tmp_path):
    """A slide's labels take gigabytes: a store no folder was chosen for is written to a
    temporary folder, which stayed behind once napari closed; it is now removed then."""
    done = subprocess.run([sys.executable, "-c", _REPLAY_INTO_A_TEMPORARY_FOLDER,
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    store, summary = done.stdout.splitlines()
    assert store.startswith(str(tmp_path)) and store.endswith("slide-recipe.zarr")
    assert summary.endswith(f"of the image; {TEMPORARY_NOTE}")
    assert list(tmp_path.iterdir()) == []


def test_cancel_leaves_no_store(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    viewer = ViewerModel()
    _, levels = small_pyramid(chunk=128)
    viewer.add_image(levels, multiscale=True, name="slide")
    model = segment_model(viewer, "segment.auto_threshold")
    job = model.prepare_apply()
    assert isinstance(job, TiledApplyJob)
    seen = []

    def cancel_midway(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 5:
            job.cancel()

    with pytest.raises(ApplyCancelled):
        job.run(cancel_midway)
    assert seen[-1][0] == 5 and seen[-1][1] > 5
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_tiled_apply_does_not_cancel_a_later_run_in_its_thread(tmp_path,
                                                                           monkeypatch):
    """dask holds its global callbacks aside while any thread computes and puts the set
    back after, so a cancelled Apply's task counter, registered there, came back into it
    and stopped a later tiled run (a replay) as cancelled: napari showed ApplyCancelled's
    traceback. A run's counter is now given to its own computes, never registered."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    viewer = ViewerModel()
    image, levels = small_pyramid(chunk=256)
    layer = viewer.add_image(levels, multiscale=True, name="slide")
    cancelled = segment_model(viewer, "segment.threshold", value=90.0).prepare_apply()
    cancelled.cancel()
    with another_thread_computing(), pytest.raises(ApplyCancelled):
        cancelled.run()
    step = Step("segment.threshold", {"value": 90.0})
    job = _run_outcome(TiledReplayJob(mp.Recipe([step]), layer, name="slide-recipe",
                                      pixel_size=None))
    assert not isinstance(job, Failure)
    np.testing.assert_array_equal(open_lazy(job.store).data.compute(),
                                  (image > 90).astype(np.uint8))


def test_a_recipe_recorded_on_a_stack_replays_tiled_on_a_large_2d_layer(tmp_path,
                                                                        monkeypatch):
    """A recipe recorded plane by plane (per_plane: true) was refused on a large 2D layer
    ('runs plane by plane (per_plane: true), which tiled runs do not support yet'), where
    one plane is the whole image."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    viewer = ViewerModel()
    image, levels = small_pyramid(chunk=256)
    layer = viewer.add_image(levels, multiscale=True, name="slide")
    recipe = mp.Recipe([Step("preprocess.gaussian", {"sigma": 2.0}, per_plane=True),
                        Step("segment.auto_threshold", {}, per_plane=True),
                        Step("refine.label", {}, per_plane=True)])
    job = _run_outcome(TiledReplayJob(recipe, layer, name="slide-recipe", pixel_size=None))
    assert not isinstance(job, Failure)
    want = recipe.run(image)
    assert want.max() > 50
    np.testing.assert_array_equal(open_lazy(job.store).data.compute(), want)


def test_a_tiled_apply_counts_and_cancels_its_tasks_while_another_thread_computes(
        tmp_path, monkeypatch):
    """dask sets its global callbacks aside while any thread computes (a preview): the
    task counter of a tiled Apply, registered there, missed the tasks run meanwhile (here
    writing the store), and Cancel did not stop them."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    viewer = ViewerModel()
    _, levels = small_pyramid(chunk=128)
    viewer.add_image(levels, multiscale=True, name="slide")
    model = segment_model(viewer, "segment.auto_threshold")

    def seen_by_an_apply() -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        model.prepare_apply().run(lambda done, total: seen.append((done, total)))
        return seen

    alone = seen_by_an_apply()
    assert alone[-1][0] == alone[-1][1] == len(alone) > 100

    def write_while_another_thread_computes(*args, **kwargs):
        with another_thread_computing():
            return write_ome_zarr(*args, **kwargs)

    monkeypatch.setattr(large, "write_ome_zarr", write_while_another_thread_computes)
    assert seen_by_an_apply() == alone
    job = model.prepare_apply()

    def cancel_then_write(*args, **kwargs):
        job.cancel()
        return write_while_another_thread_computes(*args, **kwargs)

    monkeypatch.setattr(large, "write_ome_zarr", cancel_then_write)
    stores = set(tmp_path.iterdir())  # the two Applies'
    with pytest.raises(ApplyCancelled):
        job.run()
    assert set(tmp_path.iterdir()) == stores


def test_the_recorder_records_a_tiled_apply_and_replays_it_tiled(slide_widget, qtbot,
                                                                 tmp_path):
    """A replay on a large layer was refused: "run it with maskprep run"."""
    viewer, widget, image, _ = slide_widget("segment.threshold", value=90.0)
    recorder = RecorderWidget(viewer)
    qtbot.addWidget(recorder.native)
    widget.apply()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    model: RecipeRecorder = recorder.model
    assert [s.op for s in model.recipe.steps] == ["segment.threshold"]
    assert model.records[0].written is None
    with pytest.raises(RecipeError, match="Re-run works on images held in memory"):
        model.rerun_job(0)
    model.load(mp.Recipe([{"op": "segment.threshold", "params": {"value": 90.0}},
                          {"op": "refine.fill_holes"},
                          {"op": "refine.remove_small", "params": {"min_size": 30}}]
                         ).save(tmp_path / "three.maskprep.yaml"))
    recorder.target_box.value = viewer.layers["slide"]
    assert recorder.replay() is not None
    qtbot.waitUntil(lambda: "slide-recipe" in viewer.layers, timeout=TIMEOUT_MS)
    out = viewer.layers["slide-recipe"]
    assert isinstance(out, Labels) and out.multiscale and tuple(out.scale) == (0.25, 0.25)
    assert out.metadata["input"] == "slide"
    expected = model.recipe.run(image)
    np.testing.assert_array_equal(np.asarray(out.data[0]), expected)
    objects = int(mp.apply("refine.label", expected).max())
    assert recorder.status.value == (f"replayed into slide-recipe: {objects} object"
                                     f"{'s' * (objects != 1)}, {100 * expected.mean():.3g}% "
                                     f"of the image; {TEMPORARY_NOTE}")


def test_a_preview_of_an_earlier_view_is_dropped_and_the_layer_follows_the_view():
    viewer = ViewerModel()
    _, levels = small_pyramid()
    layer = viewer.add_image(levels, multiscale=True, name="slide")
    model = segment_model(viewer, "segment.threshold")
    show(layer, 2, (0, 0), (300, 400))
    old = model.request_preview()
    show(layer, 0, (600, 800), (700, 1000))
    new = model.request_preview()
    assert isinstance(old, RegionPreviewJob) and model.show_preview(old, old.run()) is None
    preview = model.show_preview(new, new.run())
    assert preview.data.shape == (100, 200) and tuple(preview.scale) == (1.0, 1.0)
    assert tuple(preview.translate) == (600.0, 800.0)


def test_a_dask_layer_s_threshold_preview_shows_its_histogram_and_threshold(make_widget, qtbot):
    """The preview of a large layer had no histogram: AttributeError in the result slot."""
    viewer, widget = make_widget("segment")
    image, levels = small_pyramid()
    layer = viewer.add_image(levels[0], name="big")
    widget.select("segment.threshold", layer)
    widget.param_editors["value"].value = 100.0
    widget.preview_box.value = True
    qtbot.waitUntil(lambda: widget.histogram.histogram is not None and not widget.previewing,
                    timeout=TIMEOUT_MS)
    assert widget.histogram.thresholds == (100.0,)
    assert int(widget.histogram.histogram.counts.sum()) > 0
    assert f"big-threshold{PREVIEW_SUFFIX}" in viewer.layers


_DAMAGED = "slide.tif level 0: chunk 1.1 cannot be read (damaged)"


@pytest.mark.parametrize(("error", "apply_line", "replay_line"), [
    (ImageReadError(_DAMAGED), _DAMAGED, _DAMAGED),
    (MemoryError(), "segment.threshold on 'slide' failed (MemoryError)",
     "the replay failed (MemoryError)"),
])
def test_a_tiled_apply_or_replay_failing_in_a_chunk_fails_in_one_line(error, apply_line,
                                                                      replay_line):
    """A chunk that cannot be read (ImageReadError, an OSError) or has no memory left
    escaped the workers' one-line failures: napari showed a traceback instead."""
    armed = []

    def damaged(block, block_info=None):
        if armed and block_info[0]["chunk-location"] == (1, 1):
            raise error
        return block

    _, levels = small_pyramid()
    layer = ViewerModel().add_image(levels[0].map_blocks(damaged, dtype=np.uint8),
                                    name="slide")
    armed.append(True)
    step = Step("segment.threshold", {"value": 90.0})
    apply = TiledApplyJob(step.spec, step, layer, pixel_size=None, folder=None)
    replay = TiledReplayJob(mp.Recipe([step]), layer, name="slide-recipe", pixel_size=None)
    assert outcome(apply.run, failed="segment.threshold on 'slide'") == Failure(apply_line)
    assert _run_outcome(replay) == Failure(replay_line)


def test_a_store_folder_that_is_not_one_is_refused_before_any_work(slide_widget, shown,
                                                                   tmp_path):
    """It failed in the worker, naming a work folder inside it ('[Errno 2] No such file or
    directory: '.../.maskprep-work-uie_j8nl')."""
    viewer, widget, _, _ = slide_widget("segment.threshold")
    (tmp_path / "a file").write_text("")
    for folder in (tmp_path / "missing", tmp_path / "a file"):
        widget.store_box.value = folder
        assert widget.apply() is None
        message = (f"the store folder {folder} is not a folder that exists; choose one, or "
                   "leave it empty for a temporary folder")
        assert shown()[-1] == (ERROR, message) and widget.status.value == message
    assert [layer.name for layer in viewer.layers] == ["slide"]
