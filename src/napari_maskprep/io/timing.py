"""The time between the frames of a time-lapse, as its file states it: ImageJ's
``finterval`` (in its ``tunit``), OME-XML's ``TimeIncrement`` (in its
``TimeIncrementUnit``), an OME-Zarr time axis' scale (in its unit); so that a time-lapse's
mask states the time its input does."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .images import ome_image, reading_tiff
from .lazy import ngff_frame
from .tiffs import TIFF_SUFFIXES, open_tiff

__all__ = ["SECONDS_PER_UNIT", "read_frame_interval"]

_PREFIXES = {"atto": ("a", -18), "femto": ("f", -15), "pico": ("p", -12), "nano": ("n", -9),
             "micro": ("µ", -6), "milli": ("m", -3), "centi": ("c", -2), "deci": ("d", -1),
             "": ("", 0), "kilo": ("k", 3)}
# Seconds in one time unit as OME (UnitsTime symbols), NGFF (UDUNITS-2 names) and ImageJ
# (what a user typed in Properties; "sec" by default) write them.
SECONDS_PER_UNIT = {
    **{f"{name}second": 10.0 ** power for name, (_, power) in _PREFIXES.items()},
    **{f"{symbol}s": 10.0 ** power for symbol, power in _PREFIXES.values()},
    "us": 1e-6, "\u03bcs": 1e-6, "sec": 1.0, "secs": 1.0, "seconds": 1.0, "msec": 1e-3,
    "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0,
    "hours": 3600.0, "d": 86400.0, "day": 86400.0, "days": 86400.0,
}


def _seconds(value: Any, unit: Any) -> float | None:
    """``value`` in ``unit`` as seconds; None for no value, an unknown unit, or a time
    that is not positive and finite."""
    factor = SECONDS_PER_UNIT.get(str(unit).strip())
    try:
        seconds = float(value) * factor if factor is not None and value is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and 0 < seconds < math.inf else None


def read_frame_interval(path: str | os.PathLike[str], series: int | None = None
                        ) -> float | None:
    """The seconds between the time frames of the image at ``path`` (of its ``series``,
    for an OME-TIFF of several), as the file states them: an OME-TIFF's ``TimeIncrement``,
    an ImageJ TIFF's ``finterval``, an OME-Zarr store's time axis scale; each in its
    file's time unit. None when the file states none, in a unit that is no time, or cannot
    be read (reading it says what is wrong)."""
    path = Path(path)
    try:
        if path.is_dir():
            scale, _, unit = ngff_frame(path).get("t", (None, 0.0, None))
            return _seconds(scale, unit)
        if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
            return None  # a FIFO or a device would block the reader
        with reading_tiff(path), open_tiff(path) as tif:
            if tif.is_ome and tif.ome_metadata:
                pixels = ome_image(tif, series or 0).get("Pixels", {})
                return _seconds(pixels.get("TimeIncrement"),
                                pixels.get("TimeIncrementUnit", "s"))
            if tif.is_imagej and not series:
                meta = tif.imagej_metadata or {}
                return _seconds(meta.get("finterval"), meta.get("tunit", "sec"))
    except Exception:  # foreign metadata may be broken in any way: the time is unknown
        return None
    return None
