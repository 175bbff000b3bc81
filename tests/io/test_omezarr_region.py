"""A region written back into an OME-Zarr store: level 0 and its pyramid as if the edited
array had been written whole, the chunks the region does not touch left byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_maskprep.io import open_lazy, write_ome_zarr, write_region


def _chunk_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and not p.name.startswith((".z", "zarr.json"))}


def _mask(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < 0.3).astype(np.uint8)


def test_a_region_written_back_equals_the_edited_array_written_whole(tmp_path):
    mask = _mask((2500, 2300), 0)
    store = write_ome_zarr(mask, tmp_path / "mask.zarr", chunks=(256, 256))
    before = _chunk_files(store)
    origin, region = (300, 500), _mask((400, 700), 1)
    written = write_region(store, origin, region)
    edited = mask.copy()
    edited[300:700, 500:1200] = region
    expected = write_ome_zarr(edited, tmp_path / "expected.zarr", chunks=(256, 256))
    got, want = open_lazy(store).levels, open_lazy(expected).levels
    assert len(got) == len(want) == 3
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.compute(), b.compute())
    after = _chunk_files(store)
    assert after.keys() == before.keys()
    changed = {k for k in after if after[k] != before[k]}
    # Level 0: rows 300-699 touch chunk rows 1-2, columns 500-1199 chunk columns 1-4; level 1
    # (every 2nd pixel): rows 150-349, columns 250-599: chunk rows 0-1, columns 0-2; level 2
    # (every 4th): rows 75-174, columns 125-299: chunk row 0, columns 0-1.
    touched = ({f"0/{i}/{j}" for i in (1, 2) for j in (1, 2, 3, 4)}
               | {f"1/{i}/{j}" for i in (0, 1) for j in (0, 1, 2)} | {"2/0/0", "2/0/1"})
    assert changed <= touched and written == len(touched)
    assert len(changed) >= 12  # a random region changes nearly every chunk it touches


def test_a_region_of_a_3d_store_and_a_region_at_the_far_corner(tmp_path):
    mask = _mask((3, 1300, 1100), 2)
    store = write_ome_zarr(mask, tmp_path / "stack.zarr", axes="zyx", chunks=(1, 512, 512))
    region = _mask((1, 300, 150), 3)
    # Level 0: chunk rows 1-2, columns 1-2; level 1 (650x550): rows 500-649, columns 475-549
    # cross the chunk faces at 512 too.
    assert write_region(store, (2, 1000, 950), region) == 4 + 4
    edited = mask.copy()
    edited[2:3, 1000:1300, 950:1100] = region
    expected = write_ome_zarr(edited, tmp_path / "expected.zarr", axes="zyx",
                              chunks=(1, 512, 512))
    for a, b in zip(open_lazy(store).levels, open_lazy(expected).levels, strict=True):
        np.testing.assert_array_equal(a.compute(), b.compute())


def test_a_region_outside_the_store_or_of_values_it_cannot_hold_is_refused(tmp_path):
    store = write_ome_zarr(np.zeros((64, 64), np.uint8), tmp_path / "m.zarr")
    before = _chunk_files(store)
    with pytest.raises(ValueError, match=r"a region of shape \(10, 10\) at \(60, 0\) does not "
                                         r"lie in .*m.zarr \(level 0 of shape \(64, 64\)\)"):
        write_region(store, (60, 0), np.ones((10, 10), np.uint8))
    with pytest.raises(TypeError, match=r"a region of dtype int32 with values up to 300; "
                                        r".*m.zarr holds uint8"):
        write_region(store, (0, 0), np.full((2, 2), 300, np.int32))
    assert _chunk_files(store) == before
    assert write_region(store, (0, 0), np.full((2, 2), 1, np.int32)) == 1


def test_an_image_is_never_written_and_labels_inside_an_ngff_05_image_are(tmp_path):
    import zarr
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_image

    image = np.random.default_rng(4).integers(0, 255, (600, 500), dtype=np.uint8)
    group = zarr.open_group(tmp_path / "image.zarr", mode="w", zarr_format=3)
    write_image(image, group, axes="yx", fmt=FormatV05(), scaler=None)
    with pytest.raises(ValueError, match=r"image.zarr is an OME-Zarr image, not an "
                                         r"image-label .*images are never written"):
        write_region(tmp_path / "image.zarr", (0, 0), np.ones((2, 2), np.uint8))
    mask = _mask((600, 500), 5)
    label = write_ome_zarr(mask, into=tmp_path / "image.zarr", name="mask")
    assert (label / "zarr.json").is_file()
    write_region(label, (590, 10), np.ones((10, 20), np.uint8))
    mask[590:600, 10:30] = 1
    np.testing.assert_array_equal(open_lazy(label).data.compute(), mask)
    np.testing.assert_array_equal(open_lazy(tmp_path / "image.zarr").data.compute(), image)
