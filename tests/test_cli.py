"""`maskstyle stylize` as a user runs it: real files, a real process, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
import struct

import numpy as np
import pytest
from PIL import Image

from conftest import make_content, make_mask, make_style

QUICK = ["--quality", "fast", "--iterations", "2", "--max-side", "48", "--encoder", "builtin"]


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "maskstyle.cli", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)


@pytest.fixture
def files(tmp_path):
    Image.fromarray(make_content()).save(tmp_path / "content.png")
    Image.fromarray(make_style()).save(tmp_path / "style.jpg")
    Image.fromarray(make_mask()).save(tmp_path / "mask.png")
    return tmp_path


def test_stylize_writes_the_image_and_the_layers(files):
    out = files / "out.png"
    r = run("stylize", files / "content.png", "--style", files / "style.jpg", "--mask",
            files / "mask.png", "--out", out, "--layers-dir", files / "layers", *QUICK)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and "method patch" in r.stdout
    result, content, mask = np.asarray(Image.open(out)), make_content(), make_mask()
    assert np.array_equal(result[mask == 0], content[mask == 0])
    manifest = json.loads((files / "layers" / "layers.json").read_text())
    (layer,) = manifest["layers"]
    assert layer["name"] == "Stylized (style)"
    rgba = np.asarray(Image.open(files / "layers" / layer["file"]))
    lmask = np.asarray(Image.open(files / "layers" / layer["mask"]))
    assert rgba.shape == (layer["height"], layer["width"], 4)
    assert np.array_equal(lmask, mask[layer["y"]:layer["y"] + layer["height"],
                                      layer["x"]:layer["x"] + layer["width"]])


def _bomb_png(path, width=20000, height=20000):
    """A valid PNG header for a huge image, with almost no data behind it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                     chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("case,expected", [
    ("missing", "does not exist"),
    ("not_an_image", "not a readable image"),
    ("truncated", "truncated or corrupt"),
    ("mask_size", "the mask must be the same size"),
    ("empty_mask", "empty"),
    ("too_large", "over the limit"),
    ("bomb", "over the limit"),
    ("bad_strength", "strength must be between 0 and 1"),
])
def test_bad_input_exits_nonzero_with_one_clear_line_and_writes_nothing(files, case, expected):
    content, mask, extra, env = files / "content.png", files / "mask.png", [], {}
    if case == "missing":
        content = files / "nope.png"
    elif case == "not_an_image":
        content = files / "notes.png"
        content.write_text("this is text, not a picture")
    elif case == "truncated":
        content = files / "cut.png"
        content.write_bytes((files / "content.png").read_bytes()[:200])
    elif case == "mask_size":
        mask = files / "small_mask.png"
        Image.fromarray(make_mask(32, 40)).save(mask)
    elif case == "empty_mask":
        mask = files / "empty.png"
        Image.fromarray(np.zeros((64, 80), np.uint8)).save(mask)
    elif case == "too_large":
        env = {"MASKSTYLE_MAX_PIXELS": "1000"}
    elif case == "bomb":
        content = files / "bomb.png"
        _bomb_png(content)
    elif case == "bad_strength":
        extra = ["--strength", "3"]
    out = files / "out.png"
    r = run("stylize", content, "--style", files / "style.jpg", "--mask", mask, "--out", out,
            *QUICK, *extra, env=env)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("maskstyle: error:") and expected in lines[0], lines[0]
    assert not out.exists()
    assert sorted(p.name for p in files.iterdir() if p.name.startswith("out")) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_outputs_get_the_permissions_the_umask_gives(files, umask, mode):
    """Atomic writes go through a 0600 temporary file; the result must not keep that mode."""
    out = files / "out.png"
    r = subprocess.run([sys.executable, "-m", "maskstyle.cli", "stylize", str(files / "content.png"),
                        "--style", str(files / "style.jpg"), "--mask", str(files / "mask.png"),
                        "--out", str(out), "--layers-dir", str(files / "layers"), *QUICK],
                       capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(umask))
    assert r.returncode == 0, r.stderr
    written = [out] + sorted((files / "layers").glob("*.png"))
    assert len(written) >= 3
    assert {p.name: os.stat(p).st_mode & 0o777 for p in written} == {p.name: mode for p in written}


