"""Writing tiled BigTIFF masks (io.bigtiff): tile by tile, atomically, with provenance and
pixel size where the readers look for them."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_maskprep.cli import main
from napari_maskprep.io import (
    OutputExistsError,
    open_lazy,
    provenance,
    read_provenance,
    write_bigtiff,
)

from .test_omezarr import SMALL

PROVENANCE = provenance("maskprep: 1\nsteps: []\n", SMALL, source="big.tif")


def test_tiled_roundtrip_with_provenance_and_pixel_size(tmp_path):
    mask = da.from_array(SMALL, chunks=(100, 128))  # chunks unlike the tiles
    path = write_bigtiff(mask, tmp_path / "mask.tif", tile=(128, 256), pixel_size=(0.5, 0.25),
                         provenance=PROVENANCE)
    assert os.listdir(tmp_path) == ["mask.tif"]
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert tif.is_bigtiff and page.is_tiled and (page.tilelength, page.tilewidth) == (128, 256)
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        np.testing.assert_array_equal(page.asarray(), SMALL)
    assert read_provenance(path) == PROVENANCE
    with open_lazy(path) as image:
        assert image.pixel_size == pytest.approx((0.5, 0.25))
        assert image.data.chunks == ((300,), (500,))  # its tiles read in blocks of 1024 px
        np.testing.assert_array_equal(image.data.compute(), SMALL)


@pytest.mark.parametrize("ahead", [True, False])  # the next strip computed meanwhile, or not
def test_planes_are_pages(tmp_path, monkeypatch, ahead):
    if not ahead:
        monkeypatch.setattr("napari_maskprep.io.bigtiff._STRIPS_AHEAD_BYTES", 0)
    stack = np.stack([SMALL, 1 - SMALL, SMALL]).astype(np.int32)
    path = write_bigtiff(da.from_array(stack, chunks=(1, 256, 256)), tmp_path / "s.tif",
                         tile=(64, 64))
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 3 and all(p.is_tiled for p in tif.pages)
    np.testing.assert_array_equal(tifffile.imread(path), stack)


def test_a_volume_states_its_z_spacing_as_write_mask_does(tmp_path):
    stack = np.stack([SMALL, 1 - SMALL, SMALL])
    path = write_bigtiff(da.from_array(stack, chunks=(1, 256, 256)), tmp_path / "s.tif",
                         tile=(64, 64), pixel_size=(2.0, 0.5, 0.25))
    with open_lazy(path) as image:
        assert image.axes == "zyx" and image.pixel_size == (2.0, 0.5, 0.25)
        np.testing.assert_array_equal(image.data.compute(), stack)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.tags["XResolution"].value == (40000, 1)


def test_info_reads_its_provenance(tmp_path, capsys):
    path = write_bigtiff(SMALL, tmp_path / "mask.tif", provenance=PROVENANCE)
    assert main(["info", str(path), "--recipe"]) == 0
    assert capsys.readouterr().out == PROVENANCE["recipe"]


def test_existing_files_are_kept_unless_asked_and_ours(tmp_path):
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, SMALL)
    with pytest.raises(OutputExistsError, match="exists; it is left as it is"):
        write_bigtiff(SMALL, other)
    with pytest.raises(OutputExistsError, match="not written by maskprep"):
        write_bigtiff(SMALL, other, overwrite=True)
    ours = write_bigtiff(SMALL, tmp_path / "mask.tif", provenance=PROVENANCE)
    write_bigtiff(1 - SMALL, ours, provenance=PROVENANCE, overwrite=True)
    np.testing.assert_array_equal(tifffile.imread(ours), 1 - SMALL)
    assert sorted(os.listdir(tmp_path)) == ["mask.tif", "other.tif"]


def test_a_failed_write_leaves_no_file(tmp_path):
    def fail_late(block, block_info=None):
        if block_info[0]["chunk-location"] == (2, 0):
            raise OSError(28, "No space left on device")
        return block

    mask = da.from_array(SMALL, chunks=128).map_blocks(fail_late, dtype=np.uint8)
    with pytest.raises(OSError, match="No space left"):
        write_bigtiff(mask, tmp_path / "mask.tif", tile=(128, 128))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tile": (100, 128)}, r"tile=\(100, 128\); accepted: \(height, width\), multiples"),
        ({"pixel_size": (0.0, 1.0)},
         r"pixel_size=\(0.0, 1.0\); accepted: \(y, x\) or \(z, y, x\), positive"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_bigtiff(SMALL, tmp_path / "mask.tif", **kwargs)
    assert os.listdir(tmp_path) == []
