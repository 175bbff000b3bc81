"""CLAHE over the chunks of a tiled image, equal to the in-memory op (OpenCV's) bit for bit.

OpenCV equalises ``tiles x tiles`` regions of the WHOLE image, so a region's histogram is a
whole-image statistic: each chunk adds what it holds to the histograms of the regions it
meets (with the copies of its pixels that OpenCV's padding reflects past the bottom and
right border), in the pass that stores it; the client turns the added histograms into each
region's look-up table; then each chunk is mapped through the tables of the regions around
it, pixel by pixel (``kernels.clahe``). uint8 and uint16 images, as OpenCV takes them; the
histograms of all regions are kept at once, so 16-bit images take up to 22 x 22 tiles.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import dask.array as da
import numpy as np

from ..core.errors import MaskprepWarning
from ..kernels.clahe import geometry, interpolate, region_counts, tables
from .tiled_components import Grid
from .tiled_store import WorkFolder, summarised

__all__ = ["clahe", "refusal"]

# Histogram bins of all regions held at once on the client (int64: 256 MB).
_MAX_BINS = 2**25


def _bins(dtype: np.dtype) -> int:
    return 256 if dtype == np.uint8 else 65536


def refusal(dtype: np.dtype, params: Mapping[str, Any]) -> str | None:
    """Why CLAHE of an image of ``dtype`` with these parameters cannot run tiled, or None."""
    if dtype not in (np.uint8, np.uint16):
        return (f"a tiled run needs a uint8 or uint16 image here; got {dtype} (run it in "
                "memory, or convert the image first)")
    tiles = params["tiles"]
    if tiles * tiles * _bins(dtype) > _MAX_BINS:
        return (f"a tiled run keeps the histograms of all tiles x tiles regions at once: on "
                f"a 16-bit image it takes tiles up to {math.isqrt(_MAX_BINS // 65536)}; got "
                f"tiles={tiles}")
    return None


def clahe(x: da.Array, stored: bool, params: Mapping[str, Any], workdir: WorkFolder
          ) -> da.Array:
    """The grey 2D uint8/uint16 image ``x`` through ``preprocess.clahe``; ``stored``:
    whether ``x`` already reads stored chunks."""
    tiles, clip_limit = params["tiles"], params["clip_limit"]
    grid = Grid(x.shape, x.chunks)
    x, found = summarised(x, stored, workdir, lambda block, index: region_counts(
        block, grid.start(index), x.shape, tiles))
    counts = np.zeros((tiles, tiles, _bins(x.dtype)), np.int64)
    for chunk in found.values():
        for (ty, tx), (values, n) in chunk.items():
            counts[ty, tx, values] += n
    present = np.flatnonzero(counts.sum(axis=(0, 1)))
    if len(present) == 1:
        warnings.warn(f"preprocess.clahe: the image is constant ({present[0]}); nothing to "
                      "equalise, so it is returned unchanged", MaskprepWarning, stacklevel=3)
        return x
    _, tile = geometry(x.shape, tiles)
    luts = tables(counts, clip_limit, tile, x.dtype)

    def apply(block: np.ndarray, block_id: tuple[int, ...]) -> np.ndarray:
        return interpolate(block, grid.start(tuple(block_id)), luts, tile)

    return x.map_blocks(apply, dtype=x.dtype, meta=np.empty((0, 0), x.dtype))
