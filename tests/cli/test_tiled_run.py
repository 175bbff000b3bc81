"""`maskprep run` on images larger than memory: OME-Zarr stores and TIFFs above the memory
budget run tiled, stream their masks to OME-Zarr or tiled BigTIFF, and equal the in-memory
run; what cannot run tiled is refused before any work."""

from __future__ import annotations

import csv

import cv2
import dask
import numpy as np
import pytest
import tifffile
import zarr
from dask.callbacks import Callback

import napari_maskprep as mp
from napari_maskprep import cli, large_images
from napari_maskprep.batch import count_objects
from napari_maskprep.cli import main
from napari_maskprep.core.arrays import checksum
from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import open_lazy, read_image, read_provenance, write_ome_zarr
from napari_maskprep.large_images import _check_chunk_side

from ..conftest import DATA, another_thread_computing, pairs

_STEPS = [{"op": "preprocess.gaussian", "params": {"sigma": 1.5}},
          {"op": "segment.auto_threshold", "params": {}},
          {"op": "refine.fill_holes", "params": {}},
          {"op": "refine.remove_small", "params": {"min_size": 40}},
          {"op": "refine.label", "params": {}}]


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    fields = [read_image(image) for image, _ in pairs(DATA, "bbbc039_fluo_nuclei")[:4]]
    return np.block([[fields[0], fields[1]], [fields[2], fields[3]]])


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "r.maskprep.yaml"
    mp.Recipe(steps=_STEPS).save(path)
    return path


def _ome_zarr_image(path, image, chunks=(300, 300)):
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    group = zarr.open_group(parse_url(path, mode="w").store, mode="w")
    write_image(image, group, axes="yx", storage_options={"chunks": chunks}, scaler=None)
    return path


def _summary(outdir):
    with open(outdir / "maskprep-summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_an_ome_zarr_store_runs_tiled_into_an_ome_zarr_label(tmp_path, mosaic, recipe_file):
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--format", "zarr",
                 "--chunk", "256", "-q"]) == 0
    want = mp.Recipe(steps=_STEPS).run(mosaic)
    with open_lazy(outdir / "slide.zarr") as written:
        assert written.data.dtype == np.int32 and len(written.levels) >= 2
        np.testing.assert_array_equal(written.data.compute(), want)
    row, = _summary(outdir)
    assert row["status"] == "ok" and int(row["objects"]) == count_objects(want) > 50
    stored = read_provenance(outdir / "slide.zarr")
    assert stored["input"]["checksum"] == checksum(mosaic)


def test_a_store_that_leaves_out_chunks_of_its_fill_value_runs(tmp_path, mosaic, recipe_file):
    """ome-zarr and zarr 3 do not write a chunk that holds only the fill value (black
    padding, an empty label image): the run refused such a store, chunk missing."""
    padded = np.zeros((mosaic.shape[0] + 600, mosaic.shape[1]), mosaic.dtype)
    padded[600:] = mosaic
    store = _ome_zarr_image(tmp_path / "padded.zarr", padded)
    level = zarr.open_array(store / "s0", mode="r")
    assert level.nchunks_initialized < level.nchunks  # all black ones: left out
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--format", "zarr",
                 "--chunk", "256", "-q"]) == 0
    with open_lazy(outdir / "padded.zarr") as written:
        np.testing.assert_array_equal(written.data.compute(),
                                      mp.Recipe(steps=_STEPS).run(padded))


