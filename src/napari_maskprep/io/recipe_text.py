"""YAML and JSON text read as plain data (mappings, lists, strings, numbers, booleans, null),
within limits that bound the work a small file can cause.

A recipe is data: YAML is read event by event from the parser (libyaml's where present)
and composed here without recursion; tags, anchors and aliases are refused (an alias is
how 400 bytes of YAML become gigabytes), so are duplicate keys and non-string keys. Errors
carry the line and column. JSON goes through ``json.loads`` with the same checks.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from ..core.errors import BadValueError, LimitError, shown

__all__ = ["MAX_DEPTH", "MAX_NODES", "dump_plain", "load_plain"]

# Nesting of lists and mappings (a recipe needs 4: recipe, steps, step, params) and values
# in all (a recipe of 1000 steps needs about 15000).
MAX_DEPTH = 16
MAX_NODES = 100_000

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALARS = {
    "tag:yaml.org,2002:null": SafeConstructor.construct_yaml_null,
    "tag:yaml.org,2002:bool": SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": SafeConstructor.construct_yaml_float,
}


class _Resolver(Resolver):
    """YAML 1.1's implicit types, plus exponent floats without a dot or sign (``1e-3``,
    ``2e5``), which YAML 1.1 reads as strings and people write as numbers."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
# YAML 1.1 reads a leading zero as octal (min_size: 010 was 8, while 08, no octal, was
# text) and colons as base 60 (radius: 1:30 was 90); YAML 1.2 and people read 10 and text.
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")
_Resolver.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(f"^{_LEADING_ZERO.pattern}$"),
                                list("-+0"))
_resolver = _Resolver()
_constructor = SafeConstructor()
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "end"


def _scalar(event: yaml.ScalarEvent) -> Any:
    tag, text = _resolver.resolve(ScalarNode, event.value, event.implicit), event.value
    if event.implicit[0] and _LEADING_ZERO.fullmatch(text):
        sign = text[0] if text[0] in "+-" else ""
        tag, text = _NUMBER_TAGS[0], sign + (text[len(sign):].lstrip("0_") or "0")
    construct = _SCALARS.get(tag)
    if construct is None or tag in _NUMBER_TAGS and ":" in text:
        return text  # strings, dates and base-60 numbers, which a recipe holds as text
    try:
        return construct(_constructor, ScalarNode(tag, text))
    except (ValueError, ConstructorError):  # an integer of thousands of digits
        raise LimitError(f"{_at(event.start_mark)}: the number {shown(event.value)} is too "
                         "large; accepted: numbers of at most 4300 digits") from None


