"""Hand edits as `edit.manual` steps: exact replay, re-apply after upstream change, skip."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep.core import MaskprepWarning
from napari_maskprep.core.arrays import checksum
from napari_maskprep.ops.edit import ManualEdit
from napari_maskprep.recipe import Recipe, RecipeError

THRESHOLD = {"op": "segment.threshold", "params": {"value": 100}}


def _image() -> np.ndarray:
    image = np.zeros((40, 50), np.uint8)
    image[5:15, 5:15] = 150
    image[25:35, 30:45] = 120
    return image


def _recipe_with_edit(image: np.ndarray) -> tuple[Recipe, np.ndarray]:
    recipe = Recipe([THRESHOLD])
    before = recipe.run(image)
    after = before.copy()
    after[5:15, 5:15] = 0  # erase one object
    after[20:22, 2:6] = 1  # paint a new one
    edit = ManualEdit.between(before, after, image=image)
    recipe.append({"op": "edit.manual", "inputs": {"image": "input"}, "params": edit.params()})
    return recipe, after


def test_diff_is_compact_and_exact():
    image = _image()
    recipe, painted = _recipe_with_edit(image)
    params = recipe.steps[1].params
    assert params["bbox"] == "5:22,2:15"
    assert len(params["changed"]) + len(params["values"]) < 200
    np.testing.assert_array_equal(recipe.run(image), painted)


def test_a_diff_within_a_box_holding_the_changes_equals_the_whole_diff():
    before = Recipe([THRESHOLD]).run(_image())
    after = before.copy()
    after[5:15, 5:15] = 0
    after[20:22, 2:6] = 1
    whole = ManualEdit.between(before, after)
    assert ManualEdit.between(before, after, within=(slice(3, 30), slice(1, 20))) == whole
    assert ManualEdit.between(before, after, within=(slice(30, 40), slice(0, 50))) is None


def test_edit_survives_save_and_load(tmp_path):
    image = _image()
    recipe, painted = _recipe_with_edit(image)
    loaded = Recipe.load(recipe.save(tmp_path / "r.maskprep.yaml"))
    assert loaded == recipe
    np.testing.assert_array_equal(loaded.run(image), painted)


def test_reapplied_after_upstream_change_with_a_count():
    image = _image()
    recipe, _ = _recipe_with_edit(image)
    recipe.steps[0].params["value"] = 130  # upstream change: the 120 object disappears
    with pytest.warns(MaskprepWarning, match="changed upstream.* 108 of 108 edited pixels"):
        out = recipe.run(image)
    assert out[5:15, 5:15].sum() == 0 and out[20:22, 2:6].all()
    assert out[25:35, 30:45].sum() == 0


def test_skipped_on_another_image():
    recipe, _ = _recipe_with_edit(_image())
    other = _image()
    other[0, 0] = 200
    with pytest.warns(MaskprepWarning, match="made on another image; skipped"):
        out = recipe.run(other)
    np.testing.assert_array_equal(out, Recipe([THRESHOLD]).run(other))


def test_painting_a_second_label_turns_the_mask_into_labels():
    before = np.zeros((4, 4), np.uint8)
    after = before.copy()
    after[0, 0] = 2
    out = Recipe([{"op": "edit.manual", "params": ManualEdit.between(before, after).params()}]
                 ).run(before)
    assert out.dtype == np.int32 and out[0, 0] == 2


def test_damaged_diff_is_a_clear_error():
    params = ManualEdit.between(np.zeros((3, 3), np.uint8), np.eye(3, dtype=np.uint8)).params()
    params["values"] = "not base64!"
    with pytest.raises(ValueError, match="stored diff is damaged"):
        Recipe([{"op": "edit.manual", "params": params}]).run(np.zeros((3, 3), np.uint8))


def test_no_change_is_no_edit():
    assert ManualEdit.between(np.zeros((2, 2)), np.zeros((2, 2))) is None


def _edit_params(**changes: str) -> dict[str, str]:
    params = ManualEdit.between(np.zeros((3, 3), np.uint8), np.eye(3, dtype=np.uint8)).params()
    params.update(changes)
    return params


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"bbox": "0:100000,0:100000", "shape": "100000x100000"},
         r"a box of 10000000000 pixels; the limit for one hand edit is 67108864"),
        ({"bbox": "0:4,0:3"}, r"bbox '0:4,0:3' is not inside shape '3x3'"),
        ({"bbox": "2:1,0:3"}, r"is not inside shape"),
        ({"bbox": "a:b"}, r"damaged \(bbox 'a:b'\)"),
        ({"shape": "3"}, r"damaged \(shape '3' with bbox"),
        ({"dtype": "O"}, r"dtype 'O'; accepted: an integer dtype"),
        ({"dtype": "V99999999"}, r"dtype 'V99999999'"),
    ],
)
def test_bad_edit_is_refused_when_the_recipe_loads(changes, match):
    with pytest.raises(RecipeError, match=match) as caught:
        Recipe([{"op": "edit.manual", "params": _edit_params(**changes)}])
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(("dtype", "value", "on"), [
    (np.int64, 2**32 + 5, np.uint8),  # painted as 5 on labels
    (np.uint32, 2**31, np.int32),  # painted as -2147483648
    (np.int32, -1, np.uint8),  # painted as 255 on a mask
])
def test_a_diff_painting_values_no_label_is_is_refused_when_it_loads(dtype, value, on):
    """A hostile diff's values wrapped when cast to the mask's or labels' dtype."""
    before = np.zeros((3, 3), dtype)
    after = before.copy()
    after[1, 1] = value
    params = ManualEdit.between(before, after).params()
    message = (f"edit.manual: the stored diff paints the value {value}; accepted: labels 0 "
               "to 2147483647 (int32, as the op's are)")
    with pytest.raises(RecipeError) as caught:
        Recipe([{"op": "edit.manual", "params": params}])
    assert str(caught.value) == f"step 1 (edit.manual): {message}"
    with pytest.raises(mp.MaskprepError) as caught:
        mp.apply("edit.manual", np.zeros((3, 3), on), **params)
    assert str(caught.value) == message


