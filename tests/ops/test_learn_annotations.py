"""How train_pixel_classifier reads annotations: scribbles (0/1/2) and whole masks (bool,
0/1, 0/255) are told apart under annotation='auto', and annotations of one class are refused
in one line before any feature is computed."""

from __future__ import annotations

import numpy as np
import pytest

import napari_maskprep as mp
from napari_maskprep import learning
from napari_maskprep.core.errors import BadValueError
from napari_maskprep.fit import fit_recipe

TWO_CLASSES = ("accepted: scribbles holding both 1 (background) and 2 (foreground) across "
               "the images, or whole masks holding both background (0) and foreground")


def _square() -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((32, 32), np.uint8)
    image[8:24, 8:24] = 200
    return image, (image > 0).astype(np.uint8)


def _strokes(background: bool, foreground: bool) -> np.ndarray:
    out = np.zeros((32, 32), np.uint8)
    if background:
        out[0, :] = 1
    if foreground:
        out[16, 12:20] = 2
    return out


@pytest.fixture
def untrained(monkeypatch):
    """Fails the test if any feature is computed: refusals come before the work."""
    def work(*args, **kwargs):
        raise AssertionError("features were computed")

    monkeypatch.setattr(learning, "training_data", work)


BACKGROUND_ONLY = _strokes(True, False)


@pytest.mark.parametrize(("annotations", "mode", "message"), [
    ([np.zeros((32, 32), np.uint8)], "auto",
     f"annotation 0 holds only background (mask 0); {TWO_CLASSES}"),
    ([BACKGROUND_ONLY], "scribbles",
     f"annotation 0 holds only background (scribble 1); {TWO_CLASSES}"),
    ([_strokes(False, True)], "auto",
     f"annotation 0 holds only foreground (scribble 2); {TWO_CLASSES}"),
    ([np.zeros((32, 32), np.uint8)], "scribbles",
     f"annotation 0 holds no scribble (all 0); {TWO_CLASSES}"),
    ([_strokes(False, True), _strokes(False, True)], "auto",
     f"the 2 scribbles together hold only foreground (scribble 2); {TWO_CLASSES}"),
    ([np.zeros((32, 32), bool)], "auto",
     f"annotation 0 holds only background (mask 0); {TWO_CLASSES}"),
    ([np.full((32, 32), 255, np.uint8)], "auto", f"annotation 0 holds only foreground; "
                                                 f"{TWO_CLASSES}"),
    ([np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8)], "masks",
     f"the 2 masks together hold only background (mask 0); {TWO_CLASSES}"),
    ([_strokes(True, True), _square()[1] * np.uint8(255)], "auto",
     "annotation 0 holds 2, so it is scribbles, but annotation 1 is a whole mask (holds the "
     "values 0, 255); accepted: all scribbles or all masks (annotation='scribbles' or "
     "'masks' reads every one so)"),
    ([np.where(_square()[1], 255, 1).astype(np.uint8)], "auto",
     "annotation 0 holds the values 1, 255; accepted: a mask of 0 (background) and one other "
     "value (foreground: 1, 255, True; a label image as labels > 0), or scribbles of 0 (not "
     "labelled), 1 (background), 2 (foreground)"),
    # A label image (ground truth of nuclei, as BBBC and DSB give it) said nothing of > 0
    ([np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) % 6], "masks",
     "annotation 0 holds 6 values from 0 to 5; accepted: a mask of 0 (background) and one "
     "other value (foreground: 1, 255, True; a label image as labels > 0)"),
])
def test_annotations_of_one_class_or_either_reading_are_refused_first(annotations, mode,
                                                                      message, untrained):
    image, _ = _square()
    with pytest.raises(BadValueError) as info:
        mp.train_pixel_classifier([image] * len(annotations), annotations, sigmas=(1, 2),
                                  annotation=mode)
    assert str(info.value) == message


def test_each_class_may_come_from_another_image():
    image, truth = _square()
    model = mp.train_pixel_classifier([image, image], [_strokes(True, False),
                                                       _strokes(False, True)], sigmas=(1, 2))
    assert np.array_equal(model.predict(image), truth)


def test_a_0_255_mask_trains_as_its_bool_mask_does_and_as_fit_reads_it():
    """Training refused a 0/255 mask ('holds values from 0 to 255') that maskprep fit took;
    it is now read as fit reads it: 0 background, its other value foreground. A uint8 0/1
    mask (as edit.manual writes the masks a person corrected) needs no option either."""
    image, truth = _square()
    texts = {mp.train_pixel_classifier(image, annotation, sigmas=(1, 2), annotation=mode).text
             for annotation, mode in ((truth.astype(bool), "auto"), (truth, "masks"),
                                      (truth, "auto"),
                                      (truth * np.uint8(255), "auto"),
                                      (truth * np.uint8(255), "masks"),
                                      (truth * np.uint16(65535), "auto"))}
    assert len(texts) == 1
    recipe = mp.Recipe([{"op": "segment.threshold", "params": {"value": 50.0}}])
    fitted = fit_recipe(recipe, [image], [truth * np.uint8(255)], trials=1, holdout=0)
    assert fitted.mean(held_out=False) == 1.0
