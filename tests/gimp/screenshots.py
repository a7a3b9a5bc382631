"""Screenshots of the maskstyle dialogs in the real GIMP 3 window, under a virtual display, and
two real runs from the dialogs (against a private backend), watching GIMP's output.

Not a pytest module (its name does not start with test_). Run as root, with Xvfb, xdotool and
ImageMagick's `import` on this machine (apt-get install xvfb xdotool imagemagick):

    .venv/bin/python -m tests.gimp.screenshots OUT_DIR

It starts a backend and Xvfb, then the full GIMP (not the console) inside the test root
(harness.root_dir()) with a profile of its own, opens a picture with an elliptic selection saved
as the channel "Face", and runs each procedure interactively. The plug-in's kept settings are
written first: three paintings in a style folder, used lately; Quality "Fast"; for Stylize
Regions, region 1 is "Face" with the second painting. For each dialog it saves
OUT_DIR/<procedure>.png, presses Help and saves OUT_DIR/<procedure>-help.png. Then:
- Stylize Selection: opens the style file chooser (style-chooser.png), selects the first file
  (style-chooser-preview.png) and cancels it; opens "Recent styles" (recent-styles.png, the
  whole screen) and picks the first; saves stylize-selection-chosen.png and presses OK: a real run.
- Stylize Regions: presses OK: a real run (GIMP then saves its last values, channels included).
- the others are cancelled.
OUT_DIR/gimp-window.png is the whole screen at the end, with the new layers. GIMP's terminal
output goes to OUT_DIR/gimp-output.txt; the lines that are warnings about the plug-in (those
the no-warnings test looks for) are printed, and the exit status is 1 when there are any, or
when a dialog did not appear.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from maskstyle_wire import png

from . import harness
from .scenes import warnings_in

DISPLAY_NUMBER = 77
STYLIZE = "plug-in-maskstyle-stylize-selection"
REGIONS = "plug-in-maskstyle-stylize-regions"
DIALOGS = {  # procedure -> its dialog's title
    STYLIZE: "Stylize Selection",
    REGIONS: "Stylize Regions",
    "plug-in-maskstyle-harmonize-layer": "Harmonize Layer",
    "plug-in-maskstyle-portrait-blur": "Portrait Blur",
    "plug-in-maskstyle-select-subject": "Select Subject",
}
RUN = (STYLIZE, REGIONS)  # run for real with OK; the others are cancelled
STYLE_CHOOSER = "Choose a style image"  # the style file chooser's title (dialogs.py)
BATCH = r'''
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp
W, H = 640, 480
image = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)
layer = Gimp.Layer.new(image, "Photo", W, H, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
image.insert_layer(layer, None, 0)
pixels = bytearray()
for y in range(H):  # a sky, a sun and a hill
    for x in range(W):
        if (x - 310) ** 2 + (y - 230) ** 2 < 110 ** 2:
            pixels += bytes((250, 200 - (y - 120) // 3, 60, 255))
        elif y > 360 - ((x - 320) ** 2) // 900:
            pixels += bytes((40 + x // 12, 120 + (x + y) % 40, 50, 255))
        else:
            pixels += bytes((90 + y // 5, 150 + y // 6, 235, 255))
buffer = layer.get_buffer()
buffer.set(buffer.get_extent(), "R'G'B'A u8", bytes(pixels))
buffer.flush()
Gimp.Display.new(image)
image.select_ellipse(Gimp.ChannelOps.REPLACE, 160, 100, 300, 260)
Gimp.Selection.save(image).set_name("Face")
image.set_selected_layers([layer])
for name in NAMES:
    proc = Gimp.get_pdb().lookup_procedure(name)
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", image.get_selected_layers())
    proc.run(config)
    Gimp.displays_flush()
open(DONE, "w").write("done")
'''


def paintings(size=192):
    """Three small "paintings" for the style folder: file name -> RGB array."""
    y, x = np.mgrid[0:size, 0:size] / size
    swirl = np.stack([128 + 120 * np.sin(9 * x + 5 * np.sin(6 * y)), 90 + 80 * np.sin(7 * y + 4 * x),
                      150 + 100 * np.cos(11 * x * y + 3 * y)], axis=-1)
    dots = np.where((np.hypot(x * 12 % 1 - 0.5, y * 12 % 1 - 0.5) < 0.3)[..., None], [250, 220, 40], [30, 90, 160])
    strokes = np.stack([200 + 50 * np.sin(40 * (x + y)), 120 + 60 * np.sin(25 * x), 60 + 40 * np.cos(30 * y)], -1)
    return {"blue-swirls.png": swirl, "yellow-dots.png": dots, "warm-strokes.png": strokes}


def _x(*args, display, timeout=30):
    """An X client command on display (xdotool, import); given up on after timeout seconds (an
    xdotool --sync on a window that has gone waits for ever)."""
    try:
        return subprocess.run(list(args), env={"DISPLAY": display, "PATH": "/usr/bin:/bin"}, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"timed out: {' '.join(args)}")


def _wait_for_window(title, display, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _x("xdotool", "search", "--onlyvisible", "--name", f"^{title}$", display=display).stdout.split()
        if found:
            return found[-1]
        time.sleep(0.5)
    return None


@contextmanager
def gimp_on_a_display(root: Path, display_number: int, script: str, profile: str, config: str, log: Path,
                      quit_after: bool = False, time_limit: int | None = None, env: dict | None = None):
    """Xvfb on :display_number, and on it the full GIMP 3 inside root, running the Python script at
    script with a GIMP profile and a maskstyle config folder of its own (all three paths inside the
    root) and the variables in env; then Gimp.quit() when quit_after, and killed after time_limit
    seconds when given. GIMP's output goes to log. Yields the display's name; on leaving, GIMP and
    Xvfb are stopped."""
    display = f"127.0.0.1:{display_number}"
    xvfb = subprocess.Popen(["Xvfb", f":{display_number}", "-screen", "0", "1400x1000x24", "-listen", "tcp",
                             "-ac", "-nolisten", "unix"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gimp = None
    try:
        time.sleep(2)
        variables = {**harness.BASE_ENV, "DISPLAY": display, "GIMP3_DIRECTORY": profile,
                     "MASKSTYLE_CONFIG_DIR": config, "NO_AT_BRIDGE": "1", **(env or {})}
        command = harness.chroot_command(root, variables, "gimp-3.0", "--no-splash", "-n", "--batch-interpreter",
                                         "python-fu-eval", "-b", f'exec(open("{script}").read())',
                                         *(["-b", "Gimp.quit()"] if quit_after else []))
        if time_limit is not None:
            command = ["timeout", str(time_limit), *command]
        with open(log, "w") as output:
            gimp = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        yield display
    finally:
        if gimp is not None:
            gimp.terminate()
            try:
                gimp.wait(timeout=30)
            except subprocess.TimeoutExpired:
                gimp.kill()
        xvfb.terminate()


def _shoot(window, path, display):
    time.sleep(1.0)  # let it draw
    _x("import", "-window", window, str(path), display=display)


def _key(window, keys, display, pause=1.0):
    """Give window the keyboard focus and press keys (xdotool key names, e.g. "alt+i"). Xvfb has no
    window manager, so a window that opens does not get the focus by itself, and "windowactivate"
    (which asks the window manager) does nothing: the keys would go to the window that had it."""
    _x("xdotool", "windowfocus", "--sync", window, display=display)
    _x("xdotool", "key", "--clearmodifiers", *keys.split(), display=display)
    time.sleep(pause)


def _gone(title, display, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _x("xdotool", "search", "--onlyvisible", "--name", f"^{title}$",
                                             display=display).stdout.split():
        time.sleep(0.5)


def _help(window, name, title, out, display):
    """Press the dialog's Help button (bottom left), shoot its page and close it."""
    height = int(_x("xdotool", "getwindowgeometry", "--shell", window,
                    display=display).stdout.split("HEIGHT=")[1].split()[0])
    _x("xdotool", "mousemove", "--window", window, "60", str(height - 42), "click", "1", display=display)
    help_window = _wait_for_window(f"Help: {title}", display, timeout=15)
    if help_window:
        _shoot(help_window, out / f"{name}-help.png", display)
        _key(help_window, "Escape", display)


