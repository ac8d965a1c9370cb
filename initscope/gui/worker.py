"""Workers that keep torch off the GUI thread.

Each lives in its own QThread with an event loop; the GUI talks to it through queued signals and gets
plain data back (Snapshots, Progress, strings). Training and init previews run in a child process (core.remote);
stop/pause go straight to its multiprocessing flags, because the relay's event loop is busy during a run.
"""

from __future__ import annotations

import traceback

from PySide6 import QtCore

from initscope.core.config import Config
from initscope.core.data import Dataset, load_dataset
from initscope.core.errors import UserError
from initscope.core.remote import RemoteTrainer


def _describe(e: BaseException) -> str:
    if isinstance(e, UserError):
        return str(e)
    if isinstance(e, MemoryError) or "out of memory" in str(e).lower():
        return f"out of memory: {e}; try a smaller stack or batch"
    traceback.print_exc()  # a bug, not a user mistake: keep the trace for the terminal
    return f"{type(e).__name__}: {e}"


class Engine(QtCore.QObject):
    """Loads word lists (the window's own copy: the at-init sweeps run on it) and opens run files."""

    dataLoaded = QtCore.Signal(object)  # Dataset (an opaque handle for the GUI)
    dataFailed = QtCore.Signal(str)

    def __init__(self):
        super().__init__()
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

    runLoaded = QtCore.Signal(object)  # SavedRun
    runFailed = QtCore.Signal(str)

    @QtCore.Slot(str)
    def open_run(self, path: str) -> None:
        from initscope.core.runfile import load_run

        try:
            run = load_run(path)
            run.opened_from = path  # the window names the run after its file
            self.runLoaded.emit(run)
        except Exception as e:  # noqa: BLE001
            self.runFailed.emit(_describe(e))


class TrainWorker(QtCore.QObject):
    """Relays one training process (core.remote.RemoteTrainer): it trains in its own interpreter, so the
    window's painting never competes with it for the GIL; this thread only waits on the pipe and re-emits."""

    started = QtCore.Signal(str, object)  # tag, step-0 Snapshot
    progress = QtCore.Signal(str, object)  # tag, Progress
    finished = QtCore.Signal(object)  # {tag: RunResult}
    failed = QtCore.Signal(str)
    samples = QtCore.Signal(list)

    previewReady = QtCore.Signal(int, object)  # generation, core.messages.Preview
    previewFailed = QtCore.Signal(int, str)

    def __init__(self):
        super().__init__()
        self.remote: RemoteTrainer | None = None
        self.latest_generation = 0  # written by the GUI thread; a preview request older than it is skipped
        self.closing = False
        self.shutting_down = False  # the window is closing: a run ended by it is not a failure to report
        self._sample_seed = 0

    def _ensure(self) -> RemoteTrainer:
        if self.shutting_down:  # a request queued behind the window's close must not start a new process
            raise RuntimeError("the window is closing")
        if self.remote is None or not self.remote.alive:
            self.remote = RemoteTrainer(threads=1)
        return self.remote

    # called from the GUI thread: multiprocessing flags the child reads between steps
    def stop(self) -> None:
        self.closing = True  # also stops a run whose request is still on its way
        if self.remote is not None:
            self.remote.stop()

    def pause(self) -> None:
        if self.remote is not None:
            self.remote.pause()

    def resume(self) -> None:
        if self.remote is not None:
            self.remote.resume()

    @property
    def paused(self) -> bool:
        return self.remote is not None and self.remote.paused

    @QtCore.Slot(str, int)
    def warm(self, path: str, block_size: int) -> None:
        """Start the process and load the data ahead of the first Train (torch's import takes a second)."""
        try:
            self._ensure().load(path, block_size)
        except Exception as e:  # noqa: BLE001 - the window loads its own copy and reports data problems
            if not self.shutting_down:
                _describe(e)

    @QtCore.Slot(int, object, str)
    def preview(self, generation: int, cfg: Config, data_path: str) -> None:
        """The init preview (step-0 snapshot) of cfg, computed by the training process, as the launch's first one
        is: one path for every preview (README, "Previews in the training process"). The window asks for none
        while a run trains, so the process is free."""
        if generation != self.latest_generation:
            return  # a newer change is queued behind this one
        try:
            self.previewReady.emit(generation, self._ensure().preview(cfg, data_path))
        except Exception as e:  # noqa: BLE001 - said in the status bar; the window stays usable
            if not self.shutting_down:
                self.previewFailed.emit(generation, _describe(e))

    @QtCore.Slot(object, str)
    def train(self, configs: dict, data_path: str) -> None:
        """One run ({"A": cfg}) or an A/B pair ({"A": ..., "B": ...}). `closing` is reset by the controller (GUI
        thread) when it asks for the run, so a Stop that comes before this runs is kept, not undone here."""
        try:
            remote = self._ensure()
            self.finished.emit(remote.train(configs, data_path, on_init=self.started.emit,
                                            on_progress=self.progress.emit, cancelled=lambda: self.closing))
        except Exception as e:  # noqa: BLE001
            if not self.shutting_down:
                self.failed.emit(_describe(e))

    @QtCore.Slot(object, object, object)
    def sample(self, cfg: Config, state: dict, itos) -> None:
        self._sample_seed += 1
        try:
            self.samples.emit(self._ensure().sample(cfg, state, itos, 20, seed=1000 + self._sample_seed))
        except Exception as e:  # noqa: BLE001
            self.failed.emit(_describe(e))

    saved = QtCore.Signal(str)
    saveFailed = QtCore.Signal(str)

    @QtCore.Slot(str, object)
    def save_run(self, path: str, run) -> None:
        """Write a SavedRun (plain data from the window, weights as numpy arrays) atomically."""
        import torch

        from initscope.core.runfile import save_run

        try:
            run.state_dict = {k: torch.from_numpy(v) for k, v in run.state_dict.items()}
            save_run(path, run)
            self.saved.emit(path)
        except Exception as e:  # noqa: BLE001
            self.saveFailed.emit(_describe(e))

    def close(self) -> None:
        if self.remote is not None:
            self.remote.close()


_STILL_RUNNING: list[QtCore.QThread] = []  # threads that outlived their window's close, kept until they end


def stop_thread(thread: QtCore.QThread, timeout_ms: int = 5_000) -> bool:
    """Ask a worker thread's event loop to quit and wait. A thread still busy after the timeout is kept referenced
    until it ends: a QThread destroyed while running aborts the whole process (qFatal)."""
    thread.quit()
    if thread.wait(timeout_ms):
        return True
    _STILL_RUNNING.append(thread)
    thread.finished.connect(lambda t=thread: _STILL_RUNNING.remove(t) if t in _STILL_RUNNING else None)
    return False


def start_in_thread(obj: QtCore.QObject, name: str) -> QtCore.QThread:
    thread = QtCore.QThread()
    thread.setObjectName(name)
    obj.moveToThread(thread)
    thread.start()
    return thread
