"""Where paint strokes changed a Labels layer, read from napari's paint events."""

from __future__ import annotations

import numpy as np
from napari.components import ViewerModel

from napari_maskprep._napari.strokes import ChangedBoxes, StrokeHistory, atoms_box, union


def test_boxes_of_index_and_slice_atoms_and_their_union():
    shape = (100, 120)
    indices = ((np.array([4, 9]), np.array([30, 7])), None, 1)
    boxed = ((slice(50, 60), slice(None, 10)), None, None, 1)
    assert atoms_box([indices], shape) == (slice(4, 10), slice(7, 31))
    assert atoms_box([boxed], shape) == (slice(50, 60), slice(0, 10))
    assert atoms_box([indices, boxed], shape) == (slice(4, 60), slice(0, 31))
    assert atoms_box([((slice(0, 9, 2), slice(0, 5)), None, 1)], shape) is None  # strided
    assert union((slice(1, 2),), None) is None


def test_paint_events_grow_a_layers_box_until_taken():
    viewer = ViewerModel()
    layer = viewer.add_labels(np.zeros((64, 64), np.uint8))
    boxes = ChangedBoxes()
    layer.events.paint.connect(lambda event: boxes.add(layer, event))
    layer.brush_size = 3
    layer.paint((10, 10), 1)
    layer.data_setitem((np.array([40]), np.array([5])), 1)
    box = boxes.take(layer)
    changed = np.nonzero(layer.data)
    assert all(s.start <= c.min() and c.max() < s.stop for s, c in zip(box, changed,
                                                                      strict=True))
    assert box[0].stop == 41 and box[1].start == 5 and box[0].start >= 8
    assert boxes.take(layer) is None  # taken: nothing known, so anywhere


def test_undo_and_redo_of_brush_fill_and_index_strokes_are_told_by_a_pixel():
    viewer = ViewerModel()
    layer = viewer.add_labels(np.zeros((64, 64), np.uint8))
    strokes = StrokeHistory()
    layer.events.paint.connect(lambda event: strokes.painted(layer, event.value))
    layer.brush_size = 3
    layer.paint((10, 10), 1)  # the brush: a box and a mask
    layer.data_setitem((np.array([40, 41]), np.array([5, 5])), 2)  # index arrays
    layer.data_setitem((np.array([50]), np.array([50])), 0)  # changes nothing: no stroke
    layer.fill((30, 30), 3)  # the whole background, outside the strokes
    assert strokes.moved(layer) == []  # a redraw: nothing taken back
    layer.undo()
    assert strokes.moved(layer) == [(slice(0, 64), slice(0, 64))]
    layer.undo()
    layer.undo()
    assert strokes.moved(layer) == [(slice(40, 42), slice(5, 6)), (slice(9, 12), slice(9, 12))]
    layer.redo()
    assert strokes.moved(layer) == [(slice(9, 12), slice(9, 12))]
    layer.paint((20, 20), 1)  # a new stroke: nothing left to redo
    layer.data = np.zeros((64, 64), np.uint8)
    strokes.forget(layer)
    assert strokes.moved(layer) == []
