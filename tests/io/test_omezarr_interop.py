"""What we write opens over the image it was made from, in other readers: labels written into
an image store (NGFF 0.4 on zarr v2, 0.5 on zarr v3) and new stores made like one, for 2D,
3D, time-lapse and 5D images with units, offsets and pyramids. Checked with ome-zarr-models
(the spec's rules, the labels' levels included) and ome-zarr-py's reader; napari-ome-zarr in
tests/gui/test_ome_zarr_plugin.py."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import zarr

from napari_maskprep.io import open_lazy, write_ome_zarr


def ngff_image(path, shape, axes, version="0.4", *, scale, translation=None, levels=2,
               unit="micrometer"):
    """An OME-Zarr image by ome-zarr's writer: ``levels`` levels, each y and x halved by
    stride, at ``scale`` (doubled in y and x a level) and ``translation``; space axes in
    ``unit``, time in seconds. Returns its level 0."""
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_multiscale

    fmt = FormatV04() if version == "0.4" else FormatV05()
    data = (np.arange(np.prod(shape)) % 251).astype(np.uint16).reshape(shape)
    pyramid = [data[..., ::2**n, ::2**n] for n in range(levels)]
    transforms = []
    for n in range(levels):
        level = [{"type": "scale", "scale": [s * (2**n if a in "yx" else 1)
                                             for s, a in zip(scale, axes, strict=True)]}]
        if translation is not None:
            level.append({"type": "translation", "translation": list(translation)})
        transforms.append(level)
    units = {a: unit if a in "zyx" else "second" for a in axes if a in "tzyx"}
    group = zarr.open_group(path, mode="w", zarr_format=fmt.zarr_format)
    write_multiscale(pyramid, group, fmt=fmt, axes=axes, axes_units=units,
                     storage_options={"chunks": tuple(16 if a in "yx" else 1 for a in axes)})
    attrs = group.attrs.asdict()
    for dataset, level in zip(attrs.get("ome", attrs)["multiscales"][0]["datasets"],
                              transforms, strict=True):
        dataset["coordinateTransformations"] = level
    group.attrs.update(attrs)
    return data


def multiscale(path):
    """The first multiscale of the OME-Zarr group at ``path``, as stored."""
    meta = path / ".zattrs"
    attrs = (json.loads(meta.read_text()) if meta.is_file()
             else json.loads((path / "zarr.json").read_text())["attributes"]["ome"])
    return attrs["multiscales"][0]


def without(values, axes, dropped):
    return [v for v, a in zip(values, axes, strict=True) if a not in dropped]


def reader_nodes(store):
    """ome-zarr-py's reader's nodes of ``store`` by their path below it: data and
    metadata."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    logging.getLogger("ome_zarr").setLevel(logging.ERROR)  # "version mismatch" on 0.4
    return {str(node.zarr.path).removeprefix(str(store)).lstrip("/"): node
            for node in Reader(parse_url(str(store)))()}


