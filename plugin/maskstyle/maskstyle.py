#!/usr/bin/env python3
"""maskstyle for GIMP 3: Stylize Selection, Stylize Regions, Harmonize Layer, Portrait Blur
and Select Subject.

The pixels go to the local maskstyle backend through the wire client (maskstyle_wire,
installed beside this file); results come back
as new layers or as a new selection, each in one undo group. Existing pixels are
never changed. This is the only maskstyle file that imports gi.

Stylize with nothing selected: an interactive run asks whether to stylize the whole
layer; a non-interactive run fails with a message and changes nothing.

Stylize Selection and Harmonize Layer run on every selected layer. Every backend
result is collected first; only then are the new layers added, all in one undo
group, so a failure on any layer leaves the image as it was.
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

from maskstyle_wire import client as wire  # noqa: E402
from maskstyle_wire import contract, png  # noqa: E402
from maskstyle_wire.errors import BackendError  # noqa: E402
from msregions import (alpha_in, bounds, grow, intersect, mask_from_alpha, split_alpha, union,  # noqa: E402
                       with_rgb_from)

STYLIZE = "plug-in-maskstyle-stylize-selection"
HARMONIZE = "plug-in-maskstyle-harmonize-layer"
SELECT_SUBJECT = "plug-in-maskstyle-select-subject"
STYLIZE_REGIONS = "plug-in-maskstyle-stylize-regions"
PORTRAIT_BLUR = "plug-in-maskstyle-portrait-blur"
REGION_SLOTS = min(3, contract.MAX_REGIONS)  # the dialog's slots; a script can send no more either
REGIONS_GROUP = "Stylized regions"

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


def _require_layers(image, drawables):
    """The chosen drawables, each of which must be a pixel layer."""
    if image.get_floating_sel() is not None:
        raise UserError("Anchor the floating selection, or make it a layer (Layer > To New Layer), first.")
    for drawable in drawables:
        if not drawable.is_layer() or drawable.is_group_layer():
            if len(drawables) == 1:
                raise UserError("Choose a single pixel layer (not a group, channel or layer mask).")
            raise UserError(f"“{drawable.get_name()}” is not a pixel layer: choose pixel layers only "
                            "(not groups, channels or layer masks).")
    return list(drawables)


def _require_layer(image, drawable):
    return _require_layers(image, [drawable])[0]


def _mask_format(drawable):
    """The 8-bit format that reads and writes a mask drawable's own values as they are: channels
    and layer masks of 8-bit perceptual images hold Y', and GIMP uses those values as coverage."""
    return "Y' u8" if Babl.get_name(drawable.get_format()).startswith("Y'") else MASK


def _png_to_layer(image, data):
    """Decode a PNG with GIMP's own loader into a layer of image (not yet inserted)."""
    with tempfile.TemporaryDirectory(prefix="maskstyle-") as folder:
        path = os.path.join(folder, "layer.png")
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path))
        except GLib.Error:
            layer = None
    if layer is None:
        raise BackendError("The maskstyle backend sent a result that GIMP cannot read.")
    return layer


def png_to_rgba(image, data):
    layer = _png_to_layer(image, data)
    try:
        return layer.get_width(), layer.get_height(), _read(layer, (0, 0, layer.get_width(), layer.get_height()), RGBA)
    finally:
        layer.delete()


def _insert_above(image, new_layer, below):
    image.insert_layer(new_layer, below.get_parent(), image.get_item_position(below))


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


def _ask(question):
    dialog = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION, buttons=Gtk.ButtonsType.YES_NO,
                               text=question)
    answer = dialog.run()
    dialog.destroy()
    return answer == Gtk.ResponseType.YES


class Progress:
    """GIMP's progress bar, following one backend job after another (`parts` of them)."""

    def __init__(self, text, parts=1):
        self.parts, self.part, self.label, self.stage = max(parts, 1), 0, "", None
        Gimp.progress_init(text)

    def starting_backend(self, seconds):
        Gimp.progress_set_text(f"Starting the maskstyle backend… {int(seconds)} s")
        Gimp.progress_pulse()

    def next_part(self, index, label):
        self.part, self.label, self.stage = index, label, None
        Gimp.progress_update(index / self.parts)

    def job(self, fraction, stage):
        if stage and stage != self.stage:
            self.stage = stage
            Gimp.progress_set_text(f"Maskstyle: {self.label}{stage}")
        Gimp.progress_update((self.part + min(max(fraction, 0.0), 1.0)) / self.parts)


