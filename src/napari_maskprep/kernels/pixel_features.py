"""A multi-scale filter bank for pixel classification, float32, computed on demand.

Features are named ``<channel>_raw`` and ``<channel>_<filter>_s<sigma>`` (``grey_log_s4``,
``hema_hess_hi_s2``; a decimal sigma as ``0p5``), so a model file can list the features it
was trained on and prediction computes only those (:func:`feature_names`,
:func:`compute_features`). Channels: ``grey`` for a grey image; for RGB ``red``, ``green``,
``blue`` and the stain densities ``hema`` and ``eosin`` (``skimage.color.rgb2hed``). Values
are scaled to [0, 1] by the dtype's range for integers (floats as they are). A grey 3D stack
(z, y, x) is the channel ``volume``, filtered in 3D (below).

Filters at each sigma, all on the channel smoothed by a Gaussian of that sigma (``G``):

- ``gauss``: ``G`` -- ``scipy.ndimage.gaussian_filter(x, sigma, mode='nearest',
  truncate=4)``;
- ``gradient``: ``|grad G|`` with central differences, ``np.gradient(G)``;
- ``log``: ``sigma**2 * (G_yy + G_xx)``, scale-normalised Laplacian of Gaussian;
- ``dog``: ``G(sigma) - G(next sigma)`` (not at the largest sigma);
- ``hess_hi``, ``hess_lo``: eigenvalues of the Hessian of ``G``,
  ``skimage.feature.hessian_matrix_eigvals`` of its second differences (``np.diff(G, 2)``
  along each axis, ``np.gradient`` of ``np.gradient`` across);
- ``struct_hi``, ``struct_lo``: eigenvalues of the structure tensor,
  ``skimage.feature.structure_tensor_eigenvalues(structure_tensor(x, sigma,
  mode='nearest'))`` (Sobel derivatives, products smoothed at ``sigma``).

The ``volume`` channel's filters are the same in 3D, by ``scipy.ndimage`` in float32 with
``mode='nearest'``: ``gauss`` is ``gaussian_filter(x, sigma, truncate=4)``; derivatives are
``correlate1d`` with the central difference along each axis (second ones with ``[1, -2, 1]``
on the diagonal); ``gradient``, ``log``, ``dog`` as above over three axes; ``hess_hi``,
``hess_mid``, ``hess_lo`` are the Hessian's three eigenvalues (closed form, float64). No
structure tensor. scipy computes each voxel alike wherever it lies in the array, so a crop
with the halo (along every axis) equals the whole stack there.

Each pixel depends on pixels within :func:`feature_halo` (the largest Gaussian's radius
plus one, rounded up to :data:`COLUMN_ALIGN`), and every filter is ``cv2.sepFilter2D`` with
``BORDER_REPLICATE``. Its float32 result at a pixel does not depend on how far the array
extends beyond the halo, nor on the rows above, but it does on the pixel's column modulo
OpenCV's vector width (by a float32 step: vector and scalar loops round differently). So a
tile is computed from a crop that starts at a multiple of :data:`COLUMN_ALIGN` columns, and
the halo is such a multiple: a tile, or a chunk of a tiled run whose columns start at
multiples of 32, equals the same pixels of the whole image, bit for bit. Tested in
``tests/kernels/test_pixel_features.py`` and ``tests/ops/test_learn.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
from scipy import ndimage as ndi

from .color import hed_channel
from .gaussian import TRUNCATE, kernel_radius

__all__ = [
    "GREY_CHANNELS",
    "RGB_CHANNELS",
    "VOLUME_CHANNELS",
    "COLUMN_ALIGN",
    "SIGMA_LIMITS",
    "column_aligned",
    "compute_features",
    "feature_blocks",
    "feature_halo",
    "feature_names",
    "image_channels",
    "parse_feature_name",
]

GREY_CHANNELS = ("grey",)
RGB_CHANNELS = ("red", "green", "blue", "hema", "eosin")
VOLUME_CHANNELS = ("volume",)
FILTERS = ("gauss", "gradient", "log", "dog", "hess_hi", "hess_lo", "struct_hi", "struct_lo")
VOLUME_FILTERS = ("gauss", "gradient", "log", "dog", "hess_hi", "hess_mid", "hess_lo")
SIGMA_LIMITS = (0.3, 32.0)
_NAME = re.compile(r"^([a-z]+)_(?:raw|([a-z_]+)_s(\d+(?:p\d+)?))$")
_DIFF = np.array([-0.5, 0.0, 0.5], np.float32)
_SECOND = np.array([1.0, -2.0, 1.0], np.float32)
_IDENTITY = np.array([0.0, 1.0, 0.0], np.float32)
_SOBEL_DIFF = np.array([-1.0, 0.0, 1.0], np.float32)
_SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0], np.float32)
# Columns a crop starts at a multiple of, so OpenCV's vector loops meet each pixel in the same
# lane as in the whole image (measured: 4 floats in the row pass, 8 in the column pass).
COLUMN_ALIGN = 32
# The features of one tile, and the filters behind them, take about this many bytes.
FEATURE_BYTES = 512 * 2**20


def _sigma_text(sigma: float) -> str:
    return format(sigma, "g").replace(".", "p")


def _filters(channel: str) -> tuple[str, ...]:
    return VOLUME_FILTERS if channel in VOLUME_CHANNELS else FILTERS


def feature_names(channels: Sequence[str], sigmas: Sequence[float]) -> list[str]:
    """Every feature of ``channels`` at ``sigmas`` (ascending), in a fixed order.

    Examples
    --------
    >>> feature_names(["grey"], [1, 2])[:4]
    ['grey_raw', 'grey_gauss_s1', 'grey_gradient_s1', 'grey_log_s1']
    >>> len(feature_names(["grey"], [1, 2]))
    16
    """
    names = []
    for channel in channels:
        names.append(f"{channel}_raw")
        for i, sigma in enumerate(sigmas):
            for name in _filters(channel):
                if name != "dog" or i + 1 < len(sigmas):
                    names.append(f"{channel}_{name}_s{_sigma_text(sigma)}")
    return names


def parse_feature_name(name: str, channels: Sequence[str]) -> tuple[str, str, float | None]:
    """``(channel, filter, sigma)`` of a feature name (``("grey", "raw", None)``), or
    ValueError naming what is accepted."""
    found = _NAME.match(name) if isinstance(name, str) else None
    filters = _filters(channels[0])
    if found is None or found.group(1) not in channels or (
            found.group(2) is not None and found.group(2) not in filters):
        raise ValueError(f"unknown feature {name!r}; accepted: <channel>_raw or "
                         f"<channel>_<filter>_s<sigma> with channel in {', '.join(channels)}"
                         f" and filter in {', '.join(filters)}")
    if found.group(2) is None:
        return found.group(1), "raw", None
    sigma = float(found.group(3).replace("p", "."))
    if not SIGMA_LIMITS[0] <= sigma <= SIGMA_LIMITS[1]:
        raise ValueError(f"feature {name!r}: sigma {sigma:g} is outside "
                         f"[{SIGMA_LIMITS[0]:g}, {SIGMA_LIMITS[1]:g}]")
    return found.group(1), found.group(2), sigma


def feature_halo(names: Sequence[str], channels: Sequence[str]) -> int:
    """Pixels beyond a tile that its features read: the largest Gaussian radius + 1, rounded
    up to a multiple of :data:`COLUMN_ALIGN` (0 for raw values only)."""
    sigmas = [parse_feature_name(n, channels)[2] for n in names]
    largest = max((s for s in sigmas if s is not None), default=None)
    if largest is None:
        return 0
    return column_aligned(kernel_radius(largest) + 1)


def column_aligned(pixels: int) -> int:
    """``pixels`` rounded up to a multiple of :data:`COLUMN_ALIGN`: a halo whose crops keep
    each column in the lane it has in the whole image."""
    return -(-pixels // COLUMN_ALIGN) * COLUMN_ALIGN


def _scaled(values: np.ndarray) -> np.ndarray:
    if np.issubdtype(values.dtype, np.integer):
        info = np.iinfo(values.dtype)
        return (values.astype(np.float32) - np.float32(info.min)) / np.float32(
            float(info.max) - info.min)
    if values.dtype == np.bool_:
        return values.astype(np.float32)
    return values.astype(np.float32)


def _channel(image: np.ndarray, channel: str) -> np.ndarray:
    """One channel of ``image`` as contiguous float32."""
    if channel in ("grey", "volume"):
        return np.ascontiguousarray(_scaled(image))
    if channel in ("red", "green", "blue"):
        return np.ascontiguousarray(_scaled(image[..., ("red", "green", "blue").index(channel)]))
    rgb = image[..., :3]
    if rgb.dtype not in (np.uint8, np.uint16, np.float32):
        rgb = _scaled(rgb)
    return np.ascontiguousarray(hed_channel(rgb, ("hema", "eosin").index(channel)),
                                dtype=np.float32)


def _filter(image: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    return cv2.sepFilter2D(image, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_REPLICATE)


def _gauss(image: np.ndarray, sigma: float) -> np.ndarray:
    kernel = cv2.getGaussianKernel(2 * kernel_radius(sigma) + 1, sigma, cv2.CV_32F)
    return _filter(image, kernel, kernel)


def _eigenvalues(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (larger, smaller) of the symmetric 2x2 matrices [[a, b], [b, c]]."""
    mean = (a + c) * np.float32(0.5)
    half = (a - c) * np.float32(0.5)
    radius = np.sqrt(half * half + b * b)
    return mean + radius, mean - radius


