"""Readers and writers: images in, masks out, provenance, safe writes, recipe text.

- ``images``: TIFF, PNG and JPEG read as arrays; image files found in folders.
- ``axes``: a file's axes as ops take them (time frames first, colour samples last), the
  same in memory and tiled; a recipe run frame by frame on a time-lapse.
- ``lazy``: OME-Zarr, bare zarr arrays and large or pyramidal TIFF (BigTIFF, OME-TIFF,
  SVS) opened as dask arrays without reading pixels.
- ``stores``: any input read whole, image files and zarr stores alike (``read_image``).
- ``series``: the images (positions, wells) of a multi-series OME-TIFF, from its header.
- ``tiffs``: a TIFF opened once for the reads that overlap (a plate's wells and channels).
- ``ngff``: where an OME-Zarr store keeps its image (a bioformats2raw container's first).
- ``masks``: masks and labels written atomically as TIFF, PNG or OME-Zarr.
- ``omezarr``: a mask or labels of any size written chunk by chunk as an OME-Zarr
  image-label with a pyramid, as a new store or into an image's ``labels/``; a region
  written back into one (the chunks it touches, and its pyramid).
- ``bigtiff``: a mask of any size written tile by tile as a tiled BigTIFF.
- ``provenance``: what made a mask, stored in it and read back.
- ``files``: atomic writes and the cleaning of killed writes' temporary files.
- ``recipe_text``: YAML and JSON read as plain data within limits.
"""

from .axes import check_channel, each_frame, image_layout, resolve_channel
from .bigtiff import write_bigtiff
from .files import atomic_write, clean_stale_temporaries
from .images import (
    IMAGE_SUFFIXES,
    SLIDE_SUFFIXES,
    ImageReadError,
    SeveralImagesError,
    channel_count,
    channel_names,
    decoded_size,
    find_images,
    foreign_images,
    read_channels,
    read_pixel_size,
    takes_layout,
)
from .lazy import (
    LAZY_BUDGET,
    LazyImage,
    check_chunk_count,
    chunk_count,
    is_lazy_path,
    is_zarr_array,
    open_lazy,
)
from .masks import MASK_FORMATS, pixel_size_of_axes, write_mask
from .ngff import image_group
from .omezarr import (
    PYRAMID_TOP,
    OutputExistsError,
    RegionNotRestoredError,
    SavedRegion,
    check_label_fits,
    check_label_name,
    region_before,
    write_ome_zarr,
    write_region,
)
from .provenance import (
    PNG_KEY,
    TIFF_TAG,
    png_with_provenance,
    provenance,
    provenance_format_note,
    read_provenance,
    written_by_maskprep,
)
from .series import SeriesInfo, list_series, series_numbers
from .stores import read_image, read_image_axes
from .tiffs import TIFF_SUFFIXES, keep_tiff_open
from .timing import read_frame_interval

__all__ = [
    "IMAGE_SUFFIXES",
    "SLIDE_SUFFIXES",
    "LAZY_BUDGET",
    "MASK_FORMATS",
    "PNG_KEY",
    "PYRAMID_TOP",
    "TIFF_SUFFIXES",
    "TIFF_TAG",
    "ImageReadError",
    "LazyImage",
    "OutputExistsError",
    "RegionNotRestoredError",
    "SavedRegion",
    "SeriesInfo",
    "SeveralImagesError",
    "atomic_write",
    "channel_count",
    "channel_names",
    "check_channel",
    "check_chunk_count",
    "chunk_count",
    "check_label_fits",
    "check_label_name",
    "clean_stale_temporaries",
    "each_frame",
    "decoded_size",
    "find_images",
    "foreign_images",
    "image_group",
    "image_layout",
    "list_series",
    "is_lazy_path",
    "is_zarr_array",
    "keep_tiff_open",
    "open_lazy",
    "pixel_size_of_axes",
    "png_with_provenance",
    "provenance",
    "provenance_format_note",
    "read_channels",
    "resolve_channel",
    "series_numbers",
    "read_image",
    "read_image_axes",
    "read_frame_interval",
    "read_pixel_size",
    "takes_layout",
    "read_provenance",
    "region_before",
    "write_bigtiff",
    "write_mask",
    "write_ome_zarr",
    "write_region",
    "written_by_maskprep",
]