def _connect(progress):
    client = wire.connect(on_wait=progress.starting_backend)
    progress.job(0.0, "sending")
    return client


def _result_layers(client, op, params, files, progress, count=1):
    """Run one job; the first `count` layers of its result. The backend's warnings about
    the result go to GIMP's message area."""
    result = client.run_job(op, params, files, on_progress=progress.job)
    layers = result.get("layers") or []
    if len(layers) < count:
        raise BackendError("The maskstyle backend finished but sent no result."
                           if not layers else "The maskstyle backend sent too few result layers.")
    for warning in (result.get("info") or {}).get("warnings") or []:
        Gimp.message("Maskstyle: " + _sentence(warning[:1].upper() + warning[1:]))
    return layers[:count]


def _run_job(op, params, files, title):
    """Run one job with a progress bar: the client and the result's first layer."""
    progress = Progress(title)
    client = _connect(progress)
    return client, _result_layers(client, op, params, files, progress)[0]


def _sentence(text):
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _run_layer_jobs(jobs, title):
    """Run jobs [(layer, op, params, files)] one after another; [(info, png)] in the same order.

    Nothing is added to the image here, so a failure leaves it as it was. When there are
    several layers, the message says which one failed."""
    progress = Progress(title, len(jobs))
    client = _connect(progress)
    results = []
    for index, (layer, op, params, files) in enumerate(jobs):
        several = len(jobs) > 1
        progress.next_part(index, f"“{layer.get_name()}” ({index + 1} of {len(jobs)}): " if several else "")
        try:
            info = _result_layers(client, op, params, files, progress)[0]
            results.append((info, client.fetch(info["url"])))
        except BackendError as err:
            if not several:
                raise
            raise BackendError(f"Layer “{layer.get_name()}”: {_sentence(str(err))} Nothing was "
                               "changed.", err.code) from None
    return results


def _insert_all(image, placements):
    """Put new layers into the image, all in one undo group. placements are (layer, below,
    finish): the layer goes directly above `below`, then finish(layer) sets it up. If any
    step fails, the layers already inserted are removed and the others deleted."""
    inserted = []
    image.undo_group_start()
    try:
        for layer, below, finish in placements:
            _insert_above(image, layer, below)
            inserted.append(layer)
            finish(layer)
    except Exception:
        for layer in reversed(inserted):
            image.remove_layer(layer)
        for layer, _, _ in placements[len(inserted):]:
            layer.delete()
        raise
    finally:
        image.undo_group_end()
    return inserted


def _png_file(name, data, width, height, channels):
    return wire.png_part(name, png.encode(data, width, height, channels, level=1))


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


def _style_stem(gfile):
    return os.path.splitext(os.path.basename(gfile.get_path()))[0]


def _stylize_params(config):
    return {
        "quality": config.get_property("quality"),
        "strength": config.get_property("strength"),
        "seed": config.get_property("seed"),
        "preserve_color": config.get_property("preserve-color"),
        "method": config.get_property("method"),
    }


def _whole_layer_question(layers):
    if len(layers) == 1:
        return f"Nothing is selected. Stylize the whole layer “{layers[0].get_name()}”?"
    return f"Nothing is selected. Stylize the {len(layers)} selected layers whole?"


def _stylize_crop(image, layer, selection):
    """(crop, mask): the part of the layer to send, and the selection over it (None: all of it)."""
    layer_rect = _layer_rect(layer)
    if selection is None:
        return layer_rect, None
    area = intersect(selection, layer_rect)
    crop = grow(area, layer_rect) if area else None
    mask = _read(image.get_selection(), crop, MASK) if crop else b""
    if not mask.strip(b"\x00"):
        raise UserError(f"The selection does not overlap the layer “{layer.get_name()}”.")
    return crop, mask