class _Bank:
    """One channel's filters, each computed once and only when a feature asks for it."""

    def __init__(self, values: np.ndarray, sigmas: list[float]) -> None:
        self.values = values
        self.sigmas = sigmas
        self.cache: dict[tuple[str, float], np.ndarray] = {}

    def _get(self, key: tuple[str, float]) -> np.ndarray:
        if key not in self.cache:
            self.cache[key] = self._make(*key)
        return self.cache[key]

    def _make(self, name: str, sigma: float) -> np.ndarray:
        s2 = np.float32(sigma * sigma)
        if name == "gauss":
            return _gauss(self.values, sigma)
        if name in ("dy", "dx"):
            g = self._get(("gauss", sigma))
            return _filter(g, _IDENTITY, _DIFF) if name == "dy" else _filter(g, _DIFF, _IDENTITY)
        if name == "gradient":
            dy, dx = self._get(("dy", sigma)), self._get(("dx", sigma))
            return np.sqrt(dy * dy + dx * dx)
        if name in ("hyy", "hxx", "hxy"):
            g = self._get(("gauss", sigma))
            if name == "hyy":
                return _filter(g, _IDENTITY, _SECOND)
            if name == "hxx":
                return _filter(g, _SECOND, _IDENTITY)
            return _filter(g, _DIFF, _DIFF)
        if name == "log":
            return s2 * (self._get(("hyy", sigma)) + self._get(("hxx", sigma)))
        if name == "dog":
            following = self.sigmas[self.sigmas.index(sigma) + 1]
            return self._get(("gauss", sigma)) - self._get(("gauss", following))
        if name in ("hess_hi", "hess_lo"):
            hi, lo = _eigenvalues(self._get(("hyy", sigma)), self._get(("hxy", sigma)),
                                  self._get(("hxx", sigma)))
            self.cache[("hess_hi", sigma)], self.cache[("hess_lo", sigma)] = hi, lo
            return hi if name == "hess_hi" else lo
        if name in ("struct_hi", "struct_lo"):
            dy, dx = self._get(("raw_dy", 0.0)), self._get(("raw_dx", 0.0))
            hi, lo = _eigenvalues(_gauss(dy * dy, sigma), _gauss(dy * dx, sigma),
                                  _gauss(dx * dx, sigma))
            self.cache[("struct_hi", sigma)], self.cache[("struct_lo", sigma)] = hi, lo
            return hi if name == "struct_hi" else lo
        if name == "raw_dy":  # scipy.ndimage.sobel(x, axis=0), as skimage's structure tensor
            return _filter(self.values, _SOBEL_SMOOTH, _SOBEL_DIFF)
        return _filter(self.values, _SOBEL_DIFF, _SOBEL_SMOOTH)  # raw_dx

    def feature(self, name: str, sigma: float | None) -> np.ndarray:
        return self.values if sigma is None else self._get((name, sigma))


