"""Recipe v1: an ordered list of op steps, stored as plain data (YAML or JSON).

A recipe file is data only: it is read with ``yaml.safe_load`` / ``json.loads`` and then
validated against the op registry; nothing in it is imported, evaluated or unpickled.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .core.errors import MaskprepError
from .core.registry import Kind, OpSpec, UnknownOpError, get_op
from .io import atomic_write

__all__ = ["FORMAT_VERSION", "Recipe", "RecipeError", "Step"]

FORMAT_VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOP_KEYS = ("maskprep", "name", "inputs", "steps")
_STEP_KEYS = ("op", "id", "inputs", "per_plane", "enabled", "params")
_INPUT_KINDS = tuple(k.value for k in Kind)


class RecipeError(MaskprepError, ValueError):
    """A recipe that cannot be loaded, validated or run: one line saying what and where."""


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


def _where(number: int, op: str) -> str:
    return f"step {number} ({op})"


def _check_step(number: int, raw: Any, known_sources: set[str]) -> Step:
    if isinstance(raw, Step):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        raise RecipeError(f"step {number}: expected a mapping with 'op' and 'params'; got {raw!r}")
    unknown = sorted(set(raw) - set(_STEP_KEYS))
    if unknown:
        raise RecipeError(
            f"step {number}: unknown key {unknown[0]!r}; accepted keys: {', '.join(_STEP_KEYS)}"
        )
    op = raw.get("op")
    if not isinstance(op, str):
        raise RecipeError(f"step {number}: 'op' must be an op id such as 'refine.open'; got {op!r}")
    try:
        spec = get_op(op)
    except UnknownOpError as exc:
        raise RecipeError(f"step {number}: {exc}") from None
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise RecipeError(f"{_where(number, op)}: 'params' must be a mapping; got {params!r}")
    try:
        plain = spec.plain_params(params)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{_where(number, op)}: {exc}") from None
    step_id = raw.get("id")
    if step_id is not None and (not isinstance(step_id, str) or not _ID.match(step_id)):
        raise RecipeError(
            f"{_where(number, op)}: id {step_id!r} must be a name of letters, digits, _ and -"
        )
    inputs = raw.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        raise RecipeError(f"{_where(number, op)}: 'inputs' must be a mapping; got {inputs!r}")
    accepted = {i.name for i in spec.inputs}
    for name, source in inputs.items():
        if name not in accepted:
            names = ", ".join(sorted(accepted)) or "none"
            raise RecipeError(
                f"{_where(number, op)}: {op} has no input {name!r}; its inputs are: {names}"
            )
        if source not in known_sources:
            raise RecipeError(
                f"{_where(number, op)}: input {name!r} reads {source!r}, which is neither "
                "'input', an earlier step's id nor a declared recipe input"
            )
    for extra in spec.inputs:
        if extra.required and extra.name not in inputs:
            raise RecipeError(
                f"{_where(number, op)}: needs its {extra.name!r} input, e.g. "
                f"inputs: {{{extra.name}: {extra.name}}} with {extra.name} declared under "
                "the recipe's inputs"
            )
    for flag in ("per_plane", "enabled"):
        if not isinstance(raw.get(flag, flag == "enabled"), bool):
            raise RecipeError(f"{_where(number, op)}: '{flag}' must be true or false")
    return Step(
        op=op,
        params=plain,
        id=step_id,
        inputs={str(k): str(v) for k, v in inputs.items()},
        per_plane=raw.get("per_plane", False),
        enabled=raw.get("enabled", True),
    )


class Recipe:
    """An ordered, validated list of steps; ``run`` replays it on an image.

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
    ) -> None:
        if not isinstance(name, str):
            raise RecipeError(f"'name' must be a string; got {name!r}")
        self.name = name
        self.inputs = self._check_inputs(inputs or {})
        self.steps: list[Step] = []
        for step in steps or []:
            self.append(step)

    @staticmethod
    def _check_inputs(inputs: Any) -> dict[str, str]:
        if not isinstance(inputs, Mapping):
            raise RecipeError(f"'inputs' must map names to kinds; got {inputs!r}")
        out = {}
        for name, kind in inputs.items():
            if not isinstance(name, str) or not _ID.match(name) or name == "input":
                raise RecipeError(f"recipe input name {name!r} must be a plain name, not 'input'")
            if kind not in _INPUT_KINDS:
                raise RecipeError(
                    f"recipe input {name!r} has kind {kind!r}; accepted: {', '.join(_INPUT_KINDS)}"
                )
            out[name] = kind
        return out

    def _sources(self) -> set[str]:
        return {"input", *self.inputs, *(s.id for s in self.steps if s.id)}

    def append(self, step: Step | Mapping[str, Any]) -> Step:
        """Validate ``step`` against the registry and the steps before it, then add it."""
        checked = _check_step(len(self.steps) + 1, step, self._sources())
        if checked.id is not None and checked.id in self._sources():
            raise RecipeError(f"step {len(self.steps) + 1}: id {checked.id!r} is already used")
        self.steps.append(checked)
        return checked

    # -- plain data ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        """A recipe from plain data (what ``yaml.safe_load`` returns), validated."""
        if not isinstance(data, Mapping):
            raise RecipeError("a recipe must be a mapping with 'maskprep: 1' and 'steps'")
        unknown = sorted(set(data) - set(_TOP_KEYS))
        if unknown:
            raise RecipeError(f"unknown key {unknown[0]!r}; accepted keys: {', '.join(_TOP_KEYS)}")
        version = data.get("maskprep")
        if version != FORMAT_VERSION:
            raise RecipeError(
                f"'maskprep: {version}' is not a supported format version; accepted: "
                f"maskprep: {FORMAT_VERSION}"
            )
        steps = data.get("steps")
        if not isinstance(steps, list):
            raise RecipeError(f"'steps' must be a list of steps; got {steps!r}")
        return cls(steps, name=data.get("name") or "", inputs=data.get("inputs") or {})

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
    def loads(cls, text: str, *, format: str = "yaml") -> Recipe:
        """Parse YAML or JSON text (data only), then validate."""
        try:
            data = json.loads(text) if format == "json" else yaml.safe_load(text)
        except yaml.constructor.ConstructorError as exc:
            tag = getattr(exc, "problem", "") or "a YAML tag"
            raise RecipeError(
                f"refused: {tag.strip()}; a recipe is plain data and no tags are accepted"
            ) from None
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise RecipeError(f"not valid {format.upper()}: {first}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read a ``.maskprep.yaml`` / ``.yaml`` / ``.json`` recipe file."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise RecipeError(f"{path}: {size} bytes is too large for a recipe")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise RecipeError(f"{path}: not a text file (expected UTF-8 YAML or JSON)") from None
        fmt = "json" if path.suffix.lower() == ".json" else "yaml"
        try:
            return cls.loads(text, format=fmt)
        except RecipeError as exc:
            raise RecipeError(f"{path}: {exc}") from None

    def dumps(self, *, format: str = "yaml") -> str:
        """Canonical text: keys in a fixed order, every parameter written out."""
        if format == "json":
            return json.dumps(self.to_dict(), indent=2) + "\n"
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (temporary file + rename): a crash never leaves half a recipe."""
        path = Path(path)
        text = self.dumps(format="json" if path.suffix.lower() == ".json" else "yaml")
        return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    # -- running ---------------------------------------------------------------------------
    def iter_run(
        self, image: Any, *, progress: Callable[[int, int], None] | None = None, **named: Any
    ) -> Iterator[tuple[int, Step, np.ndarray]]:
        """Yield ``(index, step, output)`` for each enabled step, in order."""
        missing = [n for n in self.inputs if named.get(n) is None]
        if missing:
            raise RecipeError(
                f"this recipe needs its {missing[0]!r} input ({self.inputs[missing[0]]}); "
                f"pass it as {missing[0]}=..."
            )
        unknown = sorted(set(named) - set(self.inputs))
        if unknown:
            raise RecipeError(f"this recipe declares no input {unknown[0]!r}")
        sources: dict[str, Any] = {"input": image, **named}
        current = image
        enabled = [(i, s) for i, s in enumerate(self.steps) if s.enabled]
        for done, (index, step) in enumerate(enabled):
            arrays = {name: sources[src] for name, src in step.inputs.items()}
            try:
                current = step.spec(current, per_plane=step.per_plane, **arrays, **step.params)
            except (TypeError, ValueError) as exc:
                raise RecipeError(f"{_where(index + 1, step.op)}: {exc}") from None
            if step.id is not None:
                sources[step.id] = current
            if progress is not None:
                progress(done + 1, len(enabled))
            yield index, step, current

    def run(
        self, image: Any, *, progress: Callable[[int, int], None] | None = None, **named: Any
    ) -> np.ndarray:
        """The last enabled step's output (the image itself for an empty recipe)."""
        result = np.asarray(image)
        for _, _, output in self.iter_run(image, progress=progress, **named):
            result = output  # only the latest output is kept alive: memory stays flat
        return result

    def to_python(self) -> str:
        """A readable script that takes ``INPUT... -o OUTDIR`` and writes the same masks as
        ``maskprep run`` (same ops, same parameters, same order)."""
        from . import __version__

        if self.inputs:
            raise RecipeError(
                f"recipes with named inputs ({', '.join(self.inputs)}) cannot be exported yet"
            )
        body = []
        for number, step in enumerate(self.steps, start=1):
            if not step.enabled:
                body.append(f"    # step {number} ({step.op}) is disabled in the recipe")
                continue
            args = ["result"]
            args += [f"{name}={'image' if src == 'input' else 'step_' + src.replace('-', '_')}"
                     for name, src in step.inputs.items()]
            if step.per_plane:
                args.append("per_plane=True")
            args += [f"{k}={v!r}" for k, v in step.params.items()]
            call = f'apply("{step.op}", {", ".join(args)})'
            body.append(f"    result = {call}" if len(call) < 80 else
                        "    result = apply(\n        \"" + step.op + "\",\n"
                        + "".join(f"        {a},\n" for a in args) + "    )")
            if step.id is not None:
                body.append(f"    step_{step.id.replace('-', '_')} = result")
        steps = "\n".join(body) or "    pass"
        title = self.name or "unnamed recipe"
        return f'''#!/usr/bin/env python
"""Recipe "{title}", exported by napari-maskprep {__version__}.

Usage: python SCRIPT.py INPUT... -o OUTDIR   (INPUT: image files or folders)
Writes OUTDIR/<stem>.tif masks, as `maskprep run` does with the same recipe.
"""

import argparse
import sys
from pathlib import Path

from napari_maskprep import apply
from napari_maskprep.io import find_images, read_image, write_mask


def process(image):
    """The recipe's steps, in order; each reads the previous step's result."""
    result = image
{steps}
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    args = parser.parse_args(argv)
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in find_images(args.inputs):
        try:
            write_mask(outdir / f"{{path.stem}}.tif", process(read_image(path)))
        except (OSError, ValueError, TypeError) as exc:
            failed += 1
            print(f"failed: {{path}}: {{exc}}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
'''