def stylize(image, drawables, config, run_mode):
    layers = _require_layers(image, drawables)
    selection = _selection(image)
    if selection is None:
        if run_mode != Gimp.RunMode.INTERACTIVE:
            raise UserError("Nothing is selected: select the area to stylize first.")
        if not _ask(_whole_layer_question(layers)):
            raise UserCancelled()
    style_file = config.get_property("style-file")
    style = _style_file(style_file)
    seam = config.get_property("seam") if selection is not None else "none"
    params = {**_stylize_params(config), "seam": seam}
    jobs, crops = [], []
    for layer in layers:  # check every layer before sending anything
        crop, mask = _stylize_crop(image, layer, selection)
        lx, ly, _, _ = _layer_rect(layer)
        x, y, w, h = crop
        files = {
            "image": _png_file("image", _read(layer, (x - lx, y - ly, w, h), RGBA), w, h, 4),
            "mask": _png_file("mask", mask if mask is not None else b"\xff" * (w * h), w, h, 1),
            "style": style,
        }
        jobs.append((layer, "stylize", params, files))
        crops.append(crop)
    results = _run_layer_jobs(jobs, "Maskstyle: stylizing the selection")
    name = f"Stylized ({_style_stem(style_file)})"
    placements = []
    try:
        for layer, crop, (info, data) in zip(layers, crops, results):
            placements.append((_png_to_layer(image, data), layer, _stylized_setup(name, info, crop)))
    except Exception:
        for result, _, _ in placements:
            result.delete()
        raise
    _insert_all(image, placements)


def _alpha_to_mask(layer, rgba):
    """Fill layer with rgba made opaque, and give it a layer mask holding rgba's alpha."""
    pixels, alpha = split_alpha(rgba)
    _write(layer, RGBA, pixels)
    mask = layer.create_mask(Gimp.AddMaskType.BLACK)
    layer.add_mask(mask)
    _write(mask, _mask_format(mask), alpha)


def _stylized_setup(name, info, crop):
    """What finishes a stylized layer once it is in the image: the backend's alpha (the
    selection, redrawn near its edge when a seam was chosen) becomes its layer mask."""
    def finish(result):
        result.set_name(name)
        result.set_offsets(crop[0] + int(info.get("x", 0)), crop[1] + int(info.get("y", 0)))
        _alpha_to_mask(result, _read(result, (0, 0, result.get_width(), result.get_height()), RGBA))
    return finish


# ---------------------------------------------------------------- Stylize Regions

def _region_pairs(image, config):
    """[(channel, style gfile)] from the channel-N / style-file-N arguments that are set."""
    pairs = []
    for slot in range(1, REGION_SLOTS + 1):
        channel = config.get_property(f"channel-{slot}")
        gfile = config.get_property(f"style-file-{slot}")
        if channel is None and gfile is None:
            continue
        if channel is None or gfile is None:
            missing = "channel" if channel is None else "style image"
            raise UserError(f"Region {slot} has no {missing}: choose both a channel and a style image, "
                            "or neither.")
        if channel.get_id() not in [c.get_id() for c in image.get_channels()]:
            raise UserError(f"The channel “{channel.get_name()}” of region {slot} is not a channel of "
                            "this image.")
        pairs.append((channel, gfile))
    if not pairs:
        raise UserError("Choose at least one region: a saved selection (Select > Save to Channel) and a "
                        "style image for it.")
    return pairs


def _regions_crop(image, layer, pairs, whole):
    """The part of the layer to send: all of it on the canvas when `whole` (a style for the rest
    covers everything), else the channels' extent with some context around it."""
    w, h = image.get_width(), image.get_height()
    visible = intersect(_layer_rect(layer), (0, 0, w, h))
    if visible is None:
        raise UserError(f"The layer “{layer.get_name()}” lies outside the canvas.")
    area = None
    for channel, _ in pairs:
        area = union(area, bounds(_read(channel, (0, 0, w, h), _mask_format(channel)), w, h))
    area = intersect(area, visible) if area else None
    if area is None:
        raise UserError(f"The regions do not overlap the layer “{layer.get_name()}”.")
    return visible if whole else grow(area, visible)


def _regions_files(image, layer, pairs, rest_file, crop):
    x, y, w, h = crop
    lx, ly, _, _ = _layer_rect(layer)
    files = {"image": _png_file("image", _read(layer, (x - lx, y - ly, w, h), RGBA), w, h, 4)}
    for index, (channel, gfile) in enumerate(pairs):
        mask = _read(channel, crop, _mask_format(channel))
        if not mask.strip(b"\x00"):
            raise UserError(f"The channel “{channel.get_name()}” selects nothing on the layer "
                            f"“{layer.get_name()}”.")
        files[f"mask{index}"] = _png_file(f"mask{index}", mask, w, h, 1)
        files[f"style{index}"] = _style_file(gfile)
    if rest_file is not None:
        files["rest"] = _style_file(rest_file)
    return files


