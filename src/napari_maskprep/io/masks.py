"""Writing masks and labels atomically: TIFF, PNG (masks as 0/255) and OME-Zarr, each
carrying its provenance and, where the format can hold it, its pixel size."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from ..core.errors import BadValueError, shown
from ..core.units import check_frame_interval, check_pixel_size
from .files import atomic_write
from .omezarr import OutputExistsError, write_ome_zarr
from .provenance import TIFF_TAG, png_with_provenance, written_by_maskprep

__all__ = ["MASK_FORMATS", "check_mask_pixel_size", "check_mask_shape", "pixel_size_of_axes",
           "tiff_layout", "write_mask"]

MASK_FORMATS = ("tif", "png", "zarr")
_PNG_HEADER_END = 33  # the 8-byte signature and the 25-byte IHDR chunk
_MAX_RATIONAL = 2**32 - 1  # the largest numerator (and denominator) of a TIFF RATIONAL


def check_mask_pixel_size(pixel_size: Any) -> tuple[float, ...] | None:
    """``pixel_size`` as floats if it gives y and x (or z, y and x) in µm; None stays None."""
    if pixel_size is None:
        return None
    try:
        sizes = check_pixel_size(pixel_size)
    except BadValueError:
        sizes = ()
    if len(sizes) not in (2, 3):
        raise BadValueError(f"pixel_size={shown(pixel_size)}; accepted: (y, x) or (z, y, x), "
                            "positive sizes in µm")
    return sizes


def pixel_size_of_axes(axes: str, pixel_size: tuple[float, ...] | None
                       ) -> tuple[float, ...] | None:
    """The sizes of the spatial axes (``z``, ``y``, ``x``) among ``axes``, taken from the
    trailing values of ``pixel_size``; None unless each of them is known (OME-Zarr states
    every spatial axis or none)."""
    spatial = sum(a in "zyx" for a in axes)
    if pixel_size is None or len(pixel_size) < spatial:
        return None
    return tuple(pixel_size[-spatial:])


def tiff_layout(shape: tuple[int, ...], pixel_size: tuple[float, ...] | None,
                axes: str | None = None, frame_interval: float | None = None
                ) -> dict[str, Any]:
    """tifffile keywords (``ome`` for the writer, the rest for its ``write``) that keep a
    mask's shape and pixel size: y and x in the resolution tags (pixels per centimetre, if
    the size fits them: up to 2**32 - 1), z spacing in OME-XML when ``pixel_size`` states
    one. ``axes`` with a time axis first (``tyx``, ``tzyx``: :func:`~.axes.image_layout`)
    is named in OME-XML too, so a time-lapse's mask reads back as frames, not as a
    stack, with ``frame_interval`` (seconds between frames) as its ``TimeIncrement``."""
    # tifffile's description keeps a 3D+ mask's shape: its pages alone read as one 3D
    # stack, a single plane as 2D.
    layout: dict[str, Any] = {"ome": False, "metadata": {} if len(shape) > 2 else None}
    if pixel_size is not None:
        per_cm = (1e4 / pixel_size[-1], 1e4 / pixel_size[-2])  # x, then y
        if max(per_cm) <= _MAX_RATIONAL:  # a tag holds a 32-bit rational
            layout |= {"resolution": per_cm, "resolutionunit": "CENTIMETER"}
    frames = axes is not None and axes.startswith("t") and len(axes) == len(shape)
    # OME readers drop axes of length 1, so a volume of one plane keeps its shaped
    # description (its z spacing would not be read back from one plane anyway).
    spaced = (pixel_size is not None and len(pixel_size) == 3 and len(shape) in (3, 4)
              and min(shape[:-2]) > 1)
    if frames or spaced:
        names = axes.upper() if frames else "TZYX"[-len(shape):]
        sizes = dict(zip("ZYX"[-len(pixel_size):], pixel_size, strict=True)) if (
            pixel_size is not None) else {}
        layout["ome"] = True
        timed = {"TimeIncrement": frame_interval, "TimeIncrementUnit": "s"} if (
            frames and frame_interval is not None) else {}
        layout["metadata"] = {"axes": names, **timed, **{
            f"PhysicalSize{a}{key}": value for a, size in sizes.items() if a in names
            for key, value in (("", size), ("Unit", "µm"))}}
    return layout


def _png_with_pixel_size(png: bytes, pixel_size: tuple[float, ...]) -> bytes:
    """``png`` with a pHYs chunk (pixels per metre) after its header, if the size fits
    one (PNG holds whole pixels per metre, 1 to 2**31 - 1)."""
    per_metre = [round(1e6 / size) for size in pixel_size[-1:-3:-1]]  # x, then y
    if not all(1 <= n < 2**31 for n in per_metre):
        return png
    body = b"pHYs" + b"".join(n.to_bytes(4, "big") for n in per_metre) + b"\x01"
    chunk = (9).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    return png[:_PNG_HEADER_END] + chunk + png[_PNG_HEADER_END:]


def check_mask_shape(path: Path, shape: tuple[int, ...]) -> None:
    """Raise :class:`ValueError` if a mask of ``shape`` cannot be written at ``path``: a
    PNG holds one plane. Known from the image before a recipe runs on it."""
    if path.suffix.lower() == ".png" and len(shape) != 2:
        raise ValueError(f"{path}: PNG holds 2D masks; got shape {shape}; use --format tif")


def write_mask(
    path: str | os.PathLike[str],
    mask: np.ndarray,
    *,
    metadata: dict[str, Any] | None = None,
    pixel_size: tuple[float, ...] | None = None,
    axes: str | None = None,
    frame_interval: float | None = None,
) -> Path:
    """Write a mask (uint8 0/1) or labels (int32) atomically, by the path's suffix.

    TIFF keeps values as they are, zlib-compressed, with ``metadata`` as JSON in a private
    tag (so other readers see a plain image). PNG writes a mask as 0/255 and labels as
    uint16 (up to 65535 labels), with ``metadata`` in an iTXt chunk. ``.zarr`` writes an
    OME-Zarr (0.4) image-label with a pyramid (:func:`write_ome_zarr`), ``metadata`` under
    its ``maskprep`` attribute. An existing file or store is replaced only if maskprep wrote
    it (it holds provenance): a person's image or mask at ``path`` never is.

    ``pixel_size`` (µm per pixel of the trailing axes: ``(y, x)`` or ``(z, y, x)``) goes
    where each format holds it: TIFF resolution tags in centimetres (and OME-XML for z
    spacing, see :func:`tiff_layout`), PNG's pHYs chunk (whole pixels per metre, y and x
    only), OME-Zarr scales when every spatial axis is known (:func:`pixel_size_of_axes`).
    ``axes`` (``[t][z]yx``) says what the leading axes are where the format can: a time
    axis in TIFF's OME-XML and in OME-Zarr (default: ``tzyx``'s last letters);
    ``frame_interval``, the seconds between its frames (:func:`~.timing.read_frame_interval`
    of the input), in TIFF's OME-XML (``TimeIncrement``) and OME-Zarr's ``t`` scale.
    """
    path = Path(path)
    pixel_size = check_mask_pixel_size(pixel_size)
    frame_interval = check_frame_interval(frame_interval)
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
        check_mask_shape(path, mask.shape)
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
        if pixel_size is not None:
            payload = _png_with_pixel_size(payload, pixel_size)
        if metadata:
            payload = png_with_provenance(payload, metadata)
    elif suffix == ".zarr":
        return _write_ome_zarr(path, mask, metadata, pixel_size, axes, frame_interval)
    elif suffix in (".tif", ".tiff"):
        payload = None
    else:
        raise ValueError(f"{path}: unsupported mask format {suffix}; accepted: .tif, .png, .zarr")
    if (path.exists() or path.is_symlink()) and not written_by_maskprep(path):
        raise OutputExistsError(f"{path} exists and was not written by maskprep; it is never "
                                "replaced")

    def write(tmp: Path) -> None:
        if payload is not None:
            tmp.write_bytes(payload)
            return
        extratags = []
        if metadata:
            text = json.dumps(metadata).encode("utf-8")
            extratags.append((TIFF_TAG, 7, len(text), text, True))
        # minisblack: a mask of 3 or 4 planes is planes, never colour
        tifffile.imwrite(tmp, mask, compression="zlib", extratags=extratags,
                         photometric="minisblack",
                         **tiff_layout(mask.shape, pixel_size, axes, frame_interval))

    atomic_write(path, write)
    return path


def _write_ome_zarr(path: Path, mask: np.ndarray, metadata: dict[str, Any] | None,
                    pixel_size: tuple[float, ...] | None, axes: str | None,
                    frame_interval: float | None) -> Path:
    if not 2 <= mask.ndim <= 4:
        raise ValueError(f"{path}: OME-Zarr masks are 2D to 4D; got shape {mask.shape}")
    if axes is None or len(axes) != mask.ndim:
        axes = "tzyx"[-mask.ndim:]
    return write_ome_zarr(mask, path, axes=axes, pixel_size=pixel_size_of_axes(axes, pixel_size),
                          provenance=metadata or None, overwrite=True,
                          frame_interval=frame_interval)
