"""What the GUI shows of an op, read from its registration (no Qt).

Nothing here knows an op by name: parameter descriptions come from the numpydoc
docstring, and the rest from :class:`~napari_maskprep.core.registry.Param` hints and the
op's locality (see ``Param``): which parameters apply to the other values (``when``), the
bounds a slider spans (``range`` over the input's intensities, ``below`` another
parameter), what a click on the image sets (``pick``), and whether the op has a histogram
to show (a ``GlobalStat`` naming its ``thresholds``, or an intensity parameter).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.locality import GlobalStat
from ..core.registry import OpSpec, Param, get_op

__all__ = [
    "INTENSITY",
    "bounds",
    "compared_param",
    "has_intensity_range",
    "hue_range",
    "intensity_params",
    "is_shown",
    "middle",
    "param_docs",
    "picked_values",
    "picks",
    "shows_histogram",
]

INTENSITY = "intensity"  # a ``range`` / ``pick`` hint: the input image's own values
_SPAN = "intensity span"  # a ``range`` hint: 0 to the input's max - min
# A picked colour in each ``pick`` measure's units: hue in degrees, the others in percent.
_HSV = {"hue": (0, 360.0, True), "saturation": (1, 100.0, False), "value": (2, 100.0, False)}
_COLOUR_TILE = (5, 5)  # a tile of the picked colour: what the channel op takes as RGB


def param_docs(spec: OpSpec) -> dict[str, str]:
    """Each parameter's description from the numpydoc ``Parameters`` section (tooltips)."""
    lines = (inspect.getdoc(spec.func) or "").splitlines()
    docs: dict[str, str] = {}
    name, in_parameters = None, False
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            in_parameters, name = line.strip() == "Parameters", None
        elif not in_parameters or set(line.strip()) == {"-"}:
            continue
        elif line and not line[0].isspace():
            name = line.split(":")[0].strip()
            docs[name] = ""
        elif name is not None and line.strip():
            docs[name] = f"{docs[name]} {line.strip().replace('``', '')}".strip()
    return docs


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)  # an Enum member as its value


def is_shown(param: Param, params: Mapping[str, Any]) -> bool:
    """Whether ``param`` applies given the other values (its ``when`` hint)."""
    when = param.hints.get("when") or {}
    return all(_plain(params.get(name)) in values for name, values in when.items())


def intensity_params(spec: OpSpec) -> list[str]:
    """The parameters that are intensities of the input image (drawn on its histogram)."""
    return [p.name for p in spec.params if p.hints.get("range") == INTENSITY]


def has_intensity_range(spec: OpSpec) -> bool:
    """Whether a parameter's range follows the input's intensities (``range`` hint)."""
    return any(p.hints.get("range") in (INTENSITY, _SPAN) for p in spec.params)


def shows_histogram(spec: OpSpec) -> bool:
    """A threshold to see against the input's histogram: one the op takes from its
    statistic, or one of its parameters."""
    locality = spec.locality
    return bool(intensity_params(spec)) or (
        isinstance(locality, GlobalStat) and locality.thresholds is not None)


def bounds(param: Param, params: Mapping[str, Any],
           intensities: tuple[float, float] | None) -> tuple[float, float] | None:
    """The range a slider for ``param`` spans now (None: its own hints' range).

    ``intensities`` is the input's (min, max), when known.
    """
    kind = param.hints.get("range")
    if kind == INTENSITY and intensities is not None:
        return intensities
    if kind == _SPAN and intensities is not None:
        return 0.0, float(intensities[1] - intensities[0])
    below = param.hints.get("below")
    if below is not None and params.get(below) is not None:
        return float(param.hints.get("min", 0)), float(params[below]) - 1
    return None


def middle(param: Param, intensities: tuple[float, float]) -> float | int:
    """The default of an intensity parameter on an image: the middle of its range."""
    mid = (intensities[0] + intensities[1]) / 2
    return param.round_to_grid(mid) if param.type is int else float(mid)


def compared_param(spec: OpSpec) -> Param | None:
    """The choice whose every value "Try all" compares: an Enum ``method`` of an op that
    takes its threshold from a statistic."""
    if not (isinstance(spec.locality, GlobalStat) and spec.locality.thresholds is not None):
        return None
    return next((p for p in spec.params if p.name == "method" and p.choices), None)


def picks(spec: OpSpec) -> list[Param]:
    """The parameters a click on the image sets (their ``pick`` hint)."""
    return [p for p in spec.params if p.hints.get("pick")]


def picked_values(spec: OpSpec, pixel: np.ndarray) -> dict[str, float]:
    """The values a click on a pixel (its grey value, or its colour on the last axis) gives
    the parameters that pick from the image: an intensity as it is; a colour measure with
    its ``bound``, ``margin`` below (min) or above (max) the pixel's, within the param's
    range (a hue wraps round the circle)."""
    pixel = np.asarray(pixel)
    values: dict[str, float] = {}
    for param in picks(spec):
        measure = param.hints["pick"]
        if measure == INTENSITY:
            values[param.name] = float(np.mean(pixel))
            continue
        channel, scale, circular = _HSV[measure]
        rgb = np.broadcast_to(pixel[..., :3], (*_COLOUR_TILE, 3))
        hsv = get_op("preprocess.color_channel")(rgb, space="hsv", channel=channel)
        centre = float(hsv[0, 0]) * scale
        margin = float(param.hints.get("margin", 0.0))
        value = centre - margin if param.hints.get("bound") == "min" else centre + margin
        if circular:
            value %= scale
        else:
            value = min(max(value, param.hints.get("min", 0.0)), param.hints.get("max", scale))
        values[param.name] = round(value, 1)
    return values


def hue_range(spec: OpSpec, params: Mapping[str, Any]) -> tuple[float, float] | None:
    """The (min, max) hue in degrees the op keeps (a min above the max wraps through 0),
    from its parameters that pick a hue; None for an op without a hue range."""
    hues = {p.hints.get("bound"): params[p.name] for p in picks(spec)
            if p.hints["pick"] == "hue"}
    if "min" not in hues or "max" not in hues:
        return None
    return float(hues["min"]), float(hues["max"])
