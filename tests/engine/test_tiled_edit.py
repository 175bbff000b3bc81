"""Hand edits of a region (``edit.manual`` with ``box_checksums``) in a tiled run equal the
in-memory run, with the same notices; an edit recorded on a whole array is refused."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.core import MaskprepWarning
from napari_maskprep.core.errors import RecipeError
from napari_maskprep.engine.tiled import check_tiled, run_tiled
from napari_maskprep.io import read_image
from napari_maskprep.ops.edit import ManualEdit

from ..conftest import DATA, pairs

SEGMENT = [{"op": "preprocess.gaussian", "params": {"sigma": 1.0}},
           {"op": "segment.auto_threshold", "params": {"method": "otsu"}},
           {"op": "refine.fill_holes", "params": {}}]
# The edited region and what is painted in it: it crosses the chunk faces at 256 and 512
# (chunks of 256) along both axes, so five chunks of each row hold part of it.
REGION = (slice(200, 600), slice(180, 700))


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    """Two real 520x696 uint16 nuclei fields one above the other: 1040x696."""
    fields = [read_image(image) for image, _ in pairs(DATA, "bbbc039_fluo_nuclei")[:2]]
    return np.concatenate(fields)


def _painted(mask: np.ndarray, value: int = 1) -> np.ndarray:
    after = mask.copy()
    after[230:300, 240:530] = 0  # erase across the face at x = 256
    after[500:520, 200:690] = value  # paint a band across three faces
    after[255:258, 600:603] = value  # a few pixels at a corner of four chunks
    return after


def _edit_step(mosaic: np.ndarray, value: int = 1) -> tuple[dict, np.ndarray]:
    before = mp.Recipe(SEGMENT).run(mosaic)
    after = _painted(before, value)
    edit = ManualEdit.in_region(before[REGION], after[REGION],
                                origin=tuple(r.start for r in REGION), shape=before.shape,
                                image=da.from_array(mosaic, chunks=256))
    return {"op": "edit.manual", "inputs": {"image": "input"}, "params": edit.params()}, after


def _both(recipe: mp.Recipe, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, list]:
    """The tiled and the in-memory result, and the notices each gave."""
    with warnings.catch_warnings(record=True) as tiled_notices:
        warnings.simplefilter("always", MaskprepWarning)
        tiled = recipe.run(da.from_array(image, chunks=256)).compute()
    with warnings.catch_warnings(record=True) as memory_notices:
        warnings.simplefilter("always", MaskprepWarning)
        memory = recipe.run(image)
    return (tiled, memory, [str(w.message) for w in tiled_notices],
            [str(w.message) for w in memory_notices])


def test_a_region_edit_replayed_tiled_equals_in_memory_and_the_painted_mask(mosaic):
    step, after = _edit_step(mosaic)
    tiled, memory, tiled_notices, memory_notices = _both(mp.Recipe([*SEGMENT, step]), mosaic)
    assert tiled_notices == memory_notices == []  # exact
    assert tiled.dtype == memory.dtype == np.uint8
    np.testing.assert_array_equal(memory, after)
    np.testing.assert_array_equal(tiled, memory)


def test_a_region_edit_after_an_upstream_change_is_reapplied_alike(mosaic):
    step, _ = _edit_step(mosaic)
    changed = [SEGMENT[0], {"op": "segment.auto_threshold", "params": {"method": "li"}},
               SEGMENT[2], step]
    tiled, memory, tiled_notices, memory_notices = _both(mp.Recipe(changed), mosaic)
    assert len(tiled_notices) == 1 and "changed upstream" in tiled_notices[0]
    assert tiled_notices == memory_notices
    np.testing.assert_array_equal(tiled, memory)


def test_a_region_edit_on_another_image_is_skipped_alike(mosaic):
    step, _ = _edit_step(mosaic)
    other = mosaic.copy()
    other[300, 300] += 1  # inside the edit's box
    tiled, memory, tiled_notices, memory_notices = _both(mp.Recipe([*SEGMENT, step]), other)
    assert len(tiled_notices) == 1 and "made on another image; skipped" in tiled_notices[0]
    assert tiled_notices == memory_notices
    np.testing.assert_array_equal(tiled, memory)
    np.testing.assert_array_equal(tiled, mp.Recipe(SEGMENT).run(other))


def test_a_region_edit_on_an_image_of_another_shape_is_skipped_alike(mosaic):
    step, _ = _edit_step(mosaic)
    crop = mosaic[:1000]
    tiled, memory, tiled_notices, memory_notices = _both(mp.Recipe([*SEGMENT, step]), crop)
    assert tiled_notices == memory_notices
    assert len(tiled_notices) == 1 and "made on another image; skipped" in tiled_notices[0]
    np.testing.assert_array_equal(tiled, memory)


def test_painting_a_second_label_gives_labels_tiled_too(mosaic):
    step, after = _edit_step(mosaic, value=2)
    tiled, memory, _, _ = _both(mp.Recipe([*SEGMENT, step]), mosaic)
    assert tiled.dtype == memory.dtype == np.int32
    np.testing.assert_array_equal(tiled, memory)
    np.testing.assert_array_equal(memory, after)


def test_steps_after_a_region_edit_see_it(mosaic):
    step, _ = _edit_step(mosaic)
    recipe = mp.Recipe([*SEGMENT, step, {"op": "refine.remove_small", "params": {"min_size": 30}},
                        {"op": "refine.label", "params": {}}])
    tiled, memory, _, _ = _both(recipe, mosaic)
    np.testing.assert_array_equal(tiled, memory)


def test_an_edit_recorded_on_a_whole_array_is_refused_before_any_work(mosaic):
    before = mp.Recipe(SEGMENT).run(mosaic)
    whole = ManualEdit.between(before, _painted(before), image=mosaic)
    recipe = mp.Recipe([*SEGMENT, {"op": "edit.manual", "inputs": {"image": "input"},
                                   "params": whole.params()}])

    def explode(block):
        raise AssertionError("a chunk was computed")

    image = da.from_array(mosaic, chunks=256).map_blocks(explode, dtype=mosaic.dtype)
    with pytest.raises(RecipeError, match=r"^step 4 \(edit.manual\) cannot run tiled: it was "
                                          r"recorded on a whole array in memory"):
        run_tiled(recipe.steps, image)
    empty = mp.Recipe([{"op": "edit.manual", "params": {}}])
    check_tiled(empty.steps)


def test_an_edit_reading_another_array_is_refused():
    step, _ = {"op": "edit.manual", "inputs": {"image": "other"}, "params": {}}, None
    recipe = mp.Recipe([{"op": "segment.threshold", "params": {"value": 1}},
                        {**step, "id": None}], inputs={"other": "image"})
    with pytest.raises(RecipeError, match=r"^step 2 \(edit.manual\) cannot run tiled: it "
                                          r"reads another array than the recipe's image"):
        check_tiled(recipe.steps)


def _labels_edit(labels: np.ndarray, after: np.ndarray, image: np.ndarray | None = None
                 ) -> mp.Recipe:
    edit = ManualEdit.in_region(labels[REGION], after[REGION],
                                origin=tuple(r.start for r in REGION), shape=labels.shape,
                                image=image)
    inputs = {"image": "input"} if image is not None else {}
    return mp.Recipe([{"op": "edit.manual", "inputs": inputs, "params": edit.params()}])


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.int64])
def test_a_region_edit_of_labels_replays_tiled_as_in_memory(mosaic, dtype):
    labels = mp.Recipe([*SEGMENT, {"op": "refine.label", "params": {}}]).run(mosaic)
    labels = labels.astype(dtype)
    after = labels.copy()
    after[after == after[520, 400]] = 0  # one object erased, across the box's edge
    after[300:320, 250:270] = 7  # painted with an id already used elsewhere
    after[255:258, 510:515] = labels.max() + 1  # a new id at a corner of four chunks
    recipe = _labels_edit(labels, after)
    tiled, memory, tiled_notices, memory_notices = _both(recipe, labels)
    assert tiled.dtype == memory.dtype == np.int32
    assert tiled_notices == memory_notices == []
    np.testing.assert_array_equal(tiled, memory)
    inside = np.zeros(labels.shape, bool)
    inside[REGION] = True
    np.testing.assert_array_equal(memory[inside], after[inside])
    np.testing.assert_array_equal(memory[~inside], labels[~inside])


def test_a_labels_box_of_ids_0_and_1_is_exact_tiled_too(mosaic):
    """The box holds only ids 0 and 1 while the labels hold more elsewhere: it is still
    the box of int32 labels (its checksum the one painted on), not a mask."""
    labels = np.zeros(mosaic.shape, np.int32)
    labels[250:260, 250:260] = 1
    labels[900:950, 100:150] = 5  # outside the box
    after = labels.copy()
    after[400:420, 300:320] = 1
    tiled, memory, tiled_notices, memory_notices = _both(_labels_edit(labels, after), labels)
    assert tiled.dtype == memory.dtype == np.int32
    assert tiled_notices == memory_notices == []
    np.testing.assert_array_equal(tiled, memory)
    np.testing.assert_array_equal(memory, after)


def test_labels_of_ids_0_and_1_are_edited_as_a_mask_tiled_too(mosaic):
    labels = (mp.Recipe(SEGMENT).run(mosaic) > 0).astype(np.int32)
    after = _painted(labels)
    tiled, memory, _, _ = _both(_labels_edit(labels, after, mosaic), labels)
    assert tiled.dtype == memory.dtype == np.uint8
    np.testing.assert_array_equal(tiled, memory)


def test_a_labels_edit_after_an_upstream_change_is_reapplied_alike(mosaic):
    labels = mp.Recipe([*SEGMENT, {"op": "refine.label", "params": {}}]).run(mosaic)
    after = labels.copy()
    after[300:320, 250:270] = 3
    changed = labels.copy()
    changed[310:315, 240:280] = 9  # the box changed since it was painted
    tiled, memory, tiled_notices, memory_notices = _both(_labels_edit(labels, after), changed)
    assert tiled_notices == memory_notices
    assert len(memory_notices) == 1 and "changed upstream" in memory_notices[0]
    np.testing.assert_array_equal(tiled, memory)


def test_negative_labels_are_refused_tiled_as_in_memory(mosaic):
    labels = np.zeros(mosaic.shape, np.int32)
    labels[10:20, 10:20] = 2
    after = labels.copy()
    after[300, 300] = 3
    recipe = _labels_edit(labels, after)
    labels[900, 600] = -1  # outside the box: a chunk the edit does not touch
    with pytest.raises(ValueError, match=r"has negative values \(min -1\)"):
        recipe.run(labels)
    with pytest.raises(ValueError, match=r"has negative values \(min -1\)"):
        recipe.run(da.from_array(labels, chunks=256)).compute()


def test_a_labels_box_3_or_4_wide_of_a_volume_is_not_taken_for_colour():
    """The edit's box of labels was checked as an array of its own: 2 x 7 x 4 with ids
    above 1 looked like an RGBA image, so the tiled run refused an edit the in-memory run
    applies (one pixel erased, one relabelled)."""
    image = np.zeros((4, 12, 12), np.uint8)
    image[:, 1:4, 1:4] = 200
    image[:, 6:9, 6:9] = 200
    steps = [{"op": "segment.threshold", "params": {"value": 100}}, {"op": "refine.label"}]
    labels = mp.Recipe(steps).run(image)
    before = labels[0:2, 1:8, 4:8]
    after = before.copy()
    after[0, 0, 0] = 2  # background to id 2, at (0, 1, 4)
    after[1, 6, 3] = 1  # id 2 to id 1, at (1, 7, 7): the box is 2 x 7 x 4
    edit = ManualEdit.in_region(before, after, origin=(0, 1, 4), shape=labels.shape)
    recipe = mp.Recipe([*steps, {"op": "edit.manual", "params": edit.params()}])
    want = labels.copy()
    want[0, 1, 4], want[1, 7, 7] = 2, 1
    np.testing.assert_array_equal(recipe.run(image), want)
    got = recipe.run(da.from_array(image, chunks=(2, 6, 6))).compute()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)
