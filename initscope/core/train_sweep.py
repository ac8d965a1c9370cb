"""Training sweeps: a spec (a base config, one or two swept fields, seeds, steps) becomes a list of jobs; each
job is an ordinary run of the core Trainer, and the results are aggregated per point.

A job carries plain data only (the base config as a dict, the field names and values, the seed), so it can
cross a process boundary or go to a Ray worker. `run_job` is the one function every backend calls, which is
why the backends agree bit for bit: same config, same data, one torch thread, same Trainer.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from initscope.core.config import (
    ACTIVATIONS,
    MAX_LAYERS,
    NORM_CHOICES,
    RESIDUAL_SCALINGS,
    SCHEMES,
    Config,
    deep_stack,
    stack_norm,
)
from initscope.core.data import Dataset, Vocab
from initscope.core.errors import ConfigError, UserError
from initscope.core.messages import RunStatus

MAX_SEEDS = 1000  # as the init sweeps' --seeds
MAX_JOBS = 100_000  # runs in one sweep: the job list and the results stay a few MB
MAX_DEPTH = MAX_LAYERS // 4  # blocks of up to four layers (Linear, norm, activation, residual)
CURVE_POINTS = 200  # each job's loss curve comes back as at most this many bin means

# field -> (what a value must be, help). The conversion lives in `coerce_value`, the effect in `apply_field`.
SWEEP_FIELDS: dict[str, str] = {
    "gain": "number: the gain of every hidden Linear",
    "output_factor": "number: the output layer's scaling factor (turns output scaling on)",
    "depth": "integer: hidden Linear + activation blocks (the stack is rebuilt as the deep net)",
    "width": "integer: the width of every hidden Linear",
    "lr": "number: the learning rate",
    "scheme": f"{' | '.join(SCHEMES)}: the init scheme",
    "batchnorm": "on | off: a BatchNorm after every Linear (as the window's toggle does it)",
    "norm": f"{' | '.join(NORM_CHOICES)}: the normalisation after every Linear (as the window's choice does it)",
    "residual_scaling": f"{' | '.join(RESIDUAL_SCALINGS)}: how each residual branch's last Linear starts",
}
_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}


# --- values ---------------------------------------------------------------------

def parse_value(text: str) -> Any:
    """One value as typed: an integer, a decimal or a fraction (5/3) becomes a number; anything else a string."""
    s = text.strip()
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    try:
        v = float(s)
        if math.isfinite(v):
            return v
    except ValueError:
        pass
    m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d*)?)\s*/\s*(\d+(?:\.\d*)?)\s*", s)
    if m and float(m.group(2)) != 0:
        return float(Fraction(m.group(1)) / Fraction(m.group(2)))
    return s


def parse_values(text: str) -> list[Any]:
    """'0.25,0.5,1,5/3' -> [0.25, 0.5, 1, 1.6667]; 'off,on' -> ['off', 'on']."""
    parts = [p for p in (q.strip() for q in text.split(",")) if p]
    if not parts:
        raise UserError(f"no values in {text!r}; give a comma-separated list, e.g. 0.5,1,5/3")
    return [parse_value(p) for p in parts]


def coerce_value(name: str, value: Any) -> Any:
    """The value in the field's own type; a UserError naming the field if it cannot be (a typo, not a job)."""
    if name not in SWEEP_FIELDS:
        raise UserError(f"cannot sweep {name!r}; choose one of: {', '.join(SWEEP_FIELDS)}")
    if name in ("gain", "output_factor", "lr"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{name}: {value!r} is not a number")
        return float(value)
    if name in ("depth", "width"):
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or float(value) != int(value)):
            raise UserError(f"{name}: {value!r} is not an integer")
        if name == "depth" and not 1 <= int(value) <= MAX_DEPTH:  # 3,000,000 blocks hung building the stack
            raise UserError(f"depth: {int(value):,} is not from 1 to {MAX_DEPTH}")
        return int(value)  # a width the config refuses is its own cell's error
    for key, choices in (("scheme", SCHEMES), ("norm", NORM_CHOICES), ("residual_scaling", RESIDUAL_SCALINGS)):
        if name == key:
            if value not in choices:
                raise UserError(f"{name}: {value!r} is not one of {', '.join(choices)}")
            return value
    # batchnorm
    key = str(value).lower() if not isinstance(value, bool) else ("on" if value else "off")
    if key in _ON:
        return True
    if key in _OFF:
        return False
    raise UserError(f"batchnorm: {value!r} is not on or off")


