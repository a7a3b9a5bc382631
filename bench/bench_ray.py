"""Batch throughput on Ray: images per minute for `maskstyle batch stylize --ray --workers N`
against the single-process batch, side by side, on the same generated shoot.

The shoot: COUNT synthetic photos of SIZE px, each with a feathered ellipse selection over
about 40% of it (as in bench_stylize.py), and demo.brush_strokes as the style; the job is
the default patch method at --quality fast. Each run is the command as a user types it, in
a fresh process: the single-process batch, then `--ray` (a local Ray runtime that the command
starts and stops itself, or --address to join a cluster) with each --workers count.

Two figures per run:
- wall: the whole command (imports, Ray start-up, workers building their engine, the files);
- warm: the files alone, from the report's per-file seconds: COUNT / the busiest worker's
  summed seconds (what the run approaches when there are many files per worker).

--overhead N: the driver's side alone: N tiny files through 2 workers whose per-file function
does nothing (no engine), in this process; files per second once the workers are up is the
most the driver, Ray and the file system here pass, whatever the engine's speed.
--codec: what each worker spends besides the engine: PNG decoding of the photo and encoding
of the result, at 256, 512 and 1024 px (median of 5).

    .venv/bin/python bench/bench_ray.py [--count 20] [--size 256] [--workers 1 2] [--address auto]
    .venv/bin/python bench/bench_ray.py --workers --overhead 400 --codec
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from maskstyle.demo import brush_strokes, ellipse_mask
from maskstyle_wire.geometry import Rect

SHARE = 0.40  # of the photo selected


def selection(size: int) -> np.ndarray:
    f = (SHARE * 4 / np.pi) ** 0.5  # an ellipse inscribed in a centred box of f x f covers pi/4 f^2
    for _ in range(2):  # one correction for the feather and rounding
        half = f * size / 2
        low, high = round(size / 2 - half), round(size / 2 + half)
        mask = ellipse_mask(size, size, Rect(low, low, high - low, high - low), max(1.0, size / 64))
        f *= (SHARE / (mask.mean() / 255)) ** 0.5
    return mask


def make_shoot(folder: Path, count: int, size: int) -> None:
    rng = np.random.default_rng(0)
    (folder / "photos").mkdir()
    (folder / "masks").mkdir()
    yy, xx = np.mgrid[0:size, 0:size]
    mask = selection(size)
    for i in range(count):
        base = np.stack([xx * 200 // size, yy * 200 // size, (xx + yy) * 100 // size + 20 * (i % 5)], 2)
        photo = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(photo).save(folder / "photos" / f"img{i:03d}.png")
        Image.fromarray(mask).save(folder / "masks" / f"img{i:03d}.png")
    Image.fromarray(brush_strokes(size)).save(folder / "style.png")


def run(folder: Path, label: str, extra: list[str], quality: str) -> dict:
    out, report = folder / f"out-{label}", folder / f"report-{label}.json"
    cmd = [sys.executable, "-m", "maskstyle.cli", "batch", "stylize", str(folder / "photos"),
           "--style", str(folder / "style.png"), "--mask-dir", str(folder / "masks"), "--out", str(out),
           "--quality", quality, "--report", str(report), *extra]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"{label} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    files = json.loads(report.read_text())["files"]
    busy = defaultdict(float)
    for entry in files:
        busy[entry["worker"]] += entry["seconds"]
    return {"wall": wall, "per_image": statistics.median(e["seconds"] for e in files),
            "busiest": max(busy.values()), "workers": len(busy), "load": load, "count": len(files)}


def idle_process():
    """A per-file function that does no work (for --overhead): an 8-px gray square."""
    return lambda source, stage: np.full((8, 8), 128, np.uint8)


def overhead(folder: Path, count: int, address: str | None) -> None:
    from maskstyle.ray_batch import run_ray_batch

    (folder / "tiny").mkdir()
    for i in range(count):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "tiny" / f"t{i:05d}.png")
    stamps = []
    report = run_ray_batch("overhead", [str(folder / "tiny")], str(folder / "tiny-out"), idle_process,
                           address=address, workers=2, progress_bar=False,
                           on_result=lambda entry: stamps.append(time.perf_counter()))
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    print(f"\ndriver overhead: {len(report.written)} files that need no work, 2 workers: "
          f"{rate:.0f} files/s once the workers are up ({report.seconds:.1f} s in all)")


def codec(sizes=(256, 512, 1024)) -> None:
    import io

    from maskstyle.images import read_image
    from maskstyle.ray_batch import png_bytes

    print("\n| size | decode photo ms | encode result ms | PNG KiB |\n|---|---|---|---|")
    rng = np.random.default_rng(0)
    for size in sizes:
        yy, xx = np.mgrid[0:size, 0:size]
        base = np.stack([xx * 200 // size, yy * 200 // size, (xx + yy) * 100 // size], 2)
        photo = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        data = png_bytes(photo)
        dec, enc = [], []
        for _ in range(5):
            t = time.perf_counter()
            image = read_image(io.BytesIO(data).getvalue())
            dec.append(time.perf_counter() - t)
            t = time.perf_counter()
            png_bytes(image)
            enc.append(time.perf_counter() - t)
        print(f"| {size} | {statistics.median(dec) * 1000:.0f} | {statistics.median(enc) * 1000:.0f} | "
              f"{len(data) / 1024:.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                    help="Ray worker counts to run (none: skip the throughput table)")
    ap.add_argument("--address", help="join this Ray cluster (auto, ray://HOST:PORT) instead of "
                                      "starting a local runtime for each run")
    ap.add_argument("--gpus-per-worker", type=float, help="passed on to --ray runs")
    ap.add_argument("--overhead", type=int, metavar="N", help="also time N no-work files (the driver's side)")
    ap.add_argument("--codec", action="store_true", help="also time PNG decoding and encoding")
    a = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maskstyle-ray-bench-"))
    make_shoot(folder, a.count, a.size)
    runs = [("single process", "single", [])]
    ray = ["--ray"] + ([a.address] if a.address else [])
    gpus = ["--gpus-per-worker", str(a.gpus_per_worker)] if a.gpus_per_worker else []
    runs += [(f"Ray, {n} worker{'s' * (n > 1)}", f"ray{n}", [*ray, "--workers", str(n), *gpus])
             for n in a.workers]
    print(f"{a.count} images of {a.size} px, {SHARE:.0%} selected, patch method, quality {a.quality}; "
          f"{os.cpu_count()} CPUs; shoot in {folder}")
    if a.workers:
        print("| run | wall s | images/min (wall) | s per image (median) | images/min (warm) | "
              "x single (warm) | load avg at start |")
        print("|---|---|---|---|---|---|---|")
    base = None
    for title, label, extra in runs if a.workers else []:
        r = run(folder, label, extra, a.quality)
        warm = r["count"] / r["busiest"] * 60
        base = base or warm
        print(f"| {title} | {r['wall']:.1f} | {r['count'] / r['wall'] * 60:.0f} | {r['per_image']:.2f} | "
              f"{warm:.0f} | {warm / base:.2f} | {r['load']:.1f} |", flush=True)
    if a.overhead:
        overhead(folder, a.overhead, a.address)
    if a.codec:
        codec()


if __name__ == "__main__":
    main()
