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
import time
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
    temp = home.parent / "tmp"  # the installer's logs stay with the test
    temp.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), TMPDIR=str(temp), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), APPDATA=str(home / "AppData" / "Roaming"),
               PYTHONUNBUFFERED="1", **extra)
    return env


def install(home: Path, *args: str, env: dict | None = None, timeout: float = 300,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installer (stdout and stderr together in .stdout)."""
    return subprocess.run([sys.executable, str(INSTALLER), *args], env=env or user_env(home), cwd=cwd,
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


def step_line(out: str, number: int) -> str:
    """The one line step `number` ends with: '[n/N] Title  what it did'."""
    found = [line for line in out.splitlines() if re.match(rf"\[{number}/\d\] ", line)]
    assert found, out
    return found[-1]


def summary(out: str) -> dict[str, list[str]]:
    """The final summary's sections ('Installed', 'Fell back', 'Warnings', 'Next'): their lines."""
    sections: dict[str, list[str]] = {}
    current = ""
    tail = out[out.rindex("\nInstalled:"):]
    for line in tail.strip().splitlines():
        if line.startswith("  "):
            sections[current].append(line.strip())
        else:
            current, _, rest = line.partition(":")
            sections[current] = [rest.strip()] if rest.strip() else []
    return sections


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
    assert "vgg19 and deeplabv3 not downloaded (--no-download)" in step_line(out, 2)
    for name, profile in profiles.items():
        assert name in step_line(out, 4) and name in "\n".join(summary(out)["Installed"])
        assert_plugin_installed(profile)
    config = json.loads(config_file(home).read_text())
    assert config_file(home).stat().st_mode & 0o777 == 0o600
    assert isinstance(config["port"], int) and len(config["token"]) >= 16
    assert config["backend_command"] == [str(VENV / "bin" / "python"), "-m", "maskstyle.cli", "serve"]

    installed = snapshot(home)
    again = assert_ok(quick_install(home, "--no-download"))
    assert snapshot(home) == installed  # same files, contents, modes and mtimes
    assert "already up to date" in step_line(again, 3)
    plugins = step_line(again, 4).split("  ")[-1]
    assert plugins.startswith("already up to date in ") and all(name in plugins for name in profiles)
    assert step_line(again, 1).endswith("already installed")

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
    assert "fixed its mode to 0600" in step_line(assert_ok(quick_install(home, "--no-download")), 3)
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
    assert "no GIMP 3 profile found" in step_line(out, 4)
    warning = " ".join(summary(out)["Warnings"])
    assert "no GIMP 3 profile found" in warning and "--gimp-profile DIR" in warning
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
    assert "config.json: already up to date" in step_line(out, 3)  # resumed
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
    """Serves files on 127.0.0.1 with Range support; can cut the next connection short, and can
    take `pace` seconds over each file (so that a download is seen while it runs)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests, self.cut_next, self.pace = files, [], False, 0.0
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
                if owner.pace:
                    parts = 20
                    step = -(-(len(data) - start) // parts)
                    for at in range(start, len(data), step):
                        self.wfile.write(data[at:at + step])
                        self.wfile.flush()
                        time.sleep(owner.pace / parts)
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
    assert step_line(out, 2).endswith("vgg19 NOT installed (download failed: see the summary)")
    [fell_back] = summary(out)["Fell back"]  # the reason is in the summary, not only far above
    assert fell_back.startswith("- vgg19 is not installed: could not download vgg19 from ")
    assert f"(the connection closed after {CUT_AT} of {len(PAYLOAD)} bytes)" in fell_back
    assert "Stylize's neural method uses the built-in, weight-free encoder instead" in fell_back
    assert fell_back.endswith("Run the installer again to resume the download (0.1 MiB of 0.3 MiB are kept).")
    assert (models / "vgg19-test.pth.part").stat().st_size == CUT_AT
    assert not (models / "vgg19-test.pth").exists()

    out = assert_ok(quick_install(home, *vgg, env=env))
    assert weights_server.requests[-1] == ("/vgg19.pth", f"bytes={CUT_AT}-")  # resumed, not restarted
    assert step_line(out, 2).endswith("vgg19 installed and verified")
    assert (models / "vgg19-test.pth").read_bytes() == PAYLOAD
    assert not (models / "vgg19-test.pth.part").exists()

    requests = len(weights_server.requests)
    out = assert_ok(quick_install(home, *vgg, env=env))
    assert step_line(out, 2).endswith("vgg19 already installed and verified")
    assert len(weights_server.requests) == requests

    out = assert_ok(quick_install(home, "--models", "deeplabv3", "--weights-base-url", weights_server.url, env=env))
    [fell_back] = summary(out)["Fell back"]
    assert "deeplabv3 is not installed: the downloaded deeplabv3 file failed its size/SHA-256 check" in fell_back
    assert "Select Subject uses the built-in saliency segmenter instead" in fell_back
    assert "encoder" not in fell_back and fell_back.endswith("Run the installer again to retry.")
    assert sorted(p.name for p in models.iterdir()) == ["vgg19-test.pth"]  # nothing bad left

    with socket.socket() as s:  # a port nobody listens on: "offline"
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out = assert_ok(quick_install(home, "--models", "deeplabv3", "--weights-url",
                                  f"deeplabv3=http://127.0.0.1:{closed}/x.pth", env=env))
    [fell_back] = summary(out)["Fell back"]
    assert re.search(r"could not download deeplabv3 from \S+ \(.*refused\)", fell_back), fell_back

    out = assert_ok(install(home, "--uninstall", "--purge-models", env=env))
    assert "removed the weights" in out and "removed the unfinished download" not in out
    assert list(home.iterdir()) == []

    assert_ok(quick_install(home, *vgg, "--gimp-profile", str(tmp_path / "gimp"), env=env))
    out = assert_ok(install(home, "--uninstall", env=env))
    assert "kept the weights" in out and not (tmp_path / "gimp").exists()
    left = {str(p.relative_to(home)) for p in home.rglob("*")}
    assert left == {".local", ".local/share", ".local/share/maskstyle", ".local/share/maskstyle/models",
                    ".local/share/maskstyle/models/vgg19-test.pth"}


# ---------------------------------------------------------------- what the installer prints

README = (REPO / "README.md").read_text(encoding="utf-8")
MAIN_COMMAND = "maskstyle stylize photo.jpg --style painting.jpg --mask mask.png --out out.png"


def closed_port() -> int:
    """A port nobody listens on: as good as offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def installed_rows(out: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in summary(out)["Installed"]:
        what, where = re.split(r"\s{2,}", line, maxsplit=1)
        rows[what] = rows[what] + "\n" + where if what in rows else where
    return rows


def test_a_quick_install_prints_one_line_per_step_then_a_summary_of_what_to_run_next(tmp_path):
    """No pip output and no details: a first line, one line per step, and the summary."""
    home = tmp_path / "home"
    make_profiles(home, {"Linux 3.0": PROFILE_LAYOUTS["Linux 3.0"]})
    for run in ("first", "again"):  # a rerun reads the same way
        out = assert_ok(quick_install(home, "--no-download"))
        lines = out.splitlines()
        assert lines[0].startswith("maskstyle installer: installing maskstyle "), out
        assert [re.match(r"\[\d/\d\] [\w -]+?(?=  )", line)[0] for line in lines[1:5]] == [
            "[1/4] Python environment", "[2/4] Model weights", "[3/4] Config", "[4/4] GIMP 3 plug-in"], out
        assert lines[5:7] == ["", "Installed:"], out
        assert len(lines) <= 20 and "WARNING" not in out and "Warnings:" not in out, out

    rows = installed_rows(out)
    venv, packages = rows["environment"].split(": ", 1)
    assert Path(venv).resolve() == VENV.resolve()
    assert re.fullmatch(r"maskstyle [\w.]+ \(editable\), torch \S+ \((CUDA \S+|ROCm \S+|CPU-only) build\)",
                        packages), packages
    assert re.fullmatch(r"~/\.config/maskstyle/config\.json \(port \d+, mode 0600\)", rows["config"])
    assert rows["GIMP plug-in"] == "Linux 3.0: ~/.config/GIMP/3.0/plug-ins/maskstyle"
    assert rows["weights"].startswith("none")

    vgg, deeplab = summary(out)["Fell back"]
    assert vgg == ("- vgg19 is not installed (--no-download): Stylize's neural method uses the "
                   "built-in, weight-free encoder instead.")
    assert deeplab == ("- deeplabv3 is not installed (--no-download): Select Subject uses the built-in "
                       "saliency segmenter instead.")

    next_steps = "\n".join(summary(out)["Next"])
    assert MAIN_COMMAND in README and f"{venv}/bin/{MAIN_COMMAND}" in next_steps
    assert f"{venv}/bin/maskstyle doctor" in next_steps
    assert "start GIMP" in next_steps and "Filters > Maskstyle > Stylize Selection" in next_steps


def test_a_failed_download_says_why_in_the_summary_and_the_fallback_it_leaves(tmp_path):
    """The real registry (VGG-19's size as the README gives it), and a mirror that is down."""
    home = tmp_path / "home"
    home.mkdir()
    out = assert_ok(quick_install(home, "--weights-base-url", f"http://127.0.0.1:{closed_port()}",
                                  "--gimp-profile", str(tmp_path / "gimp")))
    size = re.search(r"vgg19: downloading (\d+ MiB) from http://127\.0\.0\.1", out)[1]
    assert size == "548 MiB" and f"VGG-19 ({size})" in README
    assert "deeplabv3: downloading 161 MiB from" in out
    assert step_line(out, 2).endswith("vgg19 and deeplabv3 NOT installed (download failed: see the summary)")

    vgg, deeplab = summary(out)["Fell back"]
    for name, line in (("vgg19", vgg), ("deeplabv3", deeplab)):
        assert re.match(rf"- {name} is not installed: could not download {name} from http://127\.0\.0\.1:"
                        r"\d+/\S+\.pth \(.*Connection refused\)\. ", line), line
        assert line.endswith("Run the installer again to retry.")
    assert "the built-in, weight-free encoder instead" in vgg
    assert "Select Subject uses the built-in saliency segmenter instead" in deeplab
    assert not [line for line in out.splitlines() if "deeplabv3" in line and "encoder" in line]
    assert "see above" not in out


def test_progress_text_says_size_speed_and_time_left():
    installer = load_installer()
    text = installer.progress_text("vgg19", 274 * 2**20, 574_673_361, 12 * 2**20, width=80)
    assert re.fullmatch(r"vgg19 \[=+> +\]  50% 274/548 MiB 12\.0 MiB/s 0:22 left", text), text
    assert len(text) <= 80  # the bar is 30 cells at most
    assert len(installer.progress_text("vgg19", 274 * 2**20, 574_673_361, 12 * 2**20, width=60)) == 60
    assert installer.progress_text("x", 0, 307_200, 0, width=40).endswith("]   0% 0.0/0.3 MiB")


@pytest.mark.skipif(sys.platform == "win32", reason="runs the installer on a pseudo-terminal")
def test_on_a_terminal_a_download_has_a_progress_bar_that_the_step_line_replaces(tmp_path, weights_server):
    import pty

    home = tmp_path / "home"
    home.mkdir()
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"vgg19": {"filename": "vgg19-test.pth", "size": len(PAYLOAD),
                                              "size_tolerance": 0,
                                              "sha256": hashlib.sha256(PAYLOAD).hexdigest()}}))
    env = user_env(home, MASKSTYLE_MODELS_REGISTRY=str(registry), TERM="xterm", COLUMNS="100")
    weights_server.pace = 2.0  # the installer redraws every 0.25 s: it must see the download running
    master, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, str(INSTALLER), "--venv", str(VENV), "--no-self-check",
                                "--models", "vgg19", "--weights-url", f"vgg19={weights_server.url}/vgg19.pth",
                                "--gimp-profile", str(tmp_path / "gimp")],
                               stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # the installer closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    assert process.wait(timeout=60) == 0, raw
    text = raw.decode("utf-8")
    assert re.search(r"\r\[2/4\] Model weights +vgg19 \[[=> ]+\] +\d+% [\d.]+/0\.3 MiB", text), text

    def seen(line: str) -> str:  # what a terminal shows of a line that \r rewrote
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        return shown.rstrip()

    screen = [seen(line) for line in text.replace("\r\n", "\n").split("\n")]
    assert screen[1:5] == [step_line(text.replace("\r\n", "\n").replace("\r", "\n"), n) for n in (1, 2, 3, 4)]
    assert screen[2] == "[2/4] Model weights       vgg19 installed and verified", screen
    assert not [line for line in screen if "MiB" in line and "[" in line.split("vgg19")[-1]]


