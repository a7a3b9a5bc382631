"""The backend over real HTTP on loopback: jobs, cancel, auth, Host check, limits, errors."""

from __future__ import annotations

import http.client as httpclient
import io
import json
import os
import struct
import time
import zlib

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from conftest import make_content, make_mask, make_style
from maskstyle.client import Client
from maskstyle.errors import InputError
from maskstyle_wire import contract
from maskstyle_wire.client import encode_multipart
from server_process import backend_fixture

QUICK = {"quality": "fast", "iterations": 2, "max_side": 48, "encoder": "builtin"}
# The neural method with many iterations: a job that runs long enough to be cancelled or queued behind.
SLOW = {"quality": "fast", "iterations": 1000, "max_side": 64, "encoder": "builtin", "method": "neural"}


def png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


FILES = {"image": png(make_content()), "mask": png(make_mask()), "style": png(make_style())}


backend = backend_fixture(MASKSTYLE_MAX_QUEUED="2", MASKSTYLE_MAX_PIXELS="1500000")


@pytest.fixture
def http(backend):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {backend.token}"
    return s


def submit(http, backend, op="stylize", params=None, files=None):
    parts = {"request": (None, json.dumps({"op": op, "params": params if params is not None else QUICK}))}
    for name, data in (FILES if files is None else files).items():
        parts[name] = (f"{name}.png", data)
    return http.post(backend.url + "/v1/jobs", files=parts, timeout=30)


def wait(http, backend, job_id, states=("done", "failed", "cancelled"), timeout=120):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st_ = http.get(f"{backend.url}/v1/jobs/{job_id}", timeout=10).json()
        seen.append(st_)
        if st_["state"] in states:
            return st_, seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stuck in {seen[-1]}")


def test_config_file_is_private(backend):
    assert (os.stat(backend.config_dir / "config.json").st_mode & 0o777) == 0o600


def test_new_tokens_never_look_like_an_option(tmp_path, monkeypatch):
    """A token starting with '-' broke `--token TOKEN` (about one token in 64 did)."""
    from maskstyle.config import load_config

    monkeypatch.delenv("MASKSTYLE_TOKEN", raising=False)
    for i in range(100):
        monkeypatch.setenv("MASKSTYLE_CONFIG_DIR", str(tmp_path / str(i)))
        token = load_config(create=True).token
        assert len(token) >= 32 and token[0] != "-" and token.isalnum()


def test_stylize_job_end_to_end(http, backend):
    r = submit(http, backend)
    assert r.status_code == 202, r.text
    final, seen = wait(http, backend, r.json()["id"])
    assert final["state"] == "done" and final["progress"] == 1.0 and final["error"] is None
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress)
    manifest = http.get(f"{backend.url}/v1/jobs/{final['id']}/result").json()
    assert manifest["encoder"] == "none" and manifest["device"] == "cpu"
    assert manifest["info"] == {"method": "patch"}
    (layer,) = manifest["layers"]
    assert {"name", "x", "y", "width", "height", "url"} <= layer.keys()
    rgba = np.asarray(Image.open(io.BytesIO(http.get(backend.url + layer["url"]).content)))
    assert rgba.shape == (layer["height"], layer["width"], 4)
    # the one result rule: the layer's alpha is its mask, the selection sent, where the layer lies
    x, y, w, h = layer["x"], layer["y"], layer["width"], layer["height"]
    assert np.array_equal(rgba[..., 3], make_mask()[y:y + h, x:x + w])
    assert requests.get(backend.url + layer["url"]).status_code == 401  # layers need the token too


def test_second_job_with_the_same_style_reuses_its_preparation(http, backend):
    before = http.get(backend.url + "/v1/info").json()["cache"]
    wait(http, backend, submit(http, backend).json()["id"])
    wait(http, backend, submit(http, backend).json()["id"])
    after = http.get(backend.url + "/v1/info").json()["cache"]
    assert after["hits"] >= before["hits"] + 2


