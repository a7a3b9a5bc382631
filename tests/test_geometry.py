"""Rect (maskstyle_wire.geometry), the one rectangle convention of the plug-in, the wire and the
engine: (x, y, width, height), and `array[rect.slices]` for the pixels under it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from maskstyle.demo import ellipse_mask
from maskstyle.engine import composite
from maskstyle.engine.results import Layer
from maskstyle_wire.geometry import Rect


def test_rect_intersect():
    assert Rect(0, 0, 10, 10).intersect(Rect(5, 6, 10, 10)) == Rect(5, 6, 5, 4)
    assert Rect(0, 0, 10, 10).intersect(Rect(10, 0, 5, 5)) is None  # touching edges do not overlap
    assert Rect(2, 2, 3, 3).intersect(Rect(0, 0, 10, 10)) == Rect(2, 2, 3, 3)


def test_rect_union():
    assert Rect(0, 0, 2, 2).union(Rect(5, 6, 1, 1)) == Rect(0, 0, 6, 7)
    assert Rect(5, 6, 1, 1).union(Rect(0, 0, 2, 2)) == Rect(0, 0, 6, 7)
    assert Rect(1, 2, 3, 4).union(Rect(2, 3, 1, 1)) == Rect(1, 2, 3, 4)


def test_rect_grow_adds_context_inside_the_limit():
    assert Rect(40, 40, 10, 10).grow(Rect(0, 0, 100, 100)) == Rect(24, 24, 42, 42)
    assert Rect(0, 0, 160, 10).grow(Rect(0, 0, 100, 100)) == Rect(0, 0, 100, 30)


def test_rect_pad_adds_a_margin_on_every_side_unclipped():
    assert Rect(5, 6, 3, 2).pad(4) == Rect(1, 2, 11, 10)
    assert Rect(0, 0, 3, 2).pad(1) == Rect(-1, -1, 5, 4)
    assert Rect(0, 0, 3, 2).pad(1).intersect(Rect(0, 0, 3, 2)) == Rect(0, 0, 3, 2)


def test_rect_relative_to_gives_its_place_inside_another():
    crop, layer = Rect(12, 30, 5, 4), Rect(10, 20, 50, 50)
    assert crop.relative_to(layer) == Rect(2, 10, 5, 4)
    assert layer.relative_to(crop) == Rect(-2, -10, 50, 50)
    assert crop.relative_to(Rect(0, 0, 1, 1)) == crop


def test_rect_is_a_plain_tuple_too():
    x, y, w, h = Rect(1, 2, 3, 4)
    assert (x, y, w, h) == (1, 2, 3, 4) and Rect(1, 2, 3, 4) == (1, 2, 3, 4)
    assert Rect(1, 2, 3, 4)._asdict() == {"x": 1, "y": 2, "width": 3, "height": 4}  # the manifest's keys


def test_right_and_bottom_are_the_first_column_and_row_past_it():
    assert (Rect(2, 3, 4, 5).right, Rect(2, 3, 4, 5).bottom) == (6, 8)


def test_slices_cut_the_pixels_under_the_rect_from_a_row_major_array():
    image = np.arange(6 * 8 * 3).reshape(6, 8, 3)  # 6 rows, 8 columns
    rect = Rect(x=5, y=1, width=2, height=4)
    assert image[rect.slices].shape == (4, 2, 3)
    assert np.array_equal(image[rect.slices], image[1:5, 5:7])
    image[rect.slices] = -1  # a view: writing through it changes the image
    assert (image[1:5, 5:7] == -1).all() and (image == -1).sum() == 4 * 2 * 3


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
    assert Rect.bounds(mask.tobytes(), w, h) == _numpy_bounds(mask)


def test_bounds_of_a_single_pixel_in_a_corner():
    mask = np.zeros((5, 7), np.uint8)
    mask[4, 6] = 1
    assert Rect.bounds(mask.tobytes(), 7, 5) == Rect(6, 4, 1, 1)


@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_a_masks_bounds_hold_all_its_pixels_and_touch_each_side(w, h, seed):
    mask = (np.random.default_rng(seed).random((h, w)) > 0.9).astype(np.uint8)
    rect = Rect.bounds(mask.tobytes(), w, h)
    if not mask.any():
        assert rect is None
        return
    inside = np.zeros_like(mask)
    inside[rect.slices] = mask[rect.slices]
    assert np.array_equal(inside, mask)
    cut = mask[rect.slices]
    assert cut[0].any() and cut[-1].any() and cut[:, 0].any() and cut[:, -1].any()


# ---------------------------------------------------------------- the engine's rectangles over arrays

@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_the_engines_bounds_are_the_plug_ins(w, h, seed):
    mask = (np.random.default_rng(seed).random((h, w)) > 0.95).astype(np.uint8) * 200
    assert composite.bounds(mask) == Rect.bounds(mask.tobytes(), w, h)


def test_crop_rect_adds_context_and_stays_inside_the_image():
    mask = np.zeros((100, 120), np.uint8)
    mask[40:50, 30:70] = 255                                  # bounds: Rect(30, 40, 40, 10)
    assert composite.crop_rect(mask, 0.25) == Rect(20, 30, 60, 30)   # 0.25 x 40 = 10 px a side
    assert composite.crop_rect(mask, 0.0) == Rect(22, 32, 56, 26)    # at least min_pad (8)
    assert composite.crop_rect(mask, 2.0) == Rect(0, 0, 120, 100)    # clipped to the image
    assert composite.crop_rect(mask, 0.0, min_pad=0) == composite.bounds(mask)


def test_paste_blends_only_under_the_crops_rect():
    full = np.full((20, 30, 3), 10, np.uint8)
    crop = np.full((4, 6, 3), 250, np.uint8)
    mask = np.full((4, 6), 255, np.uint8)
    out = composite.paste(full, crop, mask, 7, 3)
    changed = np.zeros((20, 30), bool)
    changed[Rect(7, 3, 6, 4).slices] = True
    assert (out[changed] == 250).all() and (out[~changed] == 10).all()


def test_an_engine_layer_knows_its_rect():
    layer = Layer("L", 5, 7, np.zeros((3, 4, 3), np.uint8), np.zeros((3, 4), np.uint8))
    assert layer.rect == Rect(5, 7, 4, 3)


def test_the_demo_ellipse_fills_its_rect():
    rect = Rect(10, 5, 41, 21)
    mask = ellipse_mask(40, 60, rect, feather=0.5)
    inside = composite.bounds(mask > 127)
    assert rect.intersect(inside) == inside                       # all of it inside the rect
    assert inside.width >= rect.width - 3 and inside.height >= rect.height - 3
