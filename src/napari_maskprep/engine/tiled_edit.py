"""Hand edits (``edit.manual``) in a tiled run: each chunk gets the part of the edit's box
it overlaps.

Only an edit whose checksums cover its box (``box_checksums``, as napari's "Edit region"
records it) runs tiled: the box of the step's input, and of the recipe's input image when
the step reads it (``inputs: {image: input}``), are read once, the checksums tell whether
the edit applies exactly, is re-applied after an upstream change or is skipped (the same
notices as in memory), and the edited box is then written into the chunks it overlaps;
every other chunk passes through. The input may be a 0/1 mask or labels (as a labels
store painted in napari's Edit region). An edit recorded on a whole array in memory needs
that whole array's checksum and is refused before any work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from ..core.run_callbacks import compute
from ..core.validation import check_extra, check_input

if TYPE_CHECKING:
    from ..core.registry import OpSpec
    from ..recipe import Step

__all__ = ["EDIT_OP", "edit_refusal", "edited"]

EDIT_OP = "edit.manual"

_NOT_A_MASK = ("a tiled run takes a 0/1 mask here, not labels (run it in memory, or "
               "threshold the labels to a mask first)")


def edit_refusal(step: Step) -> str | None:
    """Why the ``edit.manual`` ``step`` cannot run tiled, or None."""
    if any(role != "image" or source != "input" for role, source in step.inputs.items()):
        return ("reads another array than the recipe's image (inputs:), which tiled runs "
                "do not support yet")
    if step.per_plane:
        return "runs plane by plane (per_plane: true), which tiled runs do not support yet"
    params = step.spec.check_params(step.params)
    if params["bbox"] and not params["box_checksums"]:
        return ("was recorded on a whole array in memory (box_checksums: false), so it is "
                "checked against that whole array; run it in memory, or paint it with "
                "napari's Edit region, which records a box it can be checked on")
    return None


def edited(x: da.Array, image: da.Array, step: Step) -> da.Array:
    """``x`` (a 0/1 mask, or labels of any integer dtype but uint8) through the hand edits
    of ``step``; the op warns as in memory when the edit is re-applied or skipped.

    Labels stay int32 labels when some id is above 1 (one pass over ``x`` tells): in
    memory, labels of only 0 and 1 are taken as a 0/1 mask, and so they are here.
    """
    spec = step.spec
    params = spec.check_params(step.params)
    if not params["bbox"]:
        return x
    labels = x.dtype.kind in "iu" and x.dtype != np.uint8 and int(compute(x.max())[0]) > 1
    if "x".join(map(str, x.shape)) != params["shape"]:
        # Made on an image of another shape: the op skips it, with its notice, without
        # decoding it, on any array of another shape than the edit's.
        side = 2 if params["shape"] == "x".join("1" * x.ndim) else 1
        spec(np.zeros((side,) * x.ndim, np.uint8), **params)
        return _checked(x, None, None, np.dtype(np.int32 if labels else np.uint8), spec)
    box = tuple(slice(*map(int, span.split(":"))) for span in params["bbox"].split(","))
    # The op on the box alone, as the box of the whole image: its checksums are the box's.
    inside = {**params, "shape": "x".join(str(s.stop - s.start) for s in box),
              "bbox": ",".join(f"0:{s.stop - s.start}" for s in box)}
    extras = {"image": np.asarray(compute(image[box])[0])} if step.inputs else {}
    if labels:
        # The box as the whole input's int32 labels, even where it holds only ids 0 and 1
        # (the op's own input check would make that a mask and its checksum another's),
        # of a volume, not colours, however wide the box (3 x 10 x 4 looks RGBA).
        region = check_input(spec, np.asarray(compute(x[box])[0]), colour=False).astype(
            np.int32, copy=False)
        extras = {name: check_extra(spec, _extra(spec, name), value, region)
                  for name, value in extras.items()}
        result = spec.func(region, **extras, **inside)
        return _checked(x, box, result, np.dtype(np.int32), spec)
    result = spec(_as_mask(np.asarray(compute(x[box])[0]), "the edit's box"), **extras, **inside)
    return _checked(x, box, result, result.dtype)


def _extra(spec: OpSpec, name: str) -> Any:
    return next(extra for extra in spec.inputs if extra.name == name)


def _as_mask(block: np.ndarray, where: str) -> np.ndarray:
    mask = block.view(np.uint8) if block.dtype == bool else block
    if mask.max(initial=0) > 1:
        raise ValueError(f"{where}: {_NOT_A_MASK}")
    return mask


def _checked(x: da.Array, box: tuple[slice, ...] | None, region: np.ndarray | None,
             dtype: np.dtype, labels_of: OpSpec | None = None) -> da.Array:
    """``x`` as a 0/1 mask of ``dtype`` (each chunk checked), or as labels checked by the
    op ``labels_of``, with ``region`` written at ``box`` into the chunks that overlap it."""
    starts = [np.cumsum((0,) + tuple(c)).tolist() for c in x.chunks]

    def chunk(block: np.ndarray, block_id: tuple[int, ...]) -> np.ndarray:
        out = (check_input(labels_of, block) if labels_of else
               _as_mask(block, f"chunk {tuple(block_id)}")).astype(dtype)
        if box is None:
            return out
        lo = [s[i] for s, i in zip(starts, block_id, strict=True)]
        hi = [s[i + 1] for s, i in zip(starts, block_id, strict=True)]
        a = [max(b.start, p) for b, p in zip(box, lo, strict=True)]
        b = [min(q.stop, p) for q, p in zip(box, hi, strict=True)]
        if any(u >= v for u, v in zip(a, b, strict=True)):
            return out
        out[tuple(slice(u - p, v - p) for u, v, p in zip(a, b, lo, strict=True))] = region[
            tuple(slice(u - q.start, v - q.start) for u, v, q in zip(a, b, box, strict=True))]
        return out

    return x.map_blocks(chunk, dtype=dtype, meta=np.empty((0,) * x.ndim, dtype))

