"""Train the bundled presets on the shared image sets and score them by cross-validation.

    python benchmarks/train_presets.py [--data ../shared/data] [--only he-nuclei] [--cv-only]

For each preset: k-fold cross-validation over its images (each fold trains on the other
folds' images with their ground-truth masks and is scored on its own, never trained on), mean
Dice per set beside the classical recipe (Gaussian 1 -> Otsu, automatic polarity -> remove
objects < 20 px -> fill holes); then the model trained on every image is written to
``src/napari_maskprep/presets/<name>.lgbm.txt`` with its recipe ``<name>.maskprep.yaml``.
Training is deterministic, so a rerun writes the same files (the same sha256). Prints a
Markdown table for the README.

A preset of one 3D stack (``halves``) is cross-validated over the stack's two halves in z,
each cut apart from the other, instead of over images.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.color import hed2rgb, rgb2hed

import napari_maskprep as mp
from napari_maskprep.demo import dice
from napari_maskprep.io import read_image

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "src" / "napari_maskprep" / "presets"
CLASSICAL = mp.Recipe([
    {"op": "preprocess.gaussian", "params": {"sigma": 1.0}},
    {"op": "segment.auto_threshold", "params": {"method": "otsu", "polarity": "auto"}},
    {"op": "refine.remove_small", "params": {"min_size": 20}},
    {"op": "refine.fill_holes"},
])


@dataclass
class Preset:
    """A preset: which images train it, the steps around its classifier, how it trains."""

    name: str
    title: str
    sets: list[tuple[str, str | None]]  # (folder, modality or None for all)
    before: list[dict] = field(default_factory=list)  # steps before the classifier
    after: list[dict] = field(default_factory=list)  # clean-up after it
    folds: int = 5
    train: dict = field(default_factory=dict)
    # The classifier step's probability threshold; None: chosen from THRESHOLDS within the
    # training images only (chosen_threshold), so a held-out fold never picks its own.
    threshold: float | None = 0.5
    smooth: float = 0.0  # the classifier step's probability smoothing (sigma, px)
    halves: bool = False  # one stack: cross-validate over its two halves in z instead
    stain_copies: int = 0  # stain-jittered copies of each RGB training image (stain_jittered)
    edge_band: float = 0.0  # pixels this near a mask's edge are trained on twice (edge_weighted)


THRESHOLDS = tuple(np.round(np.arange(0.3, 0.701, 0.05), 2))
CLEAN_UP = [{"op": "refine.fill_holes"}, {"op": "refine.remove_small", "params": {"min_size": 20}}]
STRETCH = [{"op": "preprocess.rescale", "params": {"low": 1.0, "high": 99.8}}]
PRESET_LIST = [
    Preset("fluorescence-nuclei", "fluorescence nuclei (grey, bright on dark)",
           [("bbbc039_fluo_nuclei", None), ("dsb2018_fluo_nuclei", None)],
           before=STRETCH, after=CLEAN_UP),
    # Four stain-jittered copies of each image: cross-validated 0.857 -> 0.863.
    Preset("he-nuclei", "H&E nuclei (RGB tissue, dark purple nuclei)",
           [("dsb2018_brightfield_nuclei", "histology_rgb")], after=CLEAN_UP,
           stain_copies=4),
    # Four images: a larger model on more of their pixels (cross-validated 0.843 -> 0.850).
    Preset("brightfield-nuclei", "grey brightfield nuclei (small dark nuclei in large cells)",
           [("dsb2018_brightfield_nuclei", "brightfield_gray")], before=STRETCH,
           after=CLEAN_UP, folds=4,
           train={"leaves": 63, "trees": 200, "max_samples": 600_000}),
    # One 3D stack: features filtered in 3D, scales up to a nucleus (sigma 8 and 16 reach
    # across a 16-plane stack: halves 0.837 at sigma 1-4, 0.823 at 1-8). Its noise is a third
    # of the contrast: probabilities smoothed at sigma 1 before the threshold, 0.837 -> 0.845
    # (the 2D presets gain under 0.001 from it and stay unsmoothed). Its threshold is chosen
    # within the training planes (0.845 -> 0.848): below 0.5 the smoothed probabilities of
    # thin nuclei and edges still count. Most wrong voxels lie within 2 px of a nucleus's
    # edge: those are trained on twice, 0.848 -> 0.851.
    Preset("fluorescence-nuclei-3d", "3D fluorescence nuclei (grey stacks, bright on dark)",
           [("stardist_synthetic_3d", None)], before=STRETCH, after=CLEAN_UP, folds=2,
           train={"sigmas": (1.0, 2.0, 4.0)}, halves=True, smooth=1.0, threshold=None,
           edge_band=2.0),
]


def load_set(data: Path, folder: str, modality: str | None) -> list[tuple[str, np.ndarray,
                                                                             np.ndarray]]:
    with open(data / folder / "index.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if modality in (None, r["modality"])]
    return [(r["image"], read_image(data / folder / r["image"]),
             (read_image(data / folder / r["mask"]) > 0).astype(np.uint8)) for r in rows]


def prepared(preset: Preset, image: np.ndarray) -> np.ndarray:
    return mp.Recipe(preset.before).run(image) if preset.before else image


def stain_jittered(image: np.ndarray, rng: np.random.Generator, *, scale: float = 0.4,
                   shift: float = 0.02) -> np.ndarray:
    """A uint8 copy of an RGB image whose hematoxylin, eosin and DAB densities
    (``skimage.color.rgb2hed``) are each multiplied by a factor drawn from [1 - scale,
    1 + scale] and moved by one from [-shift, shift]: HED colour augmentation (Tellez et al.,
    Medical Image Analysis 58, 101544, 2019), so the model meets other stainings than its
    images' own."""
    hed = rgb2hed(image[..., :3]) * rng.uniform(1 - scale, 1 + scale, 3) + rng.uniform(
        -shift, shift, 3)
    return np.clip(hed2rgb(hed) * 255 + 0.5, 0, 255).astype(np.uint8)


