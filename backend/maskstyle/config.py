"""The user's config file: port, token and the command that starts the backend.

It lives at `<platform config dir>/maskstyle/config.json` with mode 0600, and is
created on first use with a random token and a free port. MASKSTYLE_URL and
MASKSTYLE_TOKEN override it.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from maskstyle_wire import settings
from maskstyle_wire.errors import ConfigError

from .errors import MaskstyleError


@dataclass
class Config:
    port: int
    token: str
    backend_command: list[str]
    url: str


def config_path() -> Path:
    return settings.config_path()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_backend_command() -> list[str]:
    return [sys.executable, "-m", "maskstyle.cli", "serve"]


def write_config(data: dict, path: Path | None = None) -> Path:
    """Write the config with mode 0600 from the start (never briefly world-readable)."""
    return settings.write_config(data, path or config_path())


def load_config(create: bool = True) -> Config:
    """Read the config (creating it if asked and missing), then apply the env overrides."""
    path = config_path()
    data: dict = {}
    if path.exists():
        try:
            data = settings.read_config(path)
        except ConfigError as exc:
            raise MaskstyleError(f"{exc} Or delete it and run 'maskstyle serve' to make a new one.",
                                 exc.code) from None
    changed = False
    problems = settings.config_problems(data)
    if "port" in problems:
        data["port"], changed = free_port(), True
    if "token" in problems:
        data["token"], changed = settings.new_token(), True
    if "backend_command" in problems or not data.get("backend_command"):
        data["backend_command"], changed = default_backend_command(), True
    if changed and create:
        write_config(data, path)
    url = os.environ.get("MASKSTYLE_URL") or f"http://127.0.0.1:{data['port']}"
    token = os.environ.get("MASKSTYLE_TOKEN") or data["token"]
    return Config(port=data["port"], token=token, backend_command=data["backend_command"],
                  url=url.rstrip("/"))
