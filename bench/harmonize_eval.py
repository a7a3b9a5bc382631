"""Harmonization quality: the composite as-is, photo mode, painterly mode and a global
Reinhard colour transfer, side by side. Prints markdown.

Parts (choose with --parts):
- shared: the triples in DATA/harmonize/ that have a ground truth (NAME_comp.jpg,
  NAME_mask.png, NAME_real.jpg): MSE, PSNR and fMSE (iHarmony4: squared error summed over
  the mask / (3 x mask area), on 0-255 values), per image and on average.
- relit: every real photo with an object mask in DATA (harmonize/*_real.jpg and
  segment/*.jpg) with the object re-lit by a seeded random change of exposure, white
  balance, gamma and saturation; the ground truth is the photo itself. (The Hday2night
  composites in `shared` carry heavy noise inside the mask, so on their own they reward
  denoising more than harmonization; see docs/harmonize.md.) Painterly is not run here.
- paint: photo objects pasted into paintings from DATA/content and DATA/style; the
  distance between the Gabor texture-energy histograms of the object and of the painting
  around it, and the Lab colour distance between their means (lower = better blended).
- sweep (not in the default): photo mode's mean fMSE over a grid of its two fractions.

Usage:
  python bench/harmonize_eval.py [--data DIR] [--parts shared,relit,paint] [--skip-painterly]
                                 [--max-side N] [--out FILE] [--save-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from maskstyle.engine import harmonize as hz
from maskstyle.engine.composite import blend, paste
from maskstyle.engine.harmonize import from_lab, harmonize, surroundings, to_lab
from maskstyle.images import read_image, read_mask

ROOT = Path(__file__).resolve().parents[1]

PASTES = (  # (photo in content/, painting in style/)
    ("corgi.jpg", "starry_night.jpg"),
    ("sailboat.jpg", "shipwreck.jpg"),
    ("blonde_girl.jpg", "woman_with_hat_matisse.jpg"),
)
PAINT_SIDE = 512


# ---------------------------------------------------------------- metrics

def mse(out: np.ndarray, real: np.ndarray) -> float:
    return float(np.mean((out.astype(np.float64) - real.astype(np.float64)) ** 2))


def psnr(out: np.ndarray, real: np.ndarray) -> float:
    e = mse(out, real)
    return float("inf") if e == 0 else 10.0 * np.log10(255.0 ** 2 / e)


def fmse(out: np.ndarray, real: np.ndarray, mask: np.ndarray) -> float:
    fg = mask > 127
    err = (out.astype(np.float64) - real.astype(np.float64)) ** 2
    return float(err[fg].sum() / (3.0 * fg.sum()))


def gabor_bank():
    """Even/odd Gabor pairs: 3 wavelengths x 4 orientations."""
    bank = []
    for wavelength in (4.0, 8.0, 16.0):
        size = int(3 * wavelength) | 1
        for theta in np.arange(4) * np.pi / 4:
            even = cv2.getGaborKernel((size, size), 0.5 * wavelength, theta, wavelength, 0.5, 0)
            odd = cv2.getGaborKernel((size, size), 0.5 * wavelength, theta, wavelength, 0.5, np.pi / 2)
            bank.append((even - even.mean(), odd))
    return bank


BANK = gabor_bank()


def regions(mask: np.ndarray, gap: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The object less a `gap`-pixel rim, and a ring of background beyond the same gap."""
    solid = (mask > 127).astype(np.uint8)
    depth = cv2.distanceTransform(solid, cv2.DIST_L2, 5)
    width = max(8, round(0.25 * np.sqrt(solid.sum())))
    ring = surroundings(mask, gap + width) & ~surroundings(mask, gap)
    return depth > gap, ring


