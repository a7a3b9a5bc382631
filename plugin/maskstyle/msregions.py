"""Rectangles and byte-level pixel placing for the plug-in (standard library only).

Rectangles are (x, y, width, height) tuples in image coordinates. Pixel data are
bytes, row by row: RGBA has 4 bytes a pixel, masks 1.
"""

from __future__ import annotations


def intersect(a, b):
    """The overlap of two rectangles, or None."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x1, y1, x2 - x1, y2 - y1) if x2 > x1 and y2 > y1 else None


def grow(rect, limit):
    """rect plus a context margin (an eighth of its longer side, at least 16 px), kept inside limit."""
    margin = max(16, max(rect[2], rect[3]) // 8)
    return intersect((rect[0] - margin, rect[1] - margin, rect[2] + 2 * margin, rect[3] + 2 * margin), limit)


def alpha_in(rgba, layer_rect, crop):
    """The alpha of a layer (rgba covers layer_rect) placed in crop; 0 where the layer is not."""
    x, y, w, h = crop
    lx, ly, lw, _ = layer_rect
    mask = bytearray(w * h)
    area = intersect(layer_rect, crop)
    if area:
        ax, ay, aw, ah = area
        for row in range(ay, ay + ah):
            start = ((row - ly) * lw + (ax - lx)) * 4
            mask[(row - y) * w + ax - x:(row - y) * w + ax - x + aw] = rgba[start + 3:start + aw * 4:4]
    return bytes(mask)


def with_rgb_from(rgba, layer_rect, result, result_rect):
    """The layer's rgba with the RGB of result wherever result_rect covers it; the alpha is kept."""
    pixels = bytearray(rgba)
    lx, ly, lw, _ = layer_rect
    rx, ry, rw, _ = result_rect
    overlap = intersect(result_rect, layer_rect)
    if overlap:
        ox, oy, ow, oh = overlap
        for row in range(oy, oy + oh):
            src = ((row - ry) * rw + (ox - rx)) * 4
            dst = ((row - ly) * lw + (ox - lx)) * 4
            line = bytearray(result[src:src + ow * 4])
            line[3::4] = pixels[dst + 3:dst + ow * 4:4]
            pixels[dst:dst + ow * 4] = line
    return bytes(pixels)


def mask_from_alpha(rgba, mask_rect, width, height):
    """A width x height mask from the alpha of the RGBA image at mask_rect; 0 elsewhere."""
    mask = bytearray(width * height)
    mx, my, mw, _ = mask_rect
    overlap = intersect(mask_rect, (0, 0, width, height))
    if overlap:
        ox, oy, ow, oh = overlap
        for row in range(oy, oy + oh):
            src = ((row - my) * mw + (ox - mx)) * 4
            mask[row * width + ox:row * width + ox + ow] = rgba[src + 3:src + ow * 4:4]
    return bytes(mask)


def union(a, b):
    """The smallest rectangle holding both rectangles; either may be None."""
    if a is None or b is None:
        return a or b
    x1, y1 = min(a[0], b[0]), min(a[1], b[1])
    x2, y2 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x1, y1, x2 - x1, y2 - y1)


def bounds(mask, width, height):
    """The rectangle around a width x height mask's non-zero pixels, or None when all are 0."""
    left, right, top, bottom = width, 0, None, 0
    for row in range(height):
        line = mask[row * width:(row + 1) * width]
        kept = line.rstrip(b"\x00")
        if not kept:
            continue
        top = row if top is None else top
        bottom = row + 1
        left = min(left, len(kept) - len(kept.lstrip(b"\x00")))
        right = max(right, len(kept))
    return None if top is None else (left, top, right - left, bottom - top)


def split_alpha(rgba):
    """(the pixels made opaque, their alpha) of RGBA bytes."""
    opaque = bytearray(rgba)
    alpha = bytes(opaque[3::4])
    opaque[3::4] = b"\xff" * len(alpha)
    return bytes(opaque), alpha
