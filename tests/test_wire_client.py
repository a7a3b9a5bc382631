"""The wire client (maskstyle_wire.client, what the plug-ins, the installer and the CLI use)
against a real backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from maskstyle_wire import client as wire
from maskstyle_wire import png
from maskstyle_wire.errors import BackendError, JobCancelled
from maskstyle_wire.settings import Settings, write_config
from server_process import Backend, free_port

FAST = {"quality": "fast", "strength": 1.0, "seed": 1, "iterations": 2, "max_side": 64}
SLOW = {"quality": "best", "strength": 1.0, "seed": 1, "iterations": 1000, "max_side": 256, "method": "neural"}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    running = Backend(tmp_path_factory.mktemp("cfg"))
    yield running
    running.stop()


def client_for(backend) -> wire.Client:
    return wire.Client(backend.url, backend.token, timeout=120)


def _png(array):
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    return png.encode(np.ascontiguousarray(array, np.uint8).tobytes(), w, h, channels)


def _stylize_files(size=48):
    y, x = np.mgrid[0:size, 0:size]
    image = np.dstack([x * 5 % 256, y * 5 % 256, (x + y) * 3 % 256])
    mask = np.zeros((size, size), np.uint8)
    mask[10:34, 12:38] = 255
    style = np.where((((x + y) // 4) % 2)[..., None], [220, 40, 40], [30, 40, 200])
    return {"image": ("image.png", "image/png", _png(image)), "mask": ("mask.png", "image/png", _png(mask)),
            "style": ("style.png", "image/png", _png(style))}


def _wait_for_state(client, job_id, states, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.status(job_id)["state"]
        if state in states:
            return state
        time.sleep(0.1)
    pytest.fail(f"job {job_id} never reached {states}")


def test_a_stylize_job_runs_and_its_layer_downloads(backend):
    client = client_for(backend)
    assert client.health()
    seen = []
    result = client.run_job("stylize", FAST, _stylize_files(), on_progress=lambda f, s: seen.append((f, s)))
    layer = result["layers"][0]
    width, height, channels, pixels = png.decode(client.fetch(layer["url"]))
    assert (width, height, channels) == (layer["width"], layer["height"], 4)
    assert layer["x"] <= 12 and layer["y"] <= 10
    assert layer["x"] + width >= 38 and layer["y"] + height >= 34
    assert result["encoder"] == "none" and result["info"] == {"method": "patch"}
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)


def test_backend_errors_come_back_as_readable_messages(backend):
    with pytest.raises(BackendError, match="refused the access token"):
        wire.Client(backend.url, "wrong").submit("stylize", FAST, _stylize_files())
    client = client_for(backend)
    files = _stylize_files()
    files["mask"] = ("mask.png", "image/png", _png(np.zeros((10, 10), np.uint8)))
    with pytest.raises(BackendError) as caught:
        client.run_job("stylize", FAST, files)
    assert "Traceback" not in str(caught.value) and len(str(caught.value)) < 400
    with pytest.raises(BackendError) as caught:
        client.submit("no-such-op", {}, _stylize_files())
    assert "no-such-op" in str(caught.value)


def test_on_status_sees_every_answer_the_errors_included(backend):
    statuses = []
    client = wire.Client(backend.url, backend.token, timeout=120, on_status=statuses.append)
    client.health()
    job_id = client.submit("stylize", FAST, _stylize_files())
    with pytest.raises(BackendError):
        client.status("no-such-job")
    with pytest.raises(BackendError):
        wire.Client(backend.url, "wrong", on_status=statuses.append).info()
    assert statuses == [200, 202, 404, 401]
    _wait_for_state(client, job_id, {"done"})


def test_cancel_stops_a_running_job(backend):
    client = client_for(backend)
    job_id = client.submit("stylize", SLOW, _stylize_files(96))
    _wait_for_state(client, job_id, {"running"})
    client.cancel(job_id)
    with pytest.raises(JobCancelled):
        client.wait(job_id)


def test_a_killed_plugin_leaves_no_job_running(backend, tmp_path):
    """GIMP kills a plug-in whose progress bar is cancelled; the guard then cancels the job."""
    for name, (_, _, data) in _stylize_files(96).items():
        (tmp_path / f"{name}.png").write_bytes(data)
    script = textwrap.dedent(f"""
        import sys, time
        from maskstyle_wire import client as wire
        files = {{name: (name + ".png", "image/png", open({str(tmp_path)!r} + "/" + name + ".png", "rb").read())
                 for name in ("image", "mask", "style")}}
        client = wire.Client({backend.url!r}, {backend.token!r})
        job = client.submit("stylize", {SLOW!r}, files)
        guard = wire.CancelGuard(client, job)
        print(job, flush=True)
        time.sleep(120)
    """)
    plugin = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    job_id = plugin.stdout.readline().strip()
    client = client_for(backend)
    _wait_for_state(client, job_id, {"running"})
    os.kill(plugin.pid, signal.SIGKILL)
    plugin.wait()
    assert _wait_for_state(client, job_id, {"cancelled", "done", "failed"}, timeout=30) == "cancelled"


def test_connect_starts_the_backend_from_its_command(tmp_path, monkeypatch):
    port = free_port()
    command = [sys.executable, "-m", "maskstyle.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    monkeypatch.setenv("MASKSTYLE_CONFIG_DIR", str(tmp_path))
    token = "0123456789abcdef0123"  # the config's, which the started backend reads too
    write_config({"port": port, "token": token, "backend_command": command}, tmp_path / "config.json")
    settings = Settings(f"http://127.0.0.1:{port}", token, command, tmp_path / "config.json")
    waited = []
    client = wire.connect(settings, on_wait=waited.append, timeout=180)
    try:
        assert client.process is not None and client.process.poll() is None
        assert client.health()
    finally:
        client.process.terminate()
        client.process.wait(timeout=30)
