"""A file's axes as the ops take them, the same in memory and tiled, and time frames.

A TIFF's axes (tifffile's letters) or an OME-Zarr's (its axis names) become: time frames
first (``t``), then ``z`` (a stack), ``y``, ``x``, and RGB(A) samples last (``c``, 3 or 4);
of grey and alpha samples (``g``, from a TIFF's ExtraSamples) the grey one is kept; the
channels of an ImageJ hyperstack or an OME-TIFF (``n``: ImageJ and OME store RGB as
samples) are never colour, whatever their number, nor are 4 of any TIFF (its alpha is a
sample), and an OME-Zarr's ``c`` is colour only as
3 or 4 channels of uint8 drawn red, green and blue (``io.lazy``). Axes
of length 1 other than ``z``, ``y`` and ``x`` are dropped; tifffile's unnamed page axes
(``q``, ``i``) are the stack's ``z``, or ``t`` and ``z`` when there are two. A time-lapse
is segmented frame by frame (each frame on its own, as a person tuned the recipe on one
frame): :func:`each_frame`. Anything else (2 or 5+ channels that are not colour, a time
axis after a spatial one, angles, tiles, ...) is refused in one line before any pixel is
read, where an ambiguous layout would otherwise be segmented as a volume.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import BadValueError

__all__ = ["ACCEPTED_AXES", "check_channel", "each_frame", "image_layout", "resolve_channel",
           "unnamed_axes"]

ACCEPTED_AXES = ("y and x, with z (a stack), t (time frames, first; each is segmented on its "
                 "own) and RGB(A) colour samples (3 or 4; an ImageJ or OME-TIFF's channels "
                 "are not colour, an OME-Zarr's only as uint8 drawn red, green, blue)")
_PAGES = "qi"  # tifffile's letters for pages it cannot name
_NAME_LENGTH = 100  # the longest channel name taken


def _letters(axes: str, shape: tuple[int, ...]) -> str:
    """Lower-case axis letters, samples as ``c``; from the array's shape when ``axes`` does
    not describe it (a reader that squeezed otherwise): RGB(A) samples last, as ops take an
    unnamed array."""
    if len(axes) == len(shape):
        return axes.lower().replace("s", "c")
    return unnamed_axes(shape)


def unnamed_axes(shape: tuple[int, ...]) -> str:
    """Letters for an array of ``shape`` that names no axes, as tifffile writes and reads a
    plain one: y and x, RGB(A) samples last (3 or 4 of a 3D or 4D array), unnamed page
    axes (``q``) before them."""
    colour = len(shape) in (3, 4) and shape[-1] in (3, 4)
    return "q" * (len(shape) - 2 - colour) + "yx" + "c" * colour


def image_layout(data: Any, axes: str, where: str, channel: int | None = None
                 ) -> tuple[Any, str]:
    """``data`` (a numpy or dask array of ``axes``) arranged as ops take it, with its axes:
    ``[t][z]yx[c]``; raises :class:`BadValueError` naming ``where`` for other layouts.
    ``channel``: the one channel (of an ImageJ, OME or OME-Zarr channel axis, or a colour
    sample) to keep, counted from 0, as a multi-channel file's channel to segment."""
    shape = tuple(data.shape)
    letters = _letters(axes, shape)
    if channel is not None:
        number = check_channel(channel)
        if isinstance(number, str):
            raise BadValueError(f"{where}: channel {number!r} is a name, which only a file's "
                                "reader can look up; accepted here: a channel's number")
        data, letters = _one_channel(data, letters, number, where)
    if "g" in letters:  # grey and alpha: the alpha only says where the grey is drawn
        at = letters.index("g")
        data = data[(slice(None),) * at + (0,)]
        letters = letters[:at] + letters[at + 1:]
    pages = [a for a in letters if a in _PAGES]
    if pages and "z" not in letters and "t" not in letters and len(pages) <= 2:
        named = iter("tz"[2 - len(pages):])  # unnamed leading axes: (time,) stack
        letters = "".join(next(named) if a in _PAGES else a for a in letters)
    for axis in reversed(range(len(letters))):  # a stack of one plane stays a stack
        if letters[axis] not in "zyx" and data.shape[axis] == 1:
            data = data[(slice(None),) * axis + (0,)]
            letters = letters[:axis] + letters[axis + 1:]
    why = ""
    if letters.count("c") == 1 and "n" not in letters and data.shape[
            letters.index("c")] in (3, 4):
        at = letters.index("c")
        data = np.moveaxis(data, at, -1)
        letters = letters[:at] + letters[at + 1:] + "c"
    elif "c" in letters or "n" in letters:
        channels = [data.shape[i] for i, a in enumerate(letters) if a in "cn"]
        why = (f" ({' and '.join(map(str, channels))} channels, not RGB: choose the one "
               "to segment, with --channel N)")
    if why or letters not in ("yx", "zyx", "tyx", "tzyx", "yxc", "zyxc", "tyxc", "tzyxc"):
        named = "".join("c" if a in "gn" else a for a in axes.lower())  # as the file says
        raise BadValueError(f"{where}: axes {named or '?'!r} of shape {shape}{why}; "
                            f"accepted: {ACCEPTED_AXES}")
    return data, letters


