"""Edit region: hand edits on a multiscale (OME-Zarr-backed) Labels layer, never loaded
whole (no Qt).

:meth:`RegionEditor.open` reads the region of the layer's store that is on screen, at full
resolution (at most :data:`MAX_REGION_PIXELS`, around the centre of the view; one plane of
a 3D stack), into a new in-memory Labels layer laid exactly over it, ready to paint.
:meth:`RegionEditor.write_back` writes the changed box into the store's level 0 and its
pyramid (:func:`napari_maskprep.io.write_region`: only the chunks it touches; the store's
provenance recipe gains the edit), shows the store again and records the edit as an
``edit.manual`` step in whole-image coordinates, its checksums those of its box
(``box_checksums``), so a tiled replay on the whole image reproduces it. The step goes
to ``applied_steps`` as an in-place step on the layer (a Recorder records it) and into
the layer's history. It is all or nothing: what the box held at every level is read first
and written back should anything fail, the viewer and Recorders put back too.
"""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer
from psygnal import Signal

from ..io import (
    ImageReadError,
    RegionNotRestoredError,
    SavedRegion,
    image_group,
    open_lazy,
    read_provenance,
    region_before,
    write_region,
)
from ..io.ngff import ngff_attributes
from ..ops.edit import ManualEdit
from ..recipe import Recipe, RecipeError, Step
from .applied import OUTPUT_OPACITY, AppliedStep, applied_steps
from .large import store_levels, visible_region
from .layers import is_large, layer_array
from .outputs import METADATA_KEY, find_layer, history, output_metadata, style_output
from .recording import EDIT_OP
from .rollback import NOT_PUT_BACK, ViewerState

__all__ = ["MAX_REGION_PIXELS", "PUT_BACK", "OpenRegion", "RegionEditor", "layer_store"]

_LOG = logging.getLogger(__name__)
MAX_REGION_PIXELS = 4096 * 4096  # full-resolution pixels one region holds (16 MB of uint8)
_REGION_KEY = "maskprep_region"  # metadata of a region layer: never a recipe output
# The note on an error a write back raised once everything was put back.
PUT_BACK = "the store was put back as it was and the region is still open to write again"


def layer_store(layer: Layer | None) -> Path | None:
    """The OME-Zarr store behind a large Labels layer: the one a tiled Apply wrote, or the
    folder napari opened it from; None for any other layer."""
    if not isinstance(layer, Labels) or not is_large(layer):
        return None
    written = layer.metadata.get(METADATA_KEY, {}).get("store")
    path = written or getattr(layer.source, "path", None)
    if path is None:
        return None
    path, data = Path(path), layer_array(layer)
    if _holds(path, data):
        return path
    # napari-ome-zarr opens an image store's labels with the store's folder as their source
    # (a bioformats2raw container's, whose labels are its image's) and names each layer by
    # its path, ending in the label's name.
    labels = image_group(path) / "labels"
    named = [label for label in sorted(labels.iterdir()) if layer.name.endswith(label.name)
             ] if labels.is_dir() else []
    return next((label for label in named if _holds(label, data)), None)


def _holds(path: Path, data: Any) -> bool:
    """Whether ``path`` is an OME-Zarr image-label whose level 0 is ``data``'s shape and
    dtype (napari may name the image a label layer came from as its source: never that)."""
    import zarr

    try:
        level = open_lazy(path).data
        group = zarr.open_group(path, mode="r")
    except (ImageReadError, OSError):
        return False
    return ("image-label" in ngff_attributes(group) and tuple(level.shape) == tuple(data.shape)
            and level.dtype == data.dtype)


@dataclass
class OpenRegion:
    """One region being edited: where it lies in the source layer's level 0 and what it
    held when it was read."""

    source: weakref.ref[Labels]
    layer: Labels
    store: Path
    origin: tuple[int, ...]
    before: np.ndarray = field(repr=False)
    image: weakref.ref[Layer] | None

    @property
    def box(self) -> tuple[slice, ...]:
        return tuple(slice(o, o + n) for o, n in zip(self.origin, self.before.shape,
                                                     strict=True))


