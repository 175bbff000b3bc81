"""Fixtures of the command-line tests: a folder of real images, a recipe file."""

from __future__ import annotations

import shutil

import pytest

from ..conftest import DATA, RECIPE, pairs


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "nuclei.maskprep.yaml"
    path.write_text(RECIPE)
    return path


@pytest.fixture
def folder(tmp_path):
    """Three real fluorescence images (DSB 2018) in a folder of their own."""
    path = tmp_path / "images"
    path.mkdir()
    for image, _ in pairs(DATA, "dsb2018_fluo_nuclei")[:3]:
        shutil.copy(image, path)
    return path
