"""Opening images too large for memory as dask arrays, reading no pixel until asked.

OME-Zarr (NGFF 0.4 on zarr v2, 0.5 on zarr v3) through ``zarr``, its metadata checked by
``ome-zarr-models``, and a bare zarr array (v2 or v3, as ``dask.array.to_zarr`` writes it);
TIFF (tiled or pyramidal BigTIFF, OME-TIFF, Aperio SVS) through
``tifffile``'s zarr view of its tiles; plain contiguous TIFFs memory-mapped. Every level of
a pyramid is a dask array whose chunks are the file's chunks (or tiles); a chunk that is
missing or cannot be decoded stops the computation with one line naming the file, the
level and the chunk.
"""

from __future__ import annotations

import json
import math
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .axes import unnamed_axes
from .images import (
    ImageReadError,
    channel_names,
    check_series,
    check_strips,
    pick_series,
    reading_tiff,
    tiff_axes,
    tiff_intensities,
    tiff_pixel_size,
)
from .ngff import (
    check_plain_files,
    check_zarr_folder,
    image_group,
    ngff_attributes,
    um_per_unit,
)
from .tiffs import SLIDE_SUFFIXES, TIFF_SUFFIXES, hold_tiff, mapped_file, open_tiff

if TYPE_CHECKING:
    import dask.array as da
    import zarr

__all__ = ["LAZY_BUDGET", "MAX_CHUNKS", "LazyImage", "check_chunk_count", "chunk_count",
           "is_lazy_path", "is_zarr_array", "open_lazy"]

LAZY_BUDGET = 2**30  # bytes of decoded pixels above which a TIFF is opened lazily
TILE_GROUP = 1024  # px: a TIFF's tiles are read in blocks at least this wide
# dask holds a task per chunk: a stated shape of 10**12 px a side in chunks of 64 ran out
# of memory building the graph. 150k px a side in chunks of 256 is 343 000.
MAX_CHUNKS = 2**22
MAX_LEVELS = 64  # of an OME-Zarr pyramid, and multiscales in a store

_ACCEPTED = ("accepted: an OME-Zarr folder (NGFF 0.4 or 0.5), a bare zarr array, a TIFF, "
             "OME-TIFF, pyramidal BigTIFF or Aperio SVS file")
_ZARR_META = (".zgroup", ".zarray", "zarr.json")


