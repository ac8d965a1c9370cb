"""Every snapshot of a run, compactly (issue 24): what the scrubber, the heatmaps over time, `inspect --step` and
`initscope animate` read.

One row per kept snapshot; rows are thinned with History's snapshot rows (evenly, at most History.max_rows).
A row holds everything a Snapshot has but the dead-neuron map:
- loss and lr (float64);
- per layer (every layer a snapshot lists): mean, std, saturation, dead, width, grad mean, grad std (float64);
- per parameter: data std, grad mean, grad std, grad:data, log10 update:data (float64);
- three histograms per layer or parameter (layer outputs, gradients at layer outputs, weight gradients): the
  counts as uint16 with one scale per histogram (counts = stored x scale: exact while no bin holds more than
  65,535 values, which a batch of 32 x 100 units, 3,200 values, never reaches) and the range lo, hi (float64:
  kept exactly). A histogram a snapshot lacks (a bias, a watched layer not called yet) has scale NaN.
The deep net (5 Tanh layers, 13 parameters, 50 bins) costs 3.5 KB a row (3,584 bytes): 14.7 MB at 4,096 rows.

Pure numpy (no torch): the window imports History before torch is loaded.
"""

from __future__ import annotations

import numpy as np

from initscope.core.buffers import GrowArray
from initscope.core.snapshot import Histogram, LayerStats, ParamStats, Snapshot

LAYER_FIELDS = ("mean", "std", "saturation", "dead", "width", "grad_mean", "grad_std")
PARAM_FIELDS = ("data_std", "grad_mean", "grad_std", "grad_data", "update_data_log10")
HISTS = ("act", "grad", "wgrad")  # layer outputs, gradients at layer outputs, weight gradients
KEYS = ("steps", "scalars", "layer_stats", "param_stats") + tuple(f"{h}_{p}" for h in HISTS for p in ("counts", "scale", "range"))
U16 = 65535


