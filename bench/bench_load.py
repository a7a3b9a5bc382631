"""Load: N small jobs from C concurrent wire clients against one `maskstyle serve`, side by
side with the same N jobs from a single client.

The bench starts the backend itself (`python -m maskstyle.cli serve` on a free loopback port,
with its own config dir), warms it up with a few jobs, then runs the baseline (1 client) and
the load (C threads, each job through a `maskstyle_wire.client.Client` of its own). The jobs are
the load test's: mostly stylize on a small image, every 10th a segment (refine) and every
10th + 5 a harmonize. Every layer is fetched and decoded, and checked against the manifest's
size. A job's latency runs from its submit to its last layer fetched, 429 retries included.

    .venv/bin/python bench/bench_load.py [--jobs 100] [--clients 4] [--side 32] [--iterations 1]
        [--max-queued N] [--poll 0.05]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from maskstyle.demo import brush_strokes
from maskstyle.images import encode_png
from maskstyle.server.process import BackendProcess
from maskstyle_wire import png
from maskstyle_wire.client import Client, png_part


def make_jobs(n: int, side: int, iterations: int) -> list[tuple[str, dict, dict]]:
    """(op, params, files) for n jobs; the mask moves and changes size from job to job."""
    yy, xx = np.mgrid[0:side, 0:side]
    image = np.stack([xx * 255 // side, yy * 255 // side, np.full_like(xx, 90)], 2).astype(np.uint8)
    image_png, style_png = encode_png(image), encode_png(brush_strokes(max(32, side)))
    jobs = []
    for i in range(n):
        mask = np.zeros((side, side), np.uint8)
        y, x = (i % 7) * side // 16, ((i // 7) % 9) * side // 20
        mask[y:y + side * 3 // 8 + i % 5, x:x + side * 5 // 16 + i % 6] = 255
        if i % 10 == 3:
            op, params, files = "segment", {"target": "refine"}, {"image": image_png, "hint": encode_png(mask)}
        elif i % 10 == 8:
            op, params, files = "harmonize", {"mode": "photo"}, {"image": image_png, "mask": encode_png(mask)}
        else:
            op = "stylize"
            params = {"quality": "fast", "max_side": max(32, side), "iterations": iterations,
                      "encoder": "builtin"}
            files = {"image": image_png, "mask": encode_png(mask), "style": style_png}
        jobs.append((op, params, {name: png_part(name, data) for name, data in files.items()}))
    return jobs


def run_load(backend: BackendProcess, jobs: list, clients: int, poll: float) -> dict:
    statuses: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def count(status):  # every answer's status: submit retries a 429 (queue full) by itself
        with lock:
            statuses[status] += 1

    def latency(op: str, params: dict, files: dict) -> float:
        """Seconds from submit to the last layer fetched and checked against the manifest."""
        client = Client(backend.url, backend.token, timeout=120, on_status=count)
        t = time.perf_counter()
        manifest, pngs = client.run(op, params, files, poll_interval=poll)
        for layer, data in zip(manifest["layers"], pngs):
            w, h, channels, _ = png.decode(data)
            if (w, h, channels) != (layer["width"], layer["height"], 4):
                raise AssertionError(f"layer {w}x{h}x{channels}, manifest {layer['width']}x{layer['height']}")
        return time.perf_counter() - t

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:  # `clients` clients at a time, each job through its own
        running = [pool.submit(latency, *job) for job in jobs]
    wall = time.perf_counter() - started
    latencies = [f.result() for f in running if f.exception() is None]
    failures = [f"job {i} ({jobs[i][0]}): {type(f.exception()).__name__}: {f.exception()}"
                for i, f in enumerate(running) if f.exception() is not None]
    lat = np.array(latencies) if latencies else np.array([float("nan")])
    return {"clients": clients, "jobs": len(jobs), "wall": wall, "rate": len(latencies) / wall,
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "max": float(lat.max()), "retries": statuses[429], "failures": failures,
            "errors": {k: v for k, v in statuses.items() if k not in (200, 202, 429)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--side", type=int, default=32, help="image side in pixels (the job's size)")
    ap.add_argument("--iterations", type=int, default=1, help="stylize iterations per job")
    ap.add_argument("--max-queued", type=int, default=None,
                    help="the backend's queue limit (MASKSTYLE_MAX_QUEUED); default: the backend's own")
    ap.add_argument("--poll", type=float, default=0.05, help="seconds between a client's status polls")
    args = ap.parse_args()

    backend = BackendProcess(Path(tempfile.mkdtemp(prefix="maskstyle-bench-load-")),
                             {"MASKSTYLE_MAX_QUEUED": str(args.max_queued)} if args.max_queued is not None else None)
    try:
        jobs = make_jobs(args.jobs, args.side, args.iterations)
        run_load(backend, jobs[:10], 1, args.poll)  # warm-up: imports, first-use setup
        base = run_load(backend, jobs, 1, args.poll)
        load = run_load(backend, jobs, args.clients, args.poll)
        queue = Client(backend.url, backend.token).info()["queue"]
        alive = backend.proc.poll() is None
    finally:
        backend.stop()

    print(f"{args.jobs} jobs ({args.side}x{args.side}, stylize {args.iterations} iteration(s), "
          f"1 in 10 segment, 1 in 10 harmonize), queue limit {queue['limit']}, poll {args.poll} s, "
          f"{os.cpu_count()} CPUs\n")
    print("| clients | jobs | wall s | jobs/s | p50 s | p95 s | max s | 429 retries | failures |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in (base, load):
        print(f"| {r['clients']} | {r['jobs']} | {r['wall']:.2f} | {r['rate']:.1f} | {r['p50']:.3f} | "
              f"{r['p95']:.3f} | {r['max']:.3f} | {r['retries']} | {len(r['failures'])} |")
    print(f"\nthroughput {args.clients} clients / 1 client: {load['rate'] / base['rate']:.2f}x; "
          f"p50 latency {load['p50'] / base['p50']:.2f}x")
    print(f"after the load: server alive {alive}, queue {queue['queued']} queued, {queue['running']} running")
    bad = base["failures"] + load["failures"]
    for line in bad[:20]:
        print("FAILED", line)
    for r in (base, load):
        if r["errors"]:
            print(f"unexpected statuses with {r['clients']} client(s): {r['errors']}")
    return 1 if bad or base["errors"] or load["errors"] or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