def test_zlib_bomb_is_decompressed_no_further_than_its_box():
    import base64
    import time
    import zlib

    bomb = base64.b64encode(zlib.compress(b"\xff" * 2**26)).decode()  # 64 MiB in 87 kB
    recipe = Recipe([{"op": "edit.manual", "params": _edit_params(changed=bomb)}])
    start = time.perf_counter()
    with pytest.raises(RecipeError, match=r"changed does not hold the 2 bytes its box needs"):
        recipe.run(np.zeros((3, 3), np.uint8))
    assert time.perf_counter() - start < 1
    values = base64.b64encode(zlib.compress(b"\x01" * 2**26)).decode()
    with pytest.raises(RecipeError, match=r"values does not hold the 3 bytes its box needs"):
        Recipe([{"op": "edit.manual", "params": _edit_params(values=values)}]).run(
            np.zeros((3, 3), np.uint8))


def test_edit_on_another_shape_is_skipped_without_decoding():
    params = _edit_params(changed="!!! not even base64")
    with pytest.warns(MaskprepWarning, match="edits of 9 pixels were made on another image"):
        out = Recipe([{"op": "edit.manual", "params": params}]).run(np.zeros((4, 4), np.uint8))
    np.testing.assert_array_equal(out, np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize("dtype", [">u2", "<f2"])
def test_edit_recorded_on_a_big_endian_or_float16_image_replays_exactly(dtype):
    image = _image().astype(dtype)
    recipe, painted = _recipe_with_edit(image)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskprepWarning)  # not skipped, not re-applied
        np.testing.assert_array_equal(recipe.run(image), painted)


# -- edits of a region (an image too large to load): checksums of the box only ---------------

def _region_edit(image: np.ndarray, region: tuple[slice, ...]
                 ) -> tuple[ManualEdit, np.ndarray, np.ndarray]:
    """An edit painted on ``region`` of the threshold of ``image``; the mask before and
    after, whole."""
    before = Recipe([THRESHOLD]).run(image)
    after = before.copy()
    after[5:15, 5:15] = 0
    after[20:22, 2:6] = 1
    origin = tuple(r.start for r in region)
    edit = ManualEdit.in_region(before[region], after[region], origin=origin,
                                shape=before.shape, image=image)
    return edit, before, after


