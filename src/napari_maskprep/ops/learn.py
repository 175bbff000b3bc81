"""Learned segmentation: ops whose model is a file (registered under ``segment.``).

``segment.pixel_classifier`` classifies each pixel with a LightGBM model over the
multi-scale filter bank of :mod:`napari_maskprep.kernels.pixel_features`. The model file is
a LightGBM text model (``booster.save_model``), named in the step by path and sha256 (see
:mod:`napari_maskprep.core.model_files`); its header and trees are checked as text
(:mod:`napari_maskprep.core.lightgbm_text`) before LightGBM's own parser reads it, and it is
accepted only as a binary classifier over feature names this package computes, within
:data:`MAX_TREES` trees and :data:`MAX_FEATURES` features. Train one with
:func:`napari_maskprep.train_pixel_classifier`.
"""

from __future__ import annotations

import functools
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from scipy import ndimage as ndi

from ..core.errors import BadValueError, LimitError
from ..core.lightgbm_text import checked_model_text
from ..core.locality import Local
from ..core.model_files import ModelFile, ModelFileError, load_model
from ..core.registry import operation
from ..core.thread_warnings import in_this_context
from ..core.validation import looks_rgb
from ..kernels.gaussian import TRUNCATE, kernel_radius
from ..kernels.pixel_features import (
    COLUMN_ALIGN,
    FEATURE_BYTES,
    GREY_CHANNELS,
    RGB_CHANNELS,
    VOLUME_CHANNELS,
    column_aligned,
    feature_blocks,
    feature_halo,
    parse_feature_name,
)
from ..kernels.threads import thread_budget

__all__ = ["MAX_FEATURES", "MAX_TREES", "ClassifierModel", "check_scalable",
           "load_classifier", "pixel_classifier"]

MAX_TREES = 5000
MAX_FEATURES = 2000
_BINARY = re.compile(rb"\nobjective=binary\b")
_LOCK = threading.Lock()  # a LightGBM booster is not documented as safe to share


def check_scalable(image: np.ndarray, where: str) -> None:
    """Refuse signed 32- and 64-bit integers: the features scale integers by their dtype's
    range into float32, where int64 images became one constant 0.5 and int32 ones kept
    steps of 256 values only."""
    if image.dtype.kind == "i" and image.dtype.itemsize >= 4:
        raise BadValueError(f"{where} has dtype {image.dtype}, whose range scaled to [0, 1] "
                            "loses its values; accepted: bool, 8- or 16-bit integers, "
                            "unsigned integers or floats (image.astype(np.float32))")


