"""`maskstyle doctor`: check the install, one line per item (OK, WARN or FAIL) with a fix hint.

It reports versions, the device, the weights, the config, the GIMP plug-in registration in
each GIMP profile found (GIMP 3.x: the GIMP 3 plug-in; GIMP 2.10: the gimpfu front-end, and the
Python 3 it runs its client with), and whether the backend answers. Nothing is changed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from maskstyle_wire import client as wire
from maskstyle_wire import settings
from maskstyle_wire.settings import plugin_layout
from maskstyle_wire.errors import BackendError, ConfigError, ContractMismatch

from .errors import MaskstyleError
from .paths import data_dir


@dataclass
class Check:
    status: str  # OK, WARN or FAIL
    item: str
    detail: str
    fix: str = ""


def gimp_profiles() -> list[tuple[str, Path, str]]:
    """GIMP profile folders that exist (3.x and 2.10), with the front-end each needs."""
    return [(kind, path, front) for kind, path, front in settings.all_gimp_profiles() if path.is_dir()]


def install_manifest() -> dict:
    try:
        return json.loads((data_dir() / "install-manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def installer() -> str:
    """How to run the installer: from the clone it was run from, when known."""
    source = install_manifest().get("source")
    return f"python3 {Path(source) / 'installer' / 'install.py' if source else 'installer/install.py'}"


# ---------------------------------------------------------------- checks

def check_versions() -> list[Check]:
    checks = [Check("OK" if sys.version_info >= (3, 10) else "FAIL", "python",
                    f"{platform.python_version()} ({sys.executable})", "maskstyle needs Python 3.10+"),
              Check("OK", "maskstyle", __version__)]
    for name in ("torch", "torchvision"):
        try:
            module = __import__(name)
            checks.append(Check("OK", name, module.__version__))
        except Exception as exc:  # a broken install raises more than ImportError
            checks.append(Check("FAIL", name, f"cannot be imported ({exc})",
                                f"reinstall: {installer()} --reinstall"))
    return checks


def check_device() -> list[Check]:
    import torch

    from .engine.devices import pick_device

    device = pick_device()
    if device.type == "cuda":
        return [Check("OK", "device", f"CUDA: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})")]
    if device.type == "mps":
        return [Check("OK", "device", "Apple GPU (MPS)")]
    if shutil.which("nvidia-smi"):
        build = f"a CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        return [Check("WARN", "device", f"CPU: an NVIDIA GPU is present but torch ({build}) cannot use it",
                      "check the driver with nvidia-smi, or install a torch build for it: "
                      f"{installer()} --reinstall --torch-index-url https://download.pytorch.org/whl/cu126")]
    return [Check("OK", "device", "CPU (no CUDA or MPS GPU found: jobs run slower)")]


def check_weights() -> list[Check]:
    from . import models

    checks = []
    for w in models.REGISTRY.values():
        if not w.path.is_file():
            checks.append(Check("WARN", f"weights {w.name}",
                                f"not installed: {models.WITHOUT.get(w.name, 'the backend works without it')}",
                                f"maskstyle models install {w.name}"))
            continue
        try:
            models.verify(w)
            checks.append(Check("OK", f"weights {w.name}", f"installed, size and SHA-256 verified ({w.path})"))
        except MaskstyleError as exc:
            checks.append(Check("FAIL", f"weights {w.name}", str(exc),
                                f"delete {w.path} and run 'maskstyle models install {w.name}'"))
    return checks


def check_config() -> tuple[list[Check], dict]:
    from .config import config_path

    path = config_path()
    rerun = f"run the installer again: {installer()}"
    if not path.is_file():
        return [Check("FAIL", "config", f"{path} does not exist", rerun)], {}
    try:
        data = settings.read_config(path)
    except ConfigError as exc:
        return [Check("FAIL", "config", str(exc), f"delete it and {rerun}")], {}
    checks = []
    mode = path.stat().st_mode & 0o777
    if os.name == "nt" or mode == 0o600:
        checks.append(Check("OK", "config", f"{path} (mode 0600)"))
    else:
        checks.append(Check("FAIL", "config", f"{path} has mode {mode:04o}: others can read the token",
                            f"chmod 600 '{path}'"))
    problems = settings.config_problems(data)
    if "port" in problems:
        checks.append(Check("FAIL", "config port", problems["port"], rerun))
    else:
        checks.append(Check("OK", "config port", str(data["port"])))
    if "token" in problems:
        checks.append(Check("FAIL", "config token", problems["token"], rerun))
    command = data.get("backend_command")
    if isinstance(command, list) and command and Path(str(command[0])).exists():
        checks.append(Check("OK", "backend command", " ".join(map(str, command))))
    else:
        checks.append(Check("FAIL", "backend command", f"{command!r} cannot be run, so the plug-in "
                            "cannot start the backend", rerun))
    return checks, data


def check_plugins() -> list[Check]:
    manifest = install_manifest()
    clone = Path(manifest["source"]) if manifest.get("source") else None
    targets = {path / "plug-ins" / "maskstyle": (f"GIMP {kind}", front) for kind, path, front in gimp_profiles()}
    for listed in manifest.get("plugins", []):
        targets.setdefault(Path(listed), ("plug-in", settings.profile_front_end(Path(listed).parent.parent)))
    if not targets:
        return [Check("WARN", "GIMP plug-in", "no GIMP 3.x or 2.10 profile found",
                      "start GIMP once, then run the installer again (or pass --gimp-profile DIR)")]
    checks = []
    for target, (label, front) in targets.items():
        layout = (plugin_layout(clone, front) if clone and (clone / settings.FRONT_ENDS[front]).is_dir() else [])
        if front == settings.GIMP2:
            label += " (gimpfu front-end)"
        entry = target / "maskstyle.py"
        wanted = [name for _, name in layout] or [settings.PLUGIN_ENTRY, "maskstyle_wire/client.py"]
        missing = [name for name in wanted if not (target / name).is_file()]
        if not entry.is_file():
            checks.append(Check("WARN", label, f"the plug-in is not registered in {target.parent.parent}",
                                f"run the installer again: {installer()}"))
        elif missing:
            checks.append(Check("FAIL", label, f"{target} lacks {', '.join(missing)}",
                                f"run the installer again: {installer()}"))
        elif os.name != "nt" and not os.access(entry, os.X_OK):
            checks.append(Check("FAIL", label, f"{entry} is not executable, so GIMP ignores it",
                                f"chmod +x '{entry}'"))
        elif layout and not _same_files(layout, target):
            checks.append(Check("WARN", label, f"{target} differs from the clone {clone}",
                                f"run the installer again to update it: {installer()}"))
        elif front == settings.GIMP2 and not _gimp2_python():
            checks.append(Check("WARN", label, f"registered: {entry}, but no Python 3 for its client was found",
                                "install Python 3 (3.7+) on the PATH, or set MASKSTYLE_PYTHON for GIMP 2.10"))
        else:
            checks.append(Check("OK", label, f"registered: {entry}"))
    return checks


def _gimp2_python() -> str | None:
    """The Python 3 that GIMP 2.10's plug-in runs its client with, found as it finds it:
    MASKSTYLE_PYTHON, the config's backend_command, python3 on the PATH."""
    chosen = os.environ.get("MASKSTYLE_PYTHON")
    if chosen:
        return chosen if os.path.isfile(chosen) else None
    try:
        command = settings.read_config(settings.config_path()).get("backend_command") or []
    except ConfigError:
        command = []
    if isinstance(command, list) and command and os.path.isfile(command[0]) \
            and Path(command[0]).name.lower().startswith("python"):
        return command[0]
    return shutil.which("python3") or (shutil.which("py") if os.name == "nt" else None)


