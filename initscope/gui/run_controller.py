"""The run controller: everything the window asks of the workers, and the records they fill.

It owns the two worker threads (the engine: this process's word list, opening run files; the trainer relay:
init previews, runs and A/B pairs, samples, saving: what the training process computes) and turns their
plain-data signals into RunRecords. The window only asks ("train this config", "stop") and renders the
records it is handed; it never touches a worker.

torch is imported in the background (`start()`), so the window can be on screen before it is ready.
"""

from __future__ import annotations

import os
import threading

from PySide6 import QtCore

from initscope.core.config import Config
from initscope.core.history import History
from initscope.core.messages import RunResult, RunStatus, Tag
from initscope.core.records import RunRecord


class _Backend(QtCore.QObject):
    """Imports the torch side in a plain thread and says when it is there (the signal arrives queued)."""

    ready = QtCore.Signal()
    failed = QtCore.Signal(str)

    def load(self) -> None:
        try:
            import initscope.gui.worker  # noqa: F401 - torch and the core's training modules
            from initscope.core.trainer import set_threads

            set_threads(1)  # before torch works: one core trains (in its own process), the other keeps the window smooth
        except Exception as e:  # noqa: BLE001 - a broken install is said, not raised into a thread
            self._say(self.failed, f"{type(e).__name__}: {e}")
            return
        self._say(self.ready)

    @staticmethod
    def _say(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window closed before torch was ready: nobody is listening any more
            pass


def _preview_record(cfg: Config, p) -> RunRecord:
    """The init preview of cfg as the window shows it, from the training process's answer (core.messages.Preview:
    plain data, unpickled without torch)."""
    h = History()
    h.set_init(p.snapshot)
    h.add_snapshot(p.snapshot)
    return RunRecord(name="init preview", cfg=cfg, history=h, status=RunStatus.PREVIEW, n_params=p.n_params,
                     data_path=p.data_path, vocab=tuple(p.vocab))


def record_from_run(run, path: str, rec: RunRecord | None = None) -> RunRecord:
    """A saved run as the window shows it: an app run with its config and weights; a watched run with its model
    description (a placeholder config). With `rec` (a followed run), that record is updated in place, its
    history replaced by the file's newer one."""
    from pathlib import Path

    from initscope.core.config import Config
    from initscope.core.inspect_run import run_name
    from initscope.core.runfile import history_from_run, live_status

    history = history_from_run(run)
    status = RunStatus(live_status(run) or RunStatus.FINISHED)
    result = RunResult(status, run.message, run.steps, dict(run.split_losses), list(run.samples),
                       replay_problem=run.replay_problem)  # a damaged replay: the scrubber says so
    if run.watched:
        result.saved = run  # what Save run / Export report write again: a watched run has no weights
    else:
        result.state = {k: v.numpy() for k, v in run.state_dict.items()}
    if rec is not None:
        history.version = rec.history.version + 1  # the views redraw on a version they have not drawn
        rec.history, rec.status, rec.result = history, status, result
        return rec
    if run.watched:
        cfg = Config()
        cfg.name = run_name(run, path)
        return RunRecord(name=f"{cfg.name} (watched, {Path(path).name})", cfg=cfg, history=history, status=status,
                         result=result, data_path="", vocab=(), from_file=True, model=run.model)
    name = run.config.name or "custom"
    return RunRecord(name=f"{name} (from {Path(path).name})", cfg=run.config, history=history, status=status,
                     result=result, data_path=run.data_path, vocab=tuple(run.vocab), from_file=True,
                     source=os.path.realpath(path))


class RunController(QtCore.QObject):
    backendReady = QtCore.Signal()
    backendFailed = QtCore.Signal(str)
    dataLoaded = QtCore.Signal(object)  # Dataset
    dataFailed = QtCore.Signal(str)
    previewReady = QtCore.Signal(object)  # RunRecord with status "preview"
    previewFailed = QtCore.Signal(str)
    runOpened = QtCore.Signal(object)  # RunRecord of a saved run
    openFailed = QtCore.Signal(str)
    recordAdded = QtCore.Signal(object)  # RunRecord (for the Runs list)
    recordChanged = QtCore.Signal(object)
    runEnded = QtCore.Signal(list)  # the records of a run or pair that ended (any status)
    runFailed = QtCore.Signal(str)
    samplesReady = QtCore.Signal(list)
    saved = QtCore.Signal(str)
    saveFailed = QtCore.Signal(str)

    # queued calls into the workers' threads
    _load = QtCore.Signal(str, int)
    _preview = QtCore.Signal(int, object, str)  # generation, Config, data path
    _open = QtCore.Signal(str)
    _train = QtCore.Signal(object, str)  # {tag: Config}, data path
    _warm = QtCore.Signal(str, int)
    _sample = QtCore.Signal(object, object, object)
    _save = QtCore.Signal(str, object)

    def __init__(self, parent=None, first_preview=None):
        """first_preview: gui.startup.FirstPreview, the launch's training process and its preview (the app's
        launch); None: the training process starts with the first Train."""
        super().__init__(parent)
        self.first = first_preview
        self.first_shown = False  # the launch's preview was shown (the relay's answers come later)
        self._importing = False
        self.ready = self.closed = False
        self.engine = self.worker = None
        self.threads: list[QtCore.QThread] = []
        self.active: dict[str, RunRecord] = {}  # the records being trained: "A" (and "B" for a pair)
        self.generation = 0
        self._preview_cfg: dict[int, Config] = {}
        self._opening: set[str] = set()  # run files asked for and not yet answered
        self._open_later: list[str] = []  # asked for before the engine was up (`gui --run` at launch): sent then
        self._backend = _Backend()
        self._backend.ready.connect(self._backend_ready)
        self._backend.failed.connect(self.backendFailed)

    # --- start-up ------------------------------------------------------------------------------------
    def start(self, import_now: bool = True) -> None:
        """Import torch in the background (now, or at `start_import()`); backendReady follows. A launch preview is
        shown when it arrives."""
        if self.first is not None:
            self.first.arrived.connect(self._first_preview)
            if self.first.result is not None:  # it came before the window was built
                self._first_preview(self.first.result)
        if import_now:
            self.start_import()

    def start_import(self) -> None:
        if not self._importing and not self.closed:
            self._importing = True
            threading.Thread(target=self._backend.load, name="initscope-import", daemon=True).start()

    @QtCore.Slot(object)
    def _first_preview(self, p) -> None:
        """The training process's preview of the starting config, before this process has torch. Dropped once
        the relay has been asked for one (it answers for the settings as they are now)."""
        if self.closed or self.generation or self.first is None or self.first.result is None:
            return
        self.first.result = None  # once: the signal may also arrive after start() took the result
        self.first_shown = True
        self.previewReady.emit(_preview_record(self.first.cfg.copy(), p))

    def _backend_ready(self) -> None:
        if self.closed:
            return  # the window closed before torch was ready: start no thread it would never stop
        from initscope.gui.worker import Engine, TrainWorker, start_in_thread

        self.engine = Engine()
        self.worker = TrainWorker()
        if self.first is not None:
            self.worker.remote = self.first.remote  # the launch's training process, torch already imported
        self.threads = [start_in_thread(self.engine, "initscope-engine"), start_in_thread(self.worker, "initscope-train")]
        e, w = self.engine, self.worker
        for sig, slot in ((self._load, e.load), (self._preview, w.preview), (self._open, e.open_run),
                          (self._train, w.train), (self._warm, w.warm),
                          (self._sample, w.sample), (self._save, w.save_run)):
            sig.connect(slot)
        e.dataLoaded.connect(self.dataLoaded)
        e.dataFailed.connect(self.dataFailed)
        e.runLoaded.connect(self._run_opened)
        e.runFailed.connect(self._open_failed)
        # bound methods of this QObject (it lives in the GUI thread), never lambdas: a lambda would run in the
        # worker's thread and write the records the window is drawing from
        w.started.connect(self._started)
        w.progress.connect(self._progress)
        w.finished.connect(self._finished)
        w.failed.connect(self._failed)
        w.previewReady.connect(self._preview_ready)
        w.previewFailed.connect(self._preview_failed)
        w.samples.connect(self.samplesReady)
        w.saved.connect(self.saved)
        w.saveFailed.connect(self.saveFailed)
        self.ready = True
        for path in self._open_later:
            self._open.emit(path)
        self._open_later = []
        self.backendReady.emit()

    # --- data, previews, files -------------------------------------------------------------------------
    def load_data(self, path: str, block_size: int, warm: bool = False) -> None:
        self._load.emit(path, block_size)
        if warm:  # start the training process and load the data ahead of the first Train
            self._warm.emit(path, block_size)

    def request_preview(self, cfg: Config) -> None:
        """The step-0 snapshot of cfg, from the training process; only the newest request is answered. A new
        context length reloads this process's copy of the word list too (the sweeps run on it)."""
        data = self.engine.data
        if data is None:
            return
        if data.block_size != cfg.model.block_size:
            self._load.emit(data.path, cfg.model.block_size)
        self.generation += 1
        self.worker.latest_generation = self.generation
        self._preview_cfg = {self.generation: cfg.copy()}
        self._preview.emit(self.generation, cfg.copy(), data.path)

    def _preview_ready(self, generation: int, p) -> None:
        cfg = self._preview_cfg.get(generation)
        if generation != self.generation or cfg is None:
            return
        self.previewReady.emit(_preview_record(cfg, p))

    def _preview_failed(self, generation: int, msg: str) -> None:
        if generation == self.generation:
            self.previewFailed.emit(msg)

    def open_run(self, path: str) -> None:
        if os.path.realpath(path) in self._opening:
            return  # asked twice before the first answer (a double click on a sweep point): opened once
        self._opening.add(os.path.realpath(path))
        if not self.ready:
            # the engine's thread starts once torch is imported, after the window is built: a signal emitted
            # before then reaches no slot, and the run never opened (`initscope gui --run` on a real screen)
            self._open_later.append(path)
            return
        self._open.emit(path)

    def _open_failed(self, msg: str) -> None:
        self._opening.clear()
        self.openFailed.emit(msg)

    def _run_opened(self, run) -> None:
        self._opening.discard(os.path.realpath(getattr(run, "opened_from", "") or ""))
        try:
            rec = record_from_run(run, getattr(run, "opened_from", "") or run.data_path)
        except Exception as e:  # noqa: BLE001 - a run the loader accepted but cannot be shown is a message
            self.openFailed.emit(f"the run cannot be shown: {e}")
            return
        self.runOpened.emit(rec)

    def save_run(self, path: str, run) -> None:
        self._save.emit(path, run)

    def sample(self, rec: RunRecord) -> None:
        self._sample.emit(rec.cfg, rec.result.state, rec.vocab)

    # --- runs ------------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return bool(self.active)

    @property
    def paused(self) -> bool:
        return self.worker is not None and self.worker.paused

    def _new(self, cfg: Config, name: str, data) -> RunRecord:
        rec = RunRecord(name=name, cfg=cfg, history=History(), data_path=data.path, vocab=tuple(data.vocab.itos))
        self.recordAdded.emit(rec)
        return rec

    def train(self, configs: dict[Tag, Config], data, names: dict[Tag, str]) -> list[RunRecord]:
        """One run ({"A": cfg}) or an A/B pair ({"A": cfg_a, "B": cfg_b}, trained in turns on identical minibatches
        for A's number of steps); names: each tag's name in the Runs list. Returns the new records, in tag order."""
        first = next(iter(configs.values()))
        self.active = {}
        for tag, cfg in configs.items():
            cfg = cfg.copy()  # the record's own: the side panel's later edits do not reach it
            cfg.train.steps = first.train.steps  # a pair's curves end together
            self.active[tag] = self._new(cfg, names[tag], data)
        self.worker.closing = False  # here, not in the worker's thread: a Stop from now on is kept
        self._train.emit({tag: rec.cfg for tag, rec in self.active.items()}, data.path)
        return list(self.active.values())

    @QtCore.Slot(str, object)
    def _started(self, tag: str, snap) -> None:
        rec = self.active.get(tag)
        if rec is not None:
            rec.history.set_init(snap)

    @QtCore.Slot(str, object)
    def _progress(self, tag: str, p) -> None:
        rec = self.active.get(tag)
        if rec is None:
            return
        rec.history.add_progress(p)  # losses, snapshot, the per-step tier (lines at every step)
        evaluating = p.status == RunStatus.EVALUATING and (rec.progress is None or rec.progress.status != p.status)
        rec.progress = p
        if evaluating:
            self.recordChanged.emit(rec)  # the Runs list: "evaluating", once

    @QtCore.Slot(object)
    def _finished(self, results: dict[Tag, RunResult]) -> None:
        recs = []
        for tag, result in results.items():
            rec = self.active.get(tag)
            if rec is not None:
                rec.finish(result)
                recs.append(rec)
                self.recordChanged.emit(rec)
        self.active = {}
        self.runEnded.emit(recs)

    def _failed(self, msg: str) -> None:
        recs = list(self.active.values())
        for rec in recs:
            rec.finish(RunResult(RunStatus.FAILED, msg))
            rec.message = msg
            self.recordChanged.emit(rec)
        self.active = {}
        if recs:
            self.runEnded.emit(recs)
        self.runFailed.emit(msg)

    def pause(self) -> None:
        if self.training:
            self.worker.pause()
            self._set_phase("paused")

    def resume(self) -> None:
        if self.training:
            self.worker.resume()
            self._set_phase("")

    def stop(self) -> None:
        if self.training:
            self.worker.stop()
            self._set_phase("stopping")  # the run ends with its final snapshot: "stopping…" until then

    def _set_phase(self, phase: str) -> None:
        for rec in self.active.values():
            rec.phase = phase
            self.recordChanged.emit(rec)  # the Runs list says "paused", not "running"

    # --- closing -----------------------------------------------------------------------------------------
    def close(self) -> None:
        """End the training process first: its end closes the pipe, which wakes the relay thread, so every
        thread can finish at once (no QThread.terminate)."""
        self.closed = True
        if self.first is not None and (self.worker is None or self.worker.remote is not self.first.remote):
            self.first.remote.kill()  # closed before torch was ready here: the launch's process has no relay yet
        if self.worker is not None:
            self.worker.closing = self.worker.shutting_down = True
            self.worker.latest_generation = -1  # previews queued behind this are skipped
            if self.worker.remote is not None:
                self.worker.remote.kill() if self.training else self.worker.remote.close(timeout=2)
        from initscope.gui.worker import stop_thread

        for th in self.threads:
            th.quit()
        for th in self.threads:
            stop_thread(th)
