"""Our OME-Zarr output opens in napari through napari-ome-zarr, the reader napari users
install for it: as a multiscale Labels layer with its pyramid and pixel size."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from napari.layers import Image, Labels

from napari_maskprep.io import write_ome_zarr

from ..io.test_lazy import IMAGE, ome_zarr_image
from .batching import threshold_then_batch

pytest.importorskip("napari_ome_zarr")

# napari-ome-zarr turns the image-label's colours (ours: value 1 in cyan) into a colour
# dict without a default; napari warns that other values would be transparent, which a
# 0/1 mask has none of.
pytestmark = pytest.mark.filterwarnings(
    "ignore:color_dict did not provide a default color:UserWarning")

MASK = np.zeros((2100, 1500), np.uint8)
MASK[100:300, 200:900] = 1
MASK[1500:2099, 1:7] = 1


def test_a_mask_store_opens_as_a_multiscale_labels_layer(make_napari_viewer, tmp_path):
    store = write_ome_zarr(MASK, tmp_path / "mask.zarr", pixel_size=(0.5, 0.25))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(store), plugin="napari-ome-zarr")
    assert isinstance(layer, Labels) and layer.multiscale
    assert [level.shape for level in layer.data] == [(2100, 1500), (1050, 750), (525, 375)]
    np.testing.assert_array_equal(layer.scale, [0.5, 0.25])
    np.testing.assert_array_equal(np.asarray(layer.data[0]), MASK)
    np.testing.assert_array_equal(np.asarray(layer.data[2]), MASK[::4, ::4])


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_written_into_an_image_open_over_it(make_napari_viewer, tmp_path, version):
    store = ome_zarr_image(tmp_path / "image.zarr", version)
    labels = (IMAGE > 128).astype(np.uint8)
    write_ome_zarr(labels, into=store, name="cells")
    viewer = make_napari_viewer()
    layers = viewer.open(str(store), plugin="napari-ome-zarr")
    [image] = [layer for layer in layers if isinstance(layer, Image)]
    [label] = [layer for layer in layers if isinstance(layer, Labels)]
    assert label.name.endswith("cells")  # napari-ome-zarr names it by its path
    np.testing.assert_array_equal(label.scale, image.scale)
    np.testing.assert_array_equal(label.scale, [0.5, 0.25])
    np.testing.assert_array_equal(np.asarray(label.data[0]), labels)


def test_edit_region_offers_a_mask_store_napari_ome_zarr_opened(make_napari_viewer, tmp_path):
    from napari_maskprep._napari.regions import RegionEditor, layer_store

    store = write_ome_zarr(MASK, tmp_path / "mask.zarr")
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(store), plugin="napari-ome-zarr")
    assert layer_store(layer) == store
    editor = RegionEditor(viewer)
    assert editor.candidates() == [layer]
    editor.close()


def test_edit_region_offers_labels_of_an_image_napari_ome_zarr_opened(make_napari_viewer,
                                                                      tmp_path):
    from napari_maskprep._napari.regions import RegionEditor, layer_store

    store = ome_zarr_image(tmp_path / "image.zarr", "0.4")
    write_ome_zarr((IMAGE > 128).astype(np.uint8), into=store, name="cells")
    write_ome_zarr((IMAGE > 64).astype(np.uint8), into=store, name="tissue")
    viewer = make_napari_viewer()
    layers = viewer.open(str(store), plugin="napari-ome-zarr")
    labels = {layer.name.rsplit("/", 1)[-1]: layer for layer in layers
              if isinstance(layer, Labels)}
    editor = RegionEditor(viewer)
    assert editor.candidates() == [labels["cells"], labels["tissue"]]
    assert layer_store(labels["tissue"]) == store / "labels" / "tissue"
    editor.close()


@pytest.mark.parametrize(("shape", "mask_axes"), [((1, 1, 3, 40, 60), "zyx"),
                                                  ((2, 2, 3, 40, 60), "tzyx")])
def test_labels_of_a_5d_image_open_over_each_of_its_channels(make_napari_viewer, tmp_path,
                                                              shape, mask_axes):
    """napari-ome-zarr splits a (t, c, z, y, x) image into a (t, z, y, x) layer a channel
    and lays layers by position from the last axis: a label without t had no slider of its
    own, and one with c would lie over the image's t."""
    from ..io.test_omezarr_interop import ngff_image

    store = tmp_path / "image.zarr"
    image = ngff_image(store, shape, "tczyx", scale=(1, 1, 2, .5, .5), translation=(0, 0, 0, 3, 4))
    mask = (image[:, 0] % 3 == 0).astype(np.uint8)
    write_ome_zarr(mask if mask_axes == "tzyx" else mask[0], into=store, axes=mask_axes,
                   name="cells")
    viewer = make_napari_viewer()
    layers = viewer.open(str(store), plugin="napari-ome-zarr")
    channels = [layer for layer in layers if isinstance(layer, Image)]
    [label] = [layer for layer in layers if isinstance(layer, Labels)]
    assert len(channels) == shape[1]
    for channel in channels:
        assert label.axis_labels == channel.axis_labels == ("t", "z", "y", "x")
        assert label.data[0].shape == channel.data[0].shape == shape[:1] + shape[2:]
        np.testing.assert_array_equal(label.scale, channel.scale)
        np.testing.assert_array_equal(label.affine.affine_matrix, channel.affine.affine_matrix)
    np.testing.assert_array_equal(np.asarray(label.data[0]), mask)


