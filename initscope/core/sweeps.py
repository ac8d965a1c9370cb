"""Init explorer sweeps: at-init statistics of every activation layer across gains, or across depths.

Each point averages over several init seeds (each seed draws its own weights and its own batch, from one
generator, as a training run would), so the curves are smooth. Results are plain lists, ready for JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from initscope.core.config import _TITLES as _TITLE
from initscope.core.config import ACTIVATIONS, GAIN_RANGE, NORM_CHOICES, Config, deep_stack, field_spec
from initscope.core.data import Dataset
from initscope.core.errors import ConfigError
from initscope.core.kinds import family, saturated
from initscope.core.model import LSUV_BATCH, Net, build_net, init_weights


@dataclass
class SweepResult:
    axis: str  # "gains" | "depths"
    values: list[float]
    layers: list[dict] = field(default_factory=list)  # {"name", "saturation": [...], "std": [...], "grad_std": [...]}

    def to_dict(self) -> dict:
        def clean(xs):
            return [None if x is None or not np.isfinite(x) else float(x) for x in xs]

        return {self.axis: list(self.values),
                "layers": [{**{k: v for k, v in layer.items() if k not in ("saturation", "std", "grad_std")},
                            "saturation": clean(layer["saturation"]), "std": clean(layer["std"]),
                            "grad_std": clean(layer["grad_std"])} for layer in self.layers]}


def init_layer_stats(cfg: Config, data: Dataset, seed: int, net: Net | None = None) -> tuple[list[str], np.ndarray]:
    """(names, array[layers, 3]) of saturation, std and gradient std of each activation layer, one init, one batch.

    `net`, when given, must have cfg's stack; it is re-initialised in place (cheaper than building one)."""
    g = torch.Generator().manual_seed(seed)
    if net is None:
        net = build_net(cfg, data.vocab.size, g, data.splits["train"][0][:LSUV_BATCH])
    else:
        init_weights(net, cfg.init, g, data.splits["train"][0][:LSUV_BATCH])
        net.zero_grad(set_to_none=True)
    x, y = data.splits["train"]
    ix = torch.randint(0, x.shape[0], (cfg.train.batch_size,), generator=g)
    logits, outs = net.forward_keep(x[ix])
    F.cross_entropy(logits, y[ix]).backward()
    thr = cfg.diag.saturation_threshold
    names, rows = [], []
    with torch.no_grad():
        for name, spec, o, x_in in zip(net.names, net.specs, outs, [outs.input, *outs[:-1]]):
            if spec.kind not in ACTIVATIONS:
                continue
            sat = saturated(family(spec.kind), x_in, o, thr)
            names.append(name)
            rows.append(torch.stack([sat.float().mean(), o.std(), o.grad.std()]))
        arr = torch.stack(rows).numpy() if rows else np.zeros((0, 3))
    return names, arr


def _mean_over_seeds(cfg: Config, data: Dataset, seeds: int, net: Net | None = None) -> tuple[list[str], np.ndarray]:
    names, acc = [], None
    net = net or Net(cfg, data.vocab.size)
    for k in range(seeds):
        names, arr = init_layer_stats(cfg, data, cfg.train.seed + k, net)
        acc = arr if acc is None else acc + arr
    return names, acc / seeds


def gain_values(lo: float = GAIN_RANGE[0], hi: float = GAIN_RANGE[1], points: int = GAIN_RANGE[2]) -> list[float]:
    if not (0 <= lo < hi) or points < 2:
        raise ConfigError(f"gain sweep needs 0 <= from < to and at least 2 points (got {lo}, {hi}, {points})")
    top = field_spec("init", "gain")[2]  # the config's own bound: a gain of 1e308 overflows every activation
    if hi > top:
        raise ConfigError(f"gain sweep: --to {hi:g} is above the largest gain a config takes ({top:g})")
    return [float(v) for v in np.linspace(lo, hi, points)]


def iter_gain_sweep(cfg: Config, data: Dataset, gains: list[float], seeds: int = 10
                    ) -> Iterator[tuple[int, list[str], np.ndarray]]:
    """Yield (index, layer names, [layers, 3] means) gain by gain, so a view can draw progressively."""
    if seeds < 1:
        raise ConfigError(f"seeds must be at least 1, got {seeds}")
    net = Net(cfg, data.vocab.size)  # one set of modules, re-initialised for every gain and seed
    for i, gain in enumerate(gains):
        c = replace(cfg, init=replace(cfg.init, gain=gain))
        names, arr = _mean_over_seeds(c, data, seeds, net)
        yield i, names, arr


def gain_sweep(cfg: Config, data: Dataset, gains: list[float], seeds: int = 10) -> SweepResult:
    res = SweepResult("gains", gains)
    table = {}
    names: list[str] = []
    for i, names, arr in iter_gain_sweep(cfg, data, gains, seeds):
        table[i] = arr
    for j, name in enumerate(names):
        res.layers.append({"name": name, "saturation": [table[i][j, 0] for i in range(len(gains))],
                           "std": [table[i][j, 1] for i in range(len(gains))],
                           "grad_std": [table[i][j, 2] for i in range(len(gains))]})
    return res


NORM_TAGS = {"none": "", "batchnorm": " (BN)", "layernorm": " (LN)", "rmsnorm": " (RMS)"}


def parse_norms(text: str) -> tuple[str, ...]:
    """'none,layernorm' -> ('none', 'layernorm'); anything else is one ConfigError line."""
    names = tuple(t.strip() for t in str(text).split(",") if t.strip())
    bad = [n for n in names if n not in NORM_CHOICES]
    if not names or bad:
        raise ConfigError(f"normalisations must be a comma-separated list from {', '.join(NORM_CHOICES)}; "
                          f"got {text!r}")
    return tuple(dict.fromkeys(names))


def depth_sweep(cfg: Config, data: Dataset, max_depth: int = 10, width: int = 100, activation: str = "tanh",
                seeds: int = 10, norms: tuple[str, ...] = ("none", "batchnorm"),
                residual: tuple[bool, ...] = (False,)) -> SweepResult:
    """The same block repeated to depth 1..max_depth, once per normalisation in `norms` and per residual
    variant (deep_stack's: a stem Linear, then pre-norm residual blocks).

    Layers are named by activation position ("Tanh 3": the third activation; " (BN)", " (LN)", " (RMS)",
    " res" for the variants), one entry per position and variant; a position deeper than the stack has null."""
    if not 1 <= max_depth <= 20:
        raise ConfigError(f"max depth must be between 1 and 20, got {max_depth}")
    if activation not in ACTIVATIONS:
        raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    depths = list(range(1, max_depth + 1))
    res = SweepResult("depths", depths)
    title = _TITLE[activation]
    for res_on in residual:
        for norm in norms:
            per_depth = []
            for d in depths:
                c = replace(cfg, model=replace(cfg.model, layers=deep_stack(d, width, activation=activation, norm=norm,
                                                                            residual=res_on)),
                            init=replace(cfg.init, residual_scaling=cfg.init.residual_scaling if res_on else "none"))
                per_depth.append(_mean_over_seeds(c, data, seeds)[1])
            for pos in range(max_depth):
                col = [arr[pos] if pos < len(arr) else None for arr in per_depth]
                res.layers.append({"name": f"{title} {pos + 1}{NORM_TAGS[norm]}{' res' if res_on else ''}",
                                   "batchnorm": norm == "batchnorm", "norm": norm, "residual": res_on,
                                   "saturation": [None if c is None else c[0] for c in col],
                                   "std": [None if c is None else c[1] for c in col],
                                   "grad_std": [None if c is None else c[2] for c in col]})
    return res
