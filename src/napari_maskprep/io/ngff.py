"""Where an OME-Zarr store keeps its image: the OME-NGFF attributes of a group, and the
first image of a bioformats2raw container (what its converter writes every image as),
whose ``labels/`` hold the image's labels."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .tiffs import ImageReadError

if TYPE_CHECKING:
    import zarr

__all__ = ["check_plain_files", "check_zarr_folder", "image_group", "ngff_attributes",
           "um_per_unit"]

# Micrometres in one NGFF unit: every UDUNITS-2 name NGFF allows for space axes (the metre
# with each prefix it lists; angstrom, inch, foot, yard, mile, parsec), and abbreviations
# some writers use.
_METRE_POWERS = {"yocto": -24, "zepto": -21, "atto": -18, "femto": -15, "pico": -12,
                 "nano": -9, "micro": -6, "milli": -3, "centi": -2, "deci": -1, "": 0,
                 "hecto": 2, "kilo": 3, "mega": 6, "giga": 9, "tera": 12, "peta": 15,
                 "exa": 18, "zetta": 21, "yotta": 24}
_UM_PER_UNIT = {**{f"{prefix}meter": 10.0 ** (power + 6) for prefix, power in
                   _METRE_POWERS.items()},
                "angstrom": 1e-4, "inch": 25400.0, "foot": 304800.0, "yard": 914400.0,
                "mile": 1609344000.0, "parsec": 3.0856775814913673e22, "µm": 1.0, "um": 1.0,
                "micron": 1.0, "\\u00B5m": 1.0, "nm": 1e-3, "mm": 1e3}


def um_per_unit(unit: Any) -> float | None:
    """Micrometres in one ``unit`` of an NGFF axis; None where it is none or no length."""
    return None if unit is None else _UM_PER_UNIT.get(str(unit))


METADATA_LIMIT = 2**26  # bytes of one zarr metadata file (100 000 levels: 8 MB of .zattrs)
# .zmetadata: zarr v2's consolidated metadata, which zarr reads first where it is there
ZARR_FILES = (".zgroup", ".zarray", ".zattrs", ".zmetadata", "zarr.json")


def check_plain_files(folder: Path, names: tuple[str, ...] = ZARR_FILES,
                      what: str = "its zarr metadata", where: object = None) -> None:
    """Raise :class:`ImageReadError` (naming ``where``, by default ``folder``) if any of
    ``names`` in ``folder`` is there but no file or folder (a link followed): zarr's read
    of a FIFO waits for a writer that never comes, of a device such as /dev/zero never
    ends."""
    for name in names:
        try:
            mode = (folder / name).stat().st_mode
        except (OSError, ValueError):  # absent, or a name the system refuses: zarr says so
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ImageReadError(f"{where or folder}: {what} {name} is not a file (a FIFO, "
                                 "socket or device); accepted: plain files")


def check_zarr_folder(folder: Path, where: object = None) -> None:
    """:func:`check_plain_files` of ``folder``'s zarr metadata, each at most
    :data:`METADATA_LIMIT` bytes, which must also be of one zarr format: zarr reads v3's
    alone where both are, with a warning of two lines, and its v2 arrays then seem
    missing."""
    check_plain_files(folder, where=where)
    for name in ZARR_FILES:  # read whole, and JSON-parsed: a sparse 100 GB file filled memory
        path = folder / name
        if path.is_file() and path.stat().st_size > METADATA_LIMIT:
            raise ImageReadError(f"{where or folder}: its zarr metadata {name} is "
                                 f"{path.stat().st_size} bytes; accepted: at most "
                                 f"{METADATA_LIMIT} (64 MiB)")
    if (folder / "zarr.json").is_file() and any((folder / n).is_file()
                                                for n in (".zgroup", ".zarray")):
        raise ImageReadError(f"{where or folder}: holds the metadata of zarr v2 (.zgroup or "
                             ".zarray) and of zarr v3 (zarr.json); accepted: one of them")


def ngff_attributes(group: zarr.Group) -> Any:
    """A group's OME-NGFF attributes: under ``ome`` in zarr v3 (NGFF 0.5), at the top in v2;
    empty where ``ome`` is no mapping."""
    attrs = group.attrs.asdict()
    ome = attrs.get("ome", {}) if group.metadata.zarr_format == 3 else attrs
    return ome if isinstance(ome, dict) else {}  # "ome": 5 states nothing NGFF reads


def image_group(path: str | os.PathLike[str]) -> Path:
    """The folder of the image in the OME-Zarr store at ``path``: a bioformats2raw
    container's first image (``0``), else ``path`` itself (also where it is no zarr group:
    opening it as an image says what is wrong)."""
    import zarr

    path = Path(path)
    try:
        check_zarr_folder(path)
        group = zarr.open_group(path, mode="r")
    except Exception:  # zarr's errors for a missing or damaged group are of many types
        return path
    ome = ngff_attributes(group)
    if "multiscales" not in ome and "bioformats2raw.layout" in ome:
        try:
            check_zarr_folder(path / "0")
        except ImageReadError:
            return path / "0"  # opening it names the file
        if "0" in group:
            return path / "0"
    return path
