"""Training a pixel classifier from scribbles or corrected masks (``train_pixel_classifier``).

The classifier is LightGBM's gradient boosting over the filter bank of
:mod:`napari_maskprep.kernels.pixel_features`; ``segment.pixel_classifier`` runs it from its
saved text model. Training is deterministic: a fixed seed, LightGBM's ``deterministic``
mode and one thread give the same model text, and so the same sha256, in any process.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .core.arrays import is_binary
from .core.errors import BadTypeError, BadValueError, shown
from .core.model_files import ModelFile
from .core.validation import looks_rgb
from .io.files import atomic_write, head_line
from .kernels.pixel_features import (
    RGB_CHANNELS,
    SIGMA_LIMITS,
    compute_features,
    feature_blocks,
    feature_names,
    image_channels,
)
from .ops.learn import MAX_TREES, ClassifierModel, _parse, check_scalable, pixel_classifier

__all__ = ["DEFAULT_SIGMAS", "PixelClassifier", "feature_matrix", "fit_classifier",
           "sampled_pixels",
           "train_pixel_classifier", "training_data"]

DEFAULT_SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0)
ANNOTATIONS = ("auto", "scribbles", "masks")
# LightGBM threads while training: fixed, so a model's text never depends on the machine;
# one, since LightGBM's OpenMP threads spin while they wait: on two busy cores, training on
# two threads took 3-8 times as long as on one (3000 samples, 200 features).
TRAIN_THREADS = 1
MAX_BIN = 63  # histogram bins per feature: 255 trains 3 times slower for no gain measured
_MODEL_HEAD = "tree"  # the first line of LightGBM's text models


class PixelClassifier:
    """A trained pixel classifier: ``predict`` a mask, ``save`` its model file.

    Its predictions are those of the saved file: the model is kept as the text it saves
    and parsed from that text, as ``segment.pixel_classifier`` parses the file.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.model: ClassifierModel = _parse(text.encode("utf-8"), "lightgbm")

    @property
    def features(self) -> tuple[str, ...]:
        """The names of the features the model reads."""
        return self.model.names

    def probability(self, image: np.ndarray) -> np.ndarray:
        """Foreground probability of each pixel (float64)."""
        image = _image(image, "the image")
        if not self.model.volume and image.ndim - looks_rgb(image) == 3:
            # the step's own line says 'set per_plane: true on the step', which predict has not
            raise BadValueError(f"the model was trained on 2D images; got a 3D stack of shape "
                                f"{image.shape}; accepted: a 2D image (a stack plane by plane: "
                                "[classifier.predict(plane) for plane in stack])")
        return self.model.probability(image)

    def predict(self, image: np.ndarray, *, threshold: float = 0.5) -> np.ndarray:
        """The mask (uint8 0/1): foreground where the probability is at least ``threshold``."""
        threshold = pixel_classifier.spec.param("threshold").check(threshold)  # as the step
        return (self.probability(image) >= threshold).astype(np.uint8)

    def save(self, path: str | os.PathLike[str]) -> ModelFile:
        """Write the LightGBM text model atomically; returns its :class:`ModelFile` (the
        absolute path and sha256) for a recipe step's ``model`` parameter. An existing file
        is replaced only if it holds such a model: ``save("cells.tif")`` replaced the image.
        """
        path = Path(path)
        if (path.exists() or path.is_symlink()) and head_line(path) != _MODEL_HEAD:
            raise BadValueError(f"{path} exists and is not a LightGBM model; it is left as it "
                                "is (accepted: a new path, or a model file to replace)")
        data = self.text.encode("utf-8")
        try:
            target = atomic_write(path, lambda tmp: tmp.write_bytes(data))
        except OSError as exc:  # no such folder, no permission: named by its temporary file
            raise BadValueError(f"{path} cannot be written ({exc.strerror or exc}); accepted: "
                                "a file in a folder that exists and may be written") from None
        return ModelFile(str(Path(target).absolute()), hashlib.sha256(data).hexdigest())

    def step(self, ref: ModelFile, *, threshold: float = 0.5) -> dict[str, Any]:
        """The recipe step that runs this model from its saved file ``ref``."""
        if not isinstance(ref, ModelFile):  # the path it was saved to lacks the sha256
            raise BadTypeError(f"ref={shown(ref)}; accepted: the ModelFile that save() "
                               "returns (ref = classifier.save(path))")
        return {"op": "segment.pixel_classifier",
                "params": {"model": ref.to_plain(), "threshold": threshold}}


