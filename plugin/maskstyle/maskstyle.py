#!/usr/bin/env python3
"""maskstyle for GIMP 3: Stylize Selection, Harmonize Layer and Select Subject.

The pixels go to the local maskstyle backend (see msclient.py); results come back
as new layers or as a new selection, each in one undo group. Existing pixels are
never changed. This is the only maskstyle file that imports gi.

Stylize with nothing selected: an interactive run asks whether to stylize the whole
layer; a non-interactive run fails with a message and changes nothing.
"""

import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402

gi.require_version("Babl", "0.1")
gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Gtk", "3.0")
from gi.repository import Babl, Gegl, Gimp, GimpUi, Gio, GLib, GObject, Gtk  # noqa: E402

import msclient  # noqa: E402
import pngpack  # noqa: E402
from msregions import alpha_in, grow, intersect, mask_from_red, with_rgb_from  # noqa: E402

STYLIZE = "plug-in-maskstyle-stylize-selection"
HARMONIZE = "plug-in-maskstyle-harmonize-layer"
SELECT_SUBJECT = "plug-in-maskstyle-select-subject"

RGBA = "R'G'B'A u8"
MASK = "Y u8"  # the selection and layer masks store linear coverage
OPERATIONS = {
    "replace": Gimp.ChannelOps.REPLACE,
    "add": Gimp.ChannelOps.ADD,
    "subtract": Gimp.ChannelOps.SUBTRACT,
    "intersect": Gimp.ChannelOps.INTERSECT,
}
RW = GObject.ParamFlags.READWRITE


class UserError(Exception):
    """Something the user can fix; the text is shown as is."""


class UserCancelled(Exception):
    pass


# ---------------------------------------------------------------- small helpers

def _rect(x, y, w, h):
    return Gegl.Rectangle.new(x, y, w, h)


def _layer_rect(layer):
    _, x, y = layer.get_offsets()
    return (x, y, layer.get_width(), layer.get_height())


def _read(drawable, rect, fmt):
    """Pixels of rect (in the drawable's own coordinates) as bytes."""
    return bytes(drawable.get_buffer().get(_rect(*rect), 1.0, fmt, Gegl.AbyssPolicy.NONE))


def _write(drawable, fmt, data):
    buffer = drawable.get_buffer()
    buffer.set(buffer.get_extent(), fmt, data)
    buffer.flush()
    drawable.update(0, 0, drawable.get_width(), drawable.get_height())


def _selection(image):
    """(x, y, w, h) of the selection bounds, or None when nothing is selected."""
    _, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    return (x1, y1, x2 - x1, y2 - y1) if non_empty else None


def _layer_type(image):
    return Gimp.ImageType.GRAYA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.GRAY \
        else Gimp.ImageType.RGBA_IMAGE


def _require_layer(image, drawable):
    if image.get_floating_sel() is not None:
        raise UserError("Anchor the floating selection, or make it a layer (Layer > To New Layer), first.")
    if not drawable.is_layer() or drawable.is_group_layer():
        raise UserError("Choose a single pixel layer (not a group, channel or layer mask).")
    return drawable


def _png_to_layer(image, png):
    """Decode a PNG with GIMP's own loader into a layer of image (not yet inserted)."""
    with tempfile.TemporaryDirectory(prefix="maskstyle-") as folder:
        path = os.path.join(folder, "layer.png")
        with open(path, "wb") as handle:
            handle.write(png)
        try:
            layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path))
        except GLib.Error:
            layer = None
    if layer is None:
        raise msclient.BackendError("The maskstyle backend sent a result that GIMP cannot read.")
    return layer


def png_to_rgba(image, png):
    layer = _png_to_layer(image, png)
    try:
        return layer.get_width(), layer.get_height(), _read(layer, (0, 0, layer.get_width(), layer.get_height()), RGBA)
    finally:
        layer.delete()


def _insert_above(image, new_layer, below):
    image.insert_layer(new_layer, below.get_parent(), image.get_item_position(below))


def _layer_mode(name):
    return getattr(Gimp.LayerMode, str(name or "normal").upper().replace("-", "_"), Gimp.LayerMode.NORMAL)


def _opacity(value):
    value = 1.0 if value is None else float(value)
    return value * 100.0 if value <= 1.0 else value


