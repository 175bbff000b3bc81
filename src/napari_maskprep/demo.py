"""``maskprep demo``: the bundled recipe on the bundled samples, with a picture to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .batch import check_replaceable
from .core.errors import BadValueError
from .fit import dice
from .io import atomic_write, png_with_provenance, provenance, write_mask
from .recipe import Recipe
from .samples import DEMO_RECIPE, SAMPLES, load

__all__ = ["dice", "overlay", "run_demo"]

OURS = (0, 230, 0)  # RGB outline of our mask
TRUTH = (255, 0, 255)  # RGB outline of the ground truth
PANEL_HEIGHT = 520


def _display_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 RGB for display: grey stretched between its 1st and 99.8th percentiles."""
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return np.ascontiguousarray(image[..., :3]).astype(np.uint8)
    lo, hi = np.percentile(image, (1, 99.8))
    grey = np.clip((image.astype(np.float32) - lo) / max(hi - lo, 1e-6) * 255, 0, 255)
    return cv2.cvtColor(grey.astype(np.uint8), cv2.COLOR_GRAY2RGB)


def overlay(image: np.ndarray, mask: np.ndarray, truth: np.ndarray, title: str) -> np.ndarray:
    """The image with our mask outlined in green and the ground truth in magenta."""
    scale = max(1, PANEL_HEIGHT // image.shape[0])  # small images are enlarged, pixels kept

    def enlarged(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)

    rgb = enlarged(_display_rgb(image))
    for m, colour in ((truth, TRUTH), (mask, OURS)):
        contours, _ = cv2.findContours(enlarged((m > 0).astype(np.uint8)), cv2.RETR_LIST,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, colour, 1)
    banner = np.full((28, rgb.shape[1], 3), 255, np.uint8)
    cv2.putText(banner, title, (4, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([banner, rgb])


def _montage(panels: list[np.ndarray]) -> np.ndarray:
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 8), (0, 0)), constant_values=255)
              for p in panels]
    return np.hstack(padded)


def run_demo(outdir: Path) -> Iterator[str]:
    """Write a mask per sample and ``overlay.png`` to ``outdir``; yield one line per result.

    Files there are replaced only if an earlier demo (or run) wrote them."""
    picture = outdir / "overlay.png"
    for path in [outdir / f"{key}.tif" for key in SAMPLES] + [picture]:
        check_replaceable(path)
    outdir.mkdir(parents=True, exist_ok=True)
    recipe = Recipe.load(DEMO_RECIPE)
    yield f"recipe: {DEMO_RECIPE.name} ({' -> '.join(s.op for s in recipe.steps)})"
    panels = []
    for key, sample in SAMPLES.items():
        image, truth = load(key)
        mask = recipe.run(image)
        path = write_mask(outdir / f"{key}.tif", mask,
                          metadata=provenance(recipe.dumps(), image, source=sample.file))
        score = dice(mask, truth)
        yield f"{sample.title}: Dice {score:.3f} vs ground truth -> {path}"
        middle = image.shape[0] // 2 if sample.axes.startswith("z") else None
        view = (image, mask, truth) if middle is None else (image[middle], mask[middle],
                                                              truth[middle])
        panels.append(overlay(*view, f"{key}: Dice {score:.2f} (green ours, magenta truth)"))
    montage = _montage(panels)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(montage, cv2.COLOR_RGB2BGR))
    if not ok:
        raise BadValueError(f"{picture}: PNG encoding failed")
    payload = png_with_provenance(encoded.tobytes(),
                                  provenance(recipe.dumps(), montage, source="overlay"))
    atomic_write(picture, lambda tmp: tmp.write_bytes(payload))
    yield f"overlay: {picture}"
