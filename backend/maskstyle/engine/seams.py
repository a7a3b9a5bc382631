"""Seams between a stylized result and the original, in a band around the mask's edge.

- `none`: the mask as given.
- `feather`: a soft ramp across the band, from the signed distance to the mask's edge.
- `graphcut` (seed 000): a min-cut labels each band pixel stylized or original. The unary
  cost favours the side of the edge the pixel is on, more so the deeper it is; the pairwise
  cost between neighbours p and q is |S(p)-O(p)|^2 + |S(q)-O(q)|^2, so the cut runs where the
  stylized and original images agree and the seam shows least. The mask then ramps across
  the band as feather's does, but centred on the cut instead of the mask's edge.

The edge is the mask's 50% contour. Only band pixels change: outside the band the mask is
returned as given, so a pixel the mask leaves at 0 and the band does not reach stays 0.
"""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

from ..errors import InputError

SEAMS = ("none", "feather", "graphcut")
UNARY_WEIGHT = 0.5     # unary scale, relative to the band's mean seam contrast


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
    """A smoothstep ramp from 0 to 255 across the band; the mask as given outside it."""
    sd = signed_distance(mask)
    t = np.clip(0.5 + sd / width, 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)
    inband = np.abs(sd) <= width / 2
    out = mask.copy()
    out[inband] = np.rint(ramp[inband] * 255.0).astype(np.uint8)
    return out


def graphcut(stylized: np.ndarray, original: np.ndarray, mask: np.ndarray, width: float,
             unary_weight: float = UNARY_WEIGHT) -> np.ndarray:
    """The mask re-drawn inside the band along a minimum-contrast cut (seed 000).

    The cut decides where the edge goes; the transition then spans the band as feather's
    does, 50% on the cut and smoothstepping to 1 and 0 at the band's inner and outer edges.
    (A near-hard edge along the cut, only lightly smoothed, measured more visible than a
    feather: bench/seam_eval.py.)
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
    contrast = ((s - o) ** 2).sum(axis=2)
    scale = float(contrast[band_box].mean()) + 1e-6
    eps = 0.01 * scale  # so that, where the images agree everywhere, the shorter cut wins

    g = maxflow.Graph[float]()
    nodes = g.add_grid_nodes(contrast.shape)
    right = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
    down = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    g.add_grid_edges(nodes, contrast + np.roll(contrast, -1, axis=1) + eps, right, symmetric=True)
    g.add_grid_edges(nodes, contrast + np.roll(contrast, -1, axis=0) + eps, down, symmetric=True)

    # Source = stylized. A source capacity is paid when the pixel ends up original, and the
    # reverse for the sink; outside the band the side is fixed.
    depth = np.clip(sd_box / half, -1.0, 1.0)
    lam = unary_weight * scale
    to_original = lam * np.clip(depth, 0, None)
    to_stylized = lam * np.clip(-depth, 0, None)
    hard = 1e6 * (scale + 1.0)
    to_original[fixed_in] = hard
    to_stylized[fixed_out] = hard
    g.add_grid_tedges(nodes, to_original, to_stylized)
    g.maxflow()
    stylized_side = ~g.get_grid_segments(nodes)

    alpha = _ramp(stylized_side, fixed_in, fixed_out)
    out = mask.copy()
    region = out[y0:y1, x0:x1]
    region[band_box] = np.rint(alpha[band_box] * 255.0).astype(np.uint8)
    return out


def _ramp(inside: np.ndarray, fixed_in: np.ndarray, fixed_out: np.ndarray) -> np.ndarray:
    """0 to 1 across a band: 0.5 on the border of `inside`, a smoothstep up to 1 where the band
    meets `fixed_in` and down to 0 where it meets `fixed_out`, however far each one is."""
    def dist(zero_where: np.ndarray) -> np.ndarray:
        if not zero_where.any():
            return np.full(zero_where.shape, 1e6, np.float32)
        return cv2.distanceTransform((~zero_where).astype(np.uint8), cv2.DIST_L2,
                                     cv2.DIST_MASK_PRECISE) - 0.5
    to_border = np.where(inside, dist(~inside), dist(inside))
    to_edge = np.where(inside, dist(fixed_in), dist(fixed_out))
    t = np.clip(to_border / np.maximum(to_border + to_edge, 1e-6), 0.0, 1.0)
    u = np.where(inside, 0.5 + 0.5 * t, 0.5 - 0.5 * t)
    return u * u * (3.0 - 2.0 * u)


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