def visible_through(image, layer, rect):
    """RGBA of what is visible in rect with every layer above `layer` hidden."""
    path, item = [], layer
    while item is not None:
        path.insert(0, image.get_item_position(item))
        item = item.get_parent()
    copy = image.duplicate()
    try:
        siblings = copy.get_layers()
        for depth, index in enumerate(path):
            for above in siblings[:index]:
                above.set_visible(False)
            if depth < len(path) - 1:
                siblings = siblings[index].get_children()
        visible = Gimp.Layer.new_from_visible(copy, copy, "maskstyle visible")
        try:
            return _read(visible, rect, RGBA)
        finally:
            visible.delete()
    finally:
        copy.delete()


def _test_params():
    """Stylize speed-ups for the test suite only (never set by users)."""
    params = {}
    for env, key in (("MASKSTYLE_TEST_ITERATIONS", "iterations"), ("MASKSTYLE_TEST_MAX_SIDE", "max_side")):
        if os.environ.get(env, "").isdigit():
            params[key] = int(os.environ[env])
    return params


def _ask(question):
    dialog = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION, buttons=Gtk.ButtonsType.YES_NO,
                               text=question)
    answer = dialog.run()
    dialog.destroy()
    return answer == Gtk.ResponseType.YES


class Progress:
    """GIMP's progress bar, following the backend job."""

    def __init__(self, text):
        self.stage = None
        Gimp.progress_init(text)

    def starting_backend(self, seconds):
        Gimp.progress_set_text(f"Starting the maskstyle backend… {int(seconds)} s")
        Gimp.progress_pulse()

    def job(self, fraction, stage):
        if stage and stage != self.stage:
            self.stage = stage
            Gimp.progress_set_text(f"Maskstyle: {stage}")
        Gimp.progress_update(min(max(fraction, 0.0), 1.0))


def _run_job(op, params, files, title):
    progress = Progress(title)
    client = msclient.connect(on_wait=progress.starting_backend)
    progress.job(0.0, "sending")
    result = client.run_job(op, params, files, on_progress=progress.job)
    layers = result.get("layers") or []
    if not layers:
        raise msclient.BackendError("The maskstyle backend finished but sent no result.")
    return client, layers[0]


def _png_file(name, data, width, height, channels):
    return (f"{name}.png", "image/png", pngpack.encode(data, width, height, channels, level=1))


# ---------------------------------------------------------------- Stylize Selection

def _style_file(gfile):
    path = gfile.get_path() if gfile is not None else None
    if not path or not os.path.isfile(path):
        raise UserError("Choose a style image (the Style file is not set or does not exist).")
    extension = os.path.splitext(path)[1].lower()
    if extension in (".png", ".jpg", ".jpeg"):
        with open(path, "rb") as handle:
            data = handle.read()
        return os.path.basename(path), "image/png" if extension == ".png" else "image/jpeg", data
    # Any other format GIMP can open is sent as a PNG of its flattened pixels.
    style = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, gfile)
    if style is None:
        raise UserError(f"GIMP cannot open the style image {path}.")
    try:
        flat = style.flatten()
        w, h = flat.get_width(), flat.get_height()
        return _png_file("style", _read(flat, (0, 0, w, h), "R'G'B' u8"), w, h, 3)
    finally:
        style.delete()


def stylize(image, drawable, config, run_mode):
    layer = _require_layer(image, drawable)
    layer_rect = _layer_rect(layer)
    selection = _selection(image)
    if selection is None:
        if run_mode != Gimp.RunMode.INTERACTIVE:
            raise UserError("Nothing is selected: select the area to stylize first.")
        if not _ask(f"Nothing is selected. Stylize the whole layer “{layer.get_name()}”?"):
            raise UserCancelled()
        crop = layer_rect
    else:
        area = intersect(selection, layer_rect)
        if area is None:
            raise UserError(f"The selection does not overlap the layer “{layer.get_name()}”.")
        crop = grow(area, layer_rect)
    x, y, w, h = crop
    style_name, style_type, style_data = _style_file(config.get_property("style-file"))
    pixels = _read(layer, (x - layer_rect[0], y - layer_rect[1], w, h), RGBA)
    mask = _read(image.get_selection(), crop, MASK) if selection else b"\xff" * (w * h)
    params = {
        "quality": config.get_property("quality"),
        "strength": config.get_property("strength"),
        "seed": config.get_property("seed"),
        "preserve_color": config.get_property("preserve-color"),
        **_test_params(),
    }
    files = {
        "image": _png_file("image", pixels, w, h, 4),
        "mask": _png_file("mask", mask, w, h, 1),
        "style": (style_name, style_type, style_data),
    }
    client, info = _run_job("stylize", params, files, "Maskstyle: stylizing the selection")
    result = _png_to_layer(image, client.fetch(info["url"]))

    stem = os.path.splitext(os.path.basename(config.get_property("style-file").get_path()))[0]
    image.undo_group_start()
    try:
        result.set_name(f"Stylized ({stem})")
        result.set_opacity(_opacity(info.get("opacity")))
        result.set_mode(_layer_mode(info.get("mode")))
        _insert_above(image, result, layer)
        result.set_offsets(x + int(info.get("x", 0)), y + int(info.get("y", 0)))
        if selection:
            result.add_mask(result.create_mask(Gimp.AddMaskType.SELECTION))
    finally:
        image.undo_group_end()


