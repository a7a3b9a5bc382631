"""Fixtures for the tests that drive a real GIMP 3 and the real maskstyle backend.

- gimp_root: a Debian root with GIMP 3, built once by build_root.sh and cached, with the plug-in
  installed. MASKSTYLE_GIMP_TIER picks the GIMP: 3.0 (trixie, ~/.cache/maskstyle-test/gimp-trixie;
  the default) or 3.2 (forky, ~/.cache/maskstyle-test/gimp-forky); $MASKSTYLE_GIMP_ROOT overrides.
- backend: `maskstyle serve` on a free host loopback port with a temporary config dir.
- gimp: a harness.GimpRunner for batch runs of the tier's gimp-console in the root.
- files, env: the scenes' pictures inside the root, and the plug-in's backend settings.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from server_process import Backend

from . import harness, scenes

from maskstyle_wire import png


@pytest.fixture(scope="session")
def gimp_root():
    if os.environ.get("MASKSTYLE_SKIP_GIMP_TESTS"):
        pytest.skip("MASKSTYLE_SKIP_GIMP_TESTS is set: the real-GIMP tests were not run")
    if os.geteuid() != 0:
        pytest.skip("the GIMP tests need root (debootstrap and chroot)")
    root = harness.root_dir()
    if not (root / ".ready").exists():
        reason = harness.why_root_cannot_be_built()
        if reason:
            pytest.skip(f"cannot build the GIMP {harness.tier()} root ({harness.suite()}): {reason}")
    build = harness.build_root(root)
    if build.returncode != 0:  # with root and a mirror this is a real failure, not a skip
        pytest.fail(f"build_root.sh failed for {root}:\n{(build.stderr or build.stdout)[-3000:]}")
    proc = root / "proc"
    mounted_here = subprocess.run(["mountpoint", "-q", str(proc)]).returncode != 0
    if mounted_here:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    harness.install_plugin(root)
    yield root
    if mounted_here:
        subprocess.run(["umount", str(proc)], check=False)


@pytest.fixture(scope="session")
def backend(tmp_path_factory):
    started = time.monotonic()
    running = Backend(tmp_path_factory.mktemp("maskstyle-config"))
    harness.TIMINGS["backend_start"] = time.monotonic() - started
    yield running
    running.stop()


@pytest.fixture(scope="session")
def gimp(gimp_root):
    runner = harness.GimpRunner(gimp_root)
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def files(gimp):
    """The scenes' PNGs, written into the exchange folder; name -> path inside the root."""
    paths = {}
    for name, array in scenes.images().items():
        host, paths[name] = gimp.path(f"{name}.png")
        h, w = array.shape[:2]
        host.write_bytes(png.encode(array.tobytes(), w, h, array.shape[2]))
    return paths


@pytest.fixture
def env(backend):
    """What GIMP and the plug-in need to reach the backend, with a quick stylize for tests."""
    return harness.backend_env(backend)


def pytest_terminal_summary(terminalreporter):
    line = harness.summary()
    if line:
        terminalreporter.write_sep("-", "maskstyle GIMP harness: " + line)
