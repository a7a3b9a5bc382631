"""Boxes around a mask, and putting a result back into the original through a soft mask, exactly."""

from __future__ import annotations

import numpy as np


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the non-zero mask, exclusive ends; None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def expand_box(box, width: int, height: int, margin: int):
    x0, y0, x1, y1 = box
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)


def crop_box(mask: np.ndarray, margin: float, min_pad: int = 8) -> tuple[int, int, int, int]:
    """The mask's bounding box plus context: `margin` times its longest side, at least `min_pad`."""
    box = bounding_box(mask)
    pad = max(min_pad, round(margin * max(box[2] - box[0], box[3] - box[1])))
    return expand_box(box, mask.shape[1], mask.shape[0], pad)


def blend(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """original*(1-m) + result*m in uint8, with original pixels kept bit-exact where m == 0."""
    m = (mask.astype(np.float32) / 255.0)[..., None]
    mixed = original.astype(np.float32) * (1.0 - m) + result.astype(np.float32) * m
    out = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    untouched = mask == 0
    out[untouched] = original[untouched]
    return out


def paste(full: np.ndarray, crop_result: np.ndarray, crop_mask: np.ndarray, x: int, y: int) -> np.ndarray:
    """A copy of `full` with `crop_result` blended in at (x, y) through `crop_mask`."""
    out = full.copy()
    h, w = crop_mask.shape
    out[y:y + h, x:x + w] = blend(full[y:y + h, x:x + w], crop_result, crop_mask)
    return out
