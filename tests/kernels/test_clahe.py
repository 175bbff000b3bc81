"""kernels.clahe: OpenCV's CLAHE rebuilt from region histograms that rectangles of the image
add up, equal to ``cv2.createCLAHE(clip_limit, (tiles, tiles)).apply`` bit for bit, padding
by reflection, clipping and the float32 interpolation included."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from napari_maskprep.kernels.clahe import geometry, interpolate, region_counts, tables

from ..preprocess_images import fluo_uint8, fluo_uint16, random_image


def _cuts(size: int, rng: np.random.Generator) -> list[int]:
    return [0, *sorted(set(rng.integers(1, size, 3).tolist())), size]


def clahe_in_rectangles(image: np.ndarray, clip_limit: float, tiles: int, seed: int
                        ) -> np.ndarray:
    """The CLAHE of ``image`` as a tiled run makes it: counts and output rectangle by
    rectangle (random cuts), the tables from the added counts."""
    rng = np.random.default_rng(seed)
    rows, columns = _cuts(image.shape[0], rng), _cuts(image.shape[1], rng)
    rectangles = [(slice(a, b), slice(c, d)) for a, b in zip(rows, rows[1:], strict=False)
                  for c, d in zip(columns, columns[1:], strict=False)]
    size = 256 if image.dtype == np.uint8 else 65536
    counts = np.zeros((tiles, tiles, size), np.int64)
    for r in rectangles:
        found = region_counts(image[r], (r[0].start, r[1].start), image.shape, tiles)
        for (ty, tx), (values, n) in found.items():
            counts[ty, tx, values] += n
    _, tile = geometry(image.shape, tiles)
    luts = tables(counts, clip_limit, tile, image.dtype)
    out = np.empty_like(image)
    for r in rectangles:
        out[r] = interpolate(image[r], (r[0].start, r[1].start), luts, tile)
    return out


@pytest.mark.parametrize(("clip_limit", "tiles"), [(2.0, 8), (0.0, 3), (10.0, 1), (4.0, 13),
                                                   (1.0, 5), (0.5, 64)])
def test_clahe_in_rectangles_is_opencvs(clip_limit, tiles):
    images = [fluo_uint8(), fluo_uint16(), fluo_uint16()[:301, :437], fluo_uint8()[:257, :64],
              random_image((64, 80), np.uint8), random_image((97, 131), np.uint16)]
    for seed, image in enumerate(images):
        if tiles > min(image.shape) or (image.dtype == np.uint16 and tiles > 16):
            continue  # 16-bit tables of 64 x 64 regions: 512 MB, too much for a unit test
        want = cv2.createCLAHE(clip_limit, (tiles, tiles)).apply(image)
        np.testing.assert_array_equal(clahe_in_rectangles(image, clip_limit, tiles, seed), want)


def test_padding_reflects_rows_and_columns_past_the_image():
    """8 rows, 9 columns, 8 tiles: both sides grow by 8 - side % 8 (the rows by a full 8,
    reflected back and forth), as OpenCV pads them."""
    image = random_image((8, 9), np.uint8, seed=3)
    assert geometry(image.shape, 8) == ((16, 16), (2, 2))
    np.testing.assert_array_equal(clahe_in_rectangles(image, 2.0, 8, 0),
                                  cv2.createCLAHE(2.0, (8, 8)).apply(image))
