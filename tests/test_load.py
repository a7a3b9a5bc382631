"""The backend under load, over real HTTP on loopback (issue 14, "Proven under load").

100 small jobs from 4 concurrent wire clients against one `maskstyle serve` with a queue of
one: every job ends done with its own layers, nothing is lost, no 5xx is ever answered, the
429s of the full queue are retried, and the server is idle and healthy afterwards. Then the
ways a client can misbehave mid-upload, and polling a job whose result was evicted.
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for

import numpy as np
import pytest

from conftest import make_content, make_style
from maskstyle.images import encode_png
from maskstyle_wire import png
from maskstyle_wire.client import Client, png_part
from maskstyle_wire.errors import BackendError
from server_process import backend_fixture

JOBS, CLIENTS = 100, 4
SIDE = 32
TINY = {"quality": "fast", "max_side": SIDE, "iterations": 1, "encoder": "builtin"}
# A job that runs until cancelled: it holds the worker while the queue fills up.
BLOCKER = {"quality": "fast", "iterations": 1000, "max_side": 64, "encoder": "builtin", "method": "neural"}
KEPT = 200  # JobQueue.max_jobs_kept: finished jobs past this many are evicted, oldest first


def decode(data: bytes) -> np.ndarray:
    w, h, channels, pixels = png.decode(data)
    return np.frombuffer(pixels, np.uint8).reshape(h, w, channels)


def job_mask(i: int) -> np.ndarray:
    """A soft-edged box that differs from job to job, so a layer's alpha shows whose job it is."""
    mask = np.zeros((SIDE, SIDE), np.uint8)
    y, x = 2 + i % 7, 3 + (i // 7) % 9
    h, w = 12 + i % 5, 10 + i % 6
    mask[y:y + h, x:x + w] = 255
    mask[y, x:x + w] = 40 + (i * 37) % 200  # a soft edge with a value of its own
    return mask


def make_jobs(n: int) -> list[dict]:
    """Mostly stylize; every 10th a segment (refine) and every 10th + 5 a harmonize."""
    image = encode_png(make_content(SIDE, SIDE))
    style = encode_png(make_style(24, 24))
    jobs = []
    for i in range(n):
        mask = job_mask(i)
        if i % 10 == 3:
            op, params, files = "segment", {"target": "refine"}, {"image": image, "hint": encode_png(mask)}
        elif i % 10 == 8:
            op, params, files = "harmonize", {"mode": "photo"}, {"image": image, "mask": encode_png(mask)}
        else:
            op, params = "stylize", dict(TINY)
            files = {"image": image, "mask": encode_png(mask), "style": style}
        jobs.append({"i": i, "op": op, "params": params, "mask": mask,
                     "files": {name: png_part(name, data) for name, data in files.items()}})
    return jobs


backend = backend_fixture(MASKSTYLE_MAX_QUEUED="1")


@pytest.fixture
def client(backend):
    return Client(backend.url, backend.token, timeout=30)


def check_layers(job: dict, manifest: dict, pngs: list[bytes]) -> None:
    (meta,) = manifest["layers"]
    assert len(pngs) == 1
    rgba = decode(pngs[0])
    x, y, w, h = meta["x"], meta["y"], meta["width"], meta["height"]
    assert rgba.shape == (h, w, 4), (job["op"], rgba.shape, meta)
    assert 0 <= x and 0 <= y and x + w <= SIDE and y + h <= SIDE
    if job["op"] == "stylize":  # the one result rule: alpha is the mask sent, over the layer's rect
        assert np.array_equal(rgba[..., 3], job["mask"][y:y + h, x:x + w]), job["i"]
    elif job["op"] == "segment":  # the mask itself: gray, and the same values in alpha
        assert (x, y, w, h) == (0, 0, SIDE, SIDE)
        assert np.array_equal(rgba[..., 0], rgba[..., 3])
    else:  # harmonize: the pasted object's alpha, nothing far outside the mask
        outside = np.ones((SIDE, SIDE), bool)
        ys, xs = job["mask"].nonzero()
        outside[max(ys.min() - 4, 0):ys.max() + 5, max(xs.min() - 4, 0):xs.max() + 5] = False
        assert (rgba[..., 3][outside[y:y + h, x:x + w]] == 0).all()


def test_100_jobs_from_4_clients_all_finish(backend, client):
    jobs = make_jobs(JOBS)
    statuses: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def count(status):  # every answer's status, the 429s that submit retries by itself included
        with lock:
            statuses[status] += 1

    def run(job) -> None:
        """One job through a client of its own; its layers fetched and checked."""
        me = Client(backend.url, backend.token, timeout=30, on_status=count)
        manifest, pngs = me.run(job["op"], job["params"], job["files"], poll_interval=0.02)
        check_layers(job, manifest, pngs)

    # Hold the worker with a long job so that the queue (of one) is certainly full while the
    # clients start: 429s must happen, and be retried.
    blocker = client.submit("stylize", BLOCKER, jobs[0]["files"])
    deadline = time.monotonic() + 60
    while client.status(blocker)["state"] != "running":
        assert time.monotonic() < deadline, "the blocking job never started"
        time.sleep(0.05)

    started = time.monotonic()
    pool = ThreadPoolExecutor(CLIENTS)  # CLIENTS clients at a time, each job through its own
    running = {job["i"]: pool.submit(run, job) for job in jobs}
    deadline = time.monotonic() + 30
    while statuses[429] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    client.cancel(blocker)  # let the queue flow
    _, unfinished = wait_for(running.values(), timeout=120)
    pool.shutdown(wait=not unfinished, cancel_futures=True)
    elapsed = time.monotonic() - started
    assert not unfinished, f"{len(unfinished)} jobs still busy after {elapsed:.0f} s: {statuses}"

    failures = {i: repr(f.exception()) for i, f in running.items() if f.exception() is not None}
    assert not failures, failures  # every job done, its layers right: none lost or mixed up
    assert client.status(blocker)["state"] == "cancelled"
    assert set(statuses) <= {200, 202, 429}, statuses  # no 5xx, no other error
    assert statuses[429] >= 1, statuses  # the full queue was hit, and those submits were retried
    print(f"\n{JOBS} jobs from {CLIENTS} clients in {elapsed:.1f} s; statuses {dict(statuses)}")

    assert backend.alive()
    assert client.health()["status"] == "ok"
    queue = client.info()["queue"]
    assert queue["queued"] == 0 and queue["running"] == 0 and queue["limit"] == 1


def _raw_post(backend, body: bytes, length: int, boundary: str = "XyZ") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", backend.port), timeout=10)
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{backend.port}\r\n"
            f"Authorization: Bearer {backend.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n\r\n")
    sock.sendall(head.encode() + body)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without answering: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return status, json.loads(rest[:length])


