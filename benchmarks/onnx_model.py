#!/usr/bin/env python
"""segment.onnx_model side by side with one onnxruntime call on the whole image.

    python benchmarks/onnx_model.py                 # 4 and 16 MP, 1 and 2 threads
    python benchmarks/onnx_model.py --sizes 1 --threads 1

The network is built here (no download): a two-level U-Net of 16 channels (3x3
convolutions and ReLU, 2x2 max pooling twice, nearest upsampling, skip connections, a
sigmoid; downsampling 4, receptive radius 18 px), seeded weights. The input is real
fluorescence (DSB 2018 tiles from ``tests/data``), uint8.

- ``ours``: ``mp.apply("segment.onnx_model", ...)``: normalisation, 1024 px tiles with a
  20 px halo, threshold;
- ``reference``: the same normalisation, one ``session.run`` on the whole image, the same
  threshold: what a script calling onnxruntime does when the image fits in memory;
- ``ours tiled``: ``Recipe.run`` on a dask array of 1024 px chunks (``engine.tiled``).

Printed: seconds (best of ``--repeat``), MP/s, and whether ours equals the reference.
Nothing is asserted: times vary +-30% on a shared machine; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = 16


def unet_bytes(seed: int = 0) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}

    def conv(name: str, source: str, cin: int, cout: int, nodes: list) -> str:
        weights[f"{name}_w"] = (np.abs(rng.normal(size=(cout, cin, 3, 3))) * 4 / (9 * cin)
                                ).astype(np.float32)
        weights[f"{name}_b"] = -rng.uniform(0.5, 1.5, cout).astype(np.float32)
        nodes.append(helper.make_node("Conv", [source, f"{name}_w", f"{name}_b"], [f"{name}_c"],
                                      pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"{name}_c"], [name]))
        return name

    nodes: list = []
    c = CHANNELS
    e1 = conv("e1", "x", 1, c, nodes)
    nodes.append(helper.make_node("MaxPool", [e1], ["p1"], kernel_shape=[2, 2], strides=[2, 2]))
    e2 = conv("e2", "p1", c, c, nodes)
    nodes.append(helper.make_node("MaxPool", [e2], ["p2"], kernel_shape=[2, 2], strides=[2, 2]))
    bottom = conv("b", "p2", c, c, nodes)
    weights["scales"] = np.array([1, 1, 2, 2], np.float32)
    nodes.append(helper.make_node("Resize", [bottom, "", "scales"], ["u2"], mode="nearest"))
    nodes.append(helper.make_node("Concat", ["u2", e2], ["k2"], axis=1))
    d2 = conv("d2", "k2", 2 * c, c, nodes)
    nodes.append(helper.make_node("Resize", [d2, "", "scales"], ["u1"], mode="nearest"))
    nodes.append(helper.make_node("Concat", ["u1", e1], ["k1"], axis=1))
    d1 = conv("d1", "k1", 2 * c, c, nodes)
    weights["out_w"] = (rng.normal(size=(1, c, 1, 1)) / c).astype(np.float32)
    weights["out_b"] = np.zeros(1, np.float32)
    nodes.append(helper.make_node("Conv", [d1, "out_w", "out_b"], ["z"]))
    nodes.append(helper.make_node("Sigmoid", ["z"], ["y"]))
    graph = helper.make_graph(
        nodes, "unet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [numpy_helper.from_array(a, name) for name, a in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]
                             ).SerializeToString()


def image_of(megapixels: int) -> np.ndarray:
    from napari_maskprep.io import find_images, read_image

    tiles = [read_image(p)[:256, :256] for p in find_images(
        [ROOT / "tests" / "data" / "dsb2018_fluo_nuclei" / "images"])]
    tiles = [t[..., 0] if t.ndim == 3 else t for t in tiles]
    side = int(np.sqrt(megapixels)) * 1024
    rows = [np.concatenate([tiles[(r + k) % len(tiles)] for k in range(side // 256)], axis=1)
            for r in range(side // 256)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


def best(repeat: int, func):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 16], help="megapixels")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import cv2
    import dask
    import dask.array as da
    import onnxruntime as ort

    import napari_maskprep as mp

    data = unet_bytes()
    folder = Path(tempfile.mkdtemp(prefix="maskprep-bench-onnx-"))
    (folder / "unet.onnx").write_bytes(data)
    model = {"path": str(folder / "unet.onnx"), "sha256": hashlib.sha256(data).hexdigest()}
    params = {"model": model, "multiple": 4, "halo": 20, "threshold": 0.5}
    print(f"{'MP':>4} {'threads':>7} {'ours s':>8} {'ref s':>8} {'tiled s':>8} "
          f"{'ours MP/s':>9} {'ref MP/s':>9}  equal")
    for size in args.sizes:
        image = image_of(size)
        mpx = image.size / 2**20
        for threads in args.threads:
            cv2.setNumThreads(threads)  # thread_budget(): the op's onnxruntime threads
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])

            def reference(image=image, session=session):
                x = (image.astype(np.float32) / np.float32(255))[None, None]
                pad = [(0, 0), (0, 0), (0, -x.shape[2] % 4), (0, -x.shape[3] % 4)]
                y = session.run(None, {"x": np.pad(x, pad, mode="reflect")})[0]
                return (y[0, 0, : image.shape[0], : image.shape[1]] > 0.5).view(np.uint8)

            mp.apply("segment.onnx_model", image[:64, :64], **params)  # opens the session
            ours_s, ours = best(args.repeat, lambda image=image: mp.apply(
                "segment.onnx_model", image, **params))
            ref_s, ref = best(args.repeat, reference)
            recipe = mp.Recipe([{"op": "segment.onnx_model", "params": params}])
            with dask.config.set(scheduler="threads", num_workers=threads):
                tiled_s, tiled = best(1, lambda image=image, recipe=recipe: recipe.run(
                    da.from_array(image, chunks=1024)).compute())
            equal = np.array_equal(ours, ref) and np.array_equal(tiled, ours)
            print(f"{size:>4} {threads:>7} {ours_s:>8.2f} {ref_s:>8.2f} {tiled_s:>8.2f} "
                  f"{mpx / ours_s:>9.2f} {mpx / ref_s:>9.2f}  {equal}")


if __name__ == "__main__":
    main()
