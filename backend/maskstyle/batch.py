"""Batch jobs: one op over many files, safely.

- Inputs are files, folders (their images, not recursive) or glob patterns.
- An input is never overwritten; each output is written atomically (temp file + rename),
  so an interrupted run leaves only complete files, and a rerun skips them (`force`
  redoes them).
- A bad file is reported and skipped while the rest go on; the summary and the report
  list every file with its outcome.
"""

from __future__ import annotations

import glob
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError, MaskstyleError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}


@dataclass
class BatchReport:
    op: str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"op": self.op, "written": self.written, "skipped": self.skipped,
                "failed": self.failed, "seconds": round(self.seconds, 2)}

    def summary(self) -> str:
        return (f"{self.op}: {len(self.written)} written, {len(self.skipped)} skipped (already "
                f"there), {len(self.failed)} failed, in {self.seconds:.1f} s")


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files, folders and globs -> image files, in a stable order, without duplicates."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        elif any(ch in pattern for ch in "*?["):
            found += sorted(Path(p) for p in glob.glob(pattern, recursive=True)
                            if Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file())
        else:
            raise InputError(f"input '{pattern}' does not exist")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise InputError("no input images found in: " + ", ".join(patterns))
    return unique


def output_for(source: Path, out_dir: Path) -> Path:
    return out_dir / f"{source.stem}.png"


def clear_stale_parts(out_dir: Path) -> None:
    """Temp files left by a run that was killed while writing."""
    for part in out_dir.glob(".*.part"):
        part.unlink(missing_ok=True)


class MaskSource:
    """Where each image's mask comes from: a folder, a segmentation, or the whole image."""

    def __init__(self, mask_dir: str | None = None, auto: str | None = None, invert: bool = False,
                 segment: Callable | None = None):
        if mask_dir and auto:
            raise InputError("give either --mask-dir or --mask auto:..., not both")
        if auto and auto not in ("auto:subject", "auto:person"):
            raise InputError(f"--mask takes auto:subject or auto:person, not '{auto}'")
        if mask_dir and not Path(mask_dir).is_dir():
            raise InputError(f"--mask-dir '{mask_dir}' is not a folder")
        self.mask_dir = Path(mask_dir) if mask_dir else None
        self.target = auto.split(":", 1)[1] if auto else None
        self.invert, self._segment = invert, segment

    def describe(self) -> str:
        base = (f"masks from {self.mask_dir}" if self.mask_dir else
                f"masks from segmentation ({self.target})" if self.target else "the whole image")
        return base + (", inverted" if self.invert else "")

    def mask_for(self, source: Path, image: np.ndarray) -> np.ndarray:
        from .images import read_mask

        size = (image.shape[1], image.shape[0])
        if self.mask_dir:
            candidates = [self.mask_dir / f"{source.stem}{s}" for s in (".png", "_mask.png")]
            path = next((c for c in candidates if c.is_file()), None)
            if path is None:
                raise InputError(f"no mask named {source.stem}.png in {self.mask_dir}")
            mask = read_mask(path, size, f"mask '{path.name}'", allow_empty=self.invert)
        elif self.target:
            mask = self._segment(image, self.target)
        else:
            mask = np.full(image.shape[:2], 255, np.uint8)
        if self.invert:
            mask = 255 - mask
        if not mask.any():
            raise InputError("the mask is empty: nothing to restyle in this image")
        return mask


def run_batch(op: str, inputs: list[str], out_dir: str, process: Callable[[Path, Callable], np.ndarray],
              force: bool = False, jobs: int = 1, progress_bar: bool = True) -> BatchReport:
    """Apply `process(source, stage_callback) -> image` to every input; write `out/<stem>.png`."""
    from tqdm import tqdm

    from .images import write_image

    sources = expand_inputs(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clear_stale_parts(out)
    report = BatchReport(op)
    start = time.perf_counter()

    def fail(source: Path, error: str) -> None:  # reported once, as it happens
        report.failed.append({"input": str(source), "error": error})
        tqdm.write(f"failed: {source}: {error}", file=sys.stderr)

    todo = []
    inputs_resolved = set(sources)
    for source in sources:
        target = output_for(source, out)
        if target.resolve() in inputs_resolved:
            fail(source, f"its output {target} would overwrite an input; choose another --out folder")
        elif target.exists() and not force:
            report.skipped.append(str(source))
        else:
            todo.append((source, target))
    bar = tqdm(total=len(todo), desc=op, unit="file", disable=not progress_bar or None)

    def one(item):
        source, target = item

        def stage(fraction: float, name: str) -> None:
            bar.set_postfix_str(f"{source.name}: {name} {fraction:.0%}", refresh=False)

        try:
            write_image(target, process(source, stage))
            return source, target, None
        except MaskstyleError as exc:
            return source, target, str(exc)
        except Exception as exc:  # one bad file must not stop the batch
            return source, target, f"unexpected {type(exc).__name__}: {exc}"

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for source, target, error in pool.map(one, todo):
                if error is None:
                    report.written.append(str(target))
                else:
                    fail(source, error)
                bar.update(1)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
    return report


def write_report(path: str, report: BatchReport) -> None:
    from .images import write_bytes

    write_bytes(path, json.dumps(report.as_dict(), indent=2).encode())
