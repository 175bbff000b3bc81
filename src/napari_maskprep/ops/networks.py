"""Segmentation by a trained network: a user's ONNX model (a U-Net from the BioImage Model
Zoo, or their own), named by path and sha256, run tile by tile with its halo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np

from ..core.errors import BadValueError
from ..core.locality import Local
from ..core.model_files import ModelFile, load_model
from ..core.registry import operation
from ..kernels.networks import CheckedModel, run_network
from ..kernels.threads import thread_budget

__all__ = ["onnx_model"]


def _checked(data: bytes, found: str) -> CheckedModel:
    return CheckedModel(data, where="the ONNX model")


def _load(model: ModelFile) -> CheckedModel:
    """The model in ``model``'s file, checked once per file (load_model keeps it)."""
    return load_model(model, _checked, ("onnx",))


def _check(params: Mapping[str, Any]) -> None:
    if params["halo"] % params["multiple"]:
        raise BadValueError(f"halo={params['halo']} is not a multiple of multiple="
                            f"{params['multiple']}; accepted: halo = k x multiple, so that "
                            "every tile starts on the network's grid")


@operation("segment.onnx_model", input="image", output="mask", ndim=(2,), channels="any",
           locality=Local(halo=lambda p: p["halo"], stripes=False, align=lambda p: p["multiple"]),
           check=_check)
def onnx_model(
    image: np.ndarray,
    *,
    model: Annotated[ModelFile | None, {"formats": ("onnx",), "load": _load,
                                        "input_channels": lambda loaded: loaded.channels,
                                        "tooltip": "the .onnx file and its sha256"}] = None,
    halo: Annotated[int, {"min": 0, "max": 1024, "unit": "px", "searched": False,
                          "tooltip": "how far the network sees: each tile reads this margin"}
                    ] = 32,
    multiple: Annotated[int, {"min": 1, "max": 256, "searched": False,
                              "tooltip": "the network's total "
                              "downsampling (2^k for k poolings); 1 without pooling"}] = 16,
    scale_integers: Annotated[bool, {"label": "integers to 0..1", "searched": False}] = True,
    mean: Annotated[float, {"step": 0.1, "searched": False}] = 0.0,
    std: Annotated[float, {"min": 1e-12, "step": 0.1, "searched": False}] = 1.0,
    channel: Annotated[int, {"min": 0, "max": 1023, "searched": False,
                             "tooltip": "the output channel holding the foreground"}] = 0,
    threshold: Annotated[float, {"step": 0.01, "search_range": (0.0, 1.0)}] = 0.5,
) -> np.ndarray:
    """Run an ONNX segmentation network; foreground where its output channel is above the
    threshold.

    Parameters
    ----------
    image : ndarray
        2D image, grey (one input channel) or RGB(A) (three or four), any numeric dtype.
    model : {path, sha256}
        The network's ``.onnx`` file and the sha256 of its content; a relative path is
        relative to the recipe's folder. The file is refused if its hash differs, if it is
        not ONNX (a pickle is refused by name), if it stores weights outside the file,
        uses operators outside the default ONNX domain or control flow (Loop, Scan, If).
        It must take one float input (1, channels, height, width) with free height and
        width and give (1, classes, height, width) first.
    halo : int
        Margin in pixels each tile reads around it: the network's receptive radius (how far
        an output pixel sees). A multiple of ``multiple``. Tiles equal the whole-image run
        where the network sees no further.
    multiple : int
        The network's total downsampling (16 for a U-Net with four poolings; 1 without
        pooling): inputs are padded (reflected) to a multiple of it at their end, and tiles
        start on multiples of it.
    scale_integers : bool
        Integer images are first divided by their dtype's maximum (uint8 255 -> 1.0), as
        networks trained on [0, 1] expect; floats are taken as they are.
    mean, std : float
        Then ``(image - mean) / std``: the normalisation the network was trained with.
        For a percentile normalisation, put ``preprocess.rescale`` (whose percentiles are
        the whole image's, in memory and tiled) before this step.
    channel : int
        Which output channel is the foreground (0 for a one-channel sigmoid output, 1 for
        the foreground of a two-class output).
    threshold : float
        Foreground is ``output > threshold``; ``maskprep fit`` searches it from 0 to 1 (a
        probability; a network giving logits needs it set by hand).

    Returns
    -------
    mask : ndarray of uint8
        0/1 mask of the image's height and width.

    Notes
    -----
    Reference: the network run once on the whole image by onnxruntime, padded at its end to
    a multiple of ``multiple``; the tiles (``kernels.networks``) equal it bit for bit.
    onnxruntime runs on :func:`~napari_maskprep.kernels.threads.thread_budget` threads (as
    many as cv2 may use), with the same result on any number (tested). Needs the ``[onnx]`` extra.

    Examples
    --------
    >>> import hashlib, pathlib, tempfile, onnx
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph(  # a "network" that thresholds the image itself
    ...     [helper.make_node("Identity", ["x"], ["y"])], "copy",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "h", "w"])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "h", "w"])])
    >>> data = helper.make_model(graph).SerializeToString()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "copy.onnx"
    >>> _ = path.write_bytes(data)
    >>> image = np.array([[0, 100, 200]], dtype=np.uint8)
    >>> onnx_model(image, model={"path": str(path), "sha256": hashlib.sha256(data).hexdigest()},
    ...            multiple=1, halo=0)
    array([[0, 0, 1]], dtype=uint8)
    """
    if model is None:
        raise BadValueError("segment.onnx_model needs its model: {path: FILE.onnx, sha256: "
                            "HEX} (sha256sum FILE.onnx gives the hash)")
    network = _load(model).network(thread_budget())  # opened once per thread count
    x = image.astype(np.float32) if image.dtype != np.float32 else image
    if scale_integers and image.dtype.kind in "ui":
        x = x / np.float32(np.iinfo(image.dtype).max)
    if mean != 0.0 or std != 1.0:
        x = (x - np.float32(mean)) / np.float32(std)
    if x.ndim == 2:
        x = x[..., None]
    output = run_network(network, x, channel=channel, halo=halo, multiple=multiple)
    return (output > threshold).view(np.uint8)
