"""The tiled executor equals the in-memory run bit for bit, on real-image mosaics cut in
chunks of 256-512 px (2D) and small bricks (3D), and refuses what it cannot run before any
work."""

from __future__ import annotations

import gc
import os
import tempfile
import threading

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.core import MaskprepWarning
from napari_maskprep.core.errors import RecipeError
from napari_maskprep.engine.tiled import check_tiled, run_tiled
from napari_maskprep.io import read_image

from ..conftest import DATA, pairs

_2D_RECIPES = {
    "gauss-otsu-open": [("preprocess.gaussian", {"sigma": 2.0}),
                        ("segment.auto_threshold", {"method": "otsu"}),
                        ("refine.open", {"radius": 3})],
    "median-multiotsu-close-dilate": [("preprocess.median", {"radius": 2}),
                                      ("segment.multi_threshold", {"classes": 3}),
                                      ("refine.close", {"radius": 2}),
                                      ("refine.dilate", {"radius": 1})],
    "li-auto": [("segment.auto_threshold", {"method": "li", "polarity": "auto"})],
    "minimum-invert": [("preprocess.invert", {}),
                       ("segment.auto_threshold", {"method": "minimum"})],
    "otsu-fill-remove-label": [("preprocess.gaussian", {"sigma": 1.0}),
                               ("segment.auto_threshold", {}),
                               ("refine.fill_holes", {"max_hole_size": 200}),
                               ("refine.remove_small", {"min_size": 40}),
                               ("refine.label", {})],
    "li-clear-large-largest": [("segment.auto_threshold", {"method": "li"}),
                               ("refine.clear_border", {"connectivity": "faces"}),
                               ("refine.remove_large", {"max_size": 3000}),
                               ("refine.fill_holes", {}),
                               ("refine.keep_largest", {})],
    "background-local": [("preprocess.background", {"radius": 10}),
                         ("segment.local_threshold", {}),
                         ("refine.erode", {"radius": 1})],
}


def _recipe(steps: list[tuple[str, dict]]) -> mp.Recipe:
    return mp.Recipe(steps=[{"op": op, "params": params} for op, params in steps])


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    """Four real 520x696 uint16 nuclei fields side by side: 1040x1392."""
    fields = [read_image(image) for image, _ in pairs(DATA, "bbbc039_fluo_nuclei")[:4]]
    return np.block([[fields[0], fields[1]], [fields[2], fields[3]]])


def _assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(_2D_RECIPES))
@pytest.mark.parametrize("dtype", ["uint16", "uint8"])
@pytest.mark.parametrize("chunks", [256, (300, 512)])
def test_tiled_equals_in_memory_2d(mosaic, name, dtype, chunks):
    image = mosaic if dtype == "uint16" else (mosaic >> 4).clip(0, 255).astype(np.uint8)
    recipe = _recipe(_2D_RECIPES[name])
    want = recipe.run(image)
    got = run_tiled(recipe.steps, da.from_array(image, chunks=chunks))
    assert isinstance(got, da.Array)
    _assert_same(got.compute(), want)


