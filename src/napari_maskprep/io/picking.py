"""Which image of a TIFF a read takes: a TIFF may hold several (an OME-TIFF's positions or
wells, images tifffile wrote one by one, plain pages of several shapes), beside a slide's
label, macro or thumbnail images, which are none to segment; a read of one of several
chooses it by number, or is refused in one line saying how to choose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..core.errors import BadValueError, shown
from .tiffs import ImageReadError

__all__ = ["SeveralImagesError", "check_series", "image_series", "numbers_text", "pick_series",
           "series_kind", "shapes_text"]

_REDUCED = 1  # the NewSubfileType bit of a page that is a reduced image of another


def check_series(series: Any, accepted: str = "a series' number from 0 (an OME-TIFF's "
                 "positions or wells), or None for a file of one image") -> int | None:
    """``series`` as a series' number from 0, or None; else :class:`BadValueError` naming
    what the caller takes besides (``accepted``)."""
    if series is None:
        return None
    if isinstance(series, int | np.integer) and not isinstance(series, bool) and series >= 0:
        return int(series)
    raise BadValueError(f"series {shown(series)}; accepted: {accepted}")


def image_series(tif: tifffile.TiffFile) -> list[int]:
    """The numbers of an open TIFF's series that are images to segment: an OME-TIFF's but
    those beside its first (:func:`_beside`: a slide's label, macro or thumbnail image;
    positions or wells, of one shape or several, are images); every series of a TIFF
    tifffile wrote image by image (each write a series) or of a plain TIFF's pages of
    several shapes (a page and a thumbnail not marked as a reduced image: which is the
    image is the user's to say), but those that the file marks as a reduced image of
    another (a thumbnail); ``[0]`` for other TIFFs."""
    if tif.is_ome:
        first = tif.series[0]
        return [n for n, series in enumerate(tif.series) if not _beside(series, first)]
    if not (tif.is_shaped or tif.series[0].kind == "generic"):
        return [0]
    return [n for n, series in enumerate(tif.series)
            if not n or not series.keyframe.subfiletype & _REDUCED]


def _beside(series: tifffile.TiffPageSeries, first: tifffile.TiffPageSeries) -> bool:
    """Whether an OME-TIFF's ``series`` is a label, macro or thumbnail image beside its
    ``first``: of another shape, and at most a quarter of its height and of its width."""
    (height, width), (first_height, first_width) = (
        tuple(dict(zip(s.axes, s.shape, strict=True)).get(a, 1) for a in "YX")
        for s in (series, first))
    return series.shape != first.shape and (4 * height <= first_height
                                            and 4 * width <= first_width)


def series_kind(tif: tifffile.TiffFile) -> str:
    """What an open TIFF's several images (:func:`image_series`) are, for messages."""
    return ("OME-TIFF series: positions or wells" if tif.is_ome else
            "TIFF series: images written one by one" if tif.is_shaped else
            "TIFF pages of several shapes")


def shapes_text(shapes: list[tuple[int, ...]]) -> str:
    """``of shape (20, 30)``, or ``of shapes (64, 64), (32, 48)``: each shape once."""
    distinct = list(dict.fromkeys(map(tuple, shapes)))
    return ("of shape " if len(distinct) == 1 else "of shapes ") + ", ".join(map(str, distinct))


def numbers_text(numbers: list[int]) -> str:
    """``0 to 2`` for a run of numbers, else the numbers listed."""
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{numbers[0]} to {numbers[-1]}"
    return ", ".join(map(str, numbers))


class SeveralImagesError(ImageReadError):
    """A file of several images (an OME-TIFF's positions or wells, a TIFF's pages of
    several shapes) read without one chosen: ``numbers`` are their series, ``shapes``
    theirs, ``kind`` what they are (``OME-TIFF series: positions or wells``). Its message
    says how to choose in Python; a command words its own with :meth:`saying`."""

    def __init__(self, path: Path, numbers: list[int], shapes: list[Any], kind: str):
        self.path, self.numbers, self.shapes, self.kind = path, numbers, shapes, kind
        super().__init__(self.saying(f"one chosen with series=N ({numbers_text(numbers)})"))

    def __reduce__(self) -> tuple[Any, ...]:  # its arguments, not its message
        return type(self), (self.path, self.numbers, self.shapes, self.kind)

    def saying(self, accepted: str) -> str:
        """The one line naming the file, its images (what ``kind`` they are) and
        ``accepted``, how to choose."""
        return (f"{self.path}: holds {len(self.numbers)} images {shapes_text(self.shapes)} "
                f"({self.kind}); accepted: {accepted}")


def pick_series(tif: tifffile.TiffFile, path: Path, series: int | None = None
                ) -> tifffile.TiffPageSeries:
    """The series of an open TIFF that a read takes: ``series``, one of its
    :func:`image_series`, else its only image. Raise :class:`ImageReadError` for a number
    that is none of those, and, without one, :class:`SeveralImagesError` for a file of
    several (positions, wells), whose first alone would be segmented without a word."""
    images = image_series(tif)
    shapes = [tuple(tif.series[n].shape) for n in images]
    if series is None and len(images) > 1:
        raise SeveralImagesError(path, images, shapes, series_kind(tif))
    if series is not None and series not in images:
        what = (f"has no series {series}" if series >= len(tif.series) else
                f"its series {series} is of shape {tif.series[series].shape} (a label, "
                f"macro or thumbnail image), not {shapes[0]}")
        count = f"its {len(images)} images" if len(images) > 1 else "its one image"
        raise ImageReadError(f"{path}: {what}; accepted: series {numbers_text(images)} "
                             f"({count} {shapes_text(shapes)})")
    chosen = tif.series[series or 0]
    if tif.is_imagej and len(tif.pages) > len(chosen.pages):
        # tifffile reads the planes the ImageJ description counts: the rest were skipped
        raise ImageReadError(f"{path}: its ImageJ description counts "
                             f"{len(chosen.pages)} planes, but it holds "
                             f"{len(tif.pages)}; accepted: a TIFF whose ImageJ description "
                             "matches its planes (open it in Fiji and save it again)")
    return chosen
