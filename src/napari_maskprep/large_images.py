"""One image larger than memory through a recipe: opened lazily (``io.open_lazy``), run
tiled (``engine.tiled``), streamed to an OME-Zarr store or a tiled BigTIFF, never whole in
memory.

:func:`needs_tiling` tells :mod:`.batch` which inputs go this way: an OME-Zarr store always,
a TIFF whose pixels exceed the image budget (a share of the memory the run may use, since
an in-memory run holds several arrays of the image's size). The chunks run on the active
dask scheduler: threads in this process, or the workers of a ``dask.distributed`` client,
which then share the chunks of one image.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from .core.arrays import checksum
from .core.errors import BadValueError, MaskprepError, MaskprepWarning, RecipeError, at_step
from .core.model_files import ModelFile
from .core.registry import get_op
from .core.run_callbacks import compute
from .core.thread_warnings import heard, unheard
from .core.units import format_pixel_size
from .engine.planes import per_plane_line
from .engine.tiled import check_tiled, one_thread_each, plane_steps
from .engine.tiled_components import count_objects as count_tiled_objects
from .io import (
    ImageReadError,
    check_chunk_count,
    check_label_fits,
    chunk_count,
    image_group,
    image_layout,
    is_lazy_path,
    keep_tiff_open,
    open_lazy,
    pixel_size_of_axes,
    provenance,
    read_frame_interval,
    read_pixel_size,
    resolve_channel,
    series_numbers,
    write_bigtiff,
    write_ome_zarr,
)
from .recipe import Recipe, Step, resolve_units

__all__ = ["DEFAULT_CHUNK", "MEMORY_PER_IMAGE_BYTE", "check_pixel_size_axes", "check_png_fits",
           "check_runs_fit", "check_steps_fit", "check_tiled_runs", "count_frames",
           "count_objects", "image_budget", "input_checksum", "lazy_pixel_size",
           "mask_pixel_size", "needs_tiling", "run_by_frame", "run_file_tiled"]

DEFAULT_CHUNK = 2048  # px a side: 4 MP chunks, a few per worker in memory at once
# An in-memory run holds the image and a few arrays of its size (float32 Gaussian,
# labels): an image gets at most this fraction of the memory the run may use.
MEMORY_PER_IMAGE_BYTE = 8
# Chunks a side below the default may cut an image into: each chunk of each step is a
# dask task of its own, and 100 000 chunks of 64 px ran a 400 MP image 5x slower.
MAX_SMALL_CHUNKS = 2**14
# Files whose colours the header checks do not read (their frame is a plane, whatever they hold)
_COLOURS_UNREAD = (".png", ".jpg", ".jpeg")


def image_budget(memory: int) -> int:
    """The largest image (bytes of pixels) run in memory when ``memory`` bytes may be used."""
    return memory // MEMORY_PER_IMAGE_BYTE


def needs_tiling(path: Path, budget: int) -> bool:
    """Whether ``path`` runs tiled: an OME-Zarr store, or a TIFF of more than ``budget``
    bytes of pixels."""
    return is_lazy_path(path, budget)


def lazy_pixel_size(path: Path, series: int | None = None) -> tuple[float, ...] | None:
    """The pixel size (µm per spatial axis) the store or file (its image ``series``)
    states, or None."""
    with open_lazy(path, series=series) as image:
        return image.pixel_size


def mask_pixel_size(given: tuple[float, ...] | None, stated: tuple[float, ...] | None
                    ) -> tuple[float, ...] | None:
    """The pixel size a mask carries: the one given for the run (one value stands for y
    and x; z spacing only where given), else the one its input states."""
    if given is None:
        return stated
    return given * 2 if len(given) == 1 else given


def check_runs_fit(recipe: Recipe, runs: Iterable[tuple[Path, int | None]],
                   given: tuple[float, ...] | None, tiled: frozenset[Path],
                   channel: int | str | None = None) -> None:
    """Before a batch runs: the pixel size ``given`` has no more values than each input
    has spatial axes (:func:`check_pixel_size_axes`), and ``recipe`` runs on each input's
    axes and channels, each of its sizes in micrometres a number of pixels there
    (:func:`check_steps_fit`)."""
    runs = list(runs)
    check_pixel_size_axes(runs, given)
    check_steps_fit(recipe, runs, given, tiled, channel)


def check_png_fits(runs: Iterable[tuple[Path, int | None]], tiled: frozenset[Path],
                   channel: int | str | None = None) -> None:
    """Raise :class:`BadValueError` before a batch writing PNG masks runs if one of
    ``runs`` ((input, series) pairs) has a mask no PNG holds, from the headers: an input
    run tiled (written as tif or zarr), or one whose mask has axes beyond y and x (a stack,
    a volume, a time-lapse), which failed once its image was read. An input whose header
    or layout its run refuses is left to its run, which says why."""
    if tiled:
        raise BadValueError(f"{min(tiled)} runs tiled (larger than memory, or OME-Zarr) and "
                            "is written as tif or zarr; got --format png")
    for path, series in runs:
        if path.suffix.lower() in _COLOURS_UNREAD:
            continue  # one plane, whatever its colours
        try:
            with open_lazy(path, series=series) as image:
                data, axes = _as_spatial(image, channel)
        except (ImageReadError, BadValueError):
            continue
        if axes.rstrip("c") != "yx":
            where = path if series is None else f"{path} (series {series})"
            raise BadValueError(f"{where}: an image of shape {tuple(data.shape)} (axes "
                                f"{axes}), whose mask is more than the one plane a PNG holds; "
                                "accepted for it: --format tif or --format zarr")


def check_pixel_size_axes(runs: Iterable[tuple[Path, int | None]],
                          given: tuple[float, ...] | None) -> None:
    """Raise :class:`BadValueError` if ``given`` has more values than an input of ``runs``
    ((input, series) pairs) has spatial axes, from the headers: a z, y, x pixel size of a
    2D image converts none of its sizes (:func:`~.recipe.resolve_units` refuses it) and is
    no pixel size for its mask, whatever the recipe. A file whose header does not read is
    left to its run, which says what is wrong."""
    for path, series in runs if given is not None and len(given) > 2 else ():
        if path.suffix.lower() in _COLOURS_UNREAD:
            spatial = "yx"  # whatever its colours
        else:
            try:  # as its run lays it out: tifffile's unnamed pages are z; channel 0 has
                # the spatial axes of any channel (a grey image is its own channel 0)
                with open_lazy(path, series=series) as image:
                    spatial = "".join(a for a in _as_spatial(image, 0)[1] if a in "zyx")
            except (ImageReadError, BadValueError):
                continue
        if len(given) > len(spatial):
            raise BadValueError(f"{path}: the pixel size {format_pixel_size(given)} has "
                                f"{len(given)} values; the image has the spatial axes "
                                f"{', '.join(spatial)}; accepted: 1 value, or "
                                f"{len(spatial)} (one per axis; run 2D and 3D images apart)")


def check_steps_fit(recipe: Recipe, runs: Iterable[tuple[Path, int | None]],
                    given: tuple[float, ...] | None, tiled: frozenset[Path],
                    channel: int | str | None = None) -> None:
    """Raise :class:`BadValueError` naming the input if a step of ``recipe`` works on 2D
    data only and the input is a volume (without ``per_plane``), or a size in micrometres
    is no number of pixels on it (an area in um2 where a step counts voxels, a length in
    um on voxels that are not cubic, ...), or a network takes another number of channels
    than reach it (:func:`_check_network_channels`), as each of its runs would refuse it:
    read from the headers of ``runs`` ((input, series) pairs), at the pixel size
    ``given``, else at the one each run reads (the lazy reader's for ``tiled`` inputs). An
    input whose header or layout its run refuses, or that states no pixel size (or only y
    and x of a stack), is left to its run, which fails that input alone."""
    flat = [(number, step) for number, step in enumerate(recipe.steps, start=1)
            if step.enabled and not step.per_plane and 3 not in step.spec.ndim]
    networks = _network_steps(recipe)
    if not (flat or recipe.uses_units or networks):
        return
    for path, same_file in itertools.groupby(runs, key=lambda run: run[0]):
        with keep_tiff_open(path):  # a plate's header is parsed once, for all its series
            headers = [(series, *_frame_of(path, series, channel, path in tiled))
                       for _, series in same_file]
        for series, frame, spatial, stated in headers:
            where = path if series is None else f"{path} (series {series})"
            if frame is not None and spatial == 3 and flat:
                number, step = flat[0]
                raise BadValueError(f"{where}: {at_step(number, step.op)}: "
                                    f"{per_plane_line(step.spec, 3, frame.shape[:3])}")
            if frame is not None and path.suffix.lower() not in _COLOURS_UNREAD:
                _check_network_channels(networks, frame, spatial, where)
            used = stated if given is None else given
            if frame is None or used is None or (given is None and 1 < len(used) < spatial):
                continue
            try:
                resolve_units(recipe.steps, used, frame)
            except RecipeError as exc:
                raise BadValueError(f"{where}: {exc}") from None


def _network_steps(recipe: Recipe) -> list[tuple[int, Step, int, list[tuple[int, Step]]]]:
    """(number, step, the channel count its model fixes, the enabled steps before it) of
    each enabled step whose model fixes its input's channel count."""
    enabled = [(number, step) for number, step in enumerate(recipe.steps, start=1)
               if step.enabled]
    return [(number, step, channels, enabled[:at])
            for at, (number, step) in enumerate(enabled)
            if (channels := _model_channels(step))]


def _model_channels(step: Step) -> int | None:
    """The channel count ``step``'s model fixes for its input, from the model parameter's
    ``input_channels`` hint on the model as the op loads it (a network is not opened)."""
    for param in step.spec.model_params:
        fixed = param.hints.get("input_channels")
        if fixed is not None and step.params.get(param.name) is not None:
            return fixed(param.hints["load"](ModelFile.from_plain(step.params[param.name])))
    return None


def _channels_after(steps: list[tuple[int, Step]], dtype: np.dtype, channels: int
                    ) -> tuple[int | None, tuple[int, Step] | None]:
    """The channel count ``steps`` leave of an image of ``channels`` and ``dtype``, and
    the last of them to change it: from a small blank probe run through the image steps,
    as the tiled run learns its output's axes (preprocess.to_gray, of channels "any",
    makes one); a mask or labels have one. None where a step needs what the plan has not
    (sizes in micrometres, other inputs), or refuses the probe: its run says."""
    probe = np.zeros((8, 8, channels) if channels > 1 else (8, 8), dtype)
    changed = None
    with unheard(MaskprepWarning):  # a blank probe is not the image
        for number, step in steps:
            if probe.ndim == 2:  # one channel stays one
                break
            if step.spec.output != "image" or step.spec.channels == "grey":
                return 1, (number, step)  # a mask or labels, or the colours made grey
            if step.spec.inputs or step.spec.has_quantities(step.params):
                return None, None
            try:
                out = step.spec(probe, **step.params)
            except MaskprepError:
                return None, None
            if out.shape != probe.shape:
                changed = (number, step)
            probe = out
    return (probe.shape[-1] if probe.ndim == 3 else 1), changed


def _check_network_channels(networks: list[tuple[int, Step, int, list[tuple[int, Step]]]],
                            frame: Any, spatial: int, where: str | Path) -> None:
    """Raise :class:`BadValueError` if a network of ``networks`` (:func:`_network_steps`)
    takes another channel count than reaches it from ``frame`` (one frame of the input as
    its run lays it out, of ``spatial`` spatial axes; a last axis beyond them holds its
    colours), as :func:`~.kernels.networks.run_network` would refuse each run."""
    image = frame.shape[-1] if frame.ndim > spatial else 1
    for number, step, channels, before in networks:
        reaching, changed = _channels_after(before, frame.dtype, image)
        if reaching in (None, channels):
            continue
        made = "" if changed is None else (f", {reaching} after "
                                           f"{at_step(changed[0], changed[1].op)}")
        hint = (" (of a colour image: preprocess.to_gray or preprocess.color_channel before "
                "the step)" if channels == 1 else "")
        raise BadValueError(f"{where}: {at_step(number, step.op)}: the network takes "
                            f"{channels} channel(s); the image has {image}{made}; accepted: "
                            f"an image of {channels} channel(s){hint}")


def check_tiled_runs(steps: Sequence[Step], paths: Iterable[Path], object_size: int | None,
                     channel: int | str | None = None, series: int | str | None = None
                     ) -> None:
    """Raise :class:`RecipeError` naming the first of ``paths`` (the inputs that run
    tiled) that ``steps`` cannot run tiled on (:func:`~.engine.tiled.check_tiled`). A step
    run plane by plane (``per_plane``) runs on one plane (a 2D image, or each 2D frame of a
    time-lapse) as in memory: for it the headers are read (of each series a file runs,
    :func:`~.io.series_numbers` for ``series`` "all"); a header its run refuses leaves the
    step refused."""
    planes = any(step.enabled and step.per_plane for step in steps)
    for path in sorted(paths):
        for where, frame in _frames_of(path, series, channel) if planes else [(path, None)]:
            check_tiled(steps if frame is None else plane_steps(steps, frame),
                        f"{where} runs tiled (larger than memory, or OME-Zarr), but ",
                        object_size=object_size)


def _frames_of(path: Path, series: int | str | None, channel: int | str | None
               ) -> list[tuple[str | Path, Any]]:
    """(the input, naming its series; one frame of it, see :func:`_frame_of`) of each
    series of ``path`` a run takes: ``series``, or each with "all" (a plate's may differ
    in axes: a time-lapse of planes beside a z-stack)."""
    with keep_tiff_open(path):  # a plate's header is parsed once, for all its series
        numbers = series_numbers(path) if series == "all" else [series]
        return [(path if n is None else f"{path} (series {n})",
                 _frame_of(path, n, channel, True)[0]) for n in numbers]


def _frame_of(path: Path, series: int | None, channel: int | str | None, tiled: bool
              ) -> tuple[Any, int, tuple[float, ...] | None]:
    """One frame of the input as its run gives it to the recipe (its pixels not read),
    its number of spatial axes and the pixel size its run reads; (None, 0, None) if its
    run refuses it (and says why)."""
    if path.suffix.lower() in _COLOURS_UNREAD:
        return np.empty((1, 1)), 2, None  # a plane, whatever its colours; no pixel size
    try:
        with open_lazy(path, series=series) as image:
            data, axes = _as_spatial(image, channel)
            stated = image.pixel_size if tiled else read_pixel_size(path, series)
    except (ImageReadError, BadValueError):
        return None, 0, None
    frame = data[0] if axes.startswith("t") else data
    return frame, sum(a in "zyx" for a in axes), stated


def _as_spatial(image: Any, channel: int | str | None = None) -> Any:
    """The lazy image's data and axes as ops take them (:func:`~.io.image_layout`), of
    ``channel`` only if given (a name: of the file's channel names)."""
    number = resolve_channel(channel, image.channel_names, str(image.path))
    return image_layout(image.data, image.axes, str(image.path), number)


def count_objects(result: np.ndarray) -> int:
    """A mask (uint8) in memory: its connected objects (full connectivity; in each volume
    of a 4D+ result, as a per_plane step made it); labels: distinct ids."""
    if result.dtype == np.uint8:
        if result.ndim > 3:
            return sum(count_objects(volume) for volume in result.reshape(-1, *result.shape[-3:]))
        return int(get_op("refine.label")((result > 0).view(np.uint8)).max(initial=0))
    return int(np.count_nonzero(np.bincount(result.ravel())[1:]))


def count_frames(data: Any, axes: str) -> tuple[int, int]:
    """(objects, foreground pixels) of a tiled result of ``axes``; a time-lapse's frame by
    frame (an object is counted in each frame it is in, as frames are segmented)."""
    if not axes.startswith("t"):
        return count_tiled_objects(data)
    if any(len(sizes) > 1 for sizes in data.chunks[1:]):  # frames in pieces: each tiled
        counts = [count_tiled_objects(frame) for frame in data]
    else:  # chunks of whole frames (the usual layout): counted in memory, in one pass
        blocks = data.to_delayed().ravel()
        frames = dask.delayed(lambda block: [(count_objects(f), int(np.count_nonzero(f)))
                                             for f in block])
        counts = [c for block in compute(*map(frames, blocks)) for c in block]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def run_by_frame(recipe: Recipe, data: Any, axes: str, chunk: int,
              pixel_size: tuple[float, ...] | None, object_size: int | None) -> Any:
    """The recipe on each time frame of ``data`` (a dask array of ``axes``, t first), as
    the frames are what a person tuned it on. A frame of at most ``chunk`` a side runs in
    memory, one frame a task (the first is run here to learn the result's dtype); a larger
    one runs tiled on its own."""
    spatial = len(axes) - 1 - axes.endswith("c")
    if max(data.shape[1:1 + spatial]) > chunk:
        tiles = (chunk,) * spatial + (-1,) * (data.ndim - 1 - spatial)
        return da.stack([recipe.run(one.rechunk(tiles), pixel_size=pixel_size,
                                    object_size=object_size) for one in data])
    first = recipe.run(compute(data[0])[0], pixel_size=pixel_size)

    @one_thread_each
    def run(block: np.ndarray) -> np.ndarray:
        result = recipe.run(block[0], pixel_size=pixel_size)
        if result.dtype != first.dtype:
            raise BadValueError(f"a frame gave {result.dtype} where the first gave "
                                f"{first.dtype}; accepted: frames giving the same kind of "
                                "result (all masks or all labels)")
        return result[None]

    frames = data.rechunk((1, *data.shape[1:]))
    return frames.map_blocks(run, dtype=first.dtype, chunks=(1, *first.shape),
                             drop_axis=list(range(first.ndim + 1, data.ndim)))


def input_checksum(path: Path, channel: int | str | None = None,
                   series: int | None = None) -> str:
    """The checksum of the image at ``path`` (of ``channel`` and ``series`` if given) as a
    tiled run sees it (the one its mask's provenance records), read band by band, never
    whole, by this process's threads (through a cluster, each band went to a worker and
    back)."""
    with open_lazy(path, series=series) as image:
        return checksum(_as_spatial(image, channel)[0], scheduler="threads")


def _check_chunk_side(shape: tuple[int, ...], chunk: int, path: Path) -> None:
    """Refuse a ``chunk`` side below the default cutting ``shape`` into more than
    :data:`MAX_SMALL_CHUNKS` chunks, naming the smallest side that does not."""
    count = chunk_count(shape, (chunk,) * len(shape))
    if chunk >= DEFAULT_CHUNK or count <= MAX_SMALL_CHUNKS:
        return
    sides = range(chunk + 1, DEFAULT_CHUNK)  # fewer chunks as the side grows
    side = sides.start + bisect.bisect_left(
        sides, True, key=lambda s: chunk_count(shape, (s,) * len(shape)) <= MAX_SMALL_CHUNKS)
    size = " x ".join(map(str, shape))
    raise BadValueError(f"{path}: --chunk {chunk} cuts its {size} px into {count} chunks, "
                        f"over the {MAX_SMALL_CHUNKS} a run takes below the default "
                        f"{DEFAULT_CHUNK} (each chunk costs time of its own); accepted: "
                        f"--chunk {side} or more")


def run_file_tiled(recipe: Recipe, path: Path, out: Path, *, chunk: int = DEFAULT_CHUNK,
                   recipe_text: str | None = None, pixel_size: tuple[float, ...] | None = None,
                   object_size: int | None = None, input_checksum: str | None = None,
                   channel: int | str | None = None, series: int | None = None
                   ) -> tuple[tuple[int, int, int], list[str]]:
    """Run ``recipe`` tiled on the image at ``path`` and write the result to ``out``
    (``.zarr``: an OME-Zarr image-label with a pyramid; ``labels/NAME`` of the input
    store's image (:func:`~.io.image_group`): the same inside it; ``.tif``: a tiled
    BigTIFF), with
    provenance, replacing only a file maskprep wrote. Returns the result's (objects,
    foreground pixels, pixels), counted from what was written, and the run's warnings.
    ``pixel_size`` converts sizes given in micrometres and is the one the mask carries
    (None: the file's own, see :func:`mask_pixel_size`); ``object_size`` lets steps that
    split objects run tiled; ``input_checksum``, the input's if already computed (it is
    not read twice); ``channel``, the one to segment of a file with channels;
    ``series``, the image to run of an OME-TIFF of several (positions, wells)."""
    text = recipe.dumps() if recipe_text is None else recipe_text
    into = out.parent == image_group(path) / "labels"  # of the store's image
    if out.suffix not in (".zarr", ".tif") and not into:
        raise BadValueError(f"{path}: an image run tiled is written as tif or zarr; got "
                            f"{out.suffix}")
    with open_lazy(path, series=series) as image:
        data, axes = _as_spatial(image, channel)
        spatial = len(axes) - axes.endswith("c")
        check_chunk_count(data.shape[:spatial], (chunk,) * spatial, str(path))
        _check_chunk_side(data.shape[:spatial], chunk, path)
        if into:  # before the image is read
            check_label_fits(path, data.shape[:spatial], axes.rstrip("c"))
        if not axes.startswith("t"):
            data = data.rechunk((chunk,) * spatial + (-1,) * (data.ndim - spatial))
        used = image.pixel_size if pixel_size is None else pixel_size
        carried = mask_pixel_size(pixel_size, image.pixel_size)
        if not recipe.uses_units:
            used = None
        caught: list[tuple[Any, ...]] = []  # this run's alone, not other threads'
        with heard(caught.append, always=MaskprepWarning):
            # the recipe first: what it cannot run tiled is refused before the image is read
            result = (run_by_frame(recipe, data, axes, chunk, used, object_size)
                      if axes.startswith("t") else
                      recipe.run(data, pixel_size=used, object_size=object_size))
            if input_checksum is None:  # read here: through a cluster, each band went to
                input_checksum = checksum(data, scheduler="threads")  # a worker and back
            timed = read_frame_interval(path, series)  # a time-lapse's, for its mask
            metadata = provenance(text, data, source=path.name, pixel_size=used,
                                  input_checksum=input_checksum, axes=axes,
                                  mask_pixel_size=carried, channel=channel, series=series)
            if into:  # into the input store, beside its image
                write_ome_zarr(result, into=path, name=out.name, axes=axes.rstrip("c"),
                               provenance=metadata, overwrite=True)
            elif out.suffix == ".zarr":  # of an OME-Zarr: in its axes, units and offset,
                like = path if image.ome_zarr else None  # but the sizes given
                sizes = carried if like is None else mask_pixel_size(pixel_size, None)
                write_ome_zarr(result, out, axes=axes.rstrip("c"), like=like,
                               pixel_size=pixel_size_of_axes(axes, sizes),
                               provenance=metadata, overwrite=True, frame_interval=timed)
            else:
                write_bigtiff(result, out, provenance=metadata, overwrite=True,
                              pixel_size=carried, axes=axes.rstrip("c"), frame_interval=timed)
    with open_lazy(out) as written:  # a label has the axes of length 1 of its image
        objects, foreground = count_frames(written.data.reshape(result.shape),
                                           axes.rstrip("c"))
        pixels = int(np.prod(written.data.shape))
    return (objects, foreground, pixels), list(dict.fromkeys(str(shown[0]) for shown in caught))
