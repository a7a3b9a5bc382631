"""The masked style-transfer engine, through its public functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from maskstyle_wire import contract

from maskstyle.engine.encoders import BuiltinEncoder
from maskstyle.engine.losses import gram, masked_gram
from maskstyle.engine.patch_synthesis import PLANS, match_bands
from maskstyle.engine.stylize import PRESETS, StylizeOptions, stylize, stylize_regions
from maskstyle.engine.tensors import working_size
from maskstyle.errors import Cancelled, InputError

QUICK = dict(quality="fast", iterations=3, max_side=48, encoder="builtin")


def test_masked_gram_with_all_ones_mask_is_the_plain_gram():
    feats = torch.randn(2, 7, 9, 11)
    ones = torch.ones(2, 1, 9, 11)
    assert torch.allclose(masked_gram(feats, ones), gram(feats), atol=1e-6)


def test_masked_gram_only_sees_the_masked_positions():
    feats = torch.randn(1, 4, 6, 6)
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :3, :] = 1
    assert torch.allclose(masked_gram(feats, mask), gram(feats[..., :3, :]), atol=1e-6)


@pytest.mark.parametrize("size", [(64, 80), (37, 53), (32, 32)])
def test_mask_carried_to_every_layer_at_its_resolution(size):
    enc = BuiltinEncoder()
    x = torch.rand(1, 3, *size)
    feats, masks = enc(x), enc.carry_mask(torch.ones(1, 1, *size))
    assert feats.keys() == masks.keys()
    for name in enc.style_layers + (enc.content_layer,):
        assert masks[name].shape[-2:] == feats[name].shape[-2:], name
        assert masks[name].shape[1] == 1


def test_carried_mask_halves_at_pooling_and_stays_in_range():
    enc = BuiltinEncoder()
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    masks = enc.carry_mask(mask)
    assert masks["level1"].shape[-1] == 32 and masks["level3"].shape[-1] == 8
    for m in masks.values():
        assert float(m.min()) >= 0 and float(m.max()) <= 1 + 1e-6


def test_pixels_outside_the_mask_are_bit_identical(content, style, mask):
    result = stylize(content, mask, style, StylizeOptions(**QUICK))
    outside = mask == 0
    assert outside.any()
    assert np.array_equal(result.image[outside], content[outside])
    inside = mask == 255
    assert np.abs(result.image[inside].astype(int) - content[inside]).mean() > 5


def test_result_layer_sits_on_the_selection_with_its_mask(content, style, mask):
    result = stylize(content, mask, style, StylizeOptions(**QUICK))
    (layer,) = result.layers
    h, w = layer.mask.shape
    assert layer.rgb.shape == (h, w, 3) and np.array_equal(layer.rgba[..., 3], layer.mask)
    assert np.array_equal(layer.mask, mask[layer.y:layer.y + h, layer.x:layer.x + w])
    assert mask.sum() == layer.mask.sum()  # the crop covers the whole selection
    assert result.encoder == "none"  # the default, patch synthesis, needs no encoder
    assert stylize(content, mask, style, StylizeOptions(method="neural", **QUICK)).encoder == "builtin"


def test_same_seed_same_result_and_another_seed_differs(content, style, mask):
    """Bit for bit at one thread count. The engine picks its threads by the machine's load
    (engine/threads.py), and float sums in another order can round a pixel the other way:
    at most a level of 255 on a few pixels, never a different picture."""
    a = stylize(content, mask, style, StylizeOptions(seed=5, **QUICK)).image.astype(int)
    b = stylize(content, mask, style, StylizeOptions(seed=5, **QUICK)).image.astype(int)
    c = stylize(content, mask, style, StylizeOptions(seed=6, **QUICK)).image.astype(int)
    assert np.abs(a - b).max() <= 1 and (a != b).any(axis=2).mean() < 0.005
    assert np.abs(a - c).max() > 20


def test_same_seed_is_bit_exact_at_a_fixed_thread_count(content, style, mask, monkeypatch):
    from maskstyle.engine import threads

    monkeypatch.setattr(threads, "threads_now", lambda: 1)
    a = stylize(content, mask, style, StylizeOptions(seed=5, **QUICK)).image
    b = stylize(content, mask, style, StylizeOptions(seed=5, **QUICK)).image
    assert np.array_equal(a, b)


def test_strength_zero_returns_the_input(content, style, mask):
    result = stylize(content, mask, style, StylizeOptions(strength=0.0, **QUICK))
    assert np.array_equal(result.image, content)


def test_preserve_color_keeps_the_original_chroma(content, style, mask):
    from maskstyle.engine.color import rgb_to_ycbcr
    from maskstyle.engine.tensors import to_tensor

    result = stylize(content, mask, style, StylizeOptions(preserve_color=True, **QUICK))
    inside = torch.from_numpy(mask == 255)
    chroma_out = rgb_to_ycbcr(to_tensor(result.image, "cpu"))[0, 1:, inside]
    chroma_in = rgb_to_ycbcr(to_tensor(content, "cpu"))[0, 1:, inside]
    assert (chroma_out - chroma_in).abs().mean() < 0.02  # within rounding of 8-bit


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_neural_method_with_either_optimizer_keeps_the_outside(content, style, mask, optimizer):
    result = stylize(content, mask, style, StylizeOptions(method="neural", optimizer=optimizer, **QUICK))
    assert np.array_equal(result.image[mask == 0], content[mask == 0])
    assert np.abs(result.image[mask == 255].astype(int) - content[mask == 255]).mean() > 5


@pytest.mark.parametrize("method,stage", [("patch", "painting"), ("neural", "painting, pass")])
def test_cancel_stops_within_one_iteration(content, style, mask, method, stage):
    iterations = []
    flag = {"stop": False}

    def progress(fraction, name):
        if name.startswith(stage) and fraction > 0:
            iterations.append(fraction)
            if len(iterations) == 3:
                flag["stop"] = True  # asked while the third iteration is reported

    with pytest.raises(Cancelled):
        stylize(content, mask, style, StylizeOptions(quality="fast", iterations=10, max_side=48,
                                                     encoder="builtin", method=method),
                progress=progress, cancelled=lambda: flag["stop"])
    assert len(iterations) == 3  # no further iteration ran


@pytest.mark.parametrize("method", ["patch", "neural"])
def test_half_strength_changes_the_region_half_as_much(content, style, mask, method):
    def change(strength):
        out = stylize(content, mask, style, StylizeOptions(strength=strength, method=method, **QUICK))
        return np.abs(out.image.astype(float) - content)[mask == 255].mean()

    full, half = change(1.0), change(0.5)
    assert full > 10
    assert half == pytest.approx(full / 2, rel=0.05)


def test_patch_synthesis_paints_with_the_paintings_colours_and_keeps_the_shapes():
    """A grey photo of a light disc on a dark ground (half and half, as light and dark are
    in the painting), and a painting with light yellow strokes above and dark blue strokes
    below: inside the selection the result is made of the painting's colours, and the disc
    is still where it was, in the light marks."""
    yy, xx = np.mgrid[0:96, 0:96]
    disc = np.hypot(yy - 48, xx - 48) < 30
    grain = np.random.default_rng(0).normal(0, 8, (96, 96))
    photo = np.clip(np.where(disc, 200, 50) + grain, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    rows, cols = np.mgrid[0:64, 0:64]
    stroke = ((cols // 3) % 2 == 0)[..., None]
    light = np.where(stroke, np.array([240, 200, 60]), np.array([200, 150, 40]))
    dark = np.where(stroke, np.array([30, 40, 140]), np.array([10, 20, 90]))
    painting = np.where((rows < 32)[..., None], light, dark).astype(np.uint8)
    mask = np.zeros((96, 96), np.uint8)
    mask[8:88, 8:88] = 255
    out = stylize(photo, mask, painting, StylizeOptions(quality="fast", seed=1)).image[16:80, 16:80]

    palette = np.array([[240, 200, 60], [200, 150, 40], [30, 40, 140], [10, 20, 90]], float)
    nearest = np.linalg.norm(out[:, :, None, :].astype(float) - palette, axis=3).min(axis=2)
    assert np.median(nearest) < 40  # the painting's own colours, not the photo's greys
    yellow = out[..., 0].astype(int) > out[..., 2]
    inside, outside = disc[16:80, 16:80], ~disc[16:80, 16:80]
    assert yellow[inside].mean() > 0.9 and yellow[outside].mean() < 0.25


def _edge_map(rgb: np.ndarray) -> np.ndarray:
    gray = torch.from_numpy(rgb.astype(np.float32).mean(axis=2))[None, None]
    gray = torch.nn.functional.avg_pool2d(gray, 5, 1, 2, count_include_pad=False)[0, 0].numpy()
    gy, gx = np.gradient(gray)
    return np.hypot(gx, gy)


def _stained_glass(size: int, cells: int, seed: int = 0) -> np.ndarray:
    """Pale cells of random colours with thin dark lead lines between them."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (cells, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    distance = np.hypot(yy[..., None] - centres[:, 0], xx[..., None] - centres[:, 1])
    nearest_two = np.sort(distance, axis=2)[..., :2]
    painting = rng.uniform(150, 250, (cells, 3))[distance.argmin(axis=2)]
    painting[nearest_two[..., 1] - nearest_two[..., 0] < 2.0] = 20
    return painting.astype(np.uint8)


