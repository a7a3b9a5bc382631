#!/usr/bin/env python3
"""From a clone to a working maskstyle: backend, model weights, config and GIMP 3 plug-in.

    python3 installer/install.py [--venv PATH] [--dev] [--demo] [--no-download] [--gimp-profile DIR]
    python3 installer/install.py --uninstall [--purge-models]

Standard library only (Python 3.10+). Each step ends in one line that says what it did, and
the run ends with a summary: what is installed, what fell back and why, and what to run next.
The output of pip and of the other commands it runs goes to a log. Running it again changes
nothing that is already in place. A step that fails rolls back what it wrote, and running
the same command again resumes. What the installer writes is listed in a manifest in the
data dir, so --uninstall removes exactly that.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The wire package is the installer's too: where things live, the config's schema, the client.
sys.path.insert(0, str(REPO / "wire"))
from maskstyle_wire import client as wire_client  # noqa: E402
from maskstyle_wire import png, settings  # noqa: E402
from maskstyle_wire.errors import BackendError  # noqa: E402
from maskstyle_wire.settings import PLUGIN_ENTRY, data_dir, plugin_layout  # noqa: E402

PLUGIN_SOURCE = REPO / "plugin" / "maskstyle"
MANIFEST_NAME = "install-manifest.json"
INCOMPLETE_MARK = ".maskstyle-incomplete"  # in a venv this installer is still creating
PIP_TAIL = 12  # lines of pip's log shown when it fails
DEV_EXTRAS, USER_EXTRAS = "dev,demo", "demo"
FALLBACKS = {
    "vgg19": "Stylize's neural method uses the built-in, weight-free encoder instead",
    "deeplabv3": "Select Subject uses the built-in saliency segmenter instead",
}
GIMP_MENUS = ("Filters > Maskstyle > Stylize Selection…", "Layer > Maskstyle > Harmonize Layer…",
              "Select > Maskstyle > Select Subject…")


class InstallError(Exception):
    """A step cannot go on; the message says why and what to do."""


def say(message: str = "") -> None:
    print(f"    {message}" if message else "", flush=True)


def quoted(cmd) -> str:
    return " ".join(shlex.quote(str(part)) for part in cmd)


def mib(size: int) -> str:
    """A size as a user reads it: '548 MiB', '0.3 MiB'."""
    value = size / 2**20
    return f"{value:.0f} MiB" if value >= 10 else f"{value:.1f} MiB"


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def progress_text(name: str, have: int, total: int, speed: float, width: int = 60) -> str:
    """One line of a download's progress: name, a bar, percent, MiB, speed and the time left."""
    fraction = min(1.0, have / total) if total > 0 else 0.0
    tail = f" {fraction * 100:3.0f}% {have / 2**20:.{0 if total >= 10 * 2**20 else 1}f}/{mib(total)}"
    if speed > 0:
        tail += f" {speed / 2**20:.1f} MiB/s {clock(max(0, total - have) / speed)} left"
    cells = max(5, min(30, width - len(name) - 3 - len(tail)))
    filled = int(fraction * cells)
    bar = "=" * filled + (">" if filled < cells else "") + " " * max(0, cells - filled - 1)
    return f"{name} [{bar}]{tail}"


def show(path) -> str:
    """A path as short as it can be and still be typed: relative to the current folder when it
    is under it, else with ~ for the home folder."""
    path = Path(path)
    with contextlib.suppress(ValueError, OSError):
        relative = path.relative_to(Path.cwd())
        return str(relative) if str(relative) != "." else str(path)
    with contextlib.suppress(ValueError, RuntimeError, KeyError):
        return str(Path("~") / path.relative_to(Path.home()))
    return str(path)


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class Console:
    """The installer's lines. A step ends in one line, its result. While it works, what it is
    doing (a pip run and its elapsed time, a download's progress bar) is shown on a terminal
    as one line rewritten in place, which the result then replaces. Elsewhere (a CI log, a
    pipe) only the slow things get a line of their own, a plain one."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.shown = 0  # characters of the status line on the terminal

    def line(self, text: str = "") -> None:
        self.clear()
        self.write(text + "\n")

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:  # the reader went away (`| head`): go on installing, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())

    def status(self, text: str, plain: bool = False) -> None:
        """What is going on now: rewritten in place on a terminal; elsewhere a line if plain."""
        if not self.tty:
            if plain:
                self.line(text)
            return
        text = text.replace("\n", " ")
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        if len(text) > width:
            text = text[:width - 3] + "..."
        self.write("\r" + text + " " * max(0, self.shown - len(text)))
        self.shown = max(self.shown, len(text))

    def width(self) -> int:
        return shutil.get_terminal_size((80, 24)).columns - 1

    def clear(self) -> None:
        if self.shown:
            self.write("\r" + " " * self.shown + "\r")
            self.shown = 0


# ---------------------------------------------------------------- where things live

def manifest_path() -> Path:
    return data_dir() / MANIFEST_NAME


def venv_python(venv: Path) -> Path:
    windows = venv / "Scripts" / "python.exe"
    return windows if windows.exists() else venv / "bin" / "python"


def is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file() and venv_python(path).exists()


def project_version() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise InstallError(f"no version in {REPO / 'pyproject.toml'}")
    return match.group(1)


def plugin_files(front_end: str = settings.GIMP3) -> list[tuple[Path, str]]:
    """The files of a front-end (GIMP 3's, or GIMP 2.10's gimpfu one) and the wire package."""
    files = plugin_layout(REPO, front_end)
    if not any(name == PLUGIN_ENTRY for _, name in files):
        raise InstallError(f"the plug-in folder {REPO / settings.FRONT_ENDS[front_end]} has no {PLUGIN_ENTRY}")
    return files


def rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def write_private(path: Path, text: str) -> None:
    """Write a file with mode 0600 from the start, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# ---------------------------------------------------------------- the manifest

