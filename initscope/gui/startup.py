"""The app's launch: the window on screen at once, and its first init preview before this process has torch.

    launch ──► fork the training process ──► show the window as a shell ──► first paint
                     │ (imports torch on the other core,          │
                     │  computes the preview of the starting      ▼
                     │  config)                          build the panels (pyqtgraph, numpy)
                     ▼                                            │
               FirstPreview.arrived ─────────────────► the controller shows it; this process then imports
                                                         torch in the background (word list, sweeps); later
                                                         previews come from the training process too

Before this, the window waited for pyqtgraph and the panels (about 1 s here) and its preview for torch's
import in this process (2-3 s). The training process is the one Train later uses, so nothing is started twice.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6 import QtCore, QtWidgets

from initscope.core.config import Config


class FirstPreview(QtCore.QObject):
    """Asks the launch's training process (a core.remote.RemoteTrainer, started first of all) for the init
    preview of `cfg`, in a plain thread."""

    arrived = QtCore.Signal(object)  # core.remote.Preview (plain data: unpickled without torch)
    failed = QtCore.Signal()  # no preview is coming (the window's own engine says why, once it has torch)

    def __init__(self, cfg: Config, data_path: str, remote, parent=None):
        super().__init__(parent)
        self.cfg = cfg.copy()
        self.result = None
        self.gave_up = False  # no preview is coming (set before `failed` is emitted)
        self.remote = remote
        threading.Thread(target=self._ask, args=(data_path,), name="initscope-first-preview", daemon=True).start()

    def _ask(self, data_path: str) -> None:
        try:
            self.result = self.remote.preview(self.cfg, data_path)
        except Exception:  # noqa: BLE001 - the window's own engine loads the data next and says what is wrong
            self.gave_up = True
            self._emit(self.failed)
            return
        self._emit(self.arrived, self.result)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window closed first: nobody is listening any more
            pass


IMPORT_FALLBACK_MS = 10_000  # the training process stuck, or the window never painted (started minimised)


class _Shell(QtWidgets.QWidget):
    """The window's content until it is built: nothing. It reports its first paint through a paintEvent
    override rather than an event filter, which would see (and make PySide6 wrap) every event of the frame."""

    def __init__(self, painted: Callable[[], None]):
        super().__init__()
        self._first = painted

    TEXT = "Starting initscope…\nloading the panels, then the init preview (a few seconds on a busy machine)"

    def paintEvent(self, event) -> None:
        # what it waits for, in the window itself: on a loaded machine this shell stood grey for ~6 s, and the
        # title bar alone did not say that anything was happening (its first text costs ~30 ms of font set-up)
        from PySide6 import QtGui

        p = QtGui.QPainter(self)
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.WindowText))
        p.drawText(self.rect(), int(QtCore.Qt.AlignmentFlag.AlignCenter), self.TEXT)
        p.end()
        if self._first is not None:
            first, self._first = self._first, None
            first()


class Startup(QtCore.QObject):
    """Shows `win` as a shell (its size, and a title saying it is starting) and builds it after that shell's
    first paint. `when_built(fn)` runs fn once the window is whole (at once if it is)."""

    def __init__(self, win, first: FirstPreview):
        super().__init__(win)
        self.win = win
        self.pending: list[Callable[[], None]] = []
        self.first = first
        self.closed = False
        # the title bar says it is starting; the shell's text says what it waits for
        self.title = win.windowTitle()
        win.setWindowTitle("initscope: starting…")
        win.setCentralWidget(_Shell(self._painted))
        if win.settings is not None:
            geo = win.settings.qs.value("window/geometry")
            if isinstance(geo, QtCore.QByteArray):
                win.restoreGeometry(geo)  # where it was last time, from the first frame (the docks follow)
        # this process imports torch once the built window has painted and the launch's preview is on screen:
        # the import holds the interpreter lock for a second or more, and a preview arriving meanwhile waited
        # for it (first preview 2.4 s instead of 1.5). Train, which needs it, is enabled after
        self._waiting = {"painted", "preview"}
        first.failed.connect(lambda: self._reached("preview"))
        if first.gave_up:  # before the connection was made
            self._waiting.discard("preview")

    def _painted(self) -> None:
        """The shell's first paint: once it has reached the screen, the icon, then the panels."""
        QtCore.QTimer.singleShot(0, self._build)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Paint and obj is self.win:
            self.win.removeEventFilter(self)
            self._reached("painted")
        return False

    def _after_redraw(self) -> None:
        """After each redraw pass (connected after the window's own slot) until one has drawn the preview."""
        if self.win.controller.first_shown:
            self.win.redraw_timer.timeout.disconnect(self._after_redraw)
            QtCore.QTimer.singleShot(50, lambda: self._reached("preview"))  # the repaint it asked for, first

    def _reached(self, what: str) -> None:
        self._waiting.discard(what)
        if not self._waiting and self.win.built:
            self.win.controller.start_import()

    def _build(self) -> None:
        if self.win.built or self.closed:
            return
        from initscope.gui.qapp import set_icon
        from initscope.gui.wheel_guard import install_wheel_guard

        app = QtWidgets.QApplication.instance()
        set_icon(app)
        install_wheel_guard(app)  # before the panels: their spin boxes are guarded as they are polished
        # docks added to a shown QMainWindow are animated into place: under X the side panel filled the whole
        # window for ~0.25 s before the tabs appeared. The docks arrive unanimated; dragging them stays animated
        animated = self.win.isAnimated()
        self.win.setAnimated(False)
        self.win.setUpdatesEnabled(False)  # and no frame until the new layout has its geometry
        self.win.build(self.first)
        self.win.layout().activate()

        def settled() -> None:
            self.win.setUpdatesEnabled(True)
            self.win.setAnimated(animated)

        QtCore.QTimer.singleShot(0, settled)
        self.win.installEventFilter(self)  # its first paint, and the preview drawn, start the import of torch ...
        self.win.redraw_timer.timeout.connect(self._after_redraw)
        # ... or this, if either never happens
        QtCore.QTimer.singleShot(IMPORT_FALLBACK_MS, self.win.controller.start_import)
        self.win.controller.backendReady.connect(self._settled)
        self.win.setWindowTitle(self.title)
        for fn in self.pending:
            fn()
        self.pending = []

    @staticmethod
    def _settled() -> None:
        """torch, Qt and pyqtgraph are imported and the window is built: move their ~200k long-lived objects out
        of Python's cyclic GC. A full collection scanned them all, 50-100 ms with the event loop stopped, every
        few seconds while plots redraw; afterwards it scans only what the run creates. (What is garbage at this
        moment stays: a little of the start-up's.)"""
        import gc

        gc.freeze()

    def when_built(self, fn: Callable[[], None]) -> None:
        if self.win.built:
            fn()
        else:
            self.pending.append(fn)

    def close(self) -> None:
        """The window closed while still a shell: end the training process it started."""
        self.closed = True
        self.first.remote.kill()
