"""Running a recipe over files: planned and checked before any work, one file at a time,
each failure isolated and reported, and nothing a person made ever replaced.

- :func:`plan_batch` checks the inputs and the output folder before anything is written:
  every input exists, two inputs never write the same mask, and a mask never replaces an
  input (an output folder that holds inputs needs a ``suffix`` for the masks).
- :func:`run_file` replaces an existing file only if maskprep wrote it (its provenance
  says so) and it holds no hand edits but those the recipe replays; with ``resume`` it
  keeps a mask made by the recipe running from the input's pixels as they are now, and
  makes a damaged one again.
- :func:`write_summary` writes the CSV atomically and, on resume, keeps the rows of the
  files this run did not touch.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import dask
import numpy as np

from .cluster import CONNECT_TIMEOUT, start_client, worker_memory
from .core.arrays import checksum
from .core.errors import BadValueError, MaskprepError, MaskprepWarning, shown
from .core.thread_warnings import heard
from .core.units import check_pixel_size
from .engine.tiled_edit import EDIT_OP
from .io import (
    IMAGE_SUFFIXES,
    MASK_FORMATS,
    SLIDE_SUFFIXES,
    TIFF_SUFFIXES,
    ImageReadError,
    atomic_write,
    check_channel,
    check_label_name,
    clean_stale_temporaries,
    decoded_size,
    each_frame,
    find_images,
    image_group,
    is_lazy_path,
    is_zarr_array,
    keep_tiff_open,
    open_lazy,
    provenance,
    read_frame_interval,
    read_image_axes,
    read_pixel_size,
    read_provenance,
    series_numbers,
    write_mask,
)
from .io.files import check_name_length, head_line, spreadsheet_text
from .io.images import SeveralImagesError, check_series, numbers_text
from .io.masks import check_mask_shape
from .io.recipe_text import load_plain
from .large_images import (
    DEFAULT_CHUNK,
    check_png_fits,
    check_runs_fit,
    check_tiled_runs,
    count_frames,
    count_objects,
    image_budget,
    input_checksum,
    lazy_pixel_size,
    mask_pixel_size,
    needs_tiling,
    run_file_tiled,
)
from .recipe import Recipe, check_gives_mask, check_model_files

__all__ = [
    "SUMMARY_NAME",
    "BatchPlan",
    "FileResult",
    "Tiling",
    "check_replaceable",
    "count_objects",
    "output_path",
    "plan_batch",
    "plan_outputs",
    "run_batch",
    "run_file",
    "write_summary",
]

SUMMARY_NAME = "maskprep-summary.csv"
_SUFFIX = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")
_SUMMARY_MAX_BYTES = 64 * 2**20  # a previous summary larger than this is not merged
# A file name that is not UTF-8 (names are bytes on Linux) keeps its bytes in the summary,
# read back as the same name.
_FILE_NAMES = "surrogateescape"


@dataclass
class FileResult:
    """What happened to one input file (one row of the summary CSV)."""

    file: str
    status: str  # "ok", "skipped" (its mask was there, from this recipe) or "failed"
    output: str = ""
    objects: int = 0
    foreground_fraction: float = 0.0
    seconds: float = 0.0
    error: str = ""
    warnings: str = ""

    def describe(self) -> str:
        """The error as one line that names the file."""
        return self.error if self.error.startswith(self.file) else f"{self.file}: {self.error}"


def output_path(path: Path, outdir: Path, fmt: str, suffix: str = "",
                series: int | None = None) -> Path:
    """``outdir/<stem><suffix>.<fmt>``; of an image ``series`` of a file (positions, wells),
    ``<stem>_s<series><suffix>.<fmt>``."""
    of_series = "" if series is None else f"_s{series}"
    return check_name_length(outdir / f"{path.stem}{of_series}{suffix}.{fmt}", "the mask",
                             "a shorter suffix or input file name")


@dataclass(frozen=True)
class BatchPlan:
    """Inputs and the mask each writes, checked by :func:`plan_batch`."""

    recipe: Recipe
    outputs: dict[Path, Path]  # input -> mask, in input order
    outdir: Path
    fmt: str = "tif"
    resume: bool = False
    tiled: frozenset[Path] = frozenset()  # inputs that run tiled (see Tiling)
    tiling: Tiling = field(default_factory=lambda: Tiling())
    pixel_size: tuple[float, ...] | None = None  # None: each file's own, if it states one
    channel: int | str | None = None  # the one of each file's channels: number or name
    # With a series chosen: input -> {series: its mask}, written instead of `outputs`'s
    series: dict[Path, dict[int, Path]] = field(default_factory=dict)

    @property
    def runs(self) -> list[tuple[Path, int | None, Path]]:
        """(input, series or None, mask) of each mask the batch writes, in input order."""
        if not self.series:
            return [(path, None, out) for path, out in self.outputs.items()]
        return [(path, number, out) for path, masks in self.series.items()
                for number, out in masks.items()]


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _check_replaces_no_input(masks: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Raise if a mask is one of ``inputs`` (the same file, a link to it too)."""
    input_ids = {_file_id(p) for p in inputs} - {None}
    replaced = next((m for m in masks if _file_id(m) in input_ids), None)
    if replaced is not None:
        raise BadValueError(f"the mask {replaced} would replace an input; write elsewhere")