@pytest.mark.parametrize("sigma", [1.0, 3.5])
def test_gaussian_of_a_wide_image_is_the_same_in_chunks(mosaic, sigma):
    """Wide uint8 images take another Gaussian path in memory (float32 tiles)."""
    wide = (np.hstack([mosaic, mosaic[:, ::-1], mosaic]) >> 4).clip(0, 255).astype(np.uint8)
    recipe = _recipe([("preprocess.gaussian", {"sigma": sigma})])
    want = recipe.run(wide)
    for chunks in [(520, 512), (256, 2048)]:
        _assert_same(run_tiled(recipe.steps, da.from_array(wide, chunks=chunks)).compute(),
                     want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunks", [(256, 300), (333, 517)])
def test_float_local_steps_are_the_same_in_chunks(mosaic, dtype, chunks):
    """cv2's vector loop and its scalar tail round a float pixel differently: chunks are
    read on the op's grid (align) so each column falls where it does in the whole image
    (unaligned, 1565 pixels of a float32 Gaussian differed by one step)."""
    image = (mosaic / mosaic.max()).astype(dtype)
    recipe = _recipe([("preprocess.gaussian", {"sigma": 1.0}),
                      ("preprocess.median", {"radius": 1}),
                      ("preprocess.gaussian", {"sigma": 2.5})])
    _assert_same(run_tiled(recipe.steps, da.from_array(image, chunks=chunks)).compute(),
                 recipe.run(image))
    volume = np.stack([image[:200, :700], image[200:400, 100:800]])
    _assert_same(run_tiled(recipe.steps[:1], da.from_array(volume, chunks=(1, 96, 250)))
                 .compute(), recipe.steps[0].spec(volume, sigma=1.0))


@pytest.mark.parametrize("chunks", [(3, 50), (257, 16), ((100, 57, 100), (48, 335))])
def test_uint8_gaussian_is_the_same_in_narrow_column_chunks(chunks):
    """cv2's uint8 filter steps 32 columns at a time and a row's last 16 in a shorter
    vector: read from multiples of 16 only, pixel (215, 364) of this crop was 1 grey level
    off."""
    path = next((DATA / "bbbc039_fluo_nuclei" / "images").glob("IXMtest_A06_*.tif"))
    image = (read_image(path)[:257, :383] >> 4).clip(0, 255).astype(np.uint8)
    recipe = _recipe([("preprocess.gaussian", {"sigma": 1.0})])
    _assert_same(run_tiled(recipe.steps, da.from_array(image, chunks=chunks)).compute(),
                 recipe.run(image))


@pytest.mark.parametrize("chunks", [(8, 32, 32), (5, 20, 40)])
def test_tiled_equals_in_memory_3d(chunks):
    volume = read_image(next((DATA / "stardist_synthetic_3d" / "images").glob("*.tif")))
    recipe = _recipe([("preprocess.gaussian", {"sigma": 1.5}),
                      ("segment.auto_threshold", {}),
                      ("refine.open", {"radius": 1}),
                      ("refine.smooth", {"radius": 1})])
    _assert_same(run_tiled(recipe.steps, da.from_array(volume, chunks=chunks)).compute(),
                 recipe.run(volume))


def test_objects_cross_the_chunk_edges_of_the_mosaic(mosaic):
    """The component recipes above are tested where it matters: many nuclei lie across
    the 256 px chunk edges, and their labels are the in-memory ones."""
    labels = _recipe(_2D_RECIPES["otsu-fill-remove-label"]).run(mosaic)
    crossing = set()
    for axis in (0, 1):
        for edge in range(256, mosaic.shape[axis], 256):
            before, after = (np.take(labels, edge - 1, axis=axis),
                             np.take(labels, edge, axis=axis))
            crossing |= set(before[(before > 0) & (before == after)].tolist())
    assert len(crossing) > 20


@pytest.mark.parametrize("chunks", [(8, 32, 32), (16, 7, 50)])
def test_components_in_3d_bricks(chunks):
    volume = read_image(next((DATA / "stardist_synthetic_3d" / "images").glob("*.tif")))
    for steps in ([("segment.auto_threshold", {}), ("refine.fill_holes", {}),
                   ("refine.remove_small", {"min_size": 30, "connectivity": "faces"}),
                   ("refine.label", {})],
                  [("segment.auto_threshold", {}), ("refine.clear_border", {}),
                   ("refine.keep_largest", {})]):
        recipe = _recipe(steps)
        _assert_same(run_tiled(recipe.steps, da.from_array(volume, chunks=chunks)).compute(),
                     recipe.run(volume))


def test_components_of_labels_are_refused_before_any_pass_over_the_chunks():
    computed = []

    def count(block):
        computed.extend([block.shape] if block.size else [])  # dask also probes empty ones
        return block

    image = da.zeros((256, 256), dtype=np.uint8, chunks=32).map_blocks(count, dtype=np.uint8)
    recipe = _recipe([("segment.threshold", {"value": 0}), ("refine.label", {}),
                      ("refine.remove_small", {})])
    with pytest.raises(RecipeError, match=r"^step 3 \(refine.remove_small\): a tiled run takes "
                                          r"a 0/1 mask here, not labels"):
        run_tiled(recipe.steps, image)
    assert len(computed) == 4  # of 64: the 64 px corner every step is first tried on


def test_colour_image_in_chunks_split_across_channels():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (300, 410, 3), dtype=np.uint8)
    recipe = _recipe([("preprocess.to_gray", {}), ("preprocess.gaussian", {"sigma": 1.0}),
                      ("segment.auto_threshold", {})])
    got = run_tiled(recipe.steps, da.from_array(rgb, chunks=(128, 128, 1)))
    _assert_same(got.compute(), recipe.run(rgb))