def test_output_may_not_overwrite_an_input(files):
    before = (files / "content.png").read_bytes()
    r = run("stylize", files / "content.png", "--style", files / "style.jpg", "--mask",
            files / "mask.png", "--out", files / "content.png", *QUICK)
    assert r.returncode != 0 and "also an input" in r.stderr
    assert (files / "content.png").read_bytes() == before


def test_models_list_names_the_registry(tmp_path):
    r = run("models", "list", env={"MASKSTYLE_MODELS_DIR": str(tmp_path)})
    assert r.returncode == 0
    assert "vgg19" in r.stdout and "not installed" in r.stdout
    r = run("models", "verify", "vgg19", env={"MASKSTYLE_MODELS_DIR": str(tmp_path)})
    assert r.returncode == 1 and "maskstyle models install vgg19" in r.stderr


def _pasted(tmp_path):
    image = np.zeros((64, 80, 3), np.uint8)
    image[:] = (70, 90, 130)
    image[20:44, 28:52] = (220, 120, 90)
    mask = np.zeros((64, 80), np.uint8)
    mask[20:44, 28:52] = 255
    Image.fromarray(image).save(tmp_path / "comp.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return image, mask


def test_harmonize_command_keeps_the_outside_and_reports_bad_masks(tmp_path):
    image, mask = _pasted(tmp_path)
    r = run("harmonize", tmp_path / "comp.png", "--mask", tmp_path / "mask.png", "--out",
            tmp_path / "out.png")
    assert r.returncode == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "out.png"))
    far = np.ones_like(mask, bool)
    far[10:54, 18:62] = False  # well beyond the pasted square and its edge band
    assert np.array_equal(out[far], image[far])
    Image.fromarray(mask[:32]).save(tmp_path / "small.png")
    r = run("harmonize", tmp_path / "comp.png", "--mask", tmp_path / "small.png", "--out",
            tmp_path / "out2.png")
    assert r.returncode != 0 and "same size" in r.stderr and not (tmp_path / "out2.png").exists()


def test_segment_command_refines_a_hint_and_needs_one(tmp_path):
    image, mask = _pasted(tmp_path)
    hint = np.zeros_like(mask)
    hint[16:48, 24:56] = 255
    Image.fromarray(hint).save(tmp_path / "hint.png")
    r = run("segment", tmp_path / "comp.png", "--target", "refine", "--hint", tmp_path / "hint.png",
            "--out", tmp_path / "sel.png")
    assert r.returncode == 0, r.stderr
    sel = np.asarray(Image.open(tmp_path / "sel.png"))
    assert sel.shape == mask.shape and ((sel > 127) == (mask > 127)).mean() > 0.95
    r = run("segment", tmp_path / "comp.png", "--target", "refine", "--out", tmp_path / "x.png")
    assert r.returncode != 0 and "needs --hint" in r.stderr


def test_segment_person_without_the_model_warns_in_one_line(tmp_path):
    _pasted(tmp_path)
    r = run("segment", tmp_path / "comp.png", "--target", "person", "--out", tmp_path / "p.png",
            env={"MASKSTYLE_MODELS_DIR": str(tmp_path / "no-models")})
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert warnings == ["maskstyle: warning: the person model is not installed, so this is the main "
                        "subject, person or not; install it with: maskstyle models install deeplabv3"]


def test_a_token_that_starts_with_a_dash_is_accepted_with_equals(files):
    """`--token=-abc` is a value, not an option; without --token the config's (or
    MASKSTYLE_TOKEN) is used, so no token has to sit on a command line."""
    r = run("stylize", files / "content.png", "--style", files / "style.jpg", "--mask",
            files / "mask.png", "--out", files / "o.png", "--server", "http://127.0.0.1:9",
            "--token=-abc", *QUICK)
    assert r.returncode != 0
    assert "expected one argument" not in r.stderr and "not running" in r.stderr
