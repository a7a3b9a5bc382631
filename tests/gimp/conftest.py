"""Fixtures for the tests that drive a real GIMP 3 and the real maskstyle backend.

- gimp_root: a Debian root with GIMP 3, built once by build_root.sh and cached, with the plug-in
  installed. MASKSTYLE_GIMP_TIER picks the GIMP: 3.0 (trixie, ~/.cache/maskstyle-test/gimp-trixie;
  the default) or 3.2 (forky, ~/.cache/maskstyle-test/gimp-forky); $MASKSTYLE_GIMP_ROOT overrides.
- gimp_harness: this tier's harness module.
- backend, gimp, files, env: fixtures.py's, which the GIMP 2.10 tier shares.
"""

from __future__ import annotations

import os

import pytest

from . import harness
from .fixtures import backend, env, files, gimp  # noqa: F401 (fixtures both tiers share)


@pytest.fixture(scope="session")
def gimp_harness():
    return harness


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
    with harness.proc_mounted(root):
        harness.install_plugin(root)
        yield root


def pytest_terminal_summary(terminalreporter):
    line = harness.summary()
    if line:
        terminalreporter.write_sep("-", "maskstyle GIMP harness: " + line)
