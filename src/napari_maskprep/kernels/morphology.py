"""Erosion, dilation, opening and closing of masks and labels by scikit-image's footprints.

Reference: ``skimage.morphology.erosion`` / ``dilation`` / ``opening`` / ``closing`` of
``mask.astype(bool)`` by ``disk`` / ``footprint_rectangle`` / ``diamond`` (``ball`` /
``footprint_rectangle`` / ``octahedron`` in 3D). Pixels outside the array are neutral, as
there with these symmetric footprints: erosion does not eat in from the border, dilation
does not grow out of it.

A uint8 array is a 0/1 mask, an int32 array labels. Erosion and opening treat each label as
its own mask, other labels counting as background. Dilation grows each label into the
background, a pixel taking the nearest label's id in the footprint's metric (Euclidean for
the disk: ``skimage.segmentation.expand_labels``; chessboard for the square, city block for
the diamond), so the grown labels' union is the dilation of their mask. No label ever merges
with another.

Paths, each tested equal to the reference on its own (``tests/kernels/test_morphology.py``):

- 2D masks by disks and diamonds from the radius ``_PACKED_MIN_RADIUS`` names on: bit-packed
  (:mod:`.bitpacked`), each footprint being a union of centred rectangles.
- 3D masks by balls and octahedra of more than ``_DISTANCE_MIN_PIXELS`` voxels: an exact
  distance transform (``scipy.ndimage``), whose cost does not grow with the radius; erosion
  keeps the voxels farther than the radius from the background.
- Otherwise ``cv2.erode`` / ``cv2.dilate`` with the footprint array; in 3D each z-slice of
  the footprint filters every plane, and the planes are combined along z.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import morphology

from . import bitpacked

__all__ = ["closing", "dilation", "erosion", "footprint", "opening", "runs_bit_packed", "z_slices"]

# Balls and octahedra with more voxels than this erode and dilate 3D masks faster through an
# exact distance transform, whose cost does not grow with the radius, than through footprint
# filters, whose cost grows with the footprint's pixel count (measured crossovers). 2D masks
# take the bit-packed filters, faster than a distance transform at every radius up to 50.
_DISTANCE_MIN_PIXELS = {"disk": 30000, "diamond": 1000}
# 2D masks are eroded and dilated bit-packed by disks and diamonds of at least this radius,
# in one step or in two (opening, closing: one packing serves both): measured faster there
# than cv2 with the footprint array.
_PACKED_MIN_RADIUS = {("disk", 1): 4, ("diamond", 1): 5, ("disk", 2): 1, ("diamond", 2): 1}


@functools.lru_cache(maxsize=64)
def footprint(name: str, radius: int, ndim: int) -> np.ndarray:
    """The read-only uint8 footprint ``'disk'``, ``'square'`` or ``'diamond'`` of ``radius``
    in ``ndim`` dimensions (the ball, cube or octahedron in 3D), as scikit-image builds it."""
    if name == "square":
        fp = morphology.footprint_rectangle((2 * radius + 1,) * ndim)
    elif name == "disk":
        fp = morphology.disk(radius) if ndim == 2 else morphology.ball(radius)
    else:
        fp = morphology.diamond(radius) if ndim == 2 else morphology.octahedron(radius)
    fp = np.ascontiguousarray(fp, dtype=np.uint8)
    fp.flags.writeable = False
    return fp


def erosion(a: np.ndarray, name: str, radius: int) -> np.ndarray:
    """A uint8 0/1 mask or int32 labels eroded by :func:`footprint` ``(name, radius)``."""
    fp = footprint(name, radius, a.ndim)
    if a.dtype == np.uint8:
        return _mask_steps(a, name, fp, radius, (True,))
    return _erode_labels(a, fp)


def dilation(a: np.ndarray, name: str, radius: int) -> np.ndarray:
    """A uint8 0/1 mask or int32 labels dilated by :func:`footprint` ``(name, radius)``;
    labels grow into the background only."""
    if a.dtype == np.uint8:
        return _mask_steps(a, name, footprint(name, radius, a.ndim), radius, (False,))
    return _dilate_labels(a, name, radius)


def opening(a: np.ndarray, name: str, radius: int) -> np.ndarray:
    """Erosion then dilation; on labels each label's own opening."""
    fp = footprint(name, radius, a.ndim)
    if a.dtype == np.uint8:
        return _mask_steps(a, name, fp, radius, (True, False))
    # A pixel within the footprint of an eroded pixel of label L is itself in L, so the max
    # filter of the eroded labels is each label's own opening.
    return _max_filter(_cv_labels(_erode_labels(a, fp)), fp).astype(np.int32)


