"""Harmonize a pasted object with its surroundings (seed 004).

Two modes:
- `photo`: training-free and fast. The object's Lab statistics (mean and spread) are
  moved part of the way toward those of a ring of background just around it, not the
  whole frame. A full transfer over-corrects, because a real object legitimately differs
  from its background; the fractions below were chosen on the benchmark in
  docs/harmonize.md and are the same for every image. Then the edge: colours at the
  edge that no blend of the object and its new background can explain are a cut-out
  halo and are replaced by the nearest such blend, and the edge is feathered outward
  over a pixel or two.
- `painterly` (seed 004): masked neural optimisation of the object region. Every feature
  position inside the mask is matched to its nearest background patch (cosine distance
  at one layer, the match carried to the other layers), and the style loss compares
  masked Gram matrices of the result with those of the matched patches. The masks reach
  each layer through `encoder.carry_mask`; only a dilated mask is optimised, coarse to
  fine, and the result is composited through the smoothed tight mask.

In both modes, pixels outside the returned layer's mask keep their exact input values.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .composite import bounding_box, expand_box, paste
from .devices import load_encoder_cached, pick_device
from .losses import content_loss, masked_gram, style_loss, tv_loss
from .progress import CancelFn, ProgressFn, Tracker
from .stylize import (PRESETS, Layer, StylizeResult, _no_upscale, check_inputs, crop_box,
                      fit, resize, to_tensor, to_uint8)

MODES = ("photo", "painterly")

# photo mode
RING_FRACTION = 0.1      # ring width, as a share of sqrt(object area in pixels)
MIN_RING = 4             # pixels
MEAN_SHIFT = 0.35        # how far the Lab means move toward the ring's, at strength 1
SPREAD_SHIFT = 0.5       # exponent on the ring/object spread ratio, at strength 1
MAX_SPREAD_RATIO = 4.0   # a flat object next to busy texture must not explode
SPREAD_EPS = 1.0         # Lab units: flat regions keep a ratio near 1
HALO_DISTANCE = 24.0     # RGB units an edge colour may sit off every object/background blend

# painterly mode
PAINTERLY_MARGIN = 0.5   # background context around the object: the style's source
STYLE_WEIGHT = 20.0
CONTENT_WEIGHT = 1.0
TV_WEIGHT = 2.0
ADAM_LR = 0.02
MATCH_MIN_SIDE = 16      # match at the deepest style layer at least this many positions high
BACKGROUND_LEVEL = 0.01  # carried-mask level below which a position counts as background


def harmonize(image: np.ndarray, mask: np.ndarray, mode: str = "photo", strength: float = 1.0,
              seed: int = 0, encoder: str = "auto", quality: str = "fast",
              progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
              cache: dict | None = None, layer_name: str = "Harmonized",
              device: str | None = None, iterations: int | None = None) -> StylizeResult:
    """Make the pasted object in `image` (uint8 RGB) fit its surroundings.

    `mask` is uint8 (H, W), 255 on the pasted object, soft allowed. `iterations` (painterly
    only) overrides the quality preset's iterations per scale.
    """
    _validate(mode, strength, seed, quality, iterations)
    check_inputs(image, mask)
    if mode == "photo":
        tracker = Tracker(2, progress, cancelled)
        return _photo(image, mask, strength, tracker, layer_name)
    return _painterly(image, mask, strength, seed, encoder, quality, iterations, progress,
                      cancelled, cache, layer_name, device)


def _validate(mode, strength, seed, quality, iterations) -> None:
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, not '{mode}'")
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"strength must be between 0 and 1, not {strength}")
    if quality not in PRESETS:
        raise InputError(f"quality must be one of {', '.join(PRESETS)}, not '{quality}'")
    if not 0 <= seed < 2**31:
        raise InputError(f"seed must be between 0 and {2**31 - 1}, not {seed}")
    if iterations is not None and not 1 <= iterations <= 5000:
        raise InputError(f"iterations must be between 1 and 5000, not {iterations}")


def _unchanged(image, mask, box, layer_name, encoder, device) -> StylizeResult:
    x0, y0, x1, y1 = box
    layer = Layer(layer_name, x0, y0, image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy())
    return StylizeResult(image.copy(), [layer], encoder, device)


# ---------------------------------------------------------------- colour statistics

def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 or [0, 1] float RGB -> float32 CIE Lab (L in 0..100)."""
    x = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    return cv2.cvtColor(x, cv2.COLOR_RGB2Lab)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """float Lab -> float RGB in [0, 1] (out-of-gamut colours clipped)."""
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB), 0.0, 1.0)


