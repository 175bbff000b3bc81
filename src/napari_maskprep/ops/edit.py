"""Hand edits as replayable recipe steps: ``edit.manual`` holds a compact diff.

A diff is the bounding box of the changed pixels, which of its pixels changed (packed
bits) and their new values, both zlib-compressed and base64-encoded, tied to checksums of
the array it was painted on and of the recipe's input image. Replayed on the same array it
re-applies exactly; after an upstream change it re-applies and says how many of its pixels
still change the mask; on another image it is skipped with a notice.

An edit of a region of an image too large to load (napari's "Edit region") has the whole
image's shape and its box in whole-image coordinates like any other, but its checksums
cover the box only (``box_checksums``), so a tiled run checks it from the box alone
(:mod:`napari_maskprep.engine.tiled_edit`).

A diff is data from a file: its box must lie in its shape and hold at most
:data:`MAX_EDIT_PIXELS` pixels, and its values be labels an int32 holds, 0 and up
(checked when a recipe loads), and its streams are
decompressed to no more than the box needs, so a small recipe cannot make a large
allocation.
"""

from __future__ import annotations

import base64
import binascii
import math
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

from ..core.arrays import checksum
from ..core.errors import BadValueError, LimitError, MaskprepWarning, shown
from ..core.locality import Kind, NonLocal
from ..core.registry import operation

__all__ = ["MAX_EDIT_PIXELS", "ManualEdit", "manual", "notice", "paint"]

MAX_EDIT_PIXELS = 2**26  # pixels in the box of one hand edit (8192 x 8192)
_MAX_LABEL = int(np.iinfo(np.int32).max)  # labels are int32: a larger value would wrap


