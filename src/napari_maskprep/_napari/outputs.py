"""What every output layer carries, whoever wrote it (a stage widget, a tiled Apply, a
replay): one visible colour scheme, and its own history in its metadata.

The history is the list of steps that made the layer from an image, each with the name and
id of the layer it read (the id finds it renamed, the name once opened again), so the
recipe behind any output can be rebuilt later, from the layer alone: a Recorder opened
after the first Apply starts from the whole lineage instead of from the last step's input.
Hand edits made while no Recorder watched are not in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer, Points
from napari.utils.colormaps import DirectLabelColormap, label_colormap

from ..core.locality import Kind
from ..core.registry import get_op
from ..recipe import Recipe, Step

__all__ = [
    "METADATA_KEY",
    "Lineage",
    "describe",
    "find_layer",
    "history",
    "is_mask",
    "lineage",
    "object_features",
    "output_metadata",
    "replace_data",
    "style_output",
]

METADATA_KEY = "maskprep"


LABEL_COLOURS = 49  # napari's Labels default


def mask_colormap() -> DirectLabelColormap:
    # Label 1 of napari's default colormap is a dark brown that vanishes on dark images.
    return DirectLabelColormap(color_dict={None: "yellow", 0: "transparent", 1: "cyan"})


def _mask_colours(layer: Labels) -> bool:
    """Whether the layer already draws label 1 cyan (the mask colormap)."""
    colours = getattr(layer.colormap, "color_dict", {})
    return 1 in colours and np.allclose(colours[1], (0.0, 1.0, 1.0, 1.0))


def is_mask(data: Any) -> bool:
    """Whether ``data`` is a 0/1 mask (``uint8``), drawn in :func:`mask_colormap`."""
    return data.dtype == np.uint8 and data.max(initial=0) <= 1


def replace_data(layer: Layer, data: Any) -> None:
    """``layer.data = data``, a Labels layer's undo history cleared with it: napari keeps
    the history of the data replaced, so Ctrl+Z would write the old strokes' pixels into
    the new result (or raise IndexError inside napari where its shape differs)."""
    layer.data = data
    if isinstance(layer, Labels):
        layer._reset_history()  # napari 0.9 has no public call for it


def style_output(layer: Layer, data: Any, outline: bool = False) -> None:
    """The look of every output: a 0/1 mask in cyan, labels in napari's colours (selected
    label 1, ready to paint; filled, or as outlines), an image with contrast limits fitted
    to its values."""
    if isinstance(layer, Labels):
        # Each setter redraws the layer: set only what differs (a preview updated in place).
        mask = is_mask(data)
        if mask and not _mask_colours(layer):
            layer.colormap = mask_colormap()
        elif not mask and _mask_colours(layer):  # a mask's layer (a preview) now holds labels
            layer.colormap = label_colormap(LABEL_COLOURS)  # napari's own: one colour each
        if layer.selected_label != 1:
            layer.selected_label = 1
        if layer.contour != int(outline):
            layer.contour = int(outline)
    elif not getattr(layer, "rgb", False):
        layer.reset_contrast_limits()


def _object_sizes(result: np.ndarray, kind: Kind) -> np.ndarray:
    """Each object's size in pixels: a mask's objects as ``refine.label`` counts them."""
    labels = get_op("refine.label")(result) if kind is Kind.MASK else result
    sizes = np.bincount(labels.ravel())[1:]
    return sizes[sizes > 0]


def describe(result: np.ndarray, kind: Kind, pixel_size: tuple[float, ...] | None = None,
             plane: str | None = None) -> str:
    """One line about an Apply's mask or labels: how many objects (a mask's as
    ``refine.label`` counts them) and their sizes in pixels, and in µm² (µm³ for a volume)
    given the pixel size in µm; empty for an image. ``plane`` ("frame", "plane") when the
    result's 2D planes were segmented one by one (a time-lapse's frames, labels numbered on
    each plane): objects are counted on each plane, not through the stack; a mask of
    volumes over time, on each volume."""
    if kind not in (Kind.MASK, Kind.LABELS):
        return ""
    if plane is None and kind is Kind.MASK and result.ndim > 3:
        # Volumes over time (t, z, y, x): objects are found in 3D at most.
        per_plane, axes = [_object_sizes(v, kind) for v in
                           result.reshape(-1, *result.shape[-3:])], 3
        plane = "volume"
    elif plane is None or result.ndim == 2:
        per_plane, axes = [_object_sizes(result, kind)], min(result.ndim, 3)
    else:
        per_plane, axes = [_object_sizes(p, kind) for p in _planes(result)], 2
    sizes = np.concatenate(per_plane)
    if not sizes.size:
        return "no objects"
    if len(per_plane) == 1:
        count = f"{sizes.size} object{'s' * (sizes.size > 1)}"
    else:
        low, high = min(map(len, per_plane)), max(map(len, per_plane))
        count = (f"{low}{'' if low == high else f'-{high}'} object{'s' * (high > 1)} in "
                 f"each of {len(per_plane)} {plane}s")
    line = f"{count}, median {np.median(sizes):g} px (range {sizes.min()}-{sizes.max()})"
    if pixel_size is None or len(pixel_size) < axes:
        return line
    area = float(np.prod(pixel_size[-axes:]))
    unit = "µm³" if axes == 3 else "µm²"
    return (f"{line} = {np.median(sizes) * area:.3g} {unit} "
            f"({sizes.min() * area:.3g}-{sizes.max() * area:.3g})")


def _planes(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, *a.shape[-2:])


def object_features(labels: np.ndarray, image: np.ndarray | None = None, *,
                    planes: bool = False, pixel_size: tuple[float, ...] | None = None,
                    origin: tuple[float, ...] | None = None) -> dict[str, np.ndarray]:
    """A row per object of a labels array, for napari's ``features`` (the ``index`` column
    maps label values to rows): its label, area, centroid along each axis and, given the
    grey image it was found in (same shape), its mean intensity.
    With ``planes`` (labels numbered on each 2D plane) each plane's objects get rows of
    their own, their leading centroids the plane's index, where one region through the
    stack would merge the objects of the same number on every plane.
    Given the µm per pixel of the last axes (``pixel_size``) and where pixel 0 lies
    (``origin``, µm), the area is in µm² (µm³ for a volume) and those axes' centroids in
    µm, as the viewer places them: ``area_um2``, ``centroid-1_um``; in pixels otherwise."""
    from skimage.measure import regionprops_table  # only when a table is asked for

    grey = image is not None and image.shape == labels.shape
    properties = ["label", "area", "centroid", *(["intensity_mean"] if grey else [])]
    names = {"label": "index", "intensity_mean": "mean_intensity"}
    if not planes or labels.ndim == 2:
        table = regionprops_table(labels, intensity_image=image if grey else None,
                                  properties=properties)
        rows = {names.get(name, name): np.asarray(values) for name, values in table.items()}
        return _in_micrometres(rows, labels.ndim, labels.ndim, pixel_size, origin)
    lead = labels.ndim - 2
    parts: dict[str, list[np.ndarray]] = {}
    for index in np.ndindex(labels.shape[:lead]):
        table = regionprops_table(labels[index], intensity_image=image[index] if grey else None,
                                  properties=properties)
        for name, values in table.items():
            if name == "centroid-0":  # the plane's own axes come first
                for axis, at in enumerate(index):
                    parts.setdefault(f"centroid-{axis}", []).append(
                        np.full(len(values), float(at)))
            if name.startswith("centroid-"):
                name = f"centroid-{int(name.removeprefix('centroid-')) + lead}"
            parts.setdefault(names.get(name, name), []).append(np.asarray(values))
    rows = {name: np.concatenate(columns) for name, columns in parts.items()}
    return _in_micrometres(rows, labels.ndim, 2, pixel_size, origin)


def _in_micrometres(rows: dict[str, np.ndarray], ndim: int, object_axes: int,
                    pixel_size: tuple[float, ...] | None, origin: tuple[float, ...] | None
                    ) -> dict[str, np.ndarray]:
    """``rows`` with the area and the centroids along the axes a pixel size is known for in
    µm (their names say so); as they are without one for each axis of the objects."""
    if pixel_size is None or origin is None or not object_axes <= min(len(pixel_size), 3):
        return rows
    first = ndim - len(pixel_size)  # the axis pixel_size[0] is for
    converted = {}
    for name, values in rows.items():
        axis = int(name.removeprefix("centroid-")) if name.startswith("centroid-") else -1
        if name == "area":
            unit = "um3" if object_axes == 3 else "um2"
            converted[f"area_{unit}"] = values * float(np.prod(pixel_size[-object_axes:]))
        elif axis >= first:
            converted[f"{name}_um"] = values * pixel_size[axis - first] + origin[axis - first]
        else:
            converted[name] = values
    return converted


def history(layer: Layer | None) -> list[dict[str, Any]]:
    """The steps that made ``layer`` (empty for an image from a file or a sample)."""
    if layer is None:
        return []
    return list(layer.metadata.get(METADATA_KEY, {}).get("history", []))


def _kind(layer: Layer) -> str:
    kind = Kind.POINTS if isinstance(layer, Points) else Kind.IMAGE if isinstance(
        layer, Image) else Kind.LABELS
    return kind.value


def output_metadata(step: Step, source: Layer, extras: Mapping[str, Layer],
                    **more: Any) -> dict[str, Any]:
    """The metadata of the layer ``step`` wrote from ``source``: the step, the layer it
    read, and the history of ``source`` followed by this step."""
    entry = {"step": step.to_dict(), "input": source.name, "input_id": _layer_id(source),
             "extras": {role: {"layer": x.name, "kind": _kind(x), "id": _layer_id(x)}
                        for role, x in extras.items()}}
    return {METADATA_KEY: {"step": entry["step"], "input": source.name,
                           "history": [*history(source), entry], **more}}


def _layer_id(layer: Layer) -> str:
    # napari's id of the layer object, unique while the program runs: it survives a rename.
    return str(layer.unique_id)


def find_layer(layers: Any, name: str, layer_id: str | None,
               accept: Callable[[Layer], bool] | None = None) -> Layer | None:
    """The layer a history entry read, among ``layers``: that very layer while it is open
    (by its id, renamed or not), else one of its name (the image opened again)."""
    fits = [x for x in layers if accept is None or accept(x)]
    same = next((x for x in fits if layer_id is not None and _layer_id(x) == layer_id), None)
    return same if same is not None else next((x for x in fits if x.name == name), None)


@dataclass
class Lineage:
    """A layer's history as a recipe, with the layers of this viewer it still names: the
    image the first step read, each step's output (None when gone) and each declared
    input's layer."""

    recipe: Recipe
    image: Layer | None
    outputs: list[Layer | None]
    declared_layers: dict[str, Layer] = field(default_factory=dict)


