"""``maskprep run --series N|all`` segments the positions or wells of a multi-series
OME-TIFF, each as an image of its own with its own pixel size, in memory, tiled and on
workers alike: one mask per series, named ``<stem>_s<N>``, its provenance naming the
series. Such a file was refused ("save each as a file of its own"), so a plate a
microscope wrote could not be run at all."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import tifffile

from napari_maskprep.batch import SUMMARY_NAME, plan_batch
from napari_maskprep.cli import main
from napari_maskprep.core.errors import BadValueError
from napari_maskprep.fit import dice, fit_recipe
from napari_maskprep.io import open_lazy, read_pixel_size, read_provenance, write_ome_zarr
from napari_maskprep.recipe import Recipe

# 10 um2 is 40 px at 0.5 um a pixel (the 16 px object goes), 10 px at 1 um, 4.4 at 1.5 um
RECIPE = ("maskprep: 1\nsteps:\n- op: segment.threshold\n  params: {value: 100}\n"
          "- op: refine.remove_small\n  params: {min_size: 10 um2}\n")
SIZES = (0.5, 1.0, 1.5)  # um per pixel of each position


def position(n: int) -> np.ndarray:
    """Position n: a 4 x 4 px object and a 10 x 10 px one, placed by n."""
    image = np.zeros((40, 48), np.uint8)
    image[2 + n:6 + n, 2:6] = 200
    image[20:30, 10 + n:20 + n] = 200
    return image


def expected(n: int) -> np.ndarray:
    """Position n's mask: the small object is under 10 um2 at 0.5 um a pixel only."""
    mask = (position(n) > 100).astype(np.uint8)
    if SIZES[n] == 0.5:
        mask[:10] = 0
    return mask


@pytest.fixture
def plate(tmp_path):
    """An OME-TIFF of three positions, each with its pixel size, and a thumbnail."""
    path = tmp_path / "images" / "plate.ome.tif"
    path.parent.mkdir()
    with tifffile.TiffWriter(path, ome=True) as tif:
        for n, size in enumerate(SIZES):
            tif.write(position(n), metadata={"axes": "YX", "PhysicalSizeX": size,
                                             "PhysicalSizeY": size})
        tif.write(np.zeros((4, 6), np.uint8), metadata={"axes": "YX"})
    return path


@pytest.fixture
def run(tmp_path):
    (tmp_path / "r.maskprep.yaml").write_text(RECIPE)

    def run(*args):
        return main(["run", "-q", str(tmp_path / "r.maskprep.yaml"), *map(str, args)])

    return run


def _mask(path) -> np.ndarray:
    with open_lazy(path) as mask:
        return np.asarray(mask.data.compute())


def _rows(outdir) -> list[dict[str, str]]:
    with open(outdir / SUMMARY_NAME, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("options", [["--tiled", "never"], ["--tiled", "always"],
                                     ["--workers", "1"]])
def test_series_all_writes_one_mask_per_series_named_for_it(tmp_path, plate, run, options):
    out = tmp_path / "out"
    assert run(plate, "-o", out, "--series", "all", *options) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        SUMMARY_NAME, "plate.ome_s0.tif", "plate.ome_s1.tif", "plate.ome_s2.tif"]
    for n, size in enumerate(SIZES):
        mask = out / f"plate.ome_s{n}.tif"
        np.testing.assert_array_equal(_mask(mask), expected(n))
        stored = read_provenance(mask)["input"]
        assert (stored["source"], stored["series"], stored["pixel_size"]) == (
            "plate.ome.tif", n, [size, size])
        assert read_pixel_size(mask) == (size, size)  # the mask carries its series' size
    assert [(r["file"], r["status"], r["output"], r["objects"]) for r in _rows(out)] == [
        (f"{plate} (series {n})", "ok", str(out / f"plate.ome_s{n}.tif"), str(objects))
        for n, objects in enumerate((1, 2, 2))]


def test_series_n_runs_that_image_alone_and_resumes_by_series(tmp_path, plate, run, capsys):
    out = tmp_path / "out"
    assert run(plate, "-o", out, "--series", 1) == 0
    assert sorted(p.name for p in out.iterdir()) == [SUMMARY_NAME, "plate.ome_s1.tif"]
    np.testing.assert_array_equal(_mask(out / "plate.ome_s1.tif"), expected(1))
    capsys.readouterr()
    assert run(plate, "-o", out, "--series", "all", "--resume") == 0
    assert "2 written, 1 skipped (done before), 0 failed" in capsys.readouterr().err
    assert run(plate, "-o", out, "--series", 2, "--resume") == 0
    assert "0 written, 1 skipped (done before), 0 failed" in capsys.readouterr().err
    # the summary keeps the rows of the series not run again
    assert [r["file"] for r in _rows(out)] == [f"{plate} (series {n})" for n in (0, 1, 2)]
    main(["info", str(out / "plate.ome_s2.tif")])
    assert "\nseries: 2\n" in capsys.readouterr().out


