"""Edit region: the visible part of a store-backed multiscale Labels layer painted at full
resolution, written back into the store's chunks and pyramid, and recorded as a step that
replays, tiled and in memory."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from napari.components import ViewerModel
from napari.layers import Labels
from ome_zarr.writer import write_image

import napari_maskprep as mp
from napari_maskprep._napari.applied import applied_steps
from napari_maskprep._napari.large import store_levels
from napari_maskprep._napari.recording import RecipeRecorder
from napari_maskprep._napari.region_widget import RegionEditWidget
from napari_maskprep._napari.regions import MAX_REGION_PIXELS, RegionEditor
from napari_maskprep._napari.stage import StageModel
from napari_maskprep.io import open_lazy, read_provenance, write_ome_zarr, write_region

from .test_large import show, small_pyramid


def store_layer(viewer, tmp_path: Path) -> tuple[Labels, Path]:
    """A 1100 x 700 mask store that maskprep wrote, opened as the multiscale labels 'm'."""
    store = write_ome_zarr(np.zeros((1100, 700), np.uint8), tmp_path / "m.zarr")
    layer = viewer.add_labels(store_levels(store), multiscale=True, name="m",
                              metadata={"maskprep": {"store": str(store)}})
    return layer, store


def _chunk_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and not p.name.startswith((".z", "zarr.json"))}


def _paint(layer: Labels) -> None:
    """Strokes as napari makes them: erase a block, paint a band (region coordinates)."""
    rows, cols = np.mgrid[40:90, 100:180]
    layer.data_setitem((rows.ravel(), cols.ravel()), 0)
    rows, cols = np.mgrid[150:160, 20:300]
    layer.data_setitem((rows.ravel(), cols.ravel()), 1)


@pytest.fixture
def recorded():
    steps = []
    applied_steps.applied.connect(steps.append)
    yield steps
    applied_steps.applied.disconnect(steps.append)


def test_a_region_of_a_store_is_painted_and_written_back_exactly(tmp_path, recorded):
    mask = (np.random.default_rng(3).random((1200, 1500)) < 0.4).astype(np.uint8)
    store = write_ome_zarr(mask, tmp_path / "mask.zarr", chunks=(256, 256))
    before = _chunk_files(store)
    viewer = ViewerModel()
    source = viewer.add_labels(store_levels(store), multiscale=True, name="mask",
                               scale=(0.5, 0.5), translate=(10.0, 20.0),
                               metadata={"maskprep": {"store": str(store)}})
    show(source, 1, (100, 150), (300, 400))  # level 1 (every 2nd pixel): rows 200-599 ...
    editor = RegionEditor(viewer)
    assert editor.candidates() == [source]
    message = editor.open(source)
    region = editor.region
    assert message == "editing 500×400 px of 'mask' at full resolution"
    assert region.origin == (200, 300) and region.layer.data.shape == (400, 500)
    assert tuple(region.layer.scale) == (0.5, 0.5)
    assert tuple(region.layer.translate) == (10.0 + 200 * 0.5, 20.0 + 300 * 0.5)
    np.testing.assert_array_equal(region.layer.data, mask[200:600, 300:800])
    assert viewer.layers.selection.active is region.layer and region.layer.mode == "paint"
    _paint(region.layer)
    expected = mask.copy()
    expected[240:290, 400:480] = 0
    expected[350:360, 320:600] = 1
    message = editor.write_back()
    assert message.startswith(f"{int(np.count_nonzero(expected != mask))} pixels written back "
                              "to mask.zarr (")
    assert message.endswith("recorded as edit.manual in [240:360, 320:600]")
    assert editor.region is None and region.layer not in viewer.layers
    # Level 0 and its pyramid as if the edited mask had been written whole.
    want = open_lazy(write_ome_zarr(expected, tmp_path / "want.zarr", chunks=(256, 256)))
    for got, level in zip(open_lazy(store).levels, want.levels, strict=True):
        np.testing.assert_array_equal(got.compute(), level.compute())
    np.testing.assert_array_equal(np.asarray(source.data[0]), expected)  # the layer shows it
    # Only the chunks the edited box (rows 240-359, columns 320-599) touches were written,
    # and of those only the ones holding a changed pixel differ (not chunk 0/0/2: columns
    # 512-599 of rows 240-255 were not painted).
    after = _chunk_files(store)
    changed = {k for k in after if after[k] != before[k]}
    assert {k for k in changed if k.startswith("0/")} == {"0/0/1", "0/1/1", "0/1/2"}
    assert changed <= {"0/0/1", "0/0/2", "0/1/1", "0/1/2", "1/0/0", "1/0/1",
                       "2/0/0"}
    # The recorded step, in whole-image coordinates, replays tiled and in memory.
    (applied,) = recorded
    assert applied.in_place and applied.input_layer is source is applied.output_layer
    assert applied.step.op == "edit.manual" and applied.step.params["box_checksums"] is True
    assert source.metadata["maskprep"]["store"] == str(store)
    assert source.metadata["maskprep"]["history"][-1]["step"]["op"] == "edit.manual"
    recipe = mp.Recipe([{"op": "edit.manual", "params": applied.step.params}])
    np.testing.assert_array_equal(recipe.run(mask), expected)
    np.testing.assert_array_equal(recipe.run(da.from_array(mask, chunks=256)).compute(),
                                  expected)


def _applied(viewer: ViewerModel, stage: str, op: str, folder: Path, **params) -> Labels:
    """The multiscale Labels layer a tiled Apply of ``op`` adds (``input``: its layer)."""
    model = StageModel(viewer, stage)
    model.set_op(op)
    if "input" in params:
        model.set_input(params.pop("input"))
    for name, value in params.items():
        model.set_param(name, value)
    model.store_folder = folder
    job = model.prepare_apply()
    return model.finish_apply(job, job.run()).output_layer


def _paint_a_band(viewer: ViewerModel, labels: Labels, value: int) -> None:
    """Edit region on rows 1000:1040, columns 1000:1300 (across the store's chunk faces at
    1024) painted with ``value``, and written back."""
    show(labels, 0, (900, 1000), (1150, 1300))
    editor = RegionEditor(viewer)
    editor.open(labels)
    rows, cols = np.mgrid[100:140, 0:300]
    editor.region.layer.data_setitem((rows.ravel(), cols.ravel()), value)
    editor.write_back()


def test_the_whole_flow_records_a_recipe_that_replays_tiled(tmp_path):
    viewer = ViewerModel()
    image, levels = small_pyramid()
    slide = viewer.add_image(levels, multiscale=True, name="slide")
    recorder = RecipeRecorder(viewer)
    labels = _applied(viewer, "segment", "segment.threshold", tmp_path, value=100.0)
    _paint_a_band(viewer, labels, 1)
    steps = recorder.recipe.steps
    assert [s.op for s in steps] == ["segment.threshold", "edit.manual"]
    assert steps[1].inputs == {"image": "input"} and steps[1].params["image_checksum"]
    expected = mp.Recipe([steps[0]]).run(image)
    expected[1000:1040, 1000:1300] = 1
    store = Path(labels.metadata["maskprep"]["store"])
    np.testing.assert_array_equal(open_lazy(store).data.compute(), expected)
    tiled = recorder.recipe.run(slide.data[0])
    assert isinstance(tiled, da.Array)
    np.testing.assert_array_equal(tiled.compute(), expected)
    np.testing.assert_array_equal(recorder.recipe.run(image), expected)
    # A Recorder opened later rebuilds the same recipe from the layer's history.
    assert RecipeRecorder(viewer).recipe == recorder.recipe
    # The store says what made it now: the recipe with the edit.
    assert mp.Recipe.loads(read_provenance(store)["recipe"]).steps == steps


def test_a_region_of_labels_is_painted_and_replays_tiled(tmp_path):
    """Labels made tiled (threshold, then label) are edited by region like a mask: the
    recorded edit replays tiled and in memory to the painted labels."""
    viewer = ViewerModel()
    image, levels = small_pyramid()
    slide = viewer.add_image(levels, multiscale=True, name="slide")
    recorder = RecipeRecorder(viewer)
    mask = _applied(viewer, "segment", "segment.threshold", tmp_path, value=100.0)
    labels = _applied(viewer, "refine", "refine.label", tmp_path, input=mask)
    assert labels.data[0].dtype == np.int32
    _paint_a_band(viewer, labels, 5)
    steps = recorder.recipe.steps
    assert [s.op for s in steps] == ["segment.threshold", "refine.label", "edit.manual"]
    expected = mp.Recipe(steps[:2]).run(image)
    expected[1000:1040, 1000:1300] = 5
    store = Path(labels.metadata["maskprep"]["store"])
    np.testing.assert_array_equal(open_lazy(store).data.compute(), expected)
    np.testing.assert_array_equal(recorder.recipe.run(slide.data[0]).compute(), expected)
    np.testing.assert_array_equal(recorder.recipe.run(image), expected)


def test_a_zoomed_out_view_opens_the_region_around_its_centre_within_the_limit(tmp_path):
    side = 5000
    store = write_ome_zarr(da.zeros((side, side), dtype=np.uint8, chunks=1024),
                           tmp_path / "big.zarr")
    viewer = ViewerModel()
    source = viewer.add_labels(store_levels(store), multiscale=True, name="big",
                               metadata={"maskprep": {"store": str(store)}})
    levels = len(source.data)
    show(source, levels - 1, (0, 0), source.level_shapes[-1])
    message = RegionEditor(viewer).open(source)
    data = viewer.layers[-1].data
    assert data.size <= MAX_REGION_PIXELS and data.shape == (4096, 4096)
    assert message.endswith("zoom in for another part")
    assert tuple(viewer.layers[-1].translate) == ((side - 4096) // 2,) * 2


def test_refusals_are_one_line_and_write_nothing(tmp_path):
    viewer = ViewerModel()
    plain = viewer.add_labels(np.zeros((8, 8), np.uint8), name="plain")
    other = write_ome_zarr(np.zeros((1100, 300), np.uint8), tmp_path / "other.zarr")
    viewer.add_labels(da.zeros((1100, 301), dtype=np.uint8, chunks=256), name="other",
                      metadata={"maskprep": {"store": str(other)}})  # not this store's shape
    image = np.random.default_rng(0).integers(1, 255, (1100, 300), dtype=np.uint8)
    write_image(image, zarr.open_group(tmp_path / "image.zarr", mode="w"), axes="yx",
                scaler=None)
    viewer.add_labels(open_lazy(tmp_path / "image.zarr").data, name="image",  # not a label
                      metadata={"maskprep": {"store": str(tmp_path / "image.zarr")}})
    editor = RegionEditor(viewer)
    assert editor.candidates() == []
    with pytest.raises(ValueError, match="'plain' is not a multiscale Labels layer backed by"):
        editor.open(plain)
    with pytest.raises(ValueError, match="no region is open"):
        editor.write_back()
    store = write_ome_zarr(np.zeros((1100, 300), np.uint8), tmp_path / "m.zarr",
                           chunks=(128, 128))
    source = viewer.add_labels(store_levels(store), multiscale=True, name="m",
                               metadata={"maskprep": {"store": str(store)}})
    show(source, 0, (0, 0), (300, 300))
    editor.open(source)
    with pytest.raises(ValueError, match="a region of 'm \\[0:300, 0:300\\]' is open"):
        editor.open(source)
    editor.region.layer.data_setitem((np.array([5]), np.array([5])), 1)
    write_region(store, (0, 0), np.ones((3, 3), np.uint8))  # another write meanwhile
    files = _chunk_files(store)
    with pytest.raises(ValueError, match="changed under this region since it was opened"):
        editor.write_back()
    assert _chunk_files(store) == files
    editor.discard()
    assert [x.name for x in viewer.layers] == ["plain", "other", "image", "m"]
    show(source, 0, (0, 0), (300, 300))
    editor.open(source)
    assert editor.write_back() == "nothing was painted; the region was closed"
    show(source, 0, (0, 0), (300, 300))
    editor.open(source)
    editor.region.layer.data_setitem((np.array([7]), np.array([7])), 1)
    viewer.layers.remove(editor.region.layer)  # deleted by hand: discarded
    assert editor.region is None
    with pytest.raises(ValueError, match="no region is open"):
        editor.write_back()
    assert _chunk_files(store) == files


def test_the_widget_opens_writes_back_and_discards(make_napari_viewer, qtbot, tmp_path, shown):
    viewer = make_napari_viewer()
    widget = RegionEditWidget(viewer)
    qtbot.addWidget(widget.native)
    assert widget.layer_box.value is None and not widget.open_button.enabled
    source, store = store_layer(viewer, tmp_path)
    assert widget.layer_box.value is source and widget.open_button.enabled
    show(source, 0, (100, 100), (200, 300))
    widget.open_button.clicked()
    assert widget.status.value == "editing 200×100 px of 'm' at full resolution"
    assert widget.write_button.enabled and not widget.open_button.enabled
    widget.discard_button.clicked()
    assert widget.status.value == "the region was closed; nothing was written"
    assert [x.name for x in viewer.layers] == ["m"]
    show(source, 0, (100, 100), (200, 300))
    widget.open_button.clicked()
    viewer.layers[-1].data_setitem((np.array([10]), np.array([10])), 1)
    widget.write_button.clicked()
    assert widget.status.value.startswith("1 pixel written back to m.zarr (2 chunks, all ")
    assert open_lazy(store).data[110:111, 110:111].compute().tolist() == [[1]]
    widget.write_button.clicked()
    assert shown()[-1][1] == "no region is open: choose a layer and Edit region first"


def test_a_region_open_when_the_widget_closes_is_written_back_or_kept(qtbot, tmp_path, shown):
    """It stayed in the viewer unwritten, and a widget opened again knew no region: its
    strokes could no longer be written back. One whose source was removed was kept with
    the advice to discard the region, with no widget left to discard it in."""
    viewer = ViewerModel()
    source, store = store_layer(viewer, tmp_path)
    widget = RegionEditWidget(viewer)
    qtbot.addWidget(widget.native)
    show(source, 0, (100, 100), (200, 300))
    widget.open_button.clicked()
    viewer.layers[-1].data_setitem((np.array([10]), np.array([10])), 1)
    widget.close()
    assert shown()[-1][1].startswith("1 pixel written back to m.zarr (2 chunks, all ")
    assert open_lazy(store).data[110:111, 110:111].compute().tolist() == [[1]]
    assert [x.name for x in viewer.layers] == ["m"]

    widget = RegionEditWidget(viewer)  # one that cannot be written back is kept
    qtbot.addWidget(widget.native)
    show(source, 0, (100, 100), (200, 300))
    widget.open_button.clicked()
    region = viewer.layers[-1]
    region.data_setitem((np.array([20]), np.array([20])), 1)
    viewer.layers.remove("m")
    widget.close()
    assert shown()[-1] == ("warning", f"'{region.name}' was kept with its edits, not written "
                                      "back (the layer it came from was removed): save it as "
                                      "a file to keep them, or delete it")
    assert viewer.layers[-1] is region and region.data[20, 20] == 1
    assert open_lazy(store).data[120:121, 120:121].compute().tolist() == [[0]]


def test_a_region_of_a_stack_is_one_plane_of_it(tmp_path, recorded):
    stack = (np.random.default_rng(5).random((3, 1100, 400)) < 0.3).astype(np.uint8)
    store = write_ome_zarr(stack, tmp_path / "stack.zarr", axes="zyx", chunks=(1, 256, 256))
    viewer = ViewerModel()
    source = viewer.add_labels(store_levels(store), multiscale=True, name="stack",
                               metadata={"maskprep": {"store": str(store)}})
    viewer.dims.set_point(0, 1)
    source.data_level = 0
    source.corner_pixels = np.array([[1, 200, 100], [1, 499, 299]])
    editor = RegionEditor(viewer)
    editor.open(source)
    region = editor.region
    assert region.origin == (1, 200, 100) and region.layer.data.shape == (1, 300, 200)
    assert tuple(region.layer.translate) == (1.0, 200.0, 100.0)
    expected = stack.copy()
    for y, x in ((210, 105), (490, 250), (220, 120)):  # flipped, so each one changes
        expected[1, y, x] = 1 - stack[1, y, x]
        region.layer.data_setitem((np.array([0]), np.array([y - 200]), np.array([x - 100])),
                                  int(expected[1, y, x]))
    editor.write_back()
    np.testing.assert_array_equal(open_lazy(store).data.compute(), expected)
    (applied,) = recorded
    assert applied.step.params["bbox"] == "1:2,210:491,105:251"
    recipe = mp.Recipe([{"op": "edit.manual", "params": applied.step.params}])
    np.testing.assert_array_equal(recipe.run(stack), expected)
    tiled = recipe.run(da.from_array(stack, chunks=(1, 256, 256)))
    np.testing.assert_array_equal(tiled.compute(), expected)


def test_a_region_layer_removed_by_hand_no_longer_shows_as_being_edited(make_napari_viewer,
                                                                        qtbot, tmp_path):
    """Deleting the region layer discards the region, but the status line went on saying
    'editing ...' until the next Edit region, Write back or Discard."""
    viewer = make_napari_viewer()
    widget = RegionEditWidget(viewer)
    qtbot.addWidget(widget.native)
    source, store = store_layer(viewer, tmp_path)
    show(source, 0, (100, 100), (200, 300))
    widget.open_button.clicked()
    region = viewer.layers[-1]
    region.data_setitem((np.array([10]), np.array([10])), 1)
    viewer.layers.remove(region)
    assert widget.status.value == (f"'{region.name}' was removed, so the region was "
                                   "discarded; nothing was written")
    assert widget.open_button.enabled and not widget.write_button.enabled
    assert open_lazy(store).data[110:111, 110:111].compute().tolist() == [[0]]
    widget.open_button.clicked()
    widget.discard_button.clicked()
    assert widget.status.value == "the region was closed; nothing was written"


def test_edit_region_on_a_damaged_chunk_is_one_line_and_opens_nothing(qtbot, tmp_path, shown):
    """The chunk's ImageReadError (an OSError) was not caught: a traceback in napari."""
    viewer = ViewerModel()
    source, store = store_layer(viewer, tmp_path)
    widget = RegionEditWidget(viewer)
    qtbot.addWidget(widget.native)
    show(source, 0, (100, 100), (200, 300))
    (store / "0" / "0" / "0").write_bytes(b"not a blosc chunk")  # damaged once shown
    with qtbot.capture_exceptions() as raised:
        widget.open_button.clicked()
    assert raised == []
    assert shown() == [("error", f"{store} level 0 (array '0'): chunk 0/0 cannot be read "
                                 "(RuntimeError: error during blosc decompression: -1)")]
    assert [x.name for x in viewer.layers] == ["m"] and widget.model.region is None
    assert widget.open_button.enabled and not widget.write_button.enabled
