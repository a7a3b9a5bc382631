"""The GIMP 2.10 front-end's parts that need no GIMP: its generated argument table, its
rectangle arithmetic (the same crops as the GIMP 3 plug-in), and the Python 3 bridge that runs
its jobs with the wire client, including cancelling when the plug-in goes away."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from maskstyle_wire import bridge, png
from maskstyle_wire import client as wire
from maskstyle_wire import contract
from maskstyle_wire.geometry import Rect

REPO = Path(__file__).resolve().parents[2]


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


link = _module(REPO / "plugin" / "gimp210" / "maskstyle_link.py", "maskstyle_link")


def test_the_argument_table_is_generated_from_the_current_contract():
    generated = (REPO / "plugin" / "gimp210" / "maskstyle_args.py").read_text()
    assert generated == bridge.gimpfu_args_module(), \
        "run: python3 -m maskstyle_wire.bridge --gimpfu-args > plugin/gimp210/maskstyle_args.py"
    namespace: dict = {}
    exec(compile(generated, "maskstyle_args.py", "exec"), namespace)
    stylize = {arg[1]: arg for arg in namespace["ARGUMENTS"]["plug-in-maskstyle-stylize-selection"]}
    assert stylize["quality"][3] == contract.STYLIZE.param("quality").default
    assert [value for _, value in stylize["method"][4]] == list(contract.choice_values("stylize", "method"))
    assert stylize["seed"][4][:2] == (0, contract.MAX_SEED)


@pytest.mark.parametrize("selection, layer", [((30, 28, 36, 30), (10, 12, 80, 72)), ((0, 0, 5, 5), (0, 0, 96, 96)),
                                              ((40, 40, 200, 10), (10, 12, 80, 72))])
def test_the_crop_is_the_gimp3_plugins(selection, layer):
    area = link.intersect(selection, layer)
    ours = link.grow(area, layer)
    theirs = Rect(*selection).intersect(Rect(*layer)).grow(Rect(*layer))
    assert ours == tuple(theirs)


def test_bounds_alpha_and_color_helpers():
    mask = bytes([0] * 10 + [0, 0, 5, 9, 0] + [0] * 5)
    assert link.bounds(mask, 5, 4) == (2, 2, 2, 1) == tuple(Rect.bounds(mask, 5, 4))
    rgba = bytes(range(2 * 2 * 4))
    opaque, alpha = link.split_alpha(rgba, 4)
    assert alpha == bytes([3, 7, 11, 15]) and opaque[3::4] == b"\xff" * 4
    assert link.alpha_in(rgba, 4, (1, 1, 2, 2), (0, 0, 3, 3)) == bytes([0, 0, 0, 0, 3, 7, 0, 11, 15])
    red = bytes([255, 0, 0, 9] * 4)
    mixed = link.with_color_from(rgba, (0, 0, 2, 2), red, (1, 0, 2, 2), 4)
    assert mixed[4:8] == bytes([255, 0, 0, 7]) and mixed[0:4] == rgba[0:4]


def test_gray_and_rgb_convert_to_what_the_backend_and_gimp_take():
    assert bridge.to_color(bytes([7, 9]), 1) == (bytes([7, 7, 7, 9, 9, 9]), 3)
    assert bridge.to_color(bytes([7, 200]), 2) == (bytes([7, 7, 7, 200]), 4)
    assert bridge.to_rgba(bytes([1, 2, 3]), 3) == bytes([1, 2, 3, 255])
    assert bridge.to_gray_alpha(bytes([255, 255, 255, 40, 0, 0, 0, 50])) == bytes([255, 40, 0, 50])


# ---------------------------------------------------------------- the bridge against the real backend

def _parts(size=64):
    y, x = np.mgrid[0:size, 0:size]
    image = np.stack([x * 4, y * 4, (x + y) * 2], -1).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[16:48, 12:40] = 255
    style = np.where((((x + y) // 4) % 2)[..., None], [200, 30, 40], [20, 60, 210]).astype(np.uint8)
    return image, mask, style


@pytest.fixture
def bridge_env(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("MASKSTYLE_URL", backend.url)
    monkeypatch.setenv("MASKSTYLE_TOKEN", backend.token)
    monkeypatch.setenv("MASKSTYLE_CONFIG_DIR", str(tmp_path / "no-config"))
    monkeypatch.setenv("MASKSTYLE_PYTHON", sys.executable)
    monkeypatch.setattr(link, "HERE", str(REPO / "wire"))  # the wire package, as beside the installed plug-in
    return backend


def test_a_stylize_job_runs_through_the_bridge(bridge_env, tmp_path):
    image, mask, style = _parts()
    style_path = tmp_path / "waves.png"
    style_path.write_bytes(png.encode(style.tobytes(), 64, 64, 3))
    progress = []
    layers, final = link.run_job(
        "stylize", {"quality": "fast", "seed": 1, "strength": 1.0},
        {"image": (image.tobytes(), 64, 64, 3), "mask": (mask.tobytes(), 64, 64, 1), "style": str(style_path)},
        on_progress=lambda fraction, stage: progress.append((fraction, stage)))
    assert len(layers) == 1 and progress and progress[0][1] == "sending"
    name, x, y, w, h, pixels = layers[0]
    assert len(pixels) == w * h * 4
    alpha = np.frombuffer(pixels, np.uint8).reshape(h, w, 4)[..., 3]
    assert np.array_equal(alpha, mask[y:y + h, x:x + w])  # the one result rule: the alpha is the mask


def test_bridge_errors_come_back_in_the_backends_words(bridge_env, monkeypatch):
    monkeypatch.setenv("MASKSTYLE_TOKEN", "wrong-token-wrong-token")
    image, mask, _ = _parts()
    with pytest.raises(link.UserError, match="refused the access token"):
        link.run_job("blur", {}, {"image": (image.tobytes(), 64, 64, 3), "mask": (mask.tobytes(), 64, 64, 1)})


def test_the_job_is_cancelled_when_the_plugin_goes_away(bridge_env, tmp_path):
    """The plug-in's end of the pipe closes (GIMP killed it): the bridge cancels the job."""
    image, mask, style = _parts(256)
    job = link.Job("stylize", {"quality": "best", "method": "neural", "seed": 1})
    job.add_pixels("image", image.tobytes(), 256, 256, 3)
    job.add_pixels("mask", mask.tobytes(), 256, 256, 1)
    job.add_pixels("style", style.tobytes(), 256, 256, 3)
    (Path(job.folder) / "request.json").write_text(json.dumps(job.request))
    process = subprocess.Popen([sys.executable, "-m", "maskstyle_wire.bridge", job.folder], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=link.bridge_env())
    try:
        while True:  # wait until the job is sent
            event = json.loads(process.stdout.readline())
            if event["event"] == "progress" and event["stage"] != "sending":
                break
        client = wire.Client(bridge_env.url, bridge_env.token)
        deadline = time.monotonic() + 60
        while not client.info()["queue"]["running"] and time.monotonic() < deadline:
            time.sleep(0.1)  # it may wait in the queue for a moment on a busy machine
        running = client.info()["queue"]["running"]
        process.stdin.close()
        assert process.wait(timeout=30) == bridge.EXIT_CANCELLED
        deadline = time.monotonic() + 30
        while client.info()["queue"]["running"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert running and not client.info()["queue"]["running"]
    finally:
        if process.poll() is None:
            process.kill()
        job.close()


@pytest.mark.parametrize("platform, env", [
    ("linux", {"HOME": "/home/a"}), ("linux", {"HOME": "/home/a", "XDG_CONFIG_HOME": "/x"}),
    ("linux", {"HOME": "/home/a", "XDG_CONFIG_HOME": "relative"}), ("darwin", {"HOME": "/Users/a"}),
    ("win32", {"USERPROFILE": "C:/Users/a", "LOCALAPPDATA": "C:/L", "APPDATA": "C:/R"}),
    ("linux", {"HOME": "/home/a", "MASKSTYLE_CONFIG_DIR": "/c"})])
def test_the_plugin_finds_the_config_where_the_wire_settings_put_it(platform, env):
    from maskstyle_wire import settings
    assert [Path(p) for p in link.config_dirs(env, platform)] == settings.config_dirs(env, platform)


def test_the_bridge_runs_with_the_backends_python_from_the_config(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"port": 1, "token": "x" * 16,
                                                    "backend_command": [sys.executable, "-m", "maskstyle.cli"]}))
    monkeypatch.delenv("MASKSTYLE_PYTHON", raising=False)
    monkeypatch.setenv("MASKSTYLE_CONFIG_DIR", str(config))
    assert link.python3_command() == [sys.executable]
    monkeypatch.setenv("MASKSTYLE_PYTHON", "/nowhere/python3")
    with pytest.raises(link.UserError, match="MASKSTYLE_PYTHON names /nowhere/python3"):
        link.python3_command()
