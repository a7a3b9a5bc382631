"""Stylize time and peak memory, current engine against an old commit's, side by side in one run.

The job: a photo (data/content/corgi.jpg) resized to S px on its longest side, a feathered ellipse
selection over about 40% of it, a painting (data/style/woman_with_hat_matisse.jpg), the built-in
encoder and the quality presets as users get them (no iteration override). Without the data folder,
a synthetic photo and demo.brush_strokes stand in. Each measurement is a fresh process that loads
the engine, warms it up on a 64-px copy of the job (as in a running backend), then times stylize:
seconds (median of --repeats) and peak memory (RSS; on cuda the allocator's peak). The old engine
is `git archive --baseline` in a temporary folder, run by this same file with PYTHONPATH pointing
there; the child reports maskstyle.__file__, torch's thread count and OMP_WAIT_POLICY. The bench
sets no thread count itself: it measures what the engine chooses.

--busy N...: N jobs at once (separate processes; each warms up, says "ready" and waits; the parent
says "go" to all once all are ready) at --busy-size px, quality fast; "no collapse" means the
slowest takes at most N x one job alone (the N = 1 run).

    .venv/bin/python bench/bench_stylize.py --sizes 256 512 1024 --busy 1 2 3 --out /tmp/bench.md
    .venv/bin/python bench/bench_stylize.py --sizes 64 --qualities fast --busy 1 2 --busy-size 64
    .venv/bin/python bench/bench_stylize.py --sizes --busy 1 2 3 --skip-baseline   # busy check only, new engine
    .venv/bin/python bench/bench_stylize.py --device cuda --method neural --skip-baseline  # the neural method on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"fast": 2.0, "balanced": 9.0}  # seconds at 512 px; and at least 4x faster than the old engine
SHARE = 0.40


def load_job(size: int, data: Path, photo: str, painting: str):
    import cv2
    import numpy as np

    from maskstyle.demo import brush_strokes, ellipse_mask
    from maskstyle_wire.geometry import Rect

    if data.is_dir():
        content = cv2.cvtColor(cv2.imread(str(data / photo)), cv2.COLOR_BGR2RGB)
        style = cv2.cvtColor(cv2.imread(str(data / painting)), cv2.COLOR_BGR2RGB)
        h, w = content.shape[:2]
        k = size / max(h, w)
        content = cv2.resize(content, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    else:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:size, 0:size]
        content = np.stack([xx * 200 // size, yy * 200 // size, (xx + yy) * 100 // size], 2).astype(np.uint8)
        content = np.clip(content + rng.normal(0, 8, content.shape), 0, 255).astype(np.uint8)
        style = brush_strokes(size)
    h, w = content.shape[:2]
    f = (SHARE * 4 / np.pi) ** 0.5  # an ellipse inscribed in a centred box of f*w x f*h covers pi/4 f^2
    for _ in range(2):  # one correction for the feather and rounding
        bw, bh = f * w / 2, f * h / 2
        left, top = round(w / 2 - bw), round(h / 2 - bh)
        mask = ellipse_mask(h, w, Rect(left, top, round(w / 2 + bw) - left, round(h / 2 + bh) - top),
                            max(1.0, size / 64))
        f *= (SHARE / (mask.mean() / 255)) ** 0.5
    return content, mask, style


def run_child(a) -> dict:
    import cv2
    import numpy as np
    import torch

    import maskstyle
    from maskstyle.engine.stylize import StylizeOptions, stylize

    content, mask, style = load_job(a.one_size, a.data, a.photo, a.painting)
    cuda = a.device.startswith("cuda")
    method = {"method": a.one_method} if a.one_method else {}  # the old engine has no method option
    opts = StylizeOptions(quality=a.one_quality, encoder="builtin", device=a.device, **method)
    k = 64 / max(content.shape[:2])  # warm-up on a 64-px copy of the job
    small = (max(1, round(content.shape[1] * k)), max(1, round(content.shape[0] * k)))
    stylize(cv2.resize(content, small, interpolation=cv2.INTER_AREA),
            cv2.resize(mask, small, interpolation=cv2.INTER_AREA), style,
            StylizeOptions(quality="fast", encoder="builtin", device=a.device, **method))
    if a.barrier:  # the busy check: start together once all jobs are warm
        print("ready", flush=True)
        sys.stdin.readline()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        stylize(content, mask, style, opts)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"seconds": statistics.median(times), "times": times, "peak_mb": peak,
            "share": float(np.mean(mask) / 255), "shape": list(content.shape[:2]),
            "threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "maskstyle": maskstyle.__file__}


def spawn(a, backend: Path, size: int, quality: str, barrier: bool = False, old: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--one-size", str(size), "--one-quality", quality, "--data", str(a.data),
           "--photo", a.photo, "--painting", a.painting, "--device", a.device, "--repeats", str(a.repeats),
           *(["--barrier"] if barrier else []), *([] if old else ["--one-method", a.method])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(backend), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen(cmd, stdin=subprocess.PIPE if barrier else None, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def result(p: subprocess.Popen) -> dict:
    out, err = p.communicate()
    if p.returncode:
        return {"error": (err.strip() or out.strip())[-300:].replace("\n", " ").replace("|", "/")}
    return json.loads(out.strip().splitlines()[-1])


class Report:
    """Prints each line at once and keeps the file given by --out up to date."""

    def __init__(self, out):
        self.lines, self.out = [], out

    def __call__(self, line=""):
        print(line, flush=True)
        self.lines.append(line)
        if self.out:
            Path(self.out).write_text("\n".join(self.lines) + "\n")


def compare(a, engines: dict, report):
    report("| size | quality | share | old s | new s | x faster | old MB | new MB | new/old MB "
           "| threads old/new | OMP_WAIT_POLICY old/new | 512-px target |")
    report("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in a.sizes:
        for q in a.qualities:
            r = {name: result(spawn(a, path, size, q, old=name == "old")) for name, path in engines.items()}
            old, new = r.get("old", {}), r["new"]
            if "error" in new or "error" in old:
                report(f"| {size} | {q} | failed: {new.get('error') or old.get('error')} |")
                continue
            for name, res in r.items():  # each engine must be the one asked for
                if not res["maskstyle"].startswith(str(engines[name])):
                    report(f"WARNING: the {name} engine imported {res['maskstyle']}")
            x = f"{old['seconds'] / new['seconds']:.1f}" if old else "-"
            mem = f"{new['peak_mb'] / old['peak_mb']:.2f}" if old else "-"
            target = "-"
            if size == 512 and q in TARGETS:
                ok = new["seconds"] <= TARGETS[q] and (not old or old["seconds"] >= 4 * new["seconds"])
                target = f"{'ok' if ok else 'MISS'} (<= {TARGETS[q]:g} s, >= 4x)"
            o_s, o_mb = (f"{old['seconds']:.2f}", f"{old['peak_mb']:.0f}") if old else ("-", "-")
            report(f"| {size} | {q} | {new['share']:.2f} | {o_s} | {new['seconds']:.2f} | {x} | {o_mb} "
                   f"| {new['peak_mb']:.0f} | {mem} | {old.get('threads', '-')}/{new['threads']} "
                   f"| {old.get('omp_wait_policy', '-')}/{new['omp_wait_policy']} | {target} |")


def busy(a, engines: dict, report):
    report(f"\nBusy CPU: N jobs at once, {a.busy_size} px, fast; no collapse = max <= N x single\n")
    report("| engine | N | mean s | max s | single s | max / (N x single) | no collapse | threads | OMP_WAIT_POLICY |")
    report("|---|---|---|---|---|---|---|---|---|")
    for name, path in engines.items():
        single = None
        for n in sorted({1, *a.busy}):
            procs = [spawn(a, path, a.busy_size, "fast", barrier=True, old=name == "old") for _ in range(n)]
            for p in procs:  # wait until all are warm (or have failed)
                while (line := p.stdout.readline()) and line.strip() != "ready":
                    pass
            for p in procs:
                try:
                    p.stdin.write("go\n")
                    p.stdin.flush()
                except BrokenPipeError:
                    pass
            rs = [result(p) for p in procs]
            errors = [r["error"] for r in rs if "error" in r]
            if errors or not (single or n == 1):
                report(f"| {name} | {n} | failed: {errors[0] if errors else 'no single-job time'} |")
                continue
            secs = [r["seconds"] for r in rs]
            single = single or secs[0]  # the N = 1 run
            ratio = max(secs) / (n * single)
            report(f"| {name} | {n} | {statistics.mean(secs):.2f} | {max(secs):.2f} | {single:.2f} | {ratio:.2f} "
                   f"| {'yes' if ratio <= 1.0 else 'NO'} | {rs[0]['threads']} | {rs[0]['omp_wait_policy']} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024])
    ap.add_argument("--qualities", nargs="+", default=["fast", "balanced"])
    ap.add_argument("--baseline", default="cd1cb62", help="git revision of the old engine")
    ap.add_argument("--baseline-dir", type=Path,
                    help="an old engine's backend/ folder to use instead of git archive --baseline")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--method", default="patch", help="the new engine's stylize method (patch or neural)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--busy", type=int, nargs="*", default=[], help="numbers of jobs at once, e.g. 1 2 3")
    ap.add_argument("--busy-size", type=int, default=256)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--photo", default="content/corgi.jpg")
    ap.add_argument("--painting", default="style/woman_with_hat_matisse.jpg")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", help="also write the tables to this file")
    ap.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--one-quality", help=argparse.SUPPRESS)
    ap.add_argument("--one-method", help=argparse.SUPPRESS)
    ap.add_argument("--barrier", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one_size:
        print(json.dumps(run_child(a)))
        return
    report = Report(a.out)
    with tempfile.TemporaryDirectory(prefix="maskstyle-old-") as tmp:
        engines = {"new": REPO / "backend"}
        if a.baseline_dir and not a.skip_baseline:
            engines = {"old": a.baseline_dir.resolve(), **engines}
        elif not a.skip_baseline:
            archive = subprocess.run(["git", "-C", str(REPO), "archive", a.baseline, "backend"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            engines = {"old": Path(tmp) / "backend", **engines}
        report(f"device {a.device}; job {a.data / a.photo if a.data.is_dir() else 'synthetic (no data folder)'}; "
               f"old engine {'skipped' if a.skip_baseline else a.baseline_dir or a.baseline}; "
               f"new engine's method {a.method}; repeats {a.repeats}\n")
        if a.sizes:
            compare(a, engines, report)
        if a.busy:
            busy(a, engines, report)


if __name__ == "__main__":
    main()
