"""segment.pixel_classifier and train_pixel_classifier: learning from scribbles beats the
classical recipe on another real image, saved models predict bit for bit as trained, recipes
name them by path and sha256, tiled runs equal in-memory ones, and model files that are
pickles, changed or missing are refused in one line before anything runs."""

from __future__ import annotations

import functools
import hashlib
import pickle
import shutil
import warnings

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

import napari_maskprep as mp
from napari_maskprep.core.errors import BadTypeError, BadValueError, RecipeError
from napari_maskprep.core.model_files import ModelFile, ModelFileError
from napari_maskprep.io import read_image

from ..conftest import DATA, RECIPE, dice, pairs


def scribbles(truth: np.ndarray) -> np.ndarray:
    """Strokes a person could paint: every 8th row through the objects (2, foreground) and
    every 8th row of the background away from their edges (1); the rest unlabelled (0)."""
    truth = truth > 0
    rows = np.arange(truth.shape[0])[:, None]
    out = np.zeros(truth.shape, np.uint8)
    out[(ndi.distance_transform_edt(~truth) > 2) & (rows % 8 == 4)] = 1
    out[ndi.binary_erosion(truth) & (rows % 8 == 0)] = 2
    return out


@functools.cache
def bbbc039(index: int) -> tuple[np.ndarray, np.ndarray]:
    image, mask = pairs(DATA, "bbbc039_fluo_nuclei")[index]
    return read_image(image), (read_image(mask) > 0).astype(np.uint8)


@functools.cache
def scribble_model() -> mp.PixelClassifier:
    """Trained on scribbles of one BBBC039 field (its second)."""
    image, truth = bbbc039(1)
    return mp.train_pixel_classifier(image, scribbles(truth))


def test_scribbles_on_one_image_beat_the_classical_recipe_on_another():
    image, truth = bbbc039(0)
    learned = dice(scribble_model().predict(image), truth)
    classical = dice(mp.Recipe.loads(RECIPE).run(image), truth)
    assert (round(learned, 3), round(classical, 3)) == (0.959, 0.911)


def test_tiny_square_is_learned_exactly_from_whole_masks_and_from_scribbles():
    image = np.zeros((32, 32), np.uint8)
    image[8:24, 8:24] = 200
    truth = (image > 0).astype(np.uint8)
    strokes = np.zeros_like(truth)
    strokes[0, :] = 1
    strokes[16, 12:20] = 2
    for annotation, mode in ((truth, "masks"), (strokes, "auto"), (truth.astype(bool), "auto"),
                             (truth * np.uint8(255), "auto"), (truth * np.uint16(65535), "masks"),
                             (truth * 1.0, "auto")):
        model = mp.train_pixel_classifier(image, annotation, sigmas=(1, 2), annotation=mode)
        assert np.array_equal(model.predict(image), truth)
    assert model.features[:3] == ("grey_raw", "grey_gauss_s1", "grey_gradient_s1")


def test_saved_model_predicts_bit_for_bit_as_trained(tmp_path):
    model = scribble_model()
    image, _ = bbbc039(2)
    ref = model.save(tmp_path / "nuclei.txt")
    assert ref == ModelFile(str(tmp_path / "nuclei.txt"), hashlib.sha256(
        (tmp_path / "nuclei.txt").read_bytes()).hexdigest())
    from napari_maskprep.ops.learn import load_classifier

    assert np.array_equal(load_classifier(ref).probability(image), model.probability(image))
    assert np.array_equal(mp.apply("segment.pixel_classifier", image, model=ref),
                          model.predict(image))
    again = mp.train_pixel_classifier(*(lambda i, t: (i, scribbles(t)))(*bbbc039(1)))
    assert again.text == model.text, "training is deterministic: the same model text"


