"""LightGBM text models checked before LightGBM reads them.

LightGBM's own parser trusts the file: a truncated model crashed the process
(segmentation fault), a ``num_leaves`` that disagrees with the arrays aborted it
(``[Fatal] Check failed``, then ``terminate called``), and a tree whose child points back
to its root looped forever. A hash names a file; it says nothing of its form. So the
header and every tree are parsed here first, as plain text, and refused in one line
unless each tree is a well-formed binary tree of numerical splits over the model's
features: array lengths agree with ``num_leaves``, each node has exactly one parent, every
node is reached from the root, features are in range, values are finite. Categorical and
linear trees, which this package never trains, are refused. ``tree_sizes`` (byte offsets
LightGBM would jump by) is dropped, so LightGBM reads the trees one after another, and so is
all that follows the trees (feature importances, the training parameters, the pandas
categories), which prediction does not use: LightGBM's reader of the parameters crashed
(SIGSEGV) on a line cut short ('[learning_rate:'), and its JSON of them is only as valid as
the values are.
"""

from __future__ import annotations

import math
import re

from .errors import LimitError
from .model_files import ModelFileError

__all__ = ["MAX_LEAVES", "checked_model_text"]

MAX_LEAVES = 2**17  # per tree; LightGBM's own default is 31

# Arrays over the internal nodes (num_leaves - 1 entries) and over the leaves.
_INTERNAL = ("split_feature", "split_gain", "threshold", "decision_type", "left_child",
             "right_child", "internal_value", "internal_weight", "internal_count")
_LEAVES = ("leaf_value", "leaf_weight", "leaf_count")
_REQUIRED_SPLITS = ("split_feature", "threshold", "decision_type", "left_child",
                    "right_child")
_INTEGERS = ("split_feature", "decision_type", "left_child", "right_child",
             "internal_count", "leaf_count")
# Numbers as LightGBM's parser reads them: ASCII digits only. Python's int and float also
# take '3_1' and non-ASCII digits ('\u0662'), which LightGBM reads as other numbers, so a
# tree checked here would not be the tree it builds (it crashed on one).
_INTEGER = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|nan)",
                    re.IGNORECASE)
_SIGMOID = re.compile(f"binary sigmoid:({_FLOAT.pattern})")


def checked_model_text(content: bytes) -> str:
    """``content`` as the text LightGBM is given, once its header and trees are checked;
    raises :class:`ModelFileError` (or :class:`LimitError`) in one line otherwise."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError("not a readable LightGBM model (not UTF-8 text)") from None
    head, marker, rest = text.partition("\nTree=")
    trees, end, _ = (marker + rest).partition("\nend of trees")
    if not marker or not end:
        raise ModelFileError("not a readable LightGBM model (no trees, or no 'end of trees')")
    header = _fields([line for line in head.splitlines()[1:] if line], "the header")
    features = _header_features(header)
    for number, block in enumerate(trees.split("\nTree=")[1:]):
        tree, _, after = block.partition("\n\n")
        if after.strip("\n"):  # LightGBM stops reading trees there and predicts with fewer
            raise ModelFileError(f"not a readable LightGBM model (a line after tree {number} "
                                 f"that is no tree: {after.strip()[:40]!r})")
        lines = tree.splitlines() or [""]
        if lines[0] != str(number):
            raise ModelFileError(f"not a readable LightGBM model (tree {number} is "
                                 f"numbered {lines[0][:20]!r})")
        _check_tree(_fields(lines[1:], f"tree {number}"), features, f"tree {number}")
    kept = [line for line in head.split("\n") if not line.startswith("tree_sizes=")]
    return "\n".join(kept) + trees + end + "\n"


def _fields(lines: list[str], where: str) -> dict[str, str]:
    fields = {}
    for line in lines:
        key, equals, value = line.partition("=")
        if not equals or "=" in value:  # LightGBM splits at each '=' and stops on a third part
            raise ModelFileError(f"not a readable LightGBM model ({where}: a line without "
                                 f"one '=': {line[:40]!r})")
        if key in fields:
            raise ModelFileError(f"not a readable LightGBM model ({where}: {key} twice)")
        fields[key] = value
    return fields


def _header_features(header: dict[str, str]) -> int:
    """The model's number of features, once the header says it is one binary model."""
    for key, want in (("num_class", "1"), ("num_tree_per_iteration", "1"),
                      ("label_index", "0")):
        if header.get(key) != want:
            raise ModelFileError(f"not a binary LightGBM classifier ({key}="
                                 f"{header.get(key, '(missing)')[:20]}; expected {want})")
    if not header.get("objective", "").startswith("binary"):
        raise ModelFileError("not a binary LightGBM classifier (objective 'binary')")
    # LightGBM reads the sigmoid's scale from this line, and stops ([Fatal]) without it
    sigmoid = _SIGMOID.fullmatch(header["objective"])
    if not sigmoid or not 0 < float(sigmoid[1]) < math.inf:
        raise ModelFileError(f"not a readable LightGBM model (objective="
                             f"{header['objective'][:40]!r}; expected 'binary sigmoid:' and "
                             "a positive number)")
    features = _integer(header.get("max_feature_idx", ""), "max_feature_idx") + 1
    for key in ("feature_names", "feature_infos"):
        count = len(header.get(key, "").split(" "))
        if key in header and count != features or key == "feature_names" and key not in header:
            raise ModelFileError(f"not a readable LightGBM model ({key}: {count} entries for "
                                 f"max_feature_idx={features - 1})")
    return features