def plan_outputs(inputs: Iterable[str | Path], outdir: str | Path, *, fmt: str = "tif",
                 suffix: str = "") -> dict[Path, Path]:
    """The mask each input image writes, checked before any work (:class:`BadValueError`
    in one line): ``inputs`` are image files or folders of them; masks go to
    ``outdir/<stem><suffix>.<fmt>``. Every input must exist, two inputs may not write the
    same mask, and a mask may not replace an input: an ``outdir`` that holds inputs needs a
    ``suffix``, and masks found there from an earlier run with that suffix are not inputs."""
    if fmt not in MASK_FORMATS:
        raise BadValueError(f"format {shown(fmt)}; accepted: {', '.join(MASK_FORMATS)}")
    if suffix and not _SUFFIX.match(suffix):
        raise BadValueError(f"suffix {shown(suffix)}; accepted: letters, digits and _ + - . "
                            "(not starting with a dot), e.g. _mask")
    inputs = [Path(p) for p in inputs]
    missing = next((p for p in inputs if not p.exists()), None)
    if missing is not None:
        raise BadValueError(f"{missing}: no such file or folder")
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise BadValueError(f"output folder {outdir} exists and is not a folder")
    here = outdir.resolve()
    paths = [p for p in find_images(inputs) if not (
        suffix and p.parent.resolve() == here and p.name.endswith(f"{suffix}.{fmt}"))]
    if not paths:
        raise BadValueError("no image files (" + ", ".join((*IMAGE_SUFFIXES, *SLIDE_SUFFIXES))
                            + ", .zarr) in the inputs given")
    store = next((p for p in paths if p.is_dir() and here.is_relative_to(p.resolve())), None)
    if store is not None:  # its labels/ are written with --label-name only
        raise BadValueError(f"the output folder {outdir} is inside the input store "
                            f"{store}; write to a folder outside it (or into its labels/ "
                            "with --label-name)")
    held = next((p for p in paths if p.parent.resolve() == here), None)
    if held is not None and not suffix:
        raise BadValueError(f"the output folder {outdir} holds the input {held.name}, which its "
                            "mask could replace; write to another folder or name the masks "
                            "apart with a suffix (--suffix _mask)")
    outputs: dict[Path, Path] = {}
    written_by: dict[Path, Path] = {}
    for path in paths:
        out = output_path(path, outdir, fmt, suffix)
        other = written_by.setdefault(out, path)
        if other != path:
            raise BadValueError(f"{other} and {path} would both write {out}; give them "
                                "different names, or write their masks to different folders "
                                "(in one folder, the second replaces the first)")
        outputs[path] = out
    _check_replaces_no_input(outputs.values(), paths)
    return outputs


