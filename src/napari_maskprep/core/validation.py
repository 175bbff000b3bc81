"""Input checks shared by every op: dtype, layout, kind, channels and ndim.

Everything here runs before an op does any work, so bad input fails with one line that
names what is wrong and what is accepted, never with a traceback from inside a library.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..kernels.color import rgb_to_gray
from .arrays import native
from .errors import BadTypeError, BadValueError, MaskprepWarning, shown
from .locality import Kind

if TYPE_CHECKING:
    from .registry import ArrayInput, OpSpec

__all__ = [
    "FLOAT_HEADROOM",
    "check_extra",
    "check_input",
    "check_output",
    "check_progress",
    "looks_rgb",
    "spatial_ndim",
    "warn_if_grey_taken_as_labels",
]


def check_progress(progress: Any) -> None:
    """Raise in one line unless ``progress`` is None or a callable ``progress(done, total)``
    (a number there failed after the first plane, as "'int' object is not callable")."""
    if progress is not None and not callable(progress):
        raise BadTypeError(f"progress={shown(progress)} is not accepted; expected a callable "
                           "progress(done, total), or None")


def check_per_plane(per_plane: Any) -> None:
    """Raise in one line unless ``per_plane`` is True or False ('false' and 'no', being
    truthy, ran a 2D op plane by plane)."""
    if not isinstance(per_plane, bool | np.bool_):
        raise BadTypeError(f"per_plane={shown(per_plane)} is not accepted; expected True or "
                           "False")


def looks_rgb(a: np.ndarray) -> bool:
    """True when the last axis holds colour channels (3 or 4) rather than pixels."""
    return a.ndim >= 3 and a.shape[-1] in (3, 4) and a.shape[-2] > 4


def _as_array(op_id: str, data: Any, role: str) -> np.ndarray:
    if isinstance(data, np.ma.MaskedArray) and np.ma.is_masked(data):  # asarray drops it
        raise BadValueError(
            f"{op_id}: {role} is a masked array with {np.ma.count_masked(data)} masked "
            "values, and its mask would be ignored; accepted: a plain array (fill them "
            "first: .filled(value), or .filled(numpy.nan) then preprocess.fill_nan)"
        )
    try:
        a = np.asarray(data)
    except Exception as exc:  # array-likes can raise anything while converting
        why = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise BadTypeError(f"{op_id}: {role} is not an array ({why})") from None
    if a.dtype.kind not in "biuf":
        raise BadTypeError(
            f"{op_id}: {role} has dtype {a.dtype}; accepted: bool, integer or float arrays"
        )
    if a.size == 0:
        raise BadValueError(
            f"{op_id}: {role} is empty (shape {a.shape}); accepted: a non-empty array"
        )
    return native(a)


def _c_contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` itself if C-contiguous, else a C-contiguous copy.

    cv2 refuses, or fails on, Fortran-order, transposed, broadcast (zero-stride) and other
    strided views; one copy here spares every op from handling them. A C-contiguous
    array, the common case, is passed through without a copy.
    """
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


# Float images may hold values up to their dtype's maximum over this: sums of up to 2**40
# values (histogram moments, box filters, differences to the minimum) then never overflow.
# Near the maximum (3e38 in float32) Otsu's moments, a percentile stretch or a background
# subtraction overflowed.
FLOAT_HEADROOM = 2**40


def _check_finite(op_id: str, a: np.ndarray, role: str, *, image: bool = False) -> None:
    """Float values must be finite; an ``image``'s within FLOAT_HEADROOM of its maximum."""
    if a.dtype.kind != "f":
        return
    # min/max propagate NaN and expose inf without a full-size temporary.
    lo, hi = a.min(), a.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise BadValueError(
            f"{op_id}: {role} contains NaN or infinite values; accepted: finite values "
            "(add preprocess.fill_nan first, or replace them, e.g. numpy.nan_to_num)"
        )
    limit = float(np.finfo(a.dtype).max) / FLOAT_HEADROOM
    if image and max(-float(lo), float(hi)) > limit:
        raise BadValueError(
            f"{op_id}: {role} has values from {float(lo):.3g} to {float(hi):.3g}, too large "
            f"for sums over {a.dtype}; accepted: values within +-{limit:.3g} (rescale it first)"
        )


