"""The app's launch: the window on screen at once, and its first init preview before this process has torch.

    launch ──► fork the training process ──► show the window as a shell ──► first paint
                     │ (imports torch on the other core,          │
                     │  computes the preview of the starting      ▼
                     │  config)                          build the panels (pyqtgraph, numpy)
                     ▼                                            │
               FirstPreview.arrived ─────────────────► the controller shows it; this process then imports
                                                         torch in the background for previews and sweeps

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

    def __init__(self, cfg: Config, data_path: str, remote, parent=None):
        super().__init__(parent)
        self.cfg = cfg.copy()
        self.result = None
        self.remote = remote
        threading.Thread(target=self._ask, args=(data_path,), name="initscope-first-preview", daemon=True).start()

    def _ask(self, data_path: str) -> None:
        try:
            self.result = self.remote.preview(self.cfg, data_path)
        except Exception:  # noqa: BLE001 - the window's own engine loads the data next and says what is wrong
            return
        try:
            self.arrived.emit(self.result)
        except RuntimeError:  # the window closed first: nobody is listening any more
            pass


class Startup(QtCore.QObject):
    """Shows `win` as a shell (its size, and a title saying it is starting) and builds it after that shell's
    first paint. `when_built(fn)` runs fn once the window is whole (at once if it is)."""

    def __init__(self, win, first: FirstPreview):
        super().__init__(win)
        self.win = win
        self.pending: list[Callable[[], None]] = []
        self.first = first
        self.closed = False
        # the shell draws no text: the first text costs the font set-up (30 ms here, as long as Qt's own start);
        # the title bar, drawn by the window manager, says what is happening
        self.title = win.windowTitle()
        win.setWindowTitle("initscope: starting…")
        shell = QtWidgets.QWidget()
        shell.installEventFilter(self)
        win.setCentralWidget(shell)
        if win.settings is not None:
            geo = win.settings.qs.value("window/geometry")
            if isinstance(geo, QtCore.QByteArray):
                win.restoreGeometry(geo)  # where it was last time, from the first frame (the docks follow)
        self._painted = False

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Paint and obj is self.win and self.win.built:
            self.win.removeEventFilter(self)  # the built window's first paint: now this process may import torch
            QtCore.QTimer.singleShot(0, self.win.controller.start_import)
            return False
        if event.type() == QtCore.QEvent.Type.Paint and not self._painted:
            self._painted = True
            # once this paint has reached the screen: the icon, then the panels
            from initscope.gui.qapp import set_icon

            set_icon(QtWidgets.QApplication.instance())
            QtCore.QTimer.singleShot(0, self._build)
        return False

    def _build(self) -> None:
        if self.win.built or self.closed:
            return
        # docks added to a shown QMainWindow are animated into place: under X the side panel filled the whole
        # window for ~0.25 s before the tabs appeared. The docks arrive unanimated; dragging them stays animated
        animated = self.win.isAnimated()
        self.win.setAnimated(False)
        self.win.setUpdatesEnabled(False)  # and no frame until the new layout has its geometry
        self.win._build(self.first)
        self.win.layout().activate()

        def settled() -> None:
            self.win.setUpdatesEnabled(True)
            self.win.setAnimated(animated)

        QtCore.QTimer.singleShot(0, settled)
        self.win.installEventFilter(self)  # its next paint starts the import of torch (eventFilter) ...
        QtCore.QTimer.singleShot(1000, self.win.controller.start_import)  # ... or this, if it is not painted
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
