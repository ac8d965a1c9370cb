"""Start the Qt application: the window, or a screenshot of it after N training steps."""

from __future__ import annotations

import os
import sys
import time

from initscope.core.errors import UserError
from initscope.gui.qapp import make_app


def _checked_args(args):
    """Config and data problems are one-line errors before Qt starts (and before any window opens)."""
    from initscope.core.config import config_from_args
    from initscope.core.data import load_words

    cfg = config_from_args(getattr(args, "preset", None), getattr(args, "config", None))
    if getattr(args, "data", None):
        load_words(args.data)
    if getattr(args, "scenario", None):
        from initscope.core.scenario import load_scenario

        args.scenario_obj = load_scenario(args.scenario)
    follow = getattr(args, "follow", None)
    if follow and (os.path.isdir(follow) or (os.path.exists(follow) and not os.path.isfile(follow))):
        raise UserError(f"--follow {follow}: not a run file (a folder or a device); give the .initscope file "
                        "your script writes, or the name it will write")
    if getattr(args, "run", None):
        from initscope.core.runfile import load_run

        load_run(args.run)  # a damaged file is a one-line error before the window opens
    return cfg


def _window(cfg, args, settings=None):
    from initscope.gui.main_window import MainWindow

    return MainWindow(cfg, getattr(args, "data", None), settings=settings)


def _check_display() -> None:
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("no display found (DISPLAY is not set): run it in a desktop session or under xvfb-run; "
                        "`initscope run` trains headless and `initscope screenshot` renders offscreen")


def _check_qt_libraries() -> None:
    """On X11, every system library Qt's platform plugin lacks, named at once with the apt line (Qt's own
    message names the first one only, then aborts)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if (sys.platform.startswith("linux") and os.environ.get("DISPLAY")
            and (platform == "xcb" or (platform == "" and not os.environ.get("WAYLAND_DISPLAY")))):
        from initscope.gui.qt_libs import message, missing

        libs = missing()
        if libs:
            raise UserError(message(libs))


def run_app(args) -> int:
    cfg = _checked_args(args)
    _check_display()
    _check_qt_libraries()
    app, win = launch(cfg, args)
    return _leave(app.exec())


def launch(cfg, args):
    """The app's window, shown at once as a shell that builds itself after its first paint (gui/startup.py);
    what the command line asks of the window is done once it is built. Returns (app, window)."""
    from initscope.core.remote import RemoteTrainer

    # the training process first of all: its torch import (1-2 s) is the longest wait of the launch. Forked (a
    # fork starts in milliseconds, a new interpreter in a tenth of a second) while this process has no Qt and no
    # thread yet; its first request, the preview of the settings, follows once they are read
    remote = RemoteTrainer(threads=1, fork="PySide6.QtWidgets" not in sys.modules)
    from initscope.gui.settings import Settings, reset_settings
    from initscope.gui.startup import FirstPreview

    if getattr(args, "reset_settings", False):
        print(reset_settings())
    settings = Settings()
    if not getattr(args, "preset", None) and not getattr(args, "config", None):
        cfg = settings.load_config() or cfg  # the last session's settings, when they are still valid
    first = FirstPreview(cfg, str(getattr(args, "data", None) or ""), remote=remote)
    app = make_app(plots=False)  # pyqtgraph comes with the panels, after the window is on screen
    from initscope.gui.main_window import MainWindow

    # confirm_close: a person at the window: ask before quitting mid-run
    win = MainWindow(cfg, getattr(args, "data", None), confirm_close=True, settings=settings, first_preview=first)
    if settings.qs.value("window/geometry") is None:  # first start: a 1366x768 projector's size, or the screen's
        win.setGeometry(first_geometry(app.primaryScreen().availableGeometry(), GUESSED_FRAME))
        from PySide6 import QtCore

        for ms in (0, 300, 1500):  # the window manager's frame is known only once it has framed the window
            QtCore.QTimer.singleShot(ms, lambda: keep_frame_on_screen(win))

    def asked() -> None:
        if getattr(args, "scenario_obj", None) is not None:
            win.set_scenario(args.scenario_obj)
        if getattr(args, "present", False):  # turned on with the remembered layout, once it is in place
            win.presentation.at_start = True
        if getattr(args, "run", None):
            win.open_run_file(args.run)
        if getattr(args, "follow", None):
            win.follow_run_file(args.follow)

    win.startup.when_built(asked)
    win.show()
    return app, win


GUESSED_FRAME = (4, 30, 4, 4)  # left, top (title bar), right, bottom: until the window manager says


def first_geometry(avail, frame=(0, 0, 0, 0), want=(1366, 768)):
    """The window's own rect (without its frame) on a first start: `want` or less, so that with the window
    manager's frame (left, top, right, bottom) it fits the screen's available area. Sized by the area alone, the
    title bar pushed the status bar (step, loss, ETA) below the screen's edge at 1366x768 and 1024x700."""
    from PySide6.QtCore import QRect

    left, top, right, bottom = frame
    w = max(200, min(want[0], avail.width() - left - right))
    h = max(200, min(want[1], avail.height() - top - bottom))
    return QRect(avail.left() + left, avail.top() + top, w, h)


