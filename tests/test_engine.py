"""The masked style-transfer engine, through its public functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskstyle.engine.encoders import BuiltinEncoder
from maskstyle.engine.losses import gram, masked_gram
from maskstyle.engine.stylize import StylizeOptions, stylize
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
    assert layer.rgb.shape == (h, w, 3) and layer.rgba[..., 3].min() == 255
    assert np.array_equal(layer.mask, mask[layer.y:layer.y + h, layer.x:layer.x + w])
    assert mask.sum() == layer.mask.sum()  # the crop covers the whole selection
    assert result.encoder == "builtin"


def test_same_seed_same_result_and_another_seed_differs(content, style, mask):
    a = stylize(content, mask, style, StylizeOptions(seed=5, **QUICK)).image
    b = stylize(content, mask, style, StylizeOptions(seed=5, **QUICK)).image
    c = stylize(content, mask, style, StylizeOptions(seed=6, **QUICK)).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_strength_zero_returns_the_input(content, style, mask):
    result = stylize(content, mask, style, StylizeOptions(strength=0.0, **QUICK))
    assert np.array_equal(result.image, content)


def test_preserve_color_keeps_the_original_chroma(content, style, mask):
    from maskstyle.engine.color import rgb_to_ycbcr
    from maskstyle.engine.stylize import to_tensor

    result = stylize(content, mask, style, StylizeOptions(preserve_color=True, **QUICK))
    inside = torch.from_numpy(mask == 255)
    chroma_out = rgb_to_ycbcr(to_tensor(result.image, "cpu"))[0, 1:, inside]
    chroma_in = rgb_to_ycbcr(to_tensor(content, "cpu"))[0, 1:, inside]
    assert (chroma_out - chroma_in).abs().mean() < 0.02  # within rounding of 8-bit


@pytest.mark.parametrize("method,optimizer", [("composite", "lbfgs"), ("masked", "adam")])
def test_other_methods_and_optimizers_keep_the_outside(content, style, mask, method, optimizer):
    result = stylize(content, mask, style, StylizeOptions(method=method, optimizer=optimizer, **QUICK))
    assert np.array_equal(result.image[mask == 0], content[mask == 0])


def test_cancel_stops_within_one_iteration(content, style, mask):
    iterations = []
    flag = {"stop": False}

    def progress(fraction, stage):
        if stage.startswith("stylizing") and fraction > 0:
            iterations.append(fraction)
            if len(iterations) == 3:
                flag["stop"] = True  # asked while the third iteration is reported

    with pytest.raises(Cancelled):
        stylize(content, mask, style, StylizeOptions(quality="fast", iterations=50, max_side=48,
                                                     encoder="builtin"),
                progress=progress, cancelled=lambda: flag["stop"])
    assert len(iterations) == 3  # no further iteration ran


def test_progress_reaches_one_and_only_grows(content, style, mask):
    seen = []
    stylize(content, mask, style, StylizeOptions(**QUICK), progress=lambda f, s: seen.append(f))
    assert seen[-1] == 1.0
    assert all(b >= a for a, b in zip(seen, seen[1:]))


@pytest.mark.parametrize("bad,message", [
    (dict(strength=1.5), "strength"), (dict(quality="ultra"), "quality"),
    (dict(method="magic"), "method"), (dict(seed=-1), "seed")])
def test_bad_options_are_named(content, style, mask, bad, message):
    with pytest.raises(InputError, match=message):
        stylize(content, mask, style, StylizeOptions(**{**QUICK, **bad}))


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
