#!/usr/bin/env python
"""refine.smooth on labels side by side: label by label (before) and a colour at a time.

    python benchmarks/smooth_labels.py            # every case below, best of 3
    python benchmarks/smooth_labels.py --repeat 1 --skip-slow

``kernels.majority`` votes labels either one at a time in each label's box widened by the
radius (``_per_label``, the only path before), or a colour of labels whose windows never
meet at a time over the whole image (``_by_colours``); ``majority`` picks per label when
the widened boxes cover the image at most ``_PER_LABEL_COVER`` times. Cases: 2000 compact
labels on 1024 x 1024 (radius 2, 10, 20), 2000 ids each used by 10 objects across the image,
2000 ids as pixel noise, 2000 labels in a 32 x 256 x 256 stack. Printed: seconds of each
path (best of N, OpenCV on one thread), which path ``majority`` takes, and whether both
paths gave the same labels. Nothing is asserted; times vary +-30% on a shared machine.
"""

from __future__ import annotations

import argparse
import functools
import time

import cv2
import numpy as np
from skimage.segmentation import expand_labels

from napari_maskprep.kernels import majority
from napari_maskprep.kernels.components import dense_ids
from napari_maskprep.kernels.morphology import footprint, z_slices

_SEED = 0


def _grown(shape: tuple[int, ...], seeds: int, grow: int) -> np.ndarray:
    rng = np.random.default_rng(_SEED)
    labels = np.zeros(shape, np.int32)
    labels.flat[rng.choice(labels.size, seeds, replace=False)] = np.arange(1, seeds + 1)
    return expand_labels(labels, grow).astype(np.int32)


def _cases() -> list[tuple[str, np.ndarray, int, bool]]:
    """(name, labels, radius, whether the per-label path takes over a minute)."""
    compact = _grown((1024, 1024), 2000, 15)
    scattered = (_grown((1024, 1024), 20000, 4) % 2000).astype(np.int32)
    noise = np.random.default_rng(_SEED).integers(0, 2001, (1024, 1024)).astype(np.int32)
    stack = _grown((32, 256, 256), 2000, 6)
    return [("2000 compact, 1024^2, r=2", compact, 2, False),
            ("2000 compact, 1024^2, r=10", compact, 10, False),
            ("2000 compact, 1024^2, r=20", compact, 20, False),
            ("2000 ids x 10 objects, 1024^2, r=10", scattered, 10, False),
            ("2000 ids as noise, 1024^2, r=10", noise, 10, True),
            ("2000 labels, 32x256x256, r=2", stack, 2, False),
            ("2000 labels, 32x256x256, r=10", stack, 10, True)]


def _best(function, repeat: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = function()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-slow", action="store_true",
                        help="do not time the per-label path where it takes over a minute")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"{'case':40s} {'per label':>10s} {'colours':>9s} {'smooth':>7s}  same")
    for name, labels, radius, slow in _cases():
        fp = footprint("disk", radius, labels.ndim)
        votes = (majority._boxes(fp) if labels.ndim == 2 else
                 [(majority._boxes(plane), offsets) for plane, offsets in z_slices(fp)])
        half = int(np.count_nonzero(fp)) // 2
        dense, _ = dense_ids(labels)
        boxes = majority._widened_boxes(dense, radius)
        colours_s, by_colours = _best(
            functools.partial(majority._by_colours, dense, votes, half, radius), args.repeat)
        if slow and args.skip_slow:
            per_label_s, same = float("nan"), "-"
        else:
            per_label_s, per_label = _best(
                functools.partial(majority._per_label, dense, boxes, votes, half),
                1 if slow else args.repeat)
            same = "yes" if np.array_equal(per_label, by_colours) else "NO"
        cover = sum(np.prod([s.stop - s.start for s in box]) for _, box in boxes)
        path = ("per label" if cover <= majority._PER_LABEL_COVER * dense.size
                else "colours")
        print(f"{name:40s} {per_label_s:10.2f} {colours_s:9.2f} {path:>12s}  {same}")


if __name__ == "__main__":
    main()
