"""Segmentation quality: `refine` from degraded ground truth, and `subject` with no hint.

For each pair NAME.jpg + NAME_mask.png in DATA/segment/ (and NAME_void.png, pixels to
ignore, for the PASCAL VOC pairs), hints are made from the ground truth:
  dilate   the mask grown by 10 px           erode    the mask shrunk by 10 px
  box      its bounding box                   polygon  each outline simplified to a polygon
                                                       whose vertices are moved at random
and `segment(image, "refine", hint)` is scored against the ground truth, as is
`segment(image, "subject")` without weights and without a hint.

Scores: IoU of the mask at >= 128, void pixels ignored; boundary F-score (DAVIS's
F measure: boundary pixels matched within 0.8% of the image diagonal).

    .venv/bin/python bench/segment_eval.py [--data ../shared/data] [--only NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from maskstyle import models
from maskstyle.errors import InputError
from maskstyle.images import read_image, read_mask, write_png
from maskstyle.engine.segment import segment

ROOT = Path(__file__).resolve().parents[1]

HINT_PX = 10
BOUNDARY_TOLERANCE = 0.008    # share of the diagonal (DAVIS)
POLYGON_SIMPLIFY = 0.01       # approxPolyDP epsilon, share of the diagonal
POLYGON_JITTER = 0.015        # vertex displacement, share of the diagonal
SEED = 0
KINDS = ("dilate", "erode", "box", "polygon", "subject")
CEILING_PX = (10, 15, 20)


def dilate(gt: np.ndarray, px: int) -> np.ndarray:
    return cv2.distanceTransform((~gt).astype(np.uint8), cv2.DIST_L2, 5) <= px


def erode(gt: np.ndarray, px: int) -> np.ndarray:
    return cv2.distanceTransform(gt.astype(np.uint8), cv2.DIST_L2, 5) > px


def box(gt: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(gt)
    out = np.zeros_like(gt)
    out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    return out


def polygon(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lasso-like selection: outer outlines simplified, vertices jittered."""
    diag = float(np.hypot(*gt.shape))
    contours, _ = cv2.findContours(gt.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(gt.shape, np.uint8)
    for c in contours:
        if cv2.contourArea(c) < 0.0005 * gt.size:
            continue
        poly = cv2.approxPolyDP(c, POLYGON_SIMPLIFY * diag, True).reshape(-1, 2).astype(np.float64)
        poly += rng.uniform(-1, 1, poly.shape) * POLYGON_JITTER * diag
        cv2.fillPoly(out, [np.rint(poly).astype(np.int32)], 1)
    return out > 0


def iou(pred: np.ndarray, gt: np.ndarray, void: np.ndarray) -> float:
    keep = ~void
    union = ((pred | gt) & keep).sum()
    return float(((pred & gt) & keep).sum() / union) if union else 1.0


def outline(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)) > 0


def boundary_f(pred: np.ndarray, gt: np.ndarray) -> float:
    tol = BOUNDARY_TOLERANCE * float(np.hypot(*gt.shape))
    bp, bg = outline(pred), outline(gt)
    if not bp.any() or not bg.any():
        return float(bp.any() == bg.any())
    near_gt = cv2.distanceTransform((~bg).astype(np.uint8), cv2.DIST_L2, 5) <= tol
    near_pred = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 5) <= tol
    precision = (bp & near_gt).sum() / bp.sum()
    recall = (bg & near_pred).sum() / bg.sum()
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def hints_for(gt: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"dilate": dilate(gt, HINT_PX), "erode": erode(gt, HINT_PX), "box": box(gt),
            "polygon": polygon(gt, rng)}


def reach_ceiling(gt: np.ndarray, void: np.ndarray, hint: np.ndarray, px: int) -> float:
    """IoU of a perfect answer that may only reach `px` pixels beyond the hint: the best
    any refinement can do when parts of the object lie farther out (thin parts that
    erosion wiped from the hint)."""
    reach = cv2.distanceTransform((~hint).astype(np.uint8), cv2.DIST_L2, 5) <= px
    return iou(gt & reach, gt, void)