def test_a_tiff_over_the_memory_budget_runs_tiled_into_a_tiled_bigtiff(tmp_path, mosaic,
                                                                       recipe_file):
    images = tmp_path / "images"
    images.mkdir()
    tifffile.imwrite(images / "big.tif", mosaic)  # 2.9 MB: over 16 MB / 8
    tifffile.imwrite(images / "small.tif", mosaic[:200, :200])
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(images), "-o", str(outdir), "--chunk", "512",
                 "--memory-limit", "16MB", "-q"]) == 0
    recipe = mp.Recipe(steps=_STEPS)
    with tifffile.TiffFile(outdir / "big.tif") as tif:
        assert tif.pages[0].is_tiled
        np.testing.assert_array_equal(tif.asarray(), recipe.run(mosaic))
    with tifffile.TiffFile(outdir / "small.tif") as tif:
        assert not tif.pages[0].is_tiled  # in memory, as before
        np.testing.assert_array_equal(tif.asarray(), recipe.run(mosaic[:200, :200]))
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in _summary(outdir)}
    assert int(rows["big.tif"]["objects"]) == count_objects(recipe.run(mosaic))
    assert read_provenance(outdir / "big.tif")["input"]["checksum"] == checksum(mosaic)


def test_resume_skips_a_tiled_result_of_the_same_recipe(tmp_path, mosaic, recipe_file):
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic[:520, :600])
    outdir = tmp_path / "out"
    args = ["run", str(recipe_file), str(store), "-o", str(outdir), "--format", "zarr", "-q"]
    assert main(args) == 0
    first, = _summary(outdir)
    assert main([*args, "--resume"]) == 0
    again, = _summary(outdir)
    assert again["status"] == "skipped" and again["objects"] == first["objects"]


def test_a_recipe_that_cannot_run_tiled_is_refused_before_any_work(tmp_path, mosaic, capsys):
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic[:300, :300])
    recipe = tmp_path / "r.yaml"
    mp.Recipe(steps=[{"op": "segment.edges", "params": {"method": "sobel"}}]).save(recipe)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe), str(store), "-o", str(outdir), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"maskprep: error: {store} runs tiled (larger than memory, or OME-Zarr), "
                   "but step 1 (segment.edges) cannot run tiled: it finds Sobel edges with "
                   "OpenCV's float filters, which round the last columns of a row otherwise "
                   "than inside a longer row, so chunks would not equal the whole image (use "
                   "method canny, or run it in memory)")
    assert not outdir.exists()


def test_a_recipe_recorded_on_a_stack_runs_tiled_on_2d_images(tmp_path, mosaic, capsys):
    """A recipe recorded plane by plane (per_plane: true) was refused on a 2D store, TIFF
    or time-lapse run tiled ('runs plane by plane (per_plane: true), which tiled runs do
    not support yet'), where one plane is the whole image; a 3D stack is still refused."""
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic[:520, :600])
    images = tmp_path / "images"
    images.mkdir()
    tifffile.imwrite(images / "big.tif", mosaic[:400, :700])
    frames = np.stack([mosaic[:300, :260], mosaic[300:600, 260:520]])
    tifffile.imwrite(images / "frames.tif", frames, imagej=True, metadata={"axes": "TYX"})
    recipe = tmp_path / "r.maskprep.yaml"
    per_plane = mp.Recipe(steps=[{**step, "per_plane": True} for step in _STEPS])
    per_plane.save(recipe)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe), str(store), str(images / "big.tif"),
                 str(images / "frames.tif"), "-o", str(outdir), "--format", "zarr", "--chunk",
                 "128", "--tiled", "always", "-q"]) == 0
    in_memory = mp.Recipe(steps=_STEPS)
    for name, want in [("slide.zarr", in_memory.run(mosaic[:520, :600])),
                       ("big.zarr", in_memory.run(mosaic[:400, :700])),
                       ("frames.zarr", np.stack([in_memory.run(f) for f in frames]))]:
        with open_lazy(outdir / name) as written:
            np.testing.assert_array_equal(written.data.compute(), want)
    np.testing.assert_array_equal(per_plane.run(mosaic[:400, :700]),
                                  in_memory.run(mosaic[:400, :700]))
    tifffile.imwrite(images / "stack.tif", np.stack([mosaic[:200, :200]] * 2))
    capsys.readouterr()
    assert main(["run", str(recipe), str(images), "-o", str(tmp_path / "stacks"), "--chunk",
                 "128", "--tiled", "always", "-q"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"maskprep: error: {images / 'stack.tif'} runs tiled (larger than memory, or "
        "OME-Zarr), but step 1 (preprocess.gaussian) cannot run tiled: it runs plane by "
        "plane (per_plane: true), which tiled runs do not support yet")
    assert not (tmp_path / "stacks").exists()


def test_a_tiled_image_is_not_written_as_png(tmp_path, mosaic, recipe_file, capsys):
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic[:300, :300])
    assert main(["run", str(recipe_file), str(store), "-o", str(tmp_path / "out"),
                 "--format", "png", "-q"]) == 2
    assert "written as tif or zarr; got --format png" in capsys.readouterr().err