def test_a_colour_image_thresholded_to_grey_before_an_opening():
    """The threshold runs on each chunk before the chunks are stored for the opening, and
    drops the colour axis it took as an image axis (an IndexError before the fix)."""
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (300, 410, 3), dtype=np.uint8)
    recipe = _recipe([("segment.threshold", {"value": 120}), ("refine.open", {"radius": 1})])
    with pytest.warns(MaskprepWarning, match="converted to grey"):
        got = run_tiled(recipe.steps, da.from_array(rgb, chunks=(128, 128, 3))).compute()
    with pytest.warns(MaskprepWarning, match="converted to grey"):
        _assert_same(got, recipe.run(rgb))


def test_recipe_run_on_a_dask_array_returns_a_dask_array(mosaic):
    recipe = _recipe(_2D_RECIPES["gauss-otsu-open"])
    got = recipe.run(da.from_array(mosaic, chunks=512))
    assert isinstance(got, da.Array)
    _assert_same(got.compute(), recipe.run(mosaic))


def _per_plane(steps: list[tuple[str, dict]]) -> mp.Recipe:
    """A recipe recorded on a stack: each step plane by plane."""
    return mp.Recipe(steps=[{"op": op, "per_plane": True, "params": params}
                            for op, params in steps])


@pytest.mark.parametrize("colour", [False, True])
def test_a_per_plane_recipe_runs_tiled_on_one_plane_as_in_memory(mosaic, colour):
    """A recipe recorded on a stack (per_plane: true) was refused tiled on a large 2D
    image ('runs plane by plane, which tiled runs do not support yet'), where plane by
    plane is the whole image; in memory it runs."""
    recipe = _per_plane([("preprocess.to_gray", {})] * colour
                        + _2D_RECIPES["otsu-fill-remove-label"])
    image = mosaic[:, :, None].repeat(3, axis=2) if colour else mosaic
    got = recipe.run(da.from_array(image, chunks=(256, 300, 3)[:image.ndim])).compute()
    want = recipe.run(image)
    assert want.max() > 50
    _assert_same(got, want)


def test_a_per_plane_step_on_a_stack_is_still_refused_tiled():
    stack = da.zeros((2, 64, 64), dtype=np.uint8, chunks=32)
    with pytest.raises(RecipeError, match=r"^step 1 \(preprocess.gaussian\) cannot run tiled: "
                       r"it runs plane by plane \(per_plane: true\), which tiled runs do not "
                       r"support yet$"):
        run_tiled(_per_plane([("preprocess.gaussian", {"sigma": 1.0})]).steps, stack)


def test_whole_image_ops_are_refused_before_any_work():
    def explode(block):
        raise AssertionError("a chunk was computed")

    image = da.zeros((64, 64), dtype=np.uint8, chunks=32).map_blocks(explode, dtype=np.uint8)
    steps = [mp.recipe.Step("preprocess.median", {}),
             mp.recipe.Step("segment.edges", {"method": "sobel"})]
    with pytest.raises(RecipeError, match=r"^step 2 \(segment.edges\) cannot run tiled: "):
        run_tiled(steps, image)
    check_tiled(_recipe([("refine.open", {"radius": 1})]).steps)


