"""The GIMP test harness: the Debian root with GIMP 3, the plug-in install, and batch runs.

The same suite runs on every GIMP 3 tier; MASKSTYLE_GIMP_TIER picks one (TIERS: "3.0", the
default, is GIMP 3.0.4 from Debian trixie; "3.2" is GIMP 3.2.6 from forky). A tier fixes the
Debian suite, the cached root, the console's name and the profile's version.
MASKSTYLE_GIMP_ROOT overrides the root's folder.

gimp-console runs inside the root, which shares the host's loopback, so the plug-in
reaches the backend on 127.0.0.1. gimp_scenarios.py does the work inside GIMP and
writes JSON that the tests read.

The parts that do not depend on the GIMP serve the GIMP 2.10 tier too (tests/gimp210/harness.py
imports them): ScenarioRunner, GimpRun, proc_mounted, chroot_command, and the helpers that kill
a job's plug-in or its backend while it runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from .scenes import assert_unchanged

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

from maskstyle.server.process import BackendProcess, free_port  # noqa: E402,F401 (free_port: for the tests)
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


def backend_env(backend) -> dict[str, str]:
    """What GIMP and the plug-in need to reach a tests/server_process.Backend."""
    return {"MASKSTYLE_URL": backend.url, "MASKSTYLE_TOKEN": backend.token}


def client_for(backend) -> wire.Client:
    """The plug-in's own client (the wire client), for a tests/server_process.Backend."""
    return wire.Client(backend.url, backend.token, timeout=120)


BASE_ENV = {"HOME": "/root", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def chroot_command(root: Path, variables: dict, *args: str) -> list[str]:
    """args, run inside root with these environment variables and no others."""
    return ["chroot", str(root), "env", "-i", *[f"{k}={v}" for k, v in variables.items()], *args]


@contextmanager
def proc_mounted(root: Path):
    """/proc mounted inside root while in the block (GIMP needs it), unless it already was."""
    proc = root / "proc"
    mounted_here = subprocess.run(["mountpoint", "-q", str(proc)]).returncode != 0
    if mounted_here:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    try:
        yield
    finally:
        if mounted_here:
            subprocess.run(["umount", str(proc)], check=False)


class GimpError(Exception):
    pass


class GimpRun:
    def __init__(self, process: subprocess.Popen, out: Path, started: float):
        self.process, self.out, self.started = process, out, started

    def plugin_pid(self) -> int | None:
        """The pid of the running maskstyle plug-in (.../maskstyle.py) that this GIMP started, if any."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if parent == self.process.pid and b"maskstyle.py" in cmdline:
                return int(stat.parent.name)
        return None


class ScenarioRunner:
    """Runs a tier's scenario script's run_job in a GIMP inside the root: one GIMP per job (run), or
    one for a list of jobs (run_all). The script is copied into an exchange folder inside the root,
    where the jobs and reports are written too. A tier's runner names its SCRIPT, its GIMP (NAME),
    how long one run may take (RUN_TIMEOUT), its timings, and the GIMP command (gimp_command)."""

    SCRIPT: Path
    NAME = "GIMP"
    RUN_TIMEOUT: float
    timings: dict

    def __init__(self, root: Path):
        self.root = root
        self.host_dir = Path(tempfile.mkdtemp(prefix="maskstyle-", dir=root / "tmp"))
        self.dir = "/" + str(self.host_dir.relative_to(root))  # the same folder, seen from the chroot
        shutil.copy2(self.SCRIPT, self.host_dir / self.SCRIPT.name)
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
        report = self.run({"runs": jobs}, env)
        return [{**run, "gimp_output": report["gimp_output"]} for run in report["runs"]]

    def gimp_command(self, job_path: str) -> list[str]:
        """The GIMP command, inside the root, that runs the job at job_path (a chroot path)."""
        raise NotImplementedError

    def start(self, job: dict, env: dict[str, str]) -> GimpRun:
        name = uuid.uuid4().hex[:8]
        job_host, job_path = self.path(f"job-{name}.json")
        out_host, out_path = self.path(f"out-{name}.json")
        job_host.write_text(json.dumps({**job, "out": out_path}))
        variables = {**BASE_ENV, "MASKSTYLE_CONFIG_DIR": f"{self.dir}/no-config", **env}
        command = chroot_command(self.root, variables, *self.gimp_command(job_path))
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return GimpRun(process, out_host, time.monotonic())

    def finish(self, run: GimpRun) -> dict:
        try:
            output, _ = run.process.communicate(timeout=self.RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            run.process.kill()
            output, _ = run.process.communicate()
            raise GimpError(f"{self.NAME} did not finish within {self.RUN_TIMEOUT} s:\n{output[-3000:]}")
        self.timings["gimp_runs"].append(time.monotonic() - run.started)
        if not run.out.exists():
            raise GimpError(f"GIMP wrote no result (exit {run.process.returncode}):\n{output[-4000:]}")
        report = json.loads(run.out.read_text())
        if "exception" in report:
            raise GimpError(f"the GIMP-side script failed:\n{report['exception']}\n{output[-2000:]}")
        report["gimp_output"] = output
        return report

    def close(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)


class GimpRunner(ScenarioRunner):
    """Runs gimp_scenarios.run_job in the tier's gimp-console inside the root."""

    SCRIPT = HERE / "gimp_scenarios.py"
    RUN_TIMEOUT = 900
    timings = TIMINGS

    def __init__(self, root: Path):
        super().__init__(root)
        self.console = console(root)

    def gimp_command(self, job_path: str) -> list[str]:
        plugin_file = f"/{gimp_plugin_dir()}/maskstyle.py"  # the tier's profile, not the scenarios' default
        batch = (f'exec(open("{self.dir}/gimp_scenarios.py").read()); PLUGIN_FILE = "{plugin_file}"; '
                 f'run_job("{job_path}")')
        return [self.console, "-idf",  # no UI, no data files, no fonts: faster start
                "--batch-interpreter", "python-fu-eval", "-b", batch, "--quit"]


# ---------------------------------------------------------------- jobs that are cut short

def running_jobs(backend) -> int:
    return client_for(backend).info()["queue"]["running"]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def check_a_killed_plugin_cancels_its_job(gimp: ScenarioRunner, job: dict, env: dict[str, str], backend) -> None:
    """Run job (one slow call) and kill its plug-in, as GIMP does when its progress is cancelled,
    once the backend runs its job: the backend cancels that job, the call fails, and the image is
    unchanged."""
    wait_until(lambda: running_jobs(backend) == 0, 120, "an idle backend")
    run = gimp.start(job, env)
    try:
        wait_until(lambda: running_jobs(backend) == 1, 120, "the plug-in's job to run")
        pid = run.plugin_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: running_jobs(backend) == 0, 30, "the backend job to be cancelled")
    finally:
        report = gimp.finish(run)
    assert report["calls"][0]["status"] != "success"
    assert_unchanged(report)


def run_killing_the_backend(gimp: ScenarioRunner, job: dict, config_dir: Path) -> tuple[dict, BackendProcess]:
    """Run job (one slow call) against a backend of its own (config in config_dir), and kill that
    backend's process once it runs the plug-in's job. The report, and the (stopped) backend."""
    config_dir.mkdir()
    doomed = BackendProcess(config_dir)
    try:
        run = gimp.start(job, backend_env(doomed))
        try:
            wait_until(lambda: running_jobs(doomed) == 1, 120, "the plug-in's job to run")
            doomed.proc.kill()
        finally:
            report = gimp.finish(run)
    finally:
        doomed.stop()
    return report, doomed


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
