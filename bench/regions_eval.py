"""Two styles in two regions: patch synthesis, the neural method's masked multi-region loss,
and its surrogate style image (Tamir, "A Smoother Segmentation-Based Style Transfer").

Each case is a photo from segment/ with its subject mask: the subject gets one style, the
background (the inverted mask) another, in one optimisation. Measured per region with
bench/metrics.py's encoder-independent descriptors (filter-bank energies and Lab statistics):
- own style: how far the region moved from the photo toward its own style's texture and
  colour (mean of the two; 0 = not at all, 1 = all the way);
- other style: the same toward the other region's style;
- separation: own minus other, i.e. how much each region took its own style rather than
  a mix (a mix scores near 0);
- structure kept: correlation of the photo's and the result's edge maps over the image.
The neural method's default `regions_method` is the one with the higher mean separation; own style and
structure are reported so a method cannot win by copying one style everywhere, or the
style images themselves.

    .venv/bin/python bench/regions_eval.py --data ../shared/data --out docs/regions_eval.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from metrics import moved_toward, structure_kept

from maskstyle.engine.stylize import Region, StylizeOptions, stylize_regions
from maskstyle.images import read_image, read_mask

CASES = [("hflickr-f1806", "starry_night", "candy"),
         ("hflickr-f2062", "mosaic", "the_scream"),
         ("hflickr-f445", "candy", "starry_night")]


def region_scores(photo, result, masks, styles):
    own, other = [], []
    for i, mask in enumerate(masks):
        mine, theirs = styles[i], styles[1 - i]
        own.append(np.mean(moved_toward(photo, result, mine, mask)))
        other.append(np.mean(moved_toward(photo, result, theirs, mask)))
    return float(np.mean(own)), float(np.mean(other))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--encoder", default="builtin")
    ap.add_argument("--max-side", type=int, default=256)
    ap.add_argument("--cases", type=int, default=len(CASES))
    ap.add_argument("--surrogate-content", type=float, nargs="+", default=[0.02, 0.05, 0.1],
                    help="surrogate content-loss weights to try")
    ap.add_argument("--skip-neural", action="store_true", help="only the patch method (the neural runs take minutes)")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--images", help="folder for small JPEGs of each result")
    args = ap.parse_args()
    data = Path(args.data)
    rows = ["| photo | subject style | background style | method | own style | other style | "
            "separation | structure kept | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    runs = [("patch", {"method": "patch"})]
    if not args.skip_neural:
        runs += [("neural masked", {"method": "neural"})] + [
            (f"neural surrogate, content {d}",
             {"method": "neural", "regions_method": "surrogate", "surrogate_content": d})
            for d in args.surrogate_content]
    summary = {label: [] for label, _ in runs}
    for name, style_a, style_b in CASES[:args.cases]:
        photo = read_image(data / "segment" / f"{name}.jpg")
        mask = read_mask(data / "segment" / f"{name}_mask.png")
        s = args.max_side / max(photo.shape[:2])
        if s < 1:
            photo = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
        masks = [mask, 255 - mask]
        styles = [read_image(data / "style" / f"{n}.jpg") for n in (style_a, style_b)]
        for label, extra in runs:
            options = StylizeOptions(quality=args.quality, encoder=args.encoder, **extra)
            t = time.perf_counter()
            result = stylize_regions(photo, [Region(m, st, n) for m, st, n in
                                             zip(masks, styles, (style_a, style_b))], options=options)
            seconds = time.perf_counter() - t
            own, other = region_scores(photo, result.image, masks, styles)
            kept = structure_kept(photo, result.image, np.full(mask.shape, 255, np.uint8))
            summary[label].append((own, other, own - other, kept))
            rows.append(f"| {name} | {style_a} | {style_b} | {label} | {own:.2f} | {other:.2f} | "
                        f"{own - other:.2f} | {kept:.2f} | {seconds:.0f} |")
            print(rows[-1], flush=True)
            if args.images:
                Path(args.images).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(Path(args.images) / f"{name}_{label.replace(', ', '_').replace(' ', '')}.jpg"),
                            cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    rows.append("| **mean** | | | | | | | | |")
    for label, values in summary.items():
        own, other, sep, kept = np.mean(values, axis=0)
        rows.append(f"| | | | {label} | {own:.2f} | {other:.2f} | {sep:.2f} | {kept:.2f} | |")
    best = max(summary, key=lambda k: np.mean([v[2] for v in summary[k]]))
    rows.append(f"\nHighest mean separation: **{best}**.")
    table = "\n".join(rows)
    print("\n" + table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
