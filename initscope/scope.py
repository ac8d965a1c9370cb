"""`initscope.watch` and `initscope.check`: the app's per-layer diagnostics for any PyTorch model, in its
user's own training loop, written to the app's own run file.

    scope = initscope.watch(model, optimizer, save="runs/mine.initscope", every=100)
    for step in range(n):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        scope.step(loss)          # one call per step, after optimizer.step()
    scope.close()                 # or: with initscope.watch(...) as scope:

Step k is what the model's forward and backward passes do between the k-th and the (k+1)-th call of
`scope.step` (the passes before the first call are step 0). Snapshots (histograms and every statistic) are
taken at steps 0, every, 2*every, ...; `every_step="scalars"` adds saturation, std and gradient std per layer
and update:data per matrix at every step. Hooks exist only while a step is recorded, so the steps in between
run exactly as without initscope. Neither Qt nor pyqtgraph is imported: a headless script, a cluster node and a
notebook all work. The file is rewritten atomically, from a background thread, at most every `flush_seconds`
while the run goes on: if the script dies, it opens with every step up to the last flush ("interrupted").
"""

from __future__ import annotations

import atexit
import json
import math
import os
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from initscope.core.errors import UserError
from initscope.core.history import History, decimation_index
from initscope.core.recorder import Recorder, WatchWarning, build_snapshot, model_info, scalars_from_rows, unwrap
from initscope.core.snapshot import Snapshot

__all__ = ["watch", "check", "Scope", "Check", "WatchWarning"]

_WATCHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its open Scope (weakly)
_OPEN: weakref.WeakSet = weakref.WeakSet()  # scopes to close at interpreter exit


def _check_save(save) -> Path:
    from initscope.core.files import check_output_path

    p = Path(save)
    if p.suffix != ".initscope":
        raise UserError(f"save={str(save)!r}: a run file's name ends in .initscope")
    if not p.parent.exists() and not p.parent.is_symlink():
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"save={str(save)!r}: cannot make folder {p.parent} ({e.strerror or e})") from None
    p = check_output_path(p, "save=")
    for stale in p.parent.glob(f".{p.name}.*.tmp"):  # a writer killed mid-write (SIGKILL) left its temporary file
        try:
            stale.unlink()
        except OSError:
            pass
    return p


class _Writer:
    """Writes the run file from a background thread: `submit` hands over the newest state (an older one not yet
    written is dropped), `close` writes the last one from the caller's thread. A failed write (disk full, the
    folder gone) is one warning; the file keeps its last good flush and training goes on."""

    def __init__(self, path: Path):
        self.path = path
        self._json: dict[int, str] = {}  # snapshot step -> its JSON: a flush serialises only new snapshots
        self._replay: dict = {}  # the replay rows' chunks as last written: a flush deflates only those that changed
        self._next = None
        self._cv = threading.Condition()
        self._closed = False
        self._writing = False
        self.failed: str | None = None
        self.last_write_s = 0.0
        self._thread = threading.Thread(target=self._loop, name="initscope-watch-writer", daemon=True)
        self._thread.start()

    def submit(self, run) -> None:
        with self._cv:
            self._next = run
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._next is None and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                run, self._next = self._next, None
                self._writing = True
            try:
                self._write(run)
            finally:
                with self._cv:
                    self._writing = False
                    self._cv.notify_all()

    def wait(self, timeout: float = 60.0) -> None:
        """Until what was submitted is on disk."""
        with self._cv:
            self._cv.wait_for(lambda: self._next is None and not self._writing, timeout)

    def _write(self, run) -> None:
        from initscope.core.files import atomic_write_bytes
        from initscope.core.runfile import _run_bytes

        t0 = time.perf_counter()
        try:
            snaps = []
            for s in run.snapshots:
                j = self._json.get(s.step)
                if j is None:
                    j = self._json[s.step] = json.dumps(s.to_dict(histograms=True))
                snaps.append(j)
            kept = {s.step for s in run.snapshots}
            for step in [k for k in self._json if k not in kept]:
                del self._json[step]
            atomic_write_bytes(self.path, _run_bytes(run, snaps, level=1, replay_cache=self._replay))
            self.failed = None
        except (UserError, OSError) as e:
            if self.failed is None:
                warnings.warn(f"initscope.watch: could not write {self.path} ({e}); training goes on, the file "
                              "keeps its last good flush", WatchWarning, stacklevel=2)
            self.failed = str(e)
        self.last_write_s = time.perf_counter() - t0

    def close(self, final) -> None:
        with self._cv:
            self._closed = True
            self._next = None
            self._cv.notify()
        self._thread.join()
        if final is not None:
            self._write(final)