def test_a_chunk_side_out_of_range_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "r.yaml", str(tmp_path), "-o", str(tmp_path / "o"), "--chunk", "8"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "maskprep run: error: argument --chunk: '8' is not a chunk side from 64 to 16384 px")


def test_a_chunk_side_cutting_an_image_into_too_many_chunks_is_refused_before_any_work(
        tmp_path, recipe_file, capsys, monkeypatch):
    store = tmp_path / "big.zarr"  # 400 MP, its chunks never written: nothing to read
    zarr.open_array(store, mode="w", shape=(20000, 20000), chunks=(2048, 2048), dtype="uint8")
    monkeypatch.setattr("napari_maskprep.large_images.checksum",
                        lambda *a, **k: pytest.fail("the image was read"))
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--chunk", "64",
                 "-q"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"failed: {store}: --chunk 64 cuts its 20000 x 20000 px into 97969 chunks, over the "
        "16384 a run takes below the default 2048 (each chunk costs time of its own); "
        "accepted: --chunk 157 or more")
    assert not (outdir / "big.zarr").exists()


@pytest.mark.parametrize(("shape", "smallest"), [((20000, 20000), 157),
                                                 ((300, 3000, 5000), 69)])
def test_the_chunk_side_a_refusal_names_is_the_smallest_taken(shape, smallest, tmp_path):
    """It named 256 for 20000 px a side (64 doubled until under the limit), where 157
    cuts it into 128 x 128 = 16384 chunks."""
    with pytest.raises(BadValueError, match=f"; accepted: --chunk {smallest} or more$"):
        _check_chunk_side(shape, 64, tmp_path)
    with pytest.raises(BadValueError, match=f"; accepted: --chunk {smallest} or more$"):
        _check_chunk_side(shape, smallest - 1, tmp_path)
    _check_chunk_side(shape, smallest, tmp_path)


def test_local_workers_run_one_image_s_chunks_on_threads_of_this_process(
        tmp_path, mosaic, recipe_file, monkeypatch):
    """Through a local cluster of 2 processes, each strip of the mask went back to this one
    to be written: 13.2 s against 8.7 s on threads for 256 MP on 2 cores; no cluster starts
    for tiled images alone now."""
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic)
    used = []
    monkeypatch.setattr("napari_maskprep.batch.start_client", lambda *a: used.append(a))
    threads = []

    class Computed(Callback):  # called by the local schedulers only
        def _start(self, dsk):
            threads.append((dask.config.get("scheduler"), dask.config.get("num_workers")))

    outdir = tmp_path / "out"
    with Computed():
        assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--format",
                     "zarr", "--chunk", "512", "--workers", "2", "-q"]) == 0
    assert used == [] and set(threads) == {("threads", 2)}
    with open_lazy(outdir / "slide.zarr") as written:
        np.testing.assert_array_equal(written.data.compute(),
                                      mp.Recipe(steps=_STEPS).run(mosaic))


