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
        if self.run is not None and self.run.status == "running" and self._since_live >= LIVENESS_MS:
            self._since_live = 0
            from initscope.core.runfile import live_status

            live = live_status(self.run)
            if live != self._live:  # the writer died between flushes: the same file, now "interrupted"
                self._live = live
                self.updated.emit(self.run)
                if live != "running":
                    self.timer.stop()

    def _loaded(self, run, stamp) -> None:
        from initscope.core.runfile import live_status

        self._busy = False
        self._stamp = stamp
        self.run = run
        self._live = live_status(run)
        self.updated.emit(run)
        if self._live != "running":
            self.timer.stop()  # finished, stopped or interrupted: nothing more will come

    def _failed(self, msg: str, stamp) -> None:
        self._busy = False
        self._stamp = stamp  # read again when the file changes (the writer's next flush), not every poll
        self.failed.emit(msg)

    def stop(self) -> None:
        self.timer.stop()
        self._thread.quit()
        self._thread.wait(5000)