def _partial_body() -> bytes:
    image = encode_png(make_content(SIDE, SIDE))
    return (b"--XyZ\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n"
            + json.dumps({"op": "stylize", "params": TINY}).encode()
            + b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + image[: len(image) // 2])


def _one_normal_job(client) -> None:
    (job,) = make_jobs(1)
    manifest, pngs = client.run(job["op"], job["params"], job["files"])
    check_layers(job, manifest, pngs)


def test_clients_that_vanish_or_stall_mid_upload_do_not_hurt_the_server(backend, client):
    body = _partial_body()
    # 1. The client promises more than it sends, then goes away: nobody to answer.
    for _ in range(5):
        _raw_post(backend, body, len(body) + 100_000).close()
    # 2. The same, but it half-closes first (its upload ends early and it waits for an answer):
    # the server either answers with a 4xx or closes; it never leaves it hanging.
    sock = _raw_post(backend, body, len(body) + 100_000)
    sock.shutdown(socket.SHUT_WR)
    try:
        data = sock.recv(65536)
        assert not data or 400 <= int(data.split()[1]) < 500, data
    except ConnectionResetError:
        pass
    sock.close()
    # 3. The client stalls mid-upload and keeps the connection open: other jobs still run.
    stalled = _raw_post(backend, body, len(body) + 100_000)
    try:
        _one_normal_job(client)
    finally:
        stalled.close()
    # 4. A complete request whose multipart body is cut (no closing boundary): a clear 4xx.
    sock = _raw_post(backend, body, len(body))
    try:
        status, answer = _read_response(sock)
    finally:
        sock.close()
    assert status == 400 and answer["error"]["code"] == "bad_upload", answer
    assert "cut short" in answer["error"]["message"]

    assert backend.alive() and client.health()["status"] == "ok"
    _one_normal_job(client)
    deadline = time.monotonic() + 10
    while (queue := client.info()["queue"])["queued"] or queue["running"]:
        assert time.monotonic() < deadline, queue
        time.sleep(0.05)


def _json_404(client, job_id: str) -> str:
    with pytest.raises(BackendError) as caught:
        client.status(job_id)
    assert caught.value.status == 404 and caught.value.code == "not_found"
    return str(caught.value)


def test_polling_an_evicted_or_unknown_job_is_a_clear_404(backend, client):
    assert "no job 0123abcd: it never existed or its result has expired" in _json_404(client, "0123abcd")

    (job,) = make_jobs(1)
    first = client.submit(job["op"], job["params"], job["files"])
    client.wait(first, poll_interval=0.02)
    # Finished jobs past KEPT are dropped, oldest first, when new jobs come in. Jobs that fail
    # at once in the worker (refine without a selection) fill the record cheaply.
    failing = {"image": job["files"]["image"]}
    for _ in range(KEPT + 1):
        client.submit("segment", {"target": "refine"}, failing, busy_retry=30)
    message = _json_404(client, first)
    assert f"no job {first}" in message and "expired" in message
    with pytest.raises(BackendError) as caught:
        client.result(first)
    assert caught.value.status == 404
    assert backend.alive() and client.health()["status"] == "ok"
