"""Masked neural style transfer on a selection (seeds 000, 001, 004).

The work happens on the selection's bounding box plus a context margin, never the
whole canvas, from coarse to fine scales. Two methods:
- `masked` (default, seed 000): one optimisation of the crop in which the style loss
  uses Gram matrices of mask-weighted features, the mask carried to every layer
  (seed 004), while the content loss holds the whole crop.
- `composite` (seed 001): stylize the crop with the plain Gram loss, then composite.
Either way the result is blended through the soft mask, and where the mask is 0 the
output pixel is the input pixel, bit for bit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from . import color
from .composite import bounding_box, expand_box, paste
from .devices import load_encoder_cached, pick_device
from .losses import content_loss, gram, masked_gram, style_loss, tv_loss
from .progress import CancelFn, ProgressFn, Tracker

METHODS = ("masked", "composite")
OPTIMIZERS = ("lbfgs", "adam")
MIN_SIDE = 32


@dataclass(frozen=True)
class Preset:
    max_side: int                 # longest side of the working crop at the finest scale
    scales: tuple[float, ...]     # coarse to fine, as fractions of max_side
    iterations: tuple[int, ...]   # per scale


PRESETS = {
    "fast": Preset(384, (0.5, 1.0), (30, 40)),
    "balanced": Preset(512, (0.5, 1.0), (60, 80)),
    "best": Preset(1024, (0.25, 0.5, 1.0), (100, 100, 150)),
}


@dataclass
class StylizeOptions:
    quality: str = "balanced"
    strength: float = 1.0
    preserve_color: bool = False
    seed: int = 0
    encoder: str = "auto"
    method: str = "masked"
    optimizer: str = "lbfgs"
    iterations: int | None = None   # per scale; overrides the preset
    max_side: int | None = None     # overrides the preset
    margin: float = 0.15            # context around the selection, as a share of its size
    style_weight: float = 20.0
    content_weight: float = 1.0
    tv_weight: float = 10.0
    device: str | None = None

    def validate(self) -> None:
        if self.quality not in PRESETS:
            raise InputError(f"quality must be one of {', '.join(PRESETS)}, not '{self.quality}'")
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"strength must be between 0 and 1, not {self.strength}")
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}, not '{self.method}'")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not '{self.optimizer}'")
        if not 0 <= self.seed < 2**31:
            raise InputError(f"seed must be between 0 and {2**31 - 1}, not {self.seed}")
        if self.iterations is not None and not 1 <= self.iterations <= 5000:
            raise InputError(f"iterations must be between 1 and 5000, not {self.iterations}")
        if self.max_side is not None and not MIN_SIDE <= self.max_side <= 8192:
            raise InputError(f"max_side must be between {MIN_SIDE} and 8192, not {self.max_side}")
        if not 0.0 <= self.margin <= 2.0:
            raise InputError(f"margin must be between 0 and 2, not {self.margin}")

    def plan(self) -> Preset:
        preset = PRESETS[self.quality]
        iters = preset.iterations if self.iterations is None else (self.iterations,) * len(preset.scales)
        return Preset(self.max_side or preset.max_side, preset.scales, iters)


@dataclass
class Layer:
    """One result layer as GIMP receives it: opaque RGB crop at (x, y), and its mask."""

    name: str
    x: int
    y: int
    rgb: np.ndarray    # (h, w, 3) uint8
    mask: np.ndarray   # (h, w) uint8, 0 = keep the original

    @property
    def rgba(self) -> np.ndarray:
        alpha = np.full(self.mask.shape + (1,), 255, np.uint8)
        return np.concatenate([self.rgb, alpha], axis=2)


@dataclass
class StylizeResult:
    image: np.ndarray          # the full composite (H, W, 3) uint8
    layers: list[Layer]
    encoder: str
    device: str
    timings: dict = field(default_factory=dict)


def to_tensor(array: np.ndarray, device) -> torch.Tensor:
    """uint8 (H, W, C) or (H, W) -> float (1, C, H, W) in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(array)).to(device=device, dtype=torch.float32) / 255.0
    return t.unsqueeze(0).unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).unsqueeze(0).contiguous()


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    return (t[0].clamp(0, 1).permute(1, 2, 0) * 255.0).round().to(torch.uint8).cpu().numpy()


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N, C, H, W) to (h, w): area when shrinking, bicubic when growing."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    if size[0] < t.shape[-2] and size[1] < t.shape[-1]:
        return F.interpolate(t, size=size, mode="area")
    return F.interpolate(t, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def fit(height: int, width: int, longest: int) -> tuple[int, int]:
    """(h, w) scaled so the longest side is `longest`, never below MIN_SIDE."""
    s = longest / max(height, width)
    return max(MIN_SIDE, round(height * s)), max(MIN_SIDE, round(width * s))


def check_inputs(image: np.ndarray, mask: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError("the image must be 8-bit RGB")
    if mask.shape != image.shape[:2]:
        raise InputError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}; they must be the same size")
    if not mask.any():
        raise InputError("the mask is empty: nothing is selected")


def crop_box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    box = bounding_box(mask)
    pad = max(8, round(margin * max(box[2] - box[0], box[3] - box[1])))
    return expand_box(box, mask.shape[1], mask.shape[0], pad)


class StyleTargets:
    """Gram matrices of a style image at one size, for one encoder; reusable across jobs."""

    def __init__(self, encoder, style: torch.Tensor, region: torch.Tensor | None = None):
        with torch.no_grad():
            feats = encoder(style)
            if region is None:
                self.grams = {n: gram(feats[n]) for n in encoder.style_layers}
            else:
                masks = encoder.carry_mask(region)
                self.grams = {n: masked_gram(feats[n], masks[n]) for n in encoder.style_layers}


def style_key(style: np.ndarray, encoder: str, size, luminance: bool, device) -> str:
    h = hashlib.blake2b(style.tobytes(), digest_size=16)
    h.update(repr((style.shape, encoder, tuple(size), luminance, str(device))).encode())
    return h.hexdigest()


def style_targets(encoder, style_np: np.ndarray, size, luminance: bool, device,
                  cache: dict | None = None) -> StyleTargets:
    """Style Grams for a style image resized so its longest side is `size`'s."""
    key = style_key(style_np, encoder.name, size, luminance, device)
    if cache is not None and key in cache:
        return cache[key]
    style = to_tensor(style_np, device)
    style = resize(style, fit(style.shape[-2], style.shape[-1], max(size)))
    if luminance:
        style = color.luminance(style)
    targets = StyleTargets(encoder, style)
    if cache is not None:
        cache[key] = targets
    return targets


def _optimise(x, loss_fn, iterations, optimizer, tracker):
    x.requires_grad_(True)
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20)
    else:
        opt = torch.optim.Adam([x], lr=0.02)

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        return loss

    for _ in range(iterations):
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
        tracker.step()
    return x.detach()


