"""Batch throughput: images per minute for `maskstyle batch stylize`, with the style
targets reused across images (the default) against recomputing them for every image.

Both runs go through the same command on the same generated shoot (COUNT images of
SIZE px with a centred elliptical mask), one after the other, in fresh processes.

    .venv/bin/python bench/bench_batch.py [--count 20] [--size 512] [--iterations 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from maskstyle.demo import brush_strokes, ellipse_mask
from maskstyle_wire.geometry import Rect


def make_shoot(folder: Path, count: int, size: int) -> None:
    rng = np.random.default_rng(0)
    (folder / "photos").mkdir()
    (folder / "masks").mkdir()
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        base = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 40 * (i % 6))], 2)
        photo = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(photo).save(folder / "photos" / f"img{i:03d}.png")
        low, high = size // 5, 4 * size // 5
        Image.fromarray(ellipse_mask(size, size, Rect(low, low, high - low, high - low), 6)
                        ).save(folder / "masks" / f"img{i:03d}.png")
    Image.fromarray(brush_strokes(size)).save(folder / "style.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=5, help="per scale (2 scales)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maskstyle-batch-bench-"))
    make_shoot(folder, args.count, args.size)
    print("| style targets | images | seconds | images/min | x without reuse |")
    print("|---|---|---|---|---|")
    results = {}
    for label, extra in (("recomputed per image", ["--no-style-cache"]), ("reused", [])):
        cmd = [sys.executable, "-m", "maskstyle.cli", "batch", "stylize", str(folder / "photos"),
               "--style", str(folder / "style.png"), "--mask-dir", str(folder / "masks"),
               "--out", str(folder / f"out-{len(results)}"), "--quality", "fast",
               "--iterations", str(args.iterations), "--max-side", str(args.size),
               "--encoder", "builtin", *extra]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - t
        results[label] = seconds
        base = results["recomputed per image"]
        print(f"| {label} | {args.count} | {seconds:.1f} | {args.count / seconds * 60:.1f} | "
              f"{base / seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
