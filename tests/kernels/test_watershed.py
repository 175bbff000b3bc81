"""kernels.watershed equals its reference: scipy's exact distance transform (squared, on
every call), then skimage's peak_local_max and watershed, run on each connected component
alone; the same as the reference run on the whole array except where the floods of equal
peaks of one component meet; and it checks its inputs."""

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


def reference_per_component(mask, min_distance):
    """The reference run on each face-connected component alone, in its bounding box grown
    by one pixel where the array goes on; ids by component then peak, components without
    a peak after all of them."""
    components = ndi.label(mask)[0]
    out = np.zeros(mask.shape, np.int32)
    count, unmarked = 0, []
    for index, box in enumerate(ndi.find_objects(components), start=1):
        box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                    for s, n in zip(box, mask.shape, strict=True))
        own = components[box] == index
        pieces = reference_watershed(own.view(np.uint8), min_distance)
        if pieces.max() == 0:
            unmarked.append((box, own))
            continue
        out[box][own] = pieces[own] + count
        count += int(pieces.max())
    for label, (box, own) in enumerate(unmarked, start=count + 1):
        out[box][own] = label
    return out


def components_with_equal_peaks(mask, min_distance):
    """Pixels of the components where two of the reference's peaks have equal distance."""
    distance = ndi.distance_transform_edt(mask)
    components = ndi.label(mask)[0]
    peaks = feature.peak_local_max(distance, min_distance=min_distance, labels=components,
                                   exclude_border=False)
    owner, value = components[tuple(peaks.T)], distance[tuple(peaks.T)]
    pairs, counts = np.unique(np.stack([owner, value]), axis=1, return_counts=True)
    return np.isin(components, pairs[0][counts > 1].astype(int))


@pytest.mark.parametrize("min_distance", [1, 3, 7])
def test_watershed_fast_distance_equals_scipy(nuclei_labels, min_distance):
    mask = (nuclei_labels > 0).astype(np.uint8)
    fast = ws._squared_distance_to_background(mask > 0)
    assert fast.dtype == np.float32
    np.testing.assert_array_equal(fast, np.rint(ndi.distance_transform_edt(mask) ** 2))
    labels = ws.distance_watershed(mask, min_distance=min_distance)
    np.testing.assert_array_equal(labels, reference_per_component(mask, min_distance))
    # The whole-array reference: the same on every component whose peaks all differ; where
    # two peaks of a component are equal, skimage's heap takes equal markers in an order
    # that depends on every marker of the array, and the pixels where their floods meet at
    # equal distances may go the other way (here 0.1-2% of the mask: 974 px at 1, 51 at 3).
    whole = reference_watershed(mask, min_distance)
    differ = labels != whole
    assert not differ[~components_with_equal_peaks(mask, min_distance)].any()
    assert np.count_nonzero(differ) <= 0.025 * np.count_nonzero(mask)


@pytest.mark.parametrize(("mask", "min_distance"), [
    (np.pad(np.ones((2, 2), np.uint8), 2), 1),  # no pixel above its neighbours: all peaks
    (np.pad(np.ones((1, 6), np.uint8), 2), 3),  # a line: peaks min_distance apart
    (np.ones((5, 6), np.uint8), 2),  # no background: no peak, one label
    (disks((30, 60), [(14, 10), (15, 27), (15, 50)], 8), 4),  # border-touching and apart
])
def test_watershed_peak_rules_equal_the_whole_array_reference(mask, min_distance):
    np.testing.assert_array_equal(ws.distance_watershed(mask, min_distance=min_distance),
                                  reference_watershed(mask, min_distance))


def test_watershed_3d_equals_the_reference_per_component():
    zz, yy, xx = np.indices((20, 30, 40))
    mask = np.zeros(zz.shape, bool)
    for z, y, x, r in [(10, 12, 10, 7), (10, 14, 21, 6), (9, 15, 34, 5), (0, 28, 2, 3)]:
        mask |= (zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    labels = ws.distance_watershed(mask.view(np.uint8), min_distance=3)
    np.testing.assert_array_equal(labels, reference_per_component(mask.view(np.uint8), 3))
    assert labels.max() >= 4


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("min_distance", [1, 2, 3])
def test_specks_hold_one_peak_without_a_search(monkeypatch, ndim, min_distance):
    """A noisy mask's specks were each searched for peaks (50 us a speck: a thresholded
    1 MP noise field of 77 000 specks took 6 s); those that can hold only one are not."""
    rng = np.random.default_rng(ndim * 10 + min_distance)
    shape = (60, 70) if ndim == 2 else (12, 20, 24)
    mask = (rng.random(shape) > 0.6).view(np.uint8)
    mask[(slice(2, 9),) * ndim] = 1  # one component wide enough to split
    searched = []
    search = ws._component_peaks
    monkeypatch.setattr(ws, "_component_peaks",
                        lambda own, *args: searched.append(own.shape) or search(own, *args))
    np.testing.assert_array_equal(ws.distance_watershed(mask, min_distance=min_distance),
                                  reference_per_component(mask, min_distance))
    boxes = ndi.find_objects(ndi.label(mask)[0])
    wide = [b for b in boxes if not (max(s.stop - s.start for s in b) == 1 if min_distance == 1
                                     else max(s.stop - s.start for s in b) <= min_distance)]
    assert len(searched) == len(wide) < len(boxes)


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
    np.testing.assert_array_equal(first, reference_per_component(mask.view(np.uint8), 4))
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
