"""Portrait blur (Relekar, Bassi and Kirtikar, "Style: Multi-Style Transferred Selfies"): a lens-like disc blur of everything but the subject.

A plain blur of the whole image drags the subject's colours into the background around
it (a halo). Here the background is blurred by normalized convolution: each output pixel
is the disc-weighted mean of background pixels only, so the subject's pixels never enter
it. Where a disc holds no background at all (deep inside a large subject) the value is
filled from the surrounding blurred background by inpainting. The blur runs in linear
light, as a lens does, so bright spots open into discs (bokeh) instead of greying out.
The sharp subject is then composited back through its mask: where the mask is 255 the
output is the input, bit for bit.
"""

from __future__ import annotations

import cv2
import numpy as np
from maskstyle_wire.contract import BLUR

from ..errors import InputError
from .inputs import check_inputs, check_params
from .progress import CancelFn, ProgressFn, Tracker

EDGE_GUARD = 1   # pixels: mask edges are rarely exact; keep the subject's rim out of the blur


def auto_radius(shape: tuple[int, ...]) -> int:
    """A default blur radius: about 1.2% of the image's longest side."""
    return max(2, round(0.012 * max(shape[:2])))


def disc_kernel(radius: float) -> np.ndarray:
    """A flat disc with an anti-aliased rim, summing to 1: the shape of an out-of-focus lens."""
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    k = np.clip(radius + 0.5 - np.hypot(xx, yy), 0.0, 1.0)
    return k / k.sum()


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    c = srgb.astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    c = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return c * 255.0


def blur_background(image: np.ndarray, mask: np.ndarray, radius: float) -> np.ndarray:
    """The background alone, disc-blurred, as float sRGB (H, W, 3); no subject colour in it."""
    subject = mask > 0
    if EDGE_GUARD:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EDGE_GUARD + 1,) * 2)
        subject = cv2.dilate(subject.astype(np.uint8), k) > 0
    weight = (~subject).astype(np.float32)
    if not weight.any():
        raise InputError("the mask covers the whole image: there is no background to blur")
    kernel = disc_kernel(radius)
    linear = _to_linear(image)
    border = cv2.BORDER_REFLECT
    num = cv2.filter2D(linear * weight[..., None], -1, kernel, borderType=border)
    den = cv2.filter2D(weight, -1, kernel, borderType=border)
    covered = den > 1e-3
    out = _to_srgb(num / np.maximum(den, 1e-3)[..., None])
    if not covered.all():
        out = _fill(out, ~covered)
    return out


def _fill(image: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Fill `holes` from their surroundings (OpenCV's Telea inpainting, at reduced size)."""
    h, w = holes.shape
    s = min(1.0, 512.0 / max(h, w))
    small = cv2.resize(np.clip(image, 0, 255).astype(np.uint8), None, fx=s, fy=s,
                       interpolation=cv2.INTER_AREA) if s < 1 else np.clip(image, 0, 255).astype(np.uint8)
    small_holes = cv2.resize(holes.astype(np.uint8), (small.shape[1], small.shape[0]),
                             interpolation=cv2.INTER_NEAREST) if s < 1 else holes.astype(np.uint8)
    filled = cv2.inpaint(small, small_holes, 3, cv2.INPAINT_TELEA)
    if s < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[holes] = filled[holes]
    return out


def portrait_blur(image: np.ndarray, mask: np.ndarray, radius: float | None = None,
                  progress: ProgressFn | None = None, cancelled: CancelFn | None = None) -> np.ndarray:
    """`image` (uint8 RGB) with everything outside the subject `mask` (uint8, 255 = subject)
    disc-blurred by `radius` pixels (None: auto). The subject is returned unchanged."""
    check_inputs(image, mask, empty="the mask is empty: mark the subject to keep sharp")
    radius = check_params(BLUR, {"radius": radius})["radius"]
    radius = auto_radius(image.shape) if radius is None else radius
    tracker = Tracker(3, progress, cancelled)
    tracker.set_stage("blurring the background")
    background = blur_background(image, mask, radius)
    tracker.step()
    tracker.set_stage("putting the result in place")
    m = (mask.astype(np.float32) / 255.0)[..., None]
    out = np.clip(np.rint(image.astype(np.float32) * m + background * (1.0 - m)), 0, 255).astype(np.uint8)
    keep = mask == 255
    out[keep] = image[keep]
    tracker.finish()
    return out
