"""Where maskstyle keeps its files, what the config file holds, and where GIMP looks for plug-ins.

The folders are the ones `platformdirs` gives the backend (a test checks that they agree), worked
out here with the standard library so that GIMP's Python and the installer can use them too.
MASKSTYLE_CONFIG_DIR, MASKSTYLE_DATA_DIR and MASKSTYLE_MODELS_DIR override them; MASKSTYLE_URL
and MASKSTYLE_TOKEN override the config file's port and token.

The config file (`config.json`, mode 0600) holds:
- `port`: the backend's port on 127.0.0.1 (1 to 65535);
- `token`: the access token (at least 16 characters);
- `backend_command`: the command that starts the backend (a list of strings).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

APP = "maskstyle"
CONFIG_NAME = "config.json"
MIN_TOKEN = 16
GIMP_VERSIONS = ("3.2", "3.0")  # GIMP 3 profile folders always looked for, newest first (later 3.x: found)
GIMP2_VERSIONS = ("2.10",)       # GIMP 2 profile folders: the gimpfu front-end (plugin/gimp210)
GIMP3, GIMP2 = "gimp3", "gimp2"  # the two front-ends
FRONT_ENDS = {GIMP3: "plugin/maskstyle", GIMP2: "plugin/gimp210"}  # their folders in a clone
SETUP_HINT = "Run the maskstyle installer, or start the backend with `maskstyle serve`."


def _env_path(env, name: str, default: Path) -> Path:
    """The folder named by an environment variable, else default. XDG variables count only when
    absolute, as the XDG Base Directory spec says."""
    value = env.get(name, "")
    usable = os.path.isabs(value) if name.startswith("XDG_") else bool(value)
    return Path(value) if usable else default


def _home(env) -> Path:
    return Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())


def config_dirs(env=None, platform: str | None = None) -> list[Path]:
    """Folders searched for config.json, best first."""
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if env.get("MASKSTYLE_CONFIG_DIR"):
        return [Path(env["MASKSTYLE_CONFIG_DIR"])]
    home = _home(env)
    if platform.startswith("win"):
        local = _env_path(env, "LOCALAPPDATA", home / "AppData" / "Local")
        roaming = _env_path(env, "APPDATA", home / "AppData" / "Roaming")
        return [local / APP / APP, roaming / APP]  # platformdirs' choice first
    if platform == "darwin":
        return [home / "Library" / "Application Support" / APP]
    return [_env_path(env, "XDG_CONFIG_HOME", home / ".config") / APP]


def config_path(env=None, platform: str | None = None) -> Path:
    """The config file in use: the first that exists, else where a new one goes."""
    dirs = config_dirs(env, platform)
    return next((d / CONFIG_NAME for d in dirs if (d / CONFIG_NAME).is_file()), dirs[0] / CONFIG_NAME)


def data_dir(env=None, platform: str | None = None) -> Path:
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if env.get("MASKSTYLE_DATA_DIR"):
        return Path(env["MASKSTYLE_DATA_DIR"])
    home = _home(env)
    if platform.startswith("win"):
        return _env_path(env, "LOCALAPPDATA", home / "AppData" / "Local") / APP / APP
    if platform == "darwin":
        return home / "Library" / "Application Support" / APP
    return _env_path(env, "XDG_DATA_HOME", home / ".local" / "share") / APP


def models_dir(env=None, platform: str | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("MASKSTYLE_MODELS_DIR") or data_dir(env, platform) / "models")


def _profile_bases(env) -> list[tuple[str, Path]]:
    """(label, folder) of every place that holds GIMP's versioned profile folders."""
    home = _home(env)
    return [("Linux", _env_path(env, "XDG_CONFIG_HOME", home / ".config") / "GIMP"),
            ("Flatpak", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP"),
            ("macOS", home / "Library" / "Application Support" / "GIMP"),
            ("Windows", _env_path(env, "APPDATA", home / "AppData" / "Roaming") / "GIMP")]


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def _gimp3_versions(bases) -> list[str]:
    """3.2 and 3.0, and every later 3.x whose profile folder exists somewhere, newest first."""
    found = set(GIMP_VERSIONS)
    for _, base in bases:
        try:
            found.update(p.name for p in base.glob("3.*")
                         if p.is_dir() and p.name[2:].isdigit())
        except OSError:
            continue
    return sorted(found, key=_version_key, reverse=True)


def gimp_profiles(env=None, platform: str | None = None) -> list[tuple[str, Path]]:
    """(label, folder) for every place a GIMP 3 profile can be, newest GIMP first: 3.2, 3.0 and
    any later 3.x whose folder exists (each GIMP 3.x reads only its own folder).

    GIMP3_DIRECTORY, when set, is the one profile GIMP 3 uses. Which of the others exist
    depends on the GIMPs installed; each holds a plug-ins folder."""
    env = os.environ if env is None else env
    if env.get("GIMP3_DIRECTORY"):
        return [("GIMP3_DIRECTORY", Path(env["GIMP3_DIRECTORY"]))]
    bases = _profile_bases(env)
    return [(f"{label} {version}", base / version) for version in _gimp3_versions(bases) for label, base in bases]


def gimp2_profiles(env=None, platform: str | None = None) -> list[tuple[str, Path]]:
    """(label, folder) for every place a GIMP 2.10 profile can be (GIMP2_DIRECTORY when set)."""
    env = os.environ if env is None else env
    if env.get("GIMP2_DIRECTORY"):
        return [("GIMP2_DIRECTORY", Path(env["GIMP2_DIRECTORY"]))]
    bases = _profile_bases(env)
    return [(f"{label} {version}", base / version) for version in GIMP2_VERSIONS for label, base in bases]


def all_gimp_profiles(env=None, platform: str | None = None) -> list[tuple[str, Path, str]]:
    """(label, folder, front-end) for every GIMP 3.x and 2.10 profile place, newest GIMP first."""
    return ([(label, path, GIMP3) for label, path in gimp_profiles(env, platform)]
            + [(label, path, GIMP2) for label, path in gimp2_profiles(env, platform)])


def profile_front_end(profile: Path) -> str:
    """The front-end a profile folder needs, by its name: gimp2 for GIMP 2.x folders (2.10),
    gimp3 for every other (3.0, 3.2, later 3.x, or a folder named by GIMP3_DIRECTORY)."""
    name = Path(profile).name
    if name.startswith("2.") and name[2:].isdigit():
        return GIMP2
    return GIMP3


# ---------------------------------------------------------------- the config file

def config_problems(data) -> dict:
    """What is wrong with a config's contents: {key: problem, ...}; {} when it is usable."""
    if not isinstance(data, dict):
        return {"config": "it is not a JSON object"}
    problems = {}
    port = data.get("port")
    if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
        problems["port"] = f"missing or not a port number ({port!r})"
    token = data.get("token")
    if not (isinstance(token, str) and len(token) >= MIN_TOKEN and not token.startswith("-")):
        problems["token"] = f"missing, shorter than {MIN_TOKEN} characters, or starts with '-'"
    command = data.get("backend_command", [])
    if not (isinstance(command, str) or (isinstance(command, list) and all(isinstance(c, str) for c in command))):
        problems["backend_command"] = "not a list of strings"
    return problems


def new_token() -> str:
    """A random token that can never look like a command-line option (hex digits only)."""
    return secrets.token_hex(24)


def read_config(path: Path) -> dict:
    """The config file's JSON object; ConfigError when it cannot be read or is not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"The maskstyle config file {path} cannot be read ({err}). {SETUP_HINT}",
                          "bad_config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"The maskstyle config file {path} is not a JSON object. {SETUP_HINT}", "bad_config")
    return data


def write_config(data: dict, path: Path) -> Path:
    """Write the config with mode 0600 from the start (never briefly readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


@dataclass
class Settings:
    """What a client needs: where the backend is, its token, and how to start it."""

    url: str
    token: str
    backend_command: list = field(default_factory=list)
    config_path: Path | None = None


def load_settings(env=None, platform: str | None = None) -> Settings:
    """Read the config file, then apply MASKSTYLE_URL and MASKSTYLE_TOKEN."""
    env = os.environ if env is None else env
    path = config_path(env, platform)
    config = read_config(path) if path.is_file() else {}
    url = env.get("MASKSTYLE_URL") or (f"http://127.0.0.1:{config['port']}" if config.get("port") else "")
    token = env.get("MASKSTYLE_TOKEN") or config.get("token") or ""
    if not url or not token:
        raise ConfigError(f"maskstyle is not set up: {path} is missing or has no port and token. {SETUP_HINT}",
                          "not_configured")
    command = config.get("backend_command") or []
    if isinstance(command, str):
        command = shlex.split(command)
    return Settings(url.rstrip("/"), token, [str(part) for part in command], path)


# ---------------------------------------------------------------- the installed plug-in

PLUGIN_ENTRY = "maskstyle.py"  # GIMP runs plug-ins/maskstyle/maskstyle.py


def plugin_layout(repo: Path, front_end: str = GIMP3) -> list[tuple[Path, str]]:
    """(source file in a clone, path inside GIMP's plug-ins/maskstyle folder) for every file of
    the installed plug-in: the front-end (GIMP 3's, or GIMP 2.10's gimpfu one), and this wire
    package beside it (GIMP 3 imports it; GIMP 2.10's plug-in runs it with Python 3 as
    `python3 -m maskstyle_wire.bridge`). Both have their entry file at PLUGIN_ENTRY."""
    front = Path(repo) / FRONT_ENDS[front_end]
    wire = Path(repo) / "wire" / "maskstyle_wire"
    files = [(p, p.name) for p in sorted(front.glob("*.py"))]
    files += [(p, f"maskstyle_wire/{p.name}") for p in sorted(wire.glob("*.py"))]
    return files
