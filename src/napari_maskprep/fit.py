"""Fit a recipe's parameters to masks a person made or corrected: the best mean Dice.

The search space comes from the op signatures: every numeric parameter of an enabled step
is searched over its ``min``/``max`` (``step`` kept, integers stay integers), every
``Enum`` and ``bool`` over its choices. Where a signature gives no bound the range is
taken from the search images (see :func:`search_space`). Sizes given in micrometres, text
and parameters left at ``None`` are kept as they are, and so are hand edits.

The search is optuna's TPE sampler with a fixed seed: the same recipe, images and number of
trials give the same fitted recipe. A time budget, when given, caps the search; it stops
at a trial count that depends on the machine. The images are split into a search set and a
held-out set: held-out images are scored before and after, never looked at by the search.
"""

from __future__ import annotations

import csv
import enum
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from .core.arrays import is_binary
from .core.enums import Footprint
from .core.errors import BadValueError, MaskprepError, MaskprepWarning, shown
from .core.locality import Kind
from .core.registry import Param
from .core.thread_warnings import unheard
from .core.units import Quantity, check_pixel_size, unit_name
from .core.validation import looks_rgb
from .io.axes import check_channel
from .io.files import atomic_write, head_line, spreadsheet_text
from .io.images import (
    IMAGE_SUFFIXES,
    SeveralImagesError,
    check_series,
    find_images,
    numbers_text,
    read_image,
    read_image_axes,
    read_pixel_size,
)
from .io.tiffs import keep_tiff_open
from .recipe import Recipe, RecipeError

__all__ = ["DEFAULT_TRIALS", "MAX_TRIALS", "REPORT_HEADER", "Dimension", "FitResult",
           "ImageScore", "Pair", "dice", "fit_recipe", "is_fit_report", "read_pairs",
           "search_space"]

DEFAULT_TRIALS = 100
MAX_TRIALS = 100_000
REPORT_HEADER = ("image", "set", "dice_before", "dice_after")  # the first row of a fit report
_INSTALL = "pip install 'napari-maskprep[fit]'"
_NAMED_3D = {Footprint.BALL, Footprint.CUBE, Footprint.OCTAHEDRON}
_LOG_RATIO = 100  # a positive range this wide or wider is searched on a log scale
_FINE_STEPS = 20  # a step hint is kept where the range holds at least this many steps


