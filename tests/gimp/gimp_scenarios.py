"""Runs inside a real GIMP 3 (gimp-console, python-fu-eval); driven by conftest.GimpRunner.

run_job(path) reads a job file: build an image from PNG layers (and saved selections),
make a selection, call maskstyle procedures non-interactively (or the plug-in's
GIMP-side steps directly), and write JSON snapshots of the image before and after
(every layer's pixels and mask, group members, channels, the selection, the composite).
A job with "runs" holds several such scenarios, done one after another in one GIMP.
"""

import base64
import json
import time
import traceback

import gi

gi.require_version("Babl", "0.1")
from gi.repository import Babl, Gegl, Gimp, Gio  # noqa: E402

RGBA = "R'G'B'A u8"
MASK = "Y u8"


def _b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def _read(drawable, fmt):
    buffer = drawable.get_buffer()
    return bytes(buffer.get(buffer.get_extent(), 1.0, fmt, Gegl.AbyssPolicy.NONE))


def _read_mask(drawable):
    """A channel's or layer mask's own values, which GIMP uses as coverage (what it copies
    between channels, masks and the selection): Y' for channels of 8-bit perceptual images."""
    fmt = "Y' u8" if Babl.get_name(drawable.get_format()).startswith("Y'") else MASK
    return _read(drawable, fmt)


def build_image(spec):
    """spec: width, height, layers (top first) of {name, png, x, y}, an optional precision nick,
    and optional channels [{name, selection}]: selections saved as channels (Select > Save to Channel)."""
    precision = spec.get("precision", "u8-non-linear").upper().replace("-", "_")
    image = Gimp.Image.new_with_precision(spec["width"], spec["height"], Gimp.ImageBaseType.RGB,
                                          getattr(Gimp.Precision, precision))
    for position, layer_spec in enumerate(spec["layers"]):
        layer = _png_layer(image, layer_spec["name"], layer_spec["png"])
        image.insert_layer(layer, None, position)
        layer.set_offsets(layer_spec.get("x", 0), layer_spec.get("y", 0))
    for channel_spec in spec.get("channels", []):
        select(image, channel_spec["selection"])
        Gimp.Selection.save(image).set_name(channel_spec["name"])
    Gimp.Selection.none(image)
    image.clean_all()
    return image


PNG_LAYERS = {1: (Gimp.ImageType.RGB_IMAGE, "Y' u8"), 2: (Gimp.ImageType.RGBA_IMAGE, "Y'A u8"),
              3: (Gimp.ImageType.RGB_IMAGE, "R'G'B' u8"), 4: (Gimp.ImageType.RGBA_IMAGE, "R'G'B'A u8")}


def _png_layer(image, name, path):
    """A layer of image holding a PNG's pixels, as File > Open as Layers would make it (an RGB
    layer with alpha only when the PNG has it). Decoded here, with the plug-in's own PNG module,
    rather than by GIMP's file-png plug-in: in GIMP 3.0 each call to another plug-in can print
    "gimp_flush(): error: Broken pipe", and the tests look for that line in GIMP's output."""
    _plugin_folder_on_path()
    from maskstyle_wire import png

    with open(path, "rb") as handle:
        width, height, channels, pixels = png.decode(handle.read())
    layer_type, fmt = PNG_LAYERS[channels]
    layer = Gimp.Layer.new(image, name, width, height, layer_type, 100.0, Gimp.LayerMode.NORMAL)
    buffer = layer.get_buffer()
    buffer.set(buffer.get_extent(), fmt, pixels)
    buffer.flush()
    return layer


def select(image, spec):
    if not spec:
        Gimp.Selection.none(image)
        return
    for shape in spec if isinstance(spec, list) else [spec]:
        op = getattr(Gimp.ChannelOps, shape.get("op", "replace").upper())
        if shape["kind"] == "rect":
            image.select_rectangle(op, shape["x"], shape["y"], shape["w"], shape["h"])
        else:
            image.select_ellipse(op, shape["x"], shape["y"], shape["w"], shape["h"])
        if shape.get("feather"):
            Gimp.Selection.feather(image, float(shape["feather"]))


def layer_by_name(image, name):
    layer = image.get_layer_by_name(name)
    if layer is None:
        raise LookupError(f"no layer named {name!r}")
    return layer


def _layer_snapshot(layer, position):
    _, x, y = layer.get_offsets()
    mask = layer.get_mask()
    entry = {
        "name": layer.get_name(), "position": position, "x": x, "y": y,
        "width": layer.get_width(), "height": layer.get_height(),
        "opacity": layer.get_opacity(), "mode": layer.get_mode().value_nick,
        "visible": layer.get_visible(), "rgba": _b64(_read(layer, RGBA)),
        "mask": _b64(_read_mask(mask)) if mask is not None else None,
    }
    if layer.is_group_layer():
        entry["children"] = [_layer_snapshot(child, index) for index, child in enumerate(layer.get_children())]
    return entry


