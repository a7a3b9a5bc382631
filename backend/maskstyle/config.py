"""The user's config file: port, token and the command that starts the backend.

It lives at `<platform config dir>/maskstyle/config.json` with mode 0600, and is
created on first use with a random token and a free port. MASKSTYLE_URL and
MASKSTYLE_TOKEN override it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import MaskstyleError
from .paths import config_dir


@dataclass
class Config:
    port: int
    token: str
    backend_command: list[str]
    url: str


def config_path() -> Path:
    return config_dir() / "config.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_backend_command() -> list[str]:
    return [sys.executable, "-m", "maskstyle.cli", "serve"]


def write_config(data: dict, path: Path | None = None) -> Path:
    """Write the config with mode 0600 from the start (never briefly world-readable)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_config(create: bool = True) -> Config:
    """Read the config (creating it if asked and missing), then apply the env overrides."""
    path = config_path()
    data: dict = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (ValueError, OSError) as exc:
            raise MaskstyleError(f"the config file {path} is unreadable ({exc}); delete it "
                                 "and run 'maskstyle serve' to make a new one") from None
    changed = False
    if not isinstance(data.get("port"), int) or not 0 < data["port"] < 65536:
        data["port"], changed = free_port(), True
    if not isinstance(data.get("token"), str) or len(data["token"]) < 16:
        data["token"], changed = secrets.token_hex(24), True
    if not isinstance(data.get("backend_command"), list) or not data["backend_command"]:
        data["backend_command"], changed = default_backend_command(), True
    if changed and create:
        write_config(data, path)
    url = os.environ.get("MASKSTYLE_URL") or f"http://127.0.0.1:{data['port']}"
    token = os.environ.get("MASKSTYLE_TOKEN") or data["token"]
    return Config(port=data["port"], token=token, backend_command=data["backend_command"],
                  url=url.rstrip("/"))
