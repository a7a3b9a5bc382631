"""Style transfer on a selection: the selection's bounding box plus a context margin is
worked on, never the whole canvas, and the result is blended back through the soft mask;
where the mask is 0 the output pixel is the input pixel, bit for bit.

Two methods (`StylizeOptions.method`):
- `patch` (the default): texture synthesis from the painting's own patches (Elad and
  Milanfar 2017), in engine/patch_synthesis.py. Weight-free and fast.
- `neural`: the crop's pixels are optimised, coarse to fine, against Gram matrices of
  encoder features (Gatys et al. 2016) computed under the mask, the mask carried to every
  layer (Wells, Wood and Xiao, "Localized Style Transfer With Semantic Segmentation";
  Zhou, "Partial Style Transferring"), with content and total-variation losses.

`stylize_regions` runs several (mask, style) regions, and optionally a `rest` style for
what no mask covers, in one run; `stylize` is its one-region case. With `patch`, each
region copies from its own painting. With `neural` (`regions_method`):
- `masked`: each region has its own masked style loss; where soft masks overlap, their
  losses mix;
- `surrogate`: one style image assembled from the styles, each pasted into its region,
  with one masked style loss and a content loss on it that ties each region to its own
  style (Tamir, "A Smoother Segmentation-Based Style Transfer").
Options add a TV loss weighted by closeness to region borders (Tamir's boundary smoothing)
and a seam (engine/seams.py) for the edge between the result and the original.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from maskstyle_wire.contract import MAX_REGIONS, STYLIZE

from ..errors import InputError
from . import color
from .composite import bounds, crop_rect, paste, whole
from .devices import load_encoder_cached, pick_device
from .inputs import check_inputs, check_params
from .losses import content_loss, gram, masked_gram, style_loss, tv_loss
from .patch_synthesis import PLANS, SynthesisPlan, rounds_of, synthesize
from .progress import CancelFn, ProgressFn, Tracker
from .regions import border_weight, layer_masks, surrogate_image, union
from .results import Layer, Result
from .seams import apply_seam, auto_width
from .tensors import fit, resize, to_tensor, to_uint8, working_size

OPTIMIZERS = ("lbfgs", "adam")
StylizeResult = Result  # the name the cli and the client import from here


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
# A quality names an entry of both plan tables, and the contract lists the qualities.
assert set(PRESETS) == set(PLANS) == set(STYLIZE.param("quality").values), "quality names disagree"


@dataclass
class StylizeOptions:
    quality: str = "balanced"
    strength: float = 1.0
    preserve_color: bool = False
    seed: int = 0
    encoder: str = "auto"
    method: str = "patch"           # patch: texture synthesis; neural: feature optimisation
    optimizer: str = "lbfgs"
    iterations: int | None = None   # per scale; overrides the preset
    max_side: int | None = None     # overrides the preset
    margin: float = 0.15            # context around the selection, as a share of its size
    style_weight: float = 300.0
    content_weight: float = 1.0
    tv_weight: float = 10.0
    device: str | None = None
    regions_method: str = "masked"  # neural method's regions; see bench/regions_eval.py
    surrogate_content: float = 0.05  # the surrogate's content-loss weight, relative to the style's
    boundary_tv: float = 0.0        # extra TV weight near region borders (Tamir); 0 = off
    seam: str = "none"              # none | feather | graphcut, for the edge with the original
    seam_width: int | None = None   # band width in pixels; None: about 3% of the crop's side

    _CONTRACT = frozenset(p.name for p in STYLIZE.params)  # the options clients can send

    def validate(self) -> None:
        """Check every option; those the contract defines are checked (and converted) by it."""
        shared = {f.name: getattr(self, f.name) for f in fields(self) if f.name in self._CONTRACT}
        checked = check_params(STYLIZE, shared)
        for name in shared:
            setattr(self, name, checked[name])
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not '{self.optimizer}'")
        if not 0.0 <= self.margin <= 2.0:
            raise InputError(f"margin must be between 0 and 2, not {self.margin}")
        if self.boundary_tv > 0 and self.method != "neural":
            raise InputError("boundary_tv applies to the neural method only; the patch method "
                             "has no loss to smooth (use a seam for the edge with the original)")
        if self.regions_method != "masked" and self.method != "neural":
            raise InputError(f"regions_method '{self.regions_method}' applies to the neural method "
                             f"only; the patch method gives each region its own painting already")
        if not 0.0 <= self.surrogate_content <= 100.0:
            raise InputError(f"surrogate_content must be between 0 and 100, not {self.surrogate_content}")

    def plan(self) -> Preset:
        preset = PRESETS[self.quality]
        iters = preset.iterations if self.iterations is None else (self.iterations,) * len(preset.scales)
        return Preset(self.max_side or preset.max_side, preset.scales, iters)

    def synthesis_plan(self) -> SynthesisPlan:
        plan = PLANS[self.quality]
        return plan if self.iterations is None else replace(plan, rounds=min(self.iterations, 10))


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


@dataclass
class Region:
    """One region of a multi-style job: where (uint8 mask, 255 = fully restyled) and in what style."""

    mask: np.ndarray
    style: np.ndarray
    name: str = "Stylized"


def stylize(image: np.ndarray, mask: np.ndarray, style: np.ndarray,
            options: StylizeOptions | None = None, progress: ProgressFn | None = None,
            cancelled: CancelFn | None = None, cache: dict | None = None,
            layer_name: str = "Stylized") -> Result:
    """Restyle the masked part of `image` (uint8 RGB) with `style` (uint8 RGB).

    `mask` is uint8 (H, W), soft allowed: 0 keeps the original, 255 is fully restyled.
    """
    options = options or StylizeOptions()
    options.validate()
    check_inputs(image, mask)
    _check_style(style, "the style image")
    return _run(image, [Region(mask, style, layer_name)], None, "", options, "masked",
                progress, cancelled, cache)


def stylize_regions(image: np.ndarray, regions, rest_style: np.ndarray | None = None,
                    options: StylizeOptions | None = None, progress: ProgressFn | None = None,
                    cancelled: CancelFn | None = None, cache: dict | None = None,
                    rest_name: str = "Stylized (rest)") -> Result:
    """Restyle several regions of `image`, each with its own style, in one optimisation.

    `regions` holds Region objects or (mask, style[, name]) tuples, masks as in stylize();
    they may overlap, softly or not. `rest_style`, when given, restyles what no mask covers;
    without it those pixels keep their exact values. The result has one layer per region,
    then one for the rest, listed bottom to top. They hold the same pixels, with masks such
    that stacking them in Normal mode over the original gives `result.image`.
    """
    options = options or StylizeOptions()
    options.validate()
    regions = [r if isinstance(r, Region) else Region(*r) if len(r) == 3
               else Region(r[0], r[1], f"Stylized {i}") for i, r in enumerate(regions, 1)]
    if not regions:
        raise InputError("give at least one region: a mask and a style")
    if len(regions) > MAX_REGIONS:
        raise InputError(f"at most {MAX_REGIONS} regions, not {len(regions)}")
    for i, region in enumerate(regions, 1):
        try:
            check_inputs(image, region.mask)
        except InputError as exc:
            raise InputError(f"region {i}: {exc}") from None
        _check_style(region.style, f"region {i}'s style image")
    if rest_style is not None:
        _check_style(rest_style, "the rest style image")
    return _run(image, regions, rest_style, rest_name, options, options.regions_method,
                progress, cancelled, cache)


def _check_style(style: np.ndarray, what: str) -> None:
    if style.ndim != 3 or style.shape[2] != 3:
        raise InputError(f"{what} must be RGB")


def _run(image, regions: list[Region], rest_style, rest_name: str, options: StylizeOptions,
         regions_method: str, progress, cancelled, cache) -> Result:
    """The one synthesis or optimisation behind stylize() and stylize_regions()."""
    seam = "none" if rest_style is not None else options.seam  # with a rest, no original shows
    steps = (rounds_of(options.synthesis_plan()) if options.method == "patch"
             else sum(options.plan().iterations))
    tracker = Tracker(steps + 2 + (seam != "none"), progress, cancelled)
    tracker.set_stage("getting ready")
    device = pick_device(options.device)
    encoder = load_encoder_cached(options.encoder, device) if options.method == "neural" else None
    encoder_name = encoder.name if encoder is not None else "none"  # patches need no encoder

    cover = union([r.mask for r in regions])
    selected = bounds(cover)
    width = options.seam_width or auto_width((selected.height, selected.width))
    if rest_style is not None:
        crop = whole(image)
    else:  # the crop holds the seam's whole band
        crop = crop_rect(cover, options.margin, 8 if seam == "none" else width // 2 + 2)
    content_np, cover_np = image[crop.slices], cover[crop.slices]
    masks_np = [r.mask[crop.slices] for r in regions]
    styles, names = [r.style for r in regions], [r.name for r in regions]
    if rest_style is not None:
        masks_np.append(255 - cover_np)
        styles.append(rest_style)
        names.append(rest_name)
        cover_np = np.full_like(cover_np, 255)

    if options.strength == 0.0:  # nothing to do: the layers are the original
        tracker.finish()
        return Result(image.copy(), _layers(names, crop, content_np.copy(), cover_np, masks_np),
                             encoder_name, str(device), method=options.method)

    content_full = to_tensor(content_np, device)
    masks_full = [to_tensor(m, device) for m in masks_np]
    style_ts = [to_tensor(s, device) for s in styles]
    gen = torch.Generator().manual_seed(options.seed)
    if options.method == "patch":
        keys = [style_key(s, "patch", (), False, device) for s in styles]
        x = _synthesize(content_full, masks_full, style_ts, max(image.shape[:2]), options, gen,
                        tracker, cache, keys)
    else:
        x = _optimise_features(content_full, masks_full, styles, style_ts, options, regions_method, encoder,
                               width, gen, device, cache, tracker)

    tracker.set_stage("putting the result in place")
    out = resize(x, tuple(content_full.shape[-2:]))
    if options.preserve_color:
        out = color.keep_colours(out, content_full)
    # Strength is a plain mix: 0.5 changes the region half as much as 1.0 does.
    out = content_full + options.strength * (out - content_full)
    result_np = to_uint8(out)
    if seam != "none":
        tracker.set_stage("blending the edge")
        cover_np = apply_seam(seam, result_np, content_np, cover_np, width, check=tracker.check)
        tracker.step()
    composite = paste(image, result_np, cover_np, crop.x, crop.y)
    tracker.finish()
    return Result(composite, _layers(names, crop, result_np, cover_np, masks_np),
                         encoder_name, str(device), method=options.method)


def _synthesize(content, masks, styles, image_side, options, gen, tracker, cache, keys):
    """Texture synthesis from the paintings' patches (Elad and Milanfar 2017)."""
    plan = options.synthesis_plan()
    size = working_size(*content.shape[-2:], options.max_side or plan.max_side)
    scale = size[0] / content.shape[-2]
    tracker.set_stage("painting")
    return synthesize(resize(content, size), [resize(m, size).clamp(0, 1) for m in masks],
                      styles, plan, gen, image_side * scale, tracker.step, cache, keys)