def _eigenvalues3(h: dict[tuple[int, int], np.ndarray]) -> tuple[np.ndarray, ...]:
    """Eigenvalues (largest, middle, smallest) of the symmetric 3x3 matrices ``h[i, j]``
    (i <= j), by the trigonometric closed form (Smith 1961), in float64."""
    a = {key: value.astype(np.float64) for key, value in h.items()}
    q = (a[0, 0] + a[1, 1] + a[2, 2]) / 3
    d0, d1, d2 = a[0, 0] - q, a[1, 1] - q, a[2, 2] - q
    off = a[0, 1] ** 2 + a[0, 2] ** 2 + a[1, 2] ** 2
    p = np.sqrt((d0 * d0 + d1 * d1 + d2 * d2 + 2 * off) / 6)
    flat = p == 0
    scale = np.where(flat, 1.0, p)
    det = (d0 * (d1 * d2 - a[1, 2] ** 2) - a[0, 1] * (a[0, 1] * d2 - a[1, 2] * a[0, 2])
           + a[0, 2] * (a[0, 1] * a[1, 2] - d1 * a[0, 2])) / scale**3
    phi = np.arccos(np.clip(det / 2, -1.0, 1.0)) / 3
    hi = np.where(flat, q, q + 2 * p * np.cos(phi))
    lo = np.where(flat, q, q + 2 * p * np.cos(phi + 2 * np.pi / 3))
    return hi, 3 * q - hi - lo, lo