def _as_mask_or_labels(op_id: str, a: np.ndarray, role: str, want_labels: bool) -> np.ndarray:
    """A uint8 0/1 mask (bool or 0/1 input) or int32 labels (anything else)."""
    if a.dtype == bool:
        return a.view(np.uint8)
    _check_finite(op_id, a, role)
    hi = a.max()
    if a.dtype.kind != "u" and (lo := a.min()) < 0:  # unsigned: a pass over the data saved
        raise BadValueError(
            f"{op_id}: {role} has negative values (min {lo}); accepted: a 0/1 mask or "
            "labels >= 0"
        )
    if a.dtype.kind == "f" and not np.array_equal(a, np.floor(a)):
        raise BadValueError(
            f"{op_id}: {role} has fractional values; accepted: a 0/1 mask or integer labels"
        )
    if hi <= 1 and not want_labels:
        return a if a.dtype == np.uint8 else a.astype(np.uint8)
    if hi > np.iinfo(np.int32).max:
        raise BadValueError(f"{op_id}: {role} has label {hi}; accepted: labels < 2**31")
    return a if a.dtype == np.int32 else a.astype(np.int32)


def check_input(spec: OpSpec, data: Any, *, colour: bool | None = None) -> np.ndarray:
    """The main input, checked and converted to what ``spec.func`` expects. ``colour``:
    whether its last axis holds colour channels; None: as its shape looks (``looks_rgb``),
    which a box cut from a larger array does not tell."""
    # Kinds compare as their string values: no import of the registry on every call.
    a = _as_array(spec.id, data, "input")
    colour = looks_rgb(a) if colour is None else colour
    if spec.input == "image":
        kind = a.dtype.kind
        if kind == "b":
            a = a.astype(np.float32)  # 0 and 1: finite
        elif kind == "f" and spec.finite:
            _check_finite(spec.id, a, "image", image=True)
        if spec.channels == "rgb" and not colour:
            raise BadValueError(
                f"{spec.id} needs an RGB/RGBA image (last axis of size 3 or 4); got shape {a.shape}"
            )
        if spec.channels == "grey" and colour:
            warnings.warn(
                f"{spec.id} works on one channel; the RGB image was converted to grey "
                "(luminance) first. Add preprocess.to_gray or "
                "preprocess.color_channel before it to choose.",
                MaskprepWarning,
                stacklevel=4,
            )
            a = rgb_to_gray(a)
        return _c_contiguous(a)
    if colour and a.dtype != np.bool_ and a.size and a.max() > 1:
        # Its colours would be taken as a stack of labels (a 0/1 array is a mask whatever
        # its shape).
        raise BadValueError(
            f"{spec.id}: the input looks like an RGB image (shape {a.shape}); accepted: a "
            "0/1 mask or labels: segment the image first (e.g. segment.color_range)"
        )
    return _c_contiguous(
        _as_mask_or_labels(spec.id, a, "input", want_labels=spec.input == "labels")
    )


def spatial_ndim(spec: OpSpec, data: np.ndarray) -> int:
    """Number of spatial axes of ``data`` as ``spec`` sees it (a channel axis excluded)."""
    has_channels = spec.channels == "rgb" or (spec.channels == "any" and looks_rgb(data))
    return data.ndim - 1 if has_channels else data.ndim