def closing(a: np.ndarray, name: str, radius: int) -> np.ndarray:
    """Dilation then erosion; on labels only background pixels take the closed labels' ids,
    so a gap closes only where one label alone surrounds it."""
    fp = footprint(name, radius, a.ndim)
    if a.dtype == np.uint8:
        return _mask_steps(a, name, fp, radius, (False, True))
    closed = _erode_labels(_dilate_labels(a, name, radius), fp)
    return np.where(a > 0, a, closed)


def z_slices(fp: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """The non-empty z-slices of a 3D footprint, each distinct slice once with its offsets
    from the centre slice: a 3D filter is these 2D filters on every plane, combined along z.
    """
    radius = fp.shape[0] // 2
    groups: dict[bytes, tuple[np.ndarray, list[int]]] = {}
    for i, plane in enumerate(fp):
        if plane.any():
            groups.setdefault(plane.tobytes(), (plane, []))[1].append(i - radius)
    return list(groups.values())


def runs_bit_packed(name: str, radius: int, ndim: int, steps: int) -> bool:
    """Whether a mask of ``ndim`` dimensions takes the bit-packed path for ``steps`` erosions
    and dilations by :func:`footprint` ``(name, radius)``."""
    return _packed_rectangles(name, radius, ndim, steps) is not None


# --------------------------------------------------------------------------- masks
def _mask_steps(mask: np.ndarray, name: str, fp: np.ndarray, radius: int,
                erosions: tuple[bool, ...]) -> np.ndarray:
    """A uint8 0/1 mask eroded (True) and dilated (False) by ``fp``, in the given order."""
    rectangles = _packed_rectangles(name, radius, mask.ndim, len(erosions))
    if rectangles is not None:
        return bitpacked.filter_steps(mask, rectangles, erosions)
    for erosion_step in erosions:
        if not _use_distance(name, fp):
            mask = _min_filter(mask, fp) if erosion_step else _max_filter(mask, fp)
        elif erosion_step:
            mask = (_distance_to_zero(mask, name) > radius).view(np.uint8)
        else:
            mask = (_distance_to_zero((mask == 0).view(np.uint8), name) <= radius).view(np.uint8)
    return mask


@functools.lru_cache(maxsize=64)
def _rectangles(name: str, radius: int) -> tuple[tuple[int, int], ...] | None:
    """(half-height, half-width) of the centred rectangles whose union is the 2D footprint,
    by increasing width and decreasing height; None if it is no such union.

    Each row of a disk or a diamond is a centred run no wider than the rows nearer the centre,
    so the rows at least as wide as a given row make a centred rectangle inside it.
    """
    fp = footprint(name, radius, 2)
    half_widths = np.count_nonzero(fp[radius:], axis=1) // 2
    rectangles = tuple((int(np.flatnonzero(half_widths >= w).max()), int(w))
                       for w in np.unique(half_widths))
    union = np.zeros_like(fp)
    for h, w in rectangles:
        union[radius - h:radius + h + 1, radius - w:radius + w + 1] = 1
    return rectangles if np.array_equal(union, fp) else None


def _packed_rectangles(name: str, radius: int, ndim: int, steps: int
                       ) -> tuple[tuple[int, int], ...] | None:
    """The footprint's rectangles where ``steps`` erosions and dilations run bit-packed."""
    min_radius = _PACKED_MIN_RADIUS.get((name, min(steps, 2)))
    # Shifts within a 64-bit word reach at most 63 pixels.
    if ndim != 2 or min_radius is None or not min_radius <= radius < 64:
        return None
    return _rectangles(name, radius)


def _use_distance(name: str, fp: np.ndarray) -> bool:
    return (fp.ndim == 3 and name != "square"
            and np.count_nonzero(fp) > _DISTANCE_MIN_PIXELS[name])


def _distance_to_zero(binary: np.ndarray, name: str) -> np.ndarray:
    """Distance of each voxel of a 3D mask to the nearest 0 voxel of the array (the ball's or
    octahedron's metric: Euclidean or city block); voxels outside the array do not count."""
    if binary.all():
        return np.full(binary.shape, np.inf, np.float32)
    if name == "disk":
        return ndi.distance_transform_edt(binary)
    return ndi.distance_transform_cdt(binary, metric="taxicab")


# --------------------------------------------------------------------------- min and max filters
def _extremum(a: np.ndarray, fp: np.ndarray, filter2d: Callable[..., np.ndarray],
              combine: np.ufunc) -> np.ndarray:
    """Min (cv2.erode) or max (cv2.dilate) over ``fp``; pixels outside the array ignored.

    3D: each z-slice of the footprint (:func:`z_slices`) filters every plane in 2D, and the
    planes are combined along z (slices past the ends ignored), which is exact for any
    footprint.
    """
    if a.ndim == 2:
        return filter2d(a, fp)
    depth = a.shape[0]
    out = None
    for plane, offsets in sorted(z_slices(fp), key=lambda g: 0 not in g[1]):
        filtered = np.empty_like(a)
        for z in range(depth):
            filter2d(a[z], plane, dst=filtered[z])
        if out is None:  # the centre slice's group comes first
            out = filtered.copy() if len(offsets) > 1 else filtered
        for dz in offsets:
            if dz == 0 or abs(dz) >= depth:
                continue
            if dz > 0:
                combine(out[:-dz], filtered[dz:], out=out[:-dz])
            else:
                combine(out[-dz:], filtered[:dz], out=out[-dz:])
    return out


def _min_filter(a: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return _extremum(a, fp, cv2.erode, np.minimum)


def _max_filter(a: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return _extremum(a, fp, cv2.dilate, np.maximum)


# --------------------------------------------------------------------------- labels
def _cv_labels(labels: np.ndarray) -> np.ndarray:
    """Labels in the smallest dtype cv2's min/max filters take that holds every id exactly."""
    top = int(labels.max())
    if top < 1 << 16:
        return labels.astype(np.uint16)
    return labels.astype(np.float32 if top < 1 << 24 else np.float64)


def _erode_labels(labels: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Keep a labelled pixel where every pixel of its footprint carries the same id."""
    values = _cv_labels(labels)
    same = _min_filter(values, fp) == _max_filter(values, fp)
    return np.where(same, labels, 0).astype(np.int32, copy=False)


def _dilate_labels(labels: np.ndarray, name: str, radius: int) -> np.ndarray:
    """Give each background pixel within ``radius`` of a label the nearest label's id.

    Distances in the footprint's metric (Euclidean for the disk, chessboard for the square,
    city block for the diamond), so the grown region is exactly the dilation of the mask.
    """
    background = labels == 0
    if background.all() or not background.any():
        return labels.copy()
    if name == "disk":
        distance, nearest = ndi.distance_transform_edt(background, return_indices=True)
    else:
        metric = "chessboard" if name == "square" else "taxicab"
        distance, nearest = ndi.distance_transform_cdt(
            background, metric=metric, return_indices=True
        )
    grown = labels[tuple(nearest)]
    grown[distance > radius] = 0
    return grown.astype(np.int32, copy=False)
