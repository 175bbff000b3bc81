"""Sizes in micrometres: parsing, conversion to pixels, pixel sizes, and size parameters."""

from __future__ import annotations

import numpy as np
import pytest

from napari_maskprep import MaskprepError, Recipe, RecipeError, apply, get_op
from napari_maskprep.core import registry
from napari_maskprep.core.units import (
    COUNT,
    LENGTH,
    Quantity,
    check_pixel_size,
    parse_quantity,
    to_pixels,
)


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("2 um", 2.0, "um"),
        ("2um", 2.0, "um"),
        ("2 µm", 2.0, "um"),  # micro sign
        ("2 μm", 2.0, "um"),  # Greek mu
        ("1.5 micron", 1.5, "um"),
        ("30 micron2", 30.0, "um2"),  # a length's spellings take a power as um's do
        ("30 microns^2", 30.0, "um2"),
        ("8 micron3", 8.0, "um3"),
        ("8 micrometres³", 8.0, "um3"),
        ("0.25 UM", 0.25, "um"),
        ("30 um2", 30.0, "um2"),
        ("30 µm²", 30.0, "um2"),
        ("30 um^2", 30.0, "um2"),
        ("8 um3", 8.0, "um3"),
        ("8 μm³", 8.0, "um3"),
        ("5 px", 5.0, "px"),
        ("5 pixels", 5.0, "px"),
        ("5", 5.0, "px"),
        (" .5e1 um ", 5.0, "um"),
        ("500 nm", 500.0, "nm"),
        ("0.1 mm", 0.1, "mm"),
        ("30 nm²", 30.0, "nm2"),
        ("30 mm^2", 30.0, "mm2"),
        ("8 mm3", 8.0, "mm3"),
        ("30 px2", 30.0, "px2"),
        ("30 px³", 30.0, "px3"),
    ],
)
def test_parse_quantity(text, value, unit):
    assert parse_quantity(text) == Quantity(value, unit)


