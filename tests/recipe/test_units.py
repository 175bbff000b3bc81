"""Recipes with sizes in micrometres: validated on load, kept as written, converted on run."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_maskprep import Recipe, RecipeError
from napari_maskprep import recipe as recipe_module
from napari_maskprep.recipe import resolve_units

UM = """\
maskprep: 1
name: nuclei in um
steps:
- op: preprocess.gaussian
  params: {sigma: 0.5 um}
- op: segment.auto_threshold
- op: refine.open
  params: {radius: 2 µm}
- op: refine.remove_small
  params: {min_size: 30 um2}
"""

PX = """\
maskprep: 1
steps:
- op: preprocess.gaussian
  params: {sigma: 1.0}
- op: segment.auto_threshold
- op: refine.open
  params: {radius: 4}
- op: refine.remove_small
  params: {min_size: 120}
"""


def test_micrometres_at_half_a_micrometre_per_pixel_equal_pixels(nuclei_image):
    um, px = Recipe.loads(UM), Recipe.loads(PX)
    assert um.uses_units and not px.uses_units
    expected = px.run(nuclei_image)
    assert 0.02 < expected.mean() < 0.5  # a real mask, not empty or full
    assert np.array_equal(um.run(nuclei_image, pixel_size=0.5), expected)
    assert np.array_equal(um.run(nuclei_image, pixel_size=[0.5, 0.5]), expected)
    # The same recipe on a 2x coarser image: half the pixels per micrometre.
    coarse = Recipe.loads(PX.replace("sigma: 1.0", "sigma: 0.5").replace("radius: 4", "radius: 2")
                          .replace("min_size: 120", "min_size: 30"))
    small = nuclei_image[::2, ::2]
    assert np.array_equal(um.run(small, pixel_size=1.0), coarse.run(small))


def test_saved_and_loaded_unchanged(tmp_path):
    recipe = Recipe.loads(UM)
    assert recipe.steps[2].params["radius"] == "2 um"  # µm written the one canonical way
    for name in ("r.maskprep.yaml", "r.json"):
        path = recipe.save(tmp_path / name)
        assert Recipe.load(path) == recipe
    text = recipe.dumps()
    assert "sigma: 0.5 um" in text and "radius: 2 um" in text and "min_size: 30 um2" in text


def test_nanometres_and_millimetres_save_as_given_and_run_as_micrometres(tmp_path,
                                                                         nuclei_image):
    nm_mm = Recipe.loads(UM.replace("0.5 um", "500 nm").replace("2 µm", "0.002 mm")
                         .replace("30 um2", "0.00003 mm2"))
    assert [s.params for s in nm_mm.steps[::2]] == [
        {"sigma": "500 nm"}, {"radius": "0.002 mm", "shape": "disk"}]
    assert nm_mm.steps[3].params["min_size"] == "3e-05 mm2"
    for name in ("r.maskprep.yaml", "r.json"):
        assert Recipe.load(nm_mm.save(tmp_path / name)) == nm_mm
    px2 = Recipe.loads(PX.replace("min_size: 120", "min_size: 120 px2"))
    assert px2 == Recipe.loads(PX)
    assert np.array_equal(nm_mm.run(nuclei_image, pixel_size=0.5), px2.run(nuclei_image))


def test_missing_pixel_size_fails_before_any_step(nuclei_image, monkeypatch):
    monkeypatch.setattr(recipe_module, "run_in_memory",
                        lambda *a, **k: pytest.fail("a step ran"))
    recipe = Recipe.loads(UM)
    with pytest.raises(RecipeError) as info:
        recipe.run(nuclei_image)
    assert str(info.value) == (
        "step 1 (preprocess.gaussian): sigma=0.5 um needs the image's pixel size, which is "
        "unknown; give it (pixel_size=..., --pixel-size, a layer scale) or give sigma in px")
    with pytest.raises(RecipeError, match="step 1 .preprocess.gaussian.: sigma=0.5 um: the "
                                          "pixel size 0.5 x 0.25 um differs between axes"):
        recipe.run(nuclei_image, pixel_size=(0.5, 0.25))
    with pytest.raises(RecipeError, match="has 3 values; the image has 2 spatial axes"):
        recipe.run(nuclei_image, pixel_size=(1, 0.5, 0.5))
    with pytest.raises(RecipeError, match="pixel size 'a' is not accepted"):
        recipe.run(nuclei_image, pixel_size="a")


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"op": "segment.multi_threshold", "params": {"classes": "3 um"}},
         "step 1 (segment.multi_threshold): classes='3 um' has a unit, which only size "
         "parameters take; expected an integer in [2, 5]"),
        ({"op": "refine.open", "params": {"radius": "2 um2"}},
         "step 1 (refine.open): radius='2 um2' is not a length; expected an integer in "
         "[1, 50], or a length such as '2 um'"),
        ({"op": "refine.remove_small", "params": {"min_size": "2 um"}},
         "step 1 (refine.remove_small): min_size='2 um' is not a count; expected an integer "
         ">= 1, or an area or volume such as '30 um2', '30 um3'"),
        ({"op": "refine.open", "params": {"radius": "2 parsecs"}},
         "step 1 (refine.open): radius='2 parsecs' has the unit 'parsecs', which is not "
         "accepted; radius takes px, nm, um, mm; expected an integer in [1, 50], or a length "
         "such as '2 um'"),
        ({"op": "refine.remove_small", "params": {"min_size": "30 km2"}},
         "step 1 (refine.remove_small): min_size='30 km2' has the unit 'km2', which is not "
         "accepted; min_size takes px, px2, px3, nm2, um2, mm2, nm3, um3, mm3; expected an "
         "integer >= 1, or an area or volume such as '30 um2', '30 um3'"),
    ],
)
def test_units_only_on_size_parameters(step, message):
    with pytest.raises(RecipeError) as info:
        Recipe([step])
    assert str(info.value) == message


def test_resolve_units_gives_plain_pixel_steps():
    recipe = Recipe.loads(UM)
    recipe.steps[3].enabled = False
    steps = resolve_units(recipe.steps, 0.5, da.zeros((64, 64), chunks=32))
    assert [s.params for s in steps[:3]] == [
        {"sigma": 1.0}, {"method": "otsu", "polarity": "auto"}, {"radius": 4, "shape": "disk"}]
    assert steps[3] is recipe.steps[3]  # disabled: left as it is, needs no pixel size
    assert recipe.steps[0].params == {"sigma": "0.5 um"}  # the recipe itself is unchanged
    assert resolve_units(Recipe.loads(PX).steps, None, np.zeros((4, 4)))[2].params["radius"] == 4


def test_volumes_on_stacks():
    recipe = Recipe([{"op": "refine.remove_small", "params": {"min_size": "1 um3"}}])
    stack = np.zeros((3, 8, 8), np.uint8)
    stack[1, 1:3, 1:3] = 1  # 4 voxels: 1 um3 at 1 x 0.5 x 0.5 um
    stack[1, 5:7, 5] = 1  # 2 voxels
    kept = recipe.run(stack, pixel_size=(1, 0.5, 0.5))
    assert kept.sum() == 4 and kept[1, 1:3, 1:3].all()
    per_plane = Recipe([{"op": "refine.remove_small", "params": {"min_size": "0.75 um2"},
                         "per_plane": True}])
    assert per_plane.run(stack, pixel_size=(1, 0.5, 0.5)).sum() == 4
    with pytest.raises(RecipeError, match="counts pixels of 2D planes; give min_size in um2"):
        Recipe([{"op": "refine.remove_small", "params": {"min_size": "1 um3"},
                 "per_plane": True}]).run(stack, pixel_size=0.5)


def test_an_area_on_a_volume_says_that_plane_by_plane_it_is_one():
    stack = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(RecipeError) as raised:
        Recipe([{"op": "refine.remove_small", "params": {"min_size": "1 um2"}}]).run(
            stack, pixel_size=(1, 0.5, 0.5))
    assert str(raised.value) == (
        "step 1 (refine.remove_small): min_size=1 um2: this step counts voxels of 3D data; "
        "give min_size in um3 or px; or set per_plane: true (each 2D plane on its own)")


def test_pixel_size_is_no_input_name():
    with pytest.raises(RecipeError, match="must be a plain name, not 'input' or 'pixel_size'"):
        Recipe([], inputs={"pixel_size": "points"})
