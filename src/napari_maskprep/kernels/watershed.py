"""Distance-transform watershed, shared by ``segment.watershed`` and ``refine.split_touching``.

Reference: ``scipy.ndimage.distance_transform_edt`` -> ``skimage.feature.peak_local_max``
-> ``skimage.segmentation.watershed``. Peaks and the flooding depend only on the order and
the ties of the distances, so both run on the exact *squared* distances (integers), which
order and tie exactly as the reference's distances. Fast path: in 2D they come from
``cv2.distanceTransform(DIST_L2, DIST_MASK_PRECISE)`` squared and rounded. OpenCV's distance
may be a float32 step or two off the exact one, and differently from call to call and from
one thread count to another (measured on OpenCV 5.1): left as it is, float noise would
decide ties, and one input would give two labelings. Rounding the square recovers the exact
integer while distances stay below 512; scipy's exact transform runs beyond.

Without markers or image (``refine.split_touching``, ``segment.watershed`` on a mask alone)
each connected component is split on its own in its bounding box, and only a component
with two peaks or more is flooded: the reference run on each component alone, to the
pixel. On the whole array the reference differs from that only where two peaks of one
component have equal distance: skimage's heap takes equal markers in an order that depends
on every marker in the array, so the pixels where their floods meet at equal distances may
go to the other peak (0.1-2% of the mask on the BBBC039 test field; no label, id or other
pixel changes). Ours does not depend on what else the array holds.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from ..core.errors import BadValueError, MaskprepWarning
from .components import dense_ids

__all__ = ["distance_watershed", "split_labels"]

# Below this distance a float32 step of OpenCV's distance moves its square by at most 1/32
# and the float32 product rounds by at most 1/128, so rounding the square recovers the exact
# integer while OpenCV is fewer than 15 steps off. Measured on OpenCV 5.1 (1900 random and
# real masks up to 2048 x 2048, 1 and 2 threads): at most 2 steps off below 768; from 768 on,
# on one thread, 9 steps (sqrt(922**2 + 1) came back as 922.0), squares a whole unit off.
_ROUNDED_SQUARE_MAX_DISTANCE = 512
_CHUNK = 1 << 16  # pixels a look-up handles at once, so its temporaries stay in cache


def distance_watershed(
    mask: np.ndarray,
    *,
    min_distance: int,
    markers: np.ndarray | None = None,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Split the foreground of ``mask`` into labels by a marker-based watershed (2D and 3D).

    Parameters
    ----------
    mask : ndarray
        Foreground where ``mask > 0`` (a 0/1 mask, or labels treated as one mask).
    min_distance : int
        Without ``markers``: markers are the peaks of the Euclidean distance to the
        background, at least ``min_distance`` pixels apart (``peak_local_max`` with a
        ``2 * min_distance + 1`` square footprint), found in each connected component.
    markers : ndarray, optional
        Either an N x ndim array of point coordinates (point ``i`` seeds label ``i + 1``;
        points on background are ignored with a warning) or an integer labels image of
        ``mask``'s shape (its labels inside the foreground are the markers, ids kept).
    image : ndarray, optional
        Grey image of ``mask``'s shape. When given, the watershed floods ``-image``, so
        bright objects are split along darker seams; invert dark-object images first.
        Otherwise it floods the negated distance transform (round objects split at necks).

    Returns
    -------
    labels : ndarray of int32
        0 on background; every foreground pixel is labelled: a connected component that
        holds no marker becomes one label of its own (ids after the markers' ids).
    """
    mask = np.asarray(mask)
    if isinstance(min_distance, bool) or int(min_distance) != min_distance or min_distance < 1:
        raise BadValueError(
            f"min_distance={min_distance!r} is not accepted; expected an integer >= 1"
        )
    if image is not None and np.shape(image) != mask.shape:
        raise BadValueError(
            f"image has shape {np.shape(image)}; accepted: a grey image of the mask's shape "
            f"{mask.shape}"
        )
    if markers is None and image is None:
        return _split_components(_as_uint8_mask(mask), int(min_distance))
    foreground = mask > 0
    if not foreground.any():  # nothing to split (peak_local_max's 3D answer has 2 columns)
        return np.zeros(foreground.shape, np.int32)
    seeds = None if markers is None else _marker_image(foreground, np.asarray(markers))
    if seeds is None or image is None:
        distance = _squared_distance_to_background(foreground)
    if seeds is None:
        components = ndi.label(foreground)[0]
        peaks = peak_local_max(
            distance, min_distance=int(min_distance), labels=components, exclude_border=False
        )
        seeds = np.zeros(foreground.shape, np.int32)
        seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    surface = -(distance if image is None else np.asarray(image, dtype=np.float64))
    labels = watershed(surface, seeds, mask=foreground).astype(np.int32, copy=False)
    _label_unmarked(labels, foreground)
    return labels


