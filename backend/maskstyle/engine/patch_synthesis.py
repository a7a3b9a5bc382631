"""Weight-free style transfer by texture synthesis (Elad and Milanfar 2017).

"Style Transfer Via Texture Synthesis" (M. Elad and P. Milanfar, IEEE TIP 2017) rebuilds
the picture from the painting's own patches: it copies real brush marks instead of
optimising random features toward matching statistics. From coarse to fine scales and
from large to small patches, each round:
1. matches every patch of the current image to its nearest patch of the painting, in a
   PCA space of the painting's patches as the paper does. Patches are compared on their
   pixels and on two guide channels (the guidance channels of Hertzmann et al. 2001,
   "Image Analogies"): the photo's blurred lightness, so the painting's dark marks go
   where the photo is dark, and its edge strength, each image's own scaled to its 90th
   percentile, so the painting's lines and contours go where the photo has edges, even
   faint ones. That is what keeps faces faces and buildings' lines where they were,
   while leaving the patches' colours free to come from anywhere in the painting.
   Noise on the searched patches keeps the painting's textured marks in play (a smooth
   patch otherwise always matches a smooth one and the result washes out);
2. puts the matched patches back together by robust aggregation: iteratively
   reweighted least squares with r = 0.8, so one bad match does not smear its
   neighbours, each patch tapering towards its border;
3. fuses a little of the photo back in, more where it has edges;
4. moves the colours to the painting's by histogram matching along the painting's
   principal colour axes, keeping part of the photo's own lightness.
At the end, each band of the lightness's Laplacian pyramid, split into four directions, is
given the painting's histogram for that band and direction (Heeger and Bergen 1995), so the
contrast at every scale and in every direction, down to the canvas grain and the strokes'
slant, is the painting's and not the smoother one that averaging patches leaves. Before
that, a band that no longer follows the photo's same band (correlation under
STRUCTURE_FLOORS) gets back just enough of it: where the painting's marks are denser than
the photo's detail, that is what keeps a carved door's panels in the stained glass.
The search only visits patches that touch the selection, so a small selection costs
little. Regions (several masks, each with its own painting) search each painting for
the patches centred in its own region. The parameters were chosen by eye and with the
weight-free measures of bench/panel.py, on its tuning pairs (docs/quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

ROBUST_POWER = 0.8          # r in sum ||R_ij x - z_ij||^r (Elad and Milanfar 2017)
PCA_DIMS = 24               # dimensions of the patch search space
PCA_SAMPLES = 2000          # style patches used to fit the PCA basis
MAX_BANK = 8000             # style patches searched per (painting, scale, patch size)
QUERY_CHUNK = 1024          # query patches per distance block (bounds memory)
GAP = 0.75                  # query grid spacing, as a share of the patch size
TONE_KEEP = 0.4             # share of the photo's own lightness histogram kept by the colour match
MAX_STYLE_RATIO = 3.0       # the painting's longest side, at most this times the crop's
INITIAL_NOISE = 0.2         # noise added to the colour-moved photo at the coarsest scale
EDGE_SCALE = 0.25           # the edge guide's values, as a share of the lightness range
ORIENTATIONS = 4            # directions per band in the final texture matching
STRUCTURE_FLOORS = (0.5, 0.7)  # least correlation of a texture band with the photo's: finest, the others
EDGE_FLOOR = 0.3            # edges weaker than this share of the 90th percentile count as none


@dataclass(frozen=True)
class SynthesisPlan:
    """From coarse to fine: each level's scale (fraction of the working size) and its
    patch sizes (pixels at that level), each run for `rounds` rounds. The working size's
    longest side is `max_side` (never more than the crop's own)."""

    max_side: int
    levels: tuple[tuple[float, tuple[int, ...]], ...]
    rounds: int
    irls_steps: int = 2
    content_weight: float = 0.03    # how strongly the photo is fused back after each round
    edge_boost: float = 2.0         # extra fusion weight on the photo's edges
    guide_weight: float = 2.0       # weight of the luminance layout in the patch search
    fine_guide: float = 0.25        # the layout guide's share at the finest level
    query_noise: float = 0.4        # noise on the searched patches: keeps textured marks in play
    edge_guide: float = 2.5         # weight of the photo's edges in the patch search


PLANS = {
    "fast": SynthesisPlan(512, ((0.25, (21, 13)), (0.5, (21, 13, 9)), (1.0, (13, 9))), rounds=2),
    "balanced": SynthesisPlan(768, ((0.25, (33, 21, 13)), (0.5, (21, 13, 9)), (1.0, (13, 9, 7))),
                              rounds=3),
    "best": SynthesisPlan(1024, ((0.125, (33, 21)), (0.25, (33, 21, 13)), (0.5, (21, 13, 9)),
                           (1.0, (13, 9, 7))), rounds=3, irls_steps=3),
}


def rounds_of(plan: SynthesisPlan) -> int:
    """How many matching rounds a plan makes (for progress)."""
    return sum(len(sizes) for _, sizes in plan.levels) * plan.rounds


def gap_of(patch: int) -> int:
    """Spacing of the query grid: neighbouring patches overlap by a quarter of their size."""
    return max(2, round(patch * GAP))


class PatchBank:
    """A painting's patches of one size at one scale, on a grid of positions: the PCA
    coordinates of each patch's pixels plus its guide channel, to search by. The pixels to
    paste are read from the painting when a patch is chosen, so a bank stays small enough
    to keep between jobs. It depends on nothing but its inputs (its own fixed seed), so a
    kept bank gives the same result as a new one."""

    SEED = 20171009

    def __init__(self, style: torch.Tensor, guide: torch.Tensor, patch: int,
                 usable: torch.Tensor | None = None):
        """`usable` (1, 1, h, w), optional: only patches lying wholly where it is > 0.5 are
        kept (painterly harmonize paints with the picture's own background)."""
        gen = torch.Generator().manual_seed(self.SEED)
        h, w = style.shape[-2:]
        positions = max(1, (h - patch + 1) * (w - patch + 1))
        if usable is not None:
            positions = max(1, round(positions * float(usable.mean())))
        stride = max(1, int((positions / MAX_BANK) ** 0.5 + 0.999))
        ys = torch.arange(0, h - patch + 1, stride, device=style.device)
        xs = torch.arange(0, w - patch + 1, stride, device=style.device)
        self.patch, self.width = patch, w
        self.ys = ys[:, None].expand(-1, xs.numel()).flatten()
        self.xs = xs[None, :].expand(ys.numel(), -1).flatten()
        keep = None
        if usable is not None:
            keep = (-F.max_pool2d(-usable, patch, stride)).flatten() > 0.5
            self.ys, self.xs = self.ys[keep], self.xs[keep]
        self.empty = self.ys.numel() == 0
        if self.empty:
            return
        self.searched = torch.cat([style, guide], dim=1)[0]           # (3 + guides, h, w)
        offsets = torch.arange(patch, device=style.device)
        self._offsets = (offsets[:, None] * w + offsets[None, :]).flatten()  # (p^2,)

        pick = torch.randperm(self.ys.numel(), generator=gen)[:PCA_SAMPLES].to(style.device)
        sample = self.patches(pick, self.searched)
        self.mean = sample.mean(dim=0, keepdim=True)
        dims = min(PCA_DIMS, sample.shape[0], sample.shape[1])
        # Randomized SVD (Halko et al. 2011): a full one of 2000 x 3267 takes seconds. It
        # draws from the global generator, so it runs under a seed of its own and leaves
        # the caller's random state as it was.
        devices = [style.device] if style.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.SEED)
            _, _, v = torch.svd_lowrank(sample - self.mean, q=min(dims + 8, *sample.shape), niter=2)
        self.basis = v[:, :dims].T.contiguous()                        # (k, C p^2)
        # every grid patch's coordinates at once: a strided convolution with the basis
        filters = self.basis.view(dims, self.searched.shape[0], patch, patch)
        projected = F.conv2d(self.searched[None], filters, stride=stride)[0].flatten(1)
        if keep is not None:
            projected = projected[:, keep]
        coords = projected - (self.mean @ self.basis.T).T                 # (k, N)
        self.coords_t = coords.contiguous()
        self.norms = (coords ** 2).sum(dim=0, keepdim=True)                # (1, N)

    def patches(self, index: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        """(len(index), C p^2) pixels of the grid patches `index`, in F.unfold's order;
        by default the painting's three colour channels."""
        image = self.searched[:3] if image is None else image
        start = self.ys[index] * self.width + self.xs[index]
        flat = image.flatten(1)[:, start[:, None] + self._offsets]     # (C, M, p^2)
        return flat.permute(1, 0, 2).reshape(index.numel(), -1)

    def nearest(self, queries: torch.Tensor) -> torch.Tensor:
        """Indices of the nearest bank patch for each (Q, 4 p^2) query."""
        q = (queries - self.mean) @ self.basis.T
        out = torch.empty(q.shape[0], dtype=torch.long, device=q.device)
        for start in range(0, q.shape[0], QUERY_CHUNK):
            block = q[start:start + QUERY_CHUNK]
            # ||q - b||^2 = ||q||^2 - 2 q.b + ||b||^2; ||q||^2 does not change the argmin
            distance = torch.addmm(self.norms, block, self.coords_t, alpha=-2.0)
            out[start:start + QUERY_CHUNK] = distance.argmin(dim=1)
        return out


class Palette:
    """A painting's colours, to move other colours to: its mean, its principal colour
    axes, and the quantiles of its pixels along each axis."""

    LEVELS = 65

    def __init__(self, style: torch.Tensor, usable: torch.Tensor | None = None):
        pixels = style[0].reshape(3, -1).T
        if usable is not None and int((usable > 0.5).sum()) >= 16:
            pixels = pixels[usable.reshape(-1) > 0.5]
        self.mean = pixels.mean(dim=0, keepdim=True)
        _, _, self.axes = torch.linalg.svd(pixels - self.mean, full_matrices=False)
        self.levels = torch.linspace(0, 1, self.LEVELS, device=style.device)
        self.quantiles = _quantiles(self.project(pixels), self.levels)

    def project(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) @ self.axes.T

    def tones(self, photo: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The photo's lightness histogram (its quantiles along the painting's main axis)
        under `weight`, for `match` to keep part of."""
        return _quantiles(self.project(photo[0].reshape(3, -1).T)[_inside(weight)], self.levels)[:, 0]

    def match(self, x: torch.Tensor, weight: torch.Tensor, tones: torch.Tensor) -> torch.Tensor:
        """`x` with the colours under `weight` given the painting's histogram.

        Each principal axis is matched on its own by quantiles (a decorrelated per-channel
        histogram match); the map learnt inside the region is applied to the whole of `x`,
        so nothing jumps at the region's edge. Along the main (lightness) axis the target
        keeps TONE_KEEP of the photo's own histogram (`tones`), so a dark door in a light
        painting stays darker than the painting: a full match turns it white, and its
        carving with it. The target is a histogram, not the photo's pixels, so matching
        again after every round keeps the same share instead of losing half each time.
        """
        src = self.project(x[0].reshape(3, -1).T)                  # (P, 3)
        src_q = _quantiles(src[_inside(weight)], self.levels)
        target = self.quantiles.clone()
        target[:, 0] += TONE_KEEP * (tones - target[:, 0])
        out = torch.stack([_interp(src[:, c], src_q[:, c], target[:, c]) for c in range(3)], 1)
        return (out @ self.axes + self.mean).T.reshape(x.shape).clamp(0, 1)


def _inside(weight: torch.Tensor) -> torch.Tensor:
    """Where a region's weight counts, flattened: > 0.5, or > 0 for a faint one."""
    inside = weight.reshape(-1) > 0.5
    return inside if int(inside.sum()) >= 16 else weight.reshape(-1) > 0


def _quantiles(values: torch.Tensor, levels: torch.Tensor, most: int = 20000) -> torch.Tensor:
    """Quantiles of (N, C) values per column, from an even subsample of at most `most` rows."""
    if values.shape[0] > most:
        values = values[torch.linspace(0, values.shape[0] - 1, most, device=values.device).long()]
    return torch.quantile(values, levels, dim=0)


def _interp(values: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear map through (xp, fp), extended linearly by the end slopes."""
    xp = xp + torch.arange(xp.numel(), device=xp.device) * 1e-6   # strictly increasing
    i = torch.searchsorted(xp, values.contiguous()).clamp(1, xp.numel() - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    return f0 + (values - x0) * (f1 - f0) / (x1 - x0)


def edge_weight(content: torch.Tensor) -> torch.Tensor:
    """0..1 map of the photo's edges (gradient magnitude, smoothed, normalised)."""
    mag = _gradient_magnitude(content.mean(dim=1, keepdim=True), "constant")
    mag = F.avg_pool2d(mag, 5, 1, 2, count_include_pad=False)
    return (mag / (torch.quantile(mag.flatten(), 0.95) + 1e-6)).clamp(0, 1)


def _gradient_magnitude(gray: torch.Tensor, border: str) -> torch.Tensor:
    """|grad| of a (1, 1, H, W) image by central differences; the border rows and columns
    take `border` padding of the differences ("constant": 0, or "replicate")."""
    gx = F.pad(gray[..., :, 2:] - gray[..., :, :-2], (1, 1, 0, 0), mode=border)
    gy = F.pad(gray[..., 2:, :] - gray[..., :-2, :], (0, 0, 1, 1), mode=border)
    return (gx ** 2 + gy ** 2).sqrt()


def _padded(x: torch.Tensor, patch: int, gap: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """`x` reflect-padded at the bottom and right so the query grid covers every pixel."""
    h, w = x.shape[-2:]
    ph = (-(h - patch) % gap) if h > patch else patch - h
    pw = (-(w - patch) % gap) if w > patch else patch - w
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def _window(patch: int, device) -> torch.Tensor:
    """A patch's weight per pixel in the overlap: highest at its centre, tapering to a
    floor at its border, so neighbouring patches meet without a visible block edge."""
    ramp = torch.hann_window(patch + 2, periodic=False, device=device)[1:-1] + 0.02
    return ((ramp[:, None] * ramp[None, :]) ** 2).flatten().repeat(3)


def synthesis_round(x: torch.Tensor, guide: torch.Tensor, banks: list[PatchBank],
                    owner: torch.Tensor, active: torch.Tensor, irls_steps: int,
                    noise: float, gen: torch.Generator) -> torch.Tensor:
    """One round: match the patches of `x` that touch the selection, then aggregate.

    Patches are compared on their pixels (plus `noise`) and on `guide`, the photo's
    weighted lightness layout. `owner` (1, 1, H, W) holds, per pixel, the index of the
    region whose painting its patches come from; `active` (1, 1, H, W) is where synthesis
    happens. Pixels that no active patch covers keep their value.
    """
    patch = banks[0].patch
    gap = gap_of(patch)
    xp, (h, w) = _padded(x, patch, gap)
    grid = F.unfold(xp, patch, stride=gap)[0].T                    # (Q, 3 p^2)
    gp, _ = _padded(guide, patch, gap)
    jitter = noise * torch.randn(grid.shape, generator=gen).to(grid.device) if noise else 0.0
    search = torch.cat([grid + jitter, F.unfold(gp, patch, stride=gap)[0].T], dim=1)
    ap, _ = _padded(active, patch, gap)
    touches = F.unfold(ap, patch, stride=gap)[0].amax(dim=0) > 0   # (Q,)
    op, _ = _padded(owner.float(), patch, gap)
    centre = F.unfold(op, patch, stride=gap)[0][(patch * patch) // 2].long()
    matched = grid.clone()
    for index, bank in enumerate(banks):
        pick = touches & (centre == index)
        if pick.any():
            matched[pick] = bank.patches(bank.nearest(search[pick]))
    weight = touches.float()
    window = _window(patch, x.device)                              # (3 p^2,)
    out = xp
    for _ in range(irls_steps):
        if _ > 0:  # reweight: patches far from their match count less (r < 2)
            dist = ((F.unfold(out, patch, stride=gap)[0].T - matched) ** 2).sum(dim=1)
            weight = touches.float() * (dist + 1e-3) ** ((ROBUST_POWER - 2) / 2)
        per_pixel = weight[:, None] * window
        num = F.fold((matched * per_pixel).T[None], xp.shape[-2:], patch, stride=gap)
        den = F.fold(per_pixel.T[None], xp.shape[-2:], patch, stride=gap)
        covered = den > 0
        out = torch.where(covered, num / den.clamp(min=1e-12), xp)
    return out[..., :h, :w]


def synthesize(content: torch.Tensor, masks: list[torch.Tensor], styles: list[torch.Tensor],
               plan: SynthesisPlan, gen: torch.Generator, style_side: float,
               step: Callable[[], None] = lambda: None, cache: dict | None = None,
               style_keys: list[str] | None = None,
               usable: list[torch.Tensor | None] | None = None) -> torch.Tensor:
    """Rebuild `content` (1, 3, H, W) in [0, 1] from the paintings' patches where `masks`
    (each (1, 1, H, W) in [0, 1]) select, one painting per mask.

    Each painting is scaled so that its longest side is `style_side` pixels of `content`:
    the caller passes the whole photo's longest side at the crop's working scale, so the
    painting's marks have the size they would have if it were laid over the whole photo,
    whatever the size of the selection.
    Returns the synthesized image at the content's size: fully synthesized wherever a mask
    is non-zero (the caller blends through the soft mask), the photo elsewhere.
    `step` is called after every round (progress and cancel). With a `cache` (a dict, or
    the server's LRU) and a key per painting, palettes and patch banks are kept for the
    next job with the same painting at the same size. `usable`, per painting, optional:
    (1, 1, h, w) at the painting's size, > 0.5 where it may be copied from.
    """
    keys = style_keys or [None] * len(styles)
    usable = usable or [None] * len(styles)
    stack = torch.cat(masks, dim=1)                                # (1, R, H, W)
    owner_full = stack.argmax(dim=1, keepdim=True)
    cover_full = stack.amax(dim=1, keepdim=True)
    x = None
    for scale, sizes in plan.levels:
        size = (max(8, round(content.shape[-2] * scale)), max(8, round(content.shape[-1] * scale)))
        c = _resize(content, size)
        cover = _resize(cover_full, size).clamp(0, 1)
        owner = F.interpolate(owner_full.float(), size=size, mode="nearest").long()
        region_ws = [_resize(m, size).clamp(0, 1) for m in masks]
        # a huge photo with a small selection would need a huge painting: past a few times
        # the crop, only a corner of it would be seen anyway
        side = min(style_side * scale, MAX_STYLE_RATIO * max(size))
        painted = [_fit_style(s, side) for s in styles]
        allowed = [None if u is None else (_resize(u, p.shape[-2:]) > 0.99).float()
                   for u, p in zip(usable, painted)]
        palettes = [_kept(cache, ("palette", k, tuple(p.shape), str(p.device)), lambda p=p, u=u: Palette(p, u))
                    for k, p, u in zip(keys, painted, allowed)]
        tones = [palette.tones(c, w) for palette, w in zip(palettes, region_ws)]
        moved = _match_regions(c, region_ws, palettes, owner, tones)   # the photo in the paintings' colours
        if x is None:
            noise = torch.randn(c.shape, generator=gen).to(c.device)
            x = (moved + INITIAL_NOISE * noise * (cover > 0)).clamp(0, 1)
        else:
            x = _resize(x, size)
        # the finest level follows the photo less, so the painting's own marks come through
        gw = plan.guide_weight * (plan.fine_guide if scale >= 1.0 else 1.0)
        guide = _guide(moved, plan, gw, cover)
        style_guides = [_guide(p, plan, gw) for p in painted]
        fuse = plan.content_weight * (0.25 + plan.edge_boost * edge_weight(c))
        active = (F.max_pool2d(cover, 3, 1, 1) > 0).float()
        for patch in sizes:
            if patch > min(size) or any(patch > min(p.shape[-2:]) for p in painted):
                for _ in range(plan.rounds):  # too big for this crop or painting
                    step()
                continue
            banks = [_kept(cache, ("patches", k, tuple(p.shape), str(p.device), patch, gw, plan.edge_guide),
                           lambda p=p, g=g, u=u: PatchBank(p, g, patch, u))
                     for k, p, g, u in zip(keys, painted, style_guides, allowed)]
            if any(bank.empty for bank in banks):  # no whole patch of this size to copy
                for _ in range(plan.rounds):
                    step()
                continue
            for r in range(plan.rounds):
                # Noise on the searched patches keeps the painting's textured marks in
                # play (a smooth patch otherwise always matches a smooth one, and the
                # result washes out); half of it at the finest level, and each patch
                # size ends with a clean round that settles on coherent marks.
                last = r == plan.rounds - 1
                noise = 0.0 if last else plan.query_noise * (0.5 if scale >= 1.0 else 1.0)
                x = synthesis_round(x, guide, banks, owner, active, plan.irls_steps, noise, gen)
                x = (x + fuse * moved) / (1.0 + fuse)
                x = _match_regions(x, region_ws, palettes, owner, tones)
                step()
    return _match_region_bands(x, region_ws, painted, owner, c)


def match_bands(x: torch.Tensor, weight: torch.Tensor, style: torch.Tensor,
                photo: torch.Tensor | None = None, levels: int = 4) -> torch.Tensor:
    """`x` with each oriented band of its lightness given, under `weight`, the histogram of
    the painting's same band (Heeger and Bergen 1995): the contrast at each scale and in
    each direction, the fine canvas and the brush strokes' slant included, becomes the
    painting's. The bands are those of a Laplacian pyramid, each split into ORIENTATIONS
    directions (`_orientations`), as Heeger and Bergen's steerable pyramid splits them. The
    low-pass rest and the colours are kept, and so is each band's mean under `weight`: a
    coarse band's mean is how much lighter or darker the region is than its surroundings.

    With the `photo`, a band that has lost the photo's shapes at its scale first gets back
    just enough of the photo's same band (`_keep_structure`): to a correlation of 0.7 with
    it, and of 0.5 for the finest band, which is mostly the canvas grain but also holds a
    house's windows (STRUCTURE_FLOORS)."""
    def pyramid(img):
        bands = []
        for _ in range(levels):
            small = F.avg_pool2d(img, 2, ceil_mode=True)
            bands.append(img - F.interpolate(small, size=img.shape[-2:], mode="bilinear",
                                             align_corners=False))
            img = small
        return bands, img

    lightness = _lightness(x)
    bands, out = pyramid(lightness)
    style_bands, _ = pyramid(_lightness(style))
    photo_bands = pyramid(_lightness(photo))[0] if photo is not None else [None] * levels
    w = weight
    matched = []
    for level, (band, style_band, photo_band) in enumerate(zip(bands, style_bands, photo_bands)):
        inside = w.reshape(-1) > 0.5
        w = F.avg_pool2d(w, 2, ceil_mode=True)
        if int(inside.sum()) < 16:
            matched.append(band)
            continue
        if photo_band is not None:
            band = _keep_structure(band, photo_band, inside, STRUCTURE_FLOORS[min(level, 1)])
        parts = zip(_orientations(band), _orientations(style_band))
        matched.append(sum(_match_histogram(part, style_part, inside) for part, style_part in parts))
    for band in reversed(matched):
        out = F.interpolate(out, size=band.shape[-2:], mode="bilinear", align_corners=False) + band
    return (x + (out - lightness)).clamp(0, 1)


def _match_histogram(part: torch.Tensor, style_part: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """`part` with its values under `inside` given the spread of `style_part`'s (their
    quantiles about each one's mean), keeping its own mean there. Values beyond the range
    seen inside (outside the region, say a strong edge just past its border) move with
    the range's ends but are not stretched: stretched, they would be upsampled back into
    the region's rim."""
    levels = torch.linspace(0, 1, 65, device=part.device)
    flat = part.reshape(-1)
    offset = flat[inside].mean()
    src_q = _quantiles(flat[inside, None] - offset, levels)[:, 0]
    ref = style_part.reshape(-1, 1)
    ref_q = _quantiles(ref - ref.mean(), levels)[:, 0]
    centred = flat - offset
    within = centred.clamp(float(src_q[0]), float(src_q[-1]))
    return (_interp(within, src_q, ref_q) + (centred - within) + offset).reshape(part.shape)


def _keep_structure(band: torch.Tensor, photo_band: torch.Tensor, inside: torch.Tensor,
                    floor: float) -> torch.Tensor:
    """`band` plus just enough of the photo's same band that the two correlate at least
    `floor` under `inside`. Where the painting's marks are denser than the photo's
    detail (thin lead lines over a dark carved door), the synthesis fills the shapes with
    marks at random and the band no longer follows the photo; this draws the shapes back
    in at that scale, and the histogram matching after it keeps the painting's contrast.
    With both bands at unit spread and correlation rho, band + beta * photo correlates
    (rho + beta) / sqrt(1 + 2 beta rho + beta^2) with the photo, which is the floor t for
    beta = t sqrt(1 - rho^2) / sqrt(1 - t^2) - rho."""
    a, b = band.reshape(-1)[inside], photo_band.reshape(-1)[inside]
    a, b = a - a.mean(), b - b.mean()
    spread_a, spread_b = a.std(), b.std()
    if float(spread_a) < 1e-6 or float(spread_b) < 1e-6:
        return band
    rho = float((a * b).mean() / (spread_a * spread_b))
    if rho >= floor:
        return band
    beta = floor * (1 - rho ** 2) ** 0.5 / (1 - floor ** 2) ** 0.5 - rho
    return band + beta * (spread_a / spread_b) * photo_band


def _orientations(band: torch.Tensor, k: int | None = None) -> list[torch.Tensor]:
    """`band` split into `k` directional parts that add up to it exactly: angular raised-
    cosine windows on its spectrum, each covering twice the spacing between directions, so
    neighbouring windows sum to one (cos^2 + sin^2); the constant term is shared evenly."""
    k = k or ORIENTATIONS
    h, w = band.shape[-2:]
    spectrum = torch.fft.fft2(band)
    fy = torch.fft.fftfreq(h, device=band.device)[:, None]
    fx = torch.fft.fftfreq(w, device=band.device)[None, :]
    theta = torch.atan2(fy, fx) % torch.pi
    parts = []
    for i in range(k):
        d = (theta - i * torch.pi / k + torch.pi / 2) % torch.pi - torch.pi / 2
        window = torch.where(d.abs() < torch.pi / k, torch.cos(d * k / 2) ** 2, torch.zeros_like(d))
        window[0, 0] = 1.0 / k
        parts.append(torch.fft.ifft2(spectrum * window).real)
    return parts


def _lightness(image: torch.Tensor) -> torch.Tensor:
    return 0.299 * image[:, :1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:]


def _kept(cache, key, make):
    """`make()`, kept in `cache` under `key` (nothing is kept without a cache or a key)."""
    if cache is None or key[1] is None:
        return make()
    if key in cache:
        return cache[key]
    value = cache[key] = make()
    return value


def _edges(image: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient magnitude of the layout, scaled by its 90th percentile (inside `region`
    when given), so a dark door's faint carving and a bright painting's lead lines weigh
    alike in the search; capped at twice that percentile. Values below EDGE_FLOOR count
    as no edge: otherwise a flat sky could only take the painting's few flattest patches,
    copied over and over into visible tiles, instead of its softer strokes."""
    magnitude = _gradient_magnitude(_layout(image), "replicate")
    values = magnitude.flatten()
    if region is not None and int((region > 0.5).sum()) >= 16:
        values = values[region.flatten() > 0.5]
    top = _quantiles(values[:, None], torch.tensor([0.9], device=values.device))[0, 0]
    scaled = magnitude / (top + 1e-4)
    return EDGE_SCALE * (scaled - EDGE_FLOOR).clamp(0, 2 - EDGE_FLOOR)


def _guide(image: torch.Tensor, plan: SynthesisPlan, layout_weight: float,
           region: torch.Tensor | None = None) -> torch.Tensor:
    """The guide channels searched beside a patch's pixels: the weighted layout (where it
    is light and dark) and, when the plan has an edge weight, where its edges are."""
    layout = layout_weight * _layout(image)
    if plan.edge_guide <= 0:
        return layout
    return torch.cat([layout, plan.edge_guide * _edges(image, region)], dim=1)


def _layout(image: torch.Tensor) -> torch.Tensor:
    """Luminance, lightly blurred: where things are light and dark, not their texture."""
    return F.avg_pool2d(F.pad(_lightness(image), (2, 2, 2, 2), mode="replicate"), 5, 1)


def _match_region_bands(x, weights, paintings, owner, photo):
    """`x` with each region's texture bands matched to its painting's (`match_bands`),
    keeping the `photo`'s shapes."""
    return _per_region(x, weights, owner, lambda i, w: match_bands(x, w, paintings[i], photo))


def _match_regions(x, weights, palettes, owner, tones):
    """`x` with each region's colours moved to its painting's palette, keeping part of
    the photo's tones (`tones`, per region)."""
    return _per_region(x, weights, owner, lambda i, w: palettes[i].match(x, w, tones[i]))


def _per_region(x, weights, owner, match):
    """`match(i, weight)` for each region i, each result kept where region i owns the pixel."""
    if len(weights) == 1:
        return match(0, weights[0])
    out = x.clone()
    for index, w in enumerate(weights):
        own = owner == index
        out = torch.where(own, match(index, w * own), out)
    return out


def _resize(t: torch.Tensor, size) -> torch.Tensor:
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    if size[0] <= t.shape[-2] and size[1] <= t.shape[-1]:
        return F.interpolate(t, size=size, mode="area")
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)


def _fit_style(style: torch.Tensor, side: float) -> torch.Tensor:
    """The painting scaled so that its longest side is `side` pixels."""
    s = side / max(style.shape[-2:])
    return _resize(style, (max(8, round(style.shape[-2] * s)), max(8, round(style.shape[-1] * s))))
