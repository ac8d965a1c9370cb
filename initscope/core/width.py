"""Width sweeps ("coordinate checks"): does a net train the same at every width?

Each width of the hidden Linears is trained for T steps from the same seeds on identical minibatches, with SGD or
Adam, under the standard parametrisation or under muP (Yang et al. 2021, "Tensor Programs V"), and the mean |x| of
every layer's output is recorded at steps 0..T (step t: the forward on batch t with the weights after t updates;
step T is one more forward, without an update). Plotted against width on log-log axes, a curve that rises means that
layer's coordinates grow with width: a learning rate tuned on a small net then blows up a big one.

muP here is what the `mup` package does (`set_base_shapes`, `MuReadout`, `MuAdam`, `MuSGD`): a dimension is
"infinite" when it changes with width (found, as `set_base_shapes` finds it, by comparing the net's shapes at
`base_width` and at another width), and its width multiplier is size / size at base_width. See `lr_multiplier`.

A job carries plain data only and runs through `WidthJob.run`, so the training-sweep backends (a local process
pool, Ray; core/sweep_backends.py) run width jobs as they run training jobs.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from initscope.core.config import MAX_WIDTH, Config
from initscope.core.data import Dataset
from initscope.core.errors import ConfigError, UserError
from initscope.core.messages import RunStatus

PARAMETRIZATIONS = ("standard", "mup")
OPTIMIZERS = ("sgd", "adam")
READOUTS = ("scaled", "zero")  # muP's output layer at init: mup's MuReadout default, or readout_zero_init=True
DEFAULT_BASE_WIDTH = 64
MAX_STEPS = 100_000
MAX_SEEDS = 100
FLAT = 0.15  # |log-log slope| at most this: a curve counts as flat (the acceptance bound)


# --- the stack at a width -------------------------------------------------------------

def hidden_linears(cfg: Config) -> list[int]:
    """Indices of the Linears whose width is swept: every Linear but the output one."""
    linears = [i for i, s in enumerate(cfg.model.layers) if s.kind == "linear"]
    return linears[:-1]


def at_width(cfg: Config, width: int) -> Config:
    """A copy of cfg with every hidden Linear `width` wide (a BatchNorm after one follows it)."""
    d = cfg.to_dict()
    for i in hidden_linears(cfg):
        d["model"]["layers"][i]["width"] = int(width)
    return Config.from_dict(d)


def layer_roles(cfg: Config) -> list[str]:
    """Per stack layer: 'input' (the first hidden Linear: its fan-in is the embedding, not width), 'hidden'
    (a width x width Linear), 'output' (the last Linear), or the layer's own kind for the others."""
    hidden = hidden_linears(cfg)
    out = []
    for i, s in enumerate(cfg.model.layers):
        if s.kind != "linear":
            out.append(s.kind)
        elif i not in hidden:
            out.append("output")
        else:
            out.append("input" if i == hidden[0] else "hidden")
    return out


# --- muP's rules ------------------------------------------------------------------------