def _image(image: Any, name: str) -> np.ndarray:
    """A 2D grey or RGB image, or a grey 3D stack (z, y, x), checked; ``name`` says which
    in a message ('image 3')."""
    a = np.asarray(image)
    if a.dtype.kind not in "biuf" or a.ndim not in (2, 3):
        raise BadTypeError(f"{name}: a 2D grey or RGB image or a grey 3D stack "
                           f"(numeric) is accepted; got shape {a.shape}, dtype {a.dtype}")
    if a.size == 0:
        raise BadValueError(f"{name} is empty (shape {a.shape})")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise BadValueError(f"{name} holds NaN or infinite values; accepted: finite")
    check_scalable(a, name)
    return a[..., :3] if looks_rgb(a) else a


def _channels(image: np.ndarray) -> tuple[str, ...]:
    return image_channels(image, rgb=looks_rgb(image))


def _kind(image: np.ndarray) -> str:
    channels = _channels(image)
    return ("RGB" if channels == RGB_CHANNELS else "a grey 3D stack" if image.ndim == 3
            else "2D grey")


_MASK_VALUES = ("0 (background) and one other value (foreground: 1, 255, True; a label "
                "image as labels > 0)")
_SCRIBBLE_VALUES = "0 (not labelled), 1 (background), 2 (foreground)"
_TWO_CLASSES = ("scribbles holding both 1 (background) and 2 (foreground) across the "
                "images, or whole masks holding both background (0) and foreground")


def _annotation(annotation: Any, index: int, shape: tuple[int, ...], rgb: bool) -> np.ndarray:
    """Annotation ``index`` as an array, checked to label each pixel of an image of pixels
    ``shape`` with a number."""
    a = np.asarray(annotation)
    if a.shape != shape:
        raise BadValueError(f"annotation {index} has shape {a.shape}; accepted: one label a "
                            f"pixel of image {index}{' (RGB)' if rgb else ''}, shape {shape}")
    if a.dtype.kind not in "biuf":
        raise BadTypeError(f"annotation {index} has dtype {a.dtype}; accepted: integer or "
                           "bool (scribbles, masks) or float (masks)")
    return a


def _held(a: np.ndarray) -> str:
    values = np.unique(a)
    if len(values) <= 4:
        return f"holds the values {', '.join(str(v) for v in values.tolist())}"
    return f"holds {len(values)} values from {values[0]} to {values[-1]}"


def _refuse_values(a: np.ndarray, index: int, mode: str) -> None:
    accepted = {"scribbles": _SCRIBBLE_VALUES, "masks": f"a mask of {_MASK_VALUES}"}.get(
        mode, f"a mask of {_MASK_VALUES}, or scribbles of {_SCRIBBLE_VALUES}")
    raise BadValueError(f"annotation {index} {_held(a)}; accepted: {accepted}")


def _numbered(indices: Sequence[int]) -> str:
    listed = ", ".join(str(i) for i in indices[:5]) + (", ..." if len(indices) > 5 else "")
    return f"annotation {indices[0]}" if len(indices) == 1 else f"annotations {listed}"


