"""Where an OME-Zarr store keeps its image: the OME-NGFF attributes of a group, and the
first image of a bioformats2raw container (what its converter writes every image as),
whose ``labels/`` hold the image's labels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zarr

__all__ = ["image_group", "ngff_attributes"]


def ngff_attributes(group: zarr.Group) -> Any:
    """A group's OME-NGFF attributes: under ``ome`` in zarr v3 (NGFF 0.5), at the top in v2."""
    attrs = group.attrs.asdict()
    return attrs.get("ome", {}) if group.metadata.zarr_format == 3 else attrs


def image_group(path: str | os.PathLike[str]) -> Path:
    """The folder of the image in the OME-Zarr store at ``path``: a bioformats2raw
    container's first image (``0``), else ``path`` itself (also where it is no zarr group:
    opening it as an image says what is wrong)."""
    import zarr

    path = Path(path)
    try:
        group = zarr.open_group(path, mode="r")
    except Exception:  # zarr's errors for a missing or damaged group are of many types
        return path
    ome = ngff_attributes(group)
    if "multiscales" not in ome and "bioformats2raw.layout" in ome and "0" in group:
        return path / "0"
    return path
