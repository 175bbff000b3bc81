"""The recipe loader over generated documents: a Recipe, or one short RecipeError.

Documents are built from recipe-shaped data with values of every type, then written as
YAML or JSON, and hostile fragments are spliced in (tags, anchors and aliases, deep
nesting, huge numbers, duplicate and non-string keys, control characters). Whatever comes
in, loading ends in a :class:`Recipe` equal to itself after save and load, or in a
:class:`RecipeError` of one line under 300 characters, within the deadline.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napari_maskprep as mp
from napari_maskprep.recipe import Recipe, RecipeError

_seed = os.environ.get("MASKPREP_FUZZ_SEED")
_COMMON = {"database": None, "derandomize": _seed is None, "deadline": 2000,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
           "print_blob": False}
FAST = settings(max_examples=150, **_COMMON)
LONG = settings(max_examples=3000, **_COMMON)

OP_IDS = [s.id for s in mp.list_ops()]
PARAM_NAMES = sorted({p.name for s in mp.list_ops() for p in s.params}) + ["radiuss", ""]
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300)
           | st.floats() | st.text(max_size=12) | st.sampled_from(
               ["otsu", "disk", "1e400", ".inf", "-.nan", "2 um", "0x1F", "yes", "~"]))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3)
                      | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8)
steps = st.fixed_dictionaries(
    {"op": st.sampled_from(OP_IDS) | values},
    optional={
        "params": st.dictionaries(st.sampled_from(PARAM_NAMES), values, max_size=4) | values,
        "id": st.sampled_from(["a", "b", "fg", "1x", "in put"]) | values,
        "inputs": st.dictionaries(st.sampled_from(["markers", "image", "seeds", "x"]),
                                  st.sampled_from(["input", "a", "fg", "seeds"]) | values,
                                  max_size=2) | values,
        "enabled": st.booleans() | values,
        "per_plane": st.booleans() | values,
        "extra": values,
    })
recipes = st.fixed_dictionaries(
    {"maskprep": st.sampled_from([1, 1, 1, 2, True, "1", 1.0, None]),
     "steps": st.lists(steps, max_size=5) | values},
    optional={"name": st.text(max_size=30) | values,
              "inputs": st.dictionaries(st.sampled_from(["seeds", "input", "m"]),
                                        st.sampled_from(["points", "labels", "mask"]) | values,
                                        max_size=2) | values})
HOSTILE = [
    "!!python/object/apply:os.system ['touch pwned']", "!!binary aGk=", "!!set {a}",
    "!!bool 1", "!!str 3", "&a [1]", "*a", "!custom x", "[" * 40 + "]" * 40,
    "{" * 20 + "}" * 20, "9" * 5000, "1e999", "\x1b[31m", "'\\ud800'", "\"\\ud800\"",
    "{a: 1, a: 2}", "{1: x}", "? [k]\n: v", "--- \n---", "%YAML 1.1\n---", "\t", "\x00",
]


def loads_or_refuses(text: str, fmt: str) -> None:
    try:
        recipe = Recipe.loads(text, format=fmt)
    except RecipeError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 300, message
        assert "\x1b" not in message
        return
    assert Recipe.loads(recipe.dumps()) == recipe
    assert Recipe.loads(recipe.dumps(format="json"), format="json") == recipe


def _yaml(data) -> str | None:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError, TypeError):
        return None


def check_document(data, hostile: str, where: int, fmt: str) -> None:
    if fmt == "json":
        text = json.dumps(data, ensure_ascii=False, default=str)
    else:
        text = _yaml(data) or "maskprep: 1\nsteps: []\n"
    if hostile:
        cut = where % (len(text) + 1)
        text = text[:cut] + hostile + text[cut:]
    loads_or_refuses(text, fmt)


@FAST
@given(data=recipes, hostile=st.sampled_from([""] + HOSTILE), where=st.integers(0, 10**6),
       fmt=st.sampled_from(["yaml", "json"]))
def test_generated_documents_load_or_are_refused_in_one_line(data, hostile, where, fmt):
    check_document(data, hostile, where, fmt)


@pytest.mark.fuzz_long
@LONG
@given(data=recipes, hostile=st.sampled_from([""] + HOSTILE), where=st.integers(0, 10**6),
       fmt=st.sampled_from(["yaml", "json"]))
def test_generated_documents_long(data, hostile, where, fmt):
    check_document(data, hostile, where, fmt)


@FAST
@given(text=st.text(max_size=300))
def test_any_text_loads_or_is_refused_in_one_line(text):
    loads_or_refuses(text, "yaml")
    loads_or_refuses(text, "json")