class Snapshots(Sequence):
    """The kept snapshots of a watched run, oldest first: a read-only sequence of Snapshot objects, made when
    read from the host arrays each was made of (`recorder.build_snapshot`; the latest one is kept as it is).
    Keeping 512 Snapshot objects (~100 Python objects each) cost a snapshot every step a garbage collection
    every few steps, and a full one (~180 ms with torch imported) every few hundred; numpy arrays cost none."""

    def __init__(self):
        self._records: list = []  # the records of recorder.end_full
        self.latest: Snapshot | None = None

    def _add(self, snap: Snapshot, record: tuple) -> None:
        self._records.append(record)
        self.latest = snap

    def _keep(self, idx) -> None:
        self._records = [self._records[i] for i in idx]

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [build_snapshot(r)[0] for r in self._records[i]]
        if self._records and (i == -1 or i == len(self._records) - 1):
            return self.latest
        return build_snapshot(self._records[i])[0]

    def __repr__(self) -> str:
        return f"<{len(self)} snapshots: steps {[r[1] for r in self._records]}>"


class Scope:
    """A watched model: call `step(loss)` once per training step, after `optimizer.step()`; `close()` at the end
    (or use it as a context manager). `history` holds what the app's panels draw; `snapshots` the kept ones."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *, save=None,
                 every: int = 100, every_step: str | None = None, name: str = "", bins: int = 50,
                 threshold: float = 0.97, classes: int | None = None, flush_seconds: float = 0.5,
                 max_snapshots: int = 512):
        if not isinstance(model, nn.Module):
            raise UserError(f"initscope.watch needs a torch.nn.Module, got {type(model).__name__}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise UserError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise UserError(f"every must be a whole number of steps >= 1, got {every!r}")
        if every_step not in (None, "scalars"):
            raise UserError(f"every_step must be None or 'scalars', got {every_step!r}")
        if isinstance(bins, bool) or not isinstance(bins, int) or not 4 <= bins <= 1000:
            raise UserError(f"bins must be a whole number from 4 to 1000, got {bins!r}")
        if not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
            raise UserError(f"threshold must be between 0 and 1, got {threshold!r}")
        if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 2):
            raise UserError(f"classes must be a whole number >= 2 (the uniform guess is ln(classes)), got {classes!r}")
        if isinstance(max_snapshots, bool) or not isinstance(max_snapshots, int) or max_snapshots < 2:
            raise UserError(f"max_snapshots must be a whole number >= 2, got {max_snapshots!r}")
        inner = unwrap(model)
        other = _WATCHED.get(inner)
        if other is not None and other() is not None and not other().closed:
            raise UserError("this model is already watched; close the first scope (scope.close()) before watching it again")
        self.path = _check_save(save) if save is not None else None
        self.every, self.every_step = every, every_step
        self.name = name or type(inner).__name__
        self.flush_seconds = float(flush_seconds)
        self.max_snapshots = max_snapshots
        self.rec: Recorder | None = Recorder(inner, optimizer, bins=bins, threshold=float(threshold),
                                             ref_loss=math.log(classes) if classes else float("nan"))
        self.layer_names = [i.name for i in self.rec.layers]
        self.history = History(max_step_rows=32768, all_layers=True)
        self.snapshots = Snapshots()
        self.steps = 0
        self.closed = False
        self.status, self.message = "running", ""
        self._losses: list = []  # this flush's losses: tensors (read back together) or floats
        # this flush's per-step rows: (plan, (steps, length) device raw sums) blocks, or host rows (snapshot steps);
        # the recorder may hold the latest steps' rows back (deferred: recorder.RING_BYTES) until a flush
        self._rows: list = []
        self._rows_first: int | None = None  # the step of this flush's first row
        self._last_flush = time.monotonic()
        self._writer = _Writer(self.path) if self.path is not None else None
        self._started = time.time()
        if not self.rec.layers:
            warnings.warn(f"initscope.watch: {type(inner).__name__} has no modules to look at; only the loss is "
                          "recorded", WatchWarning, stacklevel=3)
        _WATCHED[inner] = weakref.ref(self)
        _OPEN.add(self)
        self.rec.begin(self._mode(0))
        if self._writer is not None:
            self._flush()  # the file exists (and can be followed) from the start

    # --- the loop -------------------------------------------------------------------------------------------
    def _mode(self, k: int) -> str | None:
        if k % self.every == 0:
            return "full"
        return "scalars" if self.every_step == "scalars" else None

    def _lr(self) -> float:
        opt = self.rec.optimizer if self.rec else None
        if opt is None or not opt.param_groups:
            return float("nan")
        lr = opt.param_groups[0].get("lr", float("nan"))
        return float(lr)  # a tensor lr (some schedulers) costs a sync, on snapshot steps only

    def step(self, loss=None) -> None:
        """End the current step: record its loss (a tensor or a number) and, if it was recorded, its statistics."""
        if self.closed:
            raise UserError("scope.step() after scope.close(); watch the model again to record more")
        k = self.steps
        if isinstance(loss, torch.Tensor):
            # a 0-d detached tensor (read back with the flush's others, one transfer)
            loss_v = loss.detach() if loss.dim() == 0 else loss.detach().reshape(-1)[0] if loss.numel() else \
                torch.tensor(float("nan"))
        elif loss is None:
            loss_v = float("nan")
        else:
            try:
                loss_v = float(loss)
            except (TypeError, ValueError):
                raise UserError(f"scope.step(loss): loss must be a tensor or a number, got {type(loss).__name__}") from None
        self._losses.append(loss_v)
        mode = self.rec._mode
        if mode == "full":
            snap, row, packed, record = self.rec.end_full(k, loss_v, self._lr())  # the loss comes back with it
            self._keep(snap, packed, record)
            if self.every_step == "scalars":
                self._add_rows(k, self.rec.take_pending())  # the steps before it first
                self._rows.append(row)
        elif mode == "scalars":
            self._add_rows(k, self.rec.end_scalars())
        self.steps = k + 1
        self.rec.begin(self._mode(k + 1))
        # with no file too: the history (what a notebook reads, and the losses and rows held until then) is
        # brought up to date every flush_seconds, not only at close
        if time.monotonic() - self._last_flush >= self._flush_interval():
            self._flush()

    def _add_rows(self, k: int, blocks: list) -> None:
        """Step k was recorded by the per-step tier; `blocks` are the rows that came out (often none: deferred)."""
        if self._rows_first is None:
            self._rows_first = k
        self._rows += blocks

    def _keep(self, snap: Snapshot, packed: dict, record: tuple) -> None:
        if snap.step == 0:
            self.history.set_init(snap)
        self.history.add_snapshot(snap, packed)
        self.snapshots._add(snap, record)
        if len(self.snapshots) > self.max_snapshots:  # thinned evenly, the first and the latest always kept
            self.snapshots._keep(decimation_index(len(self.snapshots)))

    def _flush_interval(self) -> float:
        # a large file takes a while to write: never spend more than a fifth of the time writing
        return max(self.flush_seconds, 5 * (self._writer.last_write_s if self._writer else 0.0))

    def _drain(self) -> None:
        """Move this flush's losses and per-step rows to the history: one transfer for each."""
        if self._losses:
            first = self.steps - len(self._losses)
            tensors = [v for v in self._losses if isinstance(v, torch.Tensor)]
            # one transfer for the whole flush (tensors of one device; a model split over devices: one each)
            devs = {t.device for t in tensors}
            host = (torch.stack(tensors).float().cpu().numpy() if len(devs) == 1 else
                    torch.stack([t.cpu() for t in tensors]).float().numpy()) if tensors else np.zeros(0)
            vals, it = [], iter(host.tolist())
            for v in self._losses:
                vals.append(next(it) if isinstance(v, torch.Tensor) else v)
            self.history.add_losses(first, np.asarray(vals, np.float32))
            self._losses = []
        if self.rec is not None:
            self._rows += self.rec.take_pending()
        if self._rows:
            # the per-step tier's raw sums, one transfer for the flush, then each run of steps with the same
            # plan finished at once (host rows of snapshot steps are already finished)
            dev = [r[1].reshape(-1) for r in self._rows if isinstance(r, tuple)]
            devs = {t.device for t in dev}
            host = (torch.cat(dev) if len(devs) == 1 else torch.cat([t.cpu() for t in dev])).cpu() if dev else None
            flat = host.double().numpy() if host is not None else None
            rows, a, k = [], 0, 0
            while k < len(self._rows):
                r = self._rows[k]
                if not isinstance(r, tuple):
                    rows.append(r[None])
                    k += 1
                    continue
                plan, steps, c = r[0], r[1].shape[0], 1
                while k + c < len(self._rows) and isinstance(self._rows[k + c], tuple) and self._rows[k + c][0] is plan:
                    steps += self._rows[k + c][1].shape[0]
                    c += 1
                n = plan.length
                rows.append(plan.finish(flat[a: a + steps * n].reshape(steps, n)))
                a, k = a + steps * n, k + c
            rows = np.concatenate(rows)
            self.history.add_step_scalars(scalars_from_rows(self._rows_first, rows, len(self.layer_names)))
            self._rows = []
        self._rows_first = None

    def _saved_run(self, status: str):
        from initscope.core.hints import hints
        from initscope.core.runfile import STEP_KEYS, SavedRun, history_arrays, replay_arrays

        h = self.history
        arrays, names = history_arrays(h)
        if h.saturation is None:
            arrays, names = {}, {"layers": [], "matrices": []}
        step_history = {}
        if h.step_saturation is not None:
            step_history = dict(zip(STEP_KEYS, (a.data.copy() for a in h._step_arrays())))
            names = {"layers": list(self.layer_names), "matrices": _matrix_names(self.rec)}
        latest = self.snapshots.latest
        # the file holds step 0 and the latest snapshots whole, as an app run's does (SavedRun.from_history);
        # every snapshot is in its replay rows. Serialising every kept snapshot as JSON cost the writer ~0.4 ms a
        # snapshot, and deflating all of them again at every flush grew with the run
        snaps = h.whole_snapshots()
        return SavedRun(
            config=None, vocab=[], data_path="", status=status, message=self.message if status != "running" else "",
            steps=len(h.loss), losses=h.loss.data.copy(), history=arrays, names=names, snapshots=snaps,
            hints=hints(latest) if latest is not None else [], source="watch", model=model_info(self.rec),
            step_history=step_history, replay=replay_arrays(h),
            writer={"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time(),
                    "started": self._started, "name": self.name} if status == "running" else {"name": self.name})

    def _flush(self, status: str = "running") -> None:
        self._drain()
        if self._writer is not None:
            self._writer.submit(self._saved_run(status))
        self._last_flush = time.monotonic()

    def flush(self, wait: bool = False) -> None:
        """Write the run file now (it is also written every `flush_seconds` while training, and at close);
        with `wait`, return once it is on disk."""
        if not self.closed:
            self._flush()
            if wait and self._writer is not None:
                self._writer.wait()

    # --- the end --------------------------------------------------------------------------------------------
    def close(self, status: str = "finished", message: str = "") -> None:
        """Remove every hook, write the file a last time, and let go of the model and optimizer."""
        if self.closed:
            return
        self.closed = True
        self.status, self.message = status, message
        if self.rec is not None:
            self.rec.begin(None)
            self._drain()
            final = self._saved_run(status) if self._writer is not None else None
            self.rec.close()
            inner = self.rec.model
            if _WATCHED.get(inner) is not None:
                del _WATCHED[inner]
            self.rec = None  # a closed scope holds no reference to the model
        else:
            final = None
        if self._writer is not None:
            self._writer.close(final)
        _OPEN.discard(self)

    def __enter__(self) -> Scope:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            why = "KeyboardInterrupt" if exc_type is KeyboardInterrupt else f"{exc_type.__name__}: {exc}"
            self.close("interrupted", f"the script stopped at step {self.steps}: {why}"[:500])

    def __del__(self):
        try:
            if not self.closed and self.rec is not None:
                self.rec.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # --- reading --------------------------------------------------------------------------------------------
    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots.latest

    def hints(self) -> list[str]:
        from initscope.core.hints import hints

        return hints(self.latest) if self.latest is not None else []

    def __repr__(self) -> str:
        where = f", save={str(self.path)!r}" if self.path else ""
        return f"<initscope.Scope {self.name} step {self.steps}{where}{' closed' if self.closed else ''}>"