@pytest.fixture(scope="module")
def two_processes():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def test_a_cluster_s_workers_share_the_chunks_of_one_image(tmp_path, mosaic, recipe_file,
                                                           two_processes):
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--format", "zarr",
                 "--chunk", "512", "--scheduler", two_processes, "-q"]) == 0
    with open_lazy(outdir / "slide.zarr") as written:
        np.testing.assert_array_equal(written.data.compute(),
                                      mp.Recipe(steps=_STEPS).run(mosaic))
    assert _summary(outdir)[0]["status"] == "ok"


@pytest.mark.parametrize("tile", [(256, 256), None])  # tiled (zarr view), plain (mapped)
def test_a_cluster_s_workers_share_the_chunks_of_a_tiff(tmp_path, mosaic, recipe_file, tile,
                                                        two_processes):
    # Before: "Could not serialize object of type _HLGExprSequence" (an open file handle in
    # the graph), and a memory-mapped TIFF went to the workers whole.
    image = tmp_path / "slide.tif"
    tifffile.imwrite(image, mosaic, tile=tile, bigtiff=True)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(image), "-o", str(outdir), "--format", "zarr",
                 "--tiled", "always", "--chunk", "512", "--scheduler", two_processes,
                 "-q"]) == 0
    assert _summary(outdir)[0]["status"] == "ok"
    with open_lazy(outdir / "slide.zarr") as written:
        np.testing.assert_array_equal(written.data.compute(),
                                      mp.Recipe(steps=_STEPS).run(mosaic))


def test_a_folder_of_slides_runs_whatever_their_size(tmp_path, mosaic, recipe_file):
    # A folder of .svs files found nothing ("no image files"), and a small .svs named
    # directly failed ("unsupported file type .svs"): only the lazy reader reads them.
    slides = tmp_path / "slides"
    slides.mkdir()
    tifffile.imwrite(slides / "a.svs", mosaic, tile=(256, 256),
                     description="Aperio Image Library v12.0.5\n|MPP = 0.5")
    tifffile.imwrite(slides / "b.tif", mosaic[:256, :256])
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(slides), "-o", str(outdir), "-q"]) == 0
    assert [row["status"] for row in _summary(outdir)] == ["ok", "ok"]
    np.testing.assert_array_equal(tifffile.imread(outdir / "a.tif"),
                                  mp.Recipe(steps=_STEPS).run(mosaic))


