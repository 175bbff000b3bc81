"""File › Open with napari-maskprep (``_napari/reader.py``): a TIFF's axes and pixel size on
the layer, a slide as a lazy pyramid, a maskprep mask as Labels, bad files in one line."""

from __future__ import annotations

import gc
import os

import dask.array as da
import numpy as np
import pytest
import tifffile
from napari.components import ViewerModel
from napari.layers import Image, Labels

from napari_maskprep._napari import reader, zarr_reader
from napari_maskprep._napari.layers import CHANNEL_KEY, layer_channel, layer_pixel_size
from napari_maskprep._napari.planes import PerPlane, per_plane_choice
from napari_maskprep._napari.reader import get_reader, get_recipe_reader
from napari_maskprep.core.registry import get_op
from napari_maskprep.io import (
    provenance,
    read_pixel_size,
    read_provenance,
    write_bigtiff,
    write_mask,
)
from napari_maskprep.recipe import Recipe

from .batching import threshold_then_batch

TIMEOUT_MS = 30_000
FRAMES = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)


def _open(viewer, path):
    return viewer.open(str(path), plugin="napari-maskprep")


def test_a_time_lapse_opens_with_its_axes_and_pixel_size(make_napari_viewer, tmp_path):
    """napari's own reader names no axes, so the frames of a movie were taken as a volume
    unless *per plane* was ticked, and sizes in µm had no pixel size."""
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(path, FRAMES, metadata={"axes": "TYX", "PhysicalSizeX": 0.25,
                                             "PhysicalSizeY": 0.5})
    [layer] = _open(make_napari_viewer(), path)
    assert isinstance(layer, Image) and layer.name == "movie"
    np.testing.assert_array_equal(layer.data, FRAMES)
    assert tuple(layer.axis_labels) == ("t", "y", "x")
    np.testing.assert_array_equal(layer.scale, [1.0, 0.5, 0.25])
    assert [str(u) for u in layer.units] == ["pixel", "micrometer", "micrometer"]
    assert layer_pixel_size(layer) == (0.5, 0.25)  # the frames' axis is not a size
    assert per_plane_choice(get_op("segment.auto_threshold"), layer) is PerPlane.REQUIRED


def test_rgb_and_a_stack_without_z_spacing(make_napari_viewer, tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 2] = 9
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "stack.tif", FRAMES, photometric="minisblack",
                     resolution=(2.0, 4.0), resolutionunit="MICROMETER")
    viewer = make_napari_viewer()
    [colour] = _open(viewer, tmp_path / "rgb.tif")
    assert colour.rgb and tuple(colour.axis_labels) == ("y", "x")
    np.testing.assert_array_equal(colour.scale, [1.0, 1.0])  # no pixel size stated
    assert layer_pixel_size(colour) is None
    [stack] = _open(viewer, tmp_path / "stack.tif")
    assert tuple(stack.axis_labels) == ("z", "y", "x")
    np.testing.assert_array_equal(stack.scale, [1.0, 0.25, 0.5])
    assert [str(u) for u in stack.units] == ["pixel", "micrometer", "micrometer"]


def test_a_slide_opens_as_a_lazy_pyramid(make_napari_viewer, tmp_path):
    image = np.arange(600 * 500, dtype=np.uint16).reshape(600, 500)
    path = tmp_path / "slide.btf"  # a whole-slide suffix: never read whole
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(image, tile=(128, 128), subifds=2, resolution=(4.0, 4.0),
                  resolutionunit="MICROMETER")
        tif.write(image[::2, ::2], tile=(128, 128), subfiletype=1)
        tif.write(image[::4, ::4], tile=(128, 128), subfiletype=1)
    [layer] = _open(make_napari_viewer(), path)
    assert layer.multiscale and all(isinstance(level, da.Array) for level in layer.data)
    assert [level.shape for level in layer.data] == [(600, 500), (300, 250), (150, 125)]
    np.testing.assert_array_equal(layer.scale, [0.25, 0.25])
    np.testing.assert_array_equal(layer.data[2].compute(), image[::4, ::4])
    # napari spans a dask array's dtype (0 to 65535): the smallest level's values instead
    assert tuple(layer.contrast_limits) == (0, image[::4, ::4].max())