# ---------------------------------------------------------------- Harmonize Layer

def add_layer_above(image, below, name, rgba):
    """A new layer with below's place, size, opacity and mode, filled with rgba, in one undo group."""
    lx, ly, lw, lh = _layer_rect(below)
    image.undo_group_start()
    try:
        layer = Gimp.Layer.new(image, name, lw, lh, _layer_type(image), below.get_opacity(), below.get_mode())
        _insert_above(image, layer, below)
        layer.set_offsets(lx, ly)
        _write(layer, RGBA, rgba)
    finally:
        image.undo_group_end()
    return layer


def harmonize(image, drawable, config, run_mode):
    layer = _require_layer(image, drawable)
    if not layer.get_visible():
        raise UserError(f"The layer “{layer.get_name()}” is hidden: show it to harmonize it.")
    layer_rect = _layer_rect(layer)
    canvas = (0, 0, image.get_width(), image.get_height())
    area = intersect(layer_rect, canvas)
    if area is None:
        raise UserError(f"The layer “{layer.get_name()}” lies outside the canvas.")
    x, y, w, h = crop = grow(area, canvas)
    source = _read(layer, (0, 0, layer_rect[2], layer_rect[3]), RGBA)
    mask = alpha_in(source, layer_rect, crop)
    if not any(mask):
        raise UserError(f"The layer “{layer.get_name()}” is fully transparent.")

    params = {"mode": config.get_property("mode"), "strength": config.get_property("strength")}
    files = {
        "image": _png_file("image", visible_through(image, layer, crop), w, h, 4),
        "mask": _png_file("mask", mask, w, h, 1),
    }
    client, info = _run_job("harmonize", params, files, "Maskstyle: harmonizing the layer")
    rw, rh, result = png_to_rgba(image, client.fetch(info["url"]))
    result_rect = (x + int(info.get("x", 0)), y + int(info.get("y", 0)), rw, rh)
    add_layer_above(image, layer, f"Harmonized ({layer.get_name()})",
                    with_rgb_from(source, layer_rect, result, result_rect))


# ---------------------------------------------------------------- Select Subject

def select_mask(image, mask, operation):
    """Combine a full-size 8-bit mask with the selection, in one undo group."""
    w, h = image.get_width(), image.get_height()
    image.undo_group_start()
    Gimp.context_push()
    channel = None
    try:
        Gimp.context_set_feather(False)
        channel = Gimp.Channel.new(image, "maskstyle subject", w, h, 50.0, Gegl.Color.new("black"))
        image.insert_channel(channel, None, 0)
        # Channels of 8-bit perceptual images hold Y' and selecting copies their raw values,
        # so write the mask in the channel's own encoding to get exactly these values.
        _write(channel, "Y' u8" if Babl.get_name(channel.get_format()).startswith("Y'") else MASK, mask)
        image.select_item(operation, channel)
    finally:
        if channel is not None:
            image.remove_channel(channel)
        Gimp.context_pop()
        image.undo_group_end()


def select_subject(image, drawable, config, run_mode):
    target = config.get_property("target")
    operation = OPERATIONS[config.get_property("operation")]
    w, h = image.get_width(), image.get_height()
    files = {}
    if target == "refine":
        if _selection(image) is None:
            raise UserError("Refine improves the current selection: select roughly around the subject first.")
        files["hint"] = _png_file("hint", _read(image.get_selection(), (0, 0, w, h), MASK), w, h, 1)
    visible = Gimp.Layer.new_from_visible(image, image, "maskstyle visible")
    try:
        files["image"] = _png_file("image", _read(visible, (0, 0, w, h), RGBA), w, h, 4)
    finally:
        visible.delete()

    client, info = _run_job("segment", {"target": target}, files, "Maskstyle: selecting the subject")
    mw, mh, rgba = png_to_rgba(image, client.fetch(info["url"]))
    mask_rect = (int(info.get("x", 0)), int(info.get("y", 0)), mw, mh)
    select_mask(image, mask_from_red(rgba, mask_rect, w, h), operation)


# ---------------------------------------------------------------- the plug-in

