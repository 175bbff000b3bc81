"""Gaussian blur, separable, in the image's own dtype (integers rounded).

Reference: ``skimage.filters.gaussian(image, sigma, preserve_range=True, truncate=4,
mode='nearest')`` (``scipy.ndimage.gaussian_filter``), rounded for integer images.

- 2D uint8, uint16, int16, float32 and float64 images take ``cv2.sepFilter2D`` with the same
  kernel (``cv2.getGaussianKernel`` of size ``2 * int(4 * sigma + 0.5) + 1``) and
  ``BORDER_REPLICATE``: integers within 1 grey level of the reference, floats within 1e-4
  relative (measured: about 1e-6). ``cv2.GaussianBlur`` is not used: its fixed-point
  uint8/uint16 path is off by up to 3 grey levels.
- uint16 images with kernels of 7 taps or more are blurred in float32 (bit-identical to
  cv2's own uint16 filter, faster), one cache-sized tile at a time, as are uint8 images on
  one thread if wider than 2048 pixels or 1024 or 2048 wide: each tile is read with a halo
  of at least the kernel radius and cropped, so the result is bit-identical to one call on
  the whole image, without a float32 copy of it.
- 3D images except float64 and 32/64-bit integers run ``cv2.sepFilter2D`` in float32 plane
  by plane, then along z (within 1e-6 relative of ``scipy.ndimage.gaussian_filter``).
- Everything else runs ``scipy.ndimage.gaussian_filter`` into float32 (float64 for float64
  and 32/64-bit integer images).

Tested against the reference in ``tests/kernels/test_gaussian.py``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import cv2
import numpy as np
from scipy import ndimage as ndi

from .dtypes import CV_DTYPES, CV_INT_DEPTHS, from_float, work_float
from .threads import thread_budget

__all__ = ["TRUNCATE", "VECTOR_ALIGN", "gaussian_blur", "kernel_radius"]

# scipy.ndimage.gaussian_filter / skimage.filters.gaussian truncate the kernel at 4 sigma.
TRUNCATE = 4.0
# Columns a crop starts at a multiple of, so each column falls in the lanes the whole
# image's does and is rounded the same: cv2's uint8 filter steps 32 values at a time (four
# AVX2 float32 vectors), and a row's last 16 or fewer in shorter vectors (at 16, 1 pixel of
# a uint8 sigma=1 blur cut in 50-column chunks differed by one grey level).
VECTOR_ALIGN = 32


def kernel_radius(sigma: float) -> int:
    """Radius in pixels of the Gaussian kernel of ``sigma``, cut at ``TRUNCATE`` sigma."""
    return int(TRUNCATE * sigma + 0.5)


def gaussian_blur(image: np.ndarray, sigma: float, *, has_channels: bool) -> np.ndarray:
    """Gaussian blur of a 2D or 3D image (channels, on a last axis, blurred independently),
    same shape and dtype (integers rounded, saturated)."""
    spatial = image.ndim - has_channels
    kernel = cv2.getGaussianKernel(2 * kernel_radius(sigma) + 1, sigma, cv2.CV_64F)
    float_route = image.dtype == np.uint16 and len(kernel) >= _U16_FLOAT_MIN_KSIZE
    # uint8 needs no conversion: tiles pay off only as narrower bands of a wide image or
    # padded off a slow width, and only on one thread (on two, cv2's own parallel filter
    # measured as fast or faster).
    tiled_uint8 = image.dtype == np.uint8 and thread_budget() == 1 and (
        image.shape[1] > _TILE_COLUMNS or _padded_off_aliasing(image[0].size))
    if spatial == 2 and (float_route or tiled_uint8):
        return _gaussian_2d_tiled(image, kernel)
    if spatial == 2 and image.dtype in CV_DTYPES:
        return cv2.sepFilter2D(image, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    if spatial == 3 and work_float(image.dtype) is np.float32:
        return _round_float32(_gaussian_float32(image, kernel), image.dtype)
    sigmas = (sigma,) * spatial + (0.0,) * has_channels
    blurred = ndi.gaussian_filter(
        image, sigmas, mode="nearest", truncate=TRUNCATE, output=work_float(image.dtype)
    )
    return from_float(blurred, image.dtype)


# cv2's own uint16 sepFilter2D is 3-5x slower than a float32 round trip; the two agree bit for
# bit from kernels of 7 taps on (shorter kernels take another cv2 path, off by 1 at times).
_U16_FLOAT_MIN_KSIZE = 7
# Columns of the (z, y*x) view filtered along z per call: keeps the rows cv2 buffers in cache.
_Z_CHUNK = 4096
# The float32 route of 2D uint16 images (and 2D uint8 where it pays off) goes tile by tile:
# about this many bytes of float32 (halo included) per tile stay in cache, where a float32
# copy of a whole 256 MP image made the blur 1.5-2x slower per pixel than at 16 MP.
_TILE_BYTES = 2**21
# Tile width in pixels: cv2's column pass cycles through len(kernel) filtered rows of the
# tile, which must fit in L2 (16384-pixel rows made sigma=3 1.8x slower).
_TILE_COLUMNS = 2048
# cv2 filters a row in SIMD steps and its last (width mod step) values in scalar code, which
# can differ in the last bit. A band of tiles holds whole steps (of up to this many values:
# two AVX-512 vectors of uint8), or ends with the image and starts on a step, so each pixel
# is computed by the same code as in one call on the whole image.
_SIMD_SPAN = 128


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _ring_aliased(values: int) -> bool:
    """Whether cv2's ring buffer of filtered rows, ``values`` wide, has rows 4 KB apart.

    Its rows are padded to a multiple of 64 float32 values (widths 993 to 1024 measured as
    slow as 1024); rows a multiple of 4 KB apart evict each other from L1, and the column
    pass runs 1.5-2x slower.
    """
    return _ceil_div(values, 64) * 64 % 1024 == 0


def _padded_off_aliasing(values: int) -> bool:
    """Whether a tile row of ``values``, ending with the image, is padded (_column_bands)."""
    return values % _SIMD_SPAN == 0 and _ring_aliased(values)


def _column_bands(cols: int, channels: int, radius: int) -> list[tuple[slice, slice]]:
    """(own, read) columns of each band of tiles; read has at least ``radius`` more a side.

    The last read range may run past the image, to be filled with copies of its last column.
    """
    count = _ceil_div(cols, _TILE_COLUMNS)
    edges = [cols * k // count for k in range(count + 1)]
    bands = []
    for left, right in itertools.pairwise(edges):
        start = max(left - radius, 0)
        stop = start + _ceil_div(right + radius - start, _SIMD_SPAN) * _SIMD_SPAN
        if stop < cols and _ring_aliased((stop - start) * channels):
            stop += _SIMD_SPAN
        if stop >= cols:  # ends with the image: starts on a whole step instead
            start, stop = start // _SIMD_SPAN * _SIMD_SPAN, cols
            while start >= _SIMD_SPAN and _ring_aliased((stop - start) * channels):
                start -= _SIMD_SPAN
            # A row of whole steps has no scalar tail, padded or not: the padding (copies of
            # the edge pixel, as cv2's border) changes no value. 1.3-1.5x faster at 1024.
            if _padded_off_aliasing((stop - start) * channels):
                stop += _SIMD_SPAN // 2
        bands.append((slice(left, right), slice(start, stop)))
    return bands


# Work buffers of finished tiled blurs, for the next ones: a new 2 MB buffer per call can
# come fresh from the OS each time (glibc trims its heap), and its page faults made the 1 MP
# blur 1.6x slower. At most one per thread that ran at the same time; none over 8 MB.
_SPARE_MAX_BYTES = 2**23
_spare_buffers: list[np.ndarray] = []
_spare_lock = threading.Lock()


@contextmanager
def _work_buffer(shape: tuple[int, ...], dtype: type) -> Iterator[np.ndarray]:
    """An uninitialised array in a spare buffer (a new one if none is big enough)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with _spare_lock:
        spare = _spare_buffers.pop() if _spare_buffers else None
    if spare is None or spare.nbytes < nbytes:
        spare = np.empty(nbytes, np.uint8)  # one too small is dropped
    try:
        yield spare[:nbytes].view(dtype).reshape(shape)
    finally:
        if spare.nbytes <= _SPARE_MAX_BYTES:
            with _spare_lock:
                _spare_buffers.append(spare)