@dataclass
class LazyImage:
    """An image opened without reading its pixels.

    ``data`` is the chosen level of ``levels`` (the pyramid, largest first). ``axes`` names
    each axis of ``data`` with one letter (``t`` time, ``c`` channel or RGB sample, ``z``,
    ``y``, ``x``; other letters are tifffile's, e.g. ``i`` for the pages of a stack).
    ``pixel_size`` is in micrometres per spatial axis (``z``, ``y``, ``x`` as present) of
    ``data``'s level, or None when the file does not say. ``channel_names``: the names the
    file gives its channels (an OME-TIFF's, an OME-Zarr's omero labels), if any.
    ``ome_zarr``: whether it is an OME-Zarr store's image (not a bare zarr array or a TIFF),
    whose axes' units and offset a mask may take. Use it as a context manager, or call
    :meth:`close`, to release a TIFF's file handle.
    """

    data: da.Array
    axes: str
    pixel_size: tuple[float, ...] | None
    levels: list[da.Array]
    path: Path
    _close: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)
    channel_names: list[str] = field(default_factory=list)
    ome_zarr: bool = False

    def close(self) -> None:
        """Release the open file (a TIFF); the arrays cannot be computed afterwards."""
        while self._close:
            self._close.pop()()

    def __enter__(self) -> LazyImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Chunked:
    """A zarr array handed to dask one chunk at a time; a missing or undecodable chunk is
    an :class:`ImageReadError` naming it."""

    def __init__(self, array: Any, where: str, folder: Path | None, missing_chunks: str):
        self.array, self.where, self.folder = array, where, folder
        self.strict = missing_chunks == "error"
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        shards = getattr(array, "shards", None)
        self.chunks = tuple(shards or array.chunks)  # the unit stored as one object

    def __getitem__(self, key: tuple[slice | int, ...]) -> np.ndarray:
        # dask passes an int where a computation takes one plane (a time-lapse's frame)
        starts = (k.start or 0 if isinstance(k, slice) else int(k) for k in key)
        index = tuple(start // c for start, c in zip(starts, self.chunks, strict=True))
        if self.folder is not None:  # a store's chunks are read one a task
            name = self.array.metadata.encode_chunk_key(index)
            check_plain_files(self.folder, (name,), "chunk", self.where)
            self._check_size(name)
            if self.strict and not (self.folder / name).is_file():
                raise ImageReadError(
                    f"{self.where}: chunk {name} is missing (deleted, or never written); "
                    "open with missing_chunks='fill' if the store is sparse")
            name = f"chunk {name}"
        else:
            name = self._tiles(key, index)
        try:
            return np.asarray(self.array[key])
        except Exception as exc:  # codecs raise anything on damaged data
            why = str(exc).splitlines()[0][:100] if str(exc) else ""
            raise ImageReadError(f"{self.where}: {name} cannot be read "
                                 f"({type(exc).__name__}: {why})") from None

    def _check_size(self, name: str) -> None:
        """Refuse a chunk's file of more than twice its pixels' bytes and 1 MiB of codec
        headers before zarr reads it whole: a sparse file of 100 GB filled the memory."""
        try:
            size = (self.folder / name).stat().st_size
        except OSError:  # missing: zarr's fill value, or the strict check's line
            return
        limit = 2 * math.prod(self.chunks) * self.dtype.itemsize + 2**20
        if size > limit:
            raise ImageReadError(f"{self.where}: chunk {name} is {size} bytes, more than a "
                                 f"chunk of {self.chunks} {self.dtype} takes; accepted: at "
                                 f"most {limit} bytes")

    def _tiles(self, key: tuple[slice | int, ...], first: tuple[int, ...]) -> str:
        """The TIFF tiles a block of ``key`` reads, from ``first``: any may be the damaged
        one (tiles are read in blocks, :func:`_grouped`)."""
        last = tuple((k.stop - 1) // c if isinstance(k, slice) and k.stop else i
                     for k, c, i in zip(key, self.chunks, first, strict=True))
        if last == first:
            return f"chunk {'.'.join(map(str, first))}"
        return f"chunks {'.'.join(map(str, first))} to {'.'.join(map(str, last))}"


_REOPEN_LOCK = threading.Lock()


class _Reopened:
    """A TIFF's pixels by path: opened on first use in each process, so a dask array of it
    can be sent to the workers of a cluster (an open file cannot be pickled, and a
    memory map would be pickled whole). ``open_array(path)`` gives the array and the calls
    that let its file go, made when this object goes. The path is kept absolute: a
    cluster's workers run in folders of their own."""

    def __init__(self, path: Path, open_array: Callable[[Path], tuple[Any, list[Any]]],
                 opened: Any = None) -> None:
        self.path, self.open_array, self._array = path.absolute(), open_array, opened
        array = self._opened()
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.chunks = getattr(array, "chunks", None)

    def _opened(self) -> Any:
        with _REOPEN_LOCK:  # a worker's threads open the file once between them
            if self._array is None:
                with reading_tiff(self.path, _ACCEPTED):
                    self._array, closers = self.open_array(self.path)
                for close in closers:
                    weakref.finalize(self, close)
        return self._array

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._opened()[key])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}


@dataclass(frozen=True)
class _TiffMemmap:
    """A contiguous TIFF series' pixels at ``offset``, of ``shape`` and ``dtype``, viewed
    in the file's one memory map (:func:`~.tiffs.mapped_file`): a map a series held a
    file handle each, and tifffile.memmap parsed the file's series list again for each."""

    offset: int
    shape: tuple[int, ...]
    dtype: str

    def __call__(self, path: Path) -> tuple[np.ndarray, list[Any]]:
        whole = mapped_file(path)
        end = self.offset + math.prod(self.shape) * np.dtype(self.dtype).itemsize
        if end > whole.size:  # cut short
            raise ValueError(f"mmap length is greater than file size: its pixels end at "
                             f"byte {end}, the file at {whole.size}")
        return np.ndarray(self.shape, self.dtype, whole, self.offset), []


