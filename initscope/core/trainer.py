"""The training loop: minibatch SGD with a step schedule, cheap on ordinary steps, full diagnostics on snapshot steps.

Runs in the caller's thread. Another thread may call pause() / resume() / stop(); each takes effect
at the next step boundary. Progress (new losses, maybe a snapshot) goes to a callback in chunks, so
ordinary steps never synchronise with the host.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from initscope.core.budget import EVAL_CHUNK
from initscope.core.config import Config
from initscope.core.data import Dataset
from initscope.core.diagnostics import (
    Snapshot,
    StepStats,
    collect,
    forward_for_diagnostics,
    step0_snapshot,
)
from initscope.core.errors import ConfigError
from initscope.core.history import GrowArray
from initscope.core.messages import Progress, RunStatus
from initscope.core.model import LSUV_BATCH, Net, build_net
from initscope.core.runaway import RunawayCheck

FLUSH_EVERY = 25  # steps between progress reports (losses are read from the device in chunks this size)


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for, but CUDA is not available on this machine; use 'cpu'")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"device '{name}' does not exist ({torch.cuda.device_count()} CUDA device(s))")
    return torch.device(name)


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads; default 1: for batch-32 matmuls of this size one thread is fastest,
    and it leaves the other cores to the GUI. Call before torch does work."""
    n = 1 if n is None else n
    if n < 1:
        raise ConfigError(f"threads must be at least 1, got {n}")
    torch.set_num_threads(n)
    return n


