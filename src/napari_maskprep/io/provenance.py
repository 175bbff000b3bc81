"""Provenance: what made a mask (recipe, input checksum, versions, time), stored in the
mask file (TIFF tag 65111, PNG iTXt ``maskprep``, OME-Zarr attribute ``maskprep``)."""

from __future__ import annotations

import datetime
import json
import math
import os
import stat
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from ..core.arrays import checksum
from ..core.errors import MaskprepError, shown
from .images import ImageReadError
from .recipe_text import load_plain
from .tiffs import tiff_logs_held

__all__ = ["PNG_KEY", "PROVENANCE_FORMAT", "TIFF_TAG", "png_with_provenance", "provenance",
           "provenance_format_note", "read_provenance", "written_by_maskprep"]

PNG_KEY = "maskprep"  # iTXt keyword holding the provenance JSON
TIFF_TAG = 65111  # private TIFF tag holding the provenance JSON (UTF-8)
PROVENANCE_FORMAT = 1  # the format this version writes and reads


def provenance(recipe_yaml: str, image: np.ndarray, source: str | None = None,
               pixel_size: tuple[float, ...] | None = None,
               input_checksum: str | None = None, axes: str | None = None,
               mask_pixel_size: tuple[float, ...] | None = None,
               channel: int | str | None = None, series: int | None = None
               ) -> dict[str, Any]:
    """What made a mask: the recipe, the input's checksum (``input_checksum`` if already
    computed; a large image is read whole to make it), its ``axes`` if known (``tyx``: the
    recipe ran on each time frame), and the pixel size its sizes in micrometres were
    converted with, if any, package versions and the time; with ``mask_pixel_size``, the
    pixel size the mask was given (``mask.pixel_size``: a resumed run with another one
    makes the mask again); ``channel``, the input's channel it was made from, if chosen;
    ``series``, the image of a multi-series file (positions, wells) it was made from."""
    import scipy
    import skimage

    from .._version import __version__

    return {
        "maskprep_provenance": PROVENANCE_FORMAT,
        "recipe": recipe_yaml,
        "input": {"source": source,
                  "checksum": checksum(image) if input_checksum is None else input_checksum,
                  "shape": list(image.shape), "dtype": str(image.dtype),
                  "pixel_size": None if pixel_size is None else list(pixel_size),
                  **({} if axes is None else {"axes": axes}),
                  **({} if channel is None else {"channel": channel}),
                  **({} if series is None else {"series": series})},
        **({} if mask_pixel_size is None else {"mask": {"pixel_size": list(mask_pixel_size)}}),
        "versions": {"napari-maskprep": __version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "scikit-image": skimage.__version__,
                     "opencv": cv2.__version__, "tifffile": tifffile.__version__},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def png_with_provenance(png: bytes, metadata: dict[str, Any]) -> bytes:
    """``png`` with ``metadata`` as JSON in an iTXt chunk before its closing IEND chunk."""
    body = PNG_KEY.encode("latin-1") + b"\0\0\0\0\0" + json.dumps(metadata).encode("utf-8")
    chunk = b"iTXt" + body
    packed = len(body).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big")
    return png[:-12] + packed + png[-12:]


# What `maskprep info` shows, with the type each entry must have in a file we wrote.
_PROVENANCE_FIELDS = {"recipe": str, "input": dict, "versions": dict, "created": str}
_INPUT_FIELDS = {"source": (str, type(None)), "checksum": str, "shape": list, "dtype": str}


def _provenance_text(path: Path, labels: bool = True) -> str | None:
    """The provenance JSON text stored in ``path``, or None if it holds none."""
    zarr_folder = any((path / n).is_file() for n in (".zgroup", "zarr.json"))
    if zarr_folder or path.suffix.lower() == ".zarr":
        return _zarr_provenance_text(path, labels)
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
    if path.suffix.lower() not in (".tif", ".tiff", ".btf", ".tf8"):
        raise ImageReadError(f"{path}: not a mask file maskprep writes; accepted: a .tif, "
                             ".png or .zarr mask")
    with tiff_logs_held(), tifffile.TiffFile(path) as tif:  # damage past the tag: unsaid
        tag = tif.pages[0].tags.get(TIFF_TAG)
        value = None if tag is None else tag.value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if value is None or isinstance(value, str):
        return value
    raise ImageReadError(f"{path}: its provenance tag {TIFF_TAG} holds "
                         f"{type(value).__name__}, not text; the file was not written by maskprep")


def _zarr_provenance_text(path: Path, labels: bool = True) -> str | None:
    """The provenance in an OME-Zarr store: in its own attributes (a mask store, or a
    label group such as ``image.zarr/labels/mask``), or else (with ``labels``) in the one
    label of an image store that holds provenance."""
    import zarr

    from .ngff import check_zarr_folder

    if not path.is_dir():
        raise ImageReadError(f"{path}: no such folder; accepted: an OME-Zarr mask")
    check_zarr_folder(path)
    try:
        group = zarr.open_group(path, mode="r")
    except FileNotFoundError:  # a folder without zarr metadata
        raise ImageReadError(f"{path}: not a zarr group (not written by maskprep)") from None
    except zarr.errors.ContainsArrayError:  # a bare array: maskprep writes none
        return None
    stored = group.attrs.get(PNG_KEY)
    if stored is None and labels:
        stored = _label_provenance(path)
    return None if stored is None else json.dumps(stored)


def _label_provenance(path: Path) -> Any:
    """The provenance of the one maskprep label of the image store at ``path`` (of a
    bioformats2raw store's first image, where its labels are), or None."""
    import zarr

    from .ngff import check_zarr_folder, image_group, ngff_attributes

    image = image_group(path)
    check_zarr_folder(image)
    check_zarr_folder(image / "labels")
    # the folders as they are, not a consolidated index of them made before an edit
    group = zarr.open_group(image, mode="r", use_consolidated=False)
    if "labels" not in group:
        return None
    names = ngff_attributes(group["labels"]).get("labels", [])
    names = [n for n in names if isinstance(n, str) and n.strip("./") and "/" not in n
             ] if isinstance(names, list) else []  # a name, not a path out of labels/
    for name in names:
        check_zarr_folder(image / "labels" / name)
    ours = [n for n in names if n in group["labels"] and PNG_KEY in group["labels"][n].attrs]
    if len(ours) > 1:
        raise ImageReadError(f"{path}: holds several maskprep labels ({', '.join(ours)}); "
                             f"name one, e.g. {image / 'labels' / ours[0]}")
    return group["labels"][ours[0]].attrs[PNG_KEY] if ours else None


def read_provenance(path: str | os.PathLike[str], *, labels: bool = True) -> dict[str, Any]:
    """The provenance stored by :func:`write_mask`; raises :class:`ImageReadError` in one
    line if the file holds none, or holds something else under our tag or key. An image
    store's maskprep label counts with ``labels`` (what ``maskprep info`` shows), not
    without: the store itself is the person's image, never ours to replace."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise ImageReadError(f"{path}: the file is empty (0 bytes)")  # as reading it says
    try:
        text = _provenance_text(path, labels)
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
    size = info["input"].get("pixel_size") if wrong is None else None
    if size is not None and not (isinstance(size, list) and 1 <= len(size) <= 3 and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            and v > 0 for v in size)):
        wrong = "input.pixel_size"
    if wrong is not None:
        note = provenance_format_note(info)
        if note is not None:  # another format may keep it elsewhere: no damage said
            raise ImageReadError(f"{path}: {note}, and lacks the {wrong} this one reads "
                                 "(update napari-maskprep)")
        raise ImageReadError(f"{path}: its maskprep provenance is damaged ({wrong} is missing "
                             "or of the wrong type)")
    return info


def provenance_format_note(info: dict[str, Any]) -> str | None:
    """None for provenance of :data:`PROVENANCE_FORMAT`; else one line saying its format
    is newer than this version reads, or unknown."""
    found = info.get("maskprep_provenance")
    if found == PROVENANCE_FORMAT and type(found) is int:
        return None
    if type(found) is int and found > PROVENANCE_FORMAT:
        return (f"its provenance format {found} is newer than this napari-maskprep reads "
                f"({PROVENANCE_FORMAT})")
    return (f"its provenance format {shown(found)} is unknown (this napari-maskprep reads "
            f"{PROVENANCE_FORMAT})")


def written_by_maskprep(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds maskprep provenance: a file or store we wrote, which a write
    asked to overwrite may replace (never anything else)."""
    try:
        read_provenance(path, labels=False)
    except OSError:
        return False
    return True
