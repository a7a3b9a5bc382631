"""Errors that carry a short code and a message written for a person."""


class MaskstyleError(Exception):
    """Base error. `code` is stable and machine-readable; str(err) is for people."""

    code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class InputError(MaskstyleError):
    """The caller gave something we cannot use (bad image, wrong-size mask, bad option)."""

    code = "bad_input"


class ModelError(MaskstyleError):
    """A weight file is missing, corrupt or does not fit the network."""

    code = "model_unavailable"


class Cancelled(MaskstyleError):
    """The job was cancelled between iterations."""

    code = "cancelled"
