"""Reading images: TIFF (any dtype, nD), PNG and JPEG (RGB order), their pixel size, and
finding them."""

from __future__ import annotations

import functools
import math
import os
import re
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from ..core.errors import BadValueError
from ..core.units import check_pixel_size
from .axes import check_channel, image_layout, resolve_channel
from .picking import (
    SeveralImagesError,
    check_series,
    image_series,
    numbers_text,
    pick_series,
    series_kind,
)
from .tiffs import (
    SLIDE_SUFFIXES,
    TIFF_ACCEPTED,
    ImageReadError,
    keeps_tiff_open,
    ome_xml,
    open_tiff,
    reading_tiff,
)

__all__ = ["FOREIGN_IMAGE_SUFFIXES", "IMAGE_SUFFIXES", "SLIDE_SUFFIXES", "ImageReadError",
           "SeveralImagesError", "check_series", "check_strips", "decoded_size", "find_images",
           "foreign_images", "image_series",
           "numbers_text", "ome_image", "pick_series", "read_image", "read_image_axes",
           "read_pixel_size", "reading_tiff", "series_kind", "takes_layout", "tiff_axes",
           "tiff_intensities", "tiff_pixel_size"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def check_strips(series: Any, path: Path, accepted: str = TIFF_ACCEPTED) -> None:
    """Raise :class:`ImageReadError` if a page of ``series`` is missing or stores a strip of
    no bytes: tifffile would read it as zeros (a tile of none is a sparse tile, read as the
    fill)."""
    missing = sum(page is None for page in series.pages)
    if missing:
        raise ImageReadError(f"{path}: cannot be read as a TIFF ({missing} of its "
                             f"{len(series.pages)} planes are missing: the other files of a "
                             f"multi-file OME-TIFF, or a damaged one); {accepted}")
    for number, page in enumerate(series.pages):
        if page is not None and not page.keyframe.is_tiled and 0 in page.databytecounts:
            raise ImageReadError(f"{path}: cannot be read as a TIFF (page {number} has a "
                                 f"strip of 0 bytes: damaged); {accepted}")


def find_images(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Files (and ``.zarr`` stores) named directly, plus the image files, whole-slide files
    and ``.zarr`` stores directly inside named folders, sorted.

    Hidden files in folders (names starting with a dot, such as the temporary files of a
    write that was killed) are not images to process.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and p.suffix.lower() != ".zarr":
            found.extend(sorted(f for f in p.iterdir() if not f.name.startswith(".") and (
                (f.is_file() and f.suffix.lower() in (*IMAGE_SUFFIXES, *SLIDE_SUFFIXES))
                or (f.is_dir() and f.suffix.lower() == ".zarr"))))
        else:
            found.append(p)
    return found


# Image files of kinds maskprep does not read, as microscopes and desktop software write
# them: a folder given that holds them is not run as if it held none.
FOREIGN_IMAGE_SUFFIXES = (".czi", ".lif", ".lsm", ".nd2", ".oib", ".oif", ".ims", ".vsi",
                          ".ndpi", ".mrxs", ".scn", ".zvi", ".lei", ".dv", ".ics", ".ids",
                          ".mrc", ".bmp", ".gif", ".jp2", ".webp")


def foreign_images(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """The files of a kind maskprep does not read (:data:`FOREIGN_IMAGE_SUFFIXES`)
    directly inside the folders among ``paths``, which :func:`find_images` leaves out;
    sorted."""
    return sorted(f for p in map(Path, paths) if p.is_dir() and p.suffix.lower() != ".zarr"
                  for f in p.iterdir() if not f.name.startswith(".") and f.is_file()
                  and f.suffix.lower() in FOREIGN_IMAGE_SUFFIXES)


def read_image(path: str | os.PathLike[str], channel: int | str | None = None,
               series: int | None = None) -> np.ndarray:
    """An image file as an array: TIFF (any dtype, nD) or PNG/JPEG (RGB order, not BGR),
    its axes arranged as :func:`read_image_axes` says; ``channel``: the one to keep of a
    file with channels (its number from 0, or an OME-TIFF's channel name); ``series``: the
    one to read (from 0) of an OME-TIFF of several positions or wells."""
    return read_image_axes(path, channel, series)[0]


@keeps_tiff_open
def read_image_axes(path: str | os.PathLike[str], channel: int | str | None = None,
                    series: int | None = None) -> tuple[np.ndarray, str]:
    """An image file as an array and its axes, ``[t][z]yx[c]``
    (:func:`~.axes.image_layout`: colour samples last, singleton axes dropped, the layouts
    that the ops cannot take refused in one line, as a tiled run refuses them); with
    ``channel``, only that channel of the file's channels or colour samples (a name: of
    an OME-TIFF's channel names, :func:`channel_names`); ``series``: the image to read of
    an OME-TIFF of several (:func:`pick_series`; 0 is a file of one image)."""
    if channel is not None:
        channel = check_channel(channel)  # before the file is read
    series = check_series(series)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageReadError(
            f"{path}: unsupported file type {suffix or '(none)'}; accepted: "
            + ", ".join(IMAGE_SUFFIXES)
        )
    if isinstance(channel, str) and path.is_file():  # a name, from the header
        names = channel_names(path, series) if suffix in (".tif", ".tiff") else []
        channel = resolve_channel(channel, names, str(path))
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block, a device never end
            raise ImageReadError(f"{path}: not a regular file; accepted: image files")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: the file is empty (0 bytes)")
        _check_format(path, suffix)
        if suffix in (".tif", ".tiff"):
            image, axes = _read_tiff(path, series)
        else:
            if series:
                raise ImageReadError(f"{path}: has no series {series}; accepted: series 0 "
                                     f"(a {_NAMED[suffix]} holds one image)")
            _check_decodable_size(path, suffix)
            raw = np.fromfile(path, dtype=np.uint8)
            _check_complete(raw.tobytes(), suffix, path)
            _check_one_frame(raw.tobytes(), suffix, path)
            with _decoder_messages() as messages:
                image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
            _check_undamaged(messages, suffix, path)
            if image is None:  # a header without image data: 'cannot read image (Val...'
                raise ImageReadError(f"{path}: the {_NAMED[suffix]} cannot be decoded (cut "
                                     "short before its image data, or damaged); accepted: a "
                                     f"complete, undamaged {_NAMED[suffix]} file")
            axes = "yx"
            if suffix == ".png" and raw[25:26].tobytes() == b"\x04":  # IHDR: grey and alpha
                image = image[..., 0]  # OpenCV gives BGRA; the alpha only says where it is
            if image.ndim == 3:
                code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
                image = cv2.cvtColor(image, code)
                axes = "yxc"
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except ImageReadError:
        raise
    except Exception as exc:  # decoders raise anything on corrupt data
        raise _unreadable(path, exc) from None
    if image.size == 0:
        raise ImageReadError(f"{path}: the image is empty")
    return image_layout(image, axes, str(path), channel)


def _unreadable(path: Path, exc: Exception) -> ImageReadError:
    """What a decoder's own error on a damaged file says, in one line."""
    why = str(exc).splitlines()[0][:120] if str(exc) else ""
    return ImageReadError(f"{path}: cannot read image ({type(exc).__name__}: {why})")


def takes_layout(path: str | os.PathLike[str], channel: int | None = None,
                 series: int | None = None) -> bool:
    """Whether a TIFF's axes (of its image ``series``; with only ``channel`` of its
    channels, if given) are a layout the ops take (:func:`~.axes.image_layout`), from its
    header alone: a stack of 2 channels is not, nor several images unless one is chosen
    (:func:`pick_series`). A header that cannot be read counts as taken: reading the file
    then says what is wrong."""
    header = _tiff_header(path, series)
    return header is None or _header_takes(header, str(path), channel)


def _header_takes(header: tuple[tuple[int, ...], Any, str], where: str,
                  channel: int | None) -> bool:
    shape, dtype, axes = header
    try:  # on an array of the header's shape holding no pixels
        image_layout(np.broadcast_to(np.zeros((), dtype), shape), axes, where, channel)
    except BadValueError:
        return False
    return True


def channel_count(path: str | os.PathLike[str], series: int | None = None) -> int:
    """How many channels a TIFF (its image ``series``, :func:`pick_series`) that the ops
    cannot take whole holds, each of which they take (its ImageJ, OME or non-colour
    channels); 0 for any other file."""
    header = _tiff_header(path, series)
    if header is None or _header_takes(header, str(path), None):
        return 0
    shape, _, axes = header
    at = next((axes.index(a) for a in "nc" if a in axes), None)
    count = 0 if at is None else shape[at]
    return count if count and _header_takes(header, str(path), 0) else 0


@keeps_tiff_open
def read_channels(path: str | os.PathLike[str], series: int | None = None
                  ) -> list[tuple[np.ndarray, str]]:
    """Each channel of a TIFF with channels (:func:`channel_count`; of its image
    ``series``) as ``read_image_axes(path, channel=n, series=series)`` gives it, the
    file read once."""
    path = Path(path)
    count = channel_count(path, series)
    if not count:
        raise BadValueError(f"{path}: not a TIFF of channels the ops take one by one")
    try:
        image, axes = _read_tiff(path, series)
    except ImageReadError:
        raise
    except Exception as exc:  # decoders raise anything on corrupt data
        raise _unreadable(path, exc) from None
    return [image_layout(image, axes, str(path), n) for n in range(count)]


@keeps_tiff_open
def channel_names(path: str | os.PathLike[str], series: int | None = None) -> list[str]:
    """The names of a TIFF's channels (:func:`channel_count` of them; of its image
    ``series``): an OME-TIFF's own, else ``c<n>``; from its header. Raises
    :class:`ImageReadError` for a header that cannot be read, and for a ``series`` the file
    lacks or none chosen of several (:func:`pick_series`): that is what to say of a
    channel asked by name, not that the file names none."""
    names = [f"c{n}" for n in range(channel_count(path, series))]
    with reading_tiff(Path(path)), open_tiff(path) as tif:
        pick_series(tif, Path(path), series)
        if not tif.is_ome:
            return names
        try:
            channels = ome_image(tif, series or 0)["Pixels"]["Channel"]
        except Exception:  # no channel elements, or metadata that does not parse: no names
            return names
    channels = channels if isinstance(channels, list) else [channels]
    for n, channel in enumerate(channels[:len(names)]):
        name = channel.get("Name") if isinstance(channel, dict) else None
        if isinstance(name, str) and name.strip():
            names[n] = name.strip()[:40]
    return names


def _tiff_header(path: str | os.PathLike[str], number: int | None = None
                 ) -> tuple[tuple[int, ...], Any, str] | None:
    """A TIFF's series' shape, dtype and axes (:func:`tiff_axes`; its image ``number``,
    else its first), from its header; None if the header cannot be read or has no such
    image. Without ``number``, several images of one shape (positions, wells:
    :func:`pick_series`) give an axis ``m`` first, which no layout takes."""
    try:
        with reading_tiff(Path(path)), open_tiff(path) as tif:
            images = len(image_series(tif)) if number is None else 1
            series = pick_series(tif, Path(path), number) if number else tif.series[0]
            shape, axes = series.shape, tiff_axes(series)
            shape = (*shape, 3)[:len(axes)]  # a palette read as its colours
            if images > 1:
                shape, axes = (images, *shape), "m" + axes
            return shape, series.dtype, axes
    except Exception:  # a damaged header
        return None


def decoded_size(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """A PNG or JPEG's (height, width, bytes its pixels take once read) from its header,
    without decoding it: a small file can hold a huge image (a PNG of 875 KB, 30 000 px a
    side, took 8 GB). None for other files, and for a header Pillow cannot read (reading
    the file then says what is wrong)."""
    from PIL import JpegImagePlugin, PngImagePlugin

    # The plugins' classes read the header only, with none of Image.open's global pixel cap.
    opener = {".png": PngImagePlugin.PngImageFile, ".jpg": JpegImagePlugin.JpegImageFile,
              ".jpeg": JpegImagePlugin.JpegImageFile}.get(Path(path).suffix.lower())
    if opener is None or not Path(path).is_file():
        return None
    try:
        with opener(path) as header:
            width, height = header.size
            mode, bands = header.mode, len(header.getbands())
            # Pillow's mode says RGB for a PNG of 16 bits a sample, read as 16 by cv2
            wide = mode.startswith("I") or ";16" in str(header.tile[0][3])
            transparent = mode in ("P", "RGB") and "transparency" in header.info
    except Exception:  # a damaged header: read_image says what is wrong
        return None
    # as cv2 reads it: a palette or RGB PNG's transparent colour (tRNS) becomes an alpha
    samples = 1 if bands == 1 and mode != "P" else 4 if "A" in mode or transparent else 3
    return height, width, width * height * samples * (2 if wide else 1)


_DECODABLE_PIXELS = 2**30  # OpenCV's CV_IO_MAX_IMAGE_PIXELS: it refuses a larger image


def _check_decodable_size(path: Path, suffix: str) -> None:
    """Raise :class:`ImageReadError` for a PNG or JPEG of more pixels than OpenCV decodes,
    from its header: OpenCV's own refusal is an assertion naming its source file."""
    size = decoded_size(path)
    if size is not None and size[0] * size[1] > _DECODABLE_PIXELS:
        kind = "PNG" if suffix == ".png" else "JPEG"
        raise ImageReadError(f"{path}: a {size[1]} x {size[0]} px {kind}, over the "
                             f"{_DECODABLE_PIXELS} pixels a {kind} is read to; accepted: "
                             "a smaller one, or the image as a tiled TIFF or OME-Zarr, "
                             "which run tiled")


# The first bytes of each format read, and the format each suffix names.
_SIGNATURES = {"TIFF": (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"),
               "PNG": (b"\x89PNG\r\n\x1a\n",), "JPEG": (b"\xff\xd8\xff",)}
_NAMED = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _check_format(path: Path, suffix: str) -> None:
    """Raise :class:`ImageReadError` if the file does not start as the format its suffix
    names: a TIFF named .png was 'a PNG cut short', a JPEG named .tif 'not a TIFF file'."""
    with open(path, "rb") as f:
        head = f.read(8)
    named = _NAMED[suffix]
    held = next((k for k, starts in _SIGNATURES.items() if head.startswith(starts)), None)
    if held != named:
        what = f"holds a {held} image" if held else f"starts with {head!r}, no image format"
        raise ImageReadError(f"{path}: {what}, not the {named} its name says; accepted: a "
                             "file named for its format (.tif or .tiff for TIFF, .png for "
                             "PNG, .jpg or .jpeg for JPEG)")


def _check_complete(data: bytes, suffix: str, path: Path) -> None:
    """Raise :class:`ImageReadError` if a PNG has no IEND chunk, or a JPEG no end-of-image
    marker (FF D9) after the start of its first scan (FF DA): either was cut short, and
    OpenCV decodes the missing part of a JPEG as grey without an error. The end marker
    cannot occur inside coded data (an FF there is followed by 00 or a restart marker);
    the first scan is found by walking the segments, so an embedded thumbnail (inside one)
    or a trailer after the image (a motion photo's video, any bytes) changes nothing."""
    if suffix == ".png":
        cut = data.rfind(b"IEND") < 0
    else:
        scan = _first_scan(data)
        cut = scan >= 0 and data.find(b"\xff\xd9", scan) < 0
    if cut:
        kind = "PNG" if suffix == ".png" else "JPEG"
        raise ImageReadError(f"{path}: the {kind} is cut short (it ends inside its image "
                             f"data); accepted: a complete {kind} file")


def _check_one_frame(data: bytes, suffix: str, path: Path) -> None:
    """Raise :class:`ImageReadError` for an animated PNG of several frames (its acTL chunk,
    before the image data, counts them): OpenCV decodes its first frame alone."""
    at = 8  # after the signature: chunks of length, type, data and CRC
    while suffix == ".png" and at + 12 <= len(data) and data[at + 4:at + 8] != b"IDAT":
        frames = int.from_bytes(data[at + 8:at + 12], "big")
        if data[at + 4:at + 8] == b"acTL" and frames > 1:
            raise ImageReadError(f"{path}: an animated PNG of {frames} frames, of which only "
                                 "the first would be read; accepted: a PNG of one image "
                                 "(save the frames as a TIFF stack)")
        at += 12 + int.from_bytes(data[at:at + 4], "big")


_DECODING = threading.Lock()  # one decode at a time holds the process's stderr


@contextmanager
def _decoder_messages() -> Iterator[list[str]]:
    """The lines the C decoders under OpenCV (libjpeg, libpng) write to stderr within this
    block, kept from the terminal: libjpeg's warnings are the only sign of damaged data,
    which it decodes as grey blocks without an error. Lines that other threads write
    meanwhile are written on afterwards."""
    lines: list[str] = []
    with _DECODING, tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines.extend(held.read().decode("utf-8", "replace").splitlines())
    others = [line for line in lines if not line.startswith(_DECODER_PREFIXES)]
    if others:
        print(*others, sep="\n", file=sys.stderr)


# libjpeg's warnings of damaged coded data (JWRN_HIT_MARKER, _MUST_RESYNC, _HUFF_BAD_CODE,
# _EXTRANEOUS_DATA, _JPEG_EOF), libpng's messages, OpenCV's own warnings
_DAMAGE_PREFIXES = ("Corrupt JPEG data", "Premature end of JPEG file", "libpng error")
_DECODER_PREFIXES = (*_DAMAGE_PREFIXES, "libpng warning", "[ WARN:")


def _check_undamaged(messages: list[str], suffix: str, path: Path) -> None:
    """Raise :class:`ImageReadError` if a decoder said the data it decoded is damaged."""
    damage = next((m for m in messages if m.startswith(_DAMAGE_PREFIXES)), None)
    if damage is not None:
        kind = "PNG" if suffix == ".png" else "JPEG"
        raise ImageReadError(f"{path}: the {kind}'s image data is damaged ({damage[:120]}); "
                             f"accepted: an undamaged {kind} file")


def _first_scan(data: bytes) -> int:
    """Where a JPEG's first scan marker (FF DA) is, found by stepping over the segments
    before it by their lengths; -1 where they do not lead to one (the decoder then says
    what is wrong)."""
    at = 2  # after the start-of-image marker
    while at + 4 <= len(data) and data[at] == 0xFF:
        if data[at + 1] == 0xDA:
            return at
        if data[at + 1] == 0xFF:  # a fill byte before a marker
            at += 1
            continue
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return -1


def _read_tiff(path: Path, number: int | None = None) -> tuple[np.ndarray, str]:
    """The TIFF's series ``number`` (:func:`pick_series`) and tifffile's letters for its
    axes."""
    with reading_tiff(path), open_tiff(path) as tif:
        series = pick_series(tif, path, number)
        check_strips(series, path)
        shown = tiff_intensities(series, path)
        return shown(series.asarray()), tiff_axes(series)


# PhotometricInterpretation: MINISWHITE, MINISBLACK, RGB, PALETTE; YCbCr only as JPEG,
# which tifffile's decoder returns as RGB.
_PHOTOMETRIC_READ = (0, 1, 2, 3)
_JPEG = 7


def tiff_intensities(series: tifffile.TiffPageSeries, path: Path,
                     accepted: str = TIFF_ACCEPTED) -> Callable[[Any], Any]:
    """What turns a TIFF's samples (a numpy or dask array), as tifffile returns them, into
    the intensities viewers show: MINISWHITE (0 is white: scanners' and fax bilevel
    images) inverted within its bits, as Pillow and Fiji show it; the rest as they are.
    Raise :class:`ImageReadError` for a colour model that is not read: tifffile returns
    its samples as stored, so CMYK was taken for RGB and alpha, and uncompressed YCbCr (or
    CIE Lab) for RGB."""
    page = series.keyframe
    photometric = int(page.photometric)
    if photometric == 0 and 262 in page.tags:  # tifffile's default when the tag is absent
        return _white_is_zero(series, path)
    table = _colour_table(series)
    if table is not None:
        return functools.partial(_look_up, table)
    if photometric in _PHOTOMETRIC_READ or (photometric == 6 and page.compression == _JPEG):
        return _as_stored
    try:
        name = tifffile.PHOTOMETRIC(photometric).name
    except ValueError:
        name = "unknown"
    raise ImageReadError(f"{path}: its colour model {name} (photometric {photometric}) is "
                         "not read; accepted: grey, RGB(A), indexed colour or YCbCr "
                         "compressed as JPEG (save it as RGB)")


def _as_stored(data: Any) -> Any:
    return data


def _colour_table(series: tifffile.TiffPageSeries) -> np.ndarray | None:
    """A palette TIFF's colours, (index, RGB) as uint8, where its indices are no intensities;
    None for other TIFFs, for an ImageJ file, whose palette is a display LUT (Fire, an
    inverted LUT, ...) on pixel values Fiji measures and thresholds, and where red, green
    and blue each rise with the index (a grey or single-colour LUT another program saved).
    A table of other colours (indexed colour, an inverted LUT) is read as the colours
    shown, as a palette PNG is: its indices segmented as intensities reversed or scrambled
    the image."""
    page = series.keyframe
    colormap = page.colormap if int(page.photometric) == 3 else None
    if (colormap is None or series.dtype.kind != "u" or series.parent.is_imagej
            or (np.diff(colormap.astype(np.int64), axis=1) >= 0).all()):
        return None
    table = colormap >> 8 if colormap.max() > 255 else colormap  # 16 bits a colour, or 8
    return np.ascontiguousarray(table.T.astype(np.uint8))


def _look_up(table: np.ndarray, data: Any) -> Any:
    """The colours of ``table`` at the indices ``data`` (numpy or dask), a colour axis last."""
    if isinstance(data, np.ndarray):
        return table[data]
    return data.map_blocks(functools.partial(_look_up, table), dtype=table.dtype,
                           new_axis=data.ndim, chunks=(*data.chunks, (3,)))


def _white_is_zero(series: tifffile.TiffPageSeries, path: Path) -> Callable[[Any], Any]:
    """Samples where 0 is white turned into intensities (0 black): read as stored, the
    object a viewer shows dark was bright, and a recipe's polarity picked the background."""
    page, dtype = series.keyframe, series.dtype
    if dtype.kind == "b":
        return np.logical_not
    if dtype.kind != "u":
        raise ImageReadError(f"{path}: 0 is white in it (photometric MINISWHITE), which is "
                             f"read for unsigned integers only, not {dtype}; accepted: "
                             "MINISBLACK (0 is black) for signed or float samples")
    white = (1 << min(int(page.bitspersample), dtype.itemsize * 8)) - 1
    return functools.partial(np.subtract, dtype.type(white))


# Micrometres per unit, for the length units TIFF metadata names (ImageJ writes "micron" or
# an escaped "\\u00B5m", and "\\u00C5" for electron microscopy's ångström; OME defaults to
# µm), looked up in lower case.
_MICROMETRES = {"um": 1.0, "µm": 1.0, "μm": 1.0, "\\u00b5m": 1.0, "micron": 1.0,
                "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0, "nm": 1e-3,
                "mm": 1e3, "cm": 1e4, "m": 1e6, "å": 1e-4, "\\u00c5": 1e-4,
                "angstrom": 1e-4, "pm": 1e-6}
# Micrometres in one TIFF ResolutionUnit (3 centimetre; tifffile's 4 mm, 5 µm). Inches (2)
# are not taken: 72 dpi is desktop software's default, not a measurement.
_UM_PER_RESUNIT = {3: 1e4, 4: 1e3, 5: 1.0}


def tiff_axes(series: tifffile.TiffPageSeries) -> str:
    """tifffile's letters for a series' axes in lower case, its samples (``S``) as ``c``,
    or as ``g`` when they are a grey value and its alpha (ExtraSamples), which
    :func:`~.axes.image_layout` reads as grey; the channels (``C``) of an ImageJ or OME
    file, and 4 of any TIFF, as ``n``, never colour (``g`` and ``n`` are none of
    tifffile's letters); a ``c`` last for a palette read as its colours
    (:func:`tiff_intensities`)."""
    page = series.keyframe
    grey_alpha = (page.samplesperpixel == 2 and page.photometric in (0, 1)
                  and tuple(page.extrasamples)[:1] in ((1,), (2,)))
    samples = "g" if grey_alpha else "c"
    # ImageJ and OME store RGB as samples: their channel axis holds fluorescence channels;
    # so do 4 planes of a channel axis in any TIFF, whose alpha is only ever a sample.
    planes = dict(zip(series.axes, series.shape, strict=True)).get("C")
    channels = "n" if series.parent.is_imagej or series.parent.is_ome or planes == 4 else "c"
    colour = "c" if _colour_table(series) is not None else ""  # the palette's, read last
    return "".join(samples if a == "S" else channels if a == "C" else a.lower()
                   for a in series.axes) + colour


def _micrometres(unit: Any) -> float | None:
    return _MICROMETRES.get(str(unit).lower())


def tiff_pixel_size(tif: tifffile.TiffFile, axes: str, series: int = 0
                    ) -> tuple[float, ...] | None:
    """The pixel size in µm that an open TIFF states for the spatial ones of ``axes``
    (:func:`tiff_axes` of its ``series``): OME PhysicalSize* (of that series' image,
    :func:`ome_image`), then SVS MPP, then
    ImageJ's unit with the resolution tags (its ``spacing`` for z), then the resolution
    tags in centimetres (or mm, µm). A size is stated as a positive finite number; a stack
    whose z spacing is not gives (y, x); None when y or x is not. One function for
    the reader that reads a file whole and the lazy one, so a file runs with one pixel size
    in memory and tiled."""
    try:
        sizes = _stated_sizes(tif, series)
    except Exception:  # foreign metadata may be broken in any way: the size is unknown
        return None
    wanted = [a for a in axes if a in "yx" or (a == "z" and _is_size(sizes.get("z")))]
    if not wanted or not all(_is_size(sizes.get(a)) for a in wanted):
        return None
    return tuple(sizes[a] for a in wanted)


def _is_size(value: float | None) -> bool:
    return value is not None and 0 < value < math.inf


def ome_image(tif: tifffile.TiffFile, series: int) -> dict[str, Any]:
    """The OME-XML Image element (as tifffile's ``xml2dict`` reads it) of an OME-TIFF's
    series ``series``. tifffile makes a series of each Image with pixels in the file, in
    order: the n-th Image is the n-th series where there are as many, and otherwise (a
    multi-file OME-TIFF's Images in its other files) only the first is known ({})."""
    images = ome_xml(tif).get("OME", {}).get("Image", {})
    images = images if isinstance(images, list) else [images]
    if series and len(images) != len(tif.series):
        return {}
    return images[series] if series < len(images) else {}


def _stated_sizes(tif: tifffile.TiffFile, series: int = 0) -> dict[str, float]:
    """The sizes in µm an open TIFF's metadata states (of its ``series``, for an
    OME-TIFF), by axis letter (``z``, ``y``, ``x``), as :func:`tiff_pixel_size` looks for
    them."""
    sizes: dict[str, float] = {}
    page = tif.series[series].keyframe if series else tif.pages.first
    if tif.is_ome and tif.ome_metadata:
        pixels = ome_image(tif, series).get("Pixels", {})
        for a in "ZYX":
            value = pixels.get(f"PhysicalSize{a}")
            factor = _micrometres(pixels.get(f"PhysicalSize{a}Unit", "µm"))
            if value is not None and factor is not None:
                sizes[a.lower()] = float(value) * factor
    elif tif.is_svs:
        found = re.search(r"MPP\s*=\s*([0-9.eE+-]+)", page.description or "")
        if found:
            sizes["y"] = sizes["x"] = float(found.group(1))
    else:
        meta = (tif.imagej_metadata or {}) if tif.is_imagej else {}
        unit_um = _micrometres(meta.get("unit", ""))
        if unit_um is not None and "spacing" in meta:
            sizes["z"] = float(meta["spacing"]) * unit_um
        if unit_um is None:
            unit_um = _UM_PER_RESUNIT.get(int(page.resolutionunit))
        x_res, y_res = page.resolution
        if unit_um is not None and x_res > 0 and y_res > 0:
            sizes["x"], sizes["y"] = unit_um / x_res, unit_um / y_res
    return sizes


def read_pixel_size(path: str | os.PathLike[str], series: int | None = None
                    ) -> tuple[float, ...] | None:
    """The pixel size a TIFF file (its image ``series``, for an OME-TIFF of several)
    states, in micrometres per pixel: ``(y, x)``, or ``(z, y, x)`` for a stack; None when
    unknown.

    Read by :func:`tiff_pixel_size`, as the lazy reader reads it: OME-XML
    (``PhysicalSizeX/Y/Z``), ImageJ metadata (resolution in its ``unit``, ``spacing``
    between slices) or the resolution tags in centimetres (or mm, µm). Resolution in
    inches is not taken: it is what desktop software writes by default (72 dpi), not a
    measurement. A stack whose z spacing is not stated gives ``(y, x)``. PNG and JPEG
    files give None; so does metadata that cannot be read.
    """
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return None  # a FIFO or a device would block the reader
    try:
        with reading_tiff(path), open_tiff(path) as tif:
            number = series or 0
            size = tiff_pixel_size(tif, tiff_axes(tif.series[number]), number)
        return None if size is None else check_pixel_size(size)
    except Exception:  # foreign metadata may be broken in any way: the size is unknown
        return None
