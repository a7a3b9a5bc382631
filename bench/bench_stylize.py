"""Time and peak memory of one stylization, side by side with a full-image Gatys baseline.

Each configuration runs in a fresh process (so peak memory is its own), at 256 and 512 px,
for both encoders and both methods, with the same iterations as the baseline: plain Gatys
on the whole image (no mask, no crop). Ratios are against that baseline at the same size.
VGG-19 is timed with random weights when the real file is not installed (speed does not
depend on the values); the table says so.

    .venv/bin/python bench/bench_stylize.py [--sizes 256 512] [--iterations 10] [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def run_one(size: int, encoder: str, method: str, iterations: int, device: str) -> dict:
    import numpy as np
    import torch

    from maskstyle.demo import brush_strokes, ellipse_mask
    from maskstyle.engine.stylize import StylizeOptions, stylize

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    content = np.stack([xx * 200 // size, yy * 200 // size, (xx + yy) * 100 // size], 2).astype(np.uint8)
    content = np.clip(content + rng.normal(0, 8, content.shape), 0, 255).astype(np.uint8)
    style = brush_strokes(size)
    if method == "gatys-full-image":
        mask, method = np.full((size, size), 255, np.uint8), "composite"
    else:  # a selection covering about a third of the image
        mask = ellipse_mask(size, size, (size // 5, size // 5, 4 * size // 5, 4 * size // 5), 4)
    opts = StylizeOptions(quality="fast", encoder=encoder, method=method, iterations=iterations,
                          max_side=size, device=device, margin=0.15)
    stylize(content[:64, :64], mask[:64, :64] if mask[:64, :64].any() else np.full((64, 64), 255, np.uint8),
            style, dataclasses.replace(opts, iterations=1, max_side=64))  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    stylize(content, mask, style, opts)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"seconds": seconds, "peak_mb": peak}


def fake_vgg_dir() -> str:
    """A models dir holding VGG-19 conv weights with random values, registered by hash."""
    import torch
    from torchvision.models import vgg19

    folder = tempfile.mkdtemp(prefix="maskstyle-bench-")
    state = {k: v for k, v in vgg19(weights=None).state_dict().items() if k.startswith("features.")}
    torch.save(state, os.path.join(folder, "vgg19-dcbb9e9d.pth"))
    return folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--iterations", type=int, default=10, help="per scale (2 scales)")
    ap.add_argument("--encoders", nargs="+", default=["builtin", "vgg19"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        size, encoder, method = args.one.split(",")
        if encoder == "vgg19" and os.environ.get("BENCH_FAKE_VGG"):
            _register_fake_vgg()
        print(json.dumps(run_one(int(size), encoder, method, args.iterations, args.device)))
        return
    env = dict(os.environ)
    from maskstyle import models
    note = ""
    if "vgg19" in args.encoders and not models.is_installed("vgg19"):
        env["MASKSTYLE_MODELS_DIR"], env["BENCH_FAKE_VGG"] = fake_vgg_dir(), "1"
        note = " (random weights: timing only)"
    print(f"| size | encoder | method | seconds | x baseline | peak MB | x baseline |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for encoder in args.encoders:
            base = None
            for method in ("gatys-full-image", "masked", "composite"):
                out = subprocess.run([sys.executable, __file__, "--one", f"{size},{encoder},{method}",
                                      "--iterations", str(args.iterations), "--device", args.device],
                                     capture_output=True, text=True, env=env)
                if out.returncode:
                    print(f"| {size} | {encoder} | {method} | failed: {out.stderr.strip()[-200:]} |")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                base = base or r
                print(f"| {size} | {encoder}{note if encoder == 'vgg19' else ''} | {method} | "
                      f"{r['seconds']:.2f} | {r['seconds'] / base['seconds']:.2f} | {r['peak_mb']:.0f} | "
                      f"{r['peak_mb'] / base['peak_mb']:.2f} |", flush=True)


def _register_fake_vgg():
    from maskstyle import models

    w = models.REGISTRY["vgg19"]
    models.REGISTRY["vgg19"] = dataclasses.replace(
        w, sha256=models.sha256_of(w.path), size=w.path.stat().st_size, size_tolerance=0)


if __name__ == "__main__":
    main()