def _full_resolution_box(layer: Labels, point: Any) -> tuple[tuple[slice, ...], bool]:
    """The box of level 0 on screen (one plane of the leading axes), clipped to
    :data:`MAX_REGION_PIXELS` around its centre; and whether it was clipped."""
    region = visible_region(layer, point)
    shape = tuple(int(n) for n in layer_array(layer).shape)
    factor = region.factor
    lead = len(region.index)
    planes = [slice(min(int(i * f), n - 1), min(int(i * f), n - 1) + 1)
              for i, f, n in zip(region.index, factor[:lead], shape[:lead], strict=True)]
    lo = [min(n - 1, math.floor(a * f)) for a, f, n in zip(region.lo, factor[lead:],
                                                          shape[lead:], strict=True)]
    hi = [min(n, max(a + 1, math.ceil(b * f)))
          for a, b, f, n in zip(lo, region.hi, factor[lead:], shape[lead:], strict=True)]
    size = np.subtract(hi, lo)
    clipped = int(size.prod()) > MAX_REGION_PIXELS
    if clipped:
        kept = np.maximum(1, np.floor(size * math.sqrt(MAX_REGION_PIXELS / float(size.prod()))))
        lo = (np.asarray(lo) + (size - kept.astype(int)) // 2).tolist()
        hi = (np.asarray(lo) + kept.astype(int)).tolist()
    return (*planes, *(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))), clipped


def _with_edit(store: Path, step: Step, image: Layer | None) -> dict[str, Any] | None:
    """The store's provenance with ``step`` appended to its recipe (reading the recipe's
    input as its image when that is the image the edit was checked on); None when the
    store holds no recipe to append to."""
    try:
        info = read_provenance(store)
        recipe = Recipe.loads(info["recipe"])
    except (ImageReadError, RecipeError):
        return None
    same = image is not None and info["input"].get("source") == image.name
    recipe.append(Step(step.op, dict(step.params), inputs={"image": "input"} if same else {}))
    return {**info, "recipe": recipe.dumps()}


