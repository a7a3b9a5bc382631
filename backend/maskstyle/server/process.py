"""`maskstyle serve` as a child process on a free loopback port, with a config folder of its own.

For tests, benchmarks and programs that want a private backend: it starts, waits until
/v1/health answers, reads the token the backend wrote, and stops it again.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from maskstyle_wire import settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BackendProcess:
    """A running `maskstyle serve`: `url`, `token`, `config_dir`, `proc`; `stop()` ends it."""

    def __init__(self, config_dir: Path, env: dict | None = None, timeout: float = 60.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_dir = Path(config_dir)
        self.env = {**os.environ, "MASKSTYLE_CONFIG_DIR": str(self.config_dir), **(env or {})}
        self.env.pop("MASKSTYLE_URL", None)  # the child must use its own port and token
        self.env.pop("MASKSTYLE_TOKEN", None)
        self.log_path = self.config_dir / "backend.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "maskstyle.cli", "serve", "--port", str(self.port)],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait(timeout)
        self.token = settings.read_config(self.config_dir / settings.CONFIG_NAME)["token"]

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError("the backend exited: " + self.log_path.read_text())
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1).read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the backend did not answer /v1/health in {timeout:.0f} s") from None
                time.sleep(0.2)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
