"""The GIMP 2.10 test harness: a Debian bullseye root with GIMP 2.10 and Python-Fu, built once
from the parts in ../shared/gimp210 (pygobject 2.28.7, on no registry) and two PyPI sdists,
cached under ~/.cache/maskstyle-test/; the plug-in installed by the project's installer; and
batch runs of gimp-console-2.10, each under a timeout.

MASKSTYLE_GIMP210_ROOT overrides the root's folder, MASKSTYLE_GIMP210_PARTS the parts folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from maskstyle_wire.settings import GIMP2, plugin_layout  # noqa: E402

from gimp.harness import debian_mirror  # noqa: E402 (tests/ is on sys.path, as for server_process)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = Path.home() / ".cache" / "maskstyle-test"
PROFILE = Path("root/.config/GIMP/2.10")  # inside the root
GIMP_RUN_TIMEOUT = 300  # seconds for one gimp-console-2.10 run; it can hang forever on a bad batch
TIMINGS: dict = {"gimp_runs": []}

PYGOBJECT = "pygobject-2.28.7.tar.gz"
SDISTS = {  # PyPI source distributions: name -> (requirement, sha256)
    "pycairo-1.18.2.tar.gz": ("pycairo==1.18.2", "dcb853fd020729516e8828ad364084e752327d4cff8505d20b13504b32b16531"),
    "pygtk-2.24.0.tar.bz2": ("pygtk==2.24.0", "cd1c1ea265bd63ff669e92a2d3c2a88eb26bcd9e5363e0f82c896e649f206912"),
}
PYGOBJECT_SHA256 = "37150107fc918cba7a41d1643c10afab06f714bd58612f7a5f35ccb16b359abc"


def root_dir() -> Path:
    return Path(os.environ.get("MASKSTYLE_GIMP210_ROOT") or CACHE / "gimp210-bullseye")


def shared_parts() -> Path:
    return Path(os.environ.get("MASKSTYLE_GIMP210_PARTS") or REPO.parent / "shared" / "gimp210")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def why_root_cannot_be_built() -> str | None:
    """A reason when the root cannot be built here, else None."""
    if os.geteuid() != 0:
        return "building it needs root (debootstrap, chroot)"
    pygobject = shared_parts() / PYGOBJECT
    if not pygobject.is_file():
        return f"{pygobject} is absent (it comes with ../shared/gimp210, which a user's clone does not have)"
    if not shutil.which("debootstrap") and not shutil.which("apt-get"):
        return "neither debootstrap nor apt-get (to install it) is available"
    release = debian_mirror().rstrip("/") + "/dists/bullseye/Release"
    try:
        urllib.request.urlopen(release, timeout=15).close()
    except OSError as err:
        return f"Debian bullseye is not on the mirror ({release}: {err})"
    return None


def _download_sdist(name: str, requirement: str, folder: Path) -> None:
    """pip download; pygtk's setup.py refuses to run on Linux, so when pip fails after fetching,
    the file comes from the link pip found on the index."""
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-vv", "--no-deps", "--no-binary", ":all:",
                           "--no-build-isolation", requirement, "-d", str(folder)],
                          capture_output=True, text=True, timeout=300)
    if (folder / name).is_file():
        return
    links = re.findall(r"Found link (https?://\S+/" + re.escape(name) + r")\b", done.stdout + done.stderr)
    if not links:
        raise RuntimeError(f"pip could not download {requirement}:\n{(done.stdout + done.stderr)[-2000:]}")
    with urllib.request.urlopen(links[0], timeout=120) as response:
        (folder / name).write_bytes(response.read())


def gather_parts() -> Path:
    """The build's parts in one cached folder, each checked against its SHA-256."""
    folder = CACHE / "gimp210-parts"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(shared_parts() / PYGOBJECT, folder / PYGOBJECT)
    if _sha256(folder / PYGOBJECT) != PYGOBJECT_SHA256:
        raise RuntimeError(f"{shared_parts() / PYGOBJECT} is not the pygobject 2.28.7 the root was built with")
    for name, (requirement, digest) in SDISTS.items():
        if not (folder / name).is_file() or _sha256(folder / name) != digest:
            _download_sdist(name, requirement, folder)
        if _sha256(folder / name) != digest:
            raise RuntimeError(f"{name} from PyPI does not have the expected SHA-256")
    return folder


def build_root(root: Path) -> subprocess.CompletedProcess:
    """Run build_root.sh (it returns at once when the root is ready)."""
    cold = not (root / ".ready").exists()
    started = time.monotonic()
    parts = gather_parts() if cold else CACHE / "gimp210-parts"
    done = subprocess.run(["bash", str(HERE / "build_root.sh"), str(root), str(parts), debian_mirror()],
                          capture_output=True, text=True, timeout=3600)
    TIMINGS["root"] = ("built" if cold else "cached", time.monotonic() - started)
    return done


def _chroot_command(root: Path, variables: dict, *args: str) -> list[str]:
    return ["chroot", str(root), "env", "-i", *[f"{k}={v}" for k, v in variables.items()], *args]