@dataclass(frozen=True, eq=False)
class ClassifierModel:
    """A parsed pixel classifier: a LightGBM booster and the features it reads."""

    booster: Any
    names: tuple[str, ...]
    rgb: bool
    volume: bool = False  # features filtered in 3D, of a grey stack

    @property
    def channels(self) -> tuple[str, ...]:
        if self.rgb:
            return RGB_CHANNELS
        return VOLUME_CHANNELS if self.volume else GREY_CHANNELS

    @functools.cached_property
    def halo(self) -> int:
        """Pixels around a tile its prediction reads (the largest filter's reach)."""
        return feature_halo(self.names, self.channels)

    @functools.cached_property
    def wanted(self) -> tuple[bool, ...]:
        """Which features a tree splits on: only those are computed."""
        used = self.booster.feature_importance(importance_type="split")
        return tuple(bool(u) for u in used)

    def probability(self, image: np.ndarray) -> np.ndarray:
        """Foreground probability of each pixel of a 2D image (RGB on a last axis), or of
        each voxel of a grey 3D stack for a model of ``volume_`` features, float64."""
        self.check_image(image)
        out = np.empty(image.shape[:-1] if self.rgb else image.shape, np.float64)
        if thread_budget() == 1:
            for block, features in feature_blocks(image, self.names, rgb=self.rgb,
                                                  wanted=self.wanted):
                out[block] = self.probability_of(features).reshape(
                    [s.stop - s.start for s in block])
            return out
        # The features (one thread) of the next tile are computed while this one's are
        # predicted on the other: 1.3 MP of H&E 8.1-8.7 -> 6.6-7.1 s on 2 cores, in tiles
        # of half the size, so that the two in memory take what one did.
        blocks = feature_blocks(image, self.names, rgb=self.rgb, wanted=self.wanted,
                                block_bytes=FEATURE_BYTES // 2)
        with ThreadPoolExecutor(1, thread_name_prefix="maskprep-features") as pool:
            following = in_this_context(next)  # the features' warnings heard as the caller's
            pending = pool.submit(following, blocks, None)
            while (done := pending.result()) is not None:
                pending = pool.submit(following, blocks, None)
                block, features = done
                out[block] = self.probability_of(features, threads=1).reshape(
                    [s.stop - s.start for s in block])
        return out

    def probability_of(self, features: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Foreground probability of each row of a feature matrix (pixels x features), on
        ``threads`` (default: :func:`thread_budget`)."""
        with _LOCK:
            return self.booster.predict(features, num_threads=threads or thread_budget())

    def check_image(self, image: np.ndarray) -> None:
        check_scalable(image, "segment.pixel_classifier: the image")
        rgb = looks_rgb(image)
        stack = image.ndim - rgb == 3  # an RGB stack too: (z, y, x, colour)
        if stack != self.volume:
            raise BadValueError(
                "segment.pixel_classifier: the model was trained on 3D stacks (volume_ "
                "features); got a 2D image" if self.volume else
                "segment.pixel_classifier: the model was trained on 2D images; got a 3D "
                "stack: set per_plane: true on the step to run it plane by plane")
        if rgb != self.rgb:
            want, got = ("an RGB", "a grey") if self.rgb else ("a grey", "an RGB")
            raise BadValueError(f"segment.pixel_classifier: the model was trained on {want} "
                                f"image; got {got} image")


def _parse(content: bytes, found: str) -> ClassifierModel:
    """A LightGBM text model, parsed by LightGBM and checked to be one of ours."""
    import lightgbm  # imported when a model is first used: `import napari_maskprep` stays light

    text = checked_model_text(content)  # LightGBM's parser trusts the file: crashes, loops
    try:
        booster = lightgbm.Booster(model_str=text)
    except lightgbm.basic.LightGBMError as exc:
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ModelFileError(f"not a readable LightGBM model ({why})") from None
    header = content[:content.find(b"\nTree=")]
    if booster.num_model_per_iteration() != 1 or not _BINARY.search(header):
        raise ModelFileError("not a binary LightGBM classifier (objective 'binary')")
    if booster.num_trees() > MAX_TREES:
        raise LimitError(f"a model of {booster.num_trees()} trees; the limit is {MAX_TREES}")
    names = tuple(booster.feature_name())
    if len(names) > MAX_FEATURES:
        raise LimitError(f"a model of {len(names)} features; the limit is {MAX_FEATURES}")
    first = names[0].split("_", 1)[0] if names else ""
    model = ClassifierModel(booster, names, first in RGB_CHANNELS, first in VOLUME_CHANNELS)
    try:
        for name in names:
            parse_feature_name(name, model.channels)
    except ValueError as exc:
        raise ModelFileError(f"not a model of this package's features: {exc}") from None
    return model


def load_classifier(ref: ModelFile) -> ClassifierModel:
    """The pixel classifier in ``ref``'s file, checked (hash, format, content) and parsed."""
    return load_model(ref, _parse, ("lightgbm",))


def _halo(params: dict[str, Any]) -> int:
    """The features' reach plus the probability smoothing's, in whole column groups."""
    model = params.get("model")
    if model is None:
        return 0
    reach = load_classifier(ModelFile.from_plain(model)).halo
    smooth = params.get("smooth") or 0.0
    if smooth:
        reach += kernel_radius(smooth)
    return column_aligned(reach)


@operation("segment.pixel_classifier", input="image", output="mask", ndim=(2, 3),
           channels="any",
           locality=Local(halo=_halo, stripes=False, align=lambda p: COLUMN_ALIGN))
def pixel_classifier(
    image: np.ndarray,
    *,
    model: Annotated[ModelFile | None, {
        "formats": ("lightgbm",), "load": load_classifier,
        "tooltip": "the model file (LightGBM text) and its sha256, from "
                   "train_pixel_classifier(...).save(path) or the Train widget"}] = None,
    threshold: Annotated[float, {"min": 0.0, "max": 1.0, "step": 0.05}] = 0.5,
    smooth: Annotated[float, {"min": 0.0, "max": 8.0, "step": 0.1, "unit": "px"}] = 0.0,
) -> np.ndarray:
    """Classify each pixel as foreground or background with a trained model.

    A gradient-boosted classifier (LightGBM) over a multi-scale filter bank (Gaussian,
    gradient magnitude, Laplacian and difference of Gaussians, Hessian and structure-tensor
    eigenvalues; per channel for RGB, with the hematoxylin and eosin stain densities):
    foreground where the predicted probability, optionally smoothed, is at least
    ``threshold``. Train the model on scribbles or corrected masks with
    :func:`napari_maskprep.train_pixel_classifier`, or with the Train widget in napari.

    Parameters
    ----------
    image : ndarray
        2D grey or RGB image of the kind the model was trained on (scaled by its dtype's
        range: integers to [0, 1], floats as they are); a grey 3D stack for a model trained
        on stacks (its features filtered in 3D), else a stack runs with ``per_plane: true``.
    model : ModelFile
        The model file by path and sha256: ``{path: nuclei.lgbm.txt, sha256: ...}``.
    threshold : float
        Probability from which a pixel is foreground.
    smooth : float
        Standard deviation in pixels of a Gaussian applied to the probability map before
        the threshold (0: none), along every spatial axis, cut at 4 sigma, the edge repeated:
        on noisy images it stops single pixels from flipping along object edges (ilastik's
        thresholding applet smooths the same way).

    Examples
    --------
    >>> import numpy as np, napari_maskprep as mp
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> classifier = mp.train_pixel_classifier(image, (image > 0) + 1, sigmas=(1, 2))
    >>> ref = classifier.save(getfixture("tmp_path") / "square.txt")
    >>> int(pixel_classifier(image, model=ref).sum())
    256
    """
    if model is None:
        raise BadValueError("segment.pixel_classifier needs model={path, sha256}: train one "
                            "with train_pixel_classifier(...).save(path) or the Train widget")
    classifier = load_classifier(model)
    probability = classifier.probability(image[..., :3] if looks_rgb(image) else image)
    if smooth:
        # scipy's filter sums each line in one order wherever it lies, so a tile with the
        # halo equals the same pixels of the whole image, bit for bit.
        ndi.gaussian_filter(probability, smooth, output=probability, mode="nearest",
                            truncate=TRUNCATE)
    return (probability >= threshold).astype(np.uint8)