# ---------------------------------------------------------------- self-check with the real backend

def test_self_check_runs_a_job_through_the_plugin_client_and_stops_the_backend(tmp_path):
    home = tmp_path / "home"
    make_profiles(home, {"Linux 3.0": PROFILE_LAYOUTS["Linux 3.0"]})
    before = snapshot(home, dir_times=False)
    out = assert_ok(install(home, "--venv", str(VENV), "--no-download"))
    assert "[5/5] Self-check" in out
    assert re.search(r"  OK: a stylize job in [\d.]+ s \(device \w+, method patch, encoder none\); "
                     r"backend stopped$", step_line(out, 5)), out
    port = json.loads(config_file(home).read_text())["port"]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
    assert_ok(install(home, "--uninstall"))
    assert snapshot(home, dir_times=False) == before


# ---------------------------------------------------------------- GIMP 2.10 and 3.2 profiles

GIMP210_SOURCE = REPO / "plugin" / "gimp210"


def assert_front_end_installed(profile: Path, front: Path) -> None:
    """The front-end in `front` (plugin/maskstyle or plugin/gimp210), with the wire package beside it."""
    target = profile / "plug-ins" / "maskstyle"
    sources = {p.name: p for p in front.glob("*.py")}
    sources.update({f"maskstyle_wire/{p.name}": p for p in (REPO / "wire" / "maskstyle_wire").glob("*.py")})
    installed = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert installed == set(sources), profile
    for name, source in sources.items():
        assert (target / name).read_bytes() == source.read_bytes(), name
    assert os.access(target / "maskstyle.py", os.X_OK)


