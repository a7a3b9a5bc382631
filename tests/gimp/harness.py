"""The GIMP test harness: the Debian root with GIMP 3, the plug-in install, and batch runs.

The same suite runs on every GIMP 3 tier; MASKSTYLE_GIMP_TIER picks one (TIERS: "3.0", the
default, is GIMP 3.0.4 from Debian trixie; "3.2" is GIMP 3.2.6 from forky). A tier fixes the
Debian suite, the cached root, the console's name and the profile's version.
MASKSTYLE_GIMP_ROOT overrides the root's folder.

gimp-console runs inside the root, which shares the host's loopback, so the plug-in
reaches the backend on 127.0.0.1. gimp_scenarios.py does the work inside GIMP and
writes JSON that the tests read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLUGIN_SOURCE = REPO / "plugin" / "maskstyle"
CACHE = Path.home() / ".cache" / "maskstyle-test"
# tier -> (Debian suite, cached root's folder name, GIMP profile version)
TIERS = {"3.0": ("trixie", "gimp-trixie", "3.0"), "3.2": ("forky", "gimp-forky", "3.2")}
TIMINGS: dict = {"gimp_runs": []}


def tier() -> str:
    name = os.environ.get("MASKSTYLE_GIMP_TIER") or "3.0"
    if name not in TIERS:
        raise ValueError(f"MASKSTYLE_GIMP_TIER must be one of {', '.join(TIERS)}, not {name!r}")
    return name


def suite() -> str:
    return TIERS[tier()][0]


def profile_version() -> str:
    return TIERS[tier()][2]


def gimp_plugin_dir() -> Path:
    """The installed plug-in's folder, relative to the root."""
    return Path(f"root/.config/GIMP/{profile_version()}/plug-ins/maskstyle")


def console(root: Path) -> str:
    """The GIMP console's name in root: gimp-console-3.0 on 3.0, gimp-console-3.2 (or -3) on 3.2."""
    for name in (f"gimp-console-{profile_version()}", "gimp-console-3", "gimp-console"):
        if (root / "usr" / "bin" / name).exists():
            return name
    raise FileNotFoundError(f"no gimp-console in {root}/usr/bin")

from maskstyle_wire import client as wire  # noqa: E402


def root_dir() -> Path:
    return Path(os.environ.get("MASKSTYLE_GIMP_ROOT") or CACHE / TIERS[tier()][1])


def debian_mirror() -> str:
    """The Debian mirror apt uses here, as build_root.sh picks it."""
    pattern = re.compile(r"^(?:URIs:|deb) +(https?://\S+)", re.M)
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            for url in pattern.findall(source.read_text()):
                if re.search(r"/debian/?$", url):
                    return url
        except OSError:
            continue
    return "http://deb.debian.org/debian"


def why_root_cannot_be_built() -> str | None:
    """A reason when debootstrap cannot work here (no debootstrap or apt, no mirror), else None."""
    if not shutil.which("debootstrap") and not shutil.which("apt-get"):
        return "neither debootstrap nor apt-get (to install it) is available"
    release = debian_mirror().rstrip("/") + f"/dists/{suite()}/Release"
    try:
        urllib.request.urlopen(release, timeout=15).close()
    except OSError as err:
        return f"the Debian mirror is unreachable ({release}: {err})"
    return None


def build_root(root: Path) -> subprocess.CompletedProcess:
    """Run build_root.sh (it returns at once when the root is ready)."""
    cold = not (root / ".ready").exists()
    started = time.monotonic()
    done = subprocess.run(["bash", str(HERE / "build_root.sh"), str(root), suite()], capture_output=True,
                          text=True)
    TIMINGS["root"] = ("built" if cold else "cached", time.monotonic() - started)
    return done


