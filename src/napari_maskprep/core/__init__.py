"""The contract every op is built to: kinds and locality, the registry, input validation,
the errors and warning, and the enums several stages share. No op lives here (``ops/``)."""

from .enums import Connectivity, Footprint
from .errors import (
    BadTypeError,
    BadValueError,
    LimitError,
    MaskprepError,
    MaskprepWarning,
)
from .locality import GlobalStat, Kind, Local, NonLocal, Pointwise
from .registry import OpSpec, UnknownOpError, apply, get_op, list_ops, operation

__all__ = [
    "BadTypeError",
    "BadValueError",
    "Connectivity",
    "Footprint",
    "GlobalStat",
    "Kind",
    "LimitError",
    "Local",
    "MaskprepError",
    "MaskprepWarning",
    "NonLocal",
    "OpSpec",
    "Pointwise",
    "UnknownOpError",
    "apply",
    "get_op",
    "list_ops",
    "operation",
]