def stylize_regions(image, drawables, config, run_mode):
    layer = _require_layer(image, drawables[0])
    pairs = _region_pairs(image, config)
    rest_file = config.get_property("rest-file")
    crop = _regions_crop(image, layer, pairs, whole=rest_file is not None)
    files = _regions_files(image, layer, pairs, rest_file, crop)
    names = [f"Stylized ({_style_stem(gfile)})" for _, gfile in pairs]
    params = {**_stylize_params(config), "seam": config.get_property("seam"), "names": names}
    if rest_file is not None:
        names.append(f"Stylized ({_style_stem(rest_file)}, the rest)")
        params["rest_name"] = names[-1]
    progress = Progress("Maskstyle: stylizing the regions")
    client = _connect(progress)
    infos = _result_layers(client, "stylize", params, files, progress, count=len(names))
    results = []
    for name, info in zip(names, infos):  # bottom to top, as the backend lists them
        width, height, rgba = png_to_rgba(image, client.fetch(info["url"]))
        rect = (crop[0] + int(info.get("x", 0)), crop[1] + int(info.get("y", 0)), width, height)
        results.append((name, rect, rgba))
    add_region_group(image, layer, results)


def add_region_group(image, below, results):
    """A layer group directly above `below` holding one layer per result (name, rect, rgba),
    listed bottom to top. Each layer is opaque, with the result's alpha as its layer mask.
    One undo group; if a step fails, the group is removed again."""
    group = Gimp.GroupLayer.new(image, REGIONS_GROUP)
    inserted = False
    image.undo_group_start()
    try:
        _insert_above(image, group, below)
        inserted = True
        for name, (x, y, w, h), rgba in results:
            layer = Gimp.Layer.new(image, name, w, h, _layer_type(image), 100.0, Gimp.LayerMode.NORMAL)
            image.insert_layer(layer, group, 0)
            layer.set_offsets(x, y)
            _alpha_to_mask(layer, rgba)
    except Exception:
        if inserted:
            image.remove_layer(group)
        else:
            group.delete()
        raise
    finally:
        image.undo_group_end()
    return group


# ---------------------------------------------------------------- Harmonize Layer

def add_layer_above(image, below, name, rgba):
    """A new layer with below's place, size, opacity and mode, filled with rgba, in one undo group."""
    return add_layers_above(image, [(below, name, rgba)])[0]


def add_layers_above(image, items):
    """For each (below, name, rgba), a new layer like add_layer_above's; all in one undo group."""
    placements = []
    for below, name, rgba in items:
        _, _, lw, lh = _layer_rect(below)
        layer = Gimp.Layer.new(image, name, lw, lh, _layer_type(image), below.get_opacity(), below.get_mode())
        placements.append((layer, below, _filled_at(_layer_rect(below), rgba)))
    return _insert_all(image, placements)


def _filled_at(rect, rgba):
    def finish(layer):
        layer.set_offsets(rect[0], rect[1])
        _write(layer, RGBA, rgba)
    return finish


def _harmonize_job(image, layer, params):
    """(job, source pixels, crop) for one layer; checked before anything is sent."""
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
    files = {
        "image": _png_file("image", visible_through(image, layer, crop), w, h, 4),
        "mask": _png_file("mask", mask, w, h, 1),
    }
    return (layer, "harmonize", params, files), source, crop


def harmonize(image, drawables, config, run_mode):
    layers = _require_layers(image, drawables)
    params = {"mode": config.get_property("mode"), "strength": config.get_property("strength")}
    prepared = [_harmonize_job(image, layer, params) for layer in layers]
    results = _run_layer_jobs([job for job, _, _ in prepared], "Maskstyle: harmonizing the layer")
    items = []
    for layer, (_, source, crop), (info, data) in zip(layers, prepared, results):
        rw, rh, result = png_to_rgba(image, data)
        result_rect = (crop[0] + int(info.get("x", 0)), crop[1] + int(info.get("y", 0)), rw, rh)
        items.append((layer, f"Harmonized ({layer.get_name()})",
                      with_rgb_from(source, _layer_rect(layer), result, result_rect)))
    add_layers_above(image, items)


# ---------------------------------------------------------------- Portrait Blur

