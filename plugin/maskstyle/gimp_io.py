"""Pixels in and out of GIMP: reading and writing drawables and the selection, results decoded
into layers, new layers inserted in one undo group, and GIMP's progress bar and messages."""

from __future__ import annotations

import os
import tempfile

import gi

gi.require_version("Babl", "0.1")
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Gtk", "3.0")
from gi.repository import Babl, Gegl, Gimp, Gtk  # noqa: E402

from maskstyle_wire.errors import BackendError  # noqa: E402
from maskstyle_wire.geometry import Rect  # noqa: E402
from maskstyle_wire.pixels import split_alpha  # noqa: E402

RGBA = "R'G'B'A u8"
RGB = "R'G'B' u8"
MASK = "Y u8"  # the selection and layer masks store linear coverage
SELECTION_OPERATIONS = {
    "replace": Gimp.ChannelOps.REPLACE,
    "add": Gimp.ChannelOps.ADD,
    "subtract": Gimp.ChannelOps.SUBTRACT,
    "intersect": Gimp.ChannelOps.INTERSECT,
}


# ---------------------------------------------------------------- reading and writing

def layer_rect(layer) -> Rect:
    """Where the layer lies in the image."""
    _, x, y = layer.get_offsets()
    return Rect(x, y, layer.get_width(), layer.get_height())


def whole(drawable) -> Rect:
    """All of a drawable, in its own coordinates."""
    return Rect(0, 0, drawable.get_width(), drawable.get_height())


def canvas(image) -> Rect:
    return Rect(0, 0, image.get_width(), image.get_height())


def read(drawable, rect, fmt) -> bytes:
    """Pixels of rect (in the drawable's own coordinates) as bytes."""
    region = Gegl.Rectangle.new(*rect)
    return bytes(drawable.get_buffer().get(region, 1.0, fmt, Gegl.AbyssPolicy.NONE))


def write(drawable, fmt, data):
    """Replace all of a drawable's pixels."""
    buffer = drawable.get_buffer()
    buffer.set(buffer.get_extent(), fmt, data)
    buffer.flush()
    drawable.update(0, 0, drawable.get_width(), drawable.get_height())


def mask_format(drawable):
    """The 8-bit format that reads and writes a mask drawable's own values as they are: channels
    and layer masks of 8-bit perceptual images hold Y', and GIMP uses those values as coverage."""
    return "Y' u8" if Babl.get_name(drawable.get_format()).startswith("Y'") else MASK


def selection_bounds(image) -> Rect | None:
    """The selection's bounds, or None when nothing is selected."""
    _, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    return Rect(x1, y1, x2 - x1, y2 - y1) if non_empty else None


def read_selection(image, rect) -> bytes:
    return read(image.get_selection(), rect, MASK)


def visible_rgba(image) -> bytes:
    """RGBA of the whole visible image."""
    visible = Gimp.Layer.new_from_visible(image, image, "maskstyle visible")
    try:
        return read(visible, canvas(image), RGBA)
    finally:
        visible.delete()


def visible_through(image, layer, rect) -> bytes:
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
            return read(visible, rect, RGBA)
        finally:
            visible.delete()
    finally:
        copy.delete()


def flattened_rgb(gfile):
    """(width, height, RGB) of an image file GIMP can open, flattened; None when it cannot."""
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, gfile)
    if image is None:
        return None
    try:
        flat = image.flatten()
        return flat.get_width(), flat.get_height(), read(flat, whole(flat), RGB)
    finally:
        image.delete()


_gegl_operations = False


def _gegl_operations_ready():
    """GEGL's operations (gegl:png-load ...) in this process. A GIMP 3.0 plug-in gets GEGL
    buffers, but GEGL itself is not initialised: its operation registry is empty until
    Gegl.init is called, and creating an operation node before that crashes the process."""
    global _gegl_operations
    if not _gegl_operations:
        Gegl.init(None)
        _gegl_operations = True