@pytest.mark.parametrize(
    "text", ["", "um", "2 km", "2 u m", "2 um um", "two um", "nan um", "inf um", "1e999 um",
             "2" * 80 + " um", "2 m\nrm -rf", 2, None],
)
def test_parse_quantity_refuses_in_one_line(text):
    with pytest.raises(MaskprepError) as info:
        parse_quantity(text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert "accepted" in message or "finite" in message


def test_quantity_text_round_trips():
    for q in (Quantity(2.0, "um"), Quantity(1.5, "um2"), Quantity(1e-5, "um3"),
              Quantity(0.1, "um"), Quantity(123456789.0, "um")):
        assert parse_quantity(str(q)) == q
    assert str(Quantity(2.0, "um")) == "2 um"
    assert parse_quantity("5", unit_required=False).unit == "px"
    with pytest.raises(MaskprepError):
        parse_quantity("5", unit_required=True)


def test_an_unknown_unit_is_named_with_what_is_accepted():
    with pytest.raises(MaskprepError) as info:
        parse_quantity("2 km")
    assert str(info.value) == (
        "'2 km' has the unit 'km', which is not known; accepted: a number with px, nm, um (µm) "
        "or mm for a length, or px2, nm2, um2, mm2 (3 for a volume) for an area "
        "(e.g. '2 um', '30 um2')")


def test_nanometres_and_millimetres_convert_like_micrometres():
    assert to_pixels(LENGTH, Quantity(300.0, "nm"), (0.1,)) == 3.0
    assert to_pixels(LENGTH, Quantity(0.002, "mm"), (0.5,)) == 4.0
    assert to_pixels(LENGTH, Quantity(2.0, "mm"), (0.5, 0.5)) == 4000.0
    assert to_pixels(COUNT, Quantity(0.00003, "mm2"), (0.5,)) == 120.0
    assert to_pixels(COUNT, Quantity(1.0, "mm3"), (10.0,), ndim=3) == 1e6
    assert to_pixels(COUNT, Quantity(500000.0, "nm2"), (0.5, 0.25)) == 4.0
    assert to_pixels(COUNT, Quantity(30.0, "px2"), None) == 30.0
    spec = get_op("refine.remove_small")
    assert spec.check_params({"min_size": "30 px2"})["min_size"] == 30
    assert spec.resolve_units({"min_size": "30 um2"}, 0.5) == spec.resolve_units(
        {"min_size": "0.00003 mm2"}, 0.5) == spec.resolve_units({"min_size": "120 px2"}, 0.5)
    assert get_op("refine.open").resolve_units({"radius": "2000 nm"}, 0.5)["radius"] == 4


def test_lengths_areas_and_volumes_in_pixels():
    assert to_pixels(LENGTH, Quantity(2.0, "um"), (0.5,)) == 4.0
    assert to_pixels(LENGTH, Quantity(2.0, "um"), (0.5, 0.5)) == 4.0
    assert to_pixels(LENGTH, Quantity(3.0, "px"), None) == 3.0
    assert to_pixels(COUNT, Quantity(30.0, "um2"), (0.5,)) == 120.0
    assert to_pixels(COUNT, Quantity(30.0, "um2"), (0.5, 0.25)) == 240.0
    assert to_pixels(COUNT, Quantity(8.0, "um3"), (0.5,), ndim=3) == 64.0
    assert to_pixels(COUNT, Quantity(8.0, "um3"), (2.0, 0.5, 0.5), ndim=3) == 16.0
    # A 2D step on a stack with thick slices: only the in-plane size matters.
    assert to_pixels(LENGTH, Quantity(1.0, "um"), (2.0, 0.5, 0.5), ndim=2) == 2.0
    assert to_pixels(COUNT, Quantity(1.0, "um2"), (2.0, 0.5, 0.5), ndim=2) == 4.0


@pytest.mark.parametrize(
    ("measure", "quantity", "pixel_size", "ndim", "message"),
    [
        (LENGTH, Quantity(2.0, "um"), None, 2, "radius=2 um needs the image's pixel size"),
        (LENGTH, Quantity(2.0, "um"), (0.5, 0.25), 2, "differs between axes"),
        (LENGTH, Quantity(2.0, "um"), (2.0, 0.5, 0.5), 3, "needs cubic voxels"),
        (LENGTH, Quantity(2.0, "um"), (0.5, 0.5), 3, "needs the pixel size along 3 axes"),
        (LENGTH, Quantity(2.0, "um2"), (0.5,), 2, "radius is a length in px, nm, um, mm$"),
        (COUNT, Quantity(2.0, "um"), (0.5,), 2,
         "radius is a count in px, px2, px3, nm2, um2, mm2, nm3, um3, mm3$"),
        (COUNT, Quantity(2.0, "um3"), (0.5,), 2, "counts pixels of 2D planes; give radius in um2"),
        (COUNT, Quantity(2.0, "um2"), (0.5,), 3, "counts voxels of 3D data; give radius in um3"),
        # tiny pixel sizes: the area underflows to 0 (ZeroDivisionError), pixels overflow
        (COUNT, Quantity(1.0, "um2"), (1e-170,), 2, r"radius=1 um2 at the pixel size "
         r"1e-170 x 1e-170 um is more pixels than a number holds; check the pixel size"),
        (LENGTH, Quantity(1e308, "um"), (0.1,), 2, "is more pixels than a number holds"),
    ],
)
def test_conversions_that_cannot_be_made(measure, quantity, pixel_size, ndim, message):
    with pytest.raises(MaskprepError, match=message) as info:
        to_pixels(measure, quantity, pixel_size, ndim=ndim, name="radius")
    assert "\n" not in str(info.value)


def test_pixel_sizes():
    assert check_pixel_size(0.5) == (0.5,)
    assert check_pixel_size(np.float32(0.25)) == (0.25,)
    assert check_pixel_size((0.5, 0.25)) == (0.5, 0.25)
    assert check_pixel_size([2, 0.5, 0.5]) == (2.0, 0.5, 0.5)
    # An array of one value per axis (a napari layer's scale) was refused as one number:
    # "pixel size array([0.5, 0.25]) is not accepted"
    assert check_pixel_size(np.array([0.5, 0.25])) == (0.5, 0.25)
    assert check_pixel_size(np.array(0.5)) == (0.5,)
    for bad in (0, -1, float("nan"), float("inf"), "0.5", True, (), (1, 1, 1, 1), [None],
                [[0.5]], np.array([[0.5]]), np.array([0.5, 0.0]), np.zeros(4) + 1):
        with pytest.raises(MaskprepError, match="pixel size") as info:
            check_pixel_size(bad)
        assert "\n" not in str(info.value)


def test_size_parameters_declare_what_they_measure():
    assert get_op("refine.open").param("radius").measure == LENGTH
    assert get_op("preprocess.gaussian").param("sigma").measure == LENGTH
    assert get_op("refine.remove_small").param("min_size").measure == COUNT
    assert get_op("refine.fill_holes").param("max_hole_size").measure == COUNT
    assert get_op("segment.threshold").param("value").measure is None
    assert get_op("preprocess.rescale").param("low").measure is None


def test_size_parameters_keep_micrometres_until_resolved():
    spec = get_op("refine.open")
    checked = spec.check_params({"radius": "2 µm"})
    assert checked["radius"] == Quantity(2.0, "um")
    assert spec.plain_params({"radius": "2 µm"})["radius"] == "2 um"
    assert spec.check_params({"radius": "3 px"})["radius"] == 3
    assert spec.resolve_units({"radius": "2 um"}, 0.5)["radius"] == 4
    # Integers round to the nearest accepted value: an odd window stays odd.
    assert spec.resolve_units({"radius": "1.3 um"}, 0.5)["radius"] == 3
    block = get_op("segment.local_threshold")
    assert block.resolve_units({"block_size": "10 um"}, 0.5)["block_size"] == 21
    assert block.resolve_units({"block_size": "9.5 um"}, 0.5)["block_size"] == 19
    sigma = get_op("preprocess.gaussian")
    assert sigma.resolve_units({"sigma": "1.5 um"}, 0.5)["sigma"] == 3.0


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        ("refine.open", {"radius": "0.1 um"},
         r"radius=0.1 um is 0.2 px at the pixel size 0.5 um: radius=0 is out of range"),
        ("refine.open", {"radius": "2 um2"}, "radius='2 um2' is not a length"),
        ("refine.open", {"radius": "-2 um"}, "radius='-2 um' is negative"),
        ("refine.open", {"radius": "2 km"}, "radius='2 km' has the unit 'km', which is not "
         "accepted; radius takes px, nm, um, mm; expected an integer"),
        ("refine.open", {"radius": "2"}, "radius='2' is not accepted; expected an integer"),
        ("segment.multi_threshold", {"classes": "3 um"},
         "classes='3 um' has a unit, which only size parameters take"),
        ("segment.threshold", {"value": "3 px"}, "value='3 px' is not accepted"),
        ("refine.remove_small", {"min_size": "2 um"}, "min_size='2 um' is not a count"),
        ("refine.open", {"radius": "2 px2"}, "radius='2 px2' is not a length"),
        ("refine.remove_small", {"min_size": "2 mm3"},
         "min_size=2 mm3: this step counts pixels of 2D planes; give min_size in mm2 or px"),
    ],
)
def test_bad_sizes_are_one_line(op, params, message):
    with pytest.raises(MaskprepError, match=message) as info:
        get_op(op).resolve_units(params, 0.5)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


