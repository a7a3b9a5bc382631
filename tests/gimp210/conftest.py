"""Fixtures for the tests that drive a real GIMP 2.10 (Python-Fu) and the real maskstyle backend.

- gimp_root: a Debian bullseye root with GIMP 2.10 and Python-Fu, built once by build_root.sh
  from ../shared/gimp210's parts and cached (~/.cache/maskstyle-test/gimp210-bullseye, or
  $MASKSTYLE_GIMP210_ROOT), with the plug-in installed by the installer. Skipped, with the reason,
  when it cannot be built: no ../shared/gimp210 (a user's clone), bullseye gone from the mirror,
  or not root.
- gimp_harness: this tier's harness module.
- backend, gimp, files, env: the GIMP 3 tier's (tests/gimp/fixtures.py): `maskstyle serve` on a
  free host loopback port, a harness.GimpRunner, the scenes' pictures inside the root, and the
  backend's URL and token for GIMP and the plug-in.
"""

from __future__ import annotations

import os

import pytest

from gimp.fixtures import backend, env, files, gimp  # noqa: F401 (fixtures both tiers share)
from gimp.harness import proc_mounted

from . import harness


@pytest.fixture(scope="session")
def gimp_harness():
    return harness


@pytest.fixture(scope="session")
def gimp_root():
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
    with proc_mounted(root):
        harness.create_profile(root)
        harness.install_plugin(root)
        yield root


def pytest_terminal_summary(terminalreporter):
    if harness.TIMINGS.get("root") or harness.TIMINGS["gimp_runs"]:
        terminalreporter.write_sep("-", "maskstyle GIMP harness: " + harness.summary())
