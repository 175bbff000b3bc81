"""Fitting a recipe's parameters to masks (:mod:`napari_maskprep.fit`): Dice on real
images, held-out images kept out of the search, determinism, the search space, bad input."""

from __future__ import annotations

import shutil
import sys

import cv2
import numpy as np
import pytest
import tifffile

from napari_maskprep import MaskprepError, Recipe
from napari_maskprep.fit import FitResult, ImageScore, fit_recipe, read_pairs, search_space
from napari_maskprep.ops.edit import ManualEdit

from ..conftest import DATA
from ..networks import network_model

BBBC039 = DATA / "bbbc039_fluo_nuclei"
DSB = DATA / "dsb2018_fluo_nuclei"
HELD_OUT = "IXMtest_A16_s2_w15AF20A10-82AE-48FA-AC50-7AE8AC3AA544"

# Deliberately poor: blurred far too much, the wrong threshold, most nuclei removed.
POOR = Recipe([
    {"op": "preprocess.gaussian", "params": {"sigma": 6.0}},
    {"op": "segment.auto_threshold", "params": {"method": "triangle"}},
    {"op": "refine.remove_small", "params": {"min_size": 2000}},
])


def copy_set(src, dst, count=None):
    """A set's images and masks, the first ``count`` of each, in folders of their own."""
    for part in ("images", "masks"):
        (dst / part).mkdir(parents=True)
        for path in sorted((src / part).iterdir())[:count]:
            shutil.copy(path, dst / part)
    return dst / "images", dst / "masks"


def test_fit_improves_dice_on_a_held_out_real_image():
    result = fit_recipe(POOR, BBBC039 / "images", BBBC039 / "masks", labels=True, trials=30,
                        holdout=[HELD_OUT])
    held = [s for s in result.scores if s.held_out]
    assert [s.name for s in held] == [HELD_OUT]
    assert held[0].before < 0.6 and held[0].after > 0.93
    assert result.mean(held_out=False, after=False) < 0.6 < 0.93 < result.mean(held_out=False)
    assert result.trials == 30 and not result.stopped_by_budget
    assert result.searched == ["1.sigma", "2.method", "2.polarity", "3.min_size",
                               "3.connectivity"]
    fitted = result.recipe.steps
    assert type(fitted[2].params["min_size"]) is int
    assert result.changed["1.sigma"] == (6.0, fitted[0].params["sigma"])
    # The fitted recipe is a plain recipe: saved, loaded and run, it scores what was reported.
    image = tifffile.imread(BBBC039 / "images" / f"{HELD_OUT}.tif")
    truth = tifffile.imread(BBBC039 / "masks" / f"{HELD_OUT}.tif") > 0
    mask = Recipe.loads(result.recipe.dumps()).run(image)
    assert 2 * np.count_nonzero(mask & truth) / (mask.sum() + truth.sum()) == held[0].after


def test_held_out_masks_never_reach_the_search(tmp_path):
    images, masks = copy_set(BBBC039, tmp_path)
    first = fit_recipe(POOR, images, masks, labels=True, trials=12, holdout=[HELD_OUT])
    tifffile.imwrite(masks / f"{HELD_OUT}.tif", np.zeros((520, 696), np.uint16))
    second = fit_recipe(POOR, images, masks, labels=True, trials=12, holdout=[HELD_OUT])
    assert second.recipe == first.recipe
    assert [s.after for s in second.scores if not s.held_out] == [
        s.after for s in first.scores if not s.held_out]
    assert [s.after for s in second.scores if s.held_out] == [0.0]


def test_the_same_trials_give_the_same_fitted_recipe():
    runs = [fit_recipe(POOR, DSB / "images", DSB / "masks", labels=True, trials=15)
            for _ in range(2)]
    assert runs[0].recipe == runs[1].recipe
    assert runs[0].scores == runs[1].scores
    assert runs[0].recipe != POOR
    # the default hold-out is a quarter of the images, chosen by the seed
    assert sum(s.held_out for s in runs[0].scores) == 2
    other = fit_recipe(POOR, DSB / "images", DSB / "masks", labels=True, trials=1, seed=1)
    assert [s.name for s in other.scores if s.held_out] != [
        s.name for s in runs[0].scores if s.held_out]


def test_a_recipe_no_trial_beats_is_kept():
    image = np.zeros((8, 8), np.uint8)
    image[2:6, 2:6] = 200
    start = Recipe([{"op": "segment.threshold", "params": {"value": 100}}])
    result = fit_recipe(start, [image], [image > 0], trials=5, holdout=0)
    assert result.recipe == start and result.changed == {}
    assert [(s.before, s.after) for s in result.scores] == [(1.0, 1.0)]