def snapshot(image):
    layers = [_layer_snapshot(layer, position) for position, layer in enumerate(image.get_layers())]
    visible = Gimp.Layer.new_from_visible(image, image, "composite")
    composite = _read(visible, RGBA)
    visible.delete()
    return {
        "width": image.get_width(), "height": image.get_height(), "layers": layers,
        "channels": len(image.get_channels()), "selection": _b64(_read(image.get_selection(), MASK)),
        "channel_masks": {channel.get_name(): _b64(_read_mask(channel)) for channel in image.get_channels()},
        "composite": _b64(composite),
    }


def _argument(image, key, value):
    """A job's argument value as GIMP wants it: files as Gio.File, channels by name."""
    if value is None:
        return None
    if key.startswith(("style-file", "rest-file")):
        return Gio.File.new_for_path(value)
    if key.startswith("channel-"):
        channel = image.get_channel_by_name(value)
        if channel is None:
            raise LookupError(f"no channel named {value!r}")
        return channel
    return value


def drawable_by_name(image, name):
    """A drawable: a layer by name, "channel:NAME" a channel, "mask:NAME" a layer's mask."""
    if name.startswith("channel:"):
        channel = image.get_channel_by_name(name[len("channel:"):])
        if channel is None:
            raise LookupError(f"no channel named {name!r}")
        return channel
    if name.startswith("mask:"):
        return layer_by_name(image, name[len("mask:"):]).get_mask()
    return layer_by_name(image, name)


def drawables_for(image, layer_names):
    """layer_names: one name, a list of names, or "@selected": the image's active drawables, as
    GIMP passes them when the artist runs a procedure (Filters > Re-Show included)."""
    if layer_names == "@selected":
        return list(image.get_selected_drawables())
    names = layer_names if isinstance(layer_names, list) else [layer_names]
    return [drawable_by_name(image, name) for name in names]


RUN_MODES = {"noninteractive": Gimp.RunMode.NONINTERACTIVE, "with-last-vals": Gimp.RunMode.WITH_LAST_VALS}


def _config(image, procedure, layer_names, args, run_mode="noninteractive"):
    config = procedure.create_config()
    config.set_property("run-mode", RUN_MODES[run_mode])
    config.set_property("image", image)
    config.set_core_object_array("drawables", drawables_for(image, layer_names))
    for key, value in args.items():
        config.set_property(key, _argument(image, key, value))
    return config


def call(image, procedure_name, layer_names, args, run_mode="noninteractive"):
    """Run a procedure through the PDB; layer_names is one name or a list (several drawables)."""
    procedure = Gimp.get_pdb().lookup_procedure(procedure_name)
    if procedure is None:
        return {"status": "missing", "message": f"{procedure_name} is not registered"}
    result = procedure.run(_config(image, procedure, layer_names, args, run_mode))
    message = result.index(1) if result.length() > 1 else None
    return {"status": result.index(0).value_nick, "message": message}


def selected(image):
    """The active drawables, as the artist sees them: names, and what each is."""
    out = []
    for drawable in image.get_selected_drawables():
        kind = ("layer mask" if drawable.is_layer_mask() else "channel" if drawable.is_channel()
                else "group" if drawable.is_group_layer() else "layer")
        name = Gimp.Layer.from_mask(drawable).get_name() if kind == "layer mask" else drawable.get_name()
        out.append({"name": name, "kind": kind})
    return out


PLUGIN_FILE = "/root/.config/GIMP/3.0/plug-ins/maskstyle/maskstyle.py"