def test_a_running_job_tells_the_time_left(http, backend):
    job_id = submit(http, backend, params=SLOW).json()["id"]
    assert http.get(f"{backend.url}/v1/jobs/{job_id}").json()["eta_seconds"] is None  # nothing measured yet
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = http.get(f"{backend.url}/v1/jobs/{job_id}").json()
        if status["progress"] >= 0.06:
            break
        time.sleep(0.1)
    assert status["state"] == "running" and status["eta_seconds"] > 0
    # the speed so far predicts the rest: elapsed * (1 - p) / p, within the polling's slack
    expected = status["run_seconds"] * (1 - status["progress"]) / status["progress"]
    assert abs(status["eta_seconds"] - expected) <= 0.1 * expected + 0.2
    http.delete(f"{backend.url}/v1/jobs/{job_id}")
    final, _ = wait(http, backend, job_id, timeout=30)
    assert final["eta_seconds"] is None


def test_cancel_a_running_job(http, backend):
    job_id = submit(http, backend, params=SLOW).json()["id"]
    wait(http, backend, job_id, states=("running",))
    assert http.delete(f"{backend.url}/v1/jobs/{job_id}").status_code == 200
    final, _ = wait(http, backend, job_id, timeout=20)
    assert final["state"] == "cancelled"
    assert http.get(f"{backend.url}/v1/jobs/{job_id}/result").status_code == 409


def test_full_queue_answers_429_then_recovers(http, backend):
    running = submit(http, backend, params=SLOW).json()["id"]
    wait(http, backend, running, states=("running",))
    queued = [submit(http, backend, params=SLOW) for _ in range(2)]
    assert all(r.status_code == 202 for r in queued)
    r = submit(http, backend, params=SLOW)
    assert r.status_code == 429 and "busy" in r.json()["error"]["message"]
    for job_id in [running] + [q.json()["id"] for q in queued]:
        http.delete(f"{backend.url}/v1/jobs/{job_id}")
    final, _ = wait(http, backend, queued[-1].json()["id"], timeout=20)
    assert final["state"] == "cancelled"


@pytest.mark.parametrize("headers,status", [({}, 401), ({"Authorization": "Bearer wrong"}, 401),
                                            ({"Authorization": "Basic abc"}, 401)])
def test_token_is_required(backend, headers, status):
    r = requests.get(backend.url + "/v1/info", headers=headers)
    assert r.status_code == status and r.json()["error"]["code"] == "unauthorized"
    assert requests.get(backend.url + "/v1/health").status_code == 200  # health is open


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "localhost:1", "10.0.0.1"])
def test_foreign_host_is_refused(http, backend, host):
    r = http.get(backend.url + "/v1/info", headers={"Host": host})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_host"


