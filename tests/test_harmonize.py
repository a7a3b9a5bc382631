"""Harmonization (photo and painterly modes) on small synthetic composites."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from maskstyle.engine import harmonize as hz
from maskstyle.engine.composite import paste
from maskstyle.engine.harmonize import harmonize
from maskstyle.errors import Cancelled, InputError

TINY = dict(mode="painterly", iterations=2)


def textured(h: int, w: int, base, seed: int, spread: float = 12.0) -> np.ndarray:
    """A flat colour with smooth random texture around it."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    noise /= noise.std()
    return np.clip(np.asarray(base, np.float32) + spread * noise, 0, 255).astype(np.uint8)


def composite(h: int = 96, w: int = 96, cast=(70, -10, -30), seed: int = 0):
    """Neutral textured background with a square object that carries a colour cast."""
    bg = textured(h, w, (110, 120, 115), seed)
    obj = textured(h, w, np.add((110, 120, 115), cast), seed + 1)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = 255
    image = bg.copy()
    image[mask > 0] = obj[mask > 0]
    return image, mask


def unchanged_outside(result, image, reach: np.ndarray) -> None:
    """Bit-exact outside `reach`, and the image is exactly its layer pasted on the input."""
    assert np.array_equal(result.image[~reach], image[~reach])
    (layer,) = result.layers
    assert np.array_equal(result.image, paste(image, layer.rgb, layer.mask, layer.x, layer.y))
    assert layer.rgb.dtype == np.uint8 and layer.mask.shape == layer.rgb.shape[:2]


def dilated(mask: np.ndarray, radius: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate((mask > 0).astype(np.uint8), kernel) > 0


def soften(mask: np.ndarray) -> np.ndarray:
    """A feathered selection: the hard mask blurred, so it has a wide soft rim."""
    return cv2.GaussianBlur(mask, (0, 0), 3)


# ---------------------------------------------------------------- contract

@pytest.mark.parametrize("soft", [False, True])
def test_photo_leaves_everything_outside_the_dilated_mask_bit_exact(soft):
    image, mask = composite()
    mask = soften(mask) if soft else mask
    result = harmonize(image, mask)
    unchanged_outside(result, image, dilated(mask, hz.edge_width(image.shape) + 1))
    assert result.encoder == "none" and result.device == "cpu"
    assert result.layers[0].name == "Harmonized"
    assert not np.array_equal(result.image[mask > 0], image[mask > 0])


def test_painterly_leaves_everything_outside_the_dilated_mask_bit_exact():
    image, mask = composite(64, 64)
    result = harmonize(image, mask, **TINY, layer_name="Painted")
    unchanged_outside(result, image, mask > 0)  # the layer's mask is the smoothed tight mask
    assert result.encoder == "none" and result.layers[0].name == "Painted"
    assert np.abs(result.image[mask > 0].astype(int) - image[mask > 0]).mean() > 1


@pytest.mark.parametrize("mode", ["photo", "painterly"])
def test_strength_zero_returns_the_input(mode):
    image, mask = composite(64, 64)
    kwargs = TINY if mode == "painterly" else {}
    result = harmonize(image, mask, **{**kwargs, "mode": mode}, strength=0.0)
    assert np.array_equal(result.image, image)
    layer = result.layers[0]
    assert np.array_equal(layer.rgb, image[layer.y:layer.y + layer.rgb.shape[0],
                                           layer.x:layer.x + layer.rgb.shape[1]])


@pytest.mark.parametrize("kwargs, words", [
    (dict(mask=np.zeros((10, 12), np.uint8)), "same size"),
    (dict(mask=np.zeros((64, 64), np.uint8)), "empty"),
    (dict(mode="oil"), "mode must be one of photo, painterly, not 'oil'"),
    (dict(strength=1.5), "strength must be between 0 and 1"),
    (dict(strength=-0.1), "strength must be between 0 and 1"),
    (dict(mask=np.full((64, 64), 255, np.uint8)), "no background"),
    (dict(quality="ultra"), "quality must be one of"),
    (dict(seed=-1), "seed must be between"),
    (dict(mode="painterly", iterations=2001), "iterations must be between 1 and 2000, not 2001"),
])
def test_bad_input_gets_a_one_line_reason(kwargs, words):
    image, mask = composite(64, 64)
    args = {"mask": mask, **kwargs}
    with pytest.raises(InputError) as err:
        harmonize(image, **args)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_photo_is_deterministic():
    image, mask = composite()
    a, b = harmonize(image, mask), harmonize(image, mask)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.layers[0].mask, b.layers[0].mask)


@pytest.mark.parametrize("mode", ["photo", "painterly"])
def test_cancel_stops_the_job(mode):
    image, mask = composite(64, 64)
    kwargs = TINY if mode == "painterly" else {}
    with pytest.raises(Cancelled):
        harmonize(image, mask, **{**kwargs, "mode": mode}, cancelled=lambda: True)


def test_painterly_cancel_between_iterations_and_progress_is_monotonic():
    image, mask = composite(64, 64)
    seen, calls = [], []

    def cancelled():
        calls.append(1)
        return len(calls) > 4

    with pytest.raises(Cancelled):
        harmonize(image, mask, **{**TINY, "iterations": 5}, cancelled=cancelled,
                  progress=lambda f, stage: seen.append(f))
    assert 0 < max(seen) < 1 and seen == sorted(seen)


