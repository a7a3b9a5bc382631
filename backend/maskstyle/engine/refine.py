"""Refine Selection: the user's rough selection (the hint) snapped to the object's edges.

The hint becomes a trimap: sure inside deep in the hint, sure outside far beyond it, and
an unknown region between, scaled to the hint's size. There a minimum cut weighs colour
models learnt from the regions clear of the outline, a prior towards the hint's side of
its outline, and a boundary length that is cheap along image edges (GrabCut's energy plus
a spatial prior). The unknown region reaches much farther out than in: a hint drawn too
small leaves object parts well outside it, while deep inside a hint drawn too large is
still the object.

A hint that fills its bounding box says only "the object is in here": it goes to
OpenCV's GrabCut.

The work runs on a crop around the hint, downscaled when large; the mask comes back to
full size through a fast guided filter (engine.guided), which gives the soft border.
"""

from __future__ import annotations

import cv2
import numpy as np

from .composite import around, bounds
from .guided import feather
from .mincut import colour_log_ratio, contrast_weights, min_cut
from .progress import Tracker

WORK_SIDE = 640           # working resolution: long side of the crop around the hint
BAND_FRACTION = 0.08      # band width: this share of sqrt(hint area) ...
MIN_BAND = 8              # ... but at least this many full-resolution pixels
SURE_INSIDE = 2.5         # sure foreground this many band widths inside the outline
SURE_OUTSIDE = 8.0        # sure background this many band widths outside it
PRIOR_WEIGHT = 1.5        # log-odds for the hint's side of its outline, per band width ...
PRIOR_CAP_INSIDE = 2.5    # ... growing up to this many band widths inside
PRIOR_CAP_OUTSIDE = 3.0   # ... and outside (beyond, colours can still win)
BOX_FILL = 0.95           # a hint filling this share of its bounding box is a box
GRABCUT_ITERATIONS = 5
BOX_CONTEXT = 2.5         # crop margin around a box, in band widths
CUT_SMOOTHNESS = 5.0      # weight of the contrast-sensitive boundary length
CUT_ROUNDS = 2            # cut, re-learn the colours, cut again
SHIFT_BANDS = 2.0         # an outline may be moved to an edge up to this many band widths away ...
SHIFT_MAX = 30            # ... and at most this many working pixels (farther finds stray edges)
SHIFT_PEAK = 1.5          # ... where edges are this much stronger than on the outline itself


def refine(image: np.ndarray, hint: np.ndarray, tracker: Tracker, band: float | None = None,
           mode: str = "auto") -> tuple[np.ndarray, str]:
    """(soft uint8 mask, method) from a bool `hint`; never empty for a non-empty hint.

    `band`: the band width in full-resolution pixels (default: scaled to the hint).
    `mode`: "auto" (box or outline, from the hint's shape), "outline", or "feather"
    (keep the hint, only soften its edges along the image's).
    """
    outline = bounds(hint)
    if band is None:
        band = max(MIN_BAND, BAND_FRACTION * np.sqrt(hint.sum()))
    box = mode == "auto" and is_box(hint)
    # GrabCut learns the background from the whole crop: for a box, keep it near the box
    reach = BOX_CONTEXT if box else SURE_OUTSIDE
    margin = round((reach + 1) * band + 0.1 * max(outline.width, outline.height)) + 8
    rect = around(hint, margin)
    crop, crop_hint = image[rect.slices], hint[rect.slices]

    scale = min(1.0, WORK_SIDE / max(crop.shape[:2]))
    small, small_hint = _downscale(crop, crop_hint, scale)
    tracker.set_stage("refining the selection")
    if mode == "feather":
        hard, method = small_hint, "feather"
    elif box:
        hard, method = _grabcut_box(small, small_hint, tracker), "grabcut"
    else:
        hard, method = cut_outline(small, small_hint, band * scale, tracker), "mincut"
    if hard is None or hard.sum() < 0.02 * small_hint.sum():
        hard, method = small_hint, "hint kept"   # nothing sensible came out

    tracker.set_stage("feathering edges")
    soft = feather(small, hard, crop)
    if not (soft >= 128).any():             # feathering erased a hair-thin result
        soft, method = np.where(crop_hint, 255, 0).astype(np.uint8), "hint kept"
    out = np.zeros(hint.shape, np.uint8)
    out[rect.slices] = soft
    return out, method


