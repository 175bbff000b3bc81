"""Every Python example in the README runs, and every recipe in it loads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from napari_maskprep.recipe import Recipe

README = Path(__file__).parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("code", blocks("python"))
def test_python_example_runs(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    mask = namespace.get("mask")
    if mask is not None:  # the example's mask is a mask of its image
        assert mask.dtype == np.uint8 and mask.shape == namespace["image"].shape
        assert 0.05 < mask.mean() < 0.5


@pytest.mark.parametrize("text", [b for b in blocks("yaml") if b.startswith("maskprep:")])
def test_recipe_example_loads(text):
    recipe = Recipe.loads(text)
    assert Recipe.loads(recipe.dumps()) == recipe and recipe.steps


def test_there_are_examples_to_run():
    assert len(blocks("python")) >= 1 and len(blocks("yaml")) >= 1
