"""Seam cost at large sizes: feather, graphcut as shipped, and graphcut solved at full size.

Each case of seam_eval.py is stylized once at --max-side (the stylization works at a few
hundred pixels and is scaled up in real use as here), then photo, mask and stylized crop
are scaled up to --side. A band wider than seams.SOLVE_WIDTH is solved on a smaller copy;
"full" sets SOLVE_WIDTH out of reach to show what that saves and what it costs in seam
visibility (seam_eval.seam_visibility, lower is better). The memory column is how far the
process's peak RSS rose during the row, so a row below a hungrier one can show 0.

    .venv/bin/python bench/bench_seams.py --side 4096 --cache /tmp/seam-cache
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import cv2
import numpy as np

from maskstyle.engine import seams
from maskstyle.engine.composite import bounds, paste
from maskstyle.images import read_image
from seam_eval import CASES, add_case_arguments, load_case, seam_visibility, stylized_layer


def scaled(a: np.ndarray, f: float, interpolation=cv2.INTER_CUBIC) -> np.ndarray:
    return cv2.resize(a, (round(a.shape[1] * f), round(a.shape[0] * f)), interpolation=interpolation)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_case_arguments(ap, max_side=1024)
    ap.add_argument("--side", type=int, default=4096, help="scale the cases up to this long side")
    args = ap.parse_args()
    data = Path(args.data)
    rows = ["| photo | side | band px | seam | visibility | seconds | process peak RSS rise, MB |",
            "|---|---|---|---|---|---|---|"]
    for photo, style_name, mask_spec in CASES:
        image, mask = load_case(data, photo, mask_spec, args.max_side)
        style = read_image(data / "style" / f"{style_name}.jpg")
        layer, _ = stylized_layer(image, mask, style, args, f"{Path(photo).stem}_{style_name}")
        f = args.side / max(image.shape[:2])
        image = scaled(image, f)
        mask = np.where(scaled(mask, f, cv2.INTER_LINEAR) >= 128, 255, 0).astype(np.uint8)
        x, y = round(layer.x * f), round(layer.y * f)
        rgb = scaled(layer.rgb, f)
        crop_mask = mask[y:y + rgb.shape[0], x:x + rgb.shape[1]]
        rgb = rgb[:crop_mask.shape[0], :crop_mask.shape[1]]
        original = image[y:y + rgb.shape[0], x:x + rgb.shape[1]]
        selected = bounds(mask)
        width = seams.auto_width((selected.height, selected.width))
        shipped = seams.SOLVE_WIDTH
        variants = [("feather", lambda: seams.feather(crop_mask, width), shipped),
                    ("graphcut", lambda: seams.graphcut(rgb, original, crop_mask, width), shipped),
                    ("graphcut, full size", lambda: seams.graphcut(rgb, original, crop_mask, width), 10 ** 9)]
        for label, make, solve_width in variants:
            seams.SOLVE_WIDTH = solve_width
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t = time.perf_counter()
            cover = make()
            seconds = time.perf_counter() - t
            rise = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            seams.SOLVE_WIDTH = shipped
            vis = seam_visibility(paste(image, rgb, cover, x, y), mask, width)
            rows.append(f"| {Path(photo).stem} | {args.side} | {width} | {label} | {vis:.3f} | "
                        f"{seconds:.1f} | {rise:.0f} |")
            print(rows[-1], flush=True)
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