def test_without_series_a_plate_is_refused_saying_how_to_choose(tmp_path, plate, run,
                                                                capsys):
    assert run(plate, "-o", tmp_path / "out") == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if "failed:" in line]
    assert failed == [f"failed: {plate}: holds 3 images of shape (40, 48) (OME-TIFF series: "
                      "positions or wells); accepted: one chosen with --series N (0 to 2), "
                      "or each as an image of its own with --series all (series=N in "
                      "Python)"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == [SUMMARY_NAME]


@pytest.mark.parametrize("options", [[], ["--series", "all"]])
def test_a_tiff_written_plane_by_plane_is_refused_or_run_each_plane(tmp_path, run, capsys,
                                                                     options):
    """tifffile makes each write a series: the mask was of the first plane alone."""
    path = tmp_path / "planes.tif"
    with tifffile.TiffWriter(path) as tif:
        for n, size in enumerate(SIZES):
            tif.write(position(n), resolution=(1e4 / size, 1e4 / size),
                      resolutionunit="CENTIMETER")
    out = tmp_path / "out"
    assert run(path, "-o", out, *options) == (0 if options else 1)
    if not options:
        assert [r["error"] for r in _rows(out)] == [
            f"{path}: holds 3 images of shape (40, 48) (TIFF series: images written one by "
            "one); accepted: one chosen with --series N (0 to 2), or each as an image of its "
            "own with --series all (series=N in Python)"]
        capsys.readouterr()
        assert main(["info", str(path)]) == 0
        assert capsys.readouterr().out.splitlines()[0] == (
            f"{path}: 3 images (TIFF series: images written one by one); run one with "
            "--series N, or each with --series all")
        return
    for n in range(3):  # each plane with its own pixel size
        np.testing.assert_array_equal(_mask(out / f"planes_s{n}.tif"), expected(n))


@pytest.mark.parametrize("tiled", ["never", "always"])
def test_a_tiff_of_pages_of_several_shapes_is_refused_or_run_each_page(tmp_path, run, capsys,
                                                                       tiled):
    """A page and a thumbnail of another shape: the mask was of the first page alone."""
    path = tmp_path / "pages.tif"
    um = {"metadata": None, "resolution": (1e4, 1e4), "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(path, position(0), **um)
    tifffile.imwrite(path, position(1)[:32], append=True, **um)
    out = tmp_path / "out"
    assert run(path, "-o", out, "--tiled", tiled) == 1
    assert [r["error"] for r in _rows(out)] == [
        f"{path}: holds 2 images of shapes (40, 48), (32, 48) (TIFF pages of several shapes); "
        "accepted: one chosen with --series N (0, 1), or each as an image of its own with "
        "--series all (series=N in Python)"]
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: 2 images (TIFF pages of several shapes); run one with --series N, or each "
        "with --series all",
        "series 0: shape (40, 48) uint8, axes yx, pixel size 1 x 1 um",
        "series 1: shape (32, 48) uint8, axes yx, pixel size 1 x 1 um"]
    assert run(path, "-o", tmp_path / "each", "--series", "all", "--tiled", tiled) == 0
    np.testing.assert_array_equal(_mask(tmp_path / "each" / "pages_s1.tif"),
                                  (position(1)[:32] > 100).astype(np.uint8))


def test_series_all_run_tiled_checks_steps_run_plane_by_plane_on_each_series(
        tmp_path, plate, capsys):
    """A step run plane by plane (per_plane) runs tiled on planes only: with --series all
    the check read the file without a series, which a plate refuses, so a plate of planes
    was refused ('cannot run tiled: it runs plane by plane'). Each series is now checked
    from its header, and the one that is no plane is named."""
    recipe = tmp_path / "planes.maskprep.yaml"
    recipe.write_text("maskprep: 1\nsteps:\n- op: segment.threshold\n  params: {value: 100}"
                      "\n  per_plane: true\n")
    out = tmp_path / "out"
    assert main(["run", "-q", str(recipe), str(plate), "-o", str(out), "--series", "all",
                 "--tiled", "always"]) == 0
    for n in range(3):
        np.testing.assert_array_equal(_mask(out / f"plate.ome_s{n}.tif"),
                                      (position(n) > 100).astype(np.uint8))
    mixed = tmp_path / "mixed.ome.tif"  # of one shape: a time-lapse, then a z-stack
    with tifffile.TiffWriter(mixed, ome=True) as tif:
        for axes in ("TYX", "ZYX"):
            tif.write(np.stack([position(n) for n in range(3)]), metadata={"axes": axes})
    capsys.readouterr()
    assert main(["run", "-q", str(recipe), str(mixed), "-o", str(tmp_path / "mixed"),
                 "--series", "all", "--tiled", "always"]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {mixed} (series 1) runs tiled (larger than memory, or OME-Zarr), "
        "but step 1 (segment.threshold) cannot run tiled: it runs plane by plane (per_plane: "
        "true), which tiled runs do not support yet\n")
    assert not (tmp_path / "mixed").exists()


@pytest.mark.parametrize(("series", "why"), [
    (5, "has no series 5"),
    (3, "its series 3 is of shape (4, 6) (a label, macro or thumbnail image), not (40, 48)"),
])
def test_a_series_that_is_no_image_of_the_file_fails_it_in_one_line(tmp_path, plate, run,
                                                                   capsys, series, why):
    for tiled in ("never", "always"):
        assert run(plate, "-o", tmp_path / "out", "--series", series, "--tiled", tiled) == 1
        failed = [line for line in capsys.readouterr().err.splitlines() if "failed:" in line]
        assert failed == [f"failed: {plate} (series {series}): {why}; accepted: series 0 to "
                          "2 (its 3 images of shape (40, 48))"]
        assert not (tmp_path / "out" / f"plate.ome_s{series}.tif").exists()


def test_a_folder_runs_each_series_of_each_file_beside_its_masks(tmp_path, plate, run,
                                                                capsys):
    """Files of one image are series 0; masks written among the inputs (--suffix) are not
    taken for inputs when the folder runs again."""
    folder = plate.parent
    tifffile.imwrite(folder / "a.tif", position(0))
    cv2.imwrite(str(folder / "b.png"), position(1))
    options = ["-o", folder, "--series", "all", "--suffix", "_mask", "--pixel-size", 1]
    assert run(folder, *options) == 0
    assert sorted(p.name for p in folder.glob("*_mask.tif")) == [
        "a_s0_mask.tif", "b_s0_mask.tif", "plate.ome_s0_mask.tif", "plate.ome_s1_mask.tif",
        "plate.ome_s2_mask.tif"]
    for name, n in (("a_s0", 0), ("b_s0", 1), ("plate.ome_s0", 0), ("plate.ome_s2", 2)):
        # at 1 um a pixel both objects are over 10 um2
        np.testing.assert_array_equal(_mask(folder / f"{name}_mask.tif"), position(n) > 100)
    capsys.readouterr()
    assert run(folder, *options, "--resume") == 0
    assert "0 written, 5 skipped (done before), 0 failed" in capsys.readouterr().err


def test_series_with_a_label_name_is_a_usage_error(tmp_path, run, capsys):
    store = tmp_path / "image.zarr"
    write_ome_zarr(position(0), store)
    assert run(store, "-o", tmp_path / "out", "--series", 0, "--label-name", "cells") == 2
    assert capsys.readouterr().err == ("maskprep: error: series 0 with a label name, which "
                                       "writes into OME-Zarr stores, one image each; "
                                       "accepted: either alone\n")
    with pytest.raises(SystemExit):
        run(store, "-o", tmp_path / "out", "--series", "-1")
    assert ("argument --series: '-1' is not a series' number from 0 to 1048576, or all"
            in capsys.readouterr().err)


@pytest.mark.parametrize("bad", [-1, 1.0, True, "1"])
def test_a_batch_s_series_that_is_no_number_nor_all_is_one_line(tmp_path, bad):
    with pytest.raises(BadValueError) as refused:
        plan_batch(Recipe.loads(RECIPE), [tmp_path], tmp_path / "out", series=bad)
    assert str(refused.value) == (f"series {bad!r}; accepted: a series' number from 0, or "
                                  "'all' (each image of a multi-series file)")


def test_info_lists_the_series_of_a_multi_series_file(plate, capsys):
    assert main(["info", str(plate)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{plate}: 3 images (OME-TIFF series: positions or wells); run one with --series N, "
        "or each with --series all",
        "series 0 'Image0': shape (40, 48) uint8, axes yx, pixel size 0.5 x 0.5 um",
        "series 1 'Image1': shape (40, 48) uint8, axes yx, pixel size 1 x 1 um",
        "series 2 'Image2': shape (40, 48) uint8, axes yx, pixel size 1.5 x 1.5 um",
    ]
    assert main(["info", str(plate), "--recipe"]) == 2  # no recipe: it is no mask of ours


def test_fit_series_n_reads_that_image_of_each_file_with_its_pixel_size(tmp_path, plate,
                                                                       capsys):
    """maskprep fit took no --series, so a folder holding a plate could not be fitted."""
    images, masks, recipe = plate.parent, tmp_path / "masks", tmp_path / "r.maskprep.yaml"
    masks.mkdir()
    tifffile.imwrite(masks / "plate.tif", expected(1))  # masks pair by stem, as without
    recipe.write_text(RECIPE)
    args = ["fit", str(recipe), "--images", str(images), "--masks", str(masks), "--trials",
            "2", "--holdout-fraction", "0", "-q"]
    for series, plate_dice in ((1, 1.0), (0, dice(expected(0), expected(1)))):
        report = tmp_path / f"s{series}.csv"
        assert main([*args, "-o", str(tmp_path / "f.maskprep.yaml"), "--report", str(report),
                     "--series", str(series)]) == 0
        with open(report, newline="", encoding="utf-8") as f:
            rows = [(r["image"], r["dice_before"]) for r in csv.DictReader(f)]
        assert rows == [("plate", f"{plate_dice:.6f}")]
    # a file of one image is series 0
    tifffile.imwrite(images / "one.tif", position(1), resolution=(1.0, 1.0),
                     resolutionunit="MICROMETER")  # 1 um a pixel
    tifffile.imwrite(masks / "one.tif", expected(1))
    result = fit_recipe(Recipe.load(recipe), images, masks, trials=1, holdout=0, series=0)
    assert [(s.name, s.before) for s in result.scores] == [
        ("one", 1.0), ("plate", dice(expected(0), expected(1)))]
    # a series a file lacks is one line naming it; a series that is no number is refused
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "g.maskprep.yaml"), "--series", "1"]) == 2
    assert capsys.readouterr().err == (f"maskprep: error: {images / 'one.tif'}: has no series "
                                       "1; accepted: series 0 (its one image of shape (40, 48))"
                                       "\n")
    with pytest.raises(SystemExit):
        main([*args, "-o", str(tmp_path / "g.maskprep.yaml"), "--series", "all"])
    assert ("argument --series: 'all' is not a series' number from 0 to 1048576\n"
            in capsys.readouterr().err)
    assert not (tmp_path / "g.maskprep.yaml").exists()
    with pytest.raises(BadValueError, match=r"^series 1 with images given as arrays; accepted: "
                                            r"a series with folders of files"):
        fit_recipe(Recipe.load(recipe), [position(1)], [expected(1)], series=1)