def _optimise_features(content_full, masks_full, styles, style_ts, options, method, encoder,
                       width, gen, device, cache, tracker):
    """Optimise the crop's pixels against masked Gram matrices of encoder features
    (Gatys et al. 2016, with masks carried to every layer), coarse to fine."""
    plan = options.plan()
    content_work = color.luminance(content_full) if options.preserve_color else content_full
    if options.preserve_color:
        style_ts = [color.luminance(s) for s in style_ts]
    x = None
    for level, (scale, iters) in enumerate(zip(plan.scales, plan.iterations)):
        size = working_size(*content_full.shape[-2:], round(plan.max_side * scale))
        tracker.set_stage("studying the painting")
        content = resize(content_work, size)
        ms = [resize(m, size).clamp(0, 1) for m in masks_full]
        if method == "surrogate":
            style_term = _surrogate_term(encoder, content, ms, style_ts, options.surrogate_content)
        else:
            style_term = _masked_term(encoder, ms, styles, size, options.preserve_color, device, cache)
        with torch.no_grad():
            content_target = encoder(content)[encoder.content_layer]
        border = None
        if options.boundary_tv > 0:
            border = border_weight(ms, width / 2 * size[0] / content_full.shape[-2])
        if x is None:
            x = _initial_image(content, ms, [resize(s, size) for s in style_ts], gen)
        else:
            x = resize(x, size)

        def loss_fn(img, content_target=content_target, style_term=style_term, border=border):
            feats = encoder(img)
            loss = (options.style_weight * style_term(feats)
                    + options.content_weight * content_loss(feats[encoder.content_layer], content_target)
                    + options.tv_weight * tv_loss(img))
            if border is not None:
                loss = loss + options.boundary_tv * tv_loss(img, border)
            return loss

        tracker.set_stage(f"painting, pass {level + 1} of {len(plan.scales)}")
        x = _optimise(x.clone(memory_format=torch.contiguous_format), loss_fn, iters, options.optimizer, tracker)
    return x


