"""Jobs: a bounded queue, one worker that owns the device, progress, cancel, and results.

Jobs run one at a time, so the GPU is never shared between two optimisations. Finished
results are kept for a bounded time and total size, then dropped.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import Cancelled, InputError, MaskstyleError

log = logging.getLogger("maskstyle.server")

STATES = ("queued", "running", "done", "failed", "cancelled")


class QueueFull(MaskstyleError):
    code = "queue_full"


ETA_AFTER = 0.05  # progress from which the speed so far predicts the rest


@dataclass
class Job:
    op: str
    run: Callable[..., Any]        # run(progress, cancelled) -> result
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "queued"
    progress: float = 0.0
    stage: str = "queued"
    error: dict | None = None
    result: Any = None
    result_bytes: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def status(self) -> dict:
        run_seconds = None
        if self.started_at is not None:
            run_seconds = round((self.finished_at or time.monotonic()) - self.started_at, 4)
        return {"id": self.id, "op": self.op, "state": self.state, "progress": round(self.progress, 4),
                "stage": self.stage, "error": self.error, "run_seconds": run_seconds,
                "eta_seconds": self.eta_seconds(run_seconds)}

    def eta_seconds(self, run_seconds: float | None) -> float | None:
        """Time left at the speed measured so far; None until there is enough to measure."""
        if self.state != "running" or run_seconds is None or self.progress < ETA_AFTER:
            return None
        return round(run_seconds * (1.0 - self.progress) / self.progress, 1)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


class JobQueue:
    def __init__(self, max_queued: int = 8, keep_seconds: float = 900.0,
                 keep_bytes: int = 1 << 30, max_jobs_kept: int = 200):
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=max_queued)
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.max_queued = max_queued
        self.keep_seconds, self.keep_bytes, self.max_jobs_kept = keep_seconds, keep_bytes, max_jobs_kept
        self._worker = threading.Thread(target=self._work, name="maskstyle-worker", daemon=True)
        self._worker.start()

    # --- the API the HTTP layer uses -------------------------------------------------
    def submit(self, job: Job) -> Job:
        with self._lock:
            self._prune()
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise QueueFull(f"the backend is busy: {self.max_queued} jobs are already waiting; "
                                "try again when one has finished") from None
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is None:
            return None
        job.cancel_event.set()
        with self._lock:
            if job.state == "queued":  # the worker will skip it
                self._finish(job, "cancelled", stage="cancelled")
        return job

    def depth(self) -> int:
        return self._queue.qsize()

    def running(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state == "running")

    # --- the worker ------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._run(job)
            finally:
                self._queue.task_done()

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.state != "queued":
                return
            job.state, job.stage = "running", "starting"
            job.started_at = time.monotonic()

        def progress(fraction: float, stage: str) -> None:
            job.progress, job.stage = max(job.progress, min(1.0, fraction)), stage

        try:
            result = job.run(progress, job.cancel_event.is_set)
        except Cancelled:
            self._finish(job, "cancelled", stage="cancelled")
        except InputError as exc:
            self._finish(job, "failed", error={"code": exc.code, "message": str(exc)})
        except MaskstyleError as exc:
            self._finish(job, "failed", error={"code": exc.code, "message": str(exc)})
        except Exception as exc:  # keep serving whatever one job did
            if _is_out_of_memory(exc):
                _free_device_memory()
                error = {"code": "out_of_memory", "message": "the device ran out of memory for this "
                         "job; try quality 'fast' or a smaller selection"}
            else:
                log.exception("job %s failed", job.id)
                error = {"code": "internal", "message": f"the job failed unexpectedly "
                         f"({type(exc).__name__}: {str(exc)[:200]}); see the backend log"}
            self._finish(job, "failed", error=error)
        else:
            job.result = result
            job.result_bytes = getattr(result, "nbytes", 0)
            job.progress = 1.0
            self._finish(job, "done", stage="done")

    def _finish(self, job: Job, state: str, stage: str = "failed", error: dict | None = None) -> None:
        job.state, job.stage, job.error = state, stage, error
        job.finished_at = time.monotonic()

    def _prune(self) -> None:
        """Drop finished jobs past their time, then the oldest while over the size bounds."""
        now = time.monotonic()
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        total = sum(j.result_bytes for j in finished)
        for job in finished:
            too_old = now - job.finished_at > self.keep_seconds
            too_many = len(self._jobs) > self.max_jobs_kept
            if too_old or too_many or total > self.keep_bytes:
                total -= job.result_bytes
                del self._jobs[job.id]


def _free_device_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass
