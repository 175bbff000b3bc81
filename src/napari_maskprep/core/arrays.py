"""What an array is as ops see it: its native form, and a checksum of it."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["checksum", "native"]


def native(a: np.ndarray) -> np.ndarray:
    """``a`` as ops compute on it: native byte order, float16 as float32 (a copy only then).

    Ops and the libraries under them (cv2 above all) take native byte order only, and
    nothing computes in float16: both are converted once, to the dtype the result would
    have anyway.
    """
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    return a


def checksum(array: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes, as ops see it (:func:`native`): an
    image recorded big-endian or in float16 is the same image when a recipe replays."""
    array = native(np.asarray(array))
    h = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    h.update(np.ascontiguousarray(array).data)
    return "sha256:" + h.hexdigest()
