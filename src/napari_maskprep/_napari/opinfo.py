"""What the GUI shows of an op, read from its registration (no Qt): parameter descriptions
from the numpydoc docstring."""

from __future__ import annotations

import inspect

from ..core.registry import OpSpec

__all__ = ["param_docs"]


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

