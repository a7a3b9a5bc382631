"""Progress reporting and cancellation shared by every long-running engine call."""

from __future__ import annotations

from typing import Callable, Optional

from ..errors import Cancelled
from . import threads

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class Tracker:
    """Counts steps of known total, reports (fraction, stage), and stops on cancel."""

    def __init__(self, total_steps: int, progress: Optional[ProgressFn] = None,
                 cancelled: Optional[CancelFn] = None):
        self.total = max(1, total_steps)
        self.done = 0
        self.stage = "starting"
        self._progress = progress
        self._cancelled = cancelled

    def check(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise Cancelled("the job was cancelled")

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        self.check()
        self._report()

    def step(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        self._report()
        self.check()
        threads.adapt()  # other processes may have started or stopped since

    def finish(self, stage: str = "done") -> None:
        self.done, self.stage = self.total, stage
        self._report()

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(self.done / self.total, self.stage)
