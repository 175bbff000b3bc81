"""Writing masks and labels atomically: TIFF, PNG (masks as 0/255) and OME-Zarr, each
carrying its provenance."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from .files import atomic_write
from .omezarr import write_ome_zarr
from .provenance import TIFF_TAG, png_with_provenance

__all__ = ["MASK_FORMATS", "write_mask"]

MASK_FORMATS = ("tif", "png", "zarr")


def write_mask(
    path: str | os.PathLike[str],
    mask: np.ndarray,
    *,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a mask (uint8 0/1) or labels (int32) atomically, by the path's suffix.

    TIFF keeps values as they are, zlib-compressed, with ``metadata`` as JSON in a private
    tag (so other readers see a plain image). PNG writes a mask as 0/255 and labels as
    uint16 (up to 65535 labels), with ``metadata`` in an iTXt chunk. ``.zarr`` writes an
    OME-Zarr (0.4) image-label with a pyramid (:func:`write_ome_zarr`), ``metadata`` under
    its ``maskprep`` attribute; it replaces an existing store only if maskprep wrote it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if mask.dtype == np.bool_:
        mask = mask.view(np.uint8)
    if mask.ndim < 2 or mask.size == 0:
        raise ValueError(f"{path}: a mask of shape {mask.shape}; accepted: a non-empty mask "
                         "or labels of 2 or more axes")
    if suffix == ".png" and mask.dtype.kind not in "iu":  # its cast to uint16 made 0.5 a 0
        raise ValueError(f"{path}: PNG holds a 0/1 mask or integer labels; got {mask.dtype} "
                         "values; use --format tif")
    if mask.dtype.kind == "i" and mask.min() < 0:
        raise ValueError(f"{path}: labels below 0 (min {mask.min()}); accepted: a 0/1 mask or "
                         "labels >= 0")
    if suffix == ".png":
        if mask.ndim != 2:
            raise ValueError(
                f"{path}: PNG holds 2D masks; got shape {mask.shape}; use --format tif"
            )
        if mask.dtype == np.uint8 and mask.max(initial=0) <= 1:
            data = mask * np.uint8(255)
        elif mask.max(initial=0) <= np.iinfo(np.uint16).max:
            data = mask.astype(np.uint16)
        else:
            raise ValueError(f"{path}: more than 65535 labels do not fit a PNG; use --format tif")
        ok, encoded = cv2.imencode(".png", data)
        if not ok:
            raise ValueError(f"{path}: PNG encoding failed")
        payload = encoded.tobytes()
        if metadata:
            payload = png_with_provenance(payload, metadata)
    elif suffix == ".zarr":
        return _write_ome_zarr(path, mask, metadata)
    elif suffix in (".tif", ".tiff"):
        payload = None
    else:
        raise ValueError(f"{path}: unsupported mask format {suffix}; accepted: .tif, .png, .zarr")

    def write(tmp: Path) -> None:
        if payload is not None:
            tmp.write_bytes(payload)
            return
        extratags = []
        if metadata:
            text = json.dumps(metadata).encode("utf-8")
            extratags.append((TIFF_TAG, 7, len(text), text, True))
        # minisblack: a mask of 3 or 4 planes is planes, never colour
        # A 3D+ mask's shape in tifffile's description: its pages alone read as one 3D
        # stack, a single plane as 2D.
        tifffile.imwrite(tmp, mask, compression="zlib", extratags=extratags,
                         metadata={} if mask.ndim > 2 else None, photometric="minisblack")

    atomic_write(path, write)
    return path



def _write_ome_zarr(path: Path, mask: np.ndarray, metadata: dict[str, Any] | None) -> Path:
    if not 2 <= mask.ndim <= 4:
        raise ValueError(f"{path}: OME-Zarr masks are 2D to 4D; got shape {mask.shape}")
    return write_ome_zarr(mask, path, axes="tzyx"[-mask.ndim:], provenance=metadata or None,
                          overwrite=True)
