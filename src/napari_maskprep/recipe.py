"""Recipe v1: an ordered list of op steps, stored as plain data (YAML or JSON).

A recipe file is data only: it is parsed as plain data (no tags, anchors or aliases; see
``io.recipe_text``) and then validated against the op registry; nothing in it is imported,
evaluated or unpickled. The limits below bound the work any file can cause.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .core.errors import (
    BadValueError,
    LimitError,
    MaskprepError,
    RecipeError,
    at_step,
    shown,
)
from .core.locality import Kind
from .core.model_files import ModelFile, verify_model
from .core.registry import OpSpec, UnknownOpError, get_op
from .core.units import check_pixel_size, format_pixel_size
from .core.validation import check_progress, looks_rgb
from .engine.memory import run_in_memory
from .io.files import atomic_write
from .io.recipe_text import MAX_DEPTH, MAX_NODES, dump_plain, load_plain

__all__ = ["FORMAT_VERSION", "LIMITS", "MAX_FILE_BYTES", "MAX_STEPS", "Recipe", "RecipeError",
           "Step", "check_gives_mask", "check_model_files", "resolve_units", "uses_units"]

FORMAT_VERSION = 1
MAX_FILE_BYTES = 8 * 2**20  # hand edits of large masks make the largest recipes
MAX_STEPS = 1000
LIMITS = {"file size (bytes)": MAX_FILE_BYTES, "steps": MAX_STEPS,
          "nesting depth": MAX_DEPTH, "values in all": MAX_NODES}
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOP_KEYS = ("maskprep", "name", "inputs", "steps")
_STEP_KEYS = ("op", "id", "inputs", "per_plane", "enabled", "params")
_INPUT_KINDS = tuple(k.value for k in Kind)
_RESERVED_INPUTS = ("input", "pixel_size")  # the image, and Recipe.run's own keyword


def _holds_a_recipe(path: Path) -> bool:
    """Whether the file at ``path`` reads as recipe text (a mapping with ``maskprep``),
    valid or not: only such a file may be replaced by a saved recipe."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return False
        text = path.read_text(encoding="utf-8")
        data = load_plain(text, format="json" if path.suffix.lower() == ".json" else "yaml")
    except (OSError, UnicodeDecodeError, MaskprepError):
        return False
    return isinstance(data, dict) and "maskprep" in data


@dataclass
class Step:
    """One op applied to the previous step's output.

    ``params`` are checked against the op's signature and stored complete (defaults
    included) as plain data; ``inputs`` maps the op's extra array inputs (``seeds``,
    ``markers``, ``image``) to a source: ``input`` (the recipe's image), an earlier step's
    ``id`` or a name declared in the recipe's ``inputs``.
    """

    op: str
    params: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    per_plane: bool = False
    enabled: bool = True

    @property
    def spec(self) -> OpSpec:
        return get_op(self.op)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        if self.id is not None:
            out["id"] = self.id
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        if self.per_plane:
            out["per_plane"] = True
        if not self.enabled:
            out["enabled"] = False
        out["params"] = dict(self.params)
        return out

    @property
    def uses_units(self) -> bool:
        """Whether a size parameter is given in micrometres (``radius: 2 um``)."""
        spec = self.spec
        return spec.has_quantities(spec.check_params(self.params))


def uses_units(steps: Sequence[Step]) -> bool:
    """Whether an enabled step gives a size in micrometres, so needs a pixel size."""
    return any(step.enabled and step.uses_units for step in steps)


