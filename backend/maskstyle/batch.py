"""Batch jobs: one op over many files, safely.

- Inputs are files, folders (their images, not recursive) or glob patterns.
- An input is never overwritten; each output is written atomically (temp file + rename),
  so an interrupted run leaves only complete files, and a rerun skips them (`force`
  redoes them).
- A bad file is reported and skipped while the rest go on; the summary and the report
  list every file with its outcome: the report's `files` has one entry per input (input,
  output, status written|skipped|failed, error, worker, seconds, attempts).
- The same promises hold on a Ray cluster (`ray_batch.run_ray_batch`), which fills the same
  report.
"""

from __future__ import annotations

import glob
import json
import sys
import threading
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
    files: list[dict] = field(default_factory=list)  # one entry per input, see add()
    seconds: float = 0.0
    interrupted: bool = False
    unfinished: int = 0  # files not done when the run was interrupted

    def add(self, source, target, status: str, error: str | None = None, worker: str | None = None,
            seconds: float | None = None, attempts: int = 0) -> dict:
        """Record one input's outcome: written, skipped (its output was there) or failed."""
        entry = {"input": str(source), "output": str(target) if target is not None else None,
                 "status": status, "error": error, "worker": worker,
                 "seconds": round(seconds, 3) if seconds is not None else None, "attempts": attempts}
        if status == "written":
            self.written.append(entry["output"])
        elif status == "skipped":
            self.skipped.append(entry["input"])
        elif status == "failed":
            self.failed.append({"input": entry["input"], "error": error})
        else:
            raise ValueError(f"unknown status {status!r}")
        self.files.append(entry)
        return entry

    def sort_files(self, order: list) -> None:
        """Entries in the order of the inputs, whatever order they finished in."""
        rank = {str(source): i for i, source in enumerate(order)}
        self.files.sort(key=lambda entry: rank.get(entry["input"], len(rank)))

    def as_dict(self) -> dict:
        out = {"op": self.op, "written": self.written, "skipped": self.skipped,
               "failed": self.failed, "files": self.files, "seconds": round(self.seconds, 2)}
        if self.interrupted:
            out.update(interrupted=True, unfinished=self.unfinished)
        return out

    def summary(self) -> str:
        text = (f"{self.op}: {len(self.written)} written, {len(self.skipped)} skipped (already "
                f"there), {len(self.failed)} failed, in {self.seconds:.1f} s")
        if self.interrupted:
            text += (f"; interrupted with {self.unfinished} not done (every file written is whole; "
                     "run the same command again to do the rest)")
        return text


def error_text(exc: BaseException) -> str:
    """One line for a file that failed: our own errors as they are, anything else named."""
    if isinstance(exc, MaskstyleError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


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
              force: bool = False, jobs: int = 1, progress_bar: bool = True,
              worker: str = "local") -> BatchReport:
    """Apply `process(source, stage_callback) -> image` to every input; write `out/<stem>.png`.

    `worker` names who does the work in the report's entries ("local", or a backend's URL);
    with jobs > 1 each entry also says which of the parallel threads did it ("local#1").
    A KeyboardInterrupt stops the run: files in progress finish (whole), the rest are left
    for a rerun, and the report says it was interrupted."""
    from tqdm import tqdm

    from .images import write_image

    sources = expand_inputs(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clear_stale_parts(out)
    report = BatchReport(op)
    start = time.perf_counter()

    def fail(source: Path, target: Path | None, error: str, **kw) -> None:  # reported once, as it happens
        report.add(source, target, "failed", error, **kw)
        tqdm.write(f"failed: {source}: {error}", file=sys.stderr)

    todo = []
    inputs_resolved = set(sources)
    for source in sources:
        target = output_for(source, out)
        if target.resolve() in inputs_resolved:
            fail(source, target, f"its output {target} would overwrite an input; choose another --out folder")
        elif target.exists() and not force:
            report.add(source, target, "skipped")
        else:
            todo.append((source, target))
    bar = tqdm(total=len(todo), desc=op, unit="file", disable=not progress_bar or None)
    threads: dict[str, str] = {}  # pool thread name -> worker name
    lock = threading.Lock()

    def worker_name() -> str:
        if jobs <= 1:
            return worker
        name = threading.current_thread().name
        with lock:
            return threads.setdefault(name, f"{worker}#{len(threads) + 1}")

    def one(item):
        source, target = item

        def stage(fraction: float, name: str) -> None:
            bar.set_postfix_str(f"{source.name}: {name} {fraction:.0%}", refresh=False)

        began = time.perf_counter()
        try:
            write_image(target, process(source, stage))
            error = None
        except Exception as exc:  # one bad file must not stop the batch
            error = error_text(exc)
        return source, target, error, worker_name(), time.perf_counter() - began

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="maskstyle-batch")
    done = 0
    try:
        for source, target, error, name, seconds in pool.map(one, todo):
            if error is None:
                report.add(source, target, "written", worker=name, seconds=seconds, attempts=1)
            else:
                fail(source, target, error, worker=name, seconds=seconds, attempts=1)
            done += 1
            bar.update(1)
    except KeyboardInterrupt:  # files being written finish whole; the queued ones are left
        report.interrupted, report.unfinished = True, len(todo) - done
        pool.shutdown(wait=False, cancel_futures=True)
    else:
        pool.shutdown()
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
        report.sort_files(sources)
    return report


def write_report(path: str, report: BatchReport) -> None:
    from .images import write_bytes

    write_bytes(path, json.dumps(report.as_dict(), indent=2).encode())
