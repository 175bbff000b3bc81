"""A recipe run in memory: each enabled step reads the previous step's output (and the
extra inputs its ``inputs`` name), one array alive at a time besides those kept by id."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import RecipeError, at_step

if TYPE_CHECKING:
    from ..recipe import Step

__all__ = ["run_in_memory"]


def run_in_memory(
    steps: Sequence[Step],
    image: Any,
    named: Mapping[str, Any],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[int, Step, np.ndarray]]:
    """Yield ``(index, step, output)`` for each enabled step of ``steps``, in order.

    ``named`` holds the recipe's declared inputs (seeds, markers). Raises
    :class:`RecipeError` naming the step before any step runs when a step reads the output
    of a disabled one, and when a step fails.
    """
    sources: dict[str, Any] = {"input": image, **named}
    enabled = [(i, s) for i, s in enumerate(steps) if s.enabled]
    available = set(sources)
    for index, step in enabled:
        unset = next((src for src in step.inputs.values() if src not in available), None)
        if unset is not None:
            raise RecipeError(f"{at_step(index + 1, step.op)}: reads {unset!r}, the output "
                              "of a disabled step; enable it or change the input")
        available.update({step.id} if step.id else ())
    current = image
    for done, (index, step) in enumerate(enabled):
        arrays = {name: sources[src] for name, src in step.inputs.items()}
        try:
            current = step.spec(current, per_plane=step.per_plane, **arrays, **step.params)
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"{at_step(index + 1, step.op)}: {exc}") from None
        if step.id is not None:
            sources[step.id] = current
        if progress is not None:
            progress(done + 1, len(enabled))
        yield index, step, current
