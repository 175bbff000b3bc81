"""kernels.watershed equals its reference: scipy's exact distance transform (squared, on
every call), then skimage's peak_local_max and watershed; and it checks its inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import feature, segmentation

from napari_maskprep.kernels import watershed as ws

from ..segment_images import disks, nuclei_field_labels


@pytest.fixture(scope="module")
def nuclei_labels() -> np.ndarray:
    return nuclei_field_labels()


def reference_watershed(mask, min_distance):
    distance = ndi.distance_transform_edt(mask)
    peaks = feature.peak_local_max(distance, min_distance=min_distance,
                                   labels=ndi.label(mask)[0], exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, markers, mask=mask > 0)


@pytest.mark.parametrize("min_distance", [3, 7])
def test_watershed_fast_distance_equals_scipy(nuclei_labels, min_distance):
    mask = (nuclei_labels > 0).astype(np.uint8)
    fast = ws._squared_distance_to_background(mask > 0)
    assert fast.dtype == np.float32
    np.testing.assert_array_equal(fast, np.rint(ndi.distance_transform_edt(mask) ** 2))
    labels = ws.distance_watershed(mask, min_distance=min_distance)
    reference = reference_watershed(mask, min_distance)
    # Identical where the reference labels, and nothing of the mask is left unlabelled.
    np.testing.assert_array_equal(labels[reference > 0], reference[reference > 0])
    np.testing.assert_array_equal(labels > 0, mask > 0)


def test_squared_distance_is_exact_on_every_call():
    # OpenCV 5.1's precise distance is one float32 step off the exact one on some pixels of
    # this mask, differently from call to call: rounded squares are the exact integers.
    yy, xx = np.mgrid[:40, :60]
    mask = ((yy - 20) ** 2 + (xx - 19) ** 2 <= 100) | ((yy - 20) ** 2 + (xx - 38) ** 2 <= 100)
    mask[:, :3] = True
    exact = np.rint(ndi.distance_transform_edt(mask) ** 2)
    for _ in range(60):
        np.testing.assert_array_equal(ws._squared_distance_to_background(mask), exact)
    first = ws.distance_watershed(mask.view(np.uint8), min_distance=4)
    np.testing.assert_array_equal(first, reference_watershed(mask.view(np.uint8), 4))
    for _ in range(60):
        np.testing.assert_array_equal(ws.distance_watershed(mask.view(np.uint8), min_distance=4),
                                      first)


def test_distance_watershed_helper_checks_inputs():
    mask = disks((21, 31), [(10, 9), (10, 21)], 7)
    with pytest.raises(ValueError, match="min_distance=0 is not accepted"):
        ws.distance_watershed(mask, min_distance=0)
    with pytest.raises(ValueError, match=r"markers point 0 at \(30.0, 1.0\) is outside"):
        ws.distance_watershed(mask, min_distance=2, markers=np.array([[30.0, 1.0]]))
    with pytest.raises(ValueError, match="image has shape"):
        ws.distance_watershed(mask, min_distance=2, image=np.zeros((3, 3)))
