"""Images the segment op and kernel tests share: a real 12-bit fluorescence field (BBBC039)
and its labels, the same field in other dtypes, real 8-bit fluorescence images, and
masks of disks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

DATA = Path(__file__).parent / "data"
BBBC039 = sorted((DATA / "bbbc039_fluo_nuclei" / "images").glob("*.tif"))
FLUO_UINT8 = sorted((DATA / "dsb2018_fluo_nuclei" / "images").glob("*.png"))


def nuclei_field() -> np.ndarray:
    """A real 12-bit fluorescence field (uint16, 520 x 696)."""
    return tifffile.imread(BBBC039[0])


def nuclei_field_labels() -> np.ndarray:
    """The ground-truth labels of :func:`nuclei_field`."""
    return tifffile.imread(str(BBBC039[0]).replace("images", "masks"))


def as_dtype(image: np.ndarray, dtype: type) -> np.ndarray:
    """The 12-bit image in another dtype (uint8 scaled down, floats in [0, 1], int16 offset)."""
    if dtype == np.uint8:
        return (image // 8).clip(0, 255).astype(np.uint8)
    if dtype == np.int16:
        return image.astype(np.int16) - 400
    if np.dtype(dtype).kind == "f":
        return (image / 4095.0).astype(dtype)
    return image.astype(dtype)


def disks(shape, centers, radius) -> np.ndarray:
    """uint8 mask of the disks of ``radius`` around ``centers`` (they may touch)."""
    yy, xx = np.indices(shape)
    mask = np.zeros(shape, bool)
    for cy, cx in centers:
        mask |= np.hypot(yy - cy, xx - cx) <= radius
    return mask.astype(np.uint8)