def test_a_float_image_into_a_tiled_threshold_is_one_line():
    image = da.from_array(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64),
                          chunks=32)
    with pytest.raises(RecipeError, match=r"^step 1 \(segment.auto_threshold\): a tiled run "
                                          r"needs an 8- or 16-bit integer image here; got "
                                          r"float32"):
        run_tiled(_recipe([("segment.auto_threshold", {})]).steps, image)
    mask = da.from_array(np.eye(64, dtype=bool), chunks=32)  # named as given, not as float32
    with pytest.raises(RecipeError, match=r"needs an 8- or 16-bit integer image here; got bool "):
        run_tiled(_recipe([("segment.auto_threshold", {})]).steps, mask)


def test_a_dtype_an_earlier_step_gave_is_said_to_come_from_it():
    """A bool image's Gaussian is float32: 'got float32' alone named a dtype never given."""
    mask = da.from_array(np.eye(64, dtype=bool), chunks=32)
    steps = _recipe([("preprocess.gaussian", {}), ("segment.auto_threshold", {})]).steps
    with pytest.raises(RecipeError) as info:
        run_tiled(steps, mask)
    assert str(info.value) == (
        "step 2 (segment.auto_threshold): a tiled run needs an 8- or 16-bit integer image "
        "here; got float32 (run it in memory, or convert the image first); step 1 "
        "(preprocess.gaussian) gives float32 for the bool image")
    image = da.from_array(np.eye(64, dtype=np.float32), chunks=32)  # float32 as given
    with pytest.raises(RecipeError) as info:
        run_tiled(steps, image)
    assert str(info.value).endswith("got float32 (run it in memory, or convert the image "
                                    "first)")


def test_bad_parameters_raise_before_any_chunk_runs():
    image = da.zeros((64, 64), dtype=np.uint8, chunks=32)
    with pytest.raises(RecipeError, match=r"^step 1 \(preprocess.median\): "):
        run_tiled([mp.recipe.Step("preprocess.median", {"radius": 0})], image)


def test_unknown_chunk_sizes_are_one_line_before_any_work():
    image = da.from_array(np.arange(48, dtype=np.uint8).reshape(6, 8), chunks=(3, 4))
    rows = image[image[:, 0] > 10]  # boolean indexing: rows of unknown count
    with pytest.raises(RecipeError, match=r"^the dask array's chunk sizes are unknown "
                       r"\(shape \(nan, 8\)\); accepted: known sizes \(call "
                       r"\.compute_chunk_sizes\(\) on it first\)$"):
        mp.Recipe([{"op": "segment.auto_threshold"}]).run(rows)


def test_a_masked_dask_array_is_refused_not_run_without_its_mask():
    # In memory a masked array is refused; the Gaussian's chunks ignored the mask.
    values = np.arange(48, dtype=np.uint8).reshape(6, 8)
    image = da.ma.masked_array(da.from_array(values, chunks=(3, 4)), mask=values > 40)
    with pytest.raises(RecipeError, match=r"^the dask array is masked, and a tiled run "
                       r"would ignore its mask; accepted: a plain dask array "):
        mp.Recipe([{"op": "preprocess.gaussian"}]).run(image)


def test_stored_inputs_are_removed_once_no_graph_reads_them(tmp_path, mosaic):
    recipe = _recipe(_2D_RECIPES["gauss-otsu-open"])
    got = run_tiled(recipe.steps, da.from_array(mosaic, chunks=512), workdir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1  # the Gaussian's output, read by Otsu
    got.compute()
    del got
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_work_folder_goes_with_the_last_array_read_from_it(tmp_path, monkeypatch,
                                                                         mosaic):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    recipe = _recipe(_2D_RECIPES["otsu-fill-remove-label"])
    got = run_tiled(recipe.steps, da.from_array(mosaic, chunks=512))
    assert [p.name[:15] for p in tmp_path.iterdir()] == ["maskprep-tiled-"]
    got.compute()
    del got
    gc.collect()
    assert list(tmp_path.iterdir()) == []



def test_the_work_folder_of_a_killed_run_is_removed_by_the_next(tmp_path, monkeypatch,
                                                                 mosaic):
    # a run killed (SIGKILL, out of memory) cannot remove its work folder, which holds the
    # whole image compressed: each left hundreds of MB in TMPDIR for good
    import subprocess
    import sys

    from napari_maskprep.core.processes import host_id

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    names = [f"maskprep-tiled-{host_id()}-{dead}-killed", f"maskprep-tiled-{host_id()}-"
             f"{os.getpid()}-running", f"maskprep-tiled-00000000-{dead}-other-machine",
             "maskprep-tiled-anybody"]
    for name in names:
        (tmp_path / name / "step-x").mkdir(parents=True)
    got = run_tiled(_recipe(_2D_RECIPES["otsu-fill-remove-label"]).steps,
                    da.from_array(mosaic, chunks=512))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name in names) == sorted(names[1:])
    del got


