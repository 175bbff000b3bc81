"""Benchmark inputs built from the real images in ``tests/data`` (tiled, never synthetic noise).

- 2D ``uint8``: 256 x 256 crops of the DSB2018 fluorescence nuclei PNGs
  (``tests/data/dsb2018_fluo_nuclei``), randomly placed, rotated and flipped (fixed seed).
- 2D ``uint16``: the same from the BBBC039 16-bit U2OS nuclei TIFFs
  (``tests/data/bbbc039_fluo_nuclei``).
- 3D ``uint16``: the StarDist 3D volume (16 x 61 x 57) mirrored (``numpy.pad`` symmetric) to
  64 x 512 x 512, so nuclei stay continuous across tile borders in all three axes.
- Masks for the refine ops: Gaussian (sigma 2, OpenCV) then Otsu of each image, uint8 0/1 -- the
  same kind of mask the recipe produces, built without our ops so a broken op cannot change the
  input of another op's benchmark.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CELL = 256
SOURCES = {
    "uint8": ("dsb2018_fluo_nuclei", "*.png"),
    "uint16": ("bbbc039_fluo_nuclei", "*.tif"),
}
STACK_SOURCE = ("stardist_synthetic_3d", "*.tif")
CACHE_VERSION = "v1"


def _read(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return tifffile.imread(path)
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@cache
def sources(dtype: str) -> tuple[np.ndarray, ...]:
    folder, pattern = SOURCES[dtype]
    files = sorted((DATA / folder / "images").glob(pattern))
    if not files:
        raise FileNotFoundError(f"no {pattern} images in {DATA / folder / 'images'}")
    out = []
    for f in files:
        a = _read(f)
        if a.ndim == 3:  # keep one channel of an RGB(A) file
            a = a[..., 0]
        if a.dtype != np.dtype(dtype) or min(a.shape) < CELL:
            continue
        out.append(np.ascontiguousarray(a))
    return tuple(out)


def side_for(megapixels: float) -> int:
    """Side of the square image with ``megapixels`` * 2**20 pixels (1 MP = 1024 x 1024)."""
    return int(round(1024 * megapixels**0.5))


def mosaic(dtype: str, side: int, seed: int = 0) -> np.ndarray:
    """A ``side`` x ``side`` image tiled from 256 x 256 crops of the real images."""
    srcs = sources(dtype)
    rng = np.random.default_rng(seed)
    out = np.empty((side, side), dtype=dtype)
    for y in range(0, side, CELL):
        for x in range(0, side, CELL):
            img = srcs[int(rng.integers(len(srcs)))]
            oy = int(rng.integers(img.shape[0] - CELL + 1))
            ox = int(rng.integers(img.shape[1] - CELL + 1))
            tile = np.rot90(img[oy:oy + CELL, ox:ox + CELL], int(rng.integers(4)))
            if rng.random() < 0.5:
                tile = tile[:, ::-1]
            h, w = min(CELL, side - y), min(CELL, side - x)
            out[y:y + h, x:x + w] = tile[:h, :w]
    return out


def stack3d(shape: tuple[int, int, int] = (64, 512, 512)) -> np.ndarray:
    folder, pattern = STACK_SOURCE
    f = sorted((DATA / folder / "images").glob(pattern))[0]
    import tifffile

    a = tifffile.imread(f)
    pad = [(0, max(0, s - n)) for s, n in zip(shape, a.shape, strict=True)]
    out = np.pad(a, pad, mode="symmetric")[tuple(slice(0, s) for s in shape)]
    return np.ascontiguousarray(out)


def derived_mask(image: np.ndarray) -> np.ndarray:
    """uint8 0/1 mask: OpenCV Gaussian (sigma 2) then Otsu (scikit-image) of the blurred image."""
    import cv2
    from skimage.filters import threshold_otsu

    if image.ndim == 2:
        blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    else:
        blurred = np.stack([cv2.GaussianBlur(p, (0, 0), 2.0) for p in image])
    t = threshold_otsu(blurred[:: max(1, blurred.shape[0] // 1024)])
    return (blurred > t).view(np.uint8)


def default_cache_dir() -> Path:
    env = os.environ.get("MASKPREP_BENCH_CACHE")
    if env:
        return Path(env)
    stamp = hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
    return Path("/tmp") / f"maskprep-bench-{CACHE_VERSION}-{stamp}"


def key(kind: str, dtype: str, shape: tuple[int, ...]) -> str:
    return f"{kind}_{dtype}_{'x'.join(map(str, shape))}"


def build(kind: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """The input array ``kind`` ('image' or 'mask') of this dtype and shape."""
    image = stack3d(shape) if len(shape) == 3 else mosaic(dtype, shape[0])
    if kind == "image":
        return image
    if kind == "mask":
        return derived_mask(image)
    raise ValueError(kind)


class Inputs:
    """Inputs by (kind, dtype, shape): from ``.npy`` files in ``cache_dir`` (built on first use
    and reused across processes), or in memory when ``cache_dir`` is None (quick mode)."""

    def __init__(self, cache_dir: Path | None):
        self.cache_dir = cache_dir
        self._mem: dict[str, np.ndarray] = {}

    def path(self, kind: str, dtype: str, shape: tuple[int, ...]) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / f"{key(kind, dtype, shape)}.npy"

    def ensure(self, kind: str, dtype: str, shape: tuple[int, ...]) -> None:
        """Build and store the file if it is missing (full mode, in the prepare step)."""
        p = self.path(kind, dtype, shape)
        if p.exists():
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        a = build(kind, dtype, shape)
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, a)
        os.replace(tmp, p)

    def get(self, kind: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        k = key(kind, dtype, shape)
        if k in self._mem:
            return self._mem[k]
        if self.cache_dir is None:
            a = build(kind, dtype, shape)
        else:
            self.ensure(kind, dtype, shape)
            a = np.load(self.path(kind, dtype, shape))
        self._mem[k] = a
        return a

    def drop(self) -> None:
        self._mem.clear()
