"""What is benchmarked: our op (through ``napari_maskprep``) against the call a peer plugin
makes (scikit-image / SciPy), on the same input.

Each reference is the plain library call, with the arguments that do the same thing as our op
(same sigma, footprint, connectivity, polarity). Where scikit-image 0.26 deprecates a binary
morphology function in favour of a slower generic one (``binary_opening`` -> ``opening``), the
faster deprecated call is used, so our speed-ups are never inflated by a slow reference.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIN_SIZE = 50  # "remove objects < 50 px"


# --------------------------------------------------------------------------- references
def _quiet(func: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return func(*args, **kwargs)

    return call


def footprint(name: str, radius: int, ndim: int) -> np.ndarray:
    from skimage import morphology as m

    if ndim == 3:
        name = {"disk": "ball", "square": "cube", "diamond": "octahedron"}.get(name, name)
    if name in ("square", "cube"):
        return np.ones((2 * radius + 1,) * ndim, dtype=bool)
    return getattr(m, name)(radius).astype(bool)


def ref_gaussian(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    def run(img: np.ndarray) -> np.ndarray:
        from skimage.filters import gaussian

        return gaussian(img, sigma=sigma, preserve_range=True)

    return run


def ref_median(radius: int) -> Callable[[np.ndarray], np.ndarray]:
    def run(img: np.ndarray) -> np.ndarray:
        from skimage.filters import median

        return median(img, footprint("disk", radius, img.ndim))

    return run


def floor_gaussian(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    def run(img: np.ndarray) -> np.ndarray:
        import cv2

        size = 2 * int(4 * sigma + 0.5) + 1
        return cv2.GaussianBlur(img, (size, size), sigma, borderType=cv2.BORDER_REPLICATE)

    return run


def floor_median(radius: int) -> Callable[[np.ndarray], np.ndarray]:
    def run(img: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.medianBlur(img, 2 * radius + 1)  # 16-bit: only windows of 3 and 5

    return run


def ref_threshold(img: np.ndarray, value: float) -> np.ndarray:
    return img > value


def ref_otsu(img: np.ndarray) -> np.ndarray:
    from skimage.filters import threshold_otsu

    return img > threshold_otsu(img)


def ref_binary(name: str, radius: int) -> Callable[[np.ndarray], np.ndarray]:
    @_quiet
    def run(mask: np.ndarray) -> np.ndarray:
        from skimage import morphology

        fp = footprint("disk", radius, mask.ndim)
        return getattr(morphology, f"binary_{name}")(mask.view(bool), fp)

    return run


def ref_fill_holes(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.binary_fill_holes(mask.view(bool))


def ref_remove_small(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import remove_small_objects

    # skimage 0.26: max_size=49 removes objects of <= 49 px (min_size=50 is deprecated).
    return remove_small_objects(mask.view(bool), max_size=MIN_SIZE - 1)


def ref_recipe_steps(ndim: int) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """The 5-step recipe as a peer writes it with scikit-image / SciPy."""
    from scipy import ndimage as ndi
    from skimage import filters, morphology

    fp = footprint("disk", 3, ndim)

    @_quiet
    def opening(m: np.ndarray) -> np.ndarray:
        return morphology.binary_opening(m, fp)

    return [
        ("gaussian(sigma=2, preserve_range=True)",
         lambda x: filters.gaussian(x, sigma=2, preserve_range=True)),
        ("x > threshold_otsu(x)", lambda x: x > filters.threshold_otsu(x)),
        (f"binary_opening({'ball' if ndim == 3 else 'disk'}(3))", opening),
        ("ndi.binary_fill_holes", ndi.binary_fill_holes),
        ("remove_small_objects(max_size=49)",
         lambda m: morphology.remove_small_objects(m, max_size=MIN_SIZE - 1)),
    ]


def recipe_steps(ndim: int) -> list[dict[str, Any]]:
    """Our 5-step recipe (the same work as :func:`ref_recipe_steps`)."""
    return [
        {"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
        {"op": "segment.auto_threshold", "params": {"method": "otsu", "polarity": "bright"}},
        {"op": "refine.open", "params": {"radius": 3, "shape": "ball" if ndim == 3 else "disk"}},
        {"op": "refine.fill_holes", "params": {}},
        {"op": "refine.remove_small", "params": {"min_size": MIN_SIZE, "connectivity": "faces"}},
    ]


SPLIT_MIN_DISTANCE = 2  # gives about the peer's label count on both mosaics (16 MP)


def ref_split_touching(mask: np.ndarray) -> np.ndarray:
    """The whole-array reference of ``refine.split_touching``: EDT -> peak_local_max ->
    watershed on the negated distance."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(distance, min_distance=SPLIT_MIN_DISTANCE,
                           labels=ndi.label(mask)[0], exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask > 0)


