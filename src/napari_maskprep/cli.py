"""The ``maskprep`` command line: list ops, run a recipe on files, fit one to masks, run the
bundled demo.

Exit status: 0 all inputs done, 1 some inputs failed (the others were written),
2 a bad recipe or bad usage (nothing was run), 130 interrupted (Ctrl-C; the summary lists
what was done), 141 the reader of the output went away (``maskprep ops | head``).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ._version import __version__
from .batch import SUMMARY_NAME, FileResult, Tiling, plan_batch, run_batch, write_summary
from .cluster import (
    CONNECT_TIMEOUT,
    keep_freed_memory,
    scheduler_worker_memory,
    worker_memory,
)
from .core.errors import BadValueError, MaskprepError
from .core.registry import list_ops
from .core.run_callbacks import run_callbacks
from .core.units import check_pixel_size, format_pixel_size
from .export import is_exported_script
from .fit import DEFAULT_TRIALS, MAX_TRIALS, fit_recipe, is_fit_report
from .io import (
    IMAGE_SUFFIXES,
    MASK_FORMATS,
    SLIDE_SUFFIXES,
    check_channel,
    foreign_images,
    list_series,
    provenance_format_note,
    read_provenance,
)
from .large_images import DEFAULT_CHUNK, image_budget
from .presets import preset_names, preset_path
from .recipe import Recipe, RecipeError

__all__ = ["main"]

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141


class UsageError(Exception):
    """Bad arguments or a bad recipe: reported in one line, exit 2, nothing run."""


def _describe_ops(stage: str | None) -> str:
    lines = []
    for spec in list_ops(stage):
        extras = "".join(
            f" [{i.name}: {'/'.join(k.value for k in i.kinds)}{'' if i.required else ', optional'}]"
            for i in spec.inputs
        )
        dims = "/".join(f"{n}D" for n in spec.ndim)
        lines.append(f"{spec.id}  ({spec.input.value} -> {spec.output.value}, {dims}){extras}")
        lines.append(f"    {spec.summary}")
        for p in spec.params:
            unit = f" {p.hints['unit']}" if "unit" in p.hints else ""
            lines.append(f"    {p.name} = {p.to_plain(p.default)!r}{unit}   ({p.accepted()})")
    return "\n".join(lines)


def ops_markdown() -> str:
    """The op table of the README: id, what it does, parameters with defaults."""
    rows = ["| op | input → output | what it does | parameters (defaults) |", "|---|---|---|---|"]
    for spec in list_ops():
        params = ", ".join(f"`{p.name}={p.to_plain(p.default)}`" for p in spec.params)
        extras = ", ".join(f"`{i.name}`" for i in spec.inputs)
        kinds = f"{spec.input.value} → {spec.output.value}" + (f" (+ {extras})" if extras else "")
        rows.append(f"| `{spec.id}` | {kinds} | {spec.summary} | {params or '—'} |")
    return "\n".join(rows)


def _cmd_ops(args: argparse.Namespace) -> int:
    print(ops_markdown() if args.markdown else _describe_ops(args.stage))
    return EXIT_OK


def _load_recipe(path: str) -> Recipe:
    """The recipe file ``path``, or the bundled preset of that name where no such file is
    (a folder of that name, as a folder of images may be, is no recipe)."""
    preset = None if Path(path).is_file() else preset_path(path)
    if preset is None and not Path(path).exists() and Path(path).suffix == "":
        raise UsageError(f"no recipe file or preset {path!r}; presets: "
                         f"{', '.join(preset_names())} (`maskprep presets`)")
    try:
        return Recipe.load(preset or path)
    except RecipeError as exc:
        raise UsageError(f"bad recipe: {exc}") from None


def _cmd_presets(args: argparse.Namespace) -> int:
    for name in preset_names():
        recipe = _load_recipe(str(preset_path(name)))  # not a file of its name in the cwd
        steps = []
        for step in recipe.steps:
            models = [Path(step.params[p.name]["path"]) for p in step.spec.model_params
                      if step.params.get(p.name) is not None]
            size = ", ".join(f"{m.name} {m.stat().st_size / 2**20:.1f} MB" for m in models)
            steps.append(f"{step.op} ({size})" if models else step.op)
        print(f"{name}  {' -> '.join(steps)}")
    return EXIT_OK


def _printable(text: str, keep: str = "\n\t") -> str:
    """``text`` with control characters (terminal escapes among them) shown escaped but
    those in ``keep`` (line breaks and tabs; none for a one-line message about a file whose
    name may hold them). What we print from a file is data, not terminal commands."""
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def _report(results: list[FileResult], outdir: Path, *, merge: bool, total: int,
            interrupted: bool = False) -> int:
    failed = [r for r in results if r.status == "failed"]
    done = sum(r.status == "ok" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    summary = write_summary(results, outdir / SUMMARY_NAME, merge=merge)
    stop = f"interrupted after {len(results)} of {total} images: " if interrupted else ""
    print(f"{stop}{done} written, {skipped} skipped (done before), {len(failed)} failed -> "
          f"{_printable(str(outdir), keep='')} (summary: {summary.name})", file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _tiling(args: argparse.Namespace) -> Tiling:
    """Images above what one in-memory run may use of the memory limit (shared by the local
    workers, or this machine's; a --scheduler cluster's smallest worker's) run tiled."""
    memory = worker_memory(args.workers or 1, args.memory_limit)
    if args.scheduler is not None and args.memory_limit is None:
        memory = scheduler_worker_memory(args.scheduler, CONNECT_TIMEOUT) or memory
    return Tiling(args.tiled, image_budget(memory), args.chunk, args.object_size)


def _chunk_progress(quiet: bool) -> Any:
    """A progress bar over the tasks (chunks of each step) of tiled runs in this thread."""
    from dask.callbacks import Callback

    class Progress(Callback):
        def _start_state(self, dsk: Any, state: Any) -> None:
            self.bar = tqdm(total=sum(len(state[k]) for k in ("ready", "waiting", "running")),
                            unit="chunk", desc="tiled", leave=False, file=sys.stderr,
                            disable=quiet or None)

        def _posttask(self, *args: Any) -> None:
            self.bar.update()

        def _finish(self, *args: Any) -> None:
            self.bar.close()

    return run_callbacks(Progress())


def _plane_by_plane(recipe: Recipe) -> Recipe:
    """``recipe`` with every step run on each 2D plane on its own (``--per-plane``)."""
    return Recipe([dataclasses.replace(step, per_plane=True) for step in recipe.steps],
                  name=recipe.name, inputs=recipe.inputs, base_dir=recipe.base_dir)


def _cmd_run(args: argparse.Namespace) -> int:
    recipe = _load_recipe(args.recipe)
    if args.per_plane:
        recipe = _plane_by_plane(recipe)
    try:
        plan = plan_batch(recipe, args.inputs, args.output, fmt=args.format,
                          suffix=args.suffix, resume=args.resume, tiling=_tiling(args),
                          pixel_size=args.pixel_size, label_name=args.label_name,
                          channel=args.channel, series=args.series)
    except MaskprepError as exc:
        raise UsageError(str(exc)) from None
    foreign = foreign_images(args.inputs)
    if foreign:  # a folder of .czi files beside one .tif ran the .tif without a word
        names = ", ".join(p.name for p in foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        print(_printable(f"maskprep: note: {len(foreign)} file(s) in the folders given are of "
                         f"a kind maskprep does not read, not run ({names}); accepted: "
                         f"{', '.join((*IMAGE_SUFFIXES, *SLIDE_SUFFIXES))}, .zarr (convert "
                         "others to OME-TIFF, e.g. with Fiji or bfconvert)", keep=""),
              file=sys.stderr)
    results: list[FileResult] = []
    bar = tqdm(total=len(plan.runs), unit="image", disable=args.quiet or None,
               file=sys.stderr)

    def on_result(result: FileResult) -> None:
        results.append(result)
        bar.update()
        if result.status == "failed":
            tqdm.write(f"failed: {_printable(result.describe(), keep='')}", file=sys.stderr)
        elif result.warnings:
            tqdm.write(_printable(f"warning: {result.file}: {result.warnings}", keep=""),
                       file=sys.stderr)

    if args.scheduler is None:  # tiled images run in this process, --workers or not
        keep_freed_memory()  # (a local cluster's workers get it from run_batch)
    try:
        with bar, _chunk_progress(args.quiet or not plan.tiled):
            run_batch(plan, workers=args.workers, scheduler=args.scheduler,
                      memory_limit=args.memory_limit, on_result=on_result)
    except KeyboardInterrupt:
        return _report(results, plan.outdir, merge=True, total=len(plan.runs),
                       interrupted=True)
    except MaskprepError as exc:  # no scheduler answered, or no output folder: nothing ran
        raise UsageError(str(exc)) from None
    return _report(results, plan.outdir, merge=plan.resume, total=len(plan.runs))


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    outdir = Path(args.output)
    keep_freed_memory()
    try:
        for line in run_demo(outdir):
            print(line)
    except OSError as exc:  # -o names a file, or a folder that cannot be made
        raise UsageError(_path_error(exc, "a folder, or a path where one can be made")
                         ) from None
    except MaskprepError as exc:
        raise UsageError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                         ) from None
    return EXIT_OK


def _series_listing(path: str) -> str | None:
    """The images of a multi-series file, a line each; None for any other file."""
    try:
        found = list_series(path)
    except OSError:
        return None
    if len(found) < 2:
        return None
    return "\n".join([f"{path}: {len(found)} images ({found[0].kind}); run one with "
                      "--series N, or each with --series all",
                      *(info.describe() for info in found)])


def _cmd_info(args: argparse.Namespace) -> int:
    try:
        info = read_provenance(args.mask)
    except OSError as exc:
        listing = None if args.recipe else _series_listing(args.mask)
        if listing is None:
            raise UsageError(str(exc)) from None
        print(_printable(listing))
        return EXIT_OK
    note = provenance_format_note(info)
    if note is not None:  # beside what is shown, which may be piped to a file
        print(f"maskprep: note: {_printable(note)}; what this one reads is shown (update "
              "napari-maskprep for the rest)", file=sys.stderr)
    if args.recipe:
        print(_printable(info["recipe"]), end="")
        return EXIT_OK
    source = info["input"]
    lines = [
        f"input: {source['source']}  {source['checksum']}  shape {source['shape']} "
        f"{source['dtype']}",
        *([f"pixel size: {format_pixel_size(source['pixel_size'])}"]
          if source.get("pixel_size") else []),
        *([f"channel: {channel}"] if isinstance(channel := source.get("channel"), int | str)
          else []),
        *([f"series: {series}"] if isinstance(series := source.get("series"), int) else []),
        *([f"axes: {axes}" + (" (the recipe ran on each time frame)" if axes[:1] == "t"
                              else "")] if isinstance(axes := source.get("axes"), str) else []),
        f"created: {info['created']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "recipe:",
        "  " + info["recipe"].rstrip("\n").replace("\n", "\n  "),
    ]
    print(_printable("\n".join(lines)))
    return EXIT_OK


_MAX_WORKERS = 256
_MIN_CHUNK, _MAX_CHUNK = 64, 16384  # px: below, per-chunk overheads dominate; above, memory


def _whole_number(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``, else one line naming it."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{_printable(text[:40])!r} is not {what.format(low=low, high=high)}")
        return value

    return parse


_positive_int = _whole_number(1, _MAX_WORKERS, "a whole number from {low} to {high}")
_chunk_side = _whole_number(_MIN_CHUNK, _MAX_CHUNK, "a chunk side from {low} to {high} px")
_object_size = _whole_number(1, _MAX_CHUNK, "an object size from {low} to {high} px")
_channel_number = _whole_number(0, 2**16, "a channel's number, from {low}")
_series_number = _whole_number(0, 2**20, "a series' number from {low} to {high}")


def _series(text: str) -> int | str:
    """An argparse type: a series' number, or ``all``."""
    if text == "all":
        return "all"
    try:
        return _series_number(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or all") from None


def _channel(text: str) -> int | str:
    """An argparse type: a channel's number, or its name as the file gives it."""
    if text.strip().lstrip("-").isdigit():
        return _channel_number(text)
    try:
        return check_channel(text)
    except BadValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _path(text: str) -> str:
    """An argparse type: a path that is not empty (an unset shell variable's "" was taken
    for the current folder: its images run, masks written into it)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path; accepted: a file or folder name")
    return text


def _pixel_size(text: str) -> tuple[float, ...]:
    try:
        return check_pixel_size([float(v) for v in text.split(",")])
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"{_printable(text[:40])!r} is not a pixel size; accepted: micrometres per pixel, "
            "one positive number or one per axis (e.g. 0.5 or 0.5,0.25 or 2,0.5,0.5)"
        ) from None


def _byte_size(text: str) -> int:
    from dask.utils import parse_bytes

    try:
        value = parse_bytes(text)
    except (ValueError, TypeError, OverflowError):
        value = 0
    if value < 2**20:
        raise argparse.ArgumentTypeError(
            f"{_printable(text[:40])!r} is not a memory size of at least 1 MiB (e.g. 2GB, 512MiB)"
        )
    return value


def _cmd_export(args: argparse.Namespace) -> int:
    recipe = _load_recipe(args.recipe)
    output = Path(args.output)
    if (output.exists() or output.is_symlink()) and not is_exported_script(output):
        raise UsageError(f"{output} exists and is not a script maskprep exported; it is left "
                         "as it is (give a new path, or an earlier export to replace)")
    try:
        script = recipe.to_python()
        output.write_text(script, encoding="utf-8")
    except OSError as exc:  # no such folder, no permission
        raise UsageError(_path_error(exc, "a file in a folder that exists and may be "
                                          "written")) from None
    except RecipeError as exc:
        raise UsageError(str(exc)) from None
    print(_printable(f"wrote {args.output}: python {args.output} INPUT... -o OUTDIR", keep=""),
          file=sys.stderr)
    return EXIT_OK


_RECIPE_SUFFIXES = (".maskprep.yaml", ".maskprep.yml", ".maskprep.json", ".yaml", ".yml",
                    ".json")


def _fit_report_path(output: Path) -> Path:
    """Where the scores go by default: ``fitted.maskprep.yaml`` -> ``fitted.fit.csv``."""
    name = output.name
    stem = next((name[: -len(s)] for s in _RECIPE_SUFFIXES if name.lower().endswith(s)), name)
    return output.with_name(f"{stem}.fit.csv")


def _check_written(path: Path, inputs: set[Path], what: str, example: str) -> None:
    if path.resolve() in inputs:
        raise UsageError(f"{what} {path} is one of the inputs; accepted: a new file name")
    # A recipe named fitted.tif in a folder of images is one of its images to run and fit.
    if path.suffix.lower() in (*IMAGE_SUFFIXES, *SLIDE_SUFFIXES):
        raise UsageError(f"{what} {path}: an image file's name, which maskprep run and fit "
                         f"would read as an image; accepted: another suffix ({example})")
    if path.is_dir() or not path.parent.is_dir():
        raise UsageError(f"{what} {path}: not a file in an existing folder")
    if not os.access(path.parent, os.W_OK | os.X_OK):  # else found after the whole search
        raise UsageError(f"{what} {path}: its folder is not writable (read-only, or no "
                         "permission); accepted: a file in a folder this user can write files in")


def _is_recipe(path: Path) -> bool:
    """Whether ``path`` loads as a recipe: a fit's output replaces nothing else."""
    try:
        Recipe.load(path)
    except RecipeError:
        return False
    return True


def _cmd_fit(args: argparse.Namespace) -> int:
    recipe = _load_recipe(args.recipe)
    output = Path(args.output)
    report = Path(args.report) if args.report else _fit_report_path(output)
    inputs = {Path(args.recipe).resolve()}
    for folder in (args.images, args.masks):
        if Path(folder).is_dir():
            inputs.update(p.resolve() for p in Path(folder).iterdir())
    _check_written(output, inputs, "-o", "fitted.maskprep.yaml")
    if report.resolve() == output.resolve():
        raise UsageError(f"--report {report} is the fitted recipe's output (-o); accepted: "
                         "another file name")
    _check_written(report, inputs, "--report", "fitted.fit.csv")
    if (output.exists() or output.is_symlink()) and not _is_recipe(output):
        raise UsageError(f"{output} exists and is not a recipe; it is left as it is (give a "
                         "new path, or a recipe to replace)")
    if report.exists() and not is_fit_report(report):
        named, give = ("", "another --report") if args.report else (
            " (the report's default name)", "--report")
        raise UsageError(f"{report}{named} exists and is not a fit report; it is left as it "
                         f"is (give {give}, or move it)")
    bar = tqdm(total=args.trials, unit="trial", disable=args.quiet or None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        with bar:
            result = fit_recipe(recipe, args.images, args.masks, trials=args.trials,
                                budget=args.budget, holdout=args.holdout or args.holdout_fraction,
                                search=args.search, labels=args.labels,
                                pixel_size=args.pixel_size, seed=args.seed, progress=progress,
                                series=args.series, channel=args.channel)
    except MaskprepError as exc:
        raise UsageError(str(exc)) from None
    try:
        result.recipe.save(output)
        result.write_csv(report)
    except RecipeError as exc:  # the recipe's folder cannot be written
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None
    print(_printable(result.table()))
    stop = " (stopped by the budget)" if result.stopped_by_budget else ""
    changes = ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in result.changed.items())
    changes = changes or "nothing (no trial beat the starting recipe)"
    print(_printable(f"{result.trials} trials{stop}; changed: {changes}"), file=sys.stderr)
    if result.kept:
        print(_printable(f"kept: {'; '.join(result.kept)}"), file=sys.stderr)
    if result.left_out:
        print(_printable(f"left out: {'; '.join(result.left_out)}"), file=sys.stderr)
    print(_printable(f"wrote {output} and {report}", keep=""), file=sys.stderr)
    return EXIT_OK


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"{_printable(text[:40])!r} is not a fraction from 0 up to (not including) 1")
    return value


MAX_BUDGET = 1e9  # seconds: 31 years, no cap a search could reach


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < MAX_BUDGET:
        raise argparse.ArgumentTypeError(f"{_printable(text[:40])!r} is not a number of "
                                         f"seconds above 0 and below {MAX_BUDGET:.0f}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maskprep", description="Prepare binary masks: preprocess -> segment -> refine."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ops = sub.add_parser("ops", help="list every operation with its parameters")
    ops.add_argument("--stage", choices=("preprocess", "segment", "refine"))
    ops.add_argument("--markdown", action="store_true", help="print the README's op table")
    ops.set_defaults(func=_cmd_ops)

    run = sub.add_parser("run", help="run a recipe on image files and folders")
    run.add_argument("recipe", type=_path,
                     help="recipe file (.maskprep.yaml, .yaml or .json), or the name of a "
                          "bundled preset (`maskprep presets`)")
    run.add_argument("inputs", nargs="+", type=_path, metavar="INPUT",
                     help="image files or folders of them")
    run.add_argument("-o", "--output", required=True, type=_path, metavar="OUTDIR",
                     help="output folder")
    run.add_argument("--format", choices=MASK_FORMATS, default="tif",
                     help="mask file format (PNG masks are 0/255; zarr is OME-Zarr; default tif)")
    run.add_argument("--suffix", default="", metavar="TEXT",
                     help="name masks <stem>TEXT.<format> (needed when OUTDIR holds inputs)")
    run.add_argument("--resume", action="store_true",
                     help="skip inputs whose mask this recipe made from the input's pixels "
                          "as they are now, at the same pixel size (a changed input, another "
                          "pixel size or a damaged mask whose provenance still reads is "
                          "redone; an output with no provenance maskprep can read is left as "
                          "it is, and named)")
    run.add_argument("--workers", type=_positive_int, metavar="N",
                     help="run files in parallel on a local dask cluster of N processes, and "
                          "the chunks of a tiled image on N threads")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run files on an existing dask.distributed cluster (tcp://host:port)")
    run.add_argument("--memory-limit", type=_byte_size, metavar="SIZE",
                     help="memory the run may use, shared by the local workers, e.g. 8GB "
                          "(default: 80%% of this machine's, or of its container's limit; at "
                          "least 512 MiB a worker); an image of more than an eighth of a "
                          "worker's share runs tiled (a PNG "
                          "or JPEG that large fails: those run in memory only)")
    run.add_argument("--tiled", choices=("auto", "always", "never"), default="auto",
                     help="run images chunk by chunk: auto (default) for OME-Zarr stores and "
                          "images too large for memory (see --memory-limit)")
    run.add_argument("--chunk", type=_chunk_side, default=DEFAULT_CHUNK, metavar="PX",
                     help=f"side of the chunks of tiled runs in pixels (default {DEFAULT_CHUNK})")
    run.add_argument("--pixel-size", type=_pixel_size, metavar="UM",
                     help="micrometres per pixel (0.5, or per axis: 0.5,0.25 or z,y,x), for "
                          "sizes the recipe gives in um; default: what each file states")
    run.add_argument("--channel", type=_channel, metavar="N",
                     help="segment channel N (from 0, as napari and OME count; or a channel's "
                          "name, as an OME-TIFF or OME-Zarr gives it) of files with several "
                          "channels, or colour N of RGB ones (a grey image is channel 0); "
                          "default: all colours of an RGB "
                          "image, and files of other channels are refused")
    run.add_argument("--series", type=_series, metavar="N|all",
                     help="run image N (from 0) of files holding several of one shape (an "
                          "OME-TIFF's positions or wells), or all: each as an image of its "
                          "own; masks are named <stem>_s<N> (a file of one image is series 0)")
    run.add_argument("--object-size", type=_object_size, metavar="PX",
                     help="the widest object in pixels: lets split touching and watershed run "
                          "tiled, each chunk with that margin (as in memory, up to the ids, "
                          "where no clump of touching objects is wider)")
    run.add_argument("--per-plane", action="store_true",
                     help="run every step on each 2D plane of a stack or volume on its own "
                          "(per_plane: true on each step), e.g. a 2D recipe or preset on a "
                          "z-stack; a time-lapse's frames run one by one without it")
    run.add_argument("--label-name", metavar="NAME",
                     help="write each OME-Zarr input's result into its own store, as "
                          "labels/NAME beside the image (OUTDIR gets the summary)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="run the bundled recipe on the bundled sample images")
    demo.add_argument("-o", "--output", default="maskprep-demo", type=_path, metavar="OUTDIR",
                      help="output folder (default ./maskprep-demo)")
    demo.set_defaults(func=_cmd_demo)

    export = sub.add_parser("export", help="write a recipe as a standalone Python script")
    export.add_argument("recipe", type=_path, help="recipe file or preset name")
    export.add_argument("-o", "--output", required=True, type=_path, metavar="SCRIPT",
                        help="script path")
    export.set_defaults(func=_cmd_export)

    fit = sub.add_parser("fit", help="fit a recipe's parameters to masks (best mean Dice)")
    fit.add_argument("recipe", type=_path, help="the starting recipe file")
    fit.add_argument("--images", required=True, type=_path, metavar="DIR",
                     help="folder of images")
    fit.add_argument("--masks", required=True, type=_path, metavar="DIR",
                     help="folder of their masks, paired by file stem (0/1 or 0/255)")
    fit.add_argument("-o", "--output", required=True, type=_path, metavar="RECIPE",
                     help="the fitted recipe to write (e.g. fitted.maskprep.yaml)")
    fit.add_argument("--trials", type=_whole_number(1, MAX_TRIALS, "a trial count from {low} "
                                                    "to {high}"), default=DEFAULT_TRIALS,
                     metavar="N", help=f"recipe settings to try (default {DEFAULT_TRIALS}); "
                                       "the same N gives the same fitted recipe")
    fit.add_argument("--budget", type=_seconds, metavar="SECONDS",
                     help="stop the search after this long, at fewer trials if need be")
    fit.add_argument("--holdout-fraction", type=_fraction, default=0.25, metavar="F",
                     help="share of the images kept out of the search, scored only "
                          "(default 0.25, chosen by --seed)")
    fit.add_argument("--holdout", action="append", metavar="STEM",
                     help="hold out this image (file stem); repeat for more")
    fit.add_argument("--search", action="append", metavar="N.PARAM",
                     help="search only this parameter of step N (e.g. 2.sigma); repeat for "
                          "more (default: every numeric and choice parameter)")
    fit.add_argument("--labels", action="store_true",
                     help="the masks are label images: every label above 0 is foreground")
    fit.add_argument("--pixel-size", type=_pixel_size, metavar="UM",
                     help="micrometres per pixel, for sizes the recipe gives in um")
    fit.add_argument("--series", type=_series_number, metavar="N",
                     help="read image N (from 0) of files holding several of one shape (an "
                          "OME-TIFF's positions or wells), with its pixel size; masks pair by "
                          "file stem as without it (a file of one image is series 0)")
    fit.add_argument("--channel", type=_channel, metavar="N",
                     help="read channel N (from 0, or a channel's name) of image files with "
                          "channels, as run --channel does")
    fit.add_argument("--seed", type=_whole_number(0, 2**31 - 1, "a seed from {low} to {high}"),
                     default=0, help="seed of the search and of the held-out choice")
    fit.add_argument("--report", type=_path, metavar="CSV",
                     help="Dice before and after per image (default: OUTPUT's name + .fit.csv)")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(func=_cmd_fit)

    presets = sub.add_parser("presets", help="list the bundled presets (recipes with their "
                                             "trained models), one a line: its name, then "
                                             "its steps")
    presets.set_defaults(func=_cmd_presets)

    info = sub.add_parser("info", help="show the provenance stored in a mask we wrote, or "
                                       "the images of a multi-series file")
    info.add_argument("mask", type=_path, help="a mask file written by maskprep")
    info.add_argument("--recipe", action="store_true", help="print only the recipe (YAML)")
    info.set_defaults(func=_cmd_info)
    return parser


def _path_error(exc: OSError, accepted: str = "a path this system can open") -> str:
    """The path the system refused and why, in one line (a long path shortened)."""
    path = str(exc.filename) if exc.filename is not None else "a path"
    if len(path) > 64:
        path = f"{path[:40]}...{path[-20:]}"
    if exc.errno == errno.ENAMETOOLONG:
        accepted = "a shorter name"
    return f"{path}: {exc.strerror or type(exc).__name__}; accepted: {accepted}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a short listing waits in the buffer: a closed pipe shows here
        return code
    except UsageError as exc:
        print(f"maskprep: error: {_printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`maskprep ops | head`): stop quietly, and keep Python from
        # failing again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a path the system refuses before it is checked (a long name)
        print(f"maskprep: error: {_printable(_path_error(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("maskprep: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
