"""`maskstyle doctor`: check the install, one line per item (OK, WARN or FAIL) with a fix hint.

It reports versions, the device, the weights, the config, the GIMP plug-in registration in
each GIMP 3 profile found, and whether the backend answers. Nothing is changed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import MaskstyleError
from .paths import data_dir

PLUGIN_FILES = ("maskstyle.py", "msclient.py", "pngpack.py")
FALLBACKS = {"vgg19": "Stylize's neural method uses the built-in encoder",
             "deeplabv3": "Select Subject uses the built-in saliency segmenter"}


@dataclass
class Check:
    status: str  # OK, WARN or FAIL
    item: str
    detail: str
    fix: str = ""


def gimp_profiles() -> list[tuple[str, Path]]:
    """GIMP 3 profile folders that exist (the same list as installer/install.py)."""
    home = Path.home()

    def env_dir(name: str, default: Path) -> Path:
        value = os.environ.get(name, "").strip()
        return Path(value) if value else default

    candidates = [("Linux", env_dir("XDG_CONFIG_HOME", home / ".config") / "GIMP" / "3.0"),
                  ("Flatpak", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0"),
                  ("macOS", home / "Library" / "Application Support" / "GIMP" / "3.0"),
                  ("Windows", env_dir("APPDATA", home / "AppData" / "Roaming") / "GIMP" / "3.0")]
    if os.environ.get("GIMP3_DIRECTORY"):
        candidates.insert(0, ("GIMP3_DIRECTORY", Path(os.environ["GIMP3_DIRECTORY"])))
    return [(kind, path) for kind, path in candidates if path.is_dir()]


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
                                f"not installed: {FALLBACKS.get(w.name, 'the backend works without it')}",
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
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return [Check("FAIL", "config", f"{path} is unreadable ({exc})", f"delete it and {rerun}")], {}
    checks = []
    mode = path.stat().st_mode & 0o777
    if os.name == "nt" or mode == 0o600:
        checks.append(Check("OK", "config", f"{path} (mode 0600)"))
    else:
        checks.append(Check("FAIL", "config", f"{path} has mode {mode:04o}: others can read the token",
                            f"chmod 600 '{path}'"))
    port = data.get("port")
    if isinstance(port, int) and 0 < port < 65536:
        checks.append(Check("OK", "config port", str(port)))
    else:
        checks.append(Check("FAIL", "config port", f"missing or invalid ({port!r})", rerun))
    if not (isinstance(data.get("token"), str) and len(data["token"]) >= 16):
        checks.append(Check("FAIL", "config token", "missing or too short", rerun))
    command = data.get("backend_command")
    if isinstance(command, list) and command and Path(str(command[0])).exists():
        checks.append(Check("OK", "backend command", " ".join(map(str, command))))
    else:
        checks.append(Check("FAIL", "backend command", f"{command!r} cannot be run, so the plug-in "
                            "cannot start the backend", rerun))
    return checks, data


def check_plugins() -> list[Check]:
    manifest = install_manifest()
    source = Path(manifest["source"]) / "plugin" / "maskstyle" if manifest.get("source") else None
    targets = {path / "plug-ins" / "maskstyle": f"GIMP {kind}" for kind, path in gimp_profiles()}
    for listed in manifest.get("plugins", []):
        targets.setdefault(Path(listed), "plug-in")
    if not targets:
        return [Check("WARN", "GIMP plug-in", "no GIMP 3 profile found",
                      "start GIMP 3 once, then run the installer again (or pass --gimp-profile DIR)")]
    checks = []
    for target, label in targets.items():
        entry = target / "maskstyle.py"
        missing = [name for name in PLUGIN_FILES if not (target / name).is_file()]
        if not entry.is_file():
            checks.append(Check("WARN", label, f"the plug-in is not registered in {target.parent.parent}",
                                f"run the installer again: {installer()}"))
        elif missing:
            checks.append(Check("FAIL", label, f"{target} lacks {', '.join(missing)}",
                                f"run the installer again: {installer()}"))
        elif os.name != "nt" and not os.access(entry, os.X_OK):
            checks.append(Check("FAIL", label, f"{entry} is not executable, so GIMP ignores it",
                                f"chmod +x '{entry}'"))
        elif source and source.is_dir() and not _same_files(source, target):
            checks.append(Check("WARN", label, f"{target} differs from the clone's {source}",
                                f"run the installer again to update it: {installer()}"))
        else:
            checks.append(Check("OK", label, f"registered: {entry}"))
    return checks


def _same_files(source: Path, target: Path) -> bool:
    for file in source.iterdir():
        if file.is_file() and file.suffix != ".pyc":
            copy = target / file.name
            if not copy.is_file() or copy.read_bytes() != file.read_bytes():
                return False
    return True


def check_backend(config: dict) -> list[Check]:
    if not config.get("port"):
        return [Check("WARN", "backend", "not checked: no port in the config")]
    url = (os.environ.get("MASKSTYLE_URL") or f"http://127.0.0.1:{config['port']}").rstrip("/")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/v1/health", timeout=3) as response:
            version = json.loads(response.read()).get("version")
    except (OSError, ValueError):
        return [Check("OK", "backend", f"not running at {url} now: the GIMP plug-in starts it "
                      "when needed (or run 'maskstyle serve')")]
    token = os.environ.get("MASKSTYLE_TOKEN") or config.get("token", "")
    request = urllib.request.Request(url + "/v1/info", headers={"Authorization": f"Bearer {token}"})
    try:
        with opener.open(request, timeout=10) as response:
            info = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return [Check("FAIL", "backend", f"running at {url} but it refuses the config's token",
                          "stop that backend; the plug-in starts one with the current config")]
        return [Check("FAIL", "backend", f"running at {url} but /v1/info answered HTTP {exc.code}",
                      "see the backend log (backend.log next to the config)")]
    except (OSError, ValueError) as exc:
        return [Check("FAIL", "backend", f"running at {url} but /v1/info failed ({exc})",
                      "see the backend log (backend.log next to the config)")]
    if version != __version__:
        return [Check("WARN", "backend", f"running at {url} is maskstyle {version}, not {__version__}",
                      "stop it: the plug-in starts the new one when needed")]
    return [Check("OK", "backend", f"running at {url}: device {info.get('device')}, "
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
