# -*- coding: utf-8 -*-
"""The GIMP 2.10 plug-in's side of the bridge, and its rectangle arithmetic.

No GIMP here, and Python 2.7 and 3 alike (tests run it on the host): the pixels to send go
into a private temporary folder, `python3 -m maskstyle_wire.bridge FOLDER` (the wire package
beside this file) runs the job with the one wire client, and its JSON lines come back as
progress calls and a result. Closing the bridge's stdin (this process ending, or GIMP killing
it when the user cancels) makes the bridge cancel the job.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_HINT = ("maskstyle for GIMP 2.10 runs its backend client with Python 3 (3.7 or later): run the maskstyle "
               "installer (its config names the backend's Python), install Python 3, or set MASKSTYLE_PYTHON.")


class UserError(Exception):
    """Something the user can fix, or a backend failure; the text is shown as it is."""


class Cancelled(Exception):
    pass


# ---------------------------------------------------------------- rectangles: (x, y, width, height)

def intersect(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x1, y1, x2 - x1, y2 - y1) if x2 > x1 and y2 > y1 else None


def union(a, b):
    x1, y1 = min(a[0], b[0]), min(a[1], b[1])
    x2, y2 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x1, y1, x2 - x1, y2 - y1)


def grow(rect, limit):
    """rect plus a context margin (an eighth of its longer side, at least 16 px), inside limit:
    the same crop as the GIMP 3 plug-in sends."""
    margin = max(16, max(rect[2], rect[3]) // 8)
    return intersect((rect[0] - margin, rect[1] - margin, rect[2] + 2 * margin, rect[3] + 2 * margin), limit)


def bounds(mask, width, height):
    """The rectangle around a width x height mask's non-zero bytes, or None."""
    left, right, top, bottom = width, 0, None, 0
    for row in range(height):
        kept = mask[row * width:(row + 1) * width].rstrip(b"\x00")
        if not kept:
            continue
        top = row if top is None else top
        bottom = row + 1
        left = min(left, len(kept) - len(kept.lstrip(b"\x00")))
        right = max(right, len(kept))
    return None if top is None else (left, top, right - left, bottom - top)


def sub_rows(data, rect, inner, bpp):
    """The bytes of `inner` (inside rect) from data that covers rect."""
    out = []
    x0 = (inner[0] - rect[0]) * bpp
    for row in range(inner[1] - rect[1], inner[1] - rect[1] + inner[3]):
        start = row * rect[2] * bpp + x0
        out.append(data[start:start + inner[2] * bpp])
    return b"".join(out)


def split_alpha(pixels, bpp):
    """(the pixels made opaque, their alpha) of RGBA or gray+alpha bytes."""
    opaque = bytearray(pixels)
    alpha = bytes(opaque[bpp - 1::bpp])
    opaque[bpp - 1::bpp] = b"\xff" * len(alpha)
    return bytes(opaque), alpha


def alpha_in(pixels, bpp, rect, crop):
    """The alpha of a layer (pixels cover rect, alpha last) as a mask over crop; 0 elsewhere."""
    mask = bytearray(crop[2] * crop[3])
    area = intersect(rect, crop)
    if area:
        for row in range(area[3]):
            src = ((area[1] - rect[1] + row) * rect[2] + area[0] - rect[0]) * bpp
            dst = (area[1] - crop[1] + row) * crop[2] + area[0] - crop[0]
            mask[dst:dst + area[2]] = pixels[src + bpp - 1:src + area[2] * bpp:bpp]
    return bytes(mask)


def with_color_from(pixels, rect, result, result_rect, bpp):
    """The layer's pixels (alpha last) with the color of result (same bpp) wherever result_rect
    covers the layer; the layer's alpha is kept."""
    out = bytearray(pixels)
    area = intersect(result_rect, rect)
    if area:
        n = area[2] * bpp
        for row in range(area[3]):
            src = ((area[1] - result_rect[1] + row) * result_rect[2] + area[0] - result_rect[0]) * bpp
            dst = ((area[1] - rect[1] + row) * rect[2] + area[0] - rect[0]) * bpp
            line = bytearray(result[src:src + n])
            line[bpp - 1::bpp] = out[dst + bpp - 1:dst + n:bpp]
            out[dst:dst + n] = line
    return bytes(out)


# ---------------------------------------------------------------- Python 3 and the bridge

def _which(name):
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(folder, name)
        if folder and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def config_dirs(env=None, platform=None):
    """Where maskstyle's config.json can be, best first: maskstyle_wire.settings.config_dirs,
    in Python 2 (a host test checks that they agree)."""
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if env.get("MASKSTYLE_CONFIG_DIR"):
        return [env["MASKSTYLE_CONFIG_DIR"]]
    home = env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~")
    if platform.startswith("win"):
        local = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        roaming = env.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return [os.path.join(local, "maskstyle", "maskstyle"), os.path.join(roaming, "maskstyle")]
    if platform == "darwin":
        return [os.path.join(home, "Library", "Application Support", "maskstyle")]
    xdg = env.get("XDG_CONFIG_HOME", "")
    return [os.path.join(xdg if os.path.isabs(xdg) else os.path.join(home, ".config"), "maskstyle")]


