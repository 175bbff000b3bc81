"""File › Open Sample: the bundled images, with their ground truth as a Labels layer."""

from __future__ import annotations

from typing import Any

from ..samples import SAMPLES, load

LayerData = tuple[Any, dict[str, Any], str]


def _sample(key: str) -> list[LayerData]:
    """The hidden ground truth, then the image: napari makes the last layer added the active
    one, and the menus and stage widgets act on the active layer."""
    sample = SAMPLES[key]
    image, truth = load(key)
    return [
        (truth.astype("int32"), {"name": f"{key}-ground truth", "opacity": 0.4,
                                 "visible": False}, "labels"),
        (image, {"name": key, "rgb": sample.rgb}, "image"),
    ]


def nuclei() -> list[LayerData]:
    return _sample("nuclei")


def he_tile() -> list[LayerData]:
    return _sample("he_tile")


def nuclei_3d() -> list[LayerData]:
    return _sample("nuclei_3d")
