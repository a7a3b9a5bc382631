"""Harmonize a pasted object with its surroundings (Luan et al. 2018; Tsai et al. 2017).

Two modes:
- `photo`: training-free and fast. The object's Lab statistics (mean and spread) are
  moved part of the way toward those of a ring of background just around it, not the
  whole frame. A full transfer over-corrects, because a real object legitimately differs
  from its background; the fractions below were chosen on the benchmark in
  docs/harmonize.md and are the same for every image. Then the edge: colours at the
  edge that no blend of the object and its new background can explain are a cut-out
  halo and are replaced by the nearest such blend, and the edge is feathered outward
  over a pixel or two.
- `painterly`: the object is repainted with the picture's own marks, by the same patch
  synthesis as Stylize (Elad and Milanfar 2017), copying only patches of the background
  around the object, after the photo mode's colour move (painterly harmonization in the
  spirit of Luan et al. 2018, whose masked, patch-matched style loss it replaces). The
  result is composited through the smoothed tight mask.

In both modes, pixels outside the returned layer's mask keep their exact input values.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from maskstyle_wire.contract import HARMONIZE
from maskstyle_wire.geometry import Rect

from ..errors import InputError
from .composite import around, crop_rect, paste
from .devices import pick_device
from .inputs import check_inputs, check_params
from .patch_synthesis import PLANS, rounds_of, synthesize
from .progress import CancelFn, ProgressFn, Tracker
from .results import Layer, Result
from .tensors import resize, to_tensor, to_uint8, working_size

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
BACKGROUND_GAP = 2       # working pixels between the object and the patches copied
MIN_BACKGROUND = 0.05    # share of the crop that must be background to paint from
# The object must stay what it was, only painted: the photo's lightness guides the patch
# search more than in Stylize, at every scale (chosen on the bench's three pastes).
PAINTERLY_PLAN = dict(guide_weight=4.0, fine_guide=1.0)


def harmonize(image: np.ndarray, mask: np.ndarray, mode: str = "photo", strength: float = 1.0,
              seed: int = 0, quality: str = "fast",
              progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
              layer_name: str = "Harmonized",
              device: str | None = None, iterations: int | None = None) -> Result:
    """Make the pasted object in `image` (uint8 RGB) fit its surroundings.

    `mask` is uint8 (H, W), 255 on the pasted object, soft allowed. `iterations` (painterly
    only) overrides the quality preset's rounds per patch size.
    """
    names = ("mode", "strength", "seed", "quality", "iterations")
    params = check_params(HARMONIZE, dict(zip(names, (mode, strength, seed, quality, iterations))))
    mode, strength, seed, quality, iterations = (params[name] for name in names)
    check_inputs(image, mask)
    if mode == "photo":
        tracker = Tracker(2, progress, cancelled)
        return _photo(image, mask, strength, tracker, layer_name)
    return _painterly(image, mask, strength, seed, quality, iterations, progress, cancelled,
                      layer_name, device)


def _unchanged(image, mask, rect, layer_name, encoder, device) -> Result:
    layer = Layer(layer_name, rect.x, rect.y, image[rect.slices].copy(), mask[rect.slices].copy())
    return Result(image.copy(), [layer], encoder, device)


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


def photo_rect(mask: np.ndarray, width: int) -> Rect:
    """The mask's bounds plus room for the ring and the feather, inside the image."""
    pad = ring_width(mask) + width + 4
    return around(mask, pad)


def _photo(image, mask, strength, tracker: Tracker, layer_name) -> Result:
    width = edge_width(image.shape)
    rect = photo_rect(mask, width)
    if strength == 0.0:
        tracker.finish()
        return _unchanged(image, mask, rect, layer_name, "none", "cpu")
    crop, crop_mask = image[rect.slices], mask[rect.slices]
    tracker.set_stage("matching colour and tone, cleaning edges")
    rgb, alpha = photo_layer(crop, crop_mask, strength, width)
    tracker.step()
    tracker.set_stage("putting the result in place")
    result = paste(image, rgb, alpha, rect.x, rect.y)
    tracker.finish()
    return Result(result, [Layer(layer_name, rect.x, rect.y, rgb, alpha)], "none", "cpu")


# ---------------------------------------------------------------- painterly mode

def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation of (N, 1, H, W) mask > 0 by a square of the given radius."""
    return F.max_pool2d((mask > 0).float(), 2 * radius + 1, stride=1, padding=radius)


def smoothed_alpha(mask: np.ndarray, sigma: float) -> np.ndarray:
    """The tight mask, Gaussian-smoothed, and zero wherever the mask is zero."""
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    soft[mask == 0] = 0.0
    return np.clip(np.rint(soft), 0, 255).astype(np.uint8)


def _painterly(image, mask, strength, seed, quality, iterations, progress, cancelled,
               layer_name, device_name) -> Result:
    """The pasted object repainted with the picture's own marks: patch synthesis (Elad and
    Milanfar 2017, engine/patch_synthesis.py) that copies only from the background around
    the object, after the photo mode's colour move."""
    plan = replace(PLANS[quality], **PAINTERLY_PLAN)
    if iterations is not None:
        plan = replace(plan, rounds=min(iterations, 10))
    tracker = Tracker(rounds_of(plan) + 2, progress, cancelled)
    tracker.set_stage("getting ready")
    device = pick_device(device_name)
    rect = crop_rect(mask, PAINTERLY_MARGIN)
    if strength == 0.0:
        tracker.finish()
        return _unchanged(image, mask, rect, layer_name, "none", str(device))
    crop, crop_mask = image[rect.slices], mask[rect.slices]

    # Colour first (as in photo mode, without the edge work).
    ring = surroundings(crop_mask, ring_width(crop_mask))
    if not ring.any():
        raise InputError("the mask covers the whole image: there is no background to match")
    weight = crop_mask.astype(np.float32)[..., None] / 255.0
    coloured = crop * (1.0 - weight) + photo_colours(crop, crop_mask, strength, ring) * 255.0 * weight
    coloured = np.clip(np.rint(coloured), 0, 255).astype(np.uint8)

    size = working_size(*crop_mask.shape, plan.max_side)
    content = resize(to_tensor(coloured, device), size)
    picture = resize(to_tensor(crop, device), size)
    m = resize(to_tensor(crop_mask, device), size).clamp(0, 1)
    background = 1.0 - dilate(m, BACKGROUND_GAP)   # copy nothing from the object or its edge
    if float(background.sum()) < MIN_BACKGROUND * background.numel():
        raise InputError("the mask leaves too little background around it to take the "
                         "painting's style from; select a smaller object")
    tracker.set_stage("painting")
    x = synthesize(content, [m], [picture], plan, torch.Generator().manual_seed(seed), max(size),
                   tracker.step, usable=[background])

    tracker.set_stage("putting the result in place")
    full = to_tensor(coloured, device)
    painted = full + strength * (resize(x, tuple(full.shape[-2:])) - full)
    result = to_uint8(painted)
    alpha = smoothed_alpha(crop_mask, sigma=max(1.0, 0.75 * crop_mask.shape[0] / size[0]))
    composite = paste(image, result, alpha, rect.x, rect.y)
    tracker.finish()
    layer = Layer(layer_name, rect.x, rect.y, result, alpha)
    return Result(composite, [layer], "none", str(device))
