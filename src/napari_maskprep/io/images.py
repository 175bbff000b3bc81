"""Reading images: TIFF (any dtype, nD), PNG and JPEG (RGB order), and finding them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np
import tifffile

from ..core.errors import MaskprepError

__all__ = ["IMAGE_SUFFIXES", "ImageReadError", "find_images", "read_image"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


class ImageReadError(MaskprepError, OSError):
    """An input that cannot be read as an image: missing, unsupported or corrupt."""


def find_images(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Files (and ``.zarr`` stores) named directly, plus the image files and ``.zarr``
    stores directly inside named folders, sorted.

    Hidden files in folders (names starting with a dot, such as the temporary files of a
    write that was killed) are not images to process.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and p.suffix.lower() != ".zarr":
            found.extend(sorted(f for f in p.iterdir() if not f.name.startswith(".") and (
                (f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
                or (f.is_dir() and f.suffix.lower() == ".zarr"))))
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