def texture_distance(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean total-variation distance between the object's and the ring's histograms of
    log Gabor energy (encoder-independent; 0 = same texture statistics, 1 = disjoint)."""
    inner, ring = regions(mask)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    distances = []
    for even, odd in BANK:
        energy = np.log1p(20.0 * np.hypot(cv2.filter2D(gray, -1, even), cv2.filter2D(gray, -1, odd)))
        a, b = energy[inner], energy[ring]
        bins = np.linspace(0.0, max(a.max(), b.max()) + 1e-6, 17)
        p = np.histogram(a, bins)[0] / a.size
        q = np.histogram(b, bins)[0] / b.size
        distances.append(0.5 * np.abs(p - q).sum())
    return float(np.mean(distances))


def colour_distance(image: np.ndarray, mask: np.ndarray) -> float:
    """CIE76 distance between the mean Lab colours of the object and the ring around it."""
    inner, ring = regions(mask)
    lab = to_lab(image)
    return float(np.linalg.norm(lab[inner].mean(0) - lab[ring].mean(0)))


# ---------------------------------------------------------------- methods

def reinhard(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Global baseline: the object's Lab mean/std set to the whole background's (Reinhard 2001)."""
    lab = to_lab(image)
    fg, bg = mask > 127, mask <= 127
    fm, fs = lab[fg].mean(0), lab[fg].std(0)
    bm, bs = lab[bg].mean(0), lab[bg].std(0)
    out = from_lab((lab - fm) / (fs + 1e-6) * bs + bm)
    return blend(image, np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8), mask)


