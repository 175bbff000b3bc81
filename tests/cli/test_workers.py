"""Local dask workers are sized from the machine (or --memory-limit), not given the whole
machine's memory each."""

from __future__ import annotations

import psutil
import pytest

from napari_maskprep.batch import _client, worker_memory
from napari_maskprep.cli import main


def test_workers_share_the_memory_limit():
    assert worker_memory(8, 16 * 2**30) == 2 * 2**30
    assert worker_memory(3, 10) == 3
    assert worker_memory(2) == psutil.virtual_memory().total * 4 // 5 // 2


def test_a_local_cluster_gives_each_worker_its_share():
    client, cluster = _client(2, None, 10, memory_limit=2**30)
    try:
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    finally:
        client.close()
        cluster.close()
    assert limits == [2**29, 2**29]


def test_a_bad_memory_limit_is_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "r.yaml", str(tmp_path), "-o", str(tmp_path / "out"),
              "--memory-limit", "12"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == ("maskprep run: error: argument --memory-limit: '12' is not a memory size "
                   "of at least 1 MiB (e.g. 2GB, 512MiB)")
