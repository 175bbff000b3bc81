"""A time-lapse (a TIFF whose leading axis is t) is segmented frame by frame, in memory as
tiled and by an exported script alike; channels that are not colour are refused both ways.
It ran as one volume in memory (a threshold over all frames) and was refused tiled."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import tifffile

import napari_maskprep as mp
from napari_maskprep import cli
from napari_maskprep.batch import count_objects
from napari_maskprep.cli import main
from napari_maskprep.io import (
    open_lazy,
    read_frame_interval,
    read_image,
    read_pixel_size,
    read_provenance,
)

from ..conftest import DATA, RECIPE, dice, pairs
from .test_tiled_run import _Bar


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, np.ndarray]:
    """Three real fields as frames, the last bleached to a quarter, and their truth."""
    chosen = pairs(DATA, "bbbc039_fluo_nuclei")[:3]
    images = np.stack([read_image(image) for image, _ in chosen])
    images[2] //= 4
    return images, np.stack([read_image(mask) > 0 for _, mask in chosen])


@pytest.fixture
def movie(tmp_path, frames):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames[0], photometric="minisblack", metadata={"axes": "TYX"})
    recipe = tmp_path / "r.maskprep.yaml"
    recipe.write_text(RECIPE)
    return path, recipe


def _objects(outdir) -> int:
    with open(outdir / "maskprep-summary.csv", newline="") as f:
        return int(next(csv.DictReader(f))["objects"])


def test_each_frame_is_segmented_on_its_own(tmp_path, movie, frames):
    path, recipe = movie
    assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / "mem")]) == 0
    mask = tifffile.imread(tmp_path / "mem" / "movie.tif")
    steps = mp.Recipe.loads(RECIPE)
    expected = np.stack([steps.run(frame) for frame in frames[0]])
    np.testing.assert_array_equal(mask, expected)
    assert dice(mask[2], frames[1][2]) > 0.85  # the bleached frame keeps its own threshold
    assert dice(steps.run(frames[0])[2], frames[1][2]) < 0.5  # as a volume it was lost
    with tifffile.TiffFile(tmp_path / "mem" / "movie.tif") as tif:
        assert tif.series[0].axes == "TYX"
    assert _objects(tmp_path / "mem") == sum(count_objects(frame) for frame in expected)
    assert read_provenance(tmp_path / "mem" / "movie.tif")["input"]["axes"] == "tyx"


@pytest.mark.parametrize("chunk", [256, 2048])  # frames tiled on their own, or one a task
@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_a_tiled_time_lapse_equals_the_in_memory_one(tmp_path, movie, chunk, fmt, capsys):
    path, recipe = movie
    assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / "mem")]) == 0
    assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / "tiled"),
                 "--tiled", "always", "--chunk", str(chunk), "--format", fmt]) == 0
    expected = tifffile.imread(tmp_path / "mem" / "movie.tif")
    with open_lazy(tmp_path / "tiled" / f"movie.{fmt}") as written:
        assert written.axes == "tyx"
        np.testing.assert_array_equal(written.data.compute(), expected)
    assert _objects(tmp_path / "tiled") == _objects(tmp_path / "mem")
    assert main(["info", str(tmp_path / "tiled" / f"movie.{fmt}")]) == 0
    assert "\naxes: tyx (the recipe ran on each time frame)\n" in capsys.readouterr().out


def test_the_chunk_bar_counts_a_tiled_time_lapse_s_first_frame_and_count(tmp_path, movie,
                                                                         monkeypatch):
    """A tiled time-lapse's first frame (run to learn the result's dtype) and the count of
    its written frames were computed outside the run's callbacks: no chunk bar showed
    them, and they were not stopped with the run."""
    path, recipe = movie
    monkeypatch.setattr(cli, "tqdm", _Bar)
    monkeypatch.setattr(_Bar, "made", [])
    assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / "tiled"),
                 "--tiled", "always", "--format", "zarr"]) == 0
    bars = [(bar.total, bar.n) for bar in _Bar.made if bar.desc == "tiled"]
    # the input's checksum, its first frame, the writing of the mask, then the count:
    # each of the 3 written frames read and counted
    assert len(bars) == 4 and all(total == n > 0 for total, n in bars)
    assert bars[1] == (2, 2) and bars[-1] == (6, 6)


def test_an_exported_script_runs_a_time_lapse_as_maskprep_run(tmp_path, movie):
    path, recipe = movie
    script = tmp_path / "r.py"
    assert main(["export", str(recipe), "-o", str(script)]) == 0
    done = subprocess.run([sys.executable, str(script), str(path), "-o", str(tmp_path / "py")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / "cli")]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "py" / "movie.tif"),
                                  tifffile.imread(tmp_path / "cli" / "movie.tif"))


@pytest.mark.parametrize("tiled", ["never", "always"])
def test_channels_that_are_not_colour_are_refused_in_one_line(tmp_path, movie, frames, capsys,
                                                             tiled):
    _, recipe = movie
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, frames[0][:2], metadata={"axes": "CYX"})
    assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / "out"),
                 "--tiled", tiled]) == 1
    err = capsys.readouterr().err
    assert ("two.tif: axes 'cyx' of shape (2, 520, 696) (2 channels, not RGB: choose the "
            "one to segment, with --channel N); accepted: y and x" in err)
    assert not (tmp_path / "out" / "two.tif").exists()


def _time_increment(path) -> tuple[float, str] | None:
    with tifffile.TiffFile(path) as tif:
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    return (pixels["TimeIncrement"], pixels["TimeIncrementUnit"]) if (
        "TimeIncrement" in pixels) else None


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"imagej": True, "resolution": (2.0, 2.0),
      "metadata": {"axes": "TYX", "finterval": 0.5, "tunit": "min", "unit": "um"}}, 30.0),
    ({"ome": True, "metadata": {"axes": "TYX", "TimeIncrement": 250, "TimeIncrementUnit": "ms",
                                "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}}, 0.25),
    ({"imagej": True, "metadata": {"axes": "TYX", "unit": "um"}, "resolution": (2.0, 2.0)},
     None),
])
def test_a_time_lapse_s_mask_keeps_its_time_between_frames(tmp_path, movie, frames, metadata,
                                                          expected):
    """The mask of a time-lapse kept its pixel size but not the time between its frames
    (ImageJ's finterval, OME's TimeIncrement): in memory, tiled and by an exported script,
    as a TIFF or an OME-Zarr mask."""
    _, recipe = movie
    path = tmp_path / "timed.tif"
    tifffile.imwrite(path, frames[0], photometric="minisblack", **metadata)
    script = tmp_path / "r.py"
    assert main(["export", str(recipe), "-o", str(script)]) == 0
    done = subprocess.run([sys.executable, str(script), str(path), "-o", str(tmp_path / "py")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    masks = [tmp_path / "py" / "timed.tif"]
    for tiled in ("never", "always"):
        assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / tiled),
                     "--tiled", tiled]) == 0
        masks.append(tmp_path / tiled / "timed.tif")
    for mask in masks:
        assert _time_increment(mask) == (None if expected is None else (expected, "s"))
        assert read_pixel_size(mask) == (0.5, 0.5)
    for tiled in ("never", "always"):  # an OME-Zarr mask: its t scale, in seconds
        assert main(["run", "-q", str(recipe), str(path), "-o", str(tmp_path / f"z{tiled}"),
                     "--tiled", tiled, "--format", "zarr"]) == 0
        assert read_frame_interval(tmp_path / f"z{tiled}" / "timed.zarr") == expected
