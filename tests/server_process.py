"""Start the real backend as a process on a free loopback port, for tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Backend:
    def __init__(self, config_dir: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_dir = config_dir
        self.env = {**os.environ, "MASKSTYLE_CONFIG_DIR": str(config_dir), **(env or {})}
        self.env.pop("MASKSTYLE_URL", None)
        self.env.pop("MASKSTYLE_TOKEN", None)
        self.log = open(config_dir / "backend.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maskstyle.cli", "serve", "--port", str(self.port)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait()
        self.token = json.loads((config_dir / "config.json").read_text())["token"]

    def _wait(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the backend exited: " + (self.config_dir / "backend.log").read_text())
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the backend did not answer /v1/health in time")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