class RegionEditor:
    """Edit region on the large Labels layers of one viewer, one region at a time.

    Parameters
    ----------
    viewer
        A ``napari.Viewer`` or ``napari.components.ViewerModel``.
    """

    #: A region was opened, written back or discarded.
    changed = Signal()

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.region: OpenRegion | None = None
        viewer.layers.events.removed.connect(self._on_layer_removed)

    def _on_layer_removed(self, event: Any) -> None:
        if self.region is not None and event.value is self.region.layer:
            self.region = None  # deleted by hand: discarded, nothing is written
            self.changed.emit()

    def close(self) -> None:
        """Stop following the viewer's layers (the view is gone)."""
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)

    def candidates(self) -> list[Labels]:
        """The viewer's Labels layers backed by an OME-Zarr store."""
        return [x for x in self.viewer.layers if layer_store(x) is not None]

    def open(self, layer: Labels) -> str:
        """Read the region of ``layer`` on screen into a new Labels layer; one line saying
        what was opened. Raises ValueError when ``layer`` has no store or a region is open."""
        store = layer_store(layer)
        if store is None:
            raise ValueError(f"'{layer.name}' is not a multiscale Labels layer backed by an "
                             "OME-Zarr store (a tiled Apply's output, or a store opened "
                             "from disk); paint on it directly")
        if self.region is not None:
            raise ValueError(f"a region of '{self.region.layer.name}' is open: write it back "
                             "or discard it first")
        if not 2 <= layer.ndim <= 3:
            raise ValueError(f"'{layer.name}' has {layer.ndim} axes; Edit region takes 2D "
                             "images and 3D stacks")
        box, clipped = _full_resolution_box(layer, self.viewer.dims.point)
        before = np.asarray(open_lazy(store).data[box])
        origin = tuple(s.start for s in box)
        scale = np.asarray(layer.scale, dtype=float)
        where = ", ".join(f"{s.start}:{s.stop}" for s in box)
        edited = Labels(
            before.copy(), name=f"{layer.name} [{where}]", scale=layer.scale,
            translate=np.asarray(layer.translate, dtype=float) + np.asarray(origin) * scale,
            units=layer.units, axis_labels=layer.axis_labels, opacity=OUTPUT_OPACITY,
            metadata={_REGION_KEY: {"store": str(store), "origin": list(origin)}})
        style_output(edited, before)
        self.region = OpenRegion(weakref.ref(layer), edited, store, origin, before,
                                 self._image_of(layer))
        self.viewer.layers.append(edited)
        self.viewer.layers.selection.active = edited
        edited.mode = "paint"
        self.changed.emit()
        height, width = before.shape[-2:]
        return (f"editing {width}×{height} px of '{layer.name}' at full resolution"
                + ("; the view held more than fits one region: zoom in for another part"
                   if clipped else ""))

    def _image_of(self, layer: Labels) -> weakref.ref[Layer] | None:
        """The image the layer was made from (the first step's input in its history),
        when it is open and of the layer's shape: the edit is checked against it."""
        entries = history(layer)
        if not entries:
            return None
        shape = tuple(layer_array(layer).shape)
        image = find_layer(self.viewer.layers, entries[0]["input"], entries[0].get("input_id"),
                           lambda x: isinstance(x, Image) and not history(x)
                           and tuple(layer_array(x).shape[:len(shape)]) == shape)
        return None if image is None else weakref.ref(image)

    def write_back(self) -> str:
        """Write the open region's changes into the store, show them, record the step and
        close the region; one line saying what was written. Raises ValueError (writing
        nothing) when the source layer is gone or the store changed under the region. All
        or nothing: should any of it fail (a chunk, a level, a listener recording the
        step), the store, the layers, Recorders and the open region are put back as they
        were and the error raised (RegionNotRestoredError if the store could not be)."""
        region = self._require()
        if self.source_removed():
            raise ValueError("the layer this region came from was removed; discard the "
                             "region")
        source = region.source()
        after = np.asarray(region.layer.data)
        shape = tuple(int(n) for n in layer_array(source).shape)
        image = region.image() if region.image is not None else None
        if image is not None and image not in self.viewer.layers:
            image = None
        edit = ManualEdit.in_region(region.before, after, origin=region.origin, shape=shape,
                                    image=None if image is None else layer_array(image))
        if edit is None:
            self._close()
            return "nothing was painted; the region was closed"
        now = np.asarray(open_lazy(region.store).data[region.box])
        if not np.array_equal(now, region.before):
            raise ValueError(f"{region.store} changed under this region since it was opened; "
                             "nothing was written (discard it and open it again)")
        inputs, extras = ({"image": "image"}, {"image": image}) if image is not None else ({}, {})
        step = Step(EDIT_OP, edit.params(), inputs=inputs)
        saved = region_before(region.store, region.origin, after.shape)
        viewer = ViewerState(self.viewer)
        try:
            chunks = write_region(region.store, region.origin, after, saved=saved,
                                  provenance=_with_edit(region.store, step, image))
            source.data = store_levels(region.store)  # new dask keys: nothing cached shown
            source.metadata = {**source.metadata,
                               **output_metadata(step, source, extras, store=str(region.store))}
            self._close()
            applied = AppliedStep(step=step, input_layer=source, extra_layers=extras,
                                  output_layer=source, in_place=True)
            applied_steps.applied.emit(applied)
        except Exception as exc:
            self._put_back(region, saved, viewer, exc)
            raise
        pixels = int(np.count_nonzero(region.before != after))
        return (f"{pixels} pixel{'s' * (pixels != 1)} written back to {region.store.name} "
                f"({chunks} chunks, all levels); recorded as {EDIT_OP} in "
                f"[{edit.bbox.replace(',', ', ')}]")

    def _put_back(self, region: OpenRegion, saved: SavedRegion, viewer: ViewerState,
                  failure: Exception) -> None:
        """After a failed write back, the store, the viewer (the source layer, the region
        layer, Recorders) and the open region as they were: the edits can be written again,
        as ``failure``'s note says (:data:`PUT_BACK`). Raises RegionNotRestoredError, saying
        where, if the store could not be put back."""
        try:
            saved.put_back(failure)
        except RegionNotRestoredError:
            _LOG.exception("writing back %s failed, and putting the store back", region.store)
            raise
        else:
            failure.add_note(PUT_BACK)
        finally:
            self.region = region
            if not viewer.restore():
                failure.add_note(NOT_PUT_BACK)
            self.changed.emit()

    def source_removed(self) -> bool:
        """Whether the layer the open region came from is gone: it cannot be written back."""
        source = self._require().source()
        return source is None or source not in self.viewer.layers

    def discard(self) -> None:
        """Close the open region without writing anything."""
        self._require()
        self._close()

    def _require(self) -> OpenRegion:
        if self.region is None:
            raise ValueError("no region is open: choose a layer and Edit region first")
        return self.region

    def _close(self) -> None:
        region, self.region = self.region, None
        if region is not None and region.layer in self.viewer.layers:
            self.viewer.layers.remove(region.layer)
        source = region.source() if region is not None else None
        if source is not None and source in self.viewer.layers:
            self.viewer.layers.selection.active = source  # where the next region is chosen
        self.changed.emit()