def resolve_units(steps: Sequence[Step], pixel_size: Any, image: Any) -> list[Step]:
    """``steps`` with every size in micrometres turned into pixels, for ``image`` (any
    array with ``ndim`` and ``shape``: numpy or dask) at ``pixel_size`` (micrometres per
    pixel: one value, or one per trailing spatial axis; None if unknown).

    Call it before running steps on any executor: the result holds plain pixel values
    only. Steps without such sizes, and disabled steps, come back as they are. Raises
    :class:`RecipeError` in one line naming the step, before any step runs.
    """
    sdim = image.ndim - 1 if looks_rgb(image) else image.ndim
    sizes = None
    if pixel_size is not None:
        try:
            sizes = check_pixel_size(pixel_size)
        except ValueError as exc:
            raise RecipeError(str(exc)) from None
        if len(sizes) > max(sdim, 1):
            raise RecipeError(f"the pixel size {format_pixel_size(sizes)} has {len(sizes)} "
                              f"values; the image has {sdim} spatial axes")
    out = []
    for number, step in enumerate(steps, start=1):
        if not (step.enabled and step.uses_units):
            out.append(step)
            continue
        spec = step.spec
        try:
            ndim = max(2, spec.working_ndim(sdim, step.per_plane))
            resolved = spec.resolve_units(step.params, sizes, ndim=ndim)
        except (TypeError, ValueError) as exc:
            hint = _per_plane_hint(step, sizes) if ndim == 3 and 2 in spec.ndim else ""
            raise RecipeError(f"{at_step(number, step.op)}: {exc}{hint}") from None
        out.append(replace(step, params={p.name: p.to_plain(resolved[p.name])
                                         for p in spec.params}))
    return out


def _per_plane_hint(step: Step, sizes: tuple[float, ...] | None) -> str:
    """How a step whose sizes are no pixels on a volume could run: plane by plane, where
    they are pixels of each 2D plane (an area in um2; a length on square pixels)."""
    try:
        step.spec.resolve_units(step.params, sizes, ndim=2)
    except (TypeError, ValueError):
        return ""
    return "; or set per_plane: true (each 2D plane on its own)"


