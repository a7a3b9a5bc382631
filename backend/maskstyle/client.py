"""numpy arrays over the one wire client (maskstyle_wire.client), for the command line and batch.

It sends arrays as PNG parts and gives back each result layer as an RGBA array with its
placement. By the contract's one result rule a layer's alpha is its mask, so putting the
layers back on the image is the caller's plain alpha blend.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from maskstyle_wire import client as wire
from maskstyle_wire.errors import BackendError, JobCancelled, JobFailed

from .config import load_config
from .errors import Cancelled, InputError, MaskstyleError
from .images import encode_png


@dataclass
class RemoteLayer:
    name: str
    x: int
    y: int
    rgba: np.ndarray  # (h, w, 4) uint8; alpha is the layer's mask


class Client:
    """A backend at `url` (default: the one in the config), with errors as maskstyle's own."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60.0):
        config = load_config(create=False) if not (url and token) else None
        self.wire = wire.Client(url or config.url, token or config.token, timeout)

    @property
    def url(self) -> str:
        return self.wire.url

    def run(self, op: str, params: dict, files: dict, progress=None) -> tuple[dict, list[RemoteLayer]]:
        """Run one job. files maps part name -> uint8 array, or the bytes of an image file, or
        a path to one. Ctrl+C cancels the job on the backend."""
        parts = {name: wire.png_part(name, self._file_bytes(data)) for name, data in files.items()}
        try:
            self.wire.check_contract()
            manifest, pngs = self.wire.run(op, params, parts, progress)
        except JobCancelled:
            raise Cancelled("the job was cancelled") from None
        except JobFailed as err:
            raise (InputError if err.code == "bad_input" else MaskstyleError)(str(err), err.code) from None
        except BackendError as err:
            bad_request = err.status is not None and 400 <= err.status < 500 and err.status not in (401, 403, 429)
            raise (InputError if bad_request else MaskstyleError)(str(err), err.code) from None
        layers = [RemoteLayer(meta["name"], int(meta["x"]), int(meta["y"]),
                              np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")))
                  for meta, png in zip(manifest["layers"], pngs)]
        return manifest, layers

    @staticmethod
    def _file_bytes(data) -> bytes:
        if isinstance(data, np.ndarray):
            return encode_png(data)
        if isinstance(data, (str, Path)):
            return Path(data).read_bytes()
        return bytes(data)
