"""Soft, edge-aware mask borders: the fast guided filter (He and Sun 2015).

The filter's coefficients are found at the working size and applied to the full-size
pixels, so a mask cut at a reduced size comes back with edges that follow the photo's.
"""

from __future__ import annotations

import cv2
import numpy as np

RADIUS = 2          # guided filter radius (working pixels) and regulariser
EPS = 1e-3
ROWS = 512          # full-resolution rows upsampled at a time (bounds memory)


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


def feather(small: np.ndarray, hard: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Soft uint8 mask at `full`'s size from a hard mask at `small`'s size (the fast guided
    filter: coefficients at the working size, applied to the full-size image)."""
    guide = small.astype(np.float32) / 255.0
    a, b = guided_coefficients(guide, hard.astype(np.float32), RADIUS, EPS)
    h, w = full.shape[:2]
    out = np.empty((h, w), np.uint8)
    xs = ((np.arange(w) + 0.5) * (a.shape[1] / w) - 0.5).astype(np.float32)
    for top in range(0, h, ROWS):
        rows = np.arange(top, min(h, top + ROWS))
        ys = ((rows + 0.5) * (a.shape[0] / h) - 0.5).astype(np.float32)
        map_x, map_y = np.meshgrid(xs, ys)
        a_rows = cv2.remap(a, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        q = cv2.remap(b, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        q += (a_rows * full[rows].astype(np.float32)).sum(axis=2) / 255.0
        out[rows] = np.clip(np.rint(q * 255.0), 0, 255).astype(np.uint8)
    return out
