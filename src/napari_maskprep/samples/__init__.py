"""Bundled sample images with ground truth, and the recipe the demo runs on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_image

__all__ = ["DEMO_RECIPE", "SAMPLES", "Sample", "load"]

HERE = Path(__file__).parent
DEMO_RECIPE = HERE / "nuclei.maskprep.yaml"


@dataclass(frozen=True)
class Sample:
    key: str
    title: str
    file: str
    mask_file: str
    rgb: bool = False
    axes: str = "yx"

    @property
    def path(self) -> Path:
        return HERE / self.file


SAMPLES = {
    s.key: s
    for s in (
        Sample("nuclei", "Nuclei, fluorescence (BBBC039, 2D uint16)", "nuclei_fluorescence.tif",
               "nuclei_fluorescence_mask.tif"),
        Sample("he_tile", "H&E tissue tile (DSB2018, RGB uint8)", "he_tile.png",
               "he_tile_mask.tif", rgb=True, axes="yxc"),
        Sample("nuclei_3d", "Nuclei, 3D stack (StarDist synthetic, uint16)", "nuclei_3d.tif",
               "nuclei_3d_mask.tif", axes="zyx"),
    )
}


def load(key: str) -> tuple[np.ndarray, np.ndarray]:
    """(image, ground-truth labels) of a bundled sample."""
    sample = SAMPLES[key]
    return read_image(sample.path), read_image(HERE / sample.mask_file)