def test_a_label_of_a_bioformats2raw_store_opens_over_its_image(make_napari_viewer, tmp_path):
    from ..cli.test_ome_zarr_interop import bioformats2raw_store

    store = tmp_path / "converted.zarr"
    mask = (bioformats2raw_store(store, "0.4") % 3 == 0).astype(np.uint8)
    write_ome_zarr(mask, into=store, name="cells")
    viewer = make_napari_viewer()
    layers = viewer.open(str(store), plugin="napari-ome-zarr")
    [image] = [layer for layer in layers if isinstance(layer, Image)]
    [label] = [layer for layer in layers if isinstance(layer, Labels)]
    np.testing.assert_array_equal(label.scale, image.scale)
    np.testing.assert_array_equal(np.asarray(label.data[0]), mask)
    from napari_maskprep._napari.regions import RegionEditor, layer_store

    assert layer_store(label) == store / "0" / "labels" / "cells"  # where the label lies
    editor = RegionEditor(viewer)
    assert editor.candidates() == [label]
    editor.close()


def _two_channels(path, planes):
    """A cyx OME-Zarr of DAPI and GFP, as a microscope's converter names them."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    group = zarr.open_group(path, mode="w", zarr_format=2)
    write_image(planes, group, fmt=FormatV04(), axes="cyx", scaler=None)
    group.attrs["omero"] = {"channels": [{"label": "DAPI", "color": "0000FF"},
                                         {"label": "GFP", "color": "00FF00"}]}


def test_a_batch_recorded_on_a_channel_napari_ome_zarr_opened_segments_that_channel(
        make_napari_viewer, qtbot, tmp_path):
    """napari-ome-zarr's channel layers carried no channel: a batch of a recipe recorded on
    GFP ran each store whole and failed it (2 channels, not RGB)."""
    from napari_maskprep._napari.layers import layer_channel

    infolder, outfolder = tmp_path / "in", tmp_path / "out"
    infolder.mkdir()
    planes = (np.arange(2 * 60 * 80) % 97).astype(np.uint16).reshape(2, 60, 80)
    planes[1] = planes[1].T.reshape(60, 80)
    for name, data in (("a.zarr", planes), ("b.zarr", planes[:, ::-1])):
        _two_channels(infolder / name, data)
    viewer = make_napari_viewer()
    layers = viewer.open(str(infolder / "a.zarr"), plugin="napari-ome-zarr")
    assert [layer.name for layer in layers] == ["image: DAPI", "image: GFP"]
    assert [layer_channel(layer) for layer in layers] == [0, 1]
    recorder = threshold_then_batch(qtbot, viewer, "image: GFP", 40.0, infolder, outfolder)
    assert "2 written, 0 skipped, 0 failed" in recorder.status.value
    for name, data in (("a", planes), ("b", planes[:, ::-1])):
        np.testing.assert_array_equal(tifffile.imread(outfolder / f"{name}.tif"),
                                      (data[1] > 40).astype(np.uint8))
    layers[1].name = "renamed"  # no longer known as a channel: the batch box says which
    assert layer_channel(layers[1]) is None