def apply_field(cfg: Config, name: str, value: Any) -> Config:
    """A copy of cfg with one field set; validated like any config (ConfigError naming the field)."""
    v = coerce_value(name, value)
    d = cfg.to_dict()
    if name == "gain":
        d["init"]["gain"] = v
    elif name == "output_factor":
        d["init"]["output_scaling"], d["init"]["output_factor"] = True, v
    elif name == "lr":
        d["train"]["lr"] = v
    elif name in ("scheme", "residual_scaling"):
        d["init"][name] = v
    elif name == "norm":
        return Config.from_dict(cfg.with_norm(v).to_dict())
    elif name == "width":
        last = max((i for i, s in enumerate(cfg.model.layers) if s.kind == "linear"), default=-1)
        for i, layer in enumerate(d["model"]["layers"]):
            if layer["kind"] == "linear" and i != last:
                layer["width"] = v
    elif name == "depth":
        if v < 1:
            raise ConfigError(f"depth must be at least 1, got {v}")
        width = next((s.width for s in cfg.model.layers if s.kind == "linear" and s.width), 100)
        has_res = any(s.kind == "residual" for s in cfg.model.layers)
        act = next((t.kind for s in cfg.model.layers for t in (s.layers or [s]) if t.kind in ACTIVATIONS), "tanh")
        stack = deep_stack(v, width, activation=act, norm=stack_norm(cfg.model.layers), residual=has_res)
        d["model"]["layers"] = Config(model=replace(cfg.model, layers=stack)).to_dict()["model"]["layers"]
    else:  # batchnorm
        return Config.from_dict(cfg.with_batchnorm(v).to_dict())
    return Config.from_dict(d)


# --- spec and jobs --------------------------------------------------------------

@dataclass
class Job:
    """One run: plain data only, so it pickles cheaply to a worker process or a Ray task."""

    index: int
    i: int  # position in values
    j: int  # position in values2 (0 without a second field)
    value: Any
    value2: Any
    seed: int
    steps: int
    base: dict  # the base config as a dict
    param: str
    param2: str | None
    save_path: str | None = None  # write the run here (runfile format) when set

    def run(self, data: Dataset, stop_event=None) -> JobResult:
        """What a backend calls: every job kind (this one, core/width.py's WidthJob) runs through its own run()."""
        return run_job(self, data, stop_event)

    def config(self) -> Config:
        """The job's config; a ConfigError if this point is not a valid config (reported in its cell)."""
        cfg = apply_field(Config.from_dict(self.base), self.param, self.value)
        if self.param2:
            cfg = apply_field(cfg, self.param2, self.value2)
        d = cfg.to_dict()
        d["train"]["steps"] = self.steps
        d["train"]["seed"] = self.seed
        return Config.from_dict(d)