def _same_files(layout: list[tuple[Path, str]], target: Path) -> bool:
    for source, name in layout:
        copy = target / name
        if not copy.is_file() or copy.read_bytes() != source.read_bytes():
            return False
    return True


def check_backend(config: dict) -> list[Check]:
    if not config.get("port"):
        return [Check("WARN", "backend", "not checked: no port in the config")]
    url = os.environ.get("MASKSTYLE_URL") or f"http://127.0.0.1:{config['port']}"
    client = wire.Client(url, os.environ.get("MASKSTYLE_TOKEN") or config.get("token", ""), timeout=10)
    try:
        version = client.health(timeout=3).get("version")
    except BackendError:
        return [Check("OK", "backend", f"not running at {client.url} now: the GIMP plug-in starts it "
                      "when needed (or run 'maskstyle serve')")]
    log_hint = "see the backend log (backend.log next to the config)"
    try:
        info = client.check_contract()
    except ContractMismatch as exc:
        return [Check("FAIL", "backend", str(exc), "stop it: the plug-in starts the new one when needed")]
    except BackendError as exc:
        if exc.status == 401:
            return [Check("FAIL", "backend", f"running at {client.url} but it refuses the config's token",
                          "stop that backend; the plug-in starts one with the current config")]
        return [Check("FAIL", "backend", f"running at {client.url} but /v1/info failed: {exc}", log_hint)]
    if version != __version__:
        return [Check("WARN", "backend", f"running at {client.url} is maskstyle {version}, not {__version__}",
                      "stop it: the plug-in starts the new one when needed")]
    return [Check("OK", "backend", f"running at {client.url}: device {info.get('device')}, "
                                   f"default encoder {info.get('default_encoder')}")]


def _safely(item: str, group, *args) -> list[Check]:
    """Run one group of checks; a crash in it becomes a FAIL line, not a crashed report."""
    try:
        return group(*args)
    except Exception as exc:
        return [Check("FAIL", item, f"{type(exc).__name__}: {exc}")]


def run_checks() -> list[Check]:
    checks = _safely("versions", check_versions) + _safely("device", check_device)
    checks += _safely("weights", check_weights)
    config: dict = {}

    def config_checks() -> list[Check]:
        found, data = check_config()
        config.update(data)
        return found

    checks += _safely("config", config_checks)
    checks += _safely("GIMP plug-in", check_plugins)
    checks += _safely("backend", check_backend, config)
    return checks


def main() -> int:
    checks = run_checks()
    width = max(len(c.item) for c in checks)
    for c in checks:
        print(f"{c.status:<4}  {c.item:<{width}}  {c.detail}")
        if c.fix and c.status != "OK":
            print(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "WARN" for c in checks)
    print(f"\n{failed} failed, {warned} warning(s)" if failed or warned else "\nall checks passed")
    return 1 if failed else 0
