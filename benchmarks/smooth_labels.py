#!/usr/bin/env python
"""refine.smooth on labels side by side: label by label (before) and a colour at a time.

    python benchmarks/smooth_labels.py            # every case below, best of 3
    python benchmarks/smooth_labels.py --repeat 1 --skip-slow

``kernels.majority`` votes labels either one at a time in each label's box widened by the
radius (``_per_label``, the only path before), or a colour of labels whose windows never
meet at a time (``_by_colours``); ``majority`` (``smooth``) picks per label when the
widened boxes cover the image at most ``_PER_LABEL_COVER`` times or count fewer pixels.
Cases: 2000 compact labels on 1024 x 1024 (radius 2, 10, 20), 2000 ids each used by 10
objects across the image, 2000 ids as pixel noise, 2000 labels in a 32 x 256 x 256 stack
(radius 2, 10). Printed: seconds of each path and of ``majority`` (best of N, OpenCV on one
thread), and whether all gave the same labels. Nothing is asserted; times vary +-30% on a
shared machine.
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


def _cases() -> list[tuple[str, np.ndarray, int, str]]:
    """(name, labels, radius, the path that takes over a minute, if one does)."""
    compact = _grown((1024, 1024), 2000, 15)
    scattered = (_grown((1024, 1024), 20000, 4) % 2000).astype(np.int32)
    noise = np.random.default_rng(_SEED).integers(0, 2001, (1024, 1024)).astype(np.int32)
    stack = _grown((32, 256, 256), 2000, 6)
    return [("2000 compact, 1024^2, r=2", compact, 2, ""),
            ("2000 compact, 1024^2, r=10", compact, 10, ""),
            ("2000 compact, 1024^2, r=20", compact, 20, ""),
            ("2000 ids x 10 objects, 1024^2, r=10", scattered, 10, "per label"),
            ("2000 ids as noise, 1024^2, r=10", noise, 10, "per label"),
            ("2000 labels, 32x256x256, r=2", stack, 2, "colours"),
            ("2000 labels, 32x256x256, r=10", stack, 10, "per label")]


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
                        help="do not time a path where it takes over a minute")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"{'case':40s} {'per label':>10s} {'colours':>9s} {'smooth':>12s}  same")
    for name, labels, radius, slow in _cases():
        fp = footprint("disk", radius, labels.ndim)
        votes = (majority._boxes(fp) if labels.ndim == 2 else
                 [(majority._boxes(plane), offsets) for plane, offsets in z_slices(fp)])
        half = int(np.count_nonzero(fp)) // 2
        dense, ids = dense_ids(labels)
        boxes = majority._widened_boxes(dense, radius)
        paths = {"per label": functools.partial(majority._per_label, dense, boxes, votes,
                                                half),
                 "colours": functools.partial(majority._by_colours, dense, votes, half, radius)}
        seconds, outs = {}, []
        for path, function in paths.items():
            if path == slow and args.skip_slow:
                seconds[path] = float("nan")
                continue
            seconds[path], out = _best(function, 1 if path == slow else args.repeat)
            outs.append(out if ids is None else ids[out])
        smooth_s, smoothed = _best(functools.partial(majority.majority, labels, radius),
                                   args.repeat)
        same = all(np.array_equal(smoothed, out) for out in outs)
        print(f"{name:40s} {seconds['per label']:10.2f} {seconds['colours']:9.2f} "
              f"{smooth_s:12.2f}  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