def evaluate(data: Path, only: str | None, kinds, save: Path | None):
    pairs = sorted(p for p in (data / "segment").glob("*_mask.png"))
    if only:
        pairs = [p for p in pairs if only in p.name]
    if not pairs:
        raise SystemExit(f"no segmentation pairs under {data / 'segment'}")
    rows, methods = [], set()
    for mask_path in pairs:
        name = mask_path.name[: -len("_mask.png")]
        image = read_image(mask_path.with_name(name + ".jpg"))
        gt = read_mask(mask_path) >= 128
        void_path = mask_path.with_name(name + "_void.png")
        void = read_mask(void_path, allow_empty=True) >= 128 if void_path.exists() else np.zeros_like(gt)
        rng = np.random.default_rng(SEED)
        hints = hints_for(gt, rng)
        row = {"name": name, "ceiling": [reach_ceiling(gt, void, hints["erode"], px)
                                         for px in CEILING_PX]}
        for kind in kinds:
            t0 = time.perf_counter()
            try:
                if kind == "subject":
                    result = segment(image, "subject")
                else:
                    result = segment(image, "refine", hints[kind].astype(np.uint8) * 255)
            except InputError as exc:   # e.g. a thin object that erosion wipes out
                row[kind] = None
                print(f"{name} {kind}: skipped ({exc})", file=sys.stderr)
                continue
            seconds = time.perf_counter() - t0
            pred = result.mask >= 128
            methods.add(f"{kind}: {result.method}")
            as_is = iou(hints[kind], gt, void) if kind in hints else float("nan")
            row[kind] = (iou(pred, gt, void), boundary_f(pred & ~void, gt), seconds, as_is)
            if save:
                write_png(save / f"{name}_{kind}.png", result.mask)
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{k} {row[k][0]:.3f}" for k in kinds if row.get(k)),
              file=sys.stderr, flush=True)
    return rows, sorted(methods)


def table(rows, kinds) -> str:
    head = "| image | " + " | ".join(f"{k} IoU | {k} F" for k in kinds) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(kinds))]
    for row in rows:
        cells = []
        for k in kinds:
            cells += ["n/a", "n/a"] if row.get(k) is None else [f"{row[k][0]:.3f}", f"{row[k][1]:.3f}"]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    means = []
    for k in kinds:
        scored = [row[k] for row in rows if row.get(k) is not None]
        means += [f"**{np.mean([s[0] for s in scored]):.3f}**", f"**{np.mean([s[1] for s in scored]):.3f}**"]
    lines.append("| **mean** | " + " | ".join(means) + " |")
    timing = []
    for k in kinds:
        scored = [row[k][2] for row in rows if row.get(k) is not None]
        timing.append(f"{k} {np.mean(scored):.2f} s")
    baseline = []
    for k in kinds:
        scored = [row[k][3] for row in rows if row.get(k) is not None]
        if k != "subject":
            baseline.append(f"{k} {np.mean(scored):.3f}")
    return ("\n".join(lines) + "\n\nMean time per image: " + ", ".join(timing)
            + "\n\nMean IoU of the hint itself (what handing it back would score): "
            + (", ".join(baseline) or "n/a")
            + "\n\nCeiling for erode (mean IoU of the ground truth cut to within N px of the "
            "eroded hint): " + ", ".join(
                f"{px} px {np.mean([row['ceiling'][i] for row in rows]):.3f}"
                for i, px in enumerate(CEILING_PX)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--only", help="only pairs whose name contains this")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, from {KINDS}")
    parser.add_argument("--save", type=Path, help="write each predicted mask here")
    parser.add_argument("--with-weights", action="store_true",
                        help="let `subject` use DeepLabV3 when installed (default: weight-free)")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    installed = models.is_installed("deeplabv3")
    with tempfile.TemporaryDirectory() as empty:
        if not args.with_weights:
            os.environ["MASKSTYLE_MODELS_DIR"] = empty   # no weight files: the weight-free path
        t0 = time.perf_counter()
        rows, methods = evaluate(args.data, args.only, kinds, args.save)
        elapsed = time.perf_counter() - t0
    print(table(rows, kinds))
    print(f"\nMethods: {'; '.join(methods)}. deeplabv3 installed: {installed}."
          f" Total {elapsed:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
