"""Model files: a learned step names its model by path and sha256; the file is data.

A recipe step's model parameter is a :class:`ModelFile`, written in a recipe as
``model: {path: nuclei.lgbm.txt, sha256: 64 hex digits}``; a relative path is relative to
the recipe file (to the working directory in Python). Before a model is used its file is
read whole (at most :data:`MAX_MODEL_BYTES`), hashed, compared with the recorded sha256 and
recognised **by its content** as one of the known formats (:data:`FORMATS`): a LightGBM
text model, an ``.npz`` of plain arrays (read with ``allow_pickle=False``) or an ONNX
protobuf. Anything else is refused, a pickle or joblib file by name, before any of it is
parsed: nothing in a model file is ever unpickled, imported or executed. Every refusal is
one line naming the file and what is accepted.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import BadTypeError, BadValueError, LimitError, shown

__all__ = [
    "FORMATS",
    "MAX_MODEL_BYTES",
    "ModelFile",
    "ModelFileError",
    "file_sha256",
    "load_model",
    "model_format",
    "read_model",
    "verify_model",
]

MAX_MODEL_BYTES = 512 * 2**20  # a BioImage Model Zoo U-Net is tens of MB; read whole to hash
FORMATS = {
    "lightgbm": "a LightGBM text model (booster.save_model)",
    "npz": "an .npz of plain arrays (numpy.savez, no object arrays)",
    "onnx": "an ONNX model",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEYS = ("path", "sha256")
# Signatures of what a model file must never be: pickles (protocol 2-5 begin with PROTO)
# and the compressed streams joblib wraps them in (zlib, gzip, bz2, xz, lz4).
_PICKLE = re.compile(rb"^\x80[\x02-\x05]")
_COMPRESSED = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x1f\x8b", b"BZh",
               b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18")
T = TypeVar("T")


class ModelFileError(BadValueError):
    """A model file that is missing, too large, of another hash or not a known format."""


@dataclass(frozen=True)
class ModelFile:
    """A model file named by ``path`` and the ``sha256`` of its content (64 hex digits).

    Examples
    --------
    >>> ref = ModelFile.from_plain({"path": "m.txt", "sha256": "AB" * 32})
    >>> ref.sha256 == "ab" * 32, ref.to_plain()["path"]
    (True, 'm.txt')
    """

    # Empty by default: what a form shows before a file is chosen; from_plain refuses it.
    path: str = ""
    sha256: str = ""

    @classmethod
    def from_plain(cls, value: Any) -> ModelFile:
        """A reference from ``{path: ..., sha256: ...}`` (or a ModelFile), checked."""
        if isinstance(value, ModelFile):
            value = value.to_plain()
        if not isinstance(value, Mapping):
            raise BadTypeError(f"a model file is {{path: FILE, sha256: HEX}}; got {shown(value)}")
        if set(value) != set(_KEYS):
            raise BadValueError(f"a model file has exactly the keys path and sha256; got keys "
                                f"{shown(sorted(map(str, value)))}")
        path, digest = value["path"], value["sha256"]
        if not isinstance(path, str) or not path or "\x00" in path:
            raise BadValueError(f"a model file's path must be a non-empty file name; got "
                                f"{shown(path)}")
        if not isinstance(digest, str) or not _SHA256.match(digest.lower()):
            raise BadValueError(f"a model file's sha256 must be 64 hex digits; got "
                                f"{shown(digest)}")
        return cls(path, digest.lower())

    def to_plain(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}

    def resolved(self, base_dir: str | os.PathLike[str] | None = None) -> ModelFile:
        """The same reference with an absolute path (a relative one joined to ``base_dir``,
        the working directory if None)."""
        path = Path(self.path).expanduser()
        if not path.is_absolute():
            path = Path(base_dir if base_dir is not None else Path.cwd()) / path
        return ModelFile(os.path.normpath(path.absolute()), self.sha256)

    def relative_to(self, folder: str | os.PathLike[str]) -> ModelFile:
        """The reference as a recipe in ``folder`` writes it: a path relative to that folder
        (absolute where none exists, as across Windows drives)."""
        try:
            path = os.path.relpath(self.resolved().path, os.path.abspath(folder))
        except ValueError:
            return self.resolved()
        return ModelFile(Path(path).as_posix(), self.sha256)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's content, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_npz(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        return False
    return bool(members) and all(m.filename.endswith(".npy") for m in members)


def model_format(data: bytes) -> str | None:
    """The known format ``data`` is (a key of :data:`FORMATS`), by content; None if none.

    Examples
    --------
    >>> model_format(b"tree\\nversion=v4\\n"), model_format(b"\\x80\\x04\\x95"), model_format(b"")
    ('lightgbm', None, None)
    """
    if data.startswith(b"tree\n") and b"\nversion=v" in data[:256]:
        return "lightgbm"
    if _is_npz(data):
        return "npz"
    # ModelProto's first field is ir_version (field 1, varint: tag byte 0x08).
    if data.startswith(b"\x08") and len(data) > 2 and not _PICKLE.match(data):
        return "onnx"
    return None


def _what_else(data: bytes) -> str:
    if _PICKLE.match(data) or (data[:1] in (b"(", b"]", b"}", b"c") and data.endswith(b".")):
        return "a Python pickle"
    if data.startswith(_COMPRESSED):
        return "a compressed stream, as joblib writes pickles"
    if data.startswith(b"PK\x03\x04"):
        return "a zip archive that is not an .npz of arrays"
    return "not a known model format"


def _refused(path: str, data: bytes, found: str | None, formats: tuple[str, ...]
             ) -> ModelFileError:
    accepted = "; ".join(FORMATS[f] for f in formats)
    what = _what_else(data) if found is None else f"{FORMATS[found]}, which this step cannot use"
    if "pickle" in what:
        what += ", refused because loading it could run any code"
    return ModelFileError(f"model file {path}: {what}; accepted: {accepted}")


def read_model(ref: ModelFile, formats: tuple[str, ...] = tuple(FORMATS),
               base_dir: str | os.PathLike[str] | None = None) -> tuple[bytes, str]:
    """The content of ``ref``'s file and its format, once its hash and format are checked.

    Raises :class:`ModelFileError` in one line: a missing or non-regular file, a file
    over :data:`MAX_MODEL_BYTES`, another sha256, or content that is none of ``formats``
    (pickles and joblib files by name). Nothing is parsed here.
    """
    path = ref.resolved(base_dir).path
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(f"model file {path}: not a regular file (a folder, a "
                                 "device or a pipe); accepted: the model's file")
        if info.st_size > MAX_MODEL_BYTES:
            raise LimitError(f"model file {path}: {info.st_size} bytes; the limit is "
                             f"{MAX_MODEL_BYTES}")
        with open(path, "rb") as f:
            data = f.read(MAX_MODEL_BYTES + 1)  # the file may have grown since stat
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} does not exist; train or copy it there, "
                             "or correct the step's model path") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_MODEL_BYTES:
        raise LimitError(f"model file {path}: more than {MAX_MODEL_BYTES} bytes; the limit")
    digest = hashlib.sha256(data).hexdigest()
    if digest != ref.sha256:
        raise ModelFileError(f"model file {path} has sha256 {digest[:12]}..., not the "
                             f"{ref.sha256[:12]}... the step names: it changed since the step "
                             "was recorded; retrain, or record the new hash")
    found = model_format(data)
    if found not in formats:
        raise _refused(path, data, found, formats)
    return data, found


_LOCK = threading.Lock()
_PARSED: OrderedDict[tuple[str, str], Any] = OrderedDict()
# (path, size, mtime, inode) -> (sha256, format) of files read and accepted
_CHECKED: dict[tuple[str, int, int, int], tuple[str, str]] = {}
_CACHED_MODELS = 8


def _file_key(path: str) -> tuple[str, int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (path, info.st_size, info.st_mtime_ns, info.st_ino)


def _known(file_key: tuple[str, int, int, int] | None, sha256: str,
           formats: tuple[str, ...]) -> bool:
    """Whether the unchanged file was accepted with this hash in one of ``formats``."""
    seen = _CHECKED.get(file_key) if file_key is not None else None
    return seen is not None and seen[0] == sha256 and seen[1] in formats


def _remember(file_key: tuple[str, int, int, int] | None, sha256: str, found: str) -> None:
    if file_key is not None:
        if len(_CHECKED) >= 64 * _CACHED_MODELS:
            _CHECKED.clear()
        _CHECKED[file_key] = (sha256, found)


def verify_model(ref: ModelFile, formats: tuple[str, ...] = tuple(FORMATS),
                 base_dir: str | os.PathLike[str] | None = None) -> ModelFile:
    """``ref`` with an absolute path, once :func:`read_model` accepts its file; a file
    checked before and unchanged since (same size, time and inode) is not read again."""
    ref = ref.resolved(base_dir)
    file_key = _file_key(ref.path)
    with _LOCK:
        if _known(file_key, ref.sha256, formats):
            return ref
    _, found = read_model(ref, formats)
    with _LOCK:
        _remember(file_key, ref.sha256, found)
    return ref


def load_model(ref: ModelFile, parse: Callable[[bytes, str], T],
               formats: tuple[str, ...] = tuple(FORMATS)) -> T:
    """``parse(content, format)`` of ``ref``'s checked file (see :func:`read_model`).

    Parsed models are kept by content hash and parser (the last few), so the chunks of a
    tiled run parse a model once; an unchanged file (same size, time and inode) is not
    read again.
    """
    ref = ref.resolved()
    key = (ref.sha256, f"{parse.__module__}.{parse.__qualname__}")
    file_key = _file_key(ref.path)
    with _LOCK:
        if key in _PARSED and _known(file_key, ref.sha256, formats):
            _PARSED.move_to_end(key)
            return _PARSED[key]
    data, found = read_model(ref, formats)
    model = parse(data, found)
    with _LOCK:
        _remember(file_key, ref.sha256, found)
        _PARSED[key] = model
        while len(_PARSED) > _CACHED_MODELS:
            _PARSED.popitem(last=False)
    return model
