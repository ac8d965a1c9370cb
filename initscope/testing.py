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

PANELS = {  # driver name -> (view attribute, panel attribute)
    "loss": ("overview", "loss_panel"), "saturation": ("overview", "sat_panel"),
    "activations": ("overview", "act_panel"), "update": ("overview", "upd_panel"),
    "gradients": ("gradients", "grad_panel"), "grad:data": ("gradients", "ratio_panel"),
    "weight gradients": ("gradients", "wgrad_panel"),
}
TABS = {"overview": 0, "gradients": 1, "explorer": 2, "dead": 3, "compare": 4}
EXPLORER_TABS = {"gain": 0, "depth": 1, "train": 2, "width": 3, "time": 4}  # sub-tabs: show_tab("explorer:depth")


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

    # --- settings (through the side panel's widgets) -----------------------------------------------------------
    def set_preset(self, name: str, wait: bool = True) -> None:
        self.window.controls.preset.setCurrentText(name)
        wait and self.wait_preview()

    def set_gain(self, gain: float, wait: bool = True) -> None:
        self.window.controls.gain.setValue(gain)
        wait and self.wait_preview()

    def set_output_scaling(self, on: bool, factor: float | None = None, wait: bool = True) -> None:
        c = self.window.controls
        c.out_scale.setChecked(on)
        if factor is not None:
            c.out_factor.setValue(factor)
        wait and self.wait_preview()

    def set_batchnorm(self, on: bool, wait: bool = True) -> None:
        self.window.controls.batchnorm.setChecked(on)
        wait and self.wait_preview()

    def set_init_scheme(self, scheme: str, wait: bool = True) -> None:
        self.window.controls.scheme.setCurrentText(scheme)
        wait and self.wait_preview()

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

    def follow(self, path):
        """Follow a run file that a script writes (initscope.watch(save=path)), as File > Follow a run… does;
        returns its RunRecord, updated in place as the file grows."""
        return self.window.follow_run_file(str(path))

    @property
    def runs(self) -> list:
        return list(self.window.runs.records)

    def select_runs(self, *runs) -> None:
        """Select runs in the Runs list (records or names), as a click / Ctrl+click does."""
        recs = [r for r in self.window.runs.records if r in runs or r.name in runs]
        self.window.runs.select(recs)

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
        gradients, grad:data, weight gradients."""
        self.render()
        return self.panel(name).plotted()

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
    # offscreen-safe: a machine without a display still gets a window (drawn offscreen)
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def make_initscope_window(qtbot):
    """A factory: make_initscope_window(cfg=None, data_path=None, size=(W, H), wait=True) -> WindowDriver."""
    made: list = []
    yield lambda *a, **k: _make(qtbot, made, *a, **k)
    for win in made:
        win.confirm_close = False  # scripted: no "stop the run and quit?" prompt
        win.close()


@pytest.fixture
def initscope_window(make_initscope_window):
    """The real main window with the default settings, shown, data loaded and the init preview on screen."""
    return make_initscope_window()
