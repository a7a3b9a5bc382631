"""The work of the five procedures: Stylize Selection, Stylize Regions, Harmonize Layer,
Portrait Blur and Select Subject. Each is work(image, drawables, config, run_mode).

Existing pixels are never changed: results come back as new layers or as a new selection,
each in one undo group. Every input is checked before anything is sent, and every backend
result is collected before the image changes, so a failure leaves the image as it was.
"""

import functools
import os

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402

from maskstyle_wire import contract  # noqa: E402
from maskstyle_wire.geometry import Rect  # noqa: E402
from maskstyle_wire.pixels import alpha_in, mask_from_alpha, with_rgb_from  # noqa: E402

from gimp_io import (RGBA, SELECTION_OPERATIONS, Progress, add_layer_above, add_layer_group,  # noqa: E402
                     add_layers_above, alpha_to_mask, ask, canvas, decode_png, flattened_rgb, insert_all,
                     layer_rect, mask_format, new_layer, read, read_selection, select_mask, selection_bounds,
                     visible_rgba, visible_through, whole)
from jobs import connect, png_file, result_layers, run_job, run_layer_jobs  # noqa: E402

REGION_SLOTS = min(3, contract.MAX_REGIONS)  # the dialog's slots; a script can send no more either
REGIONS_GROUP = "Stylized regions"


class UserError(Exception):
    """Something the user can fix; the text is shown as is."""


class UserCancelled(Exception):
    pass


def require_layers(image, drawables):
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


def require_layer(image, drawable):
    return require_layers(image, [drawable])[0]


def topmost_visible_layer(image):
    """The topmost visible pixel layer (inside visible groups too), or None."""
    def search(layers):
        for layer in layers:
            if not layer.get_visible():
                continue
            if layer.is_group_layer():
                found = search(layer.get_children())
                if found is not None:
                    return found
            else:
                return layer
        return None
    return search(image.get_layers())


def choose_layers(image, drawables, title):
    """(layers, note): the layers to work on for the active drawables. A layer mask stands for
    its layer. When a channel is active, or nothing is, the obvious layer is used: the topmost
    visible pixel layer; note then says which, for the message area (else it is None)."""
    chosen, note = [], None
    for drawable in drawables:
        if drawable.is_layer_mask():
            drawable = Gimp.Layer.from_mask(drawable)
        elif drawable.is_channel():
            continue
        if drawable is not None and drawable.get_id() not in [d.get_id() for d in chosen]:
            chosen.append(drawable)
    if not chosen:
        layer = topmost_visible_layer(image)
        if layer is None:
            raise UserError("There is no visible pixel layer to work on: show or add one.")
        active = next((d for d in drawables if d.is_channel()), None)
        why = f"the channel “{active.get_name()}” was active" if active is not None else "no layer was active"
        note = f"Maskstyle: {why}, so {title} worked on the layer “{layer.get_name()}”."
        chosen = [layer]
    return chosen, note


def _placed(info, crop, width, height):
    """Where a width x height backend result lies in the image: info's x, y are its offset
    inside the crop that was sent."""
    return Rect(crop.x + int(info.get("x", 0)), crop.y + int(info.get("y", 0)), width, height)


def _layer_pixels(layer, crop):
    """The RGBA of crop (in image coordinates) of the layer."""
    return read(layer, crop.relative_to(layer_rect(layer)), RGBA)


# ---------------------------------------------------------------- Stylize Selection

STYLE_FIELD = "Style image"          # the dialog's own words, for messages
REST_FIELD = "Style for the rest"


def region_fields(slot):
    return f"Region {slot}: channel", f"Region {slot}: style image"


def check_style(gfile, field=STYLE_FIELD):
    """UserError, in the dialog's words, unless gfile is an existing file."""
    path = gfile.get_path() if gfile is not None else None
    if not path:
        raise UserError(f"Choose a style image: “{field}” is empty.")
    if not os.path.isfile(path):
        raise UserError(f"The style image {os.path.basename(path)} in “{field}” cannot be found "
                        f"(it was {path}): choose it again.")
    return path


