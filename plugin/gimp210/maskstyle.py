#!/usr/bin/env python2
# -*- coding: utf-8 -*-
"""maskstyle for GIMP 2.10 (Python-Fu): Stylize Selection, Stylize Regions, Harmonize Layer,
Portrait Blur and Select Subject, with the GIMP 3 plug-in's PDB names and arguments.

GIMP 2.10's Python is 2.7, so the backend client runs in Python 3 beside it: this file reads
the pixels, maskstyle_link.py hands them to `python3 -m maskstyle_wire.bridge` and reads its
progress and results back, and this file adds the results as new layers (each one's alpha
becomes its layer mask), all in one undo group. Existing pixels are never changed. The
arguments come from maskstyle_args.py, which is generated from the wire contract.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gimpfu import (CHANNEL_OP_ADD, CHANNEL_OP_INTERSECT, CHANNEL_OP_REPLACE, CHANNEL_OP_SUBTRACT,  # noqa: E402
                    GRAYA_IMAGE, NORMAL_MODE, PF_CHANNEL, PF_DRAWABLE, PF_FILE, PF_IMAGE, PF_INT32, PF_RADIO,
                    PF_SLIDER, PF_TOGGLE, RGBA_IMAGE, gimp, main, pdb, register)

import maskstyle_link as link  # noqa: E402
from maskstyle_args import ARGUMENTS  # noqa: E402
from maskstyle_link import Cancelled, UserError  # noqa: E402

STYLIZE = "plug-in-maskstyle-stylize-selection"
STYLIZE_REGIONS = "plug-in-maskstyle-stylize-regions"
HARMONIZE = "plug-in-maskstyle-harmonize-layer"
PORTRAIT_BLUR = "plug-in-maskstyle-portrait-blur"
SELECT_SUBJECT = "plug-in-maskstyle-select-subject"
REGIONS_GROUP = "Stylized regions"
GRAY, PRECISION_U8 = 1, (150,)  # GRAY base type; 8-bit perceptual (gamma) precision
SELECTION_OPERATIONS = {"replace": CHANNEL_OP_REPLACE, "add": CHANNEL_OP_ADD, "subtract": CHANNEL_OP_SUBTRACT,
                        "intersect": CHANNEL_OP_INTERSECT}


# ---------------------------------------------------------------- reading and writing pixels

def layer_rect(layer):
    x, y = layer.offsets
    return (x, y, layer.width, layer.height)


def canvas(image):
    return (0, 0, image.width, image.height)


def read(drawable, rect):
    """The drawable's own bytes in rect (in the drawable's coordinates)."""
    x, y, w, h = rect
    return drawable.get_pixel_rgn(x, y, w, h, False, False)[x:x + w, y:y + h]


def write(drawable, data):
    w, h = drawable.width, drawable.height
    region = drawable.get_pixel_rgn(0, 0, w, h, True, False)
    region[0:w, 0:h] = data
    drawable.flush()
    drawable.update(0, 0, w, h)


def read_in_image(layer, crop):
    """The layer's bytes in crop (image coordinates, inside the layer)."""
    x, y = layer.offsets
    return read(layer, (crop[0] - x, crop[1] - y, crop[2], crop[3]))


def read_selection(image, crop):
    """The selection's own values in crop: written into a layer mask as they are, they select
    the same (the plug-in runs with precision enabled, so nothing is converted)."""
    return read(image.selection, crop)


def selection_bounds(image):
    non_empty, x1, y1, x2, y2 = pdb.gimp_selection_bounds(image)
    return (x1, y1, x2 - x1, y2 - y1) if non_empty else None


def check_image(image):
    if pdb.gimp_image_get_precision(image) not in PRECISION_U8:
        raise UserError("maskstyle for GIMP 2.10 works on 8-bit perceptual images: choose Image > "
                        "Precision > 8 bit integer, and Perceptual gamma (sRGB), first.")
    if pdb.gimp_image_base_type(image) not in (0, GRAY):
        raise UserError("maskstyle works on RGB and grayscale images: choose Image > Mode > RGB first.")


