"""Objects and holes of 2D masks found by tracing their contours, settled by flood fills.

Reference, on a 2D uint8 0/1 mask: :func:`fill_holes_2d` equals
``scipy.ndimage.binary_fill_holes`` (with ``max_hole_size``, only those of its holes,
``scipy.ndimage.label`` of the filled pixels, of at most that many pixels);
:func:`select_by_size_2d` keeps what ``skimage.morphology.remove_small_objects`` keeps (the
objects of ``skimage.measure.label(mask, connectivity)`` within a size range);
:func:`keep_largest_2d` keeps the largest object of ``skimage.measure.label(mask,
connectivity=2)``, the first in raster order of equal ones.

``cv2.findContours`` (``RETR_CCOMP``) traces each object's outer border, starting at the
object's first pixel in raster order, and each hole's border. Bounds on an object's size
from its contours (:func:`_bounds`) settle most objects without touching their pixels; the
others are counted, and cleared, by ``cv2.floodFill`` inside their bounding box, so the cost
is one tracing pass plus the area flooded. On speckle noise, labelling the whole mask is
cheaper (:func:`use_contours` says which). Large masks on two threads are traced in two
halves at once, then on the band of rows between them (:func:`_settle_in_halves`), which
equals tracing them whole. Tested on their own in ``tests/kernels/test_contours.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .threads import STRIPE_MIN_PIXELS, thread_budget

__all__ = ["fill_holes_2d", "keep_largest_2d", "select_by_size_2d", "use_contours"]

# The contour paths trace every object and flood some of them, a few microseconds each; past
# about one contour per this many pixels (speckle noise) labelling the whole image is cheaper.
_PIXELS_PER_CONTOUR = 1000


def use_contours(mask: np.ndarray) -> bool:
    """Whether the contour paths pay on a 2D mask: few enough objects and holes (estimated
    from a sample of rows) for its size."""
    return _sampled_contour_count(mask) <= max(mask.size // _PIXELS_PER_CONTOUR, 256)


def fill_holes_2d(mask: np.ndarray, max_hole_size: int | None) -> np.ndarray:
    """A 2D uint8 0/1 mask with its holes (of at most ``max_hole_size`` pixels unless None)
    filled, each hole found by contour tracing and filled by a flood fill.

    ``cv2.findContours`` (RETR_CCOMP) returns one hole border per 4-connected background
    region enclosed by the foreground, starting at the foreground pixel just left of the
    hole's first pixel; a 4-connected flood fill from there, inside the border's bounding
    box, fills exactly that hole. Traced in halves (see :func:`_settle_in_halves`) the wall is
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


def select_by_size_2d(mask: np.ndarray, connectivity: int, min_size: int,
                      max_size: int | None) -> np.ndarray:
    """A 2D uint8 0/1 mask keeping only its objects of ``min_size`` to ``max_size`` pixels
    (None: no upper bound), objects ``connectivity``-connected (1: 4-connected, 2: 8).

    Each object's outer contour starts at its first pixel in raster order. Objects whose
    size bounds (see :func:`_bounds`) settle the question are kept untouched or cleared by a
    flood fill; the others are counted by a flood fill and cleared by a second one if need
    be. With face connectivity an 8-connected contour holds several objects when two of its
    pixels are joined only diagonally (see :func:`_diagonal_joints`): such a contour is cleared
    whole if its bounding box is too small, else its 4-connected objects are labelled in
    its bounding box and decided one by one. Traced in halves (see :func:`_settle_in_halves`)
    the wall is background: a half's objects clear of the rows beside it are whole objects.
    """
    full = connectivity == 2
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


def keep_largest_2d(mask: np.ndarray) -> np.ndarray:
    """A 2D uint8 0/1 mask keeping only its largest 8-connected object (all background for
    none); bounds from the contours, and flood fills to count the candidates only."""
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
