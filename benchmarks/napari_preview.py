#!/usr/bin/env python
"""The first threshold preview on a 100k × 100k slide in napari (target: within 100 ms).

    python benchmarks/napari_preview.py [--repeats 5]

The slide is a lazy dask pyramid (chunks of 1024², levels 100k down to 1563, random uint8
made per chunk when read, nothing stored), added to a ``ViewerModel`` as a multiscale Image.
For three views (napari's displayed level and visible corners, set as the canvas sets
them), a fresh Segment stage model times ``request_preview().run()`` and ``show_preview``:
what the widget does after its 150 ms debounce, in its worker and then on the GUI thread.
Printed: milliseconds (median of the repeats, each a new model: no statistic kept), the
region's size and the chunks read. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time

import dask.array as da
import numpy as np
from napari.components import ViewerModel

from napari_maskprep._napari.stage import StageModel

SIDE = 100_000
CHUNK = 1024


def pyramid(reads: list[int]) -> list[da.Array]:
    sides = [SIDE]
    while sides[-1] > 1600:
        sides.append((sides[-1] + 1) // 2)
    rng = da.random.default_rng(0)

    def counted(block: np.ndarray) -> np.ndarray:
        reads.append(1)
        return block

    return [rng.integers(0, 256, (n, n), chunks=CHUNK, dtype=np.uint8).map_blocks(counted)
            for n in sides]


VIEWS = {  # name: (level, first visible pixel, last visible pixel), as napari sets them
    "as opened (top level, 1563², whole)": (6, (0, 0), (1562, 1562)),
    "zoomed to full resolution (1366×768 screen)": (0, (50_000, 50_000), (50_767, 51_365)),
    "half-way zoom (level 3, clipped to 4 MP)": (3, (2_000, 2_000), (5_999, 9_999)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--op", default="segment.threshold",
                        choices=["segment.threshold", "segment.auto_threshold"])
    args = parser.parse_args()
    reads: list[int] = []
    viewer = ViewerModel()
    layer = viewer.add_image(pyramid(reads), multiscale=True, name="slide")
    print(f"{args.op} preview on a {SIDE}×{SIDE} lazy pyramid, chunks {CHUNK}²")
    for name, (level, lo, hi) in VIEWS.items():
        layer.data_level = level
        layer.corner_pixels = np.array([lo, hi])
        times = []
        for _ in range(args.repeats):
            model = StageModel(viewer, "segment")
            model.set_op(args.op)
            reads.clear()
            start = time.perf_counter()
            job = model.request_preview()
            model.show_preview(job, job.run())
            times.append((time.perf_counter() - start) * 1000)
            chunks = len(reads)
            model.close()
        shape = "×".join(map(str, job.region.shape[::-1]))
        print(f"  {name}: {statistics.median(times):6.1f} ms (min {min(times):.1f}), "
              f"region {shape} at level {level}, {chunks} chunks read")


if __name__ == "__main__":
    main()
