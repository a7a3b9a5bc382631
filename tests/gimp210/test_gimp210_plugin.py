"""The maskstyle procedures in a real GIMP 2.10 (Python-Fu), against the real backend, called
through the PDB as a script would: the same checks as the GIMP 3 tier for the same scenarios.

GIMP 2.10's Python-Fu cannot return an error message to the calling script (it sees
"execution error"); the plug-in's readable message goes to GIMP's message area, which batch
runs print as "<procedure label>-Warning: <message>"."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from server_process import Backend

from gimp.harness import client_for, free_port
from gimp.test_gimp_plugin import _backend_mask
from gimp.scenes import (assert_unchanged, assert_untouched, channel_of, composite_of, layer_mask, layer_rgba,
                         layers_by_name, new_layers, scene, selection_of, undo_groups)

STYLIZE = "plug-in-maskstyle-stylize-selection"
HARMONIZE = "plug-in-maskstyle-harmonize-layer"
SELECT_SUBJECT = "plug-in-maskstyle-select-subject"
REGIONS = "plug-in-maskstyle-stylize-regions"
BLUR = "plug-in-maskstyle-portrait-blur"
RECTANGLE = {"kind": "rect", "x": 30, "y": 28, "w": 36, "h": 30}
LEFT_HALF = {"kind": "rect", "x": 0, "y": 0, "w": 48, "h": 96}
FEATHERED_ELLIPSE = {"kind": "ellipse", "x": 24, "y": 22, "w": 50, "h": 40, "feather": 10}
GIMP3_ARGUMENTS = {  # after run-mode, image and the drawable(s): the GIMP 3 plug-in's, in its order
    STYLIZE: ["style-file", "strength", "quality", "preserve-color", "seed", "seam", "method"],
    REGIONS: ["channel-1", "style-file-1", "channel-2", "style-file-2", "channel-3", "style-file-3", "rest-file",
              "strength", "quality", "preserve-color", "seed", "seam", "method"],
    HARMONIZE: ["mode", "strength"],
    BLUR: ["radius"],
    SELECT_SUBJECT: ["target", "operation"],
}


def _stylize_args(files):
    return {"style-file": files["style"], "strength": 1.0, "quality": "fast", "preserve-color": False, "seed": 3}


def _stylize_job(files, selection, **step):
    return {"image": scene(files, "Top", "Photo", "Background"), "selection": selection,
            "calls": [{"procedure": STYLIZE, "layer": "Photo", "args": _stylize_args(files), **step}]}


@pytest.fixture(scope="module")
def stylized(gimp, files, backend):
    """Every stylize scenario in one GIMP run: rectangle, feathered ellipse, recorded, nothing selected."""
    env = {"MASKSTYLE_URL": backend.url, "MASKSTYLE_TOKEN": backend.token}
    jobs = {"rectangle": _stylize_job(files, RECTANGLE), "feathered-ellipse": _stylize_job(files, FEATHERED_ELLIPSE),
            "recorded": _stylize_job(files, RECTANGLE, recorded=True), "nothing-selected": _stylize_job(files, None)}
    return dict(zip(jobs, gimp.run_all(list(jobs.values()), env)))


def test_the_procedures_have_the_gimp3_names_and_arguments(gimp, env):
    report = gimp.run({"registered": list(GIMP3_ARGUMENTS)}, env)["registered"]
    for name, arguments in GIMP3_ARGUMENTS.items():
        assert report[name] is not None, f"{name} is not registered"
        assert [arg for arg, _ in report[name]["args"]] == ["run-mode", "image", "drawable", *arguments]


@pytest.mark.parametrize("shape", ["rectangle", "feathered-ellipse"])
def test_stylize_adds_one_layer_masked_by_the_selection(stylized, shape):
    report = stylized[shape]
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]

    added = new_layers(report)
    assert [layer["name"] for layer in added] == ["Stylized (style)"]
    stylized_layer, after = added[0], layers_by_name(report["after"])
    assert stylized_layer["position"] == after["Photo"]["position"] - 1  # directly above the source
    assert after["Top"]["position"] == 0
    assert_untouched(report)

    selection = selection_of(report["before"])
    ys, xs = np.nonzero(selection)
    photo = after["Photo"]
    x, y, w, h = stylized_layer["x"], stylized_layer["y"], stylized_layer["width"], stylized_layer["height"]
    assert x <= max(xs.min(), photo["x"]) and y <= max(ys.min(), photo["y"])
    assert x + w >= min(xs.max() + 1, photo["x"] + photo["width"])
    assert y + h >= min(ys.max() + 1, photo["y"] + photo["height"])
    assert photo["x"] <= x and photo["y"] <= y
    assert x + w <= photo["x"] + photo["width"] and y + h <= photo["y"] + photo["height"]

    assert stylized_layer["mask"] is not None
    mask = layer_mask(stylized_layer)
    assert np.array_equal(mask, selection[y:y + h, x:x + w])
    if shape == "feathered-ellipse":
        assert np.count_nonzero((mask > 0) & (mask < 255)) > 100
    assert (layer_rgba(stylized_layer)[..., 3] == 255).all()  # the alpha went into the mask
    assert np.array_equal(selection_of(report["after"]), selection)

    changed = np.any(composite_of(report["before"]) != composite_of(report["after"]), axis=-1)
    assert not changed[selection == 0].any()
    assert changed[selection == 255].mean() > 0.2


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
    report = gimp.run(_stylize_job(files, RECTANGLE), {**env, "MASKSTYLE_TOKEN": "wrong-token"})
    call = report["calls"][0]
    assert call["status"] == "execution-error"
    assert _said(report, "Stylize Selection", "The maskstyle backend refused the access token")
    assert "Traceback" not in report["gimp_output"]
    assert_unchanged(report)


def test_every_procedure_reports_a_stopped_backend_and_changes_nothing(gimp, files):
    env = {"MASKSTYLE_URL": f"http://127.0.0.1:{free_port()}", "MASKSTYLE_TOKEN": "nobody-listens"}
    image = {**scene(files, "Top", "Pasted", "Photo", "Background"),
             "channels": [{"name": "Sky", "selection": RECTANGLE}]}
    report = gimp.run({
        "image": image, "selection": RECTANGLE,
        "calls": [
            {"procedure": STYLIZE, "layer": "Photo", "args": _stylize_args(files)},
            {"procedure": HARMONIZE, "layer": "Pasted", "args": {"mode": "photo", "strength": 1.0}},
            {"procedure": SELECT_SUBJECT, "layer": "Photo", "args": {"target": "refine", "operation": "replace"}},
            {"procedure": REGIONS, "layer": "Photo", "args": {"channel-1": "Sky", "style-file-1": files["style"]}},
            {"procedure": BLUR, "layer": "Photo", "args": {"radius": 4.0}},
        ]}, env)
    labels = ["Stylize Selection", "Harmonize Layer", "Select Subject", "Stylize Regions", "Portrait Blur"]
    for call, label in zip(report["calls"], labels):
        assert call["status"] == "execution-error", label
        assert _said(report, label, f"The maskstyle backend is not running at {env['MASKSTYLE_URL']}"), label
    assert "maskstyle serve" in report["gimp_output"] and "Traceback" not in report["gimp_output"]
    assert_unchanged(report)


# ---------------------------------------------------------------- cancel, and a backend that dies

def _running_jobs(backend):
    return client_for(backend).info()["queue"]["running"]


def _wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _slow_stylize(files):
    return {"image": scene(files, "Top", "Photo", "Background"), "selection": RECTANGLE,
            "calls": [{"procedure": STYLIZE, "layer": "Photo",
                       "args": {**_stylize_args(files), "quality": "best", "method": "neural"}}]}


def test_a_killed_plugin_cancels_its_backend_job(gimp, files, env, backend):
    """GIMP kills a plug-in whose progress is cancelled: the bridge sees its pipe close and cancels."""
    _wait_until(lambda: _running_jobs(backend) == 0, 120, "an idle backend")
    run = gimp.start(_slow_stylize(files), env)
    try:
        _wait_until(lambda: _running_jobs(backend) == 1, 120, "the plug-in's job to run")
        pid = run.plugin_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait_until(lambda: _running_jobs(backend) == 0, 30, "the backend job to be cancelled")
    finally:
        report = gimp.finish(run)
    assert report["calls"][0]["status"] != "success"
    assert_unchanged(report)


def test_a_backend_that_dies_mid_job_gives_a_clear_message_and_changes_nothing(gimp, files, tmp_path):
    (tmp_path / "cfg").mkdir()
    doomed = Backend(tmp_path / "cfg")
    try:
        run = gimp.start(_slow_stylize(files), {"MASKSTYLE_URL": doomed.url, "MASKSTYLE_TOKEN": doomed.token})
        try:
            _wait_until(lambda: _running_jobs(doomed) == 1, 120, "the plug-in's job to run")
            doomed.proc.kill()
        finally:
            report = gimp.finish(run)
    finally:
        doomed.stop()
    assert report["calls"][0]["status"] == "execution-error"
    assert _said(report, "Stylize Selection", f"The maskstyle backend at {doomed.url} stopped while it worked")
    assert "Traceback" not in report["gimp_output"]
    assert_unchanged(report)


# ---------------------------------------------------------------- the other procedures

@pytest.fixture(scope="module")
def others(gimp, files, backend):
    env = {"MASKSTYLE_URL": backend.url, "MASKSTYLE_TOKEN": backend.token}
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
    return dict(zip(jobs, gimp.run_all(list(jobs.values()), env)))


def test_harmonize_adds_a_layer_with_the_same_place_and_alpha(others):
    report = others["harmonize"]
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    added = new_layers(report)
    assert [layer["name"] for layer in added] == ["Harmonized (Pasted)"]
    pasted = layers_by_name(report["after"])["Pasted"]
    layer = added[0]
    assert (layer["x"], layer["y"], layer["width"], layer["height"]) == (pasted["x"], pasted["y"], pasted["width"],
                                                                          pasted["height"])
    assert layer["position"] == pasted["position"] - 1
    assert np.array_equal(layer_rgba(layer)[..., 3], layer_rgba(pasted)[..., 3])
    assert_untouched(report)


def test_portrait_blur_adds_a_blurred_copy_above(others):
    report = others["blur"]
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]
    added = new_layers(report)
    assert [layer["name"] for layer in added] == ["Portrait blur"]
    photo = layers_by_name(report["after"])["Photo"]
    layer = added[0]
    assert (layer["x"], layer["y"], layer["width"], layer["height"]) == (photo["x"], photo["y"], photo["width"],
                                                                          photo["height"])
    assert layer["position"] == photo["position"] - 1
    assert not np.array_equal(layer_rgba(layer), layer_rgba(photo))
    assert_untouched(report)


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