@dataclass
class SweepSpec:
    base: Config
    param: str
    values: list[Any]
    param2: str | None = None
    values2: list[Any] = field(default_factory=list)
    seeds: int = 1
    steps: int = 1000
    target_loss: float | None = None  # report the step at which the (bin-averaged) loss first reaches it

    def validate(self) -> None:
        if not self.values:
            raise UserError("a sweep needs at least one value")
        for v in self.values:
            coerce_value(self.param, v)
        if self.param2:
            if self.param2 == self.param:
                raise UserError(f"--param2 {self.param2} is the same field as --param")
            if not self.values2:
                raise UserError(f"--param2 {self.param2} needs --values2")
            for v in self.values2:
                coerce_value(self.param2, v)
        elif self.values2:
            raise UserError("--values2 needs --param2")
        if not 1 <= self.seeds <= MAX_SEEDS:  # 10,000,000 seeds hung making the job list
            raise UserError(f"--seeds must be from 1 to {MAX_SEEDS}, got {self.seeds}")
        n = len(self.values) * max(1, len(self.values2)) * self.seeds
        if n > MAX_JOBS:
            raise UserError(f"{n:,} runs ({len(self.values)} values x {max(1, len(self.values2))} x {self.seeds} seeds): "
                            f"at most {MAX_JOBS:,} in one sweep")
        if self.steps < 1:
            raise UserError(f"steps must be at least 1, got {self.steps}")

    @property
    def variants(self) -> list[Any]:
        return list(self.values2) if self.param2 else [None]

    def jobs(self, save_dir: str | Path | None = None) -> list[Job]:
        """Every (value, value2, seed), in that order. Seeds are the base seed + 0, 1, ... (as the init sweeps)."""
        self.validate()
        base = self.base.to_dict()
        out: list[Job] = []
        for i, v in enumerate(self.values):
            for j, v2 in enumerate(self.variants):
                for k in range(self.seeds):
                    n = len(out)
                    path = None
                    if save_dir is not None:
                        path = str(Path(save_dir) / f"job{n:03d}_{_slug(self.param, v)}"
                                   f"{'_' + _slug(self.param2, v2) if self.param2 else ''}_seed{k}.initscope")
                    out.append(Job(n, i, j, v, v2, self.base.train.seed + k, self.steps, base, self.param,
                                   self.param2, path))
        return out


def _slug(name: str, value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return name + "-" + re.sub(r"[^A-Za-z0-9.+-]", "_", text)


# --- running one job --------------------------------------------------------------

@dataclass
class JobResult:
    index: int
    status: str  # a RunStatus: FINISHED, DIVERGED, ERROR or STOPPED (read back from a sweep JSON: its word)
    message: str = ""
    train: float | None = None
    val: float | None = None
    init_loss: float | None = None
    steps: int = 0  # steps actually run
    seconds: float = 0.0
    curve_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # bin end steps
    curve: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # bin means of the loss
    run_path: str | None = None


def decimate(losses: np.ndarray, points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(bin end steps, bin means): bins of ceil(n/points) steps; a non-finite loss stays non-finite."""
    n = len(losses)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    size = -(-n // points)
    starts = np.arange(0, n, size)
    ends = np.minimum(starts + size, n)
    means = np.add.reduceat(np.asarray(losses, np.float64), starts) / (ends - starts)
    return ends.astype(np.int64), means.astype(np.float32)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def run_job(job: Job, data: Dataset, stop_event=None) -> JobResult:
    """Train one job to the end (or a stop), evaluate train and val; any failure is this job's result."""
    import torch

    from initscope.core.trainer import Trainer

    t0 = time.perf_counter()
    try:
        cfg = job.config()
        trainer = Trainer(cfg, data, stop_event=stop_event)
        history = None
        if job.save_path:
            from initscope.core.history import History

            history = History()
            init = trainer.init_snapshot()
            history.set_init(init)

            def on_progress(p) -> None:
                if p.snapshot is not None:
                    history.add_snapshot(p.snapshot)
                if len(p.losses):
                    history.add_losses(p.first_step, p.losses)
        else:
            on_progress = None
        try:
            status = trainer.train(on_progress)
        except RuntimeError:
            # a run whose weights went NaN/inf can crash the diagnostics of a snapshot step (histograms of NaN)
            # before the trainer's own check sees the loss; that is this run diverging, not a broken job
            if all(bool(torch.isfinite(p).all()) for p in trainer.net.parameters()):
                raise
            status = trainer.status = RunStatus.DIVERGED
            trainer.message = f"diverged by step {trainer.step}: the weights are not finite"
        losses = trainer.losses.copy()
        res = JobResult(job.index, status, trainer.message, steps=trainer.step,
                        init_loss=_finite(float(losses[0])) if len(losses) else None)
        res.curve_steps, res.curve = decimate(losses)
        split: dict[str, float] = {}
        if status == RunStatus.FINISHED:
            # the test split only for a saved run (the report shows it); a sweep compares train and val
            split = {s: trainer.split_loss(s) for s in (("train", "val", "test") if job.save_path else ("train", "val"))}
            res.train, res.val = _finite(split["train"]), _finite(split["val"])
            if res.val is None:
                res.status, res.message = RunStatus.DIVERGED, "the val loss is not finite"
        if job.save_path:
            _save(job, trainer, history, cfg, data, split)
            res.run_path = job.save_path
    except UserError as e:
        res = JobResult(job.index, RunStatus.ERROR, str(e))
    except Exception as e:  # noqa: BLE001 - a broken job is reported in its own cell, the sweep goes on
        res = JobResult(job.index, RunStatus.ERROR, f"{type(e).__name__}: {e}")
    res.seconds = time.perf_counter() - t0
    return res


def _save(job: Job, trainer, history, cfg: Config, data: Dataset, split: dict[str, float]) -> None:
    from initscope.core.runfile import SavedRun, history_arrays, replay_arrays, save_run

    arrays, names = history_arrays(history)
    snaps = history.whole_snapshots()
    save_run(job.save_path, SavedRun(
        config=cfg, vocab=list(data.vocab.itos), data_path=data.path, status=trainer.status,
        message=trainer.message, steps=trainer.step, losses=trainer.losses.copy(), history=arrays, names=names,
        snapshots=snaps, split_losses=split, state_dict=trainer.net.state_dict(), replay=replay_arrays(history)))


# --- data shipped to workers ---------------------------------------------------------

@dataclass
class DataPayload:
    """A Dataset as numpy arrays: pickles compactly to a worker and lives in Ray's object store as is."""

    path: str
    itos: tuple[str, ...]
    block_size: int
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    n_words: int

    @classmethod
    def of(cls, data: Dataset) -> DataPayload:
        return cls(data.path, tuple(data.vocab.itos), data.block_size,
                   {k: (x.numpy(), y.numpy()) for k, (x, y) in data.splits.items()}, len(data.words))

    def dataset(self) -> Dataset:
        import torch

        # copies: Ray hands out read-only arrays, and torch wants writable memory
        splits = {k: (torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y))) for k, (x, y) in self.splits.items()}
        return Dataset(path=self.path, words=[""] * self.n_words, vocab=Vocab(tuple(self.itos)),
                       block_size=self.block_size, splits=splits)


