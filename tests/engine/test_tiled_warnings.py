"""A tiled run's probe drops its own warnings (a corner is not the image), not those of
other threads.

It ignored them with ``catch_warnings`` and ``simplefilter("ignore", MaskprepWarning)``,
which act on the whole process (Python 3.11 has no warning state per thread): while a
tiled run probed, another thread's MaskprepWarning (a napari preview's, a batch file's)
was lost.
"""

from __future__ import annotations

import threading
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from napari_maskprep import MaskprepWarning
from napari_maskprep.engine import tiled

WAIT_S = 20


@pytest.mark.filterwarnings("always:a note from elsewhere")
def test_a_probe_s_ignore_does_not_silence_another_thread(monkeypatch):
    heard: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *_: heard.append(str(message)))
    began, let = threading.Event(), threading.Event()

    class Held:
        """An op that says it has begun, waits until let, then warns."""

        finite = True

        def __call__(self, image, **_):
            began.set()
            let.wait(WAIT_S)
            warnings.warn("a note from the corner", MaskprepWarning, stacklevel=1)
            return image

    step = SimpleNamespace(spec=Held(), params={}, op="test.held")
    corner = np.zeros((4, 4), np.uint8)
    probes = []
    thread = threading.Thread(target=lambda: probes.extend(
        tiled._probe([(0, step)], corner, (64, 64), {})))
    thread.start()
    assert began.wait(WAIT_S)
    warnings.warn("a note from elsewhere", MaskprepWarning, stacklevel=1)
    let.set()
    thread.join()
    assert len(probes) == 1
    assert heard == ["a note from elsewhere"]
