"""The pixel classifier beside the usual Python recipe: scikit-image's
``multiscale_basic_features`` + scikit-learn's ``RandomForestClassifier``.

    pip install .[benchmarks]    # scikit-learn, for the reference
    python benchmarks/classifier.py [--sizes 1 16] [--ref-max-mp 4] [--threads 1]

Both sides train on the same pixels of one real 12-bit fluorescence field (BBBC039, whole
ground-truth mask, 300 000 pixels drawn with a fixed seed) and then segment the field tiled
to 1 and 16 MP (1 MP = 1024^2). Ours: the default filter bank (5 channels of features for RGB,
33 for grey: sigmas 1-16) and LightGBM (100 trees of 31 leaves), features computed in tiles
with their halo. Reference: ``multiscale_basic_features(image, sigma_min=1, sigma_max=16)``
(intensity, edges, texture: 5 scales, 20 features, float64) and a random forest of 50 trees
(as the issue's floor), ``n_jobs`` = threads. Printed: seconds and megapixels per second for
features, predict and both, best of 3 (1 at 16 MP); the reference above ``--ref-max-mp`` is
extrapolated linearly (``~``), since its float64 features of 16 MP take 2.6 GB. Also the
training time and both sides' Dice against the ground truth of another field. Nothing is
asserted; compare runs on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pin_threads(threads: int) -> None:
    """Thread counts set before numpy, OpenCV and the learners load."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def _cell(seconds: float, megapixels: float, mark: str = "") -> str:
    return f"{mark}{seconds:.2f} s ({megapixels / seconds:.2f} MP/s)"


def _best(call, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--ref-max-mp", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    _pin_threads(args.threads)

    import cv2
    import numpy as np
    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier

    import napari_maskprep as mp
    from napari_maskprep.demo import dice
    from napari_maskprep.io import read_image
    from napari_maskprep.kernels.pixel_features import feature_blocks

    cv2.setNumThreads(args.threads)
    sys.path.insert(0, str(ROOT))
    from tests.conftest import DATA, pairs

    fields = [(read_image(i), read_image(m) > 0) for i, m in pairs(DATA, "bbbc039_fluo_nuclei")]
    (train_image, train_truth), (test_image, test_truth) = fields[1], fields[0]
    samples = np.sort(np.random.default_rng(0).choice(train_truth.size, 300_000, replace=False))

    started = time.perf_counter()
    ours = mp.train_pixel_classifier(train_image, train_truth,
                                     max_samples=300_000, seed=0)
    ours_train = time.perf_counter() - started
    started = time.perf_counter()
    ref_train_features = multiscale_basic_features(train_image, sigma_min=1, sigma_max=16,
                                                   workers=args.threads)
    forest = RandomForestClassifier(n_estimators=50, n_jobs=args.threads, random_state=0)
    forest.fit(ref_train_features.reshape(-1, ref_train_features.shape[-1])[samples],
               train_truth.ravel()[samples])
    ref_train = time.perf_counter() - started

    def reference(image: np.ndarray) -> tuple[float, float, np.ndarray]:
        start = time.perf_counter()
        features = multiscale_basic_features(image, sigma_min=1, sigma_max=16,
                                             workers=args.threads)
        middle = time.perf_counter()
        labels = forest.predict(features.reshape(-1, features.shape[-1]))
        return middle - start, time.perf_counter() - middle, labels.reshape(image.shape)

    def our_features(image: np.ndarray) -> None:
        for _ in feature_blocks(image, ours.features, rgb=False):
            pass

    print(f"threads: {args.threads}; load average {os.getloadavg()[0]:.1f}")
    print(f"training on 300 000 pixels: ours {ours_train:.1f} s (features + LightGBM 100 "
          f"trees), reference {ref_train:.1f} s (features + random forest 50 trees)")
    print(f"Dice on another field: ours {dice(ours.predict(test_image), test_truth):.3f}, "
          f"reference {dice(reference(test_image)[2], test_truth):.3f}")
    print("| MP | ours features | ours predict | ours total | reference features | "
          "reference predict | reference total | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        side = int(round(1024 * size**0.5))
        reps = (-(-side // test_image.shape[0]), -(-side // test_image.shape[1]))
        image = np.ascontiguousarray(np.tile(test_image, reps)[:side, :side])
        megapixels = image.size / 2**20
        repeats = 3 if size <= 4 else 1
        features_time, _ = _best(lambda image=image: our_features(image), repeats)
        total_time, _ = _best(lambda image=image: ours.predict(image), repeats)
        if size <= args.ref_max_mp:
            times = [reference(image)[:2] for _ in range(repeats)]
            ref_features, ref_predict = min(t[0] for t in times), min(t[1] for t in times)
            mark = ""
        else:
            crop = image[:2048, :2048]
            scale = image.size / crop.size
            ref_features, ref_predict, _ = reference(crop)
            ref_features, ref_predict, mark = ref_features * scale, ref_predict * scale, "~"

        ref_total = ref_features + ref_predict
        cells = [_cell(features_time, megapixels), _cell(total_time - features_time, megapixels),
                 _cell(total_time, megapixels), _cell(ref_features, megapixels, mark),
                 _cell(ref_predict, megapixels, mark), _cell(ref_total, megapixels, mark)]
        print(f"| {size} | {' | '.join(cells)} | {ref_total / total_time:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
