"""Seam visibility of the three seams (none, feather, graphcut) on the shared photos.

For each case the selection is stylized once; the three seams are then applied to that
one result with engine.seams.apply_seam, exactly as stylize() does after its optimisation,
so the rows of a case differ by the seam alone.

Seam visibility is the gradient energy (squared Sobel magnitude of the gray image, after a
sigma-1 blur) in the seam band, the pixels within width/2 of the mask's 50% contour, over
the mean energy of the two bands of the same width beside it (inside and outside). The band
is the same for every seam, and every seam's transition lies inside it. 1.0 means the band
is as busy as its surroundings; above 1 the edge of the selection shows as an extra edge.
"band share" is the mean opacity over the band: 0.5 for a transition centred on the edge,
lower when a seam gives more of the band to the original.

    .venv/bin/python bench/seam_eval.py --data ../shared/data --out docs/seam_eval.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from maskstyle.engine.composite import bounds, paste
from maskstyle.engine.seams import SEAMS, apply_seam, auto_width, band, graphcut, signed_distance
from maskstyle.engine.stylize import Layer, StylizeOptions, stylize
from maskstyle.images import read_image, read_mask

# (photo, style, mask): "ellipse" is a hard ellipse over the middle, else a segment/ mask
CASES = [("content/tubingen.jpg", "starry_night", "ellipse"),
         ("content/golden_gate.jpg", "the_scream", "ellipse"),
         ("content/corgi.jpg", "candy", "ellipse"),
         ("segment/hflickr-f1806.jpg", "mosaic", "segment/hflickr-f1806_mask.png")]
# --segment-pairs: every segment/ photo with its true outline, the styles taken in turn
STYLES = ["starry_night", "the_scream", "candy", "mosaic", "composition_vii", "shipwreck",
          "woman_with_hat_matisse", "picasso_selfport1907", "escher_sphere"]


def segment_cases(data: Path):
    photos = sorted((data / "segment").glob("*.jpg"))
    return [(f"segment/{p.name}", STYLES[i % len(STYLES)], f"segment/{p.stem}_mask.png")
            for i, p in enumerate(photos)]


def energy(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    return cv2.Sobel(gray, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(gray, cv2.CV_32F, 0, 1) ** 2


def seam_visibility(image: np.ndarray, mask: np.ndarray, width: float) -> float:
    sd = signed_distance(mask)
    half = width / 2
    e = energy(image)
    band = np.abs(sd) <= half
    inner = (sd > half) & (sd <= half + width)
    outer = (sd < -half) & (sd >= -half - width)
    return float(e[band].mean() / ((e[inner].mean() + e[outer].mean()) / 2 + 1e-9))


def load_case(data: Path, photo: str, mask_spec: str, max_side: int):
    image = read_image(data / photo)
    s = max_side / max(image.shape[:2])
    if s < 1:
        image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    if mask_spec == "ellipse":
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2), (w // 4, int(h * .3)), 0, 0, 360, 255, -1)
    else:
        mask = read_mask(data / mask_spec)
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return image, np.where(mask >= 128, 255, 0).astype(np.uint8)


def stylized_layer(image, mask, style, args, key):
    """The one stylized layer of a case (from --cache when it is there) and the seconds it took."""
    cached = Path(args.cache) / f"{key}_{args.quality}_{args.encoder}_{args.max_side}.npz" if args.cache else None
    if cached and cached.exists():
        z = np.load(cached)
        return Layer("Stylized", int(z["x"]), int(z["y"]), z["rgb"], z["mask"]), float(z["seconds"])
    t = time.perf_counter()
    result = stylize(image, mask, style, StylizeOptions(quality=args.quality, encoder=args.encoder))
    seconds = time.perf_counter() - t
    (layer,) = result.layers
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, x=layer.x, y=layer.y, rgb=layer.rgb, mask=layer.mask, seconds=seconds)
    return layer, seconds


def add_case_arguments(ap: argparse.ArgumentParser, max_side: int) -> None:
    """The options that say where the cases come from and how they are stylized."""
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--encoder", default="builtin")
    ap.add_argument("--max-side", type=int, default=max_side, help="downscale the photos to this first")
    ap.add_argument("--cache", help="keep each case's stylized crop here and reuse it on later runs "
                         "(empty it after changing the engine: the key does not see the code)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_case_arguments(ap, max_side=384)
    ap.add_argument("--cases", type=int, help="only the first N cases")
    ap.add_argument("--segment-pairs", action="store_true",
                    help="run every segment/ photo with its true outline instead of CASES")
    ap.add_argument("--sweep", action="store_true", help="also try other graph-cut unary weights")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--images", help="folder for a small JPEG of each case's seams side by side")
    args = ap.parse_args()
    data = Path(args.data)
    rows = ["| photo | style | mask | seam | visibility | band share | changed outside mask+band | seconds |",
            "|---|---|---|---|---|---|---|---|"]
    totals = {s: [] for s in SEAMS}
    cases = segment_cases(data) if args.segment_pairs else CASES
    for photo, style_name, mask_spec in cases[:args.cases]:
        image, mask = load_case(data, photo, mask_spec, args.max_side)
        style = read_image(data / "style" / f"{style_name}.jpg")
        layer, seconds = stylized_layer(image, mask, style, args, f"{Path(photo).stem}_{style_name}")
        original = image[layer.rect.slices]
        selected = bounds(mask)
        width = auto_width((selected.height, selected.width))  # as stylize() picks it
        variants = {s: (lambda s=s: apply_seam(s, layer.rgb, original, layer.mask, width)) for s in SEAMS}
        if args.sweep:
            for lam in (0.3, 3.0):
                variants[f"graphcut, unary {lam}"] = (
                    lambda lam=lam: graphcut(layer.rgb, original, layer.mask, width, unary_weight=lam))
        shown = []
        allowed = (mask > 0) | (np.abs(signed_distance(mask)) <= width / 2)
        for label, make in variants.items():
            t = time.perf_counter()
            cover = make()
            composite = paste(image, layer.rgb, cover, layer.x, layer.y)
            seam_seconds = time.perf_counter() - t
            leak = int(np.abs(composite.astype(int) - image)[~allowed].max(initial=0))
            vis = seam_visibility(composite, mask, width)
            share = cover[band(layer.mask, width)].mean() / 255.0
            if label in totals:
                totals[label].append(vis)
                shown.append(composite)
            rows.append(f"| {Path(photo).stem} | {style_name} | {Path(mask_spec).stem} | {label} | "
                        f"{vis:.3f} | {share:.2f} | {leak} | {seconds if label == 'none' else seam_seconds:.1f} |")
            print(rows[-1], flush=True)
        if args.images:
            folder = Path(args.images)
            folder.mkdir(parents=True, exist_ok=True)
            pad = 12
            crop = np.s_[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]
            strip = np.concatenate([c[crop] for c in shown], axis=1)
            cv2.imwrite(str(folder / f"seams_{Path(photo).stem}.jpg"),
                        cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    rows.append("| **mean** | | | | | | | |")
    for s in SEAMS:
        rows.append(f"| | | | {s} | {np.mean(totals[s]):.3f} | | | |")
    ratio = np.array(totals["graphcut"]) / np.array(totals["feather"])
    rows.append(f"\ngraphcut / feather: geometric mean of the per-case ratios {np.exp(np.log(ratio).mean()):.3f}, "
                f"graphcut lower in {(ratio < 1).sum()} of {len(ratio)} cases")
    table = "\n".join(rows)
    print("\n" + table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
