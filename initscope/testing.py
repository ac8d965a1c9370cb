"""A pytest plugin for testing with initscope's real window (pytest-qt), like napari's make_napari_viewer.

Installed with initscope (entry point `pytest11`), so any test suite can use:

    def test_batchnorm_settles_saturation(initscope_window):
        w = initscope_window                      # a WindowDriver: shown, offscreen-safe, data loaded, previewed
        w.set_preset("deep-nobn")
        w.set_batchnorm(True)
        bars = w.plotted("saturation")            # {label: (x, y, colour)} of what the panel draws now
        rec = w.train(300)                        # trains and waits for the end; returns the run's record

The fixture closes the window and its training process afterwards. `make_initscope_window(cfg=...)` makes
more (or differently configured) windows. The driver methods below are the stable surface: the window's
internals may change, these do not.
"""

from __future__ import annotations

import os
import sys

import pytest

from initscope.gui import texts

PANELS = {  # driver name -> (view attribute, panel attribute)
    "loss": ("overview", "loss_panel"), "saturation": ("overview", "sat_panel"),
    "activations": ("overview", "act_panel"), "update": ("overview", "upd_panel"),
    "gradients": ("gradients", "grad_panel"), "grad:data": ("gradients", "ratio_panel"),
    "weight gradients": ("gradients", "wgrad_panel"),
}
TABS = {k: i for i, (k, _) in enumerate(texts.TABS)}
EXPLORER_TABS = {k: i for i, (k, _) in enumerate(texts.EXPLORER_TABS)}  # sub-tabs: show_tab("explorer:depth")