def test_saving_a_model_never_replaces_another_file(tmp_path):
    """save('cells.tif') replaced the image with the model's text, and a missing folder
    or a folder at the path raised OSError naming a hidden temporary file."""
    image = np.zeros((16, 16), np.uint8)
    image[4:12, 4:12] = 200
    model = mp.train_pixel_classifier(image, image > 0, sigmas=(1,))
    (tmp_path / "cells.tif").write_bytes(b"II*\x00 pixels")
    (tmp_path / "folder").mkdir()
    for name in ("cells.tif", "folder"):
        with pytest.raises(BadValueError) as info:
            model.save(tmp_path / name)
        assert str(info.value) == (f"{tmp_path / name} exists and is not a LightGBM model; it "
                                   "is left as it is (accepted: a new path, or a model file "
                                   "to replace)")
    assert (tmp_path / "cells.tif").read_bytes() == b"II*\x00 pixels"
    with pytest.raises(BadValueError) as info:
        model.save(tmp_path / "missing" / "m.txt")
    assert str(info.value) == (f"{tmp_path / 'missing' / 'm.txt'} cannot be written (No such "
                               "file or directory); accepted: a file in a folder that exists "
                               "and may be written")
    first = model.save(tmp_path / "m.txt")
    assert model.save(tmp_path / "m.txt") == first  # a model replaces a model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.tif", "folder", "m.txt"]


def test_a_step_from_the_path_a_model_was_saved_to_says_what_it_needs(tmp_path, monkeypatch):
    """classifier.step('m.txt') ended in AttributeError: 'str' object has no attribute
    'to_plain'."""
    image = np.zeros((16, 16), np.uint8)
    image[4:12, 4:12] = 200
    model = mp.train_pixel_classifier(image, image > 0, sigmas=(1,))
    monkeypatch.chdir(tmp_path)
    ref = model.save("m.txt")
    with pytest.raises(BadTypeError) as info:
        model.step("m.txt")
    assert str(info.value) == ("ref='m.txt'; accepted: the ModelFile that save() returns "
                               "(ref = classifier.save(path))")
    assert model.step(ref)["params"]["model"] == ref.to_plain()


@pytest.mark.parametrize(("image_shape", "annotation_shape", "kind"), [
    ((20, 20, 3), (20, 20, 3), " (RGB)"),  # said "its image is (20, 20)" of an RGB image
    ((20, 20, 4), (20, 20, 4), " (RGB)"),
    ((20, 20), (20, 21), ""),
])
def test_an_annotation_of_another_shape_says_what_is_accepted(image_shape, annotation_shape,
                                                               kind):
    with pytest.raises(BadValueError) as info:
        mp.train_pixel_classifier(np.zeros(image_shape, np.uint8),
                                  np.zeros(annotation_shape, np.uint8))
    assert str(info.value) == (f"annotation 0 has shape {annotation_shape}; accepted: one "
                               f"label a pixel of image 0{kind}, shape (20, 20)")


