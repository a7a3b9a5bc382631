"""The maskstyle procedures in a real GIMP 2.10 (Python-Fu), against the real backend, called
through the PDB as a script would: the same checks as the GIMP 3 tier for the same scenarios.

GIMP 2.10's Python-Fu cannot return an error message to the calling script (it sees
"execution error"); the plug-in's readable message goes to GIMP's message area, which batch
runs print as "<procedure label>-Warning: <message>"."""

from __future__ import annotations

import numpy as np
import pytest

from gimp.harness import backend_env, check_a_killed_plugin_cancels_its_job, free_port, run_killing_the_backend
from gimp.test_gimp_plugin import _backend_mask
from gimp.scenes import (BLUR, FEATHERED_ELLIPSE, HARMONIZE, RECTANGLE, REGIONS, SELECT_SUBJECT, STYLIZE,
                         assert_stylized_within_the_selection, assert_unchanged, assert_untouched, channel_of,
                         every_procedure_job, layer_mask, layer_rgba, layers_by_name, new_layers, scene, selection_of,
                         slow_stylize_job, stylize_job, undo_groups)

LEFT_HALF = {"kind": "rect", "x": 0, "y": 0, "w": 48, "h": 96}
GIMP3_ARGUMENTS = {  # after run-mode, image and the drawable(s): the GIMP 3 plug-in's, in its order
    STYLIZE: ["style-file", "strength", "quality", "preserve-color", "seed", "seam", "method"],
    REGIONS: ["channel-1", "style-file-1", "channel-2", "style-file-2", "channel-3", "style-file-3", "rest-file",
              "strength", "quality", "preserve-color", "seed", "seam", "method"],
    HARMONIZE: ["mode", "strength"],
    BLUR: ["radius"],
    SELECT_SUBJECT: ["target", "operation"],
}


@pytest.fixture(scope="module")
def stylized(gimp, files, backend):
    """Every stylize scenario in one GIMP run: rectangle, feathered ellipse, recorded, nothing selected."""
    jobs = {"rectangle": stylize_job(files, RECTANGLE), "feathered-ellipse": stylize_job(files, FEATHERED_ELLIPSE),
            "recorded": stylize_job(files, RECTANGLE, recorded=True), "nothing-selected": stylize_job(files, None)}
    return dict(zip(jobs, gimp.run_all(list(jobs.values()), backend_env(backend))))


def test_the_procedures_have_the_gimp3_names_and_arguments(gimp, env):
    report = gimp.run({"registered": list(GIMP3_ARGUMENTS)}, env)["registered"]
    for name, arguments in GIMP3_ARGUMENTS.items():
        assert report[name] is not None, f"{name} is not registered"
        assert [arg for arg, _ in report[name]["args"]] == ["run-mode", "image", "drawable", *arguments]


@pytest.mark.parametrize("shape", ["rectangle", "feathered-ellipse"])
def test_stylize_adds_one_layer_masked_by_the_selection(stylized, shape):
    report = stylized[shape]
    layer, mask = assert_stylized_within_the_selection(report)
    if shape == "feathered-ellipse":
        assert np.count_nonzero((mask > 0) & (mask < 255)) > 100
    assert (layer_rgba(layer)[..., 3] == 255).all()  # the alpha went into the mask


def test_stylize_changes_the_image_in_one_undo_group(stylized):
    call = stylized["recorded"]["calls"][0]
    assert call["status"] == "success", call["message"]
    groups = undo_groups(call["events"])
    assert groups == [[["insert_layer", "Stylized (style)"]]]


def _said(report, label, message):
    return f"{label}-Warning: {message}" in report["gimp_output"]


def test_stylize_with_nothing_selected_says_so_and_changes_nothing(stylized):
    report = stylized["nothing-selected"]
    call = report["calls"][0]
    assert call["status"] == "execution-error"
    assert _said(report, "Stylize Selection", "Nothing is selected: select the area to stylize first.")
    assert "Traceback" not in report["gimp_output"]
    assert_unchanged(report)


def test_a_bad_token_is_reported_and_changes_nothing(gimp, files, env):
    report = gimp.run(stylize_job(files, RECTANGLE), {**env, "MASKSTYLE_TOKEN": "wrong-token"})
    call = report["calls"][0]
    assert call["status"] == "execution-error"
    assert _said(report, "Stylize Selection", "The maskstyle backend refused the access token")
    assert "Traceback" not in report["gimp_output"]
    assert_unchanged(report)


def test_every_procedure_reports_a_stopped_backend_and_changes_nothing(gimp, files):
    env = {"MASKSTYLE_URL": f"http://127.0.0.1:{free_port()}", "MASKSTYLE_TOKEN": "nobody-listens"}
    report = gimp.run(every_procedure_job(files), env)
    labels = ["Stylize Selection", "Harmonize Layer", "Select Subject", "Stylize Regions", "Portrait Blur"]
    for call, label in zip(report["calls"], labels):
        assert call["status"] == "execution-error", label
        assert _said(report, label, f"The maskstyle backend is not running at {env['MASKSTYLE_URL']}"), label
    assert "maskstyle serve" in report["gimp_output"] and "Traceback" not in report["gimp_output"]
    assert_unchanged(report)


# ---------------------------------------------------------------- cancel, and a backend that dies

def test_a_killed_plugin_cancels_its_backend_job(gimp, files, env, backend):
    """GIMP kills a plug-in whose progress is cancelled: the bridge sees its pipe close and cancels."""
    check_a_killed_plugin_cancels_its_job(gimp, slow_stylize_job(files), env, backend)