def _style_chooser(window, out, display):
    """Open the style file chooser from the Stylize Selection dialog, shoot it, select its first
    file (the preview shows it), shoot it again and cancel; then pick the first of "Recent styles"."""
    _key(window, "alt+i space", display)  # "Style _image": the file button, then press it
    chooser = _wait_for_window(STYLE_CHOOSER, display, timeout=15)
    if chooser is None:
        print("the style file chooser did not open", file=sys.stderr)
        return False
    _shoot(chooser, out / "style-chooser.png", display)
    _key(chooser, "Home", display, pause=2.0)  # the first file in the list: the preview follows
    _shoot(chooser, out / "style-chooser-preview.png", display)
    _key(chooser, "alt+c", display)  # _Cancel
    _gone(STYLE_CHOOSER, display)
    _key(window, "alt+y alt+Down", display)  # "Recent st_yles", opened
    _x("import", "-window", "root", str(out / "recent-styles.png"), display=display)
    _x("xdotool", "key", "Down", "Return", display=display)  # the list has the focus now
    time.sleep(1)
    _shoot(window, out / "stylize-selection-chosen.png", display)
    return True


def _prepare(root: Path, names):
    """The profile, the style folder and the kept settings, inside root; the paths as GIMP sees them."""
    tmp = root / "tmp"
    profile = tmp / "maskstyle-screenshots-profile"
    shutil.rmtree(profile, ignore_errors=True)
    shutil.copytree(root / harness.gimp_plugin_dir(), profile / "plug-ins" / "maskstyle")
    styles = tmp / "maskstyle-screenshots-styles"
    shutil.rmtree(styles, ignore_errors=True)
    styles.mkdir()
    for name, rgb in paintings().items():
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
        (styles / name).write_bytes(png.encode(rgb.tobytes(), rgb.shape[1], rgb.shape[0], 3))
    (styles / "notes.txt").write_text("not a picture: the images-only filter hides it\n")
    recent = [f"/tmp/{styles.name}/{name}" for name in paintings()]
    config = tmp / "maskstyle-screenshots-config"
    shutil.rmtree(config, ignore_errors=True)
    config.mkdir()
    kept = {"recent_styles": recent, "style_folder": f"/tmp/{styles.name}",
            "procedures": {STYLIZE: {"quality": "fast"},
                           REGIONS: {"channel-1": {"channel": "Face"}, "style-file-1": {"file": recent[1]},
                                     "quality": "fast"}}}
    (config / "gimp-last-values.json").write_text(json.dumps(kept, indent=1))
    (tmp / "maskstyle-screenshots.done").unlink(missing_ok=True)
    (tmp / "maskstyle-screenshots.py").write_text(f"NAMES = {names!r}\nDONE = '/tmp/maskstyle-screenshots.done'\n"
                                                   + BATCH)
    return "/tmp/maskstyle-screenshots.py", f"/tmp/{profile.name}", f"/tmp/{config.name}"