def _read_as_scribbles(arrays: Sequence[np.ndarray], mode: str) -> bool:
    """Whether the annotations are scribbles (else whole masks). 'auto' reads any holding a
    2 as scribbles and a bool, float or 0/255 one (0 and one value above 2) as a mask,
    refusing a mix; annotations of only 0 and 1 follow the others, and alone are masks: the
    ``edit.manual`` outputs a person corrected are uint8 0/1 (background strokes alone are
    the same array; ``annotation='scribbles'`` refuses them as one class)."""
    if mode != "auto":
        return mode == "scribbles"
    scribbled, masked = [], []
    for i, a in enumerate(arrays):
        if a.dtype.kind in "iu" and a.min() >= 0 and a.max() <= 2:
            if a.max() == 2:
                scribbled.append(i)
        elif is_binary(a):
            masked.append(i)
        else:
            _refuse_values(a, i, mode)
    if scribbled and masked:
        raise BadValueError(
            f"annotation {scribbled[0]} holds 2, so it is scribbles, but annotation "
            f"{masked[0]} is a whole mask ({_held(arrays[masked[0]])}); accepted: all "
            "scribbles or all masks (annotation='scribbles' or 'masks' reads every one so)")
    return bool(scribbled)


def _labels(a: np.ndarray, index: int, scribbles: bool, mode: str) -> np.ndarray:
    """Per pixel 0 (not labelled), 1 (background) or 2 (foreground); ``mode`` as
    ``annotation`` of :func:`train_pixel_classifier` says what the message accepts."""
    if scribbles:
        if a.dtype.kind == "f":
            raise BadTypeError(f"annotation {index} has dtype {a.dtype}; accepted as "
                               f"scribbles: integer or bool of {_SCRIBBLE_VALUES}")
        if a.min() < 0 or a.max() > 2:
            _refuse_values(a, index, mode)
        return a.astype(np.uint8)
    if not is_binary(a):
        _refuse_values(a, index, mode)
    return (a != 0).astype(np.uint8) + 1


def _check_classes(labels: Sequence[np.ndarray], scribbles: bool) -> None:
    """Refuse annotations without pixels of both classes, naming what they hold."""
    background = any((lab == 1).any() for lab in labels)
    foreground = any((lab == 2).any() for lab in labels)
    if background and foreground:
        return
    if scribbles:
        held = ("only background (scribble 1)" if background else
                "only foreground (scribble 2)" if foreground else "no scribble (all 0)")
    else:
        held = "only background (mask 0)" if background else "only foreground"
    which = (_numbered([0]) if len(labels) == 1 else
             f"the {len(labels)} {'scribbles' if scribbles else 'masks'} together")
    raise BadValueError(f"{which} hold{'s' if len(labels) == 1 else ''} {held}; "
                        f"accepted: {_TWO_CLASSES}")


def _as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise BadTypeError(f"{what} must be an array or a list of arrays; got {shown(value)}")


def _check_sigmas(sigmas: Any) -> tuple[float, ...]:
    if isinstance(sigmas, str | bytes):  # "12" would be the scales 1 and 2
        raise BadTypeError(f"sigmas must be numbers; got {shown(sigmas)}")
    try:
        given = list(sigmas)
        values = tuple(sorted({float(s) for s in given}))
    except (TypeError, ValueError):
        raise BadTypeError(f"sigmas must be numbers; got {shown(sigmas)}") from None
    lo, hi = SIGMA_LIMITS
    if (not values or len(values) > 8 or not all(lo <= s <= hi for s in values)
            or any(isinstance(s, bool | np.bool_) for s in given)):  # True is no scale 1.0
        raise BadValueError(f"sigmas={shown(sigmas)}; accepted: 1 to 8 values in [{lo}, {hi}]")
    return values


def _samples(labels: list[np.ndarray], max_samples: int, seed: int) -> list[np.ndarray]:
    """Flat indices of the labelled pixels of each image to train on, at most
    ``max_samples`` in all, drawn uniformly (and reproducibly) when there are more."""
    found = [np.flatnonzero(lab) for lab in labels]
    total = sum(len(f) for f in found)
    if total <= max_samples:
        return found
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(total, size=max_samples, replace=False))
    starts = np.cumsum([0] + [len(f) for f in found])
    return [f[keep[(keep >= a) & (keep < b)] - a] for f, a, b in
            zip(found, starts[:-1], starts[1:], strict=True)]


