"""Select Subject / Refine Selection (engine.segment): synthetic scenes, no downloaded data."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstyle import models
from maskstyle.engine import refine as refine_module
from maskstyle.engine import segment as seg
from maskstyle.engine.segment import TARGETS, SegmentResult, segment
from maskstyle.errors import Cancelled, InputError, ModelError


def scene(h: int = 96, w: int = 96, centre=None, radius: int = 26, seed: int = 0):
    """A warm checkered disc on cool noisy stripes; returns (image, disc mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = centre or (h / 2, w / 2)
    stripes = (((xx + 2 * yy) // 5) % 2)[..., None]
    background = np.where(stripes, [40, 90, 140], [60, 130, 110])
    checks = (((xx // 4) + (yy // 4)) % 2)[..., None]
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2
    foreground = np.where(checks, [200, 120, 50], [235, 175, 85])
    image = np.where(disc[..., None], foreground, background) + rng.normal(0, 8, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8), disc


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def shrink(mask: np.ndarray, px: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.erode(mask.astype(np.uint8), kernel) > 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def as_hint(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.uint8) * 255


@pytest.fixture
def no_models(tmp_path, monkeypatch):
    """A models folder with nothing in it: the weight-free paths run."""
    monkeypatch.setenv("MASKSTYLE_MODELS_DIR", str(tmp_path / "empty"))


# --- refine -----------------------------------------------------------------------------------

@pytest.mark.parametrize("degrade, px", [(grow, 7), (shrink, 5)])
def test_refine_recovers_the_object_from_a_rough_hint(degrade, px):
    image, disc = scene()
    hint = degrade(disc, px)
    result = segment(image, "refine", as_hint(hint))
    assert isinstance(result, SegmentResult)
    assert result.mask.shape == disc.shape and result.mask.dtype == np.uint8
    assert result.method == "mincut"
    got = iou(result.mask >= 128, disc)
    assert got >= 0.9, got
    assert got >= iou(hint, disc) + 0.1        # it did better than handing the hint back


def test_refine_has_soft_edges_and_solid_inside():
    image, disc = scene()
    mask = segment(image, "refine", as_hint(grow(disc, 7))).mask
    inner, outer = shrink(disc, 4), ~grow(disc, 4)
    assert mask[inner].min() >= 250 and mask[outer].max() <= 5
    edge = grow(disc, 2) & ~shrink(disc, 2)
    assert ((mask[edge] > 10) & (mask[edge] < 245)).any()   # feathered, not a hard step


def test_refine_from_a_box_uses_grabcut():
    image, disc = scene(centre=(50, 44), radius=22)
    ys, xs = np.nonzero(disc)
    box = np.zeros_like(disc)
    box[ys.min() - 3: ys.max() + 4, xs.min() - 3: xs.max() + 4] = True
    result = segment(image, "refine", as_hint(box))
    assert result.method == "grabcut"
    assert iou(result.mask >= 128, disc) >= 0.85


def test_refine_works_downscaled_on_a_large_image(monkeypatch):
    monkeypatch.setattr(refine_module, "WORK_SIDE", 64)          # force the downscale-and-upsample path
    image, disc = scene(h=200, w=260, radius=60)
    mask = segment(image, "refine", as_hint(grow(disc, 12))).mask
    assert mask.shape == (200, 260)
    assert iou(mask >= 128, disc) >= 0.9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=st.integers(0, 47), y=st.integers(0, 39), w=st.integers(1, 48), h=st.integers(1, 40),
       flat=st.booleans(), seed=st.integers(0, 3))
def test_refine_never_returns_an_empty_mask(x, y, w, h, flat, seed):
    image, _ = scene(h=40, w=48, radius=12, seed=seed)
    if flat:
        image[:] = 128                                   # nothing for the colour models to use
    hint = np.zeros((40, 48), np.uint8)
    hint[y: y + h, x: x + w] = 255
    mask = segment(image, "refine", hint).mask
    assert mask.shape == hint.shape
    assert (mask >= 128).any()


def test_refine_keeps_a_hint_that_covers_everything():
    image, _ = scene(h=32, w=32, radius=8)
    mask = segment(image, "refine", np.full((32, 32), 255, np.uint8)).mask
    assert (mask >= 128).mean() > 0.9


def test_a_faint_feathered_hint_still_counts():
    image, disc = scene()
    hint = (grow(disc, 7) * 60).astype(np.uint8)        # never reaches 128
    assert (segment(image, "refine", hint).mask >= 128).any()


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("hint, words", [
    (None, "needs a hint"),
    (np.zeros((96, 96), np.uint8), "empty"),
    (np.full((50, 96), 255, np.uint8), "same size"),
    (np.full((96, 96, 3), 255, np.uint8), "grayscale"),
    (np.full((96, 96), 1.0, np.float32), "grayscale"),
])
def test_bad_hints_give_one_clear_line(hint, words):
    image, _ = scene()
    with pytest.raises(InputError) as err:
        segment(image, "refine", hint)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("image", [
    np.zeros((96, 96), np.uint8),                  # grayscale
    np.zeros((96, 96, 4), np.uint8),               # RGBA
    np.zeros((96, 96, 3), np.float32),             # not 8-bit
    [[0, 0, 0]],                                   # not an array at all
    np.zeros((4, 96, 3), np.uint8),                # too small to segment
])
def test_non_rgb_input_is_refused(image):
    with pytest.raises(InputError) as err:
        segment(image, "subject")
    assert "\n" not in str(err.value)


def test_unknown_target_is_refused():
    image, _ = scene()
    with pytest.raises(InputError, match="target must be one of subject, person, refine"):
        segment(image, "everything")
    assert TARGETS == ("subject", "person", "refine")


# --- subject and person without weights -------------------------------------------------------

def test_subject_without_weights_finds_the_disc(no_models):
    image, disc = scene()
    result = segment(image, "subject")
    assert result.method == "saliency+mincut"
    assert iou(result.mask >= 128, disc) >= 0.8


def test_subject_follows_the_hint_as_a_location_cue(no_models):
    left_image, left = scene(centre=(48, 26), radius=16)
    right_image, right = scene(centre=(48, 70), radius=16)
    image = np.where(right[..., None], right_image, left_image)
    mask = segment(image, "subject", as_hint(grow(right, 4))).mask >= 128
    assert iou(mask, right) >= 0.7
    assert (mask & left).sum() < 0.1 * left.sum()


def test_person_without_weights_says_so(no_models):
    image, _ = scene()
    result = segment(image, "person")
    assert result.method == "saliency+mincut (person model not installed)"
    assert result.mask.shape == (96, 96)
    (warning,) = result.warnings
    assert "person model is not installed" in warning and "maskstyle models install deeplabv3" in warning
    assert segment(image, "subject").warnings == ()


def test_progress_reaches_one_and_cancel_stops(no_models):
    image, disc = scene()
    seen = []
    segment(image, "refine", as_hint(grow(disc, 7)), progress=lambda f, s: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        segment(image, "subject", cancelled=lambda: True)


# --- DeepLabV3 through the registry -----------------------------------------------------------

def _install(folder, monkeypatch, payload_path):
    """Point the registry's deeplabv3 entry at a test-made file in `folder`."""
    w = models.REGISTRY["deeplabv3"]
    monkeypatch.setenv("MASKSTYLE_MODELS_DIR", str(folder))
    monkeypatch.setitem(models.REGISTRY, "deeplabv3", dataclasses.replace(
        w, sha256=models.sha256_of(payload_path), size=payload_path.stat().st_size))
    return folder / w.filename


@pytest.fixture(scope="module")
def random_deeplab(tmp_path_factory):
    """A weight file with DeepLabV3's keys and shapes (random init), made once."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    torch.manual_seed(0)
    net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    path = tmp_path_factory.mktemp("weights") / models.REGISTRY["deeplabv3"].filename
    torch.save(net.state_dict(), path)
    yield path
    seg._deeplab.cache_clear()


def test_deeplab_path_builds_from_the_registry_file(random_deeplab, monkeypatch):
    _install(random_deeplab.parent, monkeypatch, random_deeplab)
    monkeypatch.setattr(seg, "DEEPLAB_SIDE", 96)       # random weights: only shapes matter
    assert models.is_installed("deeplabv3")
    image, _ = scene(h=96, w=80)
    probs = seg.class_probabilities(image)
    assert probs.shape[0] == 21 and probs.shape[1:] == (115, 96)   # shorter side to 96
    assert np.allclose(probs.sum(axis=0), 1.0, atol=1e-4)
    for target in ("subject", "person"):
        result = segment(image, target)
        assert result.mask.shape == (96, 80) and result.mask.dtype == np.uint8
        assert result.method.startswith(("deeplabv3", "saliency+mincut (deeplabv3 found no"))
    assert seg.load_deeplab("cpu") is seg.load_deeplab("cpu")    # kept warm between jobs


def test_a_corrupt_weight_file_is_refused_with_how_to_install(random_deeplab, tmp_path,
                                                             monkeypatch):
    target = _install(tmp_path, monkeypatch, random_deeplab)
    data = bytearray(random_deeplab.read_bytes())
    for i in range(1000, len(data), len(data) // 16):
        data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    image, _ = scene()
    with pytest.raises(ModelError) as err:
        segment(image, "person")
    assert "corrupt" in str(err.value)
    assert "maskstyle models install deeplabv3" in str(err.value)


def test_a_weight_file_for_another_network_is_refused(tmp_path, monkeypatch):
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    target = _install(tmp_path, monkeypatch, other)
    other.rename(target)
    with pytest.raises(ModelError, match="does not fit the network.*models install deeplabv3"):
        segment(scene()[0], "subject")


# --- the pieces: exact min cut, edge weights ---------------------------------------------------

def test_min_cut_is_exact_and_keeps_the_sure_pixels():
    from maskstyle.engine.mincut import contrast_weights, min_cut
    image = np.zeros((20, 30, 3), np.uint8)
    cost = np.ones((20, 30), np.float32)
    cost[:, :15] = -1.0                                  # the left half would rather be foreground
    cost[10, 25] = -3.0                                  # a lone speck: not worth its boundary
    sure_fg = np.zeros((20, 30), bool)
    sure_fg[0, 29] = True                                # pinned, whatever it costs
    fg = min_cut(cost, contrast_weights(image), 1.0, sure_fg, np.zeros_like(sure_fg))
    assert fg[:, :14].all() and not fg[1:, 16:].any()
    assert fg[0, 29]


def test_contrast_weights_make_image_edges_cheap_to_cut():
    from maskstyle.engine.mincut import contrast_weights
    image, disc = scene()
    weights = {(dy, dx): w for dy, dx, w in contrast_weights(image)}
    assert set(weights) == {(0, 1), (1, 0), (1, 1), (1, -1)}
    right = weights[(0, 1)]
    across = disc[:, :-1] != disc[:, 1:]                 # pairs straddling the disc's edge
    assert right[:, :-1][across].mean() < 0.5 * right[:, :-1][~across].mean()
    assert (right[:, -1] == 0).all()                     # no neighbour beyond the border


def test_refine_reaches_well_beyond_a_hint_drawn_too_small():
    image, disc = scene(h=128, w=128, radius=40)
    hint = shrink(disc, 12)                              # 12 px short all round
    got = iou(segment(image, "refine", as_hint(hint)).mask >= 128, disc)
    assert got >= 0.9, got


@pytest.mark.parametrize("degrade, px, expected", [(shrink, 10, -10), (grow, 10, 10), (None, 0, 0)])
def test_the_edge_offset_says_how_far_an_even_outline_is_off(degrade, px, expected):
    image, disc = scene(h=128, w=128, radius=40)
    hint = degrade(disc, px) if degrade else disc
    signed = refine_module._signed_distance(hint)
    assert abs(refine_module.edge_offset(image, signed, band=10) - expected) <= 1


@pytest.mark.parametrize("degrade", [shrink, grow])
def test_refine_snaps_an_outline_drawn_evenly_off_the_edge(degrade):
    image, disc = scene(h=128, w=128, radius=40)
    got = iou(segment(image, "refine", as_hint(degrade(disc, 10))).mask >= 128, disc)
    assert got >= 0.95, got


def test_the_edge_offset_ignores_a_flat_image():
    flat = np.full((96, 96, 3), 128, np.uint8)
    _, disc = scene()
    assert refine_module.edge_offset(flat, refine_module._signed_distance(shrink(disc, 8)), band=8) == 0


def test_feather_gives_a_full_size_soft_mask():
    from maskstyle.engine.guided import feather
    image, disc = scene(h=200, w=200, radius=60)
    small = cv2.resize(image, (100, 100), interpolation=cv2.INTER_AREA)
    hard = cv2.resize(disc.astype(np.uint8), (100, 100), interpolation=cv2.INTER_NEAREST) > 0
    soft = feather(small, hard, image)
    assert soft.shape == (200, 200) and soft.dtype == np.uint8
    assert iou(soft >= 128, disc) >= 0.95
    assert ((soft > 10) & (soft < 245)).any()