def test_sizes_in_micrometres_use_the_stores_pixel_size(tmp_path, mosaic):
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    store = tmp_path / "slide.zarr"
    group = zarr.open_group(parse_url(store, mode="w").store, mode="w")
    write_image(mosaic, group, axes="yx", scale={"y": 0.5, "x": 0.5},
                axes_units={"y": "micrometer", "x": "micrometer"},
                storage_options={"chunks": (300, 300)}, scale_factors=None)
    recipe = tmp_path / "r.yaml"
    steps = [{"op": "preprocess.gaussian", "params": {"sigma": "1 um"}},
             {"op": "segment.auto_threshold", "params": {}},
             {"op": "refine.remove_small", "params": {"min_size": "10 um2"}}]
    mp.Recipe(steps=steps).save(recipe)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe), str(store), "-o", str(outdir), "--format", "zarr",
                 "--chunk", "512", "-q"]) == 0
    in_pixels = mp.Recipe(steps=[{"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
                                 {"op": "segment.auto_threshold", "params": {}},
                                 {"op": "refine.remove_small", "params": {"min_size": 40}}])
    with open_lazy(outdir / "slide.zarr") as written:
        assert written.pixel_size == (0.5, 0.5)
        np.testing.assert_array_equal(written.data.compute(), in_pixels.run(mosaic))
    assert read_provenance(outdir / "slide.zarr")["input"]["pixel_size"] == [0.5, 0.5]


def test_split_touching_runs_tiled_with_a_declared_object_size(tmp_path, mosaic, capsys):
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic)
    recipe = tmp_path / "r.yaml"
    steps = [{"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
             {"op": "segment.auto_threshold", "params": {}},
             {"op": "refine.split_touching", "params": {"min_distance": 5}}]
    mp.Recipe(steps=steps).save(recipe)
    args = ["run", str(recipe), str(store), "-o", str(tmp_path / "out"), "--format", "zarr",
            "--chunk", "256", "-q"]
    assert main(args) == 2
    assert "it runs tiled only with a declared largest object size" in capsys.readouterr().err
    assert main([*args, "--object-size", "60"]) == 0
    want = mp.Recipe(steps=steps).run(mosaic)
    with open_lazy(tmp_path / "out" / "slide.zarr") as written:
        got = written.data.compute()
    np.testing.assert_array_equal(got > 0, want > 0)
    assert got.max() == want.max()
    row, = _summary(tmp_path / "out")
    assert int(row["objects"]) == want.max()


def test_a_tiled_rgb_slide_runs_with_its_samples_last(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (600, 700, 3), dtype=np.uint8)
    rgb[100:300, 200:500] //= 3  # a dark region, as stained tissue on bright glass
    tifffile.imwrite(tmp_path / "slide.tif", rgb, tile=(256, 256), photometric="rgb")
    recipe = tmp_path / "r.yaml"
    steps = [{"op": "preprocess.to_gray", "params": {}},
             {"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
             {"op": "segment.auto_threshold", "params": {"polarity": "dark"}}]
    mp.Recipe(steps=steps).save(recipe)
    outdir = tmp_path / "out"
    assert main(["run", str(recipe), str(tmp_path / "slide.tif"), "-o", str(outdir),
                 "--tiled", "always", "--chunk", "256", "-q"]) == 0
    want = mp.Recipe(steps=steps).run(rgb)
    assert want[150:250, 250:450].all() and not want[400:, :100].any()
    np.testing.assert_array_equal(tifffile.imread(outdir / "slide.tif"), want)


def test_a_label_name_writes_into_the_input_store_beside_its_image(tmp_path, mosaic,
                                                                   recipe_file, capsys):
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic)
    image_files = {p: p.read_bytes() for p in (store / "0").rglob("*") if p.is_file()}
    outdir = tmp_path / "out"
    assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "--chunk", "512",
                 "--label-name", "nuclei", "-q"]) == 0
    with open_lazy(store / "labels" / "nuclei") as written:
        np.testing.assert_array_equal(written.data.compute(),
                                      mp.Recipe(steps=_STEPS).run(mosaic))
    assert {p: p.read_bytes() for p in image_files} == image_files  # the image untouched
    assert _summary(outdir)[0]["output"] == str(store / "labels" / "nuclei")
    tifffile.imwrite(tmp_path / "plain.tif", mosaic[:64, :64])
    assert main(["run", str(recipe_file), str(tmp_path / "plain.tif"), "-o", str(outdir),
                 "--label-name", "nuclei", "-q"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "plain.tif is not an OME-Zarr store run tiled; a label name writes into the input "
        "stores only")


def test_an_output_folder_inside_an_input_store_is_refused(tmp_path, mosaic, recipe_file,
                                                            capsys):
    """Masks, a summary and a nested store were written into the person's image store."""
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic[:256, :256])
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    for outdir in (store, store / "labels", store / "0"):
        assert main(["run", str(recipe_file), str(store), "-o", str(outdir), "-q"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"maskprep: error: the output folder {outdir} is inside the input store {store}; "
            "write to a folder outside it (or into its labels/ with --label-name)")
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before


def test_a_tiled_choice_an_input_cannot_take_is_refused_before_any_work(tmp_path, mosaic,
                                                                          recipe_file, capsys):
    """Each failed as "unsupported file type", as if the type itself were not accepted."""
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic[:128, :128])
    png = tmp_path / "field.png"
    png.write_bytes(cv2.imencode(".png", (mosaic[:64, :64] >> 8).astype(np.uint8))[1].tobytes())
    slide = tmp_path / "slide.svs"  # only the lazy reader reads it ("unsupported file type")
    tifffile.imwrite(slide, mosaic[:256, :256], tile=(256, 256),
                     description="Aperio Image Library v12.0.5\n|MPP = 0.5")
    for path, mode, message in [
            (store, "never", "a zarr store runs tiled only; --tiled never applies to TIFF "
                             "files"),
            (slide, "never", "a .svs slide runs tiled only; --tiled never applies to TIFF "
                             "files"),
            (png, "always", "a .png image runs in memory only; --tiled always applies to TIFF "
                            "files and OME-Zarr stores")]:
        out = tmp_path / f"out-{mode}"
        assert main(["run", str(recipe_file), str(path), "-o", str(out), "--tiled", mode]) == 2
        assert capsys.readouterr().err.strip() == f"maskprep: error: {path}: {message}"
        assert not out.exists()


