#!/usr/bin/env python
"""How long Preview and Apply hold napari's event loop on a 16 MP image (target: 50 ms).

    python benchmarks/napari_event_loop.py [--side 4096]

A shown napari window (run it under Xvfb or on a desktop) holds the nuclei sample tiled to
``side`` × ``side`` uint16 and the Mask Prep panel. A 5 ms Qt timer stamps the event
loop while each action runs; the longest gap between stamps is how long the window could
not repaint or take a click. Actions: choosing the input (the intensity range the sliders
span), the first auto-threshold preview, two threshold slider moves while previewing (the
first after the op changed), Apply with the preview shown (the preview becomes the output),
Apply of another op (a new layer), and an in-place open on the mask, after napari's
one-time costs (a first small layer), beside napari's own insert of an 8×8 Labels layer (the
floor of any action that adds a layer) and Python's full garbage collection of the session's
objects, which can fall within any of them.
Printed: the longest gap and the action's wall time, in
ms. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

import napari
import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from napari_maskprep._napari import _sample_data
from napari_maskprep._napari.panel import MaskPrepPanel

TICK_MS = 5


class LoopWatch:
    """The longest time between two ticks of a 5 ms timer: how long the loop was held."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.stamps.append(time.perf_counter()))

    def measure(self, start: Callable[[], object], done: Callable[[], bool]) -> tuple[float, float]:
        app = QApplication.instance()
        self.stamps = [time.perf_counter()]
        self.timer.start()
        begin = time.perf_counter()
        start()
        while not done():
            app.processEvents()
            time.sleep(0.001)
        wall = time.perf_counter() - begin
        for _ in range(20):  # what the result's layer costs to draw lands after it is written
            app.processEvents()
            time.sleep(0.005)
        self.timer.stop()
        self.stamps.append(time.perf_counter())
        gaps = np.diff(self.stamps)
        return float(gaps.max()) * 1000, wall * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=4096)
    args = parser.parse_args()
    nuclei = next(d for d, kw, _ in _sample_data.nuclei() if kw["name"] == "nuclei")
    reps = (-(-args.side // nuclei.shape[0]), -(-args.side // nuclei.shape[1]))
    image = np.tile(nuclei, reps)[: args.side, : args.side].copy()
    viewer = napari.Viewer(show=True)
    panel = MaskPrepPanel(viewer)
    viewer.window.add_dock_widget(panel, name="Mask Prep")
    segment, refine = panel.stages["segment"], panel.stages["refine"]
    watch = LoopWatch()
    app = QApplication.instance()
    # napari's one-time costs (pint's unit registry, pandas for Labels features: 0.6 s) are
    # paid by a small layer first, as a session would have before its big image.
    warm = viewer.add_labels(np.zeros((8, 8), np.uint8))
    viewer.layers.remove(warm)
    for _ in range(20):
        app.processEvents()
    print(f"{image.shape[0]}×{image.shape[1]} {image.dtype} ({image.size / 1e6:.0f} MP), "
          f"longest event-loop gap (ms) / wall time (ms)")

    def report(name: str, start: Callable[[], object], done: Callable[[], bool]) -> None:
        gap, wall = watch.measure(start, done)
        print(f"  {name:<40} {gap:7.0f} {wall:9.0f}")

    # napari's own floor: any new layer costs this, whatever its size and without the plugin.
    small = np.zeros((8, 8), np.uint8)
    report("napari alone: add an 8×8 Labels layer", lambda: viewer.add_labels(small, name="small"),
           lambda: True)
    viewer.layers.remove("small")
    report("add the image (inputs, intensity range)",
           lambda: viewer.add_image(image, name="big"), lambda: True)
    segment.select("segment.auto_threshold", viewer.layers["big"])
    preview = f"big-auto_threshold{' [preview]'}"
    report("first preview (auto threshold)", lambda: setattr(segment.preview_box, "value", True),
           lambda: preview in viewer.layers and not segment.previewing)
    segment.select("segment.threshold")
    for n, value in enumerate((700.0, 800.0), 1):
        report(f"threshold slider move {n}, preview shown",
               lambda v=value: setattr(segment.param_editors["value"], "value", v),
               lambda: not segment.previewing)
    report("Apply (threshold), preview shown", segment.apply, lambda: not segment.running)
    segment.select("segment.auto_threshold")
    report("Apply (auto threshold), a new layer", segment.apply, lambda: not segment.running)
    refine.select("refine.open", viewer.layers["big-auto_threshold"])
    refine.in_place_box.value = True
    report("Apply in place (open, radius 2)", refine.apply, lambda: not refine.running)
    # Python's full collection lands in whichever turn it starts in: the tops of the ranges.
    report(f"a full garbage collection ({len(gc.get_objects())} objects)", gc.collect,
           lambda: True)
    viewer.close()


if __name__ == "__main__":
    main()
