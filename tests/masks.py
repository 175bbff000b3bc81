"""Masks, labels and references shared by the tests of the refine ops (``tests/ops``) and of
their kernels (``tests/kernels``): tiny-array builders, real and random masks, and the
scikit-image / SciPy references computed independently of the package."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage import filters, morphology, segmentation

DATA = Path(__file__).resolve().parent / "data"
SHAPES = ("disk", "square", "diamond")


def u8(rows) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


def i32(rows) -> np.ndarray:
    return np.array(rows, dtype=np.int32)


def assert_same(result: np.ndarray, expected: np.ndarray) -> None:
    """Equal values and dtype; a boolean reference (or check) stands for a uint8 0/1 mask."""
    result, expected = np.asarray(result), np.asarray(expected)
    result = result.view(np.uint8) if result.dtype == bool else result
    expected = expected.view(np.uint8) if expected.dtype == bool else expected
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


def footprint(name: str, radius: int, ndim: int) -> np.ndarray:
    """The reference footprint, built independently of the kernels."""
    if name == "square":
        return morphology.footprint_rectangle((2 * radius + 1,) * ndim).astype(bool)
    if ndim == 3:
        name = {"disk": "ball", "diamond": "octahedron"}[name]
    return getattr(morphology, name)(radius).astype(bool)


def level(connectivity: str, ndim: int) -> int:
    """scikit-image's connectivity (the kernels') for ``faces`` or ``full``."""
    return 1 if connectivity == "faces" else ndim


# --------------------------------------------------------------------------- data
@functools.cache
def real_masks() -> tuple[np.ndarray, np.ndarray]:
    """A ground-truth nuclei mask, and an Otsu mask of the same image (holes, specks)."""
    name = sorted((DATA / "bbbc039_fluo_nuclei" / "masks").glob("*.tif"))[0].name
    truth = (tifffile.imread(DATA / "bbbc039_fluo_nuclei" / "masks" / name) > 0).astype(np.uint8)
    image = tifffile.imread(DATA / "bbbc039_fluo_nuclei" / "images" / name).astype(np.float32)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    otsu = (image > filters.threshold_otsu(image)).astype(np.uint8)
    return truth, otsu


@functools.cache
def real_volume() -> np.ndarray:
    """A 3D ground-truth nuclei mask (synthetic StarDist stack)."""
    path = DATA / "stardist_synthetic_3d" / "masks" / "img3d_z00-15.tif"
    return (tifffile.imread(path) > 0).astype(np.uint8)


@functools.cache
def real_labels() -> np.ndarray:
    """The ground-truth nuclei labels of :func:`real_masks`."""
    path = sorted((DATA / "bbbc039_fluo_nuclei" / "masks").glob("*.tif"))[0]
    return tifffile.imread(path).astype(np.int32)


def random_masks(ndim: int, count: int, seed: int) -> list[np.ndarray]:
    """Speckle and blobby masks at several densities."""
    rng = np.random.default_rng(seed)
    masks = []
    for i in range(count):
        shape = tuple(rng.integers(20, 60, ndim)) if ndim == 2 else tuple(rng.integers(6, 16, 3))
        if i % 2:
            mask = rng.random(shape) < (0.1, 0.3, 0.5, 0.7, 0.9)[i % 5]
        else:
            mask = ndi.gaussian_filter(rng.random(shape), 1.0 + i % 3) > 0.5
        masks.append(mask.astype(np.uint8))
    return masks


def random_labels(ndim: int, count: int, seed: int) -> list[np.ndarray]:
    """Blobs cut into touching labels; some ids above 2**16 (the float32 filter path)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        shape = tuple(rng.integers(20, 50, ndim)) if ndim == 2 else tuple(rng.integers(8, 14, 3))
        foreground = ndi.gaussian_filter(rng.random(shape), 1.5) > 0.5
        seeds = np.zeros(shape, np.int32)
        where = tuple(rng.integers(0, s, 6) for s in shape)
        seeds[where] = rng.permutation(6) + 2 + (70000 if i % 3 == 0 else 0)
        out.append((segmentation.expand_labels(seeds, 100) * foreground).astype(np.int32))
    return out


MASKS_2D = random_masks(2, 10, seed=1)
MASKS_3D = random_masks(3, 6, seed=2)
LABELS_2D = random_labels(2, 6, seed=3)
LABELS_3D = random_labels(3, 3, seed=4)


def border_masks() -> list[np.ndarray]:
    """Masks full to the border, framed, open to one side, and empty."""
    framed = np.zeros((23, 70), np.uint8)
    framed[[0, -1]] = framed[:, [0, -1]] = 1
    framed[8:15, 30:40] = 1
    half = np.zeros((40, 129), np.uint8)
    half[:, :64] = 1
    half[17, 10] = half[0, 100] = 0
    return [np.ones((30, 65), np.uint8), framed, 1 - framed, half, half.T.copy(),
            np.zeros((9, 9), np.uint8)]


def odd_shape_masks() -> list[np.ndarray]:
    """Single rows and columns, masks smaller than the footprint, widths at word bounds."""
    rng = np.random.default_rng(5)
    shapes = [(1, 1), (1, 40), (40, 1), (1, 200), (200, 1), (2, 3), (3, 2), (5, 5),
              (7, 63), (6, 64), (5, 65), (9, 127), (4, 128), (3, 129)]
    return [(rng.random(shape) < 0.6).astype(np.uint8) for shape in shapes]


# --------------------------------------------------------------------------- references
STEPS = {morphology.erosion: "e", morphology.dilation: "d", morphology.opening: "ed",
         morphology.closing: "de"}


def reference_morphology(reference, mask: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """scikit-image's result. SciPy's grey filters under it return garbage on arrays smaller
    than the footprint (seen with SciPy 1.17), so there each step runs on the array padded
    with neutral pixels (what pixels outside count as: foreground to erode, background to
    dilate) and is cropped back."""
    if min(mask.shape) > fp.shape[0]:
        return reference(mask.astype(bool), fp)
    radius = fp.shape[0] // 2
    out = mask.astype(bool)
    for step in STEPS[reference]:
        padded = np.pad(out, radius, constant_values=step == "e")
        step_reference = morphology.erosion if step == "e" else morphology.dilation
        out = step_reference(padded, fp)[radius:-radius, radius:-radius]
    return out


def reference_fill(mask: np.ndarray, max_hole_size: int | None) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes``, with ``max_hole_size`` only its small holes."""
    filled = ndi.binary_fill_holes(mask)
    if max_hole_size is None:
        return filled
    holes, _ = ndi.label(filled & ~mask.astype(bool))
    small = np.bincount(holes.ravel()) <= max_hole_size
    small[0] = False
    return mask.astype(bool) | small[holes]


def reference_select(mask: np.ndarray, connectivity: int, min_size: int,
                     max_size: int | None) -> np.ndarray:
    """The objects of ``min_size`` to ``max_size`` pixels (None: no upper bound), as
    ``skimage.morphology.remove_small_objects`` keeps and removes them."""
    b = mask.astype(bool)
    kept = b
    if min_size > 0:
        kept = morphology.remove_small_objects(b, max_size=min_size - 1,
                                               connectivity=connectivity)
    if max_size is not None:
        kept = kept & ~morphology.remove_small_objects(b, max_size=max_size,
                                                       connectivity=connectivity)
    return kept
