"""Where a batch's work runs: this machine's memory shared by local dask workers, the
allocator kept lean in processes maskprep owns, a local cluster of processes, or an
existing scheduler's address."""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Any

from .core.errors import BadValueError, shown

__all__ = ["CONNECT_TIMEOUT", "MIN_WORKER_MEMORY", "check_scheduler_address", "keep_freed_memory",
           "lean_worker_plugin", "scheduler_worker_memory", "start_client", "worker_memory"]


def check_scheduler_address(address: str) -> str:
    """``address`` if it is a dask.distributed scheduler address (``tcp://host:port``,
    ``host:port``, ``tls://...``); raises :class:`BadValueError` otherwise."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except (ValueError, TypeError):
        raise BadValueError(f"scheduler address {shown(address)}; accepted: tcp://HOST:PORT "
                            "(or HOST:PORT, tls://HOST:PORT)") from None
    return address


CONNECT_TIMEOUT = 10  # seconds a --scheduler has to answer

# A worker process holds about 200 MB before any image (numpy, OpenCV, dask); dask pauses a
# worker at 80% of its limit, and one paused from the start never runs a task.
MIN_WORKER_MEMORY = 512 * 2**20


def worker_memory(workers: int, memory_limit: int | None = None) -> int:
    """Bytes each of ``workers`` local dask workers may hold: ``memory_limit`` (default 80%
    of this machine's memory, or of a container's or the shell's lower limit) shared among
    them. dask's own default, "auto", gives every worker the machine's memory divided by
    its cores, whatever the number of workers."""
    from distributed.system import memory_limit as usable  # cgroup and RLIMIT_RSS aware

    budget = memory_limit if memory_limit is not None else usable() * 4 // 5
    return budget // max(workers, 1)


# glibc's mallopt parameters, and the values the CLI sets: buffers up to 64 MiB come from
# the heap, and up to 256 MiB of freed heap is kept for the next image.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_FREED_BYTES, _HEAP_BUFFER_BYTES = 256 * 2**20, 64 * 2**20


def keep_freed_memory() -> None:
    """Have glibc keep freed image-sized buffers for the next ones instead of handing them
    back to the system, which costs a page fault per 4 KiB on each new buffer (measured: the
    16 MP 5-step recipe 172-192 -> 124-130 ms on one thread). For processes maskprep owns:
    the CLI's and its local cluster's workers; the library and the napari plugin leave the
    allocator alone. No-op without glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _HEAP_BUFFER_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)


def lean_worker_plugin() -> Any:
    """A plugin setting up each worker of our local cluster, restarted ones too: freed
    memory kept (dask's nanny sets glibc to return anything over 64 KiB) and OpenCV on the
    worker's one thread (its own pool per process oversubscribed the cores). Measured, one
    256 MP image on 2 worker processes: 6.5 -> 4.6 s, as fast as 2 threads of one process."""
    import cv2
    from dask.distributed import WorkerPlugin

    class LeanWorker(WorkerPlugin):
        name = "maskprep-lean-worker"

        def setup(self, worker: Any) -> None:
            keep_freed_memory()
            cv2.setNumThreads(1)

    return LeanWorker()


def _handshake(address: str, timeout: float) -> None:
    """Connect to ``address`` and exchange dask's handshake within ``timeout`` seconds. The
    Client reads the handshake with no time limit: it waited for ever on a server that takes
    the connection and says nothing (an HTTP server: the dashboard's port), and took another
    server's first bytes for a frame size to allocate ('HTTP/1.1': 3 EiB)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect
    from distributed.security import Security

    async def exchange() -> None:
        args = Security().get_connection_args("client")
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **args), timeout)
        await comm.close()

    with ThreadPoolExecutor(1) as pool:  # a loop of its own, whether this thread runs one
        pool.submit(asyncio.run, exchange()).result()


def start_client(workers: int | None, scheduler: str | None, timeout: float,
                 memory_limit: int | None = None) -> tuple[Any, Any]:
    """A dask client: of a new local cluster of ``workers`` processes sharing
    ``memory_limit``, or of the scheduler at ``scheduler``; and the cluster, if new."""
    from dask.distributed import Client, LocalCluster

    if scheduler is None:
        memory = worker_memory(workers or 1, memory_limit)
        if memory < MIN_WORKER_MEMORY:  # dask pauses such a worker before its first task
            raise BadValueError(
                f"{workers or 1} workers sharing {memory * (workers or 1) / 2**20:.0f} MiB "
                f"get {memory / 2**20:.0f} MiB each; accepted: at least "
                f"{MIN_WORKER_MEMORY // 2**20} MiB a worker (raise --memory-limit, or use "
                "fewer --workers)")
        # ":0": the scheduler's HTTP server on a free port (None still takes 8787, and a
        # second run at once would warn)
        # The workers' own logs (a failed task's traceback) stay quiet: each file's failure
        # is reported in one line, and a lost worker as such.
        cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                               dashboard_address=":0", host="127.0.0.1",
                               memory_limit=memory,
                               silence_logs=logging.CRITICAL)
        client = Client(cluster)
        client.register_plugin(lean_worker_plugin())
        return client, cluster
    address = check_scheduler_address(scheduler)
    try:
        _handshake(address, timeout)
        return Client(address, timeout=f"{timeout}s"), None
    except (OSError, TimeoutError):
        raise BadValueError(f"no dask scheduler answered at {shown(scheduler)} within "
                            f"{timeout:g} s") from None
    except Exception:  # bytes that are no dask message: struct, msgpack or memory errors
        raise BadValueError(f"the server at {shown(scheduler)} answered, but not as a dask "
                            "scheduler; accepted: a dask.distributed scheduler's address (its "
                            "port is 8786 by default; 8787 is its dashboard)") from None


def scheduler_worker_memory(scheduler: str, timeout: float) -> int | None:
    """The memory limit of the smallest worker of the cluster at ``scheduler`` (what a whole
    image sent to any of them may use), or None when none states one."""
    client, _ = start_client(None, scheduler, timeout)
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
    finally:
        client.close()
    limits = [int(w["memory_limit"]) for w in workers if w.get("memory_limit")]
    return min(limits) if limits else None
