"""A LightGBM text model is checked as text before LightGBM reads it: damaged or crafted
models are one-line errors, never a crash, an abort or a loop in LightGBM's parser."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_maskprep.cli import main
from napari_maskprep.core.lightgbm_text import checked_model_text
from napari_maskprep.core.model_files import ModelFileError
from napari_maskprep.presets import preset_path

GOOD = (preset_path("fluorescence-nuclei").parent / "fluorescence-nuclei.lgbm.txt").read_text()


# Each of these crashed (SIGSEGV), aborted (SIGABRT) or hung LightGBM's parser: the text
# that damages the model (None: the model cut in half) and the end of the error.
DAMAGE = [
    (None, None, r"\(no trees, or no 'end of trees'\)$"),
    ("num_leaves=31", "num_leaves=40", r"\(tree 0: split_feature: 30 values; expected 39\)$"),
    ("left_child=2 4 8", "left_child=0 4 8",
     r"\(tree 0: its nodes do not form a tree: a node with no parent or with two\)$"),
    ("split_feature=0 20 20", "split_feature=0 20 99",
     r"\(tree 0: a split on a feature outside 0 to 39\)$"),
    ("num_cat=0", "num_cat=1", r"categorical or linear splits\)$"),
    ("decision_type=2 2", "decision_type=3 2", r"a decision type that is not a numerical split\)$"),
    ("leaf_value=-1.7159307837375399", "leaf_value=nan",
     r"\(tree 0: leaf_value: a value that is not finite\)$"),
    ("num_class=1", "num_class=3",
     r"not a binary LightGBM classifier \(num_class=3; expected 1\)$"),
    ("max_feature_idx=39", "max_feature_idx=41",
     r"\(feature_names: 40 entries for max_feature_idx=41\)$"),
    # Python's int and float read these (as 2, 31, -1.7159...); LightGBM reads other
    # numbers (0, 3, ...), so the first two were checked as one tree and crashed it as another.
    ("left_child=2 4 8", "left_child=\u0662 4 8", r"\(tree 0: left_child: not numbers\)$"),
    ("num_leaves=31", "num_leaves=3_1", r"\(tree 0: num_leaves: '3_1' is not an integer\)$"),
    ("leaf_value=-1.7159307837375399", "leaf_value=-1.7159_307837375399",
     r"\(tree 0: leaf_value: not numbers\)$"),
    # No tree between 'Tree=' and 'end of trees' raised IndexError.
    ("\nTree=0\n", "\nTree=\nend of trees\nTree=0\n", r"\(tree 0 is numbered ''\)$"),
    # LightGBM stopped reading trees at a line between two, and predicted with tree 0 alone.
    ("\n\nTree=1\n", "\n\njunk line\n\nTree=1\n",
     r"\(a line after tree 0 that is no tree: 'junk line'\)$"),
    # LightGBM stopped on these with its own '[LightGBM] [Fatal] ...' line on stderr (the
    # sigmoid's scale missing or negative, a shrinkage that is no number), before ours.
    ("objective=binary sigmoid:1", "objective=binary",
     r"\(objective='binary'; expected 'binary sigmoid:' and a positive number\)$"),
    ("objective=binary sigmoid:1", "objective=binary sigmoid:-1",
     r"\(objective='binary sigmoid:-1'; expected 'binary sigmoid:' and a positive number\)$"),
    ("shrinkage=1", "shrinkage=x", r"\(tree 0: shrinkage: not numbers\)$"),
    ("feature_infos=[", "feature_infos==[",
     r"\(the header: a line without one '=': 'feature_infos==\[.*'\)$"),
]


@pytest.mark.parametrize(("old", "new", "message"), DAMAGE)
def test_damaged_models_are_one_line_errors(old, new, message):
    damaged = GOOD[: len(GOOD) // 2] if old is None else GOOD.replace(old, new, 1)
    assert damaged != GOOD
    with pytest.raises(ModelFileError, match=message) as info:
        checked_model_text(damaged.encode())
    assert "\n" not in str(info.value)


def test_a_well_formed_model_is_given_without_its_byte_offsets_and_what_follows_it():
    text = checked_model_text(GOOD.encode())
    trees = GOOD[GOOD.index("\nTree=0\n"): GOOD.index("\nend of trees\n")]
    header = GOOD[: GOOD.index("\nTree=0\n")].split("\n")
    assert "tree_sizes=" in GOOD and "\nparameters:\n" in GOOD
    assert text == "\n".join(line for line in header if not line.startswith("tree_sizes=")
                             ) + trees + "\nend of trees\n"


def test_the_pandas_categories_after_the_trees_are_not_read():
    """The Python package json-loads a model's last line where it names a DataFrame's
    categories, so a damaged one was refused; the text LightGBM is given now ends at the
    trees, and prediction never reads it."""
    damaged = GOOD.replace("pandas_categorical:null", "pandas_categorical:[[1,2]", 1)
    assert damaged != GOOD
    assert checked_model_text(damaged.encode()) == checked_model_text(GOOD.encode())


_CUT_PARAMETER = r"""
import sys
import numpy as np
from napari_maskprep.ops.learn import _parse

