"""``--channel N`` segments one channel of a multi-channel file (an ImageJ hyperstack, an
OME-TIFF or OME-Zarr of fluorescence channels, or one colour of an RGB image), in memory,
tiled and on dask workers alike; the mask's provenance records it. Such files were refused
("save the channel to segment as an image of its own"), so a folder of them could not be
run at all."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import tifffile

import napari_maskprep as mp
from napari_maskprep.cli import main
from napari_maskprep.core.errors import BadValueError
from napari_maskprep.io import read_image, read_provenance

from ..conftest import DATA, RECIPE, pairs


@pytest.fixture(scope="module")
def channels() -> np.ndarray:
    """Three real nuclei fields of uint16 as three channels (c, y, x)."""
    chosen = pairs(DATA, "bbbc039_fluo_nuclei")[:3]
    return np.stack([read_image(image) for image, _ in chosen])


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "r.maskprep.yaml"
    path.write_text(RECIPE)
    return path


def run(recipe, *args):
    return main(["run", "-q", str(recipe), *map(str, args)])


@pytest.mark.parametrize("tiled", ["never", "always"])
def test_one_channel_of_a_hyperstack_is_segmented_as_that_channel_alone(
        tmp_path, recipe, channels, capsys, tiled):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, channels, imagej=True, metadata={"axes": "CYX"})
    out = tmp_path / "out"
    assert run(recipe, path, "-o", out, "--channel", 1, "--tiled", tiled, "--chunk", 256) == 0
    expected = mp.Recipe.loads(RECIPE).run(channels[1])
    np.testing.assert_array_equal(tifffile.imread(out / "cells.tif"), expected)
    stored = read_provenance(out / "cells.tif")["input"]
    assert stored["channel"] == 1 and stored["shape"] == [520, 696]
    assert stored["checksum"] == mp.io.provenance("", channels[1])["input"]["checksum"]
    capsys.readouterr()
    assert main(["info", str(out / "cells.tif")]) == 0
    assert "\nchannel: 1\n" in capsys.readouterr().out
    # Resumed: the same channel is kept, another one is made again.
    assert run(recipe, path, "-o", out, "--channel", 1, "--tiled", tiled, "--resume") == 0
    assert "0 written, 1 skipped" in capsys.readouterr().err
    assert run(recipe, path, "-o", out, "--channel", 2, "--tiled", tiled, "--resume") == 0
    np.testing.assert_array_equal(tifffile.imread(out / "cells.tif"),
                                  mp.Recipe.loads(RECIPE).run(channels[2]))


def test_channels_run_on_dask_workers(tmp_path, recipe, channels):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, channels, imagej=True, metadata={"axes": "CYX"})
    assert run(recipe, path, "-o", tmp_path / "out", "--channel", 2, "--workers", 1) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "cells.tif"),
                                  mp.Recipe.loads(RECIPE).run(channels[2]))


def test_one_channel_of_an_ome_zarr_runs_tiled(tmp_path, recipe, channels):
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    path = tmp_path / "cells.zarr"
    write_image(channels, zarr.open_group(path, mode="w", zarr_format=2), fmt=FormatV04(),
                axes="cyx", scaler=None, storage_options={"chunks": (1, 256, 256)})
    assert run(recipe, path, "-o", tmp_path / "out", "--channel", 0, "--format", "zarr") == 0
    with mp.io.open_lazy(tmp_path / "out" / "cells.zarr") as written:
        np.testing.assert_array_equal(written.data.compute(),
                                      mp.Recipe.loads(RECIPE).run(channels[0]))


def test_a_colour_of_an_rgb_image_is_a_channel(tmp_path, recipe):
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[10:30, 10:40, 0] = 200  # red only
    rgb[35:55, 45:75, 2] = 180  # blue only
    path = tmp_path / "rgb.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    np.testing.assert_array_equal(read_image(path, channel=2), rgb[..., 2])
    assert run(recipe, path, "-o", tmp_path / "out", "--channel", 0) == 0
    mask = tifffile.imread(tmp_path / "out" / "rgb.tif")
    assert mask[10:30, 10:40].all() and mask.sum() == 20 * 30


@pytest.mark.parametrize(("channel", "message"), [
    (3, r"^.*cells\.tif: has 3 channels, so no channel 3; accepted: 0 to 2$"),
    (None, r"3 channels, not RGB: choose the one to segment, with --channel N\); accepted"),
])
def test_a_missing_channel_is_one_line_before_work(tmp_path, recipe, channels, capsys,
                                                   channel, message):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, channels, imagej=True, metadata={"axes": "CYX"})
    chosen = [] if channel is None else ["--channel", channel]
    assert run(recipe, path, "-o", tmp_path / "out", *chosen) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if "failed:" in line]
    assert len(failed) == 1 and re.search(message, failed[0])
    assert not (tmp_path / "out" / "cells.tif").exists()


def test_an_image_without_channels_is_its_own_channel_0_only(tmp_path, channels):
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, channels[0])
    np.testing.assert_array_equal(read_image(path, channel=0), channels[0])
    with pytest.raises(BadValueError, match=r"grey\.tif: has one channel \(shape \(520, 696\)"
                                            r"\), so no channel 1; accepted: 0$"):
        read_image(path, channel=1)
    for bad in (-1, 1.5, True, "", " " * 3, "x" * 101):
        with pytest.raises(BadValueError, match=r"^channel .*; accepted: a channel's number"):
            read_image(path, channel=bad)
    with pytest.raises(BadValueError, match=r"grey\.tif: has no channel named 'DAPI' \(it "
                                            r"names no channels\); accepted"):
        read_image(path, channel="DAPI")


def test_channel_0_runs_a_folder_of_grey_and_multi_channel_files(tmp_path, recipe, channels):
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "grey.tif", channels[2])
    tifffile.imwrite(folder / "cells.tif", channels, imagej=True, metadata={"axes": "CYX"})
    assert run(recipe, folder, "-o", tmp_path / "out", "--channel", 0) == 0
    steps = mp.Recipe.loads(RECIPE)
    for name, plane in (("grey.tif", channels[2]), ("cells.tif", channels[0])):
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / name), steps.run(plane))
        assert read_provenance(tmp_path / "out" / name)["input"]["channel"] == 0


def test_a_bad_channel_option_is_a_usage_error(tmp_path, recipe, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(recipe, tmp_path / "x.tif", "-o", tmp_path / "out", "--channel", "-1")
    assert exit_.value.code == 2
    assert "argument --channel: '-1' is not a channel's number, from 0" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("tiled", ["never", "always"])
def test_a_channel_is_chosen_by_the_name_the_file_gives_it(tmp_path, recipe, channels, capsys,
                                                           tiled):
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, channels, metadata={"axes": "CYX",
                                               "Channel": {"Name": ["DAPI", "GFP", "RFP"]}})
    out = tmp_path / "out"
    assert run(recipe, path, "-o", out, "--channel", "GFP", "--tiled", tiled) == 0
    expected = mp.Recipe.loads(RECIPE).run(channels[1])
    np.testing.assert_array_equal(tifffile.imread(out / "cells.ome.tif"), expected)
    assert read_provenance(out / "cells.ome.tif")["input"]["channel"] == "GFP"
    np.testing.assert_array_equal(read_image(path, channel="RFP"), channels[2])
    assert run(recipe, path, "-o", out, "--channel", "Cy5", "--tiled", tiled) == 1
    assert ("cells.ome.tif: has no channel named 'Cy5' (its channels are 'DAPI', 'GFP', "
            "'RFP'); accepted: a channel's name as the file gives it, or its number, from 0"
            in capsys.readouterr().err)


def test_a_name_two_channels_share_is_refused_for_their_numbers(tmp_path, recipe, channels,
                                                                capsys):
    """--channel DAPI of a file whose channels 0 and 2 are both DAPI took channel 0."""
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, channels, metadata={"axes": "CYX",
                                               "Channel": {"Name": ["DAPI", "GFP", "DAPI"]}})
    assert run(recipe, path, "-o", tmp_path / "out", "--channel", "DAPI") == 1
    assert ("cells.ome.tif: has 2 channels named 'DAPI' (0, 2); accepted: the number of the "
            "one to segment" in capsys.readouterr().err)
    assert not (tmp_path / "out" / "cells.ome.tif").exists()
    np.testing.assert_array_equal(read_image(path, channel="GFP"), channels[1])


def test_an_ome_zarr_channel_is_chosen_by_its_omero_label(tmp_path, recipe, channels):
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    path = tmp_path / "cells.zarr"
    group = zarr.open_group(path, mode="w", zarr_format=2)
    write_image(channels, group, fmt=FormatV04(), axes="cyx", scaler=None)
    group.attrs["omero"] = {"channels": [{"label": name, "color": colour} for name, colour
                                         in (("DAPI", "0000FF"), ("GFP", "00FF00"),
                                             ("RFP", "FF0000"))]}
    assert mp.io.open_lazy(path).channel_names == ["DAPI", "GFP", "RFP"]
    assert run(recipe, path, "-o", tmp_path / "out", "--channel", "RFP", "--format",
               "zarr") == 0
    with mp.io.open_lazy(tmp_path / "out" / "cells.zarr") as written:
        np.testing.assert_array_equal(written.data.compute(),
                                      mp.Recipe.loads(RECIPE).run(channels[2]))