def check_extra(spec: OpSpec, extra: ArrayInput, value: Any, data: np.ndarray) -> np.ndarray:
    """An extra array input (seeds, markers, image) checked against the main input."""
    a = _as_array(spec.id, value, repr(extra.name))
    sdim = spatial_ndim(spec, data)
    shape = data.shape[:sdim]
    # An array of the image's shape is labels where those are accepted, else points: a
    # labels image given as seeds was read as coordinates (IndexError deep in the op).
    is_points = Kind.POINTS in extra.kinds and a.ndim <= 2 and (
        a.shape != shape or extra.kinds == (Kind.POINTS,))
    if is_points:
        pts = np.atleast_2d(a.astype(np.float64, copy=False))
        if pts.ndim != 2 or pts.shape[1] != sdim:
            # labels of another shape were told only of points ('must be an N x 2 array')
            also = (f", or {' or '.join(k.value for k in extra.kinds if k is not Kind.POINTS)}"
                    f" of the input's shape {shape}" if len(extra.kinds) > 1 else "")
            raise BadValueError(
                f"{spec.id}: {extra.name!r} must be an N x {sdim} array of coordinates{also}; "
                f"got shape {a.shape}"
            )
        _check_finite(spec.id, pts, repr(extra.name))
        rounded = np.rint(pts)
        outside = np.any((rounded < 0) | (rounded > np.array(shape) - 1), axis=1)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise BadValueError(
                f"{spec.id}: {extra.name} point {i} at {tuple(pts[i].round(2).tolist())} is "
                f"outside the image of shape {shape}; accepted: points inside it"
            )
        return pts
    if a.shape[:sdim] != shape:
        accepted = " or ".join(k.value for k in extra.kinds)
        raise BadValueError(
            f"{spec.id}: {extra.name!r} has shape {a.shape}; accepted: {accepted} matching "
            f"the input's shape {shape}"
        )
    if Kind.IMAGE in extra.kinds:
        _check_finite(spec.id, a, repr(extra.name), image=True)
        return _c_contiguous(a)
    return _c_contiguous(
        _as_mask_or_labels(spec.id, a, repr(extra.name), want_labels=Kind.LABELS in extra.kinds)
    )


def _looks_like_intensities(labels: np.ndarray) -> bool:
    """No background (0) and most pixels unlike their neighbour: a camera's image (offset,
    noise), not labels, whose objects are runs of one value (also where they fill a crop
    or a tissue without background)."""
    if labels.size < 2 or labels.shape[-1] < 2 or labels.min() == 0:
        return False
    return float(np.mean(labels[..., 1:] == labels[..., :-1])) < 0.5


def warn_if_grey_taken_as_labels(spec: OpSpec, raw_dtype: Any, data: np.ndarray,
                                 out: np.ndarray) -> None:
    """A MaskprepWarning when a mask op was given an intensity image as labels: a uint8
    input with values above 1, or wider integers with no background that vary like an
    intensity image.

    uint8 is the mask dtype, but napari's uint8 Labels layers hold labels too, so values
    above 1 are taken as labels. A grey image or a 0/255 mask given by mistake then comes
    back as int32 labels with one id per grey level: the warning says so, and what to do.
    """
    # uint8 input became int32 data only for values above 1 (a 0/1 mask stays uint8, and
    # may still come back as labels: edit.manual's painted second label).
    taken_as_labels = raw_dtype == np.uint8 and data.dtype == np.int32
    if spec.input == "mask" and data.dtype == np.int32 and not taken_as_labels and (
            _looks_like_intensities(data)):
        warnings.warn(
            f"{spec.id}: the {np.dtype(raw_dtype)} input has no 0 (background) and changes "
            "from pixel to pixel like an intensity image; it was taken as labels, one per "
            "value: threshold it first (e.g. segment.auto_threshold)", MaskprepWarning,
            stacklevel=4)
        return
    if spec.output != "mask" or out.dtype != np.int32 or not taken_as_labels:
        return
    warnings.warn(
        f"{spec.id}: the uint8 input holds values up to {int(data.max())}, so it was taken "
        "as labels and int32 labels came back; for a mask give 0/1 values (threshold a grey "
        "image first, e.g. segment.auto_threshold; refine.to_mask turns 0/255 into 0/1)",
        MaskprepWarning,
        stacklevel=4,
    )


_OUTPUT_DTYPES = {"mask": (np.uint8, np.int32), "labels": (np.int32,)}


def check_output(spec: OpSpec, data: np.ndarray, out: np.ndarray) -> np.ndarray:
    if spec.output == "mask" and out.dtype == bool:
        out = out.view(np.uint8)
    expected = _OUTPUT_DTYPES.get(spec.output)
    if expected is not None and out.dtype not in expected:
        raise AssertionError(
            f"{spec.id} returned {out.dtype}; its contract says {spec.output.value}"
        )
    return out
