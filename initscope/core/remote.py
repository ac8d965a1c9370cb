"""Run a Trainer in a child process, so training and the caller never share one GIL.

In-process, the GUI's painting (pyqtgraph draws in Python) and the trainer's Python-side dispatch take
turns on one interpreter lock: on a 2-core machine the window trained at about half the headless speed.
A child process has its own interpreter; the parent's relay thread waits in `recv()` (GIL released).

The protocol is typed messages (core.messages: torch-free, so the window unpickles them) over one Pipe. Every request carries a request id
and every answer repeats it, so an answer that arrives after its conversation was abandoned (a stop, a
timeout) is recognised and dropped instead of being taken for the next conversation's.
Pause and stop are shared bytes (SharedEvent, not multiprocessing Events) the child's loop reads between steps.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import sys
import threading
from typing import Callable

from initscope.core import forkserver
from initscope.core.config import Config
from initscope.core.errors import UserError
from initscope.core.messages import (
    Done,
    Failed,
    Loaded,
    LoadRequest,
    Preview,
    PreviewRequest,
    Progress,
    ProgressMessage,
    QuitRequest,
    Ready,
    RunResult,
    RunStatus,
    SampleRequest,
    Samples,
    Started,
    Tag,
    TrainRequest,
)
from initscope.core.shared_flag import SharedEvent


def _result(t, status: RunStatus, report: Callable | None = None) -> RunResult:
    """What a run leaves: weights, split losses and samples. report(progress) says which split is being
    evaluated (status EVALUATING): on a long word list that takes seconds after the last step."""
    result = RunResult(status, t.message, t.step, state=t.state_arrays())
    if status != RunStatus.DIVERGED:
        def say(i: int, split: str) -> None:
            import numpy as np

            if report is not None:
                report(Progress(t.step, t.cfg.train.steps, t.step, np.zeros(0, np.float32), t.lr_at(t.step), 0.0,
                                None, RunStatus.EVALUATING, f"{split} split ({i + 1} of 3)"))

        result.losses = t.split_losses(say)
        result.samples = t.sample(20)
    return result


def _serve(conn, stop, run, threads: int, parent_end=None, cwd: str | None = None) -> None:  # the child's main loop
    stop, run = SharedEvent(stop), SharedEvent(run)  # the raw bytes travel; the views are made here
    if cwd is not None:
        try:
            os.chdir(cwd)
        except OSError:
            pass  # the parent's folder is gone: absolute paths still work
    if parent_end is not None:  # forked: the parent's end came along; closed, the parent's exit reads as EOF here
        parent_end.close()
    inbox = _start_reader(conn)  # before torch's import: a quit is heard from the first moment
    try:
        _serve_loop(conn, inbox, stop, run, threads)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the parent went away mid-answer (closed while starting, or killed): nothing to tell anyone
    _exit_served(conn)


def _start_reader(conn) -> queue.Queue:
    """A thread reads the pipe for the main loop, so that a QuitRequest (or the parent's end) ends the child at
    once, whatever the main thread is doing: importing torch at its start, torch.optim's warm-up, a data load.
    Measured: a window closed soon after it opened waited 1.9-2.0 s for those, then killed the child at its
    timeout; now 0.03 s. The parent asks to quit only when it wants no more answers (a run is stopped first)."""
    inbox: queue.Queue = queue.Queue()

    def read() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                _exit_served(conn)  # the parent went away: nobody is left to answer
            if isinstance(msg, QuitRequest):
                _exit_served(conn)
            inbox.put(msg)

    threading.Thread(target=read, name="initscope-pipe-reader", daemon=True).start()
    return inbox


def _exit_served(conn) -> None:
    """End the child at once, its last answer sent: a normal interpreter exit tears torch and every module down
    (measured 0.9-2.1 s per window close, the parent waiting in join); os._exit skips that. The child writes no
    files; what it printed is flushed and the pipe closed first, so nothing it said is lost."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced streams: nothing left to flush
            pass
    try:
        conn.close()
    except OSError:
        pass
    os._exit(0)


def _serve_loop(conn, inbox: queue.Queue, stop, run, threads: int) -> None:
    import torch

    from initscope.core.data import load_dataset
    from initscope.core.model import Net, count_params
    from initscope.core.pair import train_in_turns
    from initscope.core.trainer import Trainer, sample_names, set_threads, warm_up_optimizer

    set_threads(threads)
    data = None
    warm = False
    conn.send(Ready())
    while True:
        if not warm and inbox.empty():  # idle: pay torch.optim's one-time import now, not at the first step
            warm_up_optimizer()
            warm = True
        msg = inbox.get()  # a QuitRequest never comes here: the reader ends the child on it
        try:
            if isinstance(msg, LoadRequest):
                data = load_dataset(msg.path or None, msg.block_size)
                conn.send(Loaded(msg.rid, data.summary()))
            elif isinstance(msg, TrainRequest):
                cfgs = {tag: Config.from_dict(d) for tag, d in msg.configs.items()}
                block = {c.model.block_size for c in cfgs.values()}
                if len(block) != 1:
                    raise UserError("an A/B pair must share the context length")
                if data is None or data.path != str(msg.path) or data.block_size != block.copy().pop():
                    data = load_dataset(msg.path or None, block.pop())
                # a pair shares the seed and the minibatch indices (a batch generator of their own)
                seed = next(iter(cfgs.values())).train.seed if len(cfgs) > 1 else None
                trainers = {tag: Trainer(c, data, stop_event=stop, run_event=run, batch_seed=seed)
                            for tag, c in cfgs.items()}
                for tag, t in trainers.items():
                    conn.send(Started(msg.rid, tag, t.init_snapshot()))
                if len(trainers) == 1:
                    (tag, t), = trainers.items()
                    status = {tag: t.train(lambda p: conn.send(ProgressMessage(msg.rid, tag, p)))}
                else:
                    status = train_in_turns(trainers, lambda tag, p: conn.send(ProgressMessage(msg.rid, tag, p)))
                results = {tag: _result(t, status[tag], lambda p, tag=tag: conn.send(ProgressMessage(msg.rid, tag, p)))
                           for tag, t in trainers.items()}
                conn.send(Done(msg.rid, results))
            elif isinstance(msg, PreviewRequest):
                cfg = Config.from_dict(msg.config)
                if data is None or data.block_size != cfg.model.block_size or (msg.path and data.path != msg.path):
                    data = load_dataset(msg.path or None, cfg.model.block_size)
                snap = Trainer(cfg, data).init_snapshot()
                conn.send(Preview(msg.rid, snap, count_params(cfg, data.vocab.size), data.path,
                                  tuple(data.vocab.itos)))
            elif isinstance(msg, SampleRequest):
                cfg = Config.from_dict(msg.config)
                net = Net(cfg, len(msg.itos))
                net.load_state_dict({k: torch.from_numpy(v) for k, v in msg.weights.items()})
                conn.send(Samples(msg.rid, sample_names(net, msg.itos, cfg.model.block_size, msg.k, msg.seed)))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise  # the parent is gone: _serve ends quietly
        except Exception as e:  # noqa: BLE001 - reported to the parent, the child keeps serving
            is_user = isinstance(e, UserError)
            if not is_user:
                import traceback

                traceback.print_exc()
            conn.send(Failed(getattr(msg, "rid", 0), str(e) if is_user else f"{type(e).__name__}: {e}", is_user))


def _how_it_ended(code: int | None) -> str:
    """What an exit code says, and no more: a signal is named, not guessed at (kill -9 is not "out of memory")."""
    if code is None:
        return "stopped answering"
    if code < 0:
        import signal

        try:
            return f"was ended by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"was ended by signal {-code}"
    return f"exited with code {code}"


class RemoteTrainer:
    """A training process that stays up between runs. Calls block; make them from a worker thread."""

    def __init__(self, threads: int = 1, fork: bool = False):
        """fork: fork this process instead of spawning a fresh interpreter (faster to start). Taken only on Linux,
        while this process has no other thread and no torch, as at the app's launch. Otherwise forked from the
        fork server when it is up and ready (core/forkserver.py: torch already imported there), else spawned."""
        fork = (fork and sys.platform.startswith("linux")  # macOS: system frameworks dislike fork without exec
                and threading.active_count() == 1 and "torch" not in sys.modules)  # torch's thread pools neither
        served = not fork and forkserver.ready()
        # fork would copy a Qt application and its threads; the fork server holds neither
        ctx = mp.get_context("fork") if fork else forkserver.context() if served else mp.get_context("spawn")
        self.start_method = ctx.get_start_method()
        raw_stop, raw_run = ctx.RawValue("b", 0), ctx.RawValue("b", 1)  # not mp.Events: see SharedEvent
        self._stop, self._run = SharedEvent(raw_stop), SharedEvent(raw_run)
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()  # one conversation at a time
        self._proc_lock = threading.Lock()  # one thread reads the child's end at a time (join, below)
        self._rids = itertools.count(1)
        # a child of the fork server starts in the server's folder: it moves to this one (relative data paths)
        self.proc = ctx.Process(target=_serve, args=(child, raw_stop, raw_run, threads, self._conn if fork else None,
                                                     os.getcwd() if served else None),
                                daemon=True, name="initscope-trainer")
        self.proc.start()
        child.close()
        self.running = False
        self.pause_pending = False
        self._pause_lock = threading.Lock()

    # --- control: any thread, takes effect at the child's next step boundary -------------------
    def stop(self) -> None:
        self._stop.set()
        self._run.set()

    def pause(self) -> None:
        with self._pause_lock:  # against a conversation starting at this moment (it sets the flag)
            self._run.clear()
            self.pause_pending = True  # a pause asked for before the run's request went out holds for that run

    def resume(self) -> None:
        with self._pause_lock:
            self.pause_pending = False
            self._run.set()

    @property
    def paused(self) -> bool:
        return not self._run.is_set()

    # --- conversations ----------------------------------------------------------------------------
    def _recv(self, rid: int):
        """The next message of conversation `rid`; answers to older conversations are dropped."""
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                self.join(1)
                raise RuntimeError(f"the training process {_how_it_ended(self.exitcode)}; what was recorded "
                                   "is kept, and Train starts a new one") from None
            if getattr(msg, "rid", None) != rid:
                continue  # a late answer from a conversation that was abandoned
            if isinstance(msg, Failed):
                raise (UserError if msg.user_error else RuntimeError)(msg.message)
            return msg

    def _ask(self, make, kind):
        with self._lock:
            rid = next(self._rids)
            self._conn.send(make(rid))
            while True:
                msg = self._recv(rid)
                if isinstance(msg, kind):
                    return msg

    def load(self, path: str, block_size: int) -> str:
        return self._ask(lambda rid: LoadRequest(rid, path, block_size), Loaded).summary

    def preview(self, cfg: Config, data_path: str) -> Preview:
        """The init preview of cfg on the word list at data_path ("" = the bundled names)."""
        return self._ask(lambda rid: PreviewRequest(rid, cfg.to_dict(), data_path), Preview)

    def train(self, configs: dict[Tag, Config], data_path: str,
              on_init: Callable[[Tag, object], None] | None = None,
              on_progress: Callable[[Tag, Progress], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> dict[Tag, RunResult]:
        """One run ({"A": cfg}) or an A/B pair ({"A": cfg_a, "B": cfg_b}) on identical minibatches, trained in
        turns. on_init(tag, step-0 snapshot), on_progress(tag, progress); returns {tag: RunResult}. cancelled():
        a stop was asked for before this conversation began (it stops at once)."""
        with self._lock:
            self._stop.clear()
            if cancelled is not None and cancelled():  # Stop came while this waited (e.g. behind the data load)
                self._stop.set()
            with self._pause_lock:
                if not self.pause_pending:  # Pause right after Train: the run starts paused
                    self._run.set()
            self.running = True
            rid = next(self._rids)
            try:
                self._conn.send(TrainRequest(rid, {tag: c.to_dict() for tag, c in configs.items()}, data_path))
                while True:
                    msg = self._recv(rid)
                    if isinstance(msg, Started) and on_init:
                        on_init(msg.tag, msg.snapshot)
                    elif isinstance(msg, ProgressMessage) and on_progress:
                        on_progress(msg.tag, msg.progress)
                    elif isinstance(msg, Done):
                        return msg.results
            finally:
                self.running = False
                self.pause_pending = False

    def sample(self, cfg: Config, state: dict, itos, k: int = 20, seed: int = 0) -> list[str]:
        """k names from the weights `state` (numpy arrays) of a net built from `cfg`."""
        return self._ask(lambda rid: SampleRequest(rid, k, seed, cfg.to_dict(), state, list(itos)), Samples).names

    def close(self, timeout: float = 10.0) -> None:
        """Ask the child to quit; if it is mid-run or does not answer in `timeout` s, end it. Its end closes the
        pipe, which wakes a relay thread blocked in recv()."""
        self.stop()
        try:
            self._conn.send(QuitRequest())
        except (OSError, ValueError):
            pass
        self.join(timeout)
        if self.alive:
            self.proc.terminate()
            self.join(2)
        self._conn.close()

    def kill(self) -> None:
        """End the child now (closing the window mid-run): what it was computing is not wanted any more."""
        self.stop()
        if self.alive:
            self.proc.terminate()
        self.join(2)

    # The child's end is read by one thread at a time: a fork server's child reports its exit code once, through
    # its sentinel, and of two threads polling at once (the relay hearing EOF, the window's close joining) the
    # second read nothing and took exit code 255 (seen in CI: a clean os._exit(0) reported as 255).
    def join(self, timeout: float | None = None) -> None:
        from multiprocessing.connection import wait

        if wait([self.proc.sentinel], timeout):  # the waiting itself outside the lock: it reads nothing
            with self._proc_lock:
                self.proc.join()  # it has ended: this reaps it (a spawned child's pipe closes just before)

    @property
    def alive(self) -> bool:
        with self._proc_lock:
            return self.proc.is_alive()

    @property
    def exitcode(self) -> int | None:
        with self._proc_lock:
            return self.proc.exitcode