def ref_voronoi_otsu(image: np.ndarray) -> np.ndarray:
    """nsbatwm's ``voronoi_otsu_labeling(image, spot_sigma=2, outline_sigma=2)``
    (napari-segment-blobs-and-things-with-membranes 0.3.12), its body with the same
    scikit-image calls: importing the package needs napari-tools-menu, napari-time-slicer
    and stackview, which this project does not depend on."""
    from skimage.filters import gaussian, threshold_otsu
    from skimage.measure import label
    from skimage.morphology import local_maxima
    from skimage.segmentation import watershed

    spot_centroids = local_maxima(gaussian(image, 2))
    blurred_outline = gaussian(image, 2)
    binary_otsu = blurred_outline > threshold_otsu(blurred_outline)
    labeled_spots = label(spot_centroids * binary_otsu)
    return watershed(binary_otsu, labeled_spots, mask=binary_otsu)


def split_steps() -> tuple[dict[str, Any], ...]:
    """Our image -> split labels recipe (the work of :func:`ref_voronoi_otsu`)."""
    return (
        {"op": "preprocess.gaussian", "params": {"sigma": 2.0}},
        {"op": "segment.auto_threshold", "params": {"method": "otsu", "polarity": "bright"}},
        {"op": "refine.split_touching", "params": {"min_distance": SPLIT_MIN_DISTANCE}},
    )


