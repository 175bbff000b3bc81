"""`maskprep info` on foreign, tampered and hostile files: one line and exit 2, never a
traceback; what it prints from a file is shown escaped, never as terminal commands."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_maskprep.cli import main
from napari_maskprep.io import PNG_KEY, TIFF_TAG, png_with_provenance, provenance, write_mask
from napari_maskprep.recipe import Recipe

MASK = np.eye(4, dtype=np.uint8)
GOOD = provenance(Recipe([{"op": "refine.open"}]).dumps(), MASK, source="a.tif")


def tiff_with_tag(path, dtype: int, value, count: int | None = None) -> None:
    count = len(value) if count is None else count
    tifffile.imwrite(path, MASK, extratags=[(TIFF_TAG, dtype, count, value, True)])


def png_with(path, metadata) -> None:
    import cv2

    path.write_bytes(png_with_provenance(cv2.imencode(".png", MASK)[1].tobytes(), metadata))


def info_fails_in_one_line(capsys, path, match: str) -> None:
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert match in captured.err and len(captured.err.strip().splitlines()) == 1
    assert len(captured.err) < 400


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: tiff_with_tag(p, 3, 7, 1), "holds int, not text"),
        (lambda p: tiff_with_tag(p, 3, (1, 2, 3)), "holds tuple, not text"),
        (lambda p: tiff_with_tag(p, 2, "not json"), "holds no maskprep provenance"),
        (lambda p: tiff_with_tag(p, 7, b"\xff\xfe"), "cannot read (UnicodeDecodeError"),
        (lambda p: tiff_with_tag(p, 7, b"[1, 2]"), "holds no maskprep provenance"),
        (lambda p: tiff_with_tag(p, 7, b"[" * 100_000 + b"]" * 100_000),
         "holds no maskprep provenance"),
        (lambda p: tiff_with_tag(p, 7, json.dumps({"maskprep_provenance": 1}).encode()),
         "provenance is damaged (recipe is missing"),
        (lambda p: tiff_with_tag(p, 7, json.dumps({**GOOD, "input": [1]}).encode()),
         "provenance is damaged (input is missing"),
        (lambda p: tiff_with_tag(p, 7, json.dumps(
            {**GOOD, "input": {**GOOD["input"], "shape": "4x4"}}).encode()),
         "provenance is damaged (input.shape"),
        (lambda p: tiff_with_tag(p, 7, json.dumps({**GOOD, "versions": None}).encode()),
         "(versions is missing"),
        *[(lambda p, size=size: tiff_with_tag(p, 7, json.dumps(
            {**GOOD, "input": {**GOOD["input"], "pixel_size": size}}).encode()),
           "(input.pixel_size is missing or of the wrong type)")
          for size in ("0.5", 2, [True], [[0.5]], {"x": 1}, [0.5, -1], [])],
        (lambda p: tifffile.imwrite(p, MASK), "holds no maskprep provenance"),
        (lambda p: p.write_bytes(b"II*\x00" + os.urandom(64)), "cannot read"),
        (lambda p: p.write_bytes(b""), "mask.tif: the file is empty (0 bytes)"),  # as run says
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: os.mkfifo(p), "not a regular file"),
    ],
)
def test_foreign_or_tampered_tiff_is_one_line(tmp_path, capsys, make, match):
    path = tmp_path / "mask.tif"
    make(path)
    info_fails_in_one_line(capsys, path, match)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\xff\xff\xff\xffiTXt", "holds no maskprep provenance"),
        (b"\x89PNG\r\n\x1a\n" + (9).to_bytes(4, "big") + b"iTXtmaskprep\0\xff",
         "holds no maskprep provenance"),
        (b"\x89PNG", "holds no maskprep provenance"),
    ],
)
def test_foreign_or_truncated_png_is_one_line(tmp_path, capsys, data, match):
    path = tmp_path / "mask.png"
    path.write_bytes(data)
    info_fails_in_one_line(capsys, path, match)


@pytest.mark.parametrize("name", ["photo.jpg", "nuclei.maskprep.yaml", "notes"])
def test_a_file_of_a_kind_maskprep_never_writes_names_the_accepted_ones(tmp_path, capsys, name):
    """It read as a TIFF: "cannot read (TiffFileError: not a TIFF file: header=...)"."""
    path = tmp_path / name
    path.write_bytes(b"\xff\xd8\xff\xe0 not a mask")
    info_fails_in_one_line(capsys, path, "not a mask file maskprep writes; accepted: a .tif, "
                                         ".png or .zarr mask")


def test_foreign_zarr_is_one_line(tmp_path, capsys):
    import zarr

    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    info_fails_in_one_line(capsys, empty, "not a zarr group")
    group = zarr.open_group(tmp_path / "g.zarr", mode="w", zarr_format=2)
    group.attrs[PNG_KEY] = [1, 2]
    info_fails_in_one_line(capsys, tmp_path / "g.zarr", "holds no maskprep provenance")


def test_terminal_escapes_in_a_stored_recipe_are_printed_escaped(tmp_path, capsys):
    hostile = {**GOOD, "recipe": "maskprep: 1\nname: \x1b]0;pwned\x07\x1b[2J\nsteps: []\n",
               "created": "\x1b[31mred"}
    path = tmp_path / "mask.png"
    png_with(path, hostile)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in out and "created: \\x1b[31mred" in out
    assert main(["info", str(path), "--recipe"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_info_on_a_mask_we_wrote(tmp_path, capsys):
    path = write_mask(tmp_path / "m.tif", MASK, metadata=GOOD)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("input: a.tif  sha256:") and "refine.open" in out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["recipe", "input", "versions", "created", "maskprep_provenance",
                            "source", "checksum", "shape", "dtype"]),
       value=json_values, drop=st.booleans())
def test_any_tampered_provenance_is_shown_or_refused_in_one_line(tmp_path, capsys, key,
                                                                 value, drop):
    tampered = json.loads(json.dumps(GOOD))
    holder = tampered["input"] if key in ("source", "checksum", "shape", "dtype") else tampered
    if drop:
        holder.pop(key)
    else:
        holder[key] = value
    path = tmp_path / "mask.tif"
    tiff_with_tag(path, 7, json.dumps(tampered).encode())
    code = main(["info", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1 and len(captured.err) < 400
    else:
        assert code == 0 and captured.out.startswith("input: ")


@pytest.mark.parametrize(("found", "said"), [
    (2, "its provenance format 2 is newer than this napari-maskprep reads (1)"),
    ("x", "its provenance format 'x' is unknown (this napari-maskprep reads 1)"),
])
def test_provenance_of_another_format_is_said_and_shown_as_far_as_read(tmp_path, capsys,
                                                                        found, said):
    path = tmp_path / "mask.tif"
    tiff_with_tag(path, 7, json.dumps({**GOOD, "maskprep_provenance": found}).encode())
    note = f"maskprep: note: {said}; what this one reads is shown (update napari-maskprep for " \
           "the rest)\n"
    assert main(["info", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == note
    assert captured.out.startswith("input: a.tif  sha256:")
    assert main(["info", str(path), "--recipe"]) == 0
    assert capsys.readouterr() == (GOOD["recipe"], note)


def test_provenance_of_a_newer_format_lacking_a_field_is_not_called_damaged(tmp_path, capsys):
    path = tmp_path / "mask.tif"
    newer = {k: v for k, v in GOOD.items() if k != "input"}
    tiff_with_tag(path, 7, json.dumps({**newer, "maskprep_provenance": 2}).encode())
    assert main(["info", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"maskprep: error: {path}: its provenance format 2 is newer than this napari-maskprep "
        "reads (1), and lacks the input this one reads (update napari-maskprep)\n")


def test_a_mask_cut_short_after_its_provenance_is_shown_without_tifffile_s_log(tmp_path,
                                                                              capsys, caplog):
    """tifffile's log of the damage past the tag ("<TiffTag.fromfile> raised ...") was
    written to stderr beside what info showed, and by every write that asked whether
    maskprep wrote the file it replaces."""
    path = write_mask(tmp_path / "mask.tif", np.resize(MASK, (3, 4, 4)), metadata=GOOD,
                      axes="tyx", pixel_size=(0.5, 0.5))
    data = path.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[:data.index(b"<?xml") + 40])  # inside its OME-XML, after the tag
    assert main(["info", str(cut)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.splitlines()[0] == (
        f"input: a.tif  {GOOD['input']['checksum']}  shape [4, 4] uint8")
    assert [r.getMessage() for r in caplog.records if r.name == "tifffile"] == []
