"""A recipe file is data read within limits: every bad file is one short RecipeError."""

from __future__ import annotations

import os
import time

import pytest

from napari_maskprep.recipe import MAX_FILE_BYTES, MAX_STEPS, Recipe, RecipeError

GOOD = "maskprep: 1\nsteps:\n  - op: refine.open\n    params: {radius: 2}\n"


def refused(text: str, match: str, *, format: str = "yaml") -> str:
    with pytest.raises(RecipeError, match=match) as caught:
        Recipe.loads(text, format=format)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    return message


def alias_bomb(depth: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, depth)]
    return "\n".join(lines) + f"\nmaskprep: 1\nsteps: *a{depth - 1}\n"


def test_alias_bomb_is_refused_at_once():
    text = alias_bomb(9)  # 10**9 strings once expanded
    assert len(text) < 800
    start = time.perf_counter()
    refused(text, r"line 1, column 5: YAML anchors and aliases are not accepted")
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("maskprep: !!bool 1\nsteps: []", r"line 1, column 11: the tag .*bool.* is not accepted"),
        ("maskprep: 1\nsteps: !!python/object/apply:os.system [ls]", r"tag .*python/object"),
        ("maskprep: 1\nsteps: []\nsteps: []", r"line 3, column 1: the key 'steps' appears twice"),
        ("maskprep: 1\n1: x\nsteps: []", r"line 2, column 1: the key 1 is not a string"),
        ("maskprep: 1\n? [a]\n: x\nsteps: []", r"the key \['a'\] is not a string"),
        ("maskprep: true\nsteps: []", r"'maskprep: True' is not a supported format version"),
        ("maskprep: 1.0\nsteps: []", r"'maskprep: 1.0' is not a supported format version"),
        ("maskprep: 1\nsteps:\n  - op: refine.open\n    params: {radius: 2\n",
         r"not valid YAML: line 5, column 1: .*expected ',' or '}'"),
        ("maskprep: 1\nsteps: [a: b: c]", r"not valid YAML: line 2, column 13: did not find"),
        ("maskprep: 1\n--- \nmaskprep: 1", r"line 2, column 1: a second YAML document"),
        ("maskprep: 1\nsteps:\n- op: segment.watershed\n  inputs: {markers: [a]}",
         r"step 1 \(segment.watershed\): input 'markers' reads \['a'\], which is neither"),
        ("maskprep: 1\nsteps:\n- op: segment.watershed\n  inputs: {7: a}",
         r"line 4, column 12: the key 7 is not a string"),
        ("maskprep: 1\nsteps:\n- {op: refine.open, params: {radius: .inf}}",
         r"radius=inf is not a finite number"),
        ("maskprep: 1\nsteps:\n- {op: refine.open, params: {radius: " + "9" * 400 + "}}",
         r"radius=9999.*\.\.\..* is out of range"),
        ("maskprep: 1\nsteps:\n- {op: refine.open, params: {radius: " + "9" * 5000 + "}}",
         r"line 3, column \d+: the number .* is too large"),
        ("maskprep: 1\nsteps:\n- {op: refine.open, params: {radius: .nan}}",
         r"step 1 \(refine.open\): radius=nan is not a finite number"),
        ("maskprep: 1\nsteps: " + "[" * 600 + "]" * 600, r"nested deeper than 16 levels"),
        ("maskprep: 1\nname: " + "[" * 100000, r"line 2, column \d+: .*nest"),
        # A tab where YAML wants spaces said "found character that cannot start any token".
        ("maskprep: 1\nsteps:\n\t- op: refine.open",
         r"^not valid YAML: line 3, column 1: a tab; accepted: spaces to indent \(YAML does "
         r"not take tabs there\)$"),
        ("maskprep: 1\nsteps:\n  - op: refine.open\n\t  params: {}",
         r"^not valid YAML: line 4, column 1: a tab; accepted: spaces to indent"),
    ],
)
def test_bad_yaml_is_one_short_error(text, match):
    refused(text, match)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"maskprep": 1, "steps": [], "steps": []}', r"the key 'steps' appears twice"),
        ('{"maskprep": 1, "steps": ' + "[" * 5000 + "]" * 5000 + "}", r"nested deeper than 16"),
        ('{"maskprep": 1, "steps": [], "name": ' + "9" * 5000 + "}", r"a number is too large"),
        ('{"maskprep": 1, "steps": [}', r"not valid JSON: line 1, column 27"),
    ],
)
def test_bad_json_is_one_short_error(text, match):
    refused(text, match, format="json")


def test_ansi_escapes_and_control_characters_are_shown_escaped():
    message = refused("maskprep: 1\nsteps:\n- op: \"\\e[31mred\\e[0m\"", r"unknown op")
    assert "\x1b" not in message and "\\x1b[31mred" in message