def test_a_backend_that_dies_mid_job_gives_a_clear_message_and_changes_nothing(gimp, files, tmp_path):
    report, doomed = run_killing_the_backend(gimp, slow_stylize_job(files), tmp_path / "cfg")
    assert report["calls"][0]["status"] == "execution-error"
    assert _said(report, "Stylize Selection", f"The maskstyle backend at {doomed.url} stopped while it worked")
    assert "Traceback" not in report["gimp_output"]
    assert_unchanged(report)


# ---------------------------------------------------------------- the other procedures

@pytest.fixture(scope="module")
def others(gimp, files, backend):
    jobs = {
        "harmonize": {"image": scene(files, "Pasted", "Photo", "Background"),
                      "calls": [{"procedure": HARMONIZE, "layer": "Pasted", "args": {"mode": "photo", "strength": 1.0}}]},
        "blur": {"image": scene(files, "Photo", "Background"), "selection": RECTANGLE,
                 "calls": [{"procedure": BLUR, "layer": "Photo", "args": {"radius": 4.0}}]},
        "select": {"image": scene(files, "Subject"),
                   "calls": [{"procedure": SELECT_SUBJECT, "layer": "Subject",
                              "args": {"target": "subject", "operation": "replace"}}]},
        "select-intersect": {"image": scene(files, "Subject"), "selection": LEFT_HALF,
                             "calls": [{"procedure": SELECT_SUBJECT, "layer": "Subject",
                                        "args": {"target": "subject", "operation": "intersect"}}]},
        "regions": {"image": {**scene(files, "Photo", "Background"),
                              "channels": [{"name": "Left", "selection": {"kind": "rect", "x": 12, "y": 14, "w": 30,
                                                                           "h": 40}},
                                           {"name": "Right", "selection": {"kind": "ellipse", "x": 46, "y": 20,
                                                                            "w": 36, "h": 40, "feather": 6}}]},
                    "calls": [{"procedure": REGIONS, "layer": "Photo",
                               "args": {"channel-1": "Left", "style-file-1": files["style"],
                                        "channel-2": "Right", "style-file-2": files["style2"],
                                        "quality": "fast", "seed": 1}}]},
    }
    return dict(zip(jobs, gimp.run_all(list(jobs.values()), backend_env(backend))))


def _one_layer_over(report, name, source):
    """The call succeeded with one new layer, name, directly above the layer source and in the same
    place; nothing else was touched. (The new layer, the source layer.)"""
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    added = new_layers(report)
    assert [layer["name"] for layer in added] == [name]
    below = layers_by_name(report["after"])[source]
    layer = added[0]
    assert (layer["x"], layer["y"], layer["width"], layer["height"]) == (below["x"], below["y"], below["width"],
                                                                          below["height"])
    assert layer["position"] == below["position"] - 1
    assert_untouched(report)
    return layer, below


def test_harmonize_adds_a_layer_with_the_same_place_and_alpha(others):
    layer, pasted = _one_layer_over(others["harmonize"], "Harmonized (Pasted)", "Pasted")
    assert np.array_equal(layer_rgba(layer)[..., 3], layer_rgba(pasted)[..., 3])


def test_portrait_blur_adds_a_blurred_copy_above(others):
    layer, photo = _one_layer_over(others["blur"], "Portrait blur", "Photo")
    assert not np.array_equal(layer_rgba(layer), layer_rgba(photo))


def test_select_subject_makes_the_backends_mask_the_selection(others, backend):
    report = others["select"]
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    selection = selection_of(report["after"])
    assert np.array_equal(selection, _backend_mask(backend, report["before"], "subject"))
    assert selection[44, 48] == 255 and selection[5, 5] == 0  # the disk at (48, 44) is the subject
    assert report["after"]["layers"] == report["before"]["layers"]
    assert report["after"]["channels"] == report["before"]["channels"]


def test_select_subject_intersects_with_the_selection(others, backend):
    report = others["select-intersect"]
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    expected = np.minimum(selection_of(report["before"]), _backend_mask(backend, report["before"], "subject"))
    selected = selection_of(report["after"])
    assert selected.any() and not selected[:, 48:].any()
    assert np.array_equal(selected, expected)
    assert report["after"]["layers"] == report["before"]["layers"]


def test_stylize_regions_adds_a_group_with_one_masked_layer_per_region(others):
    report = others["regions"]
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    added = new_layers(report)
    assert [layer["name"] for layer in added] == ["Stylized regions"]
    group = added[0]
    assert group["position"] == layers_by_name(report["after"])["Photo"]["position"] - 1
    children = group["children"]
    assert [child["name"] for child in children] == ["Stylized (style2)", "Stylized (style)"]  # region 1 lowest
    for child, channel in zip(reversed(children), ["Left", "Right"]):
        # The mask holds its channel's values, and so selects exactly what the channel selects.
        mask = layer_mask(child)
        x, y, w, h = child["x"], child["y"], child["width"], child["height"]
        assert np.array_equal(mask, channel_of(report["after"], channel)[y:y + h, x:x + w]), channel
        assert child["mask_selects"] == report["after"]["channel_selects"][channel], channel
        assert np.count_nonzero((mask > 0) & (mask < 255)) > 100 or channel == "Left"
        assert (layer_rgba(child)[..., 3] == 255).all()
    assert_untouched(report)