def _plugin_folder_on_path():
    """The installed plug-in's folder on sys.path: its modules and its maskstyle_wire import."""
    import os
    import sys

    folder = os.path.dirname(PLUGIN_FILE)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def load_plugin():
    """The installed plug-in's entry file as a module (its PROCEDURES), to call its GIMP-side
    steps directly; it puts its folder on sys.path, so its sibling modules import after."""
    import importlib.util

    _plugin_folder_on_path()
    spec = importlib.util.spec_from_file_location("maskstyle_plugin", PLUGIN_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_pixels(path):
    _plugin_folder_on_path()
    from maskstyle_wire import png

    with open(path, "rb") as handle:
        return png.decode(handle.read())[3]


def helper(image, name, args):
    """Run one of the plug-in's GIMP-side steps on image; returns something JSON-able."""
    if name == "select":
        select(image, args["selection"])
        return None
    if name == "selection":
        return _b64(_read(image.get_selection(), MASK))
    if name == "set_visible":
        layer_by_name(image, args["layer"]).set_visible(args["visible"])
        return None
    if name == "selected":
        return selected(image)
    if name == "set_selected":
        items = drawables_for(image, args["drawables"])
        if items and items[0].is_channel() and not items[0].is_layer_mask():
            image.set_selected_channels(items)
        else:
            image.set_selected_layers(items)
        return selected(image)
    if name == "procedure_help":
        procedure = Gimp.get_pdb().lookup_procedure(args["procedure"])
        return {"blurb": procedure.get_blurb(), "help": procedure.get_help(), "help_id": procedure.get_help_id(),
                "labels": {spec.name: spec.get_nick() for spec in procedure.get_arguments()},
                "menu_label": procedure.get_menu_label(), "menu_paths": list(procedure.get_menu_paths())}
    plugin = load_plugin()
    import gimp_io  # the plug-in's GIMP-side steps, beside it; importable once load_plugin ran

    if name == "select_mask":
        gimp_io.select_mask(image, _png_pixels(args["mask_png"]), gimp_io.SELECTION_OPERATIONS[args["operation"]])
        return None
    if name == "visible_through":
        return _b64(gimp_io.visible_through(image, layer_by_name(image, args["layer"]), tuple(args["rect"])))
    if name == "decode_png":
        with open(args["png"], "rb") as handle:
            width, height, rgba = gimp_io.decode_png(handle.read())
        return {"width": width, "height": height, "rgba": _b64(rgba)}
    if name == "add_layer_above":
        gimp_io.add_layer_above(image, layer_by_name(image, args["layer"]), args["name"],
                                _png_pixels(args["rgba_png"]))
        return None
    if name == "recorded":
        return recorded(plugin, image, args["procedure"], args["layer"], args.get("args", {}))
    if name == "restored":  # what the dialog opens with: the plug-in's kept values over a fresh config
        import remembered

        procedure = Gimp.get_pdb().lookup_procedure(args["procedure"])
        config = procedure.create_config()
        restored = remembered.restore(args["procedure"], config, image)
        values = {key: remembered.to_json(config.get_property(key)) for key in restored}
        return {"values": values, "recent_styles": remembered.recent_styles(),
                "style_folder": remembered.style_folder()}
    if name == "check":  # the checks the dialog runs before OK is pressed
        import procedures

        procedure = Gimp.get_pdb().lookup_procedure(args["procedure"])
        config = _config(image, procedure, args["layer"], args.get("args", {}))
        work = plugin.PROCEDURES[args["procedure"]]["work"]
        try:
            procedures.check(work, image, config.get_core_object_array("drawables"), config)
            return None
        except procedures.UserError as err:
            return str(err)
    raise ValueError(f"no helper {name}")


RECORDED = ("undo_group_start", "undo_group_end", "insert_layer", "remove_layer", "insert_channel",
            "remove_channel")


def recorded(plugin, image, procedure_name, layer_names, args):
    """Run a procedure's own code (the plug-in's work function) in this process, with the same
    config the PDB would give it, recording the image's undo-group and insert/remove calls.

    The plug-in normally runs in its own process, out of reach; this is how a test sees
    how its changes are grouped for undo."""
    procedure = Gimp.get_pdb().lookup_procedure(procedure_name)
    config = _config(image, procedure, layer_names, args)
    drawables = config.get_core_object_array("drawables")
    events, originals = [], {name: getattr(Gimp.Image, name) for name in RECORDED}

    def recording(name, original):
        def method(self, *call_args):
            item = next((a for a in call_args if isinstance(a, Gimp.Item)), None)
            events.append([name, item.get_name() if item is not None else None])
            return original(self, *call_args)
        return method

    for name, original in originals.items():
        setattr(Gimp.Image, name, recording(name, original))
    try:
        plugin.PROCEDURES[procedure_name]["work"](image, list(drawables), config, Gimp.RunMode.NONINTERACTIVE)
        outcome = {"status": "success", "message": None}
    except Exception as err:
        outcome = {"status": "error", "message": str(err)}
    finally:
        for name, original in originals.items():
            setattr(Gimp.Image, name, original)
        Gimp.progress_end()
    return {**outcome, "events": events}


def run_scenario(job):
    started = time.monotonic()
    image = build_image(job["image"])
    select(image, job.get("selection"))
    report = {"before": snapshot(image), "calls": []}
    for step in job["calls"]:
        if "helper" in step:
            report["calls"].append(helper(image, step["helper"], step.get("args", {})))
        else:
            report["calls"].append(call(image, step["procedure"], step["layer"], step.get("args", {}),
                                        step.get("run_mode", "noninteractive")))
    report["after"] = snapshot(image)
    image.delete()
    report["seconds"] = time.monotonic() - started
    return report


def run_job(path):
    with open(path) as handle:
        job = json.load(handle)
    try:
        if "runs" in job:
            report = {"runs": [run_scenario(run) for run in job["runs"]]}
        else:
            report = run_scenario(job)
    except Exception:
        report = {"exception": traceback.format_exc()}
    with open(job["out"], "w") as handle:
        json.dump(report, handle)