def _png_header_only(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("case,status,words", [
    ("corrupt_png", 400, "not a readable image"),
    ("truncated_png", 400, "truncated or corrupt"),
    ("mask_size", 400, "same size"),
    ("empty_mask", 400, "empty"),
    ("huge_header", 400, "over the limit"),
    ("bad_strength", 400, "strength"),
    ("bad_quality", 400, "quality"),
    ("unknown_param", 400, "unknown parameter 'weights_path'"),
    ("unknown_op", 400, "unknown op"),
    ("missing_style", 400, "'style' file part is missing"),
])
def test_bad_requests_get_clear_4xx(http, backend, case, status, words):
    files, params, op = dict(FILES), dict(QUICK), "stylize"
    if case == "corrupt_png":
        files["image"] = b"\x89PNG\r\n\x1a\n" + b"garbage" * 50
    elif case == "truncated_png":
        files["image"] = FILES["image"][: len(FILES["image"]) // 2]
    elif case == "mask_size":
        files["mask"] = png(make_mask(30, 30))
    elif case == "empty_mask":
        files["mask"] = png(np.zeros((64, 80), np.uint8))
    elif case == "huge_header":
        files["image"] = _png_header_only(20000, 20000)
    elif case == "bad_strength":
        params["strength"] = 7
    elif case == "bad_quality":
        params["quality"] = "ultra"
    elif case == "unknown_param":
        params["weights_path"] = "/etc/passwd"
    elif case == "unknown_op":
        op = "mine_bitcoin"
    elif case == "missing_style":
        del files["style"]
    r = submit(http, backend, op=op, params=params, files=files)
    assert r.status_code == status, r.text
    message = r.json()["error"]["message"]
    assert words in message, message


def _multipart(files=None, boundary="XyZ") -> bytes:
    """A whole stylize upload, as the wire client encodes it: it ends with "--XyZ--" CRLF."""
    parts = {name: (f"{name}.png", "image/png", data) for name, data in (files or FILES).items()}
    body, _ = encode_multipart({"request": json.dumps({"op": "stylize", "params": QUICK})}, parts, boundary)
    return body


def _post_raw(http, backend, body, content_type="multipart/form-data; boundary=XyZ"):
    return http.post(backend.url + "/v1/jobs", data=body, headers={"Content-Type": content_type}, timeout=30)


@pytest.mark.parametrize("case", ["whole", "epilogue", "quoted boundary"])
def test_a_whole_multipart_upload_is_accepted(http, backend, case):
    body, content_type = _multipart(), "multipart/form-data; boundary=XyZ"
    if case == "epilogue":  # text after the close delimiter is allowed, and ignored (RFC 2046)
        body += b"an epilogue that mentions --XyZ-- again\r\n"
    elif case == "quoted boundary":
        content_type = 'multipart/form-data; boundary="XyZ"'
    r = _post_raw(http, backend, body, content_type)
    assert r.status_code == 202, r.text
    final, _ = wait(http, backend, r.json()["id"])
    assert final["state"] == "done", final


@pytest.mark.parametrize("cut", ["in the image", "after the last part", "in the close delimiter"])
def test_a_multipart_upload_cut_short_is_a_clear_400(http, backend, cut):
    """A complete HTTP request whose multipart body stops early. The parser alone would drop the
    cut part without a word, and the job would be refused for a part it was in fact sent."""
    body = _multipart()
    end = {"in the image": body.index(FILES["image"]) + 300,
           "after the last part": len(body) - len(b"--XyZ--\r\n"),
           "in the close delimiter": len(body) - len(b"Z--\r\n")}[cut]
    r = _post_raw(http, backend, body[:end])
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": "bad_upload",
                                 "message": "the upload was cut short before its end; send it again"}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mangled_multipart_bodies_never_get_a_5xx(http, backend, data):
    body = bytearray(_multipart())
    for _ in range(data.draw(st.integers(0, 4))):  # bytes overwritten, boundaries and headers included
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    body = bytes(body[:data.draw(st.integers(0, len(body)))])
    r = _post_raw(http, backend, body)
    assert r.status_code < 500, r.text
    if r.status_code == 202:
        wait(http, backend, r.json()["id"])
    else:
        assert r.json()["error"]["message"]


@pytest.mark.parametrize("case, words", [
    ("too many files", "Too many files"),
    ("no boundary", "boundary"),
])
def test_a_multipart_body_that_cannot_be_read_is_a_clear_400(http, backend, case, words):
    if case == "too many files":
        extra = {f"extra{i}": FILES["style"] for i in range(contract.MAX_FILE_PARTS)}
        r = _post_raw(http, backend, _multipart({**FILES, **extra}))
    else:
        r = _post_raw(http, backend, _multipart(), "multipart/form-data")
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "bad_upload" and words in error["message"], error


def test_a_large_image_arrives_whole_and_the_pixel_limit_is_the_one_that_holds(http, backend):
    """Uploads are not capped by the multipart parser's part size (Starlette's 1 MB default for
    fields) or spool: a 4 MB image is taken whole (its mask, in the far corner, comes back in
    place), up to the backend's pixel limit (MASKSTYLE_MAX_PIXELS, set for this module)."""
    rng = np.random.default_rng(0)
    h, w = 1100, 1300                         # 1.43 megapixels, under the limit of 1.5
    mask = np.zeros((h, w), np.uint8)
    mask[h - 60:h - 10, w - 80:w - 20] = 255
    files = {"image": png(rng.integers(0, 256, (h, w, 3), np.uint8)), "mask": png(mask), "style": FILES["style"]}
    assert len(files["image"]) > 4 << 20
    r = submit(http, backend, files=files)
    assert r.status_code == 202, r.text
    final, _ = wait(http, backend, r.json()["id"])
    assert final["state"] == "done", final
    (layer,) = http.get(f"{backend.url}/v1/jobs/{r.json()['id']}/result", timeout=10).json()["layers"]
    rgba = np.asarray(Image.open(io.BytesIO(http.get(backend.url + layer["url"], timeout=10).content)))
    x, y = layer["x"], layer["y"]
    assert np.array_equal(rgba[..., 3], mask[y:y + layer["height"], x:x + layer["width"]])

    over = {**files, "image": png(np.zeros((h + 100, w, 3), np.uint8)), "mask": png(np.zeros((h + 100, w), np.uint8))}
    r = submit(http, backend, files=over)
    assert r.status_code == 400 and "megapixels" in r.json()["error"]["message"], r.text


def test_oversized_upload_is_refused_before_reading(backend):
    conn = httpclient.HTTPConnection("127.0.0.1", backend.port, timeout=10)
    conn.putrequest("POST", "/v1/jobs")
    for k, v in {"Authorization": f"Bearer {backend.token}", "Content-Length": str(1 << 40),
                 "Content-Type": "multipart/form-data; boundary=a"}.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(b"--a\r\n")
    r = conn.getresponse()
    assert r.status == 413 and b"limit" in r.read()
    conn.close()


def test_unknown_job_is_404(http, backend):
    r = http.get(backend.url + "/v1/jobs/nope")
    assert r.status_code == 404 and "no job" in r.json()["error"]["message"]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
                           | st.text(max_size=20), lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=10), c, max_size=3), max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(op=st.sampled_from(["stylize", "harmonize", "segment", "blur", "", "x"]),
       params=st.dictionaries(st.sampled_from(["quality", "strength", "seed", "preserve_color",
                                               "encoder", "method", "iterations", "max_side",
                                               "name", "mode", "target", "zzz"]),
                              json_values, max_size=4),
       image=st.sampled_from(["good", "garbage", "empty"]) , raw_request=st.booleans())
