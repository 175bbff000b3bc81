"""Recipe v1: validation, canonical save/load, safe loading, running."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_maskprep.recipe import Recipe, RecipeError, Step

from ..test_readme import blocks

# The recipe example of the design and the README, comments and all.
DESIGN_EXAMPLE = next(b for b in blocks("yaml") if b.startswith("maskprep: 1"))


def test_loads_the_design_example_with_defaults_filled():
    r = Recipe.loads(DESIGN_EXAMPLE)
    assert r.name == "nuclei, fluorescence"
    assert [s.op for s in r.steps] == ["preprocess.gaussian", "segment.auto_threshold",
                                       "refine.remove_small", "refine.fill_holes"]
    assert r.steps[0].params == {"sigma": 1.0}
    assert r.steps[1].params["method"] == "otsu"
    assert r.steps[3].params == r.steps[3].spec.plain_params({})


@pytest.mark.parametrize("suffix", [".maskprep.yaml", ".json"])
def test_save_load_round_trip(tmp_path, suffix):
    r = Recipe.loads(DESIGN_EXAMPLE)
    path = r.save(tmp_path / f"r{suffix}")
    assert Recipe.load(path) == r
    assert Recipe.load(path).dumps() == r.dumps()
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file left behind"


def test_save_replaces_a_recipe_only(tmp_path):
    """Recipe.save("cells.tif") replaced the image: only a file of recipe text (a mapping
    with ``maskprep``, loadable or not) is replaced; a missing folder is one line."""
    r = Recipe.loads(DESIGN_EXAMPLE)
    image = tmp_path / "cells.tif"
    image.write_bytes(b"II*\x00" + bytes(64))
    notes = tmp_path / "notes.yaml"
    notes.write_text("title: my notes\n")
    for path in (image, notes):
        before = path.read_bytes()
        with pytest.raises(RecipeError, match=rf"^{path} exists and is not a recipe; it is "
                                              r"left as it is \(accepted: a new path"):
            r.save(path)
        assert path.read_bytes() == before
    old = tmp_path / "old.maskprep.yaml"
    old.write_text("maskprep: 1\nsteps: [{op: no.such_op}]\n")  # a recipe, if a broken one
    assert Recipe.load(r.save(old)) == r
    with pytest.raises(RecipeError, match=r"^\S+missing/r.yaml cannot be written \(No such "
                                          r"file or directory\); accepted: a file in a folder"):
        r.save(tmp_path / "missing" / "r.yaml")


def test_save_is_canonical_and_plain():
    text = Recipe.loads(DESIGN_EXAMPLE).dumps()
    assert text.startswith(
        "maskprep: 1\nname: nuclei, fluorescence\nsteps:\n- op: preprocess.gaussian"
    )
    assert "!!" not in text and "python" not in text
    reordered = Recipe.from_dict(json.loads(Recipe.loads(DESIGN_EXAMPLE).dumps(format="json")))
    assert reordered.dumps() == text


def test_equal_recipes_compare_equal_whatever_the_spelling():
    a = Recipe([{"op": "preprocess.gaussian", "params": {"sigma": 1}}])
    b = Recipe([Step("preprocess.gaussian", {"sigma": 1.0})])
    assert a == b
    assert a != Recipe([{"op": "preprocess.gaussian", "params": {"sigma": 2}}])


def test_python_tag_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.maskprep.yaml"
    evil.write_text(f"maskprep: 1\nsteps: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(RecipeError, match="tag .*python/object/apply.* is not accepted"):
        Recipe.load(evil)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("maskprep: 2\nsteps: []", r"'maskprep: 2' is not a supported format version"),
        ("steps: []", r"no 'maskprep' key \(the format version\); accepted: a recipe"),
        ("maskprep: 1\nsteps: []\nextra: 1", "unknown key 'extra'"),
        ("maskprep: 1\nsteps: {a: 1}", "'steps' must be a list"),
        ("maskprep: 1\nsteps: [{op: refine.fill_hole}]",
         r"step 1: unknown op 'refine.fill_hole'; did you mean refine.fill_holes"),
        ("maskprep: 1\nsteps: [{op: preprocess.gaussian}, {op: refine.open, params: {radius: 0}}]",
         r"step 2 \(refine.open\): radius=0 is out of range; expected an integer in \[1,"),
        ("maskprep: 1\nsteps: [{op: preprocess.gaussian, params: {sigmaa: 1}}]",
         r"step 1 \(preprocess.gaussian\): .*no parameter 'sigmaa' \(did you mean sigma\?\)"),
        ("maskprep: 1\nsteps: [{op: segment.auto_threshold, params: {method: otsuu}}]",
         r"step 1 \(segment.auto_threshold\): method='otsuu' is not accepted; expected one of"),
        ("maskprep: 1\nsteps: [{op: segment.region_grow}]", r"needs its 'seeds' input"),
        ("maskprep: 1\nsteps: [{op: segment.watershed, inputs: {markers: nowhere}}]",
         "reads 'nowhere', which is neither"),
        ("maskprep: 1\nsteps: [{op: preprocess.gaussian, per_plane: maybe}]",
         "'per_plane' must be true or false"),
        ("maskprep: 1\nsteps: [1, 2", "not valid YAML"),
        # parameters that are each in range but never work together: refused at load
        ("maskprep: 1\nsteps: [{op: segment.local_threshold, params: {block_size: 4}}]",
         r"step 1 \(segment.local_threshold\): block_size=4 is not accepted; expected an odd"),
        ("maskprep: 1\nsteps: [{op: segment.multi_threshold, params: {classes: 2, keep_to: 3}}]",
         r"keep_from=1, keep_to=3 are not accepted with classes=2"),
        ("maskprep: 1\nsteps: [{op: segment.edges, params: {low: 0.5, high: 0.1}}]",
         r"step 1 \(segment.edges\): low=0.5 is not accepted with high=0.1"),
        # a size in um the check does not read does not put it off until run time
        ("maskprep: 1\nsteps: [{op: segment.edges, params: {sigma: 1 um, low: 1.31}}]",
         r"step 1 \(segment.edges\): low=1.31 is not accepted with high=0.2"),
        ("maskprep: 1\nsteps: [{op: preprocess.rescale, params: {low: 90, high: 10}}]",
         r"step 1 \(preprocess.rescale\): low=90.0 must be below high=10.0"),
    ],
)
def test_bad_recipes_are_one_line_errors(text, message):
    with pytest.raises(RecipeError, match=message) as info:
        Recipe.loads(text)
    assert "\n" not in str(info.value)


def test_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{")
    with pytest.raises(RecipeError, match="not valid JSON"):
        Recipe.load(bad)
    with pytest.raises(RecipeError, match="cannot read recipe"):
        Recipe.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_recipe_saved_with_a_byte_order_mark_loads(tmp_path, suffix):
    # Windows Notepad's UTF-8: the JSON reader refused it ('Unexpected UTF-8 BOM').
    path = tmp_path / f"r{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"maskprep": 1, "steps": [{"op": "refine.open"}]}')
    assert Recipe.load(path) == Recipe([{"op": "refine.open"}])


def test_loads_given_a_file_s_path_says_load_reads_files():
    """Recipe.loads(Path(...)) ended in TypeError: object of type 'PosixPath' has no len();
    Recipe.loads('r.maskprep.yaml') said only that a recipe must be a mapping."""
    with pytest.raises(RecipeError) as info:
        Recipe.loads(Path("r.maskprep.yaml"))
    assert str(info.value) == ("Recipe.loads takes a recipe's text; got PosixPath "
                               "PosixPath('r.maskprep.yaml') (Recipe.load reads a file)")
    with pytest.raises(RecipeError) as info:
        Recipe.loads("r.maskprep.yaml")
    assert str(info.value) == ("a recipe must be a mapping with 'maskprep: 1' and 'steps'; got "
                               "the text 'r.maskprep.yaml' (Recipe.load reads a file)")


def test_run_threads_steps_and_named_inputs():
    image = np.zeros((9, 9), np.uint8)
    image[1:4, 1:4] = 50
    image[5:8, 5:8] = 50
    r = Recipe.loads(
        "maskprep: 1\ninputs: {seeds: points}\nsteps:\n"
        "- op: segment.region_grow\n  inputs: {seeds: seeds}\n  params: {tolerance: 0}\n"
        "- op: refine.dilate\n  params: {radius: 1, shape: square}\n"
    )
    out = r.run(image, seeds=np.array([[2, 2]]))
    expected = np.zeros((9, 9), np.uint8)
    expected[0:5, 0:5] = 1
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(RecipeError, match="needs its 'seeds' input"):
        r.run(image)


def test_a_step_can_read_an_earlier_step_by_id():
    r = Recipe([
        {"op": "segment.threshold", "id": "fg", "params": {"value": 0.5}},
        {"op": "refine.erode", "params": {"radius": 1, "shape": "square"}},
        {"op": "segment.watershed", "inputs": {"markers": "fg"}},
    ])
    mask = np.zeros((7, 7), np.float32)
    mask[1:6, 1:6] = 1
    out = r.run(mask)
    assert out.dtype == np.int32 and out.max() == 1


def test_disabled_steps_are_kept_but_skipped():
    r = Recipe([{"op": "segment.threshold", "params": {"value": 0.5}},
                {"op": "refine.to_mask", "enabled": False}])
    assert "enabled: false" in r.dumps()
    assert Recipe.loads(r.dumps()) == r
    assert r.run(np.eye(3)).dtype == np.uint8


def test_errors_while_running_name_the_step():
    r = Recipe([{"op": "segment.threshold"}])
    with pytest.raises(RecipeError, match=r"step 1 \(segment.threshold\): .*per_plane"):
        r.run(np.zeros((2, 2, 4, 4)))


def test_duplicate_step_ids_are_refused():
    with pytest.raises(RecipeError, match="id 'a' is already used"):
        Recipe([{"op": "preprocess.invert", "id": "a"}, {"op": "preprocess.invert", "id": "a"}])
