"""The registry of weight files: what each is, where it comes from, how to check it.

Weights are only ever loaded from files named here, after a size and SHA-256 check,
with `torch.load(weights_only=True)`. Request data never names a weight file.

torchvision publishes its files with the first 8 hex digits of their SHA-256 in the
name (the same check torch.hub makes); where the full digest is known it is used.

A user can change an entry's url, filename, sha256 and size with a JSON file named by
MASKSTYLE_MODELS_REGISTRY (read when this module is imported; docs/models.md): a mirror behind
a firewall, or other weight files. The weights still go in the models dir and pass the check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .paths import models_dir


@dataclass(frozen=True)
class WeightFile:
    name: str          # registry key, e.g. "vgg19"
    filename: str
    url: str
    sha256: str        # full digest, or the leading hex digits torchvision publishes
    size: int          # bytes; torchvision publishes MiB to 3 decimals, hence the tolerance
    size_tolerance: int
    purpose: str

    @property
    def path(self) -> Path:
        return models_dir() / self.filename


REGISTRY: dict[str, WeightFile] = {
    w.name: w
    for w in (
        WeightFile(
            name="vgg19",
            filename="vgg19-dcbb9e9d.pth",
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            sha256="dcbb9e9d",
            size=574_673_361,
            size_tolerance=1_000,
            purpose="VGG-19 ImageNet features for style transfer",
        ),
        WeightFile(
            name="deeplabv3",
            filename="deeplabv3_resnet50_coco-cd0a2569.pth",
            url="https://download.pytorch.org/models/deeplabv3_resnet50_coco-cd0a2569.pth",
            sha256="cd0a2569",
            size=168_312_545,
            size_tolerance=1_000,
            purpose="DeepLabV3 ResNet-50 (COCO, VOC labels) for Select Subject",
        ),
    )
}


# What maskstyle does without each file: it always works without weights.
WITHOUT = {"vgg19": "Stylize's neural method uses the built-in, weight-free encoder.",
           "deeplabv3": "Select Subject uses the built-in saliency segmenter."}

REGISTRY_ENV = "MASKSTYLE_MODELS_REGISTRY"
OVERRIDABLE = ("url", "filename", "sha256", "size", "size_tolerance")


def with_overrides(registry: dict[str, WeightFile], path: Path) -> dict[str, WeightFile]:
    """`registry` with the entries of a JSON file applied: {name: {field: value}}.

    For a mirror behind a firewall ({"vgg19": {"url": ...}}), or for other weight files than
    torchvision's (a new filename, sha256 and size). Only the fields in OVERRIDABLE can change;
    a malformed file is a ModelError that names the file and what is wrong with it.
    """
    def bad(problem: str) -> ModelError:
        return ModelError(f"the models registry file {path} (from {REGISTRY_ENV}) {problem}")

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise bad(f"cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise bad(f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise bad('must hold a JSON object, e.g. {"vgg19": {"url": "https://mirror/vgg19.pth"}}')
    result = dict(registry)
    for name, fields in data.items():
        if name not in registry:
            raise bad(f"names an unknown model '{name}'; known: {', '.join(registry)}")
        if not isinstance(fields, dict):
            raise bad(f"must give '{name}' an object of fields ({', '.join(OVERRIDABLE)})")
        for key, value in fields.items():
            problem = _field_problem(key, value)
            if problem:
                raise bad(f"has a bad '{name}.{key}': {problem}")
        result[name] = dataclasses.replace(registry[name], **fields)
    return result


def _field_problem(key: str, value) -> str | None:
    if key not in OVERRIDABLE:
        return f"only {', '.join(OVERRIDABLE)} can be set"
    if key in ("size", "size_tolerance"):
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "size" else 0):
            return f"expected a whole number of bytes{' above 0' if key == 'size' else ''}, not {value!r}"
        return None
    if not isinstance(value, str) or not value:
        return f"expected a non-empty string, not {value!r}"
    if key == "url" and not value.startswith(("https://", "http://", "file:")):
        return f"expected an http://, https:// or file: URL, not {value!r}"
    if key == "filename" and (value in (".", "..") or any(c in value for c in "/\\\0")):
        return f"expected a plain file name (the file goes in the models dir), not {value!r}"
    if key == "sha256" and not (8 <= len(value) <= 64 and all(c in "0123456789abcdefABCDEF" for c in value)):
        return f"expected the SHA-256 in hex (8 to 64 digits), not {value!r}"
    return None


if os.environ.get(REGISTRY_ENV):
    REGISTRY = with_overrides(REGISTRY, Path(os.environ[REGISTRY_ENV]))


def entry(name: str) -> WeightFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model '{name}'; known: {', '.join(REGISTRY)}") from None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def install_hint(w: WeightFile) -> str:
    return f"install it with 'maskstyle models install {w.name}' (or download {w.url} to {w.path})"


def verify(w: WeightFile, path: Path | None = None) -> Path:
    """Check a weight file's size and hash; return its path or raise ModelError."""
    path = path or w.path
    if not path.is_file():
        raise ModelError(f"the {w.name} weights are not installed: {install_hint(w)}")
    size = path.stat().st_size
    if abs(size - w.size) > w.size_tolerance:
        raise ModelError(
            f"the {w.name} weight file {path} has the wrong size ({size} bytes, expected about "
            f"{w.size}); it is incomplete or not the right file: delete it and {install_hint(w)}"
        )
    if not sha256_of(path).startswith(w.sha256.lower()):
        raise ModelError(
            f"the {w.name} weight file {path} is corrupt (SHA-256 does not match): "
            f"delete it and {install_hint(w)}"
        )
    return path


def is_installed(name: str) -> bool:
    """True when the file exists with the right size (the cheap check; hashing is `verify`)."""
    w = entry(name)
    return w.path.is_file() and abs(w.path.stat().st_size - w.size) <= w.size_tolerance


def load_state_dict(name: str):
    """Verify, then load a registered weight file as tensors only."""
    import torch

    w = entry(name)
    path = verify(w)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"the {w.name} weight file {path} could not be read ({exc}); "
                         f"delete it and {install_hint(w)}") from None


def download(w: WeightFile, progress=None, url: str | None = None, timeout: float = 30.0) -> Path:
    """Fetch a weight file with resume, verify it, and move it into place.

    The download goes to `<file>.part`; an interrupted run resumes from there with an
    HTTP Range request. A file that fails the check is deleted, never left in place.
    """
    import http.client
    import urllib.error
    import urllib.request

    target = w.path
    if target.is_file():
        try:
            return verify(w)
        except ModelError:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url or w.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if have and response.status != 206:  # the server ignored the range: start over
                have = 0
            total = have + int(response.headers.get("Content-Length") or 0) or w.size
            with part.open("ab" if have else "wb") as f:
                while block := response.read(1 << 20):
                    f.write(block)
                    have += len(block)
                    if progress:
                        progress(min(1.0, have / total), "downloading")
            if have < total:
                raise ConnectionError(f"the connection closed after {have} of {total} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: the part file is complete
            pass
        else:
            raise ModelError(f"could not download {w.name} from {url or w.url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(f"could not download {w.name} from {url or w.url} ({reason}); run the same "
                         f"command again to resume. Until then {WITHOUT[w.name]}") from None
    try:
        verify(w, part)
    except ModelError:
        part.unlink(missing_ok=True)
        raise ModelError(f"the downloaded {w.name} file failed its size/SHA-256 check and was "
                         "deleted; run the command again") from None
    part.replace(target)
    return target
