"""Seams between a stylized result and the original, in a band around the mask's edge.

- `none`: the mask as given.
- `feather`: a linear ramp across the band, from the signed distance to the mask's edge.
  Where the two images differ by about the same everywhere, the seam adds gradient energy
  |S-O|^2 |grad a|^2, and a linear ramp makes that smallest (a smoothstep adds 1.2 times as
  much, and measured 7 to 10% more visible: bench/seam_eval.py).
- `graphcut` (Wells, Wood and Xiao's MRF blending, engine/seam_mrf.py): each band pixel is labelled
  with one of 17 opacities, from original to stylized. The unary cost favours the nearer
  side (the feather's value); the pairwise cost is the contrast the blend leaves between
  neighbours, plus a smoothness cost that is cheap where the two images agree. Min-cuts
  (PyMaxflow, alpha-expansion) find the labelling. Where the images differ evenly this is
  the feather; elsewhere the transition moves to where they agree and steepens where a
  slow blend would show both images at once.

The edge is the mask's 50% contour. Only band pixels change: outside the band the mask is
returned as given, so a pixel the mask leaves at 0 and the band does not reach stays 0.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from maskstyle_wire.contract import STYLIZE

from ..errors import InputError
from . import seam_mrf
from .composite import around

SEAMS = STYLIZE.param("seam").values  # none, feather, graphcut
UNARY_WEIGHT = 1.0  # graphcut: pull towards the feather, relative to the band's mean |S-O|^2
SMOOTHNESS = 1.0    # graphcut: cost of an opacity step, on the same scale
LEVELS = 16         # graphcut: opacity steps from original to stylized
SOLVE_WIDTH = 32    # graphcut: a wider band is solved on a smaller copy, this wide


def auto_width(shape: tuple[int, ...]) -> int:
    """A band width in pixels for an image (or crop) of this shape: about 3% of its longest side."""
    return max(6, round(0.03 * max(shape[:2])))


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Distance in pixels to the mask's 50% contour: positive inside, negative outside."""
    inside = (mask >= 128).astype(np.uint8)
    if inside.all():
        return np.full(mask.shape, np.inf, np.float32)
    if not inside.any():
        return np.full(mask.shape, -np.inf, np.float32)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # The contour runs between pixel centres: the pixels on either side of it are 0.5 away.
    return np.where(inside > 0, d_in - 0.5, 0.5 - d_out).astype(np.float32)


def band(mask: np.ndarray, width: float) -> np.ndarray:
    """Pixels within width/2 of the mask's edge (bool)."""
    return np.abs(signed_distance(mask)) <= width / 2


def feather(mask: np.ndarray, width: float) -> np.ndarray:
    """A linear ramp from 0 to 255 across the band; the mask as given outside it."""
    sd = signed_distance(mask)
    ramp = np.clip(0.5 + sd / width, 0.0, 1.0)
    inband = np.abs(sd) <= width / 2
    out = mask.copy()
    out[inband] = np.rint(ramp[inband] * 255.0).astype(np.uint8)
    return out


def graphcut(stylized: np.ndarray, original: np.ndarray, mask: np.ndarray, width: float,
             unary_weight: float = UNARY_WEIGHT, smoothness: float = SMOOTHNESS,
             levels: int = LEVELS, check: Callable[[], None] | None = None) -> np.ndarray:
    """The mask re-drawn inside the band by Wells, Wood and Xiao's MRF blending (engine/seam_mrf.py).

    Each band pixel is labelled with an opacity from original (0) to stylized (1); the
    labelling starts from the feather and moves where that lowers the blend's contrast.
    `check` is called between min-cuts; it raises to cancel.
    """
    sd = signed_distance(mask)
    inband = np.abs(sd) <= width / 2
    if not inband.any():
        return mask.copy()
    # Work on the band's bounds plus one pixel, whose outer ring is fixed by the mask.
    rect = around(inband, 1)
    box = rect.slices
    free = inband[box]
    if width > SOLVE_WIDTH:
        # The stylized layer has no detail finer than its working resolution: solve on a
        # smaller copy, whose band is SOLVE_WIDTH wide, and scale the opacities back up.
        scale = SOLVE_WIDTH / width
        size = (max(1, round(rect.width * scale)), max(1, round(rect.height * scale)))
        shrink = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        small = graphcut(shrink(stylized[box]), shrink(original[box]), shrink(mask[box]), SOLVE_WIDTH,
                         unary_weight, smoothness, levels, check)
        alpha = cv2.resize(small, (rect.width, rect.height), interpolation=cv2.INTER_LINEAR) / 255.0
    else:
        ramp = np.clip(0.5 + sd[box] / width, 0.0, 1.0)
        start = np.where(free, np.rint(ramp * levels) / levels, mask[box] / 255.0)
        alpha = seam_mrf.solve(stylized[box], original[box], ramp, free, start,
                               unary_weight, smoothness, levels, check=check)
    out = mask.copy()
    out[box][free] = np.rint(alpha[free] * 255.0).astype(np.uint8)
    return out


def apply_seam(method: str, stylized: np.ndarray, original: np.ndarray, mask: np.ndarray,
               width: float | None = None, check: Callable[[], None] | None = None) -> np.ndarray:
    """The layer mask for `method` (one of SEAMS); `width` is the band's, None for auto.

    `check` is called now and then during a long seam; it raises to cancel.
    """
    if method not in SEAMS:
        raise InputError(f"seam must be one of {', '.join(SEAMS)}, not '{method}'")
    if method == "none":
        return mask.copy()
    width = auto_width(mask.shape) if width is None else width
    if method == "feather":
        return feather(mask, width)
    return graphcut(stylized, original, mask, width, check=check)