def keep_frame_on_screen(win) -> None:
    """Once framed: if the frame reaches past the available area, fit the window inside it (never grows it)."""
    if win.isMaximized() or win.isFullScreen() or win.windowHandle() is None:
        return
    avail = win.screen().availableGeometry()
    if avail.contains(win.frameGeometry()):
        return
    m = win.windowHandle().frameMargins()
    g = first_geometry(avail, (m.left(), m.top(), m.right(), m.bottom()), (win.width(), win.height()))
    win.setGeometry(g)


def _leave(code: int) -> int:
    """End the process now that the window is closed and everything is saved. Python's own teardown would next
    destroy the QApplication and pyqtgraph's items in an order Qt does not expect, which crashed some exits
    (SIGSEGV after the work was done); the training process is already ended and the settings synced."""
    # multiprocessing's finalizers (not Python's whole exit): a spawned training process's semaphores are
    # unlinked here; skipped, the resource tracker warned of "leaked semaphore objects" after every screenshot
    from multiprocessing import util

    util._run_finalizers()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


MIN_SHOT = (320, 240)
MAX_SHOT = (7680, 4320)


def _quiet_offscreen() -> None:
    """The offscreen platform warns "This plugin does not support propagateSizeHints()" on every window it shows:
    noise in a screenshot's output (issue 20). Every other message goes on to Qt's own handler."""
    from PySide6 import QtCore

    previous = None

    def handler(mode, context, message):
        if "propagateSizeHints" in message:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = QtCore.qInstallMessageHandler(handler)


def run_screenshot(args) -> int:
    from PySide6 import QtCore

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {args.size[:40]!r}: expected WxH, e.g. 1366x768") from None
    if not (MIN_SHOT[0] <= w <= MAX_SHOT[0] and MIN_SHOT[1] <= h <= MAX_SHOT[1]):  # 40000x40000 segfaulted at 6.5 GB
        raise UserError(f"--size {w}x{h}: from {MIN_SHOT[0]}x{MIN_SHOT[1]} to {MAX_SHOT[0]}x{MAX_SHOT[1]} (8K)")
    if args.steps < 0:
        raise UserError(f"--steps must be >= 0, got {args.steps}")
    cfg = _checked_args(args)
    if os.environ.get("DISPLAY") is None and os.environ.get("WAYLAND_DISPLAY") is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scenario = getattr(args, "scenario_obj", None)
    if scenario is not None and not 1 <= args.step <= len(scenario.steps):
        raise UserError(f"--step {args.step}: the scenario has steps 1..{len(scenario.steps)}")
    _app = make_app()  # held for the life of the window
    _quiet_offscreen()
    win = _window(cfg, args)
    if scenario is not None:
        win.set_scenario(scenario)
        win.scenario_step(args.step - 1)
    win.cfg.train.steps = args.steps or win.cfg.train.steps
    win.set_config(win.cfg)  # the preview of exactly these settings
    win.resize(w, h)
    win.show()
    win.present_act.setChecked(args.present)
    win.overview.loss_panel.logy.setChecked(args.log_y)
    from initscope.gui.texts import tab_index

    win.tabs.setCurrentIndex(tab_index(args.tab))

    def wait(cond, timeout_s):
        # a real event loop, idle between polls: a busy processEvents() loop would starve the trainer of the GIL
        loop = QtCore.QEventLoop()
        end = time.monotonic() + timeout_s
        poll = QtCore.QTimer(interval=25)
        poll.timeout.connect(lambda: (cond() or time.monotonic() > end) and loop.quit())
        poll.start()
        if not cond():
            loop.exec()
        poll.stop()
        return cond()

    if not wait(lambda: win.data is not None and win.preview is not None, 120):
        raise UserError("the init preview did not arrive (is the data loadable?)")
    if args.steps > 0:
        win.train()
        wait(lambda: not win.training, 3600)
    win.force_redraw()
    status = win.shown[0].status if win.shown else "none"
    wait(lambda: False, 0.5)  # a few redraw ticks
    from initscope.gui.layout_check import clipped_widgets

    for line in clipped_widgets(win):  # a picture for a slide should show everything: say what is cut
        print(f"warning: clipped: {line}", file=sys.stderr)
    ok = win.grab().save(args.out)
    win.close()
    if not ok:
        raise UserError(f"could not write {args.out}")
    print(f"wrote {args.out} ({w}x{h}, {args.steps} steps, status {status})")
    return _leave(0)