def test_a_large_file_without_a_pyramid_gets_one_of_strided_views(make_napari_viewer,
                                                                   tmp_path):
    """napari draws a plain layer from its whole plane: all of a slide read for one look."""
    image = np.random.default_rng(2).integers(0, 4096, (2500, 1800), dtype=np.uint16)
    path = tmp_path / "plain.btf"
    tifffile.imwrite(path, image, bigtiff=True)
    [layer] = _open(make_napari_viewer(), path)
    assert layer.multiscale
    assert [level.shape for level in layer.data] == [(2500, 1800), (1250, 900), (625, 450)]
    np.testing.assert_array_equal(layer.data[0].compute(), image)
    np.testing.assert_array_equal(layer.data[2].compute(), image[::4, ::4])


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_bare_zarr_array_opens_lazily_with_the_axes_of_a_plain_tiff(make_napari_viewer,
                                                                      tmp_path, zarr_format):
    """A zarr array without OME-NGFF metadata (dask.array.to_zarr's) had no reader here:
    napari's own names no axes, napari-ome-zarr opens none."""
    from ..io.test_lazy import ome_zarr_image

    grey = np.arange(1100 * 500, dtype=np.uint16).reshape(1100, 500)
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 2] = 9
    for name, data in (("grey.zarr", grey), ("rgb.zarr", rgb)):
        da.from_array(data, chunks=256).to_zarr(tmp_path / name, zarr_format=zarr_format)
    viewer = make_napari_viewer()
    [layer] = _open(viewer, tmp_path / "grey.zarr")
    assert isinstance(layer, Image) and layer.name == "grey" and layer.multiscale
    assert [level.shape for level in layer.data] == [(1100, 500), (550, 250)]
    np.testing.assert_array_equal(layer.data[0].compute(), grey)
    np.testing.assert_array_equal(layer.data[1].compute(), grey[::2, ::2])
    assert tuple(layer.axis_labels) == ("y", "x") and layer_pixel_size(layer) is None
    np.testing.assert_array_equal(layer.scale, [1.0, 1.0])
    [colour] = _open(viewer, tmp_path / "rgb.zarr")
    assert colour.rgb and tuple(colour.axis_labels) == ("y", "x")
    np.testing.assert_array_equal(np.asarray(colour.data), rgb)
    assert zarr_reader.get_reader(str(tmp_path / "grey.zarr")) is not None
    ome = ome_zarr_image(tmp_path / "image.zarr")  # napari-ome-zarr's to open
    assert zarr_reader.get_reader(str(ome)) is None
    assert zarr_reader.get_reader(str(tmp_path / "none.zarr")) is None


def test_a_slide_opened_here_applies_tiled_as_the_command_line_runs_it(make_widget, qtbot,
                                                                      tmp_path):
    """The reader's lazy TIFF levels are read by the tiled Apply's worker thread."""
    image = np.random.default_rng(5).integers(0, 256, (700, 900), dtype=np.uint8)
    path = tmp_path / "slide.btf"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(image, tile=(128, 128), subifds=1, resolution=(2.0, 2.0),
                  resolutionunit="MICROMETER")
        tif.write(image[::2, ::2], tile=(128, 128), subfiletype=1)
    viewer, widget = make_widget("segment")
    [layer] = _open(viewer, path)
    widget.select("segment.auto_threshold", layer)
    widget.store_box.value = tmp_path
    assert widget.apply() is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    out = viewer.layers["slide-auto_threshold"]
    assert not out.multiscale and tuple(out.scale) == (0.5, 0.5)  # a store of one level
    expected = get_op("segment.auto_threshold")(image)
    np.testing.assert_array_equal(np.asarray(out.data), expected)