def test_a_slide_of_many_chunks_is_planned_as_one_layer_per_pass():
    """3,600 chunks: the graph of a pass is built at once, not one delayed call a chunk."""
    image = da.zeros((6_000, 6_000), dtype=np.uint8, chunks=100)
    recipe = _recipe([("segment.threshold", {"value": 0}), ("refine.remove_small", {})])
    got = run_tiled(recipe.steps, image)
    assert got.numblocks == (60, 60)
    assert got[:200, :200].compute().sum() == 0


@pytest.mark.parametrize("op", ["preprocess.invert", "preprocess.median",
                                "segment.threshold"])
def test_a_grey_stack_whose_last_chunk_is_3_or_4_px_wide_stays_grey(op):
    """A chunk of (z, y, 3 or 4) looks like RGB (``looks_rgb``): invert left a fourth
    "channel" alone, median filtered across "channels", thresholds failed in dask."""
    stack = np.random.default_rng(0).integers(0, 256, (2, 40, 68), dtype=np.uint8)
    recipe = _recipe([(op, {})])
    for chunks in [(2, 40, 64), (2, 20, (8, 4, 56)), (1, 40, (3, 65))]:
        _assert_same(run_tiled(recipe.steps, da.from_array(stack, chunks=chunks)).compute(),
                     recipe.run(stack))


def test_an_rgb_image_whose_last_chunk_is_4_px_high_or_wide_stays_rgb():
    rgb = np.random.default_rng(1).integers(0, 256, (70, 67, 3), dtype=np.uint8)
    recipe = _recipe([("preprocess.to_gray", {}), ("segment.threshold", {"value": 100})])
    for chunks in [(64, 64, 3), (68, 32, 1), ((3, 67), 67, 3)]:
        got = run_tiled(recipe.steps, da.from_array(rgb, chunks=chunks))
        assert got.shape == (70, 67)
        _assert_same(got.compute(), recipe.run(rgb))


def test_labels_stay_labels_in_chunks_that_hold_one_id_or_none():
    """Mask or labels is decided by the whole input's largest value, as in memory: the
    64 px corner held one object, so the labels' dilation was declared uint8 and 2500 ids
    were cut to 255 (and a chunk holding only id 1 computed to uint8)."""
    mask = np.zeros((400, 400), np.uint8)
    mask[100::6, 100::6] = 1
    mask[5:8, 5:8] = 1
    recipe = _recipe([("refine.label", {}), ("refine.dilate", {"radius": 1}),
                      ("refine.erode", {"radius": 1})])
    want = recipe.run(mask)
    assert want.dtype == np.int32 and want.max() == 2501
    got = run_tiled(recipe.steps, da.from_array(mask, chunks=64))
    assert got.dtype == np.int32
    _assert_same(got.compute(), want)
    one = _recipe([("refine.dilate", {"radius": 1})])
    labels = np.zeros((100, 100), np.int32)
    labels[10:20, 10:20], labels[80:90, 80:90] = 1, 300
    _assert_same(run_tiled(one.steps, da.from_array(labels, chunks=50)).compute(),
                 one.run(labels))
    single = (labels == 1).astype(np.int32)  # one id in the whole image: a mask, as in memory
    _assert_same(run_tiled(one.steps, da.from_array(single, chunks=50)).compute(),
                 one.run(single))
    # One U-shaped object whose arms meet beyond the 64 px corner: labelled there alone,
    # the corner held ids 1 and 2, and the dilation was declared int32 (memory: a mask).
    u_shape = np.zeros((100, 100), np.uint8)
    u_shape[10:90, 10:20] = u_shape[10:90, 40:50] = u_shape[80:90, 10:50] = 1
    joined = _recipe([("refine.label", {}), ("refine.dilate", {"radius": 1})])
    got = run_tiled(joined.steps, da.from_array(u_shape, chunks=50))
    assert got.dtype == np.uint8
    _assert_same(got.compute(), joined.run(u_shape))