def main(out_dir: str, only=()) -> int:
    """Screenshots into out_dir, of every dialog or only those of the procedures named in only."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = harness.root_dir()
    harness.install_plugin(root)
    dialogs = {name: title for name, title in DIALOGS.items() if not only or name in only}
    script, profile, config = _prepare(root, list(dialogs))
    backend = harness.BackendProcess(Path(tempfile.mkdtemp(prefix="maskstyle-screenshots-backend-")))
    failed = False
    try:
        with harness.proc_mounted(root), gimp_on_a_display(
                root, DISPLAY_NUMBER, script, profile, config, out / "gimp-output.txt", quit_after=True,
                time_limit=900, env=harness.backend_env(backend)) as display:
            for name, title in dialogs.items():
                window = _wait_for_window(title, display, timeout=300)  # after a run: once it is done
                if window is None:
                    print(f"no dialog {title!r} appeared", file=sys.stderr)
                    failed = True
                    break
                _shoot(window, out / f"{name}.png", display)
                if name == STYLIZE and not _style_chooser(window, out, display):
                    failed = True
                _help(window, name, title, out, display)
                _key(window, "alt+o" if name in RUN else "Escape", display)
                _gone(title, display)
            done = root / "tmp" / "maskstyle-screenshots.done"  # the last procedure has returned
            deadline = time.monotonic() + 300
            while not failed and not done.exists() and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(2)
            _x("import", "-window", "root", str(out / "gimp-window.png"), display=display)
            time.sleep(3)
    finally:
        backend.stop()
    warnings = warnings_in((out / "gimp-output.txt").read_text(errors="replace"))
    for line in warnings:
        print(line)
    print(f"screenshots in {out}; {len(warnings)} warning lines about the plug-in")
    return 1 if failed or warnings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshots", sys.argv[2:]))
