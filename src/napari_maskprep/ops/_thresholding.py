"""The parts of ``segment.auto_threshold`` and ``segment.multi_threshold`` that their
``GlobalStat`` runs apart: the whole-image statistic (a histogram, or the thresholds), the
decision a tiled run takes from the whole image's value counts, and the pointwise apply."""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..core.errors import BadValueError, MaskprepWarning
from ..kernels.histogram import MAX_INTEGER_BINS, Histogram, ValueCounts, image_histogram
from ..kernels.thresholds import (
    MINIMUM_MAX_BINS,
    MULTI_OTSU_MAX_BINS,
    count_above,
    greater,
    histogram_threshold,
    multiotsu_thresholds,
)


class AutoPolarity(enum.StrEnum):
    """Bright or dark objects; ``auto``: the side of the threshold with fewer pixels."""

    BRIGHT = "bright"
    DARK = "dark"
    AUTO = "auto"


class ThresholdMethod(enum.StrEnum):
    """Global threshold methods, as the ``skimage.filters.threshold_*`` functions."""

    OTSU = "otsu"
    LI = "li"
    YEN = "yen"
    TRIANGLE = "triangle"
    ISODATA = "isodata"
    MEAN = "mean"
    MINIMUM = "minimum"


def threshold_histogram(image: np.ndarray, params: Mapping[str, Any]) -> Histogram:
    """The whole-image part of ``auto_threshold``: the histogram, whatever the polarity."""
    coarse = threshold_histogram_key(params)
    return image_histogram(image,
                           max_integer_bins=MINIMUM_MAX_BINS if coarse else MAX_INTEGER_BINS)


def threshold_histogram_key(params: Mapping[str, Any]) -> bool:
    """Whether the histogram is the coarse one of method='minimum'."""
    return ThresholdMethod(params["method"]) is ThresholdMethod.MINIMUM


def auto_threshold_from_histogram(
    image: np.ndarray, hist: Histogram, params: Mapping[str, Any]
) -> np.ndarray:
    """The pointwise part of ``auto_threshold``: its mask, from the image's histogram."""
    value = _auto_threshold_value(image, ThresholdMethod(params["method"]), hist)
    if value is None:
        return np.zeros(image.shape, np.uint8)
    dark = _is_dark(params, lambda: 2 * count_above(image, hist, value) > image.size)
    return greater(image, value, invert=dark)


def _is_dark(params: Mapping[str, Any], most_above: Callable[[], bool]) -> bool:
    """Whether the foreground is ``image <= t``: by ``polarity``, or for ``auto`` when most
    pixels lie above ``t`` (``most_above`` counts them only then)."""
    polarity = AutoPolarity(params["polarity"])
    if polarity is AutoPolarity.AUTO:
        return most_above()
    return polarity is AutoPolarity.DARK


def auto_threshold_values(image: np.ndarray, hist: Histogram, params: Mapping[str, Any]
                          ) -> tuple[float, ...]:
    """The threshold ``auto_threshold`` takes from ``hist`` (none for a constant image, or
    when ``minimum`` finds no two peaks), without the warnings the op itself gives."""
    if np.count_nonzero(hist.counts) < 2:
        return ()
    value = histogram_threshold(image, ThresholdMethod(params["method"]).value, hist)
    return () if value is None else (value,)


def auto_threshold_decide(counts: ValueCounts, params: Mapping[str, Any]
                           ) -> tuple[float, bool] | None:
    """The threshold and side ``auto_threshold`` takes on the image of ``counts`` (a tiled
    run's whole-image summary); None when it has none."""
    method = ThresholdMethod(params["method"])
    hist = counts.histogram(max_integer_bins=(MINIMUM_MAX_BINS if threshold_histogram_key(params)
                                              else MAX_INTEGER_BINS))
    value = _auto_threshold_value(None, method, hist)
    if value is None:
        return None
    return value, _is_dark(params, lambda: 2 * counts.count_above(value) > counts.size)


