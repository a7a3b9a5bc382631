"""The graph-cut seam's Markov random field (after the MRF border blending of Wells, Wood and
Xiao, "Localized Style Transfer With Semantic Segmentation"), over soft labels.

Each free pixel p gets an opacity a_p, one of `levels + 1` evenly spaced values from 0
(original) to 1 (stylized). The blend is C = O + a (S - O), and the energy is

    unary     u * r2 * (a_p - ramp_p)^2                 favours the nearer side
    pairwise  w_pq * (|C_q - C_p|^2 + s * k_pq * (a_q - a_p)^2)

over 8-connected neighbours (diagonals weigh 1/2). The pairwise term is the blend's contrast
plus a smoothness cost scaled by Wells et al.'s seam contrast k_pq = (|S-O|^2(p) + |S-O|^2(q)) / 2
(with a floor, MIN_STEP_COST), so an opacity step is cheap where the two images agree and
dear where they differ. `ramp` is the feather: where the images differ evenly the answer
is the feather. r2 is the mean |S - O|^2 over the free pixels, which makes u independent
of how far apart the images are.

It is minimised by alpha-expansion (Boykov, Veksler and Zabih 2001): for each level in turn
one minimum cut (PyMaxflow) decides which pixels switch to it. Pairs for which a move is
not submodular are truncated, and a move is kept only if the true energy falls.
"""

from __future__ import annotations

from typing import Callable

import maxflow
import numpy as np

# An opacity step costs at least this share of the band's mean |S-O|^2, so that where the
# two images agree the mask stays smooth instead of speckled.
MIN_STEP_COST = 0.3
# forward neighbour steps (dy, dx) and their weights; with their reverses, the 8 neighbours
STEPS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 0.5), (1, -1, 0.5))


