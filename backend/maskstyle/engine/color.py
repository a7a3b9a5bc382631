"""Colour-space helpers on (N, 3, H, W) RGB tensors in [0, 1]."""

from __future__ import annotations

import torch

# ITU-R BT.601 (the JPEG YCbCr), Cb and Cr centred on 0.
_RGB_TO_YCC = torch.tensor([[0.299, 0.587, 0.114],
                            [-0.168736, -0.331264, 0.5],
                            [0.5, -0.418688, -0.081312]])


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YCC.to(rgb), rgb)


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YCC).to(ycc), ycc)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """Y as a 3-channel gray image, so an RGB encoder can read it."""
    return rgb_to_ycbcr(rgb)[:, :1].expand(-1, 3, -1, -1).contiguous()


def keep_colours(stylized: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """The stylized luminance with the original's chroma (Gatys et al. 2016, colour preservation)."""
    y = rgb_to_ycbcr(stylized)[:, :1]
    cbcr = rgb_to_ycbcr(original)[:, 1:]
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0, 1)


def match_mean_std(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Shift and scale each channel of `source` to `reference`'s mean and spread."""
    s_mean, s_std = source.mean(dim=(2, 3), keepdim=True), source.std(dim=(2, 3), keepdim=True)
    r_mean, r_std = reference.mean(dim=(2, 3), keepdim=True), reference.std(dim=(2, 3), keepdim=True)
    return ((source - s_mean) / (s_std + 1e-6) * r_std + r_mean).clamp(0, 1)