# --- aggregation -------------------------------------------------------------------

@dataclass
class SweepPoint:
    value: Any
    value2: Any
    runs: list[tuple[Job, JobResult | None]]  # one per seed; None while not yet run

    def _vals(self, key: str) -> list[float]:
        return [getattr(r, key) for _, r in self.runs if r is not None and getattr(r, key) is not None]

    @property
    def train_mean(self) -> float | None:
        v = self._vals("train")
        return float(np.mean(v)) if v else None

    @property
    def val_mean(self) -> float | None:
        v = self._vals("val")
        return float(np.mean(v)) if v else None

    @property
    def val_std(self) -> float | None:
        v = self._vals("val")
        return float(np.std(v)) if v else None  # population std over the seeds that finished

    @property
    def init_loss(self) -> float | None:
        v = self._vals("init_loss")
        return float(np.mean(v)) if v else None

    @property
    def diverged(self) -> bool:
        return any(r is not None and r.status == RunStatus.DIVERGED for _, r in self.runs)

    def target_step(self, target: float | None) -> int | None:
        """The mean over seeds of the first step whose bin-averaged loss is <= target (None if any seed never does)."""
        if target is None:
            return None
        hits = []
        for _, r in self.runs:
            if r is None or not len(r.curve):
                return None
            ok = np.nonzero(r.curve <= target)[0]
            if not len(ok):
                return None
            hits.append(int(r.curve_steps[ok[0]]))
        return round(float(np.mean(hits)))