def stylize(image: np.ndarray, mask: np.ndarray, style: np.ndarray,
            options: StylizeOptions | None = None, progress: ProgressFn | None = None,
            cancelled: CancelFn | None = None, cache: dict | None = None,
            layer_name: str = "Stylized") -> StylizeResult:
    """Restyle the masked part of `image` (uint8 RGB) with `style` (uint8 RGB).

    `mask` is uint8 (H, W), soft allowed: 0 keeps the original, 255 is fully restyled.
    """
    options = options or StylizeOptions()
    options.validate()
    check_inputs(image, mask)
    if style.ndim != 3 or style.shape[2] != 3:
        raise InputError("the style image must be RGB")
    plan = options.plan()
    tracker = Tracker(sum(plan.iterations) + 2, progress, cancelled)
    tracker.set_stage("preparing")

    device = pick_device(options.device)
    encoder = load_encoder_cached(options.encoder, device)
    x0, y0, x1, y1 = crop_box(mask, options.margin)
    content_np, mask_np = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]

    if options.strength == 0.0:  # nothing to do: the layer is the original
        tracker.finish()
        layer = Layer(layer_name, x0, y0, content_np.copy(), mask_np.copy())
        return StylizeResult(image.copy(), [layer], encoder.name, str(device))

    content_full = to_tensor(content_np, device)
    mask_full = to_tensor(mask_np, device)
    if options.preserve_color:
        content_work = color.luminance(content_full)
    else:
        content_work = content_full
    gen = torch.Generator().manual_seed(options.seed)
    style_t = to_tensor(style, device)
    if options.preserve_color:
        style_t = color.luminance(style_t)
    weight = options.style_weight * options.strength ** 2

    x = None
    for level, (scale, iters) in enumerate(zip(plan.scales, plan.iterations)):
        size = fit(*content_full.shape[-2:], round(plan.max_side * scale))
        size = tuple(min(a, b) for a, b in zip(size, _no_upscale(content_full, size)))
        tracker.set_stage(f"style targets {level + 1}/{len(plan.scales)}")
        targets = style_targets(encoder, style, size, options.preserve_color, device, cache).grams
        content = resize(content_work, size)
        if options.preserve_color:
            content = color.luminance(content)
        m = resize(mask_full, size).clamp(0, 1)
        if options.method == "composite":
            m = torch.ones_like(m)
        layer_masks = encoder.carry_mask(m)
        with torch.no_grad():
            content_target = encoder(content)[encoder.content_layer]
        if x is None:
            x = _initial_image(content, m, resize(style_t, size), gen)
        else:
            x = resize(x, size)

        def loss_fn(img, content_target=content_target, layer_masks=layer_masks, targets=targets):
            feats = encoder(img)
            grams = {n: masked_gram(feats[n], layer_masks[n]) for n in encoder.style_layers}
            return (weight * style_loss(grams, targets)
                    + options.content_weight * content_loss(feats[encoder.content_layer], content_target)
                    + options.tv_weight * tv_loss(img))

        tracker.set_stage(f"stylizing, scale {level + 1}/{len(plan.scales)}")
        x = _optimise(x.clone(memory_format=torch.contiguous_format), loss_fn, iters, options.optimizer, tracker)

    tracker.set_stage("compositing")
    out = resize(x, tuple(content_full.shape[-2:]))
    if options.preserve_color:
        out = color.keep_colours(out, content_full)
    result_np = to_uint8(out)
    composite = paste(image, result_np, mask_np, x0, y0)
    tracker.finish()
    layer = Layer(layer_name, x0, y0, result_np, mask_np.copy())
    return StylizeResult(composite, [layer], encoder.name, str(device))


def _initial_image(content, mask, style, gen):
    """The content with the selected part moved to the style's colours, plus seeded noise.

    Starting from the style's palette lets the optimisation spend itself on texture.
    """
    inside = mask > 0.5
    if inside.sum() < 4:
        inside = mask > 0
    sel = content[:, :, inside[0, 0]].unsqueeze(-1)
    matched = ((content - sel.mean(dim=2, keepdim=True)) / (sel.std(dim=2, keepdim=True) + 1e-3)
               * style.std(dim=(2, 3), keepdim=True) + style.mean(dim=(2, 3), keepdim=True))
    noise = torch.randn(content.shape, generator=gen).to(content.device)
    x = content + mask * (matched - content) + 0.02 * noise * mask
    return x.clamp(0, 1)


def _no_upscale(content: torch.Tensor, size):
    """Work at most at the crop's own resolution (tiny crops still get MIN_SIDE)."""
    h, w = content.shape[-2:]
    return (max(h, MIN_SIDE) if size[0] > h else size[0], max(w, MIN_SIDE) if size[1] > w else size[1])