def _pack(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def _damaged(why: str) -> BadValueError:
    return BadValueError(f"edit.manual: the stored diff is damaged ({why})")


def _unpack(text: str, size: int, what: str) -> bytes:
    """The ``size`` bytes packed in ``text``; never decompresses more than that."""
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
        stream = zlib.decompressobj()
        data = stream.decompress(packed, size + 1)
    except (UnicodeEncodeError, binascii.Error, zlib.error):
        raise _damaged(f"{what} is not compressed base64") from None
    if len(data) != size or not stream.eof:
        raise _damaged(f"{what} does not hold the {size} bytes its box needs")
    return data


def _ints(text: str, sep: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(sep)]
    except ValueError:
        raise _damaged(f"{what} {shown(text)}") from None
    return values


def _box(shape: str, bbox: str, dtype: str) -> tuple[tuple[slice, ...], np.dtype]:
    """The edit's box as slices and its values' dtype, checked against its shape."""
    size = _ints(shape, "x", "shape")
    spans = [_ints(part, ":", "bbox") for part in bbox.split(",")]
    if not 2 <= len(size) <= 3 or len(spans) != len(size) or min(size) < 1:
        raise _damaged(f"shape {shown(shape)} with bbox {shown(bbox)}")
    for (start, *stop), n in zip(spans, size, strict=True):
        if len(stop) != 1 or not 0 <= start < stop[0] <= n:
            raise _damaged(f"bbox {shown(bbox)} is not inside shape {shown(shape)}")
    pixels = math.prod(stop - start for start, stop in spans)
    if pixels > MAX_EDIT_PIXELS:
        raise LimitError(f"edit.manual: a box of {pixels} pixels; the limit for one hand edit "
                         f"is {MAX_EDIT_PIXELS}")
    try:
        kind = np.dtype(dtype) if dtype in _VALUE_DTYPES else None
    except TypeError:
        kind = None
    if kind is None:
        raise _damaged(f"dtype {shown(dtype)}; accepted: an integer dtype such as '|u1' or '<i4'")
    return tuple(slice(start, stop) for start, stop in spans), kind


# What a Labels layer may hold: bool and integers, in either byte order.
_VALUE_DTYPES = frozenset(
    np.dtype(t).newbyteorder(order).str
    for t in (np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32,
              np.uint64, np.int64)
    for order in "<>"
)


def _check_params(params: Mapping[str, Any]) -> None:
    """A non-empty edit's shape, box and dtype, when a recipe loads; its values too where
    their dtype holds some no label is (only then is anything decompressed)."""
    if params["bbox"]:
        _, dtype = _box(params["shape"], params["bbox"], params["dtype"])
        if not (dtype.kind == "b" or dtype.kind == "u" and dtype.itemsize <= 2):
            ManualEdit(**params).decode()


@dataclass(frozen=True)
class ManualEdit:
    """The difference between a mask before and after painting, as plain strings."""

    shape: str  # "520x696"
    dtype: str
    base: str  # checksum of the array painted on
    image_checksum: str  # of the recipe's input image ("" if unknown)
    bbox: str  # "y0:y1,x0:x1"
    changed: str  # packed bits of the changed pixels inside bbox
    values: str  # their new values
    box_checksums: bool = False  # base and image_checksum are of the box only

    @classmethod
    def between(cls, before: np.ndarray, after: np.ndarray, *, image: np.ndarray | None = None,
                within: tuple[slice, ...] | None = None) -> ManualEdit | None:
        """The edit that turns ``before`` into ``after``; None when nothing changed.

        ``within`` is a box (slices with start and stop) known to hold every changed pixel,
        such as the union of the paint strokes: only it is compared.
        """
        if before.shape != after.shape:
            raise BadValueError(f"edit: shapes differ ({before.shape} vs {after.shape})")
        region = within if within is not None else tuple(slice(0, n) for n in before.shape)
        diff = before[region] != after[region]
        if not diff.any():
            return None
        found = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(diff))
        inside = diff[found]
        box = tuple(slice(r.start + f.start, r.start + f.stop)
                    for r, f in zip(region, found, strict=True))
        values = np.ascontiguousarray(after[box][inside])
        return cls(
            shape="x".join(map(str, before.shape)),
            dtype=after.dtype.str,
            base=checksum(before),
            image_checksum=checksum(image) if image is not None else "",
            bbox=",".join(f"{s.start}:{s.stop}" for s in box),
            changed=_pack(np.packbits(inside).tobytes()),
            values=_pack(values.tobytes()),
        )

    @classmethod
    def in_region(cls, before: np.ndarray, after: np.ndarray, *, origin: tuple[int, ...],
                  shape: tuple[int, ...], image: Any = None) -> ManualEdit | None:
        """The edit that turns region ``before`` into ``after``, where the region starts at
        ``origin`` of an array of ``shape``; None when nothing changed.

        Its box and shape are the whole array's, its checksums those of the box (of the
        region as painted on, and of ``image``, the whole input image, read only there:
        a dask or zarr array is fine).
        """
        if before.shape != after.shape:
            raise BadValueError(f"edit: shapes differ ({before.shape} vs {after.shape})")
        if len(origin) != before.ndim or len(shape) != before.ndim or any(
                not 0 <= o <= n - m for o, n, m in zip(origin, shape, before.shape,
                                                       strict=True)):
            raise BadValueError(f"edit: a region of shape {before.shape} at {origin} does "
                                f"not lie in shape {shape}")
        diff = before != after
        if not diff.any():
            return None
        found = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(diff))
        box = tuple(slice(o + f.start, o + f.stop) for o, f in zip(origin, found, strict=True))
        return cls(
            shape="x".join(map(str, shape)),
            dtype=after.dtype.str,
            base=checksum(before[found]),
            image_checksum=checksum(np.asarray(image[box])) if image is not None else "",
            bbox=",".join(f"{s.start}:{s.stop}" for s in box),
            changed=_pack(np.packbits(diff[found]).tobytes()),
            values=_pack(np.ascontiguousarray(after[found][diff[found]]).tobytes()),
            box_checksums=True,
        )

    def params(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def box(self) -> tuple[slice, ...]:
        """The edit's box, as slices of its shape."""
        return _box(self.shape, self.bbox, self.dtype)[0]

    def size(self) -> int:
        """Pixels in the edit's box (an upper bound of the pixels it changes)."""
        box, _ = _box(self.shape, self.bbox, self.dtype)
        return math.prod(s.stop - s.start for s in box)

    def decode(self) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
        """The box, which of its pixels change (a bool array of its shape) and their new
        values, in raster order."""
        box, dtype = _box(self.shape, self.bbox, self.dtype)
        size = [s.stop - s.start for s in box]
        pixels = math.prod(size)
        bits = np.frombuffer(_unpack(self.changed, -(-pixels // 8), "changed"), np.uint8)
        inside = np.unpackbits(bits, count=pixels).reshape(size).view(bool)
        count = int(np.count_nonzero(inside))
        values = np.frombuffer(_unpack(self.values, count * dtype.itemsize, "values"), dtype)
        low, high = (values.min(), values.max()) if values.size else (0, 0)
        if low < 0 or high > _MAX_LABEL:
            bad = low if low < 0 else high
            raise BadValueError(f"edit.manual: the stored diff paints the value {bad}; "
                                f"accepted: labels 0 to {_MAX_LABEL} (int32, as the op's are)")
        return box, inside, values

    def apply(self, array: np.ndarray, image: np.ndarray | None = None
              ) -> tuple[np.ndarray, int, int, str]:
        """(result, pixels that still change it, pixels in the edit, how it applied).

        ``how`` is "exact" (painted on this very array), "reapplied" (same image,
        changed upstream) or "skipped" (another image or shape).
        """
        if "x".join(map(str, array.shape)) != self.shape:
            return array, 0, self.size(), "skipped"
        box, inside, values = self.decode()
        if not self.matches_image(image, box):
            return array, 0, int(values.size), "skipped"
        how = self.how(array[box] if self.box_checksums else array)
        # Labels of only 0 and 1 come as a uint8 mask: painted ids above 1 make it labels,
        # and ids above 255 must not wrap (300 became 44).
        labels = array.dtype == np.uint8 and values.size and values.max() > 1
        out = array.astype(np.int32) if labels else array.copy()
        still = paint(out[box], inside, values)
        return out, still, int(values.size), how

    def matches_image(self, image: Any, box: tuple[slice, ...]) -> bool:
        """Whether ``image`` (the whole input image, or None when not given) is the one the
        edit was made on, as far as its checksum tells; only its box is read for an edit
        with ``box_checksums``."""
        if not self.image_checksum or image is None:
            return True
        seen = np.asarray(image[box]) if self.box_checksums else image
        return checksum(seen) == self.image_checksum

    def how(self, painted_on: np.ndarray) -> str:
        """"exact" if ``painted_on`` (the box of the input, for an edit with
        ``box_checksums``; else the whole input) is what the edit was painted on, else
        "reapplied".

        The op sees labels as int32 and a mask as uint8, whatever dtype the layer painted
        on had (uint16 labels, a bool mask): the same values in the edit's own dtype are
        what it was painted on too.
        """
        if checksum(painted_on) == self.base:
            return "exact"
        same = _in_dtype(painted_on, np.dtype(self.dtype))
        return "exact" if same is not None and checksum(same) == self.base else "reapplied"


def _in_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """``values`` in ``dtype`` when it holds them all (and is another), else None."""
    if dtype == values.dtype or not values.size:
        return None
    lo, hi = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    return values.astype(dtype) if lo <= values.min() and values.max() <= hi else None


def paint(region: np.ndarray, inside: np.ndarray, values: np.ndarray) -> int:
    """Write ``values`` at the ``inside`` pixels of ``region`` (a view, changed in place;
    values cast to its dtype); how many of them changed it."""
    still = int(np.count_nonzero(region[inside] != values))
    region[inside] = values.astype(region.dtype, copy=False)
    return still


def notice(how: str, still: int, total: int) -> str:
    """What a person is told about an edit that did not apply exactly ("" when it did)."""
    if how == "skipped":
        return f"edit.manual: hand edits of {total} pixels were made on another image; skipped"
    if how == "reapplied":
        return (f"edit.manual: the mask changed upstream since these hand edits; {still} of "
                f"{total} edited pixels still change it")
    return ""


@operation("edit.manual", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3),
           check=_check_params)
def manual(
    mask: np.ndarray,
    image: Annotated[np.ndarray | None, Kind.IMAGE] = None,
    *,
    shape: str = "",
    dtype: str = "",
    base: str = "",
    bbox: str = "",
    changed: str = "",
    values: str = "",
    image_checksum: str = "",
    box_checksums: bool = False,
) -> np.ndarray:
    """Re-apply hand edits (paint, erase, fill) recorded as a compact diff.

    Recorded by the napari recorder when a person paints on an output Labels layer.
    With the recipe's input image as ``image``, edits made on another image are skipped
    with a notice; after an upstream change they are re-applied and a notice says how
    many of the edited pixels still change the mask. Empty parameters: no edit.
    ``box_checksums``: ``base`` and ``image_checksum`` are checksums of the box only (an
    edit of a region of an image too large to load, which a tiled run replays).

    Examples
    --------
    >>> import numpy as np
    >>> before = np.zeros((3, 4), np.uint8)
    >>> after = before.copy(); after[1, 1:3] = 1
    >>> manual(before, **ManualEdit.between(before, after).params())
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]], dtype=uint8)
    """
    if not bbox:
        return mask.copy()
    edit = ManualEdit(shape, dtype, base, bbox=bbox, changed=changed, values=values,
                      image_checksum=image_checksum, box_checksums=box_checksums)
    out, still, total, how = edit.apply(mask, image)
    if how != "exact":
        warnings.warn(notice(how, still, total), MaskprepWarning, stacklevel=2)
    if out.dtype == np.uint8 and out.max(initial=0) > 1:
        return out.astype(np.int32)  # painted with a label > 1: the mask became labels
    return out
