"""Device choice and the encoder cache that keeps models warm between jobs."""

from __future__ import annotations

import functools

import torch

from ..errors import InputError
from .encoders import load_encoder, default_encoder_name
from . import threads


def pick_device(name: str | None = None) -> torch.device:
    """'cuda' when present, else 'cpu'; an explicit name must be usable."""
    threads.adapt()
    if not name or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device '{name}'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available")
    return device


@functools.lru_cache(maxsize=4)
def _cached(name: str, device: str):
    return load_encoder(name, device)


def load_encoder_cached(name: str, device: torch.device):
    """The encoder for (name, device), built once per process."""
    if name in (None, "", "auto"):
        name = default_encoder_name()
    return _cached(name, str(device))
