"""Writing files safely: a temporary name beside the target, renamed over it at the end, and
the temporary files of killed writes cleaned."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "clean_stale_temporaries", "head_line", "temp_prefix"]


# Temporary files and folders are named .maskprep-tmp-<host>-<pid>-<final name>.<random>:
# hidden (never taken for inputs), and a run can tell which were left by a process of this
# machine that is gone (killed mid-write) and remove them.
_TEMP_PREFIX = ".maskprep-tmp-"
_TEMP_NAME = re.compile(r"^\.maskprep-tmp-([0-9a-f]{8})-(\d+)-")


def _host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temp_prefix(path: Path) -> str:
    """The prefix of a temporary file or folder that will become ``path``."""
    return f"{_TEMP_PREFIX}{_host_id()}-{os.getpid()}-{path.name}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or never a process id
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clean_stale_temporaries(folder: Path) -> int:
    """Remove the temporary files and folders that writes killed on this machine left in
    ``folder``; those of running processes, and everything else, stay. Returns the count."""
    removed, host = 0, _host_id()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        found = _TEMP_NAME.match(entry.name)
        if found is None or found.group(1) != host or _alive(int(found.group(2))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``:
    a crash or an error never leaves a half-written file under the final name."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
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
        with open(path, encoding="utf-8", newline="") as f:
            return f.readline(limit).rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None
