"""The errors this package raises on purpose, its warning, and how values are shown in
messages.

Every one is a subclass of :class:`MaskprepError` and of the builtin error a caller would
expect (``ValueError``, ``TypeError``, ``OSError``, ``KeyError``), so ``except ValueError``
keeps working. Messages are one line, say what is wrong and what is accepted, and stay
short whatever the input: values are shown through :func:`shown`, never by a bare ``repr``
(a recipe of nested YAML aliases would otherwise make a message of gigabytes).
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "BadTypeError",
    "BadValueError",
    "LimitError",
    "MaskprepError",
    "MaskprepWarning",
    "RecipeError",
    "at_step",
    "shown",
]


class MaskprepError(Exception):
    """Base of the errors raised on purpose: one line naming what is wrong and what is
    accepted, raised before any work starts."""


class BadValueError(MaskprepError, ValueError):
    """A parameter or array whose value (range, shape, content) is not accepted."""


class BadTypeError(MaskprepError, TypeError):
    """A parameter or array of a type that is not accepted."""


class RecipeError(MaskprepError, ValueError):
    """A recipe that cannot be loaded, validated or run: one line saying what and where."""


class LimitError(BadValueError):
    """Input beyond a documented limit (file size, steps, nesting, work an op may do)."""


class MaskprepWarning(UserWarning):
    """Suspicious but valid input: the op ran and its result is defined."""


def at_step(number: int, op: str) -> str:
    """How a message names a recipe's step: ``step 2 (refine.open)``."""
    return f"step {number} ({op})"


_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlong = 30
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4


def shown(value: Any) -> str:
    """``repr(value)`` cut to a few dozen characters, control characters escaped.

    Examples
    --------
    >>> shown("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
    >>> shown([[[[[1]]]]])
    '[[[[...]]]]'
    >>> shown("red\\x1b[0m")
    "'red\\\\x1b[0m'"
    """
    try:
        text = _SHORT.repr(value)
    except Exception:  # a foreign object's __repr__ may raise anything
        text = f"<{type(value).__name__}>"
    # reprlib escapes control characters in strings but not inside foreign reprs.
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 80 else text[:77] + "..."
