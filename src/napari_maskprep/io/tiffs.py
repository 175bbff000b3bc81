"""A TIFF opened once for the reads that overlap in time, and read with tifffile's messages
kept as one error line.

Opening a TIFF parses its whole series list (and the reads parse its OME-XML): 40 and 14 ms
for a plate of 96 wells, which a read of one well paid again at each call, so napari opened
a plate in time growing with the square of its wells (35 s for 96 of 2 channels). Reads of
one file within :func:`keep_tiff_open` share one open file, its series and OME-XML parsed
once; the lazy images of a plate's wells and channels hold one file between them, not one
each (a 384-well plate of 4 channels held over 1 500, past the usual limit of 1 024). A file
is shared only while it is the same file, unchanged (its inode, size and time), and closed
when its last holder lets go: nothing is kept once the reads are done.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import tifffile

from ..core.errors import MaskprepError

__all__ = ["SLIDE_SUFFIXES", "TIFF_ACCEPTED", "TIFF_SUFFIXES", "ImageReadError", "hold_tiff",
           "keep_tiff_open", "keeps_tiff_open", "mapped_file", "ome_xml", "open_tiff",
           "reading_tiff", "tiff_logs_held"]

_T = TypeVar("_T")
TIFF_ACCEPTED = "accepted: a complete, undamaged TIFF file"
# Whole-slide TIFFs (Aperio SVS, BigTIFF): opened lazily (io.lazy), never read whole.
SLIDE_SUFFIXES = (".svs", ".btf", ".tf8")
TIFF_SUFFIXES = (".tif", ".tiff", *SLIDE_SUFFIXES)


class ImageReadError(MaskprepError, OSError):
    """An input that cannot be read as an image: missing, unsupported or corrupt."""


class _Held(logging.Filter):
    """Keeps tifffile's log records, in a thread reading under :func:`reading_tiff`, for
    that read instead of stderr; other threads' records pass on."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        held = getattr(self.local, "records", None)
        if held is None:
            return True
        held.append(record)
        return False


_HELD = _Held()
logging.getLogger("tifffile").addFilter(_HELD)  # tifffile logs to this logger by name


def _reason(text: str) -> str:
    """One line of a tifffile message or exception, without the object it names first."""
    line = text.splitlines()[0] if text else ""
    return re.sub(r"^(<[^>]*>\s*)+", "", line)[:120]


@contextmanager
def tiff_logs_held() -> Iterator[list[logging.LogRecord]]:
    """Within this block, what tifffile logs in this thread is kept in the list yielded,
    not written to stderr: for a read that judges a damaged file itself (its provenance
    read from its first page, whatever the damage after)."""
    held: list[logging.LogRecord] = []
    outer = getattr(_HELD.local, "records", None)
    _HELD.local.records = held
    try:
        yield held
    finally:
        _HELD.local.records = outer


@contextmanager
def reading_tiff(path: Path, accepted: str = TIFF_ACCEPTED) -> Iterator[None]:
    """Read a TIFF within this block: what tifffile logs is kept from stderr, and an
    exception, or an error it logged and read past (a broken chain of pages: a truncated
    file read in part), is one :class:`ImageReadError` naming the file and ``accepted``."""
    held: list[logging.LogRecord] = []
    outer = getattr(_HELD.local, "records", None)
    _HELD.local.records = held
    try:
        yield
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile and the codecs raise anything on damaged data
        why = next((r.getMessage() for r in held if r.levelno >= logging.WARNING),
                   str(exc) or type(exc).__name__)
        raise ImageReadError(f"{path}: cannot be read as a TIFF ({_reason(why)}); {accepted}"
                             ) from None
    finally:
        _HELD.local.records = outer
    errors = [r.getMessage() for r in held if r.levelno >= logging.ERROR]
    if errors:
        raise ImageReadError(f"{path}: cannot be read as a TIFF ({_reason(errors[0])}); "
                             f"{accepted}")


@dataclass(eq=False)
class _Shared:
    """A TIFF open for its holders, its series parsed, and what tifffile logged doing so,
    which each holder's :func:`reading_tiff` hears as if it had opened the file itself."""

    key: tuple[Any, ...]
    tif: tifffile.TiffFile
    records: list[logging.LogRecord]
    holders: int = 1


_LOCK = threading.Lock()
_SHARED: dict[tuple[Any, ...], _Shared] = {}


def _key(path: Path) -> tuple[Any, ...]:
    """The file at ``path`` as it is now (one rewritten or replaced is another), in this
    process: a forked one would share the file's position with its parent."""
    stat = path.stat()
    return (os.getpid(), str(path.absolute()), stat.st_dev, stat.st_ino, stat.st_size,
            stat.st_mtime_ns)


