"""`maskstyle batch`: many files, bad ones among them, interrupted runs, reruns."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import make_content, make_mask, make_style

QUICK = ["--quality", "fast", "--iterations", "2", "--max-side", "48", "--encoder", "builtin"]


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "maskstyle.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, **kw)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def shoot(tmp_path):
    """Three good photos, one corrupt file and one photo whose mask has the wrong size."""
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    photos.mkdir(), masks.mkdir()
    for i in range(3):
        Image.fromarray(make_content(seed=i)).save(photos / f"good{i}.png")
        Image.fromarray(make_mask()).save(masks / f"good{i}.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray(make_mask()).save(masks / "broken.png")
    Image.fromarray(make_content(seed=9)).save(photos / "odd.png")
    Image.fromarray(make_mask(32, 40)).save(masks / "odd.png")
    Image.fromarray(make_style()).save(tmp_path / "style.png")
    return tmp_path


def test_batch_writes_good_files_reports_bad_ones_and_resumes(shoot):
    before = digest(shoot / "photos")
    out, report = shoot / "out", shoot / "report.json"
    r = run("batch", "stylize", shoot / "photos", "--style", shoot / "style.png", "--mask-dir",
            shoot / "masks", "--out", out, "--report", report, *QUICK)
    assert r.returncode != 0
    assert sorted(p.name for p in out.iterdir()) == ["good0.png", "good1.png", "good2.png"]
    data = json.loads(report.read_text())
    failed = {os.path.basename(f["input"]): f["error"] for f in data["failed"]}
    assert set(failed) == {"broken.jpg", "odd.png"}
    assert "not a readable image" in failed["broken.jpg"] and "same size" in failed["odd.png"]
    files = data["files"]  # one entry per input, in the inputs' order
    assert [os.path.basename(f["input"]) for f in files] == ["broken.jpg", "good0.png", "good1.png",
                                                             "good2.png", "odd.png"]
    for entry in files:
        assert set(entry) == {"input", "output", "status", "error", "worker", "seconds", "attempts"}
        assert entry["output"] == str(out.resolve() / (os.path.splitext(os.path.basename(entry["input"]))[0]
                                                       + ".png"))
        assert entry["worker"] == "local" and entry["seconds"] >= 0 and entry["attempts"] == 1
        good = entry["input"].endswith(("good0.png", "good1.png", "good2.png"))
        assert entry["status"] == ("written" if good else "failed")
        assert (entry["error"] is None) == good
        assert good or entry["error"] == failed[os.path.basename(entry["input"])]
    assert "3 written, 0 skipped" in r.stdout and "2 failed" in r.stdout
    for name in ("broken.jpg", "odd.png"):  # each failure once, on stderr, with its path
        assert r.stderr.count(f"failed: {shoot / 'photos' / name}:") == 1
        assert name not in r.stdout
    for i in range(3):  # outside the mask, each result is its own photo
        result, photo = np.asarray(Image.open(out / f"good{i}.png")), make_content(seed=i)
        assert np.array_equal(result[make_mask() == 0], photo[make_mask() == 0])
    assert digest(shoot / "photos") == before

    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = run("batch", "stylize", shoot / "photos", "--style", shoot / "style.png", "--mask-dir",
            shoot / "masks", "--out", out, "--report", report, *QUICK)
    assert "0 written, 3 skipped" in r.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    statuses = {os.path.basename(f["input"]): (f["status"], f["worker"]) for f in
                json.loads(report.read_text())["files"]}
    assert statuses == {"broken.jpg": ("failed", "local"), "odd.png": ("failed", "local"),
                        **{f"good{i}.png": ("skipped", None) for i in range(3)}}


def test_killed_batch_leaves_only_whole_files_and_a_rerun_completes(shoot):
    for i in range(3, 8):
        Image.fromarray(make_content(seed=i)).save(shoot / "photos" / f"good{i}.png")
    for name in ("broken.jpg", "odd.png"):
        (shoot / "photos" / name).unlink()
    out = shoot / "out"
    args = ["batch", "stylize", shoot / "photos", "--style", shoot / "style.png", "--out", out,
            "--quality", "fast", "--iterations", "15", "--max-side", "64", "--encoder", "builtin"]
    proc = subprocess.Popen([sys.executable, "-m", "maskstyle.cli", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out.exists() and any(out.glob("*.png"))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(out.glob("*.png"))
    assert 1 <= len(done) < 8
    for path in done:  # every file there is a whole image
        assert Image.open(path).convert("RGB").size == (80, 64)
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert f"{8 - len(done)} written, {len(done)} skipped" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == [f"good{i}.png" for i in range(8)]


def test_batch_refuses_to_write_over_its_inputs(shoot):
    r = run("batch", "stylize", shoot / "photos" / "good0.png", "--style", shoot / "style.png",
            "--out", shoot / "photos", *QUICK)
    assert r.returncode != 0 and "overwrite an input" in r.stderr


def test_cli_help_is_written_for_users():
    r = run("--help")
    assert r.returncode == 0 and "restyle part of an image" in r.stdout
    assert "subcommand is a small function" not in r.stdout


def test_batch_segment_and_harmonize(shoot, tmp_path):
    photos = shoot / "photos"
    for name in ("broken.jpg", "odd.png"):
        (photos / name).unlink()
    r = run("batch", "segment", photos, "--target", "refine", "--mask-dir", shoot / "masks",
            "--out", tmp_path / "sel")
    assert r.returncode == 0, r.stderr
    assert f"segment: hints from {shoot / 'masks'};" in r.stderr and "whole image" not in r.stderr
    assert Image.open(tmp_path / "sel" / "good0.png").mode == "L"
    r = run("batch", "harmonize", photos, "--mask-dir", shoot / "masks", "--out", tmp_path / "harm")
    assert r.returncode == 0, r.stderr
    r = run("batch", "harmonize", photos, "--out", tmp_path / "harm2")
    assert r.returncode != 0 and "needs the pasted objects' masks" in r.stderr


def test_batch_against_a_running_backend(shoot, tmp_path):
    from server_process import Backend

    for name in ("broken.jpg", "odd.png"):
        (shoot / "photos" / name).unlink()
    backend = Backend(tmp_path / "cfg" if (tmp_path / "cfg").mkdir() is None else None)
    try:
        r = run("batch", "stylize", shoot / "photos", "--style", shoot / "style.png",
                "--mask-dir", shoot / "masks", "--out", tmp_path / "remote", "--server",
                backend.url, "--token", backend.token, "--jobs", "2", "--report", tmp_path / "r.json",
                *QUICK)
        assert r.returncode == 0, r.stderr
        assert "3 written" in r.stdout
        workers = {f["worker"] for f in json.loads((tmp_path / "r.json").read_text())["files"]}
        assert workers <= {f"{backend.url}#1", f"{backend.url}#2"} and workers
    finally:
        backend.stop()