@dataclass(frozen=True)
class _TiffLevel:
    """Opens level ``level`` (its zarr path) of series ``series`` of a TIFF's pyramid,
    picklable by name."""

    level: str
    series: int = 0

    def __call__(self, path: Path) -> tuple[Any, list[Any]]:
        import zarr

        tif, release = hold_tiff(path)  # one for all the series and levels of a file
        store = tif.series[self.series].aszarr(multiscales=True)  # with the file's lock
        return zarr.open_group(store, mode="r")[self.level], [store.close, release]


def chunk_count(shape: tuple[int, ...], chunks: tuple[int, ...]) -> int:
    """How many chunks ``shape`` cut in ``chunks`` (a side each axis) is, the last of each
    axis partial."""
    return math.prod(-(-size // max(chunk, 1)) for size, chunk in zip(shape, chunks, strict=True))


def check_chunk_count(shape: tuple[int, ...], chunks: tuple[int, ...], where: str) -> None:
    """Raise :class:`ImageReadError` if ``shape`` cut in ``chunks`` is more than
    :data:`MAX_CHUNKS` chunks, before dask is asked to plan them."""
    count = chunk_count(shape, chunks)
    if count > MAX_CHUNKS:
        raise ImageReadError(f"{where}: shape {shape} in chunks of {chunks} is {count:.3g} "
                             f"chunks; accepted: at most {MAX_CHUNKS} (larger chunks, or "
                             "check the shape the file states)")


def _grouped(chunks: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Tiles side by side in blocks of at least :data:`TILE_GROUP` px along each axis they
    tile (not along planes, one a page): a dask task a tile made a 16 MP TIFF of 16 x 16
    tiles take 60 s tiled, against 1.6 s in memory."""
    return tuple(c if c == 1 else min(n, -(-TILE_GROUP // c) * c)
                 for c, n in zip(chunks, shape, strict=True))


def _dask(array: Any, where: str, folder: Path | None, missing_chunks: str,
          token: str) -> da.Array:
    import dask.array as da

    chunked = _Chunked(array, where, folder, missing_chunks)
    if min(chunked.chunks, default=1) < 1:  # dask divided by it
        raise ImageReadError(f"{where}: states chunks of {chunked.chunks}; accepted: chunks "
                             "of at least 1 px a side")
    # A store's chunks stay one a task: its missing chunks are named one by one.
    blocks = chunked.chunks if folder is not None else _grouped(chunked.chunks, array.shape)
    check_chunk_count(tuple(array.shape), blocks, where)
    return da.from_array(chunked, chunks=blocks, name=f"maskprep-lazy-{token}",
                         meta=np.empty((0,) * chunked.ndim, chunked.dtype))


def is_lazy_path(path: str | os.PathLike[str], budget: int = LAZY_BUDGET) -> bool:
    """Whether ``path`` should be opened with :func:`open_lazy` rather than read whole: a
    zarr folder, a whole-slide file (``.svs``, ``.btf``, ``.tf8``: only this module reads
    them), or a TIFF whose decoded pixels exceed ``budget`` bytes (a pyramid's largest level
    counted; of a file of several images, its largest, whichever ``--series`` chooses).
    Reads headers only; a ``.tif`` it cannot parse is not lazy."""
    path = Path(path)
    if path.is_dir():  # one named .zarr too: that reader says what it lacks to be a store
        return path.suffix.lower() == ".zarr" or any(
            (path / name).is_file() for name in _ZARR_META)
    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return False
    if path.suffix.lower() in SLIDE_SUFFIXES:
        return True
    try:
        with reading_tiff(path), open_tiff(path) as tif:
            return max(int(np.prod(s.shape)) * s.dtype.itemsize for s in tif.series) > budget
    except Exception:  # a damaged header: the reader that reads it whole says what is wrong
        return False


def is_zarr_array(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a bare zarr array (no OME-NGFF metadata; zarr format 2 or 3),
    which :func:`open_lazy` opens as one image without pixel size. Reads metadata only."""
    import zarr

    if not Path(path).is_dir():
        return False
    try:
        check_zarr_folder(Path(path))  # napari asks of every .zarr folder opened
        return isinstance(zarr.open(Path(path), mode="r"), zarr.Array)
    except Exception:  # no store, or a damaged one: open_lazy says what is wrong
        return False


def open_lazy(path: str | os.PathLike[str], level: int = 0, *,
              missing_chunks: Literal["error", "fill"] | None = None,
              series: int | None = None) -> LazyImage:
    """Open an OME-Zarr store or a TIFF as dask arrays without reading pixels.

    Parameters
    ----------
    path
        An OME-Zarr folder (an image, an image-label such as ``image.zarr/labels/mask``, or
        a bioformats2raw store, whose first image is opened), a bare zarr array (one level,
        no pixel size, axes named from its shape as a plain TIFF's), or a TIFF / OME-TIFF /
        pyramidal BigTIFF / SVS file (its first series, or ``series``; SVS label and macro
        images are further series).
    level
        The pyramid level given as ``data`` (0 = full resolution).
    missing_chunks
        ``"error"``: a chunk absent from a zarr store is an error when it is read;
        ``"fill"``: it reads as the array's fill value, as zarr, napari and Fiji read it
        (zarr's writers leave out chunks that hold only that value). Default: ``"error"``
        for a store maskprep wrote (it writes every chunk, so a missing one is damage),
        ``"fill"`` for any other.
    series
        The image to open (from 0) of an OME-TIFF of several positions or wells, with
        its own pixel size and channel names (see :func:`~.images.pick_series`); without
        it such a file is refused. An OME-Zarr store and other files are series 0.

    Raises
    ------
    ImageReadError
        One line naming the file and what is accepted: no such file, not an OME-Zarr, a
        zarr array or a TIFF, a level the file lacks; when computed, a missing or undecodable chunk.
    """
    path = Path(path)
    series = check_series(series)
    if missing_chunks not in ("error", "fill", None):
        raise ImageReadError(f"missing_chunks={missing_chunks!r}; accepted: 'error', 'fill', "
                             "None")
    if missing_chunks is None:
        from .provenance import written_by_maskprep

        missing_chunks = "error" if path.is_dir() and written_by_maskprep(path) else "fill"
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder; {_ACCEPTED}")
    if path.is_dir():
        if series:
            raise ImageReadError(f"{path}: has no series {series}; accepted: series 0 (an "
                                 "OME-Zarr store is read as one image, a bioformats2raw "
                                 "store's first)")
        image, sizes = _open_zarr(path, missing_chunks)
    elif not path.is_file():  # a FIFO would block the reader, a device never end
        raise ImageReadError(f"{path}: not a regular file; {_ACCEPTED}")
    elif path.suffix.lower() in TIFF_SUFFIXES:
        image, sizes = _open_tiff(path, series)
    else:
        raise ImageReadError(f"{path}: unsupported file type {path.suffix or '(none)'}; "
                             f"{_ACCEPTED}")
    if not isinstance(level, int) or not 0 <= level < len(image.levels):
        image.close()
        raise ImageReadError(f"{path}: has no level {level}; its levels are 0 to "
                             f"{len(image.levels) - 1}")
    image.data, image.pixel_size = image.levels[level], sizes[level]
    return image


# ---- OME-Zarr ----------------------------------------------------------------------------


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic: where and what, of the first problem
        first = errors()[0]
        where = ".".join(map(str, first.get("loc", ())))
        return f"{where}: {first.get('msg', '')}"[:160]
    return (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:160]


def _ome_attributes(group: zarr.Group, path: Path) -> tuple[Any, str]:
    """The group's multiscale (validated by ome-zarr-models) and its NGFF version."""
    from ome_zarr_models.v04.image import ImageAttrs as Attrs04
    from ome_zarr_models.v05.image import ImageAttrs as Attrs05

    v3 = group.metadata.zarr_format == 3
    ome = ngff_attributes(group)
    if not isinstance(ome, dict) or "multiscales" not in ome:
        raise ImageReadError(f"{path}: a zarr group without OME-NGFF multiscales metadata "
                             f"(neither an OME-Zarr image nor a zarr array); {_ACCEPTED}")
    # omero is rendering settings, which writers often leave incomplete (no window) and
    # napari reads without: only its channel colours are read, by _zarr_colour.
    ome = {key: value for key, value in ome.items() if key != "omero"}
    _check_level_count(ome["multiscales"], path)
    _check_no_booleans(ome["multiscales"], path)
    first = next(iter(ome["multiscales"]), None) if isinstance(ome["multiscales"], list) else None
    stated = ome.get("version") if v3 else first.get("version") if isinstance(first, dict) else None
    if isinstance(stated, str) and stated != ("0.5" if v3 else "0.4"):  # 0.3's axes were names
        raise ImageReadError(f"{path}: states OME-NGFF {stated!r} on zarr v{2 + v3}; accepted: "
                             "NGFF 0.4 on zarr v2 or 0.5 on zarr v3")
    try:
        model = Attrs05.model_validate(ome) if v3 else Attrs04.model_validate(ome)
    except Exception as exc:
        raise ImageReadError(f"{path}: invalid OME-Zarr {'0.5' if v3 else '0.4'} metadata "
                             f"({_one_line(exc)})") from None
    return model.multiscales[0], "0.5" if v3 else "0.4"


def _check_level_count(multiscales: Any, path: Path) -> None:
    """Refuse more multiscales, or levels in one, than :data:`MAX_LEVELS` before they are
    validated: ome-zarr-models and then this reader open each level's array, 8 ms a level
    (2000 levels of one array took 16 s, 100 000 would take 13 minutes)."""
    if not isinstance(multiscales, list):
        return  # the validator says what it is
    if len(multiscales) > MAX_LEVELS:
        raise ImageReadError(f"{path}: states {len(multiscales)} multiscales; accepted: at "
                             f"most {MAX_LEVELS}")
    levels = [len(m["datasets"]) for m in multiscales
              if isinstance(m, dict) and isinstance(m.get("datasets"), list)]
    if max(levels, default=0) > MAX_LEVELS:
        raise ImageReadError(f"{path}: states a pyramid of {max(levels)} levels; accepted: "
                             f"at most {MAX_LEVELS}")


def _check_no_booleans(multiscales: Any, path: Path) -> None:
    """Refuse JSON true or false in a scale or translation, which the validator reads as 1
    and 0: a scale of true gave a pixel size of 1 um without a word."""
    for multiscale in multiscales if isinstance(multiscales, list) else ():
        if not isinstance(multiscale, dict):
            continue
        datasets = [d for d in multiscale.get("datasets") or () if isinstance(d, dict)]
        for transforms in [multiscale.get("coordinateTransformations"),
                           *(d.get("coordinateTransformations") for d in datasets)]:
            for transform in transforms if isinstance(transforms, list) else ():
                for key in ("scale", "translation"):
                    values = transform.get(key) if isinstance(transform, dict) else None
                    if isinstance(values, list) and any(isinstance(v, bool) for v in values):
                        raise ImageReadError(f"{path}: states the {key} {json.dumps(values)}"
                                             "; accepted: numbers")


def _stated_metadata(path: Path) -> list[str]:
    """The zarr metadata files in the folder ``path`` that are not JSON, else all it has."""
    stated = [name for name in (*_ZARR_META, ".zattrs") if (path / name).is_file()]
    broken = []
    for name in stated:
        try:
            json.loads((path / name).read_bytes())
        except (ValueError, RecursionError):  # RecursionError: lists nested thousands deep
            broken.append(name)
    return broken or stated


def _open_group(path: Path) -> zarr.Group:
    """The OME-Zarr image's group at ``path``; one line for anything else."""
    import zarr

    node = _open_node(path)
    if not isinstance(node, zarr.Group):
        raise ImageReadError(f"{path}: a zarr array, not an OME-Zarr image; accepted here: "
                             "an OME-Zarr folder (NGFF 0.4 or 0.5)")
    return node


def _open_node(path: Path) -> zarr.Group | zarr.Array:
    import zarr

    check_zarr_folder(path)
    try:  # by its absolute path, which the arrays keep: workers run in folders of their own
        node = zarr.open(path.absolute(), mode="r")
    except Exception as exc:  # zarr says where it looked, at length
        stated = _stated_metadata(path)
        if stated and not any((path / name).is_file() for name in _ZARR_META):
            # a v2 node's attributes, its .zarray or .zgroup gone
            raise ImageReadError(f"{path}: its zarr metadata is incomplete (.zattrs without "
                                 f".zarray or .zgroup); {_ACCEPTED}") from None
        if stated:  # cut short, or not zarr's: not some other folder
            raise ImageReadError(f"{path}: its zarr metadata ({', '.join(stated)}) is "
                                 f"damaged ({_one_line(exc)})") from None
        raise ImageReadError(f"{path}: not a zarr store (no zarr metadata); {_ACCEPTED}"
                             ) from None
    return node


def _open_zarr(path: Path, missing_chunks: str) -> tuple[LazyImage, list[Any]]:
    import zarr
    from dask.base import tokenize

    path = image_group(path)  # a bioformats2raw container's first image
    group = _open_node(path)
    if isinstance(group, zarr.Array):
        return _bare_array(group, path, missing_chunks)
    multiscale, _ = _ome_attributes(group, path)
    names = [a.name for a in multiscale.axes]
    if not all(isinstance(n, str) and len(n) == 1 for n in names):
        raise ImageReadError(f"{path}: axes {names} are not one letter each (t, c, z, y, x); "
                             "not supported")
    axes = "".join(names).lower()
    levels = []
    stamp = max((p.stat().st_mtime_ns for p in path.iterdir()), default=0)
    for number, dataset in enumerate(multiscale.datasets):
        where = f"{path} level {number} (array '{dataset.path}')"
        check_zarr_folder(path / dataset.path, where=where)
        try:
            array = group[dataset.path]
        except KeyError:
            raise ImageReadError(f"{where}: is missing; the store is incomplete") from None
        except Exception as exc:  # zarr's own errors on damaged metadata (JSON, shape)
            raise ImageReadError(f"{where}: its metadata is damaged ({_one_line(exc)})"
                                 ) from None
        if not isinstance(array, zarr.Array) or array.ndim != len(axes):
            raise ImageReadError(f"{where}: is not an array of {len(axes)} axes ({axes})")
        if 0 in array.shape:
            raise ImageReadError(f"{where}: is empty (shape {array.shape})")
        stated = getattr(array.metadata, "dimension_names", None) or ()  # zarr v3's own
        if any(n is not None and str(n).lower() != a for n, a in zip(stated, axes,
                                                                     strict=False)):
            raise ImageReadError(f"{where}: its dimension_names {list(stated)} are not its "
                                 f"axes {list(axes)}, so which is which is unknown; "
                                 "accepted: the axes' names, in their order (NGFF 0.5)")
        if array.dtype.kind not in "biuf":  # dates failed when hashed, strings at a step
            raise ImageReadError(f"{where}: holds {array.dtype}; accepted: integers, floats "
                                 "or booleans")
        token = tokenize(str(path.resolve()), dataset.path, stamp, missing_chunks)
        levels.append(_dask(array, where, (path / dataset.path).absolute(), missing_chunks,
                            token))
    sizes = [_ngff_pixel_size(multiscale, axes, n) for n in range(len(levels))]
    attributes = ngff_attributes(group)
    if "c" in axes and not _zarr_colour(attributes, levels[0], axes):
        axes = axes.replace("c", "n")  # channels, as an ImageJ or OME-TIFF's (io.axes)
    return LazyImage(levels[0], axes, sizes[0], levels, path,
                     channel_names=_zarr_channel_names(attributes), ome_zarr=True), sizes


def _bare_array(array: zarr.Array, path: Path, missing_chunks: str
                ) -> tuple[LazyImage, list[Any]]:
    """A zarr array with no OME-NGFF metadata (what ``dask.array.to_zarr`` and
    ``zarr.save_array`` write, and napari opens): one level chunked as stored, no pixel
    size, its axes named from its shape as a plain TIFF's are (:func:`~.axes.unnamed_axes`)."""
    from dask.base import tokenize

    where = f"{path} (a zarr array)"
    if array.ndim < 2 or 0 in array.shape or array.dtype.kind not in "biuf":
        raise ImageReadError(f"{where}: shape {array.shape} of {array.dtype}; accepted: an "
                             "image of at least 2 axes, none empty, of numbers or booleans")
    # the metadata's time: an array written again at this path is named anew
    stamp = max(p.stat().st_mtime_ns for p in (path, *map(path.joinpath, _ZARR_META))
                if p.exists())
    token = tokenize(str(path.resolve()), stamp, missing_chunks)
    level = _dask(array, where, path.absolute(), missing_chunks, token)
    return LazyImage(level, unnamed_axes(array.shape), None, [level], path), [None]


def _zarr_channel_names(ome: Any) -> list[str]:
    """An OME-Zarr's channel names: its omero channels' labels, where every one has one."""
    omero = ome.get("omero") if isinstance(ome, dict) else None
    channels = omero.get("channels") if isinstance(omero, dict) else None
    labels = [c.get("label") if isinstance(c, dict) else None for c in channels or []]
    return labels if labels and all(isinstance(x, str) and x for x in labels) else []


def ngff_frame(path: Path) -> dict[str, tuple[float, float, str | None]]:
    """Per axis of the OME-Zarr image at ``path`` (opened by :func:`open_lazy`, so a
    bioformats2raw store's first image): level 0's scale and translation (its dataset's
    transforms, then the multiscale's own) and the axis's unit, as the store states them.
    A label written into the store takes these, so that viewers lay it over the image;
    a scale of 0 or a value that is not finite (NaN in JSON, which strict readers refuse)
    is an :class:`ImageReadError`."""
    multiscale, _ = _ome_attributes(_open_group(path), path)
    scale, shift = np.ones(len(multiscale.axes)), np.zeros(len(multiscale.axes))
    for transform in [*multiscale.datasets[0].coordinateTransformations,
                      *(multiscale.coordinateTransformations or ())]:
        if transform.type == "scale" and hasattr(transform, "scale"):
            scale, shift = scale * transform.scale, shift * transform.scale
        elif transform.type == "translation" and hasattr(transform, "translation"):
            shift = shift + np.asarray(transform.translation, dtype=float)
    if not (np.isfinite(scale).all() and np.isfinite(shift).all() and scale.all()):
        raise ImageReadError(f"{path}: level 0 states the scale {scale.tolist()} and the "
                             f"translation {shift.tolist()}, which no mask can state to lie "
                             "over it; accepted: finite numbers, no scale 0")
    return {str(a.name).lower(): (float(s), float(t), None if a.unit is None else str(a.unit))
            for a, s, t in zip(multiscale.axes, scale, shift, strict=True)}


_RGB = ("FF0000", "00FF00", "0000FF")


def _zarr_colour(ome: Any, level0: Any, axes: str) -> bool:
    """Whether an OME-Zarr's ``c`` axis holds RGB(A) colour. NGFF has no colour model:
    bioformats2raw stores a slide's RGB as 3 channels of uint8, drawn red, green and blue
    (omero metadata); 3 channels of another type, or drawn in other colours, are
    fluorescence channels, which a colour op would read as one luminance."""
    size = dict(zip(axes, getattr(level0, "shape", ()), strict=False)).get("c")
    if size not in (3, 4) or getattr(level0, "dtype", None) != np.uint8:
        return False
    omero = ome.get("omero") if isinstance(ome, dict) else None
    channels = omero.get("channels") if isinstance(omero, dict) else None
    if not isinstance(channels, list) or not channels:
        return True
    colours = tuple(str(c.get("color", "")).upper() if isinstance(c, dict) else ""
                    for c in channels[:3])
    return colours == _RGB or not any(colours)


def _ngff_pixel_size(multiscale: Any, axes: str, level: int) -> tuple[float, ...] | None:
    """A level's pixel size in µm from its scale transform (and the multiscale's own, if
    any) and the units of the space axes; None if a unit or a scale is not given, or a
    size is not positive and finite (as a TIFF's is unknown then)."""
    scale = np.ones(len(axes))
    transforms = list(multiscale.datasets[level].coordinateTransformations)
    transforms += list(multiscale.coordinateTransformations or ())
    for transform in transforms:
        if transform.type == "scale":
            if not hasattr(transform, "scale"):  # a scale stored in a file: not read
                return None
            scale *= np.asarray(transform.scale, dtype=float)
    sizes = []
    for i, axis in enumerate(multiscale.axes):
        if axes[i] in "zyx":
            factor = um_per_unit(axis.unit)
            if factor is None:
                return None
            sizes.append(float(scale[i]) * factor)
    if not all(0 < size < math.inf for size in sizes):
        return None
    return tuple(sizes) or None


# ---- TIFF ----------------------------------------------------------------------------------


def _open_tiff(path: Path, number: int | None) -> tuple[LazyImage, list[Any]]:
    import dask.array as da
    import zarr
    from dask.base import tokenize

    release = None
    try:
        with reading_tiff(path, _ACCEPTED):  # one read: a page chain broken at open, used later
            tif, release = hold_tiff(path)  # one for all the series and channels of a file
            series = pick_series(tif, path, number)
            number = number or 0
            check_strips(series, path, _ACCEPTED)
            shown = tiff_intensities(series, path, _ACCEPTED)
            axes = tiff_axes(series)
            pixel_size = tiff_pixel_size(tif, axes, number)
            names = channel_names(path, number)
            token = tokenize(str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size,
                             number)  # each series' arrays named apart
            if len(series.levels) == 1 and series.dataoffset is not None:
                memmap = _TiffMemmap(series.dataoffset, tuple(series.shape),
                                     tif.byteorder + series.dtype.char)
                mapped = _Reopened(path, memmap, memmap(path)[0])  # the header's errors first
                release()  # read through the file's memory map
                levels = [shown(da.from_array(mapped, name=f"maskprep-mm-{token}",
                                              chunks="auto",
                                              meta=np.empty((0,) * mapped.ndim, mapped.dtype)))]
                return LazyImage(levels[0], axes, pixel_size, levels, path,
                                 channel_names=names), [pixel_size]
            store = series.aszarr(multiscales=True)  # with the file's lock, its series' too
            group = zarr.open_group(store, mode="r")
            paths = [d["path"] for d in group.attrs["multiscales"][0]["datasets"]]
            levels = [shown(_dask(_Reopened(path, _TiffLevel(p, number), group[p]),
                                  f"{path} level {n}", None, "fill", f"{token}-{p}"))
                      for n, p in enumerate(paths)]
    except ImageReadError:
        if release is not None:
            release()
        raise
    image = LazyImage(levels[0], axes, pixel_size, levels, path, [store.close, release],
                      names)
    return image, [_scaled(pixel_size, axes, levels[0].shape, lv.shape) for lv in levels]


def _scaled(size: tuple[float, ...] | None, axes: str, full: tuple[int, ...],
            shape: tuple[int, ...]) -> tuple[float, ...] | None:
    """The pixel size of a pyramid level of ``shape``, from the full level's by the ratio
    of their sides (a TIFF states only the full level's)."""
    if size is None:
        return None
    spatial = [i for i, a in enumerate(axes) if a in "zyx"]
    return tuple(s * (full[i] / shape[i]) for s, i in zip(size, spatial, strict=True))

