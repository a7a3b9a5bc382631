# -*- coding: utf-8 -*-
"""Runs inside a real GIMP 2.10 (gimp-console-2.10, python-fu-eval, Python 2.7); driven by
harness.GimpRunner, like tests/gimp/gimp_scenarios.py for GIMP 3, and writing the same report:
build an image from PNG layers (and saved selections), make a selection, call maskstyle
procedures through the PDB (or the plug-in's own work function in this process, recording its
undo groups), and snapshot the image before and after. Every layer's pixels are reported as
RGBA, masks, channels and the selection as their own 8-bit values (precision enabled).
"""

import base64
import json
import sys
import time
import traceback

from gimpfu import CHANNEL_OP_REPLACE, gimp, pdb  # noqa: F401 (GIMP's own module)

PLUGIN_DIR = "/root/.config/GIMP/2.10/plug-ins/maskstyle"


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _read(drawable):
    w, h = drawable.width, drawable.height
    return drawable.get_pixel_rgn(0, 0, w, h, False, False)[0:w, 0:h]


def _rgba(drawable):
    """A layer's pixels as RGBA, whatever its type (gray, no alpha)."""
    data, bpp = _read(drawable), drawable.bpp
    if bpp == 4:
        return data
    n = len(data) // bpp
    out = bytearray(n * 4)
    color = 1 if bpp in (1, 2) else 3
    for c in range(3):
        out[c::4] = data[(c if color == 3 else 0)::bpp]
    out[3::4] = data[bpp - 1::bpp] if bpp in (2, 4) else b"\xff" * n
    return bytes(out)


def build_image(spec):
    image = pdb.gimp_image_new(spec["width"], spec["height"], 0)
    for position, layer_spec in enumerate(spec["layers"]):
        layer = pdb.gimp_file_load_layer(image, str(layer_spec["png"]))
        layer.name = str(layer_spec["name"])
        pdb.gimp_image_insert_layer(image, layer, None, position)
        layer.set_offsets(layer_spec.get("x", 0), layer_spec.get("y", 0))
    for channel_spec in spec.get("channels", []):
        select(image, channel_spec["selection"])
        channel = pdb.gimp_selection_save(image)
        channel.name = str(channel_spec["name"])
    pdb.gimp_selection_none(image)
    pdb.gimp_image_clean_all(image)
    return image


def select(image, spec):
    if not spec:
        pdb.gimp_selection_none(image)
        return
    ops = {"replace": 2, "add": 0, "subtract": 1, "intersect": 3}
    for shape in spec if isinstance(spec, list) else [spec]:
        op = ops[shape.get("op", "replace")]
        if shape["kind"] == "rect":
            pdb.gimp_image_select_rectangle(image, op, shape["x"], shape["y"], shape["w"], shape["h"])
        else:
            pdb.gimp_image_select_ellipse(image, op, shape["x"], shape["y"], shape["w"], shape["h"])
        if shape.get("feather"):
            pdb.gimp_selection_feather(image, float(shape["feather"]))


def layer_by_name(image, name):
    layer = pdb.gimp_image_get_layer_by_name(image, name)
    if layer is None:
        raise LookupError("no layer named %r" % name)
    return layer


def _selected_by(image, item):
    """The selection (its own values) that `item` (a channel or layer mask) makes: how GIMP
    itself reads its coverage, whatever encoding its raw values are in."""
    pdb.gimp_image_select_item(image, CHANNEL_OP_REPLACE, item)
    return _b64(_read(image.selection))


def _layer_snapshot(layer, position, copy_layer):
    x, y = layer.offsets
    mask = layer.mask
    entry = {"name": layer.name, "position": position, "x": x, "y": y, "width": layer.width,
             "height": layer.height, "opacity": layer.opacity, "mode": layer.mode, "visible": bool(layer.visible),
             "rgba": None if pdb.gimp_item_is_group(layer) else _b64(_rgba(layer)),
             "mask": _b64(_read(mask)) if mask is not None else None,
             "mask_selects": _selected_by(copy_layer.image, copy_layer.mask) if mask is not None else None}
    if pdb.gimp_item_is_group(layer):
        entry["children"] = [_layer_snapshot(child, index, twin)
                             for index, (child, twin) in enumerate(zip(layer.children, copy_layer.children))]
    return entry


def snapshot(image):
    copy = pdb.gimp_image_duplicate(image)  # selections are made in this copy, not in the image
    layers = [_layer_snapshot(layer, position, twin)
              for position, (layer, twin) in enumerate(zip(image.layers, copy.layers))]
    report = {"width": image.width, "height": image.height, "layers": layers,
              "channels": len(image.channels), "selection": _b64(_read(image.selection)),
              "channel_masks": dict((c.name, _b64(_read(c))) for c in image.channels),
              "channel_selects": dict((c.name, _selected_by(copy, c)) for c in copy.channels)}
    pdb.gimp_selection_none(copy)
    visible = pdb.gimp_layer_new_from_visible(copy, copy, "composite")
    pdb.gimp_image_insert_layer(copy, visible, None, 0)
    report["composite"] = _b64(_rgba(visible))
    pdb.gimp_image_delete(copy)
    return report


