"""Physical units for size parameters: ``radius: 2 um``, ``min_size: 30 um2``.

A size parameter says what it measures through its ``unit`` hint: ``"px"`` is a
**length** in pixels (a radius, a sigma, a distance), ``"pixels"`` a **count** of pixels
(an object's area in 2D, its volume in voxels in 3D). Either may be given in nanometres,
micrometres or millimetres instead (``nm``, ``um``, ``mm`` for a length; ``nm2``, ``um2``,
``mm2`` for an area, ``nm3``, ``um3``, ``mm3`` for a volume), and is turned into pixels with
the image's pixel size when a step runs, so a recipe tuned at one pyramid level or on one
microscope replays at another. A count may also say ``px2`` or ``px3``: pixels all the same.

The pixel size is in micrometres per pixel: one value (the same along every axis) or one
per trailing spatial axis (``(y, x)`` or ``(z, y, x)``). A length needs pixels of the same
size along the axes the step works over (square in 2D, cubic in 3D); an area takes the
product of the two last axes, a volume of the three last.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import BadValueError, shown

__all__ = [
    "COUNT",
    "LENGTH",
    "Quantity",
    "accepted_units",
    "check_frame_interval",
    "check_pixel_size",
    "format_pixel_size",
    "measure_of",
    "parse_quantity",
    "to_pixels",
    "unit_name",
    "unknown_unit",
]

LENGTH, COUNT = "length", "count"
_MEASURES = {"px": LENGTH, "pixels": COUNT}  # the unit hint of a size parameter
_THOUSANDS = {"nm": -1, "um": 0, "mm": 1}  # a physical unit is 1000**this micrometres
_UNITS = {LENGTH: ("px", "nm", "um", "mm"),
          COUNT: ("px", "px2", "px3", "nm2", "um2", "mm2", "nm3", "um3", "mm3")}
_SPELLINGS = {
    "": "px", "px": "px", "pixel": "px", "pixels": "px", "voxel": "px", "voxels": "px",
    **{f"{spelling}{power}": f"{base}{canonical}"
       for spelling, base in (("px", "px"), ("nm", "nm"), ("um", "um"), ("mm", "mm"),
                              ("micron", "um"), ("microns", "um"), ("micrometer", "um"),
                              ("micrometers", "um"), ("micrometre", "um"),
                              ("micrometres", "um"))
       for power, canonical in (("", ""), ("2", "2"), ("^2", "2"), ("²", "2"),
                                ("3", "3"), ("^3", "3"), ("³", "3"))},
}
_ACCEPTED = ("accepted: a number with px, nm, um (µm) or mm for a length, or px2, nm2, um2, "
             "mm2 (3 for a volume) for an area (e.g. '2 um', '30 um2')")
_TEXT = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(\S*)\s*")
_MAX_TEXT = 64  # longer text is no size (and float() of it is kept cheap)
_MAX_AXES = 3


@dataclass(frozen=True)
class Quantity:
    """A size with its unit: ``px`` (pixels: a plain value), ``px2``, ``px3`` (pixels too),
    or ``nm``, ``um``, ``mm`` with ``2`` (an area) or ``3`` (a volume) or without (a length).

    ``str()`` gives the canonical text a recipe stores, which :func:`parse_quantity`
    reads back to an equal quantity.

    Examples
    --------
    >>> str(Quantity(2.0, "um")), str(Quantity(1.5, "um2"))
    ('2 um', '1.5 um2')
    """

    value: float
    unit: str

    def __str__(self) -> str:
        number = repr(float(self.value))
        return f"{number.removesuffix('.0')} {self.unit}"

    @property
    def physical(self) -> bool:
        return not self.unit.startswith("px")

    @property
    def power(self) -> int:
        """1 for a length, 2 for an area, 3 for a volume (0 for plain pixels)."""
        return int(self.unit[2:] or 1) if self.physical else 0


def parse_quantity(text: str, *, unit_required: bool = False) -> Quantity:
    """A size written as text: ``"2 um"``, ``"2um"``, ``"2 µm"``, ``"500 nm"``, ``"0.1 mm"``,
    ``"30 um2"``, ``"30 µm²"``, ``"5 px"``, ``"5 pixels"``, ``"30 px2"`` or a plain number
    (pixels, unless ``unit_required``).

    Raises :class:`BadValueError` in one line for anything else.

    Examples
    --------
    >>> parse_quantity("2 µm"), parse_quantity("30 μm²")
    (Quantity(value=2.0, unit='um'), Quantity(value=30.0, unit='um2'))
    >>> parse_quantity("5")
    Quantity(value=5.0, unit='px')
    """
    match = _match(text)
    unit = match and _SPELLINGS.get(_folded(match[2]))
    if match and not unit:
        raise BadValueError(f"{shown(text)} has the unit {shown(match[2])}, which is not "
                            f"known; {_ACCEPTED}")
    if not unit or (unit_required and not match[2]):
        raise BadValueError(f"{shown(text)} is not a size; {_ACCEPTED}")
    value = float(match[1])
    if not math.isfinite(value):
        raise BadValueError(f"{shown(text)} is not a finite size")
    return Quantity(value, unit)


def unit_name(unit: str) -> str:
    """What a physical unit measures in, for messages.

    Examples
    --------
    >>> unit_name("um2"), unit_name("mm")
    ('micrometres', 'millimetres')
    """
    return {"nm": "nanometres", "um": "micrometres", "mm": "millimetres"}[unit[:2]]


def unknown_unit(text: Any) -> str | None:
    """The unit of ``text`` if it is a number with a unit no size is given in, else None.

    Examples
    --------
    >>> unknown_unit("2 km"), unknown_unit("2 mm"), unknown_unit("two um")
    ('km', None, None)
    """
    match = _match(text)
    return match[2] if match and _folded(match[2]) not in _SPELLINGS else None


def _match(text: Any) -> re.Match[str] | None:
    return _TEXT.fullmatch(text) if isinstance(text, str) and len(text) <= _MAX_TEXT else None


def _folded(unit: str) -> str:
    # The micro sign (U+00B5) and the Greek mu (U+03BC) both mean micro.
    return unit.lower().replace("µ", "u").replace("μ", "u")


def measure_of(unit_hint: Any) -> str | None:
    """What a parameter with this ``unit`` hint measures: :data:`LENGTH`, :data:`COUNT`
    or None (not a size: intensities, percentages, degrees)."""
    return _MEASURES.get(unit_hint) if isinstance(unit_hint, str) else None


def accepted_units(measure: str) -> tuple[str, ...]:
    """The units a size parameter of ``measure`` may be given in."""
    return _UNITS[measure]


def check_frame_interval(frame_interval: Any) -> float | None:
    """``frame_interval`` as a float if it is a positive, finite number of seconds; None
    stays None."""
    if frame_interval is None:
        return None
    if (isinstance(frame_interval, bool) or not isinstance(frame_interval, numbers.Real)
            or not 0 < frame_interval < math.inf):
        raise BadValueError(f"frame_interval={shown(frame_interval)}; accepted: the seconds "
                            "between time frames, a positive number, or None")
    return float(frame_interval)


def check_pixel_size(value: Any) -> tuple[float, ...]:
    """A pixel size in micrometres as a tuple of 1 to 3 positive finite floats.

    ``value`` is a number (every axis alike) or a sequence of one value per trailing
    spatial axis (``(y, x)`` or ``(z, y, x)``); anything else raises in one line.

    Examples
    --------
    >>> check_pixel_size(0.5), check_pixel_size([2, 0.5, 0.5])
    ((0.5,), (2.0, 0.5, 0.5))
    """
    values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if getattr(value, "ndim", None) == 1:  # a numpy array, as a napari layer's scale is
        values = list(value)
    accepted = ("accepted: positive numbers in micrometres per pixel, one or one per "
                "spatial axis (y, x or z, y, x)")
    if not 1 <= len(values) <= _MAX_AXES:
        raise BadValueError(f"pixel size {shown(value)} has {len(values)} values; {accepted}")
    out = []
    for v in values:
        try:
            number = float(v) if not isinstance(v, bool | str) else math.nan
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            raise BadValueError(f"pixel size {shown(value)} is not accepted; {accepted}")
        out.append(number)
    return tuple(out)


def format_pixel_size(pixel_size: Sequence[float]) -> str:
    """``0.5 um`` or ``2 x 0.5 x 0.5 um``, for messages."""
    return " x ".join(f"{v:g}" for v in pixel_size) + " um"


def _axes(name: str, quantity: Quantity, pixel_size: tuple[float, ...], ndim: int
          ) -> tuple[float, ...]:
    if len(pixel_size) == 1:
        return pixel_size * ndim
    if len(pixel_size) < ndim:
        raise BadValueError(
            f"{name}={quantity} needs the pixel size along {ndim} axes; only "
            f"{format_pixel_size(pixel_size)} (y, x) is known; give it for z, y, x"
        )
    return pixel_size[-ndim:]


def to_pixels(measure: str, quantity: Quantity, pixel_size: tuple[float, ...] | None, *,
              ndim: int = 2, name: str = "value") -> float:
    """``quantity`` in pixels, for a parameter of ``measure`` on a step working over
    ``ndim`` spatial axes; raises :class:`BadValueError` in one line naming ``name``.

    Examples
    --------
    >>> to_pixels(LENGTH, Quantity(2.0, "um"), (0.5,))
    4.0
    >>> to_pixels(COUNT, Quantity(30.0, "um2"), (0.5, 0.25))
    240.0
    >>> to_pixels(COUNT, Quantity(8.0, "um3"), (2.0, 0.5, 0.5), ndim=3)
    16.0
    >>> to_pixels(LENGTH, Quantity(500.0, "nm"), (0.25,))
    2.0
    """
    if quantity.unit not in accepted_units(measure):
        raise BadValueError(
            f"{name}={quantity} is not accepted; {name} is a {measure} in "
            f"{', '.join(accepted_units(measure))}"
        )
    if not quantity.physical:
        return quantity.value
    base = quantity.unit[:2]
    if pixel_size is None:
        raise BadValueError(
            f"{name}={quantity} needs the image's pixel size, which is unknown; give it "
            f"(pixel_size=..., --pixel-size, a layer scale) or give {name} in px"
        )
    sizes = _axes(name, quantity, pixel_size, ndim)
    if quantity.power == 1:
        if not all(math.isclose(s, sizes[0], rel_tol=1e-6) for s in sizes):
            shape = "square pixels" if ndim == 2 else "cubic voxels"
            raise BadValueError(
                f"{name}={quantity}: the pixel size {format_pixel_size(sizes)} differs between "
                f"axes, and a length in {base} needs {shape}; give {name} in px"
            )
        return _finite(_scaled(quantity, sizes[0]), name, quantity, sizes)
    if quantity.power != ndim:
        what = "pixels of 2D planes" if ndim == 2 else "voxels of 3D data"
        raise BadValueError(
            f"{name}={quantity}: this step counts {what}; give {name} in "
            f"{base}{ndim} or px"
        )
    area = math.prod(sizes[-ndim:])  # 0.0 when tiny sizes underflow
    return _finite(_scaled(quantity, area) if area else math.inf, name, quantity, sizes)


def _scaled(quantity: Quantity, size: float) -> float:
    """``quantity`` over ``size`` (in um, um2 or um3 as the quantity's power), the power
    of 1000 multiplied on the side that keeps a round size exact (300 nm / 0.1 um is 3)."""
    exponent = _THOUSANDS[quantity.unit[:2]] * quantity.power
    if exponent >= 0:
        return quantity.value * 1000 ** exponent / size
    return quantity.value / (size * 1000 ** -exponent)


def _finite(pixels: float, name: str, quantity: Quantity, sizes: tuple[float, ...]) -> float:
    if not math.isfinite(pixels):
        raise BadValueError(
            f"{name}={quantity} at the pixel size {format_pixel_size(sizes)} is more pixels "
            f"than a number holds; check the pixel size, or give {name} in px"
        )
    return pixels