def plan_batch(recipe: Recipe, inputs: Iterable[str | Path], outdir: str | Path, *,
               fmt: str = "tif", suffix: str = "", resume: bool = False,
               tiling: Tiling | None = None, pixel_size: Any = None,
               label_name: str | None = None, channel: int | str | None = None,
               series: int | str | None = None) -> BatchPlan:
    """A batch checked before it starts (see :func:`plan_outputs`), with the inputs that
    run tiled (``tiling``, default :class:`Tiling`'s; their headers are read): those need
    a recipe that can run tiled and a tif or zarr output. ``pixel_size`` (micrometres per
    pixel; no more values than each input has spatial axes) is used for every file instead
    of the one it states; ``channel`` is the one to segment of each file's channels (its
    number from 0, or its name). With ``label_name`` every input must be an OME-Zarr store,
    and its result goes into it as ``labels/<label_name>`` (the image is never written).
    ``series``: the image (from 0) of each multi-series file (an OME-TIFF of positions or
    wells) to run, or ``"all"``: each of them, as one of its own (:func:`_series_masks`).
    The recipe must fit each input's axes and pixel size (:func:`~.large_images.check_runs_fit`)."""
    sizes = None if pixel_size is None else check_pixel_size(pixel_size)
    if channel is not None:
        channel = check_channel(channel)
    if series != "all":
        series = check_series(series, "a series' number from 0, or 'all' (each image of a "
                              "multi-series file)")
    if recipe.inputs:
        name, kind = next(iter(recipe.inputs.items()))
        raise BadValueError(f"the recipe declares the input {name!r} ({kind}), which a batch "
                            f"cannot give; run it from Python (recipe.run(image, {name}=...)) "
                            "or in napari")
    check_model_files(recipe.steps)
    _check_no_disabled_sources(recipe)
    check_gives_mask(recipe)
    outputs = plan_outputs(inputs, outdir, fmt=fmt, suffix=suffix)
    _check_summary_replaceable(Path(outdir) / SUMMARY_NAME)
    tiling = Tiling() if tiling is None else tiling
    tiled = frozenset(path for path in outputs if tiling.applies(path))
    if label_name is not None:
        check_label_name(label_name)
        if series is not None:
            raise BadValueError(f"series {series!r} with a label name, which writes into "
                                "OME-Zarr stores, one image each; accepted: either alone")
        other = next((p for p in outputs if not (p in tiled and p.is_dir())
                      or is_zarr_array(p)), None)  # an array holds no labels/
        if other is not None:
            raise BadValueError(f"{other} is not an OME-Zarr store run tiled; a label name "
                                "writes into the input stores only")
        outputs = {path: image_group(path) / "labels" / label_name for path in outputs}
    masks = {} if series is None else _series_masks(outputs, series, Path(outdir), fmt, suffix)
    plan = BatchPlan(recipe, outputs, Path(outdir), fmt, resume, tiled, tiling, sizes, channel,
                     masks)
    if fmt == "png":  # tiled, or of more than a plane
        check_png_fits([run[:2] for run in plan.runs], tiled, channel)
    if tiled:
        check_tiled_runs(recipe.steps, tiled, tiling.object_size, channel, series)
    check_runs_fit(recipe, [run[:2] for run in plan.runs], sizes, tiled, channel)
    return plan