def warm_up_optimizer() -> None:
    """Pay torch.optim's one-time cost (its first optimizer imports torch._dynamo, about 1 s) now, e.g. while a
    training process waits for its first run, instead of at that run's first step."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)


class Trainer:
    def __init__(self, cfg: Config, data: Dataset, stop_event=None, run_event=None, batch_seed: int | None = None):
        """stop_event / run_event: threading.Event-like flags (multiprocessing.Event when another process
        controls the run); fresh threading.Events by default.

        batch_seed: draw minibatch indices from a generator of their own, seeded with it, instead of the init
        generator (the lecture's way). An A/B pair needs this: two nets of different sizes draw different
        amounts at init, and would otherwise see different batches."""
        if data.block_size != cfg.model.block_size:
            raise ConfigError(f"config field 'model.block_size' is {cfg.model.block_size} but the data was built with {data.block_size}")
        self.cfg = cfg
        self.data = data
        self.device = resolve_device(cfg.train.device)
        # one generator for the initial weights and then every minibatch, as in the lecture
        self.gen = torch.Generator().manual_seed(cfg.train.seed)
        # LSUV calibrates on the first training examples (no draw from the generator: other schemes unchanged)
        lsuv_x = data.splits["train"][0][:LSUV_BATCH] if cfg.init.scheme == "lsuv" else None
        self.net: Net = build_net(cfg, data.vocab.size, self.gen, lsuv_x).to(self.device)
        self.batch_gen = self.gen if batch_seed is None else torch.Generator().manual_seed(batch_seed)
        self.xtr, self.ytr = (t.to(self.device) for t in data.splits["train"])
        self._opt: torch.optim.SGD | None = None  # made on the first step: see `opt`
        self.step = 0
        self.status = RunStatus.READY
        self.message = ""
        self._losses = GrowArray()  # the complete loss curve; doubles when full, so appends stay O(chunk)
        self._runaway = RunawayCheck(math.log(data.vocab.size))  # divergence without NaN
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._running = run_event if run_event is not None else threading.Event()
        if run_event is None:  # a flag handed in is its owner's: a pause set before this trainer existed holds
            self._running.set()

    @property
    def opt(self) -> torch.optim.SGD:
        """The optimizer, made when first needed. torch.optim's first optimizer imports torch._dynamo (and
        sympy): about 1 s here, which an init preview, a sweep or the window's first preview never needs."""
        if self._opt is None:
            self._opt = torch.optim.SGD(self.net.parameters(), lr=self.cfg.train.lr)
        return self._opt

    @property
    def losses(self) -> np.ndarray:
        """Every step's loss so far (a view; copy it to keep it past the next step)."""
        return self._losses.data

    # --- control (any thread) ----------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused loop must wake up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # --- schedule and batches ----------------------------------------------
    def lr_at(self, step: int) -> float:
        t = self.cfg.train
        if t.lr_decay_step and step >= t.lr_decay_step:
            return t.lr * t.lr_decay_factor
        return t.lr

    def _batch_ix(self, gen: torch.Generator) -> torch.Tensor:
        return torch.randint(0, self.xtr.shape[0], (self.cfg.train.batch_size,), generator=gen)

    def init_snapshot(self) -> Snapshot:
        """Step-0 diagnostics on the very batch the first step will use, leaving the run untouched."""
        peek = torch.Generator().manual_seed(0)
        peek.set_state(self.batch_gen.get_state())  # same indices as step 0, without consuming them
        ix = self._batch_ix(peek).to(self.device)
        return step0_snapshot(self.net, self.xtr[ix], self.ytr[ix], self.lr_at(0), self.cfg.diag)

    # --- the loop ------------------------------------------------------------
    def train(self, on_progress: Callable[[Progress], None] | None = None, steps: int | None = None,
              until: int | None = None) -> str:
        """Train until `steps` (default: the config's) or a stop; returns the final status.

        until=K trains up to step K of the same run (min(K, cfg.train.steps)): Progress.total stays the
        config's steps and the status stays RUNNING while K is short of it, so A/B turns of 25 steps report
        the whole run. `steps` instead makes a run of that many steps (total = steps, FINISHED at its end).
        A run that ends (finished or stopped) gets a snapshot at its final step (`final_snapshot`)."""
        total = self.cfg.train.steps if steps is None else steps
        end = total if until is None else min(until, total)
        every = self.cfg.diag.snapshot_every
        net, opt, gen = self.net, self.opt, self.batch_gen
        net.train()
        pending: list[torch.Tensor] = []  # detached losses not yet read back
        chunk_start = self.step
        t0, step0 = time.perf_counter(), self.step
        lr = self.lr_at(self.step)
        for group in opt.param_groups:
            group["lr"] = lr
        self.status = RunStatus.RUNNING
        snap: Snapshot | None = None
        per_step = StepStats(net, self.cfg.diag) if self.cfg.diag.step_stats else None
        while self.step < end:
            if self._stop.is_set():
                self.status = RunStatus.STOPPED
                break
            if not self._running.is_set():
                if pending:  # paused: report every step done so far, not the last 25-step chunk's end
                    if not self._flush(pending, chunk_start, snap, on_progress, total, t0, step0, lr, per_step):
                        return self.status
                    pending, chunk_start, snap = [], self.step, None
                self._running.wait()
                t0, step0 = time.perf_counter(), self.step  # speed is measured while running only
                continue
            step = self.step
            new_lr = self.lr_at(step)
            if new_lr != lr:
                lr = new_lr
                for group in opt.param_groups:
                    group["lr"] = lr
            ix = self._batch_ix(gen).to(self.device)
            xb, yb = self.xtr[ix], self.ytr[ix]
            take = step % every == 0
            if take or per_step is not None:
                # snapshot steps retain every non-Linear layer's gradient; per-step-tier steps the activations' only
                logits, outs = forward_for_diagnostics(net, xb, all_layers=take)
            else:
                logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            pending.append(loss.detach())
            self.step += 1
            if per_step is not None:
                per_step.record(step, outs, lr)
            if take:
                snap = collect(net, outs, loss, lr, step, self.cfg.diag)
            if take or per_step is not None:
                del outs
            if take or len(pending) >= FLUSH_EVERY or self.step >= end:
                if not self._flush(pending, chunk_start, snap, on_progress, total, t0, step0, lr, per_step):
                    return self.status
                pending, chunk_start, snap = [], self.step, None
        if pending and not self._flush(pending, chunk_start, snap, on_progress, total, t0, step0, lr, per_step):
            return self.status
        if self.status == RunStatus.RUNNING and self.step >= total:
            self.status = RunStatus.FINISHED
        ended = self.status in (RunStatus.FINISHED, RunStatus.STOPPED)
        final = self.final_snapshot() if ended and self.step > 0 else None
        if on_progress is not None:
            on_progress(Progress(self.step, total, self.step, np.zeros(0, np.float32), lr,
                                 self._speed(t0, step0), final, self.status, self.message))
        return self.status

    def final_snapshot(self) -> Snapshot:
        """Diagnostics at the current weights, labelled with the steps done (issue 9: a 300-step run ends with
        a snapshot at step 300, not at its last multiple of snapshot_every). One forward and backward on the
        batch the next step would use, without an update or consuming the generator (as init_snapshot)."""
        peek = torch.Generator().manual_seed(0)
        peek.set_state(self.batch_gen.get_state())
        ix = torch.randint(0, self.xtr.shape[0], (self.cfg.train.batch_size,), generator=peek).to(self.device)
        snap = step0_snapshot(self.net, self.xtr[ix], self.ytr[ix], self.lr_at(self.step), self.cfg.diag)
        snap.step = self.step
        return snap

    def _speed(self, t0: float, step0: int) -> float:
        dt = time.perf_counter() - t0
        return (self.step - step0) / dt if dt > 0 else 0.0

    def _flush(self, pending, chunk_start, snap, on_progress, total, t0, step0, lr, per_step=None) -> bool:
        """Read a chunk of losses back, check for divergence, report. False when the run diverged."""
        chunk = torch.stack(pending).float().cpu().numpy()
        scalars = per_step.take() if per_step is not None else None
        bad = ~np.isfinite(chunk)
        status = RunStatus.RUNNING
        if bad.any():
            n = int(np.argmax(bad))
            chunk = chunk[: n + 1]
            self.step = chunk_start + n + 1
            status = self.status = RunStatus.DIVERGED
            self.message = f"diverged at step {chunk_start + n}: loss is {chunk[n]}; lower the learning rate or fix the init"
        elif (why := self._runaway.check(chunk, snap, chunk_start)) is not None:
            status, self.status, self.message = RunStatus.DIVERGED, RunStatus.DIVERGED, why
        self._losses.extend(chunk)
        if on_progress is not None:
            if scalars is not None:
                scalars = scalars.head(len(chunk))  # a diverged chunk is cut at the bad step
            on_progress(Progress(self.step, total, chunk_start, chunk, lr, self._speed(t0, step0), snap, status,
                                 self.message, scalars))
        return status != RunStatus.DIVERGED

    # --- after training --------------------------------------------------------
    def split_loss(self, split: str) -> float:
        """Mean loss over a whole split in eval mode (BatchNorm uses its running statistics)."""
        return mean_loss(self.net, *self.data.splits[split])

    def split_losses(self, on_split: Callable[[int, str], None] | None = None) -> dict[str, float]:
        """Each split's mean loss; on_split(i, name) before split i (a long word list takes seconds: say so)."""
        out = {}
        for i, s in enumerate(("train", "val", "test")):
            if on_split is not None:
                on_split(i, s)
            out[s] = self.split_loss(s)
        return out

    @torch.no_grad()
    def calibrate_batchnorm(self) -> None:
        """Set every BatchNorm's running mean/var from the whole training set (the lecture's calibrate cell).

        Layer by layer, each with the layers before it already calibrated and in eval mode.
        """
        net = self.net
        was = net.training
        net.eval()
        x = self.xtr
        for _, mod in net.flat:  # inside residual branches too
            if not isinstance(mod, torch.nn.BatchNorm1d):
                continue
            acc = {"s": 0.0, "ss": 0.0, "n": 0}

            def hook(_m, args, acc=acc):
                h = args[0].double()
                acc["s"] = acc["s"] + h.sum(0)
                acc["ss"] = acc["ss"] + (h * h).sum(0)
                acc["n"] += h.shape[0]

            handle = mod.register_forward_pre_hook(hook)
            try:
                for i in range(0, x.shape[0], EVAL_CHUNK):
                    net(x[i:i + EVAL_CHUNK])
            finally:
                handle.remove()
            n = acc["n"]
            mean = acc["s"] / n
            var = (acc["ss"] - n * mean * mean) / max(n - 1, 1)  # unbiased, as BatchNorm keeps it
            mod.running_mean.copy_(mean.to(mod.running_mean.dtype))
            mod.running_var.copy_(var.clamp_min(0).to(mod.running_var.dtype))
        net.train(was)

    def sample(self, k: int = 20, seed: int = 2147483647 + 10, max_len: int = 50) -> list[str]:
        """k names from the model, each drawn token by token until '.' (seeded, so repeatable)."""
        return sample_names(self.net, self.data.vocab.itos, self.cfg.model.block_size, k, seed, max_len)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The weights as plain numpy arrays (for another process or a saved run)."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.net.state_dict().items()}


