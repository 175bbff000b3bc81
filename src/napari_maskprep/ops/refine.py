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

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import measure

from ..core.enums import Connectivity, Footprint
from ..core.errors import BadValueError
from ..core.locality import Local, NonLocal, Pointwise
from ..core.registry import operation
from ..kernels import morphology
from ..kernels.threads import STRIPE_MIN_PIXELS, thread_budget
from ..kernels.watershed import distance_watershed

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
_SIZE = {"min": 1, "unit": "px"}
_AS_2D_NAME = {Footprint.BALL: "disk", Footprint.CUBE: "square", Footprint.OCTAHEDRON: "diamond"}
# The contour paths trace every object and flood some of them, a few microseconds each; past
# about one contour per this many pixels (speckle noise) labelling the whole image is cheaper.
_PIXELS_PER_CONTOUR = 1000
_CHUNK = 1 << 16  # elements per chunk for look-ups, so that index temporaries stay in cache


# What several ops' docstrings say alike, written once and filled in where ``%(name)s``
# stands (as scipy.ndimage's docfiller does): the docs and the GUI's tooltips read the result.
_MASK = """mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D."""
_RETURNS = """Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in."""
_DOCS = {
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
}


def _filled(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    func.__doc__ = func.__doc__ % _DOCS
    return func


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


# --------------------------------------------------------------------------- helpers
def _structure(connectivity: Connectivity, ndim: int) -> np.ndarray:
    return ndi.generate_binary_structure(ndim, 1 if connectivity is Connectivity.FACES else ndim)


def _is_labels(a: np.ndarray) -> bool:
    return a.dtype != np.uint8


def _as_mask(a: np.ndarray) -> np.ndarray:
    """uint8 0/1 view of a boolean result."""
    return a.view(np.uint8) if a.dtype == bool else a


def _take(lut: np.ndarray, index: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``lut[index]`` in chunks, so no full-size intp copy of ``index`` is ever made."""
    index = np.ascontiguousarray(index)
    if out is None:
        out = np.empty(index.shape, lut.dtype)
    flat_index, flat_out = index.reshape(-1), out.reshape(-1)
    for start in range(0, flat_index.size, _CHUNK):
        stop = start + _CHUNK
        np.take(lut, flat_index[start:stop], out=flat_out[start:stop], mode="clip")
    return out


def _bincount(index: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount(index.ravel(), minlength=length)`` in chunks (no full-size intp copy)."""
    if index.dtype == np.uint16 and index.size <= 1 << 24:
        # cv2 counts uint16 in int; its float32 result is exact below 2**24 per bin.
        hist = cv2.calcHist([index.reshape(-1, index.shape[-1])], [0], None, [length], [0, length])
        return hist.ravel().astype(np.int64)
    counts = np.zeros(length, np.int64)
    flat = np.ascontiguousarray(index).reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        counts += np.bincount(flat[start : start + _CHUNK], minlength=length)
    return counts


def _components_2d(binary: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """cv2 connected components numbered in raster order; uint16 where they fit, else int32."""
    for ltype in (cv2.CV_16U, cv2.CV_32S):
        try:
            n, labels = cv2.connectedComponentsWithAlgorithm(
                binary, connectivity, ltype, cv2.CCL_SAUF
            )
        except cv2.error:  # more than 65534 provisional labels: retry in int32
            continue
        return labels, n
    raise AssertionError("unreachable")


def _components(mask: np.ndarray, connectivity: Connectivity) -> tuple[np.ndarray, int]:
    """Connected components of a uint8 mask: (labels, number of labels including 0), uint16
    labels where they fit, else int32.

    uint16 halves the labels' memory traffic and lets ``_bincount`` count with
    ``cv2.calcHist``: at 64x512x512 labelling 135 -> 128 ms, counting 44 -> 23 ms.
    """
    if mask.ndim == 2:
        return _components_2d(mask, 4 if connectivity is Connectivity.FACES else 8)
    structure = _structure(connectivity, mask.ndim)
    for dtype in (np.uint16, np.int32):
        labels = np.empty(mask.shape, dtype)
        try:
            n = ndi.label(mask, structure=structure, output=labels)
        except RuntimeError:  # more labels than uint16 holds: scipy says so before writing
            continue
        return labels, n + 1
    raise AssertionError("unreachable")


def _dense(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels with ids small enough to index arrays by, and the original ids (or None).

    Ids up to the number of pixels (or 2**16) are used as they are; sparser ids are
    renumbered 1..N in increasing order and ``ids[new] = old`` is returned with them.
    """
    top = int(labels.max())
    if top <= max(labels.size, 1 << 16):
        return labels, None
    ids, inverse = np.unique(labels, return_inverse=True)
    if ids[0] != 0:
        ids = np.concatenate(([0], ids))
        inverse += 1
    return inverse.reshape(labels.shape).astype(np.int32), ids.astype(np.int32)


def _label_sizes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(dense labels, original ids or None, pixel count per dense id)."""
    dense, ids = _dense(labels)
    return dense, ids, _bincount(dense, int(dense.max()) + 1)


def _keep_labels(dense: np.ndarray, ids: np.ndarray | None, keep: np.ndarray) -> np.ndarray:
    """int32 labels where each dense id is kept with its original id, or set to 0."""
    original = np.arange(len(keep), dtype=np.int32) if ids is None else ids
    return _take(np.where(keep, original, 0).astype(np.int32), dense)


def _sampled_contour_count(mask: np.ndarray, step: int = 32) -> int:
    """Estimated number of objects plus holes of a 2D mask, from every ``step``-th row.

    In each sampled row, counts the foreground runs with no foreground in the row above
    (8-connected: the top of an object) and the background runs with no background
    directly above (the top of a hole, or of a bay). It only chooses between two exact
    paths, so an estimate is enough.
    """
    if mask.shape[0] < 2 or mask.shape[1] < 2:
        return 0
    rows = mask[1::step].view(bool)
    above = mask[0:-1:step][: len(rows)].view(bool)
    near = above.copy()
    near[:, 1:] |= above[:, :-1]
    near[:, :-1] |= above[:, 1:]
    background = ~rows
    tops = _untouched_runs(rows, rows & near) + _untouched_runs(background, background > above)
    return tops * step


def _untouched_runs(runs: np.ndarray, touched: np.ndarray) -> int:
    """Number of runs of True in the rows of ``runs`` holding no True of ``touched``."""
    starts = runs.copy()
    np.greater(runs[:, 1:], runs[:, :-1], out=starts[:, 1:])
    first = np.flatnonzero(starts)
    if first.size == 0:
        return 0
    return first.size - np.count_nonzero(np.logical_or.reduceat(touched.ravel(), first))


def _use_contours(mask: np.ndarray) -> bool:
    return _sampled_contour_count(mask) <= max(mask.size // _PIXELS_PER_CONTOUR, 256)


def _trace_and_copy(mask: np.ndarray, mode: int, approximation: int
                    ) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray | None]:
    """(copy of ``mask``, contours, hierarchy). The copy (the output buffer) is made after
    tracing: ``cv2.findContours`` allocates and frees an image-sized buffer, which the copy
    then reuses. Copying first leaves both live, and glibc hands the memory back to the
    system after each call: at 16 MP that re-faulted 4100 pages, 15-20 ms a call here."""
    contours, hierarchy = cv2.findContours(mask, mode, approximation)
    return mask.copy(), contours, hierarchy


# Big 2D masks on two or more threads are traced in two halves at once (cv2.findContours runs
# on one thread: 24 -> 13 ms at 16 MP). The middle row is set aside as a wall, so that each
# half is traced on its own; the halves settle what lies clear of the wall, and what touches
# it is settled afterwards on the band of rows it spans, traced whole.
_SPLIT_MIN_ROWS = 64

# settle(out view, contours, hierarchy, wall_at, cut): settles in place what it can and
# returns the rows (first, last) of the view left unsettled, or None. wall_at: the wall's row
# in a half; None for the band, whose top and bottom rows, where cut says so, cut through
# objects settled by the halves.
_Settle = Callable[[np.ndarray, tuple[np.ndarray, ...], np.ndarray | None, int | None,
                    tuple[bool, bool]], tuple[int, int] | None]


def _traced_in_halves(mask: np.ndarray) -> bool:
    return (mask.size >= STRIPE_MIN_PIXELS and mask.shape[0] >= _SPLIT_MIN_ROWS
            and thread_budget() >= 2)


def _settle_in_halves(mask: np.ndarray, wall: int, approximation: int, settle: _Settle
                      ) -> np.ndarray:
    """A copy of 2D ``mask`` settled by ``settle`` half by half on two threads, then on the
    band of rows that the halves left unsettled around the wall.

    The wall (``wall`` in the middle row, in place of the mask's own row) keeps each half's
    tracing to itself: whatever does not reach the rows beside it is whole in its half. The
    band reaches a row past everything left unsettled, so that it holds all of each unsettled
    object or hole that touches the wall's row; what crosses its top or bottom edge was
    settled by a half.
    """
    rows = mask.shape[0]
    middle = rows // 2
    out = np.empty_like(mask)
    out[middle] = wall

    def half(own: slice, traced: slice) -> tuple[int, int] | None:
        out[own] = mask[own]
        view = out[traced]
        contours, hierarchy = cv2.findContours(view, cv2.RETR_CCOMP, approximation)
        unsettled = settle(view, contours, hierarchy, middle - traced.start, (False, False))
        return None if unsettled is None else (unsettled[0] + traced.start,
                                               unsettled[1] + traced.start)

    with ThreadPoolExecutor(2) as pool:
        spans = [span for span in pool.map(half, (slice(0, middle), slice(middle + 1, rows)),
                                           (slice(0, middle + 1), slice(middle, rows)))
                 if span is not None]
    out[middle] = mask[middle]
    top = max(min([middle - 1] + [first for first, _ in spans]) - 1, 0)
    bottom = min(max([middle + 1] + [last for _, last in spans]) + 1, rows - 1)
    band = out[top : bottom + 1]
    contours, hierarchy = cv2.findContours(band, cv2.RETR_CCOMP, approximation)
    settle(band, contours, hierarchy, None, (top > 0, bottom < rows - 1))
    return out


def _bounding_rects(contours: tuple[np.ndarray, ...], which: np.ndarray) -> np.ndarray:
    """(x, y, w, h) of the chosen contours, one row each (shape (0, 4) for none)."""
    return np.array([cv2.boundingRect(contours[i]) for i in which], np.int64).reshape(-1, 4)


def _rows_span(spans: np.ndarray) -> tuple[int, int] | None:
    """(first, last) row of (x, y, w, h) rectangles together; None for none."""
    if len(spans) == 0:
        return None
    return int(spans[:, 1].min()), int((spans[:, 1] + spans[:, 3]).max()) - 1


def _flood(image: np.ndarray, rect: tuple[int, int, int, int], seed: tuple[int, int],
           value: int, flags: int) -> int:
    """Flood fill inside ``rect`` (x, y, w, h) of ``image`` from ``seed`` (x, y); pixel count.

    A region of interest keeps cv2's per-call mask allocation the size of the object, not
    of the image.
    """
    x, y, w, h = rect
    roi = image[y : y + h, x : x + w]
    return cv2.floodFill(roi, None, (seed[0] - x, seed[1] - y), value, flags=flags)[0]


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


# --------------------------------------------------------------------------- holes
def _fill_holes_2d(mask: np.ndarray, max_hole_size: int | None) -> np.ndarray:
    """Holes of a 2D uint8 mask filled by flooding each hole found by contour tracing.

    ``cv2.findContours`` (RETR_CCOMP) returns one hole border per 4-connected background
    region enclosed by the foreground, starting at the foreground pixel just left of the
    hole's first pixel; a 4-connected flood fill from there, inside the border's bounding
    box, fills exactly that hole. Traced in halves (see ``_settle_in_halves``) the wall is
    foreground: a half's holes that do not border it are holes of the whole mask.
    """
    def settle(out: np.ndarray, contours: tuple[np.ndarray, ...], hierarchy: np.ndarray | None,
               wall_at: int | None, cut: tuple[bool, bool]) -> tuple[int, int] | None:
        if hierarchy is None:
            return None
        holes = np.flatnonzero(hierarchy[0, :, 3] >= 0)
        rects = _bounding_rects(contours, holes)
        walled = np.zeros(len(holes), bool) if wall_at is None else (
            (rects[:, 1] <= wall_at) & (rects[:, 1] + rects[:, 3] > wall_at))
        for i, rect in zip(holes[~walled], rects[~walled].tolist(), strict=True):
            contour = contours[i]
            seed = (int(contour[0, 0, 0]) + 1, int(contour[0, 0, 1]))
            if max_hole_size is None:
                _flood(out, rect, seed, 1, 4)
            else:
                area = _flood(out, rect, seed, 2, 4)
                _flood(out, rect, seed, 1 if area <= max_hole_size else 0, 4)
        return _rows_span(rects[walled])

    if _traced_in_halves(mask):
        return _settle_in_halves(mask, 1, cv2.CHAIN_APPROX_NONE, settle)
    out, contours, hierarchy = _trace_and_copy(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    settle(out, contours, hierarchy, None, (False, False))
    return out


def _fill_holes_by_labels(mask: np.ndarray, max_hole_size: int | None) -> np.ndarray:
    """Holes filled by labelling the background (any ndim; for masks with many contours)."""
    labels, n = _components(_as_mask(mask == 0), Connectivity.FACES)
    fill = np.ones(n, np.uint8)
    for axis in range(mask.ndim):
        fill[np.take(labels, [0, -1], axis=axis).ravel()] = 0  # regions touching the border
    if max_hole_size is not None:
        fill[_bincount(labels, n) > max_hole_size] = 0
    fill[0] = 1  # label 0 is the foreground
    return _take(fill, labels)


def _fill_holes_mask(mask: np.ndarray, max_hole_size: int | None) -> np.ndarray:
    if mask.ndim == 2 and _use_contours(mask):
        return _fill_holes_2d(mask, max_hole_size)
    return _fill_holes_by_labels(mask, max_hole_size)


def _fill_holes_labels(labels: np.ndarray, max_hole_size: int | None) -> np.ndarray:
    """Fill each hole whose bordering labelled pixels all carry one id with that id."""
    foreground = _as_mask(labels > 0)
    holes = _fill_holes_mask(foreground, max_hole_size) > foreground
    out = labels.copy()
    if not holes.any():
        return out
    hole_ids, n = ndi.label(holes, structure=_structure(Connectivity.FACES, labels.ndim))
    lowest = np.full(n + 1, np.iinfo(np.int32).max, np.int32)
    highest = np.zeros(n + 1, np.int32)
    for axis in range(labels.ndim):
        for hole_side, label_side in ((slice(None, -1), slice(1, None)),
                                      (slice(1, None), slice(None, -1))):
            here = [slice(None)] * labels.ndim
            there = [slice(None)] * labels.ndim
            here[axis], there[axis] = hole_side, label_side
            hole, neighbour = hole_ids[tuple(here)], labels[tuple(there)]
            pairs = (hole > 0) & (neighbour > 0)
            np.minimum.at(lowest, hole[pairs], neighbour[pairs])
            np.maximum.at(highest, hole[pairs], neighbour[pairs])
    fill = np.where(lowest == highest, highest, 0)
    fill[0] = 0
    out[holes] = fill[hole_ids[holes]]
    return out


@operation("refine.fill_holes", input="mask", output="mask", locality=NonLocal(), ndim=(2, 3))
def fill_holes(
    mask: np.ndarray,
    *,
    max_hole_size: Annotated[int | None, _SIZE] = None,
) -> np.ndarray:
    """Fill holes: background regions enclosed by foreground (optionally only small ones).

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
    max_hole_size : int or None
        Fill only holes of at most this many pixels (voxels in 3D); None fills every hole.

    Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in.

    Notes
    -----
    A hole is a face-connected (4-connected in 2D, 6 in 3D) background region that does
    not touch the array's border. Reference: ``scipy.ndimage.binary_fill_holes(mask)``
    (default structure); with ``max_hole_size``, only those of its holes
    (``scipy.ndimage.label`` of the filled pixels) of at most ``max_hole_size`` pixels.
    ``skimage.morphology.remove_small_holes(mask, max_size=...)`` differs there: it also
    fills small background regions that touch the border, which are not holes.

    Fast path (2D): ``cv2.findContours`` finds each hole's border and a ``cv2.floodFill``
    inside the border's bounding box fills the hole, so the cost is one tracing pass plus
    the holes' own area. From 4 MP on two threads the two halves are traced at once, then
    the band of rows around the middle where holes cross it. Speckle-noise masks (more than
    one contour per ~1000 pixels, estimated from a sample of rows) and 3D masks label the
    background instead (``cv2.connectedComponents`` / ``scipy.ndimage.label``) and fill the
    regions that touch no border through a look-up table.

    On labels, a hole of the labels' mask is filled with the id of the labelled pixels
    around it when they all carry that one id; a gap enclosed by two or more labels stays
    background.

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
    if _is_labels(mask):
        return _fill_holes_labels(mask, max_hole_size)
    return _fill_holes_mask(mask, max_hole_size)


# --------------------------------------------------------------------------- objects by size
def _points(contours: tuple[np.ndarray, ...], which: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The points of the chosen contours end to end, as int64 (x, y, dx, dy, starts): the
    step (dx, dy) from each point to the next along its closed contour, and the index of
    each contour's first point."""
    picked = [contours[i] for i in which]
    lengths = np.fromiter((len(c) for c in picked), np.int64, len(picked))
    points = np.concatenate(picked).reshape(-1, 2).astype(np.int64)
    starts = np.zeros(len(picked), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    ends = starts + lengths - 1
    steps = np.empty_like(points)
    np.subtract(points[1:], points[:-1], out=steps[:-1])
    steps[ends] = points[starts] - points[ends]
    return points[:, 0], points[:, 1], steps[:, 0], steps[:, 1], starts


def _bounds(contours: tuple[np.ndarray, ...], hierarchy: np.ndarray, outer: np.ndarray,
            countable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rects, lower, upper) bounds on the pixel count of each outer contour's object.

    Upper: the bounding box's area. Lower, for an object that is one object under the
    connectivity in use (``countable``): the area enclosed by its outer contour through the
    pixel centres, which the pixels inside the contour cover (each closed loop of the contour
    holds at least its area in lattice points, by Pick's theorem), less the bounding-box
    areas of its holes' borders (RETR_CCOMP), which hold every pixel inside the contour that
    is not the object's; 0 if that leaves nothing. So a large object with holes (a tissue
    section) is settled without a flood fill over it.
    """
    x, y, dx, dy, starts = _points(contours, outer)
    x0, x1 = np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)
    y0, y1 = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    rects = np.stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1], axis=1)
    twice_area = np.add.reduceat(x * dy - y * dx, starts)  # the shoelace formula
    enclosed = np.abs(twice_area) // 2
    parents = hierarchy[0, :, 3]
    holes = np.flatnonzero(parents >= 0)
    if holes.size:
        hole_rects = _bounding_rects(contours, holes)
        not_object = np.zeros(len(contours), np.int64)
        np.add.at(not_object, parents[holes], hole_rects[:, 2] * hole_rects[:, 3])
        enclosed -= not_object[outer]
    lower = np.where(countable, np.maximum(enclosed, 0), 0)
    return rects, lower, rects[:, 2] * rects[:, 3]


def _diagonal_joints(mask: np.ndarray, contours: tuple[np.ndarray, ...],
                     hierarchy: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Which outer contours' objects hold two pixels joined only diagonally.

    Such a joint (two diagonal neighbours whose two common neighbours are background) lies
    on a border, where the tracing steps diagonally from one pixel to the other; so it is
    found among the diagonal steps of the contours (traced point by point, CHAIN_APPROX_NONE)
    whose two corner pixels are background. Only these objects may split into several
    4-connected objects.
    """
    x, y, dx, dy, starts = _points(contours, np.arange(len(contours)))
    step = np.flatnonzero(dx * dy)
    flat, width = mask.reshape(-1), mask.shape[1]
    at = y[step] * width + x[step]
    joint = step[(flat[at + dx[step]] == 0) & (flat[at + dy[step] * width] == 0)]
    contour = np.searchsorted(starts, joint, side="right") - 1
    parent = hierarchy[0, contour, 3]
    owner = np.where(parent >= 0, parent, contour)  # a hole's joint belongs to its object
    return np.isin(outer, owner)


def _select_by_size_2d(mask: np.ndarray, connectivity: Connectivity, min_size: int,
                       max_size: int | None) -> np.ndarray:
    """Keep the objects of min_size..max_size pixels: contour bounds, floods where unsure.

    Each object's outer contour starts at its first pixel in raster order. Objects whose
    size bounds (see ``_bounds``) settle the question are kept untouched or cleared by a
    flood fill; the others are counted by a flood fill and cleared by a second one if need
    be. With face connectivity an 8-connected contour holds several objects when two of its
    pixels are joined only diagonally (see ``_diagonal_joints``): such a contour is cleared
    whole if its bounding box is too small, else its 4-connected objects are labelled in
    its bounding box and decided one by one. Traced in halves (see ``_settle_in_halves``)
    the wall is background: a half's objects clear of the rows beside it are whole objects.
    """
    full = connectivity is Connectivity.FULL
    approximation = cv2.CHAIN_APPROX_SIMPLE if full else cv2.CHAIN_APPROX_NONE
    top = np.inf if max_size is None else max_size
    flags = 8 if full else 4

    def settle(out: np.ndarray, contours: tuple[np.ndarray, ...], hierarchy: np.ndarray | None,
               wall_at: int | None, cut: tuple[bool, bool]) -> tuple[int, int] | None:
        if hierarchy is None:
            return None
        outer = np.flatnonzero(hierarchy[0, :, 3] < 0)
        joined = np.zeros(len(outer), bool) if full else _diagonal_joints(out, contours,
                                                                          hierarchy, outer)
        rects, lower, upper = _bounds(contours, hierarchy, outer, ~joined)
        first, last = rects[:, 1], rects[:, 1] + rects[:, 3] - 1
        if wall_at is None:  # the band: objects through a cut edge were settled by a half
            unsettled = np.zeros(len(outer), bool)
            done = (cut[0] & (first == 0)) | (cut[1] & (last == out.shape[0] - 1))
        else:
            # Pieces beside the wall are left as they are. One big enough on its own keeps
            # whatever joins it across the wall, so it stays out of the band (a tissue
            # section would fill it); the others are settled there.
            done = (first <= wall_at + 1) & (last >= wall_at - 1)
            unsettled = done & ~((lower >= min_size) & (top == np.inf))
        drop = (upper < min_size) | (lower > top)
        keep = ~joined & (lower >= min_size) & (upper <= top)
        for i in np.flatnonzero(~keep & ~done):
            rect = tuple(int(v) for v in rects[i])
            seed = tuple(int(v) for v in contours[outer[i]][0, 0])
            if drop[i]:
                _flood(out, rect, seed, 0, 8)
            elif joined[i]:
                _select_pieces(out, rect, seed, min_size, top)
            else:
                area = _flood(out, rect, seed, 2, flags)
                _flood(out, rect, seed, 1 if min_size <= area <= top else 0, flags)
        return _rows_span(rects[unsettled])

    if _traced_in_halves(mask):
        return _settle_in_halves(mask, 0, approximation, settle)
    out, contours, hierarchy = _trace_and_copy(mask, cv2.RETR_CCOMP, approximation)
    settle(out, contours, hierarchy, None, (False, False))
    return out


def _select_pieces(out: np.ndarray, rect: tuple[int, int, int, int], seed: tuple[int, int],
                   min_size: int, top: float) -> None:
    """In place: keep the 4-connected objects of min_size..top pixels of one 8-connected
    object (the one at ``seed``, inside ``rect``), clear the others."""
    x, y, w, h = rect
    roi = out[y : y + h, x : x + w]
    cv2.floodFill(roi, None, (seed[0] - x, seed[1] - y), 2, flags=8)  # this object only
    own = roi == 2
    _, pieces, stats, _ = cv2.connectedComponentsWithStats(own.view(np.uint8), connectivity=4)
    sizes = stats[:, cv2.CC_STAT_AREA]
    keep = ((sizes >= min_size) & (sizes <= top)).astype(np.uint8)
    roi[own] = keep[pieces[own]]


def _select_by_size(mask: np.ndarray, connectivity: Connectivity, min_size: int,
                    max_size: int | None) -> np.ndarray:
    if mask.ndim == 2 and _use_contours(mask):
        return _select_by_size_2d(mask, connectivity, min_size, max_size)
    labels, n = _components(mask, connectivity)
    sizes = _bincount(labels, n)
    keep = sizes >= min_size
    if max_size is not None:
        keep &= sizes <= max_size
    keep[0] = False
    return _take(keep.view(np.uint8), labels)


def _select_labels_by_size(labels: np.ndarray, min_size: int, max_size: int | None
                           ) -> np.ndarray:
    dense, ids, sizes = _label_sizes(labels)
    keep = sizes >= min_size
    if max_size is not None:
        keep &= sizes <= max_size
    keep[0] = False
    return _keep_labels(dense, ids, keep)


@operation("refine.remove_small", input="mask", output="mask", locality=NonLocal(),
           ndim=(2, 3))
def remove_small(
    mask: np.ndarray,
    *,
    min_size: Annotated[int, _SIZE] = 64,
    connectivity: Connectivity = Connectivity.FULL,
) -> np.ndarray:
    """Remove objects of fewer than ``min_size`` pixels.

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
    min_size : int
        Objects with fewer pixels (voxels in 3D) than this are removed; objects of exactly
        ``min_size`` pixels stay.
    connectivity : Connectivity
        ``full`` (default: 8-connected in 2D, 26 in 3D) or ``faces`` (4 / 6). Unused on
        labels, where an object is a label id.

    Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in.

    Notes
    -----
    Reference: ``skimage.morphology.remove_small_objects(mask.astype(bool),
    max_size=min_size - 1, connectivity=1 or ndim)``. scikit-image 0.26 renamed the
    parameter: ``max_size`` removes objects of at most that size (inclusive), the
    deprecated ``min_size`` removed smaller ones (exclusive); ours keeps the exclusive
    meaning under the name ``min_size``. Note that scikit-image's default connectivity is 1
    (faces), ours is full, like ``skimage.measure.label``.

    Fast path (2D): ``cv2.findContours`` traces each object's outer border; the bounding
    box bounds the object's size from above and, for a hole-free object, the area inside
    its border from below, so most objects are settled without touching their pixels. The
    rest are counted by a ``cv2.floodFill`` in their bounding box and cleared by a second
    one if too small. With ``faces``, the few traced objects holding pixels joined only
    diagonally (seen on their contours) are split into their 4-connected objects in their
    bounding box. From 4 MP on two threads the two halves are traced at once, then the band
    of rows around the middle where objects cross it. Speckle-noise masks and 3D masks are
    labelled instead (``cv2.connectedComponents`` / ``scipy.ndimage.label``, in uint16
    where it fits), with sizes from a histogram and a look-up table from label to keep/drop.

    On labels, an object is a label id, its size the number of pixels with that id.

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
    if _is_labels(mask):
        return _select_labels_by_size(mask, min_size, None)
    return _select_by_size(mask, Connectivity(connectivity), min_size, None)


@operation("refine.remove_large", input="mask", output="mask", locality=NonLocal(),
           ndim=(2, 3))
def remove_large(
    mask: np.ndarray,
    *,
    max_size: Annotated[int, _SIZE] = 10000,
    connectivity: Connectivity = Connectivity.FULL,
) -> np.ndarray:
    """Remove objects of more than ``max_size`` pixels.

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
    max_size : int
        Objects with more pixels (voxels in 3D) than this are removed; objects of exactly
        ``max_size`` pixels stay.
    connectivity : Connectivity
        ``full`` (default: 8-connected in 2D, 26 in 3D) or ``faces`` (4 / 6). Unused on
        labels, where an object is a label id.

    Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in.

    Notes
    -----
    Reference: ``mask & ~skimage.morphology.remove_small_objects(mask.astype(bool),
    max_size=max_size, connectivity=...)``, i.e. the objects that function removes are the
    ones kept here. Fast path as in ``refine.remove_small``.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[1, 1, 0, 0, 1],
    ...                  [1, 1, 0, 0, 0],
    ...                  [0, 0, 0, 1, 1]], np.uint8)
    >>> remove_large(mask, max_size=2)
    array([[0, 0, 0, 0, 1],
           [0, 0, 0, 0, 0],
           [0, 0, 0, 1, 1]], dtype=uint8)
    """
    if _is_labels(mask):
        return _select_labels_by_size(mask, 0, max_size)
    return _select_by_size(mask, Connectivity(connectivity), 0, max_size)


# --------------------------------------------------------------------------- other object ops
def _keep_largest_2d(mask: np.ndarray) -> np.ndarray:
    """Full connectivity, 2D: bounds from contours, floods to count the candidates only."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return np.zeros_like(mask)
    outer = np.flatnonzero(hierarchy[0, :, 3] < 0)
    rects, lower, upper = _bounds(contours, hierarchy, outer, np.ones(len(outer), bool))
    largest = int(np.argmax(lower))
    others = np.delete(upper, largest)
    if others.size == 0 or lower[largest] > others.max():
        # Surely the largest (a tissue section among specks): clear the others instead of
        # flooding it, twice, to count and to copy it.
        out = mask.copy()
        for i in np.delete(np.arange(len(outer)), largest):
            seed = tuple(int(v) for v in contours[outer[i]][0, 0])
            _flood(out, tuple(int(v) for v in rects[i]), seed, 0, 8)
        return out
    work = mask.copy()
    # (area, -raster index of its first pixel, object); the placeholder loses every tie
    best = (int(lower[largest]), -np.inf, -1)
    for i in np.argsort(-upper, kind="stable"):
        if upper[i] < best[0]:  # this object and all after it are smaller than the best
            break
        x, y = (int(v) for v in contours[outer[i]][0, 0])
        area = _flood(work, tuple(int(v) for v in rects[i]), (x, y), 2, 8)
        best = max(best, (area, -(y * mask.shape[1] + x), int(i)))
    i = best[2]
    x, y, w, h = (int(v) for v in rects[i])
    seed = tuple(int(v) for v in contours[outer[i]][0, 0])
    _flood(work, (x, y, w, h), seed, 3, 8)
    out = np.zeros_like(mask)
    out[y : y + h, x : x + w] = work[y : y + h, x : x + w] == 3
    return out


@operation("refine.keep_largest", input="mask", output="mask", locality=NonLocal(),
           ndim=(2, 3))
def keep_largest(
    mask: np.ndarray,
    *,
    connectivity: Connectivity = Connectivity.FULL,
) -> np.ndarray:
    """Keep only the largest object (or the largest label).

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
    connectivity : Connectivity
        ``full`` (default: 8-connected in 2D, 26 in 3D) or ``faces`` (4 / 6). Unused on
        labels, where an object is a label id.

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
    ``lab == argmax(bincount(lab)[1:]) + 1``. Fast path (2D, full connectivity): contour
    bounds as in ``refine.remove_small``, then flood fills count only the objects that
    could be the largest; otherwise labelling (``cv2.connectedComponents`` /
    ``scipy.ndimage.label``) with a histogram.

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
    if _is_labels(mask):
        dense, ids, sizes = _label_sizes(mask)
        sizes[0] = 0
        keep = np.zeros(len(sizes), bool)
        if sizes.max() > 0:
            keep[int(np.argmax(sizes))] = True
        return _keep_labels(dense, ids, keep)
    connectivity = Connectivity(connectivity)
    if mask.ndim == 2 and connectivity is Connectivity.FULL and _use_contours(mask):
        return _keep_largest_2d(mask)
    labels, n = _components(mask, connectivity)
    sizes = _bincount(labels, n)
    sizes[0] = 0
    if sizes.max() == 0:
        return np.zeros_like(mask)
    return _as_mask(labels == np.argmax(sizes))


@operation("refine.clear_border", input="mask", output="mask", locality=NonLocal(),
           ndim=(2, 3))
def clear_border(
    mask: np.ndarray,
    *,
    connectivity: Connectivity = Connectivity.FULL,
) -> np.ndarray:
    """Remove the objects that touch the border of the array.

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
    connectivity : Connectivity
        ``full`` (default: 8-connected in 2D, 26 in 3D) or ``faces`` (4 / 6). Unused on
        labels, where an object is a label id.

    Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in.

    Notes
    -----
    Reference: ``skimage.segmentation.clear_border(mask.astype(bool))`` (full
    connectivity); with ``faces``, the same on ``skimage.measure.label(mask,
    connectivity=1)``. Fast path (2D): the mask is padded with a one-pixel frame of
    foreground and a single ``cv2.floodFill`` from the frame clears the frame and every
    object touching it. 3D: ``scipy.ndimage.label`` and the labels found on the border.

    On labels, a label id with any pixel on the border is removed entirely, including
    pieces of it away from the border (scikit-image's ``clear_border`` on a label image
    would keep those pieces).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[1, 0, 0, 0],
    ...                  [1, 0, 1, 0],
    ...                  [0, 0, 0, 0]], np.uint8)
    >>> clear_border(mask)
    array([[0, 0, 0, 0],
           [0, 0, 1, 0],
           [0, 0, 0, 0]], dtype=uint8)
    """
    if _is_labels(mask):
        dense, ids = _dense(mask)
        keep = np.ones(int(dense.max()) + 1, bool)
        for axis in range(mask.ndim):
            keep[np.take(dense, [0, -1], axis=axis).ravel()] = False
        return _keep_labels(dense, ids, keep)
    connectivity = Connectivity(connectivity)
    if mask.ndim == 2:
        framed = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
        flags = 4 if connectivity is Connectivity.FACES else 8
        cv2.floodFill(framed, None, (0, 0), 0, flags=flags)
        return framed[1:-1, 1:-1].copy()
    labels, n = _components(mask, connectivity)
    keep = np.ones(n, np.uint8)
    for axis in range(mask.ndim):
        keep[np.take(labels, [0, -1], axis=axis).ravel()] = 0
    keep[0] = 0
    return _take(keep, labels)


@operation("refine.label", input="mask", output="labels", locality=NonLocal(), ndim=(2, 3))
def label(
    mask: np.ndarray,
    *,
    connectivity: Connectivity = Connectivity.FULL,
) -> np.ndarray:
    """Number the connected objects 1..N in raster order.

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
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
    numbering is the raster order (OpenCV's block-based default algorithms number
    differently for 8-connectivity); 3D: ``scipy.ndimage.label``.

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
    connectivity = Connectivity(connectivity)
    if _is_labels(mask):
        level = 1 if connectivity is Connectivity.FACES else mask.ndim
        return measure.label(mask, connectivity=level).astype(np.int32, copy=False)
    if mask.ndim == 2:
        flags = 4 if connectivity is Connectivity.FACES else 8
        return cv2.connectedComponentsWithAlgorithm(mask, flags, cv2.CV_32S, cv2.CCL_SAUF)[1]
    return _components(mask, connectivity)[0].astype(np.int32, copy=False)


# --------------------------------------------------------------------------- smoothing
def _boxes(plane: np.ndarray) -> list[tuple[int, int, int]]:
    """A centred, row-convex 2D footprint as a signed sum of centred boxes.

    Returns (sign, half height, half width) triples: the footprint is the union of a
    staircase of boxes, and adding each box after the first while taking away its overlap
    with the one before counts every footprint pixel once. In this order no partial sum
    exceeds twice the footprint's pixel count.
    """
    radius = plane.shape[0] // 2
    half_widths = [(int(row.sum()) - 1) // 2 for row in plane[radius:]] + [-1]
    corners = [(dy, half_widths[dy]) for dy in range(radius + 1)
               if half_widths[dy] > half_widths[dy + 1]]
    boxes = [(1, *corners[0])]
    for (a_before, _), (a, b) in zip(corners, corners[1:], strict=False):
        boxes += [(1, a, b), (-1, a_before, b)]
    return boxes


def _count_2d(mask: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Number of foreground pixels in the footprint ``plane`` around each pixel (int16, the
    footprint has at most 7845 pixels); outside the array the border pixels repeat
    (``mode='nearest'``)."""
    (_, a, b), *rest = _boxes(plane)
    total = cv2.boxFilter(mask, cv2.CV_16S, (2 * b + 1, 2 * a + 1), normalize=False,
                          borderType=cv2.BORDER_REPLICATE)
    box = np.empty_like(total)
    for sign, a, b in rest:
        cv2.boxFilter(mask, cv2.CV_16S, (2 * b + 1, 2 * a + 1), dst=box, normalize=False,
                      borderType=cv2.BORDER_REPLICATE)
        (cv2.add if sign > 0 else cv2.subtract)(total, box, dst=total)
    return total


def _majority(mask: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """1 where more than half of the footprint around a pixel is foreground."""
    if mask.ndim == 2:
        counts = _count_2d(mask, fp)
    else:
        depth, radius = mask.shape[0], fp.shape[0] // 2
        groups: dict[bytes, tuple[np.ndarray, list[int]]] = {}
        for i, plane in enumerate(fp):
            groups.setdefault(plane.tobytes(), (plane, []))[1].append(i - radius)
        counts = np.zeros(mask.shape, np.int32)
        for plane, offsets in groups.values():
            plane_counts = np.stack([_count_2d(m, plane) for m in mask])
            for dz in offsets:  # past the ends the end planes repeat, as mode='nearest'
                counts += plane_counts[np.clip(np.arange(depth) + dz, 0, depth - 1)]
    return _as_mask(counts > np.count_nonzero(fp) // 2)


def _smooth_labels(labels: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Per-label majority filter: at most one label holds a majority, so none merge."""
    radius = fp.shape[0] // 2
    dense, ids = _dense(labels)
    out = np.zeros_like(labels)
    for index, box in enumerate(ndi.find_objects(dense), start=1):
        if box is None:
            continue
        # Widen by the radius (clipped): outside the widened box the label is absent, so the
        # replicated edge is 0 there and the true border elsewhere.
        box = tuple(slice(max(s.start - radius, 0), min(s.stop + radius, n))
                    for s, n in zip(box, labels.shape, strict=True))
        keep = _majority(_as_mask(dense[box] == index), fp).view(bool)
        out[box][keep] = index if ids is None else ids[index]
    return out


@operation("refine.smooth", input="mask", output="mask",
           locality=Local(halo=lambda p: p["radius"]), ndim=(2, 3))
def smooth(
    mask: np.ndarray,
    *,
    radius: Annotated[int, _RADIUS] = 2,
) -> np.ndarray:
    """Smooth outlines by a majority vote in a disk (ball in 3D) around each pixel.

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
    radius : int
        Radius of the disk (ball) in pixels, 1 to 50.

    Returns
    -------
    ndarray
        uint8 0/1 mask, or int32 labels when labels came in.

    Notes
    -----
    A pixel becomes foreground where more than half of the ``disk(radius)`` around it is
    foreground (the disk holds an odd number of pixels, so there are no ties): a binary
    median filter. Bumps and dents narrower than about the radius go, straight edges stay.
    Past the border the edge pixels repeat. Reference:
    ``skimage.filters.median(mask, footprint=disk(radius))`` (``mode='nearest'``). Fast
    path: the disk as a signed sum of a few ``cv2.boxFilter`` boxes (exact integer counts),
    3D per z-slice of the ball.

    On labels each label is smoothed as its own mask; at most one label can hold a majority
    at a pixel, so labels never merge, and a pixel no label holds a majority of becomes
    background.

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
    fp = morphology.footprint("disk", int(radius), mask.ndim)
    if _is_labels(mask):
        return _smooth_labels(mask, fp)
    return _majority(mask, fp)


# --------------------------------------------------------------------------- labels
@operation("refine.split_touching", input="mask", output="labels", locality=NonLocal(),
           ndim=(2, 3))
def split_touching(
    mask: np.ndarray,
    *,
    min_distance: Annotated[int, {"min": 1, "max": 100, "unit": "px"}] = 5,
) -> np.ndarray:
    """Split touching round objects apart by a distance-transform watershed.

    Parameters
    ----------
    mask : ndarray
        uint8 0/1 mask or int32 labels, 2D or 3D.
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
    ``skimage.segmentation.watershed`` on the negated distance (see
    ``napari_maskprep.kernels.watershed.distance_watershed``, shared with
    ``segment.watershed``).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((7, 13), np.uint8)
    >>> mask[1:6, 1:6] = 1
    >>> mask[1:6, 7:12] = 1
    >>> mask[3, 6] = 1  # a one-pixel bridge between two squares
    >>> split_touching(mask, min_distance=2)
    array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 2, 0],
           [0, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 2, 0],
           [0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0],
           [0, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 2, 0],
           [0, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 2, 0],
           [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=int32)
    """
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    if not _is_labels(mask):
        return distance_watershed(mask, min_distance=int(min_distance))
    dense, _ = _dense(mask)
    out = np.zeros(mask.shape, np.int32)
    count = 0
    for index, box in enumerate(ndi.find_objects(dense), start=1):
        if box is None:
            continue
        # Background around the label inside the array (other labels count as background);
        # at the array's border nothing, as for a mask.
        pad = [(int(s.start > 0), int(s.stop < n)) for s, n in zip(box, mask.shape, strict=True)]
        own = np.pad(dense[box] == index, pad).view(np.uint8)
        inner = tuple(slice(before, own.shape[d] - after) for d, (before, after) in enumerate(pad))
        pieces = distance_watershed(own, min_distance=int(min_distance))[inner]
        inside = pieces > 0
        out[box][inside] = pieces[inside] + count
        count += int(pieces.max())
    return out


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
    return _as_mask(mask > 0)
