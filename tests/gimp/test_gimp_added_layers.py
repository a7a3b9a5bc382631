"""The layers each procedure adds, in a real GIMP 3 against the real backend: one per selected
layer (Stylize Selection, Harmonize Layer), a seam's mask, Stylize Regions' group, Portrait Blur's
layer; each run in one undo group, and a failure or bad arguments changing nothing.

Every scenario here runs in one GIMP start-up (the `reports` fixture); each test reads its own.
A "recorded" scenario runs the procedure's own code inside GIMP's Python with the image's
undo-group calls recorded, to check that all its changes form one undo group.
"""

from __future__ import annotations

import numpy as np
import pytest

from maskstyle.engine.seams import signed_distance

from .harness import backend_env
from .scenes import (assert_unchanged, assert_untouched, channel_of, composite_of, layer_mask, layer_rgba,
                     layers_by_name, new_layers, scene, selection_of, undo_groups)

STYLIZE = "plug-in-maskstyle-stylize-selection"
HARMONIZE = "plug-in-maskstyle-harmonize-layer"
REGIONS = "plug-in-maskstyle-stylize-regions"
BLUR = "plug-in-maskstyle-portrait-blur"
RECTANGLE = {"kind": "rect", "x": 30, "y": 28, "w": 36, "h": 30}
SKY = {"kind": "rect", "x": 12, "y": 10, "w": 44, "h": 28}                               # hard edges
GROUND = {"kind": "ellipse", "x": 46, "y": 50, "w": 40, "h": 34, "feather": 8}          # soft edges
SUBJECT = {"kind": "ellipse", "x": 24, "y": 20, "w": 48, "h": 48, "feather": 6}
HARMONIZE_ARGS = {"mode": "photo", "strength": 1.0}


def _stylize_args(files):
    return {"style-file": files["style"], "strength": 1.0, "quality": "fast", "preserve-color": False, "seed": 3}


def _regions_args(files, **overrides):
    return {"channel-1": "Sky", "style-file-1": files["style"], "channel-2": "Ground",
            "style-file-2": files["style2"], "quality": "fast", "seed": 5, **overrides}


def _scenarios(files):
    regions_scene = {**scene(files, "Top", "Background"),
                     "channels": [{"name": "Sky", "selection": SKY}, {"name": "Ground", "selection": GROUND}]}
    stylize_two = {"procedure": STYLIZE, "layer": ["Photo", "Background"], "args": _stylize_args(files)}
    harmonize_two = {"procedure": HARMONIZE, "layer": ["Pasted", "Photo"], "args": HARMONIZE_ARGS}
    regions = {"procedure": REGIONS, "layer": "Background", "args": _regions_args(files)}
    blur = {"procedure": BLUR, "layer": "Background", "args": {"radius": 6.0}}

    def recorded(step):
        return {"helper": "recorded", "args": step}

    return {
        "stylize_two": {"image": scene(files, "Top", "Photo", "Background"), "selection": RECTANGLE,
                        "calls": [stylize_two]},
        "stylize_two_recorded": {"image": scene(files, "Top", "Photo", "Background"), "selection": RECTANGLE,
                                 "calls": [recorded(stylize_two)]},
        "stylize_seam": {"image": scene(files, "Top", "Photo", "Background"), "selection": RECTANGLE,
                         "calls": [{"procedure": STYLIZE, "layer": "Photo",
                                    "args": {**_stylize_args(files), "seam": "graphcut"}}]},
        "harmonize_two": {"image": scene(files, "Top", "Pasted", "Photo", "Background"), "selection": None,
                          "calls": [harmonize_two]},
        "harmonize_two_recorded": {"image": scene(files, "Top", "Pasted", "Photo", "Background"),
                                   "selection": None, "calls": [recorded(harmonize_two)]},
        # Pasted harmonizes fine; Background covers the whole canvas, which the backend refuses.
        "harmonize_one_fails": {"image": scene(files, "Top", "Pasted", "Background"), "selection": None,
                                "calls": [{"procedure": HARMONIZE, "layer": ["Pasted", "Background"],
                                           "args": HARMONIZE_ARGS}]},
        "regions": {"image": regions_scene, "selection": None, "calls": [regions]},
        "regions_recorded": {"image": regions_scene, "selection": None, "calls": [recorded(regions)]},
        "regions_with_rest": {"image": regions_scene, "selection": None, "calls": [
            {"procedure": REGIONS, "layer": "Background",
             "args": _regions_args(files, **{"channel-2": None, "style-file-2": None,
                                             "rest-file": files["style2"]})}]},
        "regions_bad_arguments": {"image": regions_scene, "selection": None, "calls": [
            {"procedure": REGIONS, "layer": "Background", "args": _regions_args(files, **{"style-file-2": None})},
            {"procedure": REGIONS, "layer": "Background",
             "args": _regions_args(files, **{"channel-1": None, "style-file-1": None, "channel-2": None,
                                             "style-file-2": None})}]},
        "blur": {"image": scene(files, "Top", "Background"), "selection": SUBJECT, "calls": [blur]},
        "blur_recorded": {"image": scene(files, "Background"), "selection": SUBJECT, "calls": [recorded(blur)]},
        "blur_nothing_selected": {"image": scene(files, "Background"), "selection": None, "calls": [blur]},
    }


