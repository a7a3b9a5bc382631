"""The pieces of a GrabCut-style minimum cut: colour models, edge weights, the cut itself.

The cut minimises  sum(cost) over foreground pixels
                 + sum of the edge weights between neighbours it separates
exactly, with PyMaxflow (Boykov and Kolmogorov's max-flow) on an 8-connected grid. Unlike
OpenCV's graph cut inside cv2.grabCut, it takes any per-pixel cost, so a spatial prior can
join the colours.
"""

from __future__ import annotations

import maxflow
import numpy as np

COLOUR_BINS = 64          # histogram bins per RGB channel (fine bins separate near colours)
COLOUR_CLIP = 5.0         # cap on the colour log-likelihood ratio
EDGE_FLOOR = 0.05         # cutting across a strong edge still costs this share of a flat one
SURE = 1e9                # capacity that pins a pixel to its side

# right, down, and the two diagonals (weighted 1/sqrt(2): a cut's length is then measured
# closer to Euclidean than with four neighbours)
_OFFSETS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 0.5 ** 0.5), (1, -1, 0.5 ** 0.5))


def colour_log_ratio(image: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
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


def contrast_weights(image: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """GrabCut's edge weights exp(-beta |dI|^2 / d) for each neighbour offset (dy, dx):
    weights[y, x] joins pixel (y, x) to (y + dy, x + dx); cheap to cut along image edges."""
    f = image.astype(np.float32)
    h, w = f.shape[:2]
    diffs = []
    for dy, dx, _ in _OFFSETS:
        a = f[:h - dy, max(0, -dx):w - max(0, dx)]
        b = f[dy:, max(0, dx):w - max(0, -dx) if dx < 0 else w]
        diffs.append(((a - b) ** 2).sum(axis=2))
    beta = 1.0 / (2.0 * max(1e-6, float(np.mean([d.mean() for d in diffs]))))
    out = []
    for (dy, dx, length), d in zip(_OFFSETS, diffs):
        wgt = np.zeros((h, w), np.float32)
        x0 = max(0, -dx)
        wgt[:h - dy, x0:x0 + d.shape[1]] = length * (EDGE_FLOOR + (1 - EDGE_FLOOR)
                                                     * np.exp(-beta * d))
        out.append((dy, dx, wgt))
    return out


def min_cut(cost: np.ndarray, weights, smoothness: float, sure_fg: np.ndarray,
            sure_bg: np.ndarray) -> np.ndarray:
    """The foreground (bool) of the minimum cut: `cost` is each pixel's cost of being
    foreground rather than background; `weights` from contrast_weights, times `smoothness`."""
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes(cost.shape)
    for dy, dx, wgt in weights:
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1
        graph.add_grid_edges(nodes, weights=smoothness * wgt, structure=structure,
                             symmetric=True)
    to_bg = np.maximum(-cost, 0).astype(np.float64)   # paid when the pixel ends up background
    to_fg = np.maximum(cost, 0).astype(np.float64)    # paid when it ends up foreground
    to_bg[sure_fg] = SURE
    to_fg[sure_bg] = SURE
    graph.add_grid_tedges(nodes, to_bg, to_fg)
    graph.maxflow()
    return ~graph.get_grid_segments(nodes)