# --------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    key: str
    label: str
    op: str | None  # None: the 5-step recipe
    params: dict[str, Any] | Callable[[np.ndarray], dict[str, Any]]
    input: str  # "image", "mask" or "upstream" (our cached Gaussian output, for the preview)
    ref: Callable[..., np.ndarray] | None  # ref(data), or ref(data, value) for "threshold"
    ref_text: str
    local: bool = False  # in the "every 2D local op <= 25x a memcopy" group
    ref_max_mp: float = 16.0  # the reference is measured up to this size, extrapolated above
    quick: bool = True  # part of the --quick run
    notes: tuple[str, ...] = field(default_factory=tuple)
    # previews: the parameters of the preview shown before this one (the upstream result and
    # its statistics are cached by then, as in the napari widget)
    preview_from: dict[str, Any] | None = None
    # The fastest library call doing about the same work, even if less exact: shows how far
    # below a memcopy ratio any implementation built on these libraries can go.
    floor: Callable[[np.ndarray], np.ndarray] | None = None
    floor_text: str = ""
    # A recipe timed as one call against ``ref`` (op None and no steps: the 5-step recipe).
    steps: tuple[dict[str, Any], ...] | None = None

    def op_params(self, data: np.ndarray) -> dict[str, Any]:
        return self.params(data) if callable(self.params) else dict(self.params)

    def reference(self, data: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        assert self.ref is not None
        if self.ref is ref_threshold:
            return ref_threshold(data, params["value"])
        return self.ref(data)


def _threshold_value(img: np.ndarray) -> dict[str, Any]:
    # A fixed, typical value: the Otsu level of a corner crop (computed outside the timing).
    from skimage.filters import threshold_otsu

    return {"value": float(int(threshold_otsu(img[:1024, :1024])))}


def _threshold_above(img: np.ndarray) -> dict[str, Any]:
    return {**_threshold_value(img), "polarity": "above"}


_GAUSS_FLOOR = "cv2.GaussianBlur, fixed point: up to 3 grey levels off"

CORE: list[Case] = [
    Case("threshold", "segment.threshold (value)", "segment.threshold", _threshold_above,
         "image", ref_threshold, "img > value", local=True),
    Case("otsu", "segment.auto_threshold otsu", "segment.auto_threshold",
         {"method": "otsu", "polarity": "bright"}, "image", ref_otsu,
         "img > skimage.filters.threshold_otsu(img)", local=True),
    Case("gauss2", "preprocess.gaussian s=2", "preprocess.gaussian", {"sigma": 2.0}, "image",
         ref_gaussian(2.0), "skimage.filters.gaussian(img, sigma=2, preserve_range=True)",
         local=True, floor=floor_gaussian(2.0), floor_text=_GAUSS_FLOOR),
    Case("gauss3", "preprocess.gaussian s=3", "preprocess.gaussian", {"sigma": 3.0}, "image",
         ref_gaussian(3.0), "skimage.filters.gaussian(img, sigma=3, preserve_range=True)",
         local=True, floor=floor_gaussian(3.0), floor_text=_GAUSS_FLOOR),
    Case("median3", "preprocess.median r=3", "preprocess.median", {"radius": 3}, "image",
         ref_median(3), "skimage.filters.median(img, disk(3))", local=True,
         floor=floor_median(3), floor_text="cv2.medianBlur(img, 7): 7x7 square, not the disk"),
    Case("erode5", "refine.erode r=5", "refine.erode", {"radius": 5, "shape": "disk"}, "mask",
         ref_binary("erosion", 5), "skimage.morphology.binary_erosion(mask, disk(5))", local=True),
    Case("dilate5", "refine.dilate r=5", "refine.dilate", {"radius": 5, "shape": "disk"}, "mask",
         ref_binary("dilation", 5), "skimage.morphology.binary_dilation(mask, disk(5))",
         local=True),
    Case("open3", "refine.open r=3", "refine.open", {"radius": 3, "shape": "disk"}, "mask",
         ref_binary("opening", 3), "skimage.morphology.binary_opening(mask, disk(3))",
         local=True),
    Case("open5", "refine.open r=5", "refine.open", {"radius": 5, "shape": "disk"}, "mask",
         ref_binary("opening", 5), "skimage.morphology.binary_opening(mask, disk(5))",
         local=True),
    Case("close5", "refine.close r=5", "refine.close", {"radius": 5, "shape": "disk"}, "mask",
         ref_binary("closing", 5), "skimage.morphology.binary_closing(mask, disk(5))",
         local=True),
    Case("fill", "refine.fill_holes", "refine.fill_holes", {}, "mask", ref_fill_holes,
         "scipy.ndimage.binary_fill_holes(mask)"),
    Case("small50", "refine.remove_small <50", "refine.remove_small",
         {"min_size": MIN_SIZE, "connectivity": "faces"}, "mask", ref_remove_small,
         "skimage.morphology.remove_small_objects(mask, max_size=49)"),
]

PREVIEW: list[Case] = [
    Case("pv_threshold", "preview: segment.threshold", "segment.threshold", _threshold_above,
         "upstream", ref_threshold, "img > value", preview_from={"value": 1.0}),
    Case("pv_otsu", "preview: segment.auto_threshold otsu", "segment.auto_threshold",
         {"method": "otsu", "polarity": "bright"}, "upstream", ref_otsu,
         "img > threshold_otsu(img)", preview_from={"method": "otsu", "polarity": "dark"}),
]


# ---- the other registered ops (informational table, uint8, references where one exists)
def _ref_invert(img):
    from skimage.util import invert

    return invert(img)


def _ref_equalize(img):
    from skimage.exposure import equalize_hist

    return equalize_hist(img)


def _ref_clahe(img):
    from skimage.exposure import equalize_adapthist

    return equalize_adapthist(img, clip_limit=0.01)


def _ref_rescale(img):
    from skimage.exposure import rescale_intensity

    lo, hi = np.percentile(img, (1, 99))
    return rescale_intensity(img, in_range=(lo, hi))


def _ref_rolling_ball(img):
    from skimage.restoration import rolling_ball

    return img - rolling_ball(img, radius=25)


def _ref_median1(img):
    return ref_median(1)(img)


def _ref_sauvola(img):
    from skimage.filters import threshold_sauvola

    return img > threshold_sauvola(img, window_size=15)


def _ref_multiotsu(img):
    from skimage.filters import threshold_multiotsu

    return np.digitize(img, threshold_multiotsu(img, classes=3)) == 2


def _ref_label(mask):
    from skimage.measure import label

    return label(mask, connectivity=1)


def _ref_clear_border(mask):
    from skimage.segmentation import clear_border

    return clear_border(mask.view(bool))


def _ref_keep_largest(mask):
    from skimage.measure import label

    lab = label(mask, connectivity=1)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == counts.argmax()


EXTRA: list[Case] = [
    Case("x_median1", "preprocess.median r=1", "preprocess.median", {"radius": 1}, "image",
         _ref_median1, "skimage.filters.median(img, disk(1))", local=True),
    Case("x_invert", "preprocess.invert", "preprocess.invert", {}, "image", _ref_invert,
         "skimage.util.invert(img)"),
    Case("x_equalize", "preprocess.equalize", "preprocess.equalize", {}, "image", _ref_equalize,
         "skimage.exposure.equalize_hist(img)"),
    Case("x_clahe", "preprocess.clahe", "preprocess.clahe", {}, "image", _ref_clahe,
         "skimage.exposure.equalize_adapthist(img, clip_limit=0.01) (other algorithm)"),
    Case("x_rescale", "preprocess.rescale 1-99%", "preprocess.rescale", {"low": 1.0, "high": 99.0},
         "image", _ref_rescale, "rescale_intensity(img, in_range=np.percentile(img, (1, 99)))"),
    Case("x_background", "preprocess.background rolling ball 25", "preprocess.background",
         {"method": "rolling_ball", "radius": 25}, "image", _ref_rolling_ball,
         "img - skimage.restoration.rolling_ball(img, radius=25)", ref_max_mp=1.0, quick=False),
    Case("x_local", "segment.local_threshold sauvola 15", "segment.local_threshold",
         {"method": "sauvola", "block_size": 15, "polarity": "bright"}, "image", _ref_sauvola,
         "img > threshold_sauvola(img, window_size=15)"),
    Case("x_multi", "segment.multi_threshold 3 cl.", "segment.multi_threshold",
         {"classes": 3, "keep_from": 2, "keep_to": 2}, "image", _ref_multiotsu,
         "np.digitize(img, threshold_multiotsu(img, classes=3)) == 2"),
    Case("x_label", "refine.label", "refine.label", {"connectivity": "faces"}, "mask", _ref_label,
         "skimage.measure.label(mask, connectivity=1)"),
    Case("x_clear", "refine.clear_border", "refine.clear_border", {}, "mask", _ref_clear_border,
         "skimage.segmentation.clear_border(mask)"),
    Case("x_largest", "refine.keep_largest", "refine.keep_largest", {"connectivity": "faces"},
         "mask", _ref_keep_largest,
         "label + bincount + argmax"),
]

# Issue 13: image -> split labels against nsbatwm's voronoi_otsu_labeling, and the split alone.
SPLIT: list[Case] = [
    Case("split_labels", f"split labels (gauss 2, otsu, split md={SPLIT_MIN_DISTANCE})", None,
         {}, "image", ref_voronoi_otsu,
         "nsbatwm voronoi_otsu_labeling(img, spot_sigma=2, outline_sigma=2)",
         steps=split_steps()),
    Case("split", f"refine.split_touching md={SPLIT_MIN_DISTANCE}", "refine.split_touching",
         {"min_distance": SPLIT_MIN_DISTANCE}, "mask", ref_split_touching,
         "distance_transform_edt -> peak_local_max -> watershed(-distance), whole array"),
]

RECIPE = Case("recipe", "5-step recipe", None, {}, "image", None,
              "gaussian -> threshold_otsu -> binary_opening -> binary_fill_holes -> "
              "remove_small_objects")

ALL: dict[str, Case] = {c.key: c for c in [*CORE, *PREVIEW, *EXTRA, *SPLIT, RECIPE]}