def _check_tree(tree: dict[str, str], features: int, where: str) -> None:
    leaves = _integer(tree.get("num_leaves", ""), f"{where}: num_leaves")
    if not 1 <= leaves <= MAX_LEAVES:
        raise LimitError(f"model {where}: num_leaves={leaves}; accepted: 1 to {MAX_LEAVES}")
    if tree.get("num_cat") != "0" or tree.get("is_linear", "0") != "0":
        raise ModelFileError(f"not a model this package trains ({where}: categorical or "
                             "linear splits)")
    if "shrinkage" in tree:  # LightGBM reads it as a number, and stops ([Fatal]) on another
        _numbers(tree["shrinkage"], 1, False, f"{where}: shrinkage")
    arrays = {}
    for names, count in ((_INTERNAL, leaves - 1), (_LEAVES, leaves)):
        for name in names:
            if name in tree:
                arrays[name] = _numbers(tree[name], count, name in _INTEGERS, f"{where}: {name}")
    missing = [n for n in ("leaf_value", *(_REQUIRED_SPLITS if leaves > 1 else ()))
               if n not in arrays]
    if missing:
        raise ModelFileError(f"not a readable LightGBM model ({where}: no {missing[0]})")
    if leaves == 1:
        return
    if any(not 0 <= f < features for f in arrays["split_feature"]):
        raise ModelFileError(f"not a readable LightGBM model ({where}: a split on a feature "
                             f"outside 0 to {features - 1})")
    # Bit 0: categorical (refused above); bit 1: default left; bits 2-3: missing type 0-2.
    if any(not 0 <= d < 16 or d & 1 or d >> 2 > 2 for d in arrays["decision_type"]):
        raise ModelFileError(f"not a model this package trains ({where}: a decision type "
                             "that is not a numerical split)")
    _check_shape(arrays["left_child"], arrays["right_child"], leaves, where)


def _check_shape(left: list[float], right: list[float], leaves: int, where: str) -> None:
    """Each node one parent, the root none, all reached from it: a binary tree."""
    parents = [0] * (2 * leaves - 1)  # internal nodes 0..leaves-2, then the leaves
    for child in [*left, *right]:
        child = int(child)
        node = child if child >= 0 else leaves - 1 + ~child
        if not (child < leaves - 1 if child >= 0 else ~child < leaves):
            raise ModelFileError(f"not a readable LightGBM model ({where}: a child {child} "
                                 f"outside the tree of {leaves} leaves)")
        parents[node] += 1
    if parents[0] or any(count != 1 for count in parents[1:]):
        raise ModelFileError(f"not a readable LightGBM model ({where}: its nodes do not "
                             "form a tree: a node with no parent or with two)")
    reached, stack = 0, [0]
    while stack:
        node = stack.pop()
        reached += 1
        stack.extend(int(c) for c in (left[node], right[node]) if c >= 0)
        if reached > leaves:
            break
    if reached != leaves - 1:
        raise ModelFileError(f"not a readable LightGBM model ({where}: its nodes do not "
                             "form a tree: a loop)")


def _numbers(value: str, count: int, integers: bool, where: str) -> list[float]:
    parts = value.split(" ") if value else []
    if len(parts) != count:
        raise ModelFileError(f"not a readable LightGBM model ({where}: {len(parts)} values; "
                             f"expected {count})")
    form = _INTEGER if integers else _FLOAT
    try:
        if not all(form.fullmatch(p) for p in parts):
            raise ValueError
        numbers = [int(p) if integers else float(p) for p in parts]
    except ValueError:  # also an integer of thousands of digits
        raise ModelFileError(f"not a readable LightGBM model ({where}: not numbers)") from None
    if not integers and not all(math.isfinite(n) for n in numbers):
        raise ModelFileError(f"not a readable LightGBM model ({where}: a value that is not "
                             "finite)")
    return numbers


def _integer(value: str, where: str) -> int:
    try:
        if not _INTEGER.fullmatch(value):
            raise ValueError
        return int(value)
    except ValueError:
        raise ModelFileError(f"not a readable LightGBM model ({where}: "
                             f"{value[:20] or '(missing)'!r} is not an integer)") from None