def _matrix_names(rec: Recorder) -> list[str]:
    return [rec.params[j][0] for j in rec.matrices]


@atexit.register
def _close_open_scopes() -> None:
    for scope in list(_OPEN):
        try:
            scope.close("interrupted", "the script ended without scope.close()")
        except Exception:  # noqa: BLE001 - at exit: never a traceback over the user's own
            pass


def watch(model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *, save=None, every: int = 100,
          every_step: str | None = None, **kwargs) -> Scope:
    """Watch `model` (and `optimizer`, for update:data) in your own training loop; see this module's docstring.

    save: a `.initscope` file, rewritten while the run goes on (`initscope gui --follow FILE` shows it live);
    every: a full snapshot every this many steps; every_step="scalars": the per-step tier.
    Other keywords: name, bins (50), threshold (0.97, tanh's), classes (the panels' uniform-guess line is at
    ln(classes)), flush_seconds (0.5: how often the file is written and `history` brought up to date, with or
    without a file), max_snapshots (512, thinned evenly)."""
    return Scope(model, optimizer, save=save, every=every, every_step=every_step, **kwargs)


# --- at init, without training -------------------------------------------------------------------------------
class Check:
    """What one forward (and backward) of a model does at init: `snapshot`, `hints`, `table()`, `to_json()`."""

    def __init__(self, snapshot: Snapshot, hints: list[str], name: str):
        self.snapshot, self.hints, self.name = snapshot, hints, name

    def table(self) -> str:
        return layer_table(self.snapshot)

    def to_json(self) -> dict:
        d = self.snapshot.to_dict(histograms=True)
        return {"model": self.name, "loss": d["loss"], "layers": d["layers"], "params": d["params"],
                "hints": list(self.hints)}

    def __repr__(self) -> str:
        return self.table() + ("\n\nhints:\n" + "\n".join(f"  - {h}" for h in self.hints) if self.hints else "")


