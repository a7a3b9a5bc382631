"""Test images, the jobs both GIMP tiers run, and readers for the JSON reports that
gimp_scenarios.py (and gimp210_scenarios.py, the same report) writes."""

from __future__ import annotations

import base64

import numpy as np
import pytest

SIZE = 96
UNDO_LEFT_OPEN = "left image undo in inconsistent state"  # GIMP's words when a plug-in leaves a group open
# Lines that must not be in GIMP's output after the plug-in ran (issue 19, defect 10).
# "gimp_flush(): error: Broken pipe" is what a GIMP 3.0 plug-in process prints when the core has
# closed its pipe before the process's last message: it followed the results the plug-in decoded
# with Gimp.file_load_layer (file-png's process) and, now and then, the plug-in's own end. It is
# looked for in every process but python-eval.py, the tests' own batch interpreter, whose end
# meets the same race whatever the plug-in does.
WARNINGS = ("duplicate mnemonic", "couldn't serialize property", "Gtk-CRITICAL", "Traceback",
            "gimp_flush(): error")
NOT_THE_PLUGINS = "python-eval.py: gimp_flush(): error"


# ---------------------------------------------------------------- images

def _grid(h, w):
    return np.mgrid[0:h, 0:w]


def _photo(h, w, seed):
    y, x = _grid(h, w)
    rgb = np.stack([(x * 255 // w + seed) % 256, (y * 255 // h) % 256,
                    ((x // 6 + y // 6) % 2) * 160 + 40 + seed % 50], axis=-1)
    return rgb.astype(np.uint8)


def _soft_disk(h, w, color):
    y, x = _grid(h, w)
    r = np.hypot((x - w / 2 + 0.5) / (w / 2), (y - h / 2 + 0.5) / (h / 2))
    alpha = np.clip((1.0 - r) * 4.0, 0, 1) * 255
    rgb = np.broadcast_to(np.array(color, np.uint8), (h, w, 3))
    return np.dstack([rgb, alpha.astype(np.uint8)])


def _subject(h, w):
    y, x = _grid(h, w)
    inside = np.hypot(x - 48, y - 44) < 22
    rgb = np.where(inside[..., None], [235, 200, 60], [25, 40, 70]) + ((x + y) % 5)[..., None]
    return rgb.astype(np.uint8)


def _style(h, w):
    y, x = _grid(h, w)
    stripes = ((x + 2 * y) // 5) % 2
    return np.where(stripes[..., None], [200, 30, 40], [20, 60, 210]).astype(np.uint8)


def _style2(h, w):
    y, x = _grid(h, w)
    dots = np.hypot(x % 12 - 6, y % 12 - 6) < 4
    return np.where(dots[..., None], [250, 220, 40], [30, 120, 50]).astype(np.uint8)


def images() -> dict[str, np.ndarray]:
    """Every picture the scenes use, by file name stem."""
    return {"background": _photo(SIZE, SIZE, 11), "photo": _photo(72, 80, 97), "top": _photo(16, 16, 201),
            "pasted": _soft_disk(36, 40, (220, 60, 50)), "subject": _subject(SIZE, SIZE), "style": _style(64, 64),
            "style2": _style2(48, 48)}


def scene(files, *names):
    """An image spec for gimp_scenarios.build_image with the named layers, top first."""
    layers = {
        "Top": {"name": "Top", "png": files["top"], "x": 0, "y": 80},
        "Pasted": {"name": "Pasted", "png": files["pasted"], "x": 30, "y": 40},
        "Photo": {"name": "Photo", "png": files["photo"], "x": 10, "y": 12},
        "Background": {"name": "Background", "png": files["background"]},
        "Subject": {"name": "Subject", "png": files["subject"]},
    }
    return {"width": SIZE, "height": SIZE, "layers": [layers[name] for name in names]}


# ---------------------------------------------------------------- jobs

STYLIZE = "plug-in-maskstyle-stylize-selection"
HARMONIZE = "plug-in-maskstyle-harmonize-layer"
SELECT_SUBJECT = "plug-in-maskstyle-select-subject"
REGIONS = "plug-in-maskstyle-stylize-regions"
BLUR = "plug-in-maskstyle-portrait-blur"
RECTANGLE = {"kind": "rect", "x": 30, "y": 28, "w": 36, "h": 30}
FEATHERED_ELLIPSE = {"kind": "ellipse", "x": 24, "y": 22, "w": 50, "h": 40, "feather": 10}


def stylize_args(files):
    return {"style-file": files["style"], "strength": 1.0, "quality": "fast", "preserve-color": False, "seed": 3}


def stylize_job(files, selection, **step):
    """Stylize Selection on Photo, in the Top/Photo/Background scene with this selection."""
    return {"image": scene(files, "Top", "Photo", "Background"), "selection": selection,
            "calls": [{"procedure": STYLIZE, "layer": "Photo", "args": stylize_args(files), **step}]}


def slow_stylize_job(files):
    """A stylize that runs long enough to be cut short: the best quality, neural (patch would finish first)."""
    return stylize_job(files, RECTANGLE, args={**stylize_args(files), "quality": "best", "method": "neural"})


def every_procedure_job(files):
    """One call of every procedure (stylize, harmonize, select subject, regions, blur, in that order)
    on a scene with a selection and a channel (Sky)."""
    image = {**scene(files, "Top", "Pasted", "Photo", "Background"),
             "channels": [{"name": "Sky", "selection": RECTANGLE}]}
    return {"image": image, "selection": RECTANGLE, "calls": [
        {"procedure": STYLIZE, "layer": "Photo", "args": stylize_args(files)},
        {"procedure": HARMONIZE, "layer": "Pasted", "args": {"mode": "photo", "strength": 1.0}},
        {"procedure": SELECT_SUBJECT, "layer": "Photo", "args": {"target": "refine", "operation": "replace"}},
        {"procedure": REGIONS, "layer": "Photo", "args": {"channel-1": "Sky", "style-file-1": files["style"]}},
        {"procedure": BLUR, "layer": "Photo", "args": {"radius": 4.0}},
    ]}


# ---------------------------------------------------------------- reports

def _array(text):
    return np.frombuffer(base64.b64decode(text), np.uint8)


def layer_rgba(layer):
    return _array(layer["rgba"]).reshape(layer["height"], layer["width"], 4)


def layer_mask(layer):
    return _array(layer["mask"]).reshape(layer["height"], layer["width"])


def selection_of(snapshot):
    return _array(snapshot["selection"]).reshape(snapshot["height"], snapshot["width"])


def channel_of(snapshot, name):
    return _array(snapshot["channel_masks"][name]).reshape(snapshot["height"], snapshot["width"])


def composite_of(snapshot):
    return _array(snapshot["composite"]).reshape(snapshot["height"], snapshot["width"], 4)


def layers_by_name(snapshot):
    return {layer["name"]: layer for layer in snapshot["layers"]}


def new_layers(report):
    before = layers_by_name(report["before"])
    return [layer for layer in report["after"]["layers"] if layer["name"] not in before]


def assert_untouched(report, max_shift=1):
    """Every layer that was there is exactly as it was (up to max_shift new layers may sit above it);
    no channel added."""
    before, after = layers_by_name(report["before"]), layers_by_name(report["after"])
    for name, old in before.items():
        new, old = dict(after[name]), dict(old)
        assert 0 <= new.pop("position") - old.pop("position") <= max_shift, name
        assert new == old, f"layer {name} changed"
    assert report["after"]["channels"] == report["before"]["channels"]
    assert UNDO_LEFT_OPEN not in report["gimp_output"]


def assert_unchanged(report):
    assert report["after"] == report["before"]


def assert_stylized_within_the_selection(report):
    """A stylize_job's checks on both tiers: it succeeded with one new layer, "Stylized (style)",
    directly above Photo, that covers the selected part of Photo and stays within Photo, masked by
    the selection; nothing else was touched and the selection is as it was; the visible image
    changed inside the selection only. The new layer and its mask."""
    call = report["calls"][0]
    assert call["status"] == "success", call["message"]

    added = new_layers(report)
    assert [layer["name"] for layer in added] == ["Stylized (style)"]
    stylized, after = added[0], layers_by_name(report["after"])
    assert stylized["position"] == after["Photo"]["position"] - 1  # directly above the source
    assert after["Top"]["position"] == 0
    assert_untouched(report)  # the source layer's pixels are bit-identical, and so is the rest

    # It covers the selected part of the source layer and stays within that layer.
    selection = selection_of(report["before"])
    ys, xs = np.nonzero(selection)
    photo = after["Photo"]
    x, y, w, h = stylized["x"], stylized["y"], stylized["width"], stylized["height"]
    assert x <= max(xs.min(), photo["x"]) and y <= max(ys.min(), photo["y"])
    assert x + w >= min(xs.max() + 1, photo["x"] + photo["width"])
    assert y + h >= min(ys.max() + 1, photo["y"] + photo["height"])
    assert photo["x"] <= x and photo["y"] <= y
    assert x + w <= photo["x"] + photo["width"] and y + h <= photo["y"] + photo["height"]

    # Its layer mask is the selection, soft edges included.
    assert stylized["mask"] is not None
    mask = layer_mask(stylized)
    assert np.array_equal(mask, selection[y:y + h, x:x + w])
    assert np.array_equal(selection_of(report["after"]), selection)

    # The visible image changes inside the selection only.
    changed = np.any(composite_of(report["before"]) != composite_of(report["after"]), axis=-1)
    assert not changed[selection == 0].any()
    assert changed[selection == 255].mean() > 0.2
    return stylized, mask


def undo_groups(events):
    """The top-level undo groups of a recorded run, each as the [call, item name] pairs made in it.
    A layer or channel inserted or removed outside every group fails the test."""
    depth, groups = 0, []
    for name, item in events:
        if name == "undo_group_start":
            groups += [[]] if depth == 0 else []
            depth += 1
        elif name == "undo_group_end":
            depth -= 1
            assert depth >= 0, "an undo group was ended that was not started"
        else:
            assert depth > 0, f"{name}({item}) ran outside an undo group"
            groups[-1].append([name, item])
    assert depth == 0, "an undo group was left open"
    return groups


def xfail_if_op_missing(call, op):
    """While the backend lacks an op, the test is an expected failure with the backend's own words."""
    message = (call.get("message") or "").lower()
    if call["status"] != "success" and op in message and "unknown op" in message:
        pytest.xfail(f"the backend has no '{op}' op yet: {call['message']}")


def warnings_in(output: str) -> list[str]:
    """The lines of GIMP's output that hold one of WARNINGS (but NOT_THE_PLUGINS)."""
    return [line for line in output.splitlines()
            if any(warning in line for warning in WARNINGS) and NOT_THE_PLUGINS not in line]
