"""Where maskstyle keeps its files: config, data, model weights (maskstyle_wire.settings has the rules)."""

from __future__ import annotations

from pathlib import Path

from maskstyle_wire import settings


def config_dir() -> Path:
    return settings.config_path().parent


def data_dir() -> Path:
    return settings.data_dir()


def models_dir() -> Path:
    return settings.models_dir()
