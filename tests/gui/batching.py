"""A Recorder batch as a person runs one: a threshold recorded on a layer, then the folder."""

from __future__ import annotations

from pathlib import Path

from napari_maskprep._napari.recorder import RecorderWidget
from napari_maskprep._napari.widgets import SegmentWidget

TIMEOUT_MS = 30_000


def threshold_then_batch(qtbot, viewer, layer: str, value: float, infolder: Path,
                         outfolder: Path) -> RecorderWidget:
    """Record a threshold of ``layer`` at ``value``, then batch ``infolder`` into
    ``outfolder``; the Recorder, its batch run."""
    segment, recorder = SegmentWidget(viewer), RecorderWidget(viewer)
    qtbot.addWidget(segment.native)
    qtbot.addWidget(recorder.native)
    segment.select("segment.threshold", viewer.layers[layer])
    segment.param_editors["value"].value = value
    segment.apply()
    qtbot.waitUntil(lambda: len(recorder.model.records) == 1, timeout=TIMEOUT_MS)
    recorder.infolder.value, recorder.outfolder.value = infolder, outfolder
    recorder.run_batch()
    qtbot.waitUntil(lambda: not recorder.running, timeout=TIMEOUT_MS)
    return recorder
