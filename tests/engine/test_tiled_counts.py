"""What the CLI reports of a tiled result, counted chunk by chunk, equals the whole-array
counts; a dask image's checksum is the in-memory one."""

from __future__ import annotations

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from napari_maskprep.batch import count_objects as count_in_memory
from napari_maskprep.core.arrays import checksum
from napari_maskprep.engine.tiled_components import count_objects


def test_objects_and_foreground_of_masks_and_labels_in_chunks():
    rng = np.random.default_rng(8)
    mask = (ndi.gaussian_filter(rng.random((90, 70)), 1.5) > 0.5).astype(np.uint8)
    labels = ndi.label(mask)[0].astype(np.int32) * 3  # sparse ids
    for array in (mask, labels):
        for chunks in ((7, 9), (90, 70), (1, 70)):
            got = count_objects(da.from_array(array, chunks=chunks))
            assert got == (count_in_memory(array), int(np.count_nonzero(array)))
    assert count_in_memory(mask) > 10


def test_the_checksum_of_a_dask_array_is_that_of_its_values():
    a = np.random.default_rng(1).integers(0, 60000, (301, 257, 3)).astype(">u2")
    assert checksum(da.from_array(a, chunks=(50, 100, 1))) == checksum(a)
    assert checksum(da.from_array(a, chunks=(50, 100, 1))) != checksum(a[::-1])
