"""The GIMP 2.10 front-end's link to the backend: one job, run with the wire client in Python 3.

GIMP 2.10's Python-Fu is Python 2.7 and cannot import this package, so its plug-in
(plugin/gimp210) writes the pixels to send into a private temporary folder and runs

    python3 -m maskstyle_wire.bridge FOLDER

FOLDER/request.json holds {"op", "params", "files", "count"}: files maps each part name to
{"raw": file name, "width", "height", "channels"} (8-bit pixels, row by row, 1 to 4 channels)
or to {"path": a PNG or JPEG file sent as it is}. The bridge connects (starting the backend when
the config says how), runs the job and writes one JSON object a line on stdout:

    {"event": "starting", "seconds": s}          the backend is being started
    {"event": "progress", "fraction": f, "stage": "painting, about 4 s left"}
    {"event": "done", "layers": [{"name", "x", "y", "width", "height", "raw"}], "info", "warnings"}
    {"event": "error", "message": "...", "code": "..."}   (a message written for a person)
    {"event": "cancelled"}

Each result layer is written to FOLDER as raw RGBA (the one result rule: its alpha is its mask;
x and y are its offset inside the submitted image); with "result_channels": 2 in the request,
as gray + alpha, for gray images. The job is cancelled when stdin says
"cancel", or closes (the plug-in ended or GIMP killed it), or on SIGTERM: nothing is left running.

`python3 -m maskstyle_wire.bridge --gimpfu-args` prints the GIMP 2.10 plug-in's argument table
(plugin/gimp210/maskstyle_args.py), derived from the contract so that labels, choices, ranges
and defaults are defined once.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from . import client as wire
from . import contract, png
from .errors import BackendError, JobCancelled

EXIT_DONE, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 2


class Cancelled(BaseException):
    """The plug-in asked to stop, or went away. A BaseException, so run_job cancels the job."""


class Bridge:
    def __init__(self, folder: Path, out=None, stdin=None):
        self.folder = Path(folder)
        self.out = out or sys.stdout
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stop = threading.Event()

    # -- talking to the plug-in

    def emit(self, **event) -> None:
        try:
            self.out.write(json.dumps(event) + "\n")
            self.out.flush()
        except (OSError, ValueError):  # the plug-in is gone: stop, and let run_job cancel the job
            self.stop.set()
            raise Cancelled() from None

    def watch_stdin(self) -> None:
        """Set stop when the plug-in says cancel or its end of the pipe closes."""
        def watch():
            try:
                for line in self.stdin:
                    if line.strip() == "cancel":
                        break
            except (OSError, ValueError):
                pass
            self.stop.set()
        threading.Thread(target=watch, daemon=True).start()

    def check(self) -> None:
        if self.stop.is_set():
            raise Cancelled()

    # -- the job

    def part(self, name: str, spec: dict) -> tuple[str, str, bytes]:
        if "path" in spec:
            path = Path(spec["path"])
            try:
                data = path.read_bytes()
            except OSError as err:
                raise BackendError(f"Cannot read {path}: {err.strerror or err}.", "bad_file") from None
            kind = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
            return path.name, kind, data
        width, height, channels = int(spec["width"]), int(spec["height"]), int(spec["channels"])
        data = (self.folder / spec["raw"]).read_bytes()
        if name == "image" or name.startswith(("style", "rest")):
            data, channels = to_color(data, channels)
        return wire.png_part(name, png.encode(data, width, height, channels, level=1))

    def run(self) -> int:
        request = json.loads((self.folder / "request.json").read_text(encoding="utf-8"))
        files = {name: self.part(name, spec) for name, spec in request["files"].items()}
        count = int(request.get("count", 1))
        gray = int(request.get("result_channels", 4)) == 2  # a gray image's layers: gray + alpha

        def on_wait(seconds):
            self.emit(event="starting", seconds=round(seconds, 1))
            return not self.stop.is_set()

        def on_progress(fraction, stage):
            self.check()
            self.emit(event="progress", fraction=fraction, stage=stage)

        self.check()
        client = wire.connect(on_wait=on_wait)
        self.check()
        self.emit(event="progress", fraction=0.0, stage="sending")
        manifest = client.run_job(request["op"], request["params"], files, on_progress=on_progress, guard=False)
        layers = manifest.get("layers") or []
        if len(layers) < count:
            raise BackendError("The maskstyle backend finished but sent no result."
                               if not layers else "The maskstyle backend sent too few result layers.", "bad_answer")
        written = []
        for index, layer in enumerate(layers[:count]):
            self.check()
            width, height, channels, pixels = png.decode(client.fetch(layer["url"]))
            name = f"result-{index}.raw"
            rgba = to_rgba(pixels, channels)
            (self.folder / name).write_bytes(to_gray_alpha(rgba) if gray else rgba)
            written.append({"name": layer.get("name"), "x": int(layer.get("x", 0)), "y": int(layer.get("y", 0)),
                            "width": width, "height": height, "raw": name})
        info = manifest.get("info") or {}
        self.emit(event="done", layers=written, info=info, warnings=list(info.get("warnings") or []),
                  encoder=manifest.get("encoder"), device=manifest.get("device"))
        return EXIT_DONE


def to_color(data: bytes, channels: int) -> tuple[bytes, int]:
    """Gray or gray+alpha pixels as RGB or RGBA (the backend takes color images)."""
    if channels == 1:
        return bytes(b for v in data for b in (v, v, v)), 3
    if channels == 2:
        out = bytearray(len(data) * 2)
        out[0::4] = out[1::4] = out[2::4] = data[0::2]
        out[3::4] = data[1::2]
        return bytes(out), 4
    return data, channels


def to_rgba(pixels: bytes, channels: int) -> bytes:
    if channels == 4:
        return pixels
    rgb, channels = to_color(pixels, channels) if channels < 3 else (pixels, channels)
    if channels == 4:
        return rgb
    out = bytearray(len(rgb) // 3 * 4)
    for c in range(3):
        out[c::4] = rgb[c::3]
    out[3::4] = b"\xff" * (len(rgb) // 3)
    return bytes(out)


def to_gray_alpha(rgba: bytes) -> bytes:
    """RGBA as gray + alpha (Rec. 601 luma), for layers of gray images."""
    out = bytearray(len(rgba) // 2)
    r, g, b = rgba[0::4], rgba[1::4], rgba[2::4]
    out[0::2] = bytes((299 * x + 587 * y + 114 * z + 500) // 1000 for x, y, z in zip(r, g, b))
    out[1::2] = rgba[3::4]
    return bytes(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--gimpfu-args"]:
        sys.stdout.write(gimpfu_args_module())
        return 0
    if len(argv) != 1:
        sys.stderr.write("usage: python3 -m maskstyle_wire.bridge FOLDER | --gimpfu-args\n")
        return EXIT_ERROR
    bridge = Bridge(Path(argv[0]))

    def terminate(signum, frame):
        bridge.stop.set()
        raise Cancelled()
    signal.signal(signal.SIGTERM, terminate)
    bridge.watch_stdin()
    try:
        return bridge.run()
    except (Cancelled, KeyboardInterrupt, JobCancelled):
        try:
            bridge.emit(event="cancelled")
        except Cancelled:
            pass
        return EXIT_CANCELLED
    except BackendError as err:
        return _report(bridge, str(err), err.code)
    except Exception as err:  # a bug: the message still reaches the user, with what went wrong
        return _report(bridge, f"maskstyle stopped on an unexpected error: {type(err).__name__}: {err}", "bug")


def _report(bridge: Bridge, message: str, code: str) -> int:
    try:
        bridge.emit(event="error", message=message, code=code)
    except Cancelled:
        pass
    return EXIT_ERROR


# ---------------------------------------------------------------- the GIMP 2.10 arguments

REGION_SLOTS = 3
SELECTION_OPERATIONS = (("Replace", "replace"), ("Add", "add"), ("Subtract", "subtract"), ("Intersect", "intersect"))


def _label(text: str) -> str:
    return text.replace("_", "")


def _contract_arg(op: str, name: str, label: str | None = None) -> tuple:
    """(kind, PDB name, label, default, extra) of a contract parameter, for gimpfu."""
    param = contract.OPERATIONS[op].param(name)
    nick, label = name.replace("_", "-"), _label(label or param.label)
    if param.kind == "choice":
        return ("radio", nick, label, param.default, tuple((_label(text), value) for value, text in param.choices))
    if param.kind == "float":
        return ("slider", nick, label, float(param.default), (float(param.minimum), float(param.maximum), 0.01))
    if param.kind == "int":
        return ("spinner", nick, label, int(param.default), (int(param.minimum), int(param.maximum), 1))
    if param.kind == "bool":
        return ("toggle", nick, label, bool(param.default), None)
    raise ValueError(f"no gimpfu argument for the {param.kind} parameter {name}")


def gimpfu_args() -> dict:
    """Each procedure's arguments after image and drawable, in the GIMP 3 plug-in's order."""
    stylize = [_contract_arg("stylize", n) for n in ("strength", "quality", "preserve_color", "seed")]
    seam_method = [_contract_arg("stylize", "seam"), _contract_arg("stylize", "method", "Method")]
    regions = []
    for slot in range(1, REGION_SLOTS + 1):
        regions += [("channel", f"channel-{slot}", f"Region {slot}: channel", None, None),
                    ("file", f"style-file-{slot}", f"Region {slot}: style image", "", None)]
    regions.append(("file", "rest-file", "Style for the rest (optional)", "", None))
    radius = contract.OPERATIONS["blur"].param("radius")
    return {
        "plug-in-maskstyle-stylize-selection":
            [("file", "style-file", "Style image", "", None)] + stylize + seam_method,
        "plug-in-maskstyle-stylize-regions": regions + stylize + seam_method,
        "plug-in-maskstyle-harmonize-layer": [_contract_arg("harmonize", n) for n in ("mode", "strength")],
        "plug-in-maskstyle-portrait-blur":
            [("slider", "radius", "Radius (0: from the image size)", 0.0, (0.0, float(radius.maximum), 1.0))],
        "plug-in-maskstyle-select-subject":
            [_contract_arg("segment", "target"), ("radio", "operation", "Operation", "replace", SELECTION_OPERATIONS)],
    }


def gimpfu_args_module() -> str:
    lines = ['"""The GIMP 2.10 procedures\' arguments, after image and drawable: (kind, PDB name, label,',
             "default, extra). Generated from the wire contract by `python3 -m maskstyle_wire.bridge",
             '--gimpfu-args`; do not edit (a test checks that it is up to date)."""', "",
             f"CONTRACT_VERSION = {contract.CONTRACT_VERSION}", "", "ARGUMENTS = {"]
    for name, args in gimpfu_args().items():
        lines.append(f"    {name!r}: [")
        lines += [f"        {arg!r}," for arg in args]
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
