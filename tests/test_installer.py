"""installer/install.py, run as a user runs it: a subprocess into a temporary HOME.

The runs reuse this interpreter's virtual environment (--venv sys.prefix), so nothing is
downloaded from PyPI; weights come from a fake server on 127.0.0.1, named in a
MASKSTYLE_MODELS_REGISTRY file.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALLER = REPO / "installer" / "install.py"
PLUGIN_SOURCE = REPO / "plugin" / "maskstyle"
VENV = Path(sys.prefix)
PROFILE_LAYOUTS = {  # keyed by the installer's and doctor's labels
    "Linux 3.0": ".config/GIMP/3.0",
    "Linux 3.2": ".config/GIMP/3.2",
    "Flatpak 3.0": ".var/app/org.gimp.GIMP/config/GIMP/3.0",
    "macOS 3.0": "Library/Application Support/GIMP/3.0",
    "Windows 3.0": "AppData/Roaming/GIMP/3.0",
}
PAYLOAD = bytes(range(256)) * 1200  # the "weights" the fake server sends (307,200 bytes)
CUT_AT = 100_000


def user_env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASKSTYLE_", "XDG_", "GIMP3_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), APPDATA=str(home / "AppData" / "Roaming"),
               PYTHONUNBUFFERED="1", **extra)
    return env


def install(home: Path, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installer (stdout and stderr together in .stdout)."""
    return subprocess.run([sys.executable, str(INSTALLER), *args], env=env or user_env(home),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def quick_install(home: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return install(home, "--venv", str(VENV), "--no-self-check", *args, **kw)


def make_profiles(home: Path, layouts=PROFILE_LAYOUTS) -> dict[str, Path]:
    profiles = {name: home / layout for name, layout in layouts.items()}
    for path in profiles.values():
        path.mkdir(parents=True)
    return profiles


def snapshot(root: Path, dir_times: bool = True) -> dict:
    """Every path under root: its kind, mode and, for files, mtime and content hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            found[str(path.relative_to(root))] = ("dir", st.st_mode, st.st_mtime_ns if dir_times else 0)
        else:
            found[str(path.relative_to(root))] = ("file", st.st_mode, st.st_mtime_ns,
                                                   hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def config_file(home: Path) -> Path:
    return home / ".config" / "maskstyle" / "config.json"


def assert_ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout
    return done.stdout


def assert_plugin_installed(profile: Path) -> None:
    """The GIMP front-end's files, and the wire package beside them, copied exactly."""
    target = profile / "plug-ins" / "maskstyle"
    sources = {p.name: p for p in PLUGIN_SOURCE.glob("*.py")}
    sources.update({f"maskstyle_wire/{p.name}": p for p in (REPO / "wire" / "maskstyle_wire").glob("*.py")})
    installed = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert installed == set(sources)
    for name, source in sources.items():
        assert (target / name).read_bytes() == source.read_bytes()
    entry = target / "maskstyle.py"
    assert entry.stat().st_mode & 0o777 == 0o755 and os.access(entry, os.X_OK)


# ---------------------------------------------------------------- install, re-run, doctor, uninstall

def test_install_registers_every_profile_is_idempotent_and_uninstall_restores_home(tmp_path):
    home = tmp_path / "home"
    profiles = make_profiles(home)
    other = profiles["Linux 3.0"] / "plug-ins" / "other" / "other.py"  # someone else's plug-in
    other.parent.mkdir(parents=True)
    other.write_text("print('other')\n")
    before = snapshot(home, dir_times=False)

    out = assert_ok(quick_install(home, "--no-download"))
    assert "skipping downloads (--no-download)" in out
    for name, profile in profiles.items():
        assert re.search(rf"found\s+{re.escape(name)}\s", out)
        assert_plugin_installed(profile)
    config = json.loads(config_file(home).read_text())
    assert config_file(home).stat().st_mode & 0o777 == 0o600
    assert isinstance(config["port"], int) and len(config["token"]) >= 16
    assert config["backend_command"] == [str(VENV / "bin" / "python"), "-m", "maskstyle.cli", "serve"]

    installed = snapshot(home)
    again = assert_ok(quick_install(home, "--no-download"))
    assert snapshot(home) == installed  # same files, contents, modes and mtimes
    assert again.count("already up to date") == len(profiles) + 1  # every plug-in and the config
    assert "already installed" in again

    doctor = subprocess.run([sys.executable, "-m", "maskstyle.cli", "doctor"], env=user_env(home),
                            capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for name in profiles:
        assert re.search(rf"^OK\s+GIMP {re.escape(name)}\s+registered", doctor.stdout, re.M), doctor.stdout
    assert re.search(r"^OK\s+config\s+.*mode 0600", doctor.stdout, re.M)
    assert re.search(r"^OK\s+backend\s+not running .* now: the GIMP plug-in starts it", doctor.stdout, re.M)

    config_file(home).chmod(0o644)
    doctor = subprocess.run([sys.executable, "-m", "maskstyle.cli", "doctor"], env=user_env(home),
                            capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 1 and re.search(r"^FAIL\s+config .*\n.*fix: chmod 600", doctor.stdout, re.M)
    assert "fixed its mode to 0600" in assert_ok(quick_install(home, "--no-download"))
    assert config_file(home).stat().st_mode & 0o777 == 0o600

    out = assert_ok(install(home, "--uninstall"))
    assert "removed the plug-in" in out
    assert snapshot(home, dir_times=False) == before
    assert (VENV / "pyvenv.cfg").is_file()  # not created by the installer: kept
    assert "nothing to uninstall" in assert_ok(install(home, "--uninstall"))


def test_existing_port_and_token_are_kept(tmp_path):
    home = tmp_path / "home"
    config_file(home).parent.mkdir(parents=True)
    config_file(home).write_text(json.dumps({"port": 4321, "token": "t" * 32, "backend_command": ["old"]}))
    config_file(home).chmod(0o644)
    out = assert_ok(quick_install(home, "--no-download"))
    config = json.loads(config_file(home).read_text())
    assert (config["port"], config["token"]) == (4321, "t" * 32)
    assert config["backend_command"][0] == str(VENV / "bin" / "python")
    assert config_file(home).stat().st_mode & 0o777 == 0o600
    assert "kept the existing port and token" in out


def test_no_profile_found_says_how_to_pass_one_and_gimp_profile_is_used(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = assert_ok(quick_install(home, "--no-download"))
    assert "no GIMP 3 profile found" in out and "--gimp-profile DIR" in out
    assert not (home / ".config" / "GIMP").exists()

    first, second = tmp_path / "gimp-a", tmp_path / "profiles" / "gimp-b"
    out = assert_ok(install(home, "--plugin-only", "--gimp-profile", str(first), "--gimp-profile", str(second)))
    assert "[1/1] GIMP 3 plug-in" in out
    for profile in (first, second):
        assert_plugin_installed(profile)
    assert_ok(install(home, "--uninstall"))
    assert not first.exists() and not second.exists()  # the installer made them: it removes them
    assert list(home.iterdir()) == []


def test_a_failed_plugin_step_rolls_back_and_a_rerun_resumes(tmp_path):
    home = tmp_path / "home"
    profiles = make_profiles(home, {k: PROFILE_LAYOUTS[k] for k in ("Linux 3.0", "macOS 3.0")})
    old = profiles["Linux 3.0"] / "plug-ins" / "maskstyle"
    old.mkdir(parents=True)
    (old / "maskstyle.py").write_text("# an older version\n")
    (old / "stale.py").write_text("# gone in the new version\n")
    blocker = profiles["macOS 3.0"] / "plug-ins"
    blocker.write_text("not a folder")  # the step fails on the second profile

    done = quick_install(home, "--no-download")
    assert done.returncode == 1 and "FAILED: [4/4] GIMP 3 plug-in" in done.stdout
    assert "rolling back" in done.stdout
    assert (old / "maskstyle.py").read_text() == "# an older version\n"  # the old copy is back
    assert sorted(p.name for p in (profiles["Linux 3.0"] / "plug-ins").iterdir()) == ["maskstyle"]
    assert config_file(home).is_file()  # an earlier step: kept

    blocker.unlink()
    (profiles["Linux 3.0"] / "plug-ins" / ".maskstyle-new-killed").mkdir()  # as a killed run leaves it
    out = assert_ok(quick_install(home, "--no-download"))
    assert "config.json: already up to date" in out  # resumed
    for profile in profiles.values():
        assert_plugin_installed(profile)
    assert sorted(p.name for p in (profiles["Linux 3.0"] / "plug-ins").iterdir()) == ["maskstyle"]


def test_a_failed_venv_creation_is_rolled_back(tmp_path):
    home = tmp_path / "home"
    venv = home / "envs" / "maskstyle"
    venv.mkdir(parents=True)
    (venv / ".maskstyle-incomplete").touch()  # as left by a run that was killed
    (venv / "junk").touch()
    env = user_env(home, PIP_NO_INDEX="1")  # so pip fails at once, without the network
    done = install(home, "--venv", str(venv), "--no-download", env=env)
    assert "an earlier run stopped while creating it: starting it over" in done.stdout
    assert done.returncode == 1 and "pip could not install PyTorch" in done.stdout, done.stdout
    assert not venv.exists()


# ---------------------------------------------------------------- weights from a fake server

class WeightsServer:
    """Serves files on 127.0.0.1 with Range support; can cut the next connection short."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests, self.cut_next = files, [], False
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = owner.files.get(self.path.lstrip("/"))
                ranged = self.headers.get("Range")
                owner.requests.append((self.path, ranged))
                if data is None:
                    self.send_error(404)
                    return
                start = int(re.fullmatch(r"bytes=(\d+)-", ranged)[1]) if ranged else 0
                self.send_response(206 if ranged else 200)
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if owner.cut_next:
                    owner.cut_next = False
                    self.wfile.write(data[start:start + CUT_AT])
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def weights_server():
    server = WeightsServer({"vgg19.pth": PAYLOAD, "deeplab-test.pth": PAYLOAD})
    yield server
    server.close()


def load_installer():
    import importlib.util

    spec = importlib.util.spec_from_file_location("maskstyle_installer", INSTALLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU-build choice is made on Linux")
def test_torch_build_choice_and_its_fallback(weights_server):
    installer = load_installer()
    weights_server.files["whl/cpu/torch/"] = b"<html>torch</html>"
    cpu_index = f"{weights_server.url}/whl/cpu"

    args, why = installer.choose_torch(None, nvidia=False, cpu_index=cpu_index)
    assert args == ["--index-url", cpu_index] and "CPU-only build" in why

    args, why = installer.choose_torch(None, nvidia=False, cpu_index="http://127.0.0.1:9/whl/cpu")
    assert args == [] and "could not be reached" in why and "PyPI's default" in why and "5 GB" in why

    args, why = installer.choose_torch(None, nvidia=True, cpu_index=cpu_index)
    assert args == [] and "NVIDIA GPU is present" in why

    args, why = installer.choose_torch("https://example.invalid/whl", nvidia=False, cpu_index=cpu_index)
    assert args == ["--index-url", "https://example.invalid/whl"] and "--torch-index-url" in why


def test_a_failed_pip_step_shows_its_tail_and_where_the_log_is(tmp_path):
    """pip's hundreds of lines go to a log; a failure quotes its last lines and the path."""
    home = tmp_path / "home"
    make_profiles(home, {"Linux 3.0": PROFILE_LAYOUTS["Linux 3.0"]})
    empty_index = tmp_path / "no-packages"
    empty_index.mkdir()
    done = install(home, "--venv", str(tmp_path / "venv"), "--no-self-check", "--no-download",
                   "--torch-index-url", empty_index.as_uri())
    assert done.returncode != 0
    out = done.stdout
    assert "pip could not install PyTorch" in out and "pip's last lines:" in out
    log = Path(re.search(r"The whole output is in (\S+)", out)[1])
    assert log.is_file() and "torch" in log.read_text()
    assert len(out.splitlines()) < 60  # not pip's whole output
    assert not (tmp_path / "venv").exists()  # the failed step was rolled back


def test_weights_download_resume_hash_check_and_purge(tmp_path, weights_server):
    home = tmp_path / "home"
    home.mkdir()
    registry = tmp_path / "registry.json"  # other weight files, as a user's MASKSTYLE_MODELS_REGISTRY
    registry.write_text(json.dumps({
        "vgg19": {"filename": "vgg19-test.pth", "size": len(PAYLOAD), "size_tolerance": 0,
                  "sha256": hashlib.sha256(PAYLOAD).hexdigest()},
        "deeplabv3": {"filename": "deeplab-test.pth", "size": len(PAYLOAD), "size_tolerance": 0,
                      "sha256": "0" * 64},  # the served file will not match
    }))
    env = user_env(home, MASKSTYLE_MODELS_REGISTRY=str(registry))
    models = home / ".local" / "share" / "maskstyle" / "models"
    vgg = ["--models", "vgg19", "--weights-url", f"vgg19={weights_server.url}/vgg19.pth"]

    weights_server.cut_next = True
    out = assert_ok(quick_install(home, *vgg, env=env))  # a failed download is a warning, not a failure
    assert "could not download vgg19" in out and "Run the installer again to resume" in out
    assert "built-in, weight-free encoder" in out
    assert (models / "vgg19-test.pth.part").stat().st_size == CUT_AT
    assert not (models / "vgg19-test.pth").exists()

    out = assert_ok(quick_install(home, *vgg, env=env))
    assert weights_server.requests[-1] == ("/vgg19.pth", f"bytes={CUT_AT}-")  # resumed, not restarted
    assert "vgg19: installed and verified" in out
    assert (models / "vgg19-test.pth").read_bytes() == PAYLOAD
    assert not (models / "vgg19-test.pth.part").exists()

    requests = len(weights_server.requests)
    out = assert_ok(quick_install(home, *vgg, env=env))
    assert "vgg19: already installed and verified" in out and len(weights_server.requests) == requests

    out = assert_ok(quick_install(home, "--models", "deeplabv3", "--weights-base-url", weights_server.url, env=env))
    assert "failed its size/SHA-256 check" in out and "saliency segmenter" in out
    assert sorted(p.name for p in models.iterdir()) == ["vgg19-test.pth"]  # nothing bad left

    with socket.socket() as s:  # a port nobody listens on: "offline"
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out = assert_ok(quick_install(home, "--models", "deeplabv3", "--weights-url",
                                  f"deeplabv3=http://127.0.0.1:{closed}/x.pth", env=env))
    assert "could not download deeplabv3" in out and "refused" in out

    out = assert_ok(install(home, "--uninstall", "--purge-models", env=env))
    assert "removed the weights" in out and "removed the unfinished download" not in out
    assert list(home.iterdir()) == []

    assert_ok(quick_install(home, *vgg, "--gimp-profile", str(tmp_path / "gimp"), env=env))
    out = assert_ok(install(home, "--uninstall", env=env))
    assert "kept the weights" in out and not (tmp_path / "gimp").exists()
    left = {str(p.relative_to(home)) for p in home.rglob("*")}
    assert left == {".local", ".local/share", ".local/share/maskstyle", ".local/share/maskstyle/models",
                    ".local/share/maskstyle/models/vgg19-test.pth"}


# ---------------------------------------------------------------- self-check with the real backend

def test_self_check_runs_a_job_through_the_plugin_client_and_stops_the_backend(tmp_path):
    home = tmp_path / "home"
    make_profiles(home, {"Linux 3.0": PROFILE_LAYOUTS["Linux 3.0"]})
    before = snapshot(home, dir_times=False)
    out = assert_ok(install(home, "--venv", str(VENV), "--no-download"))
    assert "[5/5] Self-check" in out
    assert re.search(r"stylize job OK in [\d.]+ s: device \w+, method patch, encoder none", out), out
    assert "stopped the backend" in out
    port = json.loads(config_file(home).read_text())["port"]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
    assert_ok(install(home, "--uninstall"))
    assert snapshot(home, dir_times=False) == before