def test_training_input_errors_are_one_line():
    image = np.zeros((20, 20), np.uint8)
    cases = [
        ((image, np.ones((20, 20), np.uint8)), {"annotation": "masks"},
         r"^annotation 0 holds only foreground; accepted: scribbles holding both"),
        ((image, np.full((20, 20), 3, np.uint8)), {"annotation": "scribbles"},
         r"^annotation 0 holds the values 3; accepted: 0 \(not labelled\)"),
        ((image, np.zeros((20, 21), np.uint8)), {}, r"shape \(20, 21\); accepted: one label a"),
        (([image, image], [image]), {}, "2 images and 1 annotations"),
        ((image, image), {"sigmas": (0.1,)}, r"sigmas=\(0.1,\); accepted: 1 to 8 values"),
        ((image, image), {"trees": 0}, r"trees=0; accepted: an integer in \[1, 5000\]"),
        ((image, image), {"sigmas": (True,)},  # as trees=True is, not the scale 1.0
         r"^sigmas=\(True,\); accepted: 1 to 8 values in \[0.3, 32.0\]$"),
        ((image, image), {"sigmas": (np.True_, 2)},
         r"^sigmas=\(np.True_, 2\); accepted: 1 to 8 values in \[0.3, 32.0\]$"),
        ((image, image), {"annotation": "boxes"}, "annotation='boxes'; accepted: auto"),
        ((np.zeros((2, 4, 20, 20)), image), {}, "a 2D grey or RGB image or a grey 3D stack"),
        ((np.zeros((4, 20, 20)), image), {}, r"annotation 0 has shape \(20, 20\); accepted: "
                                             r"one label a pixel of image 0, shape \(4, 20, 20\)"),
        (([image, np.zeros((4, 20, 20))], [image, image]), {},
         r"^images mix kinds: image 0 is 2D grey \(shape \(20, 20\)\), image 1 a grey 3D "
         r"stack \(shape \(4, 20, 20\)\); accepted: all 2D grey, all RGB or all grey 3D "
         r"stacks$"),
        (([image, image, np.zeros((20, 20, 3), np.uint8)], [image] * 3), {},
         r"^images mix kinds: image 0 is 2D grey \(shape \(20, 20\)\), image 2 RGB "
         r"\(shape \(20, 20, 3\)\); accepted"),
        ((image, image), {"learning_rate": "abc"},  # Python's float() error, not naming it
         r"learning_rate='abc'; accepted: a number in \(0, 1\]"),
        ((image, image), {"learning_rate": None}, "learning_rate=None; accepted"),
        ((image, image), {"sigmas": "12"}, "sigmas must be numbers; got '12'"),  # not 1 and 2
        ((np.zeros((0, 20), np.uint8), image), {}, r"image 0 is empty \(shape \(0, 20\)\)"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises((BadValueError, BadTypeError), match=message) as info:
            mp.train_pixel_classifier(*args, **kwargs)
        assert "\n" not in str(info.value)


def test_a_prediction_threshold_outside_0_to_1_is_one_line():
    """NaN and 2 gave an empty mask without a word, None a TypeError."""
    model, image = scribble_model(), np.zeros((20, 20), np.uint8)
    for threshold in (float("nan"), 2, -0.1, None, "0.5", True):  # as the step says it
        with pytest.raises((BadValueError, BadTypeError), match=r"^threshold=.*; expected a "
                                                               r"number in \[0.0, 1.0\]$"):
            model.predict(image, threshold=threshold)
    assert model.predict(image, threshold=1).dtype == np.uint8


def _recipe_with(ref: ModelFile) -> mp.Recipe:
    return mp.Recipe([scribble_model().step(ref), {"op": "refine.fill_holes"}],
                     name="learned nuclei")


def test_recipes_name_the_model_relative_to_the_recipe_file(tmp_path):
    (tmp_path / "models").mkdir()
    ref = scribble_model().save(tmp_path / "models" / "nuclei.txt")
    recipe = _recipe_with(ref)
    path = recipe.save(tmp_path / "nuclei.maskprep.yaml")
    text = path.read_text()
    assert f"model: {{path: models/nuclei.txt, sha256: {ref.sha256}}}" in text
    assert mp.Recipe.load(path) == recipe
    # The recipe and its model moved together still find each other.
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path, moved, ignore=shutil.ignore_patterns("moved"))
    loaded = mp.Recipe.load(moved / "nuclei.maskprep.yaml")
    assert loaded.steps[0].params["model"]["path"] == str(moved / "models" / "nuclei.txt")
    image, _ = bbbc039(0)
    assert np.array_equal(loaded.run(image), recipe.run(image))
    (tmp_path / "sub").mkdir()
    assert mp.Recipe.load(recipe.save(tmp_path / "sub" / "nuclei.json")) == recipe
    assert '"path": "../models/nuclei.txt"' in (tmp_path / "sub" / "nuclei.json").read_text()


def test_a_tiled_run_equals_the_in_memory_run(tmp_path):
    ref = scribble_model().save(tmp_path / "nuclei.txt")
    recipe = mp.Recipe([scribble_model().step(ref)])
    fields = [bbbc039(i)[0] for i in range(4)]
    mosaic = np.block([[fields[0], fields[1]], [fields[2], fields[3]]])
    halo = mp.get_op("segment.pixel_classifier").locality.halo(recipe.steps[0].params)
    assert halo == 96  # 4 sigma + 1 at sigma 16, rounded up to 32 columns
    # Chunks start at multiples of 32 columns (rows may start anywhere).
    tiled = recipe.run(da.from_array(mosaic, chunks=(300, 416))).compute()
    assert np.array_equal(tiled, recipe.run(mosaic))


def test_smoothed_probabilities_are_thresholded_and_run_tiled(tmp_path):
    ref = scribble_model().save(tmp_path / "nuclei.txt")
    image = np.block([[bbbc039(0)[0], bbbc039(2)[0]]])
    probability = scribble_model().probability(image)
    smoothed = ndi.gaussian_filter(probability, 8.0, mode="nearest", truncate=4.0)
    mask = mp.apply("segment.pixel_classifier", image, model=ref, smooth=8.0)
    assert np.array_equal(mask, smoothed >= 0.5)
    assert not np.array_equal(mask, probability >= 0.5)
    step = {**scribble_model().step(ref)}
    step["params"] = {**step["params"], "smooth": 8.0}
    recipe = mp.Recipe([step])
    # 4 sigma + 1 at sigma 16 (65), rounded up to 32 columns (96), plus the smoothing's
    # 4 x 8 = 32 (more than the 31 columns of rounding, so the smoothing's reach shows).
    assert mp.get_op("segment.pixel_classifier").locality.halo(recipe.steps[0].params) == 128
    tiled = recipe.run(da.from_array(image, chunks=(300, 416))).compute()
    assert np.array_equal(tiled, mask)


@functools.cache
def volume_model() -> mp.PixelClassifier:
    """Trained on the first 8 planes of the 3D stack, with features filtered in 3D."""
    image, truth = pairs(DATA, "stardist_synthetic_3d")[0]
    return mp.train_pixel_classifier(read_image(image)[:8], read_image(truth)[:8] > 0,
                                     sigmas=(1, 2, 4), trees=30)


def test_a_model_of_3d_features_segments_unseen_planes_and_runs_tiled(tmp_path):
    image, truth = (read_image(p) for p in pairs(DATA, "stardist_synthetic_3d")[0])
    model = volume_model()
    assert model.features[:2] == ("volume_raw", "volume_gauss_s1")
    ref = model.save(tmp_path / "stack.txt")
    recipe = mp.Recipe([model.step(ref)])
    mask = recipe.run(image)
    assert mask.shape == image.shape and mask.dtype == np.uint8
    assert round(dice(mask[8:], truth[8:]), 3) == 0.851  # planes it was not trained on
    mosaic = np.tile(image, (1, 2, 2))
    tiled = recipe.run(da.from_array(mosaic, chunks=(8, 64, 64))).compute()
    assert np.array_equal(tiled, recipe.run(mosaic))
    smoothed = mp.Recipe([{**model.step(ref), "params": {**model.step(ref)["params"],
                                                         "smooth": 1.0}}])
    tiled = smoothed.run(da.from_array(mosaic, chunks=(8, 64, 64))).compute()
    assert np.array_equal(tiled, smoothed.run(mosaic))
    assert not np.array_equal(tiled, recipe.run(mosaic))


def test_2d_and_3d_models_each_say_what_they_need(tmp_path):
    stack = read_image(pairs(DATA, "stardist_synthetic_3d")[0][0])
    flat = volume_model().save(tmp_path / "stack.txt")
    with pytest.raises(BadValueError, match="trained on 3D stacks .* got a 2D image"):
        mp.apply("segment.pixel_classifier", stack[0], model=flat)
    plane = scribble_model().save(tmp_path / "plane.txt")
    with pytest.raises(BadValueError, match="got a 3D stack: set per_plane: true"):
        mp.apply("segment.pixel_classifier", stack, model=plane)
    by_plane = mp.apply("segment.pixel_classifier", stack, model=plane, per_plane=True)
    assert np.array_equal(by_plane[3], mp.apply("segment.pixel_classifier", stack[3],
                                                model=plane))


def test_rgb_models_need_rgb_images(tmp_path):
    he = read_image(pairs(DATA, "dsb2018_brightfield_nuclei")[0][0])
    truth = read_image(pairs(DATA, "dsb2018_brightfield_nuclei")[0][1]) > 0
    model = mp.train_pixel_classifier(he, truth, sigmas=(1, 4), trees=20)
    assert model.features[0] == "red_raw" and "hema_log_s4" in model.features
    ref = model.save(tmp_path / "he.txt")
    assert dice(mp.apply("segment.pixel_classifier", he, model=ref), truth) > 0.85
    with pytest.raises(BadValueError, match="trained on an RGB image; got a grey image"):
        mp.apply("segment.pixel_classifier", he[..., 0], model=ref)
    stack = np.stack([he[:40, :40], he[40:80, :40]])
    with pytest.raises(BadValueError, match="trained on 2D images; got a 3D stack: set "
                                            "per_plane: true"):
        mp.apply("segment.pixel_classifier", stack, model=ref)
    by_plane = mp.apply("segment.pixel_classifier", stack, model=ref, per_plane=True)
    assert np.array_equal(by_plane[1], mp.apply("segment.pixel_classifier", stack[1],
                                                model=ref))


def test_tiles_predicted_while_the_next_one_s_features_are_made_equal_one_thread(
        tmp_path, monkeypatch):
    """On 2 threads the next tile's features are computed while a tile is predicted, in
    tiles half as large: the probabilities are those of one thread, bit for bit."""
    from napari_maskprep.ops import learn

    he = read_image(pairs(DATA, "dsb2018_brightfield_nuclei")[0][0])
    truth = read_image(pairs(DATA, "dsb2018_brightfield_nuclei")[0][1]) > 0
    ref = mp.train_pixel_classifier(he, truth, sigmas=(1, 4), trees=20).save(tmp_path / "m.txt")
    model = learn.load_classifier(ref)
    monkeypatch.setattr(learn, "FEATURE_BYTES", 8 * 2**20)  # tiles of about 100 px a side
    made = []
    real_blocks = learn.feature_blocks
    monkeypatch.setattr(learn, "feature_blocks", lambda *a, **k: made.append(k) or
                        real_blocks(*a, **k))
    monkeypatch.setattr(learn, "thread_budget", lambda: 1)
    one = model.probability(he)
    monkeypatch.setattr(learn, "thread_budget", lambda: 2)
    two = model.probability(he)
    assert [k.get("block_bytes") for k in made] == [None, 4 * 2**20]
    assert len(list(real_blocks(he, model.names, rgb=True, block_bytes=4 * 2**20))) > 4
    np.testing.assert_array_equal(one, two)


class Exploit:
    """Unpickling this writes a marker file: the proof that a pickle ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _step(ref: ModelFile) -> dict:
    return {"op": "segment.pixel_classifier", "params": {"model": ref.to_plain()}}


def test_a_pickled_model_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Exploit(str(marker))))
    ref = ModelFile(str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(RecipeError, match=r"step 1 \(segment.pixel_classifier\): model: model "
                       r"file .*model.pkl: a Python pickle, refused because loading it could "
                       r"run any code; accepted: a LightGBM text model") as info:
        mp.Recipe([_step(ref)])
    assert "\n" not in str(info.value)
    with pytest.raises(ModelFileError, match="a Python pickle, refused"):
        mp.apply("segment.pixel_classifier", np.zeros((8, 8)), model=ref)
    assert not marker.exists()


def test_a_changed_or_missing_model_is_one_line_before_any_step_runs(tmp_path, monkeypatch):
    path = tmp_path / "nuclei.txt"
    ref = scribble_model().save(path)
    recipe = mp.Recipe([{"op": "preprocess.gaussian"}, _step(ref)])
    ran = []
    monkeypatch.setattr("napari_maskprep.recipe.run_in_memory", lambda *a, **k: ran.append(1))
    path.write_text(path.read_text().replace("learning_rate: 0.1", "learning_rate: 0.2"))
    message = (r"step 2 \(segment.pixel_classifier\): model: model file .*nuclei.txt has sha256 "
               r"[0-9a-f]{12}\.\.\., not the [0-9a-f]{12}\.\.\. the step names")
    with pytest.raises(RecipeError, match=message):
        recipe.run(np.zeros((16, 16), np.uint8))
    with pytest.raises(RecipeError, match=message):
        mp.Recipe.loads(recipe.dumps())
    path.unlink()
    with pytest.raises(RecipeError, match=r"model file .*nuclei.txt does not exist"):
        recipe.run(np.zeros((16, 16), np.uint8))
    assert ran == []


def test_a_step_without_a_model_or_with_a_bad_reference_says_what_it_needs():
    with pytest.raises(BadValueError, match=r"needs model=\{path, sha256\}: train one"):
        mp.apply("segment.pixel_classifier", np.zeros((8, 8)))
    with pytest.raises(RecipeError, match=r"step 1 \(segment.pixel_classifier\): model: a "
                       r"model file's sha256 must be 64 hex digits"):
        mp.Recipe([{"op": "segment.pixel_classifier",
                    "params": {"model": {"path": "m.txt", "sha256": "12"}}}])
    with pytest.raises(RecipeError, match=r"model: a model file is \{path: FILE, sha256: HEX\}"):
        mp.Recipe([{"op": "segment.pixel_classifier", "params": {"model": "m.txt"}}])


def test_another_kind_of_lightgbm_model_is_refused(tmp_path):
    import lightgbm

    rng = np.random.default_rng(0)
    features = rng.random((200, 3))
    booster = lightgbm.train({"objective": "regression", "verbosity": -1, "num_threads": 1},
                             lightgbm.Dataset(features, label=features[:, 0]), 3)
    path = tmp_path / "regression.txt"
    booster.save_model(path)
    ref = ModelFile(str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ModelFileError, match=r"not a binary LightGBM classifier"):
        mp.apply("segment.pixel_classifier", np.zeros((8, 8)), model=ref)
    booster = lightgbm.train({"objective": "binary", "verbosity": -1, "num_threads": 1},
                             lightgbm.Dataset(features, label=features[:, 0] > 0.5), 3)
    booster.save_model(path)
    ref = ModelFile(str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ModelFileError, match=r"not a model of this package's features: "
                       r"unknown feature 'Column_0'"):
        mp.apply("segment.pixel_classifier", np.zeros((8, 8)), model=ref)


def test_training_where_no_feature_separates_the_classes_is_one_line():
    """A constant image, or one pixel of each class, trained trees of one leaf, which the
    model's own text check then refused: 'not a readable LightGBM model (leaf_weight)'."""
    constant = np.zeros((9, 9), np.uint8)
    for image, annotation in ((constant, np.eye(9, dtype=np.uint8)),
                              (np.array([[0.0, 1.0]]), np.array([[0, 1]], np.uint8))):
        with pytest.raises(BadValueError, match=r"^no feature of the (81|2) labelled pixels "
                                                r"tells background from foreground"):
            mp.train_pixel_classifier(image, annotation, sigmas=(1, 2), annotation="masks")


def test_signed_32_and_64_bit_images_are_refused_before_their_values_are_lost(tmp_path):
    """int64 values scaled by the dtype's range became one float32 0.5: training failed as
    an unreadable model; a float model given an int64 image predicted one constant."""
    image = np.zeros((32, 32), np.int64)
    image[8:24, 8:24] = 200
    truth = image > 0
    for dtype in (np.int64, np.int32):
        with pytest.raises(BadValueError, match=rf"^image 0 has dtype {np.dtype(dtype)}, "
                                                r"whose range .*; accepted: bool, 8- or"):
            mp.train_pixel_classifier(image.astype(dtype), truth, sigmas=(1, 2))
    model = mp.train_pixel_classifier(image.astype(np.uint16), truth, sigmas=(1, 2))
    assert np.array_equal(model.predict(image.astype(np.uint16)), truth)
    with pytest.raises(BadValueError, match=r"^segment.pixel_classifier: the image has "
                                            r"dtype int64"):
        mp.apply("segment.pixel_classifier", image, model=model.save(tmp_path / "m.txt"))


@pytest.mark.parametrize(("annotation", "accepted"), [
    ("auto", "a mask of 0 (background) and one other value (foreground: 1, 255, True; a "
             "label image as labels > 0), or scribbles of 0 (not labelled), 1 (background), "
             "2 (foreground)"),
    ("masks", "a mask of 0 (background) and one other value (foreground: 1, 255, True; a "
              "label image as labels > 0)"),
    ("scribbles", "0 (not labelled), 1 (background), 2 (foreground)"),
])
def test_annotation_values_out_of_range_name_the_forms_the_mode_reads(annotation, accepted):
    """'auto' reads masks and scribbles: its message listed masks' 0/1 only."""
    image = np.zeros((20, 20), np.uint8)
    values = np.arange(400, dtype=np.uint16).reshape(20, 20) % 4
    with pytest.raises(BadValueError) as info:
        mp.train_pixel_classifier(image, values, annotation=annotation)
    assert str(info.value) == f"annotation 0 holds the values 0, 1, 2, 3; accepted: {accepted}"


def test_the_feature_thread_s_warnings_are_heard_as_the_caller_s(monkeypatch, tmp_path):
    """On 2 threads the features are computed in a thread of the op's own: a warning there
    goes to the registration of the thread that ran the op, not to the process's hook."""
    from napari_maskprep import MaskprepWarning
    from napari_maskprep.core.thread_warnings import heard
    from napari_maskprep.ops import learn

    image = np.random.default_rng(3).random((40, 40)).astype(np.float32)
    ref = mp.train_pixel_classifier(image, image > 0.5, sigmas=(1,), trees=2).save(
        tmp_path / "m.txt")
    model = learn.load_classifier(ref)
    real_blocks = learn.feature_blocks

    def warning_blocks(*args, **kwargs):
        for block in real_blocks(*args, **kwargs):
            warnings.warn("features", MaskprepWarning, stacklevel=1)
            yield block

    monkeypatch.setattr(learn, "feature_blocks", warning_blocks)
    monkeypatch.setattr(learn, "thread_budget", lambda: 2)
    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *_: shown.append(message))
    caught = []
    with heard(caught.append, always=MaskprepWarning):
        model.probability(image)
    assert [str(x[0]) for x in caught] == ["features"] and shown == []


def test_predict_refuses_what_it_cannot_segment_in_its_own_words():
    """A 2D model's predict on a stack said 'set per_plane: true on the step', which predict
    has not, and an int64 image was 'image 0' though predict takes one image."""
    image = np.zeros((16, 16), np.uint8)
    image[4:12, 4:12] = 200
    model = mp.train_pixel_classifier(image, image > 0, sigmas=(1,))
    cases = [
        (np.stack([image, image]), "the model was trained on 2D images; got a 3D stack of "
                                   "shape (2, 16, 16); accepted: a 2D image (a stack plane by "
                                   "plane: [classifier.predict(plane) for plane in stack])"),
        (image.astype(np.int64), "the image has dtype int64, whose range scaled to [0, 1] "
                                 "loses its values; accepted: bool, 8- or 16-bit integers, "
                                 "unsigned integers or floats (image.astype(np.float32))"),
        (np.zeros((0, 16)), "the image is empty (shape (0, 16))"),
    ]
    for data, message in cases:
        with pytest.raises(BadValueError) as info:
            model.predict(data)
        assert str(info.value) == message
    assert model.predict(np.stack([image, image])[1]).sum() == 64