def pack_counts(counts: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """(uint16 counts, scale): counts ~= stored * scale, exact when the largest count is at most 65,535."""
    c = np.asarray(counts, np.float64)
    top = float(c.max()) if c.size else 0.0
    scale = 1.0 if top <= U16 else top / U16
    return np.rint(c / scale).astype(np.uint16), np.float32(scale)


def pack_many(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pack_counts of each row of a (k, bins) array at once: (uint16 counts, float32 scales)."""
    c = np.asarray(counts)
    top = c.max(1)
    if c.size and top.max() <= U16:  # the usual case: every scale is 1, and no float64 copy is needed
        return np.rint(c).astype(np.uint16), np.ones(len(c), np.float32)
    c = c.astype(np.float64)
    scale = np.where(top <= U16, 1.0, top / U16)
    return np.rint(c / scale[:, None]).astype(np.uint16), scale.astype(np.float32)


def same_layout(a: Snapshot, b: Snapshot) -> bool:
    return ([(s.index, s.name, s.kind) for s in a.layers] == [(s.index, s.name, s.kind) for s in b.layers]
            and [(p.name, p.shape, p.is_matrix) for p in a.params] == [(p.name, p.shape, p.is_matrix) for p in b.params])


def pack_row(snap: Snapshot, bins: int) -> dict[str, np.ndarray]:
    """One snapshot as one row of each of KEYS (a leading axis of 1). A histogram it lacks, or one of another
    number of bins, has scale NaN and range (0, 0)."""
    row = {"steps": np.array([snap.step], np.int64), "scalars": np.array([[snap.loss, snap.lr]], np.float64),
           "layer_stats": np.array([[[getattr(s, f) for f in LAYER_FIELDS] for s in snap.layers]], np.float64)
           .reshape(1, len(snap.layers), len(LAYER_FIELDS)),
           "param_stats": np.array([[[getattr(p, f) for f in PARAM_FIELDS] for p in snap.params]], np.float64)
           .reshape(1, len(snap.params), len(PARAM_FIELDS))}
    for h, hists in (("act", [s.hist for s in snap.layers]), ("grad", [s.grad_hist for s in snap.layers]),
                     ("wgrad", [p.grad_hist for p in snap.params])):
        n = len(hists)
        counts = np.zeros((1, n, bins), np.uint16)
        scale = np.full((1, n), np.nan, np.float32)
        rng = np.zeros((1, n, 2), np.float64)
        ok = [j for j, hist in enumerate(hists) if hist is not None and len(hist.counts) == bins]
        if ok:  # packed together: one numpy op each for all of them
            counts[0, ok], scale[0, ok] = pack_many(np.stack([hists[j].counts for j in ok]))
            rng[0, ok] = [(hists[j].lo, hists[j].hi) for j in ok]
        row[f"{h}_counts"], row[f"{h}_scale"], row[f"{h}_range"] = counts, scale, rng
    return row


class SnapshotStore:
    """Rows of snapshots of one layout (`template`: names, kinds, shapes and ref_loss come from it)."""

    def __init__(self, limit: int | None = None):
        self.limit = limit  # capacity never grows past this (History.max_rows + 1): no doubling to 2x the cap
        self.template: Snapshot | None = None
        self.bins = 0
        self.arrays: dict = {}  # KEYS -> GrowArray
        self._key = None  # the layout token of the rows added packed (add)

    def __len__(self) -> int:
        return len(self.arrays["steps"]) if self.arrays else 0

    @property
    def steps(self) -> np.ndarray:
        return self.arrays["steps"].data if self.arrays else np.zeros(0, np.int64)

    def _start(self, snap: Snapshot) -> None:
        self.template = snap
        self._key = None
        hists = [h for s in snap.layers for h in (s.hist, s.grad_hist)] + [p.grad_hist for p in snap.params]
        self.bins = next((len(h.counts) for h in hists if h is not None), 1)
        nl, npar, b = len(snap.layers), len(snap.params), self.bins
        cap = min(16, self.limit or 16)  # a preview holds one row: grow from small
        g = lambda width, dtype: GrowArray(width, dtype, cap, self.limit)  # noqa: E731
        self.arrays = {"steps": g(None, np.int64), "scalars": g(2, np.float64),
                       "layer_stats": g((nl, len(LAYER_FIELDS)), np.float64),
                       "param_stats": g((npar, len(PARAM_FIELDS)), np.float64)}
        for h, n in (("act", nl), ("grad", nl), ("wgrad", npar)):
            self.arrays[f"{h}_counts"] = g((n, b), np.uint16)
            self.arrays[f"{h}_scale"] = g(n, np.float32)
            self.arrays[f"{h}_range"] = g((n, 2), np.float64)

    def add(self, snap: Snapshot, row: dict | None = None) -> None:
        """Append `snap`. `row`: the same snapshot already packed as `pack_row` packs it, and its "layout", a token
        that stays the same while the layout does (Recorder.end_full makes both from its host arrays: a snapshot
        every step saves the walk over its objects)."""
        key = row.get("layout") if row is not None else None
        if self.template is None or key is None or key != self._key:
            if self.template is None or not same_layout(self.template, snap):
                self._start(snap)  # a record's snapshots never change layout; a new layout starts afresh
            self._key = key
        if row is None or row["act_counts"].shape[-1] != self.bins:
            row = pack_row(snap, self.bins)
        for k in KEYS:
            self.arrays[k].extend(row[k])

    def pop(self) -> None:
        for arr in self.arrays.values():
            arr.pop()

    def keep(self, index: np.ndarray) -> None:
        for arr in self.arrays.values():
            arr.keep(index)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    # --- reading -------------------------------------------------------------------------------------------
    def row_at(self, step: int) -> int:
        """The row of the latest snapshot at or before `step` (the first row if `step` comes before it)."""
        return max(int(np.searchsorted(self.steps, step, side="right")) - 1, 0)

    def counts(self, which: str, row: int | slice, j: int) -> np.ndarray:
        """Decoded counts (float32) of histogram `which` ("act" | "grad" | "wgrad") of layer/parameter j."""
        a = self.arrays
        return a[f"{which}_counts"].data[row, j].astype(np.float32) * a[f"{which}_scale"].data[row, j, ..., None]

    def histogram(self, which: str, row: int, j: int) -> Histogram | None:
        scale = float(self.arrays[f"{which}_scale"].data[row, j])
        if not np.isfinite(scale):
            return None
        lo, hi = self.arrays[f"{which}_range"].data[row, j]
        return Histogram(self.counts(which, row, j), float(lo), float(hi))

    def snapshot(self, row: int) -> Snapshot:
        """Row `row` as a Snapshot (no dead-neuron map: sat_map is None)."""
        t, a = self.template, self.arrays
        loss, lr = a["scalars"].data[row].tolist()
        snap = Snapshot(step=int(a["steps"].data[row]), loss=loss, lr=lr, ref_loss=t.ref_loss)
        for j, (s, r) in enumerate(zip(t.layers, a["layer_stats"].data[row].tolist())):
            v = dict(zip(LAYER_FIELDS, r))
            snap.layers.append(LayerStats(
                index=s.index, name=s.name, kind=s.kind, mean=v["mean"], std=v["std"], saturation=v["saturation"],
                dead=int(v["dead"]), width=int(v["width"]), hist=self.histogram("act", row, j),
                grad_mean=v["grad_mean"], grad_std=v["grad_std"], grad_hist=self.histogram("grad", row, j)))
        for j, (p, r) in enumerate(zip(t.params, a["param_stats"].data[row].tolist())):
            snap.params.append(ParamStats(name=p.name, shape=p.shape, is_matrix=p.is_matrix,
                                          grad_hist=self.histogram("wgrad", row, j), **dict(zip(PARAM_FIELDS, r))))
        return snap

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: v.data.copy() for k, v in self.arrays.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], template: Snapshot, limit: int | None = None) -> SnapshotStore:
        """A store from a file's replay arrays (checked by runfile.py against `template`'s layout)."""
        store = cls(limit)
        store.template = template
        store.bins = arrays["act_counts"].shape[-1]
        for k in KEYS:
            arr = arrays[k]
            g = GrowArray(arr.shape[1:] or None, arr.dtype, max(len(arr), 1), max(limit or 0, len(arr)) or None)
            g.extend(arr)
            store.arrays[k] = g
        return store

    # --- heatmaps over time --------------------------------------------------------------------------------
    def heatmap(self, which: str, j: int, rows: slice = slice(None), bins: int | None = None,
                lo: float | None = None, hi: float | None = None):
        """(steps, image[rows, bins] of each row's fraction of values per value bin, lo, hi) for layer/parameter
        j: every row's histogram spread onto one grid over [lo, hi] (default: the union of the rows' ranges),
        assuming values uniform within a bin. Rows without the histogram are NaN."""
        steps = self.steps[rows]
        counts = self.counts(which, rows, j).astype(np.float64)
        rng = self.arrays[f"{which}_range"].data[rows, j].astype(np.float64)
        have = np.isfinite(self.arrays[f"{which}_scale"].data[rows, j])
        b = bins or self.bins
        if lo is None or hi is None:
            lo = float(rng[have, 0].min()) if have.any() else -1.0
            hi = float(rng[have, 1].max()) if have.any() else 1.0
        if hi <= lo:
            hi = lo + 1.0
        grid = np.linspace(lo, hi, b + 1)
        img = np.full((len(steps), b), np.nan)
        n = counts.shape[1]
        for i in np.flatnonzero(have):
            r_lo, r_hi = rng[i]
            total = counts[i].sum()
            if total <= 0:
                img[i] = 0.0
                continue
            if r_hi <= r_lo:  # every value at one point: all of it in the grid bin holding that point
                img[i] = 0.0
                img[i, min(max(int(np.searchsorted(grid, r_lo, side="right")) - 1, 0), b - 1)] = 1.0
                continue
            cdf = np.concatenate([[0.0], np.cumsum(counts[i])]) / total
            img[i] = np.diff(np.interp(grid, np.linspace(r_lo, r_hi, n + 1), cdf))
        return steps, img, lo, hi
