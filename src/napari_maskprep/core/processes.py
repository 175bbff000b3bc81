"""Who wrote a temporary file: this machine's id and whether a process on it still runs.

Temporary names carry the host id and process id of their writer, so a later run removes
what a killed one left on this machine, and never what a running process, or another
machine sharing the folder, is still writing.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path

__all__ = ["host_id", "is_running", "left_by_gone_processes"]


def host_id() -> str:
    """A short id of this machine's host name."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def is_running(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or never a process id
        return False
    except PermissionError:  # another user's process
        return True
    return True


def left_by_gone_processes(folder: Path, name: re.Pattern[str]
                           ) -> list[tuple[Path, re.Match[str]]]:
    """The entries of ``folder`` whose name ``name`` matches, its groups ``host`` and
    ``pid`` naming this machine and a process that no longer runs, with their matches;
    none when the folder cannot be read."""
    host = host_id()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    found = ((entry, name.match(entry.name)) for entry in entries)
    return [(entry, match) for entry, match in found if match is not None
            and match["host"] == host and not is_running(int(match["pid"]))]
