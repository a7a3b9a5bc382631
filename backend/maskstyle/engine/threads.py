"""CPU threads for the engine, chosen so that several jobs can share the cores.

PyTorch's OpenMP threads spin while they wait for work. With one job per machine that
is a little faster, but when several processes share the cores (batch `--jobs`, GIMP
itself, a second backend) each spinning thread steals the time slices the others need:
three jobs on two cores ran 8 times slower each instead of 3 times. Sleeping waiters
(OMP_WAIT_POLICY=PASSIVE) keep N jobs at about N times one job's time. The policy is read
once, when PyTorch's OpenMP runtime loads, so `prefer_passive_wait` runs from
`maskstyle/__init__.py`, before anything imports torch; a policy the user set is kept.
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


def configure_torch() -> None:
    """Apply the thread count; called when the engine first picks a device."""
    import torch

    if torch.get_num_threads() != cpu_threads():
        torch.set_num_threads(cpu_threads())
