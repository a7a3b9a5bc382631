"""Weight-free salient-object maps: where the subject of a photo probably is.

This follows MB+ (Zhang et al., "Minimum Barrier Salient Object Detection at 80 FPS",
ICCV 2015), which needs no training:
- boundary connectivity: the minimum barrier distance of each pixel to the image border,
  per Lab channel, by raster scans. Background regions touch the border through paths
  of nearly constant colour; objects are cut off from it by an edge.
- backgroundness: colour distance (Mahalanobis) to each of the four border strips,
  dropping the strip most unlike the rest (the object may touch one side).
- a location prior: the centre of the frame, or the user's rough hint when given.
Then MB+'s smoothing and contrast stretch. Everything runs at a small size: the map is a
prior and a source of first colour samples for a cut (engine.segment), not an outline.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SIDE = 200      # saliency is coarse: work with the long side at this many pixels
SMOOTH_FACTOR = 50   # MB+'s alpha for the smoothing kernel, at a 300 px map
SCAN_PASSES = 2      # forward/backward raster-scan rounds (MB+ uses 3; 2 is close)


def _normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _scan_rows(dist, upper, lower, value) -> None:
    """One top-to-bottom pass: each row may take a better path through the row above."""
    for y in range(1, dist.shape[0]):
        up = np.maximum(upper[y - 1], value[y])
        lo = np.minimum(lower[y - 1], value[y])
        better = up - lo < dist[y]
        dist[y][better] = (up - lo)[better]
        upper[y][better] = up[better]
        lower[y][better] = lo[better]


def barrier_distance(channel: np.ndarray, passes: int = SCAN_PASSES) -> np.ndarray:
    """Minimum barrier distance to the image border (max - min of values along the path)."""
    value = channel.astype(np.float32)
    dist = np.full(value.shape, np.inf, np.float32)
    dist[0, :] = dist[-1, :] = dist[:, 0] = dist[:, -1] = 0.0
    upper, lower = value.copy(), value.copy()
    arrays = (dist, upper, lower, value)
    for _ in range(passes):
        # down, up, right, left: views share memory, so each scan updates in place
        for view in (lambda a: a, lambda a: a[::-1], lambda a: a.T, lambda a: a.T[::-1]):
            _scan_rows(*(view(a) for a in arrays))
    return dist


def backgroundness(lab: np.ndarray, strip: int) -> np.ndarray:
    """How unlike the border strips each pixel's colour is (MB+'s U_B)."""
    h, w, _ = lab.shape
    pixels = lab.reshape(-1, 3).astype(np.float64)
    strips = (lab[:strip], lab[-strip:], lab[:, :strip], lab[:, -strip:])
    maps = []
    for s in strips:
        samples = s.reshape(-1, 3).astype(np.float64)
        mean = samples.mean(axis=0)
        cov = np.cov(samples, rowvar=False) + np.eye(3) * 1e-2
        diff = pixels - mean
        d = np.sqrt(np.einsum("ij,jk,ik->i", diff, np.linalg.inv(cov), diff).clip(min=0))
        maps.append(_normalise(d.reshape(h, w)))
    stack = np.stack(maps)
    return _normalise(stack.sum(axis=0) - stack.max(axis=0))


def location_prior(shape: tuple[int, int], hint: np.ndarray | None = None) -> np.ndarray:
    """1 at the centre (or inside the hint), falling off with distance."""
    h, w = shape
    if hint is not None and hint.any():
        outside = cv2.distanceTransform((hint == 0).astype(np.uint8), cv2.DIST_L2, 3)
        return np.exp(-0.5 * (outside / (0.25 * max(h, w))) ** 2).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((yy - (h - 1) / 2) / h) ** 2 + ((xx - (w - 1) / 2) / w) ** 2) / np.sqrt(0.5)
    return (1.0 - r).astype(np.float32)


def _reconstruct(marker: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Morphological reconstruction by dilation of `marker` under `mask`."""
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(4 * max(mask.shape)):
        grown = np.minimum(cv2.dilate(marker, kernel), mask)
        if np.array_equal(grown, marker):
            break
        marker = grown
    return marker


def smooth(sal: np.ndarray) -> np.ndarray:
    """MB+'s opening then closing by reconstruction: fills objects, drops small specks,
    and keeps the edges where they are. The kernel grows with the mean saliency."""
    width = max(3, int(SMOOTH_FACTOR * np.sqrt(float(sal.mean())) * max(sal.shape) / 300))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    opened = _reconstruct(cv2.erode(sal, kernel), sal)
    inverted = 1.0 - opened
    return 1.0 - _reconstruct(cv2.erode(inverted, kernel), inverted)


def saliency(image: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """A float32 saliency map in [0, 1] the size of `image` (uint8 RGB)."""
    h, w = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)

    connectivity = _normalise(sum(barrier_distance(lab[..., c]) for c in range(3)))
    strip = max(2, round(0.1 * min(size)))
    combined = _normalise(connectivity + backgroundness(lab, strip))
    small_hint = None
    if hint is not None:
        small_hint = cv2.resize(hint.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    combined = smooth(combined.astype(np.float32))
    combined = _normalise(combined * location_prior(combined.shape, small_hint))
    # MB+'s contrast stretch: push the map towards 0 and 1 around Otsu's threshold
    level, _ = cv2.threshold(np.rint(combined * 255).astype(np.uint8), 0, 255,
                             cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    stretched = 1.0 / (1.0 + np.exp(-10.0 * (combined - level / 255.0)))
    return cv2.resize(_normalise(stretched).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_LINEAR)