class WindowDriver:
    """Drives a MainWindow the way a person does (its controls and actions) and reads back what it draws."""

    def __init__(self, window, qtbot):
        self.window = window
        self.qtbot = qtbot

    # --- waiting ---------------------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 60.0) -> None:
        """Data loaded and the preview of the current settings on screen (or an invalid stack shown)."""
        self.qtbot.waitUntil(lambda: self.window.data is not None and self.window.preview is not None,
                             timeout=int(timeout * 1000))
        self.wait_preview(timeout)

    def wait_preview(self, timeout: float = 30.0) -> None:
        """Until the window shows the init preview of exactly the current settings (or says the stack is invalid)."""
        w = self.window

        def current():
            if len(w.shown) != 1:
                return False
            rec = w.shown[0]
            if w.stack_error is not None:
                return rec.status == "invalid"
            return rec.status == "preview" and rec.cfg == w.cfg

        self.qtbot.waitUntil(current, timeout=int(timeout * 1000))
        self.render()

    def _change(self, act, wait: bool) -> None:
        """Do what a user does to a setting; with wait, until the preview of the new settings is on screen. A
        setting already at that value changes nothing, and nothing is waited for (the window shows what it
        showed: waiting for a preview that never comes took 30 s)."""
        before = self.window.cfg.copy()
        act()
        if wait and (self.window.cfg != before or self.window.cfg.name != before.name):
            self.wait_preview()
        else:
            self.render()

    # --- settings (through the side panel's widgets) -----------------------------------------------------------
    def set_preset(self, name: str, wait: bool = True) -> None:
        """Pick a preset in the list; the one already picked is applied again (its settings back) and previewed."""
        self.window.controls.pick_preset(name)  # as picked in the list: the one already shown is applied again
        wait and self.wait_preview()

    def set_gain(self, gain: float, wait: bool = True) -> None:
        self._change(lambda: self.window.controls.gain.setValue(gain), wait)

    def set_output_scaling(self, on: bool, factor: float | None = None, wait: bool = True) -> None:
        c = self.window.controls

        def act():
            c.out_scale.setChecked(on)
            if factor is not None:
                c.out_factor.setValue(factor)
        self._change(act, wait)

    def set_batchnorm(self, on: bool, wait: bool = True) -> None:
        self._change(lambda: self.window.controls.batchnorm.setChecked(on), wait)

    def set_init_scheme(self, scheme: str, wait: bool = True) -> None:
        self._change(lambda: self.window.controls.scheme.setCurrentText(scheme), wait)

    def set_steps(self, steps: int) -> None:
        """Training settings change no preview (the net at init is the same): nothing to wait for."""
        self._change(lambda: self.window.controls.steps.setValue(steps), False)

    def set_seed(self, seed: int, wait: bool = True) -> None:
        self._change(lambda: self.window.controls.seed.setValue(seed), wait)

    def set_lr(self, lr: float) -> None:
        self._change(lambda: self.window.controls.lr.setValue(lr), False)

    def set_batch_size(self, size: int, wait: bool = True) -> None:
        self._change(lambda: self.window.controls.batch.setValue(size), wait)

    def set_snapshot_every(self, every: int) -> None:
        self._change(lambda: self.window.controls.every.setValue(every), False)

    def set_step_lines(self, on: bool) -> None:
        """The side panel's "every-step lines" (diag.step_stats)."""
        self._change(lambda: self.window.controls.step_stats.setChecked(on), False)

    # --- the layer stack -----------------------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """The stack as the side panel lists it ("L0  Linear(100)", ...)."""
        lst = self.window.controls.stack.list
        return [lst.item(i).text() for i in range(lst.count())]

    def build_stack(self, depth: int, width: int, activation: str = "tanh", residual: bool = False,
                    wait: bool = True) -> None:
        """The side panel's depth x width builder and its Build button."""
        st = self.window.controls.stack

        def act():
            st.depth.setValue(depth)
            st.bwidth.setValue(width)
            st.act.setCurrentText(activation)
            st.residual.setChecked(residual)
            st.build_btn.click()
        self._change(act, wait)

    def add_layer(self, kind: str, width: int | None = None, after: int | None = None, wait: bool = True) -> None:
        """Insert a layer ("linear" with its width, "batchnorm", "tanh", "relu", "layernorm", ...) after row
        `after` (default: at the end), with the side panel's buttons."""
        st = self.window.controls.stack

        def act():
            st.list.setCurrentRow(-1 if after is None else after)
            if after is None:
                st.list.clearSelection()
            if kind == "linear":
                st.width_spin.setValue(width or 100)
                self._button(st, "+ Linear").click()
            elif kind in ("batchnorm", "tanh", "relu"):
                self._button(st, {"batchnorm": "+ BN", "tanh": "+ Tanh", "relu": "+ ReLU"}[kind]).click()
            else:
                st.more.setCurrentText(kind)
                st.add_more.click()
        self._change(act, wait)

    def remove_layer(self, index: int, wait: bool = True) -> None:
        st = self.window.controls.stack

        def act():
            st.list.setCurrentRow(index)
            st.remove_btn.click()
        self._change(act, wait)

    @staticmethod
    def _button(parent, text: str):
        from PySide6 import QtWidgets

        return next(b for b in parent.findChildren(QtWidgets.QPushButton) if b.text() == text)

    # --- runs -------------------------------------------------------------------------------------------------
    def start_training(self, steps: int, every: int | None = None) -> None:
        c = self.window.controls
        c.steps.setValue(steps)
        if every is not None:
            c.every.setValue(every)
        assert self.window.train_act.isEnabled(), "Train is disabled (no data yet, or an invalid stack)"
        self.window.train_act.trigger()

    def wait_trained(self, timeout: float = 120.0):
        self.qtbot.waitUntil(lambda: not self.window.training, timeout=int(timeout * 1000))
        self.render()
        return self.window.runs.records[-1]

    def train(self, steps: int, every: int | None = None, timeout: float = 120.0):
        """Train `steps` steps with the current settings and wait for the end; returns the run's RunRecord."""
        self.start_training(steps, every)
        return self.wait_trained(timeout)

    # --- run control -----------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.window.training

    @property
    def paused(self) -> bool:
        return self.window.controller.paused

    def wait_step(self, n: int, timeout: float = 120.0) -> int:
        """Until the run in progress has reported step n (or has ended); returns the step reported."""
        def step():
            rec = self.window.controller.active.get("A")
            return rec.progress.step if rec is not None and rec.progress is not None else -1

        self.qtbot.waitUntil(lambda: step() >= n or not self.window.training, timeout=int(timeout * 1000))
        self.render()
        return step()

    def pause(self) -> None:
        """Pause the run (Run > Pause); waits until the trainer has reported every step done so far."""
        assert self.window.training, "no run to pause"
        if not self.paused:
            self.window.pause_act.trigger()
        self.render()

    def resume(self) -> None:
        if self.paused:
            self.window.pause_act.trigger()
        self.render()

    def stop(self, wait: bool = True, timeout: float = 60.0):
        """Stop the run (Run > Stop); with wait, until it has ended; returns its record."""
        recs = list(self.window.controller.active.values())
        self.window.stop_act.trigger()
        if wait:
            return self.wait_trained(timeout) if recs else None
        return recs[0] if recs else None

    def reset(self) -> None:
        """Run > Reset: the init preview of the current settings."""
        self.window.reset_act.trigger()
        self.wait_preview()

    def compare_with_one_change(self, change: str, value, wait: bool = True, timeout: float = 120.0) -> list:
        """The Runs dock's "Compare with one change" without its dialog: A = the current settings, B = A with
        `change` ("gain", "output scaling", "BatchNorm", "init scheme", "learning rate", "depth") set to value.
        Returns the pair's two records (trained, with wait)."""
        from initscope.gui.runs import with_change

        cfg_b, label = with_change(self.window.cfg.copy(), change, value)
        cfg_b.model.resolve(self.window.data.vocab.size)  # an invalid B is refused, as the dialog does
        before = len(self.window.runs.records)
        self.window.train_pair(cfg_b, label)
        pair = self.window.runs.records[before:]
        if wait:
            self.wait_trained(timeout)
        return pair

    # --- runs list ----------------------------------------------------------------------------------------------
    @property
    def selected_runs(self) -> list:
        return self.window.runs.selected()

    def delete_runs(self, *runs) -> None:
        """Delete runs (records or names; default: the selected ones) as the Delete button does."""
        if runs:
            self.window.runs.select([r for r in self.window.runs.records if r in runs or r.name in runs])
        self.window.runs.delete_selected()
        self.render()

    def undo_delete(self) -> None:
        self.window.runs.undo_delete()
        self.render()

    def rename_run(self, run, name: str) -> str:
        """Rename a run (record or name) as a double-click and typing does; returns the name it got (a name
        another run has gets " (2)")."""
        runs = self.window.runs
        rec = next(r for r in runs.records if r is run or r.name == run)
        runs.rename(rec, name)
        self.render()
        return rec.name

    # --- files and scenarios (no dialogs) -------------------------------------------------------------------------
    def save_run(self, path, timeout: float = 30.0) -> None:
        """File > Save run… to `path` (the shown run), until the file is written."""
        import os

        before = os.path.getmtime(path) if os.path.exists(path) else None
        assert self.window.files.save_run_to(str(path)), "the window refused to save (see its message)"
        self.qtbot.waitUntil(lambda: os.path.exists(path) and os.path.getmtime(path) != before,
                             timeout=int(timeout * 1000))

    def open_run(self, path, timeout: float = 30.0):
        """File > Open run… of `path`; returns its record once it is on screen."""
        import os

        real = os.path.realpath(path)
        self.window.open_run_file(str(path))
        self.qtbot.waitUntil(lambda: any(r.source == real for r in self.window.shown), timeout=int(timeout * 1000))
        self.render()
        return next(r for r in self.window.shown if r.source == real)

    def open_scenario(self, path) -> None:
        """File > Open scenario… of `path`: its first step loaded and previewed."""
        assert self.window.files.load_scenario_file(str(path)), "the scenario was refused (see its message)"
        self.wait_preview()

    def scenario_next(self) -> None:
        self._scenario_click(self.window.scenario_bar.next_btn)

    def scenario_prev(self) -> None:
        self._scenario_click(self.window.scenario_bar.prev_btn)

    def scenario_step(self, i: int) -> None:
        self.window.scenario_step(i)
        self.wait_preview()

    def _scenario_click(self, button) -> None:
        assert button.isEnabled(), f"{button.text()} is disabled: {button.toolTip()}"
        before = self.window.scenario_bar.index
        button.click()
        if self.window.scenario_bar.index != before:
            self.wait_preview()

    @property
    def caption(self) -> str:
        """The scenario bar's caption as plain text ("" without a scenario)."""
        import re

        bar = self.window.scenario_bar
        return re.sub(r"<[^>]+>", " ", bar.caption.text()).replace("  ", " ").strip() if bar.scenario else ""

    def follow(self, path):
        """Follow a run file that a script writes (initscope.watch(save=path)), as File > Follow a run… does;
        returns its RunRecord, updated in place as the file grows."""
        return self.window.follow_run_file(str(path))

    @property
    def runs(self) -> list:
        return list(self.window.runs.records)

    def select_runs(self, *runs) -> None:
        """Select runs in the Runs list (records or names), as a click / Ctrl+click does; the panels redraw."""
        recs = [r for r in self.window.runs.records if r in runs or r.name in runs]
        self.window.runs.select(recs)
        self.render()

    @property
    def shown(self) -> list:
        return list(self.window.shown)

    # --- view -------------------------------------------------------------------------------------------------
    def set_log_y(self, on: bool) -> None:
        self.window.overview.loss_panel.logy.setChecked(on)
        self.render()

    def show_tab(self, name: str) -> None:
        """A tab by name (TABS); "explorer:gain", "explorer:depth", "explorer:train" or "explorer:width" for an explorer sub-tab."""
        tab, _, sub = name.partition(":")
        self.window.tabs.setCurrentIndex(TABS[tab])
        if sub:
            self.window.explorer.inner.setCurrentIndex(EXPLORER_TABS[sub])

    def render(self) -> None:
        """Draw now what the redraw timer would draw next."""
        w = self.window
        shown = w.scrubber.apply(w.shown)  # at the scrubber's step, as the window draws them
        w.overview.render(shown)
        w.gradients.render(shown)
        w.redraw()

    def panel(self, name: str):
        view, attr = PANELS[name]
        return getattr(getattr(self.window, view), attr)

    def plotted(self, name: str) -> dict:
        """What a panel draws now: {label: (x, y, colour)}. Names: loss, saturation, activations, update,
        gradients, grad:data, weight gradients. At init the activations panel also has the wide-net theory's
        triangles under "predicted ±σ <layer>" (x: -σ, +σ; for ReLU and sigmoid: mean, mean + σ; y: 0, 0).
        Reference lines (the uniform guess, the -3 guide) are in panel_info(name)["lines"]."""
        self.render()
        return self.panel(name).plotted()

    def panel_info(self, name: str) -> dict:
        """What a panel looks like besides its data: {"title", "xlabel", "ylabel", "x_range", "y_range", "log_y",
        "lines"}, lines being its reference lines {label: value} (the loss panel's "uniform guess 3.30", the
        update:data guide "-3: healthy"), values in data units (not log10 in log y)."""
        import re

        import pyqtgraph as pg

        self.render()
        panel = self.panel(name)
        plot = panel.plot

        def text(side):
            return re.sub(r"<[^>]+>", "", plot.getAxis(side).labelText or "")

        log_y = bool(plot.getAxis("left").logMode)
        lines = {}
        for item in plot.getViewBox().addedItems:
            if isinstance(item, pg.InfiniteLine) and item.isVisible() and item.angle % 180 == 0:
                label = item.label.format if getattr(item, "label", None) is not None else ""
                label = label or next((t for t, _ in getattr(panel, "guide_key", [])), "") or "line"
                v = item.value()
                lines[label] = 10 ** v if log_y and name == "loss" else v
        (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
        return {"title": re.sub(r"<[^>]+>", "", plot.titleLabel.text or ""), "xlabel": text("bottom"),
                "ylabel": text("left"), "x_range": (x0, x1), "y_range": (10 ** y0, 10 ** y1) if log_y else (y0, y1),
                "log_y": log_y, "lines": lines}

    def compare_table(self) -> dict:
        """The Compare tab's table: {"columns", "rows", "cells" (text), "shaded" (differs from the first run)}."""
        self.show_tab("compare")
        self.render()
        w = self.window
        w.compare.render(w.shown)
        t = w.compare.table
        cells = [[t.item(i, j).text() if t.item(i, j) else "" for j in range(t.columnCount())]
                 for i in range(t.rowCount())]
        shaded = [[bool(t.item(i, j) and t.item(i, j).background().style() != 0) for j in range(t.columnCount())]
                  for i in range(t.rowCount())]
        return {"columns": [t.horizontalHeaderItem(j).text() for j in range(t.columnCount())],
                "rows": [t.verticalHeaderItem(i).text() for i in range(t.rowCount())],
                "cells": cells, "shaded": shaded, "note": w.compare.note.text()}

    def status_text(self) -> str:
        self.render()
        return self.window.status.label.text()

    def hint_text(self) -> str:
        self.render()
        return self.window.hints.text()

    # --- replay (issue 24): the time scrubber and the heatmaps over time -----------------------------------------
    def set_step(self, step: int | None) -> int | None:
        """Move the time scrubber to the snapshot at or before `step` (None: follow the latest), as dragging it
        does; every panel, tab and the hint strip then show that step. Returns the step shown."""
        shown = self.window.scrubber.set_step(step)
        self.render()
        return shown

    @property
    def scrub_steps(self) -> list[int]:
        """The steps the scrubber can show (the shown runs' snapshots)."""
        self.render()
        return [int(s) for s in self.window.scrubber.steps]

    def heatmaps(self, kind: str = "activations") -> dict:
        """The "Over time" tab's images: {"run · layer": (steps, share[steps, value bins], lo, hi)};
        kind: "activations" or "gradients at layer outputs"."""
        self.show_tab("explorer:time")
        self.window.heatmaps.kind.setCurrentText(kind)
        self.render()
        self.window.heatmaps.refresh()
        return self.window.heatmaps.plotted()


def _make(qtbot, made: list, cfg=None, data_path=None, size=(1366, 768), wait: bool = True) -> WindowDriver:
    from initscope.gui.app import make_app
    from initscope.gui.main_window import MainWindow

    make_app()
    win = MainWindow(cfg, data_path)
    win.resize(*size)
    win.show()
    made.append(win)
    driver = WindowDriver(win, qtbot)
    if wait:
        driver.wait_ready()
    return driver


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "initscope_leaks_ok: make_initscope_window does not fail the test on "
                                       "top-level widgets left alive")
    # offscreen-safe: a machine without a display still gets a window (drawn offscreen)
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # the fixture below checks for leaks only after a passing test: a failure's traceback keeps its widgets alive
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed


_CALL_FAILED = pytest.StashKey[bool]()
LEAKED_WIDGETS: list[int] = []  # per checked test: top-level widgets that outlived it (a suite can report the sum)


def _close_and_delete(windows: list) -> None:
    """Close each window and let Qt delete it now (deleteLater, then the deferred deletes run), as a person's
    close does in the app (WA_DeleteOnClose there); a gc pass frees Python-owned pyqtgraph menus."""
    import gc

    from PySide6 import QtCore, QtWidgets

    for win in windows:
        win.close_without_asking()  # scripted: no "stop the run and quit?" prompt
        win.deleteLater()
    app = QtWidgets.QApplication.instance()
    for _ in range(2):  # a deletion can post more deletions (children's deleteLater)
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        app.processEvents()
    for win in windows:
        if _deleted(win):
            # pytest holds the test's fixture values (the driver, the window) until after this teardown: a
            # deleted window's Python attributes (views, pyqtgraph items and their parentless menus) go now
            win.__dict__.clear()
    windows.clear()
    gc.collect()


def _deleted(obj) -> bool:
    try:
        obj.objectName()
    except RuntimeError:  # "Internal C++ object already deleted"
        return True
    return False


def _describe_leaks(widgets) -> str:
    from collections import Counter

    kinds = Counter(f"{type(w).__name__}{' ' + repr(w.objectName()) if w.objectName() else ''}" for w in widgets)
    return ", ".join(f"{n} x {k}" for k, n in kinds.most_common(8))