_HESSIAN = ("h00", "h01", "h02", "h11", "h12", "h22")


class _VolumeBank(_Bank):
    """The ``volume`` channel's filters, in 3D (``scipy.ndimage``, float32)."""

    def _make(self, name: str, sigma: float) -> np.ndarray:
        s2 = np.float32(sigma * sigma)
        if name == "gauss":
            return ndi.gaussian_filter(self.values, sigma, mode="nearest", truncate=TRUNCATE)
        if name in ("d0", "d1", "d2"):  # central differences of G along an axis
            return ndi.correlate1d(self._get(("gauss", sigma)), _DIFF, axis=int(name[1]),
                                   mode="nearest")
        if name == "gradient":
            parts = [self._get((f"d{axis}", sigma)) for axis in range(3)]
            return np.sqrt(sum(part * part for part in parts))
        if name in _HESSIAN:  # h00, h01, ...: second differences
            i, j = int(name[1]), int(name[2])
            if i == j:
                return ndi.correlate1d(self._get(("gauss", sigma)), _SECOND, axis=i,
                                       mode="nearest")
            return ndi.correlate1d(self._get((f"d{i}", sigma)), _DIFF, axis=j, mode="nearest")
        if name == "log":
            return s2 * (self._get(("h00", sigma)) + self._get(("h11", sigma))
                         + self._get(("h22", sigma)))
        if name == "dog":
            following = self.sigmas[self.sigmas.index(sigma) + 1]
            return self._get(("gauss", sigma)) - self._get(("gauss", following))
        hessian = {(i, j): self._get((f"h{i}{j}", sigma)) for i in range(3) for j in range(i, 3)}
        for key, value in zip(("hess_hi", "hess_mid", "hess_lo"), _eigenvalues3(hessian),
                              strict=True):
            self.cache[(key, sigma)] = value.astype(np.float32)
        return self.cache[(name, sigma)]


