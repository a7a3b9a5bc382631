"""Round-trip overhead of the backend: encode, upload, queue, decode, download, as a share
of a whole stylize job, for 1024^2 and 4096^2 RGBA layers.

The job itself is kept the same size at every layer size (the selection is a fixed
256 px square and the optimisation works at 256 px), so what grows is the transport:
PNG encoding on the client, the upload, the server's decoding and checks, and the result
download. `run_seconds` is the server's own time for the job; the rest is overhead.

    .venv/bin/python bench/bench_roundtrip.py [--sizes 1024 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from maskstyle.demo import brush_strokes
from maskstyle.images import encode_png
from maskstyle_wire.client import Client, png_part


class Backend:
    """`maskstyle serve` as a child process on a free loopback port, with its own config dir."""

    def __init__(self, config_dir: Path, timeout: float = 60.0):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in ("MASKSTYLE_URL", "MASKSTYLE_TOKEN")}
        env["MASKSTYLE_CONFIG_DIR"] = str(config_dir)
        self.log_path = config_dir / "backend.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "maskstyle.cli", "serve", "--port", str(port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the backend exited: {self.log_path.read_text()}")
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the backend did not answer /v1/health in {timeout:.0f} s") from None
                time.sleep(0.2)
        self.token = json.loads((config_dir / "config.json").read_text())["token"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args()
    backend = Backend(Path(tempfile.mkdtemp()))
    client = Client(backend.url, backend.token, timeout=300)
    style = png_part("style", encode_png(brush_strokes(256)))
    rng = np.random.default_rng(0)
    print("| layer | total s | job s (server) | overhead s | overhead share |")
    print("|---|---|---|---|---|")
    try:
        for size in args.sizes:
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)  # worst case for PNG
            mask = np.zeros((size, size), np.uint8)
            c = size // 2
            mask[c - 128:c + 128, c - 128:c + 128] = 255
            params = {"quality": "fast", "iterations": args.iterations, "max_side": 256,
                      "encoder": "builtin"}
            totals, runs = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                files = {"image": png_part("image", encode_png(image)),
                         "mask": png_part("mask", encode_png(mask)), "style": style}
                job_id = client.submit("stylize", params, files)
                state = client.wait(job_id, poll_interval=0.05)
                manifest = client.result(job_id)
                layers = [np.asarray(Image.open(io.BytesIO(client.fetch(l["url"]))).convert("RGBA"))
                          for l in manifest["layers"]]
                totals.append(time.perf_counter() - t)
                runs.append(state["run_seconds"])
                assert layers[0].shape[2] == 4
            total, run = float(np.median(totals)), float(np.median(runs))
            print(f"| {size}x{size} RGB(A) | {total:.2f} | {run:.2f} | {total - run:.2f} | "
                  f"{(total - run) / total:.0%} |", flush=True)
    finally:
        backend.stop()


if __name__ == "__main__":
    main()