def check_over_the_image(store, label_path, dropped="c"):
    """The label at ``label_path`` holds the image's axes but ``dropped`` and, level by
    level, its shape and transforms on them, read by ome-zarr-py's reader; and the whole
    store (the labels' levels too) is valid for ome-zarr-models."""
    import ome_zarr_models

    image = multiscale(store)
    axes = "".join(a["name"] for a in image["axes"])
    nodes = reader_nodes(store)
    image_node, label_node = nodes[""], nodes[str(label_path.relative_to(store))]
    assert [a["name"] for a in label_node.metadata["axes"]] == list(
        axes.translate({ord(c): None for c in dropped}))
    assert [d.shape for d in label_node.data] == [
        tuple(without(d.shape, axes, dropped)) for d in image_node.data]
    assert label_node.metadata["coordinateTransformations"] == [
        [{**t, t["type"]: without(t[t["type"]], axes, dropped)} for t in level]
        for level in image_node.metadata["coordinateTransformations"]]
    assert type(ome_zarr_models.open_ome_zarr(zarr.open_group(store, mode="r"))
                ).__name__ == "Image"


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_in_a_5d_image_keep_its_axes_of_length_1_but_its_channels(tmp_path, version):
    """A label of a (t, c, z, y, x) image with t and c of length 1 was written (z, y, x):
    NGFF has each of its axes the image's or 1; napari-ome-zarr, which splits the image on
    c, needs the label without c."""
    store = tmp_path / "image.zarr"
    image = ngff_image(store, (1, 1, 3, 40, 60), "tczyx", version, scale=(2, 1, 3, .5, .25),
                       translation=(0, 0, 1, 10, 20))
    mask = (image[0, 0] % 3 == 0).astype(np.uint8)
    label = write_ome_zarr(mask, into=store, axes="zyx", name="cells")
    written = multiscale(label)
    assert written["axes"] == [{"name": "t", "type": "time", "unit": "second"},
                               {"name": "z", "type": "space", "unit": "micrometer"},
                               {"name": "y", "type": "space", "unit": "micrometer"},
                               {"name": "x", "type": "space", "unit": "micrometer"}]
    assert [d["coordinateTransformations"] for d in written["datasets"]] == [
        [{"type": "scale", "scale": [2.0, 3.0, 0.5, 0.25]},
         {"type": "translation", "translation": [0.0, 1.0, 10.0, 20.0]}],
        [{"type": "scale", "scale": [2.0, 3.0, 1.0, 0.5]},
         {"type": "translation", "translation": [0.0, 1.0, 10.0, 20.0]}]]
    levels = open_lazy(label).levels
    np.testing.assert_array_equal(levels[0].compute(), mask[None])
    np.testing.assert_array_equal(levels[1].compute(), mask[None, :, ::2, ::2])
    if version == "0.5":
        assert zarr.open_array(label / "0").metadata.dimension_names == ("t", "z", "y", "x")
    check_over_the_image(store, label)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize(("shape", "axes", "mask_axes", "scale", "translation", "levels"), [
    ((60, 80), "yx", "yx", (500, 250), (1000, 2000), 2),
    ((3, 60, 80), "zyx", "zyx", (2, .5, .25), (5, 10, 20), 2),
    ((3, 60, 80), "tyx", "tyx", (30, .5, .5), None, 2),
    ((2, 2, 3, 60, 80), "tczyx", "tzyx", (1, 1, 2, .5, .5), None, 2),
    ((1, 2, 1, 60, 80), "tczyx", "yx", (1, 1, 2, .5, .5), (0, 0, 4, 1, 1), 3),
    ((200, 300), "yx", "yx", (.5, .5), None, 3),
])
def test_labels_in_an_image_lie_over_it(tmp_path, version, shape, axes, mask_axes, scale,
                                        translation, levels):
    store = tmp_path / "image.zarr"
    image = ngff_image(store, shape, axes, version, scale=scale, translation=translation,
                       levels=levels, unit="nanometer" if scale[-1] > 100 else "micrometer")
    plane = image.reshape(-1, *image.shape[-2:])[0]
    mask = np.broadcast_to(plane % 3 == 0, [n for n, a in zip(image.shape, axes, strict=True)
                                           if a in mask_axes]).astype(np.uint8)
    label = write_ome_zarr(mask, into=store, axes=mask_axes, name="cells")
    check_over_the_image(store, label)
    assert open_lazy(label).data.shape == tuple(without(shape, axes, "c"))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_new_store_like_an_image_takes_its_axes_units_and_offset(tmp_path, version):
    """A mask store made from an image in nanometres with an offset was in micrometres
    at 0: napari-ome-zarr lays layers by their numbers, and drew it 1000 times too small
    and beside the image."""
    store = tmp_path / "image.zarr"
    image = ngff_image(store, (1, 1, 2, 60, 80), "tczyx", version, scale=(5, 1, 800, 500, 250),
                       translation=(0, 0, 100, 1000, 2000), unit="nanometer")
    mask = (image[0, 0] % 3 == 0).astype(np.uint8)
    path = write_ome_zarr(mask, tmp_path / "mask.zarr", axes="zyx", like=store)
    written = multiscale(path)
    assert [(a["name"], a.get("unit")) for a in written["axes"]] == [
        ("t", "second"), ("z", "nanometer"), ("y", "nanometer"), ("x", "nanometer")]
    assert written["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [5.0, 800.0, 500.0, 250.0]},
        {"type": "translation", "translation": [0.0, 100.0, 1000.0, 2000.0]}]
    np.testing.assert_array_equal(open_lazy(path).data.compute(), mask[None])
    assert open_lazy(path).pixel_size == pytest.approx((0.8, 0.5, 0.25))
    # Sizes given in µm: the offset in µm too (it was dropped, the mask beside the image)
    given = write_ome_zarr(mask, tmp_path / "given.zarr", axes="zyx", like=store,
                           pixel_size=(1, 0.5, 0.5))
    assert multiscale(given)["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [5.0, 1.0, 0.5, 0.5]},
        {"type": "translation", "translation": [0.0, 0.1, 1.0, 2.0]}]
    unitless = tmp_path / "unitless.zarr"  # an offset of no known length: none
    ngff_image(unitless, (2, 60, 80), "zyx", version, scale=(4, 2, 2), translation=(8, 6, 4))
    group = zarr.open_group(unitless, mode="a")
    attrs = group.attrs.asdict()
    for axis in attrs.get("ome", attrs)["multiscales"][0]["axes"]:
        del axis["unit"]
    group.attrs.update(attrs)
    given = write_ome_zarr(mask, tmp_path / "given2.zarr", axes="zyx", like=unitless,
                           pixel_size=(1, 0.5, 0.5))
    assert multiscale(given)["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 0.5, 0.5]}]


def test_labels_lacking_an_axis_the_image_has_longer_are_refused(tmp_path):
    store = tmp_path / "image.zarr"
    ngff_image(store, (2, 1, 3, 40, 60), "tczyx", scale=(1, 1, 1, 1, 1))
    mask = np.zeros((3, 40, 60), np.uint8)
    with pytest.raises(ValueError) as caught:
        write_ome_zarr(mask, into=store, axes="zyx")
    assert str(caught.value) == (f"labels of shape (3, 40, 60) (zyx) do not fit the image "
                                 f"{store} of shape (2, 1, 3, 40, 60) (tczyx)")
    with pytest.raises(ValueError, match=r"labels of shape \(2, 3, 40, 61\) \(tzyx\) do not"):
        write_ome_zarr(np.zeros((2, 3, 40, 61), np.uint8), tmp_path / "m.zarr", axes="tzyx",
                       like=store)
    assert not (store / "labels").exists() and not (tmp_path / "m.zarr").exists()