@pytest.fixture(scope="module")
def reports(gimp, files, backend):
    scenarios = _scenarios(files)
    return dict(zip(scenarios, gimp.run_all(list(scenarios.values()), backend_env(backend))))


def _succeeded(report):
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    return call


def _the_one_undo_group(report):
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    groups = undo_groups(call["events"])
    assert len(groups) == 1, groups
    return groups[0]


def _directly_above(report, source_name):
    """The layer just above the named one after the run, checked to be a new layer."""
    after = report["after"]["layers"]
    source = layers_by_name(report["after"])[source_name]
    above = after[source["position"] - 1]
    assert above["name"] in {layer["name"] for layer in new_layers(report)}, above["name"]
    return above


# ---------------------------------------------------------------- several selected layers

def test_stylize_on_two_layers_adds_one_masked_layer_above_each(reports):
    report = reports["stylize_two"]
    _succeeded(report)
    assert len(new_layers(report)) == 2
    assert_untouched(report, max_shift=2)  # both sources bit-identical, nothing else changed
    selection = selection_of(report["before"])
    for source_name in ("Photo", "Background"):
        stylized = _directly_above(report, source_name)
        assert stylized["name"].startswith("Stylized (style)")
        source = layers_by_name(report["after"])[source_name]
        x, y, w, h = stylized["x"], stylized["y"], stylized["width"], stylized["height"]
        assert source["x"] <= x and x + w <= source["x"] + source["width"]
        assert source["y"] <= y and y + h <= source["y"] + source["height"]
        assert np.array_equal(layer_mask(stylized), selection[y:y + h, x:x + w])
        under = layer_rgba(source)[y - source["y"]:y - source["y"] + h, x - source["x"]:x - source["x"] + w]
        assert not np.array_equal(layer_rgba(stylized)[..., :3], under[..., :3])


def test_stylize_with_a_seam_masks_the_layer_by_the_seam(reports):
    report = reports["stylize_seam"]
    _succeeded(report)
    assert len(new_layers(report)) == 1
    assert_untouched(report, max_shift=1)
    stylized = _directly_above(report, "Photo")
    x, y, w, h = stylized["x"], stylized["y"], stylized["width"], stylized["height"]
    selection = selection_of(report["before"])[y:y + h, x:x + w]
    mask = layer_mask(stylized)
    near_edge = np.abs(signed_distance(selection)) <= 8
    assert np.array_equal(mask[~near_edge], selection[~near_edge])  # the seam redraws the edge only
    assert ((mask > 0) & (mask < 255)).sum() > 20                    # ... as a soft edge
    assert (layer_rgba(stylized)[..., 3] == 255).all()               # coverage is in the mask


def test_stylize_on_two_layers_is_one_undo_group(reports):
    group = _the_one_undo_group(reports["stylize_two_recorded"])
    assert [call for call, _ in group] == ["insert_layer", "insert_layer"]
    assert len(new_layers(reports["stylize_two_recorded"])) == 2


def test_harmonize_on_two_layers_adds_a_copy_above_each(reports):
    report = reports["harmonize_two"]
    _succeeded(report)
    assert len(new_layers(report)) == 2
    assert_untouched(report, max_shift=2)
    for source_name in ("Pasted", "Photo"):
        harmonized = _directly_above(report, source_name)
        assert harmonized["name"] == f"Harmonized ({source_name})"
        source = layers_by_name(report["after"])[source_name]
        for key in ("x", "y", "width", "height"):
            assert harmonized[key] == source[key], key
        new, old = layer_rgba(harmonized), layer_rgba(source)
        assert np.array_equal(new[..., 3], old[..., 3])
        visible = old[..., 3] > 0
        assert np.any(new[visible][:, :3] != old[visible][:, :3])


def test_harmonize_on_two_layers_is_one_undo_group(reports):
    group = _the_one_undo_group(reports["harmonize_two_recorded"])
    assert group == [["insert_layer", "Harmonized (Pasted)"], ["insert_layer", "Harmonized (Photo)"]]


def test_a_failure_on_one_layer_names_it_and_changes_nothing(reports):
    report = reports["harmonize_one_fails"]
    call = report["calls"][0]
    assert call["status"] == "execution-error"
    assert call["message"].startswith("Layer “Background”: ")
    assert "covers the whole image" in call["message"] and call["message"].endswith("Nothing was changed.")
    assert "Traceback" not in call["message"]
    assert_unchanged(report)  # the harmonized Pasted layer, already made by the backend, was not added


# ---------------------------------------------------------------- Stylize Regions