def require_layer(image, drawable):
    check_image(image)
    if pdb.gimp_image_get_floating_sel(image) is not None:
        raise UserError("Anchor the floating selection, or make it a layer (Layer > To New Layer), first.")
    if drawable is None or not pdb.gimp_item_is_layer(drawable) or pdb.gimp_item_is_group(drawable):
        raise UserError("Choose a single pixel layer (not a group, channel or layer mask).")
    return drawable


def is_gray(image):
    return pdb.gimp_image_base_type(image) == GRAY


def alpha_channels(image):
    """(bytes per pixel of a new layer with alpha, the bridge's result channels) for the image."""
    return (2, 2) if is_gray(image) else (4, 4)


def with_alpha(layer, data):
    """A layer's bytes with an alpha channel (255 where it has none)."""
    if layer.has_alpha:
        return data
    bpp = layer.bpp
    out = bytearray(len(data) // bpp * (bpp + 1))
    for c in range(bpp):
        out[c::bpp + 1] = data[c::bpp]
    out[bpp::bpp + 1] = b"\xff" * (len(data) // bpp)
    return bytes(out)


def new_layer(image, name, rect, opacity=100.0, mode=NORMAL_MODE):
    layer = gimp.Layer(image, name, rect[2], rect[3], GRAYA_IMAGE if is_gray(image) else RGBA_IMAGE, opacity, mode)
    return layer


def insert_above(image, layer, below):
    pdb.gimp_image_insert_layer(image, layer, pdb.gimp_item_get_parent(below),
                                pdb.gimp_image_get_item_position(image, below))


def masked(layer, pixels, bpp):
    """Fill layer with pixels made opaque, and give it a layer mask holding their alpha."""
    opaque, alpha = link.split_alpha(pixels, bpp)
    write(layer, opaque)
    mask = pdb.gimp_layer_create_mask(layer, 1)  # black, then the alpha's own values
    pdb.gimp_layer_add_mask(layer, mask)
    write(mask, alpha)


def in_undo_group(image, steps):
    """Run steps() in one undo group; on failure, remove what it inserted (it returns nothing then)."""
    inserted = []
    pdb.gimp_image_undo_group_start(image)
    try:
        steps(inserted)
    except Exception:
        for item in reversed(inserted):
            pdb.gimp_image_remove_layer(image, item)
        raise
    finally:
        pdb.gimp_image_undo_group_end(image)


# ---------------------------------------------------------------- progress and the bridge

class Progress(object):
    def __init__(self, title):
        self.title, self.stage = title, None
        gimp.progress_init(title)

    def starting(self, seconds):
        pdb.gimp_progress_set_text("Starting the maskstyle backend... %d s" % int(seconds))
        pdb.gimp_progress_pulse()

    def job(self, fraction, stage):
        if stage and stage != self.stage:
            self.stage = stage
            pdb.gimp_progress_set_text("Maskstyle: " + stage)
        gimp.progress_update(min(max(fraction, 0.0), 1.0))


def run_job(image, op, params, parts, title, count=1):
    progress = Progress(title)
    layers, final = link.run_job(op, params, parts, progress.job, progress.starting, count,
                                 alpha_channels(image)[1])
    for warning in final.get("warnings") or []:
        gimp.message("Maskstyle: " + warning[:1].upper() + warning[1:])
    return layers


def placed(result, crop):
    """(x, y, w, h) in the image of a result (name, x, y, w, h, pixels) of a job sent for crop."""
    return (crop[0] + result[1], crop[1] + result[2], result[3], result[4])


# ---------------------------------------------------------------- the procedures

def style_part(path):
    """A style image as a file part: PNG and JPEG files as they are, other files GIMP can open
    as their flattened pixels."""
    if not path or not os.path.isfile(path):
        raise UserError("Choose a style image (the Style file is not set or does not exist).")
    if os.path.splitext(path)[1].lower() in (".png", ".jpg", ".jpeg"):
        return path
    try:
        style = pdb.gimp_file_load(path, path)
    except RuntimeError:
        raise UserError("GIMP cannot open the style image %s." % path)
    try:
        if pdb.gimp_image_base_type(style) != 0:
            pdb.gimp_image_convert_rgb(style)
        pdb.gimp_image_convert_precision(style, 150)
        layer = pdb.gimp_image_flatten(style)
        return (read(layer, (0, 0, layer.width, layer.height)), layer.width, layer.height, layer.bpp)
    finally:
        pdb.gimp_image_delete(style)


def style_stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def stylize_params(strength, quality, preserve_color, seed, seam, method):
    return {"strength": float(strength), "quality": quality, "preserve_color": bool(preserve_color),
            "seed": int(seed), "seam": seam, "method": method}


def stylize_selection(image, drawable, style_file, strength, quality, preserve_color, seed, seam, method):
    layer = require_layer(image, drawable)
    selection = selection_bounds(image)
    if selection is None:
        raise UserError("Nothing is selected: select the area to stylize first.")
    style = style_part(style_file)
    rect = layer_rect(layer)
    area = link.intersect(selection, rect)
    crop = link.grow(area, rect) if area else None
    mask = read_selection(image, crop) if crop else b""
    if not mask.strip(b"\x00"):
        raise UserError("The selection does not overlap the layer \xe2\x80\x9c%s\xe2\x80\x9d." % layer.name)
    parts = {"image": (read_in_image(layer, crop), crop[2], crop[3], layer.bpp),
             "mask": (mask, crop[2], crop[3], 1), "style": style}
    params = stylize_params(strength, quality, preserve_color, seed, seam, method)
    result = run_job(image, "stylize", params, parts, "Maskstyle: stylizing the selection")[0]
    name = "Stylized (%s)" % style_stem(style_file)
    where = placed(result, crop)

    def steps(inserted):
        added = new_layer(image, name, where)
        insert_above(image, added, layer)
        inserted.append(added)
        added.set_offsets(where[0], where[1])
        masked(added, result[5], alpha_channels(image)[0])
    in_undo_group(image, steps)


def stylize_regions(image, drawable, channel_1, style_file_1, channel_2, style_file_2, channel_3, style_file_3,
                    rest_file, strength, quality, preserve_color, seed, seam, method):
    layer = require_layer(image, drawable)
    pairs = []
    for slot, (channel, path) in enumerate([(channel_1, style_file_1), (channel_2, style_file_2),
                                            (channel_3, style_file_3)], 1):
        if channel is None and not path:
            continue
        if channel is None or not path:
            raise UserError("Region %d has no %s: choose both a channel and a style image, or neither."
                            % (slot, "channel" if channel is None else "style image"))
        if channel.ID not in [c.ID for c in image.channels]:
            raise UserError("The channel \xe2\x80\x9c%s\xe2\x80\x9d of region %d is not a channel of this image."
                            % (channel.name, slot))
        pairs.append((channel, path))
    if not pairs:
        raise UserError("Choose at least one region: a saved selection (Select > Save to Channel) and a "
                        "style image for it.")
    full = canvas(image)
    visible = link.intersect(layer_rect(layer), full)
    if visible is None:
        raise UserError("The layer \xe2\x80\x9c%s\xe2\x80\x9d lies outside the canvas." % layer.name)
    found = [link.bounds(read(channel, full), full[2], full[3]) for channel, _ in pairs]
    found = [rect for rect in found if rect is not None]
    area = reduce(link.union, found) if found else None  # noqa: F821 (Python 2)
    area = link.intersect(area, visible) if area else None
    if area is None:
        raise UserError("The regions do not overlap the layer \xe2\x80\x9c%s\xe2\x80\x9d." % layer.name)
    crop = visible if rest_file else link.grow(area, visible)
    parts = {"image": (read_in_image(layer, crop), crop[2], crop[3], layer.bpp)}
    for index, (channel, path) in enumerate(pairs):
        mask = read(channel, crop)
        if not mask.strip(b"\x00"):
            raise UserError("The channel \xe2\x80\x9c%s\xe2\x80\x9d selects nothing on the layer "
                            "\xe2\x80\x9c%s\xe2\x80\x9d." % (channel.name, layer.name))
        parts["mask%d" % index] = (mask, crop[2], crop[3], 1)
        parts["style%d" % index] = style_part(path)
    names = ["Stylized (%s)" % style_stem(path) for _, path in pairs]
    params = stylize_params(strength, quality, preserve_color, seed, seam, method)
    if rest_file:
        parts["rest"] = style_part(rest_file)
        names.append("Stylized (%s, the rest)" % style_stem(rest_file))
        params["rest_name"] = names[-1]
    params["names"] = names[:len(pairs)]
    results = run_job(image, "stylize", params, parts, "Maskstyle: stylizing the regions", count=len(names))
    bpp = alpha_channels(image)[0]

    def steps(inserted):
        group = pdb.gimp_layer_group_new(image)
        group.name = REGIONS_GROUP
        insert_above(image, group, layer)
        inserted.append(group)
        for name, result in zip(names, results):  # bottom to top, as the backend lists them
            where = placed(result, crop)
            added = new_layer(image, name, where)
            pdb.gimp_image_insert_layer(image, added, group, 0)
            added.set_offsets(where[0], where[1])
            masked(added, result[5], bpp)
    in_undo_group(image, steps)


def visible_through(image, layer, crop):
    """What is visible in crop with every layer above `layer` hidden, with alpha."""
    path, item = [], layer
    while item is not None:
        path.insert(0, pdb.gimp_image_get_item_position(image, item))
        item = pdb.gimp_item_get_parent(item)
    copy = pdb.gimp_image_duplicate(image)
    try:
        siblings = copy.layers
        for depth, index in enumerate(path):
            for above in siblings[:index]:
                above.visible = False
            if depth < len(path) - 1:
                siblings = siblings[index].children
        pdb.gimp_selection_none(copy)
        visible = pdb.gimp_layer_new_from_visible(copy, copy, "visible")
        pdb.gimp_image_insert_layer(copy, visible, None, 0)
        if visible.bpp in (1, 3):
            pdb.gimp_layer_add_alpha(visible)
        return read(visible, crop), visible.bpp
    finally:
        pdb.gimp_image_delete(copy)


def harmonize_layer(image, drawable, mode, strength):
    layer = require_layer(image, drawable)
    if not layer.visible:
        raise UserError("The layer \xe2\x80\x9c%s\xe2\x80\x9d is hidden: show it to harmonize it." % layer.name)
    rect, full = layer_rect(layer), canvas(image)
    area = link.intersect(rect, full)
    if area is None:
        raise UserError("The layer \xe2\x80\x9c%s\xe2\x80\x9d lies outside the canvas." % layer.name)
    crop = link.grow(area, full)
    source = with_alpha(layer, read(layer, (0, 0, rect[2], rect[3])))
    bpp = alpha_channels(image)[0]
    mask = link.alpha_in(source, bpp, rect, crop)
    if not mask.strip(b"\x00"):
        raise UserError("The layer \xe2\x80\x9c%s\xe2\x80\x9d is fully transparent." % layer.name)
    below, below_bpp = visible_through(image, layer, crop)
    parts = {"image": (below, crop[2], crop[3], below_bpp), "mask": (mask, crop[2], crop[3], 1)}
    result = run_job(image, "harmonize", {"mode": mode, "strength": float(strength)}, parts,
                     "Maskstyle: harmonizing the layer")[0]
    add_copy_above(image, layer, "Harmonized (%s)" % layer.name,
                   link.with_color_from(source, rect, result[5], placed(result, crop), bpp))


def add_copy_above(image, below, name, pixels):
    """A new layer with below's place, size, opacity and mode, holding pixels; one undo group."""
    rect = layer_rect(below)

    def steps(inserted):
        added = new_layer(image, name, rect, below.opacity, below.mode)
        insert_above(image, added, below)
        inserted.append(added)
        added.set_offsets(rect[0], rect[1])
        write(added, pixels)
    in_undo_group(image, steps)


def portrait_blur(image, drawable, radius):
    layer = require_layer(image, drawable)
    if selection_bounds(image) is None:
        raise UserError("Nothing is selected: select the subject to keep sharp first "
                        "(Select > Maskstyle > Select Subject... can do it).")
    rect = layer_rect(layer)
    crop = link.intersect(rect, canvas(image))
    mask = read_selection(image, crop) if crop else b""
    if not mask.strip(b"\x00"):
        raise UserError("The selection does not overlap the layer \xe2\x80\x9c%s\xe2\x80\x9d." % layer.name)
    if not mask.strip(b"\xff"):
        raise UserError("The whole layer \xe2\x80\x9c%s\xe2\x80\x9d is selected: select only the subject, "
                        "so that there is a background to blur." % layer.name)
    params = {"name": "Portrait blur"}
    if radius > 0:
        params["radius"] = float(radius)
    parts = {"image": (read_in_image(layer, crop), crop[2], crop[3], layer.bpp), "mask": (mask, crop[2], crop[3], 1)}
    result = run_job(image, "blur", params, parts, "Maskstyle: blurring the background")[0]
    source = with_alpha(layer, read(layer, (0, 0, rect[2], rect[3])))
    add_copy_above(image, layer, "Portrait blur",
                   link.with_color_from(source, rect, result[5], placed(result, crop), alpha_channels(image)[0]))


def select_subject(image, drawable, target, operation):
    check_image(image)
    if operation not in SELECTION_OPERATIONS:
        raise UserError("operation must be one of %s, not '%s'" % (", ".join(sorted(SELECTION_OPERATIONS)), operation))
    full = canvas(image)
    w, h = full[2], full[3]
    parts = {}
    if target == "refine":
        if selection_bounds(image) is None:
            raise UserError("Refine improves the current selection: select roughly around the subject first.")
        parts["hint"] = (read_selection(image, full), w, h, 1)
    copy = pdb.gimp_image_duplicate(image)
    try:
        visible = pdb.gimp_layer_new_from_visible(copy, copy, "visible")
        pdb.gimp_image_insert_layer(copy, visible, None, 0)
        parts["image"] = (read(visible, (0, 0, visible.width, visible.height)), w, h, visible.bpp)
    finally:
        pdb.gimp_image_delete(copy)
    result = run_job(image, "segment", {"target": target}, parts, "Maskstyle: selecting the subject")[0]
    bpp = alpha_channels(image)[0]
    mask = link.alpha_in(result[5], bpp, placed(result, full), full)
    # Selecting a channel copies its own values, so the selection gets the mask's values.
    pdb.gimp_image_undo_group_start(image)
    pdb.gimp_context_push()
    channel = None
    try:
        pdb.gimp_context_set_feather(False)
        channel = pdb.gimp_channel_new(image, w, h, "maskstyle subject", 50.0, (0, 0, 0))
        pdb.gimp_image_insert_channel(image, channel, None, 0)
        write(channel, mask)
        pdb.gimp_image_select_item(image, SELECTION_OPERATIONS[operation], channel)
    finally:
        if channel is not None:
            pdb.gimp_image_remove_channel(image, channel)
        pdb.gimp_context_pop()
        pdb.gimp_image_undo_group_end(image)


# ---------------------------------------------------------------- registration

PF_KINDS = {"file": PF_FILE, "slider": PF_SLIDER, "radio": PF_RADIO, "toggle": PF_TOGGLE, "spinner": PF_INT32,
            "channel": PF_CHANNEL}


def gimpfu_params(name):
    params = [(PF_IMAGE, "image", "Input image", None), (PF_DRAWABLE, "drawable", "Input drawable", None)]
    for kind, nick, label, default, extra in ARGUMENTS[name]:
        if kind == "spinner":  # an int argument (PF_SPINNER would make it a float); its range is checked
            params.append((PF_INT32, nick, "%s (%d to %d)" % (label, extra[0], extra[1]), default))
        elif kind == "toggle":
            params.append((PF_TOGGLE, nick, label, int(default)))
        elif extra is None:
            params.append((PF_KINDS[kind], nick, label, default))
        else:
            params.append((PF_KINDS[kind], nick, label, default, extra))
    return params


def checked(name, values):
    """The arguments after image and drawable, checked against their choices and ranges."""
    for (kind, nick, _, _, extra), value in zip(ARGUMENTS[name], values):
        if kind == "radio" and value not in [choice for _, choice in extra]:
            raise UserError("%s must be one of %s, not '%s'" % (nick, ", ".join(c for _, c in extra), value))
        if kind in ("slider", "spinner") and not extra[0] <= value <= extra[1]:
            raise UserError("%s must be between %s and %s, not %s" % (nick, extra[0], extra[1], value))


def fail(message):
    """End the run with an error: the message goes to GIMP's message area (a dialog in GIMP, the
    terminal in batch runs) and the procedure returns an execution error. GIMP 2.10's Python-Fu
    cannot hand a message back to a calling script, which sees only that it failed."""
    gimp.message(message)
    sys.excepthook = lambda *error: None  # Python-Fu would print a traceback for a message already shown
    raise RuntimeError(message)


def _procedure(name, work):
    def run(image, drawable, *values):
        # Pixels as GIMP keeps them (not converted to the 8-bit "compat" encoding): masks then
        # hold the selection's and channels' own values, which GIMP copies between them as they are.
        pdb.gimp_plugin_enable_precision()
        try:
            checked(name, values)
            work(image, drawable, *values)
        except Cancelled:
            return
        except UserError as err:
            fail(str(err))
        except Exception as err:  # a bug: the traceback to the terminal, a message to the user
            import traceback
            traceback.print_exc()
            fail("maskstyle stopped on an unexpected error: %s" % err)
        finally:
            pdb.gimp_progress_end()
        gimp.displays_flush()
    return run


PROCEDURES = {
    STYLIZE: dict(work=stylize_selection, label="Stylize Selection...", menu="<Image>/Filters/Maskstyle",
                  blurb="Restyle the selected area with the style of an image",
                  help="Sends the layer and the selection to the maskstyle backend and adds the result as a "
                       "new layer, masked by the selection (redrawn near its edge when a seam is chosen), "
                       "directly above the layer."),
    STYLIZE_REGIONS: dict(work=stylize_regions, label="Stylize Regions...", menu="<Image>/Filters/Maskstyle",
                          blurb="Restyle several saved selections, each with its own style",
                          help="Stylizes the layer in one pass, each region (a channel) in the style of its own "
                               "image, and adds one layer per region, masked by its channel, in a new layer "
                               "group above the layer."),
    HARMONIZE: dict(work=harmonize_layer, label="Harmonize Layer...", menu="<Image>/Layer/Maskstyle",
                    extra_menus=["<Image>/Filters/Maskstyle"],
                    blurb="Match a pasted layer to what lies beneath it",
                    help="Adds a harmonized copy of the layer directly above it, with the same position and "
                         "transparency."),
    PORTRAIT_BLUR: dict(work=portrait_blur, label="Portrait Blur...", menu="<Image>/Filters/Maskstyle",
                        blurb="Blur the background like a lens, keeping the selected subject sharp",
                        help="Sends the layer, with the selection as the subject, to the maskstyle backend and "
                             "adds the result as a new layer, \"Portrait blur\", above the layer."),
    SELECT_SUBJECT: dict(work=select_subject, label="Select Subject...", menu="<Image>/Select/Maskstyle",
                         blurb="Select the main subject or a person, or refine the selection",
                         help="Segments the visible image with the maskstyle backend and combines the result "
                              "with the current selection."),
}


def register_all():
    for name, spec in PROCEDURES.items():
        register(name, spec["blurb"], spec["help"], "maskstyle authors", "maskstyle authors", "2025",
                 spec["label"], "RGB*, GRAY*", gimpfu_params(name), [], _procedure(name, spec["work"]),
                 menu=spec["menu"])


def run_plugin():
    """gimpfu's main(), with the second menu entries (Harmonize Layer under Filters too) added
    when GIMP queries the plug-in; gimpfu's register() takes one menu each."""
    import gimpfu
    query, run = getattr(gimpfu, "_query", None), getattr(gimpfu, "_run", None)
    if query is None or run is None:
        main()
        return

    def query_all():
        query()
        for name, spec in PROCEDURES.items():
            for path in spec.get("extra_menus", []):
                gimp.menu_register(name, path)
    gimp.main(None, None, query_all, run)


if __name__ == "__main__":
    register_all()
    run_plugin()
