"""Rectangles around masks, and putting a result back into the original through a soft mask, exactly.

Rectangles are maskstyle_wire.geometry.Rect (x, y, width, height), the one convention of the
plug-in, the wire and the engine: `array[rect.slices]` is the part of an image under a Rect.
"""

from __future__ import annotations

import numpy as np
from maskstyle_wire.geometry import Rect


def whole(array: np.ndarray) -> Rect:
    """The rectangle an image array (rows, columns, ...) covers."""
    return Rect(0, 0, array.shape[1], array.shape[0])


def bounds(mask: np.ndarray) -> Rect | None:
    """The rectangle around the mask's non-zero pixels; None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return Rect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0]) + 1, int(rows[-1] - rows[0]) + 1)


def around(mask: np.ndarray, pad: int) -> Rect:
    """The non-empty mask's bounds plus `pad` pixels on every side, kept inside the image."""
    return bounds(mask).pad(pad).intersect(whole(mask))


def crop_rect(mask: np.ndarray, margin: float, min_pad: int = 8) -> Rect:
    """The non-empty mask's bounds plus context on every side (`margin` times its longer side,
    at least `min_pad` pixels), kept inside the image."""
    rect = bounds(mask)
    return around(mask, max(min_pad, round(margin * max(rect.width, rect.height))))


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
    place = Rect(x, y, crop_mask.shape[1], crop_mask.shape[0]).slices
    out[place] = blend(full[place], crop_result, crop_mask)
    return out