def check(model: nn.Module, example_batch, loss_fn=None, *, quiet: bool = False, threshold: float = 0.97,
          bins: int = 50) -> Check:
    """The init preview for any model: one forward of `example_batch` (a tensor, or an (inputs, targets) pair),
    and a backward when `loss_fn` is given (`loss_fn(out, targets)`, or `loss_fn(out)` for a lone tensor).
    Prints the per-layer table and hints (unless quiet) and returns a Check. The model is left as it was:
    its gradients, and BatchNorm's running statistics."""
    if not isinstance(model, nn.Module):
        raise UserError(f"initscope.check needs a torch.nn.Module, got {type(model).__name__}")
    inner = unwrap(model)
    rec = Recorder(inner, None, bins=bins, threshold=threshold)
    if loss_fn is None:
        rec._warned.add("backward")  # a forward-only check has no gradients, by request
    grads = {p: p.grad for p in inner.parameters()}
    buffers = {k: v.clone() for k, v in inner.named_buffers()}
    if isinstance(example_batch, (tuple, list)) and len(example_batch) == 2:
        x, target = example_batch
    else:
        x, target = example_batch, None
    try:
        for p in inner.parameters():
            p.grad = None
        rec.begin("full")
        with torch.set_grad_enabled(loss_fn is not None):
            out = model(*x) if isinstance(x, (tuple, list)) else model(x)
            loss = None
            if loss_fn is not None:
                loss = loss_fn(out) if target is None else loss_fn(out, target)
                if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                    raise UserError("loss_fn must return a one-element tensor")
                loss.backward()
        snap, _, _, _ = rec.end_full(0, loss if loss is not None else float("nan"), float("nan"))
    finally:
        rec.close()
        with torch.no_grad():
            for k, v in inner.named_buffers():
                if k in buffers:
                    v.copy_(buffers[k])
        for p, g in grads.items():
            p.grad = g
    from initscope.core.hints import hints

    said = hints(snap)
    result = Check(snap, said, type(inner).__name__)
    if not quiet:
        print(repr(result))
    return result


