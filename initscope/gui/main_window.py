"""The main window: its view model, its slots and the wiring to the run controller. What it is made of is
gui/window_layout.py; at the launch it shows first as a shell and builds itself after its first paint (startup.py).

One view model: `shown` is the list of RunRecords on screen (the init preview is a record too). Every tab,
the status bar and the hint strip render from it, on one timer, through `redraw()`. Runs are asked of the
RunController; files are FileActions; the window itself holds no copy of any run's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.config import PRESETS, Config, preset
from initscope.core.session import Session
from initscope.gui.actions import Actions, update_actions
from initscope.gui.presentation import Memory as PresentationMemory
from initscope.gui.presentation import set_presentation
from initscope.gui.texts import hint_lines
from initscope.gui.ui import Ui

if TYPE_CHECKING:
    from initscope.core.records import RunRecord

REDRAW_MS = 33  # ~30 Hz: plots redraw from buffered data on this timer, never per signal
PREVIEW_DEBOUNCE_MS = 15


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, cfg: Config | None = None, data_path: str | None = None, confirm_close: bool = False,
                 settings=None, first_preview=None):
        """first_preview (gui.startup.FirstPreview, the app's launch): show at once as a shell and build the
        panels after its first paint; without it the window is whole when this returns."""
        super().__init__()
        self.setWindowTitle("initscope: weight init and BatchNorm, layer by layer")
        # the state (config, data, preview, shown records, stack error, workshop) is the Session's, Qt-free
        # (core/session.py); the window's attributes of those names are the session's (see the end of this file)
        self.session = Session(cfg, data_path)
        self.confirm_close = confirm_close  # ask before quitting mid-run (the app does; scripts do not)
        self.settings = settings  # gui.settings.Settings: what the app remembers (None: nothing, as in tests)
        self.presentation = PresentationMemory()
        self.redraws = 0  # redraw passes that drew something (benchmarks/bench_gui.py reports their rate)
        self.built = False
        if first_preview is not None:
            from initscope.gui.startup import Startup

            self.startup = Startup(self, first_preview)  # the shell now; _build() after its first paint
        else:
            self.build()

    def build(self, first_preview=None) -> None:
        """The panels (gui/window_layout.py) and the wiring to the controller: pyqtgraph, numpy and the workers'
        side, hence not in the shell that the app's launch shows first."""
        from initscope.gui.follow import FollowController
        from initscope.gui.run_controller import RunController
        from initscope.gui.window_layout import setup_ui

        self.controller = RunController(self, first_preview)
        self.following = FollowController(self)
        self.ui = Ui()
        setup_ui(self, self.ui)  # the widgets, read as self.controls, self.tabs, ... (the end of this file)

        c = self.controller
        c.backendReady.connect(self._backend_ready)
        c.backendFailed.connect(lambda msg: self._warn("initscope cannot train", msg))
        c.dataLoaded.connect(self._data_loaded)
        c.dataFailed.connect(lambda msg: self._warn("Could not load the word list", f"{msg}\n\nThe current data is kept."))
        c.previewReady.connect(self._preview_ready)
        c.previewFailed.connect(self._preview_failed)
        c.runOpened.connect(self._run_opened)
        c.openFailed.connect(lambda msg: self._warn("Could not open the run", msg))
        c.recordAdded.connect(lambda rec: self.runs.add(rec, select=False))
        c.recordChanged.connect(self.runs.refresh)
        c.runEnded.connect(self._run_ended)
        c.runFailed.connect(lambda msg: self._warn("The run failed", f"{msg}\n\nWhat was recorded stays in Runs."))
        c.saved.connect(self.files.run_saved)
        c.saveFailed.connect(lambda msg: self._warn("Could not save the run", msg))

        self.session.events.stack_error.connect(lambda e: self.controls.stack.error.setText(f"⚠ {e}" if e else ""))
        self.session.events.config.connect(self._config_set)
        self.preview_timer = QtCore.QTimer(self, singleShot=True, interval=PREVIEW_DEBOUNCE_MS)
        self.preview_timer.timeout.connect(self._request_preview)
        self.redraw_timer = QtCore.QTimer(self, interval=REDRAW_MS)
        self.redraw_timer.timeout.connect(self.redraw)
        self.redraw_timer.start()
        self._validate()
        if self.settings is not None:
            self.settings.restore_main_window(self)
        self.built = True
        # at the launch, torch's import waits for the built window's first paint: loading torch's libraries
        # holds the interpreter lock for long stretches, and a window caught mid-layout stayed half drawn
        c.start(import_now=first_preview is None)

    # --- the view model ----------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.controller.training

    def show_records(self, recs: list[RunRecord]) -> None:
        """Put records on screen; everything else follows on the next redraw."""
        self.shown = list(recs)
        in_list = [r for r in recs if r in self.runs.records]
        self.runs.select(in_list, emit=False)  # a preview on screen: nothing in Runs looks selected
        self.force_redraw()

    def show_preview(self) -> None:
        recs = self.session.preview_records()  # the invalid stack, or the preview of the current settings
        recs and self.show_records(recs)
        self._request_preview()

    def runs_selected(self, recs: list) -> None:
        self.show_records(self.session.on_selection(recs))
        if not recs and not self.training:
            self._request_preview()
        update_actions(self)

    # --- settings -> preview -------------------------------------------------------------------------------
    def config_changed(self, part: str) -> None:
        if part.startswith("preset:"):
            self.set_config(preset(part.split(":", 1)[1]))
            return
        self._validate()
        if not self.training:
            self.preview_timer.start()

    def pick_gain(self, gain: float) -> None:  # a click in the gain sweep; a training run's settings are frozen
        self.training or self.controls.gain.setValue(gain)

    def set_config(self, cfg: Config) -> None:
        self.session.set_config(cfg)  # at workshop length when that is on; the window hears it in _config_set

    def _config_set(self, cfg: Config) -> None:  # new settings in the session, from here or from FileActions
        self.controls.show_config(cfg)
        self._validate()
        self.training or self.preview_timer.start()

    def _validate(self) -> None:
        self.session.validate()  # an invalid stack, or one too large for this machine: said, nothing allocated
        self.explorer.set_context(self.cfg, self.data, self.session.sweep_problem())
        if self.stack_error is not None and not self.training:
            self.show_preview()
        update_actions(self)

    def _request_preview(self) -> None:
        if self.stack_error is None and self.data is not None and self.controller.ready and not self.training:
            self.controller.request_preview(self.cfg)

    def _preview_ready(self, rec: RunRecord) -> None:
        show = self.session.preview_arrived(rec)  # kept if of the current settings; shown unless a run is
        if self.preview is rec:
            self.controls.stack.params.setText(f"{rec.n_params:,} parameters")
        show and self.show_records([rec])
        update_actions(self)

    def _preview_failed(self, msg: str) -> None:
        self.stack_error = msg
        if not self.training:
            self.show_preview()
        update_actions(self)

    # --- data ------------------------------------------------------------------------------------------------
    def _backend_ready(self) -> None:
        import torch

        if torch.cuda.is_available():
            self.controls.device.addItem("cuda")
        self.explorer.start()
        self.controller.load_data(self.data_path, self.cfg.model.block_size, warm=True)

    def load_data(self, path: str) -> None:
        self.controller.load_data(path, self.cfg.model.block_size)

    def _data_loaded(self, data) -> None:
        self.data, self.data_path = data, data.path
        self.controls.show_data(data)
        self._validate()
        if not self.training:
            self.preview_timer.start()

    # --- runs ------------------------------------------------------------------------------------------------
    def train(self) -> None:
        if self.training or self.data is None or self.stack_error is not None:
            return
        self._running(self.controller.train({"A": self.cfg}, self.data,
                                            {"A": self.session.run_name(self.runs.next_number())}))

    def _running(self, recs: list[RunRecord]) -> None:
        self.session.active = list(recs)
        self.controls.set_training(True)
        self.show_records(recs)
        update_actions(self)

    def compare_with_one_change(self) -> None:
        """Train the current settings (A) and A with one setting flipped (B) on identical minibatches."""
        if not self.training and self.data is not None and self.stack_error is None:
            from initscope.gui.runs import CompareDialog

            picked = CompareDialog.ask(self.cfg.copy(), self.data.vocab.size, self)
            if picked is not None:
                self.train_pair(*picked)

    def train_pair(self, cfg_b: Config, change: str) -> None:
        if self.training or self.data is None or self.stack_error is not None:
            return
        n = self.runs.next_number()
        recs = self.controller.train({"A": self.cfg, "B": cfg_b}, self.data,
                                     {"A": f"A{n}: {self.cfg.name or 'custom'}", "B": f"B{n}: {change}"})
        self.runs_dock.raise_()
        self._running(recs)

    def _run_ended(self, recs: list) -> None:
        self.session.active = []
        self.controls.set_training(False)
        if recs and any(r in self.shown for r in recs):
            self.show_records(recs)
        update_actions(self)

    def _run_opened(self, rec: RunRecord) -> None:
        if self.training:
            return
        self.runs.add(rec, select=False)
        if not rec.watched:  # a watched run's model is its script's: the settings stay as they are
            self.set_config(rec.cfg.copy())
            self.controls.stack.params.setText(f"{rec.parameter_count:,} parameters")
        self.preview_timer.stop()  # the opened run is what is shown, not the preview of its config
        self.show_records([rec])
        update_actions(self)

    def open_run_file(self, path: str) -> None:
        known = self.runs.opened(path)  # opened before: shown again, not a copy in Runs
        self.statusBar().showMessage(f"opening {path}…", 5000) if known is None else None  # seconds, on a busy engine
        self._run_opened(known) if known is not None else self.controller.open_run(path)

    def follow_run_file(self, path: str) -> RunRecord:
        return self.following.follow(path)  # a run a script writes (initscope.watch), live: gui/follow.py

    def toggle_pause(self) -> None:
        if self.training:
            self.controller.resume() if self.controller.paused else self.controller.pause()
            update_actions(self)

    def stop(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        if not self.training:
            self.show_preview()

    def sample_names(self) -> None:
        one = self.shown[0] if len(self.shown) == 1 else None
        if not self.training and one is not None and one.has_weights:
            self.samples.show_run(one)

    # --- scenarios and presentation ----------------------------------------------------------------------------
    def set_scenario(self, scenario) -> None:
        self.scenario_bar.set_scenario(scenario)
        self.hints.set_compact(scenario is not None)  # the caption takes the height the hint strip gives up
        self.scenario_step(0)

    def scenario_step(self, i: int) -> None:
        """Load step i of the scenario: its config (previewed, ready to train) and its caption."""
        if self.training or not self.scenario_bar.valid(i):
            return
        self.scenario_bar.show_step(i, self.workshop)
        self.set_config(self.scenario_bar.scenario.steps[i].config.copy())

    def set_workshop(self, on: bool) -> None:
        """Workshop length: presets and scenario steps train 20k steps (decay scaled), with aims measured so."""
        self.workshop = on
        if self.scenario_bar.scenario is not None:
            self.scenario_step(self.scenario_bar.index)
        else:
            self.set_config(preset(self.cfg.name) if self.cfg.name in PRESETS else self.cfg)

    def set_presentation(self, on: bool) -> None:
        set_presentation(self, on)

    def set_side_panel(self, on: bool) -> None:
        """Show or hide the docks (the settings and Runs, tabbed together) and give the plots their room."""
        for dock in (self.controls_dock, self.runs_dock):
            dock.setVisible(on)
        if on:
            self.controls_dock.raise_()

    # --- drawing -------------------------------------------------------------------------------------------------
    def all_panels(self) -> list:
        return self.overview.panels + self.gradients.panels + self.explorer.panels()

    def force_redraw(self) -> None:
        self.overview.invalidate()
        self.gradients.invalidate()
        self._hint_key = None

    def redraw(self) -> None:
        """One path from the shown records to every view; each view skips work when its records did not change."""
        recs = self.scrubber.apply(self.shown)  # the shown records, or as they were at the scrubber's step
        self.status.show(recs, self.controller, self.data is not None)  # the launch's preview comes before the data
        if self.training:
            update_actions(self)
        tab = self.tabs.currentIndex()
        drew = False
        if tab == 0:
            drew = self.overview.render(recs)
        elif tab == 1:
            drew = self.gradients.render(recs)
        elif tab == 2:
            self.explorer.redraw()
        elif tab == 3:
            one = recs[0] if len(recs) == 1 else None
            self.explorer.dead_map.show_snapshot(one and one.history.latest, one and one.cfg.diag.saturation_threshold)
        elif tab == 4:
            self.compare.render(recs)
        self.redraws += drew
        key = (self.controller.ready, *((r.id, r.shown_status, r.history.version, r.name) for r in recs))
        if drew or key != getattr(self, "_hint_key", None):  # hints change with the plots, never before them
            self._hint_key = key
            self.hints.set_lines(hint_lines(recs, limit=100, train_ready=self.controller.ready))

    def _warn(self, title: str, msg: str) -> None:
        self.statusBar().showMessage(msg.split("\n")[0], 10_000)
        QtWidgets.QMessageBox.warning(self, title, msg)

    def close_without_asking(self) -> None:
        """Close, stopping a run in progress without the "stop it and quit?" question (scripts and tests)."""
        self.confirm_close = False
        self.close()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self.built:  # closed while still a shell: only the training process is there to end
            self.startup.close()
            return super().closeEvent(event)
        if self.training and self.confirm_close:
            ans = QtWidgets.QMessageBox.question(self, "Quit initscope", "A run is in progress: stop it and quit?")
            if ans != QtWidgets.QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.redraw_timer.stop()
        self.preview_timer.stop()
        if self.settings is not None:
            self.settings.remember_main_window(self)
        if self.present_act.isChecked():
            set_presentation(self, False)  # the app font is app-wide: give it back as it was
        self.following.stop()
        self.controller.close()
        self.explorer.close()
        self.samples.close()
        super().closeEvent(event)


# the window's state is its session's: win.cfg, win.shown, ... read and write win.session (one source of truth)
for _name in ("cfg", "data", "data_path", "preview", "shown", "stack_error", "workshop"):
    setattr(MainWindow, _name, property(lambda self, n=_name: getattr(self.session, n),
                                        lambda self, v, n=_name: setattr(self.session, n, v)))
# ... and its widgets and actions are its ui's (gui/window_layout.py, gui/actions.py), read-only
for _name in Ui.FIELDS:
    setattr(MainWindow, _name, property(lambda self, n=_name: getattr(self.ui, n)))
for _name in Actions.FIELDS:
    setattr(MainWindow, _name, property(lambda self, n=_name: getattr(self.ui.actions, n)))