def test_a_bad_input_error_names_the_whole_image_not_the_corner_tried_first():
    grey = da.zeros((88, 48), dtype=np.uint8, chunks=20)
    with pytest.raises(RecipeError, match=r"got shape \(88, 48\)$"):
        run_tiled(_recipe([("segment.color_range", {})]).steps, grey)


def test_local_thresholds_of_flat_areas_are_the_same_in_chunks():
    """A pixel equal to its window's mean: OpenCV's box and Gaussian sums rounded it by
    where a chunk's row started, so one pixel flipped (method mean: now exact sums;
    gaussian: chunks read on its vector grid)."""
    holes = {"gaussian": [(1, 4), (1, 12), (4, 10), (5, 9), (6, 8)],
             "mean": [(0, 11), (1, 7), (1, 8), (2, 6), (2, 13), (3, 11), (5, 0), (5, 9),
                      (7, 1), (9, 0), (9, 1)]}
    for method, block_size, chunks in [("gaussian", 7, (10, (5, 11))), ("mean", 11, (10, 8))]:
        image = np.full((10, 16), 255, np.uint8)
        image[tuple(np.transpose(holes[method]))] = 0
        recipe = _recipe([("segment.local_threshold", {"method": method,
                                                       "block_size": block_size})])
        _assert_same(run_tiled(recipe.steps, da.from_array(image, chunks=chunks)).compute(),
                     recipe.run(image))


def test_nan_beyond_the_corner_into_a_mask_step_is_the_chunks_one_line_error():
    """Deciding mask or labels took int() of the image's largest value: NaN raised
    "cannot convert float NaN to integer". The chunk's error names the step, as the
    in-memory run's does."""
    image = np.zeros((100, 100), np.float32)
    image[5, 5], image[90, 90] = 1, np.nan
    with pytest.raises(RecipeError, match=r"^step 1 \(refine.dilate\): refine.dilate: input "
                                          r"contains NaN or infinite values; accepted: finite"):
        run_tiled(_recipe([("refine.dilate", {})]).steps,
                  da.from_array(image, chunks=50)).compute()