def install_plugin(root: Path) -> Path:
    """Register the plug-in in GIMP's user profile inside root with the project's installer,
    so the layout GIMP loads is the installed one (its manifest stays inside root too)."""
    profile = root / gimp_plugin_dir().parents[1]
    env = {**os.environ, "MASKSTYLE_DATA_DIR": str(root / "root/.local/share/maskstyle")}
    done = subprocess.run([sys.executable, str(REPO / "installer" / "install.py"), "--plugin-only",
                           "--gimp-profile", str(profile)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the installer could not register the plug-in:\n{done.stdout}{done.stderr}")
    return root / gimp_plugin_dir()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def backend_env(backend) -> dict[str, str]:
    """What GIMP and the plug-in need to reach a tests/server_process.Backend."""
    return {"MASKSTYLE_URL": backend.url, "MASKSTYLE_TOKEN": backend.token}


def client_for(backend) -> wire.Client:
    """The plug-in's own client (the wire client), for a tests/server_process.Backend."""
    return wire.Client(backend.url, backend.token, timeout=120)


class GimpError(Exception):
    pass


class GimpRun:
    def __init__(self, process: subprocess.Popen, out: Path, started: float):
        self.process, self.out, self.started = process, out, started

    def plugin_pid(self) -> int | None:
        """The pid of the running maskstyle plug-in that this GIMP started, if any."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if parent == self.process.pid and b"maskstyle.py" in cmdline:
                return int(stat.parent.name)
        return None


class GimpRunner:
    """Runs gimp_scenarios.run_job in the tier's gimp-console inside the root: one GIMP per job, or
    one for a list of jobs (run_all)."""

    def __init__(self, root: Path):
        self.root = root
        self.console = console(root)
        self.host_dir = Path(tempfile.mkdtemp(prefix="maskstyle-", dir=root / "tmp"))
        self.dir = "/" + str(self.host_dir.relative_to(root))  # the same folder, seen from the chroot
        shutil.copy2(HERE / "gimp_scenarios.py", self.host_dir / "gimp_scenarios.py")
        (self.host_dir / "no-config").mkdir()

    def path(self, name: str) -> tuple[Path, str]:
        """(host path, chroot path) of a file in the exchange folder."""
        return self.host_dir / name, f"{self.dir}/{name}"

    def run(self, job: dict, env: dict[str, str]) -> dict:
        """Run one job; env reaches GIMP and the plug-in (nothing else of the host's does)."""
        return self.finish(self.start(job, env))

    def run_all(self, jobs: list[dict], env: dict[str, str]) -> list[dict]:
        """Run several jobs in one GIMP (one start-up instead of one each); a report per job.
        Every report's gimp_output is the whole run's output."""
        report = self.finish(self.start({"runs": jobs}, env))
        return [{**run, "gimp_output": report["gimp_output"]} for run in report["runs"]]

    def start(self, job: dict, env: dict[str, str]) -> "GimpRun":
        name = uuid.uuid4().hex[:8]
        job_host, job_path = self.path(f"job-{name}.json")
        out_host, out_path = self.path(f"out-{name}.json")
        job_host.write_text(json.dumps({**job, "out": out_path}))
        plugin_file = f"/{gimp_plugin_dir()}/maskstyle.py"  # the tier's profile, not the scenarios' default
        batch = (f'exec(open("{self.dir}/gimp_scenarios.py").read()); PLUGIN_FILE = "{plugin_file}"; '
                 f'run_job("{job_path}")')
        variables = {"HOME": "/root", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                     "MASKSTYLE_CONFIG_DIR": f"{self.dir}/no-config", **env}
        command = ["chroot", str(self.root), "env", "-i", *[f"{k}={v}" for k, v in variables.items()],
                   self.console, "-idf",  # no UI, no data files, no fonts: faster start
                   "--batch-interpreter", "python-fu-eval", "-b", batch, "--quit"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return GimpRun(process, out_host, time.monotonic())

    def finish(self, run: "GimpRun") -> dict:
        output, _ = run.process.communicate(timeout=900)
        TIMINGS["gimp_runs"].append(time.monotonic() - run.started)
        if not run.out.exists():
            raise GimpError(f"GIMP wrote no result (exit {run.process.returncode}):\n{output[-4000:]}")
        report = json.loads(run.out.read_text())
        if "exception" in report:
            raise GimpError(f"the GIMP-side script failed:\n{report['exception']}\n{output[-2000:]}")
        report["gimp_output"] = output
        return report

    def close(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)


def summary() -> str:
    parts = [f"GIMP {tier()} tier"]
    if "root" in TIMINGS:
        state, seconds = TIMINGS["root"]
        parts.append(f"GIMP root {state} in {seconds:.1f} s")
    if "backend_start" in TIMINGS:
        parts.append(f"backend started in {TIMINGS['backend_start']:.1f} s")
    runs = TIMINGS["gimp_runs"]
    if runs:
        parts.append(f"{len(runs)} GIMP runs, {sum(runs):.1f} s in all (slowest {max(runs):.1f} s)")
    return "; ".join(parts)
