"""The operation registry: every op is described once, by its signature.

An operation is a plain function decorated with :func:`operation`. Its keyword-only
parameters (types, defaults, ``Annotated`` hints, ``Enum`` choices) are read once into
an :class:`OpSpec`; the GUI, the recipe validator, the CLI listing and the docs are all
derived from that spec. Calling the decorated function goes through the spec, so a
direct call gets the same input checks, dtype policy and per-plane handling as a recipe.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import functools
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np

from ..engine.planes import run_spatial
from . import validation
from .errors import BadTypeError, BadValueError, MaskprepError, shown
from .locality import Kind, Locality
from .model_files import FORMATS, ModelFile
from .units import (
    Quantity,
    accepted_units,
    check_pixel_size,
    format_pixel_size,
    measure_of,
    parse_quantity,
    to_pixels,
    unknown_unit,
)

__all__ = [
    "ArrayInput",
    "OpSpec",
    "Param",
    "UnknownOpError",
    "apply",
    "get_op",
    "list_ops",
    "operation",
]

STAGES = ("preprocess", "segment", "refine", "edit")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SIZE_EXAMPLES = {"length": "a length such as '2 um'",
                  "count": "an area or volume such as '30 um2', '30 um3'"}


@dataclass(frozen=True)
class Param:
    """One keyword-only parameter of an op, as declared by its signature.

    ``type`` is ``int``, ``float``, ``bool``, ``str``, an ``Enum`` subclass or
    :class:`~napari_maskprep.core.model_files.ModelFile` (a model named by path and
    sha256, whose ``formats`` hint lists the model formats it accepts);
    ``hints`` holds the ``Annotated`` metadata (``min``, ``max``, ``step``, ``unit``,
    ``label``, ``tooltip``; for a model, ``load`` reads it as the op does and
    ``input_channels`` gives the channel count the loaded model fixes for the op's input,
    or None); ``optional`` means ``None`` is accepted. A ``unit`` of
    ``"px"`` (a length) or ``"pixels"`` (a count: area, volume) makes it a size, which may
    also be given in micrometres (see :mod:`napari_maskprep.core.units`).

    Hints for a GUI, read by the napari widgets only: ``range`` (``"intensity"``: the input
    image's intensity range, ``"intensity span"``: 0 to its max - min) bounds a slider;
    ``pick`` names what a click on the image reads (``"intensity"``, or ``"hue"``,
    ``"saturation"``, ``"value"`` in the op's units) and ``bound`` (``"min"``/``"max"``)
    with ``margin`` which side of the picked value it sets; ``when`` (``{param: values}``)
    shows the parameter only while another has one of those values; ``below`` (a param
    name) caps an integer below another parameter's value.
    """

    name: str
    type: type
    default: Any
    hints: Mapping[str, Any] = field(default_factory=dict)
    optional: bool = False

    @functools.cached_property
    def measure(self) -> str | None:
        """``"length"`` or ``"count"`` for a size parameter, None for any other."""
        return measure_of(self.hints.get("unit")) if self.type in (int, float) else None

    @property
    def choices(self) -> tuple[str, ...] | None:
        if isinstance(self.type, type) and issubclass(self.type, enum.Enum):
            return tuple(m.value for m in self.type)
        return None

    @functools.cached_property
    def _members(self) -> tuple[dict[Any, enum.Enum], dict[str, enum.Enum]] | None:
        """An Enum type's members by value and by name; None for other types.

        ``check`` looks values up here on every call: walking the Enum (whose ``value`` and
        ``name`` are Python-level properties) costs microseconds.
        """
        if not (isinstance(self.type, type) and issubclass(self.type, enum.Enum)):
            return None
        return {m.value: m for m in self.type}, {m.name: m for m in self.type}

    def accepted(self) -> str:
        """Human description of the accepted values, for error messages and docs."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.type is bool:
            text = "true or false"
        elif self.type is ModelFile:
            formats = " or ".join(FORMATS[f] for f in self.formats)
            text = f"a model file {{path: FILE, sha256: HEX}} holding {formats}"
        else:
            text = {int: "an integer", float: "a number", str: "a string"}[self.type]
            lo, hi = self.hints.get("min"), self.hints.get("max")
            if lo is not None and hi is not None:
                text += f" in [{lo}, {hi}]"
            elif lo is not None:
                text += f" >= {lo}"
            elif hi is not None:
                text += f" <= {hi}"
        if self.optional:
            text += " or null"
        if self.measure is not None:
            text += f", or {_SIZE_EXAMPLES[self.measure]}"
        return text

    @property
    def formats(self) -> tuple[str, ...]:
        """The model formats a :class:`ModelFile` parameter accepts."""
        return tuple(self.hints.get("formats", tuple(FORMATS)))

    def _rejected(
        self, value: Any, error: type[Exception], why: str = "is not accepted"
    ) -> Exception:
        return error(f"{self.name}={shown(value)} {why}; expected {self.accepted()}")

    def _quantity(self, value: str | Quantity) -> Any:
        """A size given as text or :class:`Quantity`: the Quantity if it is in micrometres,
        its number if in pixels; raises for a unit this parameter does not take."""
        try:
            quantity = (value if isinstance(value, Quantity)
                        else parse_quantity(value, unit_required=True))
        except BadValueError:
            unit = unknown_unit(value)
            if unit is not None and self.measure is not None:
                raise self._rejected(value, BadValueError, f"has the unit {shown(unit)}, which "
                                     f"is not accepted; {self.name} takes "
                                     f"{', '.join(accepted_units(self.measure))}") from None
            raise self._rejected(value, BadTypeError) from None
        if self.measure is None:
            if quantity.physical:
                raise self._rejected(value, BadValueError, "has a unit, which only size "
                                     "parameters take")
            raise self._rejected(value, BadTypeError)
        if quantity.unit not in accepted_units(self.measure):
            raise self._rejected(value, BadValueError, f"is not a {self.measure}")
        if not quantity.physical:
            return quantity.value
        lo = self.hints.get("min")
        if lo is not None and (quantity.value < 0 <= lo or quantity.value == 0 < lo):
            # 0 um is 0 px at every pixel size: below a positive minimum, in every file
            raise self._rejected(value, BadValueError,
                                 "is negative" if quantity.value < 0 else "is zero")
        return quantity

    def round_to_grid(self, pixels: float) -> int:
        """The integer this parameter accepts nearest to ``pixels``: ``min + k * step``
        (an odd window stays odd), halves rounded up."""
        lo, step = self.hints.get("min") or 0, self.hints.get("step") or 1
        return int(lo + step * math.floor((pixels - lo) / step + 0.5))

    def check(self, value: Any) -> Any:
        """Return ``value`` coerced to this parameter's type, or raise naming what is accepted.

        A size parameter keeps a value in micrometres as a :class:`Quantity`, which
        :meth:`OpSpec.resolve_units` turns into pixels.
        """
        kind = self.type
        if isinstance(value, str | Quantity) and kind in (int, float):
            value = self._quantity(value)
            if isinstance(value, Quantity):
                return value
        if value is None:
            if self.optional:
                return None
            raise self._rejected(value, BadValueError)
        if self._members is not None:
            by_value, by_name = self._members
            raw = value.value if isinstance(value, enum.Enum) else value
            try:
                return by_value[raw]
            except (KeyError, TypeError):  # TypeError: unhashable, so no member's value
                pass
            if isinstance(raw, str) and raw.upper() in by_name:
                return by_name[raw.upper()]
            raise self._rejected(value, BadValueError)
        if kind is ModelFile:
            try:
                return ModelFile.from_plain(value)
            except MaskprepError as exc:
                raise type(exc)(f"{self.name}: {exc}") from None
        if kind is bool:
            if isinstance(value, bool | np.bool_):
                return bool(value)
            raise self._rejected(value, BadTypeError)
        if kind is str:
            if isinstance(value, str):
                return value
            raise self._rejected(value, BadTypeError)
        # Plain ints and floats are real numbers: they skip the slow numbers.Real check.
        if type(value) not in (int, float) and (
            isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real)
        ):
            raise self._rejected(value, BadTypeError)
        if isinstance(value, numbers.Integral):
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise self._rejected(value, BadValueError, "is not a finite number")
        if kind is int:
            if value != math.floor(value):
                raise self._rejected(value, BadTypeError)
            value = int(value)
            # Beyond int64 no array can use it, and numpy would overflow on the way.
            if not _INT64_MIN <= value <= _INT64_MAX:
                lo, hi = self.hints.get("min"), self.hints.get("max")
                # Named where the stated range holds it: 'expected >= 1' would not say why
                past = (lo is None or value >= lo) and (hi is None or value <= hi)
                raise self._rejected(value, BadValueError, "is out of range" + (
                    f" (an integer an array holds is {_INT64_MIN} to {_INT64_MAX})"
                    if past else ""))
        else:
            try:
                value = float(value)
            except OverflowError:  # an integer of hundreds of digits
                raise self._rejected(value, BadValueError, "is out of range") from None
        lo, hi = self.hints.get("min"), self.hints.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self._rejected(value, BadValueError, "is out of range")
        return value

    def to_plain(self, value: Any) -> Any:
        """The value as plain YAML/JSON data (Enums by their value, sizes as ``"2 um"``,
        model files as ``{path, sha256}``)."""
        if isinstance(value, Quantity):
            return str(value)
        if isinstance(value, ModelFile):
            return value.to_plain()
        return value.value if isinstance(value, enum.Enum) else value


class _InMicrometres(Exception):
    """A cross-parameter check read a size still in micrometres."""


class _PixelsOnly(dict):
    """Checked parameters whose sizes in micrometres cannot be read: a check reading one
    waits for resolve_units, one reading only the others runs when a recipe loads."""

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if isinstance(value, Quantity):
            raise _InMicrometres(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


@dataclass(frozen=True)
class ArrayInput:
    """An extra array an op reads besides its main input (seeds, markers, the image)."""

    name: str
    kinds: tuple[Kind, ...]
    required: bool


@dataclass(frozen=True, eq=False)
class OpSpec:
    """Everything known about one operation, derived from its decorated function."""

    id: str
    func: Callable[..., np.ndarray]
    input: Kind
    output: Kind
    ndim: tuple[int, ...]
    locality: Locality
    params: tuple[Param, ...]
    inputs: tuple[ArrayInput, ...] = ()
    # "grey": one channel (RGB input is converted with a warning); "rgb": needs a colour
    # axis (last, size 3/4); "any": handles both, channels independently.
    channels: str = "grey"
    # Checks that involve several parameters (keep_from <= keep_to, a hand edit's box
    # inside its shape): given the checked parameters, raises a MaskprepError or returns.
    check: Callable[[Mapping[str, Any]], None] | None = None
    # False for the one op that takes NaN and infinite pixels (to replace them).
    finite: bool = True

    @property
    def stage(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.func) or "").split("\n\n", 1)[0].replace("\n", " ")

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return dict(self._defaults)

    # check_params runs on every call: what it needs from ``params`` is derived once.
    @functools.cached_property
    def _defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    @functools.cached_property
    def _param_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params)

    @functools.cached_property
    def _sizes(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.measure is not None)

    @functools.cached_property
    def model_params(self) -> tuple[Param, ...]:
        """The parameters that name a model file."""
        return tuple(p for p in self.params if p.type is ModelFile)

    def has_quantities(self, params: Mapping[str, Any]) -> bool:
        """Whether checked ``params`` hold a size in micrometres."""
        return any(isinstance(params.get(p.name), Quantity) for p in self._sizes)

    def working_ndim(self, sdim: int, per_plane: bool) -> int:
        """How many spatial axes the op works over on data of ``sdim`` spatial axes."""
        return sdim if not per_plane and sdim in self.ndim else 2

    def resolve_units(self, params: Mapping[str, Any], pixel_size: Any, *, ndim: int = 2
                      ) -> dict[str, Any]:
        """Checked parameters with every size in micrometres turned into pixels.

        ``pixel_size`` is in micrometres per pixel (see
        :func:`~napari_maskprep.core.units.check_pixel_size`), None if unknown; ``ndim`` is
        the number of spatial axes the op works over (2, or 3 for a volume). Integer
        parameters are rounded to the nearest value they accept. Raises
        :class:`BadValueError` in one line naming the parameter.
        """
        checked = self.check_params(params)
        if not self.has_quantities(checked):
            return checked
        sizes = None if pixel_size is None else check_pixel_size(pixel_size)
        for p in self._sizes:
            quantity = checked[p.name]
            if not isinstance(quantity, Quantity):
                continue
            pixels = to_pixels(p.measure, quantity, sizes, ndim=ndim, name=p.name)
            value = p.round_to_grid(pixels) if p.type is int else pixels
            try:
                checked[p.name] = p.check(value)
            except MaskprepError as exc:
                raise type(exc)(f"{p.name}={quantity} is {pixels:.4g} px at the pixel size "
                                f"{format_pixel_size(sizes)}: {exc}") from None
        if self.check is not None:
            self.check(checked)
        return checked

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """All parameters, defaults filled in and values coerced; unknown names rejected."""
        known = self._param_names
        for name in params:
            if name not in known:
                close = (difflib.get_close_matches(name, sorted(known), n=3)
                         if isinstance(name, str) else [])
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                accepted = ", ".join(sorted(known)) or "none"
                raise BadValueError(
                    f"{self.id} has no parameter {shown(name)}{hint}; its parameters are: "
                    f"{accepted}"
                )
        checked = dict(self._defaults)
        for p in self.params:
            if p.name in params:
                checked[p.name] = p.check(params[p.name])
        if self.check is not None:
            # A size it reads in um: checked once it is pixels (resolve_units).
            with contextlib.suppress(_InMicrometres):
                self.check(_PixelsOnly(checked))
        return checked

    def plain_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Checked parameters as plain data, in signature order, defaults included."""
        checked = self.check_params(params)
        return {p.name: p.to_plain(checked[p.name]) for p in self.params}

    def __call__(
        self,
        data: Any,
        *args: Any,
        per_plane: bool = False,
        progress: Callable[[int, int], None] | None = None,
        pixel_size: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Check inputs and parameters, then run the op (plane by plane if asked).

        ``progress(done, total)`` is called after each plane of a per-plane run;
        ``pixel_size`` (micrometres per pixel) turns sizes given in micrometres into pixels.
        """
        if len(args) > len(self.inputs):
            # a value after the array, as skimage takes a footprint: say to name it
            names = ", ".join(f"{p.name}=" for p in self.params) or "none"
            raise BadTypeError(f"{self.id} takes {1 + len(self.inputs)} array argument(s), got "
                               f"{1 + len(args)}; accepted: parameters by name ({names})")
        arrays: dict[str, Any] = {}
        if self.inputs:  # seeds, markers: given by position or by name
            arrays.update(zip((i.name for i in self.inputs), args, strict=False))
            for extra in self.inputs:
                if extra.name in kwargs:
                    arrays[extra.name] = kwargs.pop(extra.name)
        params = self.check_params(kwargs)
        validation.check_progress(progress)
        validation.check_per_plane(per_plane)
        if pixel_size is not None:
            check_pixel_size(pixel_size)
        raw_dtype = getattr(data, "dtype", None)
        data = validation.check_input(self, data)
        if self.has_quantities(params):
            ndim = self.working_ndim(validation.spatial_ndim(self, data), per_plane)
            params = self.resolve_units(params, pixel_size, ndim=ndim)
        for extra in self.inputs:
            value = arrays.get(extra.name)
            if value is None:
                if extra.required:
                    raise BadValueError(f"{self.id} needs the {extra.name!r} input")
                continue
            arrays[extra.name] = validation.check_extra(self, extra, value, data)
        out = run_spatial(
            self, data, arrays, params, per_plane=per_plane, progress=progress
        )
        validation.warn_if_grey_taken_as_labels(self, raw_dtype, data, out)
        return out


