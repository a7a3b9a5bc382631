"""Screenshots of the maskstyle dialogs in the real GIMP 3 window, under a virtual display.

Not a pytest module (its name does not start with test_). Run as root, with Xvfb, xdotool and
ImageMagick's `import` on this machine (apt-get install xvfb xdotool imagemagick):

    .venv/bin/python -m tests.gimp.screenshots OUT_DIR

It starts Xvfb, then the full GIMP (not the console) inside the test root (harness.root_dir())
with a profile of its own, opens an image, and runs each procedure interactively. For each
dialog it saves OUT_DIR/<procedure>.png, presses Help and saves OUT_DIR/<procedure>-help.png,
then cancels. GIMP's terminal output goes to OUT_DIR/gimp-output.txt, and the lines that are
warnings about the plug-in are printed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from . import harness

DISPLAY_NUMBER = 77
DIALOGS = {  # procedure -> its dialog's title
    "plug-in-maskstyle-stylize-selection": "Stylize Selection",
    "plug-in-maskstyle-stylize-regions": "Stylize Regions",
    "plug-in-maskstyle-harmonize-layer": "Harmonize Layer",
    "plug-in-maskstyle-portrait-blur": "Portrait Blur",
    "plug-in-maskstyle-select-subject": "Select Subject",
}
BATCH = r'''
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio
image = Gimp.Image.new(640, 480, Gimp.ImageBaseType.RGB)
layer = Gimp.Layer.new(image, "Photo", 640, 480, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
image.insert_layer(layer, None, 0)
Gimp.Display.new(image)
image.select_ellipse(Gimp.ChannelOps.REPLACE, 160, 100, 300, 260)
Gimp.Selection.save(image).set_name("Face")
image.set_selected_layers([layer])
for name in NAMES:
    proc = Gimp.get_pdb().lookup_procedure(name)
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    proc.run(config)
'''


def _x(*args, display):
    return subprocess.run(list(args), env={"DISPLAY": display, "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True)


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
                      quit_after: bool = False, time_limit: int | None = None):
    """Xvfb on :display_number, and on it the full GIMP 3 inside root, running the Python script at
    script with a GIMP profile and a maskstyle config folder of its own (all three paths inside the
    root); then Gimp.quit() when quit_after, and killed after time_limit seconds when given. GIMP's
    output goes to log. Yields the display's name; on leaving, GIMP and Xvfb are stopped."""
    display = f"127.0.0.1:{display_number}"
    xvfb = subprocess.Popen(["Xvfb", f":{display_number}", "-screen", "0", "1400x1000x24", "-listen", "tcp",
                             "-ac", "-nolisten", "unix"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gimp = None
    try:
        time.sleep(2)
        variables = {**harness.BASE_ENV, "DISPLAY": display, "GIMP3_DIRECTORY": profile,
                     "MASKSTYLE_CONFIG_DIR": config, "NO_AT_BRIDGE": "1"}
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


def main(out_dir: str) -> int:
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = harness.root_dir()
    harness.install_plugin(root)
    profile_host = root / "tmp" / "maskstyle-screenshots-profile"
    shutil.rmtree(profile_host, ignore_errors=True)
    shutil.copytree(root / harness.gimp_plugin_dir(), profile_host / "plug-ins" / "maskstyle")
    config_host = root / "tmp" / "maskstyle-screenshots-config"
    config_host.mkdir(parents=True, exist_ok=True)
    (root / "tmp" / "maskstyle-screenshots.py").write_text(f"NAMES = {list(DIALOGS)!r}\n" + BATCH)
    with gimp_on_a_display(root, DISPLAY_NUMBER, "/tmp/maskstyle-screenshots.py", "/tmp/maskstyle-screenshots-profile",
                           "/tmp/maskstyle-screenshots-config", out / "gimp-output.txt", quit_after=True) as display:
        for name, title in DIALOGS.items():
            window = _wait_for_window(title, display)
            if window is None:
                print(f"no dialog {title!r} appeared", file=sys.stderr)
                break
            _shoot(window, out / f"{name}.png", display)
            height = int(_x("xdotool", "getwindowgeometry", "--shell", window,
                            display=display).stdout.split("HEIGHT=")[1].split()[0])
            _x("xdotool", "mousemove", "--window", window, "60", str(height - 42), "click", "1",
               display=display)  # the Help button, bottom left
            help_window = _wait_for_window(f"Help: {title}", display, timeout=15)
            if help_window:
                _shoot(help_window, out / f"{name}-help.png", display)
                _x("xdotool", "windowactivate", "--sync", help_window, display=display)
                _x("xdotool", "key", "Escape", display=display)
                time.sleep(1)
            _x("xdotool", "windowactivate", "--sync", window, display=display)
            _x("xdotool", "key", "Escape", display=display)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _x("xdotool", "search", "--onlyvisible", "--name", f"^{title}$",
                                                     display=display).stdout.split():
                time.sleep(0.5)
        _x("import", "-window", "root", str(out / "gimp-window.png"), display=display)
        time.sleep(3)
    output = (out / "gimp-output.txt").read_text(errors="replace")
    for line in output.splitlines():
        if any(word in line for word in ("mnemonic", "serialize", "CRITICAL", "maskstyle", "Traceback")):
            print(line)
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
