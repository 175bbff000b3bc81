"""Hand edits as replayable recipe steps: ``edit.manual`` holds a compact diff.

A diff is the bounding box of the changed pixels, which of its pixels changed (packed
bits) and their new values, both zlib-compressed and base64-encoded, tied to checksums of
the array it was painted on and of the recipe's input image. Replayed on the same array it
re-applies exactly; after an upstream change it re-applies and says how many of its pixels
still change the mask; on another image it is skipped with a notice.
"""

from __future__ import annotations

import base64
import hashlib
import warnings
import zlib
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from ._validate import MaskprepWarning
from .errors import BadValueError
from .registry import Kind, NonLocal, operation

__all__ = ["ManualEdit", "checksum", "manual"]


def checksum(array: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes."""
    h = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    h.update(np.ascontiguousarray(array).data)
    return "sha256:" + h.hexdigest()


def _pack(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def _unpack(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))


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

    @classmethod
    def between(cls, before: np.ndarray, after: np.ndarray, *, image: np.ndarray | None = None
                ) -> ManualEdit | None:
        """The edit that turns ``before`` into ``after``; None when nothing changed."""
        if before.shape != after.shape:
            raise BadValueError(f"edit: shapes differ ({before.shape} vs {after.shape})")
        diff = before != after
        if not diff.any():
            return None
        box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(diff))
        inside = diff[box]
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

    def params(self) -> dict[str, str]:
        return dict(self.__dict__)

    def _decode(self) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
        try:
            box = tuple(slice(*map(int, part.split(":"))) for part in self.bbox.split(","))
            size = [s.stop - s.start for s in box]
            inside = np.unpackbits(np.frombuffer(_unpack(self.changed), np.uint8),
                                   count=int(np.prod(size))).reshape(size).astype(bool)
            values = np.frombuffer(_unpack(self.values), np.dtype(self.dtype))
        except (ValueError, TypeError, zlib.error) as exc:
            raise BadValueError(f"edit.manual: the stored diff is damaged ({exc})") from None
        if values.size != np.count_nonzero(inside):
            raise BadValueError("edit.manual: the stored diff is damaged (value count mismatch)")
        return box, inside, values

    def apply(self, array: np.ndarray, image: np.ndarray | None = None
              ) -> tuple[np.ndarray, int, int, str]:
        """(result, pixels that still change it, pixels in the edit, how it applied).

        ``how`` is "exact" (painted on this very array), "reapplied" (same image,
        changed upstream) or "skipped" (another image or shape).
        """
        box, inside, values = self._decode()
        total = int(values.size)
        same_image = (not self.image_checksum or image is None
                      or checksum(image) == self.image_checksum)
        if "x".join(map(str, array.shape)) != self.shape or not same_image:
            return array, 0, total, "skipped"
        out = array.copy()
        region = out[box]
        still = int(np.count_nonzero(region[inside] != values))
        region[inside] = values.astype(out.dtype, copy=False)
        how = "exact" if checksum(array) == self.base else "reapplied"
        return out, still, total, how


@operation("edit.manual", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3))
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
) -> np.ndarray:
    """Re-apply hand edits (paint, erase, fill) recorded as a compact diff.

    Recorded by the napari recorder when a person paints on an output Labels layer.
    With the recipe's input image as ``image``, edits made on another image are skipped
    with a notice; after an upstream change they are re-applied and a notice says how
    many of the edited pixels still change the mask. Empty parameters: no edit.

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
                      image_checksum=image_checksum)
    out, still, total, how = edit.apply(mask, image)
    if how == "skipped":
        warnings.warn(f"edit.manual: hand edits of {total} pixels were made on another image; "
                      "skipped", MaskprepWarning, stacklevel=2)
    elif how == "reapplied":
        warnings.warn(f"edit.manual: the mask changed upstream since these hand edits; "
                      f"{still} of {total} edited pixels still change it", MaskprepWarning,
                      stacklevel=2)
    if out.dtype == np.uint8 and out.max(initial=0) > 1:
        return out.astype(np.int32)  # painted with a label > 1: the mask became labels
    return out
