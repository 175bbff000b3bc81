"""Where a tiled run keeps the arrays its whole-image steps read twice: each chunk
compressed in a file of its own, in a work folder removed with the last array read from it.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from numcodecs import Blosc

from ..core.processes import host_id, left_by_gone_processes
from .tiled_components import per_chunk

__all__ = ["StoredChunks", "StoredLabels", "WorkFolder", "clean_stale_work_folders",
           "summarised"]


def summarised(x: da.Array, stored: bool, workdir: WorkFolder,
                summarise: Callable[[np.ndarray, tuple[int, ...]], Any]
                ) -> tuple[da.Array, dict[tuple[int, ...], Any]]:
    """One pass over the chunks of ``x``: each chunk summarised and, unless ``x`` is already
    stored, saved to the work folder, which the returned array reads back."""
    if stored:
        return x, per_chunk(x, summarise)
    target = StoredChunks(workdir, x.chunks, x.dtype)

    def save_and_summarise(block: np.ndarray, index: tuple[int, ...]) -> Any:
        target.save(index, block)
        return summarise(block, index)

    return target.array(), per_chunk(x, save_and_summarise)


# A temporary work folder is named maskprep-tiled-<host>-<pid>-<random>: a run killed
# (SIGKILL, out of memory) cannot remove its own, which holds the whole image compressed,
# so the next run on this machine removes those whose process is gone.
_WORK_NAME = re.compile(r"^maskprep-tiled-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-")


def clean_stale_work_folders(folder: Path) -> int:
    """Remove the work folders in ``folder`` that killed runs of this machine left; returns
    how many. Those of running processes, other machines' and anything else stay."""
    removed = 0
    for entry, _ in left_by_gone_processes(folder, _WORK_NAME):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


class WorkFolder:
    """Where a tiled run keeps its stored chunks: a given folder, or a new temporary one
    removed once the last array stored in it (which holds this object) is gone."""

    def __init__(self, path: str | Path | None) -> None:
        if path is None:
            clean_stale_work_folders(Path(tempfile.gettempdir()))
            self.path = Path(tempfile.mkdtemp(
                prefix=f"maskprep-tiled-{host_id()}-{os.getpid()}-"))
            weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)
        else:
            self.path = Path(path)


