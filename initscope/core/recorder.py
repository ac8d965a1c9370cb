"""Per-layer statistics of any torch model, from hooks: what `initscope.watch` and `initscope.check` record.

The app's own nets go through `core/diagnostics.py`, a fused path that knows their layout in advance; here the
model is anyone's, so every leaf module is looked at on its own:

- a forward hook per leaf module keeps its output (and `retain_grad`s it: a C++ hook, no Python call in
  backward) until the step ends, when all of them are reduced together, a few ops per size (see Recorder);
- optimizer pre/post step hooks copy every trainable parameter's data and gradient before the step, and the
  data after it, flat (one op each), so the update is the actual p_after - p_before: right for Adam as well as
  SGD. On consecutive recorded steps the copy after one step is the next one's copy before, while the
  parameters' version counters (and storages) say nothing wrote to them in between;
- hooks exist only while a step is recorded (a snapshot step, or every step for the scalar tier): an
  unrecorded step runs the model exactly as unwatched, at its speed;
- the per-step tier's steps wait in rings (their outputs and gradients stacked, the matrices' copies) and are
  reduced K steps at once (RING_BYTES), when the rings fill, before a step of another kind and at every flush;
- everything stays on the model's device until the step ends, then one transfer to the host per snapshot, one
  per chunk of per-step scalars.

A module called more than once per step (a shared activation, gradient accumulation) is summed over its calls:
moments combine exactly, dead units must be dead in every call; its histogram keeps the first call's range.
Units are the last dimension of a layer's output, the channels (dim 1) of 4-D and 5-D (image, volume) outputs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from initscope.core import fastreduce, kinds
from initscope.core.replay import pack_many
from initscope.core.snapshot import Histogram, LayerStats, ModelInfo, ParamStats, Snapshot, StepScalars

# histograms of a huge output are taken on an evenly strided sample of at most this many values (the moments,
# saturation and dead units still use every value): the memory a snapshot needs stays bounded (README)
HIST_SAMPLE = 1 << 20

# The per-step tier defers its reductions: each step's stacked activations (and gradients) and the weight
# matrices' copy after optimizer.step() go into rings of K slots, reduced once per K steps. On a CPU a torch op
# costs 3-6 us of dispatch whatever its size, and these tensors are small, so one op over K steps replaces K.
# K = RING_BYTES // (one step's bytes), at most RING_MAX; 1 (no deferral: a step reduced when it ends) where
# a step does not fit twice, e.g. a big model. The rings then take at most RING_BYTES plus one step's matrices,
# and stay in cache (README: "what changed").
RING_BYTES = 4 << 20
RING_MAX = 16


class WatchWarning(UserWarning):
    """Something about how a watched loop is written (said once, training goes on)."""


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DataParallel, DistributedDataParallel or torch.compile's wrapper (nested ones too)."""
    for _ in range(8):
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif type(model).__name__ == "OptimizedModule" and isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            break
    return model


def first_tensor(out):
    """The module's output as the statistics see it: the tensor, or the first tensor of a tuple / list / dict."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            if isinstance(o, torch.Tensor):
                return o
    if isinstance(out, dict):
        for o in out.values():
            if isinstance(o, torch.Tensor):
                return o
    return None


def unit_dim(t: torch.Tensor) -> int:
    return 1 if t.dim() in (4, 5) else t.dim() - 1


@dataclass
class LayerInfo:
    name: str  # qualified module name, "block.act"
    kind: str  # class name, "Tanh"
    module: nn.Module
    family: str | None  # core.kinds family of an activation, else None
    width: int = 0  # units, known after the first recorded forward


@dataclass
class _Acc:
    """One layer's reductions over the calls of one recorded step (device tensors)."""

    n: float = 0.0
    mean: torch.Tensor | None = None
    m2: torch.Tensor | None = None  # sum of squared deviations (Chan's parallel combination)
    sat: torch.Tensor | None = None  # saturated count
    dead: torch.Tensor | None = None  # bool per unit: saturated in every example so far
    lo: torch.Tensor | None = None
    hi: torch.Tensor | None = None
    counts: torch.Tensor | None = None
    g_n: float = 0.0
    g_mean: torch.Tensor | None = None
    g_m2: torch.Tensor | None = None
    g_lim: torch.Tensor | None = None
    g_counts: torch.Tensor | None = None
    calls: int = 0
    grads: int = 0


class _Accs(dict):
    """The step's _Acc per layer index, made when first touched (most steps touch few or none)."""

    def __missing__(self, i: int) -> _Acc:
        acc = self[i] = _Acc()
        return acc