def _series_masks(outputs: dict[Path, Path], series: int | str, outdir: Path, fmt: str,
                  suffix: str) -> dict[Path, dict[int, Path]]:
    """The mask of each series that each input runs: ``series``, or with ``"all"`` each
    image of the file (:func:`~.io.series_numbers`, read from its header; a file of one
    image is series 0), named ``<stem>_s<N><suffix>.<fmt>``: the name says which, so no
    series replaces another's mask, and a name is never another input's mask (the series
    number ends it). Raises if one would replace an input (a link to it)."""
    masks = {}
    for path in outputs:
        numbers = series_numbers(path) if series == "all" else [int(series)]
        masks[path] = {n: output_path(path, outdir, fmt, suffix, n) for n in numbers}
    _check_replaces_no_input((m for each in masks.values() for m in each.values()), outputs)
    return masks


def _check_no_disabled_sources(recipe: Recipe) -> None:
    """Raise if an enabled step reads a disabled one: it fails on every image."""
    disabled = {s.id for s in recipe.steps if not s.enabled and s.id is not None}
    for number, step in enumerate(recipe.steps, start=1):
        unset = next((src for src in step.inputs.values() if src in disabled), None)
        if step.enabled and unset is not None:
            raise BadValueError(f"step {number} ({step.op}) reads {unset!r}, the output of a "
                                "disabled step; enable it or change the input")


def check_replaceable(out: Path, recipe_text: str | None = None) -> dict | None:
    """The provenance of ``out`` if maskprep wrote it, None if it does not exist; raises
    :class:`BadValueError` if no provenance reads from it (another's file, or ours damaged
    past it), or it holds hand edits that ``recipe_text`` (the recipe about to replace it)
    is not the one to replay: neither is ever replaced."""
    if not out.exists() and not out.is_symlink():
        return None
    try:
        stored = read_provenance(out, labels=False)  # an image store holding our label: not ours
    except ImageReadError:
        raise BadValueError(f"{out} exists and has no provenance maskprep can read; it is left "
                            "as it is (move it, or write to another folder)") from None
    if stored["recipe"] != recipe_text and _hand_edited(stored["recipe"]):
        raise BadValueError(f"{out} holds hand edits ({EDIT_OP} in the recipe that made it); "
                            "it is left as it is (move it, or write to another folder)")
    return stored


def _hand_edited(recipe_text: str) -> bool:
    """Whether a recipe (as text, read as data) has an enabled hand edit step."""
    try:
        steps = load_plain(recipe_text)["steps"]
        return any(s.get("op") == EDIT_OP and s.get("enabled") is not False for s in steps)
    except Exception:  # a recipe that does not read as one may hold edits all the same
        return EDIT_OP in recipe_text


@dataclass(frozen=True)
class Tiling:
    """When an image runs tiled: ``mode`` "auto" (an OME-Zarr store, or a TIFF of more than
    ``budget`` bytes of pixels; default: what :func:`worker_memory` leaves one in-memory
    run, over :data:`large_images.MEMORY_PER_IMAGE_BYTE`), "always" or "never"; ``chunk``
    is the chunks' side in pixels; ``object_size`` lets split touching and watershed run
    tiled (see :mod:`.engine.tiled_objects`)."""

    mode: str = "auto"
    budget: int | None = None
    chunk: int = DEFAULT_CHUNK
    object_size: int | None = None  # the widest object (px), for steps that split objects

    def applies(self, path: Path) -> bool:
        """Whether ``path`` runs tiled; raises if ``mode`` asks what its type cannot."""
        if self.mode == "never" and (path.is_dir() or path.suffix.lower() in SLIDE_SUFFIXES):
            kind = "a zarr store" if path.is_dir() else f"a {path.suffix} slide"
            raise BadValueError(f"{path}: {kind} runs tiled only; --tiled never applies to "
                                "TIFF files")
        if self.mode == "always" and path.suffix.lower() not in TIFF_SUFFIXES and (
                not path.is_dir()):
            raise BadValueError(f"{path}: a {path.suffix or 'file without suffix'} image runs "
                                "in memory only; --tiled always applies to TIFF files and "
                                "OME-Zarr stores")
        if self.mode != "auto":
            return self.mode == "always"
        return needs_tiling(path, self.memory_budget)

    @property
    def memory_budget(self) -> int:
        """The most bytes of pixels an image may take to run in memory."""
        return image_budget(worker_memory(1)) if self.budget is None else self.budget

    def check_fits(self, path: Path) -> None:
        """Raise :class:`BadValueError` for a PNG or JPEG over :attr:`memory_budget`, from
        its header: those run in memory only, and decoding one would take it all."""
        size = decoded_size(path)
        if size is not None and size[2] > self.memory_budget:
            height, width, needed = size
            raise BadValueError(
                f"{path}: a {width} x {height} px image takes {needed / 2**30:.3g} GiB once "
                f"read, over the {self.memory_budget / 2**30:.3g} GiB an image may take in "
                "memory (--memory-limit); PNG and JPEG run in memory only: save it as a "
                "TIFF or OME-Zarr to run it tiled")


