"""How an op runs over the planes of a layer: in 3D, plane by plane when asked or when it
must (a 2D-only op on a stack), or frame by frame (a time-lapse); and a grey layer whose
planes the ops would read as colour, refused."""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np
from napari.layers import Image, Layer

from ..core.registry import OpSpec
from ..core.validation import looks_rgb
from .layers import layer_array

__all__ = ["PerPlane", "check_grey", "is_time_lapse", "per_plane_choice", "plane_at"]


class PerPlane(enum.Enum):
    """Whether an op on the chosen input runs plane by plane."""

    NOT_APPLICABLE = "not applicable"  # 2D data, or an op that handles the data as it is
    OPTIONAL = "optional"  # the op handles the stack in 3D, or plane by plane if asked
    REQUIRED = "required"  # a 2D-only op on a stack


def is_time_lapse(layer: Layer | None) -> bool:
    """A layer of frames (t, y, x), as a reader that names axes says (napari-ome-zarr
    names them from the store): its frames are segmented one by one, as `maskprep run`
    segments a time-lapse file."""
    return (layer is not None and layer.ndim == 3
            and str(layer.axis_labels[0]).lower() in ("t", "time"))


def per_plane_choice(spec: OpSpec, layer: Layer | None) -> PerPlane:
    if layer is None:
        return PerPlane.NOT_APPLICABLE
    sdim = layer.ndim  # napari's ndim already excludes an RGB layer's colour axis
    if sdim <= 2 or 2 not in spec.ndim:
        return PerPlane.NOT_APPLICABLE
    if is_time_lapse(layer):
        return PerPlane.REQUIRED
    return PerPlane.OPTIONAL if sdim in spec.ndim else PerPlane.REQUIRED


def plane_at(layer: Layer, point: Sequence[float]) -> tuple[int, ...]:
    """The leading-axis index of the plane of ``layer`` the viewer shows at ``point`` (its
    world coordinates: the layer's scale, translate and place among the viewer's axes
    count); empty for 2D data."""
    lead = layer.ndim - 2
    if lead <= 0:
        return ()
    position = layer.world_to_data(point)[:lead]
    shape = np.asarray(layer_array(layer).shape[:lead])
    return tuple(int(i) for i in np.clip(np.rint(position), 0, shape - 1))


def check_grey(layer: Layer, error: type[Exception] = ValueError) -> None:
    """Refuse, in one line (an ``error``), an Image layer napari shows as grey whose array
    the ops would take for colour: a stack (or volumes) only 3 or 4 pixels wide, its last
    axis of that size read as RGB(A) channels, which gave a false 'converted to grey' and
    an error about broadcasting shapes."""
    if isinstance(layer, Image) and not layer.rgb and looks_rgb(layer_array(layer)):
        width = layer_array(layer).shape[-1]
        raise error(
            f"'{layer.name}' is {width} pixels wide along its last axis, which maskprep takes "
            "for colour channels, though the layer is not RGB; accepted: a grey image at "
            "least 5 pixels wide (pad or transpose it) or an RGB layer")
