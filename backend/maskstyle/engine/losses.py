"""Losses for masked style transfer: masked Gram (Wells, Wood and Xiao, "Localized Style
Transfer With Semantic Segmentation"), content, total variation (Gatys et al. 2016)."""

from __future__ import annotations

import torch


def gram(features: torch.Tensor) -> torch.Tensor:
    """Plain Gram matrix (N, C, C), normalised by the number of positions."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def masked_gram(features: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Gram matrix of mask-weighted features, normalised by the mask's sum.

    G = (F * m) F^T / sum(m): each position counts by its mask weight, so a soft mask
    contributes in proportion and an all-ones mask gives exactly `gram(features)`.
    """
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    m = mask.reshape(n, 1, h * w)
    return (f * m) @ f.transpose(1, 2) / (m.sum(dim=2, keepdim=True) + eps)


def style_loss(grams: dict, targets: dict) -> torch.Tensor:
    """Mean over layers of ||G - A||^2 / ||A||^2: scale-free, so layers and encoders weigh alike."""
    total = 0.0
    for name, target in targets.items():
        total = total + ((grams[name] - target) ** 2).sum() / ((target ** 2).sum() + 1e-12)
    return total / len(targets)


def content_loss(features: torch.Tensor, target: torch.Tensor,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared feature difference relative to the target's energy (optionally weighted)."""
    diff = (features - target) ** 2
    if weight is None:
        return diff.mean() / ((target ** 2).mean() + 1e-12)
    return (diff * weight).sum() / ((target ** 2 * weight).sum() + 1e-12)


def tv_loss(image: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Squared total variation, optionally weighted per pixel."""
    dx = (image[..., :, 1:] - image[..., :, :-1]) ** 2
    dy = (image[..., 1:, :] - image[..., :-1, :]) ** 2
    if weight is None:
        return dx.mean() + dy.mean()
    return (dx * weight[..., :, 1:]).mean() + (dy * weight[..., 1:, :]).mean()