def _text(value: Any, what: str) -> str:
    """``value`` if it is text that can be saved (UTF-8: no lone surrogates)."""
    if isinstance(value, bool):  # YAML reads name: no (or yes, on, off) unquoted so
        raise RecipeError(f"{what} must be text; got {shown(value)} (YAML reads yes, no, on "
                          "and off unquoted as true or false; write the text in quotes)")
    if not isinstance(value, str):
        raise RecipeError(f"{what} must be text; got {shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecipeError(f"{what} holds characters that are not valid Unicode text") from None
    return value


def _names(mapping: Mapping[Any, Any], what: str) -> None:
    for key in mapping:
        if not isinstance(key, str):
            raise RecipeError(f"{what}: the key {shown(key)} is not a string; accepted: names")


def _model_files(number: int, spec: OpSpec, plain: dict[str, Any], base_dir: Path, *,
                 load: bool = False) -> None:
    """Model file parameters of ``plain`` resolved to absolute paths, in place, once each
    file is checked (exists, hash, format): a missing or changed model fails on load. With
    ``load``, each is also read as its op reads it (the ``load`` hint), so a model whose
    content its parser refuses fails here, not once per image."""
    for p in spec.model_params:
        if plain.get(p.name) is None:
            continue
        try:
            ref = verify_model(ModelFile.from_plain(plain[p.name]), p.formats, base_dir)
            if load and "load" in p.hints:
                p.hints["load"](ref)
        except MaskprepError as exc:
            raise RecipeError(f"{at_step(number, spec.id)}: {p.name}: {exc}") from None
        plain[p.name] = ref.to_plain()


def check_model_files(steps: Sequence[Step]) -> None:
    """Check the model file of every enabled step again (it may have changed since the
    recipe loaded), so a missing or changed one, or none at all, fails before any step
    runs."""
    for number, step in enumerate(steps, start=1):
        if step.enabled:
            for p in step.spec.model_params:
                if step.params.get(p.name) is None:
                    raise RecipeError(f"{at_step(number, step.op)}: names no {p.name} file; "
                                      f"accepted: {p.name}: {{path: FILE, sha256: HEX}}")
            _model_files(number, step.spec, dict(step.params), Path.cwd(), load=True)


def _check_step(number: int, raw: Any, known_sources: set[str], base_dir: Path) -> Step:
    if isinstance(raw, Step):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        raise RecipeError(
            f"step {number}: expected a mapping with 'op' and 'params'; got {shown(raw)}"
        )
    _names(raw, f"step {number}")
    unknown = sorted(set(raw) - set(_STEP_KEYS))
    if unknown:
        raise RecipeError(f"step {number}: unknown key {shown(unknown[0])}; accepted keys: "
                          f"{', '.join(_STEP_KEYS)}")
    op = raw.get("op")
    if not isinstance(op, str):
        raise RecipeError(
            f"step {number}: 'op' must be an op id such as 'refine.open'; got {shown(op)}"
        )
    try:
        spec = get_op(op)
    except UnknownOpError as exc:
        raise RecipeError(f"step {number}: {exc}") from None
    # Only null (or no key) is no params: 'params: false', '' or [] was taken for none.
    params = {} if raw.get("params") is None else raw["params"]
    if not isinstance(params, Mapping):
        raise RecipeError(f"{at_step(number, op)}: 'params' must be a mapping; got {shown(params)}")
    _names(params, at_step(number, op))
    try:
        plain = spec.plain_params(params)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{at_step(number, op)}: {exc}") from None
    for name, value in plain.items():
        if isinstance(value, str):
            _text(value, f"{at_step(number, op)}: {name}")
    _model_files(number, spec, plain, base_dir)
    step_id = raw.get("id")
    if step_id is not None and (not isinstance(step_id, str) or not _ID.match(step_id)):
        raise RecipeError(
            f"{at_step(number, op)}: id {shown(step_id)} must be a name of letters, digits, _ and -"
        )
    inputs = {} if raw.get("inputs") is None else raw["inputs"]
    if not isinstance(inputs, Mapping):
        raise RecipeError(f"{at_step(number, op)}: 'inputs' must be a mapping; got {shown(inputs)}")
    _names(inputs, at_step(number, op))
    accepted = {i.name for i in spec.inputs}
    for name, source in inputs.items():
        if name not in accepted:
            names = ", ".join(sorted(accepted)) or "none"
            raise RecipeError(
                f"{at_step(number, op)}: {op} has no input {shown(name)}; its inputs are: {names}"
            )
        if not isinstance(source, str) or source not in known_sources:
            raise RecipeError(
                f"{at_step(number, op)}: input {name!r} reads {shown(source)}, which is neither "
                "'input', an earlier step's id nor a declared recipe input"
            )
    for extra in spec.inputs:
        if extra.required and extra.name not in inputs:
            raise RecipeError(
                f"{at_step(number, op)}: needs its {extra.name!r} input, e.g. "
                f"inputs: {{{extra.name}: {extra.name}}} with {extra.name} declared under "
                "the recipe's inputs"
            )
    for flag in ("per_plane", "enabled"):
        if not isinstance(raw.get(flag, flag == "enabled"), bool):
            raise RecipeError(f"{at_step(number, op)}: '{flag}' must be true or false")
    return Step(
        op=op,
        params=plain,
        id=step_id,
        inputs=dict(inputs),
        per_plane=raw.get("per_plane", False),
        enabled=raw.get("enabled", True),
    )


class Recipe:
    """An ordered, validated list of steps; ``run`` replays it on an image.

    A model file a step names by a relative path is found relative to ``base_dir``: the
    recipe file's folder when loaded from a file, else the working directory. Steps hold
    it as an absolute path; :meth:`save` writes it relative to the file it writes.

    Examples
    --------
    >>> import numpy as np
    >>> r = Recipe([{"op": "segment.threshold", "params": {"value": 5}}])
    >>> r.run(np.array([[1, 9], [9, 1]], dtype=np.uint8))
    array([[0, 1],
           [1, 0]], dtype=uint8)
    """

    def __init__(
        self,
        steps: list[Step | Mapping[str, Any]] | None = None,
        *,
        name: str = "",
        inputs: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir if base_dir is not None else Path.cwd()).absolute()
        self.name = _text(name, "'name'")
        self.inputs = self._check_inputs({} if inputs is None else inputs)
        self.steps: list[Step] = []
        self._step_ids: set[str] = set()
        if steps is not None and not isinstance(steps, list | tuple):
            raise RecipeError(f"'steps' must be a list of steps; got {shown(steps)}")
        if steps is not None and len(steps) > MAX_STEPS:
            raise RecipeError(f"{len(steps)} steps; the limit is {MAX_STEPS}")
        for step in steps or []:
            self.append(step)

    @staticmethod
    def _check_inputs(inputs: Any) -> dict[str, str]:
        if not isinstance(inputs, Mapping):
            raise RecipeError(f"'inputs' must map names to kinds; got {shown(inputs)}")
        out = {}
        for name, kind in inputs.items():
            if not isinstance(name, str) or not _ID.match(name) or name in _RESERVED_INPUTS:
                raise RecipeError(f"recipe input name {shown(name)} must be a plain name, not "
                                  f"{' or '.join(map(repr, _RESERVED_INPUTS))}")
            if not isinstance(kind, str) or kind not in _INPUT_KINDS:
                raise RecipeError(f"recipe input {name!r} has kind {shown(kind)}; accepted: "
                                  f"{', '.join(_INPUT_KINDS)}")
            out[name] = kind
        return out

    def _sources(self) -> set[str]:
        return {"input", *self.inputs, *self._step_ids}

    def append(self, step: Step | Mapping[str, Any]) -> Step:
        """Validate ``step`` against the registry and the steps before it, then add it."""
        if len(self.steps) >= MAX_STEPS:
            raise RecipeError(f"more than {MAX_STEPS} steps; that is the limit")
        sources = self._sources()
        checked = _check_step(len(self.steps) + 1, step, sources, self.base_dir)
        if checked.id is not None and checked.id in sources:
            raise RecipeError(f"step {len(self.steps) + 1}: id {checked.id!r} is already used")
        self.steps.append(checked)
        if checked.id is not None:
            self._step_ids.add(checked.id)
        return checked

    # -- plain data ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | os.PathLike[str] | None = None
                  ) -> Recipe:
        """A recipe from plain data (what ``yaml.safe_load`` returns), validated; relative
        model paths are relative to ``base_dir`` (the working directory if None)."""
        if not isinstance(data, Mapping):
            raise RecipeError("a recipe must be a mapping with 'maskprep: 1' and 'steps'")
        _names(data, "the recipe")
        unknown = sorted(set(data) - set(_TOP_KEYS))
        if unknown:
            raise RecipeError(
                f"unknown key {shown(unknown[0])}; accepted keys: {', '.join(_TOP_KEYS)}"
            )
        if "maskprep" not in data:
            raise RecipeError(f"no 'maskprep' key (the format version); accepted: a recipe "
                              f"that begins maskprep: {FORMAT_VERSION}")
        version = data["maskprep"]
        if type(version) is not int or version != FORMAT_VERSION:  # true == 1 in Python
            raise RecipeError(
                f"'maskprep: {shown(version)}' is not a supported format version; accepted: "
                f"maskprep: {FORMAT_VERSION}"
            )
        steps = data.get("steps")
        if not isinstance(steps, list):
            raise RecipeError(f"'steps' must be a list of steps; got {shown(steps)}")
        # Only null is no name or inputs: 'name: no' (false) lost the name without a word.
        return cls(steps, name="" if data.get("name") is None else data["name"],
                   inputs={} if data.get("inputs") is None else data["inputs"],
                   base_dir=base_dir)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"maskprep": FORMAT_VERSION, "name": self.name}
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        out["steps"] = [s.to_dict() for s in self.steps]
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        ops = ", ".join(s.op for s in self.steps)
        return f"Recipe(name={self.name!r}, steps=[{ops}])"

    # -- text and files ------------------------------------------------------------------
    @classmethod
    def loads(cls, text: str, *, format: str = "yaml",
              base_dir: str | os.PathLike[str] | None = None) -> Recipe:
        """Parse YAML or JSON text (plain data only, within :data:`LIMITS`), then validate;
        relative model paths are relative to ``base_dir`` (the working directory if None)."""
        if not isinstance(text, str | bytes):
            raise RecipeError(f"Recipe.loads takes a recipe's text; got {type(text).__name__} "
                              f"{shown(text)} (Recipe.load reads a file)")
        if format not in ("yaml", "json"):
            raise RecipeError(f"format={shown(format)}; accepted: 'yaml' or 'json'")
        if len(text) > MAX_FILE_BYTES:
            raise RecipeError(f"{len(text)} characters; the limit is {MAX_FILE_BYTES}")
        if isinstance(text, bytes):  # as Recipe.load decodes a file: JSON's parser took str
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise RecipeError("not UTF-8 text; accepted: a recipe as UTF-8 YAML or JSON"
                                  ) from None
        try:
            data = load_plain(text, format=format)
        except LimitError as exc:
            raise RecipeError(f"{exc}") from None
        except MaskprepError as exc:
            raise RecipeError(f"not valid {format.upper()}: {exc}") from None
        if isinstance(data, str):  # a file's name, as YAML, is that text
            raise RecipeError(f"a recipe must be a mapping with 'maskprep: 1' and 'steps'; got "
                              f"the text {shown(data)} (Recipe.load reads a file)")
        return cls.from_dict(data, base_dir=base_dir)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read a ``.maskprep.yaml`` / ``.yaml`` / ``.json`` recipe file."""
        path = Path(path)
        try:
            # Only a regular file: a FIFO would block and /dev/zero never end.
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise RecipeError(f"{path}: not a regular file; accepted: a recipe file")
            if info.st_size > MAX_FILE_BYTES:
                raise RecipeError(
                    f"{path}: {info.st_size} bytes; the limit for a recipe is {MAX_FILE_BYTES}"
                )
            with open(path, "rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
            if len(raw) > MAX_FILE_BYTES:
                raise RecipeError(f"{path}: more than {MAX_FILE_BYTES} bytes; that is the limit")
            text = raw.decode("utf-8")
        except OSError as exc:
            raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise RecipeError(f"{path}: not a text file (expected UTF-8 YAML or JSON)") from None
        fmt = "json" if path.suffix.lower() == ".json" else "yaml"
        try:
            return cls.loads(text, format=fmt, base_dir=path.absolute().parent)
        except RecipeError as exc:
            raise RecipeError(f"{path}: {exc}") from None

    def dumps(self, *, format: str = "yaml", folder: str | os.PathLike[str] | None = None
              ) -> str:
        """Canonical text: keys in a fixed order, every parameter written out; model paths
        relative to ``folder`` (where the text will be saved), absolute if None."""
        data = self.to_dict()
        if folder is not None:
            for step, raw in zip(self.steps, data["steps"], strict=True):
                for p in step.spec.model_params:
                    if raw["params"].get(p.name) is not None:
                        ref = ModelFile.from_plain(raw["params"][p.name])
                        raw["params"][p.name] = ref.relative_to(folder).to_plain()
        if format == "json":
            return json.dumps(data, indent=2) + "\n"
        return dump_plain(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (temporary file + rename): a crash never leaves half a recipe.
        Model files are named relative to the file's folder. An existing file is replaced
        only if it holds a recipe: ``save("cells.tif")`` replaced the image."""
        path = Path(path)
        if (path.exists() or path.is_symlink()) and not _holds_a_recipe(path):
            raise RecipeError(f"{path} exists and is not a recipe; it is left as it is "
                              "(accepted: a new path, or a recipe file to replace)")
        text = self.dumps(format="json" if path.suffix.lower() == ".json" else "yaml",
                          folder=path.absolute().parent).encode("utf-8")
        if len(text) > MAX_FILE_BYTES:  # escaped text (\u202E for one character) grows
            raise RecipeError(f"{path}: the recipe is {len(text)} bytes as saved, which "
                              f"Recipe.load refuses; accepted: at most {MAX_FILE_BYTES} (a "
                              "shorter name or fewer hand edits); nothing was written")
        try:
            return atomic_write(path, lambda tmp: tmp.write_bytes(text))
        except OSError as exc:  # no such folder, no permission, a read-only disk
            raise RecipeError(f"{path} cannot be written ({exc.strerror or exc}); accepted: "
                              "a file in a folder that exists and may be written") from None

    # -- running ---------------------------------------------------------------------------
    @property
    def uses_units(self) -> bool:
        """Whether a size is given in micrometres, so running needs a pixel size."""
        return uses_units(self.steps)

    def iter_run(
        self, image: Any, *, pixel_size: Any = None,
        progress: Callable[[int, int], None] | None = None, **named: Any
    ) -> Iterator[tuple[int, Step, np.ndarray]]:
        """Yield ``(index, step, output)`` for each enabled step, in order.

        ``pixel_size`` (micrometres per pixel: one value, or one per trailing spatial axis)
        turns sizes given in micrometres into pixels; see :func:`resolve_units`.
        """
        self._check_named(named)
        check_progress(progress)
        if not hasattr(image, "ndim"):
            image = np.asarray(image)
        steps = resolve_units(self.steps, pixel_size, image)
        check_model_files(steps)
        yield from run_in_memory(steps, image, named, progress=progress)

    def _check_named(self, named: Mapping[str, Any]) -> None:
        """Every declared input given, and no other."""
        missing = [n for n in self.inputs if named.get(n) is None]
        if missing:
            raise RecipeError(
                f"this recipe needs its {missing[0]!r} input ({self.inputs[missing[0]]}); "
                f"pass it as {missing[0]}=..."
            )
        unknown = sorted(set(named) - set(self.inputs))
        if unknown:
            raise RecipeError(f"this recipe declares no input {unknown[0]!r}")

    def run(
        self, image: Any, *, pixel_size: Any = None,
        progress: Callable[[int, int], None] | None = None, object_size: int | None = None,
        **named: Any
    ) -> np.ndarray:
        """The last enabled step's output (the image itself for an empty recipe).

        ``pixel_size``: micrometres per pixel, for sizes given in micrometres. On a dask
        array the recipe runs tiled (:mod:`napari_maskprep.engine.tiled`): the result is a
        dask array equal to the in-memory one, whole-image steps resolved; steps that split
        objects (split touching, watershed) need ``object_size``, the widest object in
        pixels (equal up to ids where no clump is wider; :mod:`.engine.tiled_objects`).
        A tiled run reads named inputs that are points only (region growing's seeds).

        Examples
        --------
        >>> import numpy as np
        >>> r = Recipe([{"op": "refine.remove_small", "params": {"min_size": "0.5 um2"}}])
        >>> r.run(np.array([[1, 0, 0, 1, 1]], dtype=np.uint8), pixel_size=0.5)
        array([[0, 0, 0, 1, 1]], dtype=uint8)
        """
        if hasattr(image, "__dask_graph__") and hasattr(image, "chunks"):
            from .engine.tiled import run_tiled  # dask loads for dask inputs only

            self._check_named(named)
            steps = resolve_units(self.steps, pixel_size, image)
            check_model_files(steps)
            return run_tiled(steps, image, object_size=object_size, named=named)
        result = np.asarray(image)
        for _, _, output in self.iter_run(image, pixel_size=pixel_size, progress=progress,
                                          **named):
            result = output  # only the latest output is kept alive: memory stays flat
        return result

    def to_python(self) -> str:
        """A readable script that takes ``INPUT... -o OUTDIR`` and writes the same masks as
        ``maskprep run`` (same ops, same parameters, same order); built from the recipe as
        data (see :mod:`napari_maskprep.export`)."""
        from .export import recipe_script

        if self.inputs:
            raise RecipeError(
                f"recipes with named inputs ({', '.join(self.inputs)}) cannot be exported yet"
            )
        try:
            check_gives_mask(self)  # as maskprep run does
            return recipe_script(self)
        except BadValueError as exc:
            raise RecipeError(str(exc)) from None


def check_gives_mask(recipe: Recipe) -> None:
    """Raise :class:`BadValueError` unless ``recipe`` ends on a mask or labels: a batch (or
    an exported script) ending on an image wrote it as the mask (one object, all
    foreground; a PNG not 0/255)."""
    last = next(((n, s) for n, s in reversed(list(enumerate(recipe.steps, 1))) if s.enabled),
                None)
    if last is not None and last[1].spec.output in (Kind.MASK, Kind.LABELS):
        return
    why = (" has no enabled step, so no mask" if last is None else f"'s last enabled step "
           f"(step {last[0]}, {last[1].op}) gives an {last[1].spec.output.value}, not a mask")
    raise BadValueError(f"the recipe{why}; accepted: a recipe ending in a step that gives a "
                        "mask or labels (segment., refine.)")
