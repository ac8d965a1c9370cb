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
    scale = bins / (hi - lo).clamp_min(1e-12)
    pos = (flat.float() - lo) * scale
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


class Recorder:
    """Hooks on a model (and optionally its optimizer) that record the statistics of the steps asked for.

    Use: `begin(mode)` before the step's forward ("full": a snapshot; "scalars": the per-step tier), then the
    user's forward / backward / optimizer.step(), then `end(step, loss, lr)`, which returns the Snapshot (full),
    or queues a StepScalars row. `close()` removes every hook.
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
        self._handles: list = []
        self._opt_handles: list = []
        self._mode: str | None = None
        self._acc: list[_Acc] = []
        self._pre: dict | None = None  # what the optimizer pre-hook read: parameter rows, hists, data before
        self._update: torch.Tensor | None = None  # actual std(p_after - p_before) per parameter
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
        self._pre, self._update = None, None
        if not self._handles:
            for i, info in enumerate(self.layers):
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
        self._acc, self._pre, self._update = [], None, None

    def _forward_hook(self, i: int):
        def hook(_mod, inputs, output):
            if self._mode is None:
                return
            y = first_tensor(output)
            if y is None or not torch.is_floating_point(y) or y.numel() == 0:
                return
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            self._record_forward(i, x, y)
            if y.requires_grad and torch.is_grad_enabled():
                y.register_hook(self._grad_hook(i))
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
                dead = mask.movedim(ud, -1).reshape(-1, y.shape[ud]).all(0)
                if acc.dead is None:
                    acc.dead = dead
                elif acc.dead.shape == dead.shape:
                    acc.dead = acc.dead & dead
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

    def _grad_hook(self, i: int):
        def hook(g):
            if self._mode is not None and self._acc:
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

    def _opt_pre(self, _opt, _args, _kwargs) -> None:
        if self._mode is not None:
            self._pre = self._read_params(before=True)

    def _opt_post(self, _opt, _args, _kwargs) -> None:
        if self._mode is None or self._pre is None:
            return
        with torch.no_grad():
            before = self._pre.pop("before")
            diffs = torch._foreach_sub([p.detach() for _, p in self.params], before) if before else []
            self._update = torch.stack([_std(d) for d in diffs]) if diffs else None

    @torch.no_grad()
    def _read_params(self, before: bool) -> dict:
        """Gradient and data statistics of every trainable parameter as they are now (rows on the device); with
        `before`, also a copy of the data, for the actual update after optimizer.step()."""
        if not self.params:
            return {"rows": None, "hists": None, "before": []}
        ps = [p.detach() for _, p in self.params]
        gs = [p.grad.detach() if p.grad is not None else None for _, p in self.params]
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=ps[0].device)
        rows = []
        for p, g in zip(ps, gs):
            d = _std(p)
            if g is None:
                rows.append(torch.stack([d, nan, nan]))
            else:
                gf = g.double()
                rows.append(torch.stack([d, gf.mean(), _std(g)]))
        hists = None
        if self._mode == "full" and self.matrices:
            hs = []
            for j in self.matrices:
                g = gs[j]
                if g is None:
                    hs.append(torch.full((self.bins + 1,), float("nan"), device=ps[0].device))
                    continue
                lim = g.float().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs().amax().clamp_min(1e-12)
                hs.append(torch.cat([_hist(g, -lim, lim, self.bins), lim.view(1)]))
            hists = torch.stack(hs)
        return {"rows": torch.stack(rows), "hists": hists, "before": [p.clone() for p in ps] if before else []}

    # --- ending a recorded step ----------------------------------------------------------------------------
    def _warn(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(msg, WatchWarning, stacklevel=4)

    def _param_part(self) -> tuple[dict, torch.Tensor | None]:
        pre = self._pre
        if pre is None:  # no optimizer (or scope.step came first): read the parameters as they are now
            if self.optimizer is not None:
                self._warn("order", "initscope.watch: the optimizer did not step before scope.step(loss); call "
                           "scope.step(loss) after optimizer.step() (update:data is not measured for this step)")
            pre = self._pre = self._read_params(before=False)
        return pre, self._update

    def end_full(self, step: int, loss: float, lr: float) -> tuple[Snapshot, np.ndarray]:
        """The snapshot of the recorded step (one transfer to the host for all of it), and its row of the
        per-step tier (as `end_scalars` gives it, on the host)."""
        row = self.end_scalars(keep=True).cpu().numpy()
        pre, upd = self._param_part()
        self._check_backward(step)
        bins = self.bins
        dev_rows, dev_hists = [], []
        nan = float("nan")
        dev = self._device()
        nan_t = torch.tensor(nan, dtype=torch.float64, device=dev)
        for acc in self._acc:
            if acc.calls == 0:  # not called at this step (an unused or conditional module): NaN, no histogram
                dev_rows.append(torch.full((9,), nan, dtype=torch.float64, device=dev))
                dev_hists.append(torch.zeros(2, bins, device=dev))
                continue
            std = (acc.m2 / max(acc.n - 1, 1)).sqrt()
            g_mean = acc.g_mean if acc.g_mean is not None else nan_t
            g_std = (acc.g_m2 / max(acc.g_n - 1, 1)).sqrt() if acc.g_m2 is not None else nan_t
            sat = acc.sat / acc.n if acc.sat is not None else nan_t
            dead = acc.dead.sum(dtype=torch.float64) if acc.dead is not None else torch.zeros_like(nan_t)
            g_lim = acc.g_lim.double() if acc.g_lim is not None else nan_t
            dev_rows.append(torch.stack([acc.mean.to(dev), std.to(dev), sat.to(dev), dead.to(dev),
                                         acc.lo.double().to(dev), acc.hi.double().to(dev), g_mean.to(dev),
                                         g_std.to(dev), g_lim.to(dev)]))
            dev_hists.append(torch.stack([acc.counts, acc.g_counts if acc.g_counts is not None
                                          else torch.zeros(bins, device=acc.counts.device)]).to(dev))
        parts = [torch.cat(dev_rows).reshape(-1)] if dev_rows else []
        if pre["rows"] is not None:
            parts.append(pre["rows"].reshape(-1))
            parts.append(upd.double() if upd is not None else torch.full((len(self.params),), nan, dtype=torch.float64,
                                                                            device=pre["rows"].device))
        hparts = [torch.stack(dev_hists).reshape(-1)] if dev_hists else []
        if pre.get("hists") is not None:
            hparts.append(pre["hists"].reshape(-1))
        rows = torch.cat([p.cpu() for p in parts]).numpy() if parts else np.zeros(0)
        hist = torch.cat([h.float().cpu() for h in hparts]).numpy() if hparts else np.zeros(0, np.float32)
        nl = len(self.layers)
        lrows = rows[: 9 * nl].reshape(nl, 9)
        lhist = hist[: 2 * nl * bins].reshape(nl, 2, bins)
        snap = Snapshot(step=step, loss=loss, lr=lr, ref_loss=self.ref_loss)
        for i, info in enumerate(self.layers):
            r = lrows[i].tolist()
            lo, hi = (r[4], r[5]) if math.isfinite(r[4]) and math.isfinite(r[5]) else (0.0, 1.0)
            g_lim = r[8] if math.isfinite(r[8]) else 1.0
            snap.layers.append(LayerStats(
                index=i, name=info.name, kind=info.kind, mean=r[0], std=r[1], saturation=r[2], dead=int(r[3]) if math.isfinite(r[3]) else 0,
                width=info.width, hist=Histogram(lhist[i, 0].copy(), lo, hi), grad_mean=r[6], grad_std=r[7],
                grad_hist=Histogram(lhist[i, 1].copy(), -g_lim, g_lim)))
        if pre["rows"] is not None:
            np_ = len(self.params)
            prow = rows[9 * nl: 9 * nl + 3 * np_].reshape(np_, 3)
            pupd = rows[9 * nl + 3 * np_: 9 * nl + 4 * np_]
            phist = hist[2 * nl * bins:].reshape(len(self.matrices), bins + 1) if pre.get("hists") is not None else None
            mi = {j: m for m, j in enumerate(self.matrices)}
            for j, (name, p) in enumerate(self.params):
                d, gm, gs = prow[j].tolist()
                u = float(pupd[j])
                gh = None
                if phist is not None and j in mi and math.isfinite(float(phist[mi[j], -1])):
                    lim = float(phist[mi[j], -1])
                    gh = Histogram(phist[mi[j], :-1].copy(), -lim, lim)
                snap.params.append(ParamStats(
                    name=name, shape=tuple(p.shape), is_matrix=p.dim() >= 2, data_std=d, grad_mean=gm, grad_std=gs,
                    grad_data=gs / d if d > 0 else nan, update_data_log10=_log10_ratio(u, d), grad_hist=gh))
        self._acc, self._pre, self._update = [], None, None
        return snap, row

    def end_scalars(self, keep: bool = False) -> torch.Tensor:
        """The per-step tier's row of the recorded step, on the device: saturation, std and grad std per layer
        (in `self.layers` order; NaN where not defined), then log10 update:data per matrix."""
        pre, upd = self._param_part()
        dev = self._device()
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=dev)
        sat, std, gstd = [], [], []
        for acc in self._acc:
            if acc.calls == 0:
                sat.append(nan), std.append(nan), gstd.append(nan)
                continue
            sat.append(acc.sat / acc.n if acc.sat is not None else nan)
            std.append((acc.m2 / max(acc.n - 1, 1)).sqrt())
            gstd.append((acc.g_m2 / max(acc.g_n - 1, 1)).sqrt() if acc.g_m2 is not None else nan)
        parts = [torch.stack(sat + std + gstd)] if self._acc else []
        if self.matrices:
            if upd is not None and pre["rows"] is not None:
                d = pre["rows"][self.matrices, 0]
                parts.append(torch.log10(upd[self.matrices].double() / d))
            else:
                parts.append(torch.full((len(self.matrices),), float("nan"), dtype=torch.float64, device=dev))
        if not keep:
            self._acc, self._pre, self._update = [], None, None
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)

    def _device(self) -> torch.device:
        for _, p in self.params:
            return p.device
        for acc in self._acc:
            if acc.mean is not None:
                return acc.mean.device
        return torch.device("cpu")

    def _check_backward(self, step: int) -> None:
        if any(a.calls for a in self._acc) and not any(a.grads for a in self._acc) and self.params \
                and all(p.grad is None for _, p in self.params):
            self._warn("backward", f"initscope.watch: no backward pass reached the model at step {step}; call "
                       "loss.backward() before scope.step(loss) (gradient statistics are missing)")
        if not any(a.calls for a in self._acc) and self.layers:
            self._warn("forward", f"initscope.watch: no forward pass of the model was seen at step {step} "
                       "(is this the model you train?)")


def _std(t: torch.Tensor) -> torch.Tensor:
    """Unbiased std in float64 (as torch.std); 0 for a single value, NaN for none."""
    t = t.detach()
    n = t.numel()
    if n == 0:
        return torch.tensor(float("nan"), dtype=torch.float64, device=t.device)
    if n == 1:
        return torch.zeros((), dtype=torch.float64, device=t.device)
    return t.double().std()


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