def test_the_search_space_comes_from_the_signatures():
    recipe = Recipe([
        {"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
        {"op": "preprocess.median", "enabled": False},
        {"op": "segment.threshold", "params": {"value": 100}},
        {"op": "segment.multi_threshold"},
        {"op": "refine.open", "params": {"radius": "1 um"}},
        {"op": "refine.fill_holes"},
        {"op": "refine.remove_small", "params": {"min_size": 30}},
        {"op": "segment.local_threshold"},
    ])
    dims, kept = search_space(recipe, {2: 50.0}, pixels=10_000)
    by_label = {d.label: d for d in dims}
    assert list(by_label) == ["1.sigma", "3.value", "3.polarity", "4.classes", "4.keep_from",
                              "4.keep_to", "5.shape", "7.min_size", "7.connectivity",
                              "8.method", "8.block_size", "8.k", "8.polarity"]
    sigma = by_label["1.sigma"]
    assert (sigma.low, sigma.high, sigma.log, sigma.step_size, sigma.places) == (
        0.1, 50.0, True, None, 1)
    value = by_label["3.value"]  # no bounds: the step's input span around the start
    assert (value.low, value.high, value.step_size, value.log) == (50.0, 150.0, 1.0, False)
    assert by_label["3.polarity"].choices == ("above", "below")
    # ball, cube and octahedron are disk, square and diamond on 3D data, refused on 2D
    assert by_label["5.shape"].choices == ("disk", "square", "diamond")
    classes = by_label["4.classes"]
    assert (classes.low, classes.high, classes.step_size, classes.log) == (2, 5, 1, False)
    size = by_label["7.min_size"]
    assert (size.low, size.high, size.log) == (1, 10_000, True)
    block = by_label["8.block_size"]  # odd sizes only: the step is kept, on a linear scale
    assert (block.low, block.high, block.step_size, block.log) == (3, 1001, 2, False)
    assert kept == ["5.radius = 1 um (sizes in micrometres are kept)",
                    "6.max_hole_size = null (none is kept)",
                    "8.offset = 0.0 (no range to search)"]


def test_a_size_kept_in_another_unit_is_said_in_it():
    recipe = Recipe([{"op": "segment.threshold"},
                     {"op": "refine.open", "params": {"radius": "0.002 mm"}}])
    kept = search_space(recipe, {0: 50.0}, pixels=10_000)[1]
    assert kept == ["2.radius = 0.002 mm (sizes in millimetres are kept)"]


def test_choices_include_booleans_and_hand_edits_are_not_searched():
    before = np.zeros((3, 4), np.uint8)
    after = before.copy()
    after[1, 1:3] = 1
    recipe = Recipe([{"op": "preprocess.background", "params": {"light_background": True}},
                     {"op": "segment.threshold"},
                     {"op": "edit.manual", "params": ManualEdit.between(before, after).params()}])
    dims, kept = search_space(recipe, {1: 10.0})
    assert [(d.label, d.choices) for d in dims] == [
        ("1.method", ("rolling_ball", "tophat")), ("1.radius", None),
        ("1.light_background", (False, True)), ("2.value", None),
        ("2.polarity", ("above", "below"))]
    assert kept == []


def test_only_the_named_parameters_are_searched():
    result = fit_recipe(POOR, DSB / "images", DSB / "masks", labels=True, trials=10,
                        search=["3.min_size"])
    assert result.searched == ["3.min_size"]
    assert set(result.changed) <= {"3.min_size"}
    assert [s.params for s in result.recipe.steps[:2]] == [s.params for s in POOR.steps[:2]]


def test_sizes_in_micrometres_need_a_pixel_size():
    recipe = Recipe([{"op": "segment.threshold", "params": {"value": 100}},
                     {"op": "refine.remove_small", "params": {"min_size": "4 um2"}}])
    image = np.zeros((8, 8), np.uint8)
    image[2:6, 2:6] = 200
    with pytest.raises(MaskprepError, match="no pixel size is known.*pixel_size="):
        fit_recipe(recipe, [image], [image > 0], trials=2, holdout=0)
    result = fit_recipe(recipe, [image], [image > 0], trials=2, holdout=0, pixel_size=0.5)
    assert result.recipe.steps[1].params["min_size"] == "4 um2"
    assert result.kept == ["2.min_size = 4 um2 (sizes in micrometres are kept)"]


def _square() -> np.ndarray:
    """A 6 x 6 uint8 image, 9 on its 3 x 3 square at (1, 1), else 0."""
    image = np.zeros((6, 6), np.uint8)
    image[1:4, 1:4] = 9
    return image


def test_binary_masks_pair_by_stem_and_png_0_255_is_binary(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "mk").mkdir()
    image = _square()
    tifffile.imwrite(tmp_path / "im" / "a.tif", image)
    tifffile.imwrite(tmp_path / "im" / "unpaired.tif", image)
    tifffile.imwrite(tmp_path / "mk" / "a.tif", (image > 0).astype(np.uint8) * 255)
    pairs = read_pairs(tmp_path / "im", tmp_path / "mk")
    assert [p.name for p in pairs] == ["a"]
    np.testing.assert_array_equal(pairs[0].mask, image > 0)


def test_one_folder_of_images_and_masks_is_refused(tmp_path):
    # Each file was paired with itself: a folder of a.tif and a_mask.tif fitted a_mask
    # against itself (Dice 0.89 -> 0.94, exit 0).
    image = _square()
    tifffile.imwrite(tmp_path / "a_mask.tif", (image > 0).astype(np.uint8))
    start = Recipe([{"op": "segment.threshold", "params": {"value": 20}}])
    with pytest.raises(MaskprepError) as info:
        fit_recipe(start, tmp_path, tmp_path / "." / "", trials=2, holdout=0)
    assert str(info.value) == (f"images and masks are one folder, {tmp_path}, so each file "
                               "would be its own mask; accepted: the masks in a folder of "
                               "their own, each named as its image")


def test_an_ome_zarr_store_fit_does_not_read_is_named_as_one(tmp_path):
    # Its mask was said to have no image of its stem ("1 mask without an image of its stem
    # (b)"), though b.zarr is that image: fit reads image files only.
    from napari_maskprep.io.omezarr import write_ome_zarr

    (tmp_path / "im").mkdir()
    (tmp_path / "mk").mkdir()
    image = _square()
    tifffile.imwrite(tmp_path / "im" / "a.tif", image)
    write_ome_zarr(image, tmp_path / "im" / "b.zarr")
    for stem in ("a", "b"):
        tifffile.imwrite(tmp_path / "mk" / f"{stem}.tif", (image > 0).astype(np.uint8))
    start = Recipe([{"op": "segment.threshold", "params": {"value": 20}}])
    result = fit_recipe(start, tmp_path / "im", tmp_path / "mk", trials=2, holdout=0)
    assert [s.name for s in result.scores] == ["a"]
    assert result.left_out == ["1 OME-Zarr store of images, which fit does not read (b.zarr); "
                               "accepted: image files (.tif, .tiff, .png, .jpg, .jpeg)"]
    (tmp_path / "im" / "a.tif").unlink()  # said "(0 images, 2 masks)" of a folder with one
    with pytest.raises(MaskprepError) as info:
        fit_recipe(start, tmp_path / "im", tmp_path / "mk", trials=2, holdout=0)
    assert str(info.value) == (f"no image in {tmp_path / 'im'} has a mask of the same file "
                               f"stem in {tmp_path / 'mk'} (0 images, 2 masks; OME-Zarr stores "
                               "are not read)")


@pytest.mark.parametrize("folder", ["im", "mk"])
def test_two_files_of_one_stem_are_refused(tmp_path, folder):
    # One of them was paired, the last in name order, and the other left out unsaid.
    image = _square()
    for part in ("im", "mk"):
        (tmp_path / part).mkdir()
        tifffile.imwrite(tmp_path / part / "a.tif", image)
    cv2.imwrite(str(tmp_path / folder / "a.png"), image)
    what = "images" if folder == "im" else "masks"
    with pytest.raises(MaskprepError) as info:
        read_pairs(tmp_path / "im", tmp_path / "mk")
    assert str(info.value) == (f"{what}: {tmp_path / folder / 'a.png'} and "
                               f"{tmp_path / folder / 'a.tif'} have one file stem 'a'; "
                               "accepted: one file for each stem")


@pytest.mark.parametrize(("mask", "labels", "message"), [
    (np.zeros((4, 4), np.uint8), False, r"mask has shape \(4, 4\), the image \(6, 6\)"),
    (np.arange(36).reshape(6, 6), False, "holds 36 values.*accepted: a binary mask"),
    (np.full((6, 6), 0.5), True, "dtype float64; accepted: integer labels"),
    (np.array([[1, 2] * 3] * 6), False, r"holds 2 values \(\[1, 2\]\), not 0"),
])
def test_masks_that_do_not_fit_are_refused(mask, labels, message):
    with pytest.raises(MaskprepError, match=message):
        fit_recipe(POOR, [np.zeros((6, 6), np.uint8)], [mask], labels=labels, holdout=0)


def test_bad_input_is_one_line_before_any_work(tmp_path, monkeypatch):
    image, mask = np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8)
    (tmp_path / "empty").mkdir()
    cases = [
        (lambda: fit_recipe(POOR, tmp_path / "empty", DSB / "masks"), "no image in .* has a mask"),
        (lambda: fit_recipe(POOR, tmp_path / "none", DSB / "masks"), "is not a folder"),
        (lambda: fit_recipe(Recipe([{"op": "preprocess.gaussian"}]), [image], [mask]),
         "last enabled step must give a mask"),
        (lambda: fit_recipe(POOR, [image], [mask], trials=0), r"trials=0 .* \[1, 100000\]"),
        (lambda: fit_recipe(POOR, [image], [mask], budget=-1), "budget=-1"),
        (lambda: fit_recipe(POOR, [image], [mask], seed=-5),  # numpy's error, from inside
         r"seed=-5 is not accepted; expected an integer in \[0, 2\*\*32\)"),
        (lambda: fit_recipe(POOR, [image], [mask], seed="x"), "seed='x' is not accepted"),
        (lambda: fit_recipe(POOR, [image], [mask, mask]), "1 images and 2 masks"),
        (lambda: fit_recipe(POOR, [image], [mask], holdout=["image 1"]), "every image is held"),
        (lambda: fit_recipe(POOR, [image], [mask], holdout=["x"]), "holdout names 'x'"),
        (lambda: fit_recipe(POOR, [image], [mask], holdout=1.0), "holdout=1.0"),
        (lambda: fit_recipe(POOR, [image], [mask], holdout=0, search=["9.sigma"]),
         "search='9.sigma' is not a searchable parameter; accepted: 1.sigma,"),
        (lambda: fit_recipe(Recipe([{"op": "refine.fill_holes"}]), [image], [mask], holdout=0),
         r"no parameter to search \(1.max_hole_size = null"),
    ]
    for call, message in cases:
        with pytest.raises(MaskprepError, match=message) as info:
            call()
        assert "\n" not in str(info.value)
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MaskprepError, match=r"needs optuna.*pip install 'napari-maskprep\[fit\]'"):
        fit_recipe(POOR, [image], [mask])


