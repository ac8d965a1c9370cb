"""The plain-data results of the diagnostics: a Snapshot (per-layer and per-parameter statistics at one step)
and StepScalars (the per-step tier). Floats and numpy arrays only, so they can be kept, handed to another
thread and unpickled in a process that has not imported torch (the window, at start-up, takes its first init
preview from the training process). core/diagnostics.py computes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


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
    sat_map: np.ndarray | None = None  # bool (batch, width): saturated (tanh) / zero (ReLU); the dead-neuron map


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


@dataclass
class StepScalars:
    """Per-step scalars of the steps first_step .. first_step + k - 1 (rows), in the order of a Snapshot's
    layers (columns of saturation / act_std / grad_std) and of its weight matrices (columns of update_log10)."""

    first_step: int
    saturation: np.ndarray  # (k, layers) fraction 0..1, as LayerStats.saturation
    act_std: np.ndarray  # (k, layers)
    grad_std: np.ndarray  # (k, layers): std of the gradient at the layer's output
    update_log10: np.ndarray  # (k, matrices): log10(std(lr * grad) / std(weight)) after the update

    def __len__(self) -> int:
        return len(self.saturation)

    def steps(self) -> np.ndarray:
        return np.arange(self.first_step, self.first_step + len(self))

    def head(self, k: int) -> StepScalars:
        return StepScalars(self.first_step, self.saturation[:k], self.act_std[:k], self.grad_std[:k],
                           self.update_log10[:k])


@dataclass
class ModelInfo:
    """What a watched run's file says of its model (`initscope.watch`): the layers and trainable parameters its
    snapshots describe, in order."""

    cls: str
    layers: list[tuple[str, str, int]] = field(default_factory=list)  # (qualified name, class name, units)
    params: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (qualified name, shape)

    @property
    def matrices(self) -> list[str]:
        return [n for n, s in self.params if len(s) >= 2]

    def to_dict(self) -> dict:
        return {"class": self.cls, "layers": [{"name": n, "kind": k, "width": w} for n, k, w in self.layers],
                "params": [{"name": n, "shape": list(s)} for n, s in self.params]}