@pytest.mark.parametrize(("op", "size", "accepted"), [
    ("refine.open", "radius='0 um'", "an integer in [1, 50], or a length such as '2 um'"),
    ("preprocess.gaussian", "sigma='0 um'",
     "a number in [0.1, 50.0], or a length such as '2 um'"),
    ("refine.remove_small", "min_size='0 um2'",
     "an integer >= 1, or an area or volume such as '30 um2', '30 um3'"),
])
def test_a_zero_size_in_micrometres_is_refused_when_the_recipe_loads(op, size, accepted):
    """0 um is 0 px at any pixel size, below the minimum: every file failed in the run."""
    name, value = size.split("=")
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"maskprep": 1, "steps": [{"op": op, "params": {
            name: value.strip("'")}}]})
    assert str(info.value) == f"step 1 ({op}): {size} is zero; expected {accepted}"


def test_apply_converts_with_the_pixel_size():
    mask = np.zeros((24, 24), np.uint8)
    mask[4:16, 4:16] = 1
    mask[20, 20] = 1
    assert np.array_equal(apply("refine.open", mask, radius="2 um", pixel_size=0.5),
                          apply("refine.open", mask, radius=4))
    assert np.array_equal(apply("refine.remove_small", mask, min_size="1 um2", pixel_size=0.5),
                          apply("refine.remove_small", mask, min_size=4))
    stack = np.stack([mask] * 3)
    # A 3D op on a stack counts voxels (um3); plane by plane it counts pixels (um2).
    assert np.array_equal(
        apply("refine.remove_small", stack, min_size="1 um3", pixel_size=(1.0, 0.5, 0.5)),
        apply("refine.remove_small", stack, min_size=4))
    assert np.array_equal(
        apply("refine.remove_small", stack, min_size="1 um2", pixel_size=(1.0, 0.5, 0.5),
              per_plane=True),
        apply("refine.remove_small", stack, min_size=4, per_plane=True))
    with pytest.raises(MaskprepError, match="counts voxels of 3D data"):
        apply("refine.remove_small", stack, min_size="1 um2", pixel_size=0.5)


def test_apply_without_pixel_size_fails_before_work(monkeypatch):
    spec = get_op("refine.open")
    monkeypatch.setattr(registry, "run_spatial", lambda *a, **k: pytest.fail("the op ran"))
    with pytest.raises(MaskprepError, match="needs the image's pixel size"):
        spec(np.ones((8, 8), np.uint8), radius="2 um")
    with pytest.raises(MaskprepError, match="pixel size"):
        spec(np.ones((8, 8), np.uint8), radius=2, pixel_size=-1)