def test_a_maskprep_mask_opens_as_cyan_labels(make_napari_viewer, tmp_path):
    mask = np.zeros((20, 30), np.uint8)
    mask[5:9, 3:12] = 1
    recipe = Recipe([{"op": "segment.threshold", "params": {"value": 1}}]).dumps()
    write_mask(tmp_path / "mask.tif", mask, pixel_size=(0.5, 0.5),
               metadata=provenance(recipe, mask))
    tifffile.imwrite(tmp_path / "plain.tif", mask)  # the same pixels, not written by us
    viewer = make_napari_viewer()
    [labels] = _open(viewer, tmp_path / "mask.tif")
    assert isinstance(labels, Labels) and labels.data.dtype == np.uint8
    np.testing.assert_array_equal(labels.data, mask)
    np.testing.assert_allclose(labels.colormap.map(np.array([1]))[0], (0, 1, 1, 1))
    assert isinstance(_open(viewer, tmp_path / "plain.tif")[0], Image)
    big = np.zeros((1500, 1200), np.uint8)
    big[100:900, 50:70] = 1
    write_bigtiff(big, tmp_path / "big.btf", provenance=provenance(recipe, big))
    [lazy] = _open(viewer, tmp_path / "big.btf")  # a slide's mask: lazy, strided levels
    assert isinstance(lazy, Labels) and lazy.multiscale
    np.testing.assert_allclose(lazy.colormap.map(np.array([1]))[0], (0, 1, 1, 1))
    np.testing.assert_array_equal(lazy.data[1].compute(), big[::2, ::2])


def test_other_files_are_left_to_other_readers_and_bad_ones_are_one_line(
        make_napari_viewer, tmp_path):
    assert get_reader(str(tmp_path / "a.png")) is None
    assert get_reader([str(tmp_path / "a.tif")]) is None
    os.mkfifo(tmp_path / "pipe.tif")  # reading its header would wait for a writer forever
    assert get_reader(str(tmp_path / "pipe.tif")) is None
    angles = tmp_path / "angles.tif"  # no layout the ops take, whole or channel by channel
    tifffile.imwrite(angles, FRAMES[:2], metadata={"axes": "AYX"})
    assert get_reader(str(angles)) is None  # napari's reader opens it as it is
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(angles))
    assert layer.data.shape == (2, 20, 30)
    cut = tmp_path / "cut.tif"
    tifffile.imwrite(cut, FRAMES, photometric="minisblack")
    cut.write_bytes(cut.read_bytes()[:200])
    assert get_reader(str(cut)) is not None  # ours says what is wrong, in one line
    with pytest.raises(Exception, match=r"cut.tif: cannot be read as a TIFF") as caught:
        _open(viewer, cut)
    assert "\n" not in str(caught.value.__cause__ or caught.value)