@pytest.mark.parametrize(("search", "message"), [
    # a string was searched letter by letter: "search='3' is not a searchable parameter"
    ("3.min_size", "search='3.min_size' is one text; accepted: a list of parameter labels "
                   "(step number.parameter): ['3.min_size']"),
    # an empty list said "the recipe has no parameter to search", of a recipe that has five
    ([], "search=[] names no parameter; accepted: a list of parameter labels (step "
         "number.parameter, as '1.sigma'), or None to search them all"),
])
def test_a_search_that_is_no_list_of_labels_is_refused_before_any_work(search, message,
                                                                      monkeypatch):
    image, mask = np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8)
    monkeypatch.setattr(Recipe, "iter_run", None)  # no recipe runs
    with pytest.raises(MaskprepError) as info:
        fit_recipe(POOR, [image], [mask], holdout=0, search=search)
    assert str(info.value) == message


def test_a_network_step_searches_its_threshold_only():
    recipe = Recipe([{"op": "segment.onnx_model",
                      "params": {"model": network_model("conv_net"), "multiple": 1, "halo": 2,
                                 "channel": 1}}])
    dims, kept = search_space(recipe)
    assert [(d.label, d.low, d.high, d.step_size) for d in dims] == [
        ("1.threshold", 0.0, 1.0, 0.01)]
    assert kept == [f"1.{name} = {value} (set by the model, not searched)" for name, value in
                    [("halo", 2), ("multiple", 1), ("scale_integers", True), ("mean", 0.0),
                     ("std", 1.0), ("channel", 1)]]