def _f(x: float, spec: str) -> str:
    return format(x, spec) if math.isfinite(x) else "-"


def layer_table(snap: Snapshot) -> str:
    """Every layer's output statistics, then every parameter's ratios, as the app's tables show them."""
    w = max([5] + [len(s.name) for s in snap.layers])
    rows = [f"{'layer':<{w}}  {'kind':<12} {'units':>6} {'mean':>9} {'std':>9} {'saturated':>9} {'dead':>5} {'grad std':>9}"]
    for s in snap.layers:
        sat = f"{s.saturation:.1%}" if math.isfinite(s.saturation) else "-"
        rows.append(f"{s.name:<{w}}  {s.kind[:12]:<12} {s.width:>6} {_f(s.mean, '.3f'):>9} {_f(s.std, '.3f'):>9} "
                    f"{sat:>9} {s.dead if math.isfinite(s.saturation) else '-':>5} {_f(s.grad_std, '.2e'):>9}")
    if snap.params:
        pw = max([9] + [len(p.name) for p in snap.params])
        rows += ["", f"{'parameter':<{pw}}  {'shape':>12} {'grad:data':>10} {'log10 upd:data':>15}"]
        for p in snap.params:
            rows.append(f"{p.name:<{pw}}  {'x'.join(map(str, p.shape)):>12} {_f(p.grad_data, '.2e'):>10} "
                        f"{_f(p.update_data_log10, '.2f'):>15}")
    return "\n".join(rows)
