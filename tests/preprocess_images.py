"""Images for the preprocess ops' and kernels' tests: real ones from ``tests/data`` in each
dtype, and random ones."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import cv2
import numpy as np
import tifffile

DATA = Path(__file__).parent / "data"
FAST_DTYPES = [np.uint8, np.uint16, np.float32, np.float64]


def _rows(dataset: str, modality: str | None = None) -> list[dict[str, str]]:
    with open(DATA / dataset / "index.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if modality in (None, r["modality"])]


def _read(path: Path) -> np.ndarray:
    if path.suffix == ".tif":
        return tifffile.imread(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


@functools.cache
def he_images() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(RGB uint8 H&E tile, instance mask) pairs: dark purple nuclei on a light background."""
    root = DATA / "dsb2018_brightfield_nuclei"
    return tuple(
        (_read(root / r["image"]), _read(root / r["mask"]))
        for r in _rows("dsb2018_brightfield_nuclei", "histology_rgb")
    )


@functools.cache
def fluo_uint8() -> np.ndarray:
    """A real 256x256 uint8 fluorescence nuclei image (DSB2018)."""
    return _read(DATA / "dsb2018_fluo_nuclei" / _rows("dsb2018_fluo_nuclei")[0]["image"])


@functools.cache
def fluo_uint16() -> np.ndarray:
    """A real 520x696 uint16 fluorescence nuclei image (BBBC039)."""
    return _read(DATA / "bbbc039_fluo_nuclei" / _rows("bbbc039_fluo_nuclei")[0]["image"])


@functools.cache
def volume_uint16() -> np.ndarray:
    """A real-ish 16x61x57 uint16 3D nuclei volume (StarDist synthetic)."""
    return _read(DATA / "stardist_synthetic_3d" / _rows("stardist_synthetic_3d")[0]["image"])


def real_grey(dtype) -> np.ndarray:
    """A real fluorescence image in ``dtype``: uint8 and uint16 as recorded, floats in [0, 1]."""
    if dtype == np.uint8:
        return fluo_uint8()
    if dtype == np.uint16:
        return fluo_uint16()
    return (fluo_uint16() / 4095.0).astype(dtype)


def random_image(shape, dtype, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def assert_within_one(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max() <= 1
