"""A client for the backend (requests): submit, poll with progress, cancel, fetch layers.

Used by `maskstyle stylize --server` and by batch jobs. The GIMP plug-in has its own
standard-library client in plugin/maskstyle/, with the same contract.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from .config import load_config
from .errors import Cancelled, InputError, MaskstyleError
from .images import encode_png


class BackendError(MaskstyleError):
    code = "backend"


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0):
        config = load_config(create=False) if not (url and token) else None
        self.url = (url or config.url).rstrip("/")
        self.token = token or config.token
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def _call(self, method: str, path: str, **kw) -> requests.Response:
        try:
            r = self.session.request(method, self.url + path, timeout=self.timeout, **kw)
        except requests.ConnectionError:
            raise BackendError(f"the backend at {self.url} is not running; start it with "
                               "'maskstyle serve'") from None
        except requests.Timeout:
            raise BackendError(f"the backend at {self.url} did not answer in time") from None
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
                message, code = err["message"], err["code"]
            except (ValueError, KeyError, TypeError):
                message, code = f"HTTP {r.status_code}", "http_error"
            cls = InputError if 400 <= r.status_code < 500 and r.status_code not in (401, 403, 429) else BackendError
            raise cls(message, code)
        return r

    def health(self) -> dict:
        return self._call("GET", "/v1/health").json()

    def info(self) -> dict:
        return self._call("GET", "/v1/info").json()

    def submit(self, op: str, params: dict, files: dict[str, bytes]) -> str:
        parts = {"request": (None, json.dumps({"op": op, "params": params}), "application/json")}
        for name, data in files.items():
            parts[name] = (f"{name}.png", data, "application/octet-stream")
        return self._call("POST", "/v1/jobs", files=parts).json()["id"]

    def status(self, job_id: str) -> dict:
        return self._call("GET", f"/v1/jobs/{job_id}").json()

    def cancel(self, job_id: str) -> dict:
        return self._call("DELETE", f"/v1/jobs/{job_id}").json()

    def wait(self, job_id: str, progress=None, interval: float = 0.2) -> dict:
        """Poll until the job ends; cancel it if we are interrupted. Returns the manifest."""
        try:
            while True:
                st = self.status(job_id)
                if progress:
                    progress(st["progress"], st["stage"])
                if st["state"] == "done":
                    return self._call("GET", f"/v1/jobs/{job_id}/result").json()
                if st["state"] == "cancelled":
                    raise Cancelled("the job was cancelled")
                if st["state"] == "failed":
                    err = st["error"] or {}
                    cls = InputError if err.get("code") in ("bad_input",) else BackendError
                    raise cls(err.get("message", "the job failed"), err.get("code"))
                time.sleep(interval)
        except KeyboardInterrupt:
            self.cancel(job_id)
            raise

    def layer(self, layer: dict) -> np.ndarray:
        data = self._call("GET", layer["url"]).content
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))

    def run(self, op: str, params: dict, files: dict[str, bytes], progress=None) -> tuple[dict, list]:
        job_id = self.submit(op, params, files)
        manifest = self.wait(job_id, progress)
        return manifest, [self.layer(l) for l in manifest["layers"]]

    def stylize(self, content: np.ndarray, mask: np.ndarray, style_path: str | Path, options,
                name: str, progress=None):
        """Run a stylize job and rebuild the same result the in-process engine returns."""
        from .engine.composite import paste
        from .engine.stylize import Layer, StylizeResult

        params = {k: getattr(options, k) for k in ("quality", "strength", "seed", "preserve_color",
                                                   "encoder", "method", "iterations", "max_side")}
        params = {k: v for k, v in params.items() if v is not None}
        params["name"] = name
        files = {"image": encode_png(content), "mask": encode_png(mask),
                 "style": Path(style_path).read_bytes()}
        manifest, arrays = self.run("stylize", params, files, progress)
        layers = []
        image = content
        for meta, rgba in zip(manifest["layers"], arrays):
            x, y, w, h = meta["x"], meta["y"], meta["width"], meta["height"]
            crop_mask = mask[y:y + h, x:x + w]
            layers.append(Layer(meta["name"], x, y, rgba[..., :3].copy(), crop_mask.copy()))
            image = paste(image, rgba[..., :3], crop_mask, x, y)
        return StylizeResult(image, layers, manifest["encoder"], manifest["device"],
                             method=(manifest.get("info") or {}).get("method", options.method))