def test_regions_make_a_group_with_a_layer_per_region_masked_by_its_channel(reports):
    report = reports["regions"]
    _succeeded(report)
    assert_untouched(report)
    assert report["after"]["channel_masks"] == report["before"]["channel_masks"]
    assert np.array_equal(selection_of(report["after"]), selection_of(report["before"]))

    group = _directly_above(report, "Background")
    assert group["name"] == "Stylized regions" and [layer["name"] for layer in new_layers(report)] == [group["name"]]
    children = group["children"]
    assert [child["name"] for child in children] == ["Stylized (style2)", "Stylized (style)"]  # region 1 lowest
    for child, channel_name in zip(children, ("Ground", "Sky")):
        channel = channel_of(report["before"], channel_name)
        x, y, w, h = child["x"], child["y"], child["width"], child["height"]
        assert np.array_equal(layer_mask(child), channel[y:y + h, x:x + w]), channel_name
        outside = channel.copy()
        outside[y:y + h, x:x + w] = 0
        assert not outside.any(), f"{channel_name} reaches past its layer"
        assert (layer_rgba(child)[..., 3] == 255).all()

    # The picture changes inside the regions only, and differently in each.
    sky, ground = channel_of(report["before"], "Sky"), channel_of(report["before"], "Ground")
    changed = np.any(composite_of(report["before"]) != composite_of(report["after"]), axis=-1)
    assert not changed[(sky == 0) & (ground == 0)].any()
    assert changed[sky == 255].mean() > 0.2 and changed[ground == 255].mean() > 0.2


def test_a_style_for_the_rest_adds_a_layer_over_everything_else(reports):
    report = reports["regions_with_rest"]
    _succeeded(report)
    assert_untouched(report)
    rest, sky = _directly_above(report, "Background")["children"]
    assert (rest["name"], sky["name"]) == ("Stylized (style2, the rest)", "Stylized (style)")
    background = layers_by_name(report["after"])["Background"]
    assert [rest[key] for key in ("x", "y", "width", "height")] == [0, 0, background["width"], background["height"]]
    channel = channel_of(report["before"], "Sky")
    x, y, w, h = sky["x"], sky["y"], sky["width"], sky["height"]
    assert np.array_equal(layer_mask(sky), channel[y:y + h, x:x + w])
    assert np.array_equal(layer_mask(rest), 255 - channel)  # hard-edged, so the two never overlap
    changed = np.any(composite_of(report["before"]) != composite_of(report["after"]), axis=-1)
    assert changed.mean() > 0.5  # now the whole picture is restyled


def test_regions_are_one_undo_group(reports):
    group = _the_one_undo_group(reports["regions_recorded"])
    assert group == [["insert_layer", "Stylized regions"], ["insert_layer", "Stylized (style)"],
                     ["insert_layer", "Stylized (style2)"]]


def test_regions_with_bad_arguments_say_what_is_missing_and_change_nothing(reports):
    report = reports["regions_bad_arguments"]
    half, none = report["calls"]
    assert half["status"] == none["status"] == "execution-error"
    # in the dialog's own words: the fields are "Region 2: channel" and "Region 2: style image"
    assert half["message"] == ("Region 2 has a channel but no style image: choose one in “Region 2: style image”, "
                               "or empty “Region 2: channel”.")
    assert none["message"].startswith("Choose at least one region: a channel (a saved selection")
    assert_unchanged(report)


# ---------------------------------------------------------------- Portrait Blur

def test_portrait_blur_adds_a_layer_with_the_subject_unchanged(reports):
    report = reports["blur"]
    _succeeded(report)
    assert_untouched(report)
    assert [layer["name"] for layer in new_layers(report)] == ["Portrait blur"]
    blurred = _directly_above(report, "Background")
    source = layers_by_name(report["after"])["Background"]
    for key in ("x", "y", "width", "height", "opacity", "mode"):
        assert blurred[key] == source[key], key
    new, old = layer_rgba(blurred), layer_rgba(source)
    selection = selection_of(report["before"])
    subject, background = selection == 255, selection == 0
    assert subject.sum() > 500 and background.sum() > 500
    assert np.array_equal(new[subject], old[subject])
    assert (new[..., 3] == old[..., 3]).all()

    def roughness(rgba):  # how much neighbouring background pixels differ
        steps = np.abs(np.diff(rgba[..., :3].astype(int), axis=1)).sum(axis=-1)
        return steps[background[:, 1:] & background[:, :-1]].mean()
    assert roughness(new) < roughness(old) / 2  # the background is blurred


def test_portrait_blur_is_one_undo_group(reports):
    assert _the_one_undo_group(reports["blur_recorded"]) == [["insert_layer", "Portrait blur"]]


def test_portrait_blur_with_nothing_selected_says_so(reports):
    report = reports["blur_nothing_selected"]
    call = report["calls"][0]
    assert call["status"] == "execution-error"
    assert call["message"].startswith("Nothing is selected: select the subject to keep sharp first")
    assert_unchanged(report)