def test_the_photos_shapes_survive_a_painting_of_denser_marks():
    """A dark door's faint panel grid, painted with stained glass whose lead lines are
    everywhere: the panels still show in the result (its edges correlate with the photo's at
    about 0.25 on seeds 0 to 2), where without the structure floor of the final band matching
    they correlate at about -0.1 (STRUCTURE_FLOORS)."""
    n = 256
    yy, xx = np.mgrid[0:n, 0:n]
    grid = ((yy % 51) < 6) | ((xx % 51) < 6)
    grain = np.random.default_rng(0).normal(0, 3, (n, n))
    photo = np.clip(np.where(grid, 75, 35) + grain, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    mask = np.zeros((n, n), np.uint8)
    mask[32:224, 32:224] = 255
    out = stylize(photo, mask, _stained_glass(160, 90), StylizeOptions(quality="fast", seed=0)).image
    inside = mask > 127
    kept = np.corrcoef(_edge_map(photo)[inside], _edge_map(out)[inside])[0, 1]
    assert kept > 0.12


def test_band_matching_keeps_the_regions_lightness_against_its_surroundings():
    """A light square on a dark ground, its texture bands matched to a painting of dark
    lines on pale glass: the square's mean lightness stays about what it was (the coarse
    bands' mean is its contrast with its surroundings, not texture). Matching the bands'
    histograms as they were took it from 0.80 to 0.43."""
    x = torch.full((1, 3, 128, 128), 0.15)
    x[..., 32:96, 32:96] = 0.8
    x += 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    weight = torch.zeros(1, 1, 128, 128)
    weight[..., 32:96, 32:96] = 1.0
    painting = torch.from_numpy(_stained_glass(128, 60)).permute(2, 0, 1)[None].float() / 255
    out = match_bands(x, weight, painting)
    inside = weight.expand_as(x) > 0.5
    assert out[inside].mean().item() == pytest.approx(x[inside].mean().item(), abs=0.07)
    assert (out - x)[inside].std() > 0.02  # and its texture is the painting's, not left alone


@pytest.mark.parametrize("bad,message", [
    (dict(strength=1.5), "strength"), (dict(quality="ultra"), "quality"),
    (dict(method="magic"), "method"), (dict(method="masked"), "method"), (dict(seed=-1), "seed"),
    (dict(boundary_tv=50.0), "boundary_tv applies to the neural method only"),
    (dict(encoder="resnet"), "encoder must be one of"), (dict(optimizer="sgd"), "optimizer"),
    (dict(iterations="many"), "iterations must be a whole number")])
def test_bad_options_are_named(content, style, mask, bad, message):
    with pytest.raises(InputError, match=message):
        stylize(content, mask, style, StylizeOptions(**{**QUICK, **bad}))


@pytest.mark.parametrize("name, highest", [("iterations", contract.MAX_ITERATIONS),
                                           ("max_side", contract.MAX_SIDE)])
def test_option_limits_are_the_contracts(name, highest):
    StylizeOptions(**{**QUICK, name: highest}).validate()
    with pytest.raises(InputError, match=f"{name} must be between .* and {highest}, not {highest + 1}"):
        StylizeOptions(**{**QUICK, name: highest + 1}).validate()


def test_options_are_converted_by_the_contract():
    options = StylizeOptions(**{**QUICK, "iterations": 3.0, "strength": 1})
    options.validate()
    assert options.iterations == 3 and isinstance(options.iterations, int)
    assert options.strength == 1.0 and isinstance(options.strength, float)


def test_quality_presets_are_the_contracts_qualities():
    qualities = set(contract.choice_values("stylize", "quality"))
    assert set(PRESETS) == set(PLANS) == qualities


def test_more_regions_than_the_contract_allows_are_refused(content, style, mask):
    regions = [(mask, style)] * (contract.MAX_REGIONS + 1)
    with pytest.raises(InputError, match=f"at most {contract.MAX_REGIONS} regions"):
        stylize_regions(content, regions, options=StylizeOptions(**QUICK))


@pytest.mark.parametrize("shape, longest, expected", [
    ((400, 200), 100, (100, 50)),      # shrunk to fit
    ((40, 20), 100, (40, 32)),         # never above the crop's own size, never below MIN_SIDE
    ((10, 10), 100, (32, 32)),         # a tiny crop still gets MIN_SIDE
])
def test_working_size(shape, longest, expected):
    assert working_size(*shape, longest) == expected


def test_mask_of_another_size_and_empty_mask_are_refused(content, style, mask):
    with pytest.raises(InputError, match="same size"):
        stylize(content, mask[:-1], style, StylizeOptions(**QUICK))
    with pytest.raises(InputError, match="empty"):
        stylize(content, np.zeros_like(mask), style, StylizeOptions(**QUICK))


def test_tiny_selection_still_works(content, style):
    mask = np.zeros(content.shape[:2], np.uint8)
    mask[30:33, 40:42] = 255
    result = stylize(content, mask, style, StylizeOptions(**QUICK))
    assert np.array_equal(result.image[mask == 0], content[mask == 0])
