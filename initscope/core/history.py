"""Bounded history of a run: what the plots draw from.

- loss: every step, full resolution, float32 in an array that doubles when full (4 MB per million steps);
- per-snapshot scalars (saturation, std, grad std per layer; update:data per matrix): at most
  `max_rows` rows; when full, every other row is dropped, the first and the latest always kept;
- whole snapshots (with histograms): the step-0 one, and a ring of the `ring` latest.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from initscope.core.diagnostics import Snapshot


class GrowArray:
    """A 1-D or row-wise 2-D numpy buffer that doubles its capacity when full."""

    def __init__(self, width: int | None = None, dtype=np.float32, capacity: int = 1024):
        shape = (capacity,) if width is None else (capacity, width)
        self._a = np.empty(shape, dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, self._a.dtype)
        k = len(rows)
        if self.n + k > len(self._a):
            cap = max(2 * len(self._a), self.n + k)
            new = np.empty((cap, *self._a.shape[1:]), self._a.dtype)
            new[: self.n] = self._a[: self.n]
            self._a = new
        self._a[self.n: self.n + k] = rows
        self.n += k

    def keep(self, index: np.ndarray) -> None:
        kept = self._a[index].copy()
        self._a[: len(kept)] = kept
        self.n = len(kept)

    @property
    def data(self) -> np.ndarray:
        return self._a[: self.n]

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return self._a.nbytes


def decimation_index(n: int) -> np.ndarray:
    """Every other row, always keeping the first and the last."""
    idx = np.arange(0, n, 2)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return idx


class History:
    def __init__(self, max_rows: int = 4096, ring: int = 16):
        self.max_rows = max_rows
        self.loss = GrowArray()
        self.loss_first_step = 0
        self.layer_names: list[str] = []
        self.matrix_names: list[str] = []
        self.snap_steps = GrowArray(dtype=np.int64)
        self.saturation: GrowArray | None = None  # rows: snapshots; columns: activation layers
        self.act_std: GrowArray | None = None
        self.grad_std: GrowArray | None = None
        self.update: GrowArray | None = None  # columns: weight matrices (log10 update:data)
        self.init: Snapshot | None = None
        self.recent: deque[Snapshot] = deque(maxlen=ring)
        self.version = 0  # bumped on every change; views redraw only when it moved

    @property
    def latest(self) -> Snapshot | None:
        return self.recent[-1] if self.recent else self.init

    def add_losses(self, first_step: int, losses: np.ndarray) -> None:
        if len(self.loss) == 0:
            self.loss_first_step = first_step
        self.loss.extend(losses)
        self.version += 1

    def set_init(self, snap: Snapshot) -> None:
        self.init = snap
        self.version += 1

    def add_snapshot(self, snap: Snapshot) -> None:
        if self.saturation is None:
            self.layer_names = [s.name for s in snap.layers]
            self.matrix_names = [p.name for p in snap.params if p.is_matrix]
            nl, nm = len(self.layer_names), len(self.matrix_names)
            self.saturation, self.act_std, self.grad_std = (GrowArray(nl) for _ in range(3))
            self.update = GrowArray(nm)
        self.snap_steps.extend([snap.step])
        self.saturation.extend([[s.saturation for s in snap.layers]])
        self.act_std.extend([[s.std for s in snap.layers]])
        self.grad_std.extend([[s.grad_std for s in snap.layers]])
        self.update.extend([[p.update_data_log10 for p in snap.params if p.is_matrix]])
        if len(self.snap_steps) > self.max_rows:
            idx = decimation_index(len(self.snap_steps))
            for arr in (self.snap_steps, self.saturation, self.act_std, self.grad_std, self.update):
                arr.keep(idx)
        self.recent.append(snap)
        self.version += 1

    def loss_steps(self) -> np.ndarray:
        return np.arange(self.loss_first_step, self.loss_first_step + len(self.loss))

    def nbytes(self) -> int:
        arrays = [self.loss, self.snap_steps] + [a for a in (self.saturation, self.act_std, self.grad_std, self.update) if a is not None]
        return sum(a.nbytes for a in arrays)