class Manifest:
    """What the installer wrote, kept in the data dir; --uninstall removes exactly that.

    Lists only grow, so several runs (or a run that stopped half-way) add up."""

    KEYS = ("created_venvs", "config_files", "plugins", "models", "dirs")

    def __init__(self, path: Path):
        self.path = path
        self.data: dict = {"source": str(REPO), **{key: [] for key in self.KEYS}}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                for key in self.KEYS:
                    self.data[key] = [str(p) for p in loaded.get(key, [])]
            except (OSError, ValueError, AttributeError) as exc:
                raise InstallError(f"the install manifest {path} is unreadable ({exc}); delete it "
                                   "and remove the maskstyle files by hand, or fix it") from None

    def paths(self, key: str) -> list[Path]:
        return [Path(p) for p in self.data[key]]

    def add(self, key: str, path: Path) -> None:
        if str(path) not in self.data[key]:
            self.data[key].append(str(path))
            self.save()

    def save(self) -> None:
        if not self.path.parent.is_dir():
            return  # saved once the data dir exists (the first thing a run makes)
        text = json.dumps(self.data, indent=2) + "\n"
        if self.path.is_file() and self.path.read_text(encoding="utf-8") == text:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)


# ---------------------------------------------------------------- install

class Installer:
    def __init__(self, args):
        self.args = args
        self.venv = Path(args.venv).expanduser().absolute() if args.venv else data_dir() / "venv"
        self.python = venv_python(self.venv)
        self.manifest = Manifest(manifest_path())
        self.probe: dict = {}       # what the installed maskstyle says about its paths and models
        self.config_path: Path | None = None
        self.out = Console()
        self.details: list[str] = []  # every detail of this run, for the log
        self.log_path: Path | None = None  # made when a command runs, or when the run fails
        self.heading = ""           # the running step's "[n/N] Title", padded
        self.result = ""            # the running step's one-line result
        self.installed: list[tuple[str, str]] = []  # (what, where) for the summary
        self.fallbacks: list[str] = []  # what works in a lesser way, why, and how to get the rest
        self.warnings: list[str] = []
        self.written_plugins: list[Path] = []
        self.demo_result: Path | None = None

    # -- what the user sees, and the log

    def note(self, message: str, verbose: bool = True) -> None:
        """A detail: in the log, and on the terminal only with --verbose (when verbose)."""
        self.details.append(message)
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
                log.write(message + "\n")
        if self.args.verbose and verbose:
            self.out.line("      " + message)

    def activity(self, text: str, plain: bool = False) -> None:
        """What the running step does now (see Console.status)."""
        self.note(text)
        self.out.status(f"{self.heading}  {text}", plain)

    def warn(self, message: str) -> None:
        self.note("WARNING: " + message)
        self.warnings.append(message)

    def fall_back(self, message: str) -> None:
        self.note("FALLBACK: " + message)
        self.fallbacks.append(message)

    def open_log(self) -> Path:
        """The run's log, in the temporary folder (a failed step removes the venv it created):
        every detail, and the whole output of each command the installer runs."""
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="maskstyle-install-", suffix=".log")
            with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as log:
                log.write(f"maskstyle installer, {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                          f"{quoted([sys.executable, *sys.argv])}\n")
                log.writelines(line + "\n" for line in self.details)
            self.log_path = Path(name)
        return self.log_path

    # -- bookkeeping

    def make_dirs(self, path: Path, undo: list) -> None:
        """mkdir -p that records each folder it creates (and undoes them if the step fails)."""
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for folder in reversed(missing):
            folder.mkdir()
            self.manifest.add("dirs", folder)
            undo.append(lambda folder=folder: rmdir_if_empty(folder))

    @contextlib.contextmanager
    def step(self, label: str, title: str, width: int):
        """One step: its line is '[n/N] Title  result'. A step that fails rolls back what it wrote."""
        self.heading, self.result = f"{label} {title:<{width}}", ""
        self.note(f"== {label} {title}", verbose=False)
        self.out.status(f"{self.heading}  ...")
        undo: list = []
        try:
            yield undo
        except BaseException as exc:
            self.out.line(f"{self.heading}  {'stopped' if isinstance(exc, KeyboardInterrupt) else 'FAILED'}")
            if undo:
                self.out.line("      rolling back what this step wrote")
            for action in reversed(undo):
                try:
                    action()
                except OSError as err:
                    self.out.line(f"      could not undo a change: {err}")
            if isinstance(exc, OSError):
                raise InstallError(f"{label} {title}: {exc}") from exc
            if isinstance(exc, InstallError):
                raise InstallError(f"{label} {title}: {exc}") from None
            raise
        self.note(f"   {self.result or 'done'}", verbose=False)
        self.out.line(f"{self.heading}  {self.result or 'done'}")

    def run(self) -> int:
        if not (PLUGIN_SOURCE / PLUGIN_ENTRY).is_file():
            raise InstallError(f"{PLUGIN_SOURCE / PLUGIN_ENTRY} is missing: run the installer from a "
                               "complete maskstyle clone")
        steps = []
        if not self.args.plugin_only:
            steps += [("Python environment", self.install_environment),
                      ("Model weights", self.install_weights),
                      ("Config", self.write_config)]
        steps.append(("GIMP 3 plug-in", self.register_plugin))
        if not self.args.plugin_only and not self.args.no_self_check:
            steps.append(("Self-check", self.self_check))
        if self.args.demo and not self.args.plugin_only:
            steps.append(("Demo", self.run_demo))
        what = "the GIMP 3 plug-in" if self.args.plugin_only else f"maskstyle {project_version()}"
        self.out.line(f"maskstyle installer: installing {what} from {REPO}")
        self.make_dirs(data_dir(), [])  # it holds the manifest: never rolled back
        self.manifest.save()
        self.note(f"install manifest: {self.manifest.path}")
        width = max(len(title) for title, _ in steps)
        try:
            for number, (title, action) in enumerate(steps, 1):
                with self.step(f"[{number}/{len(steps)}]", title, width) as undo:
                    action(undo)
        except InstallError as exc:
            self.open_log()
            self.note(f"FAILED: {exc}")
            raise
        self.print_summary()
        return 0

    # -- running commands

    def run_logged(self, cmd: list, activity: str, plain: bool = True, tick=None, **kwargs) -> tuple[int, str]:
        """Run a command with its output in the log, showing what it does while it runs (on a
        terminal with the time it has taken, or what tick(seconds) draws). Returns its exit
        status and its output."""
        log = self.open_log()
        self.note("$ " + quoted(cmd))
        self.activity(activity + "...", plain)
        offset = log.stat().st_size
        started = time.monotonic()
        with open(log, "ab") as out:
            process = subprocess.Popen([str(part) for part in cmd], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, **kwargs)
            try:
                while True:
                    try:
                        status = process.wait(timeout=0.25)
                        break
                    except subprocess.TimeoutExpired:
                        seconds = time.monotonic() - started
                        if tick:
                            tick(seconds)
                        else:
                            self.out.status(f"{self.heading}  {clock(seconds)} {activity}...")
            finally:
                if process.poll() is None:
                    process.terminate()
                    process.wait()
        with open(log, "rb") as f:
            f.seek(offset)
            output = f.read().decode("utf-8", errors="replace")
        return status, output

    def check_call(self, cmd: list, activity: str, failure: str, plain: bool = True, **kwargs) -> None:
        status, output = self.run_logged(cmd, activity, plain, **kwargs)
        if status != 0:
            tail = output.strip().splitlines()[-PIP_TAIL:]
            raise InstallError(f"{failure}. Its last lines:\n    " + "\n    ".join(tail)
                               + f"\nThe whole output is in {self.log_path}")

    def pip(self, cmd: list, activity: str, failure: str) -> None:
        """Run pip with its output (hundreds of lines) in the log; on failure, say where the
        log is and show the last lines."""
        status, output = self.run_logged(cmd, f"{activity} (pip's output: {self.open_log()})")
        if status != 0:
            tail = output.strip().splitlines()[-PIP_TAIL:]
            raise InstallError(f"{failure}. pip's last lines:\n    " + "\n    ".join(tail)
                               + f"\nThe whole output is in {self.log_path}")

    def query(self, code: str) -> dict:
        """Run a snippet in the venv's Python; it prints one JSON object. It runs in the venv's
        folder: `python -c` looks in its working folder first, and a clone's root can hold a
        maskstyle.egg-info from an editable build, which would hide the installed package."""
        done = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True, cwd=self.venv)
        if done.returncode != 0:
            raise InstallError(f"the environment's Python failed: {done.stderr.strip()[-800:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    # -- 1. venv, torch and the project

    def install_environment(self, undo: list) -> None:
        venv = self.venv
        self.note(f"virtual environment: {venv}")
        created = False
        if (venv / INCOMPLETE_MARK).exists():
            self.activity("an earlier run stopped while creating it: starting it over", plain=True)
            shutil.rmtree(venv)
        if is_venv(venv):
            self.note("already exists: using it")
        elif venv.exists() and any(venv.iterdir()):
            raise InstallError(f"{venv} exists and is not a virtual environment; choose another "
                               "--venv or remove it")
        else:
            if importlib.util.find_spec("ensurepip") is None:
                raise InstallError(f"this Python ({sys.executable}) cannot create virtual environments: "
                                   "install its venv module (Debian/Ubuntu: sudo apt install python3-venv)")
            self.make_dirs(venv.parent, undo)
            self.manifest.add("created_venvs", venv)
            undo.append(lambda: shutil.rmtree(venv, ignore_errors=True))
            self.check_call([sys.executable, "-m", "venv", venv], f"creating {show(venv)}",
                            "could not create the virtual environment", plain=False)
            (venv / INCOMPLETE_MARK).touch()
            self.note(f"created with Python {platform.python_version()} ({sys.executable})")
            created = True
        self.python = venv_python(venv)
        pip_installed = self.install_packages()
        (venv / INCOMPLETE_MARK).unlink(missing_ok=True)
        have = self.query(INSTALLED)
        self.probe = self.query(PROBE)
        self.config_path = Path(self.probe["config_path"])
        if Path(self.probe["data_dir"]) != data_dir():
            self.warn(f"maskstyle's data dir is {self.probe['data_dir']} but the installer's is "
                      f"{data_dir()}; set MASKSTYLE_DATA_DIR to pin one")
        editable = bool(((have.get("source") or {}).get("dir_info") or {}).get("editable"))
        packages = (f"maskstyle {have['maskstyle']}{' (editable)' if editable else ''}, "
                    f"torch {have['torch']} ({torch_build(have)})")
        where = (f"created {show(venv)} (Python {platform.python_version()})" if created else show(venv))
        self.installed.append(("environment", f"{show(venv)}: {packages}"))
        self.result = (f"{where}: {packages} (pip installed {and_list(pip_installed)})" if pip_installed
                       else f"{where}: {packages}: already installed")

    def install_packages(self) -> list[str]:
        """torch, torchvision and maskstyle with its extras; returns what pip installed."""
        have = self.query(INSTALLED)
        want_version = project_version()
        extras = DEV_EXTRAS if self.args.dev else USER_EXTRAS
        changed: list[str] = []
        if have["torch"] and have["torchvision"]:
            self.note(f"torch {have['torch']} and torchvision {have['torchvision']} are already "
                      "installed: keeping them")
        else:
            torch_args, why = choose_torch(self.args.torch_index_url)
            self.note(f"PyTorch for this machine: {why}")
            if UNREACHABLE in why:
                self.fall_back(f"PyTorch: {why}")
            build = ("the CPU-only build" if torch_args == ["--index-url", TORCH_CPU_INDEX]
                     else f"from {self.args.torch_index_url}" if self.args.torch_index_url
                     else "PyPI's build")
            pip = [self.python, "-m", "pip", "install", "--disable-pip-version-check"]
            failure = "pip could not install PyTorch; check the network or pass --torch-index-url"
            try:
                self.pip([*pip, *torch_args, "torch", "torchvision"],
                         f"installing torch and torchvision, {build}", failure)
            except InstallError as exc:
                if torch_args != ["--index-url", TORCH_CPU_INDEX]:
                    raise
                self.note(str(exc))
                self.fall_back(f"PyTorch: the CPU-only build from {TORCH_CPU_INDEX} did not install "
                               f"(pip's output: {self.log_path}), so PyPI's default build is installed "
                               f"instead ({CUDA_BUILD_NOTE})")
                self.pip([*pip, "torch", "torchvision"], "installing torch and torchvision, PyPI's build",
                         failure)
            changed.append("torch")
        source = have.get("source") or {}
        editable = bool((source.get("dir_info") or {}).get("editable"))
        current = (have["maskstyle"] == want_version and source.get("url") == REPO.as_uri()
                   and (editable or not self.args.dev)
                   and all(have.get(name) for name in ("scikit-image", *(["pytest", "hypothesis"]
                                                                          if self.args.dev else []))))
        if current and not self.args.reinstall:
            self.note(f"maskstyle {want_version} from this clone is already installed "
                      f"({'editable' if editable else 'a copy'}): skipping pip (--reinstall forces it)")
            return changed
        target = [f"{REPO}[{extras}]"] if not self.args.dev else ["-e", f"{REPO}[{extras}]"]
        self.pip([self.python, "-m", "pip", "install", "--disable-pip-version-check", *target],
                 f"installing maskstyle {want_version}"
                 f"{' (editable, with the test tools)' if self.args.dev else ''}",
                 "pip could not install maskstyle")
        return [*changed, "maskstyle"]

    # -- 2. weights

    def install_weights(self, undo: list) -> None:
        models = self.probe["models"]
        names = self.args.models.split(",") if self.args.models else list(models)
        unknown = [n for n in names if n not in models]
        if unknown:
            raise InstallError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(models)}")
        urls = dict(self.args.weights_url)
        states: dict[str, list[str]] = {}  # a state, and the models in it: the step's line
        for name in names:
            info = models[name]
            path = Path(info["path"])
            fallback = FALLBACKS.get(name, "the backend works without it")
            if info["installed"]:
                status, _ = self.run_logged([self.python, "-m", "maskstyle.cli", "models", "verify", name],
                                            f"{name}: checking the installed file", plain=False)
                if status == 0:
                    self.note(f"{name}: already installed and verified ({path})")
                    self.manifest.add("models", path)
                    self.installed.append(("weights", f"{name}: {show(path)}"))
                    states.setdefault("already installed and verified", []).append(name)
                    continue
                self.note(f"{name}: the installed file fails its check: downloading it again")
            if self.args.no_download:
                self.fall_back(f"{name} is not installed (--no-download): {fallback}.")
                states.setdefault("not downloaded (--no-download)", []).append(name)
                continue
            url = urls.get(name) or (self.args.weights_base_url.rstrip("/") + "/" + info["filename"]
                                     if self.args.weights_base_url else info["url"])
            reason = self.download(name, url, path, info["size"])
            if reason is None:
                self.installed.append(("weights", f"{name}: {show(path)}"))
                states.setdefault("installed and verified", []).append(name)
                continue
            part = path.with_name(path.name + ".part")
            kept = part.stat().st_size if part.is_file() else 0
            again = (f"Run the installer again to resume the download ({mib(kept)} of "
                     f"{mib(info['size'])} are kept)." if kept else "Run the installer again to retry.")
            self.fall_back(f"{name} is not installed: {reason}. {fallback}. {again}")
            states.setdefault("NOT installed (download failed: see the summary)", []).append(name)
        if not any(what == "weights" for what, _ in self.installed):
            self.installed.append(("weights", "none (the backend works without them: see 'Fell back')"))
        self.result = "; ".join(f"{and_list(names)} {state}" for state, names in states.items())

    def download(self, name: str, url: str, path: Path, size: int) -> str | None:
        """Download and check one weight file with `maskstyle models install`, showing its
        progress; None when it is installed, else why not (one line)."""
        part = path.with_name(path.name + ".part")
        start = part.stat().st_size if part.is_file() else 0
        self.make_dirs(path.parent, [])  # kept on failure: it holds the resume file
        self.manifest.add("models", path)
        self.note(f"{name}: to {path}")
        quarter = [start * 4 // size if size else 0]

        def tick(seconds: float) -> None:
            have = part.stat().st_size if part.is_file() else size if path.is_file() else start
            if self.out.tty:
                room = self.out.width() - len(self.heading) - 2
                text = progress_text(name, have, size, (have - start) / seconds, room)
                self.out.status(f"{self.heading}  {text}" + (" checking" if have >= size else ""))
            elif size and min(3, have * 4 // size) > quarter[0]:  # a plain line at 25, 50 and 75 %
                quarter[0] = min(3, have * 4 // size)
                self.out.line(f"{self.heading}  {name}: {quarter[0] * 25}% ({mib(have)} of {mib(size)})")

        resuming = f"resuming at {mib(start)} of" if start else "downloading"
        status, output = self.run_logged([self.python, "-m", "maskstyle.cli", "models", "install", name,
                                          "--url", url], f"{name}: {resuming} {mib(size)} from {url}",
                                         tick=tick)
        if status == 0:
            self.note(f"{name}: installed and verified (size and SHA-256)")
            return None
        lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
        said = [line[len(name) + 2:] for line in lines if line.startswith(f"{name}: ")]
        reason = said[-1] if said else lines[-1] if lines else f"maskstyle exited with status {status}"
        # The command's own advice is for its own command line; the installer gives its own.
        return re.sub(r";\s+(run the (same )?command again|or use the built-in).*$", "", reason).rstrip(".")

    # -- 3. config

    def write_config(self, undo: list) -> None:
        path = self.config_path
        existing: dict = {}
        if path.is_file():
            try:
                existing = settings.read_config(path)
            except BackendError as exc:
                self.warn(f"{exc} A new one was written.")
                existing = {}
        config = dict(existing)
        problems = settings.config_problems(existing)
        if self.args.port:
            config["port"] = self.args.port
        elif "port" in problems:
            config["port"] = free_port()
        if "token" in problems:
            config["token"] = settings.new_token()  # missing, too short, or one the client rejects
        config["backend_command"] = [str(self.python), "-m", "maskstyle.cli", "serve"]
        mode_ok = os.name == "nt" or (path.is_file() and path.stat().st_mode & 0o777 == 0o600)
        if config == existing and mode_ok:
            self.result = f"{show(path)}: already up to date (port {config['port']}, mode 0600)"
        elif config == existing:
            os.chmod(path, 0o600)
            self.result = (f"{show(path)}: already up to date; fixed its mode to 0600 "
                           "(it holds the access token)")
        else:
            if not path.exists():
                self.make_dirs(path.parent, undo)
            kept = [k for k in ("port", "token") if k in existing and existing[k] == config[k]]
            self.manifest.add("config_files", path)
            write_private(path, json.dumps(config, indent=2))
            self.note(f"backend command: {quoted(config['backend_command'])}")
            self.result = (f"wrote {show(path)} (mode 0600): port {config['port']}, "
                           f"{'kept the existing ' + ' and '.join(kept) if kept else 'a new random token'}")
        self.manifest.add("config_files", path)
        self.installed.append(("config", f"{show(path)} (port {config['port']}, mode 0600)"))
        seen = settings.load_settings().config_path
        if seen != path:
            self.warn(f"the plug-in would read its settings from {seen}, not {path}; set "
                      f"MASKSTYLE_CONFIG_DIR={path.parent} for GIMP")

    # -- 4. GIMP plug-in

    def register_plugin(self, undo: list) -> None:
        # Each profile gets its GIMP's front-end: GIMP 3.x the GIMP 3 plug-in, GIMP 2.10 the gimpfu one.
        if self.args.gimp_profile:
            profiles = [(show(p), Path(p).expanduser().absolute()) for p in self.args.gimp_profile]
            profiles = [(label, path, settings.profile_front_end(path)) for label, path in profiles]
            self.note("GIMP profiles given with --gimp-profile: " + ", ".join(str(p) for _, p, _ in profiles))
        else:
            candidates = settings.all_gimp_profiles()
            found: dict[Path, tuple[str, str]] = {}
            for kind, path, front in candidates:
                if path.is_dir():
                    found.setdefault(path, (kind, front))
            profiles = [(kind, path, front) for path, (kind, front) in found.items()]
            for kind, path, _ in candidates:
                self.note(f"{'found    ' if path.is_dir() else 'not found'} {kind:<8} {path}")
            if not profiles:
                self.warn("no GIMP 3 profile found (nor a GIMP 2.10 one), so the plug-in was not registered. "
                          "Start GIMP once (it creates its profile), then run the installer again, or pass "
                          "--gimp-profile DIR (the folder that holds GIMP's plug-ins folder).")
                self.result = "not registered: no GIMP 3 profile found (nor a GIMP 2.10 one; see the summary)"
                return
        replaced: list[Path] = []  # old copies, deleted only when every profile is done
        states: dict[str, list[str]] = {}
        for label, profile, front in profiles:
            wrote = self.install_plugin(profile, plugin_files(front), undo, replaced)
            states.setdefault("registered in" if wrote else "already up to date in", []).append(label)
            target = show(profile / "plug-ins" / "maskstyle")
            which = " (GIMP 2.10 front-end, Python-Fu)" if front == settings.GIMP2 else ""
            self.installed.append(("GIMP plug-in",
                                   (target if label == show(profile) else f"{label}: {target}") + which))
        for old in replaced:
            shutil.rmtree(old, ignore_errors=True)
        self.result = "; ".join(f"{state} {and_list(labels)}" for state, labels in states.items())

    def install_plugin(self, profile: Path, files: list[Path], undo: list, replaced: list) -> bool:
        """Copy the plug-in into one profile; False when it was already there, as it is."""
        plug_ins = profile / "plug-ins"
        target = plug_ins / "maskstyle"
        self.make_dirs(plug_ins, undo)
        self.written_plugins.append(target)
        for leftover in plug_ins.glob(".maskstyle-*"):  # from a run that was killed mid-copy
            shutil.rmtree(leftover, ignore_errors=True)
        if plugin_matches(target, files):
            self.note(f"{target}: already up to date")
            self.manifest.add("plugins", target)
            return False
        staged = Path(tempfile.mkdtemp(prefix=".maskstyle-new-", dir=plug_ins))
        undo.append(lambda: shutil.rmtree(staged, ignore_errors=True))
        for source, name in files:
            (staged / name).parent.mkdir(mode=0o755, exist_ok=True)
            shutil.copyfile(source, staged / name)
            os.chmod(staged / name, plugin_mode(name))
        os.chmod(staged, 0o755)
        self.manifest.add("plugins", target)
        if target.exists():
            old = plug_ins / f".maskstyle-old-{os.getpid()}"
            target.rename(old)
            replaced.append(old)
            undo.append(lambda: old.exists() and old.rename(target))
        staged.rename(target)
        undo.append(lambda: shutil.rmtree(target, ignore_errors=True))
        self.note(f"wrote {target}: {', '.join(name for _, name in files)} ({PLUGIN_ENTRY} executable)")
        return True

    # -- 5. self-check

    def self_check(self, undo: list) -> None:
        try:
            found = settings.load_settings()
        except BackendError as exc:
            raise InstallError(str(exc)) from None
        client = wire_client.Client.from_settings(found)
        process = None
        try:
            version = client.health()["version"]
            self.note(f"a backend is already running at {found.url} (maskstyle {version}): checking with it")
            if version != project_version():
                self.warn(f"the running backend is maskstyle {version}; restart it to use {project_version()}")
        except BackendError:
            activity = f"starting the backend on port {found.url.rsplit(':', 1)[-1]}"
            self.note(f"backend command: {quoted(found.backend_command)}")
            self.activity(activity + "...", plain=True)
            started = time.monotonic()

            def waiting(seconds: float) -> bool:
                self.out.status(f"{self.heading}  {clock(seconds)} {activity}...")
                return True

            try:
                client = wire_client.start_backend(found, on_wait=waiting, timeout=240)
            except BackendError as exc:
                raise InstallError(f"{exc}{self.backend_log_tail()}") from None
            process = client.process
            self.note(f"the backend answered after {time.monotonic() - started:.1f} s")
        try:
            self.activity("running a small stylize job through the plug-in's client")
            started = time.monotonic()
            client.check_contract()
            result, layer = stylize_sample(client)
            method = (result.get("info") or {}).get("method", "?")
            self.note(f"layer '{layer['name']}' {layer['width']}x{layer['height']}")
            self.result = (f"OK: a stylize job in {time.monotonic() - started:.1f} s (device "
                           f"{result['device']}, method {method}, encoder {result['encoder']})")
        except BackendError as exc:
            raise InstallError(f"the stylize job failed: {exc}{self.backend_log_tail()}") from None
        finally:
            if process is not None:
                stop_process(process)
                self.note("stopped the backend")
        if process is not None:
            self.result += "; backend stopped"

    def backend_log_tail(self) -> str:
        log = self.config_path.parent / "backend.log"
        if not log.is_file():
            return ""
        lines = log.read_text(errors="replace").strip().splitlines()[-15:]
        return f"\n    last lines of {log}:\n      " + "\n      ".join(lines)

    # -- demo and the summary

    def run_demo(self, undo: list) -> None:
        out = REPO / "maskstyle-demo"
        self.check_call([self.python, "-m", "maskstyle.cli", "demo", "--out", out],
                        f"restyling a sample photo into {show(out)}", "the demo failed", cwd=REPO)
        self.demo_result = out / "result.png"
        self.result = f"wrote {show(self.demo_result)} (the photo, style and mask are next to it)"

    def print_summary(self) -> None:
        line = self.out.line
        width = max([len(what) for what, _ in self.installed] + [0])
        line()
        line("Installed:" if self.installed else "Installed: nothing")
        for what, where in self.installed:
            line(f"  {what:<{width}}  {where}")
        for title, messages in (("Fell back:", self.fallbacks), ("Warnings:", self.warnings)):
            if messages:
                line(title)
                for message in messages:
                    line(f"  - {message}")
        line("Next:")
        maskstyle = show(self.python.parent / "maskstyle")
        if self.demo_result:
            line(f"  see the demo:       {show(self.demo_result)}")
        if not self.args.plugin_only:
            line(f"  check the install:  {maskstyle} doctor")
            line(f"  restyle a region:   {maskstyle} stylize photo.jpg --style painting.jpg "
                 "--mask mask.png --out out.png")
        if self.written_plugins:
            line("  in GIMP 3:          (re)start GIMP, open an image, select a region, then "
                 f"{GIMP_MENUS[0]}")
        else:
            line("  in GIMP 3:          start GIMP 3 once, quit it, and run this installer again")
        if self.log_path:
            line(f"Log of this run: {self.log_path}")
        line(f"Uninstall: {Path(sys.executable).name} {show(Path(__file__).resolve())} --uninstall "
             "[--purge-models]")


# Snippets run in the venv's Python.
INSTALLED = r"""
import json, importlib.metadata as md
out = {}
for name in ("maskstyle", "torch", "torchvision", "scikit-image", "pytest", "hypothesis"):
    try:
        out[name] = md.version(name)
    except md.PackageNotFoundError:
        out[name] = None
try:
    out["source"] = json.loads(md.distribution("maskstyle").read_text("direct_url.json") or "null")
except md.PackageNotFoundError:
    out["source"] = None
try:  # torch's build (CUDA, ROCm), from its version.py, without importing torch (seconds)
    import importlib.util, os, re
    spec = importlib.util.find_spec("torch")
    with open(os.path.join(os.path.dirname(spec.origin), "version.py"), encoding="utf-8") as f:
        text = f.read()
    for key in ("cuda", "hip"):
        found = re.search(r"^%s\b[^=\n]*=\s*'([^']+)'" % key, text, re.M)
        out["torch_" + key] = found and found.group(1)
except (AttributeError, ImportError, OSError, TypeError, ValueError):
    pass
print(json.dumps(out))
"""

PROBE = r"""
import json
from maskstyle import config, models, paths
print(json.dumps({
    "config_path": str(config.config_path()),
    "data_dir": str(paths.data_dir()),
    "models": {n: {"path": str(w.path), "url": w.url, "filename": w.filename, "size": w.size,
                   "installed": models.is_installed(n)} for n, w in models.REGISTRY.items()},
}))
"""


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_BUILD_NOTE = "CUDA builds, about 5 GB, which also run on the CPU"
UNREACHABLE = "could not be reached"


def torch_build(have: dict) -> str:
    """Which build of torch is installed, as a user reads it: 'CUDA 12.6 build', 'CPU-only build'."""
    if have.get("torch_cuda"):
        return f"CUDA {have['torch_cuda']} build"
    if have.get("torch_hip"):
        return f"ROCm {have['torch_hip']} build"
    if platform.system() == "Darwin":
        return "macOS build, with MPS"
    return "CPU-only build"


def has_nvidia_gpu() -> bool:
    return bool(shutil.which("nvidia-smi")) or Path("/proc/driver/nvidia/version").exists()


def index_reachable(url: str, timeout: float = 5.0) -> str | None:
    """None when the package index answers, else why not (one line)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))


def choose_torch(index_url: str | None, nvidia: bool | None = None,
                 cpu_index: str = TORCH_CPU_INDEX) -> tuple[list[str], str]:
    """pip arguments for torch and torchvision, and why they fit this machine.

    On Linux without an NVIDIA GPU, PyTorch's own CPU-only build (under 1 GB) is preferred
    to PyPI's CUDA build (about 5 GB); when its index cannot be reached, PyPI's is used and
    the reason is given."""
    if index_url:
        return ["--index-url", index_url], f"from {index_url} (--torch-index-url)"
    system = platform.system()
    nvidia = has_nvidia_gpu() if nvidia is None else nvidia
    if system == "Darwin":
        return [], "PyPI's macOS wheels (they use the Apple GPU through MPS where there is one)"
    if system == "Windows":
        why = "PyPI's Windows wheels (CPU only)"
        if nvidia:
            why += ("; an NVIDIA GPU is present: for CUDA, run again with --reinstall --torch-index-url "
                    "https://download.pytorch.org/whl/cu126")
        return [], why
    if nvidia:
        return [], f"an NVIDIA GPU is present: PyPI's default Linux wheels ({CUDA_BUILD_NOTE})"
    unreachable = index_reachable(cpu_index)
    if unreachable is None:
        return ["--index-url", cpu_index], f"no NVIDIA GPU found: the CPU-only build from {cpu_index} (under 1 GB)"
    return [], (f"no NVIDIA GPU found, but {cpu_index} {UNREACHABLE} ({unreachable}): "
                f"PyPI's default Linux wheels instead ({CUDA_BUILD_NOTE})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin_mode(name: str) -> int:
    return 0o755 if name == PLUGIN_ENTRY else 0o644


def plugin_matches(target: Path, files: list[tuple[Path, str]]) -> bool:
    """True when target already holds exactly these files, with the right modes."""
    if not target.is_dir():
        return False
    present = {p.relative_to(target).as_posix() for p in target.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    if present != {name for _, name in files}:
        return False
    for source, name in files:
        copy = target / name
        if copy.read_bytes() != source.read_bytes():
            return False
        if os.name != "nt" and copy.stat().st_mode & 0o777 != plugin_mode(name):
            return False
    return True


def stylize_sample(client) -> tuple[dict, dict]:
    """A tiny stylize job (generated 40x32 image, 2 iterations); returns (result, first layer)."""
    width, height = 40, 32
    image = bytes(v for y in range(height) for x in range(width)
                  for v in (x * 6, y * 7, 120 if (x // 8 + y // 8) % 2 else 40))
    mask = bytes(255 if ((x - 20) / 14) ** 2 + ((y - 16) / 11) ** 2 <= 1 else 0
                 for y in range(height) for x in range(width))
    style = bytes(v for y in range(16) for x in range(16)
                  for v in ((30, 60, 200) if (x + y) // 4 % 2 else (240, 210, 40)))
    files = {"image": wire_client.png_part("image", png.encode(image, width, height, 3)),
             "mask": wire_client.png_part("mask", png.encode(mask, width, height, 1)),
             "style": wire_client.png_part("style", png.encode(style, 16, 16, 3))}
    params = {"quality": "fast", "iterations": 2, "max_side": 48, "seed": 0}
    result = client.run_job("stylize", params, files)
    layer = result["layers"][0]
    w, h, _, _ = png.decode(client.fetch(layer["url"]))
    if (w, h) != (layer["width"], layer["height"]):
        raise InstallError(f"the result layer is {w}x{h}, but the backend said "
                           f"{layer['width']}x{layer['height']}")
    return result, layer


def stop_process(process) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---------------------------------------------------------------- uninstall

def uninstall(purge_models: bool) -> int:
    path = manifest_path()
    print(f"maskstyle installer: uninstalling what {path} lists", flush=True)
    if not path.is_file():
        say("nothing to uninstall: there is no install manifest (the installer writes one on every install)")
        return 0
    manifest = Manifest(path)
    warn_if_backend_running(manifest)
    for target in manifest.paths("plugins"):
        if (target / PLUGIN_ENTRY).is_file():
            shutil.rmtree(target)
            say(f"removed the plug-in {target}")
    for venv in manifest.paths("created_venvs"):
        if is_venv(venv) or (venv / INCOMPLETE_MARK).exists():
            shutil.rmtree(venv)
            say(f"removed the virtual environment {venv}")
    for config in manifest.paths("config_files"):
        for file in (config, config.parent / "backend.log"):
            if file.is_file():
                file.unlink()
                say(f"removed {file}")
    for weights in manifest.paths("models"):
        partial = weights.with_name(weights.name + ".part")
        if partial.is_file():
            partial.unlink()
            say(f"removed the unfinished download {partial}")
        if weights.is_file():
            if purge_models:
                weights.unlink()
                say(f"removed the weights {weights}")
            else:
                say(f"kept the weights {weights} (--purge-models removes them)")
    path.unlink()
    for folder in reversed(manifest.paths("dirs")):
        rmdir_if_empty(folder)
    print("\n==> Done: maskstyle is uninstalled", flush=True)
    return 0


def warn_if_backend_running(manifest: Manifest) -> None:
    for config in manifest.paths("config_files"):
        try:
            port = json.loads(config.read_text(encoding="utf-8"))["port"]
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            opener.open(f"http://127.0.0.1:{port}/v1/health", timeout=2).close()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        say(f"WARNING: a maskstyle backend is still running on port {port}; stop it "
            "(it was started by GIMP or 'maskstyle serve')")


# ---------------------------------------------------------------- command line

def name_equals_url(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise argparse.ArgumentTypeError(f"expected NAME=URL, not {text!r}")
    return name, url


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="install.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Paths: MASKSTYLE_CONFIG_DIR and MASKSTYLE_DATA_DIR override the platform's folders.")
    p.add_argument("--venv", metavar="PATH", help=f"the backend's virtual environment (default: {data_dir() / 'venv'}); "
                                  "an existing one is reused")
    p.add_argument("--dev", action="store_true", help="editable install, with the test tools")
    p.add_argument("--reinstall", action="store_true", help="run pip even when maskstyle is up to date")
    p.add_argument("--torch-index-url", metavar="URL", help="install torch from this index (e.g. a CPU-only or CUDA one)")
    p.add_argument("--models", metavar="NAMES", help="comma-separated weights to install (default: all in the registry)")
    p.add_argument("--no-download", action="store_true", help="download no weights (the backend falls "
                                                              "back to its built-in encoder and segmenter)")
    p.add_argument("--weights-url", action="append", type=name_equals_url, default=[], metavar="NAME=URL",
                   help="download weights NAME from URL instead of the official one (repeatable)")
    p.add_argument("--weights-base-url", metavar="URL", help="download each weight file from BASE/<file name>")
    p.add_argument("--port", type=int, help="the backend's port (default: keep the configured one, "
                                            "or pick a free one)")
    p.add_argument("--gimp-profile", action="append", metavar="DIR",
                   help="register the plug-in in this GIMP profile folder instead of the ones "
                        "found (repeatable; a folder named 2.N gets the GIMP 2.10 front-end)")
    p.add_argument("--plugin-only", action="store_true", help="only register the GIMP plug-in")
    p.add_argument("--no-self-check", action="store_true", help="skip the final stylize job")
    p.add_argument("--demo", action="store_true", help="run the demo at the end")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each detail: the commands run, "
                                                                "the GIMP profiles looked for")
    p.add_argument("--uninstall", action="store_true", help="remove what the installer added")
    p.add_argument("--purge-models", action="store_true", help="with --uninstall: also remove the weights")
    args = p.parse_args(argv)
    if args.port is not None and not 0 < args.port < 65536:
        p.error("--port must be between 1 and 65535")
    if args.purge_models and not args.uninstall:
        p.error("--purge-models goes with --uninstall")
    return args


def main(argv=None) -> int:
    if sys.version_info < (3, 10):
        print(f"maskstyle needs Python 3.10 or newer; this is {platform.python_version()} "
              f"({sys.executable})", file=sys.stderr)
        return 1
    args = parse_args(argv)
    installer = None
    try:
        if args.uninstall:
            return uninstall(args.purge_models)
        installer = Installer(args)
        return installer.run()
    except InstallError as exc:
        log = installer.log_path if installer else None
        sys.stdout.flush()
        print(f"\nmaskstyle installer: FAILED: {exc}", file=sys.stderr, flush=True)
        if log and str(log) not in str(exc):
            print(f"Details, and the output of each command it ran: {log}", file=sys.stderr)
        if not args.uninstall:
            print("What the failed step wrote was rolled back; earlier steps are kept. Fix the cause "
                  "and run the same command again: it resumes where it stopped.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if installer:
            installer.out.clear()
        print("\nmaskstyle installer: interrupted; the unfinished step was rolled back. Run the same "
              "command again to resume.", file=sys.stderr)
        return 130

if __name__ == "__main__":
    sys.exit(main())