def check_channel(channel: Any) -> int | str:
    """``channel`` if it can name a channel (its number from 0, or its name as the file
    gives it); one line otherwise."""
    if isinstance(channel, str) and 0 < len(channel.strip()) <= _NAME_LENGTH:
        return channel.strip()
    if isinstance(channel, bool) or not isinstance(channel, int | np.integer) or channel < 0:
        raise BadValueError(f"channel {channel!r}; accepted: a channel's number, from 0, or "
                            f"its name (at most {_NAME_LENGTH} characters)")
    return int(channel)


def resolve_channel(channel: int | str | None, names: list[str], where: str) -> int | None:
    """``channel``'s number: a number as it is, a name looked up in the file's channel
    ``names``; one line naming the names there are for a name that is not one."""
    if not isinstance(channel, str):
        return channel
    if names.count(channel) > 1:  # the first of two DAPI channels was taken without a word
        numbers = ", ".join(str(n) for n, name in enumerate(names) if name == channel)
        raise BadValueError(f"{where}: has {names.count(channel)} channels named {channel!r} "
                            f"({numbers}); accepted: the number of the one to segment")
    if channel in names:
        return names.index(channel)
    there = (f"its channels are {', '.join(map(repr, names))}" if names
             else "it names no channels")
    raise BadValueError(f"{where}: has no channel named {channel!r} ({there}); accepted: a "
                        "channel's name as the file gives it, or its number, from 0")


def _one_channel(data: Any, letters: str, channel: int, where: str) -> tuple[Any, str]:
    """``data`` with only ``channel`` of its channel axis (``n``), else of its colour
    samples (``c``), and its letters without that axis. An image without either is its
    own channel 0, as ImageJ and OME count one channel, so one ``--channel 0`` runs a
    folder of grey and multi-channel files alike."""
    at = next((letters.index(a) for a in "nc" if a in letters), None)
    if at is None:
        if channel == 0:
            return data, letters
        raise BadValueError(f"{where}: has one channel (shape {tuple(data.shape)}), so no "
                            f"channel {channel}; accepted: 0")
    if channel >= data.shape[at]:
        raise BadValueError(f"{where}: has {data.shape[at]} channels, so no channel "
                            f"{channel}; accepted: 0 to {data.shape[at] - 1}")
    return data[(slice(None),) * at + (channel,)], letters[:at] + letters[at + 1:]


def each_frame(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, axes: str
               ) -> np.ndarray:
    """``run`` on each time frame of ``image`` (``axes`` from :func:`image_layout`) and the
    results stacked along t; ``run(image)`` when it has no time axis."""
    if not axes.startswith("t"):
        return run(image)
    return np.stack([run(frame) for frame in image])