def _style_file(gfile, field=STYLE_FIELD):
    """The style image as a file part: PNG and JPEG files as they are, anything else GIMP can
    open as a PNG of its flattened pixels."""
    path = check_style(gfile, field)
    extension = os.path.splitext(path)[1].lower()
    if extension in (".png", ".jpg", ".jpeg"):
        with open(path, "rb") as handle:
            data = handle.read()
        return os.path.basename(path), "image/png" if extension == ".png" else "image/jpeg", data
    flat = flattened_rgb(gfile)
    if flat is None:
        raise UserError(f"GIMP cannot open the style image {os.path.basename(path)} in “{field}”: "
                        "choose a PNG, JPEG or another picture GIMP opens.")
    width, height, rgb = flat
    return png_file("style", rgb, width, height, 3)


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
    rect = layer_rect(layer)
    if selection is None:
        return rect, None
    area = selection.intersect(rect)
    crop = area.grow(rect) if area else None
    mask = read_selection(image, crop) if crop else b""
    if not mask.strip(b"\x00"):
        raise UserError(f"The selection does not overlap the layer “{layer.get_name()}”.")
    return crop, mask


def stylize(image, drawables, config, run_mode):
    """Each chosen layer, under the selection, in the style of the style image. With nothing
    selected, an interactive run asks whether to stylize whole layers; a non-interactive one fails."""
    layers = require_layers(image, drawables)
    selection = selection_bounds(image)
    if selection is None:
        if run_mode != Gimp.RunMode.INTERACTIVE:
            raise UserError("Nothing is selected: select the area to stylize first.")
        if not ask(_whole_layer_question(layers)):
            raise UserCancelled()
    style_file = config.get_property("style-file")
    style = _style_file(style_file)
    seam = config.get_property("seam") if selection is not None else "none"
    params = {**_stylize_params(config), "seam": seam}
    jobs, crops = [], []
    for layer in layers:  # check every layer before sending anything
        crop, mask = _stylize_crop(image, layer, selection)
        w, h = crop.width, crop.height
        files = {
            "image": png_file("image", _layer_pixels(layer, crop), w, h, 4),
            "mask": png_file("mask", mask if mask is not None else b"\xff" * (w * h), w, h, 1),
            "style": style,
        }
        jobs.append((layer, "stylize", params, files))
        crops.append(crop)
    results = run_layer_jobs(jobs, "Maskstyle: stylizing the selection")
    name = f"Stylized ({_style_stem(style_file)})"
    decoded = [decode_png(data) for _, data in results]  # all of them before the image changes
    placements = [(new_layer(image, name, width, height), layer, _stylized_setup(info, crop, rgba))
                  for layer, crop, (info, _), (width, height, rgba) in zip(layers, crops, results, decoded)]
    insert_all(image, placements)


def _stylized_setup(info, crop, rgba):
    """What finishes a stylized layer once it is in the image: its pixels, and the backend's
    alpha (the selection, redrawn near its edge when a seam was chosen) as its layer mask."""
    def finish(result):
        place = _placed(info, crop, result.get_width(), result.get_height())
        result.set_offsets(place.x, place.y)
        alpha_to_mask(result, rgba)
    return finish


# ---------------------------------------------------------------- Stylize Regions

def _region_pairs(image, config):
    """[(channel, style gfile, style field)] from the channel-N / style-file-N arguments that are set."""
    pairs = []
    for slot in range(1, REGION_SLOTS + 1):
        channel = config.get_property(f"channel-{slot}")
        gfile = config.get_property(f"style-file-{slot}")
        channel_field, style_field = region_fields(slot)
        if channel is None and gfile is None:
            continue
        if channel is None:
            raise UserError(f"Region {slot} has a style image but no channel: choose one in “{channel_field}” "
                            f"(a saved selection), or empty “{style_field}”.")
        if gfile is None:
            raise UserError(f"Region {slot} has a channel but no style image: choose one in “{style_field}”, "
                            f"or empty “{channel_field}”.")
        if channel.get_id() not in [c.get_id() for c in image.get_channels()]:
            raise UserError(f"The channel “{channel.get_name()}” in “{channel_field}” is not a channel of "
                            "this image.")
        check_style(gfile, style_field)
        pairs.append((channel, gfile, style_field))
    if not pairs:
        raise UserError("Choose at least one region: a channel (a saved selection: Select > Save to Channel) "
                        "in “Region 1: channel” and a style image for it in “Region 1: style image”.")
    return pairs