def _gaussian_2d_tiled(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable blur of a 2D uint8 or uint16 image (+ colour axis), tile by tile.

    uint8 is filtered as it is, uint16 in float32 and rounded back. Each tile is read with at
    least ``len(kernel) // 2`` rows and columns of its neighbours and cropped after
    filtering, so only the image's own edges see repeated pixels: the result is
    bit-identical to one ``cv2.sepFilter2D`` of the whole image (in float32 for uint16).
    Tiles run on ``thread_budget()`` threads, each with its own buffer.
    """
    radius = len(kernel) // 2
    rows, cols = image.shape[:2]
    channels = image[0, 0].size
    in_float32 = image.dtype == np.uint16
    bands = _column_bands(cols, channels, radius)
    read_width = max(read.stop - read.start for _, read in bands)
    row_bytes = 4 * read_width * channels
    # At least 8 radii of rows of its own, so a large kernel's halo stays a small overhead.
    height = max(_TILE_BYTES // row_bytes - 2 * radius, 8 * radius, 1)
    # Each band in equal stripes, a multiple of `threads` of them: even shares for the
    # threads, on small images too.
    threads = thread_budget()
    stripes = min(_ceil_div(_ceil_div(rows, height), threads) * threads, rows)
    height = _ceil_div(rows, stripes)
    # (own rows, own columns, read rows, read columns); read rows stop at the image's edges,
    # where cv2 repeats the edge pixel as it does on the whole image.
    tiles = [
        (slice(top, min(top + height, rows)), own_cols,
         slice(max(top - radius, 0), min(top + height + radius, rows)), read_cols)
        for own_cols, read_cols in bands
        for top in range(0, rows, height)
    ]
    buffer_shape = (min(height + 2 * radius, rows), read_width, *image.shape[2:])
    out = np.empty_like(image)

    def blur(own_tiles: list[tuple[slice, slice, slice, slice]]) -> None:
        with _work_buffer(buffer_shape, np.float32 if in_float32 else image.dtype) as buffer:
            for own_rows, own_cols, read_rows, read_cols in own_tiles:
                source = image[read_rows, read_cols]  # without the padding
                block = buffer[: source.shape[0], : read_cols.stop - read_cols.start]
                np.copyto(block[:, : source.shape[1]], source)
                np.copyto(block[:, source.shape[1] :], source[:, -1:])
                # In place, as the whole-image float32 route did: bit-identical, one buffer.
                cv2.sepFilter2D(block, -1, kernel, kernel, dst=block,
                                borderType=cv2.BORDER_REPLICATE)
                crop = block[own_rows.start - read_rows.start : own_rows.stop - read_rows.start,
                             own_cols.start - read_cols.start : own_cols.stop - read_cols.start]
                if in_float32 and crop.size == 1:  # cv2 takes a 1 x 1 array for a scalar
                    out[own_rows, own_cols] = from_float(crop, out.dtype)
                elif in_float32:  # cv2's saturating conversion rounds half to even
                    cv2.add(crop, 0.0, dst=out[own_rows, own_cols], dtype=cv2.CV_16U)
                else:
                    out[own_rows, own_cols] = crop

    threads = min(threads, len(tiles))
    if threads == 1:
        blur(tiles)
        return out
    shares = [tiles[len(tiles) * i // threads : len(tiles) * (i + 1) // threads]
              for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(blur, shares))  # list() re-raises a thread's exception
    return out


def _gaussian_float32(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable blur of a 3D image (+ colour axis) into a new float32 array.

    Each plane in y and x, then z over the (z, y*x) view, all in place; about 5x faster
    than ``scipy.ndimage.gaussian_filter`` and within float32 rounding of it (~1e-7 relative).
    """
    source = image.astype(np.float32)
    # In place is fastest on one cv2 thread, but cv2's parallel filter on an aliased output
    # is slower than one thread (measured 80 vs 54 ms at 16 MP): then a second buffer.
    blurred = source if cv2.getNumThreads() == 1 else np.empty_like(source)
    for plane, out in zip(source, blurred, strict=True):
        cv2.sepFilter2D(plane, -1, kernel, kernel, dst=out, borderType=cv2.BORDER_REPLICATE)
    # Along z, from the second buffer back into the first (the same one on one thread).
    columns, back = blurred.reshape(len(blurred), -1), source.reshape(len(source), -1)
    one = np.ones((1, 1))
    for start in range(0, columns.shape[1], _Z_CHUNK):
        cut = slice(start, start + _Z_CHUNK)
        cv2.sepFilter2D(columns[:, cut], -1, one, kernel, dst=back[:, cut],
                        borderType=cv2.BORDER_REPLICATE)
    return source


def _round_float32(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 results as ``dtype``, as ``from_float`` (round half to even, saturate)."""
    depth = CV_INT_DEPTHS.get(np.dtype(dtype))
    if depth is None or values.size == 1:  # cv2 takes a 1 x 1 array for a scalar (4 values)
        return from_float(values, dtype)
    # cv2's saturating conversion: one pass instead of numpy's rint, clip and astype.
    flat = values.reshape(-1, values.shape[-1])
    return cv2.add(flat, 0.0, dtype=depth).reshape(values.shape)