def test_a_recipe_file_opens_in_the_recorder_and_adds_no_layer(make_napari_viewer, tmp_path,
                                                               shown):
    recipe = Recipe([{"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
                     {"op": "segment.auto_threshold", "params": {"method": "li"}}],
                    name="mine")
    path = recipe.save(tmp_path / "mine.maskprep.yaml")
    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget("napari-maskprep", "Mask Prep")
    assert _open(viewer, path) == [] and len(viewer.layers) == 0
    assert panel.tabs.tabText(panel.tabs.currentIndex()) == "Recipe"
    assert panel.recorder.model.recipe == recipe
    bad = tmp_path / "bad.maskprep.yaml"
    bad.write_text("maskprep: 1\nsteps:\n- op: segment.nothing\n")
    assert _open(viewer, bad) == []
    assert panel.recorder.model.recipe == recipe  # unchanged, and the error said why
    assert any("segment.nothing" in message for _, message in shown())
    assert get_recipe_reader(str(tmp_path / "a.yaml")) is None  # any YAML is not ours


@pytest.mark.parametrize("tile", [None, (128, 128)])  # memory-mapped, or read by tiles
def test_a_lazy_file_stays_open_while_its_layer_data_lives_and_no_longer(tmp_path, tile):
    """The file was to close once no layer read it, but what closed it held the arrays
    it waited on: every file opened lazily stayed open, its arrays in memory, for good."""
    import gc
    import weakref

    image = np.arange(1100 * 500, dtype=np.uint16).reshape(1100, 500)
    path = tmp_path / "plain.btf"
    tifffile.imwrite(path, image, bigtiff=True, tile=tile)
    [(data, _, _)] = get_reader(str(path))(str(path))
    gc.collect()
    np.testing.assert_array_equal(data[0].compute(), image)
    gone = weakref.ref(data[0])
    del data
    gc.collect()
    assert gone() is None


CELLS = np.stack([FRAMES[0] * 3, FRAMES[2] % 97])  # two channels of (20, 30) uint16


@pytest.mark.parametrize("lazy", [False, True])
def test_a_file_of_channels_opens_as_one_layer_a_channel(make_napari_viewer, tmp_path,
                                                         monkeypatch, lazy):
    """napari's reader opened an OME-TIFF or ImageJ hyperstack of fluorescence channels as
    one layer, whose channels the ops took as the planes of a z stack."""
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, CELLS, metadata={"axes": "CYX", "PhysicalSizeX": 0.5,
                                            "PhysicalSizeY": 0.5, "Channel":
                                            {"Name": ["DAPI", "GFP"]}})
    monkeypatch.setattr(reader, "is_lazy_path", lambda _: lazy)  # as a file of 2 GB is
    viewer = make_napari_viewer()
    dapi, gfp = _open(viewer, path)
    assert [dapi.name, gfp.name] == ["cells [DAPI]", "cells [GFP]"]
    for channel, layer in enumerate((dapi, gfp)):
        assert layer.metadata[CHANNEL_KEY] == channel == layer_channel(layer)
        np.testing.assert_array_equal(np.asarray(layer.data), CELLS[channel])
        assert tuple(layer.axis_labels) == ("y", "x") and layer_pixel_size(layer) == (0.5, 0.5)
        assert layer.blending == "additive" and not layer.rgb
    assert [dapi.colormap.name, gfp.colormap.name] == ["green", "magenta"]
    hyperstack = tmp_path / "stack.tif"  # ImageJ's (z, c, y, x): no channel names
    tifffile.imwrite(hyperstack, np.stack([CELLS, CELLS + 1]), imagej=True,
                     metadata={"axes": "ZCYX"})
    first, second = _open(viewer, hyperstack)
    assert [first.name, second.name] == ["stack [c0]", "stack [c1]"]
    assert tuple(second.axis_labels) == ("z", "y", "x")
    np.testing.assert_array_equal(np.asarray(second.data), np.stack([CELLS, CELLS + 1])[:, 1])


