"""Reading images and writing masks (TIFF, PNG, JPEG), with provenance in what we write."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from .core.edit import checksum
from .core.errors import MaskprepError

__all__ = [
    "IMAGE_SUFFIXES",
    "atomic_write",
    "ImageReadError",
    "MASK_FORMATS",
    "checksum",
    "find_images",
    "provenance",
    "read_image",
    "read_provenance",
    "write_mask",
]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
MASK_FORMATS = ("tif", "png", "zarr")


class ImageReadError(MaskprepError, OSError):
    """An input that cannot be read as an image: missing, unsupported or corrupt."""


def find_images(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly, plus the image files directly inside named folders, sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(f for f in p.iterdir()
                                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(p)
    return found


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as an array: TIFF (any dtype, nD) or PNG/JPEG (RGB order, not BGR)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageReadError(
            f"{path}: unsupported file type {suffix or '(none)'}; accepted: "
            + ", ".join(IMAGE_SUFFIXES)
        )
    try:
        if suffix in (".tif", ".tiff"):
            image = tifffile.imread(path)
        else:
            raw = np.fromfile(path, dtype=np.uint8)
            image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
            if image is None:
                raise ValueError("not a decodable image")
            if image.ndim == 3:
                code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
                image = cv2.cvtColor(image, code)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except Exception as exc:  # decoders raise anything on corrupt data
        raise ImageReadError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    if image.size == 0:
        raise ImageReadError(f"{path}: the image is empty")
    return image


def provenance(recipe_yaml: str, image: np.ndarray, source: str | None = None) -> dict[str, Any]:
    """What made a mask: the recipe, the input's checksum, package versions and the time."""
    import scipy
    import skimage

    from . import __version__

    return {
        "maskprep_provenance": 1,
        "recipe": recipe_yaml,
        "input": {"source": source, "checksum": checksum(image),
                  "shape": list(image.shape), "dtype": str(image.dtype)},
        "versions": {"napari-maskprep": __version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "scikit-image": skimage.__version__,
                     "opencv": cv2.__version__, "tifffile": tifffile.__version__},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``:
    a crash or an error never leaves a half-written file under the final name."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


PNG_KEY = "maskprep"  # iTXt keyword holding the provenance JSON
TIFF_TAG = 65111  # private TIFF tag holding the provenance JSON (UTF-8)


def _png_with_text(png: bytes, key: str, text: str) -> bytes:
    """``png`` with an iTXt chunk (UTF-8 text) inserted before its closing IEND chunk."""
    body = key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")
    chunk = b"iTXt" + body
    packed = len(body).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big")
    return png[:-12] + packed + png[-12:]


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
    OME-Zarr (0.4) image group with ``metadata`` under its ``maskprep`` attribute.
    """
    path = Path(path)
    suffix = path.suffix.lower()
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
            payload = _png_with_text(payload, PNG_KEY, json.dumps(metadata))
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
        tifffile.imwrite(tmp, mask, compression="zlib", metadata=None, extratags=extratags)

    atomic_write(path, write)
    return path


def _write_ome_zarr(path: Path, mask: np.ndarray, metadata: dict[str, Any] | None) -> Path:
    import zarr

    if not 2 <= mask.ndim <= 4:
        raise ValueError(f"{path}: OME-Zarr masks are 2D to 4D; got shape {mask.shape}")
    names = "tzyx"[-mask.ndim:]
    axes = [{"name": n, "type": "time" if n == "t" else "space"} for n in names]
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        group = zarr.open_group(tmp, mode="w", zarr_format=2)
        chunks = (1,) * (mask.ndim - 2) + tuple(min(s, 1024) for s in mask.shape[-2:])
        group.create_array("0", data=mask, chunks=chunks)
        group.attrs["multiscales"] = [{
            "version": "0.4", "name": path.stem, "axes": axes,
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": [1.0] * mask.ndim}]}],
        }]
        if metadata:
            group.attrs[PNG_KEY] = metadata
        if path.exists():  # a folder cannot be renamed over another: move the old one aside
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            path.rename(old / path.name)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance stored by :func:`write_mask`; raises if the file holds none."""
    path = Path(path)
    text = None
    try:
        if path.suffix.lower() == ".zarr":
            import zarr

            text = json.dumps(zarr.open_group(path, mode="r").attrs.get(PNG_KEY))
        elif path.suffix.lower() == ".png":
            data = path.read_bytes()
            pos = 8
            while pos + 8 <= len(data):
                length = int.from_bytes(data[pos:pos + 4], "big")
                kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
                if kind == b"iTXt" and body.startswith(PNG_KEY.encode() + b"\0"):
                    text = body.split(b"\0", 5)[-1].decode("utf-8")
                pos += 12 + length
        else:
            with tifffile.TiffFile(path) as tif:
                tag = tif.pages[0].tags.get(TIFF_TAG)
                text = bytes(tag.value).decode("utf-8") if tag is not None else None
    except (OSError, tifffile.TiffFileError, ValueError, UnicodeDecodeError) as exc:
        raise ImageReadError(f"{path}: cannot read ({exc})") from None
    try:
        info = json.loads(text) if text else None
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict) or "maskprep_provenance" not in info:
        raise ImageReadError(f"{path}: holds no maskprep provenance (not written by maskprep)")
    return info
