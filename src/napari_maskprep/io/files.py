"""Writing files safely: a temporary name beside the target, renamed over it at the end (a
folder swapped in), and what killed writes left cleaned or put back."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..core.errors import BadValueError, shown
from ..core.processes import host_id, left_by_gone_processes

__all__ = ["NAME_MAX", "atomic_write", "check_name_length", "clean_stale_temporaries",
           "head_line", "replace_folder", "spreadsheet_text", "temp_prefix"]

NAME_MAX = 255  # bytes a file name may have on Linux (UTF-16 units on macOS and Windows)


# Temporary files and folders are named .maskprep-tmp-<host>-<pid>-<final name>.<random>:
# hidden (never taken for inputs), and a run can tell which were left by a process of this
# machine that is gone (killed mid-write) and remove them. A folder being replaced is moved
# aside into .maskprep-old-<host>-<pid>-<final name>.<random>/ where swapping is not
# possible: the only copy of the old output then, which a later run puts back if the new
# one never arrived.
_TEMP_PREFIX = ".maskprep-tmp-"
_ASIDE_PREFIX = ".maskprep-old-"
_TEMP_NAME = re.compile(r"^\.maskprep-(?P<kind>tmp|old)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-")
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # Linux <fcntl.h>, <linux/fs.h>
# A CSV cell starting with one of these is taken by a spreadsheet for a formula (OWASP,
# "CSV Injection"): a file named "=HYPERLINK(...).tif" would run when the summary is opened.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# The final name in a temporary one is cut to this many bytes: whole, a final name that
# itself fits the 255 bytes a file name may have could not be written (File name too long).
_NAME_PART_BYTES = 128


def check_name_length(path: Path, what: str, accepted: str) -> Path:
    """``path``, once its name fits in :data:`NAME_MAX` bytes; else one line naming it as
    ``what`` and saying what is ``accepted`` (its write failed with "OSError: [Errno 36]
    File name too long" once the work was done)."""
    size = len(os.fsencode(path.name))
    if size > NAME_MAX:
        raise BadValueError(f"{what} name {shown(path.name)} is {size} bytes, over the "
                            f"{NAME_MAX} a file name may have; accepted: {accepted}")
    return path


def temp_prefix(path: Path) -> str:
    """The prefix of a temporary file or folder that will become ``path``."""
    return f"{_TEMP_PREFIX}{host_id()}-{os.getpid()}-{_name_part(path)}."


def _aside_prefix(path: Path) -> str:
    return f"{_ASIDE_PREFIX}{host_id()}-{os.getpid()}-{_name_part(path)}."


def _name_part(path: Path) -> str:
    name = path.name[:_NAME_PART_BYTES]
    while len(os.fsencode(name)) > _NAME_PART_BYTES:  # characters of several bytes
        name = name[:-1]
    return name


def clean_stale_temporaries(folder: Path) -> int:
    """Remove the temporary files and folders that writes killed on this machine left in
    ``folder``, and put back an old folder moved aside whose replacement never arrived
    (:func:`replace_folder`); those of running processes, and everything else, stay.
    Returns the count of entries removed or put back."""
    stale = left_by_gone_processes(folder, _TEMP_NAME)
    for entry, found in stale:
        if found["kind"] == "old" and entry.is_dir() and not entry.is_symlink():
            _put_back(entry)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return len(stale)


def _put_back(aside: Path) -> None:
    """The old folder inside ``aside`` back at its name if nothing took that name since,
    else (the replacement arrived) removed."""
    try:
        old = next(aside.iterdir(), None)
        target = aside.parent / old.name if old is not None else None
        if target is not None and not (target.exists() or target.is_symlink()):
            old.rename(target)
    except OSError:  # another run put it back first, or the folder cannot be read
        return
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 with RENAME_EXCHANGE); False where the
    system or its file system cannot, having changed nothing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without it (glibc < 2.28, musl)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                 _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _sync(path: Path) -> None:
    """Flush the file at ``path``, or a folder's entries (a rename in it), to disk, so a
    power loss after a rename finds the data under the new name. A folder that cannot be
    synced (a file system or system that refuses it) is let be."""
    folder = path.is_dir()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:  # Windows opens no folder
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def _sync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk before it is swapped in."""
    for root, _, files in os.walk(folder):
        for name in files:
            _sync(Path(root) / name)
        _sync(Path(root))


def replace_folder(new: Path, target: Path) -> None:
    """Put the folder ``new`` (beside ``target``) at ``target`` in place of the folder
    there, so that a process killed at any point leaves the old or the new one at
    ``target``: the two are swapped in one step, and the old one, now under ``new``'s
    temporary name, removed. Where the file system cannot swap, the old one is moved aside
    (:data:`_ASIDE_PREFIX`) first: a kill between the two renames leaves no folder at
    ``target`` until :func:`clean_stale_temporaries` puts the old one back. The new
    folder's files are flushed to disk before the swap, and the parent folder after it."""
    _sync_tree(new)
    if _exchange(new, target):
        _sync(target.parent)
        shutil.rmtree(new, ignore_errors=True)  # the old folder: a leftover is cleaned later
        return
    aside = Path(tempfile.mkdtemp(prefix=_aside_prefix(target), dir=target.parent))
    old = aside / target.name
    try:
        target.rename(old)
        new.rename(target)
        _sync(target.parent)
    except BaseException:
        if old.exists() and not (target.exists() or target.is_symlink()):
            old.rename(target)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it to disk, then
    rename it over ``path`` and flush the folder: a crash, an error or a power loss never
    leaves a half-written (or empty) file under the final name."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        _sync(tmp)  # else a power loss may leave the rename done and the data not
        os.replace(tmp, path)
        _sync(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def head_line(path: Path, limit: int = 4096) -> str | None:
    """The first line of the regular file at ``path`` (without its end), None if it is no
    readable text: how a file maskprep wrote is told from another before replacing it."""
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:  # the first line only: later ones may be any bytes
            return f.readline(limit).decode("utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None


def spreadsheet_text(text: str) -> str:
    """``text`` as a CSV text cell that a spreadsheet shows as text, never evaluates: one
    that would start a formula gets a leading single quote (OWASP's neutralisation)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
