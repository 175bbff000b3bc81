"""What an array is as ops see it: its native form, and a checksum of it."""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from .run_callbacks import compute

__all__ = ["checksum", "is_binary", "native"]


def native(a: np.ndarray) -> np.ndarray:
    """``a`` as ops compute on it: native byte order, float16 as float32 and long double
    (float128) as float64 (a copy only then).

    Ops and the libraries under them (cv2 above all) take native byte order only, and
    nothing computes in float16 or long double (scipy.ndimage refuses it): both are
    converted once, to the dtype the result would have anyway.
    """
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    elif a.dtype.kind == "f" and a.dtype.itemsize > 8:
        a = a.astype(np.float64)
    return a


def checksum(array: np.ndarray, *, scheduler: str | None = None,
             cancelled: threading.Event | None = None) -> str:
    """sha256 of an array's shape, dtype and bytes, as ops see it (:func:`native`): an
    image recorded big-endian or in float16 is the same image when a recipe replays.

    A dask array is hashed one band of chunks (along its first axis) at a time, to the same
    digest, without ever being held whole, its bands computed on ``scheduler`` (default:
    the active one). Once ``cancelled`` is set, it stops between bands and returns "".
    """
    if hasattr(array, "__dask_graph__") and hasattr(array, "chunks"):
        dtype = native(np.empty(0, array.dtype)).dtype
        h = hashlib.sha256(f"{array.shape}|{dtype.str}|".encode())
        start = 0
        for height in array.chunks[0]:
            if cancelled is not None and cancelled.is_set():
                return ""
            band, = compute(array[start:start + height], scheduler=scheduler)
            band = native(np.asarray(band))
            h.update(np.ascontiguousarray(band).data)
            start += height
        return "sha256:" + h.hexdigest()
    array = native(np.asarray(array))
    h = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    h.update(np.ascontiguousarray(array).data)
    return "sha256:" + h.hexdigest()


def is_binary(a: np.ndarray) -> bool:
    """0 and at most one other value (NaN is neither): a whole mask as ``maskprep fit`` and
    training read one (bool, 0/1, 0/255, float), or a single value."""
    if a.dtype.kind == "b":
        return True
    lo, hi = a.min(), a.max()
    return bool(lo == hi or (lo == 0 and ((a == 0) | (a == hi)).all()))