def test_gimp_210_profiles_get_the_gimpfu_front_end_and_32_the_gimp3_one(tmp_path):
    home = tmp_path / "home"
    profiles = make_profiles(home, {"Linux 2.10": ".config/GIMP/2.10",
                                    "Flatpak 2.10": ".var/app/org.gimp.GIMP/config/GIMP/2.10",
                                    "Windows 2.10": "AppData/Roaming/GIMP/2.10",
                                    "Linux 3.2": ".config/GIMP/3.2", "macOS 3.2": "Library/Application Support/GIMP/3.2",
                                    "Linux 3.4": ".config/GIMP/3.4"})  # a later GIMP 3 is found too
    out = assert_ok(install(home, "--plugin-only"))
    for name, profile in profiles.items():
        front = GIMP210_SOURCE if name.endswith("2.10") else PLUGIN_SOURCE
        assert_front_end_installed(profile, front)
        assert name in step_line(out, 1)
    installed = "\n".join(summary(out)["Installed"])
    assert re.search(r"Linux 2\.10: .*GIMP/2\.10/plug-ins/maskstyle.*GIMP 2\.10", installed), installed
    assert re.search(r"Linux 3\.2: .*GIMP/3\.2/plug-ins/maskstyle", installed), installed

    doctor = subprocess.run([sys.executable, "-m", "maskstyle.cli", "doctor"], env=user_env(home),
                            capture_output=True, text=True, timeout=120)
    assert re.search(r"^OK\s+GIMP Linux 2\.10 \(gimpfu front-end\)\s+registered", doctor.stdout, re.M), doctor.stdout
    assert re.search(r"^OK\s+GIMP Linux 3\.2\s+registered", doctor.stdout, re.M), doctor.stdout

    assert_ok(install(home, "--uninstall"))
    for profile in profiles.values():
        assert not (profile / "plug-ins" / "maskstyle").exists()


