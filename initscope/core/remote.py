"""Run a Trainer in a child process, so training and the caller never share one GIL.

In-process, the GUI's painting (pyqtgraph draws in Python) and the trainer's Python-side dispatch take
turns on one interpreter lock: on a 2-core machine the window trained at about half the headless speed.
A child process has its own interpreter; the parent's relay thread waits in `recv()` (GIL released).

Protocol over one Pipe (all messages are plain picklable data: dicts, numpy arrays, dataclasses):
  parent -> child: ("load", path, block_size) | ("train", config_dict, path)
                   | ("train_pair", config_a, config_b, path) | ("sample", k, seed, config_dict, weights, itos)
                   | ("quit",)
  child -> parent: ("ready",) | ("loaded", summary) | ("init", tag, Snapshot) | ("progress", tag, Progress)
                   | ("done", {tag: (status, result)}) | ("samples", names) | ("error", message, is_user_error)
A run is tagged "A"; an A/B pair "A" and "B". A result holds split losses, 20 samples and the weights.
Pause and stop are multiprocessing Events the child's loop reads between steps.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from typing import Callable

from initscope.core.config import Config
from initscope.core.errors import UserError

PAIR_CHUNK = 25  # steps each run of an A/B pair trains before the other takes its turn


def _result(t, status: str) -> dict:
    result = {"message": t.message, "steps": t.step, "state": t.state_arrays()}
    if status != "diverged":
        result["losses"] = t.split_losses()
        result["samples"] = t.sample(20)
    return result


def _serve(conn, stop, run, threads: int) -> None:  # the child's main loop
    import torch

    from initscope.core.data import load_dataset
    from initscope.core.model import Net
    from initscope.core.trainer import Trainer, sample_names, set_threads

    set_threads(threads)
    data = None
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        kind = msg[0]
        try:
            if kind == "quit":
                return
            if kind == "load":
                data = load_dataset(msg[1] or None, msg[2])
                conn.send(("loaded", data.summary()))
            elif kind == "train":
                cfg = Config.from_dict(msg[1])
                if data is None or data.path != str(msg[2]) or data.block_size != cfg.model.block_size:
                    data = load_dataset(msg[2] or None, cfg.model.block_size)
                trainer = Trainer(cfg, data, stop_event=stop, run_event=run)
                conn.send(("init", "A", trainer.init_snapshot()))
                status = trainer.train(lambda p: conn.send(("progress", "A", p)))
                conn.send(("done", {"A": (status, _result(trainer, status))}))
            elif kind == "train_pair":
                # an A/B pair: same seed, the same minibatch indices (a batch generator of their own),
                # trained in turns of CHUNK steps so both curves grow together
                cfgs = {"A": Config.from_dict(msg[1]), "B": Config.from_dict(msg[2])}
                if cfgs["A"].model.block_size != cfgs["B"].model.block_size:
                    raise UserError("an A/B pair must share the context length")
                if data is None or data.path != str(msg[3]) or data.block_size != cfgs["A"].model.block_size:
                    data = load_dataset(msg[3] or None, cfgs["A"].model.block_size)
                seed = cfgs["A"].train.seed
                pair = {tag: Trainer(c, data, stop_event=stop, run_event=run, batch_seed=seed) for tag, c in cfgs.items()}
                for tag, t in pair.items():
                    conn.send(("init", tag, t.init_snapshot()))
                state = {tag: "running" for tag in pair}
                while "running" in state.values():
                    for tag, t in pair.items():
                        if state[tag] != "running":
                            continue
                        st = t.train(lambda p, tag=tag: conn.send(("progress", tag, p)),
                                     steps=min(t.step + PAIR_CHUNK, t.cfg.train.steps))
                        if st in ("stopped", "diverged") or t.step >= t.cfg.train.steps:
                            state[tag] = st
                conn.send(("done", {tag: (state[tag], _result(t, state[tag])) for tag, t in pair.items()}))
            elif kind == "sample":  # ("sample", k, seed, config_dict, {name: array}, itos)
                cfg = Config.from_dict(msg[3])
                net = Net(cfg, len(msg[5]))
                net.load_state_dict({k: torch.from_numpy(v) for k, v in msg[4].items()})
                conn.send(("samples", sample_names(net, msg[5], cfg.model.block_size, msg[1], msg[2])))
        except Exception as e:  # noqa: BLE001 - reported to the parent, the child keeps serving
            is_user = isinstance(e, UserError)
            if not is_user:
                import traceback

                traceback.print_exc()
            conn.send(("error", str(e) if is_user else f"{type(e).__name__}: {e}", is_user))


class RemoteTrainer:
    """A training process that stays up between runs. Calls block; make them from a worker thread."""

    def __init__(self, threads: int = 1):
        ctx = mp.get_context("spawn")  # fork would copy a Qt application and its threads
        self._stop = ctx.Event()
        self._run = ctx.Event()
        self._run.set()
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()  # one conversation at a time
        self.proc = ctx.Process(target=_serve, args=(child, self._stop, self._run, threads), daemon=True,
                                name="initscope-trainer")
        self.proc.start()
        child.close()
        self.running = False

    # --- control: any thread, takes effect at the child's next step boundary -------------------
    def stop(self) -> None:
        self._stop.set()
        self._run.set()

    def pause(self) -> None:
        self._run.clear()

    def resume(self) -> None:
        self._run.set()

    @property
    def paused(self) -> bool:
        return not self._run.is_set()

    # --- conversations ----------------------------------------------------------------------------
    def _recv(self):
        try:
            msg = self._conn.recv()
        except (EOFError, OSError):
            raise RuntimeError("the training process ended unexpectedly (out of memory?)") from None
        if msg[0] == "error":
            raise (UserError if msg[2] else RuntimeError)(msg[1])
        return msg

    def _until(self, *kinds):
        while True:
            msg = self._recv()
            if msg[0] in kinds:
                return msg

    def load(self, path: str, block_size: int) -> str:
        with self._lock:
            self._conn.send(("load", path, block_size))
            return self._until("loaded")[1]

    def train(self, cfg: Config, data_path: str, on_init: Callable | None = None,
              on_progress: Callable | None = None) -> tuple[str, dict]:
        """One run. on_init(snapshot), on_progress(progress); returns (status, result)."""
        out = self._converse(("train", cfg.to_dict(), data_path),
                             (lambda tag, s: on_init(s)) if on_init else None,
                             (lambda tag, p: on_progress(p)) if on_progress else None)
        return out["A"]

    def train_pair(self, cfg_a: Config, cfg_b: Config, data_path: str, on_init: Callable | None = None,
                   on_progress: Callable | None = None) -> dict[str, tuple[str, dict]]:
        """An A/B pair on identical minibatches. Callbacks get the tag ("A" / "B") first."""
        return self._converse(("train_pair", cfg_a.to_dict(), cfg_b.to_dict(), data_path), on_init, on_progress)

    def _converse(self, request, on_init, on_progress) -> dict:
        with self._lock:
            self._stop.clear()
            self._run.set()
            self.running = True
            try:
                self._conn.send(request)
                while True:
                    msg = self._recv()
                    if msg[0] == "init" and on_init:
                        on_init(msg[1], msg[2])
                    elif msg[0] == "progress" and on_progress:
                        on_progress(msg[1], msg[2])
                    elif msg[0] == "done":
                        return msg[1]
            finally:
                self.running = False

    def sample(self, cfg: Config, state: dict, itos, k: int = 20, seed: int = 0) -> list[str]:
        """k names from the weights `state` (numpy arrays) of a net built from `cfg`."""
        with self._lock:
            self._conn.send(("sample", k, seed, cfg.to_dict(), state, list(itos)))
            return self._until("samples")[1]

    def close(self, timeout: float = 10.0) -> None:
        self.stop()
        try:
            self._conn.send(("quit",))
        except (OSError, ValueError):
            pass
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2)
        self._conn.close()

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()