def photo_without_edges(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ablation: photo mode's colour step alone, pasted through the plain mask."""
    width = hz.edge_width(image.shape)
    rect = hz.photo_rect(mask, width)
    rgb, alpha = hz.photo_layer(image[rect.slices], mask[rect.slices], 1.0, width, edges=False)
    return paste(image, rgb, alpha, rect.x, rect.y)


def methods(args):
    table = {"composite": lambda c, m: c, "Reinhard (global)": reinhard,
             "photo, no edge step": photo_without_edges,
             "photo": lambda c, m: harmonize(c, m, mode="photo").image}
    if not args.skip_painterly:
        table["painterly"] = lambda c, m: harmonize(
            c, m, mode="painterly", quality=args.quality, iterations=args.iterations).image
    return table


# ---------------------------------------------------------------- data

def shrink(image: np.ndarray, side: int, interpolation=cv2.INTER_AREA) -> np.ndarray:
    if not side or max(image.shape[:2]) <= side:
        return image
    s = side / max(image.shape[:2])
    size = (round(image.shape[1] * s), round(image.shape[0] * s))
    return cv2.resize(image, size, interpolation=interpolation)


def load_mask(path: Path, side: int) -> np.ndarray:
    mask = shrink(read_mask(path, allow_empty=True), side, cv2.INTER_LINEAR)
    return np.where(mask > 127, 255, 0).astype(np.uint8)


def shared_triples(data: Path, side: int):
    for real_path in sorted((data / "harmonize").glob("*_real.jpg")):
        name = real_path.name[:-len("_real.jpg")]
        base = real_path.parent / name
        yield (name, shrink(read_image(f"{base}_comp.jpg"), side),
               load_mask(Path(f"{base}_mask.png"), side), shrink(read_image(real_path), side))


def _linear(x):
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _srgb(x):
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def relight(real: np.ndarray, mask: np.ndarray, name: str, stops: float) -> np.ndarray:
    """The object in `real` under other light: exposure +-stops, white balance, gamma and
    saturation drawn from a generator seeded by the name (the same on every run)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    exposure = 2.0 ** rng.uniform(-stops, stops)
    balance = 2.0 ** rng.uniform(-stops / 4, stops / 4, 3)
    balance[1] = 1.0
    gamma = 2.0 ** rng.uniform(-stops / 4, stops / 4)
    saturation = 2.0 ** rng.uniform(-0.4 * stops, 0.4 * stops)
    lin = np.clip(_linear(real / 255.0) * exposure * balance, 0.0, 1.0) ** gamma
    luma = (lin @ np.array([0.2126, 0.7152, 0.0722]))[..., None]
    lin = np.clip(luma + (lin - luma) * saturation, 0.0, 1.0)
    object_ = np.clip(np.rint(_srgb(lin) * 255.0), 0, 255).astype(np.uint8)
    return blend(real, object_, mask)


def relit_triples(data: Path, side: int, stops: float):
    pairs = [(p, p.parent / p.name.replace("_real.jpg", "_mask.png"))
             for p in sorted((data / "harmonize").glob("*_real.jpg"))]
    pairs += [(p, p.with_name(p.stem + "_mask.png")) for p in sorted((data / "segment").glob("*.jpg"))]
    for image_path, mask_path in pairs:
        real = shrink(read_image(image_path), side)
        mask = load_mask(mask_path, side)
        name = image_path.stem.replace("_real", "")
        yield name, relight(real, mask, name, stops), mask, real


def pasted(data: Path, photo: str, painting: str, side: int):
    """A centre crop of `photo` in an ellipse, pasted into `painting` (longest side `side`)."""
    canvas = shrink(read_image(data / "style" / painting), side)
    source = read_image(data / "content" / photo)
    h, w = canvas.shape[:2]
    size = int(0.4 * h)
    sh, sw = source.shape[:2]
    c = int(0.7 * min(sh, sw))
    crop = source[(sh - c) // 2:(sh + c) // 2, (sw - c) // 2:(sw + c) // 2]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    cy, cx = int(0.6 * h), int(0.6 * w)
    y0, x0 = cy - size // 2, cx - size // 2
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (cx, cy), (size // 2 - 2, size // 2 - 2), 0, 0, 360, 255, -1)
    layer = canvas.copy()
    layer[y0:y0 + size, x0:x0 + size] = crop
    return blend(canvas, layer, mask), mask


# ---------------------------------------------------------------- reporting

def md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def evaluate(items, table, save_dir: Path | None, tag: str):
    """{method: {metric: [per image]}}, names, timings."""
    scores = {m: {"fMSE": [], "MSE": [], "PSNR": []} for m in table}
    seconds = {m: [] for m in table}
    names = []
    for name, comp, mask, real in items:
        names.append(name)
        outputs = []
        for method, run in table.items():
            start = time.perf_counter()
            out = run(comp, mask)
            seconds[method].append(time.perf_counter() - start)
            scores[method]["fMSE"].append(fmse(out, real, mask))
            scores[method]["MSE"].append(mse(out, real))
            scores[method]["PSNR"].append(psnr(out, real))
            if method != "photo, no edge step":
                outputs.append(out)
        print(f"  {tag} {name}: " + ", ".join(
            f"{m} {scores[m]['fMSE'][-1]:.0f}" for m in table), file=sys.stderr, flush=True)
        if save_dir is not None:
            save_strip(save_dir / f"{tag}-{name}.jpg", outputs + [real])
    return scores, names, seconds


def save_strip(path: Path, images) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    strip = np.concatenate(images, axis=1)
    strip = shrink(strip, 1600)
    cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def report(title: str, scores, names, seconds) -> str:
    methods_ = list(scores)
    out = [f"### {title}", ""]
    summary = []
    for m in methods_:
        s = scores[m]
        better = sum(v < c for v, c in zip(s["fMSE"], scores[methods_[0]]["fMSE"]))
        summary.append([m, f"{np.mean(s['MSE']):.1f}", f"{np.mean(s['PSNR']):.2f}",
                        f"{np.mean(s['fMSE']):.1f}", f"{np.median(s['fMSE']):.1f}",
                        f"{better}/{len(names)}", f"{np.mean(seconds[m]):.2f}"])
    out.append(md_table(["method", "mean MSE", "mean PSNR (dB)", "mean fMSE", "median fMSE",
                         "fMSE below composite", "mean s/image"], summary))
    for metric, fmt in (("fMSE", "{:.0f}"), ("MSE", "{:.1f}"), ("PSNR", "{:.2f}")):
        rows = [[n] + [fmt.format(scores[m][metric][i]) for m in methods_] for i, n in enumerate(names)]
        rows.append(["**mean**"] + [fmt.format(np.mean(scores[m][metric])) for m in methods_])
        out += ["", f"{metric} per image:", "", md_table(["image"] + methods_, rows)]
    return "\n".join(out) + "\n"


def paint_report(args, table, save_dir: Path | None) -> str:
    side = args.max_side or PAINT_SIDE
    runs = {m: run for m, run in table.items() if m in ("composite", "photo", "painterly")}
    rows, texture, colour = [], {m: [] for m in runs}, {m: [] for m in runs}
    for photo, painting in PASTES:
        comp, mask = pasted(args.data, photo, painting, side)
        outputs = []
        for method, run in runs.items():
            out = run(comp, mask)
            texture[method].append(texture_distance(out, mask))
            colour[method].append(colour_distance(out, mask))
            outputs.append(out)
        name = f"{Path(photo).stem} in {Path(painting).stem}"
        rows.append([name] + [f"{texture[m][-1]:.3f} / {colour[m][-1]:.1f}" for m in runs])
        print(f"  paint {name}: " + ", ".join(f"{m} {texture[m][-1]:.3f}" for m in runs),
              file=sys.stderr, flush=True)
        if save_dir is not None:
            save_strip(save_dir / f"paint-{Path(photo).stem}-{Path(painting).stem}.jpg", outputs)
    rows.append(["**mean**"] + [f"{np.mean(texture[m]):.3f} / {np.mean(colour[m]):.1f}" for m in runs])
    return "\n".join([
        "### Painterly check: photo objects pasted into paintings", "",
        f"Each cell: Gabor texture distance (0-1) / Lab colour distance between the object and the "
        f"painting around it; lower is better blended. Paintings at {side} px on the long side.", "",
        md_table(["paste"] + list(runs), rows)]) + "\n"


def sweep_report(args) -> str:
    """Photo mode's mean fMSE over a grid of its two transfer fractions (how they were chosen)."""
    sets = {"shared": list(shared_triples(args.data, args.max_side))}
    for stops in (1.0, 1.5, 2.0):
        sets[f"relit {stops}"] = list(relit_triples(args.data, args.max_side, stops))
    chosen = (hz.MEAN_SHIFT, hz.SPREAD_SHIFT)
    rows = [["composite", "-"] + [f"{np.mean([fmse(c, r, m) for _, c, m, r in items]):.0f}"
                                  for items in sets.values()]]
    try:
        for mean_shift in (0.25, 0.35, 0.5, 0.75):
            for spread_shift in (0.25, 0.5, 0.75, 1.0):
                hz.MEAN_SHIFT, hz.SPREAD_SHIFT = mean_shift, spread_shift
                mark = " (chosen)" if (mean_shift, spread_shift) == chosen else ""
                rows.append([f"{mean_shift}{mark}", f"{spread_shift}"] + [
                    f"{np.mean([fmse(harmonize(c, m).image, r, m) for _, c, m, r in items]):.0f}"
                    for items in sets.values()])
    finally:
        hz.MEAN_SHIFT, hz.SPREAD_SHIFT = chosen
    return "\n".join(["### Photo mode: mean fMSE over its two fractions", "",
                      md_table(["MEAN_SHIFT", "SPREAD_SHIFT"] + list(sets), rows)]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--parts", default="shared,relit,paint",
                        help="comma-separated: shared, relit, paint, sweep (photo mode's grid)")
    parser.add_argument("--skip-painterly", action="store_true")
    parser.add_argument("--max-side", type=int, default=0,
                        help="downscale every image to this longest side first (0: as stored)")
    parser.add_argument("--relight-stops", type=float, default=1.5)
    parser.add_argument("--quality", default="fast")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--save-dir", type=Path, default=None, help="write side-by-side JPEGs here")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args(argv)
    if not (args.data / "harmonize").is_dir():
        parser.error(f"no harmonize/ folder under {args.data}; pass --data")
    parts = set(args.parts.split(","))
    table = methods(args)
    import torch
    from maskstyle.engine.devices import pick_device
    device = pick_device(None)
    text = ["## Harmonization benchmark", "",
            f"`python bench/harmonize_eval.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
            f"device {device}, {torch.get_num_threads()} torch threads; painterly (patch synthesis) "
            f"quality {args.quality}" + (f", {args.iterations} rounds/patch size" if args.iterations else "")
            + (f"; images downscaled to {args.max_side} px" if args.max_side else ""), ""]
    if "shared" in parts:
        scores, names, seconds = evaluate(shared_triples(args.data, args.max_side), table,
                                          args.save_dir, "shared")
        text.append(report("Shared triples with ground truth (harmonize/)", scores, names, seconds))
    if "relit" in parts:
        light = {m: run for m, run in table.items() if m != "painterly"}
        scores, names, seconds = evaluate(
            relit_triples(args.data, args.max_side, args.relight_stops), light, None, "relit")
        text.append(report(f"Relit objects (exposure up to +-{args.relight_stops} stops, seeded)",
                           scores, names, seconds))
    if "paint" in parts:
        text.append(paint_report(args, table, args.save_dir))
    if "sweep" in parts:
        text.append(sweep_report(args))
    markdown = "\n".join(text)
    print(markdown)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
