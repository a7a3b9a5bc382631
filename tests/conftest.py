"""Shared fixtures: small synthetic images, so the suite needs no downloaded data."""

from __future__ import annotations

import numpy as np
import pytest


def make_content(h: int = 64, w: int = 80, seed: int = 1) -> np.ndarray:
    """A smooth gradient with a few shapes: something with structure to keep."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w * 200 + 20, yy / h * 180 + 30, np.full((h, w), 90.0)], axis=2)
    img[h // 4: h // 2, w // 4: w // 2] = (230, 40, 40)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_style(h: int = 48, w: int = 48, seed: int = 2) -> np.ndarray:
    """Diagonal blue and yellow stripes: a texture and palette unlike the content."""
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx + yy) // 4) % 2 == 0
    img = np.where(stripes[..., None], np.array([30, 60, 200]), np.array([240, 210, 40]))
    return img.astype(np.uint8)


def make_mask(h: int = 64, w: int = 80, soft: bool = True) -> np.ndarray:
    """An ellipse in the middle; with soft edges when asked."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.sqrt(((xx - w / 2) / (w / 4)) ** 2 + ((yy - h / 2) / (h / 4)) ** 2)
    if not soft:
        return np.where(r <= 1, 255, 0).astype(np.uint8)
    return np.clip((1.3 - r) / 0.6 * 255, 0, 255).astype(np.uint8)


@pytest.fixture
def content():
    return make_content()


@pytest.fixture
def style():
    return make_style()


@pytest.fixture
def mask():
    return make_mask()
