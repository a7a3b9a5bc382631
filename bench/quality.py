"""Weight-free quality report for masked style transfer on the shared photos and paintings.

For each (content, style) pair: stylize inside a feathered ellipse, then measure with
descriptors that do not depend on the encoder:
- leakage: largest change outside the mask (must be 0);
- texture moved: how far the region's Gabor/LoG filter-bank energies and Lab colour
  statistics moved from the content's toward the style's (0 = not at all, 1 = all the way);
- structure kept: correlation of the content's and the result's edge maps in the region;
- seam: gradient energy in a band on the mask border over the bands just inside/outside.
A plain colour-transfer baseline (Reinhard, Lab mean/std) is in the table too: it moves
colour but not texture.

    .venv/bin/python bench/quality.py --data ../shared/data --out docs/quality.md --images docs/img
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from maskstyle.demo import ellipse_mask
from maskstyle.engine.composite import paste
from maskstyle.engine.stylize import StylizeOptions, stylize
from maskstyle.images import read_image

PAIRS = [("tubingen", "starry_night"), ("golden_gate", "the_scream"), ("corgi", "candy"),
         ("sailboat", "mosaic")]


def _filters():
    bank = []
    for sigma in (1.5, 3.0, 6.0):
        for theta in np.arange(4) * np.pi / 4:
            k = cv2.getGaborKernel((0, 0), sigma, theta, sigma * 2.5, 0.6, 0, cv2.CV_32F)
            bank.append(k - k.mean())
    return bank


FILTERS = _filters()


def texture_descriptor(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Filter-bank and LoG log-energies on gray, plus Lab mean/std, over the mask.

    The log-energies are centred (their mean removed), so they describe how energy is
    spread over scales and orientations, not overall contrast: a plain gain on the
    luminance, as colour transfer does, moves them by nothing.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    w = (mask > 127)
    feats = [np.log(np.abs(cv2.filter2D(gray, -1, k))[w].mean() + 1e-4) for k in FILTERS]
    for sigma in (1.0, 2.0, 4.0):
        log = cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), sigma), cv2.CV_32F)
        feats.append(np.log(np.abs(log)[w].mean() + 1e-4))
    feats = np.array(feats) - np.mean(feats)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)[w]
    colour = np.concatenate([lab.mean(0), lab.std(0)]) / 40.0
    return np.concatenate([feats, colour])


def moved_toward(content, result, style, mask) -> tuple[float, float]:
    """(texture moved, colour moved) as 1 - d(result, style) / d(content, style)."""
    full = np.full(style.shape[:2], 255, np.uint8)
    dc, dr, ds = (texture_descriptor(a, m) for a, m in ((content, mask), (result, mask), (style, full)))
    n = len(FILTERS) + 3
    tex = 1 - np.linalg.norm(dr[:n] - ds[:n]) / (np.linalg.norm(dc[:n] - ds[:n]) + 1e-9)
    col = 1 - np.linalg.norm(dr[n:] - ds[n:]) / (np.linalg.norm(dc[n:] - ds[n:]) + 1e-9)
    return float(tex), float(col)


def edges(rgb):
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 1.5)
    return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def structure_kept(content, result, mask) -> float:
    w = mask > 127
    return float(np.corrcoef(edges(content)[w], edges(result)[w])[0, 1])


def seam_visibility(result, mask, width: int = 3) -> float:
    """Gradient energy on the mask's 50% contour over the energy in the bands beside it."""
    g = edges(result)
    inside = (mask >= 128).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    band = cv2.dilate(inside, k) - cv2.erode(inside, k)
    beside = cv2.dilate(band, k, iterations=2) - band
    return float(g[band > 0].mean() / (g[beside > 0].mean() + 1e-9))


def reinhard(content, style, mask):
    """Baseline: move the region's Lab mean/std to the style's, then composite."""
    c = cv2.cvtColor(content, cv2.COLOR_RGB2LAB).astype(np.float32)
    s = cv2.cvtColor(style, cv2.COLOR_RGB2LAB).astype(np.float32).reshape(-1, 3)
    w = mask > 127
    mc, sc = c[w].mean(0), c[w].std(0) + 1e-6
    out = (c - mc) / sc * s.std(0) + s.mean(0)
    out = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return paste(content, out, mask, 0, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--encoder", default="builtin")
    ap.add_argument("--max-side", type=int, default=640, help="downscale inputs to this first")
    ap.add_argument("--pairs", type=int, default=len(PAIRS))
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--images", help="folder for small result JPEGs")
    args = ap.parse_args()
    data = Path(args.data)
    rows = ["| content | style | method | leakage | texture moved | colour moved | structure kept | seam | seconds |",
            "|---|---|---|---|---|---|---|---|---|"]
    for content_name, style_name in PAIRS[:args.pairs]:
        content = read_image(data / "content" / f"{content_name}.jpg")
        scale = args.max_side / max(content.shape[:2])
        if scale < 1:
            content = cv2.resize(content, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        style = read_image(data / "style" / f"{style_name}.jpg")
        h, w = content.shape[:2]
        mask = ellipse_mask(h, w, (int(w * .2), int(h * .15), int(w * .8), int(h * .85)), feather=8)
        runs = {"reinhard colour transfer": (lambda: reinhard(content, style, mask))}
        for method in ("masked", "composite"):
            opts = StylizeOptions(quality=args.quality, encoder=args.encoder, method=method)
            runs[f"{method} ({args.encoder}, {args.quality})"] = (
                lambda o=opts: stylize(content, mask, style, o).image)
        for label, fn in runs.items():
            t = time.perf_counter()
            result = fn()
            seconds = time.perf_counter() - t
            leak = int(np.abs(result.astype(int) - content)[mask == 0].max(initial=0))
            tex, col = moved_toward(content, result, style, mask)
            rows.append(f"| {content_name} | {style_name} | {label} | {leak} | {tex:.2f} | {col:.2f} | "
                        f"{structure_kept(content, result, mask):.2f} | "
                        f"{seam_visibility(result, mask):.2f} | {seconds:.1f} |")
            print(rows[-1], flush=True)
            if args.images and label.startswith("masked"):
                Path(args.images).mkdir(parents=True, exist_ok=True)
                small = cv2.resize(result, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(Path(args.images) / f"{content_name}_{style_name}.jpg"),
                            cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    table = "\n".join(rows)
    print("\n" + table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
