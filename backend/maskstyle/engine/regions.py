"""Helpers for several regions in one image: their union, their layers' masks, the borders
between them (for the boundary TV), and the surrogate style image (both from Tamir, "A Smoother
Segmentation-Based Style Transfer")."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def union(masks: list[np.ndarray]) -> np.ndarray:
    """How much of each pixel the masks cover together, as stacked layers do: 1 - prod(1 - m).

    It is 0 exactly where every mask is 0."""
    if len(masks) == 1:
        return masks[0].copy()
    keep = np.ones(masks[0].shape, np.float32)
    for m in masks:
        keep *= 1.0 - m.astype(np.float32) / 255.0
    out = np.rint((1.0 - keep) * 255.0).astype(np.uint8)
    anything = np.any(np.stack(masks) > 0, axis=0)
    out[anything & (out == 0)] = 1  # a pixel some mask touches is not "untouched"
    return out


def layer_masks(cover: np.ndarray, masks: list[np.ndarray]) -> list[np.ndarray]:
    """Masks for layers listed bottom to top that all hold the same pixels, such that stacking
    them in Normal mode over the original covers each pixel by `cover` (uint8).

    Each pixel's cover is shared among the regions in proportion to their masks (the nearest
    region where no mask reaches, as a seam may go past the masks). Seen through the layers
    above it, a layer must then show only its share: from the top down, its mask is its share
    over what the layers above leave uncovered.
    """
    if len(masks) == 1:
        return [cover.copy()]
    m = np.stack(masks).astype(np.float32) / 255.0
    total = m.sum(axis=0)
    orphan = (total == 0) & (cover > 0)
    if orphan.any():
        dist = np.stack([cv2.distanceTransform((mk == 0).astype(np.uint8), cv2.DIST_L2, 3)
                         if mk.any() else np.full(mk.shape, np.inf, np.float32) for mk in masks])
        nearest = np.eye(len(masks), dtype=np.float32)[dist.argmin(axis=0)]  # (H, W, k)
        m[:, orphan] = nearest[orphan].T
        total = m.sum(axis=0)
    share = m / np.maximum(total, 1e-12) * (cover.astype(np.float32) / 255.0)
    remaining = np.ones(cover.shape, np.float32)
    out = []
    for c in share[::-1]:
        a = np.where(remaining > 1e-6, c / np.maximum(remaining, 1e-6), 0.0)
        remaining = np.maximum(remaining - c, 0.0)
        out.append(np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8))
    return out[::-1]


def border_weight(masks: list[torch.Tensor], radius: float) -> torch.Tensor:
    """(1, 1, H, W) weights, 1 on the borders between regions (and between a region and the
    uncovered rest), falling linearly to 0 at `radius` pixels from them."""
    stack = torch.cat(masks, dim=1)[0]
    rest = (1.0 - stack.sum(dim=0).clamp(max=1.0)).unsqueeze(0)
    labels = torch.cat([stack, rest]).argmax(dim=0).cpu().numpy()
    edge = np.zeros(labels.shape, bool)
    dx = labels[:, 1:] != labels[:, :-1]
    dy = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    if not edge.any():
        return torch.zeros_like(masks[0])
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(1.0 - dist / max(radius, 1.0), 0.0, 1.0)
    return torch.from_numpy(weight).to(masks[0]).view(1, 1, *weight.shape)


def cover_resize(style: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`style` (1, 3, h, w) scaled to cover `size` and centre-cropped to it (no distortion)."""
    h, w = size
    sh, sw = style.shape[-2:]
    s = max(h / sh, w / sw)
    nh, nw = max(h, round(sh * s)), max(w, round(sw * s))
    mode = "area" if s < 1 else "bicubic"
    scaled = F.interpolate(style, size=(nh, nw), mode=mode,
                           **({} if mode == "area" else {"align_corners": False})).clamp(0, 1)
    top, left = (nh - h) // 2, (nw - w) // 2
    return scaled[..., top:top + h, left:left + w]


def surrogate_image(content: torch.Tensor, masks: list[torch.Tensor],
                    styles: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Tamir's surrogate style image: each style pasted into its region (soft masks mix),
    the content where no region is; and the regions' combined cover, (1, 1, H, W)."""
    size = tuple(content.shape[-2:])
    total = torch.stack(masks).sum(dim=0)
    cover = total.clamp(max=1.0)
    out = content * (1.0 - cover)
    for m, style in zip(masks, styles):
        out = out + m / total.clamp(min=1.0) * cover_resize(style, size)
    return out, cover
