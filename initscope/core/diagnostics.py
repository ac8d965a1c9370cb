"""Per-layer and per-parameter statistics: the numbers every panel shows.

Computed only on snapshot steps, from tensors the forward pass kept (`Net.forward_keep`), with one
host transfer at the end. A Snapshot is plain data (floats and numpy arrays), safe to hand to
another thread and to keep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from initscope.core.config import DiagConfig
from initscope.core.model import Net


@dataclass
class Histogram:
    """Equal-width bins over [lo, hi]."""

    counts: np.ndarray
    lo: float
    hi: float

    def centers(self) -> np.ndarray:
        n = len(self.counts)
        w = (self.hi - self.lo) / n
        return self.lo + w * (np.arange(n) + 0.5)

    def density(self) -> np.ndarray:
        """Counts normalised so the curve integrates to 1 (torch.histogram(density=True))."""
        total = float(self.counts.sum())
        width = (self.hi - self.lo) / len(self.counts)
        if total <= 0 or width <= 0:
            return np.zeros_like(self.counts, dtype=np.float64)
        return self.counts / (total * width)


@dataclass
class LayerStats:
    index: int  # position in the layer stack
    name: str  # "L2 Tanh"
    kind: str  # "tanh" | "relu"
    mean: float
    std: float
    saturation: float  # fraction 0..1: |out| > threshold (tanh) or out == 0 (ReLU)
    dead: int  # neurons saturated for every example of the batch: no gradient flows through them
    width: int
    hist: Histogram
    grad_mean: float
    grad_std: float
    grad_hist: Histogram


@dataclass
class ParamStats:
    name: str  # "L3 Linear.weight"
    shape: tuple[int, ...]
    is_matrix: bool  # 2-D weights are what the lecture's ratio plots show; 1-D are flagged
    data_std: float
    grad_mean: float
    grad_std: float
    grad_data: float  # std(grad) / std(weight)
    update_data_log10: float  # log10(std(lr * grad) / std(weight)); ~ -3 is healthy
    grad_hist: Histogram | None


@dataclass
class Snapshot:
    step: int
    loss: float
    lr: float
    ref_loss: float  # ln(vocab): the loss of a uniform guess
    layers: list[LayerStats] = field(default_factory=list)
    params: list[ParamStats] = field(default_factory=list)

    def layer(self, name: str) -> LayerStats:
        return next(layer for layer in self.layers if layer.name == name)

    def param(self, name: str) -> ParamStats:
        return next(p for p in self.params if p.name == name)

    def to_dict(self, histograms: bool = False) -> dict:
        def f(x: float) -> float | None:
            return x if math.isfinite(x) else None  # JSON has no NaN / inf

        def h(hist: Histogram | None) -> dict | None:
            if hist is None:
                return None
            return {"lo": hist.lo, "hi": hist.hi, "counts": hist.counts.astype(int).tolist()}

        layers = []
        for s in self.layers:
            d = {"index": s.index, "name": s.name, "kind": s.kind, "mean": f(s.mean), "std": f(s.std),
                 "saturation": f(s.saturation), "dead": s.dead, "width": s.width,
                 "grad_mean": f(s.grad_mean), "grad_std": f(s.grad_std)}
            if histograms:
                d["hist"], d["grad_hist"] = h(s.hist), h(s.grad_hist)
            layers.append(d)
        params = []
        for p in self.params:
            d = {"name": p.name, "shape": list(p.shape), "is_matrix": p.is_matrix, "data_std": f(p.data_std),
                 "grad_mean": f(p.grad_mean), "grad_std": f(p.grad_std), "grad_data": f(p.grad_data),
                 "update_data_log10": f(p.update_data_log10)}
            if histograms:
                d["grad_hist"] = h(p.grad_hist)
            params.append(d)
        return {"step": self.step, "loss": f(self.loss), "lr": self.lr, "ref_loss": self.ref_loss,
                "layers": layers, "params": params}


def _hist(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    """Histogram with tensor bounds (torch.histc needs Python floats, i.e. a host sync)."""
    span = (hi - lo).clamp_min(1e-12)
    idx = ((x.detach().flatten() - lo) / span * bins).floor().clamp_(0, bins - 1).long()
    return torch.bincount(idx, minlength=bins).to(torch.float32)


def collect(net: Net, outs: list[torch.Tensor], loss: torch.Tensor, lr: float, step: int,
            diag: DiagConfig) -> Snapshot:
    """Statistics of the kept layer outputs and of every parameter, after backward (and the update, if any).

    update:data uses the weights as they are now, after the update, as the lecture does.
    """
    bins, thr = diag.hist_bins, diag.saturation_threshold
    rows: list[torch.Tensor] = []  # one row of scalars per layer / parameter, moved to the host at once
    hists: list[torch.Tensor] = []
    layer_meta = []
    with torch.no_grad():
        for i, (spec, out) in enumerate(zip(net.specs, outs)):
            if spec.kind not in ("tanh", "relu"):
                continue
            o = out.detach()
            g = out.grad if out.grad is not None else torch.zeros_like(o)
            if spec.kind == "tanh":
                sat_mask = o.abs() > thr
                lo, hi = o.new_tensor(-1.0), o.new_tensor(1.0)
            else:
                sat_mask = o == 0
                lo, hi = o.new_tensor(0.0), o.max().clamp_min(1e-6)
            gm = g.abs().max().clamp_min(1e-12)
            rows.append(torch.stack([o.mean(), o.std(), sat_mask.float().mean(), sat_mask.all(0).sum().float(),
                                     g.mean(), g.std(), lo, hi, -gm, gm]))
            hists += [_hist(o, lo, hi, bins), _hist(g, -gm, gm, bins)]
            layer_meta.append((i, net.names[i], spec.kind, o.shape[1]))
        n_layer_rows = len(rows)
        param_meta = []
        for name, p in net.named_params():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            d_std, g_std = p.detach().std(), g.std()
            gm = g.abs().max().clamp_min(1e-12)
            rows.append(torch.stack([d_std, g.mean(), g_std, g_std / d_std, torch.log10(lr * g_std / d_std),
                                     -gm, gm, gm, gm, gm]))
            if p.dim() == 2:
                hists.append(_hist(g, -gm, gm, bins))
            param_meta.append((name, tuple(p.shape), p.dim() == 2))
        table = torch.stack(rows).double().cpu().numpy() if rows else np.zeros((0, 10))
        hist_arr = torch.stack(hists).cpu().numpy() if hists else np.zeros((0, bins), np.float32)
        loss_v = float(loss.detach().cpu())
    snap = Snapshot(step=step, loss=loss_v, lr=lr, ref_loss=math.log(net.vocab_size))
    h = 0
    for (idx, name, kind, width), r in zip(layer_meta, table[:n_layer_rows]):
        snap.layers.append(LayerStats(
            index=idx, name=name, kind=kind, mean=r[0], std=r[1], saturation=r[2], dead=int(r[3]), width=width,
            hist=Histogram(hist_arr[h], r[6], r[7]), grad_mean=r[4], grad_std=r[5],
            grad_hist=Histogram(hist_arr[h + 1], r[8], r[9])))
        h += 2
    for (name, shape, is_matrix), r in zip(param_meta, table[n_layer_rows:]):
        gh = None
        if is_matrix:
            gh = Histogram(hist_arr[h], r[5], r[6])
            h += 1
        snap.params.append(ParamStats(name=name, shape=shape, is_matrix=is_matrix, data_std=r[0], grad_mean=r[1],
                                      grad_std=r[2], grad_data=r[3], update_data_log10=r[4], grad_hist=gh))
    return snap


def bn_buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.named_buffers()}


def step0_snapshot(net: Net, x: torch.Tensor, y: torch.Tensor, lr: float, diag: DiagConfig) -> Snapshot:
    """What this init does: one forward and backward on a batch, no update, net left as it was."""
    saved = bn_buffers(net)  # a training-mode forward moves BatchNorm's running stats; put them back
    was_training = net.training
    net.train()
    net.zero_grad(set_to_none=True)
    logits, outs = net.forward_keep(x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    snap = collect(net, outs, loss, lr, 0, diag)
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        for k, v in net.named_buffers():
            v.copy_(saved[k])
    net.train(was_training)
    return snap