def auto_threshold_apply(image: np.ndarray, decision: tuple[float, bool] | None,
                          params: Mapping[str, Any]) -> np.ndarray:
    if decision is None:
        return np.zeros(image.shape, np.uint8)
    value, dark = decision
    return greater(image, value, invert=dark)


def _auto_threshold_value(
    image: np.ndarray | None, method: ThresholdMethod, hist: Histogram
) -> float | None:
    """The threshold scikit-image's ``threshold_<method>`` gives; None (warned) if there is none."""
    if np.count_nonzero(hist.counts) < 2:
        warnings.warn("segment.auto_threshold: the image is constant, so it has no threshold; "
                      "the mask is empty", MaskprepWarning, stacklevel=3)
        return None
    value = histogram_threshold(image, method.value, hist)
    if value is None:
        found = "no two peaks" if method == ThresholdMethod.MINIMUM else "no threshold"
        warnings.warn(f"segment.auto_threshold: method {method.value!r} found {found} in the "
                      "histogram; the mask is empty (try 'otsu' or 'triangle')",
                      MaskprepWarning, stacklevel=3)
    return value


def multi_threshold_values(image: np.ndarray, params: Mapping[str, Any]) -> np.ndarray | None:
    """The global part of ``multi_threshold``: the ``classes - 1`` thresholds, or None."""
    return _multi_thresholds(image_histogram(image, max_integer_bins=MULTI_OTSU_MAX_BINS),
                             params["classes"])


def multi_threshold_decide(counts: ValueCounts, params: Mapping[str, Any]
                            ) -> np.ndarray | None:
    """The thresholds of ``multi_threshold`` on the image of ``counts`` (a tiled run)."""
    return _multi_thresholds(counts.histogram(max_integer_bins=MULTI_OTSU_MAX_BINS),
                             params["classes"])


def _multi_thresholds(hist: Histogram, classes: int) -> np.ndarray | None:
    n_values = np.count_nonzero(hist.counts)
    if n_values < classes:
        warnings.warn(f"segment.multi_threshold: the image has only {n_values} distinct "
                      f"value(s), too few for {classes} classes; the mask is empty",
                      MaskprepWarning, stacklevel=5)
        return None
    return multiotsu_thresholds(hist, classes)


def multi_threshold_thresholds(image: np.ndarray, thresholds: np.ndarray | None,
                               params: Mapping[str, Any]) -> tuple[float, ...]:
    """The ``classes - 1`` thresholds ``multi_threshold`` found (none when it found none)."""
    return () if thresholds is None else tuple(float(t) for t in thresholds)


def classes_key(params: Mapping[str, Any]) -> int:
    return params["classes"]


def check_kept_classes(params: Mapping[str, Any]) -> None:
    """``multi_threshold``'s kept classes within its classes (when a recipe loads)."""
    classes, keep_from, keep_to = params["classes"], params["keep_from"], params["keep_to"]
    if not keep_from <= keep_to < classes:
        raise BadValueError(
            f"keep_from={keep_from}, keep_to={keep_to} are not accepted with classes={classes}; "
            f"expected 0 <= keep_from <= keep_to <= {classes - 1}"
        )


def keep_classes(image: np.ndarray, thresholds: np.ndarray | None,
                  params: Mapping[str, Any]) -> np.ndarray:
    """The pointwise part of ``multi_threshold``: the kept run of classes."""
    classes, keep_from, keep_to = params["classes"], params["keep_from"], params["keep_to"]
    if thresholds is None:
        return np.zeros(image.shape, np.uint8)
    mask = np.ones(image.shape, np.uint8)
    if keep_from > 0:
        mask &= greater(image, thresholds[keep_from - 1])
    if keep_to < classes - 1:
        mask &= greater(image, thresholds[keep_to], invert=True)
    return mask
