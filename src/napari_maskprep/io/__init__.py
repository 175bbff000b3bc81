"""Readers and writers: images in, masks out, provenance, safe writes, recipe text.

- ``images``: TIFF, PNG and JPEG read as arrays; image files found in folders.
- ``masks``: masks and labels written atomically as TIFF, PNG or OME-Zarr.
- ``provenance``: what made a mask, stored in it and read back.
- ``files``: atomic writes and the cleaning of killed writes' temporary files.
- ``recipe_text``: YAML and JSON read as plain data within limits.
"""

from .files import atomic_write, clean_stale_temporaries
from .images import IMAGE_SUFFIXES, ImageReadError, find_images, read_image, read_pixel_size
from .masks import MASK_FORMATS, write_mask
from .provenance import PNG_KEY, TIFF_TAG, png_with_provenance, provenance, read_provenance

__all__ = [
    "IMAGE_SUFFIXES",
    "MASK_FORMATS",
    "PNG_KEY",
    "TIFF_TAG",
    "ImageReadError",
    "atomic_write",
    "clean_stale_temporaries",
    "find_images",
    "png_with_provenance",
    "provenance",
    "read_image",
    "read_pixel_size",
    "read_provenance",
    "write_mask",
]
