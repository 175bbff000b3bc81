"""The images of a multi-series OME-TIFF (positions or wells, as microscopes write them and
Fiji/Bio-Formats and QuPath open them one by one): which there are, and each one's shape,
type, axes and pixel size, from the header alone."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..core.units import format_pixel_size
from .images import (
    ImageReadError,
    image_series,
    reading_tiff,
    series_kind,
    tiff_axes,
    tiff_pixel_size,
)
from .tiffs import TIFF_SUFFIXES, open_tiff

__all__ = ["SeriesInfo", "list_series", "series_numbers"]


@dataclass(frozen=True)
class SeriesInfo:
    """One image of a TIFF: its series ``number`` (``read_image(path, series=number)``),
    the ``name`` the file gives it, its ``shape``, ``dtype`` and ``axes`` (tifffile's
    letters, lower case) as stored, its ``pixel_size`` in µm (None: not stated), and what
    kind of image of several it is (:func:`~.images.series_kind`)."""

    number: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    axes: str
    pixel_size: tuple[float, ...] | None
    kind: str

    def describe(self) -> str:
        """One line: number, name, shape, dtype, axes, pixel size."""
        size = format_pixel_size(self.pixel_size) if self.pixel_size else "not stated"
        name = f" {self.name!r}" if self.name else ""
        return (f"series {self.number}{name}: shape {self.shape} {self.dtype}, axes "
                f"{self.axes}, pixel size {size}")


def list_series(path: str | os.PathLike[str]) -> list[SeriesInfo]:
    """The images to segment of the TIFF at ``path`` (:func:`~.images.image_series`):
    each position or well of an OME-TIFF of several, each image of a TIFF written image by
    image, the one image of any other TIFF.
    Raises :class:`~.images.ImageReadError` in one line if it is no regular file (a FIFO
    would block the reader) or its header cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: not a regular file; accepted: a TIFF file")
    found = []
    with reading_tiff(path), open_tiff(path) as tif:
        for number in image_series(tif):
            series = tif.series[number]
            axes = tiff_axes(series)
            found.append(SeriesInfo(number, series.name, tuple(series.shape), str(series.dtype),
                                    axes, tiff_pixel_size(tif, axes, number),
                                    series_kind(tif)))
    return found


def series_numbers(path: str | os.PathLike[str]) -> list[int]:
    """The series ``maskprep run --series all`` runs of an input, each as an image of its
    own: every image of a TIFF (:func:`list_series`); ``[0]`` for any other file or store
    (one image), and for a TIFF whose header cannot be read (reading it says what is
    wrong)."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return [0]
    try:
        return [info.number for info in list_series(path)]
    except OSError:
        return [0]