def lineage(layer: Layer, layers: Any) -> Lineage:
    """Rebuild the recipe behind ``layer`` from its history, finding its image, the earlier
    outputs and the extra inputs among ``layers`` (the viewer's layer list)."""
    entries = history(layer)
    if not entries:
        raise ValueError(f"'{layer.name}' was not written by Mask Prep: it has no history")
    steps, outputs = [], []
    inputs: dict[str, str] = {}
    declared_layers: dict[str, Layer] = {}
    for n, entry in enumerate(entries):
        step = dict(entry["step"], inputs={})
        for role, extra in entry["extras"].items():  # each a declared input, named by role
            first = entries[0].get("input_id")
            same = (extra["id"] == first if extra.get("id") and first
                    else extra["layer"] == entries[0]["input"])
            if same and extra["kind"] == Kind.IMAGE.value:
                step["inputs"][role] = "input"  # the image the lineage starts from
                continue
            name, k = role, 1
            while name in inputs:
                k += 1
                name = f"{role}_{k}"
            inputs[name] = extra["kind"]
            step["inputs"][role] = name
            found = find_layer(layers, extra["layer"], extra.get("id"))
            if found is not None:
                declared_layers[name] = found
        steps.append(step)
        prefix = entries[:n + 1]
        outputs.append(layer if n == len(entries) - 1 else next(
            (x for x in layers if history(x) == prefix), None))
    image = find_layer(layers, entries[0]["input"], entries[0].get("input_id"),
                       lambda x: not history(x))
    recipe = Recipe.from_dict({"maskprep": 1, "inputs": inputs, "steps": steps})
    return Lineage(recipe, image, outputs, declared_layers)