def weighted_stats(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of (N, C) values under (N,) weights."""
    w = weights.astype(np.float64) / weights.sum()
    mean = w @ values
    std = np.sqrt(w @ (values - mean) ** 2)
    return mean, std


def surroundings(mask: np.ndarray, width: float) -> np.ndarray:
    """Boolean ring of background pixels within `width` pixels of the (non-zero) mask."""
    background = (mask == 0).astype(np.uint8)
    distance = cv2.distanceTransform(background, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (background > 0) & (distance <= width)


def ring_width(mask: np.ndarray) -> int:
    area = mask.sum(dtype=np.float64) / 255.0
    return max(MIN_RING, round(RING_FRACTION * np.sqrt(area)))


def match_statistics(lab: np.ndarray, weights: np.ndarray, ring: np.ndarray,
                     strength: float) -> np.ndarray:
    """Lab image with the object's statistics moved toward the ring's.

    Per channel: x' = (x - m_o) * r**(SPREAD_SHIFT*s) + m_o + MEAN_SHIFT*s*(m_r - m_o), where
    m are means, r the (clamped) ratio of ring to object spread, s the strength. The object
    statistics are weighted by `weights` (the soft mask); the whole image is transformed.
    """
    pixels = lab.reshape(-1, 3)
    inside = weights.reshape(-1) > 0
    obj_mean, obj_std = weighted_stats(pixels[inside], weights.reshape(-1)[inside])
    ring_mean, ring_std = weighted_stats(pixels[ring.reshape(-1)], np.ones(int(ring.sum())))
    ratio = np.clip((ring_std + SPREAD_EPS) / (obj_std + SPREAD_EPS),
                    1.0 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
    scale = ratio ** (SPREAD_SHIFT * strength)
    shift = MEAN_SHIFT * strength * (ring_mean - obj_mean)
    offset = obj_mean * (1.0 - scale) + shift          # x' = x * scale + offset
    return lab * scale.astype(np.float32) + offset.astype(np.float32)


# ---------------------------------------------------------------- edges

def edge_width(image_shape) -> int:
    """Width in pixels of the halo band and of the feather: 1 up to 767 px, 2 at 1024."""
    return max(1, round(max(image_shape[:2]) / 512))


class Nearest:
    """For every pixel, the nearest pixel of a `source` mask, and the distance to it."""

    def __init__(self, source: np.ndarray):
        self.distance, labels = cv2.distanceTransformWithLabels(
            (~source).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        # DIST_LABEL_PIXEL numbers the zero (source) pixels 1, 2, ... in raster order.
        ys, xs = np.nonzero(source)
        self._labels, self._ys, self._xs = labels, ys, xs

    def colours(self, image: np.ndarray, where: np.ndarray) -> np.ndarray:
        """The colours of `image` at the nearest source pixel of each pixel in `where`."""
        index = self._labels[where] - 1
        return image[self._ys[index], self._xs[index]]


def clean_edges(original: np.ndarray, coloured: np.ndarray, mask: np.ndarray,
                width: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove the cut-out halo and feather the edge; returns (colours, alpha uint8).

    A pixel at the object's edge is normally a blend of the object just inside it and the
    background just outside. Where the composite's edge colour is far from every such
    blend, it is a halo (the old background that came along with a loose cut): it is
    replaced by the nearest blend, made with the harmonized object colour. Then the colours
    extend a little outside the object, where the alpha ramps down to 0 over `width` + 1
    pixels, so the edge is antialiased against the real background.
    """
    solid = mask >= 128
    if not solid.any() or solid.all():
        return coloured, mask.copy()
    out = coloured.copy()
    depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    core = depth > width
    if core.any():
        band = solid & ~core
        to_core, to_background = Nearest(core), Nearest(~solid)
        band &= to_core.distance <= 2 * width + 1   # thin parts (hair, twigs) are left alone
        edge = original[band].astype(np.float32)
        inside = to_core.colours(original, band).astype(np.float32)
        outside = to_background.colours(original, band).astype(np.float32)
        t, off = blend_position(edge, inside, outside)
        halo = off > HALO_DISTANCE
        mixed = (t[:, None] * to_core.colours(coloured, band).astype(np.float32)
                 + (1.0 - t[:, None]) * outside)
        fixed = out[band]
        fixed[halo] = np.clip(np.rint(mixed[halo]), 0, 255).astype(np.uint8)
        out[band] = fixed
    to_object = Nearest(solid)
    ramp = np.clip(1.0 - to_object.distance / (width + 1.0), 0.0, 1.0)
    alpha = mask.astype(np.float32) / 255.0
    feather = ~solid & (ramp > alpha)
    out[feather] = to_object.colours(out, feather)
    alpha = np.maximum(alpha, np.where(solid, 0.0, ramp))
    return out, np.rint(alpha * 255.0).astype(np.uint8)


def blend_position(colour: np.ndarray, inside: np.ndarray, outside: np.ndarray):
    """Where each colour sits on the segment outside -> inside (t in [0, 1]), and how far off."""
    seg = inside - outside
    rel = colour - outside
    t = np.clip((rel * seg).sum(-1) / ((seg * seg).sum(-1) + 1e-6), 0.0, 1.0)
    off = np.linalg.norm(rel - t[..., None] * seg, axis=-1)
    return t, off


# ---------------------------------------------------------------- photo mode

def photo_colours(crop: np.ndarray, mask: np.ndarray, strength: float,
                  ring: np.ndarray) -> np.ndarray:
    """The crop, colour-matched to the ring everywhere (float RGB in [0, 1])."""
    lab = to_lab(crop)
    matched = match_statistics(lab, mask.astype(np.float32) / 255.0, ring, strength)
    return from_lab(matched)


def photo_layer(crop: np.ndarray, mask: np.ndarray, strength: float, width: int,
                edges: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8, alpha uint8) of the harmonized object for one crop of the composite."""
    ring = surroundings(mask, ring_width(mask))
    if not ring.any():
        raise InputError("the mask covers the whole image: there is no background to match")
    rgb = np.clip(np.rint(photo_colours(crop, mask, strength, ring) * 255.0), 0, 255).astype(np.uint8)
    if not edges:
        return rgb, mask.copy()
    return clean_edges(crop, rgb, mask, width)


def photo_box(mask: np.ndarray, width: int) -> tuple[int, int, int, int]:
    """Bounding box of the mask plus room for the ring and the feather."""
    pad = ring_width(mask) + width + 4
    return expand_box(bounding_box(mask), mask.shape[1], mask.shape[0], pad)


def _photo(image, mask, strength, tracker: Tracker, layer_name) -> StylizeResult:
    width = edge_width(image.shape)
    box = photo_box(mask, width)
    if strength == 0.0:
        tracker.finish()
        return _unchanged(image, mask, box, layer_name, "none", "cpu")
    x0, y0, x1, y1 = box
    crop, crop_mask = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    tracker.set_stage("matching colour and tone, cleaning edges")
    rgb, alpha = photo_layer(crop, crop_mask, strength, width)
    tracker.step()
    tracker.set_stage("compositing")
    result = paste(image, rgb, alpha, x0, y0)
    tracker.finish()
    return StylizeResult(result, [Layer(layer_name, x0, y0, rgb, alpha)], "none", "cpu")


# ---------------------------------------------------------------- painterly mode

def match_layer(feats: dict, style_layers) -> str:
    """The deepest style layer still at least MATCH_MIN_SIDE positions high and wide."""
    for name in reversed(style_layers):
        if min(feats[name].shape[-2:]) >= MATCH_MIN_SIDE:
            return name
    return style_layers[0]


def nearest_background(features: torch.Tensor, inside: torch.Tensor, background: torch.Tensor,
                       chunk: int = 2048) -> torch.Tensor:
    """For each position, the flat index of the background 3x3 patch nearest by cosine.

    Positions outside `inside` map to themselves. features: (1, C, h, w); masks: (h, w) bool.
    """
    h, w = features.shape[-2:]
    patches = F.unfold(features, 3, padding=1)[0]                  # (9C, h*w)
    patches = patches / (patches.norm(dim=0, keepdim=True) + 1e-8)
    bg_index = torch.nonzero(background.reshape(-1)).squeeze(1)
    in_index = torch.nonzero(inside.reshape(-1)).squeeze(1)
    bg = patches[:, bg_index]
    index = torch.arange(h * w, device=features.device)
    for start in range(0, in_index.numel(), chunk):
        rows = in_index[start:start + chunk]
        similarity = patches[:, rows].T @ bg                        # (rows, n_bg)
        index[rows] = bg_index[similarity.argmax(dim=1)]
    return index.view(h, w)


def carry_match(index: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A match found on an (h, w) grid, carried to another (H, W) layer grid.

    Position p at the new layer sits in cell c of the match grid, with offset o = p - start(c);
    it takes the features at start(match(c)) + o, clamped to the layer.
    """
    h, w = index.shape
    H, W = size
    ys = torch.arange(H, device=index.device).view(-1, 1).expand(H, W)
    xs = torch.arange(W, device=index.device).view(1, -1).expand(H, W)
    cy, cx = ys * h // H, xs * w // W
    target = index[cy, cx]
    ty = (target // w) * H // h + ys - cy * H // h
    tx = (target % w) * W // w + xs - cx * W // w
    return ty.clamp(0, H - 1) * W + tx.clamp(0, W - 1)


class MatchedTargets:
    """Masked Gram targets of the background patches matched to the object (seed 004)."""

    def __init__(self, encoder, content: torch.Tensor, layer_masks: dict):
        with torch.no_grad():
            feats = encoder(content)
            name = match_layer(feats, encoder.style_layers)
            m = layer_masks[name][0, 0]
            background = m < BACKGROUND_LEVEL
            if not background.any():
                raise InputError("the mask leaves too little background around it to take the "
                                 "painting's style from; select a smaller object")
            index = nearest_background(feats[name], m > 0, background)
            self.grams = {}
            for n in encoder.style_layers:
                f = feats[n]
                c = f.shape[1]
                flat = carry_match(index, tuple(f.shape[-2:])).reshape(-1)
                matched = f.reshape(1, c, -1)[:, :, flat].reshape(f.shape)
                self.grams[n] = masked_gram(matched, layer_masks[n])
            self.match_layer = name


def _targets(encoder, content, layer_masks, device, cache) -> MatchedTargets:
    key = None
    if cache is not None:
        h = hashlib.blake2b(content.cpu().numpy().tobytes(), digest_size=16)
        h.update(layer_masks[encoder.style_layers[0]].cpu().numpy().tobytes())
        h.update(repr(("harmonize", encoder.name, tuple(content.shape), str(device))).encode())
        key = h.hexdigest()
        if key in cache:
            return cache[key]
    targets = MatchedTargets(encoder, content, layer_masks)
    if key is not None:
        cache[key] = targets
    return targets


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation of (N, 1, H, W) mask > 0 by a square of the given radius."""
    return F.max_pool2d((mask > 0).float(), 2 * radius + 1, stride=1, padding=radius)


def _optimise(x, loss_fn, iterations, tracker):
    # Adam, not L-BFGS: on the bench's pastes L-BFGS let the style wash the object out.
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=ADAM_LR)
    for _ in range(iterations):
        opt.zero_grad(set_to_none=True)
        loss_fn(x).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        tracker.step()
    return x.detach()


def smoothed_alpha(mask: np.ndarray, free: np.ndarray, sigma: float) -> np.ndarray:
    """The tight mask, Gaussian-smoothed, and zero wherever the optimisation could not reach."""
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    soft[~free] = 0.0
    return np.clip(np.rint(soft), 0, 255).astype(np.uint8)


def _painterly(image, mask, strength, seed, encoder_name, quality, iterations, progress,
               cancelled, cache, layer_name, device_name) -> StylizeResult:
    preset = PRESETS[quality]
    per_scale = preset.iterations if iterations is None else (iterations,) * len(preset.scales)
    tracker = Tracker(sum(per_scale) + 2, progress, cancelled)
    tracker.set_stage("preparing")
    device = pick_device(device_name)
    encoder = load_encoder_cached(encoder_name, device)
    box = crop_box(mask, PAINTERLY_MARGIN)
    if strength == 0.0:
        tracker.finish()
        return _unchanged(image, mask, box, layer_name, encoder.name, str(device))
    x0, y0, x1, y1 = box
    crop, crop_mask = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]

    # Colour first (as in photo mode, without the edge work): both the start and the content.
    ring = surroundings(crop_mask, ring_width(crop_mask))
    if not ring.any():
        raise InputError("the mask covers the whole image: there is no background to match")
    weight = crop_mask.astype(np.float32)[..., None] / 255.0
    coloured = crop * (1.0 - weight) + photo_colours(crop, crop_mask, strength, ring) * 255.0 * weight
    coloured = np.clip(np.rint(coloured), 0, 255).astype(np.uint8)

    content_full = to_tensor(coloured, device)
    mask_full = to_tensor(crop_mask, device)
    gen = torch.Generator().manual_seed(seed)
    style_weight = STYLE_WEIGHT * strength ** 2
    x = None
    for level, (scale, iters) in enumerate(zip(preset.scales, per_scale)):
        size = fit(*content_full.shape[-2:], round(preset.max_side * scale))
        size = tuple(min(a, b) for a, b in zip(size, _no_upscale(content_full, size)))
        content = resize(content_full, size)
        m = resize(mask_full, size).clamp(0, 1)
        free = dilate(m, max(2, round(0.02 * max(size))))
        layer_masks = encoder.carry_mask(m)
        free_masks = encoder.carry_mask(free)
        tracker.set_stage(f"matching patches {level + 1}/{len(preset.scales)}")
        targets = _targets(encoder, content, layer_masks, device, cache).grams
        with torch.no_grad():
            content_target = encoder(content)[encoder.content_layer]
        if x is None:
            noise = torch.randn(content.shape, generator=gen).to(device)
            x = (content + 0.02 * noise * m).clamp(0, 1)
        else:
            x = resize(x, size)

        def loss_fn(v, content=content, free=free, targets=targets, layer_masks=layer_masks,
                    content_target=content_target, content_mask=free_masks[encoder.content_layer]):
            img = content * (1 - free) + v * free       # only the dilated mask is optimised
            feats = encoder(img)
            grams = {n: masked_gram(feats[n], layer_masks[n]) for n in encoder.style_layers}
            return (style_weight * style_loss(grams, targets)
                    + CONTENT_WEIGHT * content_loss(feats[encoder.content_layer], content_target,
                                                    content_mask)
                    + TV_WEIGHT * tv_loss(img, free))

        tracker.set_stage(f"painting, scale {level + 1}/{len(preset.scales)}")
        x = _optimise(x.clone(memory_format=torch.contiguous_format), loss_fn, iters, tracker)
        x = content * (1 - free) + x * free

    tracker.set_stage("compositing")
    full_size = tuple(content_full.shape[-2:])
    result = to_uint8(resize(x, full_size))
    reach = F.interpolate(free, size=full_size, mode="nearest")[0, 0].cpu().numpy() > 0
    grow = full_size[0] / size[0]
    alpha = smoothed_alpha(crop_mask, reach, sigma=max(1.0, 0.75 * grow))
    composite = paste(image, result, alpha, x0, y0)
    tracker.finish()
    layer = Layer(layer_name, x0, y0, result, alpha)
    return StylizeResult(composite, [layer], encoder.name, str(device))
