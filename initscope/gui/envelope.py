"""A long series drawn at what the screen can show, updated in time proportional to what is new.

pyqtgraph's own downsampling (`setDownsampling(auto=True)`) rescans the whole curve at every setData: with the
loss of every step, a preset's 200,000 steps cost the window 10-15 ms a frame by the run's end, and the loss
panel was most of the event loop's lateness (bench_gui --steps 200000). `PeakEnvelope` keeps the minimum and
maximum of each block of steps instead, folding in only the steps that arrived since the last frame, and
doubles its blocks when there are too many: the drawn curve has at most 2 x max_blocks points.
"""

from __future__ import annotations

import numpy as np


class PeakEnvelope:
    def __init__(self, max_blocks: int = 1024):
        self.max_blocks = max_blocks
        self.reset()

    def reset(self) -> None:
        self.block = 1  # steps per block: a power of two
        self.lo = np.zeros(0, np.float64)
        self.hi = np.zeros(0, np.float64)

    def update(self, y: np.ndarray) -> None:
        """Fold in the complete blocks of `y` not seen yet. `y` is the whole series: the last call's, extended."""
        b, k = self.block, len(self.lo)
        full = len(y) // b
        if full > k:
            seg = np.asarray(y[k * b: full * b], np.float64).reshape(-1, b)
            self.lo = np.concatenate([self.lo, seg.min(1)])
            self.hi = np.concatenate([self.hi, seg.max(1)])
        while len(self.lo) > self.max_blocks:  # twice as long blocks; an odd last block waits for its partner
            m = len(self.lo) // 2 * 2
            self.lo = np.minimum(self.lo[0:m:2], self.lo[1:m:2])
            self.hi = np.maximum(self.hi[0:m:2], self.hi[1:m:2])
            self.block *= 2

    def xy(self, y: np.ndarray, first_step: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """What to draw for `y` (as last given to update): each block as a vertical stroke from its minimum to
        its maximum at its first step, then the steps of the incomplete last block as they are."""
        b, k = self.block, len(self.lo)
        x = np.repeat(first_step + b * np.arange(k, dtype=np.float64), 2)
        v = np.empty(2 * k)
        v[0::2], v[1::2] = self.lo, self.hi
        tail = np.asarray(y[k * b:], np.float64)
        return (np.concatenate([x, first_step + k * b + np.arange(len(tail), dtype=np.float64)]),
                np.concatenate([v, tail]))
