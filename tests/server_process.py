"""The real backend as a process on a free loopback port, for tests (maskstyle.server.process)."""

from maskstyle.server.process import BackendProcess as Backend, free_port  # noqa: F401
