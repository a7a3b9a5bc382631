"""Select Subject and Refine Selection: masks from a photo, with soft, edge-snapped borders.

Three targets:
- `refine`: the user's rough selection (the hint) snapped to the object's edges by a
  minimum cut with a spatial prior, or by OpenCV's GrabCut for a box (engine.refine).
- `person` / `subject`: torchvision's DeepLabV3 (VOC labels) when its weights are
  installed; `person` is VOC class 15, `subject` the object class that weighs most near
  the centre or near the hint. Its coarse mask is then refined like a hint.
  Without the weights a weight-free path runs (engine.saliency, then the same cut), and
  SegmentResult.method says so.
Masks come back to full size through a fast guided filter (engine.guided), which also
gives the soft, edge-aware border.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from maskstyle_wire.contract import SEGMENT

from .. import models
from ..errors import InputError, ModelError
from .devices import pick_device
from .encoders import IMAGENET_MEAN, IMAGENET_STD
from .guided import feather
from .inputs import check_params
from .progress import CancelFn, ProgressFn, Tracker
from .refine import CUT_ROUNDS, cut, refine
from .saliency import location_prior, saliency

TARGETS = SEGMENT.param("target").values
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "dining table", "dog", "horse", "motorbike", "person",
               "potted plant", "sheep", "sofa", "train", "tv monitor")
PERSON = VOC_CLASSES.index("person")
MIN_SIDE = 8

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
    warnings: tuple[str, ...] = ()  # what the user should know, one line each, with the fix


def segment(image: np.ndarray, target: str = "subject", hint: np.ndarray | None = None,
            progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
            device: str | None = None) -> SegmentResult:
    """A mask of the subject, a person, or the refined `hint`, for uint8 RGB `image`.

    `hint` is uint8 (H, W): the user's rough selection. `refine` needs it; `subject` and
    `person` take it as a cue to where the object is.
    """
    hint_bin = _check(image, target, hint)
    warnings: tuple[str, ...] = ()
    tracker = Tracker(2 * CUT_ROUNDS + 6, progress, cancelled)
    tracker.set_stage("getting ready")
    if target == "refine":
        mask, method = refine(image, hint_bin, tracker)
    elif models.is_installed("deeplabv3"):
        mask, method = _segment_deeplab(image, target, hint_bin, tracker, device)
    else:
        mask, method = _subject_without_weights(image, hint_bin, tracker), "saliency+mincut"
        if target == "person":
            method += " (person model not installed)"
            warnings = ("the person model is not installed, so this is the main subject, person "
                        "or not; install it with: maskstyle models install deeplabv3",)
    tracker.finish()
    return SegmentResult(mask, method, warnings)


def _check(image, target: str, hint) -> np.ndarray | None:
    """Validate the inputs; return the hint as a bool array (None when absent or empty)."""
    check_params(SEGMENT, {"target": target})
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
        return feather(small, fg, image)
    none = np.zeros(sal.shape, bool)
    prior = SALIENCY_WEIGHT * (2.0 * sal - 1.0)
    subject = cut(small, prior, fg, bg, none, none, tracker)
    if not subject.any():
        subject = sal >= 0.5
    subject = _keep_main_regions(subject, sal, small_hint)
    return feather(small, subject, image)


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
    mask, _ = refine(image, coarse, tracker, band=band, mode="outline")
    if _iou(mask >= 128, coarse) < 0.8:   # the cut wandered off: trust the network's outline
        mask, _ = refine(image, coarse, tracker, band=band, mode="feather")
    return mask, f"deeplabv3 ({VOC_CLASSES[chosen]})"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