class StoredChunks:
    """The chunks of one array, compressed, as files in their own folder of the work folder,
    removed when this object (held by the graphs that read it) is gone.

    Each chunk is written and read once, so one Blosc-LZ4 frame per file is all it needs: at
    64 MP a zarr array's codec pipeline and locks took a third of the run (1.2 of 3.6 s),
    raw .npy files the disk's bandwidth (2.4 s); masks compress 30-50x, images 2-3x.
    """

    _CODEC = Blosc(cname="lz4", clevel=1, shuffle=Blosc.NOSHUFFLE)

    def __init__(self, workdir: WorkFolder, chunks: tuple[tuple[int, ...], ...],
                 dtype: np.dtype, bands: Mapping[int, int] | None = None) -> None:
        workdir.path.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir  # a temporary work folder lives as long as what it stores
        self.folder = Path(tempfile.mkdtemp(prefix="step-", dir=workdir.path))
        self.chunks, self.dtype = chunks, np.dtype(dtype)
        self.bands = dict(bands or {})  # axis -> width of the bands kept along it
        self.starts = [np.cumsum((0,) + tuple(c)).tolist() for c in chunks]
        weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def _path(self, index: tuple[int, ...], band: str = "") -> Path:
        return self.folder / ("-".join(map(str, index)) + band)

    def _write(self, path: Path, block: np.ndarray) -> None:
        path.write_bytes(self._CODEC.encode(np.ascontiguousarray(block, self.dtype)))

    def _read(self, path: Path, shape: tuple[int, ...]) -> np.ndarray:
        data = self._CODEC.decode(path.read_bytes())
        return np.frombuffer(data, self.dtype).reshape(shape)

    def _shape(self, index: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(c[i] for c, i in zip(self.chunks, index, strict=True))

    def save(self, index: tuple[int, ...], block: np.ndarray) -> None:
        """Store a chunk, and its first and last ``width`` px along each banded axis."""
        self._write(self._path(index), block)
        for axis, width in self.bands.items():
            for side, where in (("lo", slice(0, width)), ("hi", slice(-width, None))):
                self._write(self._path(index, f"-{axis}{side}"),
                            block[(slice(None),) * axis + (where,)])

    def load(self, block_id: tuple[int, ...], shape: tuple[int, ...] | None = None
             ) -> np.ndarray:
        return self._read(self._path(block_id), shape or self._shape(block_id)).copy()

    def read_extended(self, index: tuple[int, ...]) -> tuple[np.ndarray, tuple[slice, ...]]:
        """Chunk ``index`` grown by the band width along each banded axis (clipped to the
        array), from its own file and its neighbours' bands, and where the chunk lies in it."""
        lo = [s[i] for s, i in zip(self.starts, index, strict=True)]
        hi = [s[i + 1] for s, i in zip(self.starts, index, strict=True)]
        width = [self.bands.get(axis, 0) for axis in range(len(index))]
        a = [max(0, low - w) for low, w in zip(lo, width, strict=True)]
        b = [min(s[-1], high + w) for high, w, s in zip(hi, width, self.starts, strict=True)]
        out = np.empty(tuple(y - x for x, y in zip(a, b, strict=True)), self.dtype)
        steps = [(-1, 0, 1) if w else (0,) for w in width]
        for step in itertools.product(*steps):
            other = tuple(i + d for i, d in zip(index, step, strict=True))
            if any(not 0 <= o < len(c) for o, c in zip(other, self.chunks, strict=True)):
                continue
            o_lo = [s[o] for s, o in zip(self.starts, other, strict=True)]
            o_hi = [s[o + 1] for s, o in zip(self.starts, other, strict=True)]
            shape = [y - x for x, y in zip(o_lo, o_hi, strict=True)]
            origin = list(o_lo)
            band = ""
            for axis, d in enumerate(step):  # a neighbour's part lies in one of its bands
                if d:
                    band = f"-{axis}{'lo' if d > 0 else 'hi'}"
                    shape[axis] = width[axis]
                    origin[axis] = o_lo[axis] if d > 0 else o_hi[axis] - width[axis]
                    break
            data = self._read(self._path(other, band), tuple(shape))
            x0 = [max(p, q) for p, q in zip(a, o_lo, strict=True)]
            x1 = [min(p, q) for p, q in zip(b, o_hi, strict=True)]
            out[tuple(slice(u - p, v - p) for u, v, p in zip(x0, x1, a, strict=True))] = \
                data[tuple(slice(u - p, v - p) for u, v, p in zip(x0, x1, origin,
                                                                 strict=True))]
        core = tuple(slice(low - x, high - x) for low, high, x in zip(lo, hi, a, strict=True))
        return out, core

    def array(self) -> da.Array:
        return da.map_blocks(self.load, chunks=self.chunks, dtype=self.dtype,
                             meta=np.empty((0,) * len(self.chunks), self.dtype))


class StoredLabels(StoredChunks):
    """Each chunk's labels as labelled, uint16 or int32 (told apart by their size), read
    back as they are: nothing writes to them."""

    def __init__(self, workdir: WorkFolder, chunks: tuple[tuple[int, ...], ...]) -> None:
        super().__init__(workdir, chunks, np.dtype(np.int32))

    def _write(self, path: Path, block: np.ndarray) -> None:
        path.write_bytes(self._CODEC.encode(np.ascontiguousarray(block)))

    def _read(self, path: Path, shape: tuple[int, ...]) -> np.ndarray:
        data = self._CODEC.decode(path.read_bytes())
        dtype = np.uint16 if len(data) == 2 * math.prod(shape) else np.int32
        return np.frombuffer(data, dtype).reshape(shape)

    def load(self, block_id: tuple[int, ...], shape: tuple[int, ...] | None = None
             ) -> np.ndarray:
        return self._read(self._path(block_id), shape or self._shape(block_id))
