"""`maskstyle batch ... --ray`: the batch's promises on a local Ray cluster of 2 workers, a
worker killed mid-run, Ctrl-C, fsspec URLs, and a clear line when Ray is not installed.

One local Ray runtime (2 CPUs) serves the whole module; the in-process runs join it, the
command-line run joins it by its address. Without Ray, only the tests that need no Ray run."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import make_content, make_mask, make_style

SMALL = ["--quality", "fast", "--max-side", "48", "--encoder", "builtin"]
QUICK = [*SMALL, "--iterations", "2"]
SLOW = [*SMALL, "--iterations", "20"]  # about half a second an image: time to kill a worker


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'maskstyle[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def shoot(folder: Path, good: int, corrupt: int = 0) -> Path:
    photos, masks = folder / "photos", folder / "masks"
    photos.mkdir(parents=True), masks.mkdir()
    for i in range(good):
        Image.fromarray(make_content(seed=i)).save(photos / f"img{i}.png")
        Image.fromarray(make_mask()).save(masks / f"img{i}.png")
    for i in range(corrupt):
        (photos / f"bad{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray(make_style()).save(folder / "style.png")
    return folder


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def whole_pngs(folder: Path) -> list[str]:
    names = sorted(p.name for p in folder.glob("*.png"))
    for name in names:  # decodes fully: no half-written file
        Image.open(folder / name).convert("RGB").load()
    return names


def stylize_args(folder: Path, out: Path, *extra) -> list[str]:
    return ["batch", "stylize", str(folder / "photos"), "--style", str(folder / "style.png"),
            "--mask-dir", str(folder / "masks"), "--out", str(out), *map(str, extra)]


def test_ray_batch_writes_good_files_reports_the_corrupt_one_and_a_rerun_skips(cluster, tmp_path, capsys):
    from maskstyle.cli import main

    folder = shoot(tmp_path, good=5, corrupt=1)
    before = digest(folder / "photos")
    out, report = tmp_path / "out", tmp_path / "report.json"
    rc = main(stylize_args(folder, out, "--ray", "--workers", 2, "--report", report, *QUICK))
    captured = capsys.readouterr()
    assert rc == 1
    assert whole_pngs(out) == [f"img{i}.png" for i in range(5)] and len(list(out.iterdir())) == 5
    assert "5 written, 0 skipped" in captured.out and "1 failed" in captured.out
    assert captured.err.count(f"failed: {folder / 'photos' / 'bad0.jpg'}: ") == 1
    data = json.loads(report.read_text())
    files = data["files"]
    assert [Path(f["input"]).name for f in files] == ["bad0.jpg"] + [f"img{i}.png" for i in range(5)]
    for entry in files:
        assert set(entry) == {"input", "output", "status", "error", "worker", "seconds", "attempts"}
        assert entry["worker"].startswith("ray-") and entry["seconds"] >= 0 and entry["attempts"] == 1
    bad = files[0]
    assert bad["status"] == "failed" and "not a readable image" in bad["error"]
    assert all(f["status"] == "written" and f["error"] is None for f in files[1:])
    assert len({f["worker"] for f in files}) == 2, "both workers got files"
    assert data["failed"] == [{"input": bad["input"], "error": bad["error"]}]
    assert digest(folder / "photos") == before

    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    rc = main(stylize_args(folder, out, "--ray", "--workers", 2, "--report", report, *QUICK))
    captured = capsys.readouterr()
    assert rc == 1 and "0 written, 5 skipped" in captured.out and "1 failed" in captured.out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    statuses = [f["status"] for f in json.loads(report.read_text())["files"]]
    assert statuses == ["failed"] + ["skipped"] * 5
    assert digest(folder / "photos") == before


def test_a_lost_worker_is_survived(cluster, tmp_path):
    """Kill one worker's process as soon as it has finished a file (its next one is running):
    that file is redone by another worker, and every input is written and listed once."""
    from maskstyle.cli import batch_worker_process, build_parser
    from maskstyle.ray_batch import run_ray_batch

    folder = shoot(tmp_path, good=8)
    out = tmp_path / "out"
    args = build_parser().parse_args(stylize_args(folder, out, *SLOW))
    killed = []

    def kill_first_worker(entry):
        if not killed and entry["status"] == "written":
            killed.append(entry["worker"])
            os.kill(int(entry["worker"].rsplit(":", 1)[1]), signal.SIGKILL)

    began = time.monotonic()
    report = run_ray_batch("stylize", [str(folder / "photos")], str(out),
                           functools.partial(batch_worker_process, args), workers=2,
                           progress_bar=False, on_result=kill_first_worker)
    assert killed
    assert whole_pngs(out) == [f"img{i}.png" for i in range(8)] and len(list(out.iterdir())) == 8
    files = report.files
    assert sorted(Path(f["input"]).name for f in files) == [f"img{i}.png" for i in range(8)]
    assert all(f["status"] == "written" for f in files) and not report.failed
    retried = [f for f in files if f["attempts"] > 1]
    assert retried, "the killed worker's unfinished file was done again"
    for entry in retried:  # by another worker, or found whole if the killed one had written it
        assert entry["worker"] != killed[0] or entry["seconds"] is None
    assert time.monotonic() - began < 120


def test_ctrl_c_leaves_whole_files_and_a_rerun_completes(cluster, tmp_path, capsys):
    """The command line joins the cluster by its address; SIGINT stops it mid-run."""
    from maskstyle.cli import main

    folder = shoot(tmp_path, good=8)
    out = tmp_path / "out"
    address = cluster.get_runtime_context().gcs_address
    args = stylize_args(folder, out, "--ray", address, "--workers", 2, *SMALL, "--iterations", 40)
    proc = subprocess.Popen([sys.executable, "-m", "maskstyle.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and any(out.glob("*.png"))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout and "run the same command again" in stdout
    done = whole_pngs(out)
    assert 1 <= len(done) < 8
    assert sorted(p.name for p in out.iterdir()) == done  # no temp files left either
    assert main([*args[:-2], "--iterations", "2"]) == 0  # the same command, finishing faster
    assert f"{8 - len(done)} written, {len(done)} skipped" in capsys.readouterr().out
    assert whole_pngs(out) == [f"img{i}.png" for i in range(8)]


def test_workers_read_and_write_urls(cluster, tmp_path):
    pytest.importorskip("fsspec", reason="URLs need fsspec")
    from maskstyle.cli import batch_worker_process, build_parser
    from maskstyle.ray_batch import run_ray_batch

    folder = shoot(tmp_path, good=3)
    out_url = (tmp_path / "out").as_uri()
    args = build_parser().parse_args(stylize_args(folder, tmp_path / "unused", *QUICK))
    report = run_ray_batch("stylize", [(folder / "photos").as_uri()], out_url,
                           functools.partial(batch_worker_process, args), workers=1, progress_bar=False)
    assert [f["status"] for f in report.files] == ["written"] * 3
    assert [f["output"] for f in report.files] == [f"{out_url}/img{i}.png" for i in range(3)]
    assert whole_pngs(tmp_path / "out") == [f"img{i}.png" for i in range(3)]


def test_without_ray_the_option_says_how_to_install_it(tmp_path):
    folder = shoot(tmp_path, good=1)
    code = ("import sys; sys.modules['ray'] = None; from maskstyle.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, *stylize_args(folder, tmp_path / "out", "--ray")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "maskstyle: error: --ray needs Ray, which is not installed: pip install 'maskstyle[ray]'"]
    assert not (tmp_path / "out").exists()


def test_ray_is_an_optional_extra_that_ci_installs():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert not any(dep.lower().startswith("ray") for dep in project["dependencies"])
    assert project["optional-dependencies"]["ray"] == ["ray>=2.9"]
    assert ".[ray]" in (root / ".ci" / "run").read_text()  # CI runs the Ray tests
