"""Erosion and dilation of bit-packed 2D masks, 64 pixels a word, by a union of centred
rectangles (every disk and diamond is one).

Reference: ``skimage.morphology.erosion`` / ``dilation`` of ``mask.astype(bool)`` by the
footprint the rectangles make up, pixels outside the array neutral (erosion does not eat in
from the border, dilation does not grow out of it). Erosion by a union of footprints is the
minimum of the erosions by each (dilation: the maximum), and a rectangle's is its row
window's then its column window's: on packed rows a row window is a few word shifts, a
column window combines whole rows. Tested on its own in ``tests/kernels/test_bitpacked.py``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["filter_steps"]

# Words in each of a packed block's three buffers: numpy's per-call cost stays small and the
# block in cache.
_BLOCK_WORDS = 1 << 16
_WORD = np.dtype("<u8")  # 64 pixels, pixel i of the word at bit i (packbits' little bit order)


def filter_steps(mask: np.ndarray, rectangles: tuple[tuple[int, int], ...],
                 erosions: tuple[bool, ...]) -> np.ndarray:
    """A uint8 0/1 2D mask eroded (True) and dilated (False) in the given order by the union
    of the centred ``rectangles`` ((half-height, half-width) each, by increasing width and
    decreasing height; every half-size below 64), packed once for all the steps."""
    width = mask.shape[1]
    packed = np.packbits(mask, axis=1, bitorder="little")
    for erosion in erosions:
        packed = _filter_packed(packed, width, rectangles, erosion)
    return np.unpackbits(packed, axis=1, count=width, bitorder="little")


def _filter_packed(packed: np.ndarray, width: int, rectangles: tuple[tuple[int, int], ...],
                   erode: bool) -> np.ndarray:
    """Erosion (AND) or dilation (OR) of a bit-packed 2D mask by a union of centred
    rectangles; pixels outside the array ignored.

    ``packed`` holds ``width`` pixels a row as ``np.packbits(..., bitorder="little")`` packs
    them (bits past ``width`` are ignored); ``rectangles`` as :func:`filter_steps` takes
    them. Returns the result packed the same way, each row in whole 64-bit words.

    The rows, each padded with at least ``radius`` neutral bits (1 to erode, 0 to dilate),
    run on as one bit stream, so a row window is a shift of the stream: windows anchored at
    their left end double in width (4 numpy calls a step) and each rectangle's is centred by
    one shift. Column windows combine whole rows. Blocks of rows, with ``radius`` halo rows
    on each side, are filtered in turn in three buffers that stay in cache.
    """
    combine = np.bitwise_and if erode else np.bitwise_or
    neutral = 0xFF if erode else 0
    height = packed.shape[0]
    radius = max(max(h, w) for h, w in rectangles)
    words = -(-(width + radius) // 64)  # a row and at least radius neutral bits
    row_bytes = -(-width // 8)
    tail = (0xFF << width % 8) & 0xFF if width % 8 else 0  # bits past width in the last byte
    # Each rectangle supplies the rows dy, below < |dy| <= h, not in the next (wider, lower) one.
    belows = [h for h, _ in rectangles[1:]] + [-1]

    out = np.empty((height, words), _WORD)
    block_rows = max(min(height, _BLOCK_WORDS // words - 2 * radius), 4 * radius, 1)
    scratch = np.empty((3, (block_rows + 2 * radius) * words + 2), _WORD)
    for top in range(0, height, block_rows):
        bottom = min(top + block_rows, height)
        # A word of padding left of the first row, the rows, and a word that shifts read
        # past the last one (its bits reach padding only).
        length = (bottom - top + 2 * radius) * words + 2
        buffers = [buffer[:length] for buffer in scratch]
        buffers[0].view(np.uint8).fill(neutral)  # padding, and halo rows past the array's ends
        grid = buffers[0][1:-1].view(np.uint8).reshape(-1, 8 * words)
        first, last = max(top - radius, 0), min(bottom + radius, height)
        block = grid[first - (top - radius):last - (top - radius)]
        block[:, :row_bytes] = packed[first:last, :row_bytes]
        if tail and erode:
            block[:, row_bytes - 1] |= tail
        elif tail:
            block[:, row_bytes - 1] &= ~tail & 0xFF

        result = out[top:bottom].reshape(-1)
        window, span, filled = buffers[0], 1, False
        for (h, w), below in zip(rectangles, belows, strict=True):
            while span < 2 * w + 1:  # the left-anchored window of 2w + 1 pixels
                step = min(span, 2 * w + 1 - span)
                following, carry = (buffer for buffer in buffers if buffer is not window)
                _window_right(window, following, carry, step, combine)
                window, span = following, span + step
            centred = window
            if w:
                centred, carry = (buffer for buffer in buffers if buffer is not window)
                _shift_right(window, centred, carry, w)
            for dy in range(below + 1, h + 1):
                for offset in (dy, -dy) if dy else (0,):
                    start = 1 + (radius + offset) * words
                    shifted = centred[start:start + result.size]
                    if filled:
                        combine(result, shifted, out=result)
                    else:
                        np.copyto(result, shifted)
                        filled = True
    return out.view(np.uint8)


def _window_right(src: np.ndarray, dst: np.ndarray, carry: np.ndarray, shift: int,
                  combine: np.ufunc) -> None:
    """``dst[j] = combine(src[j], src[j + shift])`` over the bits of a stream of words; the
    last word is only read."""
    np.right_shift(src[:-1], shift, out=dst[:-1])
    np.left_shift(src[1:], 64 - shift, out=carry[:-1])  # the next word's low bits
    np.bitwise_or(dst[:-1], carry[:-1], out=dst[:-1])
    combine(dst[:-1], src[:-1], out=dst[:-1])


def _shift_right(src: np.ndarray, dst: np.ndarray, carry: np.ndarray, shift: int) -> None:
    """``dst[j] = src[j - shift]`` over the bits of a stream of words; the first word of
    ``dst`` is left as it is."""
    np.left_shift(src[1:], shift, out=dst[1:])
    np.right_shift(src[:-1], 64 - shift, out=carry[1:])  # the previous word's high bits
    np.bitwise_or(dst[1:], carry[1:], out=dst[1:])