def edge_weighted(images: list[np.ndarray], masks: list[np.ndarray], width: float
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The images twice, with scribbles (1 background, 2 foreground): first their whole
    masks, then only the pixels within ``width`` px (Euclidean) of a mask's edge, on either
    side, so that training counts those twice: they are where a threshold goes wrong."""
    scribbles = [(m > 0).astype(np.uint8) + 1 for m in masks]
    # A distance transform is 0 on the other side, so both are within width only there.
    bands = [np.where((ndi.distance_transform_edt(m > 0) <= width)
                      & (ndi.distance_transform_edt(m == 0) <= width), s, 0).astype(np.uint8)
             for m, s in zip(masks, scribbles, strict=True)]
    return [*images, *images], [*scribbles, *bands]


def train(preset: Preset, images: list[np.ndarray], masks: list[np.ndarray]
          ) -> mp.PixelClassifier:
    images = [prepared(preset, im) for im in images]
    if preset.stain_copies:
        rng = np.random.default_rng(0)
        images = [*images, *(stain_jittered(im, rng) for im in images
                             for _ in range(preset.stain_copies))]
        masks = [*masks, *(m for m in masks for _ in range(preset.stain_copies))]
    if preset.edge_band:
        images, scribbles = edge_weighted(images, masks, preset.edge_band)
        return mp.train_pixel_classifier(images, scribbles, annotation="scribbles",
                                         **preset.train)
    return mp.train_pixel_classifier(images, masks, annotation="masks", **preset.train)


def recipe(preset: Preset, ref: mp.ModelFile, threshold: float) -> mp.Recipe:
    step = {"op": "segment.pixel_classifier",
            "params": {"model": ref.to_plain(), "threshold": threshold}}
    if preset.smooth:
        step["params"]["smooth"] = preset.smooth
    return mp.Recipe([*preset.before, step, *preset.after], name=preset.name)


def chosen_threshold(preset: Preset, images: list[np.ndarray], masks: list[np.ndarray],
                     scratch: Path) -> float:
    """The preset's threshold, or the one of THRESHOLDS with the best mean Dice over two inner
    folds of the training images (for a ``halves`` preset, each stack's halves in z, cut
    apart): each fold segmented by a model trained on the other, as cross_validate does."""
    if preset.threshold is not None:
        return preset.threshold
    if preset.halves:
        parts = [(im[h], m[h]) for im, m in zip(images, masks, strict=True)
                 for h in np.array_split(np.arange(len(im)), 2)]
        folds = [[p for i, p in enumerate(parts) if i % 2 == k] for k in range(2)]
    else:
        folds = [[(im, m) for i, (im, m) in enumerate(zip(images, masks, strict=True))
                  if i % 2 == k] for k in range(2)]
    scores = []
    for k, held in enumerate(folds):
        kept = folds[1 - k]
        model = train(preset, [im for im, _ in kept], [m for _, m in kept])
        ref = model.save(scratch / f"{preset.name}-inner{k}.txt")
        scores += [[dice(recipe(preset, ref, threshold).run(image), truth)
                    for threshold in THRESHOLDS] for image, truth in held]
    return THRESHOLDS[int(np.argmax(np.mean(scores, axis=0)))]


def cross_validate(preset: Preset, items: list[tuple[str, str, np.ndarray, np.ndarray]],
                   scratch: Path) -> dict[str, list[tuple[float, float]]]:
    """Per set, (learned, classical) Dice of every image, each scored by the fold that
    held it out."""
    scores: dict[str, list[tuple[float, float]]] = {}
    for fold in range(preset.folds):
        held = [i for i in range(len(items)) if i % preset.folds == fold]
        kept = [i for i in range(len(items)) if i % preset.folds != fold]
        started = time.perf_counter()
        images, masks = [items[i][2] for i in kept], [items[i][3] for i in kept]
        model = train(preset, images, masks)
        ref = model.save(scratch / f"{preset.name}-fold{fold}.txt")
        threshold = chosen_threshold(preset, images, masks, scratch)
        run = recipe(preset, ref, threshold)
        for i in held:
            folder, _, image, truth = items[i]
            scores.setdefault(folder, []).append(
                (dice(run.run(image), truth), dice(CLASSICAL.run(image), truth)))
        print(f"  fold {fold + 1}/{preset.folds}: trained on {len(kept)} images (threshold "
              f"{threshold:g}) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--cv-only", action="store_true", help="score, write no preset")
    parser.add_argument("--no-cv", action="store_true", help="write the presets, score none")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/maskprep-presets"))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", mp.MaskprepWarning)  # RGB to the classical grey Otsu
    args.scratch.mkdir(parents=True, exist_ok=True)
    table = ["| preset | set (images) | classical | learned (cross-validated) |",
             "|---|---|---|---|"]
    for preset in PRESET_LIST:
        if args.only and preset.name not in args.only:
            continue
        items = [(folder, name, image, truth) for folder, modality in preset.sets
                 for name, image, truth in load_set(args.data, folder, modality)]
        print(f"{preset.name}: {len(items)} images, {preset.folds}-fold", flush=True)
        held = [(folder, name, image[half], truth[half]) for folder, name, image, truth in
                items for half in np.array_split(np.arange(len(image)), 2)] if (
            preset.halves) else items
        scores = {} if args.no_cv else cross_validate(preset, held, args.scratch)
        for folder, pairs in scores.items():
            learned, classical = np.mean(pairs, axis=0)
            row = (f"| `{preset.name}` | {folder} ({len(pairs)}) | {classical:.3f} | "
                   f"{learned:.3f} |")
            table.append(row)
            print(row, flush=True)
        if not args.cv_only:
            images, masks = [it[2] for it in items], [it[3] for it in items]
            model = train(preset, images, masks)
            PRESETS.mkdir(exist_ok=True)
            ref = model.save(PRESETS / f"{preset.name}.lgbm.txt")
            threshold = chosen_threshold(preset, images, masks, args.scratch)
            recipe(preset, ref, threshold).save(PRESETS / f"{preset.name}.maskprep.yaml")
            print(f"  wrote {ref.path} ({Path(ref.path).stat().st_size} bytes, threshold "
                  f"{threshold:g})", flush=True)
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
