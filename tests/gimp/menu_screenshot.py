"""A screenshot of Filters > Maskstyle, open, in the real GIMP 3 window under a virtual display.

Not a pytest module. Run as root, with Xvfb, xdotool and ImageMagick's `import` (as screenshots.py):

    .venv/bin/python -m tests.gimp.menu_screenshot OUT_DIR

It registers the plug-in from this checkout with the project's installer in a GIMP profile of its
own inside the test root (root/tmp/maskstyle-menu-profile: the root's own profile, which the test
suite uses, is left alone), starts GIMP on a new image, opens Filters (Alt+R), goes to its last
entry (the Maskstyle submenu: GIMP appends plug-ins' own submenus after its sections) and opens it,
then saves OUT_DIR/filters-maskstyle-menu.png, the whole screen. Look at the picture: the entries'
order is what an artist sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from . import harness
from .screenshots import _wait_for_window, _x, gimp_on_a_display

DISPLAY_NUMBER = 78
BATCH = r'''
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp
image = Gimp.Image.new(640, 480, Gimp.ImageBaseType.RGB)
layer = Gimp.Layer.new(image, "Photo", 640, 480, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
image.insert_layer(layer, None, 0)
image.select_ellipse(Gimp.ChannelOps.REPLACE, 160, 100, 300, 260)
Gimp.Display.new(image)
'''


def _install(root: Path) -> None:
    profile = root / "tmp" / "maskstyle-menu-profile"
    env = {**os.environ, "MASKSTYLE_DATA_DIR": str(root / "tmp" / "maskstyle-menu-data")}
    done = subprocess.run([sys.executable, str(harness.REPO / "installer" / "install.py"), "--plugin-only",
                           "--gimp-profile", str(profile)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the installer failed:\n{done.stdout}{done.stderr}")


def main(out_dir: str) -> int:
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = harness.root_dir()
    _install(root)
    (root / "tmp" / "maskstyle-menu-config").mkdir(parents=True, exist_ok=True)
    (root / "tmp" / "maskstyle-menu.py").write_text(BATCH)
    with gimp_on_a_display(root, DISPLAY_NUMBER, "/tmp/maskstyle-menu.py", "/tmp/maskstyle-menu-profile",
                           "/tmp/maskstyle-menu-config", out / "gimp-output.txt", time_limit=300) as display:
        window = _wait_for_window(".*GIMP", display, timeout=240)
        if window is None:
            print("no GIMP window appeared", file=sys.stderr)
            return 1
        time.sleep(5)  # let the image window settle
        _x("xdotool", "windowactivate", "--sync", window, display=display)
        _x("xdotool", "key", "--window", window, "alt+r", display=display)  # Filte_rs
        time.sleep(2)
        _x("import", "-window", "root", str(out / "filters-menu.png"), display=display)
        _x("xdotool", "key", "Up", display=display)  # from the top, Up wraps to the last entry
        time.sleep(0.5)
        _x("xdotool", "key", "Right", display=display)  # opens the submenu
        time.sleep(2)
        _x("import", "-window", "root", str(out / "filters-maskstyle-menu.png"), display=display)
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