def test_a_region_edit_has_the_box_of_the_whole_edit_and_applies_the_same_pixels():
    image = _image()
    edit, before, after = _region_edit(image, (slice(2, 30), slice(1, 40)))
    whole = ManualEdit.between(before, after, image=image)
    assert (edit.shape, edit.dtype, edit.bbox, edit.changed, edit.values) == (
        whole.shape, whole.dtype, whole.bbox, whole.changed, whole.values)
    assert edit.box_checksums and not whole.box_checksums
    box = edit.box()
    assert edit.base == checksum(before[box]) and edit.image_checksum == checksum(image[box])
    recipe = Recipe([THRESHOLD, {"op": "edit.manual", "inputs": {"image": "input"},
                                 "params": edit.params()}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskprepWarning)  # exact
        np.testing.assert_array_equal(recipe.run(image), after)


def test_a_region_edit_reads_only_its_box_of_the_image():
    image = _image()
    edit, before, after = _region_edit(image, (slice(0, 40), slice(0, 50)))
    changed_outside = image.copy()
    changed_outside[39, 49] = 7  # outside the box 5:22,2:15: still the image it was made on
    recipe = Recipe([THRESHOLD, {"op": "edit.manual", "inputs": {"image": "input"},
                                 "params": edit.params()}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskprepWarning)
        np.testing.assert_array_equal(recipe.run(changed_outside), after)
    changed_inside = image.copy()
    changed_inside[6, 6] = 151
    with pytest.warns(MaskprepWarning, match="made on another image; skipped"):
        out = recipe.run(changed_inside)
    np.testing.assert_array_equal(out, before)


def test_a_region_edit_is_reapplied_after_a_change_in_its_box_only():
    image = _image()
    edit, before, _ = _region_edit(image, (slice(0, 40), slice(0, 50)))
    step = {"op": "edit.manual", "params": edit.params()}
    moved = before.copy()
    moved[30, 40] = 0  # outside the box: still exact
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskprepWarning)
        Recipe([step]).run(moved)
    moved[21, 10] = 1  # inside the box, not an edited pixel
    with pytest.warns(MaskprepWarning, match=r"changed upstream.* 108 of 108 edited pixels"):
        out = Recipe([step]).run(moved)
    assert out[21, 10] == 1 and out[5:15, 5:15].sum() == 0 and out[20:22, 2:6].all()


def test_a_region_outside_its_shape_is_refused():
    with pytest.raises(ValueError, match=r"a region of shape \(2, 2\) at \(3, 0\) does not lie"):
        ManualEdit.in_region(np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8),
                             origin=(3, 0), shape=(4, 4))
    assert ManualEdit.in_region(np.zeros((2, 2)), np.zeros((2, 2)), origin=(0, 0),
                                shape=(4, 4)) is None


def test_recipes_written_before_box_checksums_load_and_replay_as_before(tmp_path):
    image = _image()
    recipe, painted = _recipe_with_edit(image)
    data = recipe.to_dict()
    del data["steps"][1]["params"]["box_checksums"]  # as saved before the parameter existed
    old = Recipe.from_dict(data)
    assert old.steps[1].params["box_checksums"] is False
    assert old == recipe
    np.testing.assert_array_equal(old.run(image), painted)
    other = image.copy()
    other[39, 49] = 1  # outside the box: a whole-image checksum still tells it apart
    with pytest.warns(MaskprepWarning, match="made on another image; skipped"):
        old.run(other)


@pytest.mark.parametrize(("dtype", "value"), [(np.uint16, 9), (np.int64, 9), (np.bool_, 1),
                                              (">u2", 9)])
@pytest.mark.parametrize("region", [False, True])
def test_an_edit_painted_on_a_layer_of_any_dtype_replays_exactly(dtype, value, region):
    """The op sees labels as int32 and masks as uint8: an edit painted on uint16 labels or
    a bool mask is still exact on them, with no notice."""
    before = np.zeros((12, 14), dtype)
    before[2:5, 2:6] = value
    after = before.copy()
    after[7:9, 3:10] = value
    edit = (ManualEdit.in_region(before, after, origin=(0, 0), shape=before.shape) if region
            else ManualEdit.between(before, after))
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskprepWarning)
        out = Recipe([{"op": "edit.manual", "params": edit.params()}]).run(before)
    np.testing.assert_array_equal(out, after.astype(out.dtype))


def test_an_edit_of_labels_whose_values_no_longer_fit_its_dtype_is_reapplied():
    before = np.zeros((6, 6), np.uint16)
    before[1:3, 1:3] = 4
    after = before.copy()
    after[4, 4] = 4
    edit = ManualEdit.between(before, after)
    changed = before.astype(np.int32)
    changed[0, 0] = 70000  # not a uint16 value: not what was painted on
    with pytest.warns(MaskprepWarning, match="changed upstream"):
        out = Recipe([{"op": "edit.manual", "params": edit.params()}]).run(changed)
    assert out[4, 4] == 4 and out[0, 0] == 70000


def test_a_painted_label_above_255_survives_on_labels_of_one_object():
    """Labels of ids 0 and 1 come to the op as a uint8 mask: label 300 painted on them came
    back as 44, exactly replayed, without a word."""
    before = np.zeros((6, 6), np.int32)
    before[0:2, 0:2] = 1
    after = before.copy()
    after[4:6, 4:6] = 300
    edit = ManualEdit.between(before, after).params()
    out = mp.apply("edit.manual", before, **edit)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, after)
    replayed = Recipe([{"op": "refine.label"}, {"op": "edit.manual", "params": edit}])
    np.testing.assert_array_equal(replayed.run(before.astype(np.uint8)), after)
