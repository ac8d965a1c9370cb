"""Per-layer statistics of any torch model, from hooks: what `initscope.watch` and `initscope.check` record.

The app's own nets go through `core/diagnostics.py`, a fused path that knows their layout in advance; here the
model is anyone's, so every leaf module is looked at on its own:

- a forward hook per leaf module reduces its output at once (mean, std, saturation, dead units, histogram) into a
  few device tensors, and hooks the output's gradient to reduce that in backward: nothing of activation size is
  kept after the hook returns;
- optimizer pre/post step hooks read every trainable parameter's gradient and data before the step, and the
  actual update (p_after - p_before) after it, so update:data is right for Adam as well as SGD;
- hooks exist only while a step is recorded (a snapshot step, or every step for the scalar tier): an
  unrecorded step runs the model exactly as unwatched, at its speed;
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

from initscope.core import kinds
from initscope.core.snapshot import Histogram, LayerStats, ModelInfo, ParamStats, Snapshot, StepScalars

# histograms of a huge output are taken on an evenly strided sample of at most this many values (the moments,
# saturation and dead units still use every value): the memory a snapshot needs stays bounded (README)
HIST_SAMPLE = 1 << 20
WRAPPER_ATTRS = ("module", "_orig_mod")  # DataParallel / DistributedDataParallel; torch.compile's OptimizedModule


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
    xf = x.detach()
    if xf.dtype not in (torch.float32, torch.float64):
        xf = xf.float()
    n = xf.numel()
    var, mean = torch.var_mean(xf, correction=0)
    return float(n), mean.double(), var.double() * n


def _flat(ts: list[torch.Tensor], dev: torch.device) -> torch.Tensor:
    """The tensors as one flat float tensor on `dev` (a copy: one op for all of them)."""
    parts = [t.reshape(-1) for t in ts]
    if any(t.device != dev for t in parts):
        parts = [t.to(dev) for t in parts]
    if len({t.dtype for t in parts}) > 1 or parts[0].dtype not in (torch.float32, torch.float64):
        parts = [t.float() for t in parts]
    return torch.cat(parts)


class _Layout:
    """How one recorded step's tensors lie in one flat tensor: chunks (segment, size), in order. Everything a
    step reduces (layer outputs, their gradients, the parameters before and after the update, their gradients)
    is one flat tensor, and every sum of it comes from one pass: chunks of equal size that lie next to each
    other are summed as one (runs, size) view, then a (chunks x segments) one-hot product puts the chunks of a
    segment together (a layer called twice has two chunks). On a CPU a torch op costs 5-10 us whatever its size,
    so the number of ops, not the bytes, is what a step pays. Built once per shape of step and reused."""

    def __init__(self, ids: list[int], sizes: list[int], n: int, dev: torch.device):
        self.n, self.sizes, self.total = n, list(sizes), sum(sizes)
        self.runs = []  # (start, chunks, size) of consecutive equal-size chunks
        start = 0
        for size in sizes:
            if self.runs and self.runs[-1][2] == size:
                a, k, _ = self.runs[-1]
                self.runs[-1] = (a, k + 1, size)
            else:
                self.runs.append((start, 1, size))
            start += size
        idx = torch.tensor(ids, dtype=torch.long, device=dev)
        self.onehot = nn.functional.one_hot(idx, n).to(torch.float64)
        count = [0] * n
        for i, k in zip(ids, sizes):
            count[i] += k
        self.count = torch.tensor(count, dtype=torch.float64, device=dev)
        self.chunk_seg = idx
        self.lengths = torch.tensor(sizes, dtype=torch.long, device=dev)
        self._offsets: dict = {}

    def sums(self, rows: torch.Tensor) -> torch.Tensor:
        """(k, N) float64 rows -> (k, segments) sums. Each chunk is summed on its own (a prefix sum read at the
        chunks' ends would lose a small chunk after a large one, e.g. a bias's 1e-9 gradients)."""
        k = rows.shape[0]
        per_chunk = torch.cat([rows[:, a: a + c * size].reshape(k, c, size).sum(2) for a, c, size in self.runs], 1)
        return per_chunk @ self.onehot

    def chunk_extremes(self, flat: torch.Tensor, upto: int) -> torch.Tensor:
        """(chunks, 2) min and max of the chunks that lie below element `upto` (NaN and inf read as 0)."""
        out, a = [], 0
        fin = flat[:upto].nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
        for size in self.sizes:
            if a >= upto:
                break
            out.append(torch.stack(torch.aminmax(fin[a: a + size])))
            a += size
        return torch.stack(out)

    def hist(self, flat: torch.Tensor, lo: torch.Tensor, width: torch.Tensor, nchunks: int, bins: int) -> torch.Tensor:
        """(segments, bins) histograms of the first `nchunks` chunks, chunk c over [lo[c], lo[c] + width[c]],
        counted into its segment's bins, in one bincount (NaN dropped)."""
        upto = sum(self.sizes[:nchunks])
        key = (nchunks, bins)
        off = self._offsets.get(key)
        if off is None:
            off = self._offsets[key] = torch.repeat_interleave(self.chunk_seg[:nchunks] * bins,
                                                               self.lengths[:nchunks], output_size=upto)
        lw = torch.stack([lo, width], 1).repeat_interleave(self.lengths[:nchunks], dim=0, output_size=upto)
        # (x - lo) / width * bins, as _hist: exact at the middle edge of a symmetric range
        pos = (flat[:upto].float() - lw[:, 0]) / lw[:, 1] * bins
        idx = torch.where(pos.isnan(), self.n * bins, pos.nan_to_num(nan=0.0).clamp_(0, bins - 1).long() + off)
        return torch.bincount(idx, minlength=self.n * bins + 1)[: self.n * bins].view(self.n, bins).float()