def test_name_that_is_not_valid_unicode_is_refused():
    refused('{"maskprep": 1, "name": "\\ud800", "steps": []}', r"'name' holds characters that",
            format="json")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"maskprep": 1, 1: "x", "steps": []}, r"the recipe: the key 1 is not a string"),
        ({"maskprep": 1, "steps": [{"op": "refine.open", "params": {1: 2}}]},
         r"step 1 \(refine.open\): the key 1 is not a string"),
        ({"maskprep": 1, "steps": [{"op": "segment.watershed", "inputs": {"markers": ["a"]}}]},
         r"input 'markers' reads \['a'\], which is neither"),
        ({"maskprep": 1, "steps": [{"op": "refine.open", ("a",): 1}]},
         r"step 1: the key \('a',\) is not a string"),
        ({"maskprep": 1, "inputs": {"seeds": ["points"]}, "steps": []},
         r"recipe input 'seeds' has kind \['points'\]"),
        ({"maskprep": 1, "steps": "x" * 10**6}, r"'steps' must be a list of steps; got 'xxx"),
    ],
)
def test_bad_plain_data_is_one_short_error(data, match):
    with pytest.raises(RecipeError, match=match) as caught:
        Recipe.from_dict(data)
    assert len(str(caught.value)) < 300


def test_too_many_steps_are_refused_quickly():
    text = "maskprep: 1\nsteps:\n" + "- op: refine.to_mask\n" * (MAX_STEPS + 1)
    start = time.perf_counter()
    refused(text, rf"{MAX_STEPS + 1} steps; the limit is {MAX_STEPS}")
    assert time.perf_counter() - start < 5
    assert len(Recipe.loads("maskprep: 1\nsteps:\n" + "- op: refine.to_mask\n" * MAX_STEPS).steps
               ) == MAX_STEPS


def test_too_many_values_are_refused():
    refused("maskprep: 1\nname: x\nsteps: [" + "1, " * 200_000 + "]", r"more than 100000 values")


def test_file_limits(tmp_path):
    big = tmp_path / "big.maskprep.yaml"
    big.write_text(GOOD + "#" * MAX_FILE_BYTES)
    with pytest.raises(RecipeError, match=rf"bytes; the limit for a recipe is {MAX_FILE_BYTES}"):
        Recipe.load(big)
    with pytest.raises(RecipeError, match="not a regular file"):
        Recipe.load("/dev/zero")
    with pytest.raises(RecipeError, match="not a regular file"):
        Recipe.load(tmp_path)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(RecipeError, match="not a regular file"):
        Recipe.load(fifo)  # would block for ever if it were opened
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RecipeError, match="not a text file"):
        Recipe.load(binary)


def test_plain_recipe_still_loads_with_yaml_1_2_numbers():
    r = Recipe.loads("maskprep: 1\nsteps:\n- {op: preprocess.gaussian, params: {sigma: 1e0}}")
    assert r.steps[0].params == {"sigma": 1.0}
    # dates stay text: a name that looks like one is a name
    assert Recipe.loads("maskprep: 1\nname: 2024-01-02\nsteps: []").name == "2024-01-02"


def test_leading_zeros_and_colons_read_as_yaml_1_2_not_octal_or_base_60():
    """YAML 1.1 read 'min_size: 010' as octal 8 (while 08 was text) and 'radius: 1:30' as
    base 60, 90: a zero-padded number is decimal now, and a number with colons is text."""
    text = ("maskprep: 1\nsteps:\n- {op: segment.auto_threshold}\n"
            "- {op: refine.remove_small, params: {min_size: 010}}\n"
            "- {op: refine.fill_holes, params: {max_hole_size: 08}}\n")
    r = Recipe.loads(text)
    assert r.steps[1].params["min_size"] == 10
    assert r.steps[2].params["max_hole_size"] == 8
    with pytest.raises(RecipeError) as info:
        Recipe.loads("maskprep: 1\nsteps:\n- {op: refine.open, params: {radius: 1:30}}")
    assert str(info.value) == ("step 1 (refine.open): radius='1:30' has the unit ':30', which "
                               "is not accepted; radius takes px, nm, um, mm; expected an "
                               "integer in [1, 50], or a length such as '2 um'")


