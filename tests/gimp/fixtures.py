"""The fixtures both real-GIMP tiers share; each tier's conftest imports them, and gives gimp_root
(its root, ready, with /proc mounted and the plug-in installed) and gimp_harness (its harness module).

- backend: `maskstyle serve` on a free host loopback port with a temporary config dir.
- gimp: the tier's harness.GimpRunner for batch runs of its GIMP in the root.
- files, env: the scenes' pictures inside the root, and the plug-in's backend settings.
"""

from __future__ import annotations

import time

import pytest
from server_process import Backend

from maskstyle_wire import png

from . import harness, scenes


@pytest.fixture(scope="session")
def backend(tmp_path_factory, gimp_harness):
    started = time.monotonic()
    running = Backend(tmp_path_factory.mktemp("maskstyle-config"))
    gimp_harness.TIMINGS["backend_start"] = time.monotonic() - started
    yield running
    running.stop()


@pytest.fixture(scope="session")
def gimp(gimp_root, gimp_harness):
    runner = gimp_harness.GimpRunner(gimp_root)
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
    """What GIMP and the plug-in need to reach the backend."""
    return harness.backend_env(backend)
