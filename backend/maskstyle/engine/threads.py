"""CPU threads for the engine, chosen so that several jobs can share the cores.

Two things collapse when several processes share the cores (batch `--jobs`, GIMP itself,
a second backend):
- PyTorch's OpenMP threads spin while they wait for work, stealing the time slices the
  others need: three jobs on two cores ran 8 times slower each instead of 3 times. Sleeping
  waiters (OMP_WAIT_POLICY=PASSIVE) avoid that. The policy is read once, when PyTorch's
  OpenMP runtime loads, so `prefer_passive_wait` runs from `maskstyle/__init__.py`, before
  anything imports torch; a policy the user set is kept.
- Even sleeping, a job's threads meet at the end of every operation, and when one of them
  waits for a core the others wait too: two-thread jobs, three at once on two cores, took
  2.6 times longer than three after one another. So between iterations `adapt` gives the
  job one thread per core that no other process is using at that moment (Linux's count of
  runnable tasks), and all of them on an idle machine.
"""

from __future__ import annotations

import os


def prefer_passive_wait() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cpu_threads() -> int:
    """One thread per CPU this process may run on (its affinity, which containers and
    `taskset` narrow; torch's own default counts the machine's cores instead)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def busy_elsewhere() -> int:
    """How many tasks of other processes are running or waiting for a core right now
    (0 where the system does not say: /proc is Linux's)."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat") as f:
                own += f.read().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - own)


def threads_now() -> int:
    return max(1, cpu_threads() - busy_elsewhere())


def adapt() -> None:
    """Set torch's CPU threads to `threads_now()`; cheap enough to call every iteration."""
    import torch

    wanted = threads_now()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
