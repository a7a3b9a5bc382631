"""The procedures' dialogs: GIMP's procedure dialog, with what an artist needs on top of it.

- OK is greyed out while something is missing, and a line under the fields says what, in the
  fields' own words (the same check runs again before the job starts).
- The Help button shows the procedure's help (helptext.py) instead of GIMP's user manual.
- Style image fields start in the folder last used for styles, show only images, with a
  preview; a "Recent styles" list sets the style image in one click.
- Portrait Blur shows the radius it would pick itself instead of 0.
"""

import os

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import GdkPixbuf, GimpUi, Gio, Gtk  # noqa: E402

import helptext  # noqa: E402
import remembered  # noqa: E402
from procedures import UserError, auto_blur_radius  # noqa: E402

STYLE_FIELDS = ("style-file", "style-file-1", "style-file-2", "style-file-3", "rest-file")
PREVIEW_SIZE = 160
CHOOSER_TITLE = "Choose a style image"


def run(procedure, config, title, image, check):
    """Show the dialog until the artist cancels, or presses OK with nothing missing; True on OK."""
    dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
    dialog.fill(None)
    name = procedure.get_name()
    problem_label = Gtk.Label(xalign=0.0, wrap=True, max_width_chars=60)
    problem_label.get_style_context().add_class("dim-label")
    dialog.get_content_area().pack_end(problem_label, False, False, 6)
    _recent_styles(dialog, config)
    _improve_style_choosers(dialog, config)
    shown_radius = _show_blur_radius(config, image) if "radius" in _names(config) else None

    def refresh(*_):
        try:
            check()
            problem = None
        except UserError as err:
            problem = str(err)
        dialog.set_response_sensitive(Gtk.ResponseType.OK, problem is None)
        problem_label.set_text(problem or "")
        problem_label.set_visible(problem is not None)

    _own_help_button(dialog, name)
    handler = config.connect("notify", refresh)
    dialog.show_all()
    refresh()
    try:
        while True:
            if not dialog.run():
                return False
            try:
                check()
            except UserError as err:
                message(dialog, str(err))
                continue
            if shown_radius is not None and abs(config.get_property("radius") - shown_radius) < 1e-9:
                config.set_property("radius", 0.0)  # left as shown: stay automatic for the next image
            return True
    finally:
        config.disconnect(handler)
        dialog.destroy()


def _own_help_button(dialog, name):
    """GIMP's Help button opens its user manual, which has no page for a plug-in (and says it is
    not installed); it is replaced by one that shows this procedure's page."""
    original = dialog.get_widget_for_response(Gtk.ResponseType.HELP)
    button = Gtk.Button.new_with_mnemonic("_Help")
    button.set_tooltip_text("What this does, and how to use it")
    button.connect("clicked", lambda _: show_help(dialog, name))
    if original is not None:
        box = original.get_parent()
        original.set_no_show_all(True)
        original.hide()
        box.pack_start(button, False, False, 0)
        if isinstance(box, Gtk.ButtonBox):
            box.set_child_secondary(button, box.child_get_property(original, "secondary"))
        box.reorder_child(button, 0)
    else:
        dialog.get_action_area().pack_start(button, False, False, 0)


def _names(config):
    return [spec.name for spec in config.list_properties()]


def message(parent, text):
    box = Gtk.MessageDialog(transient_for=parent, modal=True, message_type=Gtk.MessageType.WARNING,
                            buttons=Gtk.ButtonsType.OK, text=text)
    box.run()
    box.destroy()


def show_help(parent, procedure_name):
    """The procedure's help in a window of its own (GIMP's manual has no page for a plug-in)."""
    page = helptext.PAGES[procedure_name]
    window = Gtk.Dialog(title=f"Help: {page['title']}", transient_for=parent, modal=True)
    window.add_button("_Close", Gtk.ResponseType.CLOSE)
    window.set_default_size(520, 460)
    text = Gtk.Label(xalign=0.0, yalign=0.0, wrap=True, max_width_chars=70, selectable=True)
    text.set_markup(helptext.markup(procedure_name))
    scroller = Gtk.ScrolledWindow(hscrollbar_policy=Gtk.PolicyType.NEVER)
    scroller.add(text)
    scroller.set_vexpand(True)
    text.set_margin_start(12)
    text.set_margin_end(12)
    text.set_margin_top(8)
    window.get_content_area().pack_start(scroller, True, True, 0)
    window.show_all()
    window.run()
    window.destroy()


