"""The weights registry and the VGG-19 loader, with weight files the tests write themselves."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest
import torch

from maskstyle import models
from maskstyle.engine.encoders import VGG19Encoder, load_encoder
from maskstyle.errors import ModelError


def _register_test_file(monkeypatch, tmp_path, name: str, payload: bytes | None = None):
    """Point the registry entry `name` at a test-made file in a temporary models dir."""
    monkeypatch.setenv("MASKSTYLE_MODELS_DIR", str(tmp_path))
    w = models.REGISTRY[name]
    path = tmp_path / w.filename
    if payload is not None:
        path.write_bytes(payload)
    entry = dataclasses.replace(w, sha256=models.sha256_of(path), size=path.stat().st_size,
                                size_tolerance=0)
    monkeypatch.setitem(models.REGISTRY, name, entry)
    return entry


@pytest.fixture(scope="module")
def vgg_features_bytes(tmp_path_factory):
    """VGG-19's convolutional weights with torchvision's keys and shapes (random values)."""
    from torchvision.models import vgg19

    torch.manual_seed(0)
    state = {k: v for k, v in vgg19(weights=None).state_dict().items() if k.startswith("features.")}
    path = tmp_path_factory.mktemp("w") / "vgg.pth"
    torch.save(state, path)
    return path.read_bytes()


def test_vgg19_loads_a_correct_file_and_taps_its_layers(monkeypatch, tmp_path, vgg_features_bytes):
    _register_test_file(monkeypatch, tmp_path, "vgg19", vgg_features_bytes)
    assert models.is_installed("vgg19")
    enc = load_encoder("vgg19")
    feats = enc(torch.rand(1, 3, 64, 64))
    masks = enc.carry_mask(torch.ones(1, 1, 64, 64))
    assert feats["relu1_1"].shape == (1, 64, 64, 64)
    assert feats["relu5_1"].shape == (1, 512, 4, 4)
    for name in enc.style_layers:
        assert masks[name].shape[-2:] == feats[name].shape[-2:]


def test_neural_stylize_runs_on_installed_vgg19(monkeypatch, tmp_path, vgg_features_bytes,
                                                  content, style, mask):
    """With VGG-19 installed, the neural method's losses and presets run on it, and `auto`
    picks it; the default patch method still needs no encoder."""
    import numpy as np

    from maskstyle.engine.stylize import StylizeOptions, stylize

    _register_test_file(monkeypatch, tmp_path, "vgg19", vgg_features_bytes)
    options = StylizeOptions(method="neural", quality="fast", iterations=2, max_side=48)
    result = stylize(content, mask, style, options)
    assert result.encoder == "vgg19" and result.method == "neural"
    assert np.array_equal(result.image[mask == 0], content[mask == 0])
    assert stylize(content, mask, style, StylizeOptions(quality="fast", iterations=1)).encoder == "none"


def test_vgg19_refuses_a_corrupt_file(monkeypatch, tmp_path, vgg_features_bytes):
    w = _register_test_file(monkeypatch, tmp_path, "vgg19", vgg_features_bytes)
    data = bytearray(vgg_features_bytes)
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    w.path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt.*maskstyle models install vgg19"):
        VGG19Encoder.from_registry()


def test_vgg19_refuses_a_truncated_file(monkeypatch, tmp_path, vgg_features_bytes):
    w = _register_test_file(monkeypatch, tmp_path, "vgg19", vgg_features_bytes)
    w.path.write_bytes(vgg_features_bytes[:1000])
    with pytest.raises(ModelError, match="wrong size"):
        VGG19Encoder.from_registry()


def test_vgg19_refuses_a_file_with_other_shapes(monkeypatch, tmp_path):
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "bad.pth")
    _register_test_file(monkeypatch, tmp_path, "vgg19", (tmp_path / "bad.pth").read_bytes())
    with pytest.raises(ModelError, match="does not fit"):
        VGG19Encoder.from_registry()


def test_missing_vgg19_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKSTYLE_MODELS_DIR", str(tmp_path))
    assert not models.is_installed("vgg19")
    with pytest.raises(ModelError, match="not installed.*maskstyle models install vgg19"):
        load_encoder("vgg19")
    assert load_encoder("auto").name == "builtin"


class _Server:
    """A loopback HTTP server for one file, with Range support, optionally cut short."""

    def __init__(self, payload: bytes, cut_at: int | None = None):
        outer = self
        self.payload, self.cut_at, self.requests = payload, cut_at, []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = int(rng.split("=")[1].rstrip("-")) if rng else 0
                body = outer.payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_at is not None and not rng:
                    self.wfile.write(body[:outer.cut_at])  # the connection drops midway
                    return
                self.wfile.write(body)

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/w.pth"

    def close(self):
        self.httpd.shutdown()


def test_download_resumes_and_verifies(monkeypatch, tmp_path):
    payload = bytes(range(256)) * 4000
    src = tmp_path / "src"
    src.mkdir()
    (src / "w").write_bytes(payload)
    monkeypatch.setenv("MASKSTYLE_MODELS_DIR", str(tmp_path / "models"))
    entry = dataclasses.replace(models.REGISTRY["vgg19"], sha256=models.sha256_of(src / "w"),
                                size=len(payload), size_tolerance=0)
    server = _Server(payload, cut_at=100_000)
    try:
        with pytest.raises(ModelError, match="resume|could not download|failed"):
            models.download(entry, url=server.url, timeout=5)
        assert not entry.path.exists()  # nothing half-written in place
        server.cut_at = None
        path = models.download(entry, url=server.url, timeout=5)
        assert path.read_bytes() == payload
        assert server.requests[-1] and server.requests[-1].startswith("bytes=")  # it resumed
    finally:
        server.close()


def test_download_with_wrong_hash_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKSTYLE_MODELS_DIR", str(tmp_path))
    payload = b"x" * 5000
    entry = dataclasses.replace(models.REGISTRY["vgg19"], sha256="00" * 32, size=len(payload),
                                size_tolerance=0)
    server = _Server(payload)
    try:
        with pytest.raises(ModelError, match="SHA-256"):
            models.download(entry, url=server.url, timeout=5)
    finally:
        server.close()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------ MASKSTYLE_MODELS_REGISTRY: a mirror, other files

def test_a_registry_file_changes_the_fields_it_names(tmp_path):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"vgg19": {"url": "https://mirror.example/vgg19.pth",
                                          "filename": "vgg19-own.pth", "sha256": "AB" * 32,
                                          "size": 1234, "size_tolerance": 0}}))
    registry = models.with_overrides(models.REGISTRY, path)
    w = registry["vgg19"]
    assert (w.url, w.filename, w.sha256, w.size, w.size_tolerance) == (
        "https://mirror.example/vgg19.pth", "vgg19-own.pth", "AB" * 32, 1234, 0)
    assert w.purpose == models.REGISTRY["vgg19"].purpose
    assert registry["deeplabv3"] == models.REGISTRY["deeplabv3"]
    assert models.REGISTRY["vgg19"].filename == "vgg19-dcbb9e9d.pth"  # the built-in one is untouched


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not valid JSON"),
    ('["vgg19"]', "must hold a JSON object"),
    ('{"vgg16": {"url": "https://x/y.pth"}}', "unknown model 'vgg16'; known: vgg19, deeplabv3"),
    ('{"vgg19": "https://x/y.pth"}', "must give 'vgg19' an object of fields"),
    ('{"vgg19": {"purpose": "x"}}', "bad 'vgg19.purpose': only url, filename, sha256, size"),
    ('{"vgg19": {"url": "ftp://x/y.pth"}}', "bad 'vgg19.url': expected an http://, https:// or file: URL"),
    ('{"vgg19": {"filename": "../../etc/x.pth"}}', "bad 'vgg19.filename': expected a plain file name"),
    ('{"vgg19": {"sha256": "xyz"}}', "bad 'vgg19.sha256': expected the SHA-256 in hex"),
    ('{"vgg19": {"size": "12"}}', "bad 'vgg19.size': expected a whole number of bytes above 0"),
    ('{"vgg19": {"size_tolerance": -1}}', "bad 'vgg19.size_tolerance': expected a whole number"),
])
def test_a_malformed_registry_file_is_a_clear_error(tmp_path, content, problem):
    path = tmp_path / "registry.json"
    path.write_text(content)
    with pytest.raises(ModelError) as info:
        models.with_overrides(models.REGISTRY, path)
    assert str(info.value).startswith(f"the models registry file {path} (from MASKSTYLE_MODELS_REGISTRY) ")
    assert problem in str(info.value)


def test_a_missing_registry_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match=r"registry file .*missing\.json .*cannot be read"):
        models.with_overrides(models.REGISTRY, tmp_path / "missing.json")


def _maskstyle(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maskstyle.cli", *args], env=env, text=True,
                          capture_output=True, timeout=120)


def test_models_install_downloads_from_the_mirror_a_registry_file_names(tmp_path):
    """As a user behind a firewall sets it up: no --url, the mirror comes from the file."""
    payload = b"weights from the mirror" * 100
    server = _Server(payload)
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"vgg19": {"url": server.url, "filename": "vgg19-mirror.pth",
                                              "sha256": hashlib.sha256(payload).hexdigest(),
                                              "size": len(payload), "size_tolerance": 0}}))
    env = {**os.environ, "MASKSTYLE_MODELS_DIR": str(tmp_path / "models"),
           "MASKSTYLE_MODELS_REGISTRY": str(registry)}
    try:
        done = _maskstyle("models", "install", "vgg19", env=env)
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "models" / "vgg19-mirror.pth").read_bytes() == payload
    assert server.requests == [None]  # one plain GET, to the mirror

    registry.write_text('{"vgg19": {"size": "big"}}')
    done = _maskstyle("models", "list", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"maskstyle: error: the models registry file {registry} "
                                  "(from MASKSTYLE_MODELS_REGISTRY) has a bad 'vgg19.size'")


def test_models_help_documents_the_registry_file():
    done = _maskstyle("models", "--help", env=dict(os.environ))
    assert done.returncode == 0 and "MASKSTYLE_MODELS_REGISTRY" in done.stdout
    assert "docs/models.md" in done.stdout
