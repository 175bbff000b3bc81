"""Region growing from seed points and Canny edges in chunks equal the in-memory ops bit for
bit: on real-image mosaics in chunks of 256-512 px, on 3D bricks, on random images in every
chunk layout, and where regions and edges cross chunk faces and corners."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

import napari_maskprep as mp
from napari_maskprep.core.errors import MaskprepWarning, RecipeError
from napari_maskprep.engine.tiled import check_tiled, run_tiled
from napari_maskprep.io import read_image
from napari_maskprep.recipe import Step

from ..conftest import DATA, pairs

_GROW = """\
maskprep: 1
inputs: {seeds: points}
steps:
- op: preprocess.gaussian
  params: {sigma: 1.0}
- op: segment.region_grow
  inputs: {seeds: seeds}
  params: {tolerance: %s, connectivity: %s}
"""


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    """Four real 520x696 uint16 nuclei fields side by side: 1040x1392."""
    fields = [read_image(image) for image, _ in pairs(DATA, "bbbc039_fluo_nuclei")[:4]]
    return np.block([[fields[0], fields[1]], [fields[2], fields[3]]])


@pytest.fixture(scope="module")
def nuclei_seeds(mosaic) -> np.ndarray:
    """The centre of every 7th nucleus of the mosaic, and a few background points."""
    truth = np.block([[read_image(mask) for _, mask in pairs(DATA, "bbbc039_fluo_nuclei")[i:i + 2]]
                      for i in (0, 2)])
    labels, count = ndi.label(truth > 0)
    centres = np.array(ndi.center_of_mass(truth > 0, labels, range(1, count + 1, 7)))
    return np.vstack([centres, [[3.0, 3.0], [600.4, 900.6], [1039.0, 0.0]]])


def _assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _crosses_chunk_faces(mask: np.ndarray, chunk: int) -> int:
    """Pixels of ``mask`` whose neighbour across a face of chunks of ``chunk`` is in it too."""
    total = 0
    for axis in range(mask.ndim):
        for edge in range(chunk, mask.shape[axis], chunk):
            total += np.count_nonzero(np.take(mask, edge - 1, axis=axis)
                                      & np.take(mask, edge, axis=axis))
    return total


@pytest.mark.parametrize("dtype", ["uint16", "uint8", "float32"])
@pytest.mark.parametrize(("tolerance", "connectivity"), [(60, "full"), (25, "faces")])
@pytest.mark.parametrize("chunks", [256, (300, 512), (511, 333)])
def test_region_grow_on_a_mosaic_in_chunks_equals_memory(mosaic, nuclei_seeds, dtype,
                                                         tolerance, connectivity, chunks):
    image = {"uint16": mosaic, "uint8": (mosaic >> 2).clip(0, 255).astype(np.uint8),
             "float32": mosaic.astype(np.float32) / 97.0}[dtype]
    tolerance = tolerance / 97.0 if dtype == "float32" else tolerance
    recipe = mp.Recipe.loads(_GROW % (tolerance, connectivity))
    want = recipe.run(image, seeds=nuclei_seeds)
    got = recipe.run(da.from_array(image, chunks=chunks), seeds=nuclei_seeds)
    assert isinstance(got, da.Array)
    _assert_same(got.compute(), want)
    assert _crosses_chunk_faces(want, 256) > 100  # the regions do cross chunk faces


@pytest.mark.parametrize("chunks", [(8, 32, 32), (5, 20, 41)])
def test_region_grow_in_3d_bricks(chunks):
    volume = read_image(next((DATA / "stardist_synthetic_3d" / "images").glob("*.tif")))
    seeds = np.array([[8, 30, 28], [2, 5, 5], [15, 60, 56], [7.6, 40.2, 10.9]])
    for tolerance, connectivity in [(8, "faces"), (15, "full")]:
        recipe = mp.Recipe.loads(_GROW % (tolerance, connectivity))
        want = recipe.run(volume, seeds=seeds)
        got = recipe.run(da.from_array(volume, chunks=chunks), seeds=seeds).compute()
        _assert_same(got, want)
        assert 0 < want.sum() < want.size


def test_a_region_that_leaves_its_seeds_chunk_and_comes_back_is_whole():
    """A U-shaped path of equal values: out of the seed's chunk through a corner, along
    two chunks and back; a second seed of the same value starts an apart region."""
    image = np.full((9, 9), 200, np.uint8)
    path = [(1, 1), (2, 2), (3, 3), (4, 4), (4, 5), (4, 6), (4, 7), (3, 7), (2, 7),
            (1, 7), (0, 7)]
    for y, x in path:
        image[y, x] = 10
    image[8, 0] = 10  # another region of the same value range
    seeds = np.array([[1.0, 1.0], [8.0, 0.0]])
    for connectivity in ("full", "faces"):
        step = Step("segment.region_grow", {"tolerance": 3.0, "connectivity": connectivity},
                    inputs={"seeds": "seeds"})
        want = mp.apply("segment.region_grow", image, seeds, tolerance=3.0,
                        connectivity=connectivity)
        for chunks in [3, 2, (4, 5), 1]:
            got = run_tiled([step], da.from_array(image, chunks=chunks),
                            named={"seeds": seeds}).compute()
            _assert_same(got, want)
    assert want.sum() == 2  # by faces the diagonal path stops at once
    full = mp.apply("segment.region_grow", image, seeds, tolerance=3.0)
    assert full.sum() == len(path) + 1


def test_region_grow_on_random_images_in_random_chunks():
    rng = np.random.default_rng(5)
    for _ in range(12):
        shape = tuple(int(n) for n in rng.integers(4, 40, 2))
        image = (ndi.gaussian_filter(rng.random(shape), 1.5) * 255).astype(np.uint8)
        seeds = rng.uniform(0, np.array(shape) - 1, (int(rng.integers(1, 5)), 2))
        chunks = tuple(int(rng.integers(1, n + 1)) for n in shape)
        for connectivity in ("full", "faces"):
            params = {"tolerance": float(rng.uniform(0, 20)), "connectivity": connectivity}
            want = mp.apply("segment.region_grow", image, seeds, **params)
            got = run_tiled([Step("segment.region_grow", params, inputs={"seeds": "s"})],
                            da.from_array(image, chunks=chunks), named={"s": seeds})
            _assert_same(got.compute(), want)


def test_seeds_outside_the_image_or_from_an_array_are_refused_before_any_work():
    def explode(block):
        raise AssertionError("a chunk was computed")

    image = da.zeros((64, 64), dtype=np.uint8, chunks=32).map_blocks(explode, dtype=np.uint8)
    grow = Step("segment.region_grow", {}, inputs={"seeds": "seeds"})
    with pytest.raises(RecipeError, match=r"^step 1 \(segment.region_grow\): segment."
                                          r"region_grow: seeds point 1 at \(70.0, 3.0\) is "
                                          r"outside the image of shape \(64, 64\)"):
        run_tiled([grow], image, named={"seeds": np.array([[1.0, 1.0], [70.0, 3.0]])})
    with pytest.raises(RecipeError, match=r"^step 1 \(segment.region_grow\): its 'seeds' input "
                                          r"reads 'input'; a tiled run reads points only"):
        run_tiled([Step("segment.region_grow", {}, inputs={"seeds": "input"})], image)
    with pytest.raises(RecipeError, match=r"^step 1 \(segment.watershed\) cannot run tiled: "
                                          r"it reads another input \(inputs:\) that may be an "
                                          r"image, mask or labels"):
        check_tiled([Step("segment.watershed", {}, inputs={"markers": "m"})], object_size=9)
    recipe = mp.Recipe.loads(_GROW % (5, "full"))
    with pytest.raises(RecipeError, match=r"^this recipe needs its 'seeds' input \(points\)"):
        recipe.run(image)


# --------------------------------------------------------------------------- edges


@pytest.mark.parametrize("dtype", ["uint16", "uint8", "float64"])
@pytest.mark.parametrize("params", [{}, {"sigma": 3.0, "low": 0.01, "high": 0.05},
                                    {"sigma": 0.5, "low": 0.05, "high": 0.2}])
@pytest.mark.parametrize("chunks", [256, (300, 512), (511, 333)])
def test_edges_on_a_mosaic_in_chunks_equal_memory(mosaic, dtype, params, chunks):
    image = {"uint16": mosaic, "uint8": (mosaic >> 2).clip(0, 255).astype(np.uint8),
             "float64": mosaic / 4095.0 - 0.25}[dtype]
    step = Step("segment.edges", params)
    want = mp.Recipe(steps=[step]).run(image)
    _assert_same(run_tiled([step], da.from_array(image, chunks=chunks)).compute(), want)
    assert _crosses_chunk_faces(want, 256) > 100


def test_edges_of_a_gaussian_then_rgb_to_grey_in_colour_chunks():
    fields = [read_image(image)[:256, :320, :3]
              for image, _ in pairs(DATA, "dsb2018_brightfield_nuclei")[:4]]
    rgb = np.concatenate([np.concatenate(fields[:2], axis=1),
                          np.concatenate(fields[2:], axis=1)], axis=0)
    steps = [Step("preprocess.to_gray", {}), Step("preprocess.gaussian", {"sigma": 1.0}),
             Step("segment.edges", {"sigma": 1.5, "low": 0.05, "high": 0.15})]
    want = mp.Recipe(steps=steps).run(rgb)
    got = run_tiled(steps, da.from_array(rgb, chunks=(200, 301, 1)))
    _assert_same(got.compute(), want)
    assert want.sum() > 1000


def test_edges_on_random_images_in_every_chunk_layout():
    """Down to chunks of one pixel (made at least the Canny margin wide)."""
    rng = np.random.default_rng(8)
    for _ in range(10):
        shape = tuple(int(n) for n in rng.integers(6, 48, 2))
        image = (ndi.gaussian_filter(rng.random(shape), rng.uniform(1, 3)) * 1000
                 ).astype(np.uint16)
        chunks = tuple(int(rng.integers(1, n + 1)) for n in shape)
        params = {"sigma": float(rng.choice([0.0, 0.5, 1.0])),
                  "low": float(rng.uniform(0, 0.1)), "high": float(rng.uniform(0.1, 0.3))}
        step = Step("segment.edges", params)
        want = mp.Recipe(steps=[step]).run(image)
        got = run_tiled([step], da.from_array(image, chunks=chunks)).compute()
        _assert_same(got, want)


def test_edges_label_each_chunk_four_times_reading_labels_back(mosaic, monkeypatch):
    """Tiled edges labelled each chunk seven times over their four passes (weak edges, the
    edge map, holes twice, the filled map twice); the hole and filled-map labels are now
    stored when first made, as labelling again costs 3-4x reading them back."""
    from napari_maskprep.kernels import components

    calls = []
    original = components._components

    def counting(mask, connectivity):
        calls.append(mask.shape)
        return original(mask, connectivity)

    image = mosaic[:600, :500]
    step = Step("segment.edges", {"sigma": 1.0})
    want = mp.Recipe(steps=[step]).run(image)
    monkeypatch.setattr(components, "_components", counting)
    got = run_tiled([step], da.from_array(image, chunks=256)).compute()
    assert len([c for c in calls if c != image.shape]) == 4 * 3 * 2
    _assert_same(got, want)


def test_a_ring_around_a_chunk_corner_is_filled_and_an_open_arc_vanishes():
    image = np.zeros((24, 24), np.uint8)
    image[5:17, 6:18] = 200  # a square whose outline spans four chunks of 12
    image[20:, 2:10] = 90  # a bar cut by the image's edge: its edges do not close
    step = Step("segment.edges", {"sigma": 0.5})
    want = mp.Recipe(steps=[step]).run(image)
    assert want[11, 11] == want[12, 12] == 1 and want[22, 5] == 0
    for chunks in [12, (5, 7), 3]:
        _assert_same(run_tiled([step], da.from_array(image, chunks=chunks)).compute(), want)


def test_hysteresis_follows_weak_edges_across_chunk_faces(mosaic):
    """The weak edges hysteresis keeps (those linked to a strong one) make a difference on
    the mosaic, and chunks keep the same ones."""
    linked = Step("segment.edges", {"sigma": 1.0, "low": 0.02, "high": 0.2})
    strong_only = Step("segment.edges", {"sigma": 1.0, "low": 0.2, "high": 0.2})
    want = mp.Recipe(steps=[linked]).run(mosaic)
    gained = want & ~mp.Recipe(steps=[strong_only]).run(mosaic)
    assert _crosses_chunk_faces(gained, 256) > 50
    for chunks in [256, (333, 200)]:
        _assert_same(run_tiled([linked], da.from_array(mosaic, chunks=chunks)).compute(), want)


def test_sobel_edges_are_refused_before_any_work_and_a_constant_image_warns():
    with pytest.raises(RecipeError, match=r"^step 1 \(segment.edges\) cannot run tiled: it "
                                          r"finds Sobel edges with OpenCV's float filters"):
        check_tiled([Step("segment.edges", {"method": "sobel"})])
    image = da.full((40, 40), 9, dtype=np.uint8, chunks=16)
    with pytest.warns(MaskprepWarning, match="segment.edges: the image is constant"):
        got = run_tiled([Step("segment.edges", {})], image)
    _assert_same(got.compute(), np.zeros((40, 40), np.uint8))


def test_grey_ops_on_rgb_chunks_split_across_channels_take_the_luminance():
    """Region growing, edges and CLAHE read an RGB image as grey, as in memory, whatever
    its chunks along the colour axis."""
    fields = [read_image(image)[:256, :320, :3]
              for image, _ in pairs(DATA, "dsb2018_brightfield_nuclei")[:4]]
    rgb = np.concatenate([np.concatenate(fields[:2], axis=1),
                          np.concatenate(fields[2:], axis=1)], axis=0)
    seeds = np.array([[10.0, 10.0], [300.0, 500.0]])
    for step, named in [(Step("segment.region_grow", {"tolerance": 12.0},
                              inputs={"seeds": "seeds"}), {"seeds": seeds}),
                        (Step("segment.edges", {"sigma": 1.5}), {}),
                        (Step("preprocess.clahe", {}), {})]:
        with pytest.warns(MaskprepWarning, match="converted to grey"):
            want = mp.apply(step.op, rgb, *named.values(), **step.params)
            got = run_tiled([step], da.from_array(rgb, chunks=(200, 301, 1)), named=named)
            _assert_same(got.compute(), want)