BASE_ENV = {"HOME": "/root", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def create_profile(root: Path) -> None:
    """Start GIMP once so that it makes its profile (before a plug-in is copied into it)."""
    if (root / PROFILE / "gimprc").exists() or (root / PROFILE / "pluginrc").exists():
        return
    subprocess.run(_chroot_command(root, BASE_ENV, "gimp-console-2.10", "-idf", "--batch-interpreter",
                                   "python-fu-eval", "-b", "pdb.gimp_quit(1)"),
                   capture_output=True, text=True, timeout=GIMP_RUN_TIMEOUT)


def install_plugin(root: Path) -> Path:
    """Register the plug-in in GIMP 2.10's profile inside root with the project's installer."""
    profile = root / PROFILE
    profile.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MASKSTYLE_DATA_DIR": str(root / "root/.local/share/maskstyle")}
    done = subprocess.run([sys.executable, str(REPO / "installer" / "install.py"), "--plugin-only",
                           "--gimp-profile", str(profile)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the installer could not register the plug-in:\n{done.stdout}{done.stderr}")
    target = profile / "plug-ins" / "maskstyle"
    wrong = [name for source, name in plugin_layout(REPO, GIMP2)
             if not (target / name).is_file() or (target / name).read_bytes() != source.read_bytes()]
    if wrong:
        raise RuntimeError(f"the installer did not put the GIMP 2.10 front-end into {profile}: {', '.join(wrong)} "
                           f"differ\n{done.stdout}")
    return target


class GimpError(Exception):
    pass


class GimpRun:
    def __init__(self, process: subprocess.Popen, out: Path, started: float):
        self.process, self.out, self.started = process, out, started

    def plugin_pid(self) -> int | None:
        """The pid of the maskstyle plug-in (python2 .../maskstyle.py) that this GIMP started."""
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
    """Runs gimp210_scenarios.run_job in gimp-console-2.10 inside the root, one GIMP per job."""

    def __init__(self, root: Path):
        self.root = root
        self.host_dir = Path(tempfile.mkdtemp(prefix="maskstyle-", dir=root / "tmp"))
        self.dir = "/" + str(self.host_dir.relative_to(root))
        shutil.copy2(HERE / "gimp210_scenarios.py", self.host_dir / "gimp210_scenarios.py")
        (self.host_dir / "no-config").mkdir()

    def path(self, name: str) -> tuple[Path, str]:
        return self.host_dir / name, f"{self.dir}/{name}"

    def run(self, job: dict, env: dict[str, str]) -> dict:
        return self.finish(self.start(job, env))

    def start(self, job: dict, env: dict[str, str]) -> "GimpRun":
        name = uuid.uuid4().hex[:8]
        job_host, job_path = self.path(f"job-{name}.json")
        out_host, out_path = self.path(f"out-{name}.json")
        job_host.write_text(json.dumps({**job, "out": out_path}))
        batch = f'execfile("{self.dir}/gimp210_scenarios.py"); run_job("{job_path}")'
        variables = {**BASE_ENV, "MASKSTYLE_CONFIG_DIR": f"{self.dir}/no-config", **env}
        command = _chroot_command(self.root, variables, "gimp-console-2.10", "-idf", "--batch-interpreter",
                                  "python-fu-eval", "-b", batch, "-b", "pdb.gimp_quit(1)")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return GimpRun(process, out_host, time.monotonic())

    def finish(self, run: "GimpRun") -> dict:
        try:
            output, _ = run.process.communicate(timeout=GIMP_RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            run.process.kill()
            output, _ = run.process.communicate()
            raise GimpError(f"GIMP 2.10 did not finish within {GIMP_RUN_TIMEOUT} s:\n{output[-3000:]}")
        TIMINGS["gimp_runs"].append(time.monotonic() - run.started)
        if not run.out.exists():
            raise GimpError(f"GIMP wrote no result (exit {run.process.returncode}):\n{output[-4000:]}")
        report = json.loads(run.out.read_text())
        if "exception" in report:
            raise GimpError(f"the GIMP-side script failed:\n{report['exception']}\n{output[-2000:]}")
        report["gimp_output"] = output
        return report

    def run_all(self, jobs: list[dict], env: dict[str, str]) -> list[dict]:
        """Several scenarios in one GIMP (one start-up instead of one each); a report per job."""
        report = self.run({"runs": jobs}, env)
        return [{**run, "gimp_output": report["gimp_output"]} for run in report["runs"]]

    def close(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)


def summary() -> str:
    parts = ["GIMP 2.10 tier"]
    if "root" in TIMINGS:
        state, seconds = TIMINGS["root"]
        parts.append(f"root {state} in {seconds:.1f} s")
    runs = TIMINGS["gimp_runs"]
    if runs:
        parts.append(f"{len(runs)} GIMP runs, {sum(runs):.1f} s in all (slowest {max(runs):.1f} s)")
    return "; ".join(parts)
