"""Fixtures for the tests that drive a real GIMP 2.10 (Python-Fu) and the real maskstyle backend.

- gimp210_root: a Debian bullseye root with GIMP 2.10 and Python-Fu, built once by build_root.sh
  from ../shared/gimp210's parts and cached (~/.cache/maskstyle-test/gimp210-bullseye, or
  $MASKSTYLE_GIMP210_ROOT), with the plug-in installed by the installer. Skipped, with the reason,
  when it cannot be built: no ../shared/gimp210 (a user's clone), bullseye gone from the mirror,
  or not root.
- backend: `maskstyle serve` on a free host loopback port with a temporary config dir.
- gimp: a harness.GimpRunner; files: the scenes' pictures inside the root; env: the backend's
  URL and token for GIMP and the plug-in.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from server_process import Backend

from gimp import scenes  # the GIMP 3 tier's pictures and report readers, shared

from . import harness

from maskstyle_wire import png


@pytest.fixture(scope="session")
def gimp210_root():
    if os.environ.get("MASKSTYLE_SKIP_GIMP_TESTS") or os.environ.get("MASKSTYLE_SKIP_GIMP210_TESTS"):
        pytest.skip("MASKSTYLE_SKIP_GIMP_TESTS or MASKSTYLE_SKIP_GIMP210_TESTS is set: the GIMP 2.10 tests were not run")
    root = harness.root_dir()
    if not (root / ".ready").exists():
        reason = harness.why_root_cannot_be_built()
        if reason:
            print(f"\nGIMP 2.10 tests skipped: cannot build the GIMP 2.10 root: {reason}")
            pytest.skip(f"cannot build the GIMP 2.10 root: {reason}")
    elif os.geteuid() != 0:
        pytest.skip("the GIMP 2.10 tests need root (chroot)")
    build = harness.build_root(root)
    if build.returncode != 0:
        pytest.fail(f"tests/gimp210/build_root.sh failed for {root}:\n{(build.stderr or build.stdout)[-3000:]}")
    proc = root / "proc"
    mounted_here = subprocess.run(["mountpoint", "-q", str(proc)]).returncode != 0
    if mounted_here:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    harness.create_profile(root)
    harness.install_plugin(root)
    yield root
    if mounted_here:
        subprocess.run(["umount", str(proc)], check=False)


@pytest.fixture(scope="session")
def backend(tmp_path_factory):
    running = Backend(tmp_path_factory.mktemp("maskstyle-config"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def gimp(gimp210_root):
    runner = harness.GimpRunner(gimp210_root)
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def files(gimp):
    paths = {}
    for name, array in scenes.images().items():
        host, paths[name] = gimp.path(f"{name}.png")
        h, w = array.shape[:2]
        host.write_bytes(png.encode(array.tobytes(), w, h, array.shape[2]))
    return paths


@pytest.fixture
def env(backend):
    return {"MASKSTYLE_URL": backend.url, "MASKSTYLE_TOKEN": backend.token}


def pytest_terminal_summary(terminalreporter):
    if harness.TIMINGS.get("root") or harness.TIMINGS["gimp_runs"]:
        terminalreporter.write_sep("-", "maskstyle GIMP harness: " + harness.summary())
