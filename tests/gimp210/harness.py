"""The GIMP 2.10 test harness: a Debian bullseye root with GIMP 2.10 and Python-Fu, built once
from the parts in ../shared/gimp210 (pygobject 2.28.7, on no registry) and two PyPI sdists,
cached under ~/.cache/maskstyle-test/; the plug-in installed by the project's installer; and
batch runs of gimp-console-2.10, each under a timeout.

MASKSTYLE_GIMP210_ROOT overrides the root's folder, MASKSTYLE_GIMP210_PARTS the parts folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from maskstyle_wire.settings import GIMP2, plugin_layout  # noqa: E402

# The tier-independent parts of the GIMP 3 tier's harness (tests/ is on sys.path, as for server_process)
from gimp.harness import BASE_ENV, ScenarioRunner, chroot_command, debian_mirror  # noqa: E402

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


def create_profile(root: Path) -> None:
    """Start GIMP once so that it makes its profile (before a plug-in is copied into it)."""
    if (root / PROFILE / "gimprc").exists() or (root / PROFILE / "pluginrc").exists():
        return
    subprocess.run(chroot_command(root, BASE_ENV, "gimp-console-2.10", "-idf", "--batch-interpreter",
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


class GimpRunner(ScenarioRunner):
    """Runs gimp210_scenarios.run_job in gimp-console-2.10 inside the root."""

    SCRIPT = HERE / "gimp210_scenarios.py"
    NAME = "GIMP 2.10"
    RUN_TIMEOUT = GIMP_RUN_TIMEOUT
    timings = TIMINGS

    def gimp_command(self, job_path: str) -> list[str]:
        batch = f'execfile("{self.dir}/gimp210_scenarios.py"); run_job("{job_path}")'
        return ["gimp-console-2.10", "-idf", "--batch-interpreter", "python-fu-eval", "-b", batch,
                "-b", "pdb.gimp_quit(1)"]


def summary() -> str:
    parts = ["GIMP 2.10 tier"]
    if "root" in TIMINGS:
        state, seconds = TIMINGS["root"]
        parts.append(f"root {state} in {seconds:.1f} s")
    runs = TIMINGS["gimp_runs"]
    if runs:
        parts.append(f"{len(runs)} GIMP runs, {sum(runs):.1f} s in all (slowest {max(runs):.1f} s)")
    return "; ".join(parts)
