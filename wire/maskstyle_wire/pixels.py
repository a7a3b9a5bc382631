"""Byte-level pixel placing for a front-end that puts result layers on an image (standard
library only).

Pixel data are bytes, row by row: RGBA has 4 bytes a pixel, masks 1. Each buffer covers a
Rect in image coordinates.
"""

from __future__ import annotations

from .geometry import Rect


def _row_starts(area: Rect, buffer: Rect):
    """The pixel index where each row of area begins in a buffer covering `buffer`."""
    inside = area.relative_to(buffer)
    return [(inside.y + row) * buffer.width + inside.x for row in range(area.height)]


def alpha_in(rgba, layer_rect: Rect, crop: Rect) -> bytes:
    """The alpha of a layer (rgba covers layer_rect) as a mask covering crop; 0 where the layer is not."""
    mask = bytearray(crop.width * crop.height)
    area = layer_rect.intersect(crop)
    if area:
        n = area.width
        for src, dst in zip(_row_starts(area, layer_rect), _row_starts(area, crop)):
            mask[dst:dst + n] = rgba[src * 4 + 3:(src + n) * 4:4]
    return bytes(mask)


def with_rgb_from(rgba, layer_rect: Rect, result, result_rect: Rect) -> bytes:
    """The layer's rgba with the RGB of result wherever result_rect covers it; the alpha is kept."""
    pixels = bytearray(rgba)
    area = result_rect.intersect(layer_rect)
    if area:
        n = area.width
        for src, dst in zip(_row_starts(area, result_rect), _row_starts(area, layer_rect)):
            line = bytearray(result[src * 4:(src + n) * 4])
            line[3::4] = pixels[dst * 4 + 3:(dst + n) * 4:4]
            pixels[dst * 4:(dst + n) * 4] = line
    return bytes(pixels)


def mask_from_alpha(rgba, mask_rect: Rect, width, height) -> bytes:
    """A width x height mask from the alpha of the RGBA image at mask_rect; 0 elsewhere."""
    return alpha_in(rgba, mask_rect, Rect(0, 0, width, height))


def split_alpha(rgba) -> tuple[bytes, bytes]:
    """(the pixels made opaque, their alpha) of RGBA bytes."""
    opaque = bytearray(rgba)
    alpha = bytes(opaque[3::4])
    opaque[3::4] = b"\xff" * len(alpha)
    return bytes(opaque), alpha
