"""Atomic writes and the cleaning of killed writes' temporary files (io.files)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from napari_maskprep.core.processes import host_id
from napari_maskprep.io import provenance, read_image, write_mask
from napari_maskprep.io.files import atomic_write, clean_stale_temporaries


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "mask.tif"
    target.write_bytes(b"old")

    def fails(tmp):
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, fails)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["mask.tif"]
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["mask.tif"]


def test_only_temporaries_of_gone_processes_of_this_machine_are_removed(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    names = {
        "stale": f".maskprep-tmp-{host_id()}-{gone}-a.tif.x1.tif",
        "running": f".maskprep-tmp-{host_id()}-{os.getpid()}-b.tif.x2.tif",
        "other machine": f".maskprep-tmp-00000000-{gone}-c.tif.x3.tif",
        "a person's": ".maskprep-notes.txt",
    }
    for name in names.values():
        (tmp_path / name).write_text("x")
    (tmp_path / f".maskprep-tmp-{host_id()}-{gone}-d.zarr.x4").mkdir()
    assert clean_stale_temporaries(tmp_path) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(
        names[k] for k in ("running", "other machine", "a person's"))


@pytest.mark.parametrize("suffix", [".tif", ".png", ".zarr"])
@pytest.mark.parametrize("char", ["x", "\u00e9"])  # 1 and 2 bytes in UTF-8
def test_a_name_near_the_file_system_s_limit_is_written(tmp_path, suffix, char):
    # The temporary name held the whole final name: 'File name too long' for a name
    # of 250 bytes, which fits the 255 a name may have.
    name = char * ((250 - len(suffix)) // len(char.encode())) + suffix
    mask = np.eye(4, dtype=np.uint8)
    # Then a file renamed over (a file or store without provenance is nobody's to replace).
    for written in (mask,) if suffix == ".zarr" else (mask, 1 - mask):
        write_mask(tmp_path / name, written, metadata=provenance("recipe", written))
        assert [p.name for p in tmp_path.iterdir()] == [name]
        if suffix != ".zarr":
            assert (read_image(tmp_path / name) > 0).tolist() == written.astype(bool).tolist()


def test_a_bool_mask_is_written_0_255_and_negative_labels_are_refused(tmp_path):
    """A bool mask went to PNG as uint16 0/1 (black), and label -1 wrapped to 65535."""
    mask = np.eye(4, dtype=bool)
    write_mask(tmp_path / "a.png", mask)
    stored = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint8 and stored.tolist() == (mask * 255).tolist()
    write_mask(tmp_path / "a.tif", mask)
    assert read_image(tmp_path / "a.tif").tolist() == mask.astype(np.uint8).tolist()
    with pytest.raises(ValueError, match=r"b.png: labels below 0 \(min -1\); accepted: a 0/1 "
                                         r"mask or labels >= 0"):
        write_mask(tmp_path / "b.png", -np.eye(4, dtype=np.int32))
    assert not (tmp_path / "b.png").exists()


def test_a_mask_of_one_plane_or_of_4d_reads_back_in_its_shape(tmp_path):
    """Without its shape in the TIFF, (1, 3, 4) read back as (3, 4) and (2, 2, 17, 33) as
    (4, 17, 33), from write_mask and from the tiled BigTIFF writer alike."""
    import dask.array as da

    from napari_maskprep.io import write_bigtiff

    for shape in [(1, 3, 4), (2, 2, 17, 33), (3, 5, 6)]:
        mask = (np.arange(np.prod(shape)) % 2).astype(np.uint8).reshape(shape)
        name = "x".join(map(str, shape))
        write_mask(tmp_path / f"{name}.tif", mask)
        write_bigtiff(da.from_array(mask, chunks=16), tmp_path / f"{name}-big.tif")
        for path in (tmp_path / f"{name}.tif", tmp_path / f"{name}-big.tif"):
            np.testing.assert_array_equal(read_image(path), mask)
            assert read_image(path).shape == shape


@pytest.mark.parametrize(("name", "mask", "message"), [
    ("f.png", np.full((3, 3), 0.5, np.float32), "PNG holds a 0/1 mask or integer labels; "
                                                 "got float32 values"),  # 0.5 became 0
    ("e.tif", np.zeros((0, 5), np.uint8), r"a mask of shape \(0, 5\); accepted"),  # unreadable
    ("e.png", np.zeros((0, 5), np.uint8), r"a mask of shape \(0, 5\)"),  # cv2's assertion
    ("one.tif", np.zeros(5, np.uint8), r"a mask of shape \(5,\)"),  # a bare IndexError
])
def test_what_write_mask_cannot_write_well_is_one_line(tmp_path, name, mask, message):
    with pytest.raises(ValueError, match=message):
        write_mask(tmp_path / name, mask)
    assert not (tmp_path / name).exists()


_OLD = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)
_NEW = 1 - _OLD

# Replaces the store argv[1] (maskprep's, holding _OLD) with _NEW and is killed (SIGKILL:
# nothing of ours runs after it) at the moment argv[2] names.
_KILLED_REPLACEMENT = """
import os, signal, sys
from pathlib import Path
import numpy as np
from napari_maskprep.io import files, omezarr, provenance, write_ome_zarr