def portrait_blur(image, drawables, config, run_mode):
    layer = _require_layer(image, drawables[0])
    if _selection(image) is None:
        raise UserError("Nothing is selected: select the subject to keep sharp first "
                        "(Select > Maskstyle > Select Subject… can do it).")
    layer_rect = _layer_rect(layer)
    crop = intersect(layer_rect, (0, 0, image.get_width(), image.get_height()))
    mask = _read(image.get_selection(), crop, MASK) if crop else b""
    if not mask.strip(b"\x00"):
        raise UserError(f"The selection does not overlap the layer “{layer.get_name()}”.")
    if not mask.strip(b"\xff"):
        raise UserError(f"The whole layer “{layer.get_name()}” is selected: select only the subject, "
                        "so that there is a background to blur.")
    x, y, w, h = crop
    params = {"name": "Portrait blur"}
    if config.get_property("radius") > 0:
        params["radius"] = config.get_property("radius")
    files = {
        "image": _png_file("image", _read(layer, (x - layer_rect[0], y - layer_rect[1], w, h), RGBA), w, h, 4),
        "mask": _png_file("mask", mask, w, h, 1),
    }
    client, info = _run_job("blur", params, files, "Maskstyle: blurring the background")
    rw, rh, result = png_to_rgba(image, client.fetch(info["url"]))
    result_rect = (x + int(info.get("x", 0)), y + int(info.get("y", 0)), rw, rh)
    source = _read(layer, (0, 0, layer_rect[2], layer_rect[3]), RGBA)
    add_layer_above(image, layer, "Portrait blur", with_rgb_from(source, layer_rect, result, result_rect))


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


def select_subject(image, drawables, config, run_mode):
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
    select_mask(image, mask_from_alpha(rgba, mask_rect, w, h), operation)


# ---------------------------------------------------------------- the plug-in

def _choice(*entries):
    choice = Gimp.Choice.new()
    for index, (nick, label) in enumerate(entries):
        choice.add(nick, index, label, "")
    return choice


def _param(op, name):
    return contract.OPERATIONS[op].param(name)


def _add_contract_argument(proc, op, name, label=None):
    """A procedure argument for a contract parameter: its label, help, choices, range and default."""
    param = _param(op, name)
    nick, label = name.replace("_", "-"), label or param.label
    if param.kind == "choice":
        proc.add_choice_argument(nick, label, param.help, _choice(*param.choices), param.default, RW)
    elif param.kind == "float":
        proc.add_double_argument(nick, label, param.help, param.minimum, param.maximum, param.default, RW)
    elif param.kind == "int":
        proc.add_int_argument(nick, label, param.help, int(param.minimum), int(param.maximum), param.default, RW)
    elif param.kind == "bool":
        proc.add_boolean_argument(nick, label, param.help, param.default, RW)
    else:
        raise ValueError(f"no GIMP argument for the {param.kind} parameter {name}")


def _add_stylize_arguments(proc, with_style_file=True):
    if with_style_file:
        proc.add_file_argument("style-file", "Style _image", "The painting or texture whose style to use",
                               Gimp.FileChooserAction.OPEN, False, None, RW)
    for name in ("strength", "quality", "preserve_color", "seed"):
        _add_contract_argument(proc, "stylize", name)


def _add_harmonize_arguments(proc):
    for name in ("mode", "strength"):
        _add_contract_argument(proc, "harmonize", name)


def _add_select_arguments(proc):
    _add_contract_argument(proc, "segment", "target")
    proc.add_choice_argument("operation", "_Operation", "How to combine with the current selection",
                             _choice(("replace", "Replace"), ("add", "Add"), ("subtract", "Subtract"),
                                     ("intersect", "Intersect")), "replace", RW)


STYLE_LABELS = ("st_yle image", "style _image", "style ima_ge")  # each field needs its own mnemonic


def _add_regions_arguments(proc):
    for slot in range(1, REGION_SLOTS + 1):
        proc.add_channel_argument(f"channel-{slot}", f"Region _{slot}: channel",
                                  "A saved selection (Select > Save to Channel)", True, RW)
        proc.add_file_argument(f"style-file-{slot}", f"Region {slot}: {STYLE_LABELS[slot - 1]}",
                               f"The style for region {slot}", Gimp.FileChooserAction.OPEN, True, None, RW)
    proc.add_file_argument("rest-file", "Style _for the rest (optional)",
                           "A style for what no region covers; without it that part stays as it is",
                           Gimp.FileChooserAction.OPEN, True, None, RW)
    _add_stylize_arguments(proc, with_style_file=False)
    _add_seam_and_method_arguments(proc)


def _add_stylize_selection_arguments(proc):
    _add_stylize_arguments(proc)
    _add_seam_and_method_arguments(proc)


