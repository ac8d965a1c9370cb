"""The app's launch (gui/startup.py): the window is a shell on screen before pyqtgraph, numpy or torch are
imported, its panels are built after the shell's first paint, and its first init preview comes from the
training process, with the numbers the window's own engine computes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from initscope.core.config import default_config

from conftest import wait_laid_out

# A fresh interpreter, as the app starts. The window's own torch import (`_Backend.load`) is held back until
# the launch's preview has arrived, so the order the app has on a real machine (the training process starts at
# the shell's first paint, the window's import after the build) is made certain here.
LAUNCH = textwrap.dedent("""
    import argparse, json, sys, time
    from PySide6 import QtCore
    from initscope.core.config import default_config, preset
    import initscope.gui.run_controller as rc
    from initscope.gui.app import launch
    from initscope.gui.main_window import MainWindow

    def main():
        mode = sys.argv[1]
        arrived = []
        original = rc._Backend.load
        def held_back(self):
            end = time.monotonic() + 90
            while not arrived and time.monotonic() < end:
                time.sleep(0.02)
            original(self)
        rc._Backend.load = held_back
        shown = []  # every preview record put on screen: does it match the settings on screen?
        show_records = MainWindow.show_records
        def logged(self, recs):
            shown.extend(r.cfg == self.cfg for r in recs if r.status == "preview")
            show_records(self, recs)
        MainWindow.show_records = logged
        app, win = launch(default_config(), argparse.Namespace())
        out = {"shell_built_at_show": win.built}
        if mode == "changed":  # the user changes the settings before the launch's preview arrives
            win.startup.when_built(lambda: win.set_config(preset("deep-nobn")))
        def check():
            c = getattr(win, "controller", None)
            if c is None:
                return
            if not arrived and (c.first_shown or (c.first is not None and c.first.result is not None)):
                arrived.append(True)
                out["torch_when_it_arrived"] = "torch" in sys.modules
            done = (win.preview is not None and win.redraws > 0 and win.status.label.text().startswith("init preview")
                    and (mode == "first" or win.data is not None))
            if done and win.preview.cfg == win.cfg:
                rec = win.preview
                snap = rec.history.latest
                out.update(status=win.status.label.text(), train_enabled=win.train_act.isEnabled())
                out.update(first_shown=c.first_shown, shown_match=shown, layers=len(rec.cfg.model.layers),
                           loss=snap.loss, sat=[s.saturation for s in snap.layers], std=[s.std for s in snap.layers],
                           hist=[s.hist.counts.tolist() for s in snap.layers],
                           grad_hist=[s.grad_hist.counts.tolist() for s in snap.layers],
                           upd=[p.update_data_log10 for p in snap.params])
                timer.stop()
                win.close()
                app.quit()
        timer = QtCore.QTimer(interval=10)
        timer.timeout.connect(check)
        timer.start()
        QtCore.QTimer.singleShot(120000, app.quit)
        app.exec()
        print(json.dumps(out))

    if __name__ == "__main__":  # the launch spawns the training process, which imports __main__ again
        main()