def test_a_gimp_profile_named_2_10_gets_the_gimpfu_front_end(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    old, new = tmp_path / "old" / "2.10", tmp_path / "new" / "3.2"
    out = assert_ok(install(home, "--plugin-only", "--gimp-profile", str(old), "--gimp-profile", str(new)))
    assert_front_end_installed(old, GIMP210_SOURCE)
    assert_front_end_installed(new, PLUGIN_SOURCE)
    assert "GIMP 2.10" in "\n".join(summary(out)["Installed"])


def test_an_egg_info_in_the_working_folder_does_not_hide_the_installed_package(tmp_path):
    """An editable build leaves maskstyle.egg-info in the clone's root, where the installer is
    usually run; its check must still see the venv's install and not reinstall (which replaced
    the editable install with a copy and wrote pip's cache into HOME)."""
    home, folder = tmp_path / "home", tmp_path / "clone-root"
    home.mkdir()
    (folder / "maskstyle.egg-info").mkdir(parents=True)
    (folder / "maskstyle.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: maskstyle\nVersion: 0.1.0\n")
    out = assert_ok(install(home, "--venv", str(VENV), "--no-self-check", "--no-download", cwd=folder))
    assert "already installed" in step_line(out, 1), out
    assert not (home / ".cache").exists()


def test_output_piped_into_head_still_installs_everything_without_a_traceback(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    command = f"{sys.executable} {INSTALLER} --venv {VENV} --no-self-check --no-download | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=user_env(home), capture_output=True,
                          text=True, timeout=300)
    assert done.stdout.startswith("maskstyle installer: installing maskstyle"), done.stdout
    assert done.returncode == 0 and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert config_file(home).is_file()  # the steps after the pipe closed still ran
