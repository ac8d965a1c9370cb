"""Run a Trainer in a child process, so training and the caller never share one GIL.

In-process, the GUI's painting (pyqtgraph draws in Python) and the trainer's Python-side dispatch take
turns on one interpreter lock: on a 2-core machine the window trained at about half the headless speed.
A child process has its own interpreter; the parent's relay thread waits in `recv()` (GIL released).

Protocol over one Pipe (all messages are plain picklable data: dicts, numpy arrays, dataclasses):
  parent -> child: ("load", path, block_size) | ("train", config_dict, path) | ("sample", k, seed) | ("state",)
                   | ("quit",)
  child -> parent: ("ready",) | ("loaded", summary) | ("init", Snapshot) | ("progress", Progress)
                   | ("done", status, result) | ("samples", names) | ("state", {name: array})
                   | ("error", message, is_user_error)
Pause and stop are multiprocessing Events the child's loop reads between steps.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from typing import Callable

from initscope.core.config import Config
from initscope.core.errors import UserError


def _serve(conn, stop, run, threads: int) -> None:  # the child's main loop
    from initscope.core.data import load_dataset
    from initscope.core.trainer import Trainer, set_threads

    set_threads(threads)
    data = None
    trainer = None
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
                conn.send(("init", trainer.init_snapshot()))
                status = trainer.train(lambda p: conn.send(("progress", p)))
                result = {"message": trainer.message, "steps": trainer.step}
                if status != "diverged":
                    result["losses"] = trainer.split_losses()
                    result["samples"] = trainer.sample(20)
                conn.send(("done", status, result))
            elif kind == "state":
                if trainer is None:
                    raise UserError("no trained model yet")
                conn.send(("state", {k: v.detach().cpu().numpy() for k, v in trainer.net.state_dict().items()}))
            elif kind == "sample":
                if trainer is None:
                    raise UserError("no trained model to sample from yet")
                conn.send(("samples", trainer.sample(msg[1], seed=msg[2])))
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
        with self._lock:
            self._stop.clear()
            self._run.set()
            self.running = True
            try:
                self._conn.send(("train", cfg.to_dict(), data_path))
                while True:
                    msg = self._recv()
                    if msg[0] == "init" and on_init:
                        on_init(msg[1])
                    elif msg[0] == "progress" and on_progress:
                        on_progress(msg[1])
                    elif msg[0] == "done":
                        return msg[1], msg[2]
            finally:
                self.running = False

    def sample(self, k: int = 20, seed: int = 0) -> list[str]:
        with self._lock:
            self._conn.send(("sample", k, seed))
            return self._until("samples")[1]

    def state_dict(self) -> dict:
        """The last run's weights (as numpy arrays: plain data across the pipe)."""
        with self._lock:
            self._conn.send(("state",))
            return self._until("state")[1]

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