store, moment = Path(sys.argv[1]), sys.argv[2]
new = np.array([[1, 0, 0], [0, 1, 1]], np.uint8)

def kill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if moment == "while writing":
    omezarr._write_metadata = kill
elif moment == "after the swap":
    swap = files._exchange
    files._exchange = lambda first, second: swap(first, second) and kill()
elif moment == "between the renames":  # on a file system that cannot swap two folders
    files._exchange = lambda first, second: False
    rename = Path.rename

    def rename_then_die(self, target):
        if self.name.startswith(".maskprep-tmp-") and Path(target) == store:
            kill()
        return rename(self, target)

    Path.rename = rename_then_die
write_ome_zarr(new, store, provenance=provenance("maskprep: 1", new), overwrite=True)
"""


def _store_values(store):
    from napari_maskprep.io import open_lazy

    with open_lazy(store) as image:
        return image.data.compute().tolist()


@pytest.mark.parametrize(("moment", "after_the_kill", "after_cleaning"), [
    ("while writing", "old", "old"),
    ("after the swap", "new", "new"),
    ("between the renames", None, "old"),  # no store until the next run puts the old back
])
def test_a_store_replaced_by_a_killed_run_is_the_old_or_the_new_one(
        tmp_path, moment, after_the_kill, after_cleaning):
    from napari_maskprep.io import provenance, write_ome_zarr

    store = write_ome_zarr(_OLD, tmp_path / "mask.zarr", provenance=provenance("x", _OLD))
    killed = subprocess.run([sys.executable, "-c", _KILLED_REPLACEMENT, str(store), moment],
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    values = {"old": _OLD.tolist(), "new": _NEW.tolist()}
    if after_the_kill is None:
        assert not store.exists()
    else:
        assert _store_values(store) == values[after_the_kill]
    assert clean_stale_temporaries(tmp_path) >= 1
    assert os.listdir(tmp_path) == ["mask.zarr"]
    assert _store_values(store) == values[after_cleaning]


def test_a_store_that_cannot_be_renamed_in_leaves_the_old_one(tmp_path, monkeypatch):
    from pathlib import Path

    from napari_maskprep.io import files, provenance, write_ome_zarr

    store = write_ome_zarr(_OLD, tmp_path / "mask.zarr", provenance=provenance("x", _OLD))
    monkeypatch.setattr(files, "_exchange", lambda first, second: False, raising=False)
    rename = Path.rename

    def refused(self, target):
        if self.name.startswith(".maskprep-tmp-"):
            raise OSError(errno.EIO, "Input/output error")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refused)
    with pytest.raises(OSError, match="Input/output error"):
        write_ome_zarr(_NEW, store, provenance=provenance("x", _NEW), overwrite=True)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["mask.zarr"]
    assert _store_values(store) == _OLD.tolist()


def _record_syncs(monkeypatch, files):
    """The order of fsync (of which path, file or folder, and its size then) and renames."""
    events = []
    fsync, replace, exchange = os.fsync, os.replace, files._exchange

    def synced(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", os.path.basename(path), os.path.isdir(path),
                       os.fstat(fd).st_size))
        fsync(fd)

    monkeypatch.setattr(files.os, "fsync", synced)
    monkeypatch.setattr(files.os, "replace", lambda a, b: (events.append(
        ("rename", os.path.basename(b))), replace(a, b)))
    monkeypatch.setattr(files, "_exchange", lambda a, b: (events.append(
        ("rename", b.name)), exchange(a, b))[1])
    return events


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd names")
def test_a_written_file_is_on_disk_before_its_rename_and_the_rename_after(tmp_path,
                                                                          monkeypatch):
    # Renamed without fsync, a power loss could leave an empty file under the final name.
    from napari_maskprep.io import files

    events = _record_syncs(monkeypatch, files)
    atomic_write(tmp_path / "mask.txt", lambda tmp: tmp.write_text("0123456789"))
    (temporary,) = [e[1] for e in events if e[0] == "fsync" and not e[2]]
    assert temporary.startswith(".maskprep-tmp-")
    assert events == [("fsync", temporary, False, 10), ("rename", "mask.txt"),
                      ("fsync", tmp_path.name, True, events[2][3])]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd names")
def test_a_store_is_on_disk_before_it_is_swapped_in_and_the_swap_after(tmp_path,
                                                                        monkeypatch):
    from napari_maskprep.io import files, provenance, write_ome_zarr

    store = write_ome_zarr(_OLD, tmp_path / "mask.zarr", provenance=provenance("x", _OLD))
    events = _record_syncs(monkeypatch, files)
    write_ome_zarr(_NEW, store, provenance=provenance("x", _NEW), overwrite=True)
    swap = events.index(("rename", "mask.zarr"))
    synced_files = {e[1] for e in events[:swap] if e[0] == "fsync" and not e[2]}
    assert {".zattrs", ".zarray"} <= synced_files  # the new store's, each before the swap
    assert events[swap + 1][:3] == ("fsync", tmp_path.name, True)
    assert _store_values(store) == _NEW.tolist()
