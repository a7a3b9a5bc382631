"""Where maskstyle keeps its files: config, model weights. Overridable for tests."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "maskstyle"


def config_dir() -> Path:
    return Path(os.environ.get("MASKSTYLE_CONFIG_DIR") or platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(os.environ.get("MASKSTYLE_DATA_DIR") or platformdirs.user_data_dir(APP))


def models_dir() -> Path:
    return Path(os.environ.get("MASKSTYLE_MODELS_DIR") or data_dir() / "models")
