"""Select Subject and Refine Selection: masks from a photo, with soft, edge-snapped borders.

Three targets:
- `refine`: the user's rough selection (the hint) becomes a trimap: sure inside deep in
  the hint, sure outside well beyond it, and an unknown band between, scaled to the
  hint's size. In the band a minimum cut weighs colour models learnt from the sure
  regions, a prior that fades across the band, and a boundary length that is cheap
  along image edges (GrabCut's energy plus a spatial prior). A hint that fills its
  bounding box says only "the object is in here": it goes to OpenCV's GrabCut.
- `person` / `subject`: torchvision's DeepLabV3 (VOC labels) when its weights are
  installed; `person` is VOC class 15, `subject` the object class that weighs most near
  the centre or near the hint. Its coarse mask is then refined like a hint.
  Without the weights a weight-free path runs (engine.saliency, then the same cut), and
  SegmentResult.method says so.
The work happens on a crop around the hint, downscaled when large; the mask comes back
to full size through a fast guided filter (He and Sun 2015), which also gives the soft,
edge-aware border.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import models
from ..errors import InputError, ModelError
from .composite import bounding_box, expand_box
from .devices import pick_device
from .encoders import IMAGENET_MEAN, IMAGENET_STD
from .progress import CancelFn, ProgressFn, Tracker
from .saliency import location_prior, saliency

TARGETS = ("subject", "person", "refine")
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "dining table", "dog", "horse", "motorbike", "person",
               "potted plant", "sheep", "sofa", "train", "tv monitor")
PERSON = VOC_CLASSES.index("person")
MIN_SIDE = 8

# refine
WORK_SIDE = 640           # working resolution: long side of the crop around the hint
BAND_FRACTION = 0.08      # unknown band (half-width): this share of sqrt(hint area) ...
MIN_BAND = 6              # ... but at least this many full-resolution pixels
SURE_AT = 2.5             # sure inside / outside beyond this many band widths
PRIOR_WEIGHT = 1.5        # log-odds for the hint's side of its outline, per band width
BOX_FILL = 0.95           # a hint filling this share of its bounding box is a box
GRABCUT_ITERATIONS = 5
# the cut
COLOUR_BINS = 64          # histogram bins per RGB channel (fine bins separate near colours)
COLOUR_CLIP = 5.0         # cap on the colour log-likelihood ratio
CUT_SMOOTHNESS = 8.0      # weight of the contrast-sensitive boundary length
EDGE_FLOOR = 0.05         # cutting across a strong edge still costs this share of a flat one
CUT_ROUNDS = 2            # cut, re-learn the colours, cut again
CUT_ITERATIONS = 200
CUT_CHECKS = 4            # progress / cancel checks per cut
# soft edges
FEATHER_RADIUS = 2        # guided filter radius (working pixels) and regulariser
FEATHER_EPS = 1e-3
FEATHER_ROWS = 512        # full-resolution rows upsampled at a time (bounds memory)
# subject without weights
SUBJECT_SIDE = 400        # working resolution for the whole image
SALIENCY_WEIGHT = 1.0     # log-odds for the subject at saliency 1 (against 0)
SURE_SALIENT, SURE_PLAIN = 0.7, 0.3   # first colour samples: clearly salient / clearly not
# DeepLabV3
DEEPLAB_SIDE = 520        # torchvision's preset: shorter side resized to 520
DEEPLAB_BAND = 12         # its edges are about one output stride off, at its input size


@dataclass
class SegmentResult:
    mask: np.ndarray   # uint8 (H, W), 0..255, soft edges
    method: str        # which path ran, stated to the user


def segment(image: np.ndarray, target: str = "subject", hint: np.ndarray | None = None,
            progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
            device: str | None = None) -> SegmentResult:
    """A mask of the subject, a person, or the refined `hint`, for uint8 RGB `image`.

    `hint` is uint8 (H, W): the user's rough selection. `refine` needs it; `subject` and
    `person` take it as a cue to where the object is.
    """
    hint_bin = _check(image, target, hint)
    tracker = Tracker(2 * CUT_ROUNDS * CUT_CHECKS + 6, progress, cancelled)
    tracker.set_stage("preparing")
    if target == "refine":
        mask, method = _refine(image, hint_bin, tracker)
    elif models.is_installed("deeplabv3"):
        mask, method = _segment_deeplab(image, target, hint_bin, tracker, device)
    else:
        mask, method = _subject_without_weights(image, hint_bin, tracker), "saliency+mincut"
        if target == "person":
            method += " (person model not installed)"
    tracker.finish()
    return SegmentResult(mask, method)


def _check(image, target: str, hint) -> np.ndarray | None:
    """Validate the inputs; return the hint as a bool array (None when absent or empty)."""
    if target not in TARGETS:
        raise InputError(f"target must be one of {', '.join(TARGETS)}, not '{target}'")
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        raise InputError("the image must be 8-bit RGB (an array of height x width x 3 bytes)")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"the image is {w}x{h}; it must be at least {MIN_SIDE}x{MIN_SIDE}")
    if hint is None:
        if target == "refine":
            raise InputError("refine needs a hint: a rough selection around the object")
        return None
    if not isinstance(hint, np.ndarray) or hint.ndim != 2 or hint.dtype not in (np.uint8, bool):
        raise InputError("the hint must be an 8-bit grayscale mask (height x width bytes)")
    if hint.shape != (h, w):
        raise InputError(f"the hint is {hint.shape[1]}x{hint.shape[0]} but the image is "
                         f"{w}x{h}; they must be the same size")
    if not hint.any():
        if target == "refine":
            raise InputError("the hint is empty (all black): select roughly around the object")
        return None
    values = hint.astype(np.uint8) * 255 if hint.dtype == bool else hint
    selected = values >= 128
    return selected if selected.any() else values > 0   # a faint, feathered hint still counts


# --- refine ---------------------------------------------------------------------------------

def _refine(image: np.ndarray, hint: np.ndarray, tracker: Tracker, band: float | None = None,
            mode: str = "auto") -> tuple[np.ndarray, str]:
    """(soft uint8 mask, method) from a bool `hint`; never empty for a non-empty hint.

    `band`: the unknown band's half-width in full-resolution pixels (default: scaled to
    the hint). `mode`: "auto" (box or outline, from the hint's shape), "outline", or
    "feather" (keep the hint, only soften its edges along the image's).
    """
    h, w = hint.shape
    x0, y0, x1, y1 = bounding_box(hint)
    if band is None:
        band = max(MIN_BAND, BAND_FRACTION * np.sqrt(hint.sum()))
    margin = round((SURE_AT + 1) * band + 0.1 * max(x1 - x0, y1 - y0)) + 8
    x0, y0, x1, y1 = expand_box((x0, y0, x1, y1), w, h, margin)
    crop, crop_hint = image[y0:y1, x0:x1], hint[y0:y1, x0:x1]

    scale = min(1.0, WORK_SIDE / max(crop.shape[:2]))
    small, small_hint = _downscale(crop, crop_hint, scale)
    tracker.set_stage("refining the selection")
    if mode == "feather":
        hard, method = small_hint, "feather"
    elif mode == "auto" and _is_box(small_hint):
        hard, method = _grabcut_box(small, small_hint, tracker), "grabcut"
    else:
        hard, method = _cut_outline(small, small_hint, band * scale, tracker), "mincut"
    if hard is None or hard.sum() < 0.02 * small_hint.sum():
        hard, method = small_hint, "hint kept"   # nothing sensible came out

    tracker.set_stage("feathering edges")
    soft = _feather(small, hard, crop)
    if not (soft >= 128).any():             # feathering erased a hair-thin result
        soft, method = np.where(crop_hint, 255, 0).astype(np.uint8), "hint kept"
    out = np.zeros((h, w), np.uint8)
    out[y0:y1, x0:x1] = soft
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


def _is_box(hint: np.ndarray) -> bool:
    x0, y0, x1, y1 = bounding_box(hint)
    return hint.sum() >= BOX_FILL * (x1 - x0) * (y1 - y0)


def _cut_outline(image: np.ndarray, hint: np.ndarray, band: float, tracker: Tracker) -> np.ndarray:
    """Foreground near a rough outline, by a minimum cut in the band around it."""
    inside = cv2.distanceTransform(hint.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~hint).astype(np.uint8), cv2.DIST_L2, 5)
    signed = (inside - outside) / band
    prior = PRIOR_WEIGHT * np.clip(signed, -SURE_AT, SURE_AT)
    sure_fg, sure_bg = signed > SURE_AT, signed < -SURE_AT
    fg, bg = signed > 1, signed < -1          # first colour samples: clear of the band
    if not fg.any():
        fg = hint
    if not bg.any():
        bg = ~hint
    if not bg.any():
        return hint                           # the hint is the whole crop
    return _cut(image, prior, fg, bg, sure_fg, sure_bg, hint.astype(np.float32), tracker)


def _cut(image, prior, fg, bg, sure_fg, sure_bg, start, tracker) -> np.ndarray:
    """GrabCut-style rounds: learn colours from fg / bg, cut, learn from the cut, cut again."""
    wx, wy = _contrast_weights(image)
    u = start
    for _ in range(CUT_ROUNDS):
        cost = -(_colour_log_ratio(image, fg, bg) + prior)
        u = _min_cut(cost, CUT_SMOOTHNESS * wx, CUT_SMOOTHNESS * wy, u, sure_fg, sure_bg, tracker)
        fg = u >= 0.5
        bg = ~fg
        if not fg.any() or not bg.any():
            break
    return u >= 0.5


def _colour_log_ratio(image: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """log p(colour | fg) - log p(colour | bg) from fine, lightly smoothed RGB histograms."""
    shift = 8 - int(np.log2(COLOUR_BINS))
    q = image.astype(np.int32) >> shift
    index = (q[..., 0] * COLOUR_BINS + q[..., 1]) * COLOUR_BINS + q[..., 2]
    logs = []
    for region in (fg, bg):
        hist = np.bincount(index[region], minlength=COLOUR_BINS ** 3).astype(np.float32)
        hist = _smooth_histogram(hist.reshape((COLOUR_BINS,) * 3)).ravel()
        logs.append(np.log(hist / max(float(hist.sum()), 1.0) + 1e-6))
    return np.clip((logs[0] - logs[1])[index], -COLOUR_CLIP, COLOUR_CLIP).astype(np.float32)


def _smooth_histogram(hist: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] / 4 blur along each colour axis, so near colours share evidence."""
    for axis in range(3):
        v = np.moveaxis(hist, axis, 0)
        out = 0.5 * v
        out[1:] += 0.25 * v[:-1]
        out[:-1] += 0.25 * v[1:]
        hist = np.moveaxis(out, 0, axis)
    return hist


def _contrast_weights(image: np.ndarray):
    """GrabCut's edge weights exp(-beta |dI|^2) towards the right and lower neighbours."""
    f = image.astype(np.float32)
    dx = ((f[:, 1:] - f[:, :-1]) ** 2).sum(axis=2)
    dy = ((f[1:] - f[:-1]) ** 2).sum(axis=2)
    beta = 1.0 / (2.0 * max(1e-6, 0.5 * (float(dx.mean()) + float(dy.mean()))))
    wx = np.zeros(f.shape[:2], np.float32)
    wy = np.zeros(f.shape[:2], np.float32)
    wx[:, :-1] = EDGE_FLOOR + (1 - EDGE_FLOOR) * np.exp(-beta * dx)
    wy[:-1] = EDGE_FLOOR + (1 - EDGE_FLOOR) * np.exp(-beta * dy)
    return wx, wy


def _min_cut(cost, wx, wy, start, sure_fg, sure_bg, tracker: Tracker) -> np.ndarray:
    """Minimise sum(cost * u) + sum(wx |u(x+1) - u(x)| + wy |u(y+1) - u(y)|), u in [0, 1].

    The convex relaxation of a graph cut: thresholding its minimiser gives a minimum cut
    (Chan, Esedoglu and Nikolova 2006). Solved by primal-dual steps (Chambolle and Pock
    2011); OpenCV's own graph cut (inside GrabCut) cannot take a spatial prior.
    """
    u = np.asarray(start, np.float32).copy()
    u_bar = u.copy()
    px, py = np.zeros_like(u), np.zeros_like(u)
    gx, gy = np.zeros_like(u), np.zeros_like(u)
    step = 0.35                                      # tau = sigma < 1 / sqrt(8)
    for i in range(CUT_ITERATIONS):
        gx[:, :-1] = u_bar[:, 1:] - u_bar[:, :-1]
        gy[:-1] = u_bar[1:] - u_bar[:-1]
        px = np.clip(px + step * gx, -wx, wx)
        py = np.clip(py + step * gy, -wy, wy)
        div = px + py
        div[:, 1:] -= px[:, :-1]
        div[1:] -= py[:-1]
        u_new = np.clip(u + step * (div - cost), 0.0, 1.0)
        u_new[sure_fg] = 1.0
        u_new[sure_bg] = 0.0
        u_bar = 2.0 * u_new - u
        u = u_new
        if (i + 1) % (CUT_ITERATIONS // CUT_CHECKS) == 0:
            tracker.step()
    return u


def _grabcut_box(image: np.ndarray, box: np.ndarray, tracker: Tracker) -> np.ndarray | None:
    """OpenCV's GrabCut from a rectangle: inside may be either, outside is background."""
    outside = cv2.distanceTransform((~box).astype(np.uint8), cv2.DIST_L2, 3)
    labels = np.full(box.shape, cv2.GC_BGD, np.uint8)
    labels[outside <= 2] = cv2.GC_PR_BGD      # forgives a box drawn a touch too tight
    labels[box] = cv2.GC_PR_FGD
    if box.all():
        return None
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


# --- soft edges: guided filter --------------------------------------------------------------

def _box_mean(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(guide: np.ndarray, src: np.ndarray, r: int, eps: float):
    """He, Sun and Tang's colour guided filter: mean (a, b) with q = a . I + b.

    guide: float32 (h, w, 3) in [0, 1]; src: float32 (h, w).
    """
    mean_i = _box_mean(guide, r)
    mean_p = _box_mean(src, r)
    cov_ip = _box_mean(guide * src[..., None], r) - mean_i * mean_p[..., None]
    sigma = np.empty(guide.shape[:2] + (3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = _box_mean(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
            sigma[..., i, j] = sigma[..., j, i] = v
    sigma += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(sigma, cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(axis=2)
    return _box_mean(a, r), _box_mean(b, r)


def _feather(small: np.ndarray, hard: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Soft uint8 mask at `full`'s size from a hard mask at `small`'s size (the fast guided
    filter: coefficients at the working size, applied to the full-size image)."""
    guide = small.astype(np.float32) / 255.0
    a, b = guided_coefficients(guide, hard.astype(np.float32), FEATHER_RADIUS, FEATHER_EPS)
    h, w = full.shape[:2]
    out = np.empty((h, w), np.uint8)
    xs = ((np.arange(w) + 0.5) * (a.shape[1] / w) - 0.5).astype(np.float32)
    for top in range(0, h, FEATHER_ROWS):
        rows = np.arange(top, min(h, top + FEATHER_ROWS))
        ys = ((rows + 0.5) * (a.shape[0] / h) - 0.5).astype(np.float32)
        map_x, map_y = np.meshgrid(xs, ys)
        a_rows = cv2.remap(a, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        q = cv2.remap(b, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        q += (a_rows * full[rows].astype(np.float32)).sum(axis=2) / 255.0
        out[rows] = np.clip(np.rint(q * 255.0), 0, 255).astype(np.uint8)
    return out


# --- subject without weights ----------------------------------------------------------------

def _subject_without_weights(image: np.ndarray, hint: np.ndarray | None,
                             tracker: Tracker) -> np.ndarray:
    """Saliency as a prior and as the first colour samples, then the same cut as refine."""
    tracker.set_stage("finding the subject")
    h, w = image.shape[:2]
    scale = min(1.0, SUBJECT_SIDE / max(h, w))
    small = image
    if scale < 1.0:
        small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
    small_hint = None
    if hint is not None:
        small_hint = cv2.resize(hint.astype(np.uint8), small.shape[1::-1],
                                interpolation=cv2.INTER_NEAREST) > 0
    sal = saliency(small, small_hint)
    fg, bg = sal >= SURE_SALIENT, sal <= SURE_PLAIN
    if not fg.any() or not bg.any():
        fg, bg = sal >= np.median(sal), sal < np.median(sal)
    if not fg.any() or not bg.any():                # a flat image: no subject to find
        fg = small_hint if small_hint is not None else np.ones(sal.shape, bool)
        return _feather(small, fg, image)
    none = np.zeros(sal.shape, bool)
    prior = SALIENCY_WEIGHT * (2.0 * sal - 1.0)
    subject = _cut(small, prior, fg, bg, none, none, (sal >= 0.5).astype(np.float32), tracker)
    if not subject.any():
        subject = sal >= 0.5
    subject = _keep_main_regions(subject, sal, small_hint)
    return _feather(small, subject, image)


def _keep_main_regions(mask: np.ndarray, weight: np.ndarray, hint: np.ndarray | None,
                       share: float = 0.25) -> np.ndarray:
    """Connected regions of `mask` that touch the hint, or else those carrying at least
    `share` of the heaviest region's weight."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    if hint is not None:
        touching = np.unique(labels[hint & mask])
        touching = touching[touching > 0]
        if touching.size:
            return np.isin(labels, touching)
    mass = np.bincount(labels.ravel(), weights=weight.ravel(), minlength=count)[1:]
    keep = np.flatnonzero(mass >= share * mass.max()) + 1
    return np.isin(labels, keep)


# --- DeepLabV3 ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _deeplab(path: str, stamp: tuple, device: str):
    """The DeepLabV3 network on `device`, built once per process and weight file."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    state = models.load_state_dict("deeplabv3")
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, ValueError) as exc:
        w = models.entry("deeplabv3")
        raise ModelError(f"the deeplabv3 weight file {path} does not fit the network "
                         f"({str(exc).splitlines()[0]}); delete it and {models.install_hint(w)}"
                         ) from None
    net.aux_classifier = None          # its head is for training only: skip the work
    return net.eval().requires_grad_(False).to(device)


def load_deeplab(device: torch.device | str = "cpu"):
    """The cached network; a new or replaced weight file is verified and loaded afresh."""
    w = models.entry("deeplabv3")
    try:
        stat = w.path.stat()
    except OSError:
        models.verify(w)           # raises ModelError: not installed, and how to install
        raise
    return _deeplab(str(w.path), (stat.st_size, stat.st_mtime_ns), str(device))


def class_probabilities(image: np.ndarray, device: str | None = None,
                        tracker: Tracker | None = None) -> np.ndarray:
    """DeepLabV3 VOC class probabilities, float32 (21, h, w) at the network's input size."""
    dev = pick_device(device)
    if tracker:
        tracker.set_stage("loading the segmentation model")
    net = load_deeplab(dev)
    if tracker:
        tracker.set_stage("segmenting")
    h, w = image.shape[:2]
    s = DEEPLAB_SIDE / min(h, w)
    x = torch.from_numpy(np.ascontiguousarray(image)).to(dev).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                      align_corners=False, antialias=s < 1)
    mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
    with torch.inference_mode():
        logits = net((x - mean) / std)["out"]
    return logits.softmax(dim=1)[0].float().cpu().numpy()


def _segment_deeplab(image, target, hint, tracker, device) -> tuple[np.ndarray, str]:
    probs = class_probabilities(image, device, tracker)
    labels = probs.argmax(axis=0)
    h, w = image.shape[:2]
    small_hint = None
    if hint is not None:
        small_hint = cv2.resize(hint.astype(np.uint8), labels.shape[::-1],
                                interpolation=cv2.INTER_NEAREST) > 0
    if target == "person":
        chosen = PERSON
    else:
        prior = location_prior(labels.shape, small_hint)
        scores = [float((probs[c] * prior).sum()) for c in range(1, len(VOC_CLASSES))]
        chosen = 1 + int(np.argmax(scores))
    region = labels == chosen
    if region.sum() < 0.001 * region.size:
        if target == "person":
            return np.zeros((h, w), np.uint8), "deeplabv3 (no person found)"
        mask = _subject_without_weights(image, hint, tracker)
        return mask, "saliency+mincut (deeplabv3 found no object)"
    region = _keep_main_regions(region, probs[chosen], small_hint, share=0.05)
    coarse = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    if not coarse.any():
        coarse = cv2.resize(region.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    band = max(3.0, DEEPLAB_BAND * min(h, w) / DEEPLAB_SIDE)
    mask, _ = _refine(image, coarse, tracker, band=band, mode="outline")
    if _iou(mask >= 128, coarse) < 0.8:   # the cut wandered off: trust the network's outline
        mask, _ = _refine(image, coarse, tracker, band=band, mode="feather")
    return mask, f"deeplabv3 ({VOC_CLASSES[chosen]})"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