class SweepResults:
    """Results as they arrive, grouped by point; `to_dict` is the CLI's JSON."""

    def __init__(self, spec: SweepSpec, jobs: list[Job]):
        self.spec = spec
        self.jobs = jobs
        self.results: dict[int, JobResult] = {}
        self.backend = ""
        self.workers = 0
        self.wall_seconds = 0.0
        self.interrupted = False  # Ctrl+C or cancel: the results hold what finished before

    def add(self, res: JobResult) -> None:
        self.results[res.index] = res

    @property
    def done(self) -> int:
        return len(self.results)

    def points(self) -> list[SweepPoint]:
        pts: dict[tuple[int, int], SweepPoint] = {}
        for job in self.jobs:
            p = pts.setdefault((job.i, job.j), SweepPoint(job.value, job.value2, []))
            p.runs.append((job, self.results.get(job.index)))
        return [pts[k] for k in sorted(pts)]

    def to_dict(self) -> dict:
        s = self.spec
        points = []
        for p in self.points():
            runs = [{"seed": job.seed, "train": r.train, "val": r.val, "status": r.status, "seconds": round(r.seconds, 3),
                     **({"message": r.message} if r.message else {})}
                    for job, r in p.runs if r is not None]
            points.append({"value": p.value, "value2": p.value2, "train_mean": p.train_mean, "val_mean": p.val_mean,
                           "val_std": p.val_std, "init_loss": p.init_loss, "diverged": p.diverged, "runs": runs,
                           **({"target_step": p.target_step(s.target_loss)} if s.target_loss is not None else {})})
        return {"param": s.param, "values": list(s.values), "param2": s.param2,
                "values2": list(s.values2) if s.param2 else None, "steps": s.steps, "seeds": s.seeds,
                "points": points, "backend": self.backend, "workers": self.workers,
                "wall_seconds": round(self.wall_seconds, 3)}


def read_sweep_json(path: str | Path, base: Config | None = None) -> SweepResults:
    """A sweep saved by `to_dict` (the app's Save, or `sweep train --json-out`), beside its writer: the points'
    final losses (a saved sweep keeps no curves). `base` is the config the spec is applied to (the JSON names the
    fields swept, not the rest). A file that is not such a sweep is a UserError naming it."""
    from initscope.core.files import read_json

    d = read_json(path, UserError)
    try:
        values2 = d["values2"] if d.get("param2") else []
        spec = SweepSpec(base or Config.from_dict({}), d["param"], list(d["values"]), d.get("param2"), values2,
                         int(d["seeds"]), int(d["steps"]))
        spec.validate()
        results = SweepResults(spec, spec.jobs())
        for n, point in enumerate(d["points"]):
            for k, run in enumerate(point["runs"]):
                results.add(JobResult(n * spec.seeds + k, str(run["status"]), str(run.get("message", "")),
                                      train=run["train"], val=run["val"], seconds=float(run["seconds"])))
        results.backend, results.workers = str(d.get("backend", "")), int(d.get("workers", 0))
        results.wall_seconds = float(d.get("wall_seconds", 0.0))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{path}: not a training sweep JSON ({type(e).__name__}: {e})") from None
    return results


def check_job_memory(jobs: list[Job], data: Dataset, concurrent: int = 1) -> None:
    """Refuse a sweep whose `concurrent` biggest jobs would not fit in memory together (core/budget.py's estimate
    and limit), before any starts. Jobs whose config is invalid are skipped: they fail in their own cell."""
    from initscope.core import budget
    from initscope.core.budget import check_memory, format_bytes

    n = sum(int(x.shape[0]) for x, _ in data.splits.values())
    need: dict[str, tuple[int, Job]] = {}
    for job in jobs:
        try:
            cfg = job.config()
        except ConfigError:
            continue
        key = repr((cfg.model, cfg.train.batch_size))
        if key not in need:
            need[key] = (check_memory(cfg, n, vocab_size=data.vocab.size), job)  # one job alone must fit
    limit = budget.default_limit()
    if not need or limit is None:
        return
    biggest = sorted((b for b, _ in need.values()), reverse=True)
    k = max(1, min(concurrent, len(jobs)))
    total = biggest[0] * k  # the worst case: the biggest job on every worker at once
    if total > limit:
        raise UserError(f"{k} runs at once need about {format_bytes(total)} of memory (limit {format_bytes(limit)}); "
                        "use fewer workers or a smaller net")
