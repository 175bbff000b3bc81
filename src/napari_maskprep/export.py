"""A recipe as a standalone Python script (``maskprep export``), built from data.

The script's code is a fixed template; the recipe enters it only as syntax-tree constants
(op ids, parameter values, the recipe's name) placed by :mod:`ast`, so nothing a person
typed is ever pasted into code: a name holding quotes, newlines or escapes stays a string.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import BadValueError
from .core.units import parse_quantity, unit_name

if TYPE_CHECKING:
    from .recipe import Recipe

__all__ = ["is_exported_script", "recipe_script"]

_TEMPLATE = '''
"""A napari-maskprep recipe as a script.

Usage: python SCRIPT.py INPUT... -o OUTDIR [--suffix TEXT] [--channel N]
(INPUT: image files or folders; N: the channel to segment of files with channels, its
number from 0 or its name)
Writes OUTDIR/<stem><TEXT>.tif masks, as `maskprep run` does with the same recipe (its
provenance, the input's pixel size and time between frames included); it never replaces
an input or a file that maskprep did not write.
"""

import argparse
import sys
import warnings
from pathlib import Path

from napari_maskprep import MaskprepWarning, apply
from napari_maskprep.batch import check_replaceable, plan_outputs
from napari_maskprep.io import (
    SeveralImagesError, each_frame, provenance, read_frame_interval, read_image_axes,
    read_pixel_size, write_mask)

RECIPE_NAME = None
RECIPE = None  # as maskprep run records it in each mask's provenance
EXPORTED_BY = None


def process(image):
    """The recipe's steps, in order; each reads the previous step's result."""


def shown(text):
    """``text`` with control characters shown escaped: a file name is data, not terminal
    commands."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    parser.add_argument("--suffix", default="", metavar="TEXT")
    parser.add_argument("--channel", metavar="N")
    args = parser.parse_args(argv)
    channel = args.channel  # a number (from 0, as maskprep run reads it) or a name
    if channel is not None and channel.strip().lstrip("-").isdigit():
        channel = int(channel)
        if channel < 0:
            parser.error(f"argument --channel: {args.channel!r} is not a channel's number, "
                         "from 0")
    if "" in (args.output, *args.inputs):  # "" is the current folder: an unset variable
        print("error: an empty path as an input or the output folder; accepted: a file or "
              "folder name", file=sys.stderr)
        return 2
    try:
        outputs = plan_outputs(args.inputs, args.output, suffix=args.suffix)
    except (OSError, ValueError) as exc:  # OSError: a path the system refuses (a long name)
        print(shown(f"error: {exc}"), file=sys.stderr)
        return 2
    try:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way, no permission, a read-only disk
        print(shown(f"error: output folder {args.output} cannot be made ({exc.strerror}); "
                    "accepted: a folder, or a path where one can be made"), file=sys.stderr)
        return 2
    failed = 0
    for path, out in outputs.items():
        try:
            check_replaceable(out, RECIPE)
            try:
                image, axes = read_image_axes(path, channel)  # a time-lapse: frame by frame
            except SeveralImagesError as exc:
                raise ValueError(f"{path}: holds {len(exc.numbers)} images ({exc.kind}), "
                                 "which an exported script does not choose between; "
                                 "accepted: a file of one image (segment a plate with "
                                 "maskprep run and the recipe, with --series N or --series "
                                 "all)") from None
            pixel_size = read_pixel_size(path)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MaskprepWarning)
                mask = each_frame(process, image, axes)
            for message in dict.fromkeys(str(w.message) for w in caught):
                print(shown(f"warning: {path}: {message}"), file=sys.stderr)
            made = provenance(RECIPE, image, source=path.name, axes=axes,
                              mask_pixel_size=pixel_size, channel=channel)
            write_mask(out, mask, metadata=made, pixel_size=pixel_size, axes=axes.rstrip("c"),
                       frame_interval=read_frame_interval(path))
        except (OSError, ValueError, TypeError) as exc:
            failed += 1
            error = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
            print(shown(f"failed: {error}"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _name(identifier: str) -> ast.Name:
    return ast.Name(id=identifier, ctx=ast.Load())


def _steps(recipe: Recipe) -> list[ast.stmt]:
    """``result = apply("op", result, ...)`` per enabled step, from the steps' data."""
    variables = {"input": "image"}
    for number, step in enumerate(recipe.steps, start=1):
        if step.id is not None and step.enabled:
            variables[step.id] = f"step_{number}"  # by number: a person's id is not code
    read = {src for step in recipe.steps for src in step.inputs.values()}
    disabled = [n for n, s in enumerate(recipe.steps, start=1) if not s.enabled]
    doc = "The recipe's steps, in order; each reads the previous step's result."
    if disabled:
        steps = ", ".join(map(str, disabled))
        doc += f"\n\n    Disabled in the recipe, not run: step {steps}.\n    "
    body: list[ast.stmt] = [ast.Expr(ast.Constant(doc)),
                            ast.Assign([ast.Name("result", ast.Store())], _name("image"))]
    for number, step in enumerate(recipe.steps, start=1):
        if not step.enabled:
            continue
        if step.uses_units:
            name = next(k for k, v in step.params.items() if isinstance(v, str)
                        and step.spec.param(k).measure is not None)
            unit = unit_name(parse_quantity(step.params[name]).unit)
            raise BadValueError(f"step {number} ({step.op}): {name} is given in {unit}; "
                                "exported scripts take sizes in pixels only (give it in px, "
                                "or replay the recipe with maskprep run)")
        unset = next((src for src in step.inputs.values() if src not in variables), None)
        if unset is not None:
            raise BadValueError(f"step {number} ({step.op}) reads {unset!r}, the output of a "
                              "disabled step; enable it or change the input")
        keywords = [ast.keyword(name, _name(variables[src])) for name, src in step.inputs.items()]
        if step.per_plane:
            keywords.append(ast.keyword("per_plane", ast.Constant(True)))
        keywords += [ast.keyword(k, ast.Constant(v)) for k, v in step.params.items()]
        call = ast.Call(_name("apply"), [ast.Constant(step.op), _name("result")], keywords)
        body.append(ast.Assign([ast.Name("result", ast.Store())], call))
        if step.id is not None and step.id in read:
            body.append(ast.Assign([ast.Name(variables[step.id], ast.Store())], _name("result")))
    body.append(ast.Return(_name("result")))
    return body


_SHEBANG = "#!/usr/bin/env python\n"
_HEADER = (_SHEBANG + '"""A napari-maskprep recipe as a script.\n').encode()


def is_exported_script(path: str | Path) -> bool:
    """Whether the file at ``path`` starts as the scripts :func:`recipe_script` writes."""
    if not Path(path).is_file():  # opened, a FIFO would block until a writer comes
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(_HEADER)) == _HEADER
    except OSError:
        return False


def recipe_script(recipe: Recipe) -> str:
    """The script's text: the template with the recipe's steps and name filled in."""
    from ._version import __version__

    module = ast.parse(_TEMPLATE)
    constants = {"RECIPE_NAME": recipe.name or "unnamed recipe", "RECIPE": recipe.dumps(),
                 "EXPORTED_BY": f"napari-maskprep {__version__}"}
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == "process":
            node.body = _steps(recipe)
        elif isinstance(node, ast.Assign) and isinstance(target := node.targets[0], ast.Name):
            node.value = ast.Constant(constants.get(target.id))
    return _SHEBANG + ast.unparse(ast.fix_missing_locations(module)) + "\n"
