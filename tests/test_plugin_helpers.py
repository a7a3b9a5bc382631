"""The standard-library pieces the GIMP plug-in runs on, without GIMP: the wire package's PNG
packing, backend client and settings, its rectangles (geometry) and its pixel placing (pixels)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import socket
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from maskstyle_wire import client as wire
from maskstyle_wire import pixels, png
from maskstyle_wire import settings as wire_settings
from maskstyle_wire.errors import BackendError, BackendUnavailable
from maskstyle_wire.geometry import Rect

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _pattern(width, height, channels):
    return bytes((x * 7 + y * 13 + c * 51 + (x * y) % 17) & 0xFF
                 for y in range(height) for x in range(width) for c in range(channels))


# ---------------------------------------------------------------- PNG packing

@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_encoded_png_reads_back_identically_in_pillow(channels):
    data = _pattern(23, 17, channels)
    image = Image.open(io.BytesIO(png.encode(data, 23, 17, channels)))
    assert image.mode == MODES[channels] and image.size == (23, 17)
    assert image.tobytes() == data


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_pillow_png_decodes_identically(channels):
    data = _pattern(31, 19, channels)  # Pillow picks its filters per row
    out = io.BytesIO()
    Image.frombytes(MODES[channels], (31, 19), data).save(out, "PNG")
    assert png.decode(out.getvalue()) == (31, 19, channels, data)


def _png_with_filter(data, width, height, bpp, kind):
    """A PNG whose every row uses the given filter type (0-4)."""
    stride, raw, prior = width * bpp, bytearray(), bytes(width * bpp)
    for y in range(height):
        row = data[y * stride:(y + 1) * stride]
        out = bytearray()
        for i, value in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            if kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                pred = [0, a, b, (a + b) // 2][kind]
            out.append((value - pred) & 0xFF)
        raw += bytes([kind]) + out
        prior = row
    color = {1: 0, 2: 4, 3: 2, 4: 6}[bpp]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)

    def chunk(kind_, payload):
        return (struct.pack(">I", len(payload)) + kind_ + payload
                + struct.pack(">I", zlib.crc32(kind_ + payload) & 0xFFFFFFFF))

    return png.SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_every_row_filter_decodes(kind):
    data = _pattern(13, 9, 4)
    encoded = _png_with_filter(data, 13, 9, 4, kind)
    assert Image.open(io.BytesIO(encoded)).tobytes() == data  # the test's own PNG is valid
    assert png.decode(encoded) == (13, 9, 4, data)


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 40), height=st.integers(1, 12), channels=st.sampled_from([1, 2, 3, 4]),
       seed=st.integers(0, 255))
def test_round_trip(width, height, channels, seed):
    data = bytes((seed + i * 37 + (i >> 3)) & 0xFF for i in range(width * height * channels))
    assert png.decode(png.encode(data, width, height, channels)) == (width, height, channels, data)


def test_unreadable_pngs_raise_a_clear_error():
    with pytest.raises(png.PNGError, match="not a PNG"):
        png.decode(b"GIF89a....")
    out = io.BytesIO()
    Image.new("I;16", (4, 4)).save(out, "PNG")
    with pytest.raises(png.PNGError, match="bit depth 16"):
        png.decode(out.getvalue())
    out = io.BytesIO()
    Image.new("P", (4, 4)).save(out, "PNG")
    with pytest.raises(png.PNGError, match="colour type 3"):
        png.decode(out.getvalue())


def test_encode_rejects_wrong_sizes():
    with pytest.raises(ValueError, match="expected 48 bytes"):
        png.encode(b"\0" * 47, 4, 4, 3)


# ---------------------------------------------------------------- multipart

def test_multipart_body_parses_back_into_the_same_parts():
    blob = bytes(range(256)) * 3 + b"\r\n--not-a-boundary\r\n"
    body, content_type = wire.encode_multipart(
        {"request": json.dumps({"op": "stylize", "params": {"strength": 0.5}})},
        {"image": ("image.png", "image/png", blob), "mask": ("mask.png", "image/png", b"\x00\xff")})
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert set(parts) == {"request", "image", "mask"}
    assert json.loads(parts["request"].get_content()) == {"op": "stylize", "params": {"strength": 0.5}}
    assert parts["image"].get_filename() == "image.png"
    assert parts["image"].get_content_type() == "image/png"
    assert parts["image"].get_payload(decode=True) == blob
    assert parts["mask"].get_payload(decode=True) == b"\x00\xff"


def test_multipart_body_parses_with_the_servers_parser():
    python_multipart = pytest.importorskip("python_multipart")
    blob = bytes(range(256)) * 5
    body, content_type = wire.encode_multipart({"request": '{"op": "segment"}'},
                                                   {"hint": ("hint.png", "image/png", blob)})
    fields, files = {}, {}
    python_multipart.parse_form(
        {"Content-Type": content_type.encode(), "Content-Length": str(len(body)).encode()}, io.BytesIO(body),
        lambda field: fields.__setitem__(field.field_name.decode(), field.value.decode()),
        lambda file: files.__setitem__(file.field_name.decode(), (file.file_name, file.file_object.getvalue())))
    assert fields == {"request": '{"op": "segment"}'}
    assert files == {"hint": (b"hint.png", blob)}


# ---------------------------------------------------------------- settings

def _write_config(folder: Path, **values) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(values))
    return folder


def test_config_dirs_follow_each_platform(tmp_path):
    home, linux = str(tmp_path), [tmp_path / ".config" / "maskstyle"]
    assert wire_settings.config_dirs({"HOME": home}, "linux") == linux
    assert wire_settings.config_dirs({"HOME": home, "XDG_CONFIG_HOME": "/x/cfg"}, "linux") == [Path("/x/cfg/maskstyle")]
    assert wire_settings.config_dirs({"HOME": home, "XDG_CONFIG_HOME": "rel"}, "linux") == linux  # relative: ignored
    mac = [tmp_path / "Library" / "Application Support" / "maskstyle"]
    assert wire_settings.config_dirs({"HOME": home}, "darwin") == mac
    windows = wire_settings.config_dirs({"USERPROFILE": home, "LOCALAPPDATA": "L", "APPDATA": "R"}, "win32")
    assert windows == [Path("L") / "maskstyle" / "maskstyle", Path("R") / "maskstyle"]
    assert wire_settings.config_dirs({"HOME": home, "MASKSTYLE_CONFIG_DIR": "/o"}, "darwin") == [Path("/o")]


def test_settings_come_from_the_config_file(tmp_path):
    _write_config(tmp_path / ".config" / "maskstyle", port=8123, token="secret",
                  backend_command=["maskstyle", "serve"])
    got = wire_settings.load_settings({"HOME": str(tmp_path)}, "linux")
    assert (got.url, got.token, got.backend_command) == ("http://127.0.0.1:8123", "secret", ["maskstyle", "serve"])
    assert got.config_path == tmp_path / ".config" / "maskstyle" / "config.json"


def test_environment_overrides_the_config_file(tmp_path):
    _write_config(tmp_path / ".config" / "maskstyle", port=1, token="home-token")
    override = _write_config(tmp_path / "override", port=2, token="dir-token",
                             backend_command="maskstyle serve --port 2")
    env = {"HOME": str(tmp_path), "MASKSTYLE_CONFIG_DIR": str(override)}
    got = wire_settings.load_settings(env, "linux")
    assert (got.url, got.token, got.backend_command) == ("http://127.0.0.1:2", "dir-token",
                                                          ["maskstyle", "serve", "--port", "2"])
    env.update(MASKSTYLE_URL="http://localhost:9/", MASKSTYLE_TOKEN="env-token")
    got = wire_settings.load_settings(env, "linux")
    assert (got.url, got.token) == ("http://localhost:9", "env-token")


def test_environment_alone_is_enough(tmp_path):
    env = {"HOME": str(tmp_path), "MASKSTYLE_URL": "http://127.0.0.1:5", "MASKSTYLE_TOKEN": "t"}
    got = wire_settings.load_settings(env, "linux")
    assert (got.url, got.token, got.backend_command) == ("http://127.0.0.1:5", "t", [])


def test_missing_or_broken_config_says_how_to_set_up(tmp_path):
    with pytest.raises(BackendError, match="not set up.*installer"):
        wire_settings.load_settings({"HOME": str(tmp_path)}, "linux")
    folder = tmp_path / ".config" / "maskstyle"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(BackendError, match="cannot be read"):
        wire_settings.load_settings({"HOME": str(tmp_path)}, "linux")


# ---------------------------------------------------------------- an unreachable backend

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_backend_gives_a_readable_error():
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(BackendUnavailable) as caught:
        wire.Client(url, "t").health()
    assert f"Cannot reach the maskstyle backend at {url}" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_connect_without_a_backend_command_says_what_to_do():
    settings = wire_settings.Settings(f"http://127.0.0.1:{_closed_port()}", "t")
    with pytest.raises(BackendUnavailable, match="not running.*maskstyle serve"):
        wire.connect(settings)


def test_a_backend_that_dies_at_start_is_reported(tmp_path):
    settings = wire_settings.Settings(f"http://127.0.0.1:{_closed_port()}", "t",
                                 [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                                 tmp_path / "config.json")
    with pytest.raises(BackendUnavailable, match="exit code 3"):
        wire.connect(settings, timeout=30)
    assert "boom" in (tmp_path / "backend.log").read_text()


def test_a_backend_command_that_does_not_exist_is_reported():
    settings = wire_settings.Settings(f"http://127.0.0.1:{_closed_port()}", "t", ["/nonexistent/maskstyle", "serve"])
    with pytest.raises(BackendUnavailable, match="could not be started"):
        wire.connect(settings)


def test_waiting_for_a_silent_backend_gives_up(tmp_path):
    settings = wire_settings.Settings(f"http://127.0.0.1:{_closed_port()}", "t",
                                 [sys.executable, "-c", "import time; time.sleep(30)"])
    waits = []
    with pytest.raises(BackendUnavailable, match="did not answer"):
        wire.start_backend(settings, on_wait=waits.append, timeout=1.0, interval=0.2)
    assert waits and waits[-1] <= 1.5


# ---------------------------------------------------------------- pixel placing

def _rgba_array(w, h, seed):
    return np.frombuffer(_pattern(w, h, 4), np.uint8).reshape(h, w, 4).copy() + np.uint8(seed)


def test_alpha_in_places_the_layers_alpha_in_the_crop():
    layer = _rgba_array(6, 5, 0)
    crop = Rect(2, 3, 8, 8)  # the layer sits at (4, 1): partly above the crop
    got = np.frombuffer(pixels.alpha_in(layer.tobytes(), Rect(4, 1, 6, 5), crop), np.uint8).reshape(8, 8)
    want = np.zeros((8, 8), np.uint8)
    want[0:3, 2:8] = layer[2:5, :, 3]
    assert np.array_equal(got, want)


def test_with_rgb_from_takes_the_results_colours_and_keeps_the_alpha():
    layer, result = _rgba_array(6, 5, 0), _rgba_array(4, 4, 99)
    got = pixels.with_rgb_from(layer.tobytes(), Rect(10, 10, 6, 5), result.tobytes(), Rect(13, 8, 4, 4))
    got = np.frombuffer(got, np.uint8).reshape(5, 6, 4)
    want = layer.copy()
    want[0:2, 3:6, :3] = result[2:4, 0:3, :3]
    assert np.array_equal(got, want)


def test_mask_from_alpha_reads_the_alpha_into_place():
    rgba = _rgba_array(4, 3, 7)
    got = np.frombuffer(pixels.mask_from_alpha(rgba.tobytes(), Rect(-1, 2, 4, 3), 5, 4), np.uint8).reshape(4, 5)
    want = np.zeros((4, 5), np.uint8)
    want[2:4, 0:3] = rgba[0:2, 1:4, 3]
    assert np.array_equal(got, want)


def test_split_alpha_makes_pixels_opaque_and_returns_their_alpha():
    rgba = bytes([1, 2, 3, 0, 4, 5, 6, 128, 7, 8, 9, 255])
    opaque, alpha = pixels.split_alpha(rgba)
    assert opaque == bytes([1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255])
    assert alpha == bytes([0, 128, 255])


@pytest.mark.parametrize("stage, eta, text", [
    ("painting", None, "painting"),
    ("painting", 0.2, "painting, about 1 s left"),
    ("painting", 41.6, "painting, about 42 s left"),
    ("painting", 150, "painting, about 2 min left"),
    ("", 12, "about 12 s left"),
])
def test_progress_text_says_the_time_left(stage, eta, text):
    assert wire.with_time_left(stage, eta) == text