def test_a_batch_recorded_on_a_channel_segments_that_channel_of_each_file(qtbot, tmp_path):
    """A recipe recorded on the GFP channel of a file ran its batch on files of channels,
    which were refused (they are not RGB): it now segments the channel it was recorded on."""
    infolder, outfolder = tmp_path / "in", tmp_path / "out"
    infolder.mkdir()
    for name, cells in (("a.ome.tif", CELLS), ("b.ome.tif", CELLS[:, ::-1])):
        tifffile.imwrite(infolder / name, cells, metadata={"axes": "CYX"})
    viewer = ViewerModel()
    for data, kwargs, kind in get_reader(str(infolder / "a.ome.tif"))(str(infolder / "a.ome.tif")):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    recorder = threshold_then_batch(qtbot, viewer, "a [c1]", 40.0, infolder, outfolder)
    assert "2 written, 0 skipped, 0 failed" in recorder.status.value
    for name, cells in (("a.ome", CELLS), ("b.ome", CELLS[:, ::-1])):
        np.testing.assert_array_equal(tifffile.imread(outfolder / f"{name}.tif"),
                                      (cells[1] > 40).astype(np.uint8))
    # Another channel chosen by its number (as for a recipe loaded from a file), or none.
    recorder.overwrite_box.value = True
    recorder.channel_box.value = "0"
    recorder.run_batch()
    qtbot.waitUntil(lambda: not recorder.running, timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(tifffile.imread(outfolder / "a.ome.tif"),
                                  (CELLS[0] > 40).astype(np.uint8))
    recorder.channel_box.value = "none"
    recorder.run_batch()
    qtbot.waitUntil(lambda: not recorder.running, timeout=TIMEOUT_MS)
    assert "0 written, 0 skipped, 2 failed" in recorder.status.value


PLATE_SIZES = (0.5, 1.0, 1.5)  # µm per pixel of each position


def write_plate(path, tile=None, channels=False):
    """An OME-TIFF of three positions, each with its own values and pixel size, and a
    thumbnail of another shape (no image to open); with ``channels``, each position holds
    DAPI and GFP."""
    axes = "CYX" if channels else "YX"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for n, size in enumerate(PLATE_SIZES):
            data = CELLS + 1000 * n if channels else FRAMES[n] + 1000 * n
            tif.write(data, tile=tile, metadata={"axes": axes, "PhysicalSizeX": size,
                                                 "PhysicalSizeY": size, "Channel":
                                                 {"Name": ["DAPI", "GFP"]} if channels else {}})
        tif.write(np.zeros((4, 6), np.uint8), metadata={"axes": "YX"})
    return path


@pytest.mark.parametrize(("lazy", "tile"), [(False, None), (True, None), (True, (16, 16))])
def test_each_series_of_a_plate_opens_as_a_layer_of_its_own(make_napari_viewer, tmp_path,
                                                            monkeypatch, lazy, tile):
    """napari's reader opened the first position of a plate alone, without a word: the
    others were not seen."""
    path = write_plate(tmp_path / "plate.ome.tif", tile)
    monkeypatch.setattr(reader, "is_lazy_path", lambda _: lazy)  # as a plate of 2 GB is
    layers = _open(make_napari_viewer(), path)
    assert [layer.name for layer in layers] == [
        "plate (series 0)", "plate (series 1)", "plate (series 2)"]
    assert [layer.visible for layer in layers] == [True, False, False]  # one on another
    for n, (layer, size) in enumerate(zip(layers, PLATE_SIZES, strict=True)):
        assert isinstance(layer, Image) and tuple(layer.axis_labels) == ("y", "x")
        assert isinstance(layer.data, da.Array) is lazy
        np.testing.assert_array_equal(np.asarray(layer.data), FRAMES[n] + 1000 * n)
        np.testing.assert_array_equal(layer.scale, [size, size])
        assert layer_pixel_size(layer) == (size, size)


@pytest.mark.parametrize("lazy", [False, True])
def test_each_series_of_a_plate_of_channels_opens_a_layer_a_channel(make_napari_viewer,
                                                                   tmp_path, monkeypatch,
                                                                   lazy):
    path = write_plate(tmp_path / "plate.ome.tif", channels=True)
    monkeypatch.setattr(reader, "is_lazy_path", lambda _: lazy)
    layers = _open(make_napari_viewer(), path)
    assert [(layer.name, layer.visible) for layer in layers] == [
        (f"plate (series {n}) [{name}]", n == 0) for n in range(3) for name in ("DAPI", "GFP")]
    for number, layer in enumerate(layers):
        n, channel = divmod(number, 2)
        assert layer_channel(layer) == channel
        np.testing.assert_array_equal(np.asarray(layer.data), CELLS[channel] + 1000 * n)
        np.testing.assert_array_equal(layer.scale, [PLATE_SIZES[n]] * 2)


def test_a_recorder_batch_runs_each_series_of_a_plate_in_its_folder(qtbot, tmp_path):
    """A plate in the batch's folder failed, its error saying to pass --series, which the
    Recorder has no box for: each of its series now runs as `maskprep run --series all`
    runs it, a mask each, with its own pixel size."""
    infolder, outfolder = tmp_path / "in", tmp_path / "out"
    infolder.mkdir()
    path = write_plate(infolder / "plate.ome.tif")
    tifffile.imwrite(infolder / "one.tif", FRAMES[1])
    viewer = ViewerModel()
    for data, kwargs, kind in get_reader(str(path))(str(path)):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    recorder = threshold_then_batch(qtbot, viewer, "plate (series 1)", 1900.0, infolder,
                                    outfolder)
    assert "4 written, 0 skipped, 0 failed" in recorder.status.value
    assert recorder.progress_bar.max == 4  # a step a series, not a file
    masks = {"one_s0": FRAMES[1], **{f"plate.ome_s{n}": FRAMES[n] + 1000 * n
                                     for n in range(3)}}
    assert sorted(p.name for p in outfolder.glob("*.tif")) == sorted(f"{m}.tif" for m in masks)
    for name, image in masks.items():
        np.testing.assert_array_equal(tifffile.imread(outfolder / f"{name}.tif"),
                                      (image > 1900).astype(np.uint8))
    assert read_provenance(outfolder / "plate.ome_s2.tif")["input"]["series"] == 2
    assert read_pixel_size(outfolder / "plate.ome_s2.tif") == (1.5, 1.5)


def write_wells(path, count, tile=None):
    """A plate of ``count`` wells, each of DAPI and GFP holding its own values."""
    with tifffile.TiffWriter(path, ome=True) as tif:
        for n in range(count):
            tif.write(CELLS + n, tile=tile, metadata={"axes": "CYX", "PhysicalSizeX": 0.5,
                                                      "PhysicalSizeY": 0.5,
                                                      "Channel": {"Name": ["DAPI", "GFP"]}})
    return path


class CountedTiffFile(tifffile.TiffFile):
    """tifffile.TiffFile, counting the files it opens (each parses its series list)."""

    opened: list[str] = []

    def __init__(self, file, *args, **kwargs):
        CountedTiffFile.opened.append(os.fspath(file))
        super().__init__(file, *args, **kwargs)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_plate_is_opened_in_time_that_does_not_grow_with_its_wells(tmp_path, monkeypatch,
                                                                     lazy):
    """Every read of a well parsed the plate's whole series list again (80 ms at 96 wells),
    and the reader made about 6 reads a well: a plate of 96 wells of 2 channels took 35 s
    to open. Its header is now parsed once to choose the reader and once to read it (and
    its first page read once for provenance), however many wells it holds."""
    monkeypatch.setattr(reader, "is_lazy_path", lambda _: lazy)
    monkeypatch.setattr(tifffile, "TiffFile", CountedTiffFile)
    for count in (3, 12):
        path = write_wells(tmp_path / f"plate{count}.ome.tif", count)
        CountedTiffFile.opened = []
        layers = get_reader(str(path))(str(path))
        assert CountedTiffFile.opened == [str(path)] * 3
        last_well = f"plate{count} (series {count - 1})"
        assert [kwargs["name"] for _, kwargs, _ in layers][-2:] == [
            f"{last_well} [DAPI]", f"{last_well} [GFP]"]
        np.testing.assert_array_equal(np.asarray(layers[-1][0]), CELLS[1] + count - 1)


def _handles(path):
    """How many of this process's open files are ``path``."""
    return sum(os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve())
               for fd in os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("tile", [None, (16, 16)])  # memory-mapped, and through its tiles
def test_a_lazy_plate_holds_one_open_file_not_one_a_well_and_channel(tmp_path, monkeypatch,
                                                                      tile):
    """Each lazy layer of a plate held the file open for itself: a plate of 384 wells of 4
    channels held over 1 500 files, past the usual limit of 1 024 a process."""
    path = write_wells(tmp_path / "plate.ome.tif", 12, tile)
    monkeypatch.setattr(reader, "is_lazy_path", lambda _: True)  # as a plate of 2 GB is
    layers = reader.read_layers(str(path))
    assert len(layers) == 24 and _handles(path) == 1
    for number, (data, _, _) in enumerate(layers):
        n, channel = divmod(number, 2)
        np.testing.assert_array_equal(np.asarray(data), CELLS[channel] + n)
    del layers, data
    gc.collect()
    assert _handles(path) == 0  # let go with its layers


def test_a_tiff_of_pages_of_several_shapes_opens_each_or_is_left_to_napari(
        make_napari_viewer, tmp_path):
    """Its first page alone was opened; and the reader was chosen from the first image's
    axes alone, so one whose other image the ops cannot take was not left to napari's."""
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, np.full((16, 16), 1, np.uint8))
    tifffile.imwrite(path, np.full((8, 12), 2, np.uint8), append=True)
    layers = _open(make_napari_viewer(), path)
    assert [(layer.name, layer.data.shape) for layer in layers] == [
        ("pages (series 0)", (16, 16)), ("pages (series 1)", (8, 12))]
    mixed = tmp_path / "mixed.tif"
    tifffile.imwrite(mixed, np.full((16, 16), 1, np.uint8))
    tifffile.imwrite(mixed, np.ones((2, 2, 2, 8, 8), np.uint8), append=True)  # 5 axes
    assert get_reader(str(mixed)) is None
