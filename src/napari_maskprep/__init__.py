"""napari-maskprep: prepare binary masks for image segmentation.

Preprocess → segment → refine, by hand in napari or replayed from a recipe. This module
imports no napari, magicgui or Qt code, so it works on a machine without a display.
"""

from . import ops  # noqa: F401 (registers every op)
from ._version import __version__
from .core import (
    BadTypeError,
    BadValueError,
    Kind,
    LimitError,
    MaskprepError,
    MaskprepWarning,
    OpSpec,
    UnknownOpError,
    apply,
    get_op,
    list_ops,
)
from .core.model_files import ModelFile
from .fit import fit_recipe
from .learning import PixelClassifier, train_pixel_classifier
from .recipe import Recipe, RecipeError

__all__ = [
    "BadTypeError",
    "BadValueError",
    "Kind",
    "LimitError",
    "MaskprepError",
    "MaskprepWarning",
    "ModelFile",
    "OpSpec",
    "PixelClassifier",
    "Recipe",
    "RecipeError",
    "UnknownOpError",
    "__version__",
    "apply",
    "fit_recipe",
    "get_op",
    "list_ops",
    "train_pixel_classifier",
]
