"""Bounded history of a run: what the plots draw from.

- loss: every step, full resolution, float32 in an array that doubles when full (4 MB per million steps);
- per-snapshot rows (saturation, std, grad std per layer; update:data per matrix) and every snapshot whole, its
  histograms included (`replay`, core/replay.py: 16-bit counts): at most `max_rows` rows, thinned evenly: the
  n-th snapshot (from 0) is kept while n is a multiple of a stride that doubles when the rows would pass
  `max_rows`, and the latest is kept until the next one comes, so the kept rows are evenly spaced and the first
  and the latest are always there;
- whole snapshots as objects (their dead-neuron maps too): the step-0 one, and a ring of the `ring` latest;
- the per-step tier (diag.step_stats: saturation, std, grad std per layer; update:data per matrix every step):
  at most `max_step_rows` rows; when full, the stride doubles and only the steps that are multiples of it
  stay (step 0 among them), so the kept rows are evenly spaced whatever the run's length.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from initscope.core.buffers import GrowArray  # noqa: F401 - where callers have always found it
from initscope.core.config import ACTIVATIONS
from initscope.core.replay import SnapshotStore

SMOOTH_BLOCK = 100  # steps averaged into one point of a smoothed loss curve (the loss panel, its overlay, the report)


def block_means(loss: np.ndarray, block: int = SMOOTH_BLOCK) -> np.ndarray:
    """The mean of each complete block of `block` steps, in float64 (a partial last block is left out); point k
    stands for steps k*block .. (k+1)*block - 1, drawn at (k + 0.5) * block."""
    k = len(loss) // block
    return np.asarray(loss[: k * block]).reshape(k, block).mean(1, dtype=np.float64)

if TYPE_CHECKING:  # annotations only: the GUI imports History before torch is loaded
    from initscope.core.snapshot import Snapshot, StepScalars


def decimation_index(n: int) -> np.ndarray:
    """Every other row, always keeping the first and the last."""
    idx = np.arange(0, n, 2)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return idx


class History:
    def __init__(self, max_rows: int = 4096, ring: int = 16, max_step_rows: int = 32768, all_layers: bool = False):
        self.max_rows = max_rows
        # the columns: the app's activation layers; every layer of a watched model (initscope.watch), whose
        # Linears, norms and residual streams are all it has to show over time
        self.all_layers = all_layers
        self.max_step_rows = max_step_rows
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
        # the per-step tier: rows are steps (every `step_stride`-th), columns as in saturation / update above
        self.step_stride = 1
        self.step_steps = GrowArray(dtype=np.int64)
        self.step_saturation: GrowArray | None = None
        self.step_act_std: GrowArray | None = None
        self.step_grad_std: GrowArray | None = None
        self.step_update: GrowArray | None = None
        self.recent: deque[Snapshot] = deque(maxlen=ring)
        self.replay = SnapshotStore(limit=max_rows + 1)  # every kept snapshot row, histograms included
        self.snap_number = GrowArray(dtype=np.int64)  # which snapshot (0, 1, 2, ...) each row is
        self.snap_stride = 1
        self._snaps_seen = 0
        self._tail = False  # the last row is the latest snapshot, kept only until the next one comes
        self.at_step: int | None = None  # set on a view made by at(): the step it shows
        self._rebuilt: dict = {}  # step -> the Snapshot rebuilt from its replay row (shared with at()'s views)
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

    def add_snapshot(self, snap: Snapshot, row: dict | None = None) -> None:
        """`row`: the snapshot packed as its replay row (replay.SnapshotStore.add), when its maker has it."""
        acts = snap.layers if self.all_layers else [s for s in snap.layers if s.kind in ACTIVATIONS]
        if self.saturation is None:
            self.layer_names = [s.name for s in acts]
            self.matrix_names = [p.name for p in snap.params if p.is_matrix]
            nl, nm = len(self.layer_names), len(self.matrix_names)
            self.saturation, self.act_std, self.grad_std = (GrowArray(nl) for _ in range(3))
            self.update = GrowArray(nm)
        rows = (self.snap_steps, self.snap_number, self.saturation, self.act_std, self.grad_std, self.update)
        if self._tail:  # the previous latest was not on the stride: the new latest takes its place
            for arr in rows:
                arr.pop()
            self.replay.pop()
        n = self._snaps_seen
        self._snaps_seen += 1
        self.snap_steps.extend([snap.step])
        self.snap_number.extend([n])
        self.saturation.extend([[s.saturation for s in acts]])
        self.act_std.extend([[s.std for s in acts]])
        self.grad_std.extend([[s.grad_std for s in acts]])
        self.update.extend([[p.update_data_log10 for p in snap.params if p.is_matrix]])
        if len(self.replay) != len(self.snap_steps) - 1:  # rows rebuilt from an older file: no histograms to align
            self.replay = SnapshotStore(limit=self.max_rows + 1)
            self._rebuilt.clear()
        else:
            self.replay.add(snap, row)
        while len(self.snap_steps) > self.max_rows:
            self.snap_stride *= 2
            nums = self.snap_number.data
            idx = np.flatnonzero((nums % self.snap_stride == 0) | (nums == n))
            for arr in rows:
                arr.keep(idx)
            if len(self.replay) == len(nums):
                self.replay.keep(idx)
        self._tail = n % self.snap_stride != 0
        self.recent.append(snap)
        self.version += 1

    def add_progress(self, p) -> None:
        """One report of the trainer (core.messages.Progress): its losses, its snapshot, its per-step rows. The one way
        the window's runs and the CLI's fill a History."""
        if len(p.losses):
            self.add_losses(p.first_step, p.losses)
        if p.snapshot is not None:
            self.add_snapshot(p.snapshot)
        self.add_step_scalars(getattr(p, "scalars", None))

    def add_step_scalars(self, sc: StepScalars | None) -> None:
        """Append a chunk of the per-step tier (Progress.scalars); a no-op for None or an empty chunk."""
        if sc is None or len(sc) == 0:
            return
        if self.step_saturation is None:
            nl, nm = sc.saturation.shape[1], sc.update_log10.shape[1]
            self.step_saturation, self.step_act_std, self.step_grad_std = (GrowArray(nl) for _ in range(3))
            self.step_update = GrowArray(nm)
        steps = sc.steps()
        keep = steps % self.step_stride == 0
        arrays = self._step_arrays()
        for arr, rows in zip(arrays, (steps, sc.saturation, sc.act_std, sc.grad_std, sc.update_log10)):
            arr.extend(rows[keep])
        while len(self.step_steps) > self.max_step_rows:
            self.step_stride *= 2
            idx = np.flatnonzero(self.step_steps.data % self.step_stride == 0)
            for arr in arrays:
                arr.keep(idx)
        self.version += 1

    def _step_arrays(self) -> list[GrowArray]:
        return [a for a in (self.step_steps, self.step_saturation, self.step_act_std, self.step_grad_std,
                            self.step_update) if a is not None]

    def snapshot_steps(self) -> np.ndarray:
        """The steps a scrubber can show: the replay rows, or (a file from before them) the whole snapshots kept."""
        if len(self.replay):
            return self.replay.steps
        return np.unique([s.step for s in self.whole_snapshots()]).astype(np.int64)

    def whole_snapshots(self) -> list[Snapshot]:
        """The snapshots kept as objects: step 0's, then the ring of the latest (what a run file holds whole)."""
        return ([self.init] if self.init is not None else []) + [s for s in self.recent if s is not self.init]

    def snapshot_at(self, step: int):
        """The snapshot at or before `step` (the first one if `step` is before it): a kept object when one is
        at that step (its dead-neuron map included), else rebuilt from the replay rows."""
        steps = self.snapshot_steps()
        if not len(steps):
            return None
        at = int(steps[max(int(np.searchsorted(steps, step, side="right")) - 1, 0)])
        kept = [s for s in self.whole_snapshots() if s.step == at]
        if kept:
            return kept[-1]
        # rebuilt once per step: a row's numbers never change, and the views redraw on a new object
        if len(self._rebuilt) > 64:
            self._rebuilt.clear()
        if at not in self._rebuilt:
            self._rebuilt[at] = self.replay.snapshot(self.replay.row_at(at))
        return self._rebuilt[at]

    def at(self, step: int) -> History:
        """This history as the panels should draw it at `step`: the same buffers (no copy), with the snapshot
        at or before `step` as the latest. Read-only: nothing may be added to it."""
        h = copy.copy(self)
        snap = self.snapshot_at(step)
        h.recent = deque([snap] if snap is not None else [], maxlen=1)
        h.at_step = snap.step if snap is not None else step
        h.version = hash((self.version, "at", step))
        return h

    def loss_steps(self) -> np.ndarray:
        return np.arange(self.loss_first_step, self.loss_first_step + len(self.loss))

    def nbytes(self) -> int:
        arrays = [self.loss, self.snap_steps] + [a for a in (self.saturation, self.act_std, self.grad_std, self.update) if a is not None]
        arrays += self._step_arrays() + [self.snap_number]
        return sum(a.nbytes for a in arrays) + self.replay.nbytes()