class Recorder:
    """Hooks on a model (and optionally its optimizer) that record the statistics of the steps asked for.

    Use: `begin(mode)` before the step's forward ("full": a snapshot; "scalars": the per-step tier), then the
    user's forward / backward / optimizer.step(), then `end_full(step, loss, lr)` (the Snapshot) or
    `end_scalars()` (a device row of the per-step tier). `close()` removes every hook.

    Two paths, with the same numbers: the *fused* one keeps each layer's output and gradient until the step
    ends, then reduces all of them, and the parameters, as one flat tensor (see _Layout); the *eager* one
    reduces each output inside its hook. Eager is for the first recorded step (which also finds the outputs
    that a later in-place op overwrites, e.g. ReLU(inplace=True): those stay eager), and for outputs over
    HIST_SAMPLE values (kept only as reductions). The per-step tier hooks the activations only.
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
        self._handles: list = []
        self._hooked = ""  # which layers the forward hooks are on: "all", or "activations" (the per-step tier)
        self._opt_handles: list = []
        self._mode: str | None = None
        self._acc: list[_Acc] = []
        self._chunks: list = []  # fused path: (layer, output, input for "tail") of this step
        self._gchunks: list = []  # fused path: (layer, gradient at the output)
        self._eager_now: dict[int, bool] = {}
        self._inplace: set[int] = set()  # layers whose output a later in-place op overwrites
        self._versions: list = []  # first recorded step: (layer, output, its version) to find those
        self._first_done = False
        self._layouts: dict = {}
        self._pre: dict | None = None  # the parameters before optimizer.step(): flat copies (and gradients)
        self._warned: set[str] = set()

    # --- hooks --------------------------------------------------------------------------------------------
    def begin(self, mode: str | None) -> None:
        """Record the coming step as `mode` ('full', 'scalars') or not at all (None): hooks only when needed."""
        self._mode = mode
        if mode is None:
            self._remove(self._handles)
            self._remove(self._opt_handles)
            return
        self._acc = [_Acc() for _ in self.layers]
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

    def _clear(self) -> None:
        self._acc, self._pre, self._chunks, self._gchunks = [], None, [], []

    def _forward_hook(self, i: int):
        def hook(_mod, inputs, output):
            if self._mode is None:
                return
            y = first_tensor(output)
            if y is None or not torch.is_floating_point(y) or y.numel() == 0:
                return
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            eager = self._eager_now.get(i)
            if eager is None:
                eager = self._eager_now[i] = (not self._first_done or i in self._inplace
                                              or y.numel() > HIST_SAMPLE)
            if eager:
                self._record_forward(i, x, y)
                if not self._first_done:
                    self._versions.append((i, y, y._version))
            else:
                info = self.layers[i]
                if not info.width:
                    info.width = int(y.shape[unit_dim(y)]) if y.dim() else 1
                self._acc[i].calls += 1
                x_tail = x.detach() if info.family == "tail" and x is not None and x.shape == y.shape else None
                self._chunks.append((i, y.detach(), x_tail))
            if y.requires_grad and torch.is_grad_enabled():
                y.register_hook(self._grad_hook(i, eager))
        return hook

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
                lo, hi = torch.aminmax(fin)
            acc.lo, acc.hi = lo, torch.maximum(hi, lo + 1e-6)
            acc.counts = _hist(y, acc.lo, acc.hi, self.bins)
        elif self._mode == "full":
            acc.counts = acc.counts + _hist(y, acc.lo, acc.hi, self.bins)

    def _grad_hook(self, i: int, eager: bool):
        def hook(g):
            if self._mode is None or not self._acc:
                return
            if eager:
                self._record_grad(i, g)
            else:
                self._acc[i].grads += 1
                self._gchunks.append((i, g.detach()))
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

    @torch.no_grad()
    def _opt_pre(self, _opt, _args, _kwargs) -> None:
        if self._mode is not None:
            self._pre = self._read_params()

    @torch.no_grad()
    def _opt_post(self, _opt, _args, _kwargs) -> None:
        pre = self._pre
        if self._mode is None or pre is None or pre["before"] is None:
            return
        order = self._param_order()
        pre["diff"] = _flat([self.params[j][1].detach() for j in order], pre["before"].device) - pre["before"]

    def _read_params(self) -> dict:
        """Flat copies of the parameters as they are now (a snapshot: all, and their gradients; the per-step
        tier: the weight matrices), in `_param_order`; the update is measured against them after the step."""
        order = self._param_order()
        if not order:
            return {"before": None, "grads": None, "diff": None}
        ps = [self.params[j][1].detach() for j in order]
        before = _flat(ps, ps[0].device)
        grads = None
        if self._mode == "full":
            gs = [self.params[j][1].grad for j in order]
            if any(g is not None for g in gs):
                grads = _flat([g if g is not None else torch.full_like(p, float("nan")) for g, p in zip(gs, ps)],
                              before.device)
        return {"before": before, "grads": grads, "diff": None}

    # --- the fused path: one flat tensor for the whole step ----------------------------------------------------
    def _layout(self, key, ids, sizes, n, dev) -> _Layout:
        lay = self._layouts.get(key)
        if lay is None:
            if len(self._layouts) > 32:  # a loop whose shapes keep changing: keep the cache small
                self._layouts.clear()
            lay = self._layouts[key] = _Layout(ids, sizes, n, dev)
        return lay

    @torch.no_grad()
    def _reduce(self, full: bool) -> dict:
        """Every number of the step that the fused path and the parameters give, as device tensors:
        per layer (fused ones) mean, std, saturation, dead, histogram range, grad mean, std, limit and the two
        histograms; per parameter data std, grad mean, grad std, update std, and the matrices' histograms."""
        L, nb = len(self.layers), self.bins
        pre = self._pre if self._pre is not None else {"before": None, "grads": None, "diff": None}
        order = self._param_order() if pre["before"] is not None else []
        P = len(order)
        # chunks: activation outputs (by size), other outputs (by size), gradients (by size), then parameter
        # gradients, data before the step, update: segments L layers' outputs, L layers' gradients, then
        # 3 x P parameter rows
        outs = sorted(self._chunks, key=lambda c: (self.layers[c[0]].family is None, c[1].numel()))
        grads = sorted(self._gchunks, key=lambda c: c[1].numel())
        n_act = sum(1 for c in outs if self.layers[c[0]].family is not None)
        psizes = [self.params[j][1].numel() for j in order]
        ids = ([c[0] for c in outs] + [L + c[0] for c in grads]
               + ([2 * L + k for k in range(P)] if pre["grads"] is not None else [])
               + [2 * L + P + k for k in range(P)] + ([2 * L + 2 * P + k for k in range(P)] if pre["diff"] is not None else []))
        sizes = ([c[1].numel() for c in outs] + [c[1].numel() for c in grads]
                 + (psizes if pre["grads"] is not None else []) + psizes + (psizes if pre["diff"] is not None else []))
        if not sizes:
            return {}
        tensors = [c[1] for c in outs] + [c[1] for c in grads]
        tensors += [t for t in (pre["grads"], pre["before"], pre["diff"]) if t is not None]
        dev = tensors[0].device
        lay = self._layout((tuple(ids), tuple(sizes)), ids, sizes, 2 * L + 3 * P, dev)
        flat = _flat(tensors, dev)
        x = flat.double()
        # saturation of the activation outputs (the first n_act chunks), family by family
        n_act_el = sum(c[1].numel() for c in outs[:n_act])
        sat_rows = []
        if n_act:
            fams = [self.layers[c[0]].family for c in outs[:n_act]]
            if all(f == fams[0] for f in fams) and fams[0] != "tail":  # one family (the common case): one op
                mask = kinds.saturated(fams[0], None, flat[:n_act_el], self.threshold)
            else:
                a, parts = 0, []
                for (i, y, xin), fam in zip(outs[:n_act], fams):
                    b = a + y.numel()
                    if fam == "tail":  # reads the activation's input
                        xin = xin if xin is not None else torch.full_like(y, float("nan"))
                        parts.append(kinds.saturated(fam, xin.reshape(-1), None, self.threshold))
                    else:
                        parts.append(kinds.saturated(fam, None, flat[a:b], self.threshold))
                    a = b
                mask = torch.cat(parts)
            sat_rows = [torch.cat([mask.to(torch.float64), x.new_zeros(lay.total - n_act_el)])]
        s = lay.sums(torch.stack([x, x * x] + sat_rows))
        cnt = lay.count
        mean = s[0] / cnt.clamp_min(1)
        std = ((s[1] - s[0] * mean) / (cnt - 1).clamp_min(1)).clamp_min(0).sqrt()
        nan = float("nan")
        empty = cnt == 0
        mean, std = mean.masked_fill(empty, nan), std.masked_fill(empty, nan)
        sat = (s[2] / cnt.clamp_min(1))[:L] if sat_rows else torch.full((L,), nan, dtype=torch.float64, device=dev)
        is_act = torch.tensor([info.family is not None for info in self.layers], device=dev)
        out = {"mean": mean[:L], "std": std[:L], "sat": sat.masked_fill(~is_act | empty[:L], nan),
               "g_mean": mean[L:2 * L], "g_std": std[L:2 * L], "order": order, "P": P,
               "fused": sorted({c[0] for c in outs})}
        if P:
            k = 2 * L
            out["p_gmean"], out["p_gstd"] = (mean[k: k + P], std[k: k + P]) if pre["grads"] is not None else (None, None)
            out["p_dstd"] = std[k + P: k + 2 * P]
            out["p_ustd"] = std[k + 2 * P: k + 3 * P] if pre["diff"] is not None else None
        if not full:
            return out
        # --- a snapshot: dead units, histogram ranges and histograms ---------------------------------------
        dead = torch.zeros(L, dtype=torch.float64, device=dev)
        if n_act:
            a, per = 0, {}
            full_mask = sat_rows[0][:n_act_el] > 0
            for i, y, _ in outs[:n_act]:
                mk = full_mask[a: a + y.numel()].view(y.shape)
                a += y.numel()
                ud = unit_dim(y)
                d = mk.movedim(ud, -1).reshape(-1, y.shape[ud]).all(0) if y.dim() >= 1 else mk.view(1)
                prev = per.get(i)
                per[i] = d if prev is None else (prev & d if prev.shape == d.shape else prev)
            for i, d in per.items():
                dead[i] = d.sum()
        out["dead"] = dead
        n_o, n_g = len(outs), len(grads)
        n_pm = sum(1 for j in order if j in set(self.matrices)) if pre["grads"] is not None else 0
        n_h = n_o + n_g + n_pm  # histogrammed chunks: outputs, their gradients, the matrices' gradients
        upto = sum(sizes[:n_h])
        ext = lay.chunk_extremes(flat, upto) if n_h else torch.zeros(0, 2, device=dev)
        seg = lay.chunk_seg[:n_h]
        big = torch.finfo(torch.float32).max
        # per segment: min and max over its chunks (a layer called twice), then the range each histogram uses
        lo_seg = torch.full((lay.n,), big, device=dev).scatter_reduce_(0, seg, ext[:, 0], "amin")
        hi_seg = torch.full((lay.n,), -big, device=dev).scatter_reduce_(0, seg, ext[:, 1], "amax")
        lim = torch.maximum(lo_seg.abs(), hi_seg.abs()).clamp_min(1e-12)  # gradients: symmetric, +-max |g|
        fam_lo = torch.tensor([-1.0 if f.family == "tanh" else 0.0 for f in self.layers], device=dev)
        fixed = torch.tensor([f.family in ("tanh", "sigmoid") for f in self.layers], device=dev)
        o_lo = torch.where(fixed, fam_lo, lo_seg[:L])
        o_hi = torch.maximum(torch.where(fixed, torch.ones_like(o_lo), hi_seg[:L]), o_lo + 1e-6)
        seg_lo = torch.cat([o_lo, -lim[L:]])
        seg_w = torch.cat([o_hi - o_lo, 2 * lim[L:]])
        h = lay.hist(flat, seg_lo[seg], seg_w[seg], n_h, nb)
        out.update({"lo": o_lo, "hi": o_hi, "g_lim": lim[L:2 * L], "hist": h[:L], "g_hist": h[L:2 * L]})
        if n_pm:
            out["p_hist"] = h[2 * L: 2 * L + n_pm]  # the matrices, in `order` (matrices come first)
            out["p_lim"] = lim[2 * L: 2 * L + n_pm]
        return out

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
        for i, acc in enumerate(self._acc):
            if acc.mean is None:
                continue  # fused, or not called
            std = (acc.m2 / max(acc.n - 1, 1)).sqrt()
            g_mean = acc.g_mean if acc.g_mean is not None else nan_t
            g_std = (acc.g_m2 / max(acc.g_n - 1, 1)).sqrt() if acc.g_m2 is not None else nan_t
            sat = acc.sat / acc.n if acc.sat is not None else nan_t
            dead = acc.dead.sum(dtype=torch.float64) if acc.dead is not None else torch.zeros_like(nan_t)
            lo = acc.lo.double() if acc.lo is not None else nan_t
            hi = acc.hi.double() if acc.hi is not None else nan_t
            g_lim = acc.g_lim.double() if acc.g_lim is not None else nan_t
            rows[i] = torch.stack([v.to(dev) for v in (acc.mean, std, sat, dead, lo, hi, g_mean, g_std, g_lim)])
            if full:
                hists[i, 0] = acc.counts.to(dev) if acc.counts is not None else 0
                hists[i, 1] = acc.g_counts.to(dev) if acc.g_counts is not None else 0
        return rows, hists

    def _param_rows(self, red: dict):
        """(P, 4) float64 rows [data std, grad mean, grad std, update std] in parameter order (NaN where not
        measured), and the matrices' gradient histograms (M, bins + 1: counts, then the limit) or None."""
        dev = self._device()
        P = len(self.params)
        rows = torch.full((P, 4), float("nan"), dtype=torch.float64, device=dev)
        if not red or not red.get("P"):
            return rows, None
        idx = torch.tensor(red["order"], dtype=torch.long, device=dev)
        rows[idx, 0] = red["p_dstd"]
        if red.get("p_gstd") is not None:
            rows[idx, 1] = red["p_gmean"]
            rows[idx, 2] = red["p_gstd"]
        if red.get("p_ustd") is not None:
            rows[idx, 3] = red["p_ustd"]
        hists = None
        if "p_hist" in red:
            pos = {j: k for k, j in enumerate(red["order"])}
            m_idx = torch.tensor([pos[j] for j in self.matrices], dtype=torch.long, device=dev)
            hists = torch.cat([red["p_hist"][m_idx], red["p_lim"][m_idx].view(-1, 1)], 1)
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

    def end_full(self, step: int, loss: float, lr: float) -> tuple[Snapshot, np.ndarray]:
        """The snapshot of the recorded step (one transfer to the host for all of it), and its row of the
        per-step tier (on the host)."""
        self._params_now()
        self._check_backward(step)
        red = self._reduce(full=True)
        lrows, lhists = self._layer_rows(red, full=True)
        prows, phist = self._param_rows(red)
        self._classify_inplace()
        bins, nl, npar = self.bins, len(self.layers), len(self.params)
        nan = float("nan")
        dev = lrows.device
        host = torch.cat([lrows.reshape(-1), prows.to(dev).reshape(-1)]).cpu().numpy()
        hist = torch.cat([lhists.reshape(-1)] + ([phist.to(dev).float().reshape(-1)] if phist is not None else [])).cpu().numpy()
        lr_ = host[: 9 * nl].reshape(nl, 9)
        pr_ = host[9 * nl:].reshape(npar, 4)
        lh = hist[: 2 * nl * bins].reshape(nl, 2, bins)
        ph = hist[2 * nl * bins:].reshape(-1, bins + 1) if phist is not None else None
        snap = Snapshot(step=step, loss=loss, lr=lr, ref_loss=self.ref_loss)
        for i, info in enumerate(self.layers):
            r = lr_[i].tolist()
            lo, hi = (r[4], r[5]) if math.isfinite(r[4]) and math.isfinite(r[5]) else (0.0, 1.0)
            g_lim = r[8] if math.isfinite(r[8]) else 1.0
            snap.layers.append(LayerStats(
                index=i, name=info.name, kind=info.kind, mean=r[0], std=r[1], saturation=r[2],
                dead=int(r[3]) if math.isfinite(r[3]) else 0, width=info.width,
                hist=Histogram(lh[i, 0].copy(), lo, hi), grad_mean=r[6], grad_std=r[7],
                grad_hist=Histogram(lh[i, 1].copy(), -g_lim, g_lim)))
        mi = {j: m for m, j in enumerate(self.matrices)}
        for j, (name, p) in enumerate(self.params):
            d, gm, gs, u = pr_[j].tolist()
            gh = None
            if ph is not None and j in mi and math.isfinite(float(ph[mi[j], -1])) and math.isfinite(gs):
                lim = float(ph[mi[j], -1])
                gh = Histogram(ph[mi[j], :-1].copy(), -lim, lim)
            snap.params.append(ParamStats(
                name=name, shape=tuple(p.shape), is_matrix=p.dim() >= 2, data_std=d, grad_mean=gm, grad_std=gs,
                grad_data=gs / d if d > 0 else nan, update_data_log10=_log10_ratio(u, d), grad_hist=gh))
        # the same step's per-step row (the tier covers activations), from what was just read back
        act = np.array([info.family is not None for info in self.layers], dtype=bool)
        um = np.array([snap.params[j].update_data_log10 for j in self.matrices], dtype=np.float64)
        row = np.concatenate([lr_[:, 2], np.where(act, lr_[:, 1], nan), np.where(act, lr_[:, 7], nan), um])
        self._clear()
        return snap, row

    def end_scalars(self) -> torch.Tensor:
        """The per-step tier's row of the recorded step, on the device: saturation, std and grad std per
        activation layer (NaN for the other layers), then log10 update:data per weight matrix."""
        self._params_now()
        red = self._reduce(full=False)
        lrows, _ = self._layer_rows(red, full=False)
        self._classify_inplace()
        parts = [lrows[:, 2], lrows[:, 1], lrows[:, 7]]
        if self.matrices:
            prows, _ = self._param_rows(red)
            m = torch.tensor(self.matrices, device=prows.device)
            parts.append(torch.log10(prows[m, 3] / prows[m, 0]).to(lrows.device))
        self._clear()
        return torch.cat(parts)

    def _device(self) -> torch.device:
        for _, p in self.params:
            return p.device
        for c in self._chunks:
            return c[1].device
        for acc in self._acc:
            if acc.mean is not None:
                return acc.mean.device
        return torch.device("cpu")

    def _check_backward(self, step: int) -> None:
        called = any(a.calls for a in self._acc)
        if called and not any(a.grads for a in self._acc) and self.params \
                and all(p.grad is None for _, p in self.params):
            self._warn("backward", f"initscope.watch: no backward pass reached the model at step {step}; call "
                       "loss.backward() before scope.step(loss) (gradient statistics are missing)")
        if not called and self.layers:
            self._warn("forward", f"initscope.watch: no forward pass of the model was seen at step {step} "
                       "(is this the model you train?)")


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


def scalar_columns(rec: Recorder) -> tuple[list[str], list[str]]:
    """(layer names, matrix names): the columns of the per-step tier's rows."""
    return [info.name for info in rec.layers], [rec.params[j][0] for j in rec.matrices]


def scalars_from_rows(first_step: int, rows: np.ndarray, n_layers: int) -> StepScalars:
    a = rows.astype(np.float32).reshape(len(rows), -1)
    return StepScalars(first_step, a[:, :n_layers], a[:, n_layers:2 * n_layers], a[:, 2 * n_layers:3 * n_layers],
                       a[:, 3 * n_layers:])


def model_info(rec: Recorder) -> ModelInfo:
    return ModelInfo(type(rec.model).__name__, [(i.name, i.kind, i.width) for i in rec.layers],
                     [(n, tuple(p.shape)) for n, p in rec.params])