def configured_python(env=None, platform=None):
    """The Python of the backend's own environment, from the config the installer wrote (its
    backend_command starts with it), or None."""
    for folder in config_dirs(env, platform):
        path = os.path.join(folder, "config.json")
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as handle:
                command = json.load(handle).get("backend_command") or []
        except (IOError, OSError, ValueError, AttributeError):
            return None
        if isinstance(command, list) and command and os.path.isfile(command[0]) \
                and os.path.basename(command[0]).lower().startswith("python"):
            return command[0]
        return None
    return None


def python3_command():
    """The command that runs Python 3: $MASKSTYLE_PYTHON; else the backend environment's Python
    (the config's backend_command); else python3 on the PATH (or Windows' py -3)."""
    chosen = os.environ.get("MASKSTYLE_PYTHON")
    if chosen:
        if not os.path.isfile(chosen):
            raise UserError("MASKSTYLE_PYTHON names %s, which does not exist. %s" % (chosen, PYTHON_HINT))
        return [chosen]
    configured = configured_python()
    if configured:
        return [configured]
    for name in ("python3", "python3.exe"):
        found = _which(name)
        if found:
            return [found]
    if os.name == "nt" and _which("py.exe"):
        return [_which("py.exe"), "-3"]
    raise UserError("Python 3 was not found. " + PYTHON_HINT)


def bridge_env():
    """The environment for Python 3: GIMP's Python 2 paths removed, the wire package on the path."""
    env = dict((k, v) for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"))
    env["PYTHONPATH"] = HERE
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Job(object):
    """One backend job through the bridge: add the parts, then run()."""

    def __init__(self, op, params, count=1, result_channels=4):
        self.folder = tempfile.mkdtemp(prefix="maskstyle-")  # mode 0700: private to this user
        self.request = {"op": op, "params": params, "files": {}, "count": count,
                        "result_channels": result_channels}

    def add_pixels(self, part, data, width, height, channels):
        name = part + ".raw"
        with open(os.path.join(self.folder, name), "wb") as handle:
            handle.write(data)
        self.request["files"][part] = {"raw": name, "width": width, "height": height, "channels": channels}

    def add_file(self, part, path):
        self.request["files"][part] = {"path": os.path.abspath(path)}

    def run(self, on_progress=None, on_starting=None):
        """Run the job; [(name, x, y, width, height, pixels)] per result layer, and the info.
        on_progress(fraction, stage) follows it; UserError with the backend's own words on failure."""
        with open(os.path.join(self.folder, "request.json"), "w") as handle:
            json.dump(self.request, handle)
        errors_path = os.path.join(self.folder, "bridge-errors.txt")
        command = python3_command() + ["-m", "maskstyle_wire.bridge", self.folder]
        with open(errors_path, "wb") as errors:
            try:
                process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                           env=bridge_env(), close_fds=os.name != "nt", cwd=self.folder)
            except OSError as err:
                raise UserError("Python 3 (%s) could not be started: %s. %s"
                                % (command[0], err.strerror or err, PYTHON_HINT))
        final = None
        try:
            for line in iter(process.stdout.readline, b""):
                try:
                    event = json.loads(line.decode("utf-8"))
                except ValueError:
                    continue
                kind = event.get("event")
                if kind == "progress" and on_progress:
                    on_progress(float(event.get("fraction") or 0.0), event.get("stage") or "")
                elif kind == "starting" and on_starting:
                    on_starting(event.get("seconds") or 0)
                elif kind in ("done", "error", "cancelled"):
                    final = event
            process.wait()
        finally:
            if process.poll() is None:  # an exception here: closing stdin cancels the job
                try:
                    process.stdin.close()
                except (IOError, OSError):
                    pass
                process.wait()
        if final is None:
            with open(errors_path, "rb") as handle:
                tail = handle.read()[-1500:].decode("utf-8", "replace").strip()
            raise UserError("The maskstyle bridge (%s -m maskstyle_wire.bridge) stopped without an answer "
                            "(exit code %s)%s" % (command[0], process.returncode,
                                                  ": " + tail if tail else ". " + PYTHON_HINT))
        if final["event"] == "error":
            raise UserError(final.get("message") or "The maskstyle backend failed.")
        if final["event"] == "cancelled":
            raise Cancelled()
        layers = []
        for layer in final.get("layers") or []:
            with open(os.path.join(self.folder, layer["raw"]), "rb") as handle:
                pixels = handle.read()
            layers.append((layer.get("name"), layer["x"], layer["y"], layer["width"], layer["height"], pixels))
        return layers, final

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def run_job(op, params, parts, on_progress=None, on_starting=None, count=1, result_channels=4):
    """parts: {name: (data, width, height, channels)} or {name: path}; see Job.run."""
    job = Job(op, params, count, result_channels)
    try:
        for name, part in sorted(parts.items()):
            if isinstance(part, tuple):
                job.add_pixels(name, *part)
            else:
                job.add_file(name, part)
        return job.run(on_progress, on_starting)
    finally:
        job.close()
