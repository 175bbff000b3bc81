"""Reading images and writing masks (TIFF, PNG, JPEG), with provenance in what we write."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from ._plain_data import load_plain
from .core.edit import checksum
from .core.errors import MaskprepError

__all__ = [
    "IMAGE_SUFFIXES",
    "atomic_write",
    "clean_stale_temporaries",
    "ImageReadError",
    "MASK_FORMATS",
    "png_with_provenance",
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
    """Files named directly, plus the image files directly inside named folders, sorted.

    Hidden files in folders (names starting with a dot, such as the temporary files of a
    write that was killed) are not images to process.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(f for f in p.iterdir()
                                if f.is_file() and not f.name.startswith(".")
                                and f.suffix.lower() in IMAGE_SUFFIXES))
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
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block, a device never end
            raise ImageReadError(f"{path}: not a regular file; accepted: image files")
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
    except ImageReadError:
        raise
    except Exception as exc:  # decoders raise anything on corrupt data
        why = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise ImageReadError(f"{path}: cannot read image ({type(exc).__name__}: {why})") from None
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


# Temporary files and folders are named .maskprep-tmp-<host>-<pid>-<final name>.<random>:
# hidden (never taken for inputs), and a run can tell which were left by a process of this
# machine that is gone (killed mid-write) and remove them.
_TEMP_PREFIX = ".maskprep-tmp-"
_TEMP_NAME = re.compile(r"^\.maskprep-tmp-([0-9a-f]{8})-(\d+)-")


def _host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_prefix(path: Path) -> str:
    return f"{_TEMP_PREFIX}{_host_id()}-{os.getpid()}-{path.name}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or never a process id
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clean_stale_temporaries(folder: Path) -> int:
    """Remove the temporary files and folders that writes killed on this machine left in
    ``folder``; those of running processes, and everything else, stay. Returns the count."""
    removed, host = 0, _host_id()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        found = _TEMP_NAME.match(entry.name)
        if found is None or found.group(1) != host or _alive(int(found.group(2))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``:
    a crash or an error never leaves a half-written file under the final name."""
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=path.suffix, dir=path.parent)
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


def png_with_provenance(png: bytes, metadata: dict[str, Any]) -> bytes:
    """``png`` with ``metadata`` as JSON in an iTXt chunk before its closing IEND chunk."""
    body = PNG_KEY.encode("latin-1") + b"\0\0\0\0\0" + json.dumps(metadata).encode("utf-8")
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
        tifffile.imwrite(tmp, mask, compression="zlib", metadata=None, extratags=extratags,
                         photometric="minisblack")

    atomic_write(path, write)
    return path


def _write_ome_zarr(path: Path, mask: np.ndarray, metadata: dict[str, Any] | None) -> Path:
    import zarr

    if not 2 <= mask.ndim <= 4:
        raise ValueError(f"{path}: OME-Zarr masks are 2D to 4D; got shape {mask.shape}")
    names = "tzyx"[-mask.ndim:]
    axes = [{"name": n, "type": "time" if n == "t" else "space"} for n in names]
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
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
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
            path.rename(old / path.name)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# What `maskprep info` shows, with the type each entry must have in a file we wrote.
_PROVENANCE_FIELDS = {"recipe": str, "input": dict, "versions": dict, "created": str}
_INPUT_FIELDS = {"source": (str, type(None)), "checksum": str, "shape": list, "dtype": str}


def _provenance_text(path: Path) -> str | None:
    """The provenance JSON text stored in ``path``, or None if it holds none."""
    if path.suffix.lower() == ".zarr":
        import zarr

        if not path.is_dir():
            raise ImageReadError(f"{path}: no such folder; accepted: an OME-Zarr mask")
        try:
            stored = zarr.open_group(path, mode="r").attrs.get(PNG_KEY)
        except FileNotFoundError:  # a folder without zarr metadata
            raise ImageReadError(f"{path}: not a zarr group (not written by maskprep)") from None
        return None if stored is None else json.dumps(stored)
    if not stat.S_ISREG(path.stat().st_mode):
        raise ImageReadError(f"{path}: not a regular file; accepted: a mask file")
    if path.suffix.lower() == ".png":
        data = path.read_bytes()
        pos, text = 8, None
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos:pos + 4], "big")
            kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
            if kind == b"iTXt" and body.startswith(PNG_KEY.encode() + b"\0"):
                text = body.split(b"\0", 5)[-1].decode("utf-8")
            pos += 12 + length
        return text
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags.get(TIFF_TAG)
        value = None if tag is None else tag.value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if value is None or isinstance(value, str):
        return value
    raise ImageReadError(f"{path}: its provenance tag {TIFF_TAG} holds "
                         f"{type(value).__name__}, not text; the file was not written by maskprep")


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance stored by :func:`write_mask`; raises :class:`ImageReadError` in one
    line if the file holds none, or holds something else under our tag or key."""
    path = Path(path)
    try:
        text = _provenance_text(path)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except Exception as exc:  # readers raise anything on foreign or damaged files
        why = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise ImageReadError(f"{path}: cannot read ({type(exc).__name__}: {why})") from None
    try:
        info = load_plain(text, format="json") if text else None
    except MaskprepError:
        info = None
    if not isinstance(info, dict) or "maskprep_provenance" not in info:
        raise ImageReadError(f"{path}: holds no maskprep provenance (not written by maskprep)")
    wrong = next((k for k, kind in _PROVENANCE_FIELDS.items()
                  if not isinstance(info.get(k), kind)), None)
    if wrong is None:
        wrong = next((f"input.{k}" for k, kind in _INPUT_FIELDS.items()
                      if k not in info["input"] or not isinstance(info["input"][k], kind)), None)
    if wrong is not None:
        raise ImageReadError(f"{path}: its maskprep provenance is damaged ({wrong} is missing "
                             "or of the wrong type)")
    return info
