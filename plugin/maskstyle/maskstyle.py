#!/usr/bin/env python3
"""maskstyle for GIMP 3: Stylize Selection, Stylize Regions, Harmonize Layer, Portrait Blur
and Select Subject.

GIMP runs this file. It registers the procedures (names, menus, arguments derived from the
wire contract) and runs each one's work, turning errors into GIMP messages. Beside it:
  procedures.py  what each procedure does
  jobs.py        backend jobs, followed on GIMP's progress bar
  gimp_io.py     pixels in and out of GIMP, new layers, the selection
  maskstyle_wire the backend client and contract, Rect (geometry) and byte-level pixel
                 placing (pixels), copied here by the installer
"""

import ctypes
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
from gi.repository import Gimp, GimpUi, GLib, GObject  # noqa: E402

from maskstyle_wire import contract  # noqa: E402
from maskstyle_wire.errors import BackendError  # noqa: E402

import dialogs  # noqa: E402
import helptext  # noqa: E402
import procedures  # noqa: E402
import remembered  # noqa: E402
from procedures import (REGION_SLOTS, UserCancelled, UserError, harmonize, portrait_blur,  # noqa: E402
                        select_subject, stylize, stylize_regions)

STYLIZE = "plug-in-maskstyle-stylize-selection"
HARMONIZE = "plug-in-maskstyle-harmonize-layer"
SELECT_SUBJECT = "plug-in-maskstyle-select-subject"
STYLIZE_REGIONS = "plug-in-maskstyle-stylize-regions"
PORTRAIT_BLUR = "plug-in-maskstyle-portrait-blur"

RW = GObject.ParamFlags.READWRITE


# ---------------------------------------------------------------- arguments

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
    # "Selection _mode": "_Operation" took the o of the dialog's _OK ("duplicate mnemonic o")
    proc.add_choice_argument("operation", "Selection _mode", "How to combine with the current selection",
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
    _add_contract_argument(proc, "stylize", "method", "Metho_d")  # last: older scripts' order is kept; d: h is _Help's


def _add_blur_arguments(proc):
    radius = _param("blur", "radius")  # the contract's None (automatic) is 0 in GIMP's number field
    proc.add_double_argument("radius", radius.label, "How far the background is blurred, in pixels "
                             "(0 picks one from the image size)", 0.0, radius.maximum, 0.0, RW)


# ---------------------------------------------------------------- the procedures

# Filters > Maskstyle, in the order an artist looks for: Stylize Selection first, then Stylize
# Regions, then Harmonize Layer and Portrait Blur. GIMP 3 adds plug-in menu entries sorted by their
# full path and label (app/menus/plug-in-menus.c collates "<path>/<label>"), so the labels alone
# would put Stylize Selection last. A path's last part in [brackets] names a section: GIMP files
# the entry under that section where the menu defines one, and otherwise (as in our own submenu)
# puts it in the submenu itself, so the section names only set the order and show nowhere.
FILTERS_MENU = "<Image>/Filters/Maskstyle/"

PROCEDURES = {
    STYLIZE: dict(work=stylize, label="Stylize Selection…", menus=[FILTERS_MENU + "[1 Stylize]"],
                  add_arguments=_add_stylize_selection_arguments, layers="several",
                  blurb="Restyle the selected area with the style of an image"),
    STYLIZE_REGIONS: dict(work=stylize_regions, label="Stylize Regions…", menus=[FILTERS_MENU + "[2 Regions]"],
                          add_arguments=_add_regions_arguments, layers="one",
                          blurb="Restyle several saved selections, each with its own style"),
    HARMONIZE: dict(work=harmonize, label="Harmonize Layer…",
                    menus=["<Image>/Layer/Maskstyle", FILTERS_MENU + "[3 Retouch]"],
                    add_arguments=_add_harmonize_arguments, layers="several",
                    blurb="Match a pasted layer to what lies beneath it"),
    PORTRAIT_BLUR: dict(work=portrait_blur, label="Portrait Blur…", menus=[FILTERS_MENU + "[3 Retouch]"],
                        add_arguments=_add_blur_arguments, layers="one",
                        blurb="Blur the background like a lens, keeping the selected subject sharp"),
    SELECT_SUBJECT: dict(work=select_subject, label="Select Subject…", menus=["<Image>/Select/Maskstyle"],
                         add_arguments=_add_select_arguments, layers="any",
                         blurb="Select the main subject or a person, or refine the selection"),
}

SENSITIVITY = {
    "one": Gimp.ProcedureSensitivityMask.DRAWABLE,
    "several": Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES,
    "any": (Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
            | Gimp.ProcedureSensitivityMask.NO_DRAWABLES),
}


# ---------------------------------------------------------------- running one

def _error(procedure, message):
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR,
                                       GLib.Error.new_literal(Gimp.PlugIn.error_quark(), message, 0))


