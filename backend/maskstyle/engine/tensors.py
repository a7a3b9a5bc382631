"""Images as torch tensors: uint8 arrays in and out, and the sizes the engine works at."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from maskstyle_wire.contract import MIN_SIDE


def to_tensor(array: np.ndarray, device) -> torch.Tensor:
    """uint8 (H, W, C) or (H, W) -> float (1, C, H, W) in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(array)).to(device=device, dtype=torch.float32) / 255.0
    return t.unsqueeze(0).unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).unsqueeze(0).contiguous()


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    return (t[0].clamp(0, 1).permute(1, 2, 0) * 255.0).round().to(torch.uint8).cpu().numpy()


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N, C, H, W) to (h, w): area when shrinking, bicubic when growing."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    if size[0] < t.shape[-2] and size[1] < t.shape[-1]:
        return F.interpolate(t, size=size, mode="area")
    return F.interpolate(t, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def fit(height: int, width: int, longest: int) -> tuple[int, int]:
    """(h, w) scaled so the longest side is `longest`, never below MIN_SIDE."""
    s = longest / max(height, width)
    return max(MIN_SIDE, round(height * s)), max(MIN_SIDE, round(width * s))


def working_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """fit(), but never above the crop's own resolution: a small crop is worked on at its
    own size, as upscaling it first would only blur what the result copies from it (tiny
    crops still get MIN_SIDE)."""
    h, w = fit(height, width, longest)
    return min(h, max(height, MIN_SIDE)), min(w, max(width, MIN_SIDE))
