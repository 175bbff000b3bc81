#!/usr/bin/env python
"""Tiled runs side by side: the 5-step recipe on a large uint8 zarr of real tiles.

    python benchmarks/tiled.py                    # 256 MP and 1 GP, chunks 2048^2
    python benchmarks/tiled.py --sizes 256 1024 4096 --cap-4gp 2GB

For each size (MP = 2**20 px), in a fresh process each, pinned to as many cores as it has
workers, reading the input zarr and writing the mask to a zarr as ``maskprep run`` does:
- ``ours tiled``: ``Recipe.run`` on the dask array (``engine.tiled``), threaded, 1 and 2
  workers (threads), and on a local cluster of 2 processes (``processes``, as
  ``maskprep run --scheduler`` on such a cluster; RSS is the largest process's);
- ``ours in memory``: the whole image read, ``Recipe.run``, written (sizes that fit);
- ``reference``: the same steps as a dask user writes them with scikit-image:
  ``map_overlap(gaussian)``, Otsu of ``da.histogram``, ``map_overlap(binary_opening)``,
  then ``binary_fill_holes`` and ``remove_small_objects`` per chunk with a 64 px overlap
  (not exact at seams: what such a pipeline gives);
- ``copy``: read and write the zarr only;
- ``machine``: no zarr, no Python between calls: OpenCV's Gaussian (sigma 2) and a copy of
  one 2048^2 uint8 chunk, 480 times, split over the workers' threads: how far this machine
  lets memory-bound image work scale from one core to two (the ceiling for ``tiled``).
Each child first runs its mode once on a 2-chunk image (imports and workers' start paid
before the clock). Printed: seconds, MP/s per core, peak RSS (MB), and whether ours equals
in memory.
Nothing is asserted: times vary +-30% on this machine; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

CHUNK = 2048
MIN_SIZE = 50


def _steps() -> list[dict]:
    import bench_cases as bc

    return bc.recipe_steps(2)


def build_input(path: Path, megapixels: int) -> None:
    """A uint8 zarr of ``megapixels`` * 2**20 px, chunk by chunk from 256 px real tiles."""
    import bench_data as bd
    import zarr

    side = bd.side_for(megapixels)
    side -= side % CHUNK
    partial = path.with_name(path.name + ".partial")  # a kept input is only ever complete
    array = zarr.create_array(store=str(partial), shape=(side, side), chunks=(CHUNK, CHUNK),
                              dtype="uint8", compressors=zarr.codecs.BloscCodec(cname="lz4"),
                              overwrite=True)
    for i, y in enumerate(range(0, side, CHUNK)):
        for j, x in enumerate(range(0, side, CHUNK)):
            array[y:y + CHUNK, x:x + CHUNK] = bd.mosaic("uint8", CHUNK, seed=i * 1000 + j)
    partial.rename(path)


def _reference(x):
    import dask.array as da
    import numpy as np
    from scipy import ndimage as ndi
    from skimage import filters, morphology
    from skimage.morphology import disk

    blurred = x.map_overlap(lambda b: filters.gaussian(b, 2, preserve_range=True)
                            .astype(np.float32), depth=9, boundary="none", dtype=np.float32)
    counts, edges = da.histogram(blurred, bins=256, range=(0, 255))
    t = filters.threshold_otsu(hist=(counts.compute(), (edges[:-1] + edges[1:]) / 2))
    mask = blurred > t
    opened = mask.map_overlap(lambda b: morphology.binary_opening(b, disk(3)), depth=7,
                              boundary="none", dtype=bool)
    filled = opened.map_overlap(ndi.binary_fill_holes, depth=64, boundary="none", dtype=bool)
    return filled.map_overlap(
        lambda b: morphology.remove_small_objects(b, max_size=MIN_SIZE - 1),
        depth=64, boundary="none", dtype=bool).astype(np.uint8)


def machine(workers: int) -> float:
    """Seconds for 480 Gaussians and copies of one chunk each (independent, OpenCV on one
    thread each, no GIL held) on ``workers`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    chunk = np.random.default_rng(0).integers(0, 256, (CHUNK, CHUNK), dtype=np.uint8)

    def work(count: int) -> None:
        for _ in range(count):
            cv2.GaussianBlur(chunk, (0, 0), 2).copy()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, [2] * workers))  # warm
        start = time.perf_counter()
        list(pool.map(work, [480 // workers] * workers))
        return time.perf_counter() - start


def measure(mode: str, source: str, target: str, workers: int) -> dict:
    """One run in this process; returns its numbers."""
    import dask
    import dask.array as da
    import numpy as np
    import zarr

    import napari_maskprep as mp

    if mode == "machine":
        return {"mode": mode, "workers": workers, "seconds": machine(workers), "rss_mb": 0,
                "pixels": 480 * CHUNK * CHUNK}
    recipe = mp.Recipe(steps=_steps())
    dask.config.set(scheduler="threads", num_workers=workers)
    cluster = None
    if mode == "processes":  # as `maskprep run --scheduler` on a local cluster of processes
        from distributed import Client, LocalCluster

        from napari_maskprep.cluster import lean_worker_plugin, worker_memory

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", memory_limit=worker_memory(workers))
        Client(cluster).register_plugin(lean_worker_plugin())
    _warm_up(mode, recipe)
    start = time.perf_counter()
    x = da.from_zarr(source)
    if mode in ("tiled", "processes"):
        out = recipe.run(x)
    elif mode == "memory":
        out = da.from_array(recipe.run(np.asarray(x)), chunks=CHUNK)
    elif mode == "reference":
        out = _reference(x)
    else:
        out = x
    _write(out, target)
    seconds = time.perf_counter() - start
    if cluster is not None:
        cluster.close()
    rss = max(resource.getrusage(who).ru_maxrss / 1024  # workers are child processes
              for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"mode": mode, "workers": workers, "seconds": seconds, "rss_mb": rss,
            "pixels": int(np.prod(x.shape)), "digest": _digest(zarr.open_array(target))}


def _warm_up(mode: str, recipe) -> None:
    """One run on a 2-chunk image first: modules imported on first use (distributed,
    dask's array helpers: 0.6 s) and the workers' start are paid once per process, not
    timed as if each run paid them; what is timed is the image's processing."""
    import bench_data as bd
    import dask.array as da

    small = bd.mosaic("uint8", CHUNK, seed=0)[:, : CHUNK // 2]
    if mode in ("tiled", "processes"):
        recipe.run(da.from_array(small, chunks=CHUNK // 4)).compute()
    elif mode == "memory":
        recipe.run(small)
    elif mode == "reference":
        _reference(da.from_array(small, chunks=CHUNK // 4)).compute()


def _write(out, target: str) -> None:
    """``out`` to a zarr as ``maskprep run`` writes (``io.omezarr``): every chunk stored.
    ``to_zarr``'s default tests each chunk for emptiness first, in zarr's one event-loop
    thread: 0.8 s per 256 MP that no second worker can share."""
    import dask.array as da
    import zarr

    array = zarr.create_array(store=target, shape=out.shape, chunks=(CHUNK,) * out.ndim,
                              dtype=out.dtype, fill_value=0, overwrite=True,
                              config={"write_empty_chunks": True})
    da.store(out.rechunk(array.chunks), array, lock=False)


def _digest(array) -> str:
    import hashlib

    h = hashlib.sha256()
    for y in range(0, array.shape[0], CHUNK):
        h.update(array[y:y + CHUNK].tobytes())
    return h.hexdigest()[:16]


def _child(mode: str, source: Path, workers: int, cap: int | None) -> dict:
    with tempfile.TemporaryDirectory(dir=source.parent) as tmp:
        env = dict(os.environ, OMP_NUM_THREADS=str(workers))
        done = subprocess.run([sys.executable, __file__, "--child", mode, str(source),
                               str(Path(tmp) / "out.zarr"), str(workers), str(cap or 0)],
                              capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"mode": mode, "workers": workers, "error": done.stderr.strip().splitlines()[-1]
                if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_child(mode: str, source: str, target: str, workers: str, cap: str) -> int:
    """In the child process: pinned to ``workers`` cores, under a data-size cap if any."""
    os.sched_setaffinity(0, range(int(workers)))
    if int(cap):
        resource.setrlimit(resource.RLIMIT_DATA, (int(cap), int(cap)))
    print(json.dumps(measure(mode, source, target, int(workers))))
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        return _run_child(*sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], metavar="MP")
    parser.add_argument("--memory-max-mp", type=int, default=1024,
                        help="largest size also run in memory")
    parser.add_argument("--reference-max-mp", type=int, default=1024,
                        help="largest size the map_overlap + scikit-image reference and the "
                             "2-process cluster run at")
    parser.add_argument("--cap-4gp", default=None, metavar="SIZE",
                        help="also run 4096 MP tiled under this data-size cap (e.g. 2GB)")
    parser.add_argument("--workdir", default=None, help="where inputs are built")
    parser.add_argument("--inputs", default=None, metavar="DIR",
                        help="keep the built inputs in DIR and reuse them on later runs")
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args()
    from dask.utils import parse_bytes

    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as root:
        for mp_ in args.sizes:
            source = Path(args.inputs or root) / f"in-{mp_}.zarr"
            if not source.exists():
                build_input(source, mp_)
            runs = [("machine", 1), ("machine", 2), ("copy", 1), ("tiled", 1), ("tiled", 2)]
            if mp_ <= args.reference_max_mp:
                runs += [("processes", 2), ("reference", 2)]
            if mp_ <= args.memory_max_mp:
                runs.append(("memory", 1))
            for mode, workers in runs:
                row = _child(mode, source, workers, None)
                row["mp"] = mp_
                rows.append(row)
                print(json.dumps(row), flush=True)
            if mp_ == 4096 and args.cap_4gp:
                row = _child("tiled", source, 2, parse_bytes(args.cap_4gp))
                row.update(mp=mp_, cap=args.cap_4gp)
                rows.append(row)
                print(json.dumps(row), flush=True)
    _table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def _table(rows: list[dict]) -> None:
    print(f"\n{'size':>7} {'run':<16} {'s':>8} {'MP/s/core':>10} {'RSS MB':>8}  same as memory")
    memory = {r["mp"]: r.get("digest") for r in rows if r["mode"] == "memory"}
    for r in rows:
        name = f"{r['mode']} x{r['workers']}" + (f" cap {r['cap']}" if "cap" in r else "")
        if "error" in r:
            print(f"{r['mp']:>5}MP {name:<16} failed: {r['error']}")
            continue
        rate = r["pixels"] / 2**20 / r["seconds"] / r["workers"]
        same = "" if r["mp"] not in memory or r["mode"] not in ("tiled", "processes") else (
            "yes" if r["digest"] == memory[r["mp"]] else "no")
        print(f"{r['mp']:>5}MP {name:<16} {r['seconds']:>8.1f} {rate:>10.1f} "
              f"{r['rss_mb']:>8.0f}  {same}")
    seconds = {(r["mp"], r["mode"], r["workers"]): r["seconds"] for r in rows if "error" not in r}
    for mp_ in sorted({r["mp"] for r in rows}):
        ratios = [f"{mode} {seconds[mp_, mode, 1] / seconds[mp_, mode, 2]:.2f}x"
                  for mode in ("machine", "tiled") if (mp_, mode, 1) in seconds
                  and (mp_, mode, 2) in seconds]
        print(f"{mp_:>5}MP one worker -> two: " + ", ".join(ratios))


if __name__ == "__main__":
    sys.exit(main())