def _regions_crop(image, layer, pairs, whole_layer):
    """The part of the layer to send: all of it on the canvas when `whole_layer` (a style for the
    rest covers everything), else the channels' extent with some context around it."""
    full = canvas(image)
    visible = layer_rect(layer).intersect(full)
    if visible is None:
        raise UserError(f"The layer “{layer.get_name()}” lies outside the canvas.")
    found = [Rect.bounds(read(channel, full, mask_format(channel)), full.width, full.height)
             for channel, _, _ in pairs]
    found = [rect for rect in found if rect is not None]
    area = functools.reduce(Rect.union, found).intersect(visible) if found else None
    if area is None:
        raise UserError(f"The regions do not overlap the layer “{layer.get_name()}”.")
    return visible if whole_layer else area.grow(visible)


def _regions_files(layer, pairs, rest_file, crop):
    w, h = crop.width, crop.height
    files = {"image": png_file("image", _layer_pixels(layer, crop), w, h, 4)}
    for index, (channel, gfile, field) in enumerate(pairs):
        mask = read(channel, crop, mask_format(channel))
        if not mask.strip(b"\x00"):
            raise UserError(f"The channel “{channel.get_name()}” selects nothing on the layer "
                            f"“{layer.get_name()}”.")
        files[f"mask{index}"] = png_file(f"mask{index}", mask, w, h, 1)
        files[f"style{index}"] = _style_file(gfile, field)
    if rest_file is not None:
        files["rest"] = _style_file(rest_file, REST_FIELD)
    return files


def stylize_regions(image, drawables, config, run_mode):
    layer = require_layer(image, drawables[0])
    pairs = _region_pairs(image, config)
    rest_file = config.get_property("rest-file")
    crop = _regions_crop(image, layer, pairs, whole_layer=rest_file is not None)
    files = _regions_files(layer, pairs, rest_file, crop)
    names = [f"Stylized ({_style_stem(gfile)})" for _, gfile, _ in pairs]
    params = {**_stylize_params(config), "seam": config.get_property("seam"), "names": names}
    if rest_file is not None:
        names.append(f"Stylized ({_style_stem(rest_file)}, the rest)")
        params["rest_name"] = names[-1]
    progress = Progress("Maskstyle: stylizing the regions")
    client = connect(progress)
    infos = result_layers(client, "stylize", params, files, progress, count=len(names))
    results = []
    for name, info in zip(names, infos):  # bottom to top, as the backend lists them
        width, height, rgba = decode_png(client.fetch(info["url"]))
        results.append((name, _placed(info, crop, width, height), rgba))
    add_layer_group(image, layer, REGIONS_GROUP, results)


# ---------------------------------------------------------------- Harmonize Layer

def _harmonize_job(image, layer, params):
    """(job, source pixels, crop) for one layer; checked before anything is sent."""
    if not layer.get_visible():
        raise UserError(f"The layer “{layer.get_name()}” is hidden: show it to harmonize it.")
    rect, full = layer_rect(layer), canvas(image)
    area = rect.intersect(full)
    if area is None:
        raise UserError(f"The layer “{layer.get_name()}” lies outside the canvas.")
    crop = area.grow(full)
    source = read(layer, whole(layer), RGBA)
    mask = alpha_in(source, rect, crop)
    if not any(mask):
        raise UserError(f"The layer “{layer.get_name()}” is fully transparent.")
    files = {
        "image": png_file("image", visible_through(image, layer, crop), crop.width, crop.height, 4),
        "mask": png_file("mask", mask, crop.width, crop.height, 1),
    }
    return (layer, "harmonize", params, files), source, crop


def harmonize(image, drawables, config, run_mode):
    layers = require_layers(image, drawables)
    params = {"mode": config.get_property("mode"), "strength": config.get_property("strength")}
    prepared = [_harmonize_job(image, layer, params) for layer in layers]
    results = run_layer_jobs([job for job, _, _ in prepared], "Maskstyle: harmonizing the layer")
    items = []
    for layer, (_, source, crop), (info, data) in zip(layers, prepared, results):
        width, height, result = decode_png(data)
        items.append((layer, f"Harmonized ({layer.get_name()})",
                      with_rgb_from(source, layer_rect(layer), result, _placed(info, crop, width, height))))
    add_layers_above(image, items)


