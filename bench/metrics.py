"""Weight-free measures of a stylized region, shared by the quality benches.

- texture and colour moved: how far the region's filter-bank texture descriptor and its Lab
  colour statistics moved from the photo's toward the painting's (0 = not at all, 1 = all
  the way); see `moved_toward`;
- structure kept: correlation of the photo's and the result's edge maps in the region;
- seam visibility: gradient energy on the mask's border over the energy just beside it.
They need no pretrained network, so they judge every encoder alike.
"""

from __future__ import annotations

import cv2
import numpy as np


def _filters():
    bank = []
    for sigma in (1.5, 3.0, 6.0):
        for theta in np.arange(4) * np.pi / 4:
            k = cv2.getGaborKernel((0, 0), sigma, theta, sigma * 2.5, 0.6, 0, cv2.CV_32F)
            bank.append(k - k.mean())
    return bank


FILTERS = _filters()


def texture_descriptor(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Filter-bank and LoG log-energies on gray, plus Lab mean/std, over the mask.

    The log-energies are centred (their mean removed), so they describe how energy is
    spread over scales and orientations, not overall contrast: a plain gain on the
    luminance, as colour transfer does, moves them by nothing.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    w = (mask > 127)
    feats = [np.log(np.abs(cv2.filter2D(gray, -1, k))[w].mean() + 1e-4) for k in FILTERS]
    for sigma in (1.0, 2.0, 4.0):
        log = cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), sigma), cv2.CV_32F)
        feats.append(np.log(np.abs(log)[w].mean() + 1e-4))
    feats = np.array(feats) - np.mean(feats)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)[w]
    colour = np.concatenate([lab.mean(0), lab.std(0)]) / 40.0
    return np.concatenate([feats, colour])


def moved_toward(content, result, style, mask) -> tuple[float, float]:
    """(texture moved, colour moved) as 1 - d(result, style) / d(content, style)."""
    full = np.full(style.shape[:2], 255, np.uint8)
    dc, dr, ds = (texture_descriptor(a, m) for a, m in ((content, mask), (result, mask), (style, full)))
    n = len(FILTERS) + 3
    tex = 1 - np.linalg.norm(dr[:n] - ds[:n]) / (np.linalg.norm(dc[:n] - ds[:n]) + 1e-9)
    col = 1 - np.linalg.norm(dr[n:] - ds[n:]) / (np.linalg.norm(dc[n:] - ds[n:]) + 1e-9)
    return float(tex), float(col)


def edges(rgb, sigma: float = 2.0):
    """Gradient magnitude of the gray image after a Gaussian blur of `sigma` pixels."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), sigma)
    return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def structure_kept(content, result, mask) -> float:
    """Correlation of the edge maps (sigma 2) of photo and result where mask > 127."""
    w = mask > 127
    return float(np.corrcoef(edges(content)[w], edges(result)[w])[0, 1])


def seam_visibility(result, mask, width: int = 3) -> float:
    """Gradient energy on the mask's 50% contour over the energy in the bands beside it."""
    g = edges(result, 1.5)
    inside = (mask >= 128).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    band = cv2.dilate(inside, k) - cv2.erode(inside, k)
    beside = cv2.dilate(band, k, iterations=2) - band
    return float(g[band > 0].mean() / (g[beside > 0].mean() + 1e-9))