class CountedTiffFile(tifffile.TiffFile):
    """tifffile.TiffFile, counting the files it opens (each parses its series list)."""

    opened: list[str] = []

    def __init__(self, file, *args, **kwargs):
        CountedTiffFile.opened.append(str(file))
        super().__init__(file, *args, **kwargs)


@pytest.mark.parametrize("tiled", ["never", "always"])
def test_series_all_parses_a_plate_once_not_once_a_series(tmp_path, run, monkeypatch, tiled):
    """Each series' run parsed the plate's whole series list again (for its pixel size, then
    its pixels; 80 ms each at 96 series): the plate is now parsed once to plan the batch,
    once to check its sizes in um against every series' header, and once for all its runs,
    however many series it holds."""
    monkeypatch.setattr(tifffile, "TiffFile", CountedTiffFile)
    for count in (3, 12):
        path = tmp_path / f"plate{count}.ome.tif"
        with tifffile.TiffWriter(path, ome=True) as tif:
            for n in range(count):
                tif.write(position(n), metadata={"axes": "YX", "PhysicalSizeX": 1.0,
                                                 "PhysicalSizeY": 1.0})
        CountedTiffFile.opened = []
        out = tmp_path / f"out{count}"
        assert run(path, "-o", out, "--series", "all", "--tiled", tiled) == 0
        assert [p for p in CountedTiffFile.opened if p == str(path)] == [str(path)] * 3
        for n in range(count):
            np.testing.assert_array_equal(_mask(out / f"plate{count}.ome_s{n}.tif"),
                                          (position(n) > 100).astype(np.uint8))


def test_fit_without_series_on_a_plate_says_what_fit_takes(tmp_path, plate, capsys):
    """Fit refused a plate without --series with run's advice, 'or each as an image of its
    own with --series all', which fit refuses: it pairs one mask a file stem."""
    masks, recipe = tmp_path / "masks", tmp_path / "r.maskprep.yaml"
    masks.mkdir()
    tifffile.imwrite(masks / "plate.tif", expected(1))
    recipe.write_text(RECIPE)
    assert main(["fit", str(recipe), "--images", str(plate.parent), "--masks", str(masks),
                 "-o", str(tmp_path / "f.maskprep.yaml"), "-q"]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {plate}: holds 3 images of shape (40, 48) (OME-TIFF series: "
        "positions or wells); "
        "accepted: one chosen with --series N (0 to 2), the same for every image file and "
        "paired with the mask of the file's stem (series=N in Python)\n")
    assert not (tmp_path / "f.maskprep.yaml").exists()