def _wrong_layer_count(layers, count):
    """The message when `count` chosen layers do not suit the procedure, else None."""
    if layers == "one" and count > 1:
        return "Choose exactly one layer."
    return None


# After a run, GIMP 3.0's core closes its end of the plug-in's pipe as soon as the return values
# arrive, and 3.0's libgimp still writes one last QUIT message into it after them: now and then the
# write fails, and "maskstyle.py: gimp_flush(): error: Broken pipe" lands in GIMP's terminal (seen
# with strace; 3.2 sends no such message). So on 3.0 a process that ran a procedure ends in
# do_quit, just before that write: nothing reads the pipe any more. (Registration, GIMP's query
# and init calls, still ends with the message: the core waits for it there.)
QUIT_BEFORE_THE_LAST_MESSAGE = (Gimp.MAJOR_VERSION, Gimp.MINOR_VERSION) == (3, 0)
_ran = []


def _end_now():
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        ctypes.CDLL(None).fflush(None)  # C stdio too: os._exit flushes nothing
    except (OSError, AttributeError):
        pass
    os._exit(0)


def _make_run(name, work, title, layers):
    def run(procedure, run_mode, image, drawables, config, data):
        _ran.append(name)
        interactive = run_mode == Gimp.RunMode.INTERACTIVE
        try:
            if layers == "any":
                chosen, note = list(drawables), None
            else:
                chosen, note = procedures.choose_layers(image, list(drawables), title)
            wrong = _wrong_layer_count(layers, len(chosen))
            if wrong:
                return _error(procedure, wrong)
            if run_mode != Gimp.RunMode.NONINTERACTIVE:  # the artist's last values, even after a failure
                remembered.restore(name, config, image)
            if interactive:
                GimpUi.init("maskstyle")
                accepted = dialogs.run(procedure, config, title, image,
                                       lambda: procedures.check(work, image, chosen, config))
                if not accepted:
                    return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
            if run_mode != Gimp.RunMode.NONINTERACTIVE:
                remembered.remember(name, config)  # before the job: kept whether it succeeds or fails
            if note:
                Gimp.message(note)
            procedures.check(work, image, chosen, config)
            work(image, chosen, config, run_mode)
        except UserCancelled:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        except (UserError, BackendError) as err:
            return _error(procedure, str(err))
        except Exception as err:  # a bug: keep the traceback for the terminal, not for the user
            traceback.print_exc()
            return _error(procedure, f"maskstyle stopped on an unexpected error: {err}")
        finally:
            Gimp.progress_end()
            if interactive:
                _forget_channels(config)
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    return run


def _forget_channels(config):
    """GIMP cannot save a channel among its last values (it warns "couldn't serialize property
    ...channel-1 of type GimpChannel"); the plug-in keeps them by name itself (remembered.py)."""
    for spec in config.list_properties():
        if spec.name.startswith("channel-"):
            config.set_property(spec.name, None)


class Maskstyle(Gimp.PlugIn):
    def do_query_procedures(self):
        return list(PROCEDURES)

    def do_set_i18n(self, name):
        return False

    def do_quit(self):
        if _ran and QUIT_BEFORE_THE_LAST_MESSAGE:
            _end_now()

    def do_create_procedure(self, name):
        spec = PROCEDURES[name]
        title = spec["label"].rstrip("…")
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN,
                                       _make_run(name, spec["work"], title, spec["layers"]), None)
        proc.set_image_types("RGB*, GRAY*")
        proc.set_sensitivity_mask(SENSITIVITY[spec["layers"]])
        proc.set_menu_label(spec["label"])
        for path in spec["menus"]:
            proc.add_menu_path(path)
        proc.set_documentation(spec["blurb"], helptext.text(name), name)
        proc.set_attribution("maskstyle", "maskstyle authors", "2025")
        spec["add_arguments"](proc)
        return proc


if __name__ == "__main__":
    Gimp.main(Maskstyle.__gtype__, sys.argv)