def _downscale(crop: np.ndarray, hint: np.ndarray, scale: float):
    if scale >= 1.0:
        return crop, hint
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    small_hint = cv2.resize(hint.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
    if not small_hint.any():  # a hint thinner than a working pixel
        small_hint = cv2.resize(hint.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return small, small_hint


def is_box(hint: np.ndarray) -> bool:
    rect = bounds(hint)
    return hint.sum() >= BOX_FILL * rect.width * rect.height


def _signed_distance(hint: np.ndarray) -> np.ndarray:
    """Pixels to the hint's outline: positive inside, negative outside."""
    inside = cv2.distanceTransform(hint.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~hint).astype(np.uint8), cv2.DIST_L2, 5)
    return inside - outside


def edge_offset(image: np.ndarray, signed: np.ndarray, band: float) -> int:
    """How far inside the outline (negative: outside) the image's edges run along it.

    The mean colour-gradient magnitude is taken on each ring of pixels at a whole-pixel
    distance from the outline. An outline drawn evenly too large or too small has its peak
    off the outline; one drawn on the object's edge has it at 0. 0 unless the peak is clear.
    """
    lab = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32), (0, 0), 1.0)
    grad = np.sqrt((cv2.Sobel(lab, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(lab, cv2.CV_32F, 0, 1) ** 2).sum(axis=2))
    reach = int(min(SHIFT_MAX, SHIFT_BANDS * band))
    ring = np.rint(signed).astype(int)
    near = np.abs(ring) <= reach
    sums = np.bincount(ring[near] + reach, grad[near], minlength=2 * reach + 1)
    counts = np.bincount(ring[near] + reach, minlength=2 * reach + 1)
    profile = sums / np.maximum(counts, 1)
    offsets = np.arange(-reach, reach + 1)
    peak = int(np.argmax(profile))
    on_outline = profile[np.abs(offsets) <= 2].max()
    return int(offsets[peak]) if profile[peak] > SHIFT_PEAK * on_outline else 0


def cut_outline(image: np.ndarray, hint: np.ndarray, band: float, tracker: Tracker) -> np.ndarray:
    """Foreground near a rough outline, by a minimum cut in the region around it.

    An outline drawn evenly off the object's edge is first moved onto it (edge_offset)."""
    signed = _signed_distance(hint)
    offset = edge_offset(image, signed, band)
    moved = signed > offset
    if offset and moved.any():
        hint = moved
        signed = _signed_distance(hint)
    signed = signed / band
    prior = PRIOR_WEIGHT * np.clip(signed, -PRIOR_CAP_OUTSIDE, PRIOR_CAP_INSIDE)
    sure_fg, sure_bg = signed > SURE_INSIDE, signed < -SURE_OUTSIDE
    fg, bg = signed > 1, signed < -1          # first colour samples: clear of the outline
    if not fg.any():
        fg = hint
    if not bg.any():
        bg = ~hint
    if not bg.any():
        return hint                           # the hint is the whole crop
    return cut(image, prior, fg, bg, sure_fg, sure_bg, tracker)


def cut(image, prior, fg, bg, sure_fg, sure_bg, tracker: Tracker) -> np.ndarray:
    """GrabCut-style rounds: learn colours from fg / bg, cut, learn from the cut, cut again."""
    weights = contrast_weights(image)
    result = fg
    for _ in range(CUT_ROUNDS):
        cost = -(colour_log_ratio(image, fg, bg) + prior)
        result = min_cut(cost, weights, CUT_SMOOTHNESS, sure_fg, sure_bg)
        tracker.step()
        fg, bg = result, ~result
        if not fg.any() or not bg.any():
            break
    return result


def _grabcut_box(image: np.ndarray, box: np.ndarray, tracker: Tracker) -> np.ndarray | None:
    """OpenCV's GrabCut from a rectangle: inside may be either, outside is background."""
    if box.all():
        return None
    outside = cv2.distanceTransform((~box).astype(np.uint8), cv2.DIST_L2, 3)
    labels = np.full(box.shape, cv2.GC_BGD, np.uint8)
    labels[outside <= 2] = cv2.GC_PR_BGD      # forgives a box drawn a touch too tight
    labels[box] = cv2.GC_PR_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    image = np.ascontiguousarray(image)
    try:
        cv2.grabCut(image, labels, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)
        for _ in range(GRABCUT_ITERATIONS - 1):
            tracker.step()
            cv2.grabCut(image, labels, None, bgd, fgd, 1, cv2.GC_EVAL)
    except cv2.error:
        return None   # e.g. too few distinct colours to fit the colour models
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
