"""Tiny trained models for the ops whose model is a file, so the registry-wide tests
(contract, layouts, determinism, fuzz) can call them like any other op."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from napari_maskprep import train_pixel_classifier
from napari_maskprep.core.model_files import ModelFile

try:
    from .networks import network_model
except ImportError:  # the determinism worker imports this as a module of tests/ itself
    from networks import network_model


@functools.cache
def _folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="maskprep-test-models-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def tiny_classifier(rgb: bool = False, volume: bool = False) -> ModelFile:
    """A LightGBM pixel classifier (sigmas 1 and 2, 10 trees) of a bright square, or of a
    bright cube in a grey stack (its features filtered in 3D) for ``volume``."""
    truth = np.zeros((8, 32, 32) if volume else (32, 32), np.uint8)
    truth[..., 8:24, 8:24] = 1
    if volume:
        truth[:2] = truth[6:] = 0
    image = truth * np.uint8(200)
    if rgb:
        image = np.stack([image, 255 - image, image // 2], -1)
    model = train_pixel_classifier(image, truth, sigmas=(1, 2), trees=10, annotation="masks")
    kind = "rgb" if rgb else "volume" if volume else "grey"
    return model.save(_folder() / f"square-{kind}.txt")


def model_params(spec: Any, rgb: bool = False, network: str = "conv_net",
                 volume: bool = False) -> dict[str, Any]:
    """A model for each of ``spec``'s model file parameters (by the formats it takes): the
    pixel classifier above (of stacks for ``volume``), or the ONNX ``network`` of
    ``tests/networks.py``."""
    out = {}
    for p in spec.model_params:
        if "lightgbm" in p.formats:
            out[p.name] = tiny_classifier(rgb, volume).to_plain()
        elif "onnx" in p.formats:
            out[p.name] = network_model(network, channels=3 if rgb else 1)
    return out