def test_a_time_lapse_is_scored_frame_by_frame_as_maskprep_run_segments_it(tmp_path):
    """A TYX file was one volume to fit (a threshold over all frames) while maskprep run
    segments it frame by frame: the fit scored a recipe other than the one it replays."""
    names = sorted((BBBC039 / "images").iterdir())[:2]
    frames = np.stack([tifffile.imread(p) for p in names])
    frames[1] //= 4  # bleached
    truth = np.stack([tifffile.imread(BBBC039 / "masks" / p.name) for p in names])
    for part, data in (("im", frames), ("mk", truth)):
        (tmp_path / part).mkdir()
        tifffile.imwrite(tmp_path / part / "movie.tif", data, photometric="minisblack",
                         metadata={"axes": "TYX"})
    recipe = Recipe([{"op": "segment.auto_threshold", "params": {}}])
    pairs = read_pairs(tmp_path / "im", tmp_path / "mk", labels=True)
    assert [(p.name, p.frames) for p in pairs] == [("movie", True)]
    result = fit_recipe(recipe, tmp_path / "im", tmp_path / "mk", labels=True, trials=1,
                        holdout=0)
    each = np.stack([recipe.run(frame) for frame in frames]).astype(bool)
    whole = recipe.run(frames).astype(bool)
    assert result.scores[0].before == dice_of(each, truth > 0) > 0.9
    assert dice_of(whole[1], truth[1] > 0) < 0.5  # the bleached frame in a volume, as it was