# ---------------------------------------------------------------- Portrait Blur

def portrait_blur(image, drawables, config, run_mode):
    layer = require_layer(image, drawables[0])
    if selection_bounds(image) is None:
        raise UserError("Nothing is selected: select the subject to keep sharp first "
                        "(Select > Maskstyle > Select Subject… can do it).")
    rect = layer_rect(layer)
    crop = rect.intersect(canvas(image))
    mask = read_selection(image, crop) if crop else b""
    if not mask.strip(b"\x00"):
        raise UserError(f"The selection does not overlap the layer “{layer.get_name()}”.")
    if not mask.strip(b"\xff"):
        raise UserError(f"The whole layer “{layer.get_name()}” is selected: select only the subject, "
                        "so that there is a background to blur.")
    params = {"name": "Portrait blur"}
    if config.get_property("radius") > 0:
        params["radius"] = config.get_property("radius")
    files = {
        "image": png_file("image", _layer_pixels(layer, crop), crop.width, crop.height, 4),
        "mask": png_file("mask", mask, crop.width, crop.height, 1),
    }
    client, info = run_job("blur", params, files, "Maskstyle: blurring the background")
    width, height, result = decode_png(client.fetch(info["url"]))
    source = read(layer, whole(layer), RGBA)
    add_layer_above(image, layer, "Portrait blur",
                    with_rgb_from(source, rect, result, _placed(info, crop, width, height)))


# ---------------------------------------------------------------- Select Subject

def select_subject(image, drawables, config, run_mode):
    target = config.get_property("target")
    operation = SELECTION_OPERATIONS[config.get_property("operation")]
    full = canvas(image)
    w, h = full.width, full.height
    files = {}
    if target == "refine":
        if selection_bounds(image) is None:
            raise UserError("Refine improves the current selection: select roughly around the subject first.")
        files["hint"] = png_file("hint", read_selection(image, full), w, h, 1)
    files["image"] = png_file("image", visible_rgba(image), w, h, 4)

    client, info = run_job("segment", {"target": target}, files, "Maskstyle: selecting the subject")
    mask_w, mask_h, rgba = decode_png(client.fetch(info["url"]))
    select_mask(image, mask_from_alpha(rgba, _placed(info, full, mask_w, mask_h), w, h), operation)


# ---------------------------------------------------------------- checks before a job starts

def _check_stylize(image, layers, config):
    check_style(config.get_property("style-file"))


def _check_regions(image, layers, config):
    _region_pairs(image, config)
    rest = config.get_property("rest-file")
    if rest is not None:
        check_style(rest, REST_FIELD)


def _check_blur(image, layers, config):
    if selection_bounds(image) is None:
        raise UserError("Nothing is selected: select the subject to keep sharp first "
                        "(Select > Maskstyle > Select Subject… can do it).")


def _check_select(image, layers, config):
    if config.get_property("target") == "refine" and selection_bounds(image) is None:
        raise UserError("Refine improves the current selection: select roughly around the subject first.")


def _check_harmonize(image, layers, config):
    for layer in layers:
        if not layer.get_visible():
            raise UserError(f"The layer “{layer.get_name()}” is hidden: show it to harmonize it.")


CHECKS = {"stylize": _check_stylize, "stylize_regions": _check_regions, "portrait_blur": _check_blur,
          "select_subject": _check_select, "harmonize": _check_harmonize}


def check(work, image, layers, config):
    """What can be checked before a job starts, for the procedure whose work this is: UserError
    in the dialog's own words when something is missing."""
    CHECKS[work.__name__](image, layers, config)


def auto_blur_radius(image, layer):
    """The radius the backend picks when none is given, for this layer's part of the canvas:
    about 1.2% of its longest side (engine.blur.auto_radius)."""
    area = layer_rect(layer).intersect(canvas(image)) if layer is not None else None
    area = area or canvas(image)
    return max(2, round(0.012 * max(area.width, area.height)))