_REGISTRY: dict[str, OpSpec] = {}


class UnknownOpError(MaskprepError, KeyError):
    """An op id that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


def _unwrap_annotation(annotation: Any) -> tuple[Any, dict[str, Any], bool]:
    """(base type, hints, optional) from ``Annotated[T | None, {...}]``."""
    hints: dict[str, Any] = {}
    if typing.get_origin(annotation) is Annotated:
        base, *meta = typing.get_args(annotation)
        for m in meta:
            if isinstance(m, Mapping):
                hints.update(m)
            elif isinstance(m, Kind):
                hints["kind"] = m
        annotation = base
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0] if len(members) == 1 else annotation
    return annotation, hints, optional


def operation(
    op_id: str,
    *,
    stage: str | None = None,
    input: Kind | str,
    output: Kind | str,
    locality: Locality,
    ndim: tuple[int, ...] = (2,),
    channels: str = "grey",
    check: Callable[[Mapping[str, Any]], None] | None = None,
    finite: bool = True,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Register a function as the operation ``op_id`` (``stage.name``).

    The first positional parameter is the main input (of kind ``input``); further
    positional parameters are extra array inputs whose annotation carries a ``Kind``
    (``Annotated[np.ndarray | None, Kind.POINTS]``; a ``None`` default makes them
    optional). Keyword-only parameters are the op's settings. ``check(params)`` validates
    what involves several of them, when a recipe is loaded and before every call.
    ``finite=False``: a float input may hold NaN and infinite values (every other op
    refuses them).
    """
    prefix = op_id.split(".", 1)[0]
    if channels not in ("grey", "rgb", "any"):
        raise ValueError(f"{op_id}: channels must be 'grey', 'rgb' or 'any'")
    if "." not in op_id or prefix not in STAGES or (stage is not None and stage != prefix):
        raise ValueError(f"op id {op_id!r} must be '<stage>.<name>' with stage in {STAGES}")

    def register(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if op_id in _REGISTRY:
            raise ValueError(f"op id {op_id!r} is already registered")
        hints = typing.get_type_hints(func, include_extras=True)
        positional = []
        params = []
        for i, p in enumerate(inspect.signature(func).parameters.values()):
            if p.kind is p.KEYWORD_ONLY:
                base, meta, optional = _unwrap_annotation(hints[p.name])
                if p.default is p.empty:
                    raise TypeError(f"{op_id}: parameter {p.name!r} needs a default")
                params.append(Param(p.name, base, p.default, meta, optional))
            elif p.kind is p.POSITIONAL_OR_KEYWORD:
                if i == 0:
                    continue
                _, meta, _ = _unwrap_annotation(hints[p.name])
                kind = meta.get("kind")
                kinds = tuple(kind) if isinstance(kind, tuple) else (Kind(kind),)
                positional.append(ArrayInput(p.name, kinds, p.default is p.empty))
            else:
                raise TypeError(f"{op_id}: parameter {p.name!r} must be keyword-only")
        spec = OpSpec(
            id=op_id,
            func=func,
            input=Kind(input),
            output=Kind(output),
            ndim=tuple(ndim),
            locality=locality,
            params=tuple(params),
            inputs=tuple(positional),
            channels=channels,
            check=check,
            finite=finite,
        )
        _REGISTRY[op_id] = spec

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> np.ndarray:
            return spec(*args, **kwargs)

        call.spec = spec  # type: ignore[attr-defined]
        return call

    return register


def get_op(op_id: str) -> OpSpec:
    """The spec of ``op_id``; an unknown id raises naming the closest known ids."""
    if isinstance(op_id, str) and op_id in _REGISTRY:
        return _REGISTRY[op_id]
    close: list[str] = []
    if isinstance(op_id, str):
        close = _ops_with_method(op_id.rsplit(".", 1)[-1].lower())
        close += difflib.get_close_matches(op_id, _REGISTRY, n=3 - len(close), cutoff=0.5)
        if not close:
            stem = op_id.rsplit(".", 1)[-1]
            close = [k for k in _REGISTRY if k.endswith("." + stem)][:3]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownOpError(f"unknown op {shown(op_id)}{hint} (`maskprep ops` lists them)")


def _ops_with_method(name: str) -> list[str]:
    """The ops with a method ``name``: 'segment.otsu' is auto_threshold's method: otsu."""
    return [f"{spec.id} (method: {name})" for spec in _REGISTRY.values()
            for p in spec.params if p.name == "method" and name in (p.choices or ())][:2]


def list_ops(stage: str | None = None) -> list[OpSpec]:
    """Every registered op (of one stage if given), ordered by stage then id."""
    if stage is not None and stage not in STAGES:
        raise BadValueError(
            f"unknown stage {shown(stage)}; expected one of {', '.join(STAGES)}"
        )
    specs = [s for s in _REGISTRY.values() if stage in (None, s.stage)]
    return sorted(specs, key=lambda s: (STAGES.index(s.stage), s.id))


def apply(op_id: str, data: Any, *args: Any, **params: Any) -> np.ndarray:
    """Run one op by id: ``apply("refine.open", mask, radius=3)``.

    Extra array inputs (seeds, markers) follow ``data``; ``per_plane=True`` runs a 2D op
    plane by plane over the leading axes.
    """
    return get_op(op_id)(data, *args, **params)