def _load_yaml(text: str) -> Any:
    stack: list[list[Any]] = []  # open containers: [value, pending key or None, start mark]
    documents: list[Any] = []
    nodes = 0
    try:
        for event in yaml.parse(text, Loader=_Parser):
            if isinstance(event, yaml.AliasEvent | yaml.NodeEvent) and (
                    isinstance(event, yaml.AliasEvent) or event.anchor is not None):
                raise BadValueError(f"{_at(event.start_mark)}: YAML anchors and aliases are "
                                    "not accepted; write each value out")
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent) and (
                    event.tag not in (None, "!")):
                raise BadValueError(f"{_at(event.start_mark)}: the tag {shown(event.tag)} is not "
                                    "accepted; a recipe is plain data without tags")
            if isinstance(event, yaml.DocumentStartEvent) and documents:
                raise BadValueError(f"{_at(event.start_mark)}: a second YAML document; "
                                    "accepted: one document")
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    raise LimitError(f"{_at(event.start_mark)}: more than {MAX_NODES} values; "
                                     "that is the limit")
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise LimitError(f"{_at(event.start_mark)}: nested deeper than {MAX_DEPTH} "
                                     "levels; that is the limit")
                empty = {} if isinstance(event, yaml.MappingStartEvent) else []
                stack.append([empty, None, event.start_mark])
                continue
            if isinstance(event, yaml.ScalarEvent):
                value, mark = _scalar(event), event.start_mark
            elif isinstance(event, yaml.CollectionEndEvent):
                value, _, mark = stack.pop()
            else:
                continue
            if not stack:
                documents.append(value)
                continue
            parent = stack[-1]
            if isinstance(parent[0], list):
                parent[0].append(value)
            elif parent[1] is None:
                if not isinstance(value, str):
                    raise BadValueError(f"{_at(mark)}: the key {shown(value)} is not a string; "
                                        "accepted: keys that are names")
                if value in parent[0]:
                    raise BadValueError(f"{_at(mark)}: the key {shown(value)} appears twice")
                parent[1] = value
            else:
                parent[0][parent[1]] = value
                parent[1] = None
    except yaml.MarkedYAMLError as exc:
        if _character_at(text, exc.problem_mark) == "\t":  # "cannot start any token"
            raise BadValueError(f"{_at(exc.problem_mark)}: a tab; accepted: spaces to indent "
                                "(YAML does not take tabs there)") from None
        raise BadValueError(f"{_at(exc.problem_mark)}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:  # the reader's errors (bad characters) carry no mark
        raise BadValueError(str(exc).splitlines()[0][:200]) from None
    return documents[0] if documents else None


def _character_at(text: str, mark: Any) -> str:
    """The character at a parser's mark (lines broken where YAML breaks them), or ""."""
    lines = _LINE_BREAKS.split(text)
    if mark is None or mark.line >= len(lines):
        return ""
    return lines[mark.line][mark.column:mark.column + 1]


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting each string that :func:`load_plain` reads as a number
    (its own resolver's): '1e3' and '08' were written plain and read back as 1000.0 and 8."""

    yaml_implicit_resolvers = _Resolver.yaml_implicit_resolvers


def dump_plain(data: Any) -> str:
    """``data`` (plain data) as YAML text that :func:`load_plain` reads back equal.

    Examples
    --------
    >>> print(dump_plain({"name": "1e3", "id": "08", "sigma": 1.5}), end="")
    {name: '1e3', id: '08', sigma: 1.5}
    """
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=100)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BadValueError(f"the key {shown(key)} appears twice")
        out[key] = value
    return out


def _check_json_size(data: Any) -> None:
    todo, nodes = [(data, 1)], 0
    while todo:
        value, depth = todo.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise LimitError(f"more than {MAX_NODES} values; that is the limit")
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise LimitError(f"nested deeper than {MAX_DEPTH} levels; that is the limit")
            items = value.values() if isinstance(value, dict) else value
            todo.extend((v, depth + 1) for v in items)


def _load_json(text: str) -> Any:
    try:
        # A byte order mark (Windows Notepad's UTF-8) is read past, as the YAML reader does:
        # json refused it ('Unexpected UTF-8 BOM (decode using utf-8-sig)').
        data = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise BadValueError(f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise LimitError(f"nested deeper than {MAX_DEPTH} levels; that is the limit") from None
    except BadValueError:
        raise
    except ValueError:  # Python's own limit on the digits of an integer
        raise LimitError("a number is too large; accepted: numbers of at most 4300 digits"
                         ) from None
    _check_json_size(data)
    return data


def load_plain(text: str, *, format: str = "yaml") -> Any:
    """Parse ``text`` (``format`` "yaml" or "json") into plain Python data.

    Raises :class:`BadValueError` (with line and column where known) for text that is not
    plain data, and :class:`LimitError` beyond :data:`MAX_DEPTH` or :data:`MAX_NODES`.

    Examples
    --------
    >>> load_plain("maskprep: 1\\nsteps: [{op: refine.open, params: {radius: 2}}]")
    {'maskprep': 1, 'steps': [{'op': 'refine.open', 'params': {'radius': 2}}]}
    >>> load_plain("a: &x [1]\\nb: *x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    napari_maskprep.core.errors.BadValueError: line 1, column 4: YAML anchors and aliases ...
    """
    return _load_json(text) if format == "json" else _load_yaml(text)
