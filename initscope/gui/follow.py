"""Following a run that a script writes (`initscope.watch(save=...)`): `initscope gui --follow FILE` and
File > Follow a run….

The file is polled four times a second (a stat: microseconds); each new version is read and validated off the
GUI thread, then handed to the window, which shows it in every panel like any run. The follower waits for a
file that does not exist yet, says so, and notices when the writer finishes (the file's status) or dies (its
process is gone: `runfile.live_status`).
"""

from __future__ import annotations

import os

from PySide6 import QtCore

from initscope.core.messages import RunStatus

POLL_MS = 250  # the window shows a new flush within a quarter of a second (writers flush every 0.5 s by default)
LIVENESS_MS = 1000  # how often a file that stopped changing is asked whether its writer is still alive


class _Loader(QtCore.QObject):
    loaded = QtCore.Signal(object, object)  # SavedRun, the file's (mtime_ns, size, inode) when read
    failed = QtCore.Signal(str, object)

    @QtCore.Slot(str, object)
    def load(self, path: str, stamp) -> None:
        from initscope.core.runfile import load_run

        try:
            self.loaded.emit(load_run(path), stamp)
        except Exception as e:  # noqa: BLE001 - any problem with the file is one line in the window
            self.failed.emit(str(e).splitlines()[0] if str(e) else type(e).__name__, stamp)


class RunFollower(QtCore.QObject):
    """Polls `path`; emits `updated(SavedRun)` for each new version and for a change of its writer's liveness,
    `waiting(str)` while there is no file, `failed(str)` when a version cannot be read (it keeps polling: the
    next flush may be fine)."""

    updated = QtCore.Signal(object)
    waiting = QtCore.Signal(str)
    failed = QtCore.Signal(str)
    _load = QtCore.Signal(str, object)

    def __init__(self, path: str, parent=None):
        super().__init__(parent)
        self.path = str(path)
        self.run = None
        self._stamp = None
        self._busy = False
        self._since_live = 0
        self._live = None
        self._thread = QtCore.QThread(self)
        self._loader = _Loader()
        self._loader.moveToThread(self._thread)
        self._load.connect(self._loader.load)
        self._loader.loaded.connect(self._loaded)
        self._loader.failed.connect(self._failed)
        self._thread.start()
        self.timer = QtCore.QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()
        QtCore.QTimer.singleShot(0, self.poll)

    @property
    def following(self) -> bool:
        return self.timer.isActive()

    def poll(self) -> None:
        if self._busy:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.waiting.emit(f"waiting for {self.path} (no such file yet: start the script that writes it)")
            return
        except OSError as e:
            self.failed.emit(f"{self.path}: {e.strerror or e}")
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._busy = True
            self._load.emit(self.path, stamp)
            return
        self._since_live += POLL_MS
        if self.run is not None and self.run.status == RunStatus.RUNNING and self._since_live >= LIVENESS_MS:
            self._since_live = 0
            from initscope.core.runfile import live_status

            live = live_status(self.run)
            if live != self._live:  # the writer died between flushes: the same file, now "interrupted"
                self._live = live
                self.updated.emit(self.run)
                if live != RunStatus.RUNNING:
                    self.timer.stop()

    def _loaded(self, run, stamp) -> None:
        from initscope.core.runfile import live_status

        self._busy = False
        self._stamp = stamp
        self.run = run
        self._live = live_status(run)
        self.updated.emit(run)
        if self._live != RunStatus.RUNNING:
            self.timer.stop()  # finished, stopped or interrupted: nothing more will come

    def _failed(self, msg: str, stamp) -> None:
        self._busy = False
        self._stamp = stamp  # read again when the file changes (the writer's next flush), not every poll
        self.failed.emit(msg)

    def stop(self) -> None:
        self.timer.stop()
        self._thread.quit()
        self._thread.wait(5000)


class FollowController(QtCore.QObject):
    """The window's followed run: one at a time. `follow(path)` puts a record in Runs and on screen at once
    (waiting for the file, if it is not there yet); each new version of the file updates that record in place."""

    def __init__(self, win):
        super().__init__(win)  # the window owns this; no Python reference back to it (see `win`)
        self.follower: RunFollower | None = None
        self.rec = None

    @property
    def win(self):
        # the parent, not an attribute: PySide keeps a child's wrapper alive from its parent's, so a `self.win`
        # would close a cycle that gc cannot see, and every closed window would keep its ~200 pyqtgraph menus
        return self.parent()

    def follow(self, path: str):
        from pathlib import Path

        from initscope.core.config import Config
        from initscope.core.history import History
        from initscope.core.records import RunRecord
        from initscope.core.snapshot import ModelInfo
        from initscope.gui.actions import update_actions

        self.stop()
        cfg = Config()
        cfg.name = Path(path).stem
        self.rec = RunRecord(f"{cfg.name} (following)", cfg, History(), status=RunStatus.RUNNING, from_file=True,
                             model=ModelInfo(""), followed=str(path))
        self.follower = RunFollower(path, self)
        self.follower.updated.connect(self._update)
        self.follower.failed.connect(lambda msg: self.win.statusBar().showMessage(f"following: {msg}", 5000))
        self.win.runs.add(self.rec, select=False)
        self.win.preview_timer.stop()
        self.win.show_records([self.rec])
        update_actions(self.win)
        return self.rec

    def _update(self, run) -> None:
        from pathlib import Path

        from initscope.core.inspect_run import run_name
        from initscope.gui.actions import update_actions
        from initscope.gui.run_controller import record_from_run

        rec = self.rec
        if rec is None:
            return
        record_from_run(run, rec.followed, rec)
        if run.watched:
            rec.model = run.model
            rec.name = f"{run_name(run, rec.followed)} (watched, {Path(rec.followed).name})"
        else:  # an app run's file (--save-run): shown with its own config
            rec.model, rec.cfg, rec.vocab = None, run.config, tuple(run.vocab)
        self.win.runs.refresh(rec)
        if rec in self.win.shown:
            self.win.show_records(self.win.shown)  # redraws every view at once
        update_actions(self.win)

    def stop(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower.deleteLater()
        self.follower = None