def test_fuzzed_requests_never_get_a_5xx(backend, op, params, image, raw_request):
    files = dict(FILES)
    files["image"] = {"good": FILES["image"], "garbage": os.urandom(64), "empty": b""}[image]
    body = json.dumps({"op": op, "params": params}) if not raw_request else json.dumps(params)[:50]
    parts = {"request": (None, body)}
    parts.update({k: (k + ".png", v) for k, v in files.items()})
    r = requests.post(backend.url + "/v1/jobs", files=parts,
                      headers={"Authorization": f"Bearer {backend.token}"}, timeout=30)
    assert r.status_code < 500, r.text
    if r.status_code == 202:
        requests.delete(f"{backend.url}/v1/jobs/{r.json()['id']}",
                        headers={"Authorization": f"Bearer {backend.token}"})


def test_numpy_client_runs_a_job_and_cancels_on_interrupt(backend):
    """maskstyle.client: arrays in, layers out (alpha is the mask); a Ctrl+C cancels the job."""
    client = Client(backend.url, backend.token)
    content, mask = make_content(), make_mask()
    style = backend.config_dir / "style.png"
    Image.fromarray(make_style()).save(style)
    manifest, (layer,) = client.run("stylize", {**QUICK, "name": "Stylized (style)"},
                                    {"image": content, "mask": mask, "style": style})
    assert manifest["info"] == {"method": "patch"} and layer.name == "Stylized (style)"
    h, w = layer.rgba.shape[:2]
    assert np.array_equal(layer.rgba[..., 3], mask[layer.y:layer.y + h, layer.x:layer.x + w])

    def interrupt(fraction, stage):
        if fraction > 0:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        client.run("stylize", SLOW, {"image": content, "mask": mask, "style": style}, interrupt)
    info = client.wire.info()
    deadline = time.monotonic() + 30
    while info["queue"]["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
        info = client.wire.info()
    assert info["queue"]["running"] == 0  # the interrupted job was cancelled, not left running
    with pytest.raises(InputError, match="same size"):
        client.run("stylize", QUICK, {"image": content, "mask": make_mask(10, 10), "style": style})


def test_server_survived_everything(http, backend):
    assert backend.alive()
    assert requests.get(backend.url + "/v1/health").json()["status"] == "ok"
    final, _ = wait(http, backend, submit(http, backend).json()["id"])
    assert final["state"] == "done"


def _pasted_square():
    """A reddish square pasted on a blue-gray background, and its mask."""
    image = np.zeros((64, 80, 3), np.uint8)
    image[:] = (70, 90, 130)
    image[20:44, 28:52] = (220, 120, 90)
    mask = np.zeros((64, 80), np.uint8)
    mask[20:44, 28:52] = 255
    return image, mask


def test_harmonize_job_returns_the_pasted_layer_with_its_alpha(http, backend):
    image, mask = _pasted_square()
    r = submit(http, backend, op="harmonize", params={"mode": "photo"},
               files={"image": png(image), "mask": png(mask)})
    assert r.status_code == 202, r.text
    final, _ = wait(http, backend, r.json()["id"])
    assert final["state"] == "done", final
    (layer,) = http.get(f"{backend.url}/v1/jobs/{final['id']}/result").json()["layers"]
    rgba = np.asarray(Image.open(io.BytesIO(http.get(backend.url + layer["url"]).content)))
    x, y, w, h = layer["x"], layer["y"], layer["width"], layer["height"]
    assert rgba.shape == (h, w, 4)
    crop = mask[y:y + h, x:x + w]
    alpha = rgba[..., 3]
    # the alpha is the pasted object's, softened only in a thin band at its edge
    assert (alpha[3:-3, 3:-3][crop[3:-3, 3:-3] == 255] >= 250).mean() > 0.9
    far = np.ones_like(crop, bool)
    far[crop.nonzero()[0].min() - 4:crop.nonzero()[0].max() + 5,
        crop.nonzero()[1].min() - 4:crop.nonzero()[1].max() + 5] = False
    assert (alpha[far] == 0).all()
    inside = crop == 255
    assert np.abs(rgba[..., :3][inside].astype(int) - image[y:y + h, x:x + w][inside]).mean() > 3


def test_segment_refine_job_returns_a_full_size_mask(http, backend):
    image, mask = _pasted_square()
    hint = np.zeros_like(mask)
    hint[16:48, 24:56] = 255  # a rough box around the square
    r = submit(http, backend, op="segment", params={"target": "refine"},
               files={"image": png(image), "hint": png(hint)})
    final, _ = wait(http, backend, r.json()["id"])
    assert final["state"] == "done", final
    manifest = http.get(f"{backend.url}/v1/jobs/{final['id']}/result").json()
    (layer,) = manifest["layers"]
    assert (layer["x"], layer["y"], layer["width"], layer["height"]) == (0, 0, 80, 64)
    rgba = np.asarray(Image.open(io.BytesIO(http.get(backend.url + layer["url"]).content)))
    out = rgba[..., 3]  # the one result rule: the layer's alpha is its mask (the gray is the same)
    assert np.array_equal(rgba[..., 0], out)
    iou = ((out > 127) & (mask > 127)).sum() / ((out > 127) | (mask > 127)).sum()
    assert iou > 0.8


def test_segment_refine_without_a_hint_is_a_clear_error(http, backend):
    image, _ = _pasted_square()
    r = submit(http, backend, op="segment", params={"target": "refine"}, files={"image": png(image)})
    final, _ = wait(http, backend, r.json()["id"])
    assert final["state"] == "failed" and "select roughly" in final["error"]["message"]