def test_an_rgb_image_s_chunks_warn_in_the_words_of_the_whole_image():
    """Each chunk named its own shape: one warning in memory became four in a tiled run."""
    import warnings

    rgb = np.random.default_rng(0).integers(0, 256, (150, 170, 3), dtype=np.uint8)
    recipe = _recipe([("segment.threshold", {"value": 100})])
    said = []
    for image in (rgb, da.from_array(rgb, chunks=(64, 64, 3))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            np.asarray(recipe.run(image))
        said.append({str(w.message) for w in caught})
    assert said[0] == said[1] and len(said[0]) == 1


def test_each_chunk_s_kernels_take_one_thread_as_the_chunks_run_at_once(monkeypatch):
    """A kernel splitting its work over the cores within each chunk, while dask ran the
    chunks on those cores, ran 4 threads on 2: inside a tiled run a kernel has one thread,
    outside it what it had."""
    import dask

    from napari_maskprep.kernels import gaussian, threads

    monkeypatch.setattr(threads.cv2, "getNumThreads", lambda: 2)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    seen = []  # (in a dask thread, threads given), per call

    def budget():
        seen.append((threading.current_thread() is not threading.main_thread(),
                     threads.thread_budget()))
        return seen[-1][1]

    monkeypatch.setattr(gaussian, "thread_budget", budget)
    image = read_image(pairs(DATA, "bbbc039_fluo_nuclei")[0][0])
    steps = [{"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
             {"op": "segment.auto_threshold", "params": {}}]
    with dask.config.set(scheduler="threads", num_workers=2):
        tiled = mp.Recipe(steps=steps).run(da.from_array(image, chunks=256)).compute()
    assert len([c for c in seen if c[0]]) >= 4  # the chunks (the probe of a corner before)
    assert {budget for in_dask, budget in seen if in_dask} == {1}
    seen.clear()
    np.testing.assert_array_equal(tiled, mp.Recipe(steps=steps).run(image))
    assert seen == [(False, 2)]


def test_local_threshold_mean_of_32_bit_integers_is_the_same_in_chunks():
    """A pixel equal to its window's mean: a 32-bit image's mean came from SciPy's running
    sums (only 8/16-bit images had exact window sums), which round by where a row starts,
    so in 3 x 5 x 5 chunks pixels (2, 7, 3) and (2, 7, 4), equal to their window's mean,
    were above it."""
    image = np.full((3, 10, 5), 100_000, np.int32)
    image[1, 6, 0] = image[2, 3, 0] = 100_001
    image[2, 8, 1] = 100_003
    recipe = _recipe([("segment.local_threshold", {"method": "mean", "block_size": 3})])
    for dtype in (np.int32, np.uint32):
        want = recipe.run(image.astype(dtype))
        assert want[2, 7, 3:5].tolist() == [0, 0]
        _assert_same(run_tiled(recipe.steps, da.from_array(image.astype(dtype),
                                                           chunks=(3, 5, 5))).compute(), want)


def test_a_threshold_before_an_opening_stores_the_mask_not_the_float_image(monkeypatch):
    """The chunks an opening reads with their neighbours' bands are stored first: stored
    before the threshold they were the blurred image (uint16 here); thresholded once per
    chunk first, they are the uint8 mask (compressing 30-50x, an image 2-3x), and the result
    is the same."""
    from napari_maskprep.engine import tiled

    stored = []  # (dtype, banded) of each array the run stores
    original = tiled.StoredChunks.__init__

    def recording(self, workdir, chunks, dtype, bands=None):
        stored.append((np.dtype(dtype).name, bool(bands)))
        original(self, workdir, chunks, dtype, bands)

    monkeypatch.setattr(tiled.StoredChunks, "__init__", recording)
    image = read_image(pairs(DATA, "bbbc039_fluo_nuclei")[0][0])
    steps = [{"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
             {"op": "segment.auto_threshold", "params": {}},
             {"op": "refine.open", "params": {"radius": 2}}]
    recipe = mp.Recipe(steps=steps)
    tiled_mask = recipe.run(da.from_array(image, chunks=128)).compute()
    assert stored == [("uint16", True), ("uint16", False), ("uint8", True)]
    np.testing.assert_array_equal(tiled_mask, recipe.run(image))


def test_a_dtype_is_said_to_come_from_the_step_that_made_it_not_the_one_before():
    """Labels dilated are int32, which a Gaussian keeps: the refusal blamed the Gaussian
    (the step just before) for giving int32, which the dilation gave."""
    labels = np.zeros((64, 64), np.uint8)
    labels[5, 5], labels[40:50, 40:50] = 1, 3  # 0/1 in the probed corner, labels as a whole
    steps = _recipe([("refine.dilate", {}), ("preprocess.gaussian", {"sigma": 1.0}),
                     ("segment.auto_threshold", {})]).steps
    with pytest.raises(RecipeError) as info:
        run_tiled(steps, da.from_array(labels, chunks=32))
    assert str(info.value) == (
        "step 3 (segment.auto_threshold): a tiled run needs an 8- or 16-bit integer image "
        "here; got int32 (run it in memory, or convert the image first); step 1 "
        "(refine.dilate) gives int32 for the uint8 image")
