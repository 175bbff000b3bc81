"""Model files: named by path and sha256, recognised by content, never unpickled."""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
import zlib

import numpy as np
import pytest

from napari_maskprep.core.errors import BadTypeError, BadValueError, LimitError
from napari_maskprep.core.model_files import (
    MAX_MODEL_BYTES,
    ModelFile,
    ModelFileError,
    file_sha256,
    load_model,
    model_format,
    read_model,
    verify_model,
)

LIGHTGBM_TEXT = b"tree\nversion=v4\nnum_class=1\n"


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.arange(4, dtype=np.float32))
    return buffer.getvalue()


def _written(tmp_path, name: str, data: bytes) -> ModelFile:
    path = tmp_path / name
    path.write_bytes(data)
    return ModelFile(str(path), hashlib.sha256(data).hexdigest())


class Exploit:
    """Unpickling this writes a marker file: the proof that a pickle ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_formats_are_recognised_by_content_not_by_name():
    assert model_format(LIGHTGBM_TEXT) == "lightgbm"
    assert model_format(_npz_bytes()) == "npz"
    assert model_format(b"\x08\x07\x12\x04onnx") == "onnx"
    assert model_format(pickle.dumps({"a": 1})) is None
    assert model_format(b"PK\x03\x04not a zip") is None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.pkl", pickle.dumps(1))
    assert model_format(buffer.getvalue()) is None


def test_a_reference_is_path_and_sha256_and_round_trips_as_plain_data():
    ref = ModelFile.from_plain({"path": "models/m.txt", "sha256": "AB" * 32})
    assert ref == ModelFile("models/m.txt", "ab" * 32)
    assert ModelFile.from_plain(ref.to_plain()) == ref
    with pytest.raises(BadValueError, match="sha256 must be 64 hex digits; got 'xyz'"):
        ModelFile.from_plain({"path": "m.txt", "sha256": "xyz"})
    with pytest.raises(BadValueError, match="exactly the keys path and sha256"):
        ModelFile.from_plain({"path": "m.txt"})
    with pytest.raises(BadTypeError, match=r"a model file is \{path: FILE, sha256: HEX\}"):
        ModelFile.from_plain("m.txt")


def test_relative_paths_resolve_against_a_folder_and_are_written_relative(tmp_path):
    ref = ModelFile("m/x.txt", "0" * 64)
    absolute = ref.resolved(tmp_path)
    assert absolute.path == str(tmp_path / "m" / "x.txt")
    assert absolute.relative_to(tmp_path / "m").path == "x.txt"
    assert absolute.relative_to(tmp_path / "other").path == "../m/x.txt"


def test_reading_checks_the_hash_and_the_format(tmp_path):
    ref = _written(tmp_path, "model.txt", LIGHTGBM_TEXT)
    assert read_model(ref, ("lightgbm",)) == (LIGHTGBM_TEXT, "lightgbm")
    assert file_sha256(ref.path) == ref.sha256
    tampered = ModelFile(ref.path, "0" * 64)
    with pytest.raises(ModelFileError, match=r"has sha256 .* not the 000000000000\.\.\. the "
                       r"step names") as info:
        read_model(tampered)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelFileError, match=r"model file .*missing.txt does not exist"):
        read_model(ModelFile(str(tmp_path / "missing.txt"), ref.sha256))
    with pytest.raises(ModelFileError) as info:  # said 'not a regular file' and no more
        read_model(ModelFile(str(tmp_path), ref.sha256))
    assert str(info.value) == (f"model file {tmp_path}: not a regular file (a folder, a "
                               "device or a pipe); accepted: the model's file")
    npz = _written(tmp_path, "weights.npz", _npz_bytes())
    with pytest.raises(ModelFileError, match=r"an \.npz of plain arrays .*, which this step "
                       r"cannot use; accepted: a LightGBM text model"):
        read_model(npz, ("lightgbm",))


@pytest.mark.parametrize("wrap", ["plain", "zlib", "protocol0"])
def test_a_pickle_is_refused_and_never_runs(tmp_path, wrap):
    marker = tmp_path / "ran.txt"
    data = pickle.dumps(Exploit(str(marker)), protocol=0 if wrap == "protocol0" else 4)
    if wrap == "zlib":
        data = zlib.compress(data)  # what joblib.dump(..., compress=True) writes
    ref = _written(tmp_path, "model.txt", data)
    with pytest.raises(ModelFileError, match="refused|compressed stream") as info:
        load_model(ref, lambda content, found: pickle.loads(content))
    assert "accepted: a LightGBM text model" in str(info.value)
    assert not marker.exists()


def test_the_size_limit_is_checked_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("napari_maskprep.core.model_files.MAX_MODEL_BYTES", 8)
    ref = _written(tmp_path, "model.txt", LIGHTGBM_TEXT)
    with pytest.raises(LimitError, match=r"\d+ bytes; the limit is 8"):
        read_model(ref)
    assert MAX_MODEL_BYTES == 512 * 2**20


def test_loaded_models_are_parsed_once_until_the_file_changes(tmp_path):
    ref = _written(tmp_path, "model.txt", LIGHTGBM_TEXT)
    calls = []

    def parse(content: bytes, found: str) -> int:
        calls.append(found)
        return len(content)

    assert load_model(ref, parse) == load_model(ref, parse) == len(LIGHTGBM_TEXT)
    assert calls == ["lightgbm"]
    assert verify_model(ref, ("lightgbm",)) == ref
    (tmp_path / "model.txt").write_bytes(LIGHTGBM_TEXT + b"x")
    with pytest.raises(ModelFileError, match="has sha256"):
        load_model(ref, parse)
    with pytest.raises(ModelFileError, match="has sha256"):
        verify_model(ref)