def _hear(records: list[logging.LogRecord]) -> None:
    """Hand ``records`` to this thread's :func:`reading_tiff`, else to the log."""
    held = getattr(_HELD.local, "records", None)
    for record in records:
        if held is None:
            logging.getLogger("tifffile").handle(record)
        else:
            held.append(record)


def _opened(path: Path, key: tuple[Any, ...]) -> _Shared:
    """The TIFF at ``path`` newly opened, its series parsed, its reads locked (its holders
    may read from several threads)."""
    records: list[logging.LogRecord] = []
    outer = getattr(_HELD.local, "records", None)
    _HELD.local.records = records
    try:
        tif = tifffile.TiffFile(path)
        try:
            _ = tif.series
            tif.filehandle.set_lock(True)
        except BaseException:
            tif.close()
            raise
    finally:
        _HELD.local.records = outer
        _hear(records)
    return _Shared(key, tif, records)


def hold_tiff(path: str | os.PathLike[str]) -> tuple[tifffile.TiffFile, Callable[[], None]]:
    """The TIFF at ``path`` open, its series parsed: the one open already, if it is the same
    file unchanged, else opened now; and the call that lets it go (once; the last holder's
    closes it). Raises as ``tifffile.TiffFile`` does; read it within :func:`reading_tiff`."""
    path = Path(path)
    key = _key(path)
    with _LOCK:
        shared = _SHARED.get(key)
        if shared is not None:
            shared.holders += 1
    if shared is not None:
        _hear(shared.records)
    else:
        new = _opened(path, key)  # not under the lock: others open their files meanwhile
        with _LOCK:
            shared = _SHARED.setdefault(key, new)
            if shared is not new:
                shared.holders += 1
        if shared is not new:  # another thread opened it first
            new.tif.close()
    return shared.tif, _Release(shared)


class _Release:
    """Lets a held TIFF go, once; the last to let go closes it."""

    def __init__(self, shared: _Shared) -> None:
        self.shared: _Shared | None = shared

    def __call__(self) -> None:
        with _LOCK:
            shared, self.shared = self.shared, None
            if shared is None:
                return
            shared.holders -= 1
            if shared.holders:
                return
            if _SHARED.get(shared.key) is shared:
                del _SHARED[shared.key]
        shared.tif.close()


@contextmanager
def open_tiff(path: str | os.PathLike[str]) -> Iterator[tifffile.TiffFile]:
    """:func:`hold_tiff` within this block."""
    tif, release = hold_tiff(path)
    try:
        yield tif
    finally:
        release()


@contextmanager
def keep_tiff_open(path: str | os.PathLike[str]) -> Iterator[None]:
    """Within this block, the reads of the TIFF at ``path`` share one open file and parse
    its header once (all of a plate's wells and channels). Nothing for any other path, and
    for a TIFF that cannot be opened: the reads within say what is wrong."""
    release = None
    path = Path(path)
    if path.suffix.lower() in TIFF_SUFFIXES and path.is_file():
        try:
            with reading_tiff(path):
                release = hold_tiff(path)[1]
        except OSError:  # ImageReadError: the reads within say it again
            pass
    try:
        yield
    finally:
        if release is not None:
            release()


def keeps_tiff_open(read: Callable[..., _T]) -> Callable[..., _T]:
    """``read`` (of a path, its first argument) with the reads it makes of that TIFF
    within :func:`keep_tiff_open`."""

    @functools.wraps(read)
    def kept(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> _T:
        with keep_tiff_open(path):
            return read(path, *args, **kwargs)

    return kept


_MAPS: weakref.WeakValueDictionary[tuple[Any, ...], np.memmap] = weakref.WeakValueDictionary()


def mapped_file(path: str | os.PathLike[str]) -> np.memmap:
    """The whole file at ``path`` memory-mapped as bytes: one map a file (as it is now) for
    all that view it, a plate's wells and channels, for a map holds a file handle. It is
    unmapped when the last view of it goes."""
    path = Path(path)
    key = _key(path)
    with _LOCK:
        whole = _MAPS.get(key)
        if whole is None:
            whole = _MAPS[key] = np.memmap(path, np.uint8, "r")
    return whole


_OME_XML: weakref.WeakKeyDictionary[tifffile.TiffFile, dict[str, Any]] = (
    weakref.WeakKeyDictionary())


def ome_xml(tif: tifffile.TiffFile) -> dict[str, Any]:
    """An OME-TIFF's OME-XML as ``tifffile.xml2dict`` reads it, parsed once an open file."""
    parsed = _OME_XML.get(tif)
    if parsed is None:
        parsed = _OME_XML[tif] = tifffile.xml2dict(tif.ome_metadata)
    return parsed
