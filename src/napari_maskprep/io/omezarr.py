"""Writing a mask or labels of any size as an OME-Zarr image-label, chunk by chunk.

The store is NGFF 0.4 on zarr v2 unless it goes into a 0.5 image: 0.4 is what
napari-ome-zarr, ome-zarr-py's reader (0.18 reads 0.4 and 0.5), Fiji/MoBIE, QuPath and
zarr-python 2 all open, while 0.5 needs zarr v3 readers. A labels pyramid is taken by
stride (nearest: every value a label or mask value that exists), each level read back
from the one just written, until the largest side is at most ``PYRAMID_TOP``. Metadata is
written by ``ome-zarr``'s writer, the chunks by dask, so no level is ever whole in memory.
The store is built under a hidden temporary name beside its final name and renamed at the
end, or swapped with the store it replaces (:func:`replace_folder`): a killed run leaves the
old store or the new one, and temporaries that :func:`clean_stale_temporaries` removes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import BadTypeError, BadValueError, MaskprepError, shown
from ..core.run_callbacks import store
from ..core.thread_warnings import unheard
from ..core.units import check_frame_interval
from .files import clean_stale_temporaries, replace_folder, temp_prefix
from .ngff import image_group, ngff_attributes, um_per_unit
from .provenance import PNG_KEY, written_by_maskprep

if TYPE_CHECKING:
    import dask.array as da
    import zarr

__all__ = ["LABEL_COLOR", "OutputExistsError", "PYRAMID_TOP", "RegionNotRestoredError",
           "SavedRegion", "check_label_fits", "check_label_name", "region_before",
           "write_ome_zarr", "write_region"]

PYRAMID_TOP = 1024  # the pyramid stops at the first level whose sides are all this or less
LABEL_COLOR = [0, 255, 0, 255]  # RGBA of label 1 in a mask's image-label metadata
_AXES_ORDER = "tczyx"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


class OutputExistsError(MaskprepError, FileExistsError):
    """A write that would replace something it may not: an existing store without
    ``overwrite=True``, or one that maskprep did not write."""


def _checked_axes(axes: str, ndim: int) -> str:
    if (not isinstance(axes, str) or len(axes) != ndim or not axes.endswith("yx")
            or len(set(axes)) != ndim or any(a not in _AXES_ORDER for a in axes)
            or list(axes) != sorted(axes, key=_AXES_ORDER.index)):
        raise BadValueError(f"axes={axes!r} for a {ndim}D array; accepted: {ndim} of t, c, z, "
                            "y, x in that order, ending in 'yx' (e.g. 'yx', 'zyx', 'tzyx')")
    return axes


def _checked_pixel_size(pixel_size: Any, axes: str) -> tuple[float, ...] | None:
    spatial = [a for a in axes if a in "zyx"]
    if pixel_size is None:
        return None
    try:
        sizes = tuple(float(s) for s in pixel_size)
    except (TypeError, ValueError):
        sizes = ()
    if len(sizes) != len(spatial) or not all(0 < s < float("inf") for s in sizes):
        raise BadValueError(f"pixel_size={pixel_size!r}; accepted: {len(spatial)} positive "
                            f"sizes in µm, one per axis {''.join(spatial)}")
    return sizes


def _default_chunks(shape: tuple[int, ...], axes: str) -> tuple[int, ...]:
    """One plane deep (napari reads what it shows), up to 1024 wide."""
    return tuple(min(n, 1024) if a in "yx" else 1 for n, a in zip(shape, axes, strict=True))


def _pyramid_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    shapes = [shape]
    while max(shapes[-1][-2:]) > PYRAMID_TOP:
        last = shapes[-1]
        shapes.append(last[:-2] + tuple((n + 1) // 2 for n in last[-2:]))
    return shapes


def _strides(shapes: list[tuple[int, ...]], where: str) -> list[tuple[int, ...]]:
    """The whole-number stride per axis from each level to the next, such that the stride
    taken (and cut to size) gives the next level's shape."""
    strides = []
    for big, small in zip(shapes, shapes[1:], strict=False):
        step = tuple(max(1, round(b / s)) for b, s in zip(big, small, strict=True))
        if any(not s <= -(-b // f) <= s + 1 for b, s, f in zip(big, small, step, strict=True)):
            raise BadValueError(f"{where}: pyramid level of shape {small} is not {big} "
                                "divided by whole numbers; accepted: levels each the one "
                                "before taken every n-th pixel (2, 3, ... per axis)")
        strides.append(step)
    return strides


def _write_levels(group: zarr.Group, mask: da.Array, axes: str, chunks: tuple[int, ...],
                  shapes: list[tuple[int, ...]], strides: list[tuple[int, ...]]) -> None:
    """Level 0 from ``mask``, each further level by stride (nearest) from the level
    written before it; every chunk written, even an empty one, so that a chunk missing
    later is damage, not sparseness."""
    import dask.array as da

    v2 = group.metadata.zarr_format == 2
    level = mask
    for number, shape in enumerate(shapes):
        these = tuple(min(c, n) for c, n in zip(chunks, shape, strict=True))
        array = group.create_array(
            str(number), shape=shape, dtype=mask.dtype, chunks=these, fill_value=0,
            chunk_key_encoding={"name": "v2", "separator": "/"} if v2 else None,
            dimension_names=None if v2 else list(axes),
            config={"write_empty_chunks": True})
        store(level.rechunk(these), array, lock=False)
        if number < len(strides):
            level = da.from_zarr(array)[tuple(
                slice(0, n * f, f) for n, f in zip(shapes[number + 1], strides[number],
                                                   strict=True))]


def _datasets(strides: list[tuple[int, ...]], frame: dict[str, tuple[float, float, Any]]
              ) -> list[dict]:
    scale = np.array([size for size, _, _ in frame.values()])
    shift = [offset for _, offset, _ in frame.values()]
    datasets = []
    for number in range(len(strides) + 1):
        transforms = [{"type": "scale", "scale": scale.tolist()}]
        if any(shift):  # every level starts at level 0's first pixel (taken by stride)
            transforms.append({"type": "translation", "translation": shift})
        datasets.append({"path": str(number), "coordinateTransformations": transforms})
        if number < len(strides):
            scale = scale * strides[number]
    return datasets


def _frame(axes: str, pixel_size: tuple[float, ...] | None
           ) -> dict[str, tuple[float, float, Any]]:
    """Per axis: scale, translation and unit of a store's level 0 of ``pixel_size`` µm."""
    sizes = iter(pixel_size or ())
    return {a: (next(sizes), 0.0, "micrometer") if a in "zyx" and pixel_size else (1.0, 0.0, None)
            for a in axes}


def _write_metadata(group: zarr.Group, fmt: Any, axes: str, strides: list[tuple[int, ...]],
                    frame: dict[str, tuple[float, float, Any]], name: str, label: dict,
                    provenance: dict | None) -> None:
    add_metadata, write_multiscales_metadata = _writer("add_metadata",
                                                       "write_multiscales_metadata")

    units = {a: unit for a, (_, _, unit) in frame.items() if unit is not None}
    write_multiscales_metadata(group, _datasets(strides, frame), fmt=fmt,
                               axes=list(axes), axes_units=units or None, name=name)
    add_metadata(group, {"image-label": label}, fmt=fmt)
    if provenance is not None:
        group.attrs[PNG_KEY] = provenance


def _at_size(axis: tuple[float, float, Any], size: float) -> tuple[float, float, str]:
    """An image axis's frame (scale, translation, unit) at ``size`` µm a pixel, its offset
    in µm (0 where its unit is no length: a number of unknown size)."""
    factor = um_per_unit(axis[2])
    return size, axis[1] * factor if factor else 0.0, "micrometer"


def _image_of(into: Path) -> tuple[Any, list[dict[str, int]], dict[str, tuple]]:
    """The ome-zarr format of the image store ``into`` (checked to be an OME-Zarr image),
    the size of each of its axes at each of its levels (a label has the image's levels,
    as NGFF 0.5 requires) and its level 0 frame (:func:`~.lazy.ngff_frame`)."""
    from ome_zarr.format import FormatV04, FormatV05

    from .lazy import ngff_frame, open_lazy

    image = open_lazy(into, missing_chunks="fill")
    frame = ngff_frame(image.path)  # the image's own axis names: open_lazy reads c as n
    v3 = (into / "zarr.json").is_file()
    return FormatV05() if v3 else FormatV04(), [
        dict(zip(frame, level.shape, strict=True)) for level in image.levels], frame


def _label_axes(axes: str, shape: tuple[int, ...], image: dict[str, int], into: Path) -> str:
    """The axes of a label of ``shape`` (``axes``) in the image of axis sizes ``image``:
    the image's, of length 1 where the label lacks them, but its channels. NGFF has each
    of a label's axes the image's or 1, and readers that align the layers by position
    need them; but napari-ome-zarr (0.10) splits an image on its channel axis and keeps a
    label's, where it would lie over the image's t: a label has no c, as ome-zarr-py's
    sample labels and ngio's have none."""
    label = "".join(a for a in image if a in axes or a != "c")
    if (any(image.get(a) != n for a, n in zip(axes, shape, strict=True))
            or any(image[a] != 1 for a in label if a not in axes)
            or [a for a in label if a in axes] != list(axes)):
        sizes = tuple(image.values())
        raise BadValueError(f"labels of shape {shape} ({axes}) do not fit the image {into} "
                            f"of shape {sizes} ({''.join(image)})")
    return label


def _expanded(data: da.Array, axes: str, chunks: tuple[int, ...] | None, label_axes: str
              ) -> tuple[da.Array, tuple[int, ...] | None]:
    """``data`` and ``chunks`` with a length-1 axis for each of ``label_axes`` not in
    ``axes``."""
    where = tuple(slice(None) if a in axes else None for a in label_axes)
    if chunks is not None:
        given = iter(chunks)
        chunks = tuple(next(given) if a in axes else 1 for a in label_axes)
    return data[where], chunks


def check_label_fits(into: str | os.PathLike[str], shape: tuple[int, ...], axes: str) -> None:
    """Raise, reading metadata alone, where labels of ``shape`` (``axes``) cannot go into the
    OME-Zarr image store ``into`` (:func:`write_ome_zarr`'s ``into``): of axes or sizes
    other than the image's, an image pyramid that no stride gives, or a ``labels`` group
    that cannot list them."""
    into = image_group(into)
    fmt, levels, _ = _image_of(into)
    axes = _label_axes(_checked_axes(axes, len(shape)), tuple(shape), levels[0], into)
    _strides([tuple(level[a] for a in axes) for level in levels], str(into))
    _list_label(into / "labels", None, fmt)


def check_label_name(name: Any) -> str:
    """``name`` if it may name a label under an image's ``labels/``; one line otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadValueError(f"label name {shown(name)}; accepted: letters, digits, _ . - (not "
                            "starting with . or -), at most 100")
    return name


def write_ome_zarr(
    mask: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    pixel_size: tuple[float, ...] | None = None,
    axes: str = "yx",
    name: str | None = None,
    into: str | os.PathLike[str] | None = None,
    like: str | os.PathLike[str] | None = None,
    provenance: dict[str, Any] | None = None,
    chunks: tuple[int, ...] | None = None,
    overwrite: bool = False,
    frame_interval: float | None = None,
) -> Path:
    """Write ``mask`` (uint8 0/1, or integer labels) as an OME-Zarr image-label with a
    pyramid, chunk by chunk (a dask array is never computed whole).

    Parameters
    ----------
    mask
        A dask or numpy array of an integer or bool dtype (bool is written as uint8).
    path
        The new store (a folder, by convention ``*.zarr``); None when ``into`` is given.
    pixel_size
        µm per spatial axis (``z``, ``y``, ``x`` as in ``axes``); with ``into`` or
        ``like``, by default the image's level 0 scale, translation and units, as the image
        states them; given, the image's translation in µm.
    axes
        One letter per axis of ``mask`` from ``tczyx``, in that order, ending in ``yx``.
    name
        The label's name (``multiscales`` name; with ``into``, the folder under
        ``labels/``, default ``mask``).
    into
        An OME-Zarr image store to write the labels into, as ``labels/<name>`` of its image
        (of a bioformats2raw store's first image, ``0/labels/<name>``); the image itself is
        never written. The label has the image's levels and axes, of length 1
        where ``mask`` lacks them, but the image's channels (``c``).
    like
        An OME-Zarr image the new store at ``path`` lies over: it takes the image's axes,
        scale, translation and units as ``into`` does (not its levels).
    provenance
        JSON-able dict stored under the ``maskprep`` attribute (as
        :func:`napari_maskprep.io.provenance.provenance` makes it).
    chunks
        Chunk shape of level 0 (default: one plane, up to 1024×1024).
    overwrite
        Replace an existing store (or label) of that name if maskprep wrote it.
    frame_interval
        Seconds between the time frames (axis ``t``) of a new store not ``like`` an image
        (which gives its own): its ``t`` scale, in seconds; None: a scale of 1, no unit.

    Returns the path of the written store or label group.
    """
    import dask.array as da

    data = mask if isinstance(mask, da.Array) else da.from_array(np.asarray(mask))
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind not in "iu":
        raise BadTypeError(f"mask of dtype {data.dtype}; accepted: a mask (uint8 0/1) or "
                           "integer labels")
    axes = _checked_axes(axes, data.ndim)
    sizes = _checked_pixel_size(pixel_size, axes)
    if chunks is not None and (len(chunks) != data.ndim or not all(
            isinstance(c, int | np.integer) and c > 0 for c in chunks)):
        raise BadValueError(f"chunks={chunks!r}; accepted: {data.ndim} positive integers")
    if (path is None) == (into is None) or (into is not None and like is not None):
        raise BadValueError("give either path (a new store, optionally like an image) or "
                            "into (an image store), not both or neither")
    from ome_zarr.format import FormatV04

    given = None if into is None else Path(into)
    into = None if into is None else image_group(into)  # a bioformats2raw store's image

    label: dict[str, Any] = {}
    if data.dtype == np.uint8:  # a mask: its one label gets a fixed colour
        label["colors"] = [{"label-value": 1, "rgba": LABEL_COLOR}]
    frame = _frame(axes, sizes)
    if "t" in axes and check_frame_interval(frame_interval) is not None:
        frame["t"] = (float(frame_interval), 0.0, "second")
    if into is not None or like is not None:
        image = into if into is not None else Path(like)
        fmt, levels, whole = _image_of(image)
        label_axes = _label_axes(axes, data.shape, levels[0], image)
        data, chunks = _expanded(data, axes, chunks, label_axes)
        # The image's scale, offset and units (nanometres stay nanometres) but the sizes
        # given: napari-ome-zarr lays each layer by its numbers as they are
        frame = {a: _at_size(whole[a], frame[a][0]) if sizes and a in axes and a in "zyx"
                 else whole[a] for a in label_axes}
        axes = label_axes
    if into is not None:
        name = "mask" if name is None else name
        check_label_name(name)
        shapes = [tuple(level[a] for a in axes) for level in levels]
        label["source"] = {"image": "../../"}
        target = into / "labels" / name
        _list_label(target.parent, None, fmt)
    else:
        target, fmt = Path(path), FormatV04()
        name = target.stem if name is None else name
        shapes = _pyramid_shapes(data.shape)
    label["version"] = fmt.version
    strides = _strides(shapes, str(into or target))
    if chunks is None:
        chunks = _default_chunks(data.shape, axes)
    made = not target.parent.exists()  # an image's labels/ is made only with a label in it
    try:
        _write_store(data, target, fmt, axes, frame, name, label, provenance, chunks,
                     overwrite, strides, shapes)
    except BaseException:
        if made and into is not None:
            with contextlib.suppress(OSError):  # left empty by the failed write
                target.parent.rmdir()
        raise
    if into is not None:
        _list_label(into / "labels", name, fmt)
        _consolidate_again(dict.fromkeys([given, into]))
    return target


def _consolidate_again(folders: Any) -> None:
    """Consolidate again the metadata of each of ``folders`` (a store, its image) that has
    consolidated metadata: zarr reads that index instead of the nodes themselves, so a
    label written beside the image was missing to zarr, napari-ome-zarr and maskprep info
    (zarr writes each file atomically)."""
    import zarr

    for folder in folders:
        root = folder / "zarr.json"
        if (folder / ".zmetadata").is_file():
            zarr.consolidate_metadata(folder.absolute(), zarr_format=2)
        elif root.is_file() and json.loads(root.read_bytes()).get("consolidated_metadata"):
            with unheard(UserWarning):  # that v3 consolidation is no part of its spec
                zarr.consolidate_metadata(folder.absolute(), zarr_format=3)


def _write_store(data: da.Array, target: Path, fmt: Any, axes: str,
                 frame: dict[str, tuple[float, float, Any]], name: str, label: dict,
                 provenance: dict | None, chunks: tuple[int, ...], overwrite: bool,
                 strides: list[tuple[int, ...]], shapes: list[tuple[int, ...]]) -> None:
    import zarr

    exists = target.exists() or target.is_symlink()
    if exists and not overwrite:
        raise OutputExistsError(f"{target} exists; it is left as it is (pass overwrite=True "
                                "to replace a store maskprep wrote)")
    if exists and not written_by_maskprep(target):
        raise OutputExistsError(f"{target} exists and was not written by maskprep; it is "
                                "never replaced")
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
    try:
        # By its absolute path: a cluster's workers write the chunks from folders of their own
        group = zarr.open_group(tmp.absolute(), mode="w", zarr_format=fmt.zarr_format)
        _write_levels(group, data, axes, chunks, shapes, strides)
        _write_metadata(group, fmt, axes, strides, frame, name, label, provenance)
        if exists:  # a folder cannot be renamed over another: swapped in its place
            replace_folder(tmp, target)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _writer(*names: str) -> list[Any]:
    """Functions of ome-zarr's writer. Its first import makes a deprecated Scaler (ome-zarr
    0.18), which napari showed the person as a warning on their first tiled Apply: an
    import's deprecations are not theirs, dropped for this thread's import alone
    (catch_warnings would change every thread's filters while it imports)."""
    with unheard(DeprecationWarning):
        from ome_zarr import writer
    return [getattr(writer, name) for name in names]


def _list_label(labels: Path, name: str | None, fmt: Any) -> None:
    """Add ``name`` to the ``labels`` list of an image's ``labels`` group, made if new;
    with ``name`` None, only check that the group, if there, can list one (nothing is
    written: a write that fails after it leaves the image's store as it was)."""
    import zarr

    add_metadata, get_metadata = _writer("add_metadata", "get_metadata")

    inside = labels.resolve().parent == labels.parent.resolve()  # a link may lead anywhere
    if not inside or labels.exists() and not labels.is_dir():
        raise OutputExistsError(f"{labels} is {'a file' if inside else 'a link out of the store'}"
                                "; it is left as it is (accepted: no labels, or a labels folder "
                                "inside the image store)")
    if name is None and not labels.exists():
        return
    # zarr reads a folder's v3 metadata alone: one written beside v2's hides its labels
    other = next((n for n in (("zarr.json",) if fmt.zarr_format == 2 else (".zgroup", ".zattrs"))
                  if (labels / n).exists()), None)
    if other is not None:
        raise BadValueError(f"{labels}: a zarr v{5 - fmt.zarr_format} group ({other}) in an "
                            f"image of zarr v{fmt.zarr_format}; it is left as it is (accepted: "
                            "no labels, or labels of the image's zarr format)")
    try:
        group = zarr.open_group(labels, mode="a", zarr_format=fmt.zarr_format)
        names = get_metadata(group).get("labels", [])
    except (ValueError, TypeError, RecursionError) as exc:  # JSON, or not a mapping
        raise BadValueError(f"{labels}: its zarr metadata is damaged "
                            f"({str(exc).splitlines()[0][:80]}); it is left as it is") from None
    if not isinstance(names, list):  # list('seg2') listed the labels s, e, g and 2
        raise BadValueError(f"{labels}: its labels are {shown(names)}, not a list of names; "
                            "accepted: OME-NGFF's list (it is left as it is)")
    if name is None:
        return
    if name not in names:
        names.append(name)
    extra = {"version": fmt.version} if fmt.zarr_format == 3 else {}
    add_metadata(group, {**extra, "labels": names}, fmt=fmt)


class RegionNotRestoredError(MaskprepError, OSError):
    """A region write failed and what it had replaced could not all be written back: the
    store may hold part of the edit, where the message says."""


def _region_arrays(path: Path, origin: tuple[int, ...], shape: tuple[int, ...]
                   ) -> tuple[Any, np.dtype[Any],
                              list[tuple[str, Any, list[int], list[int], np.ndarray]]]:
    """The store's group, its dtype, and for each level the box holding level 0's pixels
    from ``origin`` over ``shape``: (its dataset's path, its array, lo, hi, the stride
    from level 0), levels the box misses left out."""
    import zarr

    from .lazy import open_lazy

    levels = open_lazy(path).levels  # checks the metadata: an OME-Zarr multiscale
    shapes = [tuple(level.shape) for level in levels]
    if (len(origin) != len(shapes[0]) or len(shape) != len(shapes[0]) or any(
            not 0 <= o <= n - m for o, n, m in zip(origin, shapes[0], shape, strict=True))):
        raise BadValueError(f"a region of shape {shape} at {origin} does not lie in "
                            f"{path} (level 0 of shape {shapes[0]})")
    group = zarr.open_group(path, mode="r+")
    ome = ngff_attributes(group)
    if "image-label" not in ome:
        raise BadValueError(f"{path} is an OME-Zarr image, not an image-label (a mask or "
                            "labels): images are never written")
    boxes = []
    factor = np.ones(len(shape), int)
    for number, dataset in enumerate(ome["multiscales"][0]["datasets"]):
        if number:
            factor *= _strides(shapes[number - 1:number + 1], str(path))[0]
        # Pixel i of this level is pixel i * factor of level 0.
        lo = [-(-o // f) for o, f in zip(origin, factor, strict=True)]
        hi = [min(n, -(-(o + m) // f))
              for o, m, f, n in zip(origin, shape, factor, shapes[number], strict=True)]
        if all(a < b for a, b in zip(lo, hi, strict=True)):
            array = group[dataset["path"]].with_config({"write_empty_chunks": True})
            boxes.append((dataset["path"], array, lo, hi, factor.copy()))
    return group, levels[0].dtype, boxes


class SavedRegion:
    """What a region write replaces in an OME-Zarr image-label: the box of each level it
    touches, with its values, and the store's provenance (:func:`region_before`).
    :meth:`put_back` writes them back, so a failed edit leaves the store as it was."""

    def __init__(self, path: Path, origin: tuple[int, ...], shape: tuple[int, ...]) -> None:
        self.path, self.origin, self.shape = path, origin, shape
        group, _, boxes = _region_arrays(path, origin, shape)
        self._levels = [(name, lo, hi, np.asarray(array[_box(lo, hi)]))
                        for name, array, lo, hi, _ in boxes]
        self._provenance = group.attrs.get(PNG_KEY)
        self.touched: set[str] = set()  # levels (their paths) and "provenance" written to

    def put_back(self, failure: BaseException) -> None:
        """Write back each level's box and the provenance :func:`write_region` wrote to
        (``touched``) after ``failure``; raises :class:`RegionNotRestoredError` naming the
        boxes left as the failure left them (each is tried: one failing does not stop the
        others)."""
        left = self._written_back()
        if left:
            what = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
            raise RegionNotRestoredError(
                f"{self.path} may hold part of the edit in {', '.join(left)}: writing the "
                f"region failed ({type(failure).__name__}{': ' + what if what else ''}) and "
                "so did writing back what it replaced there; check that part") from failure

    def _written_back(self) -> list[str]:
        """Each touched level's box and the provenance written back; those that could not
        be."""
        import zarr

        levels = [x for x in self._levels if x[0] in self.touched]
        where = [f"level {name} [{', '.join(f'{a}:{b}' for a, b in zip(lo, hi, strict=True))}]"
                 for name, lo, hi, _ in levels]
        try:
            group = zarr.open_group(self.path, mode="r+")
        except Exception:
            return where + ["its provenance"] * ("provenance" in self.touched)
        left = []
        for (name, lo, hi, values), box in zip(levels, where, strict=True):
            try:
                array = group[name].with_config({"write_empty_chunks": True})
                _write_whole_chunks(array, lo, hi, values)
                os.utime(self.path / name)
            except Exception:
                left.append(box)
        if "provenance" in self.touched:
            try:
                if self._provenance is None:
                    group.attrs.pop(PNG_KEY, None)
                else:
                    group.attrs[PNG_KEY] = self._provenance
            except Exception:
                left.append("its provenance")
        return left


def _box(lo: list[int], hi: list[int]) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))


def region_before(path: str | os.PathLike[str], origin: tuple[int, ...],
                  shape: tuple[int, ...]) -> SavedRegion:
    """What writing a region of ``shape`` at ``origin`` into the OME-Zarr image-label at
    ``path`` would replace (each level's box, the provenance), to put back should the
    write, or what is done after it, fail."""
    return SavedRegion(Path(path), tuple(int(o) for o in origin),
                       tuple(int(n) for n in shape))


def write_region(path: str | os.PathLike[str], origin: tuple[int, ...], region: Any, *,
                 provenance: dict[str, Any] | None = None,
                 saved: SavedRegion | None = None) -> int:
    """Write ``region`` into level 0 of the OME-Zarr image-label (a mask or labels, as
    :func:`write_ome_zarr` writes it) at ``path`` with its first pixel at ``origin``, then
    the same box of every pyramid level above (by stride, as the pyramid was made).

    Only the chunks (shards) the box touches are read and written, each whole, and zarr's
    local store puts each one atomically (a temporary file renamed over it), so a run
    that dies leaves every chunk old or new, never torn, and the rest of the store as it
    was. ``provenance`` (what made the store now, with the edit) then replaces the
    store's own. Should a write fail (a chunk, a level, the provenance), what the box held
    at every level is written back (:class:`SavedRegion`) and the error raised, or
    :class:`RegionNotRestoredError` when that too fails; ``saved``, what
    :func:`region_before` read, is given by a caller that puts it back itself, here or
    after what it does next fails. Returns how many chunks were written, all levels
    together.
    """
    path = Path(path)
    region = np.asarray(region)
    origin = tuple(int(o) for o in origin)
    group, dtype, boxes = _region_arrays(path, origin, region.shape)
    if region.dtype != dtype:
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        if (region.dtype.kind not in "biu" or info is None
                or region.min(initial=0) < info.min or region.max(initial=0) > info.max):
            raise BadTypeError(f"a region of dtype {region.dtype} with values up to "
                               f"{region.max(initial=0)}; {path} holds {dtype}")
        region = region.astype(dtype)
    before = saved if saved is not None else region_before(path, origin, region.shape)
    written = 0
    try:
        for name, array, lo, hi, factor in boxes:
            values = region[tuple(slice(a * f - o, None, f)
                                  for a, f, o in zip(lo, factor, origin, strict=True))]
            values = values[tuple(slice(0, b - a) for a, b in zip(lo, hi, strict=True))]
            before.touched.add(name)
            written += _write_whole_chunks(array, lo, hi, values)
            # A chunk file replaced deep inside leaves the level's folder as it was: touch
            # it, so arrays opened afterwards (open_lazy keys its dask arrays by these
            # times) are new to any cache of chunks read before.
            os.utime(path / name)
        if provenance is not None:
            before.touched.add("provenance")
            group.attrs[PNG_KEY] = provenance
    except Exception as exc:
        if saved is None:
            before.put_back(exc)
        raise
    return written


def _write_whole_chunks(array: Any, lo: list[int], hi: list[int], values: np.ndarray) -> int:
    """``values`` into ``array[lo:hi]``, by reading and rewriting whole chunks (shards)."""
    unit = tuple(getattr(array, "shards", None) or array.chunks)
    start = [a // c * c for a, c in zip(lo, unit, strict=True)]
    stop = [min(n, -(-b // c) * c) for b, c, n in zip(hi, unit, array.shape, strict=True)]
    whole = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    block = np.asarray(array[whole])
    block[tuple(slice(a - s, b - s) for a, b, s in zip(lo, hi, start, strict=True))] = values
    array[whole] = block
    return int(math.prod(-(-(b - a) // c) for a, b, c in zip(start, stop, unit, strict=True)))