def split_labels(labels: np.ndarray, *, min_distance: int) -> np.ndarray:
    """Each label of int32 ``labels`` split on its own by :func:`distance_watershed`, the
    pieces numbered 1..N by label id, then piece.

    A split never crosses or moves a boundary between labels: each label is split in its
    bounding box, where other labels count as background and the array's border, as for a
    mask, does not.
    """
    dense, _ = dense_ids(labels)
    out = np.zeros(labels.shape, np.int32)
    count = 0
    for index, box in enumerate(ndi.find_objects(dense), start=1):
        if box is None:
            continue
        # Background around the label inside the array; at the array's border nothing.
        pad = [(int(s.start > 0), int(s.stop < n)) for s, n in zip(box, labels.shape, strict=True)]
        own = np.pad(dense[box] == index, pad).view(np.uint8)
        inner = tuple(slice(before, own.shape[d] - after) for d, (before, after) in enumerate(pad))
        pieces = distance_watershed(own, min_distance=min_distance)[inner]
        inside = pieces > 0
        out[box][inside] = pieces[inside] + count
        count += int(pieces.max())
    return out


def _as_uint8_mask(mask: np.ndarray) -> np.ndarray:
    """The foreground (``mask > 0``) as a uint8 array whose non-zero pixels are foreground:
    a uint8 or bool mask as it is (no copy), other dtypes compared."""
    if mask.dtype == np.uint8:
        return mask
    if mask.dtype == bool:
        return mask.view(np.uint8)
    return (mask > 0).view(np.uint8)


def _split_components(mask: np.ndarray, min_distance: int) -> np.ndarray:
    """:func:`distance_watershed` without markers or image, one connected component at a
    time in its bounding box: the reference run on each component alone (module docstring).

    The reference's peaks are found per component (``peak_local_max(labels=...)``) and its
    flooding never leaves a component, so each component is decided on its own: its exact
    squared distance in its box (grown by one pixel of background where the array goes on:
    the nearest background of a component's pixel always lies there, and other components
    in the box count as background without moving it), its peaks by the reference's rules,
    and the watershed only where it holds two peaks or more. A component with one peak is
    one label, one without a peak is labelled after all peaks' labels, as the reference
    does. The labels are written into the component labels' own int32 array: 4 bytes a
    pixel and the boxes' small buffers, where the whole-array reference holds about 38.
    """
    labels, boxes = _components_with_boxes(mask)
    count = len(boxes)
    peaks_of = np.zeros(count + 1, np.int64)
    floods: list[tuple[int, tuple[slice, ...], np.ndarray]] = []
    has_background = not mask.all()
    for index, box in enumerate(boxes, start=1):
        if has_background and _one_peak_by_size(box, min_distance):
            peaks_of[index] = 1  # specks of a noisy mask: 50 us each in _component_peaks
            continue
        box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                    for s, n in zip(box, labels.shape, strict=True))
        own = labels[box] == index
        squared = _squared_distance_to_background(own)
        peaks = _component_peaks(own, squared, min_distance)
        peaks_of[index] = len(peaks)
        if len(peaks) > 1:
            seeds = np.zeros(own.shape, np.int32)
            seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
            np.negative(squared, out=squared)
            floods.append((index, box, watershed(squared, seeds, mask=own)))
    first = np.zeros(count + 1, np.int64)  # the first label of each component's peaks
    np.cumsum(peaks_of[:-1], out=first[1:])
    first += 1
    lookup = np.where(peaks_of == 1, first, 0)
    unmarked = np.flatnonzero(peaks_of[1:] == 0) + 1
    lookup[unmarked] = first[-1] + peaks_of[-1] + np.arange(len(unmarked))
    lookup[0] = 0
    for index, _, _ in floods:
        lookup[index] = 0
    _take_in_place(lookup.astype(np.int32), labels)
    for index, box, pieces in floods:
        inside = pieces > 0
        labels[box][inside] = pieces[inside] + np.int32(first[index] - 1)
    return labels


def _one_peak_by_size(box: tuple[slice, ...], min_distance: int) -> bool:
    """Whether a component whose array has background holds one peak by the size of its
    bounding ``box`` alone, as :func:`_component_peaks` finds them.

    It holds one at least: its largest distance is a peak, unless every pixel equals the
    largest in its square, where the distances are one value (the component is connected)
    and so 1 (it touches background), so that no pixel is the centre of a cross (which is
    2 from the background) and the opening removes them all. It holds at most one if no
    two of its pixels are ``min_distance`` apart (the first peak hides the others) or, at
    ``min_distance`` 1, where none is hidden, if it is one pixel.
    """
    widest = max(s.stop - s.start for s in box)
    return widest == 1 if min_distance == 1 else widest <= min_distance


