"""Local dask workers are sized from the machine (or --memory-limit), not given the whole
machine's memory each."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import psutil
import pytest

from napari_maskprep.cli import main
from napari_maskprep.cluster import start_client, worker_memory


def maskprep_run(tmp_path, image, *options) -> subprocess.CompletedProcess:
    """``maskprep run`` of an automatic threshold into ``tmp_path/out``, in a process of its
    own (a worker's logs reach the terminal there)."""
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n - op: segment.auto_threshold\n")
    exe = os.path.join(os.path.dirname(sys.executable), "maskprep")
    return subprocess.run([exe, "run", "-q", str(recipe), str(image), "-o",
                           str(tmp_path / "out"), *options],
                          capture_output=True, text=True, timeout=300)


def test_workers_share_the_memory_limit():
    assert worker_memory(8, 16 * 2**30) == 2 * 2**30
    assert worker_memory(3, 10) == 3
    assert worker_memory(2) <= psutil.virtual_memory().total * 4 // 5 // 2


def test_workers_are_sized_from_a_containers_memory_limit(monkeypatch):
    """In a container whose cgroup allows less than the host's memory, workers sized from
    the host's total were given memory the container does not have, and were killed by the
    kernel instead of being paused by dask."""
    import distributed.system

    monkeypatch.setattr(distributed.system, "memory_limit", lambda: 10 * 2**30)
    assert worker_memory(2) == 4 * 2**30


def test_a_local_cluster_gives_each_worker_its_share():
    client, cluster = start_client(2, None, 10, memory_limit=2**30)
    try:
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    finally:
        client.close()
        cluster.close()
    assert limits == [2**29, 2**29]


def _reused_buffer_faults_and_cv2_threads() -> tuple[int, int]:
    import resource

    import cv2
    import numpy as np

    faults = []
    for _ in range(3):
        # This thread's faults only: the worker's own threads run beside it.
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        np.ones(48 * 2**20, np.uint8)  # above glibc's own ceiling for keeping freed buffers
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
    return faults[-1], cv2.getNumThreads()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_local_workers_keep_freed_buffers_and_run_opencv_on_their_one_thread():
    # dask's nanny has glibc hand back anything over 64 KiB, and OpenCV's pool takes every
    # core in every worker: one 256 MP tiled image on 2 workers took 6.5 s instead of 4.6.
    client, cluster = start_client(2, None, 10, memory_limit=2**30)
    try:
        found = client.run(_reused_buffer_faults_and_cv2_threads)
        client.restart()  # a restarted worker is set up again
        again = client.run(_reused_buffer_faults_and_cv2_threads)
    finally:
        client.close()
        cluster.close()
    for faults, threads in [*found.values(), *again.values()]:
        assert threads == 1
        # Faulted in, the buffer takes 24 faults or more (2 MiB pages) and 12288 (4 KiB ones);
        # handed out again, none.
        assert faults < 6


def test_a_bad_memory_limit_is_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "r.yaml", str(tmp_path), "-o", str(tmp_path / "out"),
              "--memory-limit", "12"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == ("maskprep run: error: argument --memory-limit: '12' is not a memory size "
                   "of at least 1 MiB (e.g. 2GB, 512MiB)")


def test_a_damaged_chunk_under_workers_is_one_line_without_a_traceback(tmp_path):
    """A local cluster's worker logged "Compute Failed ... Traceback" to the terminal beside
    our line; a tiled image now runs on threads of this process, and stays one line."""
    import zarr

    group = zarr.open_group(tmp_path / "a.zarr", mode="w", zarr_format=2)
    array = group.create_array("0", shape=(256, 256), dtype="uint8", chunks=(128, 128))
    array[:] = np.arange(256 * 256).reshape(256, 256) % 251
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [
        {"name": "y", "type": "space"}, {"name": "x", "type": "space"}], "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}]}]
    (tmp_path / "a.zarr" / "0" / "1.1").write_bytes(b"damaged")
    done = maskprep_run(tmp_path, tmp_path / "a.zarr", "--workers", "1", "--memory-limit",
                        "1GB")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith("failed: ") and "chunk 1.1 cannot be read" in lines[0]


def test_workers_given_too_little_memory_are_refused_before_they_start(tmp_path):
    """dask pauses a worker at 80% of its limit, and a worker holds about 200 MB before any
    image: with --memory-limit 128MB and 2 workers the run waited for ever."""
    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", np.zeros((64, 64), np.uint8))
    done = maskprep_run(tmp_path, tmp_path / "a.tif", "--workers", "2", "--memory-limit",
                        "128MB")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "maskprep: error: 2 workers sharing 122 MiB get 61 MiB each; accepted: at least "
        "512 MiB a worker (raise --memory-limit, or use fewer --workers)")
    assert not (tmp_path / "out").exists()


def test_a_scheduler_s_workers_set_the_memory_an_image_may_take(tmp_path, capsys):
    """With --scheduler, the budget came from this machine's memory (2.4 GiB an image here),
    not from the workers that run the images: a PNG too large for them was sent to one (a
    TIFF so large, likewise, instead of running tiled)."""
    import cv2
    from dask.distributed import LocalCluster

    png = tmp_path / "big.png"
    png.write_bytes(cv2.imencode(".png", np.zeros((12000, 12000), np.uint8))[1].tobytes())
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n - op: segment.auto_threshold\n")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", memory_limit="1GiB") as cluster:
        code = main(["run", "-q", str(recipe), str(png), "-o", str(tmp_path / "out"),
                     "--scheduler", cluster.scheduler_address])
    assert code == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"failed: {png}: a 12000 x 12000 px image takes 0.134 GiB once read, over the 0.125 "
        "GiB an image may take in memory (--memory-limit); PNG and JPEG run in memory only: "
        "save it as a TIFF or OME-Zarr to run it tiled")
    assert not (tmp_path / "out" / "big.tif").exists()
