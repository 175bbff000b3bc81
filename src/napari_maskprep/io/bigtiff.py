"""Writing a mask of any size as a tiled BigTIFF, one row of tiles in memory at a time."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile

from ..core.errors import BadTypeError, BadValueError
from ..core.run_callbacks import compute_in
from ..core.units import check_frame_interval
from .files import atomic_write, clean_stale_temporaries
from .masks import check_mask_pixel_size, tiff_layout
from .omezarr import OutputExistsError
from .provenance import TIFF_TAG, written_by_maskprep

if TYPE_CHECKING:
    import dask.array as da

__all__ = ["write_bigtiff"]

_STRIPS_AHEAD_BYTES = 256 * 2**20  # two strips of a 64k px wide mask of uint8


def _cores() -> int:
    """The cores this process may run on: tifffile compresses the tiles it is given one at
    a time otherwise (1.5 s of 256 MP of mask, against 0.6 s on 2 cores)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _tiles(mask: da.Array, tile: tuple[int, int]) -> Iterator[np.ndarray]:
    """The tiles of every plane in TIFF order (row by row).

    One strip of tile rows is computed at a time, as tall as ``mask``'s own chunks (whole
    tiles), so a chunk of the graph behind it is computed once, not once per tile row. The
    next strip is computed while this one's tiles are compressed and written, when two
    strips fit in :data:`_STRIPS_AHEAD_BYTES`."""
    height, width = mask.shape[-2:]
    strip = tile[0] * max(1, mask.chunks[-2][0] // tile[0])
    planes = mask.reshape((-1, height, width))
    strips = (planes[plane, top:top + strip] for plane in range(planes.shape[0])
              for top in range(0, height, strip))
    ahead = 2 * strip * width * mask.dtype.itemsize <= _STRIPS_AHEAD_BYTES
    with ThreadPoolExecutor(1, thread_name_prefix="maskprep-next-strip") as pool:
        pending = compute_in(pool, next(strips))
        for following in itertools.chain(strips, [None]):
            rows = np.asarray(pending.result())
            if ahead and following is not None:
                pending = compute_in(pool, following)
            yield from _cut(rows, tile)
            del rows
            if not ahead and following is not None:
                pending = compute_in(pool, following)


def _cut(rows: np.ndarray, tile: tuple[int, int]) -> Iterator[np.ndarray]:
    """The tiles of a strip, row by row, edge tiles padded with 0."""
    for y in range(0, rows.shape[0], tile[0]):
        for x in range(0, rows.shape[1], tile[1]):
            block = rows[y:y + tile[0], x:x + tile[1]]
            if block.shape != tile:
                block = np.pad(block, [(0, tile[0] - block.shape[0]),
                                       (0, tile[1] - block.shape[1])])
            yield block


def write_bigtiff(
    mask: Any,
    path: str | os.PathLike[str],
    *,
    tile: tuple[int, int] = (512, 512),
    pixel_size: tuple[float, ...] | None = None,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
    axes: str | None = None,
    frame_interval: float | None = None,
) -> Path:
    """Write ``mask`` (2D, or planes along leading axes) as a tiled, zlib-compressed BigTIFF,
    computing a dask array one row of tiles at a time, atomically (temporary name, then
    rename).

    ``tile`` is (height, width), multiples of 16 as TIFF requires. ``pixel_size`` is µm per
    pixel, ``(y, x)`` or ``(z, y, x)``, stored as :func:`write_mask` stores it (resolution
    tags in pixels per centimetre, z spacing in OME-XML). ``provenance`` is
    JSON in private tag 65111 of the first page, where :func:`write_mask` puts it.
    ``overwrite`` replaces an existing file only if maskprep wrote it. ``axes``
    (``[t][z]yx``) names a time axis in OME-XML, with ``frame_interval`` (seconds between
    frames), as :func:`write_mask` does.
    """
    import dask.array as da

    path = Path(path)
    data = mask if isinstance(mask, da.Array) else da.from_array(np.asarray(mask))
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind not in "iu" or data.ndim < 2:
        raise BadTypeError(f"mask of dtype {data.dtype} and {data.ndim} axes; accepted: a "
                           "mask (uint8 0/1) or integer labels of 2 or more axes")
    if (len(tile) != 2 or not all(isinstance(t, int | np.integer) and t > 0 and t % 16 == 0
                                  for t in tile)):
        raise BadValueError(f"tile={tile!r}; accepted: (height, width), multiples of 16")
    tile = (int(tile[0]), int(tile[1]))
    layout = tiff_layout(data.shape, check_mask_pixel_size(pixel_size), axes,
                         check_frame_interval(frame_interval))
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputExistsError(f"{path} exists; it is left as it is (pass "
                                    "overwrite=True to replace a file maskprep wrote)")
        if not written_by_maskprep(path):
            raise OutputExistsError(f"{path} exists and was not written by maskprep; it is "
                                    "never replaced")
    tags = []
    if provenance is not None:
        text = json.dumps(provenance).encode("utf-8")
        tags.append((TIFF_TAG, 7, len(text), text, True))

    def write(tmp: Path) -> None:
        options = dict(layout)
        with tifffile.TiffWriter(tmp, bigtiff=True, ome=options.pop("ome")) as tif:
            tif.write(_tiles(data, tile), shape=data.shape, dtype=data.dtype, tile=tile,
                      compression="zlib", photometric="minisblack", extratags=tags,
                      maxworkers=_cores(), **options)

    clean_stale_temporaries(path.parent)
    return atomic_write(path, write)