def image_channels(image: np.ndarray, *, rgb: bool) -> tuple[str, ...]:
    """The channels ``image``'s features come from: RGB's, a grey stack's or a grey
    image's."""
    if rgb:
        return RGB_CHANNELS
    return VOLUME_CHANNELS if image.ndim == 3 else GREY_CHANNELS


def compute_features(image: np.ndarray, names: Sequence[str], *, rgb: bool,
                     wanted: Sequence[bool] | None = None) -> np.ndarray:
    """The features ``names`` of a 2D image (RGB on a last axis if ``rgb``), or of a grey
    3D stack for ``volume_`` features, as a ``(pixels, features)`` float32 array in
    row-major pixel order, column-major in memory (each feature contiguous, as LightGBM
    takes it without a copy).

    Columns not ``wanted`` (a model that never splits on them) are left 0 and not
    computed.
    """
    channels = image_channels(image, rgb=rgb)
    parsed = [parse_feature_name(n, channels) for n in names]
    wanted = [True] * len(names) if wanted is None else list(wanted)
    spatial = image.shape[:-1] if rgb else image.shape
    out = np.zeros((len(names), int(np.prod(spatial))), np.float32)
    for channel in channels:
        columns = [i for i, p in enumerate(parsed) if p[0] == channel and wanted[i]]
        if not columns:
            continue
        sigmas = sorted({p[2] for p in parsed if p[0] == channel and p[2] is not None})
        bank = (_VolumeBank if channel in VOLUME_CHANNELS else _Bank)(
            _channel(image, channel), sigmas)
        for i in columns:
            _, name, sigma = parsed[i]
            out[i] = bank.feature(name, sigma).ravel()
    return out.T


def feature_blocks(image: np.ndarray, names: Sequence[str], *, rgb: bool,
                   wanted: Sequence[bool] | None = None, block_bytes: int = FEATURE_BYTES
                   ) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
    """``((rows, cols), features)`` for tiles of ``image`` in raster order (``((planes,
    rows, cols), features)`` for a grey 3D stack, each tile all its planes): each tile's
    features (as :func:`compute_features`, its pixels in row-major order) are computed with
    its halo, from a column that is a multiple of :data:`COLUMN_ALIGN`, and cut to its own
    pixels, so they equal those pixels of the whole image's features while memory holds
    about ``block_bytes``. Tiles are square (at least 32 px, a multiple of 32), so the halo
    costs little however wide the image is."""
    volume = not rgb and image.ndim == 3
    depth = image.shape[0] if volume else 1
    rows, cols = image.shape[volume:volume + 2]
    halo = feature_halo(names, image_channels(image, rgb=rgb))
    per_pixel = 4 * 2 * max(1, len(names)) * depth  # the features and the filters behind them
    side = max(1, (int((block_bytes / per_pixel) ** 0.5) - 2 * halo) // COLUMN_ALIGN)
    side *= COLUMN_ALIGN
    planes = (slice(0, depth),) if volume else ()
    for top in range(0, rows, side):
        bottom = min(rows, top + side)
        for left in range(0, cols, side):
            right = min(cols, left + side)
            lo, hi = max(0, top - halo), min(rows, bottom + halo)
            west = max(0, left - halo) // COLUMN_ALIGN * COLUMN_ALIGN
            east = min(cols, right + halo)
            crop = image[planes + (slice(lo, hi), slice(west, east))]
            features = compute_features(crop, names, rgb=rgb, wanted=wanted)
            own = (np.arange(depth)[:, None, None] * (hi - lo)
                   + np.arange(top - lo, bottom - lo)[:, None]) * (east - west) + np.arange(
                left - west, right - west)
            block = planes + (slice(top, bottom), slice(left, right))
            if own.size == features.shape[0]:
                yield block, features
            else:
                yield block, features[own.ravel()]