def training_data(images: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                  names: Sequence[str], *, rgb: bool, max_samples: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32, samples x features) and 0/1 targets of the sampled pixels."""
    picks = _samples(list(labels), max_samples, seed)
    rows, targets = [], []
    for image, lab, pick in zip(images, labels, picks, strict=True):
        if not len(pick):
            continue
        where = np.unravel_index(pick, lab.shape)
        found, values = [], []
        for block, features in feature_blocks(image, names, rgb=rgb):
            inside = np.flatnonzero(np.logical_and.reduce(
                [(w >= b.start) & (w < b.stop) for w, b in zip(where, block, strict=True)]))
            local = np.ravel_multi_index([w[inside] - b.start for w, b in zip(where, block,
                                                                              strict=True)],
                                         [b.stop - b.start for b in block])
            found.append(inside)
            values.append(features[local])
        # Back in the pixels' raster order, as a feature matrix indexed by them gives them.
        order = np.argsort(np.concatenate(found), kind="stable")
        rows.append(np.concatenate(values)[order])
        targets.append(lab.ravel()[pick] == 2)
    return np.concatenate(rows), np.concatenate(targets)


def train_pixel_classifier(
    images: Any,
    annotations: Any,
    *,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    annotation: str = "auto",
    trees: int = 100,
    leaves: int = 31,
    learning_rate: float = 0.1,
    max_samples: int = 300_000,
    seed: int = 0,
) -> PixelClassifier:
    """Train a pixel classifier on images and their annotations.

    Parameters
    ----------
    images : ndarray or list of ndarray
        2D grey or RGB images, or grey 3D stacks (z, y, x: the model's features are then
        filtered in 3D), all of one kind, the kind the model will segment.
    annotations : ndarray or list of ndarray
        One per image, same height and width (and depth): scribbles (0 = not labelled, 1 =
        background, 2 = foreground, as a napari Labels layer is painted) or whole masks
        (0 = background and one other value = foreground: bool, 0/1, 0/255, as
        ``maskprep fit`` reads masks). Together they must label both classes.
    sigmas : sequence of float
        Scales of the filter bank, in pixels (1 to 8 values in [0.3, 32]); the largest
        sets the halo of a tiled run (4 sigma + 1 pixels).
    annotation : {'auto', 'scribbles', 'masks'}
        How to read ``annotations``. 'auto' takes them as scribbles if any holds a 2 (all
        then of 0, 1 and 2), as whole masks if any is bool, float or of 0 and one value
        above 2 (0/255), and refuses a mix of the two; integer annotations of only 0 and 1
        follow the others, and alone are 0/1 masks (as ``edit.manual`` writes them):
        scribbles of background strokes alone need 'scribbles', which refuses one class.
    trees, leaves, learning_rate : int, int, float
        LightGBM's boosting rounds, leaves per tree and shrinkage.
    max_samples : int
        Labelled pixels trained on at most (drawn uniformly with ``seed`` when there are
        more).
    seed : int
        Seed of the sampling and of LightGBM.

    Returns
    -------
    PixelClassifier
        ``.predict(image)``, ``.save(path)`` (returns the path and sha256 a recipe step
        names) and ``.step(ref)``.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> scribbles = np.zeros((32, 32), np.uint8); scribbles[0, :] = 1; scribbles[16, 12:20] = 2
    >>> int(train_pixel_classifier(image, scribbles, sigmas=(1, 2)).predict(image).sum())
    256
    """
    if annotation not in ANNOTATIONS:
        raise BadValueError(f"annotation={shown(annotation)}; accepted: "
                            f"{', '.join(ANNOTATIONS)}")
    for name, value, lo, hi in (("trees", trees, 1, MAX_TREES), ("leaves", leaves, 2, 4096),
                                ("max_samples", max_samples, 100, 10**8),
                                ("seed", seed, 0, 2**31 - 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not (
                lo <= value <= hi):
            raise BadValueError(f"{name}={shown(value)}; accepted: an integer in [{lo}, {hi}]")
    if isinstance(learning_rate, bool) or not isinstance(
            learning_rate, int | float | np.integer | np.floating) or not 0 < learning_rate <= 1:
        raise BadValueError(f"learning_rate={shown(learning_rate)}; accepted: a number in "
                            "(0, 1]")
    sigma_values = _check_sigmas(sigmas)
    image_list = [_image(im, f"image {i}") for i, im in enumerate(_as_list(images, "images"))]
    notes = _as_list(annotations, "annotations")
    if len(notes) != len(image_list) or not image_list:
        raise BadValueError(f"{len(image_list)} images and {len(notes)} annotations; "
                            "accepted: one annotation per image, at least one")
    channels = _channels(image_list[0])
    rgb = channels == RGB_CHANNELS
    other = next((i for i, im in enumerate(image_list) if _channels(im) != channels), None)
    if other is not None:  # which one: among dozens, 'images mix' sent a person looking
        first, odd = (f"{_kind(image_list[i])} (shape {image_list[i].shape})" for i in (0, other))
        raise BadValueError(f"images mix kinds: image 0 is {first}, image {other} {odd}; "
                            "accepted: all 2D grey, all RGB or all grey 3D stacks")
    arrays = [_annotation(n, i, im.shape[:-1] if rgb else im.shape, rgb)
              for i, (n, im) in enumerate(zip(notes, image_list, strict=True))]
    scribbles = _read_as_scribbles(arrays, annotation)
    labels = [_labels(a, i, scribbles, annotation) for i, a in enumerate(arrays)]
    _check_classes(labels, scribbles)
    names = feature_names(channels, sigma_values)
    features, targets = training_data(image_list, labels, names, rgb=rgb,
                                      max_samples=int(max_samples), seed=int(seed))
    return fit_classifier(features, targets, names, trees=int(trees), leaves=int(leaves),
                          learning_rate=float(learning_rate), seed=int(seed))


def fit_classifier(features: np.ndarray, targets: np.ndarray, names: Sequence[str], *,
                   trees: int = 100, leaves: int = 31, learning_rate: float = 0.1,
                   seed: int = 0) -> PixelClassifier:
    """LightGBM fitted to ``features`` (samples x features, float32, columns ``names``) and
    ``targets`` (1 foreground, 0 background), deterministically."""
    import lightgbm

    params = {
        "objective": "binary", "num_leaves": leaves, "learning_rate": learning_rate,
        # A few strokes are a few dozen pixels: a leaf may hold as few as 2 of them.
        "min_data_in_leaf": int(np.clip(len(targets) // 1000, 2, 20)), "max_bin": MAX_BIN,
        "deterministic": True, "force_row_wise": True, "seed": seed,
        "num_threads": TRAIN_THREADS, "verbosity": -1,
    }
    dataset = lightgbm.Dataset(features, label=targets.astype(np.float32),
                               feature_name=list(names),
                               params={"max_bin": MAX_BIN, "verbosity": -1,
                                       "feature_pre_filter": False})
    booster = lightgbm.train(params, dataset, num_boost_round=trees)
    if not booster.feature_importance(importance_type="split").any():
        # Trees of one leaf: nothing learned, and a model our own checks refuse to read.
        raise BadValueError(
            f"no feature of the {len(targets)} labelled pixels tells background from "
            "foreground (a constant image, or too few pixels: a split needs 2 of each "
            "class); accepted: labels on pixels that differ, at least 2 of each class")
    return PixelClassifier(booster.model_to_string())


def feature_matrix(image: np.ndarray, *, sigmas: Sequence[float] = DEFAULT_SIGMAS
                   ) -> tuple[list[str], np.ndarray]:
    """The names of the features a classifier trained on ``image`` (2D grey or RGB, or a
    grey 3D stack) reads, and their values at every pixel (pixels x features, float32):
    index it with :func:`sampled_pixels` to train, predict from it with
    ``classifier.model.probability_of``."""
    image = _image(image, "the image")
    channels = _channels(image)
    names = feature_names(channels, _check_sigmas(sigmas))
    return names, compute_features(image, names, rgb=channels == RGB_CHANNELS)


def sampled_pixels(labels: np.ndarray, *, max_samples: int = 300_000, seed: int = 0
                   ) -> np.ndarray:
    """The flat indices of the labelled pixels of one image that training uses (as
    :func:`train_pixel_classifier` draws them): index a feature matrix with them."""
    return _samples([labels], max_samples, seed)[0]
