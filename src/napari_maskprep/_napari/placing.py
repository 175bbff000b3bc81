"""Where stage outputs go in the viewer's layer list, and how they are made.

A new output layer keeps its source's scale, translate, units and axis labels; it goes on
top, but under points and shapes, so seeds stay visible and clickable; a preview goes in
without taking the active layer from the one being worked on. A preview of the whole input
can become the output of an Apply: napari adds a layer in about 100 ms and removes one in
more (its garbage collection), where setting a layer's data takes about 10 ms. In a window,
a new layer goes in over several event-loop turns (:mod:`.turns`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer, Points, Shapes

from .applied import OUTPUT_OPACITY, applied_steps, is_preview
from .jobs import ApplyJob, digest
from .large import TiledApplyJob, TiledReplayJob, store_levels
from .outputs import is_mask, mask_colormap, output_metadata, style_output
from .turns import can_insert_in_turns, insert_in_turns

__all__ = ["add_layer", "add_store_layer", "can_become_output", "insert_output", "is_rgb",
           "place_as_output", "write_in_place"]


def is_rgb(data: np.ndarray, source: Layer) -> bool:
    return data.ndim == source.ndim + 1 and data.shape[-1] in (3, 4)


def add_layer(
    viewer: Any, layer_type: type[Layer], data: np.ndarray, source: Layer, *, name: str,
    translate: Any, rgb: bool, metadata: dict[str, Any], outline: bool, scale: Any = None,
) -> Layer:
    """A new Image or Labels layer placed like ``source``, inserted by :func:`insert_output`."""
    kwargs: dict[str, Any] = {
        "name": name, "scale": source.scale if scale is None else scale,
        "translate": translate,
        "units": source.units, "axis_labels": source.axis_labels, "metadata": metadata,
    }
    if layer_type is Image:
        kwargs["rgb"] = rgb
        if not rgb and isinstance(source, Image) and not source.rgb:
            kwargs["colormap"] = source.colormap
        layer = Image(data, **kwargs)
    else:
        if is_mask(data):  # set afterwards, the colours would slice the data once more
            kwargs["colormap"] = mask_colormap()
        layer = Labels(data, opacity=OUTPUT_OPACITY, **kwargs)
        style_output(layer, data, outline)
    insert_output(viewer, layer)
    return layer


def add_store_layer(viewer: Any, job: TiledApplyJob | TiledReplayJob, store: Path,
                    metadata: dict[str, Any] | None = None) -> Labels:
    """The OME-Zarr store a tiled Apply (or replay) wrote, as a multiscale Labels layer;
    ``metadata``: the layer's, if not an Apply's output history."""
    source = job.input_layer
    levels = store_levels(store)
    if metadata is None:
        metadata = output_metadata(job.step, source, job.extra_layers, store=str(store))
    layer = Labels(
        levels, multiscale=isinstance(levels, list), name=job.name, scale=source.scale,
        translate=source.translate, units=source.units, axis_labels=source.axis_labels,
        opacity=OUTPUT_OPACITY, metadata=metadata,
    )
    if layer.dtype == np.uint8:  # a mask: labels keep napari's colours
        layer.colormap = mask_colormap()
    insert_output(viewer, layer)
    return layer


def insert_output(viewer: Any, layer: Layer) -> None:
    layers = viewer.layers
    at = _output_index(layers)
    insert = partial(insert_in_turns, viewer) if can_insert_in_turns(viewer) else layers.insert
    if is_preview(layer):
        # Keep the layer being worked on active: painting must not jump to the preview.
        active, selected = layers.selection.active, set(layers.selection)
        insert(at, layer)
        layers.selection.clear()
        layers.selection.update(selected)
        layers.selection.active = active
    else:
        insert(at, layer)


def _output_index(layers: Any) -> int:
    """Where a new output goes: on top, but under points and shapes, so seeds stay visible
    and clickable."""
    at = len(layers)
    while at > 0 and isinstance(layers[at - 1], Points | Shapes):
        at -= 1
    return at


def can_become_output(preview: Layer, layer_type: type[Layer], result: np.ndarray,
                      source: Layer) -> bool:
    """Whether a preview layer can hold an Apply's ``result`` as the output of ``source``:
    of the output's type, with the result's shape (not one plane of a stack), placed like
    ``source``."""
    return (type(preview) is layer_type and preview.data.shape == result.shape
            and getattr(preview, "rgb", False) == is_rgb(result, source)
            and np.array_equal(preview.scale, source.scale)
            and np.array_equal(preview.translate, source.translate))


def place_as_output(viewer: Any, layer: Layer, name: str) -> None:
    """A former preview layer, holding an output's data and metadata already, named, shown
    and placed as :func:`insert_output` places a new output: where it goes, and active."""
    layers = viewer.layers
    at, index = _output_index(layers), layers.index(layer)
    if index != at - 1:
        layers.move(index, at)
    if not layer.visible:  # the setter redraws the layer even when it is shown already
        layer.visible = True
    layer.name = name
    layers.selection.active = layer


def write_in_place(job: ApplyJob, result: np.ndarray) -> int:
    """``result`` written into the Labels layer ``job`` read, as one undo step in napari's
    Labels history: only the changed pixels are recorded; returns how many changed."""
    layer = job.input_layer
    current = np.asarray(layer.data)
    if digest(current) != job.input_digest:
        raise ValueError(f"'{layer.name}' changed while {job.spec.id} ran; nothing was "
                         "written, Apply again")
    if result.shape != current.shape:
        raise ValueError(f"{job.spec.id} gave shape {result.shape}; '{layer.name}' has "
                         f"{current.shape}, so it cannot be written in place")
    if result.dtype != current.dtype and current.dtype.kind in "iu":
        top = int(result.max(initial=0))
        if top > np.iinfo(current.dtype).max:
            raise ValueError(
                f"{job.spec.id} gives labels up to {top}, more than '{layer.name}' "
                f"({current.dtype}) holds; untick 'in place' to write a new layer"
            )
    changed = job.changed  # found in the worker, from the data the digest vouches for
    if not layer.visible:
        # napari writes the change into the displayed slice too, which a layer never
        # shown has not computed (IndexError, the data written, no undo step).
        layer.set_view_slice()
    applied_steps.writing.emit(layer)  # strokes not yet recorded are recorded first
    layer.data_setitem(changed, result[changed])
    return len(changed[0])
