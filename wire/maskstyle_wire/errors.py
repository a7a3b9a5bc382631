"""The errors a client meets. Each one's text is written for a person, to be shown as it is."""

from __future__ import annotations


class BackendError(Exception):
    """A failure to show to the user as is; `code` is the backend's error code or the client's own."""

    def __init__(self, message: str, code: str = "error", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status  # the HTTP status, when the backend answered with an error


class ConfigError(BackendError):
    """The config file is missing, unreadable or incomplete."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached, or could not be started."""


class ContractMismatch(BackendError):
    """The backend speaks another version of the contract."""


class JobFailed(BackendError):
    """The backend ran the job and reported an error."""


class JobCancelled(BackendError):
    """The job was cancelled."""
