"""Docstring parts several ops share, written once and filled in where ``%(name)s`` stands
(as scipy's ``doccer``): the docs and the GUI's tooltips read the filled docstring."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["fill_doc"]

F = TypeVar("F", bound=Callable)


def fill_doc(parts: Mapping[str, str]) -> Callable[[F], F]:
    """Decorator: fill each ``%(name)s`` of the function's docstring with ``parts[name]``."""

    def fill(func: F) -> F:
        func.__doc__ = func.__doc__ % parts
        return func

    return fill
