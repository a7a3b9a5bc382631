"""Feature encoders for style transfer, and masks carried down to each layer.

Two encoders share one interface:
- `vgg19`: torchvision's VGG-19 (built with weights=None) with ImageNet weights from
  the registry's verified file.
- `builtin`: a weight-free encoder of seeded random filters at several scales
  (Ustyuzhaninov et al., ICLR 2017; He, Wang and Hopcroft, NIPS 2016). It needs no
  download, so everything runs on a machine that has never fetched anything.

`encoder(x)` returns {layer name: features}; `encoder.carry_mask(mask)` returns the mask
at each layer's resolution, halved at pooling and smoothed at convolutions (Zhou,
"Partial Style Transferring and Feature Optimization for Style Transfer Network").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from maskstyle_wire.contract import STYLIZE
from torch import nn

from .. import models

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ENCODERS = tuple(v for v in STYLIZE.param("encoder").values if v != "auto")  # builtin, vgg19


def _mirror(op: nn.Module, mask: torch.Tensor) -> torch.Tensor:
    """What a layer does to the footprint of a mask: convolutions smooth, pools halve."""
    if isinstance(op, nn.Conv2d):
        k, s, p = op.kernel_size, op.stride, op.padding
        return F.avg_pool2d(mask, k, s, p, count_include_pad=False)
    if isinstance(op, BlurPool):
        return F.avg_pool2d(mask, 3, 2, 1, count_include_pad=False)
    if isinstance(op, (nn.MaxPool2d, nn.AvgPool2d)):
        return F.avg_pool2d(mask, op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode)
    return mask


class Encoder(nn.Module):
    """A frozen nn.Sequential tapped after named layers (the shape of torchvision's VGG)."""

    name = "encoder"

    def __init__(self, body: nn.Sequential, taps: dict[int, str], style_layers, content_layer):
        super().__init__()
        self.body = body.eval().requires_grad_(False)
        self.taps = taps
        self.style_layers = tuple(style_layers)
        self.content_layer = content_layer
        self.last = max(taps)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (N, 3, H, W) RGB in [0, 1]."""
        h = (x - self.mean) / self.std
        out = {}
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i in self.taps:
                out[self.taps[i]] = h
            if i == self.last:
                break
        return out

    @torch.no_grad()
    def carry_mask(self, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """mask: (N, 1, H, W) in [0, 1] -> the same names as forward(), at their sizes."""
        out = {}
        for i, layer in enumerate(self.body):
            mask = _mirror(layer, mask)
            if i in self.taps:
                out[self.taps[i]] = mask
            if i == self.last:
                break
        return out


class VGG19Encoder(Encoder):
    """VGG-19 features: style at relu1_1..relu5_1, content at relu4_2 (Gatys et al.)."""

    name = "vgg19"
    TAPS = {1: "relu1_1", 6: "relu2_1", 11: "relu3_1", 20: "relu4_1", 22: "relu4_2", 29: "relu5_1"}

    def __init__(self, state_dict: dict):
        from torchvision.models import vgg19

        # Only the convolutional part is used; the classifier's weights are not needed.
        body = vgg19(weights=None).features[:30]
        prefix = "features."
        wanted = {k: v for k, v in state_dict.items() if k.startswith(prefix)
                  and int(k[len(prefix):].split(".")[0]) < 30}
        try:
            body.load_state_dict({k[len(prefix):]: v for k, v in wanted.items()}, strict=True)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise models.ModelError(
                f"the vgg19 weight file does not fit torchvision's VGG-19 ({str(exc)[:160]}); "
                f"delete it and {models.install_hint(models.entry('vgg19'))}"
            ) from None
        super().__init__(body, self.TAPS,
                         ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_2")

    @classmethod
    def from_registry(cls) -> "VGG19Encoder":
        return cls(models.load_state_dict("vgg19"))


class BlurPool(nn.Module):
    """Halve with a [1 2 1] binomial blur first (Zhang 2019): plain 2x2 pooling leaves
    a blocky 2x2 pattern in the gradients, which the optimised image then shows."""

    def __init__(self):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16.0).view(1, 1, 3, 3))

    def forward(self, x):
        c = x.shape[1]
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.conv2d(x, self.kernel.expand(c, 1, 3, 3), stride=2, groups=c)


def _random_filters(in_ch: int, per_size: int, sizes: tuple[int, ...],
                    gen: torch.Generator) -> torch.Tensor:
    """Filters of several sizes, centred in one k x k kernel; unit norm each."""
    k = max(sizes)
    weight = torch.zeros(per_size * len(sizes), in_ch, k, k)
    for j, size in enumerate(sizes):
        w = torch.randn(per_size, in_ch, size, size, generator=gen)
        if size > 1:  # zero-mean filters see structure, not brightness
            w -= w.mean(dim=(1, 2, 3), keepdim=True)
        w /= w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        o = (k - size) // 2
        weight[j * per_size:(j + 1) * per_size, :, o:o + size, o:o + size] = w
    return weight


class BuiltinEncoder(nn.Module):
    """Weight-free encoder: random multi-scale filters on an image pyramid.

    Level l sees the image average-pooled by 2**l, so the deepest level's filters span
    about 8 x 7 = 56 pixels, the scale of brush strokes. Each level mixes 1x1 filters
    (colour) with zero-mean 3x3 to 7x7 filters (texture), then a ReLU; the full-resolution
    level keeps to small kernels because it costs the most. The filters come from a fixed
    seed: the same on every machine, independent of the user's seed.
    """

    name = "builtin"
    SEED = 20170424
    SIZES = ((1, 3), (1, 3, 5), (1, 3, 5, 7), (1, 3, 5, 7))

    def __init__(self, per_size: int = 32, levels: int = 4):
        super().__init__()
        gen = torch.Generator().manual_seed(self.SEED)
        self.convs = nn.ModuleList()
        for level in range(levels):
            weight = _random_filters(3, per_size, self.SIZES[min(level, len(self.SIZES) - 1)], gen)
            conv = nn.Conv2d(3, weight.shape[0], weight.shape[-1], padding=weight.shape[-1] // 2,
                             bias=False, padding_mode="reflect")
            conv.weight.data.copy_(weight)
            self.convs.append(conv)
        self.pool = BlurPool()
        self.requires_grad_(False).eval()
        self.style_layers = ("pixels",) + tuple(f"level{l}" for l in range(levels))
        self.content_layer = "level2" if levels > 2 else self.style_layers[-1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        image = (x - self.mean) / self.std
        # The colours themselves, with a constant channel: their Gram holds the colour
        # means and covariance, which random texture filters pin down only loosely.
        out = {"pixels": torch.cat([image, torch.ones_like(image[:, :1])], dim=1)}
        for level, conv in enumerate(self.convs):
            if level:
                image = self.pool(image)
            out[f"level{level}"] = F.relu(conv(image))
        return out

    @torch.no_grad()
    def carry_mask(self, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"pixels": mask}
        for level, conv in enumerate(self.convs):
            if level:
                mask = _mirror(self.pool, mask)
            out[f"level{level}"] = _mirror(conv, mask)
        return out


def available_encoders() -> dict[str, bool]:
    return {"builtin": True, "vgg19": models.is_installed("vgg19")}


def default_encoder_name() -> str:
    return "vgg19" if models.is_installed("vgg19") else "builtin"


def load_encoder(name: str = "auto", device: torch.device | str = "cpu") -> nn.Module:
    """Build an encoder by name ('auto' picks vgg19 when installed, else builtin)."""
    if name in (None, "", "auto"):
        name = default_encoder_name()
    if name == "builtin":
        enc: nn.Module = BuiltinEncoder()
    elif name == "vgg19":
        enc = VGG19Encoder.from_registry()
    else:
        raise models.ModelError(f"unknown encoder '{name}'; choose one of: {', '.join(ENCODERS)}")
    return enc.to(device)