def decode_png(data):
    """(width, height, RGBA) of a PNG, decoded in this process by GEGL's png-load (libpng).

    Not with Gimp.file_load_layer: that runs GIMP's file-png plug-in in a process of its own,
    and with GIMP 3.0 every such call can end in "file-png: gimp_flush(): error: Broken pipe"
    in GIMP's terminal (3.0's core closes its end of a plug-in's pipe as soon as the return
    values arrive, while 3.0's libgimp still writes a last QUIT message after them). Nor with
    maskstyle_wire.png.decode (GIMP 2.10's bridge uses it): its row filters run in Python, about
    1.3 s for a 1024 x 1024 layer, where libpng takes milliseconds."""
    with tempfile.TemporaryDirectory(prefix="maskstyle-") as folder:
        path = os.path.join(folder, "layer.png")
        with open(path, "wb") as handle:
            handle.write(data)
        _gegl_operations_ready()
        graph = Gegl.Node()
        load = graph.create_child("gegl:png-load")
        load.set_property("path", path)
        extent = load.get_bounding_box()
        if extent.width <= 0 or extent.height <= 0:
            raise BackendError("The maskstyle backend sent a result that GIMP cannot read.")
        buffer = Gegl.Buffer.new(RGBA, 0, 0, extent.width, extent.height)
        sink = graph.create_child("gegl:write-buffer")
        sink.set_property("buffer", buffer)
        load.link(sink)
        sink.process()
        rgba = bytes(buffer.get(Gegl.Rectangle.new(0, 0, extent.width, extent.height), 1.0, RGBA,
                                Gegl.AbyssPolicy.NONE))
    return extent.width, extent.height, rgba


def new_layer(image, name, width, height):
    """A new, empty layer for image's type, opaque in Normal mode (not yet inserted)."""
    return Gimp.Layer.new(image, name, width, height, _layer_type(image), 100.0, Gimp.LayerMode.NORMAL)


def alpha_to_mask(layer, rgba):
    """Fill layer with rgba made opaque, and give it a layer mask holding rgba's alpha."""
    opaque, alpha = split_alpha(rgba)
    write(layer, RGBA, opaque)
    mask = layer.create_mask(Gimp.AddMaskType.BLACK)
    layer.add_mask(mask)
    write(mask, mask_format(mask), alpha)
    layer.set_edit_mask(False)  # adding a mask makes it the active item; the layer stays the active one


# ---------------------------------------------------------------- changing the image

def _layer_type(image):
    return Gimp.ImageType.GRAYA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.GRAY \
        else Gimp.ImageType.RGBA_IMAGE


def _insert_above(image, new_layer, below):
    image.insert_layer(new_layer, below.get_parent(), image.get_item_position(below))


def insert_all(image, placements):
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
    make_active(image, inserted)
    return inserted


def make_active(image, layers):
    """Leave the new layers themselves active (not their layer masks), as GIMP's own filters do,
    so that running a procedure again right away works on them."""
    for layer in layers:
        if layer.get_mask() is not None:
            layer.set_edit_mask(False)
    image.set_selected_layers(layers)


def add_layer_above(image, below, name, rgba):
    """A new layer with below's place, size, opacity and mode, filled with rgba, in one undo group."""
    return add_layers_above(image, [(below, name, rgba)])[0]


def add_layers_above(image, items):
    """For each (below, name, rgba), a new layer like add_layer_above's; all in one undo group."""
    placements = []
    for below, name, rgba in items:
        rect = layer_rect(below)
        layer = Gimp.Layer.new(image, name, rect.width, rect.height, _layer_type(image), below.get_opacity(),
                               below.get_mode())
        placements.append((layer, below, _filled_at(rect, rgba)))
    return insert_all(image, placements)


def _filled_at(rect, rgba):
    def finish(layer):
        layer.set_offsets(rect.x, rect.y)
        write(layer, RGBA, rgba)
    return finish


def add_layer_group(image, below, group_name, results):
    """A layer group directly above `below` holding one layer per result (name, rect, rgba),
    listed bottom to top. Each layer is opaque, with the result's alpha as its layer mask.
    One undo group; if a step fails, the group is removed again."""
    group = Gimp.GroupLayer.new(image, group_name)
    inserted, layers = False, []
    image.undo_group_start()
    try:
        _insert_above(image, group, below)
        inserted = True
        for name, rect, rgba in results:
            layer = new_layer(image, name, rect.width, rect.height)
            image.insert_layer(layer, group, 0)
            layer.set_offsets(rect.x, rect.y)
            alpha_to_mask(layer, rgba)
            layers.append(layer)
    except Exception:
        if inserted:
            image.remove_layer(group)
        else:
            group.delete()
        raise
    finally:
        image.undo_group_end()
    make_active(image, layers[-1:])  # the top region's layer
    return group


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
        write(channel, mask_format(channel), mask)
        image.select_item(operation, channel)
    finally:
        if channel is not None:
            image.remove_channel(channel)
        Gimp.context_pop()
        image.undo_group_end()


# ---------------------------------------------------------------- talking to the user

def ask(question):
    """A yes/no dialog; True for yes."""
    dialog = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION, buttons=Gtk.ButtonsType.YES_NO,
                               text=question)
    answer = dialog.run()
    dialog.destroy()
    return answer == Gtk.ResponseType.YES


def show_message(text):
    """A message in GIMP's message area (the error console, or the terminal in batch runs)."""
    Gimp.message(text)


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