def test_an_image_store_holding_our_label_is_never_replaced_as_if_it_were_ours(
        tmp_path, mosaic, recipe_file, capsys):
    """Its label's provenance made the whole store count as maskprep's: a later run whose
    output was that store deleted the person's image levels."""
    store = _ome_zarr_image(tmp_path / "out" / "slide.zarr", mosaic[:256, :256])
    assert main(["run", str(recipe_file), str(store), "-o", str(tmp_path / "summary"),
                 "--label-name", "nuclei", "-q"]) == 0
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    copy = _ome_zarr_image(tmp_path / "in" / "slide.zarr", mosaic[:256, :256])
    assert main(["run", str(recipe_file), str(copy), "-o", str(tmp_path / "out"),
                 "--format", "zarr", "-q"]) == 1
    assert (f"{store} exists and has no provenance maskprep can read; it is left as it is"
            in capsys.readouterr().err)
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    assert read_provenance(store)["input"]["source"] == "slide.zarr"  # info still finds it


class _Bar:
    """tqdm as maskprep's commands use it, keeping each bar made with its total and
    count."""

    made: list[_Bar] = []

    def __init__(self, *args, total=None, desc=None, **kwargs) -> None:
        self.total, self.desc, self.n = total, desc, 0
        _Bar.made.append(self)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *args) -> None:
        pass

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        pass

    @staticmethod
    def write(*args, **kwargs) -> None:
        pass


def test_the_chunk_bar_counts_every_task_while_another_thread_computes(tmp_path, mosaic,
                                                                       monkeypatch):
    """dask sets its global callbacks aside while any thread computes: the chunk bar of
    maskprep run (main called in a program with threads of its own), registered there,
    missed the tasks run meanwhile (here writing the mask). It is now given to the
    run's computes."""
    store = _ome_zarr_image(tmp_path / "slide.zarr", mosaic[:520, :600])
    recipe = tmp_path / "r.maskprep.yaml"
    mp.Recipe(steps=[{"op": "segment.threshold", "params": {"value": 60}}]).save(recipe)
    monkeypatch.setattr(cli, "tqdm", _Bar)
    monkeypatch.setattr(_Bar, "made", [])

    def chunk_bars(outdir) -> list[tuple[int, int]]:
        _Bar.made.clear()
        assert main(["run", str(recipe), str(store), "-o", str(outdir), "--format", "zarr",
                     "--chunk", "128", "-q"]) == 0
        return [(bar.total, bar.n) for bar in _Bar.made if bar.desc == "tiled"]

    alone = chunk_bars(tmp_path / "alone")
    assert len(alone) > 3 and all(total == n > 0 for total, n in alone)

    def write_while_another_thread_computes(*args, **kwargs):
        with another_thread_computing():
            return write_ome_zarr(*args, **kwargs)

    monkeypatch.setattr(large_images, "write_ome_zarr", write_while_another_thread_computes)
    assert chunk_bars(tmp_path / "meanwhile") == alone
