"""GrowArray: the buffer the history's rows live in (core/history.py, core/replay.py)."""

from __future__ import annotations

import numpy as np


class GrowArray:
    """A 1-D or row-wise numpy buffer (a row: `width` values, or an array of shape `width`) that doubles its
    capacity when full, never past `limit` rows when given (more rows than that still fit, exactly)."""

    def __init__(self, width: int | tuple | None = None, dtype=np.float32, capacity: int = 1024,
                 limit: int | None = None):
        row = () if width is None else (width,) if isinstance(width, int) else tuple(width)
        self._a = np.empty((capacity, *row), dtype)
        self.n = 0
        self.limit = limit

    def extend(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, self._a.dtype)
        k = len(rows)
        if self.n + k > len(self._a):
            cap = max(2 * len(self._a), self.n + k)
            if self.limit is not None:
                cap = max(min(cap, self.limit), self.n + k)
            new = np.empty((cap, *self._a.shape[1:]), self._a.dtype)
            new[: self.n] = self._a[: self.n]
            self._a = new
        self._a[self.n: self.n + k] = rows
        self.n += k

    def pop(self) -> None:
        self.n = max(self.n - 1, 0)

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