def _combine(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    if mean_a is None:
        return n_b, mean_b, m2_b
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta * delta * (n_a * n_b / n)


def _hist(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    """Counts of x over [lo, hi] in `bins` equal bins (values beyond the edges go to the end bins, NaN is
    dropped), with no host sync: index_add into bins + 1 slots, the last one NaN's."""
    flat = x.detach().reshape(-1)
    if flat.numel() > HIST_SAMPLE:
        flat = flat[:: -(-flat.numel() // HIST_SAMPLE)]
    # (x - lo) / width * bins, not (x - lo) * (bins / width): exact at the middle edge, where a gradient's many
    # exact zeros fall for a symmetric range (as torch.histc counts them)
    pos = (flat.float() - lo) / (hi - lo).clamp_min(1e-12) * bins
    idx = torch.where(pos.isnan(), bins, pos.nan_to_num(0.0).clamp_(0, bins - 1).long())
    out = torch.zeros(bins + 1, device=flat.device, dtype=torch.float32)
    out.index_add_(0, idx, torch.ones_like(idx, dtype=torch.float32))
    return out[:bins]


def _moments(x: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(count, mean, sum of squared deviations) of all values, as float64 device tensors: one var_mean."""
    xf = _float(x.detach())
    mean = xf.mean()
    d = xf - mean
    return float(xf.numel()), mean.double(), (d * d).sum().double()  # two passes: var_mean is slower on a CPU


def _flat(ts: list[torch.Tensor], dev: torch.device) -> torch.Tensor:
    """The tensors as one flat float tensor on `dev` (a copy: one op for all of them)."""
    parts = [t.reshape(-1) for t in ts]
    if any(t.device != dev for t in parts):
        parts = [t.to(dev) for t in parts]
    if len({t.dtype for t in parts}) > 1 or parts[0].dtype not in (torch.float32, torch.float64):
        parts = [t.float() for t in parts]
    return torch.cat(parts)


ROLE_ORDER = ("act", "out", "grad", "pgrad_m", "pgrad_v", "before", "diff")  # the rows' order in a group


class _Groups:
    """One recorded step's tensors, stacked by size: one (rows, size) tensor per size, whose rows are layer
    outputs (activations first), their gradients, and the parameters' gradients (matrices first), data
    before the step and update, each row belonging to a segment (a layer's outputs, a parameter's update, ...).
    Each reduction is then one op per size, not one per tensor: mean and centred squares along the rows; the
    activations' saturation and every histogram on a prefix of the rows; the rows' results combined per
    segment in float64 (Chan's formula: a layer called twice has two rows). On a CPU a torch op costs 5-10 us
    whatever its size, so the number of ops is what a step pays."""

    def __init__(self, n_seg: int, const, room=None):
        self.n_seg = n_seg
        self.const = const  # (values, device[, dtype]) -> a cached constant tensor
        self.room = room  # (key, n, dtype, device) -> a flat buffer kept between steps (Recorder._room)
        self._rows: dict[int, list] = {}  # size -> [(role rank, family, segment, block (k, size), extra)]
        self.groups: list[dict] = []

    def add(self, role: str, segs: list[int], block, family: str | None = None, extra=None) -> None:
        """Rows of one role: `block` is a (len(segs), size) tensor, or a list of len(segs) flat tensors."""
        rank = ROLE_ORDER.index(role)
        size = block[0].numel() if isinstance(block, list) else block.shape[1]
        self._rows.setdefault(size, []).append((rank, family or "", segs, block, extra))

    def build(self) -> None:
        for size, parts in self._rows.items():
            parts.sort(key=lambda p: (p[0], p[1]))
            # one copy: the rows (flat views of the outputs) and the parameter blocks go into the group at once,
            # concatenated flat and viewed as rows once (a view per row cost ~1 us each, 36 a step on the deep net)
            flat = [r for p in parts for r in (p[3] if isinstance(p[3], list) else [p[3].reshape(-1)])]
            if len(flat) == 1:
                T = flat[0].view(-1, size)
            elif self.room is not None and len({t.dtype for t in flat}) == 1:
                out = self.room(("T", size), sum(t.numel() for t in flat), flat[0].dtype, flat[0].device)
                T = torch.cat(flat, out=out).view(-1, size)
            else:
                T = torch.cat(flat).view(-1, size)
            segs = [s for p in parts for s in p[2]]
            roles = [(ROLE_ORDER[p[0]], p[1], len(p[2]), p[4]) for p in parts]
            self.groups.append({"T": T, "segs": segs, "roles": roles, "size": size})

    def moments(self):
        """Per segment (float64): count, mean, unbiased std."""
        dev = self.groups[0]["T"].device
        means, m2s, sizes, segs = [], [], [], []
        for g in self.groups:
            T = g["T"]
            # two passes: torch.var_mean along a dim is ~8x slower on a CPU (measured: 200 us vs 23 for 10 x 3200)
            m = T.mean(1, keepdim=True)
            means.append(m.view(-1))
            # the centred sum of squares as a squared norm: one pass, no (d * d) temporary
            D = torch.sub(T, m, out=self.room(("d", g["size"]), T.numel(), T.dtype, T.device).view_as(T)) \
                if self.room is not None else T - m
            m2s.append(torch.linalg.vector_norm(D, dim=1))
            sizes += [g["size"]] * len(g["segs"])
            segs += g["segs"]
        size_t = self.const(sizes, dev, torch.float64)
        mean_r, m2_r = torch.cat(means).double(), torch.cat(m2s).double().square_()
        seg_t = self.const(segs, dev)
        z = torch.zeros(self.n_seg, dtype=torch.float64, device=dev)
        n = z.index_add(0, seg_t, size_t)
        mean = z.index_add(0, seg_t, mean_r * size_t) / n.clamp_min(1)
        d = mean_r - mean[seg_t]
        m2 = z.index_add(0, seg_t, m2_r + size_t * d * d)
        std = (m2 / (n - 1).clamp_min(1)).sqrt()
        empty = n == 0
        return n, mean.masked_fill(empty, float("nan")), std.masked_fill(empty, float("nan"))


def _float(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _one_buffer(mats: list) -> bool:
    """Whether the weight matrices can be copied flat into one float buffer (one dtype and device, contiguous)."""
    return bool(mats) and len({(p.dtype, p.device) for p in mats}) == 1 \
        and mats[0].dtype in (torch.float32, torch.float64) and all(p.is_contiguous() for p in mats)


def _stack_into(ts: list[torch.Tensor], out: torch.Tensor, dt: torch.dtype) -> None:
    """Stack the tensors (equal numel) into the (len(ts), numel) tensor `out`: one op."""
    if any(t.dtype != dt or t.shape != ts[0].shape for t in ts):
        ts = [t.reshape(-1).to(dt) for t in ts]
    torch.stack(ts, out=out.view(len(ts), *ts[0].shape))


class _ScalarPlan:
    """The per-step tier's layout of one kind of step: which layers, of which sizes and families, with
    gradients or not, and the weight matrices' layout. Made once, reused while the layout repeats. `run` writes
    a step's raw sums into one flat device vector, a few ops per size (the lecture's net: 16 ops); `finish`
    turns many such vectors into rows on the host, in float64 numpy, when the scope flushes: the arithmetic
    that turns sums into stds and ratios is done there once for many steps, not as a dozen tiny device ops
    per step.

    Sums are of values minus each row's first value (a shift: no cancellation when a row's mean is far from
    zero, so float32 accumulation is as good as float64 here): var = (sum d^2 - (sum d)^2 / n) / (n - 1)."""

    def __init__(self, rec: Recorder, chunks: list, grads: dict, updates: bool):
        self.L, self.M, self.thr = len(rec.layers), len(rec.matrices), rec.threshold
        by: dict = {}
        for pos, (i, y, _) in enumerate(chunks):
            by.setdefault((y.numel(), rec.layers[i].family), []).append(pos)
        self.groups = []  # run: (family, output positions, gradient positions, tail positions with an input, offset)
        self.layout = []  # finish: (offset, n, layer ids, gradient layer ids, saturation layer ids)
        off = 0
        wide = any(c[1].dtype == torch.float64 for c in chunks)
        for (n, fam), poss in by.items():
            gp = [p for p in poss if chunks[p][0] in grads]
            sp = [p for p in poss if chunks[p][2] is not None] if fam == "tail" else (poss if fam else [])
            self.groups.append((fam, poss, gp, sp, off))
            self.layout.append((off, n, [chunks[p][0] for p in poss], [chunks[p][0] for p in gp],
                                [chunks[p][0] for p in sp]))
            off += 2 * (len(poss) + len(gp)) + len(sp)
        col = {j: q for q, j in enumerate(rec.matrices)}
        self.ucols = np.array([col[j] for j in rec._morder], dtype=np.int64)
        self.mruns = rec._mruns if updates else []
        self.runs_np = np.array(self.mruns, np.int64).reshape(-1, 4)  # the compiled path's copy of them
        self.u_off = off
        if updates:
            off += 4 * len(rec._morder)
            wide = wide or rec.params[rec._morder[0]][1].dtype == torch.float64
        self.msizes = np.array([rec.params[j][1].numel() for j in rec._morder], dtype=np.float64)
        self.length = off
        self.dtype = torch.float64 if wide else torch.float32
        # deferral (RING_BYTES): K steps' stacked rows per group, (K, rows, size), and the room their reduction
        # works in (the activation rows' saturation masks; the matrices' updates: Recorder._defer_ring), made
        # when first needed, so that a block allocates nothing big (a fresh buffer of a few 100 kB costs its
        # page faults every time: measured, 3x the block's own ops)
        item = torch.finfo(self.dtype).bits // 8
        # per group: outputs and gradients, the saturation masks' room (tanh, ReLU), a "tail" group's inputs
        step_bytes = sum((len(poss) * (2 if fam in ("tanh", "relu") else 1) + len(gp) + (len(sp) if fam == "tail" else 0))
                         * n for (_, n, *_), (fam, poss, gp, sp, _) in zip(self.layout, self.groups)) * item
        if self.mruns:
            step_bytes += 2 * int(self.msizes.sum()) * rec.params[rec._morder[0]][1].element_size()
        self.K = min(RING_MAX, RING_BYTES // max(step_bytes, 1)) if self.groups else 1
        if self.mruns:
            self.K = min(self.K, rec._kmat)
        if self.K < 2:
            self.K = 1
        self.rings: list | None = None  # per group: (outputs and gradients, saturation masks, a "tail" group's inputs)

    def stash(self, slot: int, chunks: list, grads: dict) -> bool:
        """Copy the step's rows into ring slot `slot` (the stack today's path makes anyway); False where this
        step's tensors do not fit the rings (another device)."""
        dev, dt = chunks[0][1].device, self.dtype
        if self.rings is None:
            self.rings = []
            for (_, n, *_), (fam, poss, gp, sp, _) in zip(self.layout, self.groups):
                xr = torch.empty(self.K, len(sp), n, dtype=dt, device=dev) if fam == "tail" and sp else None
                work = torch.empty(self.K, len(poss), n, dtype=dt, device=dev) if fam in ("tanh", "relu") else None
                self.rings.append((torch.empty(self.K, len(poss) + len(gp), n, dtype=dt, device=dev), work, xr))
        if self.rings[0][0].device != dev:
            return False
        with torch.no_grad():
            for (fam, poss, gp, sp, _), (A, _, X) in zip(self.groups, self.rings):
                ts = [chunks[p][1] for p in poss] + [grads[chunks[p][0]] for p in gp]
                _stack_into(ts, A[slot], dt)
                if X is not None:
                    _stack_into([chunks[p][2] for p in sp], X[slot], dt)
        return True

    def run_block(self, c: int, R: torch.Tensor | None, U: torch.Tensor | None) -> torch.Tensor:
        """The raw sums of the c steps in ring slots 0..c-1, (c, length): `run`'s ops, each once for the c steps.
        R (K + 1, N): the weight matrices flat, slot i before step i and slot i + 1 after it; U (K, N) room for
        the updates. Shifts in place: the slots 0..c-1 are spent afterwards (slot c is the next step's before).
        On a CPU in float32, the compiled kernels do it in one pass per row (core/fastreduce.py)."""
        fast = self._run_block_fast(c, R)
        if fast is not None:
            return fast
        with torch.no_grad():
            dt = self.dtype
            dev = self.rings[0][0].device if self.rings else R.device
            raw = torch.empty(c, self.length, dtype=dt, device=dev)
            for (fam, poss, gp, sp, o), (A, W, X) in zip(self.groups, self.rings or []):
                T = A[:c]
                k, na = T.shape[1], len(poss)
                so = o + 2 * k
                if fam == "tanh":  # |y| > thr as a float mask: the saturation first, then the shift in place
                    torch.sum(torch.abs(T[:, :na], out=W[:c]).gt_(self.thr), 2, out=raw[:, so: so + na])
                elif fam == "relu":
                    torch.sum(torch.le(T[:, :na], 0, out=W[:c]), 2, out=raw[:, so: so + na])
                elif fam == "tail" and sp:
                    torch.sum(kinds.saturated(fam, X[:c], None, self.thr), 2, dtype=dt, out=raw[:, so: so + len(sp)])
                elif fam == "sigmoid":
                    torch.sum(kinds.saturated(fam, None, T[:, :na], self.thr), 2, dtype=dt, out=raw[:, so: so + na])
                T.sub_(T[:, :, :1].clone())
                torch.sum(T, 2, out=raw[:, o: o + k])
                torch.linalg.vector_norm(T, dim=2, out=raw[:, o + k: o + 2 * k])
            if self.mruns:
                if R.dtype != dt:
                    R, U = R[: c + 1].to(dt), torch.empty(c, R.shape[1], dtype=dt, device=R.device)
                torch.sub(R[1: c + 1], R[:c], out=U[:c])  # the c steps' updates, one op
                o, m = self.u_off, len(self.msizes)
                for a, b, cnt, size in self.mruns:  # per run of equal sizes: before (count), then update (count)
                    for q, Y in enumerate((R, U)):
                        V = Y[:c, a:b].view(c, cnt, size)
                        V.sub_(V[:, :, :1].clone())
                        torch.sum(V, 2, out=raw[:, o + q * cnt: o + (q + 1) * cnt])
                        torch.linalg.vector_norm(V, dim=2, out=raw[:, o + 2 * m + q * cnt: o + 2 * m + (q + 1) * cnt])
                    o += 2 * cnt
            return raw

    def _run_block_fast(self, c: int, R: torch.Tensor | None) -> torch.Tensor | None:
        dev = self.rings[0][0].device if self.rings else R.device if R is not None else None
        if self.dtype != torch.float32 or dev is None or dev.type != "cpu" or \
                (self.mruns and (R is None or R.dtype != torch.float32 or R.device.type != "cpu")):
            return None
        kern = fastreduce.kernel()
        if kern is None:
            return None
        group, matrices = kern[2], kern[3]
        raw = torch.empty(c, self.length, dtype=torch.float32)
        out = raw.numpy()
        thr, lo_thr, tail = np.float32(self.thr), np.float32(1 - self.thr), np.float32(kinds.TAIL_INPUT)
        for (fam, poss, gp, sp, o), (A, _, X) in zip(self.groups, self.rings or []):
            code = fastreduce.SAT_CODES.get(fam or "", fastreduce.SAT_NONE)
            if code == fastreduce.SAT_TAIL and not sp:
                code = fastreduce.SAT_NONE
            group(A.numpy(), c, len(poss), code, X.numpy() if X is not None else _EMPTY3, thr, lo_thr, tail, out, o)
        if self.mruns:
            matrices(R.numpy(), c, self.runs_np, out, self.u_off, len(self.msizes))
        return raw

    def run(self, chunks: list, grads: dict, upd) -> torch.Tensor:
        with torch.no_grad():
            return self._run(chunks, grads, upd)

    def _run(self, chunks: list, grads: dict, upd) -> torch.Tensor:
        dev = chunks[0][1].device if chunks else upd[0].device
        raw = torch.empty(self.length, dtype=self.dtype, device=dev)
        dt = self.dtype
        for fam, poss, gp, sp, o in self.groups:
            ts = [chunks[p][1] for p in poss] + [grads[chunks[p][0]] for p in gp]
            if any(t.dtype != dt or t.shape != ts[0].shape for t in ts):
                ts = [t.reshape(-1).to(dt) for t in ts]
            T = torch.stack(ts).view(len(ts), -1)
            D = T - T[:, :1]
            k = len(ts)
            torch.sum(D, 1, out=raw[o: o + k])
            torch.linalg.vector_norm(D, dim=1, out=raw[o + k: o + 2 * k])
            o += 2 * k
            if fam == "tanh":  # |y| > thr as a float mask in place: half the time of a bool compare here
                torch.sum(T[: len(poss)].abs().gt_(self.thr), 1, out=raw[o: o + len(poss)])
            elif fam == "tail" and sp:
                xin = torch.stack([_float(chunks[p][2]).reshape(-1) for p in sp])
                torch.sum(kinds.saturated(fam, xin, None, self.thr), 1, dtype=dt, out=raw[o: o + len(sp)])
            elif fam in ("sigmoid", "relu"):
                torch.sum(kinds.saturated(fam, None, T[: len(poss)], self.thr), 1, dtype=dt, out=raw[o: o + len(sp)])
        if self.mruns:
            o, m = self.u_off, len(self.msizes)
            X, views = upd
            if X.dtype != dt:
                views = [v.to(dt) for v in views]
            for (_, _, c, _), V in zip(self.mruns, views):  # per run of equal sizes: (before, update) x count
                D = V - V[:, :, :1]
                torch.sum(D, 2, out=raw[o: o + 2 * c].view(2, c))
                torch.linalg.vector_norm(D, dim=2, out=raw[o + 2 * m: o + 2 * m + 2 * c].view(2, c))
                o += 2 * c
        return raw

    def finish(self, raw: np.ndarray) -> np.ndarray:
        """(steps, length) raw sums -> (steps, 3 L + M) rows: saturation, std, grad std per layer, log10
        update:data per weight matrix (NaN where not measured)."""
        L, r = self.L, raw.shape[0]
        out = np.full((r, 3 * L + self.M), np.nan)

        def std(s1, s2, n):
            return np.sqrt(np.clip((s2 * s2 - s1 * s1 / n) / np.maximum(n - 1, 1), 0, None))

        for off, n, ids, gids, sids in self.layout:
            k = len(ids) + len(gids)
            sd = std(raw[:, off: off + k], raw[:, off + k: off + 2 * k], n)
            out[:, L + np.array(ids, dtype=np.int64)] = sd[:, : len(ids)]
            if gids:
                out[:, 2 * L + np.array(gids, dtype=np.int64)] = sd[:, len(ids):]
            if sids:
                out[:, np.array(sids, dtype=np.int64)] = raw[:, off + 2 * k: off + 2 * k + len(sids)] / n
        if self.mruns:
            m, o = len(self.msizes), self.u_off
            s1, s2 = raw[:, o: o + 2 * m], raw[:, o + 2 * m: o + 4 * m]
            # per run of equal sizes the raw order is [before (count), update (count)]
            bcols, ucols, q = [], [], 0
            for _, _, c, _ in self.mruns:
                bcols += range(q, q + c)
                ucols += range(q + c, q + 2 * c)
                q += 2 * c
            var_b = std(s1[:, bcols], s2[:, bcols], self.msizes) ** 2
            var_u = std(s1[:, ucols], s2[:, ucols], self.msizes) ** 2
            with np.errstate(divide="ignore", invalid="ignore"):
                out[:, 3 * L + self.ucols] = 0.5 * np.log10(var_u / var_b)
        return out


class _General:
    """The plan of a step that took the general path: its layers' row made on the device (saturation, std,
    grad std), then the matrices' raw sums as `upd` lays them out."""

    def __init__(self, upd: _ScalarPlan):
        self.upd = upd
        self.length = 3 * upd.L + upd.length

    def finish(self, raw: np.ndarray) -> np.ndarray:
        n = 3 * self.upd.L
        out = self.upd.finish(raw[:, n:])
        out[:, :n] = raw[:, :n]
        return out


class Recorder:
    """Hooks on a model (and optionally its optimizer) that record the statistics of the steps asked for.

    Use: `begin(mode)` before the step's forward ("full": a snapshot; "scalars": the per-step tier), then the
    user's forward / backward / optimizer.step(), then `end_full(step, loss, lr)` (the Snapshot) or
    `end_scalars()` (a device row of the per-step tier). `close()` removes every hook.

    Two paths, with the same numbers: the *fused* one keeps each layer's output and gradient until the step
    ends, then reduces all of them, and the parameters, stacked by size (see _Groups); the *eager* one
    reduces each output inside its hook. The first recorded step is fused on copies of the outputs (their
    gradients caught by tensor hooks) and finds the outputs that a later in-place op overwrites, e.g.
    ReLU(inplace=True): those take the eager path from then on (reducing every output in its hook, that step
    took 10-12 ms on the lecture's net, fused 6-8). Eager too: outputs over HIST_SAMPLE values (kept only as
    reductions). The per-step tier hooks the activations only, and its usual steps wait in rings (RING_BYTES)
    and run a _ScalarPlan once per K steps: raw sums on the device, the arithmetic on the host at flush time.
    Everything runs on the caller's thread (a reduction thread was measured slower: see the README).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *, bins: int = 50,
                 threshold: float = 0.97, ref_loss: float = float("nan")):
        self.model = unwrap(model)
        self.optimizer = optimizer
        self.bins, self.threshold, self.ref_loss = bins, threshold, ref_loss
        self.layers: list[LayerInfo] = []
        for name, mod in self.model.named_modules():
            if any(True for _ in mod.children()):
                continue
            kind = type(mod).__name__
            self.layers.append(LayerInfo(name or kind, kind, mod, kinds.family(kind)))
        seen: set[int] = set()
        self.params: list[tuple[str, nn.Parameter]] = []
        self.frozen: list[str] = []
        for name, p in self.model.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            (self.params if p.requires_grad else self.frozen).append((name, p))
        self.matrices = [j for j, (_, p) in enumerate(self.params) if p.dim() >= 2]
        numel = [p.numel() for _, p in self.params]
        # the flat parameter layout: matrices first (their gradient histograms are one slice), each group by size
        # (equal sizes side by side are summed as one view)
        vectors = [j for j in range(len(self.params)) if j not in set(self.matrices)]
        self._porder = sorted(self.matrices, key=lambda j: numel[j]) + sorted(vectors, key=lambda j: numel[j])
        self._morder = sorted(self.matrices, key=lambda j: numel[j])
        self._mats = [self.params[j][1] for j in self._morder]  # the weight matrices in that order
        self._handles: list = []
        self._hooked = ""  # which layers the forward hooks are on: "all", or "activations" (the per-step tier)
        self._opt_handles: list = []
        self._mode: str | None = None
        self._acc: _Accs | None = None
        self._chunks: list = []  # fused path: (layer, output, input for "tail") of this step
        self._gchunks: list = []  # fused path: (layer, gradient at the output)
        self._eager_now: dict[int, bool] = {}
        self._inplace: set[int] = set()  # layers whose output a later in-place op overwrites
        self._versions: list = []  # first recorded step: (layer, output, its version) to find those
        self._first_done = False
        self._pre: dict | None = None  # the parameters before optimizer.step(): flat copies (and gradients)
        self._ring = None  # the per-step tier's buffers for the weight matrices (_mat_ring)
        self._full_after = None  # a snapshot's flat copy of the parameters after optimizer.step(), their state
        # runs of equal sizes in the flat layout of all parameters (_porder; matrices and vectors apart)
        self._pruns: list[tuple[list[int], int, int, int, int]] = []
        mset = set(self.matrices)
        a = k = 0
        while k < len(self._porder):
            j0, c = self._porder[k], 1
            while k + c < len(self._porder) and numel[self._porder[k + c]] == numel[j0] \
                    and (self._porder[k + c] in mset) == (j0 in mset):
                c += 1
            self._pruns.append((self._porder[k: k + c], a, a + c * numel[j0], c, numel[j0]))
            a, k = a + c * numel[j0], k + c
        self._ring_cur, self._ring_state = 0, None  # which buffer is this step's; the matrices' versions after
        # runs of equal sizes in the flat layout of the matrices (_morder sorts by size): (start, end, count, size)
        self._mruns: list[tuple[int, int, int, int]] = []
        msizes = [numel[j] for j in self._morder]
        a = k = 0
        while k < len(msizes):
            c = 1
            while k + c < len(msizes) and msizes[k + c] == msizes[k]:
                c += 1
            self._mruns.append((a, a + c * msizes[k], c, msizes[k]))
            a, k = a + c * msizes[k], k + c
        self._plans: dict = {}  # the per-step tier's plans, by the step's layout
        self._rooms: dict = {}  # a snapshot's buffers, kept between steps (_room)
        self._fast_layouts: dict = {}  # the compiled path's layouts (_fast_layout), by the step's shapes
        self._snap_lay: SnapLayout | None = None
        self._warned: set[str] = set()
        # the per-step tier's deferred steps (RING_BYTES): the weight matrices' ring (ptrs, flat views, R of
        # K + 1 rows: slot i holds them before the i-th pending step, slot i + 1 after it), made once a plan
        # with updates defers; the activations' rings are the plan's
        mat_bytes = sum(numel[j] * self.params[j][1].element_size() for j in self._morder)
        self._kmat = min(RING_MAX, RING_BYTES // max(2 * mat_bytes, 1))
        self._dring = None
        self._defer_mats = False
        self._dc = 0  # steps pending in the rings
        self._dplan: _ScalarPlan | None = None  # their plan
        self._dvalid: int | None = None  # the ring slot holding the matrices as they are now (with _dstate)
        self._dstate = None
        self._ddone: list = []  # reduced blocks (plan, (steps, length) raw sums), in step order

    # --- hooks --------------------------------------------------------------------------------------------
    def begin(self, mode: str | None) -> None:
        """Record the coming step as `mode` ('full', 'scalars') or not at all (None): hooks only when needed."""
        self._mode = mode
        if mode != "scalars":
            self._ring_state = None  # a step between that was not the per-step tier's: copy `before` afresh
            self._dvalid = None
        if mode != "full":
            self._full_after = None
        if mode is None:
            self._remove(self._handles)
            self._remove(self._opt_handles)
            return
        self._acc = _Accs()
        self._chunks, self._gchunks, self._eager_now, self._versions = [], [], {}, []
        self._pre = None
        # the per-step tier looks at activations only (as the app's does); a snapshot at every leaf module
        hooked = "all" if mode == "full" or not self._first_done else "activations"
        if self._handles and self._hooked != hooked:
            self._remove(self._handles)
        if not self._handles:
            self._hooked = hooked
            for i, info in enumerate(self.layers):
                if hooked == "all" or info.family is not None:
                    self._handles.append(info.module.register_forward_hook(self._forward_hook(i)))
        if self.optimizer is not None and not self._opt_handles:
            self._opt_handles = [self.optimizer.register_step_pre_hook(self._opt_pre),
                                 self.optimizer.register_step_post_hook(self._opt_post)]

    @staticmethod
    def _remove(handles: list) -> None:
        for h in handles:
            h.remove()
        handles.clear()

    def close(self) -> None:
        self._remove(self._handles)
        self._remove(self._opt_handles)
        self._clear()
        self._dring, self._dplan, self._plans, self._ddone, self._dc = None, None, {}, [], 0
        self._rooms = {}
        self._fast_layouts = {}

    def _clear(self) -> None:
        self._acc, self._pre, self._chunks, self._gchunks = None, None, [], []

    def _forward_hook(self, i: int):
        def hook(_mod, inputs, output):
            if self._mode is None:
                return
            y = output if type(output) is torch.Tensor else first_tensor(output)
            if y is None or not y.is_floating_point() or y.numel() == 0:
                return
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            eager = self._eager_now.get(i)
            if eager is None:
                eager = self._eager_now[i] = i in self._inplace or y.numel() > HIST_SAMPLE
            first = not self._first_done
            if first:  # the first recorded step finds the outputs that a later in-place op overwrites
                self._versions.append((i, y, y._version))
            if eager:
                self._record_forward(i, x, y)
            else:
                info = self.layers[i]
                if not info.width:
                    info.width = int(y.shape[unit_dim(y)]) if y.dim() else 1
                if self._mode == "full":  # counted for _check_backward (snapshots only)
                    self._acc[i].calls += 1
                x_tail = x.detach() if info.family == "tail" and x is not None and x.shape == y.shape else None
                if first:
                    # not known yet which outputs an in-place op overwrites later in the step: reduce copies,
                    # and catch the gradient with a tensor hook, which (unlike retain_grad) stays with this
                    # value of the output when an in-place op replaces it (a Python call per layer, one step)
                    x_tail = x_tail.clone() if x_tail is not None else None
                    if y.requires_grad and torch.is_grad_enabled():
                        y.register_hook(self._first_grad_hook(i))
                    self._chunks.append((i, y.detach().clone(), x_tail))
                    return
                if y.requires_grad and torch.is_grad_enabled():
                    # retain_grad is a C++ hook: no Python call in backward (a tensor hook costs ~10 us a layer);
                    # the gradient is read, and let go, when the step ends (_take_grads)
                    y.retain_grad()
                    self._chunks.append((i, y, x_tail))
                else:
                    self._chunks.append((i, y.detach(), x_tail))
                return
            if y.requires_grad and torch.is_grad_enabled():
                y.register_hook(self._grad_hook(i))
        return hook

    def _first_grad_hook(self, i: int):
        def hook(g):
            if self._mode is not None and self._acc is not None:
                self._gchunks.append((i, g.detach()))
                if self._mode == "full":
                    self._acc[i].grads += 1
        return hook

    def _take_grads(self, full: bool = False) -> None:
        """The fused layers' output gradients (kept by retain_grad), read once the step's backward is done; the
        outputs' .grad is cleared again (the user's tensors look as unwatched)."""
        if self._gchunks or not self._chunks:
            return
        for i, y, _ in self._chunks:
            if y.requires_grad:
                g = y.grad
                if g is not None:
                    y.grad = None
                    self._gchunks.append((i, g))
                    if full:
                        self._acc[i].grads += 1

    @torch.no_grad()
    def _record_forward(self, i: int, x: torch.Tensor | None, y: torch.Tensor) -> None:
        info, acc = self.layers[i], self._acc[i]
        y = y.detach()
        acc.calls += 1
        n, mean, m2 = _moments(y)
        acc.n, acc.mean, acc.m2 = _combine(acc.n, acc.mean, acc.m2, n, mean, m2)
        ud = unit_dim(y)
        if not info.width:
            info.width = int(y.shape[ud]) if y.dim() else 1
        fam = info.family
        x_ok = x is not None and x.shape == y.shape  # "tail" saturation reads the activation's input
        mask = kinds.saturated(fam, x.detach() if x_ok else None, y, self.threshold) \
            if fam is not None and (fam != "tail" or x_ok) else None
        if mask is not None:
            cnt = mask.sum(dtype=torch.float64)
            acc.sat = cnt if acc.sat is None else acc.sat + cnt
            if self._mode == "full" and y.dim() >= 1:  # dead: saturated for every example (and position)
                _and_dead(acc, mask.movedim(ud, -1).reshape(-1, y.shape[ud]).all(0))
        if self._mode == "full" and acc.counts is None:
            if fam == "tanh":
                lo, hi = y.new_tensor(-1.0, dtype=torch.float32), y.new_tensor(1.0, dtype=torch.float32)
            elif fam == "sigmoid":
                lo, hi = y.new_tensor(0.0, dtype=torch.float32), y.new_tensor(1.0, dtype=torch.float32)
            else:
                fin = y.float().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
                lo, hi = fin.amin(), fin.amax()
            acc.lo, acc.hi = lo, torch.maximum(hi, lo + 1e-6)
            acc.counts = _hist(y, acc.lo, acc.hi, self.bins)
        elif self._mode == "full":
            acc.counts = acc.counts + _hist(y, acc.lo, acc.hi, self.bins)

    def _grad_hook(self, i: int):
        def hook(g):
            if self._mode is None or self._acc is None:
                return
            self._record_grad(i, g)
        return hook

    @torch.no_grad()
    def _record_grad(self, i: int, g: torch.Tensor) -> None:
        acc = self._acc[i]
        acc.grads += 1
        n, mean, m2 = _moments(g)
        acc.g_n, acc.g_mean, acc.g_m2 = _combine(acc.g_n, acc.g_mean, acc.g_m2, n, mean, m2)
        if self._mode == "full":
            if acc.g_counts is None:
                acc.g_lim = g.detach().float().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs().amax().clamp_min(1e-12)
                acc.g_counts = _hist(g.detach(), -acc.g_lim, acc.g_lim, self.bins)
            else:
                acc.g_counts = acc.g_counts + _hist(g.detach(), -acc.g_lim, acc.g_lim, self.bins)

    # --- parameters: copied flat around optimizer.step() ----------------------------------------------------
    def _param_order(self) -> list[int]:
        return self._porder if self._mode == "full" else self._morder

    def _mat_ring(self):
        """The per-step tier's copies of the weight matrices: flat views of them (in _morder) and two (2, N)
        buffers, each [data before the step, update]; this step's `after` is written into the other buffer,
        where it is the next step's `before` (no copy on consecutive steps). Kept while the storages stay; None
        where the matrices do not fit one buffer (dtypes or devices differ, a matrix not contiguous)."""
        mats = self._mats
        ptrs = tuple([p.data_ptr() for p in mats])
        ring = self._ring
        if ring is None or ring[0] != ptrs:
            if not _one_buffer(mats):
                self._ring = (ptrs, None, None)
                return None
            views = [p.detach().view(-1) for p in mats]
            n = sum(v.numel() for v in views)
            bufs = [torch.empty(2, n, dtype=mats[0].dtype, device=mats[0].device) for _ in range(2)]
            self._ring = ring = (ptrs, views, [(B, [B[:, a:b].view(2, c, size) for a, b, c, size in self._mruns])
                                               for B in bufs])
            self._ring_cur, self._ring_state = 0, None
        return ring if ring[1] is not None else None

    def _defer_ring(self):
        """The deferred weight-matrix ring (ptrs, flat views, R (K + 1, N)), remade (after reducing what is
        pending) when a storage changed; None where the matrices do not fit one buffer."""
        mats = self._mats
        ptrs = tuple([p.data_ptr() for p in mats])
        D = self._dring
        if D is None or D[0] != ptrs:
            if self._dc:
                self.reduce_pending()
            self._dvalid = None
            if not _one_buffer(mats):
                self._dring = D = (ptrs, None, None, None)
            else:
                views = [p.detach().view(-1) for p in mats]
                n = sum(v.numel() for v in views)
                R = torch.empty(self._kmat + 1, n, dtype=mats[0].dtype, device=mats[0].device)
                U = torch.empty(self._kmat, n, dtype=mats[0].dtype, device=mats[0].device)  # the updates' room
                self._dring = D = (ptrs, views, R, U)
        return D if D[1] is not None else None

    def reduce_pending(self) -> None:
        """Reduce the steps pending in the rings (one block, in step order, to `take_pending`); the matrices'
        slots after them move to the front, so the next step goes on from slot 0."""
        c, plan = self._dc, self._dplan
        if not c:
            return
        R, U = self._dring[2:] if self._dring is not None else (None, None)
        self._ddone.append((plan, plan.run_block(c, R, U) if plan.mruns else plan.run_block(c, None, None)))
        self._dc, self._dplan = 0, None
        if self._dvalid is not None and self._dvalid >= c and R is not None:
            with torch.no_grad():
                for i in range(self._dvalid - c + 1):  # in order: slot c + i never overwritten before it is read
                    R[i].copy_(R[c + i])
            self._dvalid -= c
        else:
            self._dvalid = None
        pre = self._pre
        if pre is not None and pre.get("dslot") is not None:  # a step between its optimizer hooks and its end
            slot = pre["dslot"] - c
            if slot >= 0 and R is not None:
                pre["dslot"], pre["flat"] = slot, R[slot]
                if pre["flat_diff"] is not None:
                    pre["flat_diff"] = R[slot + 1]

    def take_pending(self) -> list:
        """The per-step tier's reduced blocks, pending steps reduced first: [(plan, (steps, length) raw sums)]."""
        self.reduce_pending()
        out, self._ddone = self._ddone, []
        return out

    def _param_state(self) -> tuple:
        """What tells whether a weight matrix changed since it was copied: its version counter (bumped by every
        in-place write, optimizer.step() included)."""
        return tuple([p._version for p in self._mats])

    def _opt_pre(self, _opt, _args, _kwargs) -> None:
        # (no torch.no_grad needed: every tensor read here is detached)
        if self._mode is None:
            return
        if self._mode == "scalars" and self._defer_mats:
            D = self._defer_ring()
            if D is not None:
                c = self._dc
                if self._dvalid != c or self._dstate != self._param_state():
                    # something wrote to the matrices since the last step (or the steps were not consecutive):
                    # reduce what is pending, then start afresh with a copy
                    if c:
                        self.reduce_pending()
                    c = 0
                    torch.cat(D[1], out=D[2][0])
                    self._dvalid, self._dstate = 0, self._param_state()
                self._pre = {"dslot": c, "flat": D[2][c], "flat_diff": None, "before": None, "grads": None,
                             "diff": None}
                return
        ring = self._mat_ring() if self._mode == "scalars" else None
        if ring is None:
            self._pre = self._read_params()
            return
        S = ring[2][self._ring_cur]
        if self._ring_state is None or self._ring_state != self._param_state():
            torch.cat(ring[1], out=S[0][0])
        # else: the matrices are as the last recorded step's optimizer.step() left them (nothing wrote to them
        # since: their version counters say so), and that step wrote them here as its `after`
        self._ring_state = None
        self._pre = {"ring": S, "flat": S[0][0], "flat_diff": None, "before": None, "grads": None, "diff": None}

    def _opt_post(self, _opt, _args, _kwargs) -> None:
        pre = self._pre
        if self._mode is None or pre is None:
            return
        slot = pre.get("dslot")
        if slot is not None:  # deferred: the copy after goes to the next slot (the update is taken later)
            R = self._dring[2]
            torch.cat(self._dring[1], out=R[slot + 1])
            pre["flat_diff"] = R[slot + 1]
            self._dvalid, self._dstate = slot + 1, self._param_state()
            return
        S = pre.get("ring")
        if S is not None:  # the per-step tier: the copy after goes to the other buffer; the update beside `before`
            ring = self._ring
            self._ring_cur ^= 1
            after = ring[2][self._ring_cur][0][0]
            torch.cat(ring[1], out=after)
            torch.sub(after, S[0][0], out=S[0][1])
            pre["flat_diff"] = S[0][1]
            self._ring_state = self._param_state()
            return
        with torch.no_grad():
            if pre.get("flat") is not None:  # the per-step tier, matrices of mixed dtypes: plain copies
                pre["flat_diff"] = _flat([self.params[j][1].detach() for j in self._morder], pre["flat"].device) - pre["flat"]
                return
            if not pre["before"]:
                return
            if pre.get("flat_before") is not None:  # a snapshot's flat copy: after, minus before, in one op each
                A = torch.cat([self.params[j][1].detach().reshape(-1) for j in self._porder])
                U = A - pre["flat_before"]
                pre["diff"] = [(js, U[a:b].view(c, size)) for js, a, b, c, size in self._pruns]
                pre["flat_update"] = U
                self._full_after = (A, self._full_state())
                return
            pre["diff"] = [(js, torch.stack([_float(self.params[j][1].detach()).reshape(-1) for j in js]) - B)
                           for js, B in pre["before"]]

    def _read_params(self) -> dict:
        """Copies of the parameters as they are now, stacked by size (a snapshot: all of them, and their
        gradients; the per-step tier: the weight matrices, as one flat copy); the update is measured against
        them after the step."""
        if self._mode == "scalars":
            mats = [self.params[j][1].detach() for j in self._morder]
            return {"flat": _flat(mats, mats[0].device) if mats else None, "flat_diff": None,
                    "before": None, "grads": None, "diff": None}
        if self._mode == "full" and self._flat_ok():
            # a snapshot: every parameter in one flat copy (_porder), its runs of equal sizes as (count, size)
            # views; the copy after the last snapshot step serves as this one's `before` while the version
            # counters say nothing wrote to the parameters since (a snapshot every step)
            ps = [self.params[j][1] for j in self._porder]
            fa, state = self._full_after, self._full_state()
            B = fa[0] if fa is not None and fa[1] == state else torch.cat([p.detach().reshape(-1) for p in ps])
            before = [(js, B[a:b].view(c, size)) for js, a, b, c, size in self._pruns]
            gs = [p.grad for p in ps]
            G = None
            if all(g is not None and g.dtype == B.dtype and g.device == B.device for g in gs):
                G = torch.cat([g.detach().reshape(-1) for g in gs])
                grads = [(js, G[a:b].view(c, size)) for js, a, b, c, size in self._pruns]
            else:
                grads = self._stack_grads(before)
            return {"before": before, "grads": grads, "diff": None, "flat_before": B, "flat_grads": G}
        order = self._param_order()
        by: dict[int, list[int]] = {}
        for j in order:
            by.setdefault(self.params[j][1].numel(), []).append(j)
        before = [(js, torch.stack([_float(self.params[j][1].detach()).reshape(-1) for j in js])) for js in by.values()]
        grads = self._stack_grads(before) if self._mode == "full" else None
        return {"before": before, "grads": grads, "diff": None}

    def _stack_grads(self, before: list) -> list:
        """The parameters' gradients in the layout of `before` (NaN rows for a parameter without one)."""
        grads = []
        for js, B in before:
            gs = [self.params[j][1].grad for j in js]
            if all(g is None for g in gs):
                continue
            grads.append((js, torch.stack([_float(g).reshape(-1) if g is not None else torch.full_like(B[0], float("nan"))
                                           for g in gs])))
        return grads

    def _flat_ok(self) -> bool:
        """Whether every trainable parameter fits one flat float buffer (one dtype, one device)."""
        ok = self.__dict__.get("_flat_ok_v")
        if ok is None:
            kinds_ = {(p.dtype, p.device) for _, p in self.params}
            ok = self._flat_ok_v = len(kinds_) == 1 and next(iter(kinds_))[0] in (torch.float32, torch.float64)
        return ok

    def _full_state(self) -> tuple:
        return tuple((p._version, p.data_ptr()) for p in (self.params[j][1] for j in self._porder))

    # --- the fused path: the whole step at once -----------------------------------------------------------
    @torch.no_grad()
    def _reduce(self, full: bool) -> dict:
        """Every number of the step that the fused path and the parameters give, as device tensors: per layer
        (fused ones) mean, std, saturation, dead, histogram range, grad mean, std, limit and the two histograms;
        per parameter data std, grad mean, grad std, update std, and the matrices' gradient histograms.
        Segments: L layers' outputs, L layers' gradients, then per parameter its gradient, data, update."""
        L, P, nb = len(self.layers), len(self.params), self.bins
        G = _Groups(2 * L + 3 * P, self._index, self._room)
        by: dict = {}
        for i, y, x in self._chunks:
            fam = self.layers[i].family
            by.setdefault(("act" if fam else "out", fam, y.numel()), []).append((i, y, x))
        for i, g in self._gchunks:
            by.setdefault(("grad", None, g.numel()), []).append((L + i, g, None))
        for (role, fam, _), rows in by.items():
            G.add(role, [r[0] for r in rows], [_float(r[1]).reshape(-1) for r in rows], fam, [r[2] for r in rows])
        pre = self._pre if self._pre is not None and self._pre.get("flat") is None else \
            {"before": None, "grads": None, "diff": None}
        mats = set(self.matrices)
        for key, off in (("grads", 2 * L), ("before", 2 * L + P), ("diff", 2 * L + 2 * P)):
            for js, T in pre[key] or []:
                role = {"grads": "pgrad_m" if js[0] in mats else "pgrad_v", "before": "before", "diff": "diff"}[key]
                G.add(role, [off + j for j in js], T)
        if not G._rows:
            return {}
        G.build()
        n, mean, std = G.moments()
        dev = mean.device
        nan = float("nan")
        # saturation: the activation rows lead each group, family by family
        sat_n = torch.zeros(G.n_seg, dtype=torch.float64, device=dev)
        act_masks = []  # (group, first row, rows, mask)
        for g in G.groups:
            row = 0
            for role, fam, k, extra in g["roles"]:
                if role == "act":
                    block = g["T"][row: row + k]
                    if fam == "tail":
                        xin = torch.stack([_float(x).reshape(-1) if x is not None else torch.full_like(block[0], nan)
                                           for x in extra])
                        m = kinds.saturated(fam, xin, None, self.threshold)
                    else:
                        m = kinds.saturated(fam, None, block, self.threshold)
                    segs = self._index(g["segs"][row: row + k], dev)
                    sat_n.index_add_(0, segs, m.sum(1, dtype=torch.float64))
                    act_masks.append((g, row, k, m))
                row += k
        is_act = self._is_act(dev)
        sat = (sat_n[:L] / n[:L].clamp_min(1)).masked_fill(~is_act | (n[:L] == 0), nan)
        fused = sorted({i for i, _, _ in self._chunks})
        out = {"mean": mean[:L], "std": std[:L], "sat": sat, "g_mean": mean[L:2 * L], "g_std": std[L:2 * L],
               "fused": fused, "P": P if pre["before"] else 0,
               "p_gmean": mean[2 * L: 2 * L + P], "p_gstd": std[2 * L: 2 * L + P],
               "p_dstd": std[2 * L + P: 2 * L + 2 * P], "p_ustd": std[2 * L + 2 * P:]}
        if not full:
            return out
        # --- a snapshot: dead units, histogram ranges and histograms ---------------------------------------
        dead = torch.zeros(L, dtype=torch.float64, device=dev)
        shapes: dict[int, list] = {}
        for i, y, _ in self._chunks:
            shapes.setdefault(i, []).append(y.shape)
        per: dict[int, torch.Tensor] = {}
        for g, row, k, m in act_masks:
            sg = g["segs"][row: row + k]
            shape = shapes[sg[0]][0]
            if all(len(shapes[i]) == 1 and shapes[i][0] == shape for i in sg) and len(set(sg)) == len(sg):
                # the rows are layers of one shape, each called once: all of them in one chain of ops
                ud = 1 if len(shape) in (4, 5) else len(shape) - 1
                d = m.reshape(k, *shape).movedim(ud + 1, -1).reshape(k, -1, shape[ud]).all(1)
                dead.index_copy_(0, self._index(sg, dev), d.sum(1, dtype=torch.float64))
                continue
            for r, i in enumerate(sg):  # a layer called more than once: dead in every call
                y_shape = next(sh for sh in shapes[i] if sh.numel() == m.shape[1])
                ud = 1 if len(y_shape) in (4, 5) else len(y_shape) - 1
                mk = m[r].view(y_shape)
                d = mk.movedim(ud, -1).reshape(-1, y_shape[ud]).all(0) if len(y_shape) >= 1 else mk.view(1)
                prev = per.get(i)
                per[i] = d if prev is None else (prev & d if prev.shape == d.shape else prev)
        for i, d in per.items():
            dead[i] = d.sum()
        out["dead"] = dead
        # histograms: outputs, their gradients and the weight matrices' gradients lead each group. On a CPU a sync
        # costs nothing: when every segment's moments are finite there is no NaN or inf to step around, and four
        # passes over every value are saved (on a GPU the safe path stays: no sync)
        clean = dev.type == "cpu" and bool(torch.isfinite(mean).all()) and bool(torch.isfinite(std).all())
        big = torch.finfo(torch.float32).max
        prefixes = []
        for g in G.groups:
            h = sum(k for role, _, k, _ in g["roles"] if role in ("act", "out", "grad", "pgrad_m"))
            if h:
                block = g["T"][:h] if clean else g["T"][:h].nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
                prefixes.append((g, h, self._index(g["segs"][:h], dev),
                                 torch.stack([block.amin(1), block.amax(1)], 1)))  # amin/amax: aminmax is slower
        if prefixes:
            segs_h = torch.cat([p[2] for p in prefixes])
            e = torch.cat([p[3] for p in prefixes]).float()
            lo_seg = torch.full((G.n_seg,), big, device=dev).scatter_reduce_(0, segs_h, e[:, 0], "amin")
            hi_seg = torch.full((G.n_seg,), -big, device=dev).scatter_reduce_(0, segs_h, e[:, 1], "amax")
            lim = torch.maximum(lo_seg.abs(), hi_seg.abs()).clamp_min(1e-12)  # gradients: +- max |g|
            fam_lo = self._index([-1.0 if f.family == "tanh" else 0.0 for f in self.layers], dev, torch.float32)
            fixed = self._index([f.family in ("tanh", "sigmoid") for f in self.layers], dev, torch.bool)
            o_lo = torch.where(fixed, fam_lo, lo_seg[:L])
            o_hi = torch.maximum(torch.where(fixed, torch.ones_like(o_lo), hi_seg[:L]), o_lo + 1e-6)
            seg_lo = torch.cat([o_lo, -lim[L:]])
            seg_w = torch.cat([o_hi - o_lo, 2 * lim[L:]])
            # every histogrammed row's range and bin offset gathered at once, one bincount for all of them
            lo_r = seg_lo[segs_h].view(-1, 1)
            w_r = seg_w[segs_h].view(-1, 1)
            it = torch.int32 if G.n_seg * nb < 2**31 - 1 else torch.int64
            off_r = (segs_h * nb).to(it).view(-1, 1)
            # every row's bin indices written into one buffer (the float -> int32 copy truncates: the floor of a
            # clamped, non-negative position), then one bincount. int32, not int64: the copy, the offset and the
            # count each move half the bytes (_reduce alone, the two alternated: 1.32-1.38 ms against 1.48-1.56 on
            # the lecture's net, 9.4-9.9 against 11.8-14.5 on the char transformer)
            idx_all = self._room("idx", sum(h * g["size"] for g, h, _, _ in prefixes), it, dev)
            r0 = e0 = 0
            for g, h, _, _ in prefixes:
                # (x - lo) / width * bins, as _hist: exact at the middle edge of a symmetric range
                Th = g["T"][:h]
                pos = self._room(("pos", g["size"]), h * g["size"], torch.result_type(Th, lo_r), dev).view(h, g["size"])
                torch.sub(Th, lo_r[r0: r0 + h], out=pos).div_(w_r[r0: r0 + h]).mul_(nb)
                idx = idx_all[e0: e0 + h * g["size"]].view(h, g["size"])
                if clean:
                    idx.copy_(pos.clamp_(0, nb - 1)).add_(off_r[r0: r0 + h])
                else:
                    isnan = pos.isnan()
                    idx.copy_(pos.nan_to_num_(nan=0.0).clamp_(0, nb - 1)).add_(off_r[r0: r0 + h])
                    idx.masked_fill_(isnan, G.n_seg * nb)
                r0, e0 = r0 + h, e0 + h * g["size"]
            hist = torch.bincount(idx_all, minlength=G.n_seg * nb + 1)
            hist = hist[: G.n_seg * nb].view(G.n_seg, nb).float()
            out.update({"lo": o_lo, "hi": o_hi, "g_lim": lim[L:2 * L], "hist": hist[:L], "g_hist": hist[L:2 * L],
                        "p_hist": hist[2 * L: 2 * L + P], "p_lim": lim[2 * L: 2 * L + P]})
        else:
            z = torch.zeros(L, nb, device=dev)
            out.update({"lo": torch.full((L,), nan, device=dev), "hi": torch.full((L,), nan, device=dev),
                        "g_lim": torch.full((L,), nan, device=dev), "hist": z, "g_hist": z})
        return out

    @torch.no_grad()
    def _reduce_fast(self) -> tuple | None:
        """`_reduce(full=True)`'s numbers from the compiled kernels (core/fastreduce.py), as `_host_rows` makes
        them of `_reduce`'s (layer rows, layer histograms, parameter rows, matrices' histograms): the step's
        outputs and gradients copied into one flat buffer (one op), the parameters' flat copies read where they
        are, then two calls. None where the kernels are not there (yet) or the step's tensors are not float32 on
        a CPU: the torch path serves."""
        pre = self._pre if self._pre is not None and self._pre.get("flat") is None else None
        f32 = torch.float32
        blocks = []  # (segment offset, parameter indices, (count, size) tensor, histogrammed)
        flat = ()  # the parameters' flat copies (gradients, data before, update), read in place
        if pre is not None and pre["before"]:
            L, P = len(self.layers), len(self.params)
            fl = (pre.get("flat_grads"), pre.get("flat_before"), pre.get("flat_update"))
            if all(t is not None and t.dtype is f32 and t.is_cpu for t in fl):
                flat = fl
            else:
                mats = set(self.matrices)
                for key, off in (("grads", 2 * L), ("before", 2 * L + P), ("diff", 2 * L + 2 * P)):
                    for js, T in pre[key] or []:
                        blocks.append((off, js, T, key == "grads" and js[0] in mats))
        tails = [x for i, _, x in self._chunks if self.layers[i].family == "tail" and x is not None]
        srcs = [y for _, y, _ in self._chunks] + [g for _, g in self._gchunks] + [b[2] for b in blocks] + tails
        if not srcs or not all([t.dtype is f32 and t.is_cpu for t in srcs]):
            return None
        kern = fastreduce.kernel()  # (asked only for a CPU model: its first call starts the compile)
        if kern is None:
            return None
        kern, finish = kern[:2]
        key = (tuple([(i, y.shape, x is not None) for i, y, x in self._chunks]),
               tuple([(i, g.numel()) for i, g in self._gchunks]),
               tuple([(o, tuple(js), tuple(T.shape), h) for o, js, T, h in blocks]), bool(flat))
        lay = self._fast_layouts.get(key)
        if lay is None:
            if len(self._fast_layouts) > 16:
                self._fast_layouts.clear()
            lay = self._fast_layouts[key] = self._fast_layout(blocks, bool(flat))
        X = self._room("X", lay["total"], torch.float32, srcs[0].device)
        torch.cat([t.reshape(-1) for t in srcs], out=X)
        G, B, U = (t.numpy() for t in flat) if flat else (_EMPTY,) * 3
        res = kern(X.numpy(), G, B, U, *lay["args"], lay["n_seg"], self.bins, np.float32(self.threshold),
                   np.float32(1 - self.threshold), np.float32(kinds.TAIL_INPUT))
        return self._fast_out(lay, finish, res, pre)

    def _fast_layout(self, blocks: list, flat: bool) -> dict:
        """The kernel's description of one layout of a step (made once, reused while the layout repeats): per
        row its offset, length, segment, saturation rule and the source it reads it from, its units; per
        segment how its histogram's range is found."""
        L, P = len(self.layers), len(self.params)
        n_seg = 2 * L + 3 * P
        off, ln, seg, sat, sat_src, unit_w, unit_in = [], [], [], [], [], [], []
        src = []  # 0: the step's buffer X; 1, 2, 3: the parameters' flat gradients, data before, update
        pos = 0
        tail_rows = []
        for i, y, x in self._chunks:
            shape = y.shape
            ud = 1 if len(shape) in (4, 5) else len(shape) - 1
            w = int(shape[ud]) if len(shape) else 1
            inner = int(np.prod(shape[ud + 1:], dtype=np.int64)) if len(shape) else 1
            fam = self.layers[i].family
            code = fastreduce.SAT_CODES.get(fam or "", fastreduce.SAT_NONE)
            if code == fastreduce.SAT_TAIL:
                if x is None:
                    code = fastreduce.SAT_NONE  # no input of the output's shape: nothing saturated (as the torch path)
                else:
                    tail_rows.append(len(off))
            off.append(pos), ln.append(y.numel()), seg.append(i), sat.append(code), sat_src.append(pos)
            unit_w.append(w if code else 1), unit_in.append(inner if code else 1)
            pos += y.numel()
        for i, g in self._gchunks:
            off.append(pos), ln.append(g.numel()), seg.append(L + i), sat.append(0), sat_src.append(pos)
            unit_w.append(1), unit_in.append(1)
            pos += g.numel()
        mode = np.zeros(n_seg, np.int64)
        fix_lo = np.zeros(n_seg, np.float32)
        fix_hi = np.ones(n_seg, np.float32)
        for i, info in enumerate(self.layers):
            mode[i] = fastreduce.FIXED if info.family in ("tanh", "sigmoid") else fastreduce.MINMAX
            fix_lo[i] = -1.0 if info.family == "tanh" else 0.0
        mode[L: 2 * L] = fastreduce.SYMMETRIC
        for o, js, T, h in blocks:
            c, size = T.shape
            for r, j in enumerate(js):
                off.append(pos + r * size), ln.append(size), seg.append(o + j), sat.append(0)
                sat_src.append(pos + r * size), unit_w.append(1), unit_in.append(1)
                if h:
                    mode[o + j] = fastreduce.SYMMETRIC
            pos += c * size
        src += [0] * len(off)  # the rows so far read X
        if flat:  # the parameters' rows in their flat copies, in _porder's runs of equal sizes
            mats = set(self.matrices)
            for q, o in ((1, 2 * L), (2, 2 * L + P), (3, 2 * L + 2 * P)):
                for js, a, b, c, size in self._pruns:
                    for r, j in enumerate(js):
                        off.append(a + r * size), ln.append(size), seg.append(o + j), sat.append(0), src.append(q)
                        sat_src.append(0), unit_w.append(1), unit_in.append(1)
                        if q == 1 and j in mats:
                            mode[o + j] = fastreduce.SYMMETRIC
        for r in tail_rows:  # the tail family's inputs, after everything else
            sat_src[r] = pos
            pos += ln[r]
        dead_off = np.zeros(len(off) + 1, np.int64)
        dead_off[1:] = np.cumsum([w if c else 0 for w, c in zip(unit_w, sat)])
        args = (np.array(off, np.int64), np.array(ln, np.int64), np.array(seg, np.int64), np.array(src, np.int64),
                np.array(sat, np.int64),
                np.array(sat_src, np.int64), np.array(unit_w, np.int64), np.array(unit_in, np.int64), dead_off,
                mode, fix_lo, fix_hi)
        # per layer: its activation rows (CSR: act_ptr, act_idx), each row's units, for dead units
        act_rows: dict[int, list[int]] = {}
        act_w = np.ones(len(off), np.int64)
        for r, (i, y, _) in enumerate(self._chunks):
            if self.layers[i].family is not None:
                act_rows.setdefault(i, []).append(r)
                ud = 1 if y.dim() in (4, 5) else y.dim() - 1
                act_w[r] = int(y.shape[ud]) if y.dim() else 1
        act_ptr = np.zeros(L + 1, np.int64)
        act_ptr[1:] = np.cumsum([len(act_rows.get(i, [])) for i in range(L)])
        act_idx = np.array([r for i in range(L) for r in act_rows.get(i, [])], np.int64)
        fused = np.zeros(L, np.bool_)
        fused[[i for i, _, _ in self._chunks]] = True
        return {"total": pos, "args": args, "n_seg": n_seg, "seg": args[2], "sat": args[4], "dead_off": dead_off,
                "act_ptr": act_ptr, "act_idx": act_idx, "act_w": act_w, "fused": fused,
                "is_act": np.array([info.family is not None for info in self.layers], np.bool_),
                "mats": np.array(self.matrices, np.int64)}

    def _fast_out(self, lay, finish, res, pre):
        """The kernel's results (`finish`: in compiled code) as what `_layer_rows` and `_param_rows` make of
        `_reduce`'s, on the host: layer rows (L, 9), layer histograms (L, 2, bins), parameter rows (P, 4),
        matrices' gradient histograms (M, bins + 1) or None."""
        L, P = len(self.layers), len(self.params)
        n, mean, m2, lo, hi, lim, hist, row_sat, dead_units = res
        with_params = pre is not None and bool(pre["before"])
        lrows, lh, prows, ph = finish(L, P, n, mean, m2, lo, hi, lim, hist, row_sat, dead_units, lay["seg"],
                                      lay["dead_off"], lay["sat"], lay["act_ptr"], lay["act_idx"], lay["act_w"],
                                      lay["fused"], lay["is_act"], with_params, lay["mats"])
        for i, acc in self._acc.items():  # the layers recorded eagerly (an in-place op downstream, a huge output)
            if acc.mean is not None:
                row, counts, g_counts = _acc_row(acc)
                lrows[i] = row
                lh[i, 0] = counts if counts is not None else 0
                lh[i, 1] = g_counts if g_counts is not None else 0
        return lrows, lh, prows, (ph if with_params and self.matrices else None)

    def _layer_rows(self, red: dict, full: bool):
        """(L, 9) float64 rows [mean, std, saturation, dead, lo, hi, grad mean, grad std, grad lim] of every
        layer (NaN for a layer not called this step), and with `full` (L, 2, bins) histograms (outputs,
        gradients); device tensors."""
        dev = self._device()
        L, bins = len(self.layers), self.bins
        nan = float("nan")
        if red and red["fused"]:
            full_nan = torch.full((L,), nan, dtype=torch.float64, device=dev)
            cols = [red["mean"], red["std"], red["sat"], red.get("dead", torch.zeros_like(full_nan)),
                    red["lo"].double() if full else full_nan, red["hi"].double() if full else full_nan,
                    red["g_mean"], red["g_std"], red["g_lim"].double() if full else full_nan]
            rows = torch.stack(cols, 1)
            fused = torch.zeros(L, dtype=torch.bool, device=dev)
            fused[red["fused"]] = True
            rows = torch.where(fused.view(-1, 1), rows, nan)
            g_none = ~torch.isfinite(red["g_std"])  # a layer no gradient reached: NaN, not the empty segment's 0
            rows[:, 8] = torch.where(g_none, nan, rows[:, 8])
            hists = torch.stack([red["hist"], red["g_hist"]], 1) if full else None
        else:
            rows = torch.full((L, 9), nan, dtype=torch.float64, device=dev)
            hists = torch.zeros(L, 2, bins, device=dev) if full else None
        nan_t = torch.tensor(nan, dtype=torch.float64, device=dev)
        for i, acc in self._acc.items():
            if acc.mean is None:
                continue  # fused, or not called
            rows[i] = torch.stack([v.to(dev) for v in _acc_values(acc, nan_t)])
            if full:
                hists[i, 0] = acc.counts.to(dev) if acc.counts is not None else 0
                hists[i, 1] = acc.g_counts.to(dev) if acc.g_counts is not None else 0
        return rows, hists

    def _param_rows(self, red: dict):
        """(P, 4) float64 rows [data std, grad mean, grad std, update std] in parameter order (NaN where not
        measured), and the matrices' gradient histograms (M, bins + 1: counts, then the limit) or None."""
        dev = self._device()
        P = len(self.params)
        if not red or not red.get("P"):
            return torch.full((P, 4), float("nan"), dtype=torch.float64, device=dev), None
        rows = torch.stack([red["p_dstd"], red["p_gmean"], red["p_gstd"], red["p_ustd"]], 1)
        hists = None
        if "p_hist" in red and self.matrices:
            m = self._index(self.matrices, dev)
            hists = torch.cat([red["p_hist"][m], red["p_lim"][m].view(-1, 1)], 1)
        return rows, hists

    def _classify_inplace(self) -> None:
        """After the first recorded step: outputs that changed after their hook (an in-place op downstream)
        cannot be kept for later, so those layers stay on the eager path."""
        if not self._first_done:
            self._inplace |= {i for i, y, v in self._versions if y._version != v}
            self._versions = []
            self._first_done = True

    # --- ending a recorded step ----------------------------------------------------------------------------
    def _warn(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(msg, WatchWarning, stacklevel=4)

    def _params_now(self) -> None:
        if self._pre is None and self.params:  # no optimizer (or scope.step came first): the parameters as they are
            if self.optimizer is not None:
                self._warn("order", "initscope.watch: the optimizer did not step before scope.step(loss); call "
                           "scope.step(loss) after optimizer.step() (update:data is not measured for this step)")
            with torch.no_grad():
                self._pre = self._read_params()

    def end_full(self, step: int, loss, lr: float) -> tuple[Snapshot, np.ndarray, dict, tuple]:
        """The snapshot of the recorded step (one transfer to the host for all of it, the loss included when
        it is a tensor), its row of the per-step tier (on the host), its replay row (History.add_snapshot), and
        its record: the host arrays it was made of, from which `build_snapshot` makes it again."""
        self._params_now()
        self._take_grads(full=True)
        self._check_backward(step)
        fast = self._reduce_fast()
        self._classify_inplace()
        nan = float("nan")
        if fast is not None:  # on the host already (a CPU: the loss is read without a sync to wait for)
            lr_, lh, pr_, ph = fast
            loss = float(loss.detach().reshape(-1)[0]) if isinstance(loss, torch.Tensor) else float(loss)
        else:
            lr_, lh, pr_, ph, loss = self._host_rows(self._reduce(full=True), loss)
        lay = self._snap_layout()
        record = (lay, step, loss, lr, lr_, pr_, lh, ph)
        snap, lstats, arng, grng, pstats, wrows, wrng = build_snapshot(record)
        packed = self._replay_row(snap, lstats, arng, grng, pstats, lh, ph, wrows, wrng)
        # the same step's per-step row (the tier covers activations), from what was just read back
        act = np.array([info.family is not None for info in self.layers], dtype=bool)
        um = np.array([snap.params[j].update_data_log10 for j in self.matrices], dtype=np.float64)
        row = np.concatenate([lr_[:, 2], np.where(act, lr_[:, 1], nan), np.where(act, lr_[:, 7], nan), um])
        self._clear()
        return snap, row, packed, record

    def _host_rows(self, red: dict, loss):
        """`_reduce`'s device tensors as host arrays, in one transfer (the loss with them when it is a tensor):
        layer rows, layer histograms, parameter rows, matrices' histograms, the loss."""
        lrows, lhists = self._layer_rows(red, full=True)
        prows, phist = self._param_rows(red)
        bins, nl, npar = self.bins, len(self.layers), len(self.params)
        dev = lrows.device
        loss_t = loss.detach().reshape(-1)[:1].to(dev, torch.float64) if isinstance(loss, torch.Tensor) else \
            torch.tensor([float(loss)], dtype=torch.float64, device=dev)
        host = torch.cat([lrows.reshape(-1), prows.to(dev).reshape(-1), loss_t]).cpu().numpy()
        loss = float(host[-1])
        host = host[:-1]
        hist = torch.cat([lhists.reshape(-1)] + ([phist.to(dev).float().reshape(-1)] if phist is not None else [])).cpu().numpy()
        lh = hist[: 2 * nl * bins].reshape(nl, 2, bins)
        ph = hist[2 * nl * bins:].reshape(-1, bins + 1) if phist is not None else None
        return host[: 9 * nl].reshape(nl, 9), lh, host[9 * nl:].reshape(npar, 4), ph, loss

    def _snap_layout(self) -> SnapLayout:
        """What a snapshot's host arrays need beside them to become a Snapshot (names, kinds, widths, shapes),
        without the model: made again only when a width is first known."""
        widths = tuple([info.width for info in self.layers])
        lay = self._snap_lay
        if lay is None or lay.widths != widths:
            lay = self._snap_lay = SnapLayout(
                layers=tuple([(info.name, info.kind) for info in self.layers]), widths=widths,
                params=tuple([(name, tuple(p.shape), p.dim() >= 2) for name, p in self.params]),
                matrices=tuple(self.matrices), ref_loss=self.ref_loss)
        return lay

    def _replay_row(self, snap, lstats, arng, grng, pstats, lh, ph, wrows, wrng) -> dict:
        """The snapshot as its replay row (replay.pack_row's layout), from the host arrays it was made of: every
        histogram packed in one call, no walk over its objects (a snapshot every step: ~0.2 ms)."""
        nl, npar, bins = len(self.layers), len(self.params), self.bins
        ms = [m for _, m in wrows]
        counts, scale = pack_many(np.concatenate([lh.reshape(2 * nl, bins), ph[ms, :-1]]) if ms else
                                  lh.reshape(2 * nl, bins)) if nl or ms else \
            (np.zeros((0, bins), np.uint16), np.zeros(0, np.float32))
        rng = np.array(arng + grng + wrng, np.float64).reshape(-1, 2)
        lc, ls = counts[: 2 * nl].reshape(nl, 2, bins), scale[: 2 * nl].reshape(nl, 2)
        row = {"layout": id(self), "steps": np.array([snap.step], np.int64),
               "scalars": np.array([[snap.loss, snap.lr]], np.float64),
               "layer_stats": np.array(lstats, np.float64).reshape(1, nl, 7),
               "param_stats": np.array(pstats, np.float64).reshape(1, npar, 5),
               "act_counts": lc[None, :, 0], "act_scale": ls[None, :, 0], "act_range": rng[None, :nl],
               "grad_counts": lc[None, :, 1], "grad_scale": ls[None, :, 1], "grad_range": rng[None, nl: 2 * nl]}
        wc, wsc = np.zeros((1, npar, bins), np.uint16), np.full((1, npar), np.nan, np.float32)
        wr = np.zeros((1, npar, 2), np.float64)
        if ms:
            js = [j for j, _ in wrows]
            wc[0, js], wsc[0, js], wr[0, js] = counts[2 * nl:], scale[2 * nl:], rng[2 * nl:]
        row["wgrad_counts"], row["wgrad_scale"], row["wgrad_range"] = wc, wsc, wr
        return row

    def end_scalars(self) -> list:
        """The per-step tier of the recorded step. Returns the blocks of raw sums ready so far, in step order:
        [(plan, (steps, length) device tensor)]; `plan.finish` turns them (many steps at once, on the host) into
        rows: saturation, std and grad std per activation layer (NaN for the other layers), then log10
        update:data per weight matrix. A step of the usual layout waits in the rings (RING_BYTES) and comes out
        with the block that reduces it: when the rings are full, before a step of another kind, or at
        `take_pending()` (every flush)."""
        self._params_now()
        self._take_grads()
        plan = self._scalar_plan()
        if plan is None or plan.K < 2 or not self._defer(plan):
            self.reduce_pending()  # what waits comes first: rows stay in step order
            if plan is not None:
                raw = plan.run(self._chunks, dict(self._gchunks), self._update_stack())
            else:  # a layer called twice, or reduced in its hook: the layers through the general path
                parts = self._scalar_general()
                upd = _ScalarPlan(self, [], {}, self._update_ready())
                if upd.mruns:
                    parts.append(upd.run([], {}, self._update_stack()).to(parts[0].device, torch.float64))
                plan, raw = _General(upd), torch.cat(parts)
            self._ddone.append((plan, raw.view(1, -1)))
            if self._dvalid and self._dring is not None:  # the next step's `before` goes on from slot 0
                with torch.no_grad():
                    self._dring[2][0].copy_(self._dring[2][self._dvalid])
                self._dvalid = 0
        self._classify_inplace()
        self._clear()
        out, self._ddone = self._ddone, []
        return out

    def _defer(self, plan: _ScalarPlan) -> bool:
        """Put the step into the rings (False: it is reduced now instead)."""
        pre = self._pre or {}
        if plan.mruns and pre.get("dslot") is None:  # its update was not taken into the ring
            return False
        if self._dc and self._dplan is not plan:
            self.reduce_pending()
        slot = self._dc
        if (plan.mruns and pre["dslot"] != slot) or not plan.stash(slot, self._chunks, dict(self._gchunks)):
            return False
        self._dc, self._dplan = slot + 1, plan
        if self._dc == plan.K:
            self.reduce_pending()
        return True

    def _update_ready(self) -> bool:
        pre = self._pre or {}
        return bool(self.matrices) and pre.get("flat") is not None and pre.get("flat_diff") is not None

    def _update_stack(self):
        """(X, views): X (2, N) the weight matrices before the step and their update, flat (the per-step tier's
        copies), and its (2, count, size) views, one per run of equal sizes."""
        if not self._update_ready():
            return None
        if self._pre.get("ring") is not None:
            return self._pre["ring"]
        if self._pre.get("dslot") is not None:
            R, slot = self._dring[2], self._pre["dslot"]
            X = torch.stack([R[slot], R[slot + 1] - R[slot]])
        else:
            X = torch.stack([self._pre["flat"], self._pre["flat_diff"]])
        return X, [X[:, a:b].view(2, c, size) for a, b, c, size in self._mruns]

    def _scalar_plan(self) -> _ScalarPlan | None:
        """The plan of the usual step's layout (every hooked layer fused, each called once), made once; None
        for any other step."""
        chunks = self._chunks
        if any(acc.mean is not None for acc in self._acc.values()):
            return None
        grads = dict(self._gchunks)
        if len(grads) != len(self._gchunks) or len({c[0] for c in chunks}) != len(chunks):
            return None
        if len({c[1].device for c in chunks}) > 1:
            return None
        upd = self._update_ready()
        key = (tuple((i, y.numel(), x is not None, i in grads) for i, y, x in chunks), upd)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 64:
                self._plans.clear()
            plan = self._plans[key] = _ScalarPlan(self, chunks, grads, upd)
            if plan.mruns and plan.K > 1:
                self._defer_mats = True  # from the next step on, the optimizer hooks write the deferred ring
        return plan

    @torch.no_grad()
    def _scalar_general(self) -> list[torch.Tensor]:
        """[saturation, std, grad std], each (L,) float64 with NaN where not measured, through `_reduce`."""
        red = self._reduce(full=False)
        lrows, _ = self._layer_rows(red, full=False)
        return [lrows[:, 2], lrows[:, 1], lrows[:, 7]]

    def _room(self, key, n: int, dtype: torch.dtype, dev) -> torch.Tensor:
        """A flat buffer of n values, kept between recorded steps for `key`: a snapshot's group copies, its
        temporaries and its bin indices. Fresh ones of several MB each step came from fresh pages whenever glibc's
        heap thresholds said so (the char transformer: 5,500 page faults a step, 35 ms a step against 27); these
        are allocated once per layout.
        Released by close()."""
        t = self._rooms.get(key)
        if t is None or t.numel() < n or t.dtype != dtype or t.device != dev:
            t = self._rooms[key] = torch.empty(n, dtype=dtype, device=dev)
        return t[:n]

    def _index(self, values: list, dev, dtype=torch.long) -> torch.Tensor:
        """A small constant tensor (indices by default), made once per list of values, device and dtype (a
        step's layout repeats); never written to."""
        cache = self.__dict__.setdefault("_index_cache", {})
        key = (tuple(values), str(dev), dtype)
        t = cache.get(key)
        if t is None:
            if len(cache) > 256:
                cache.clear()
            t = cache[key] = torch.tensor(values, dtype=dtype, device=dev)
        return t

    def _is_act(self, dev) -> torch.Tensor:
        t = getattr(self, "_is_act_t", None)
        if t is None or t.device != dev:
            t = self._is_act_t = torch.tensor([i.family is not None for i in self.layers], dtype=torch.bool, device=dev)
        return t

    def _device(self) -> torch.device:
        for _, p in self.params:
            return p.device
        for c in self._chunks:
            return c[1].device
        for acc in (self._acc or {}).values():
            if acc.mean is not None:
                return acc.mean.device
        return torch.device("cpu")

    def _check_backward(self, step: int) -> None:
        called = any(a.calls for a in self._acc.values())
        if called and not any(a.grads for a in self._acc.values()) and self.params \
                and all(p.grad is None for _, p in self.params):
            self._warn("backward", f"initscope.watch: no backward pass reached the model at step {step}; call "
                       "loss.backward() before scope.step(loss) (gradient statistics are missing)")
        if not called and self.layers:
            self._warn("forward", f"initscope.watch: no forward pass of the model was seen at step {step} "
                       "(is this the model you train?)")


_EMPTY = np.zeros(0, np.float32)
_EMPTY3 = np.zeros((0, 0, 0), np.float32)


def _acc_values(acc: _Acc, nan_t: torch.Tensor) -> tuple:
    """An eagerly recorded layer's [mean, std, saturation, dead, lo, hi, grad mean, grad std, grad lim], as
    0-d tensors (nan_t where not measured)."""
    std = (acc.m2 / max(acc.n - 1, 1)).sqrt()
    g_mean = acc.g_mean if acc.g_mean is not None else nan_t
    g_std = (acc.g_m2 / max(acc.g_n - 1, 1)).sqrt() if acc.g_m2 is not None else nan_t
    sat = acc.sat / acc.n if acc.sat is not None else nan_t
    dead = acc.dead.sum(dtype=torch.float64) if acc.dead is not None else torch.zeros_like(nan_t)
    lo = acc.lo.double() if acc.lo is not None else nan_t
    hi = acc.hi.double() if acc.hi is not None else nan_t
    g_lim = acc.g_lim.double() if acc.g_lim is not None else nan_t
    return acc.mean, std, sat, dead, lo, hi, g_mean, g_std, g_lim


def _acc_row(acc: _Acc):
    """An eagerly recorded layer's row (`_acc_values`) and its two histograms' counts (or None), on the host."""
    row = [float(v) for v in _acc_values(acc, torch.tensor(float("nan"), dtype=torch.float64))]
    counts = acc.counts.cpu().numpy() if acc.counts is not None else None
    g_counts = acc.g_counts.cpu().numpy() if acc.g_counts is not None else None
    return row, counts, g_counts


def _and_dead(acc: _Acc, dead: torch.Tensor) -> None:
    if acc.dead is None:
        acc.dead = dead
    elif acc.dead.shape == dead.shape:
        acc.dead = acc.dead & dead


def _log10_ratio(u: float, d: float) -> float:
    if not (math.isfinite(u) and math.isfinite(d)) or d <= 0:
        return float("nan")
    if u <= 0:
        return float("-inf")
    return math.log10(u / d)


@dataclass(frozen=True)
class SnapLayout:
    layers: tuple  # (name, kind) per layer
    widths: tuple
    params: tuple  # (name, shape, is_matrix) per parameter
    matrices: tuple  # the parameters whose gradient histograms are taken
    ref_loss: float


def build_snapshot(record: tuple):
    """The Snapshot of a record (SnapLayout, step, loss, lr, layer rows (L, 9), parameter rows (P, 4), layer
    histograms (L, 2, bins), matrices' gradient histograms (M, bins + 1) or None), and the parts of its replay
    row. Records are numpy arrays and numbers, which the garbage collector does not walk: `Scope.snapshots`
    keeps them, not Snapshot objects (512 kept snapshots of ~100 objects each made every young collection
    promote more, and a full collection of a process with torch imported took ~180 ms)."""
    lay, step, loss, lr, lr_, pr_, lh, ph = record
    nan = float("nan")
    snap = Snapshot(step=step, loss=loss, lr=lr, ref_loss=lay.ref_loss)
    lstats, arng, grng = [], [], []
    rows = lr_.tolist()
    for i, ((name, kind), width) in enumerate(zip(lay.layers, lay.widths)):
        r = rows[i]
        lo, hi = (r[4], r[5]) if math.isfinite(r[4]) and math.isfinite(r[5]) else (0.0, 1.0)
        g_lim = r[8] if math.isfinite(r[8]) else 1.0
        dead = int(r[3]) if math.isfinite(r[3]) else 0
        snap.layers.append(LayerStats(
            index=i, name=name, kind=kind, mean=r[0], std=r[1], saturation=r[2],
            dead=dead, width=width, hist=Histogram(lh[i, 0].copy(), lo, hi), grad_mean=r[6], grad_std=r[7],
            grad_hist=Histogram(lh[i, 1].copy(), -g_lim, g_lim)))
        lstats.append((r[0], r[1], r[2], dead, width, r[6], r[7]))  # replay.LAYER_FIELDS
        arng.append((lo, hi))
        grng.append((-g_lim, g_lim))
    mi = {j: m for m, j in enumerate(lay.matrices)}
    pstats, wrows, wrng = [], [], []
    lims = ph[:, -1].tolist() if ph is not None else []
    for j, ((name, shape, is_matrix), (d, gm, gs, u)) in enumerate(zip(lay.params, pr_.tolist())):
        gh = None
        m = mi.get(j)
        if ph is not None and m is not None and math.isfinite(lims[m]) and math.isfinite(gs):
            lim = lims[m]
            gh = Histogram(ph[m, :-1].copy(), -lim, lim)
            wrows.append((j, m))
            wrng.append((-lim, lim))
        ps = ParamStats(name=name, shape=shape, is_matrix=is_matrix, data_std=d, grad_mean=gm,
                        grad_std=gs, grad_data=gs / d if d > 0 else nan, update_data_log10=_log10_ratio(u, d),
                        grad_hist=gh)
        snap.params.append(ps)
        pstats.append((d, gm, gs, ps.grad_data, ps.update_data_log10))  # replay.PARAM_FIELDS
    return snap, lstats, arng, grng, pstats, wrows, wrng


def scalars_from_rows(first_step: int, rows: np.ndarray, n_layers: int) -> StepScalars:
    a = rows.astype(np.float32).reshape(len(rows), -1)
    return StepScalars(first_step, a[:, :n_layers], a[:, n_layers:2 * n_layers], a[:, 2 * n_layers:3 * n_layers],
                       a[:, 3 * n_layers:])


def model_info(rec: Recorder) -> ModelInfo:
    return ModelInfo(type(rec.model).__name__, [(i.name, i.kind, i.width) for i in rec.layers],
                     [(n, tuple(p.shape)) for n, p in rec.params])