def _run_tiled(recipe: Recipe, path: Path, out: Path, text: str, tiling: Tiling,
               pixel_size: tuple[float, ...] | None, input_sum: str | None,
               channel: int | str | None, series: int | None) -> FileResult:
    (objects, foreground, pixels), caught = run_file_tiled(
        recipe, path, out, chunk=tiling.chunk, recipe_text=text, pixel_size=pixel_size,
        object_size=tiling.object_size, input_checksum=input_sum, channel=channel,
        series=series)
    return FileResult(str(path), "ok", str(out), objects=objects,
                      foreground_fraction=round(foreground / max(pixels, 1), 6),
                      warnings="; ".join(caught))


def _measured_file(result: FileResult, out: Path) -> FileResult:
    """``result`` with the objects and foreground of the mask written at ``out``."""
    if out.suffix == ".zarr" or is_lazy_path(out, image_budget(worker_memory(1))):
        with open_lazy(out) as written:
            objects, foreground = count_frames(written.data, written.axes)
            result.objects = objects
            result.foreground_fraction = round(foreground / max(written.data.size, 1), 6)
        return result
    return _measured(result, *read_image_axes(out))


def _measured(result: FileResult, mask: np.ndarray, axes: str) -> FileResult:
    """``result`` with the objects (of each frame of a time-lapse, added) and foreground
    of ``mask``."""
    result.objects = sum(map(count_objects, mask)) if axes.startswith("t") else (
        count_objects(mask))
    result.foreground_fraction = round(float(np.count_nonzero(mask)) / mask.size, 6)
    return result


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, SeveralImagesError):
        return exc.saying(f"one chosen with --series N ({numbers_text(exc.numbers)}), or each "
                          "as an image of its own with --series all (series=N in Python)")
    if isinstance(exc, MaskprepError) and str(exc):  # one line but for a file name's breaks
        return str(exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    expected = isinstance(exc, MaskprepError | ValueError | TypeError)
    return first if expected and first else f"{type(exc).__name__}: {first}"


def _same_run(stored: dict | None, text: str, source: str, channel: int | str | None,
              series: int | None, used: tuple[float, ...] | None,
              carried: tuple[float, ...] | None) -> bool:
    """Whether the provenance ``stored`` says this recipe made the mask from ``channel``
    of image ``series`` of a file of this name, converting sizes with ``used`` and giving
    the mask ``carried`` as its pixel size (the input's pixels are compared apart)."""
    return (stored is not None and stored["recipe"] == text
            and stored["input"]["source"] == source
            and stored["input"].get("channel") == channel
            and stored["input"].get("series") == series
            and stored["input"].get("pixel_size") == (used and list(used))
            and (stored.get("mask") or {}).get("pixel_size") == (carried and list(carried)))


def _kept_mask(stored: dict, input_sum: str, path: Path, out: Path
               ) -> tuple[FileResult | None, str]:
    """The earlier mask at ``out`` as a skipped result if it was made from these pixels
    and reads whole; else None, and why it is made again."""
    if stored["input"]["checksum"] != input_sum:
        return None, f"{path.name} changed since its mask was made; made again"
    try:
        return _measured_file(FileResult(str(path), "skipped", str(out)), out), ""
    except Exception as exc:  # readers fail in any way on damage; the mask is ours to redo
        return None, f"the earlier mask is unreadable ({_first_line(exc)}); made again"


def run_file(recipe: Recipe, path: Path, out: Path, *, resume: bool = False,
             recipe_text: str | None = None, tiling: Tiling | None = None,
             pixel_size: Any = None, channel: int | str | None = None,
             series: int | None = None) -> FileResult:
    """Read ``path`` (its image ``series``, for a multi-series file), run ``recipe``,
    write the mask ``out`` with provenance; never raises for a bad input or a failing
    step, and never replaces a file maskprep did not write, or hand edits another recipe
    made (:func:`check_replaceable`).

    An image that ``tiling`` says is too large for memory (default: :class:`Tiling`'s)
    runs tiled (:mod:`.large_images`) and streams its result to ``out``. Sizes in µm are
    converted with ``pixel_size``, else with the file's (:func:`~.io.read_pixel_size`),
    which the provenance records; the mask carries it (:func:`~.large_images.mask_pixel_size`)
    and a time-lapse's time between frames, tiled too. ``channel``: the one to segment.

    With ``resume`` an earlier mask is kept only if its provenance names this recipe,
    file name, channel, series, pixel size for sizes in micrometres and pixel size given
    to the mask, the input's pixels still have the checksum it recorded (the input is
    read once more, tiled ones band by band, but not processed) and the mask reads whole;
    otherwise it is made again, and the result's warnings say why."""
    start = time.perf_counter()
    text = recipe.dumps() if recipe_text is None else recipe_text
    tiling = Tiling() if tiling is None else tiling
    try:
        tiled = tiling.applies(path)
        if not tiled:
            tiling.check_fits(path)
        given = None if pixel_size is None else check_pixel_size(pixel_size)
        stated = lazy_pixel_size(path, series) if tiled else read_pixel_size(path, series)
        used = (stated if given is None else given) if recipe.uses_units else None
        carried = mask_pixel_size(given, stated)
        stored = check_replaceable(out, text)
        image, axes, input_sum, note = None, "", None, ""
        if resume and _same_run(stored, text, path.name, channel, series, used, carried):
            if tiled:
                input_sum = input_checksum(path, channel, series)
            else:
                image, axes = read_image_axes(path, channel, series)
                input_sum = checksum(image)
            kept, note = _kept_mask(stored, input_sum, path, out)
            if kept is not None:
                return kept
        if tiled:
            done = _run_tiled(recipe, path, out, text, tiling, given, input_sum, channel,
                              series)
            done.warnings = "; ".join(filter(None, (note, done.warnings)))
            done.seconds = round(time.perf_counter() - start, 4)
            return done
        if image is None:
            image, axes = read_image_axes(path, channel, series)
        check_mask_shape(out, image.shape[:len(axes.rstrip("c"))])  # the result's shape
        caught: list[tuple[Any, ...]] = []  # this file's alone, not other threads'
        with heard(caught.append, always=MaskprepWarning):
            result = each_frame(lambda frame: recipe.run(frame, pixel_size=used), image, axes)
        write_mask(out, result, metadata=provenance(text, image, source=path.name,
                                                    pixel_size=used, input_checksum=input_sum,
                                                    axes=axes, mask_pixel_size=carried,
                                                    channel=channel, series=series),
                   pixel_size=carried, axes=axes.rstrip("c"),
                   frame_interval=read_frame_interval(path, series))
        done = FileResult(str(path), "ok", str(out), warnings="; ".join(
            dict.fromkeys(filter(None, (note, *(str(shown[0]) for shown in caught))))))
        _measured(done, result, axes)
    except Exception as exc:  # one file's failure, expected or not, must not stop a batch
        return FileResult(str(path), "failed", error=_first_line(exc),
                          seconds=round(time.perf_counter() - start, 4))
    done.seconds = round(time.perf_counter() - start, 4)
    return done


def _run_file_task(recipe_text: str, path: str, out: str, resume: bool,
                   pixel_size: tuple[float, ...] | None, budget: int | None,
                   channel: int | str | None, series: int | None) -> FileResult:
    # Runs on a dask worker: the recipe travels as text (data) and the image is read here,
    # so the client never holds or ships pixels. Images that run tiled are not sent here.
    return run_file(Recipe.loads(recipe_text), Path(path), Path(out), resume=resume,
                    recipe_text=recipe_text, tiling=Tiling("never", budget),
                    pixel_size=pixel_size, channel=channel, series=series)


def run_batch(
    plan: BatchPlan,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    memory_limit: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Run a planned batch, in this process or, with ``workers`` or ``scheduler``, one dask
    task per file. ``on_result`` sees each result as it comes (and may raise to stop).
    ``memory_limit``: bytes the local workers share (see :func:`worker_memory`)."""
    items = plan.runs
    tiled = [(i, *run) for i, run in enumerate(items) if run[0] in plan.tiled]
    whole = [(i, *run) for i, run in enumerate(items) if run[0] not in plan.tiled]
    client = cluster = None
    if scheduler is not None or (workers is not None and whole):
        client, cluster = start_client(workers, scheduler, connect_timeout, memory_limit)
    try:
        _make_folder(plan.outdir)
        clean_stale_temporaries(plan.outdir)
        text = plan.recipe.dumps()
        results: list[FileResult | None] = [None] * len(items)
        # Tiled images run here, their chunks on a --scheduler cluster, or on as many threads
        # as local workers: 256 MP on 2 cores took 8.7 s so, 13.2 s through 2 worker
        # processes (and their start), which send each strip of the mask here to be written.
        # Whole images run one task each.
        threads = workers if scheduler is None else None
        outcomes: Iterable[tuple[int, FileResult]] = (
            (i, _run_here(plan, path, number, out, text, threads))
            for i, path, number, out in _kept_open(tiled))
        if client is None:
            outcomes = itertools.chain(outcomes, (
                (i, run_file(plan.recipe, path, out, resume=plan.resume, recipe_text=text,
                             tiling=replace(plan.tiling, mode="never"),
                             pixel_size=plan.pixel_size, channel=plan.channel, series=number))
                for i, path, number, out in _kept_open(whole)))
        else:
            outcomes = itertools.chain(outcomes, _dask_outcomes(
                client, text, whole, plan.resume, plan.pixel_size, plan.tiling.budget,
                plan.channel))
        for index, result in outcomes:
            path, number, _ = items[index]
            if number is not None:
                _name_series(result, path, number)
            results[index] = result
            if on_result is not None:
                on_result(result)
        return [r for r in results if r is not None]
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _kept_open(runs: list[tuple[int, Path, int | None, Path]]
               ) -> Iterator[tuple[int, Path, int | None, Path]]:
    """``runs`` in order, each file kept open while its series run
    (:func:`~.io.keep_tiff_open`): a plate's header was parsed again for each well."""
    for path, same_file in itertools.groupby(runs, key=lambda run: run[1]):
        with keep_tiff_open(path):
            yield from same_file


def _name_series(result: FileResult, path: Path, series: int) -> None:
    """Name the image ``series`` of ``path`` in ``result``'s file, and so in its summary
    row and its error line (a failed series has no mask whose name says which)."""
    result.file = f"{path} (series {series})"
    result.error = result.error.removeprefix(f"{path}: ")


def _run_here(plan: BatchPlan, path: Path, series: int | None, out: Path, text: str,
              threads: int | None) -> FileResult:
    """A tiled image's run, its chunks on ``threads`` of this process if given."""
    with (dask.config.set(scheduler="threads", num_workers=threads) if threads else
          contextlib.nullcontext()):
        return run_file(plan.recipe, path, out, resume=plan.resume, recipe_text=text,
                        tiling=replace(plan.tiling, mode="always"),
                        pixel_size=plan.pixel_size, channel=plan.channel, series=series)


def _make_folder(outdir: Path) -> None:
    """Make the output folder; raises :class:`BadValueError` in one line if it cannot be,
    or if files cannot be written in it."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way, no permission, a read-only disk
        raise BadValueError(f"output folder {outdir} cannot be made ({exc.strerror}); "
                            "accepted: a folder, or a path where one can be made") from None
    # Else every file failed on its own ('Permission denied' on a hidden temporary name),
    # then the summary, as a usage error naming that temporary.
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise BadValueError(f"output folder {outdir} is not writable (read-only, or no "
                            "permission); accepted: a folder this user can write files in")


def _dask_outcomes(client: Any, text: str, items: list[tuple[int, Path, int | None, Path]],
                   resume: bool, pixel_size: tuple[float, ...] | None, budget: int | None,
                   channel: int | str | None) -> Iterable[tuple[int, FileResult]]:
    from dask.distributed import as_completed

    # Workers get absolute paths (a cluster's workers run in folders of their own); the
    # summary names files as the run was given them.
    paths = {i: (path, out) for i, path, _, out in items}
    futures = {client.submit(_run_file_task, text, str(path.resolve()), str(out.resolve()),
                             resume, pixel_size, budget, channel, number, pure=False): i
               for i, path, number, out in items}
    for future in as_completed(futures):
        index = futures[future]
        path, out = paths[index]
        try:
            result = future.result()
        except Exception as exc:  # a worker lost while running this file
            result = FileResult(str(path), "failed", error=_first_line(exc))
        sent = str(path.resolve())
        if result.error.startswith(sent):
            result.error = str(path) + result.error[len(sent):]
        result.file = str(path)
        if result.output:
            result.output = str(out)
        yield index, result


def _check_summary_replaceable(path: Path) -> None:
    """Raise if a file at the summary's path is not a summary maskprep wrote."""
    if not path.exists() and not path.is_symlink():
        return
    if head_line(path) != ",".join(f.name for f in fields(FileResult)):
        raise BadValueError(f"{path} exists and is not a summary maskprep wrote; it is left "
                            "as it is (move it, or write to another folder)")


def _previous_rows(path: Path) -> list[dict[str, str]]:
    """The rows of an earlier summary at ``path``; none if it is missing or not ours."""
    names = [f.name for f in fields(FileResult)]
    try:
        if path.stat().st_size > _SUMMARY_MAX_BYTES:
            return []
        with open(path, newline="", encoding="utf-8", errors=_FILE_NAMES) as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != names:
                return []
            return [row for row in reader if None not in row and None not in row.values()]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


_TEXT_CELLS = ("file", "status", "output", "error", "warnings")  # the others are numbers


def _as_text_cells(row: dict[str, Any]) -> dict[str, Any]:
    """A summary row whose text a spreadsheet shows as text, never runs as a formula."""
    return {k: spreadsheet_text(v) if k in _TEXT_CELLS else v for k, v in row.items()}


def write_summary(results: list[FileResult], path: Path, *, merge: bool = False) -> Path:
    """The per-file summary as CSV, written atomically. With ``merge`` the rows of an
    earlier summary for files not in ``results`` are kept (a resumed batch)."""
    names = [f.name for f in fields(FileResult)]
    rows = [_as_text_cells(asdict(r)) for r in results]
    done = {row["file"] for row in rows}
    # An earlier summary's rows as written: by this version (neutralised already) or an
    # older one (not yet).
    kept = [_as_text_cells(row) for row in _previous_rows(path) if merge
            and spreadsheet_text(row["file"]) not in done]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8", errors=_FILE_NAMES) as f:
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            writer.writerows(kept)
            writer.writerows(rows)

    return atomic_write(path, write)