def _choice(*entries):
    choice = Gimp.Choice.new()
    for index, (nick, label) in enumerate(entries):
        choice.add(nick, index, label, "")
    return choice


def _add_stylize_arguments(proc):
    proc.add_file_argument("style-file", "_Style image", "The painting or texture whose style to use",
                           Gimp.FileChooserAction.OPEN, False, None, RW)
    proc.add_double_argument("strength", "S_trength", "How much of the style to apply (0 to 1)",
                             0.0, 1.0, 1.0, RW)
    proc.add_choice_argument("quality", "_Quality", "Faster or finer results",
                             _choice(("fast", "Fast"), ("balanced", "Balanced"), ("best", "Best")),
                             "balanced", RW)
    proc.add_boolean_argument("preserve-color", "_Preserve colors", "Transfer the style on luminance only",
                              False, RW)
    proc.add_int_argument("seed", "S_eed", "The same seed gives the same result", 0, 2147483647, 0, RW)


def _add_harmonize_arguments(proc):
    proc.add_choice_argument("mode", "_Mode", "Match a photo, or a painting",
                             _choice(("photo", "Photo"), ("painterly", "Painterly")), "photo", RW)
    proc.add_double_argument("strength", "S_trength", "How strongly to match the surroundings (0 to 1)",
                             0.0, 1.0, 1.0, RW)


def _add_select_arguments(proc):
    proc.add_choice_argument("target", "_Target", "What to select",
                             _choice(("subject", "Main subject"), ("person", "Person"),
                                     ("refine", "Refine the current selection")), "subject", RW)
    proc.add_choice_argument("operation", "_Operation", "How to combine with the current selection",
                             _choice(("replace", "Replace"), ("add", "Add"), ("subtract", "Subtract"),
                                     ("intersect", "Intersect")), "replace", RW)


PROCEDURES = {
    STYLIZE: dict(work=stylize, label="Stylize Selection…", menus=["<Image>/Filters/Maskstyle"],
                  add_arguments=_add_stylize_arguments,
                  blurb="Restyle the selected area with the style of an image",
                  help="Sends the active layer and the selection to the maskstyle backend and adds the "
                       "result as a new layer, masked by the selection, above the active layer."),
    HARMONIZE: dict(work=harmonize, label="Harmonize Layer…",
                    menus=["<Image>/Layer/Maskstyle", "<Image>/Filters/Maskstyle"],
                    add_arguments=_add_harmonize_arguments,
                    blurb="Match a pasted layer to what lies beneath it",
                    help="Adds a harmonized copy of the active layer above it, with the same position "
                         "and transparency."),
    SELECT_SUBJECT: dict(work=select_subject, label="Select Subject…", menus=["<Image>/Select/Maskstyle"],
                         add_arguments=_add_select_arguments,
                         blurb="Select the main subject or a person, or refine the selection",
                         help="Segments the visible image with the maskstyle backend and combines the "
                              "result with the current selection."),
}


def _error(procedure, message):
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR,
                                       GLib.Error.new_literal(Gimp.PlugIn.error_quark(), message, 0))


def _make_run(work, title):
    def run(procedure, run_mode, image, drawables, config, data):
        if len(drawables) != 1:
            return _error(procedure, "Choose exactly one layer.")
        if run_mode == Gimp.RunMode.INTERACTIVE:
            GimpUi.init("maskstyle")
            dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
            dialog.fill(None)
            accepted = dialog.run()
            dialog.destroy()
            if not accepted:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        try:
            work(image, drawables[0], config, run_mode)
        except UserCancelled:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        except (UserError, msclient.BackendError) as err:
            return _error(procedure, str(err))
        except Exception as err:  # a bug: keep the traceback for the terminal, not for the user
            traceback.print_exc()
            return _error(procedure, f"maskstyle stopped on an unexpected error: {err}")
        finally:
            Gimp.progress_end()
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    return run


class Maskstyle(Gimp.PlugIn):
    def do_query_procedures(self):
        return list(PROCEDURES)

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        spec = PROCEDURES[name]
        title = spec["label"].rstrip("…")
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, _make_run(spec["work"], title), None)
        proc.set_image_types("RGB*, GRAY*")
        proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        proc.set_menu_label(spec["label"])
        for path in spec["menus"]:
            proc.add_menu_path(path)
        proc.set_documentation(spec["blurb"], spec["help"], name)
        proc.set_attribution("maskstyle", "maskstyle authors", "2025")
        spec["add_arguments"](proc)
        return proc


if __name__ == "__main__":
    Gimp.main(Maskstyle.__gtype__, sys.argv)
