"""Rectangles in image coordinates: the one convention, Rect(x, y, width, height).

Standard library only. The plug-in crops with it, the result manifest places layers with its
fields (x, y, width, height), and the engine cuts arrays with it: `array[rect.slices]`.
"""

from __future__ import annotations

from typing import NamedTuple


class Rect(NamedTuple):
    """x, y, width, height in pixels; as a tuple it unpacks and compares like (x, y, w, h)."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def bounds(cls, mask, width, height) -> Rect | None:
        """The rectangle around a width x height mask's non-zero pixels, or None when all are 0."""
        left, right, top, bottom = width, 0, None, 0
        for row in range(height):
            kept = mask[row * width:(row + 1) * width].rstrip(b"\x00")
            if not kept:
                continue
            top = row if top is None else top
            bottom = row + 1
            left = min(left, len(kept) - len(kept.lstrip(b"\x00")))
            right = max(right, len(kept))
        return None if top is None else cls(left, top, right - left, bottom - top)

    @property
    def right(self) -> int:
        """The first column past the rectangle."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """The first row past the rectangle."""
        return self.y + self.height

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns): `array[rect.slices]` is the part of a row-major image array under it."""
        return slice(self.y, self.bottom), slice(self.x, self.right)

    def intersect(self, other: Rect) -> Rect | None:
        """The overlap of both, or None."""
        x1, y1 = max(self.x, other.x), max(self.y, other.y)
        x2, y2 = min(self.right, other.right), min(self.bottom, other.bottom)
        return Rect(x1, y1, x2 - x1, y2 - y1) if x2 > x1 and y2 > y1 else None

    def union(self, other: Rect) -> Rect:
        """The smallest rectangle holding both."""
        x1, y1 = min(self.x, other.x), min(self.y, other.y)
        x2, y2 = max(self.right, other.right), max(self.bottom, other.bottom)
        return Rect(x1, y1, x2 - x1, y2 - y1)

    def pad(self, margin: int) -> Rect:
        """self with `margin` pixels more on every side (not clipped: intersect it with a limit)."""
        return Rect(self.x - margin, self.y - margin, self.width + 2 * margin, self.height + 2 * margin)

    def grow(self, limit: Rect) -> Rect | None:
        """self plus a context margin (an eighth of its longer side, at least 16 px), kept inside limit."""
        return self.pad(max(16, max(self.width, self.height) // 8)).intersect(limit)

    def relative_to(self, other: Rect) -> Rect:
        """self in other's coordinates: where it lies in a buffer whose origin is other's corner."""
        return Rect(self.x - other.x, self.y - other.y, self.width, self.height)
