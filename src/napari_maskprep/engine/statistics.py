"""Whole-image statistics kept between calls of a ``GlobalStat`` op (threshold previews)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from ..core.locality import GlobalStat
from ..core.registry import OpSpec
from ..core.validation import check_input, check_output, spatial_ndim

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
        key = (source, spec.id, locality.statistic_key(checked))
        with self._lock:
            found = key in self._entries
            statistic = self._entries.get(key)
        if not found:
            whole = image if basis is None else check_input(spec, np.asarray(basis))
            statistic = locality.statistic(whole, checked)
            with self._lock:
                self._entries[key] = statistic
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return check_output(spec, image, locality.apply(image, statistic, checked))
