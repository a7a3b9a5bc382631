"""Seams between a stylized result and the original, in a band around the mask's edge.

- `none`: the mask as given.
- `feather`: a linear ramp across the band, from the signed distance to the mask's edge.
  Where the two images differ by about the same everywhere, the seam adds gradient energy
  |S-O|^2 |grad a|^2, and a linear ramp makes that smallest (a smoothstep adds 1.2 times as
  much, and measured 7 to 10% more visible: bench/seam_eval.py).
- `graphcut` (seed 000): min-cuts label each band pixel stylized or original. The pairwise
  cost between neighbours p and q is the seam contrast |S(p)-O(p)|^2 + |S(q)-O(q)|^2, so a
  cut runs where the stylized and original images agree; the unary cost favours the side
  of the edge the pixel is on. One cut per level line of the feather's ramp: the mask is
  the share of cuts that call a pixel stylized. Where the images differ evenly the cuts
  stay on their level lines and this is the feather; where they agree, the cuts gather
  there and the transition moves to it.

The edge is the mask's 50% contour. Only band pixels change: outside the band the mask is
returned as given, so a pixel the mask leaves at 0 and the band does not reach stays 0.
"""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

from ..errors import InputError

SEAMS = ("none", "feather", "graphcut")
UNARY_WEIGHT = 1.0     # unary scale, relative to the band's mean seam contrast
LEVELS = 8             # graphcut: cuts per band, one per level line of the ramp
CONTRAST_BLUR = 1 / 3  # graphcut: seam contrast smoothed at this share of the band width


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
             unary_weight: float = UNARY_WEIGHT, levels: int = LEVELS,
             contrast_blur: float = CONTRAST_BLUR) -> np.ndarray:
    """The mask re-drawn inside the band from minimum-contrast cuts (seed 000).

    Cut k keeps the pixels deeper than level t_k stylized, t_k spread evenly across the
    band, unless the seam contrast says otherwise; the mask is the mean of the cuts. The
    contrast is smoothed first (sigma a third of the band), so that the cuts follow where
    the images agree over an area rather than threading between single pixels, which makes
    a ragged edge (the variants measured are listed in docs/regions.md).
    """
    sd = signed_distance(mask)
    half = width / 2
    inband = np.abs(sd) <= half
    if not inband.any():
        return mask.copy()
    # Work on the band's bounding box plus one pixel, whose outer ring is fixed by the mask.
    ys, xs = np.nonzero(inband)
    y0, y1 = max(0, ys.min() - 1), min(mask.shape[0], ys.max() + 2)
    x0, x1 = max(0, xs.min() - 1), min(mask.shape[1], xs.max() + 2)
    sd_box, band_box = sd[y0:y1, x0:x1], inband[y0:y1, x0:x1]
    fixed_in, fixed_out = ~band_box & (sd_box > 0), ~band_box & (sd_box < 0)
    s = stylized[y0:y1, x0:x1].astype(np.float32) / 255.0
    o = original[y0:y1, x0:x1].astype(np.float32) / 255.0
    contrast = cv2.GaussianBlur(((s - o) ** 2).sum(axis=2), (0, 0), max(0.5, contrast_blur * width))
    scale = float(contrast[band_box].mean()) + 1e-6
    pairwise = contrast + 0.01 * scale  # where the images agree everywhere, shorter cuts win
    right = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
    down = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    along_x = pairwise + np.roll(pairwise, -1, axis=1)
    along_y = pairwise + np.roll(pairwise, -1, axis=0)
    depth = np.clip(sd_box / half, -1.0, 1.0)  # -1 at the band's outer edge, 1 at its inner
    lam = unary_weight * scale * half            # per band width, so it scales with the band
    hard = 1e6 * (lam + 1.0)

    stylized_share = np.zeros(contrast.shape, np.float32)
    for level in -1.0 + (2.0 * np.arange(levels) + 1.0) / levels:
        g = maxflow.Graph[float]()
        nodes = g.add_grid_nodes(contrast.shape)
        g.add_grid_edges(nodes, along_x, right, symmetric=True)
        g.add_grid_edges(nodes, along_y, down, symmetric=True)
        # Source = stylized: its capacity is paid when the pixel ends up original.
        to_original = lam * np.clip(depth - level, 0, None)
        to_stylized = lam * np.clip(level - depth, 0, None)
        to_original[fixed_in] = hard
        to_stylized[fixed_out] = hard
        g.add_grid_tedges(nodes, to_original, to_stylized)
        g.maxflow()
        stylized_share += ~g.get_grid_segments(nodes)
    alpha = stylized_share / levels
    out = mask.copy()
    region = out[y0:y1, x0:x1]
    region[band_box] = np.rint(alpha[band_box] * 255.0).astype(np.uint8)
    return out


def apply_seam(method: str, stylized: np.ndarray, original: np.ndarray, mask: np.ndarray,
               width: float | None = None) -> np.ndarray:
    """The layer mask for `method` (one of SEAMS); `width` is the band's, None for auto."""
    if method not in SEAMS:
        raise InputError(f"seam must be one of {', '.join(SEAMS)}, not '{method}'")
    if method == "none":
        return mask.copy()
    width = auto_width(mask.shape) if width is None else width
    if method == "feather":
        return feather(mask, width)
    return graphcut(stylized, original, mask, width)