def _add_seam_and_method_arguments(proc):
    _add_contract_argument(proc, "stylize", "seam")
    _add_contract_argument(proc, "stylize", "method", "Met_hod")  # last: older scripts' order is kept


def _add_blur_arguments(proc):
    radius = _param("blur", "radius")  # the contract's None (automatic) is 0 in GIMP's number field
    proc.add_double_argument("radius", radius.label, "How far the background is blurred, in pixels "
                             "(0 picks one from the image size)", 0.0, radius.maximum, 0.0, RW)


PROCEDURES = {
    STYLIZE: dict(work=stylize, label="Stylize Selection…", menus=["<Image>/Filters/Maskstyle"],
                  add_arguments=_add_stylize_selection_arguments, layers="several",
                  blurb="Restyle the selected area with the style of an image",
                  help="Sends each selected layer and the selection to the maskstyle backend and adds "
                       "each result as a new layer, masked by the selection (redrawn near its edge "
                       "when a seam is chosen), directly above its layer."),
    STYLIZE_REGIONS: dict(work=stylize_regions, label="Stylize Regions…", menus=["<Image>/Filters/Maskstyle"],
                          add_arguments=_add_regions_arguments, layers="one",
                          blurb="Restyle several saved selections, each with its own style",
                          help="Stylizes the layer in one pass, each region (a channel) in the style of its "
                               "own image, and adds one layer per region, masked by its channel, in a new "
                               "layer group above the layer."),
    HARMONIZE: dict(work=harmonize, label="Harmonize Layer…",
                    menus=["<Image>/Layer/Maskstyle", "<Image>/Filters/Maskstyle"],
                    add_arguments=_add_harmonize_arguments, layers="several",
                    blurb="Match a pasted layer to what lies beneath it",
                    help="Adds a harmonized copy of each selected layer directly above it, with the same "
                         "position and transparency."),
    PORTRAIT_BLUR: dict(work=portrait_blur, label="Portrait Blur…", menus=["<Image>/Filters/Maskstyle"],
                        add_arguments=_add_blur_arguments, layers="one",
                        blurb="Blur the background like a lens, keeping the selected subject sharp",
                        help="Sends the layer, with the selection as the subject, to the maskstyle backend "
                             "and adds the result as a new layer, “Portrait blur”, above the layer."),
    SELECT_SUBJECT: dict(work=select_subject, label="Select Subject…", menus=["<Image>/Select/Maskstyle"],
                         add_arguments=_add_select_arguments, layers="any",
                         blurb="Select the main subject or a person, or refine the selection",
                         help="Segments the visible image with the maskstyle backend and combines the "
                              "result with the current selection."),
}

SENSITIVITY = {
    "one": Gimp.ProcedureSensitivityMask.DRAWABLE,
    "several": Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES,
    "any": (Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
            | Gimp.ProcedureSensitivityMask.NO_DRAWABLES),
}


def _error(procedure, message):
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR,
                                       GLib.Error.new_literal(Gimp.PlugIn.error_quark(), message, 0))


def _wrong_layer_count(layers, count):
    """The message when `count` chosen drawables do not suit the procedure, else None."""
    if layers == "one" and count != 1:
        return "Choose exactly one layer."
    if layers == "several" and count < 1:
        return "Choose one or more layers."
    return None


def _make_run(work, title, layers):
    def run(procedure, run_mode, image, drawables, config, data):
        wrong = _wrong_layer_count(layers, len(drawables))
        if wrong:
            return _error(procedure, wrong)
        if run_mode == Gimp.RunMode.INTERACTIVE:
            GimpUi.init("maskstyle")
            dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
            dialog.fill(None)
            accepted = dialog.run()
            dialog.destroy()
            if not accepted:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        try:
            work(image, list(drawables), config, run_mode)
        except UserCancelled:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        except (UserError, BackendError) as err:
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
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN,
                                       _make_run(spec["work"], title, spec["layers"]), None)
        proc.set_image_types("RGB*, GRAY*")
        proc.set_sensitivity_mask(SENSITIVITY[spec["layers"]])
        proc.set_menu_label(spec["label"])
        for path in spec["menus"]:
            proc.add_menu_path(path)
        proc.set_documentation(spec["blurb"], spec["help"], name)
        proc.set_attribution("maskstyle", "maskstyle authors", "2025")
        spec["add_arguments"](proc)
        return proc


if __name__ == "__main__":
    Gimp.main(Maskstyle.__gtype__, sys.argv)
