"""Choices several stages share, defined once: which neighbours connect pixels, and the
footprints of morphology. Op-specific choices live beside their op in ``ops/``."""

from __future__ import annotations

import enum

__all__ = ["Connectivity", "Footprint"]


class Connectivity(enum.StrEnum):
    """Which neighbours connect pixels into one object."""

    FACES = "faces"  # 4-connected in 2D, 6 in 3D (skimage connectivity=1)
    FULL = "full"  # 8-connected in 2D, 26 in 3D (skimage connectivity=ndim)


class Footprint(enum.StrEnum):
    """Shape of the neighbourhood (structuring element) of radius ``radius``.

    ``disk``, ``square`` and ``diamond`` take the data's dimension: on 3D data they are the
    ball, the cube and the octahedron. ``ball``, ``cube`` and ``octahedron`` name the 3D
    shapes explicitly and are refused on 2D data.
    """

    DISK = "disk"
    SQUARE = "square"
    DIAMOND = "diamond"
    BALL = "ball"
    CUBE = "cube"
    OCTAHEDRON = "octahedron"
