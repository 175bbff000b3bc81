"""Background estimation by rolling a ball (non-flat erosion) or a flat one (opening).

References: ``skimage.restoration.rolling_ball(image, radius=radius)`` and
``skimage.morphology.white_tophat(image, disk(radius) | ball(radius))``, both exactly equal
(``tests/kernels/test_background.py``).

The ball rolls row by row of the ball over running row minima: for each half-width the
minimum of each pixel's row neighbours grows by two element-wise minima, is raised by each
height drop of the ball at that width and folded into the result at each offset sharing the
drop (measured on one core: 30x faster than scikit-image at radius 25 in 2D, 50x at radius 5
in 3D). dtypes other than uint8, uint16, float32 and float64 roll in float64 and are
truncated back, as scikit-image does. The top-hat's opening rolls a flat ball the same way,
for every dtype (radius 25, 1 MP uint8: 11 ms; 3D radius 10: 180x faster than
scikit-image); 2D disks of radius up to 10 of uint8, uint16, int16, float32 and float64 take
``cv2.morphologyEx(MORPH_TOPHAT)`` with the same disk. Where a signed integer difference
would overflow it saturates (scikit-image wraps around).

scikit-image and SciPy read past the image where the ball is wider than it (results change
from call to call) and allocate memory growing with the ball's volume times the image's
(21 GB for a ball of radius 25 on a 16 x 61 x 57 stack); these kernels cut the ball to the
image (the same result: pixels outside never count) and refuse work beyond
``BACKGROUND_MAX_BYTES`` with a ``LimitError`` before starting.
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import cv2
import numpy as np

from ..core.errors import LimitError
from .dtypes import CV_DTYPES, elementwise_min_max, integer_bounds
from .threads import thread_budget

__all__ = ["BACKGROUND_MAX_BYTES", "rolling_ball", "subtract_below", "white_tophat"]

# The most bytes the rolling ball or the top-hat may pass over (pixels x passes x bytes per
# pixel): 2**39, about 20-45 s on one core (measured 1.3-3e10 bytes a second, uint8 to float32,
# 2D and 3D). Beyond it the kernels refuse with a LimitError before starting: a ball of
# radius 200 over a 64 x 512 x 512 stack would take hours.
BACKGROUND_MAX_BYTES = 2**39


def rolling_ball(image: np.ndarray, radius: int) -> np.ndarray:
    """scikit-image's rolling-ball background of a 2D or 3D grey image, same dtype.

    Raises
    ------
    LimitError
        Beyond ``BACKGROUND_MAX_BYTES``, before any work.
    """
    direct = image.dtype in (np.uint8, np.uint16, np.float32, np.float64)
    dtype = image.dtype if direct else np.dtype(np.float64)
    ball, terms = _checked_ball(image, dtype, radius, flat=False)
    if direct:
        return _roll(image, terms, ball.reach)
    # scikit-image rolls other dtypes in float64 and casts the result back, truncating. A
    # 64-bit integer may round up in float64: the background is kept at most the pixel.
    rolled = _roll(image.astype(np.float64), terms, ball.reach)
    return np.minimum(np.clip(rolled, *integer_bounds(image.dtype)).astype(image.dtype), image)


def white_tophat(image: np.ndarray, radius: int) -> np.ndarray:
    """The image minus its opening by ``disk(radius)`` (2D) or ``ball(radius)`` (3D).

    Raises
    ------
    LimitError
        Beyond ``BACKGROUND_MAX_BYTES``, before any work.
    """
    reach = _ball_reach(image.shape, radius)
    if (image.ndim == 2 and image.dtype in CV_DTYPES
            and max(reach) <= _TOPHAT_CV2_MAX_RADIUS):
        # cv2 ignores pixels outside the image; the reference reflects them, which for a
        # symmetric convex footprint only repeats pixels already inside it: equal results.
        return cv2.morphologyEx(image, cv2.MORPH_TOPHAT, _flat_ball(radius, reach))
    # The opening by the flat disk or ball as an erosion and a dilation rolled row by row,
    # for every dtype: equal to scipy's grey opening, which reads past the image where the
    # ball is wider than it and allocated 21 GB for a radius-25 ball on a 16 x 61 x 57 stack.
    _, terms = _checked_ball(image, image.dtype, radius, flat=True)
    opened = _roll(_roll(image, terms, reach), terms, reach, lowest=False)
    return subtract_below(image, opened)


def subtract_below(image: np.ndarray, below: np.ndarray) -> np.ndarray:
    """``image - below`` for ``below <= image``, saturated where a signed dtype would wrap."""
    if image.dtype.kind != "i":
        return np.subtract(image, below, dtype=image.dtype)
    # The difference lies in [0, 2**64): exact in uint64 arithmetic, which wraps modulo 2**64
    # (int64 arithmetic overflowed for int64 images spanning more than half their range).
    difference = np.subtract(image.astype(np.int64, copy=False).view(np.uint64),
                             below.astype(np.int64, copy=False).view(np.uint64))
    return np.minimum(difference, np.iinfo(image.dtype).max).astype(image.dtype)


_BALL_BAND_BYTES = 2**19  # the rolling ball's band: fewer, larger bands measured faster
# 2D top-hats by a disk up to this radius run cv2.morphologyEx, whose cost grows with the
# disk's area; larger disks roll row by row (_roll, flat), whose cost grows with the radius
# only. Measured at 1 MP on one core: equal at radius 10 (8 ms uint8, 10-20 ms uint16 and
# float32); at radius 25 cv2 47 ms, rolled 11 ms (uint8); at radius 200 3.7 s against 0.13 s.
_TOPHAT_CV2_MAX_RADIUS = 10


def _ball_reach(shape: tuple[int, ...], radius: int) -> tuple[int, ...]:
    """How far a ball of ``radius`` reaches along each axis of an image of ``shape``.

    ``radius``, or ``n - 1`` on an axis of ``n < radius + 1`` pixels: an offset of ``n`` or
    more along it takes every pixel outside the image, where nothing counts, so a ball cut
    there gives the same result for a fraction of the work (radius 200 on a 4 x 16 x 16
    stack ran for over a minute).
    """
    return tuple(min(radius, n - 1) for n in shape)


class _Ball(NamedTuple):
    """A ball cut to its ``reach``, row by row: ``drops[i, w]`` is the height drop at
    half-width ``w`` of the row at offset ``leads[i]`` (along all axes but the last), inf
    outside the ball; ``kept[i, w]`` whether that half-width counts (see :func:`_ball`)."""

    reach: tuple[int, ...]
    leads: np.ndarray
    drops: np.ndarray
    kept: np.ndarray


def _ball(radius: int, reach: tuple[int, ...], dtype: np.dtype, *, flat: bool = False
          ) -> _Ball:
    """The rows of the ball and their height drops, those that count.

    Along one row the drop ``radius - height`` grows with the distance ``w`` from the centre,
    so the lowest ``pixel + drop`` over that row of the ball is the lowest of ``min(pixels
    within w) + drop(w)`` over the ``w`` kept: a ``w`` whose next one drops no more is
    dominated by it. Drops are computed as scikit-image's ``ball_kernel`` computes them, for
    the rows within reach only; for unsigned integer images, which it rolls in float64 and
    truncates, ``floor(drop)`` gives the same truncated result (``floor(min(p + d)) ==
    min(p + floor(d))`` for integers ``p``; a drop is either an exact integer or an
    irrational number far from one). ``flat``: every drop 0, the flat disk or ball
    (``skimage.morphology.disk`` / ``ball``) of the top-hat: each row's widest half-width.
    """
    work = np.dtype(np.float64) if dtype.kind == "u" else dtype
    leads = np.array(list(itertools.product(*(range(-p, p + 1) for p in reach[:-1]))),
                     np.int64).reshape(-1, len(reach) - 1)
    squares = (leads.astype(np.float64) ** 2).sum(axis=1)[:, None] + np.arange(
        reach[-1] + 1, dtype=np.float64) ** 2
    inside = squares <= radius * radius
    rows = inside[:, 0]  # rows that cross the ball
    leads, squares, inside = leads[rows], squares[rows], inside[rows]
    if flat:
        drops = np.where(inside, 0.0, np.inf)
    else:
        height = np.sqrt(np.clip(radius**2 - squares, 0, None)).astype(work)
        drops = np.where(inside, work.type(radius) - height, np.inf).astype(work)
        if dtype.kind == "u":
            drops = np.floor(drops)
    next_drops = np.concatenate([drops[:, 1:], np.full((len(drops), 1), np.inf, drops.dtype)],
                                axis=1)
    kept = inside & ~(np.isfinite(next_drops) & (next_drops <= drops))
    return _Ball(reach, leads, drops, kept)


def _ball_terms(ball: _Ball, dtype: np.dtype) -> dict[int, dict[Any, list[tuple[int, ...]]]]:
    """The kept drops as ``{half-width: {drop: [row offsets]}}``, as :func:`_roll` takes them."""
    terms: dict[int, dict[Any, list[tuple[int, ...]]]] = {}
    for i, w in zip(*np.nonzero(ball.kept), strict=True):
        value = ball.drops[i, w]
        value = int(value) if dtype.kind == "u" else value
        lead = tuple(int(d) for d in ball.leads[i])
        terms.setdefault(int(w), {}).setdefault(value, []).append(lead)
    return terms


def _ball_passes(ball: _Ball, shape: tuple[int, ...]) -> int:
    """Whole-image passes of :func:`_roll`: the growing row minima over the padded image,
    one raise per drop (but 0) and width, one minimum per kept offset."""
    reach = ball.reach
    padded = math.prod((n + 2 * p) / n for n, p in zip(shape[:-1], reach[:-1], strict=True))
    raises = sum(np.count_nonzero(np.unique(ball.drops[ball.kept[:, w], w]))
                 for w in range(reach[-1] + 1))
    return math.ceil(2 * reach[-1] * padded) + raises + int(np.count_nonzero(ball.kept))


def _check_ball_work(shape: tuple[int, ...], itemsize: int, passes: int, radius: int,
                     *, flat: bool) -> None:
    """LimitError if rolling the ball passes over more than BACKGROUND_MAX_BYTES."""
    work = math.prod(shape) * itemsize * passes
    if work > BACKGROUND_MAX_BYTES:
        raise LimitError(
            f"preprocess.background: {'tophat' if flat else 'rolling_ball'} with "
            f"radius={radius} on an image of shape {shape} passes over about {work:.1e} "
            f"bytes, more than the limit of {BACKGROUND_MAX_BYTES:.1e}; accepted: a smaller "
            "radius or image" + ("" if flat else " (or method='tophat')")
        )


def _checked_ball(image: np.ndarray, dtype: np.dtype, radius: int, *, flat: bool
                  ) -> tuple[_Ball, dict[int, dict[Any, list[tuple[int, ...]]]]]:
    """The ball (``flat``: the top-hat's) and its terms for rolling ``image`` in ``dtype``,
    within BACKGROUND_MAX_BYTES.

    Each row of the ball costs at least one pass (two for the top-hat): that bound is
    checked before the rows are computed, the exact count before they are rolled.
    """
    reach = _ball_reach(image.shape, radius)
    steps = 2 if flat else 1  # the top-hat's erosion and dilation
    rows = math.prod(2 * p + 1 for p in reach[:-1])
    _check_ball_work(image.shape, dtype.itemsize, steps * rows, radius, flat=flat)
    ball = _ball(radius, reach, dtype, flat=flat)
    passes = steps * _ball_passes(ball, image.shape)
    _check_ball_work(image.shape, dtype.itemsize, passes, radius, flat=flat)
    return ball, _ball_terms(ball, dtype)


def _roll(image: np.ndarray, terms: dict[int, dict[Any, list[tuple[int, ...]]]],
          reach: tuple[int, ...], *, lowest: bool = True) -> np.ndarray:
    """The lowest ``pixel + drop`` over the ball's ``terms`` (the highest pixel, for a flat
    ball with ``lowest=False``); pixels outside the image are ignored.

    The ball is rolled as scikit-image rolls it (a non-flat erosion), but row by row of the
    ball: for each half-width ``w`` the minimum of each pixel's ``2w + 1`` row neighbours,
    grown from the one before by two element-wise minima, is raised by each drop that
    changes at ``w`` and folded into the result shifted by each offset with that drop. That
    is a few whole-band passes of SIMD minima per row of the ball and drop instead of scalar
    steps per pixel and ball pixel: 30-40x faster at radius 25 in 2D.
    """
    ndim, integer = image.ndim, image.dtype.kind in "iu"
    if integer:
        info = np.iinfo(image.dtype)
        fill = info.max if lowest else info.min
    else:
        fill = np.inf if lowest else -np.inf
    if not lowest:
        extremum = elementwise_min_max(image)[1]
    elif integer:
        extremum = elementwise_min_max(image)[0]
    else:
        def extremum(a, b, out):
            np.fmin(a, b, out=out)  # ignores NaN, as scikit-image's comparison does

    if integer:
        # Saturating is exact: the result is at most the pixel itself. The arrays added are
        # contiguous, so they flatten to 2D for cv2.
        def add(a, value, out):
            cv2.add(a.reshape(-1, a.shape[-1]), value, dst=out.reshape(-1, out.shape[-1]))
    else:
        def add(a, value, out):
            np.add(a, value, out=out)

    size, rest, cols = image.shape[0], image.shape[1:-1], image.shape[-1]
    first, middle, last = reach[0], reach[1:-1], reach[-1]
    padded_rest = tuple(n + 2 * p for n, p in zip(rest, middle, strict=True))
    plane_bytes = (cols + 2 * last) * math.prod(padded_rest) * image.itemsize
    # At least 16 rows (2D) or 2 reaches of planes (3D) of its own, so the halo stays small.
    band = max(16 if ndim == 2 else 2 * first, _BALL_BAND_BYTES // plane_bytes, 1)
    inner = tuple(slice(p, p + n) for n, p in zip(rest, middle, strict=True))
    out = np.empty_like(image)

    def roll(tops: range) -> None:
        for top in tops:
            height = min(band, size - top)
            # The band and `reach` pixels around it along every axis, fill beyond the image.
            source = np.full((height + 2 * first, *padded_rest, cols + 2 * last), fill,
                             image.dtype)
            above, below = max(0, top - first), min(size, top + height + first)
            source[(slice(above - top + first, below - top + first), *inner,
                    slice(last, last + cols))] = image[above:below]
            row_extremum = source[..., last : last + cols].copy()
            raised = np.empty_like(row_extremum)
            result = out[top : top + height]
            result.fill(fill)
            for w in range(last + 1):
                if w:
                    extremum(row_extremum, source[..., last - w : last - w + cols],
                             row_extremum)
                    extremum(row_extremum, source[..., last + w : last + w + cols],
                             row_extremum)
                for value, offsets in terms.get(w, {}).items():
                    shifted = row_extremum
                    if value:
                        add(row_extremum, value, raised)  # once for all offsets sharing it
                        shifted = raised
                    for lead in offsets:
                        view = shifted[(slice(first + lead[0], first + lead[0] + height),
                                        *(slice(p + d, p + d + n) for d, p, n
                                          in zip(lead[1:], middle, rest, strict=True)))]
                        extremum(result, view, result)

    tops = range(0, size, band)
    threads = min(thread_budget(), len(tops))
    if threads == 1:
        roll(tops)
        return out
    with ThreadPoolExecutor(threads) as pool:  # bands write disjoint rows / planes
        list(pool.map(roll, [tops[i::threads] for i in range(threads)]))
    return out


def _flat_ball(radius: int, reach: tuple[int, ...]) -> np.ndarray:
    """uint8 ``skimage.morphology.disk(radius)`` (2D) or ``ball(radius)`` (3D), cut to
    ``reach`` along each axis."""
    axes = [np.arange(-p, p + 1).reshape([-1 if i == axis else 1 for i in range(len(reach))])
            for axis, p in enumerate(reach)]
    return (sum(a * a for a in axes) <= radius * radius).astype(np.uint8)