good = open(sys.argv[1]).read()
cut = good.replace("[learning_rate: 0.1]", "[learning_rate:", 1)
assert cut != good
features = np.random.default_rng(0).random((5, 40))
print(_parse(cut.encode(), "lightgbm").probability_of(features, threads=1).tolist()
      == _parse(good.encode(), "lightgbm").probability_of(features, threads=1).tolist())
"""


def test_a_parameter_line_cut_short_is_not_read(tmp_path):
    """'[learning_rate: 0.1]' cut to '[learning_rate:' in the training parameters after the
    trees crashed the process (SIGSEGV) when LightGBM read them; prediction needs none of
    that part, which is now left out: the model reads as the intact one."""
    model = tmp_path / "model.txt"
    model.write_text(GOOD)
    done = subprocess.run([sys.executable, "-c", _CUT_PARAMETER, str(model)],
                          capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "True\n", "")


@pytest.mark.parametrize(("old", "new", "message"), [
    (None, None, "(no trees, or no 'end of trees')"),
    ("objective=binary sigmoid:1", "objective=binary sigmoid:0",
     "(objective='binary sigmoid:0'; expected 'binary sigmoid:' and a positive number)"),
])
def test_maskprep_run_says_one_line_of_a_damaged_model(tmp_path, capfd, old, new, message):
    """LightGBM's own '[LightGBM] [Fatal] Sigmoid parameter 0.000000 should be greater than
    zero' came on stderr before maskprep's line."""
    damaged = GOOD[: len(GOOD) // 2] if old is None else GOOD.replace(old, new, 1)
    (tmp_path / "model.txt").write_text(damaged)
    recipe = preset_path("fluorescence-nuclei").read_text()
    sha = hashlib.sha256(damaged.encode()).hexdigest()
    recipe = re.sub(r"\{path: .*\}", f"{{path: model.txt, sha256: {sha}}}", recipe)
    (tmp_path / "r.maskprep.yaml").write_text(recipe)
    tifffile.imwrite(tmp_path / "image.tif", np.zeros((8, 8), np.uint8))
    capfd.readouterr()
    assert main(["run", str(tmp_path / "r.maskprep.yaml"), str(tmp_path / "image.tif"),
                 "-o", str(tmp_path / "out")]) == 2
    assert capfd.readouterr().err == ("maskprep: error: step 2 (segment.pixel_classifier): "
                                      f"model: not a readable LightGBM model {message}\n")
    assert not (tmp_path / "out").exists()


_MUTATE = r"""
import random, re, sys
from napari_maskprep.core.errors import MaskprepError
from napari_maskprep.ops.learn import _parse

good = open(sys.argv[1]).read()
numbers = [m.span() for m in re.finditer(r"-?\d+", good[:200_000])]
refused = 0
for seed in range(int(sys.argv[2])):
    rng = random.Random(seed)
    kind = seed % 3
    if kind == 0:
        text = good[: rng.randrange(len(good))]
    elif kind == 1:
        start, stop = numbers[rng.randrange(len(numbers))]
        text = good[:start] + str(rng.randint(-40, 70)) + good[stop:]
    else:
        lines = good.split("\n")
        del lines[rng.randrange(len(lines))]
        text = "\n".join(lines)
    try:
        _parse(text.encode(), "lightgbm")
    except MaskprepError:
        refused += 1
print(refused)
"""


def test_randomly_damaged_models_never_crash_the_process(tmp_path):
    """Truncations, changed numbers and deleted lines of a bundled model, in a separate
    process: each is read or refused; LightGBM never crashes, aborts or hangs on one."""
    model = tmp_path / "model.txt"
    model.write_text(GOOD)
    done = subprocess.run([sys.executable, "-c", _MUTATE, str(model), "150"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 50 <= int(done.stdout) <= 150  # every truncation at least is refused
