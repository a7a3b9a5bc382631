"""The plug-in's standard-library helpers behind Stylize Regions (no GIMP needed)."""

from __future__ import annotations

import numpy as np
import pytest

from . import harness  # noqa: F401  puts the plug-in folder on sys.path

import msregions  # noqa: E402,I001


def _numpy_bounds(mask):
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


@pytest.mark.parametrize("seed", range(6))
def test_bounds_match_numpy(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, 2)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(seed % 3):  # 0, 1 or 2 blobs, some soft
        y, x = rng.integers(0, h), rng.integers(0, w)
        mask[y:y + rng.integers(1, 9), x:x + rng.integers(1, 9)] = rng.integers(1, 256)
    assert msregions.bounds(mask.tobytes(), w, h) == _numpy_bounds(mask)


def test_bounds_of_a_single_pixel_in_a_corner():
    mask = np.zeros((5, 7), np.uint8)
    mask[4, 6] = 1
    assert msregions.bounds(mask.tobytes(), 7, 5) == (6, 4, 1, 1)


def test_union_of_rectangles():
    assert msregions.union((0, 0, 2, 2), (5, 6, 1, 1)) == (0, 0, 6, 7)
    assert msregions.union(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert msregions.union((1, 2, 3, 4), None) == (1, 2, 3, 4)


def test_split_alpha_makes_pixels_opaque_and_returns_their_alpha():
    rgba = bytes([1, 2, 3, 0, 4, 5, 6, 128, 7, 8, 9, 255])
    opaque, alpha = msregions.split_alpha(rgba)
    assert opaque == bytes([1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255])
    assert alpha == bytes([0, 128, 255])
