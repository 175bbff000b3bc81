"""Hand edits as `edit.manual` steps: exact replay, re-apply after upstream change, skip."""

from __future__ import annotations

import numpy as np
import pytest

from napari_maskprep.core import MaskprepWarning
from napari_maskprep.core.edit import ManualEdit
from napari_maskprep.recipe import Recipe

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