@torch.no_grad()
def mean_loss(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy of `net` over all of (x, y) in eval mode (BatchNorm on its running statistics), in chunks
    of EVAL_CHUNK examples (the memory budget counts one chunk); the net's train/eval mode is restored."""
    device = next(net.parameters()).device
    was = net.training
    net.eval()
    total = 0.0
    for i in range(0, x.shape[0], EVAL_CHUNK):
        xb, yb = x[i:i + EVAL_CHUNK].to(device), y[i:i + EVAL_CHUNK].to(device)
        total += float(F.cross_entropy(net(xb), yb, reduction="sum"))
    net.train(was)
    return total / max(int(x.shape[0]), 1)


@torch.no_grad()
def sample_names(net: Net, itos, block_size: int, k: int = 20, seed: int = 2147483647 + 10,
                 max_len: int = 50) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    was = net.training
    net.eval()
    device = next(net.parameters()).device
    out = []
    for _ in range(k):
        ctx = [0] * block_size
        chars = []
        for _ in range(max_len):
            logits = net(torch.tensor([ctx], device=device))
            probs = F.softmax(logits.float().cpu(), dim=1)
            ix = int(torch.multinomial(probs, 1, generator=g))
            if ix == 0:
                break
            chars.append(itos[ix])
            ctx = ctx[1:] + [ix]
        out.append("".join(chars))
    net.train(was)
    return out