def _shapes(cfg: Config, vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the net cfg builds, on torch's meta device (nothing allocated)."""
    import torch

    from initscope.core.model import Net

    with torch.device("meta"):
        net = Net(cfg, vocab_size)
    return {name: tuple(p.shape) for name, p in net.named_params()}


def width_mults(cfg: Config, vocab_size: int, base_width: int) -> dict[str, tuple[float | None, ...]]:
    """Per parameter (Net.named_params names), per dimension: its width multiplier (size / size at base_width),
    or None for a dimension that does not change with width ("finite", in mup's words).

    As mup's set_base_shapes: the infinite dimensions are those that differ between the net at base_width and the
    net at another width (a delta), so a net exactly at base_width still knows which of its dimensions scale."""
    mine = _shapes(cfg, vocab_size)
    base = _shapes(at_width(cfg, base_width), vocab_size)
    delta = _shapes(at_width(cfg, base_width + 1), vocab_size)
    return {name: tuple(None if b == d else s / b for s, b, d in zip(shape, base[name], delta[name]))
            for name, shape in mine.items()}


def lr_multiplier(mults: tuple[float | None, ...], optimizer: str) -> float:
    """The factor muP puts on the base learning rate of one parameter, given its dimensions' width multipliers
    (torch layout: a Linear weight is (fan_out, fan_in)).

    Adam (mup.MuAdam): only a matrix-like parameter (two infinite dimensions: a hidden width x width weight) gets
    lr / width_mult, its fan-in's multiplier. Adam normalises each entry's update to about lr, so a hidden weight's
    update moves each output coordinate by lr x fan_in: dividing by width keeps that constant. Vector-like ones
    (one infinite dimension: the input Linear's weight, biases, BatchNorm's gamma and beta, the readout weight)
    keep lr: each output coordinate sums a fixed number of their updates, or the readout's multiplier scales it.

    SGD (mup.MuSGD): a vector-like parameter gets lr x width_mult: under muP every backward signal has passed the
    readout's 1/width multiplier, so its gradient per entry is about 1/width, and its lr must grow as width to
    keep the change per coordinate constant. A matrix-like one gets lr / (fan-in multiplier / fan-out
    multiplier), 1 for a square hidden weight: its gradient is an outer product whose size already scales right.
    Finite ones (the embedding, the output bias) keep lr."""
    inf = [m for m in mults if m is not None]
    if len(inf) > 2:
        raise ValueError("more than two infinite dimensions")
    if optimizer == "adam":
        return 1.0 / mults[-1] if len(inf) == 2 else 1.0  # type: ignore[operator]
    if len(inf) == 1:
        return inf[0]
    if len(inf) == 2:
        return mults[0] / mults[1]  # type: ignore[operator]  # fan-out mult / fan-in mult = 1 / mup's ratio
    return 1.0


def readout_multiplier(cfg: Config, vocab_size: int, base_width: int, parametrization: str) -> float:
    """What the output Linear's input is multiplied by: base_width / width under muP (mup.MuReadout's
    output_mult / width_mult: the logits sum over width coordinates that, once trained, are correlated with the
    readout weights, so the sum grows as width unless divided by it), 1 under the standard parametrisation."""
    if parametrization != "mup":
        return 1.0
    out = _out_weight_name(cfg)
    m = width_mults(cfg, vocab_size, base_width)[out][-1]
    return 1.0 if m is None else 1.0 / m


def _out_weight_name(cfg: Config) -> str:
    last = max(i for i, s in enumerate(cfg.model.layers) if s.kind == "linear")
    return f"L{last} Linear.weight"


def param_groups(net, cfg: Config, vocab_size: int, lr: float, optimizer: str, parametrization: str,
                 base_width: int) -> list[dict]:
    """torch.optim param groups: one per parameter, each with its lr and its name (tests and the JSON read them)."""
    mults = width_mults(cfg, vocab_size, base_width) if parametrization == "mup" else {}
    groups = []
    for name, p in net.named_params():
        f = lr_multiplier(mults[name], optimizer) if parametrization == "mup" else 1.0
        groups.append({"params": [p], "lr": lr * f, "name": name})
    return groups


# --- the spec and its jobs -----------------------------------------------------------------

def parse_widths(text: str) -> list[int]:
    """'64,128,256' -> [64, 128, 256]; a UserError naming the bad entry."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    out = []
    for p in parts:
        try:
            out.append(int(p))
        except ValueError:
            raise UserError(f"--widths: {p!r} is not a whole number") from None
    return out


@dataclass
class WidthSpec:
    base: Config
    widths: list[int]
    parametrization: str = "standard"
    optimizer: str = "adam"
    lr: float = 0.01
    steps: int = 5
    seeds: int = 2
    base_width: int = DEFAULT_BASE_WIDTH
    readout: str = "scaled"
    evaluate: bool = False  # also each run's loss on the whole val split at the end (a learning-rate sweep's score)

    def validate(self) -> None:
        """One line per mistake, naming it (the CLI exits 2 on it, the window shows it)."""
        if self.parametrization not in PARAMETRIZATIONS:
            raise UserError(f"parametrization {self.parametrization!r}: choose standard or mup")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer {self.optimizer!r}: choose sgd or adam")
        if self.readout not in READOUTS:
            raise UserError(f"readout {self.readout!r}: choose scaled or zero")
        for w in self.widths:
            if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WIDTH:
                raise UserError(f"width {w!r}: every width must be a whole number from 1 to {MAX_WIDTH}")
        if len(set(self.widths)) < 2:
            raise UserError("a width sweep needs at least two different widths (a slope needs two points), "
                            f"got {','.join(map(str, self.widths)) or 'none'}")
        if not 1 <= self.base_width <= MAX_WIDTH:
            raise UserError(f"base width must be from 1 to {MAX_WIDTH}, got {self.base_width}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise UserError(f"steps must be from 1 to {MAX_STEPS:,} (T = 0 has no training to check), got {self.steps}")
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise UserError(f"seeds must be from 1 to {MAX_SEEDS}, got {self.seeds}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1e3):
            raise UserError(f"learning rate must be above 0 and at most 1000, got {self.lr}")
        if not hidden_linears(self.base):
            raise UserError("this stack has no hidden Linear (only the output layer): there is no width to sweep")

    def jobs(self, save_dir: str | Path | None = None) -> list[WidthJob]:
        """One per (width, seed), in that order; seeds are the base seed + 0, 1, ... With save_dir, each width's
        first seed also saves its run there (a click on that width opens it)."""
        self.validate()
        base = self.base.to_dict()
        out: list[WidthJob] = []
        for i, w in enumerate(self.widths):
            for k in range(self.seeds):
                path = None
                if save_dir is not None and k == 0:
                    path = str(Path(save_dir) / f"width{w}_{self.parametrization}_{self.optimizer}.initscope")
                out.append(WidthJob(len(out), i, w, k, self.base.train.seed + k, self.steps, self.lr,
                                    self.optimizer, self.parametrization, self.base_width, self.readout, base, path,
                                    self.evaluate))
        return out


@dataclass
class WidthResult:
    index: int
    status: str  # a RunStatus: FINISHED, DIVERGED, ERROR or STOPPED
    message: str = ""
    mean_abs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (steps + 1, layers)
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # the T training losses
    val: float | None = None  # the val split's loss at the end (WidthSpec.evaluate), None if not asked or not finite
    seconds: float = 0.0
    run_path: str | None = None


@dataclass
class WidthJob:
    """One (width, seed) run: plain data only, so it pickles to a pool process or a Ray task."""

    index: int
    i: int  # position in widths
    width: int
    k: int  # seed number
    seed: int
    steps: int
    lr: float
    optimizer: str
    parametrization: str
    base_width: int
    readout: str
    base: dict
    save_path: str | None = None
    evaluate: bool = False

    def config(self) -> Config:
        d = at_width(Config.from_dict(self.base), self.width).to_dict()
        d["train"]["steps"], d["train"]["seed"], d["train"]["lr"] = self.steps, self.seed, self.lr
        return Config.from_dict(d)

    def run(self, data: Dataset, stop_event=None) -> WidthResult:
        """The job's result; any failure is this job's result, never the sweep's."""
        t0 = time.perf_counter()
        try:
            res = _train(self, data, stop_event)
        except UserError as e:
            res = WidthResult(self.index, RunStatus.ERROR, str(e))
        except Exception as e:  # noqa: BLE001 - a broken job is reported in its own cell, the sweep goes on
            res = WidthResult(self.index, RunStatus.ERROR, f"{type(e).__name__}: {e}")
        res.seconds = time.perf_counter() - t0
        return res


def _train(job: WidthJob, data: Dataset, stop_event) -> WidthResult:
    import torch
    import torch.nn.functional as F

    from initscope.core.model import build_net
    from initscope.core.trainer import resolve_device

    cfg = job.config()
    device = resolve_device(cfg.train.device)
    if data.block_size != cfg.model.block_size:
        raise ConfigError(f"config field 'model.block_size' is {cfg.model.block_size} but the data was built "
                          f"with {data.block_size}")
    vocab = data.vocab.size
    g = torch.Generator().manual_seed(job.seed)
    net = build_net(cfg, vocab, g).to(device)  # the app's own init policy (core/model.py:init_weights)
    out_lin = [m for m in net.layers if isinstance(m, torch.nn.Linear)][-1]
    mult = readout_multiplier(cfg, vocab, job.base_width, job.parametrization)
    if job.parametrization == "mup":
        with torch.no_grad():
            if job.readout == "zero":
                out_lin.weight.zero_()  # mup's readout_zero_init: the logits start at the bias, whatever the width
            else:
                # mup's MuReadout._rescale_parameters: x sqrt(width_mult), so with the 1/width_mult multiplier the
                # logits at init are the standard ones x 1/sqrt(width_mult) (they shrink with width, harmlessly)
                out_lin.weight.mul_(1.0 / math.sqrt(mult))
                if out_lin.bias is not None:
                    out_lin.bias.mul_(1.0 / math.sqrt(mult))
        # the multiplier on the readout's input, as MuReadout.forward applies it (bias unscaled)
        out_lin.register_forward_pre_hook(lambda _m, args: (args[0] * mult,))
    init_state = _folded_state(net, out_lin, mult) if job.save_path else None
    groups = param_groups(net, cfg, vocab, job.lr, job.optimizer, job.parametrization, job.base_width)
    opt = (torch.optim.Adam if job.optimizer == "adam" else torch.optim.SGD)(
        [{k: v for k, v in gr.items() if k != "name"} for gr in groups], lr=job.lr)
    xtr, ytr = (t.to(device) for t in data.splits["train"])
    # batches from a generator of their own, seeded with the seed alone: every width sees the same minibatches
    bgen = torch.Generator().manual_seed(job.seed)
    batch = cfg.train.batch_size
    rows: list[torch.Tensor] = []  # per step: mean |x| per layer, kept on the device until the end
    losses: list[torch.Tensor] = []
    net.train()
    status, message = RunStatus.FINISHED, ""
    for step in range(job.steps + 1):
        if stop_event is not None and stop_event.is_set():
            status, message = RunStatus.STOPPED, f"stopped at step {step}"
            break
        ix = torch.randint(0, xtr.shape[0], (batch,), generator=bgen).to(device)
        x = net.embedding(xtr[ix]).flatten(1)
        row = []
        grad = step < job.steps
        with torch.set_grad_enabled(grad):
            for layer in net.layers:
                x = layer(x)
                row.append(x.detach().abs().mean())
        rows.append(torch.stack(row))
        if not grad:
            break  # step T: measured, not trained
        loss = F.cross_entropy(x, ytr[ix])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    mean_abs = torch.stack(rows).float().cpu().numpy() if rows else np.zeros((0, len(net.layers)), np.float32)
    loss_arr = torch.stack(losses).float().cpu().numpy() if losses else np.zeros(0, np.float32)
    if status == RunStatus.FINISHED and not (np.isfinite(mean_abs).all() and np.isfinite(loss_arr).all()):
        bad = int(np.argmax(~np.isfinite(mean_abs).all(1))) if not np.isfinite(mean_abs).all() else len(loss_arr)
        status, message = RunStatus.DIVERGED, f"diverged by step {bad}: an activation or the loss is not finite"
    res = WidthResult(job.index, status, message, mean_abs, loss_arr)
    if job.evaluate and status == RunStatus.FINISHED:
        res.val = _val_loss(net, data)
    if job.save_path and status != RunStatus.STOPPED:
        _save(job, cfg, init_state, _folded_state(net, out_lin, mult), data, loss_arr, status, message)
        res.run_path = job.save_path
    return res


def _val_loss(net, data: Dataset) -> float | None:
    """Mean cross-entropy over the whole val split, BatchNorm on its running statistics (as Trainer.split_loss);
    the multiplier hook is on the net, so these are the trained run's own logits."""
    from initscope.core.trainer import mean_loss

    v = mean_loss(net, *data.splits["val"])
    return v if math.isfinite(v) else None


def _folded_state(net, out_lin, mult: float) -> dict:
    """The net's weights with the readout multiplier folded into the output weight: W x mult computes the same
    logits, so the app's plain Net (which has no multiplier) reproduces the run."""
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    key = next(n for n, m in net.named_modules() if m is out_lin) + ".weight"
    state[key] = state[key] * mult
    return state


def _save(job: WidthJob, cfg: Config, init_state: dict, final_state: dict, data: Dataset, losses: np.ndarray,
          status: str, message: str) -> None:
    """The run as an ordinary run file, which the window opens like any other: the diagnostics at init (batch 0)
    and at the end (the batch step T measured), the loss curve, the final weights."""
    import torch

    from initscope.core.diagnostics import step0_snapshot
    from initscope.core.history import History
    from initscope.core.model import Net
    from initscope.core.runfile import SavedRun, history_arrays, save_run

    xtr, ytr = data.splits["train"]
    g = torch.Generator().manual_seed(job.seed)  # the sweep's batches, drawn again
    batches = [torch.randint(0, xtr.shape[0], (cfg.train.batch_size,), generator=g) for _ in range(len(losses) + 1)]
    snaps = []
    for state, ix, step in ((init_state, batches[0], 0), (final_state, batches[-1], len(losses))):
        plain = Net(cfg, data.vocab.size)
        plain.load_state_dict(state)
        snap = step0_snapshot(plain, xtr[ix], ytr[ix], job.lr, cfg.diag)
        snap.step = step
        snaps.append(snap)
    history = History()
    history.set_init(snaps[0])
    history.add_losses(0, losses)
    if len(losses):
        history.add_snapshot(snaps[1])
    arrays, names = history_arrays(history)
    note = (f"width sweep: {job.parametrization}, {job.optimizer} lr {job.lr:g} (base width {job.base_width}), "
            f"{len(losses)} steps")
    save_run(job.save_path, SavedRun(
        config=cfg, vocab=list(data.vocab.itos), data_path=data.path, status=status,
        message=f"{note}; {message}" if message else note, steps=len(losses), losses=losses, history=arrays,
        names=names, snapshots=snaps if len(losses) else snaps[:1], state_dict=plain.state_dict()))


# --- aggregation ------------------------------------------------------------------------------

def loglog_slope(widths, values) -> float | None:
    """Least-squares slope of log(value) against log(width) over the finite, positive points (None under two)."""
    w, v = np.asarray(widths, np.float64), np.asarray(values, np.float64)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 2 or len(set(w[ok])) < 2:
        return None
    return float(np.polyfit(np.log(w[ok]), np.log(v[ok]), 1)[0])


def _none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class WidthResults:
    """Results as they arrive; per layer, per width, per step: the mean over seeds, the seeds' spread, the slope."""

    def __init__(self, spec: WidthSpec, jobs: list[WidthJob], names: list[str], kinds: list[str], roles: list[str]):
        self.spec, self.jobs = spec, jobs
        self.names, self.kinds, self.roles = names, kinds, roles
        self.results: dict[int, Any] = {}
        self.backend, self.workers, self.wall_seconds, self.interrupted = "", 0, 0.0, False

    @classmethod
    def of(cls, spec: WidthSpec, jobs: list[WidthJob]) -> WidthResults:
        cfg = spec.base
        names = [f"L{i} {s.title}" for i, s in enumerate(cfg.model.layers)]
        return cls(spec, jobs, names, [s.kind for s in cfg.model.layers], layer_roles(cfg))

    def add(self, res) -> None:
        self.results[res.index] = res

    @property
    def done(self) -> int:
        return len(self.results)

    def per_seed(self) -> np.ndarray:
        """(widths, seeds, steps + 1, layers), NaN where a job has not finished (or stopped early)."""
        s = self.spec
        out = np.full((len(s.widths), s.seeds, s.steps + 1, len(self.names)), np.nan)
        for job in self.jobs:
            r = self.results.get(job.index)
            m = getattr(r, "mean_abs", None)
            if m is not None and m.size:
                out[job.i, job.k, :m.shape[0]] = m
        return out

    def mean_abs(self) -> np.ndarray:
        """(layers, widths, steps + 1): the mean over the seeds that have that step (NaN where none has)."""
        a = self.per_seed()
        with np.errstate(invalid="ignore"), _quiet():
            m = np.nanmean(a, axis=1)
        return np.transpose(m, (2, 0, 1))

    def spread(self) -> tuple[np.ndarray, np.ndarray]:
        """(lowest, highest) over seeds, each (layers, widths, steps + 1): the finite-width band."""
        a = self.per_seed()
        with _quiet():
            lo, hi = np.nanmin(a, axis=1), np.nanmax(a, axis=1)
        return np.transpose(lo, (2, 0, 1)), np.transpose(hi, (2, 0, 1))

    def slopes(self, steps: list[int] | None = None) -> np.ndarray:
        """(layers, steps + 1): the log-log slope of mean |x| against width (NaN where it cannot be fitted); only
        at `steps` when given (the window fits the steps it shows, not a thousand)."""
        m = self.mean_abs()
        out = np.full(m.shape[0::2], np.nan)
        for li in range(m.shape[0]):
            for t in (range(m.shape[2]) if steps is None else steps):
                s = loglog_slope(self.spec.widths, m[li, :, t])
                if s is not None:
                    out[li, t] = s
        return out

    def to_dict(self) -> dict:
        s = self.spec
        m, sl = self.mean_abs(), self.slopes()
        lo, hi = self.spread()
        layers = []
        for li, name in enumerate(self.names):
            layers.append({
                "name": name, "kind": self.kinds[li], "role": self.roles[li],
                "mean_abs": [[_none(v) for v in m[li, wi]] for wi in range(len(s.widths))],
                "seed_min": [[_none(v) for v in lo[li, wi]] for wi in range(len(s.widths))],
                "seed_max": [[_none(v) for v in hi[li, wi]] for wi in range(len(s.widths))],
                "slope": [_none(v) for v in sl[li]],
            })
        runs = [{"width": j.width, "seed": j.seed, "status": r.status, "seconds": round(r.seconds, 3),
                 **({"val": r.val} if s.evaluate else {}),
                 **({"message": r.message} if r.message else {})}
                for j in self.jobs if (r := self.results.get(j.index)) is not None]
        return {"parametrization": s.parametrization, "optimizer": s.optimizer, "lr": s.lr,
                "base_width": s.base_width, "readout": s.readout if s.parametrization == "mup" else None,
                "seeds": s.seeds, "widths": list(s.widths), "steps": list(range(s.steps + 1)), "layers": layers,
                "runs": runs, "backend": self.backend, "workers": self.workers,
                "wall_seconds": round(self.wall_seconds, 3)}


@contextmanager
def _quiet():
    """nanmean / nanmin of an all-NaN slice warn; here that only means "not run yet"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def run_width_sweep(spec: WidthSpec, data: Dataset, backend, save_dir=None, on_result=None) -> WidthResults:
    """Every job of `spec` on a training-sweep backend; `on_result(results, result)` as each finishes. Ctrl+C
    keeps what finished (results.interrupted)."""
    from initscope.core.budget import check_memory

    jobs = spec.jobs(save_dir)
    n = sum(int(x.shape[0]) for x, _ in data.splits.values())
    k = 1 if getattr(backend, "address", None) else max(1, min(backend.workers, len(jobs)))
    need = check_memory(at_width(spec.base, max(spec.widths)), n, vocab_size=data.vocab.size)  # one job must fit
    from initscope.core.budget import default_limit, format_bytes

    limit = default_limit()
    if limit is not None and need * k > limit:
        raise UserError(f"{k} runs at once need about {format_bytes(need * k)} of memory "
                        f"(limit {format_bytes(limit)}); use fewer workers or smaller widths")
    from initscope.core.sweep_backends import collect

    return collect(backend, jobs, data, WidthResults.of(spec, jobs), on_result)


def run_local(spec: WidthSpec, data: Dataset) -> WidthResults:
    """Every job in this process, one after another (tests, the README's figure script)."""
    jobs = spec.jobs()
    out = WidthResults.of(spec, jobs)
    t0 = time.perf_counter()
    for job in jobs:
        out.add(job.run(data))
    out.wall_seconds = time.perf_counter() - t0
    return out