def _layers(names, crop, rgb, cover, masks) -> list[Layer]:
    return [Layer(name, crop.x, crop.y, rgb, m) for name, m in zip(names, layer_masks(cover, masks))]


def _masked_term(encoder, masks, styles, size, luminance, device, cache):
    """The sum over regions of each one's masked style loss, against its own style's Grams."""
    terms = []
    for m, style in zip(masks, styles):
        targets = style_targets(encoder, style, size, luminance, device, cache).grams
        terms.append((encoder.carry_mask(m), targets))

    def term(feats):
        total = 0.0
        for carried, targets in terms:
            grams = {n: masked_gram(feats[n], carried[n]) for n in encoder.style_layers}
            total = total + style_loss(grams, targets)
        return total
    return term


def _surrogate_term(encoder, content, masks, styles, content_share):
    """Tamir's single shot: one masked style loss against the surrogate style image, plus
    a content loss on it (weighted by `content_share`) that keeps each region to its style."""
    surrogate, cover = surrogate_image(content, masks, styles)
    with torch.no_grad():
        feats = encoder(surrogate)
        carried = encoder.carry_mask(cover)
        targets = {n: masked_gram(feats[n], carried[n]) for n in encoder.style_layers}
        target_content = feats[encoder.content_layer]
    where = carried[encoder.content_layer]

    def term(f):
        grams = {n: masked_gram(f[n], carried[n]) for n in encoder.style_layers}
        return (style_loss(grams, targets)
                + content_share * content_loss(f[encoder.content_layer], target_content, where))
    return term


def _initial_image(content, masks, styles, gen):
    """The content with each region moved to its style's colours, plus seeded noise.

    Starting from the style's palette lets the optimisation spend itself on texture.
    """
    total = torch.stack(masks).sum(dim=0)
    share = total.clamp(min=1.0)
    moved = 0.0
    for mask, style in zip(masks, styles):
        inside = mask > 0.5
        if inside.sum() < 4:
            inside = mask > 0
        if not inside.any():
            continue
        sel = content[:, :, inside[0, 0]].unsqueeze(-1)
        matched = ((content - sel.mean(dim=2, keepdim=True)) / (sel.std(dim=2, keepdim=True) + 1e-3)
                   * style.std(dim=(2, 3), keepdim=True) + style.mean(dim=(2, 3), keepdim=True))
        moved = moved + mask / share * (matched - content)
    noise = torch.randn(content.shape, generator=gen).to(content.device)
    x = content + moved + 0.02 * noise * total.clamp(max=1.0)
    return x.clamp(0, 1)
