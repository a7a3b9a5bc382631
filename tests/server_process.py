"""The real backend as a process on a free loopback port, for tests (maskstyle.server.process)."""

import pytest

from maskstyle.server.process import BackendProcess as Backend, free_port  # noqa: F401


def backend_fixture(**env: str):
    """A module-scoped `backend` fixture: a Backend with a config folder of its own and these
    environment variables (e.g. MASKSTYLE_MAX_QUEUED="1"), stopped after the module."""

    @pytest.fixture(scope="module")
    def backend(tmp_path_factory):
        running = Backend(tmp_path_factory.mktemp("cfg"), env=env)
        yield running
        running.stop()

    return backend