@pytest.mark.parametrize("name", ["08", "-09", "1e3", "2E-5", "1:30", "010"])
def test_a_name_that_reads_as_a_number_is_saved_quoted(tmp_path, name):
    """The recipe reader takes '1e3' as a number, and leading zeros as decimal, but saving
    went through PyYAML's YAML 1.1 dumper, which wrote them unquoted: 'name: 1e3' and
    'name: 08' then failed to load ("'name' must be text; got 1000.0")."""
    recipe = Recipe.loads(f"maskprep: 1\nname: '{name}'\nsteps: [{{op: refine.open}}]")
    path = recipe.save(tmp_path / "r.maskprep.yaml")
    assert f"name: '{name}'\n" in path.read_text()
    assert Recipe.load(path) == recipe and Recipe.load(path).name == name


_NO_TEXT = ("'name' must be text; got False (YAML reads yes, no, on and off unquoted as true "
            "or false; write the text in quotes)")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("maskprep: 1\nname: no\nsteps: []", _NO_TEXT),
        ("maskprep: 1\nname: off\nsteps: []", _NO_TEXT),
        ("maskprep: 1\nname: 0\nsteps: []", "'name' must be text; got 0"),
        ("maskprep: 1\ninputs: []\nsteps: []", "'inputs' must map names to kinds; got []"),
        ("maskprep: 1\nsteps: [{op: refine.open, params: false}]",
         "step 1 (refine.open): 'params' must be a mapping; got False"),
        ("maskprep: 1\nsteps: [{op: refine.open, params: ''}]",
         "step 1 (refine.open): 'params' must be a mapping; got ''"),
        ("maskprep: 1\nsteps: [{op: refine.open, params: []}]",
         "step 1 (refine.open): 'params' must be a mapping; got []"),
        ("maskprep: 1\nsteps: [{op: refine.open, inputs: 0}]",
         "step 1 (refine.open): 'inputs' must be a mapping; got 0"),
        ("steps: [{op: refine.open}]",
         "no 'maskprep' key (the format version); accepted: a recipe that begins maskprep: 1"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_not_taken_for_none(text, line):
    """'name: no' (YAML 1.1 reads it as false) loaded as a recipe without a name, and
    'params: false', '' or [] as a step without parameters: anything but null (or no key)
    was taken for none without a word. A missing version said 'maskprep: None'."""
    with pytest.raises(RecipeError) as info:
        Recipe.loads(text)
    assert str(info.value) == line


def test_null_is_still_no_name_params_or_inputs():
    r = Recipe.loads("maskprep: 1\nname:\ninputs:\nsteps:\n- op: refine.open\n  params:\n"
                     "  inputs:\n")
    assert (r.name, r.inputs, r.steps[0].params) == ("", {}, {"radius": 2, "shape": "disk"})


@pytest.mark.parametrize(
    ("text", "format", "line"),
    [
        (b"maskprep: 1\nname: \xe9\nsteps: []", "yaml",
         "not UTF-8 text; accepted: a recipe as UTF-8 YAML or JSON"),
        ("maskprep: 1\nsteps: []".encode("utf-16"), "yaml",
         "not UTF-8 text; accepted: a recipe as UTF-8 YAML or JSON"),
        ("maskprep = 1", "toml", "format='toml'; accepted: 'yaml' or 'json'"),
    ],
)
def test_recipe_bytes_and_formats_are_read_as_recipe_load_reads_them(text, format, line):
    """Recipe.loads takes bytes, but JSON bytes failed with a bare TypeError ('a bytes-like
    object is required, not 'str''), while YAML bytes were read in any encoding Recipe.load
    refuses; a format other than yaml or json was read as YAML without a word."""
    with pytest.raises(RecipeError) as info:
        Recipe.loads(text, format=format)
    assert str(info.value) == line


def test_json_bytes_load_as_json_text_does():
    for text in (b'{"maskprep": 1, "steps": [{"op": "refine.open"}]}',
                 b'\xef\xbb\xbf{"maskprep": 1, "steps": [{"op": "refine.open"}]}'):
        assert Recipe.loads(text, format="json") == Recipe([{"op": "refine.open"}])


def test_a_recipe_is_never_saved_larger_than_load_reads(tmp_path, monkeypatch):
    """A name of 1.5 million characters such as U+202E loads (7.5 MB) but saved as
    15.6 MB ('\\u202E' escaped, 6 bytes a character), which Recipe.load then refused."""
    monkeypatch.setattr("napari_maskprep.recipe.MAX_FILE_BYTES", 1000)
    recipe = Recipe([{"op": "refine.open"}], name="\u202e" * 300)
    path = tmp_path / "r.maskprep.yaml"
    with pytest.raises(RecipeError) as info:
        recipe.save(path)
    assert str(info.value) == (f"{path}: the recipe is 1949 bytes as saved, which Recipe.load "
                               "refuses; accepted: at most 1000 (a shorter name or fewer hand "
                               "edits); nothing was written")
    assert not path.exists()
    monkeypatch.undo()
    assert Recipe.load(recipe.save(path)) == recipe
