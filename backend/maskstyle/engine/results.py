"""What every engine operation returns: the composite, and its layers as GIMP receives them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from maskstyle_wire.geometry import Rect


@dataclass
class Layer:
    """One result layer: its RGB crop at (x, y), and its mask."""

    name: str
    x: int
    y: int
    rgb: np.ndarray    # (h, w, 3) uint8
    mask: np.ndarray   # (h, w) uint8, 0 = keep the original

    @property
    def rect(self) -> Rect:
        """Where the layer lies in the image."""
        return Rect(self.x, self.y, self.mask.shape[1], self.mask.shape[0])

    @property
    def rgba(self) -> np.ndarray:
        """The layer as clients receive it (the contract's one result rule): alpha is its mask."""
        return np.dstack([self.rgb, self.mask])


@dataclass
class Result:
    """What stylize and harmonize return: the composite, and layers that rebuild it over the original."""

    image: np.ndarray          # the full composite (H, W, 3) uint8
    layers: list[Layer]
    encoder: str               # "none" where no encoder ran
    device: str
    timings: dict = field(default_factory=dict)
    method: str = ""           # stylize: "patch" or "neural"
