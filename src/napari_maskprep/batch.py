"""Running a recipe over files: one file at a time, each failure isolated and reported."""

from __future__ import annotations

import csv
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from .core import MaskprepWarning
from .io import ImageReadError, provenance, read_image, write_mask
from .recipe import Recipe, RecipeError

__all__ = [
    "FileResult",
    "count_objects",
    "output_path",
    "run_file",
    "run_files",
    "run_files_dask",
    "write_summary",
]


@dataclass
class FileResult:
    """What happened to one input file (one row of the summary CSV)."""

    file: str
    status: str  # "ok", "skipped" (output existed) or "failed"
    output: str = ""
    objects: int = 0
    foreground_fraction: float = 0.0
    seconds: float = 0.0
    error: str = ""
    warnings: str = ""


def count_objects(result: np.ndarray) -> int:
    """Labels: distinct non-zero ids; a mask: its connected objects (full connectivity)."""
    if result.dtype == np.uint8 and result.max(initial=0) <= 1:
        return int(ndi.label(result, structure=np.ones((3,) * result.ndim))[1])
    return int(np.count_nonzero(np.bincount(result.ravel())[1:]))


def output_path(path: Path, outdir: Path, fmt: str) -> Path:
    return outdir / f"{path.stem}.{fmt}"


def run_file(recipe: Recipe, path: Path, outdir: Path, fmt: str, *, overwrite: bool = True
             ) -> FileResult:
    """Read ``path``, run ``recipe``, write the mask with provenance; never raises for bad input."""
    out = output_path(path, outdir, fmt)
    if out.exists() and not overwrite:
        return FileResult(str(path), "skipped", str(out))
    start = time.perf_counter()
    try:
        image = read_image(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MaskprepWarning)
            result = recipe.run(image)
        meta = provenance(recipe.dumps(), image, source=path.name)
        write_mask(out, result, metadata=meta)
    except Exception as exc:  # one file's failure, expected or not, must not stop a batch
        first = str(exc).splitlines()[0] if str(exc) else ""
        expected = isinstance(exc, ImageReadError | RecipeError | ValueError | TypeError)
        message = first if expected and first else f"{type(exc).__name__}: {first}"
        return FileResult(str(path), "failed", error=message,
                          seconds=round(time.perf_counter() - start, 4))
    return FileResult(
        str(path), "ok", str(out),
        objects=count_objects(result),
        foreground_fraction=round(float(np.count_nonzero(result)) / result.size, 6),
        seconds=round(time.perf_counter() - start, 4),
        warnings="; ".join(dict.fromkeys(str(w.message) for w in caught)),
    )


def run_files(
    recipe: Recipe,
    paths: Iterable[Path],
    outdir: Path,
    fmt: str,
    *,
    overwrite: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Run ``recipe`` on each file in turn; ``on_result`` sees each result as it comes."""
    results = []
    for path in paths:
        result = run_file(recipe, path, outdir, fmt, overwrite=overwrite)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _run_file_task(recipe_text: str, path: str, outdir: str, fmt: str, overwrite: bool
                   ) -> FileResult:
    # Runs on a dask worker: the recipe travels as text (data) and the image is read here,
    # so the client never holds or ships pixels.
    return run_file(Recipe.loads(recipe_text), Path(path), Path(outdir), fmt, overwrite=overwrite)


def run_files_dask(
    recipe: Recipe,
    paths: list[Path],
    outdir: Path,
    fmt: str,
    *,
    overwrite: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: str = "auto",
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Like :func:`run_files`, one dask task per file, on a local cluster of ``workers``
    single-threaded processes or on the ``dask.distributed`` scheduler at ``scheduler``."""
    from dask.distributed import Client, LocalCluster, as_completed

    if scheduler is not None:
        cluster = None
        client = Client(scheduler, timeout="20s")
    else:
        cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                               memory_limit=memory_limit, dashboard_address=None,
                               host="127.0.0.1")
        client = Client(cluster)
    try:
        text = recipe.dumps()
        futures = {client.submit(_run_file_task, text, str(p), str(outdir), fmt, overwrite,
                                 pure=False): i for i, p in enumerate(paths)}
        results: list[FileResult | None] = [None] * len(paths)
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a worker lost while running this file
                result = FileResult(str(paths[index]), "failed",
                                    error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            results[index] = result
            if on_result is not None:
                on_result(result)
        return [r for r in results if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def write_summary(results: list[FileResult], path: Path) -> Path:
    """The per-file summary as CSV (file, status, output, objects, fraction, seconds, error)."""
    fields = list(asdict(FileResult("", "")))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)
    return path