def _components_with_boxes(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, ...]]]:
    """int32 face-connected components of a uint8 mask, numbered in raster order as
    ``scipy.ndimage.label`` numbers them, and each one's bounding box (``find_objects``:
    at 16 MP 56 ms with cv2's labelling, where cv2's statistics take 126)."""
    if mask.ndim == 2:
        labels = cv2.connectedComponentsWithAlgorithm(mask, 4, cv2.CV_32S, cv2.CCL_SAUF)[1]
    else:
        labels = np.empty(mask.shape, np.int32)
        ndi.label(mask, output=labels)
    return labels, ndi.find_objects(labels)


def _component_peaks(own: np.ndarray, squared: np.ndarray, min_distance: int) -> np.ndarray:
    """The peaks ``peak_local_max(exclude_border=False)`` finds in one component (``own``,
    its squared distance ``squared``), as crop coordinates in the reference's order.

    The reference's rules: pixels equal to the maximum of the component within the
    ``2 * min_distance + 1`` square; if every pixel of the component is one, the pixels a
    face-connected opening removes instead; only above the array's smallest distance
    (zero, unless the array has no background); highest first, ties in raster order; then
    a peak closer than ``min_distance`` (Chebyshev) to one kept before it is dropped.
    """
    size = 2 * min_distance + 1
    if own.ndim == 2:
        highest = cv2.dilate(squared, np.ones((size, size), np.uint8))
    else:
        highest = ndi.maximum_filter(squared, size=size, mode="constant", cval=0)
    candidates = (squared == highest) & own
    if np.count_nonzero(candidates) == np.count_nonzero(own):
        candidates = own ^ ndi.binary_opening(own)
    candidates &= squared > 0
    coords = np.argwhere(candidates)
    if len(coords) < 2:
        return coords
    coords = coords[np.argsort(-squared[candidates], kind="stable")]
    if min_distance == 1:
        return coords
    reach = min_distance - 1
    taken = np.zeros(own.shape, bool)
    kept = []
    for point in coords:
        if taken[tuple(point)]:
            continue
        kept.append(point)
        taken[tuple(slice(max(c - reach, 0), c + reach + 1) for c in point)] = True
    return np.array(kept)


def _take_in_place(lookup: np.ndarray, labels: np.ndarray) -> None:
    """``labels[...] = lookup[labels]`` in chunks: no full-size temporary."""
    flat = labels.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start:start + _CHUNK]
        np.take(lookup, part, out=part, mode="clip")


def _squared_distance_to_background(foreground: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distance of each foreground pixel to the nearest background
    pixel (integer values, float32 or float64): it orders and ties as the distance does."""
    if foreground.all():
        # No background: the distance is undefined; a flat surface leaves the split to markers.
        return np.zeros(foreground.shape, np.float32)
    if foreground.ndim == 2:
        distance = cv2.distanceTransform(
            foreground.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
        )
        if cv2.minMaxLoc(distance)[1] < _ROUNDED_SQUARE_MAX_DISTANCE:
            squared = cv2.multiply(distance, distance)
            return np.rint(squared, out=squared)
    distance = ndi.distance_transform_edt(foreground)
    return np.rint(np.square(distance, out=distance), out=distance)


def _marker_image(foreground: np.ndarray, markers: np.ndarray) -> np.ndarray:
    """int32 marker labels inside the foreground, from points or from a labels image."""
    if markers.shape == foreground.shape and markers.dtype.kind in "iub":
        return np.where(foreground, markers, 0).astype(np.int32)
    points = np.atleast_2d(markers)
    if points.ndim != 2 or points.shape[1] != foreground.ndim:
        raise BadValueError(
            f"markers has shape {markers.shape}; accepted: N x {foreground.ndim} point "
            f"coordinates or a labels image of shape {foreground.shape}"
        )
    index = np.rint(points).astype(np.intp)
    outside = np.any((index < 0) | (index >= np.array(foreground.shape)), axis=1)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise BadValueError(
            f"markers point {i} at {tuple(points[i].tolist())} is outside the mask of shape "
            f"{foreground.shape}; accepted: points inside it"
        )
    seeds = np.zeros(foreground.shape, np.int32)
    seeds[tuple(index.T)] = np.arange(1, len(index) + 1, dtype=np.int32)
    on_background = np.count_nonzero(~foreground[tuple(index.T)])
    if on_background:
        warnings.warn(
            f"{on_background} of {len(index)} marker points lie on background and were ignored",
            MaskprepWarning,
            stacklevel=3,
        )
        seeds[~foreground] = 0
    return seeds


def _label_unmarked(labels: np.ndarray, foreground: np.ndarray) -> None:
    """Give each foreground component the watershed left unlabelled a new label, in place."""
    unmarked = foreground & (labels == 0)
    if unmarked.any():
        components, _ = ndi.label(unmarked)
        labels[unmarked] = components[unmarked] + labels.max()
