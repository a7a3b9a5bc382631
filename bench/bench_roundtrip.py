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
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from maskstyle.demo import brush_strokes
from maskstyle.images import encode_png
from maskstyle.server.process import BackendProcess
from maskstyle_wire.client import Client, png_part


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args()
    backend = BackendProcess(Path(tempfile.mkdtemp()))
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
