"""Bundled presets: recipes with their trained models, named for what they segment.

Each preset is ``<name>.maskprep.yaml`` beside the model file its classifier step names
(``<name>.lgbm.txt``, by a path relative to the recipe and its sha256), trained by
``benchmarks/train_presets.py`` on the shared image sets; ``README.md`` here says on which
images, under which licences, and how well they do on images they were not trained on.
``maskprep presets`` lists them; ``maskprep run NAME INPUT... -o OUTDIR`` runs one.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RECIPE_SUFFIX", "preset_names", "preset_path"]

HERE = Path(__file__).parent
RECIPE_SUFFIX = ".maskprep.yaml"


def preset_names() -> list[str]:
    """The names of the bundled presets, sorted.

    Examples
    --------
    >>> "he-nuclei" in preset_names()
    True
    """
    return sorted(p.name[: -len(RECIPE_SUFFIX)] for p in HERE.glob(f"*{RECIPE_SUFFIX}"))


def preset_path(name: str) -> Path | None:
    """The recipe file of the preset ``name``; None if there is no such preset."""
    return HERE / f"{name}{RECIPE_SUFFIX}" if name in preset_names() else None