""")


def _launch(tmp_path, mode: str) -> dict:
    script = tmp_path / "launch_probe.py"
    script.write_text(LAUNCH)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INITSCOPE_CONFIG_DIR": str(tmp_path / "settings")}
    out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, env=env,
                         timeout=180, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _reference(cfg):
    from initscope.core.data import load_dataset
    from initscope.core.trainer import Trainer, set_threads

    set_threads(1)
    return Trainer(cfg, load_dataset(None, cfg.model.block_size)).init_snapshot()


def test_the_launch_preview_comes_from_the_training_process_with_the_engines_numbers(tmp_path):
    got = _launch(tmp_path, "first")
    assert got["shell_built_at_show"] is False  # the window was shown before its panels were built
    assert got["first_shown"] is True
    assert got["torch_when_it_arrived"] is False  # the preview is plain data: the window did not need torch
    assert got["shown_match"] == [True]  # the launch's preview was the one shown
    assert "Train in a moment" in got["status"] and not got["train_enabled"]  # before this process has the data
    ref = _reference(default_config())
    assert got["loss"] == ref.loss
    np.testing.assert_equal(got["sat"], [s.saturation for s in ref.layers])  # NaN for a norm, on both sides
    assert got["std"] == [s.std for s in ref.layers]
    assert got["hist"] == [s.hist.counts.tolist() for s in ref.layers]
    assert got["grad_hist"] == [s.grad_hist.counts.tolist() for s in ref.layers]
    np.testing.assert_array_equal(got["upd"], [p.update_data_log10 for p in ref.params])


def test_a_launch_preview_of_settings_changed_since_is_not_shown(tmp_path):
    from initscope.core.config import preset

    got = _launch(tmp_path, "changed")
    deep = preset("deep-nobn")
    assert got["first_shown"] is True  # the launch's preview (deep-bn) arrived ...
    assert got["shown_match"] and all(got["shown_match"])  # ... and was not put on screen over deep-nobn
    assert got["layers"] == len(deep.model.layers)
    assert got["loss"] == _reference(deep).loss


def test_the_shell_shows_first_and_builds_itself(qtbot):
    from initscope.gui.app import launch

    _app, win = launch(default_config(), argparse.Namespace())
    try:
        assert win.isVisible() and not win.built
        assert "starting" in win.windowTitle()
        assert not win.centralWidget().findChildren(QtWidgets.QLabel)  # no text to lay out before the first paint
        qtbot.waitUntil(lambda: win.built, timeout=30_000)
        assert win.windowTitle().startswith("initscope: weight init")
        assert win.tabs.count() == 5
        qtbot.waitUntil(lambda: win.controls_dock.isVisible() and win.tabs.isVisible(), timeout=5_000)
        assert win.startup.first is not None and win.startup.first.remote.alive  # started at the first paint
        assert not QtWidgets.QApplication.instance().windowIcon().isNull()  # the icon, set after the first paint
        qtbot.waitUntil(lambda: win.preview is not None, timeout=60_000)
    finally:
        win.close()


def test_the_windows_torch_import_waits_until_the_launch_preview_is_on_screen(qtbot, monkeypatch):
    """The window's own torch import holds the interpreter lock for a second or more: begun while the preview was
    still coming, it kept the preview off the screen until it was over."""
    import initscope.gui.run_controller as rc
    import initscope.gui.startup as startup
    from initscope.gui.app import launch

    monkeypatch.setattr(startup, "IMPORT_FALLBACK_MS", 120_000)  # only the preview may start it here
    from initscope.gui.main_window import MainWindow

    at_preview, seen = [], []  # redraw passes when the preview was handed to the window, and when torch began
    original_ready, original_import = MainWindow._preview_ready, rc.RunController.start_import

    def preview_ready(self, rec):
        at_preview.append(self.redraws)
        original_ready(self, rec)

    def start_import(self):
        # this launch's window only: an earlier test's window may still have its fallback timer running
        if not seen and not self._importing and self.parent() is launched.get("win"):
            win = self.parent()
            seen.append((win.preview is not None and bool(win.shown) and win.shown[0] is win.preview, win.redraws))
        original_import(self)

    monkeypatch.setattr(MainWindow, "_preview_ready", preview_ready)
    monkeypatch.setattr(rc.RunController, "start_import", start_import)
    launched = {}
    _app, win = launch(default_config(), argparse.Namespace())
    launched["win"] = win  # the import begins from the event loop, after launch() has returned
    try:
        qtbot.waitUntil(lambda: win.built, timeout=30_000)
        qtbot.waitUntil(lambda: bool(seen), timeout=60_000)
        shown, redraws = seen[0]
        assert shown and redraws > at_preview[0]  # a redraw pass had drawn the preview before torch came here
        # the app-wide wheel guard came with the panels (not in the shell, where it slowed the first frame)
        assert win.controls.findChild(QtWidgets.QSpinBox).focusPolicy() == QtCore.Qt.FocusPolicy.StrongFocus
        qtbot.waitUntil(lambda: win.train_act.isEnabled(), timeout=60_000)  # and Train comes once it has
    finally:
        win.close()


def test_closing_the_window_before_torch_is_ready_ends_the_launchs_training_process(qtbot, monkeypatch):
    import initscope.gui.run_controller as rc
    from initscope.gui.app import launch

    monkeypatch.setattr(rc._Backend, "load", lambda self: None)  # the window's torch never becomes ready
    _app, win = launch(default_config(), argparse.Namespace())
    qtbot.waitUntil(lambda: win.built, timeout=30_000)
    proc = win.startup.first.remote.proc
    assert proc.is_alive()
    win.close()
    proc.join(5)
    assert not proc.is_alive()


def test_the_window_is_shown_before_pyqtgraph_numpy_or_torch_are_imported(tmp_path):
    code = ("import argparse, os, sys\n"
            "from initscope.core.config import default_config\n"
            "from initscope.gui.app import launch\n"
            "if __name__ == '__main__':\n"
            "    app, win = launch(default_config(), argparse.Namespace())\n"
            "    print(win.isVisible(), win.built, sorted(m for m in ('pyqtgraph', 'numpy', 'torch') if m in sys.modules))\n"
            "    sys.stdout.flush()\n"
            "    os._exit(0)\n")
    script = tmp_path / "shown.py"
    script.write_text(code)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INITSCOPE_CONFIG_DIR": str(tmp_path / "settings")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True False []"


@pytest.mark.parametrize("module", ["initscope.gui.app", "initscope.gui.main_window", "initscope.gui.startup",
                                    "initscope.gui.settings", "initscope.core.snapshot"])
def test_what_the_shell_imports_is_light(module):
    code = (f"import sys, {module}; print(sorted(m for m in ('pyqtgraph', 'numpy', 'torch') if m in sys.modules))"
            if module != "initscope.core.snapshot" else
            f"import sys, {module}; print(sorted(m for m in ('pyqtgraph', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_an_init_preview_does_not_import_torch_dynamo():
    # torch.optim's first optimizer imports torch._dynamo and sympy (about 1 s): previews and sweeps never need it
    code = ("import sys\n"
            "from initscope.core.config import default_config\n"
            "from initscope.core.data import load_dataset\n"
            "from initscope.core.trainer import Trainer, warm_up_optimizer\n"
            "t = Trainer(default_config(), load_dataset())\n"
            "t.init_snapshot()\n"
            "print('torch._dynamo' in sys.modules)\n"
            "t.train(steps=2)\n"
            "print('torch._dynamo' in sys.modules, t.step)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["False", "True 2"]


def test_the_launchs_forked_training_process_trains_and_stops(tmp_path):
    # the app forks its training process before Qt (Linux); the same process later trains the runs
    code = textwrap.dedent("""
        import argparse, json, os, sys, time
        from initscope.core.config import preset
        from initscope.gui.app import launch
        if __name__ == "__main__":
            cfg = preset("deep-bn")
            app, win = launch(cfg, argparse.Namespace(preset="deep-bn"))
            win.confirm_close = False
            from PySide6 import QtCore
            out = {"forked": win.startup.first.remote.proc._popen.method}
            def step():
                if not win.built or win.data is None or not win.train_act.isEnabled():
                    return
                if "started" not in out:
                    win.controls.steps.setValue(300)
                    win.train()
                    out["started"] = True
                elif not win.training:
                    rec = win.runs.records[-1]
                    out.update(status=rec.status, steps=rec.steps_done, val=rec.result.losses["val"])
                    win.close(); app.quit()
            t = QtCore.QTimer(interval=20); t.timeout.connect(step); t.start()
            QtCore.QTimer.singleShot(120000, app.quit)
            app.exec()
            print(json.dumps(out)); sys.stdout.flush(); os._exit(0)
    """)
    script = tmp_path / "train.py"
    script.write_text(code)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INITSCOPE_CONFIG_DIR": str(tmp_path / "settings")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["forked"] == ("fork" if sys.platform.startswith("linux") else "spawn")
    assert got["status"] == "finished" and got["steps"] == 300 and 2.0 < got["val"] < 3.4


@pytest.mark.parametrize("how", ["--present", "remembered"])
def test_leaving_presentation_mode_asked_for_at_launch_gives_back_the_whole_window(qtbot, monkeypatch, tmp_path, how):
    """`initscope gui --present` on a first start: its layout to go back to was taken while the docks and the
    toolbar were being added to the window on screen, not yet shown, so leaving it hid them all. Remembered: the
    layout was restored before the new docks were laid out, and a relaunch gave the side panel another width
    than the one it had (496 px for 382)."""
    import multiprocessing as mp

    from initscope.gui.app import launch

    monkeypatch.setenv("INITSCOPE_CONFIG_DIR", str(tmp_path))  # settings of its own

    def launched(**kw):
        _app, win = launch(default_config(), argparse.Namespace(**kw))
        qtbot.waitUntil(lambda: win.built, timeout=30_000)
        qtbot.waitUntil(lambda: win.train_act.isEnabled(), timeout=60_000)  # its threads up: closing ends them
        return win

    def closed(win):
        win.close()
        qtbot.waitUntil(lambda: not mp.active_children(), timeout=30_000)  # its training process has ended

    if how == "remembered":
        win = launched()
        win.resize(1366, 768)  # wider than offscreen's 800 px screen, where the side panel is held at its minimum
        wait_laid_out(qtbot, win)
        win.resizeDocks([win.controls_dock], [450], QtCore.Qt.Orientation.Horizontal)  # the user's own layout
        wait_laid_out(qtbot, win)
        width = win.controls_dock.width()
        closed(win)
        win = launched()  # a relaunch restores it
        assert win.controls_dock.width() == width
        win.present_act.setChecked(True)
        closed(win)
    win = launched(present=True) if how == "--present" else launched()  # a first start with --present
    try:
        assert win.present_act.isChecked()
        if how == "remembered":
            win.resize(1366, 768)  # offscreen clamps the restored window to its 800 px screen, under its minimum
            wait_laid_out(qtbot, win)
        win.present_act.setChecked(False)
        wait_laid_out(qtbot, win)
        toolbar = win.findChild(QtWidgets.QToolBar)
        assert toolbar.isVisible() and win.controls_dock.isVisible() and win.panel_act.isChecked()
        if how == "remembered":
            assert win.controls_dock.width() == width  # the side panel as it was
    finally:
        closed(win)
