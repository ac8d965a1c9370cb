"""Workers that keep torch off the GUI thread.

Each lives in its own QThread with an event loop; the GUI talks to it through queued signals and gets
plain data back (Snapshots, Progress, strings). Stop/pause go straight to the trainer's thread-safe flags,
because the worker's event loop is busy while it trains.
"""

from __future__ import annotations

import threading
import traceback

from PySide6 import QtCore

from initscope.core.config import Config
from initscope.core.data import Dataset, load_dataset
from initscope.core.errors import UserError
from initscope.core.model import count_params
from initscope.core.trainer import Trainer


def _describe(e: BaseException) -> str:
    if isinstance(e, UserError):
        return str(e)
    if isinstance(e, MemoryError) or "out of memory" in str(e).lower():
        return f"out of memory: {e}; try a smaller stack or batch"
    traceback.print_exc()  # a bug, not a user mistake: keep the trace for the terminal
    return f"{type(e).__name__}: {e}"


class Engine(QtCore.QObject):
    """Loads word lists and computes init previews (step-0 snapshots), newest request first."""

    dataLoaded = QtCore.Signal(object)  # Dataset (an opaque handle for the GUI)
    dataFailed = QtCore.Signal(str)
    previewReady = QtCore.Signal(int, object, int)  # generation, Snapshot, parameter count
    previewFailed = QtCore.Signal(int, str)

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self.latest_generation = 0  # written by the GUI thread; stale requests are skipped
        self.data: Dataset | None = None

    @QtCore.Slot(str, int)
    def load(self, path: str, block_size: int) -> None:
        try:
            data = load_dataset(path or None, block_size)
        except Exception as e:  # noqa: BLE001 - every failure becomes a message, the old data stays
            self.dataFailed.emit(_describe(e))
            return
        self.data = data
        self.dataLoaded.emit(data)

    @QtCore.Slot(int, object)
    def preview(self, generation: int, cfg: Config) -> None:
        if generation != self.latest_generation:
            return  # a newer change is queued behind this one
        try:
            data = self.data
            if data is None:
                return
            if data.block_size != cfg.model.block_size:
                data = self.data = load_dataset(data.path, cfg.model.block_size)
                self.dataLoaded.emit(data)
            snap = Trainer(cfg, data).init_snapshot()
            self.previewReady.emit(generation, snap, count_params(cfg, data.vocab.size))
        except Exception as e:  # noqa: BLE001
            self.previewFailed.emit(generation, _describe(e))


class TrainWorker(QtCore.QObject):
    """Runs one Trainer at a time; reports Progress, then split losses and sampled names."""

    started = QtCore.Signal(object)  # step-0 Snapshot of the run
    progress = QtCore.Signal(object)  # Progress
    finished = QtCore.Signal(str, object)  # status, {"losses": {...}, "samples": [...], "message": str}
    failed = QtCore.Signal(str)
    samples = QtCore.Signal(list)

    def __init__(self):
        super().__init__()
        self.trainer: Trainer | None = None
        self.closing = False
        self._sample_seed = 0

    # called from the GUI thread: thread-safe flags on the trainer
    def stop(self) -> None:
        self.closing = True  # also stops a run whose Trainer is still being built
        if self.trainer is not None:
            self.trainer.stop()

    def pause(self) -> None:
        if self.trainer is not None:
            self.trainer.pause()

    def resume(self) -> None:
        if self.trainer is not None:
            self.trainer.resume()

    @QtCore.Slot(object, object)
    def train(self, cfg: Config, data: Dataset) -> None:
        self.closing = False
        try:
            self.trainer = t = Trainer(cfg, data)
            if self.closing:
                t.stop()
            self.started.emit(t.init_snapshot())
            status = t.train(self.progress.emit)
            result = {"message": t.message, "steps": t.step}
            if status != "diverged":
                result["losses"] = t.split_losses()
                result["samples"] = t.sample(20)
            self.finished.emit(status, result)
        except Exception as e:  # noqa: BLE001
            self.failed.emit(_describe(e))

    @QtCore.Slot()
    def sample(self) -> None:
        if self.trainer is None:
            return
        self._sample_seed += 1
        try:
            self.samples.emit(self.trainer.sample(20, seed=1000 + self._sample_seed))
        except Exception as e:  # noqa: BLE001
            self.failed.emit(_describe(e))


def start_in_thread(obj: QtCore.QObject, name: str) -> QtCore.QThread:
    thread = QtCore.QThread()
    thread.setObjectName(name)
    obj.moveToThread(thread)
    thread.start()
    return thread
