"""Refinement operations: clean up a mask or a label image.

Every op takes a uint8 0/1 mask or int32 labels (the registry converts its input to one of
the two). A mask comes back as a uint8 0/1 mask; labels come back as int32 labels with their
ids kept, and no op ever merges two labels: growing ops fill background only. ``refine.label``
and ``refine.split_touching`` always return labels, ``refine.to_mask`` always a mask. Any
input holding values above 1 is labels, uint8 too (napari's uint8 Labels layers): labels
that come back for a uint8 input carry a MaskprepWarning, since a grey image or a 0/255
mask given by mistake would otherwise turn silently into one label per grey level.

Each op names its reference (scikit-image or SciPy) in its Notes. Its fast paths are
kernels (``kernels/``), each tested equal to its reference on its own (``tests/kernels``).

Conventions shared by the ops:

- Objects are connected components of the mask, ``full``-connected by default (8-connected
  in 2D, 26 in 3D; ``faces``: 4 / 6). On labels an object is one label id.
- Holes are background regions not connected to the array's border, face-connected (4 in
  2D, 6 in 3D): the dual of full-connected objects, so filling holes never joins objects.
- Morphology treats pixels outside the array as neutral (erosion does not eat in from the
  border, dilation does not grow out of it), as ``skimage.morphology.erosion`` and
  ``dilation`` do with these symmetric footprints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np

from ..core.enums import Connectivity, Footprint
from ..core.errors import BadValueError
from ..core.locality import Local, NonLocal, Pointwise
from ..core.registry import operation
from ..kernels import components, majority, morphology
from ..kernels.watershed import distance_watershed, split_labels
from ._docs import fill_doc

__all__ = [
    "Connectivity",
    "Footprint",
    "clear_border",
    "close",
    "dilate",
    "erode",
    "fill_holes",
    "keep_largest",
    "label",
    "open_",
    "remove_large",
    "remove_small",
    "smooth",
    "split_touching",
    "to_mask",
]

_RADIUS = {"min": 1, "max": 50, "unit": "px"}
_SIZE = {"min": 1, "unit": "pixels"}  # a count: area in 2D, volume in 3D
_AS_2D_NAME = {Footprint.BALL: "disk", Footprint.CUBE: "square", Footprint.OCTAHEDRON: "diamond"}

# What several ops' docstrings say alike, written once (see ``_docs.fill_doc``).
_MASK = """mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D."""
_RETURNS = """Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in."""
_filled = fill_doc({
    "mask": _MASK,
    "connectivity": """connectivity : Connectivity
        ``full`` (default: 8-connected in 2D, 26 in 3D) or ``faces`` (4 / 6). Unused on
        labels, where an object is a label id.""",
    "returns": _RETURNS,
    "morphology": f"""Parameters
    ----------
    {_MASK}
    radius : int
        Footprint radius in pixels, 1 to 50.
    shape : Footprint
        ``disk``, ``square`` or ``diamond`` (on 3D data the ball, cube or octahedron);
        ``ball``, ``cube``, ``octahedron`` on 3D data only. A square of radius r is
        (2r + 1) pixels wide.

    {_RETURNS}""",
})


def _footprint_name(shape: Footprint, ndim: int) -> str:
    """The kernels' name of ``shape`` (``disk``, ``square`` or ``diamond``; in 3D they are the
    ball, cube and octahedron); the 3D names are refused on other data."""
    shape = Footprint(shape)
    name = _AS_2D_NAME.get(shape)
    if name is not None and ndim != 3:
        raise BadValueError(
            f"shape={shape.value!r} is a 3D footprint but the data is {ndim}D; accepted for "
            f"{ndim}D data: 'disk', 'square' or 'diamond'"
        )
    return name or shape.value


def _level(connectivity: Connectivity, ndim: int) -> int:
    """scikit-image's connectivity, the kernels': 1 for faces, ``ndim`` for full."""
    return 1 if Connectivity(connectivity) is Connectivity.FACES else ndim


def _morphology_locality(steps: int) -> Local:
    """``steps`` erosions and dilations reach ``steps * radius`` pixels. Stripes on threads
    pay on labels and where masks take the distance transform, not where they run
    bit-packed, which is as fast whole (16 MP, two threads: open disk(3) 12 vs 17 ms)."""
    def stripes_pay(mask: np.ndarray, params: Mapping[str, Any]) -> bool:
        if mask.dtype != np.uint8:
            return True
        name = _footprint_name(params["shape"], mask.ndim)
        return not morphology.runs_bit_packed(name, params["radius"], mask.ndim, steps)
    return Local(halo=lambda p: steps * p["radius"], stripes=stripes_pay)


_ERODE_OR_DILATE = _morphology_locality(1)
_OPEN_OR_CLOSE = _morphology_locality(2)


# --------------------------------------------------------------------------- morphology
@operation("refine.erode", input="mask", output="mask", locality=_ERODE_OR_DILATE, ndim=(2, 3))
@_filled
def erode(mask: np.ndarray, *, radius: Annotated[int, _RADIUS] = 1,
          shape: Footprint = Footprint.DISK) -> np.ndarray:
    """Shrink objects: keep the pixels whose whole footprint lies in the object.

    %(morphology)s

    Notes
    -----
    Reference: ``skimage.morphology.erosion(mask.astype(bool), footprint)`` with
    ``disk`` / ``footprint_rectangle`` / ``diamond`` (``ball`` / ``octahedron`` in 3D).
    Pixels outside the array count as foreground, so objects are not eaten in from the
    border. On labels a pixel keeps its id where its whole footprint carries that id: each
    label is eroded as its own mask, with other labels counting as background. Fast paths
    (bit-packed rows, ``cv2.erode``, a distance transform): ``kernels.morphology``.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((5, 5), np.uint8)
    >>> mask[:, 1:4] = 1
    >>> erode(mask, radius=1, shape="square")
    array([[0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0]], dtype=uint8)
    """
    return morphology.erosion(mask, _footprint_name(shape, mask.ndim), radius)


@operation("refine.dilate", input="mask", output="mask", locality=_ERODE_OR_DILATE, ndim=(2, 3))
@_filled
def dilate(mask: np.ndarray, *, radius: Annotated[int, _RADIUS] = 1,
           shape: Footprint = Footprint.DISK) -> np.ndarray:
    """Grow objects by the footprint; labels grow into background only.

    %(morphology)s

    Notes
    -----
    Reference: ``skimage.morphology.dilation(mask.astype(bool), footprint)``; nothing grows
    in from outside the array. On labels, each background pixel within the footprint of a
    label takes the id of the nearest labelled pixel, distance measured in the footprint's
    own metric (Euclidean for the disk: ``skimage.segmentation.expand_labels``; chessboard
    for the square, city block for the diamond). Labels never overwrite each other; where
    two are equally near, the one SciPy's distance transform finds wins (deterministic).
    The union of the grown labels is exactly the dilation of their mask. Fast paths as in
    ``refine.erode``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((1, 7), np.int32)
    >>> labels[0, 1], labels[0, 4] = 3, 5
    >>> dilate(labels, radius=1)
    array([[3, 3, 3, 5, 5, 5, 0]], dtype=int32)
    """
    return morphology.dilation(mask, _footprint_name(shape, mask.ndim), radius)


@operation("refine.open", input="mask", output="mask", locality=_OPEN_OR_CLOSE, ndim=(2, 3))
@_filled
def open_(mask: np.ndarray, *, radius: Annotated[int, _RADIUS] = 2,
          shape: Footprint = Footprint.DISK) -> np.ndarray:
    """Morphological opening: erosion then dilation; removes specks and thin bridges.

    %(morphology)s

    Notes
    -----
    Reference: ``skimage.morphology.opening(mask.astype(bool), footprint)``. On labels
    every label is opened as its own mask: a pixel keeps its id where some placement of the
    footprint inside that label covers it. The result is a subset of the input, so labels
    never grow or merge. Fast paths as in ``refine.erode``, 2D masks bit-packed once for
    both steps.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((5, 6), np.uint8)
    >>> mask[1:4, 1:4] = 1
    >>> mask[2, 4] = 1  # a one-pixel spur
    >>> open_(mask, radius=1, shape="square")
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 0, 0, 0, 0, 0]], dtype=uint8)
    """
    return morphology.opening(mask, _footprint_name(shape, mask.ndim), radius)


@operation("refine.close", input="mask", output="mask", locality=_OPEN_OR_CLOSE, ndim=(2, 3))
@_filled
def close(mask: np.ndarray, *, radius: Annotated[int, _RADIUS] = 2,
          shape: Footprint = Footprint.DISK) -> np.ndarray:
    """Morphological closing: dilation then erosion; fills gaps and narrow bays.

    %(morphology)s

    Notes
    -----
    Reference: ``skimage.morphology.closing(mask.astype(bool), footprint)``; pixels outside
    the array are background for the dilation and foreground for the erosion, so objects
    touching the border are not cut back. On labels: the labels are dilated (see
    ``refine.dilate``), the result eroded label by label, and only background pixels take
    the new ids; every input label is kept as it was. A gap closes only where one label
    alone surrounds it, so labels never merge. Fast paths as in ``refine.open``.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.ones((3, 7), np.uint8)
    >>> mask[1, 3] = 0  # a one-pixel pit
    >>> close(mask, radius=1, shape="square")
    array([[1, 1, 1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1, 1, 1]], dtype=uint8)
    """
    return morphology.closing(mask, _footprint_name(shape, mask.ndim), radius)


# --------------------------------------------------------------------------- holes and objects
@operation("refine.fill_holes", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3))
@_filled
def fill_holes(mask: np.ndarray, *,
               max_hole_size: Annotated[int | None, _SIZE] = None) -> np.ndarray:
    """Fill holes: background regions enclosed by foreground (optionally only small ones).

    Parameters
    ----------
    %(mask)s
    max_hole_size : int or None
        Fill only holes of at most this many pixels (voxels in 3D); None fills every hole.

    %(returns)s

    Notes
    -----
    A hole is a face-connected (4-connected in 2D, 6 in 3D) background region that does
    not touch the array's border. Reference: ``scipy.ndimage.binary_fill_holes(mask)``
    (default structure); with ``max_hole_size``, only those of its holes
    (``scipy.ndimage.label`` of the filled pixels) of at most ``max_hole_size`` pixels.
    ``skimage.morphology.remove_small_holes(mask, max_size=...)`` differs there: it also
    fills small background regions that touch the border, which are not holes. On labels,
    a hole of the labels' mask is filled with the id of the labelled pixels around it when
    they all carry that one id; a gap enclosed by two or more labels stays background.
    Fast paths: contour tracing and flood fills in 2D (``kernels.contours``), else the
    background labelled (``kernels.components``).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[1, 1, 1, 1, 1, 0],
    ...                  [1, 0, 1, 0, 0, 1],
    ...                  [1, 1, 1, 1, 1, 0]], np.uint8)
    >>> fill_holes(mask)
    array([[1, 1, 1, 1, 1, 0],
           [1, 1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1, 0]], dtype=uint8)
    >>> fill_holes(mask, max_hole_size=1)
    array([[1, 1, 1, 1, 1, 0],
           [1, 1, 1, 0, 0, 1],
           [1, 1, 1, 1, 1, 0]], dtype=uint8)
    """
    return components.fill_holes(mask, max_hole_size)


@operation("refine.remove_small", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3))
@_filled
def remove_small(mask: np.ndarray, *, min_size: Annotated[int, _SIZE] = 64,
                 connectivity: Connectivity = Connectivity.FULL) -> np.ndarray:
    """Remove objects of fewer than ``min_size`` pixels.

    Clears the specks and debris a threshold leaves behind.

    Parameters
    ----------
    %(mask)s
    min_size : int
        Objects with fewer pixels (voxels in 3D) than this are removed; objects of exactly
        ``min_size`` pixels stay.
    %(connectivity)s

    %(returns)s

    Notes
    -----
    Reference: ``skimage.morphology.remove_small_objects(mask.astype(bool),
    max_size=min_size - 1, connectivity=1 or ndim)``. scikit-image 0.26 renamed the
    parameter: ``max_size`` removes objects of at most that size (inclusive), the
    deprecated ``min_size`` removed smaller ones (exclusive); ours keeps the exclusive
    meaning under the name ``min_size``. Note that scikit-image's default connectivity is 1
    (faces), ours is full, like ``skimage.measure.label``. On labels, an object is a label
    id, its size the number of pixels with that id. Fast paths: in 2D, bounds from the
    objects' contours settle most objects without touching their pixels, flood fills the
    rest (``kernels.contours``); else labelling and a histogram (``kernels.components``).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[1, 1, 0, 0, 1],
    ...                  [1, 1, 0, 0, 0],
    ...                  [0, 0, 0, 1, 1]], np.uint8)
    >>> remove_small(mask, min_size=3)
    array([[1, 1, 0, 0, 0],
           [1, 1, 0, 0, 0],
           [0, 0, 0, 0, 0]], dtype=uint8)
    """
    return components.select_by_size(mask, _level(connectivity, mask.ndim), min_size, None)


@operation("refine.remove_large", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3))
@_filled
def remove_large(mask: np.ndarray, *, max_size: Annotated[int, _SIZE] = 10000,
                 connectivity: Connectivity = Connectivity.FULL) -> np.ndarray:
    """Remove objects of more than ``max_size`` pixels.

    Clears the clumps, or the background regions, a threshold took for objects.

    Parameters
    ----------
    %(mask)s
    max_size : int
        Objects of more pixels (voxels in 3D) are removed; those of ``max_size`` pixels or
        fewer stay.
    %(connectivity)s

    %(returns)s

    Notes
    -----
    Reference: ``mask & ~skimage.morphology.remove_small_objects(mask.astype(bool),
    max_size=max_size, connectivity=...)``, i.e. the objects that function removes are the
    ones kept here. Fast paths as in ``refine.remove_small``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[5, 5, 0, 7],
    ...                    [5, 5, 0, 0],
    ...                    [0, 0, 0, 9]], np.int32)
    >>> remove_large(labels, max_size=3)
    array([[0, 0, 0, 7],
           [0, 0, 0, 0],
           [0, 0, 0, 9]], dtype=int32)
    """
    return components.select_by_size(mask, _level(connectivity, mask.ndim), 0, max_size)


@operation("refine.keep_largest", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3))
@_filled
def keep_largest(mask: np.ndarray, *,
                 connectivity: Connectivity = Connectivity.FULL) -> np.ndarray:
    """Keep only the largest object (or the largest label).

    Parameters
    ----------
    %(mask)s
    %(connectivity)s

    Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in; all background when the input
        has no object.

    Notes
    -----
    Of objects of equal size the first in raster order wins (the lowest id of
    ``skimage.measure.label``; on labels, the lowest id). Reference:
    ``lab = skimage.measure.label(mask, connectivity=...)``, then
    ``lab == argmax(bincount(lab)[1:]) + 1``. Fast paths: in 2D (full connectivity)
    contour bounds, and flood fills count only the objects that could be the largest
    (``kernels.contours``); else labelling and a histogram (``kernels.components``).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[1, 1, 0, 1],
    ...                  [0, 0, 0, 1],
    ...                  [1, 0, 0, 1]], np.uint8)
    >>> keep_largest(mask)
    array([[0, 0, 0, 1],
           [0, 0, 0, 1],
           [0, 0, 0, 1]], dtype=uint8)
    """
    return components.keep_largest(mask, _level(connectivity, mask.ndim))


@operation("refine.clear_border", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3))
@_filled
def clear_border(mask: np.ndarray, *,
                 connectivity: Connectivity = Connectivity.FULL) -> np.ndarray:
    """Remove the objects that touch the border of the array.

    Parameters
    ----------
    %(mask)s
    %(connectivity)s

    %(returns)s

    Notes
    -----
    Reference: ``skimage.segmentation.clear_border(mask.astype(bool))`` (full
    connectivity); with ``faces``, the same on ``skimage.measure.label(mask,
    connectivity=1)``. On labels, a label id with any pixel on the border is removed
    entirely, including pieces of it away from the border (scikit-image's ``clear_border``
    on a label image would keep those pieces). Fast path (2D): one ``cv2.floodFill`` from
    a frame of foreground around the mask (``kernels.components``).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[1, 0, 0, 0, 0],
    ...                  [0, 1, 0, 1, 0],
    ...                  [0, 0, 0, 0, 0]], np.uint8)
    >>> clear_border(mask)  # (1, 1) touches the border pixel (0, 0) diagonally
    array([[0, 0, 0, 0, 0],
           [0, 0, 0, 1, 0],
           [0, 0, 0, 0, 0]], dtype=uint8)
    """
    return components.clear_border(mask, _level(connectivity, mask.ndim))


@operation("refine.label", input="mask", output="labels", locality=NonLocal(), ndim=(2, 3))
@_filled
def label(mask: np.ndarray, *, connectivity: Connectivity = Connectivity.FULL) -> np.ndarray:
    """Number the connected objects 1..N in raster order.

    Parameters
    ----------
    %(mask)s
    connectivity : Connectivity
        ``full`` (default: 8-connected in 2D, 26 in 3D) or ``faces`` (4 / 6).

    Returns
    -------
    ndarray of int32
        Labels, 0 on background, numbered in the order their first pixel comes in a raster
        scan. On labels, each connected piece of each label gets its own id (two touching
        labels stay apart), numbered as ``skimage.measure.label`` numbers them.

    Notes
    -----
    Reference: ``skimage.measure.label(mask.astype(bool), connectivity=1 or ndim)``
    (``scipy.ndimage.label``), identical ids; on labels ``skimage.measure.label(labels)``.
    (On a uint8 mask scikit-image's own labelling may number 3D objects in another order.)
    Fast path (2D masks): ``cv2.connectedComponentsWithAlgorithm`` with ``CCL_SAUF``, whose
    numbering is the raster order (``kernels.components``).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[1, 0, 1],
    ...                  [0, 1, 0],
    ...                  [0, 0, 1]], np.uint8)
    >>> label(mask)
    array([[1, 0, 1],
           [0, 1, 0],
           [0, 0, 1]], dtype=int32)
    >>> label(mask, connectivity="faces")
    array([[1, 0, 2],
           [0, 3, 0],
           [0, 0, 4]], dtype=int32)
    """
    return components.label(mask, _level(connectivity, mask.ndim))


# --------------------------------------------------------------------------- outlines and labels
@operation("refine.smooth", input="mask", output="mask",
           locality=Local(halo=lambda p: p["radius"]), ndim=(2, 3))
@_filled
def smooth(mask: np.ndarray, *, radius: Annotated[int, _RADIUS] = 2) -> np.ndarray:
    """Smooth outlines by a majority vote in a disk (ball in 3D) around each pixel.

    Parameters
    ----------
    %(mask)s
    radius : int
        Radius of the disk (ball) in pixels, 1 to 50.

    %(returns)s

    Notes
    -----
    A pixel becomes foreground where more than half of the ``disk(radius)`` around it is
    foreground (the disk holds an odd number of pixels, so there are no ties): a binary
    median filter. Bumps and dents narrower than about the radius go, straight edges stay.
    Past the border the edge pixels repeat. Reference:
    ``skimage.filters.median(mask, footprint=disk(radius))`` (``mode='nearest'``). On
    labels each label is smoothed as its own mask; at most one label can hold a majority at
    a pixel, so labels never merge, and a pixel no label holds a majority of becomes
    background. Fast path: the disk's counts as sums of ``cv2.boxFilter`` boxes
    (``kernels.majority``); labels whose windows never meet are counted together, so many
    labels, spread labels and large radii cost a few counts, not one per label.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((6, 5), np.uint8)
    >>> mask[2:5, 1:4] = 1
    >>> mask[1, 2] = 1  # a one-pixel bump
    >>> smooth(mask, radius=1)
    array([[0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]], dtype=uint8)
    """
    return majority.majority(mask, radius)


@operation("refine.split_touching", input="mask", output="labels", locality=NonLocal(),
           ndim=(2, 3))
@_filled
def split_touching(mask: np.ndarray, *,
                   min_distance: Annotated[int, {"min": 1, "max": 100, "unit": "px"}] = 5
                   ) -> np.ndarray:
    """Split touching round objects apart by a distance-transform watershed.

    Parameters
    ----------
    %(mask)s
    min_distance : int
        Smallest distance in pixels between two object centres (peaks of the distance to
        the background); objects closer than that stay one.

    Returns
    -------
    ndarray of int32
        Labels, 0 on background. On labels each label is split on its own (a split never
        crosses or moves a boundary between labels) and the pieces are numbered 1..N by
        label id, then piece.

    Notes
    -----
    Reference: ``scipy.ndimage.distance_transform_edt`` ->
    ``skimage.feature.peak_local_max(min_distance=min_distance)`` ->
    ``skimage.segmentation.watershed`` on the negated distance, run on each connected
    component alone (see ``napari_maskprep.kernels.watershed``, shared with
    ``segment.watershed``): on the whole array the reference may give the pixels where the
    floods of two equal peaks of one object meet to the other peak.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((5, 12), np.int32)
    >>> labels[1:4, 1:4] = labels[1:4, 5:8] = 4
    >>> labels[2, 4] = 4  # a bridge joins two squares of label 4
    >>> labels[1:4, 8:11] = 9  # a square of label 9 touches the right one
    >>> split_touching(labels, min_distance=1)
    array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0, 2, 2, 2, 3, 3, 3, 0],
           [0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0],
           [0, 1, 1, 1, 0, 2, 2, 2, 3, 3, 3, 0],
           [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=int32)
    """
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    if mask.dtype == np.uint8:
        return distance_watershed(mask, min_distance=int(min_distance))
    return split_labels(mask, min_distance=int(min_distance))


@operation("refine.to_mask", input="mask", output="mask", locality=Pointwise(), ndim=(2, 3))
def to_mask(mask: np.ndarray) -> np.ndarray:
    """Turn labels into a 0/1 mask (every labelled pixel becomes 1).

    Parameters
    ----------
    mask : ndarray
        int32 labels or a uint8 0/1 mask, any dimension.

    Returns
    -------
    ndarray of uint8
        1 where the input is non-zero, 0 elsewhere (a mask comes back as a copy).

    Notes
    -----
    Reference: ``(labels > 0).astype(np.uint8)``.

    Examples
    --------
    >>> import numpy as np
    >>> to_mask(np.array([[0, 3, 3], [7, 0, 2]], np.int32))
    array([[0, 1, 1],
           [1, 0, 1]], dtype=uint8)
    """
    return (mask > 0).view(np.uint8)