def _arguments(image, name, args):
    """The PDB arguments after image and drawable, in the procedure's order, from a job's
    {name: value} (defaults for the rest, as the generated table gives them)."""
    sys.path.insert(0, PLUGIN_DIR)
    from maskstyle_args import ARGUMENTS
    values = []
    for kind, nick, _, default, _ in ARGUMENTS[name]:
        value = args.get(nick, default)
        if kind == "channel" and value is not None:
            value = pdb.gimp_image_get_channel_by_name(image, value)
        if kind == "toggle":
            value = int(bool(value))
        if kind == "file" and value is None:
            value = ""
        if isinstance(value, unicode):  # noqa: F821 (Python 2)
            value = value.encode("utf-8")
        values.append(value)
    return values


def call(image, name, layer_name, args):
    """Run a procedure through the PDB, as a script would: {"status", "message"}."""
    procedure = getattr(pdb, name.replace("-", "_"), None)
    if procedure is None:
        return {"status": "missing", "message": "%s is not registered" % name}
    try:
        procedure(image, layer_by_name(image, layer_name), *_arguments(image, name, args))
        return {"status": "success", "message": None}
    except RuntimeError as err:
        return {"status": "execution-error", "message": str(err).decode("utf-8", "replace")}


def load_plugin():
    sys.path.insert(0, PLUGIN_DIR)
    import imp
    return imp.load_source("maskstyle_plugin210", PLUGIN_DIR + "/maskstyle.py")


RECORDED = ("gimp_image_undo_group_start", "gimp_image_undo_group_end", "gimp_image_insert_layer",
            "gimp_image_remove_layer", "gimp_image_insert_channel", "gimp_image_remove_channel")


class _Recording(object):
    """The PDB, recording the plug-in's undo-group and insert/remove calls (as the GIMP 3
    tier records Gimp.Image's): the plug-in normally runs in its own process, out of reach."""

    def __init__(self, events):
        self.events = events

    def __getattr__(self, name):
        function = getattr(pdb, name)
        if name not in RECORDED:
            return function

        def recording(*args):
            item = args[1] if len(args) > 1 and hasattr(args[1], "name") else None
            self.events.append([name[len("gimp_image_"):], item.name if item is not None else None])
            return function(*args)
        return recording


def recorded(image, name, layer_name, args):
    plugin = load_plugin()
    events = []
    plugin.pdb = _Recording(events)
    try:
        plugin.PROCEDURES[name]["work"](image, layer_by_name(image, layer_name), *_arguments(image, name, args))
        outcome = {"status": "success", "message": None}
    except Exception as err:
        outcome = {"status": "error", "message": str(err)}
    finally:
        plugin.pdb = pdb
        pdb.gimp_progress_end()
    outcome["events"] = events
    return outcome


def registered(names):
    """Each procedure's PDB arguments: [[name, type], ...]."""
    out = {}
    for name in names:
        try:
            info = pdb.gimp_procedural_db_proc_info(name)
        except RuntimeError:
            out[name] = None
            continue
        args = [pdb.gimp_procedural_db_proc_arg(name, i)[:2] for i in range(info[6])]
        out[name] = {"args": [[arg[1], arg[0]] for arg in args], "menus": None}
    return out


def run_scenario(job):
    started = time.time()
    if "registered" in job:
        return {"registered": registered(job["registered"]), "seconds": time.time() - started}
    image = build_image(job["image"])
    select(image, job.get("selection"))
    report = {"before": snapshot(image), "calls": []}
    for step in job["calls"]:
        if step.get("recorded"):
            report["calls"].append(recorded(image, step["procedure"], step["layer"], step.get("args", {})))
        else:
            report["calls"].append(call(image, step["procedure"], step["layer"], step.get("args", {})))
    report["after"] = snapshot(image)
    pdb.gimp_image_delete(image)
    report["seconds"] = time.time() - started
    return report


def run_job(path):
    with open(path) as handle:
        job = json.load(handle)
    # Read every drawable's own values, as the GIMP 3 tier does (without this, GIMP 2.10 hands
    # the selection and layer masks over converted to a perceptual 8-bit encoding).
    pdb.gimp_plugin_enable_precision()
    try:
        if "runs" in job:
            report = {"runs": [run_scenario(run) for run in job["runs"]]}
        else:
            report = run_scenario(job)
    except Exception:
        report = {"exception": traceback.format_exc()}
    with open(job["out"], "w") as handle:
        json.dump(report, handle)
