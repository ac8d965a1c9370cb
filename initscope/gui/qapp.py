"""The one QApplication, configured for initscope (kept apart so anything may draw without the window)."""

from __future__ import annotations

import sys


def make_app(plots: bool = True):
    """The QApplication. plots=False is the app's launch, which shows its window first and leaves the rest to
    gui/startup.py, after that first paint: the icon (`set_icon()`: loading the SVG costs 8-10 ms, near a tenth
    of Qt's own start), the wheel guard (`install_wheel_guard()`: an app-wide Python event filter, through which
    every event of the first frame would create its PySide6 wrapper class and enums, 25-40 ms here) and
    pyqtgraph (the window's build calls `configure_pyqtgraph()`)."""
    # The GUI thread takes the GIL many times per frame; with the default 5 ms switch interval each take can
    # wait that long behind a busy worker (sweeps, previews). 0.5 ms keeps the event loop prompt.
    sys.setswitchinterval(0.0005)
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("initscope")
    if plots:
        from initscope.gui.wheel_guard import install_wheel_guard

        install_wheel_guard(app)  # scrolling the side panel never changes a spin box it passes over
        set_icon(app)
        configure_pyqtgraph()
    return app


def set_icon(app) -> None:
    from PySide6 import QtGui

    from initscope.core.assets import icon_path

    app.setWindowIcon(QtGui.QIcon(str(icon_path())))


def configure_pyqtgraph() -> None:
    """pyqtgraph's options and garbage collection, once (idempotent)."""
    global _collector
    if _collector is not None:
        return
    import pyqtgraph as pg

    pg.setConfigOptions(background="w", foreground="#222", antialias=False)
    # Python's cyclic GC runs in whichever thread allocates; if it frees a Qt object from a worker thread
    # while the GUI thread holds the GIL, the two deadlock (seen in the tests). Collect on the GUI thread only.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    _collector = GarbageCollector(interval=0.5)


_collector = None