def dice(mask: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two foregrounds (nonzero pixels): ``2|A∩B| / (|A| + |B|)``,
    1.0 when both are empty.

    Examples
    --------
    >>> dice(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.6666666666666666
    """
    a, b = np.asarray(mask) != 0, np.asarray(truth) != 0
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


# -- images and masks -------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """An image, its mask (bool) and its pixel size (micrometres per pixel, or None)."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    pixel_size: tuple[float, ...] | None = None
    frames: bool = False  # a time-lapse (t first): segmented frame by frame, as maskprep run

    def each_frame(self) -> list[np.ndarray]:
        """The images the recipe runs on: each frame of a time-lapse, else the image."""
        return list(self.image) if self.frames else [self.image]


def _stem(path: Path) -> str:
    name = path.name
    lower = name.lower()
    for suffix in (".ome.tiff", ".ome.tif", *IMAGE_SUFFIXES):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _as_mask(mask: Any, image: np.ndarray, name: str, *, labels: bool) -> np.ndarray:
    """``mask`` as bool, checked against ``image``: the same spatial shape, and binary (0
    and one other value) unless ``labels`` (then every value above 0 is foreground)."""
    mask = np.asarray(mask)
    spatial = image.shape[:-1] if looks_rgb(image) else image.shape
    if mask.shape[:-1] == spatial and mask.shape[-1] in (3, 4):
        mask = _grey_of_colour(mask, name)
    if mask.shape != spatial:
        raise BadValueError(f"{name}: the mask has shape {mask.shape}, the image {image.shape};"
                            " accepted: a mask of the image's spatial shape")
    if mask.dtype.kind not in "biuf" or (labels and mask.dtype.kind == "f"):
        raise BadValueError(f"{name}: the mask has dtype {mask.dtype}; accepted: "
                            f"{'integer labels' if labels else 'a bool, integer or float mask'}")
    if labels:
        return mask > 0
    if not is_binary(mask):
        values = np.unique(mask)
        raise BadValueError(
            f"{name}: the mask holds {len(values)} values ({shown(values.tolist())}), not 0 "
            "and one other; accepted: a binary mask (0/1, 0/255), or label images with "
            "labels=True (--labels)")
    return mask != 0


def _grey_of_colour(mask: np.ndarray, name: str) -> np.ndarray:
    """A mask saved as a colour image (a PNG of white on black: red, green and blue equal,
    alpha if any the same everywhere) as its one grey channel."""
    colours = mask[..., :3]
    if not (colours == colours[..., :1]).all():
        raise BadValueError(f"{name}: the mask is a colour image whose red, green and blue "
                            "differ; accepted: a grey mask, or a colour one of equal red, "
                            "green and blue (white on black)")
    if mask.shape[-1] == 4 and not (mask[..., 3] == mask.flat[3]).all():
        raise BadValueError(f"{name}: the mask's alpha channel varies; accepted: a grey mask, "
                            "or a colour one of equal red, green and blue (white on black)")
    return colours[..., 0]


def _by_stem(what: str, folder: Path) -> dict[str, Path]:
    """The image files of ``folder`` by file stem; raises if two share one, since either
    could be the one meant."""
    found: dict[str, Path] = {}
    for path in find_images([folder]):
        if not path.is_file():  # an OME-Zarr store
            continue
        other = found.setdefault(_stem(path), path)
        if other != path:
            raise BadValueError(f"{what}: {other} and {path} have one file stem "
                                f"{_stem(path)!r}; accepted: one file for each stem")
    return found


def _few(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _left_out(found: Mapping[str, Mapping[str, Path]], stores: Mapping[str, list[Path]]
              ) -> list[str]:
    """What pairing by file stem left out, a phrase per folder naming a few stems, and the
    OME-Zarr stores of each folder, which fit does not read."""
    phrases = []
    for what, other, without in (("image", "masks", "a mask"), ("mask", "images", "an image")):
        stems = sorted(set(found[f"{what}s"]) - set(found[other])
                       - {_stem(p) for p in stores[other]})
        if stems:
            noun = what if len(stems) == 1 else f"{what}s"
            phrases.append(f"{len(stems)} {noun} without {without} of its stem ({_few(stems)})")
    for what, paths in stores.items():
        if paths:
            noun = "store" if len(paths) == 1 else "stores"
            phrases.append(f"{len(paths)} OME-Zarr {noun} of {what}, which fit does not read "
                           f"({_few([p.name for p in paths])}); accepted: image files "
                           f"({', '.join(IMAGE_SUFFIXES)})")
    return phrases


def read_pairs(images: str | os.PathLike[str], masks: str | os.PathLike[str], *,
               labels: bool = False, series: int | None = None,
               channel: int | str | None = None) -> list[Pair]:
    """The images of the folder ``images`` with the masks of the same file stem in the
    folder ``masks``, sorted by stem; images without a mask are left out. ``series``: the
    image (from 0) read of each file, for multi-series OME-TIFFs (positions, wells; a
    file of one image is series 0). ``channel``: the channel read of files with channels
    (its number from 0, or its name), as ``maskprep run --channel`` reads it.

    Raises :class:`BadValueError` (one line) when no image has a mask, two files of a
    folder have one stem, or a mask does not fit its image (shape, not binary), and
    :class:`ImageReadError` for an unreadable file.
    """
    return _read_pairs(images, masks, labels, check_series(series),
                       None if channel is None else check_channel(channel))[0]


def _read_pairs(images: Any, masks: Any, labels: bool, series: int | None,
                channel: int | str | None
                ) -> tuple[list[Pair], list[str]]:
    """:func:`read_pairs`, and what it left out (see :func:`_left_out`)."""
    folders = {"images": Path(images), "masks": Path(masks)}
    for what, folder in folders.items():
        if not folder.is_dir():
            raise BadValueError(f"{what}: {folder} is not a folder; accepted: a folder of "
                                f"image files ({', '.join(IMAGE_SUFFIXES)})")
    if folders["images"].resolve() == folders["masks"].resolve():
        raise BadValueError(f"images and masks are one folder, {folders['images']}, so each "
                            "file would be its own mask; accepted: the masks in a folder of "
                            "their own, each named as its image")
    found = {what: _by_stem(what, folder) for what, folder in folders.items()}
    stores = {what: [p for p in find_images([folder]) if not p.is_file()]
              for what, folder in folders.items()}
    stems = sorted(set(found["images"]) & set(found["masks"]))
    if not stems:
        raise BadValueError(
            f"no image in {folders['images']} has a mask of the same file stem in "
            f"{folders['masks']} ({len(found['images'])} images, {len(found['masks'])} masks"
            + ("; OME-Zarr stores are not read" if any(stores.values()) else "") + ")")
    pairs = []
    for stem in stems:
        path = found["images"][stem]
        with keep_tiff_open(path):  # its header parsed once
            try:
                image, axes = read_image_axes(path, channel, series)
            except SeveralImagesError as exc:  # fit pairs a file stem's mask with one image
                raise BadValueError(exc.saying(
                    f"one chosen with --series N ({numbers_text(exc.numbers)}), the same for "
                    "every image file and paired with the mask of the file's stem (series=N "
                    "in Python)")) from None
            pixel_size = read_pixel_size(path, series)
        mask = _as_mask(read_image(found["masks"][stem]), image, stem, labels=labels)
        pairs.append(Pair(stem, image, mask, pixel_size, frames=axes.startswith("t")))
    return pairs, _left_out(found, stores)


# -- the search space -------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    """One searched parameter: ``step`` (index into the recipe's steps), the op's
    :class:`Param`, and its values: ``choices``, or ``low``..``high`` on a grid of
    ``step_size`` (None: continuous), on a log scale if ``log``."""

    step: int
    param: Param
    choices: tuple[Any, ...] | None = None
    low: float = 0.0
    high: float = 0.0
    step_size: float | None = None
    log: bool = False
    places: int | None = None  # decimals a float keeps (those of its step); None: 4 digits

    @property
    def label(self) -> str:
        """``<step number>.<parameter>``, e.g. ``2.sigma``: how a person names it."""
        return f"{self.step + 1}.{self.param.name}"

    def suggest(self, trial: Any) -> Any:
        """The value optuna's ``trial`` picks, as the parameter takes it."""
        if self.choices is not None:
            return trial.suggest_categorical(self.label, self.choices)
        if self.param.type is int:
            return trial.suggest_int(self.label, int(self.low), int(self.high),
                                     step=int(self.step_size or 1), log=self.log)
        value = trial.suggest_float(self.label, self.low, self.high, step=self.step_size,
                                    log=self.log)
        # Readable values without float noise: 0.3, not 0.30000000000000004.
        value = float(f"{value:.4g}") if self.places is None else round(value, self.places)
        return min(max(value, self.low), self.high)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this dimension gives (optuna warns about others)."""
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step_size is None:
            return True
        steps = (value - self.low) / self.step_size
        return abs(steps - round(steps)) < 1e-8


def _grid_top(low: float, high: float, step: float) -> float:
    """The highest ``low + k * step`` not above ``high`` (optuna needs the range whole)."""
    return low + math.floor((high - low) / step + 1e-9) * step


def _numeric(step: int, param: Param, start: Any, low: float, high: float) -> Dimension:
    low, high = min(low, start), max(high, start)
    hint = param.hints.get("step")
    if param.type is int:
        size = int(hint or 1)
        log = size == 1 and low > 0 and high / low >= _LOG_RATIO
        return Dimension(step, param, low=low, high=_grid_top(low, high, size), step_size=size,
                         log=log)
    log = low > 0 and high / low >= _LOG_RATIO
    if not hint or (high - low) / hint < _FINE_STEPS:
        return Dimension(step, param, low=low, high=high, log=log)
    places = max(0, -int(Decimal(repr(float(hint))).as_tuple().exponent))
    if log:  # optuna has no stepped log scale: the value is rounded to the step's decimals
        return Dimension(step, param, low=low, high=high, log=True, places=places)
    return Dimension(step, param, low=low, high=_grid_top(low, high, hint), step_size=hint,
                     places=places)


def search_space(recipe: Recipe, spans: Mapping[int, float] | None = None,
                 pixels: int = 0) -> tuple[list[Dimension], list[str]]:
    """The searchable parameters of ``recipe``'s enabled steps, and a note on each kept one
    (a parameter whose hints say ``searched: False`` is kept too: a network's halo).

    Ranges come from the signature's ``min``/``max``, or its ``search_range`` where that
    is narrower (a network's threshold: 0 to 1). Where one is missing: an
    ``intensity`` parameter is searched within ``spans[step]`` (the span of values the
    step reads) of its starting value; a count of pixels (``min_size``) up to ``pixels``
    (the largest search image's), on a log scale. A positive range of 100x or more is
    searched on a log scale.
    """
    dims: list[Dimension] = []
    kept: list[str] = []
    for index, step in enumerate(recipe.steps):
        if not step.enabled or step.spec.stage == "edit":
            continue
        checked = step.spec.check_params(step.params)
        for param in step.spec.params:
            value, label = checked[param.name], f"{index + 1}.{param.name}"
            if param.hints.get("searched") is False:
                kept.append(f"{label} = {param.to_plain(value)} (set by the model, not searched)")
            elif isinstance(value, Quantity):
                kept.append(f"{label} = {value} (sizes in {unit_name(value.unit)} are kept)")
            elif isinstance(value, enum.Enum) or param.type is bool:
                choices = param.choices or (False, True)
                if isinstance(value, Footprint):
                    # disk, square and diamond are the ball, cube and octahedron on 3D
                    # data; the 3D names only add trials a 2D image refuses (scored 0).
                    choices = tuple(c for c in choices if Footprint(c) not in _NAMED_3D)
                dims.append(Dimension(index, param, choices=choices))
            elif param.type not in (int, float):
                continue
            elif value is None:
                kept.append(f"{label} = null (none is kept)")
            else:
                low, high = param.hints.get("search_range") or (param.hints.get("min"),
                                                                 param.hints.get("max"))
                if high is None and param.hints.get("unit") == "intensity":
                    span = (spans or {}).get(index, 0.0)
                    low = value - span if low is None else max(low, value - span)
                    high = value + span
                elif high is None and param.measure == "count" and pixels:
                    high = pixels
                if low is None or high is None or low >= high:
                    kept.append(f"{label} = {value} (no range to search)")
                    continue
                dims.append(_numeric(index, param, value, low, high))
    return dims, kept


def _select(dims: list[Dimension], search: Sequence[str] | None) -> list[Dimension]:
    if search is None:
        return dims
    labels = {d.label: d for d in dims}
    unknown = [s for s in search if s not in labels]
    if unknown:
        raise BadValueError(f"search={shown(unknown[0])} is not a searchable parameter; "
                            f"accepted: {', '.join(labels) or 'none'}")
    return [labels[s] for s in dict.fromkeys(search)]


# -- scoring ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageScore:
    """One image's Dice with the starting recipe and with the fitted one."""

    name: str
    held_out: bool
    before: float
    after: float


@dataclass
class FitResult:
    """The fitted recipe, the starting one, and the score of every image."""

    recipe: Recipe
    start: Recipe
    scores: list[ImageScore]
    trials: int
    stopped_by_budget: bool
    searched: list[str]
    kept: list[str] = field(default_factory=list)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # files of the folders left unpaired

    def mean(self, *, held_out: bool, after: bool = True) -> float | None:
        """Mean Dice over the held-out (or search) images; None if there are none."""
        values = [s.after if after else s.before for s in self.scores if s.held_out == held_out]
        return sum(values) / len(values) if values else None

    def table(self) -> str:
        """The scores as a table for a terminal: one image a line, then the means."""
        width = max([len("image"), *(len(s.name) for s in self.scores)])
        lines = [f"{'image':<{width}}  {'set':<8}  {'Dice before':>11}  {'after':>6}"]
        for s in self.scores:
            role = "held-out" if s.held_out else "search"
            lines.append(f"{s.name:<{width}}  {role:<8}  {s.before:>11.4f}  {s.after:>6.4f}")
        for held_out, role in ((False, "search"), (True, "held-out")):
            before = self.mean(held_out=held_out, after=False)
            if before is not None:
                after = self.mean(held_out=held_out)
                lines.append(f"{'mean':<{width}}  {role:<8}  {before:>11.4f}  {after:>6.4f}")
        return "\n".join(lines)

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """The scores as CSV (image, set, dice_before, dice_after), written atomically."""

        def write(tmp: Path) -> None:
            # a file name that is not UTF-8 keeps its bytes, as the summary of a run does
            with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
                out = csv.writer(f)
                out.writerow(REPORT_HEADER)
                for s in self.scores:
                    out.writerow([spreadsheet_text(s.name), "held-out" if s.held_out else "search",
                                  f"{s.before:.6f}", f"{s.after:.6f}"])

        return atomic_write(Path(path), write)


def is_fit_report(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts as :meth:`FitResult.write_csv` writes its reports."""
    return head_line(Path(path)) == ",".join(REPORT_HEADER)


def _run(recipe: Recipe, pair: Pair) -> np.ndarray:
    size = pair.pixel_size if recipe.uses_units else None
    results = [recipe.run(frame, pixel_size=size) for frame in pair.each_frame()]
    return np.stack(results) if pair.frames else results[0]


def _score(recipe: Recipe, pairs: Sequence[Pair]) -> list[float]:
    with unheard(MaskprepWarning):  # a trial's suspicious-input warnings are not the user's
        return [dice(_run(recipe, p), p.mask) for p in pairs]


def _start(recipe: Recipe, pairs: Sequence[Pair], held: set[str]
           ) -> tuple[list[float], dict[int, float]]:
    """Run the starting recipe on every image, checking what it gives: its Dice on each,
    and the span of values each enabled step reads on the search images (for the ranges
    of intensity parameters)."""
    scores: list[float] = []
    spans: dict[int, float] = {}
    for pair in pairs:
        size = pair.pixel_size if recipe.uses_units else None
        results = []
        for frame in pair.each_frame():
            current = frame
            with unheard(MaskprepWarning):
                for index, _, output in recipe.iter_run(frame, pixel_size=size):
                    if pair.name not in held:
                        span = float(np.max(current)) - float(np.min(current))
                        spans[index] = max(spans.get(index, 0.0), span)
                    current = output
            results.append(current)
        current = np.stack(results) if pair.frames else results[0]
        if current.shape != pair.mask.shape:
            raise BadValueError(f"{pair.name}: the recipe gives shape {current.shape}, the mask "
                                f"has {pair.mask.shape}")
        scores.append(dice(current, pair.mask))
    return scores, spans


def _as_fraction(name: Any) -> float | None:
    """``name`` as a fraction in [0, 1), where it reads as one: '--holdout 0.2' names an
    image '0.2', which a person may have meant as the fraction."""
    try:
        value = float(name)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value < 1 else None


def _split(pairs: Sequence[Pair], holdout: float | Sequence[str], seed: int
           ) -> tuple[list[Pair], list[Pair]]:
    if isinstance(holdout, str) or not isinstance(holdout, Sequence):
        if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not (
                0 <= holdout < 1):
            raise BadValueError(f"holdout={shown(holdout)} is not accepted; expected a fraction "
                                "in [0, 1) or a list of image names")
        count = min(len(pairs) - 1, max(1, round(holdout * len(pairs)))) if holdout else 0
        chosen = set(np.random.default_rng(seed).permutation(len(pairs))[:count].tolist())
        names = {pairs[i].name for i in chosen}
    else:
        names = set(holdout)
        unknown = sorted(names - {p.name for p in pairs})
        if unknown:
            fraction = _as_fraction(unknown[0])
            also = ("" if fraction is None else f" (a fraction of them: holdout={fraction}, "
                    f"--holdout-fraction {fraction})")
            raise BadValueError(f"holdout names {shown(unknown[0])}, which is no image with a "
                                f"mask; accepted: the images' file stems{also}")
    search = [p for p in pairs if p.name not in names]
    if not search:
        raise BadValueError("every image is held out; the search needs at least one")
    return search, [p for p in pairs if p.name in names]


def _pairs(images: Any, masks: Any, labels: bool, pixel_size: Any, series: int | None,
           channel: int | str | None
           ) -> tuple[list[Pair], list[str]]:
    left_out: list[str] = []
    if isinstance(images, str | os.PathLike) and isinstance(masks, str | os.PathLike):
        pairs, left_out = _read_pairs(images, masks, labels, series, channel)
    elif channel is not None:
        raise BadValueError(f"channel {channel} with images given as arrays; accepted: a "
                            "channel with folders of files (it picks the channel of each)")
    elif series is not None:
        raise BadValueError(f"series {series} with images given as arrays; accepted: a "
                            "series with folders of files (it picks the image of each)")
    elif isinstance(images, Sequence) and isinstance(masks, Sequence):
        if not images or len(images) != len(masks):
            raise BadValueError(f"{len(images)} images and {len(masks)} masks; accepted: as "
                                "many masks as images, at least one")
        pairs = []
        for number, (image, mask) in enumerate(zip(images, masks, strict=True), start=1):
            image = np.asarray(image)
            name = f"image {number}"
            pairs.append(Pair(name, image, _as_mask(mask, image, name, labels=labels)))
    else:
        raise BadValueError("images and masks must both be folders, or both lists of arrays")
    if pixel_size is not None:
        size = check_pixel_size(pixel_size)
        pairs = [replace(p, pixel_size=size) for p in pairs]
    return pairs, left_out


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MaskprepError(f"fitting needs optuna, which is not installed: {_INSTALL}"
                            ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def fit_recipe(
    recipe: Recipe,
    images: str | os.PathLike[str] | Sequence[np.ndarray],
    masks: str | os.PathLike[str] | Sequence[np.ndarray],
    *,
    trials: int = DEFAULT_TRIALS,
    budget: float | None = None,
    holdout: float | Sequence[str] = 0.25,
    search: Sequence[str] | None = None,
    labels: bool = False,
    pixel_size: Any = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    series: int | None = None,
    channel: int | str | None = None,
) -> FitResult:
    """Search ``recipe``'s parameters for the best mean Dice against ``masks``.

    ``images`` and ``masks`` are two folders (paired by file stem) or two lists of arrays
    (paired by position). ``holdout``: the fraction of the images kept out of the search
    (chosen by ``seed``) or their names (file stems); they are scored only. ``trials``
    recipe settings are tried (the starting one counts), stopping early after ``budget``
    seconds if given. ``search`` names the parameters to search (``"2.sigma"``: step
    number and parameter; default all, see :func:`search_space`). ``labels``: the masks
    are label images (foreground = above 0). ``pixel_size`` (micrometres per pixel)
    overrides what the files state, for sizes given in micrometres. ``series``: the image
    (from 0) read of each image file, for folders of multi-series OME-TIFFs (positions,
    wells; a file of one image is series 0), with its own pixel size; masks pair by stem.
    ``channel``: the channel read of image files with channels (its number from 0, or its
    name), as ``maskprep run --channel`` reads it.

    The fitted recipe is the best setting on the search images, or the starting recipe
    if none was better. Raises :class:`MaskprepError` in one line before any search.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((8, 8), np.uint8); image[2:6, 2:6] = 200; image[0] = 60
    >>> truth = (image > 100).astype(np.uint8)
    >>> start = Recipe([{"op": "segment.threshold", "params": {"value": 20}}])
    >>> result = fit_recipe(start, [image], [truth], trials=20, holdout=0)
    >>> result.mean(held_out=False, after=False), result.mean(held_out=False)
    (0.8, 1.0)
    """
    if not isinstance(recipe, Recipe):
        raise BadValueError(f"recipe must be a Recipe; got {shown(recipe)}")
    enabled = [s for s in recipe.steps if s.enabled]
    if not enabled or enabled[-1].spec.output not in (Kind.MASK, Kind.LABELS):
        raise BadValueError("the recipe's last enabled step must give a mask or labels to "
                            "compare with the masks")
    if recipe.inputs:
        raise BadValueError("recipes with named inputs cannot be fitted yet")
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise BadValueError(f"trials={shown(trials)} is not accepted; expected an integer in "
                            f"[1, {MAX_TRIALS}]")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | float)
                               or not budget > 0):
        raise BadValueError(f"budget={shown(budget)} is not accepted; expected seconds > 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise BadValueError(f"seed={shown(seed)} is not accepted; expected an integer in "
                            "[0, 2**32)")
    if isinstance(search, str):  # searched letter by letter: "search='3' is not ..."
        raise BadValueError(f"search={shown(search)} is one text; accepted: a list of "
                            f"parameter labels (step number.parameter): [{shown(search)}]")
    if search is not None and not search:
        raise BadValueError("search=[] names no parameter; accepted: a list of parameter "
                            "labels (step number.parameter, as '1.sigma'), or None to search "
                            "them all")
    series = check_series(series)
    channel = None if channel is None else check_channel(channel)
    optuna = _optuna()
    pairs, left_out = _pairs(images, masks, labels, pixel_size, series, channel)
    if recipe.uses_units:
        missing = next((p.name for p in pairs if p.pixel_size is None), None)
        if missing is not None:
            raise BadValueError(f"{missing}: no pixel size is known, and the recipe gives sizes "
                                "in micrometres; pass pixel_size= (--pixel-size)")
    search_pairs, held_pairs = _split(pairs, holdout, seed)
    held = {p.name for p in held_pairs}
    try:
        before, spans = _start(recipe, pairs, held)
    except RecipeError as exc:
        raise BadValueError(f"the starting recipe fails: {exc}") from None
    largest = max(int(np.prod(p.mask.shape)) for p in search_pairs)
    dims, kept = search_space(recipe, spans, largest)
    dims = _select(dims, search)
    if not dims:
        raise BadValueError("the recipe has no parameter to search" + (
            f" ({'; '.join(kept)})" if kept else ""))

    def candidate(values: Mapping[int, dict[str, Any]]) -> Recipe:
        data = recipe.to_dict()
        for index, params in values.items():
            data["steps"][index]["params"].update(params)
        return Recipe.from_dict(data)

    tried: dict[int, dict[int, dict[str, Any]]] = {}  # trial number -> its settings

    def objective(trial: Any) -> float:
        values: dict[int, dict[str, Any]] = {}
        for dim in dims:
            values.setdefault(dim.step, {})[dim.param.name] = dim.suggest(trial)
        tried[trial.number] = values
        try:
            scores = _score(candidate(values), search_pairs)
        except (TypeError, ValueError):  # settings the op refuses (keep_from > keep_to)
            return 0.0
        finally:
            if progress is not None:
                progress(trial.number + 1, trials)
        return sum(scores) / len(scores)

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    starting = {d.label: d.param.to_plain(recipe.steps[d.step].spec.check_params(
        recipe.steps[d.step].params)[d.param.name]) for d in dims}
    study.enqueue_trial({d.label: starting[d.label] for d in dims
                         if d.contains(starting[d.label])})
    began = time.monotonic()
    study.optimize(objective, n_trials=trials, timeout=budget)
    stopped = len(study.trials) < trials and time.monotonic() - began >= (budget or math.inf)
    start_mean = float(np.mean([b for p, b in zip(pairs, before, strict=True)
                                if p.name not in held]))
    fitted, changed = recipe, {}
    complete = any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if complete and study.best_value > start_mean:  # a budget may end before any trial
        values = tried[study.best_trial.number]
        fitted = candidate(values)
        changed = {d.label: (starting[d.label], values[d.step][d.param.name]) for d in dims
                   if values[d.step][d.param.name] != starting[d.label]}
    after = _score(fitted, pairs) if fitted is not recipe else before
    scores = [ImageScore(p.name, p.name in held, b, a)
              for p, b, a in zip(pairs, before, after, strict=True)]
    return FitResult(fitted, recipe, scores, len(study.trials), stopped,
                     [d.label for d in dims], kept, changed, left_out)