def _pairs(free: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat indices (p, q) and weights of the neighbour pairs with at least one free pixel.

    Built from the free pixels' coordinates, so memory follows the band, not the image.
    """
    h, w = free.shape
    ys, xs = np.nonzero(free)
    ps, qs, ws = [], [], []
    for dy, dx, weight in STEPS:
        # pairs whose first pixel is free ...
        qy, qx = ys + dy, xs + dx
        ok = (qy < h) & (qx >= 0) & (qx < w)
        p_first, q_first = ys[ok] * w + xs[ok], qy[ok] * w + qx[ok]
        # ... and those whose second pixel is free and first is not
        py, px = ys - dy, xs - dx
        ok = (py >= 0) & (px >= 0) & (px < w)
        ok[ok] = ~free[py[ok], px[ok]]
        p_second, q_second = py[ok] * w + px[ok], ys[ok] * w + xs[ok]
        ps += [p_first, p_second]
        qs += [q_first, q_second]
        ws.append(np.full(p_first.size + p_second.size, weight))
    return np.concatenate(ps), np.concatenate(qs), np.concatenate(ws)


class _PairCost:
    """w_pq (|C_q - C_p|^2 + k_pq (a_q - a_p)^2) for a set of pairs, as a quadratic in
    (a_p, a_q) whose coefficients are worked out once."""

    def __init__(self, coefficients: np.ndarray):
        self.c = coefficients

    @classmethod
    def build(cls, step_o, d_p, d_q, weight, k):
        dot = lambda x, y: (x * y).sum(axis=1)
        return cls(weight * np.stack([dot(step_o, step_o), dot(d_p, d_p) + k, dot(d_q, d_q) + k,
                                      2 * dot(step_o, d_p), 2 * dot(step_o, d_q),
                                      2 * (dot(d_p, d_q) + k)]))

    def subset(self, sel) -> "_PairCost":
        return _PairCost(self.c[:, sel])

    def __call__(self, a_p, a_q) -> np.ndarray:
        oo, pp, qq, op, oq, pq = self.c
        return oo + a_p * (a_p * pp - op) + a_q * (a_q * qq + oq) - a_p * a_q * pq


def solve(stylized: np.ndarray, original: np.ndarray, ramp: np.ndarray, free: np.ndarray,
          alpha: np.ndarray, unary_weight: float, smoothness: float, levels: int,
          sweeps: int = 2, check: Callable[[], None] | None = None) -> np.ndarray:
    """Opacities (float, 0..1) for the free pixels; the others keep their value in `alpha`.

    stylized, original: uint8 (H, W, 3); ramp, alpha: float (H, W); free: bool (H, W).
    `check` is called before each move (it raises to cancel).
    """
    h, w = free.shape
    p, q, wt = _pairs(free)
    flat_free = np.flatnonzero(free.ravel())
    stylized, original = stylized.reshape(-1, 3), original.reshape(-1, 3)

    def colours(index):  # (O, S - O) at these pixels, in 0..1
        o = original[index].astype(np.float32) / 255.0
        return o, stylized[index].astype(np.float32) / 255.0 - o

    o_p, d_p = colours(p)
    o_q, d_q = colours(q)
    r2 = float((colours(flat_free)[1] ** 2).sum(axis=1).mean(dtype=np.float64)) + 1e-12
    k = smoothness * (((d_p ** 2).sum(axis=1) + (d_q ** 2).sum(axis=1)) / 2 + MIN_STEP_COST * r2)
    cost = _PairCost.build(o_q - o_p, d_p, d_q, wt, k)
    del o_p, o_q, d_p, d_q, k
    target = ramp.ravel()[flat_free]

    def unary(a_free):
        return unary_weight * r2 * (a_free - target) ** 2

    node = np.full(h * w, -1)
    node[flat_free] = np.arange(flat_free.size)
    p_free, q_free = free.ravel()[p], free.ravel()[q]
    # pairs with both ends free, and pairs with one end fixed (a unary term on the other)
    both, only_p, only_q = p_free & q_free, p_free & ~q_free, ~p_free & q_free
    cost_both, cost_p, cost_q = cost.subset(both), cost.subset(only_p), cost.subset(only_q)
    bp, bq, op_, fq, fp, oq_ = p[both], q[both], p[only_p], q[only_p], p[only_q], q[only_q]
    i, j = node[bp], node[bq]

    def as_is(a):
        """What each free pixel (unary) and each pair costs with the opacities in `a`."""
        return (unary(a[flat_free]), cost_p(a[op_], a[fq]), cost_q(a[fp], a[oq_]),
                cost_both(a[bp], a[bq]))

    a = alpha.ravel().astype(np.float64).copy()
    kept = as_is(a)
    for _ in range(sweeps):
        improved = False
        for label in np.arange(levels + 1) / levels:
            if check is not None:
                check()
            cost0, stay_p, stay_q, e00 = kept
            # cost of each free pixel keeping its opacity (0) or switching to `label` (1)
            cost1 = unary(np.full(flat_free.size, label))
            np.add.at(cost1, node[op_], cost_p(label, a[fq]) - stay_p)
            np.add.at(cost1, node[oq_], cost_q(a[fp], label) - stay_q)
            # both free: E(xp, xq) = A + (C-A) xp + (D-C) xq + (B+C-A-D) (1-xp) xq
            a_p, a_q = a[bp], a[bq]
            e01 = cost_both(a_p, label)
            e10 = cost_both(label, a_q)
            e11 = cost_both(label, label)
            np.add.at(cost1, i, e10 - e00)
            np.add.at(cost1, j, e11 - e10)
            link = np.maximum(e01 + e10 - e00 - e11, 0.0)  # truncated where not submodular
            base = np.minimum(cost0, cost1)
            g = maxflow.Graph[float]()
            ids = np.asarray(g.add_nodes(flat_free.size))
            g.add_grid_tedges(ids, cost1 - base, cost0 - base)  # sink side = switch
            g.add_edges(ids[i], ids[j], link, np.zeros_like(link))
            g.maxflow()
            switch = g.get_grid_segments(ids)
            if not switch.any():
                continue
            trial = a.copy()
            trial[flat_free[switch]] = label
            trial_kept = as_is(trial)
            # every pair has a free end, so the three pair sets hold the whole energy
            energy, trial_energy = (sum(float(part.sum()) for part in parts) for parts in (kept, trial_kept))
            if trial_energy < energy - 1e-9 * abs(energy):
                a, kept, improved = trial, trial_kept, True
        if not improved:
            break
    return a.reshape(h, w)
