"""A flag shared between processes as one byte of shared memory: multiprocessing.Event's interface without its
lock. The training child's stop and pause (core/remote.py) and the sweep workers' stop (core/sweep_backends.py)."""

from __future__ import annotations

import time


class SharedEvent:
    """multiprocessing.Event's interface (is_set, set, clear, wait) over one shared byte, with no lock.

    Stop and pause were mp.Events: their set() takes a lock the child takes too at every step, so Stop froze the
    window while the child was stopped (SIGSTOP, a debugger) or had died holding it (issue 20); the sweep
    workers' stop flag is one of these for the same reason. A byte is written and read whole; wait() polls (the child waits
    only while paused)."""

    def __init__(self, raw):
        self.raw = raw

    def is_set(self) -> bool:
        return bool(self.raw.value)

    def set(self) -> None:
        self.raw.value = 1

    def clear(self) -> None:
        self.raw.value = 0

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self.raw.value:
            if end is not None and time.monotonic() >= end:
                return False
            time.sleep(0.02)
        return True