# ---------------------------------------------------------------- style images

def _file_choosers(widget):
    """Every Gtk.FileChooser (e.g. GtkFileChooserButton) inside widget."""
    found = []
    if isinstance(widget, Gtk.FileChooser):
        found.append(widget)
    if isinstance(widget, Gtk.Container):
        for child in widget.get_children():
            found.extend(_file_choosers(child))
    return found


def _image_filter():
    images = Gtk.FileFilter()
    images.set_name("Images")
    images.add_pixbuf_formats()
    for pattern in ("*.png", "*.jpg", "*.jpeg", "*.webp", "*.tif", "*.tiff", "*.xcf"):
        images.add_pattern(pattern)
        images.add_pattern(pattern.upper())
    everything = Gtk.FileFilter()
    everything.set_name("All files")
    everything.add_pattern("*")
    return images, everything


def _improve_style_choosers(dialog, config):
    folder = remembered.style_folder()
    names = _names(config)
    for field in (f for f in STYLE_FIELDS if f in names):
        try:
            widget = dialog.get_widget(field, GimpUi.FileChooser.__gtype__)
        except Exception:
            widget = None
        if widget is None:
            continue
        for chooser in _file_choosers(widget):
            if isinstance(chooser, Gtk.FileChooserButton):
                chooser.set_title(CHOOSER_TITLE)  # not GTK's "Select a File"
            images, everything = _image_filter()
            chooser.add_filter(images)
            chooser.add_filter(everything)
            chooser.set_filter(images)
            if folder:
                chooser.add_shortcut_folder(folder)  # in the chooser's sidebar
                if chooser.get_file() is None:
                    chooser.set_current_folder(folder)
            preview = Gtk.Image(margin_start=8, margin_end=8)
            chooser.set_preview_widget(preview)
            chooser.set_use_preview_label(False)
            chooser.connect("update-preview", _update_preview, preview)


def _update_preview(chooser, preview):
    path = chooser.get_preview_filename()
    try:
        pixbuf = GdkPixbuf.Pixbuf.new_from_file_at_size(path, PREVIEW_SIZE, PREVIEW_SIZE) if path else None
    except Exception:
        pixbuf = None
    preview.set_from_pixbuf(pixbuf)
    chooser.set_preview_widget_active(pixbuf is not None)


def _recent_styles(dialog, config):
    """A 'Recent styles' list under the fields: choosing one sets the (first) style image."""
    names = _names(config)
    field = "style-file" if "style-file" in names else ("style-file-1" if "style-file-1" in names else None)
    recent = remembered.recent_styles()
    if field is None or not recent:
        return
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    label = Gtk.Label(label="Recent st_yles:" if field == "style-file" else "Recent styles (region 1):",
                      use_underline=field == "style-file", xalign=0.0)
    combo = Gtk.ComboBoxText()
    combo.append("", "Choose a style used lately…")
    for path in recent:
        combo.append(path, os.path.basename(path))
    combo.set_active_id("")
    combo.set_tooltip_text("The styles used lately, newest first")
    label.set_mnemonic_widget(combo)

    def chosen(widget):
        path = widget.get_active_id()
        if path:
            config.set_property(field, Gio.File.new_for_path(path))

    def follow(*_):  # the list shows the style image when it is a recent one, else its prompt
        gfile = config.get_property(field)
        path = gfile.get_path() if gfile is not None else None
        combo.set_active_id(path if path in recent else "")
    combo.connect("changed", chosen)
    handler = config.connect(f"notify::{field}", follow)
    combo.connect("destroy", lambda *_: config.disconnect(handler))  # the config outlives the dialog
    follow()
    row.pack_start(label, False, False, 0)
    row.pack_start(combo, True, True, 0)
    dialog.get_content_area().pack_end(row, False, False, 6)


# ---------------------------------------------------------------- Portrait Blur

def _show_blur_radius(config, image):
    """With the radius on automatic (0), show the radius it stands for on this image; that value."""
    if config.get_property("radius") > 0:
        return None
    layers = image.get_selected_layers()
    radius = float(auto_blur_radius(image, layers[0] if layers else None))
    config.set_property("radius", radius)
    return radius