@pytest.fixture
def make_initscope_window(qtbot, request):
    """A factory: make_initscope_window(cfg=None, data_path=None, size=(W, H), wait=True) -> WindowDriver.

    Afterwards each window is closed and deleted, and a passing test fails if any top-level widget made during it
    is still alive (a dialog left open, a parentless menu, a window not deleted), as napari's make_napari_viewer
    does. Mark a test `@pytest.mark.initscope_leaks_ok` to skip that check."""
    from PySide6 import QtWidgets

    initial = set(QtWidgets.QApplication.topLevelWidgets())
    made: list = []
    yield lambda *a, **k: _make(qtbot, made, *a, **k)
    _close_and_delete(made)
    if request.node.stash.get(_CALL_FAILED, False) or request.node.get_closest_marker("initscope_leaks_ok"):
        return
    leaked = [w for w in QtWidgets.QApplication.topLevelWidgets() if w not in initial]
    LEAKED_WIDGETS.append(len(leaked))
    if leaked:
        pytest.fail(f"{len(leaked)} top-level widget(s) outlived the test's windows: {_describe_leaks(leaked)}",
                    pytrace=False)


@pytest.fixture
def initscope_window(make_initscope_window):
    """The real main window with the default settings, shown, data loaded and the init preview on screen."""
    return make_initscope_window()
