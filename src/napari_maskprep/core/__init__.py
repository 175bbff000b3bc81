"""GUI-free core: the operation registry and the operations of the three stages."""

from ._validate import MaskprepWarning
from .errors import BadTypeError, BadValueError, LimitError, MaskprepError
from .registry import (
    Kind,
    OpSpec,
    StatisticCache,
    UnknownOpError,
    apply,
    get_op,
    list_ops,
    operation,
)

__all__ = [
    "BadTypeError",
    "BadValueError",
    "Kind",
    "LimitError",
    "MaskprepError",
    "MaskprepWarning",
    "OpSpec",
    "StatisticCache",
    "UnknownOpError",
    "apply",
    "get_op",
    "list_ops",
    "operation",
]
