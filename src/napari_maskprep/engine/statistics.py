"""Whole-image statistics kept between calls of a ``GlobalStat`` op (threshold previews)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np

from ..core.locality import GlobalStat
from ..core.registry import OpSpec
from ..core.validation import check_input, check_output, spatial_ndim
from ..kernels.histogram import Histogram, image_histogram

__all__ = ["StatisticCache"]


class StatisticCache:
    """Keeps the whole-image statistics of :class:`GlobalStat` ops between calls.

    ``run(spec, data, source, params)`` returns what ``spec(data, **params)`` returns. For
    an op that splits statistic and apply, the statistic is kept under ``(source, op,
    statistic_key(params))``, so a call that changes only other parameters costs the
    pointwise apply alone. ``source`` names the content of ``data`` and is the caller's
    responsibility (a layer and its data version, say): the array's identity is not
    enough, since arrays are edited in place. The ``size`` most recent statistics are kept.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_maskprep import get_op
    >>> from napari_maskprep.engine.statistics import StatisticCache
    >>> image = np.array([[10, 10, 200, 210]], np.uint8)
    >>> otsu = get_op("segment.auto_threshold")
    >>> cache = StatisticCache()
    >>> cache.run(otsu, image, "image-v1", {"method": "otsu", "polarity": "bright"})
    array([[0, 0, 1, 1]], dtype=uint8)
    >>> cache.run(otsu, image, "image-v1", {"method": "otsu", "polarity": "dark"})
    array([[1, 1, 0, 0]], dtype=uint8)
    >>> len(cache)  # one histogram served both calls
    1
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # previews compute in worker threads

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def run(self, spec: OpSpec, data: Any, source: Hashable,
            params: Mapping[str, Any], basis: Any = None) -> np.ndarray:
        """``spec(data, **params)``, the statistic taken from ``basis`` instead of ``data``
        when given (a whole low-resolution pyramid level for a preview of a region, read
        only when the statistic is not kept); ``source`` then names ``basis``."""
        locality = spec.locality
        split = isinstance(locality, GlobalStat) and locality.statistic is not None
        if not split or spec.inputs:
            return spec(data, **params)
        checked = spec.check_params(params)
        image = check_input(spec, data)
        if spatial_ndim(spec, image) not in spec.ndim:
            return spec(data, **params)  # per-plane runs and shape errors: the plain call
        whole = (lambda: image) if basis is None else (
            lambda: check_input(spec, np.asarray(basis)))
        statistic = self._kept((source, spec.id, locality.statistic_key(checked)),
                               lambda: locality.statistic(whole(), checked))
        return check_output(spec, image, locality.apply(image, statistic, checked))

    def readout(self, spec: OpSpec, data: Any, source: Hashable,
                params: Mapping[str, Any]) -> tuple[Histogram, tuple[float, ...]]:
        """The histogram of ``data`` and the thresholds ``spec`` takes from it, for display.

        An op whose statistic is a histogram (``auto_threshold``) shows that one, the one
        :meth:`run` keeps; any other gets its input's histogram, counted once per
        ``source``. The thresholds are those its ``GlobalStat.thresholds`` names (none for
        other ops).
        """
        image = check_input(spec, data)
        locality = spec.locality
        statistic = None
        if isinstance(locality, GlobalStat) and locality.statistic is not None:
            checked = spec.check_params(params)
            statistic = self._kept((source, spec.id, locality.statistic_key(checked)),
                                   lambda: locality.statistic(image, checked))
        if isinstance(statistic, Histogram):
            histogram = statistic
        else:
            histogram = self._kept((source, "histogram"), lambda: image_histogram(image))
        if isinstance(locality, GlobalStat) and locality.thresholds is not None:
            return histogram, locality.thresholds(image, statistic, checked)
        return histogram, ()

    def _kept(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value kept under ``key``, computed (and kept) if it is not."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