def dice_of(mask, truth):
    return 2 * np.count_nonzero(mask & truth) / (np.count_nonzero(mask) + np.count_nonzero(truth))


def test_a_fit_report_writes_image_names_a_spreadsheet_would_evaluate_as_text(tmp_path):
    recipe = Recipe([{"op": "segment.auto_threshold", "params": {}}])
    scores = [ImageScore("=HYPERLINK(\"x\")", False, 0.5, 0.75), ImageScore("-1", True, 0, 1),
              ImageScore("cells", True, 0.25, 0.5)]
    result = FitResult(recipe, recipe, scores, trials=1, stopped_by_budget=False, searched=[])
    text = result.write_csv(tmp_path / "f.fit.csv").read_text(encoding="utf-8")
    assert text.splitlines() == [
        "image,set,dice_before,dice_after", '"\'=HYPERLINK(""x"")",search,0.500000,0.750000',
        "'-1,held-out,0.000000,1.000000", "cells,held-out,0.250000,0.500000"]


def test_a_mask_saved_as_a_colour_picture_is_read_as_its_grey(tmp_path):
    # Masks drawn in a paint program are often saved as white-on-black RGB(A) PNGs: fit and
    # training refused them ('the mask has shape (32, 32, 3)'). Equal red, green and blue
    # are the grey mask; colours that differ, or an alpha that varies, are refused.
    image = np.zeros((32, 32), np.uint8)
    image[8:24, 8:24] = 200
    grey = np.where(image > 0, 255, 0).astype(np.uint8)
    opaque = np.full_like(grey, 255)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    tifffile.imwrite(tmp_path / "images" / "a.tif", image)
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.stack([grey] * 3 + [opaque], axis=-1))
    recipe = Recipe([{"op": "segment.threshold", "params": {"value": 50.0}}])
    fitted = fit_recipe(recipe, tmp_path / "images", tmp_path / "masks", trials=1, holdout=0)
    assert [score.before for score in fitted.scores] == [1.0]
    for colour, what in (([grey, grey * 0, grey * 0], " is a colour image whose red, green and "
                          "blue differ"), ([grey] * 3 + [grey], "'s alpha channel varies")):
        with pytest.raises(MaskprepError) as info:
            fit_recipe(recipe, [image], [np.stack(colour, axis=-1)], trials=1, holdout=0)
        assert str(info.value) == (f"image 1: the mask{what}; accepted: a grey mask, or a "
                                   "colour one of equal red, green and blue (white on black)")


def test_a_float_mask_of_0_and_nan_is_refused_as_training_refuses_it():
    # fit read NaN as foreground (np.unique put 0 first), where training refused the same
    # mask: both now read masks by one rule (core.arrays.is_binary).
    image = np.zeros((8, 8), np.uint8)
    mask = np.where(np.eye(8, dtype=bool), np.nan, 0.0)
    recipe = Recipe([{"op": "segment.threshold", "params": {"value": 50.0}}])
    with pytest.raises(MaskprepError) as info:
        fit_recipe(recipe, [image], [mask], trials=1, holdout=0)
    assert str(info.value) == ("image 1: the mask holds 2 values ([0.0, nan]), not 0 and one "
                               "other; accepted: a binary mask (0/1, 0/255), or label images "
                               "with labels=True (--labels)")