def test_photo_progress_ends_at_one():
    image, mask = composite()
    seen = []
    harmonize(image, mask, progress=lambda f, stage: seen.append((f, stage)))
    assert seen[-1] == (1.0, "done") and all(0 <= f <= 1 for f, _ in seen)


# ---------------------------------------------------------------- photo mode

def test_statistics_move_the_stated_fraction_of_the_way():
    rng = np.random.default_rng(3)
    lab = np.empty((40, 40, 3), np.float32)
    lab[:] = rng.normal((60, 5, -5), (6, 3, 2), (40, 40, 3))
    weights = np.zeros((40, 40), np.float32)
    weights[10:30, 10:30] = 1.0
    lab[10:30, 10:30] = rng.normal((40, 30, 10), (4, 2, 3), (20, 20, 3))
    ring = hz.surroundings((weights * 255).astype(np.uint8), 5)
    for strength in (1.0, 0.5):
        out = hz.match_statistics(lab, weights, ring, strength)
        obj, obj_out = lab[10:30, 10:30].reshape(-1, 3), out[10:30, 10:30].reshape(-1, 3)
        around = lab[ring]
        want_mean = obj.mean(0) + hz.MEAN_SHIFT * strength * (around.mean(0) - obj.mean(0))
        ratio = (around.std(0) + hz.SPREAD_EPS) / (obj.std(0) + hz.SPREAD_EPS)
        want_std = obj.std(0) * ratio ** (hz.SPREAD_SHIFT * strength)
        np.testing.assert_allclose(obj_out.mean(0), want_mean, atol=1e-3)
        np.testing.assert_allclose(obj_out.std(0), want_std, rtol=1e-4)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_photo_moves_a_colour_cast_toward_its_surroundings(strength):
    image, mask = composite(cast=(60, -10, -30))
    core = ~dilated(255 - mask, 3)                      # the object less its edge band
    ring = hz.surroundings(mask, hz.ring_width(mask))
    before = hz.to_lab(image)
    after = hz.to_lab(harmonize(image, mask, strength=strength).image)
    gap_before = before[core].mean(0) - before[ring].mean(0)
    gap_after = after[core].mean(0) - before[ring].mean(0)  # (the feather touches the ring)
    # The means move MEAN_SHIFT * strength of the way; the spreads are alike, so the colour
    # gap between object and surroundings shrinks by that much, in the same direction.
    shrink = np.linalg.norm(gap_after) / np.linalg.norm(gap_before)
    cosine = gap_after @ gap_before / np.linalg.norm(gap_after) / np.linalg.norm(gap_before)
    assert np.linalg.norm(gap_before) > 30
    assert abs(shrink - (1 - hz.MEAN_SHIFT * strength)) < 0.06 and cosine > 0.99


def test_halo_is_replaced_and_clean_edges_are_left_alone():
    h = w = 64
    image = np.zeros((h, w, 3), np.uint8)
    image[:] = (40, 60, 200)                          # blue background
    mask = np.zeros((h, w), np.uint8)
    mask[16:48, 16:48] = 255
    image[16:48, 16:48] = (220, 40, 40)               # red object
    image[16:48, 16] = image[16:48, 47] = (255, 255, 255)   # a white halo on two sides
    image[16, 17:47] = (130, 50, 120)                 # a clean, antialiased edge on another
    result = harmonize(image, mask, strength=0.01)
    out = result.image.astype(int)
    halo = np.r_[out[20:44, 16], out[20:44, 47]]
    assert np.abs(halo - (255, 255, 255)).max(axis=1).min() > 60
    # Now a blend of the object and the background, as an antialiased edge is.
    red, blue = np.array((220, 40, 40)), np.array((40, 60, 200))
    _, off = hz.blend_position(halo.astype(np.float32), red, blue)
    assert off.max() < 4
    np.testing.assert_allclose(out[16, 20:44], np.tile((130, 50, 120), (24, 1)), atol=3)


def test_photo_is_fast_on_a_large_image():
    image, mask = composite(1024, 1024)
    start = time.perf_counter()
    harmonize(image, mask)
    assert time.perf_counter() - start < 3.0    # about 0.2 s on 2 cores; loose for busy CI


# ---------------------------------------------------------------- painterly mode

def test_painterly_paints_the_object_with_the_backgrounds_own_marks():
    """A flat grey square pasted on a painting of red and blue strokes: painterly mode
    repaints the square with the strokes' colours and texture, copied from around it."""
    yy, xx = np.mgrid[0:96, 0:96]
    strokes = ((xx + yy) // 4) % 2 == 0
    image = np.where(strokes[..., None], np.array([200, 40, 30]), np.array([30, 50, 170])).astype(np.uint8)
    mask = np.zeros((96, 96), np.uint8)
    mask[32:64, 32:64] = 255
    image[mask > 0] = 128
    result = harmonize(image, mask, mode="painterly", seed=1).image
    inner = result[36:60, 36:60].reshape(-1, 3).astype(float)
    palette = np.array([[200, 40, 30], [30, 50, 170]], float)
    nearest = np.linalg.norm(inner[:, None] - palette, axis=2).min(axis=1)
    assert np.median(nearest) < 60                # the background's colours, not grey
    assert inner.std(axis=0).mean() > 30          # and its texture, not a flat fill
