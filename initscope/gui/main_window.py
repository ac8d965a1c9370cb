"""The main window: controls on the left, panels in the middle, hints and status below.

Data flows one way: worker Progress -> History -> (timer) -> panels. The GUI thread never touches a tensor.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.config import Config, default_config, preset, validate_stack
from initscope.core.data import default_data_path
from initscope.core.diagnostics import Snapshot
from initscope.core.errors import UserError
from initscope.core.hints import hints
from initscope.core.history import History
from initscope.gui.controls import ControlPanel
from initscope.gui.explorer import ExplorerTabs
from initscope.gui.runs import CompareDialog, RunRecord, RunsDock
from initscope.gui.panels import HistPanel, LossPanel, RatioBars, SeriesPanel, blocks, run_tag, short_name
from initscope.gui.worker import Engine, TrainWorker, start_in_thread

REDRAW_MS = 33  # ~30 Hz: plots redraw from buffered data on this timer, never per signal
PREVIEW_DEBOUNCE_MS = 15


class MainWindow(QtWidgets.QMainWindow):
    # queued calls into the workers' threads
    _load = QtCore.Signal(str, int)
    _preview = QtCore.Signal(int, object)
    _train = QtCore.Signal(object, str)
    _warm = QtCore.Signal(str, int)
    _sample = QtCore.Signal(object, object, object)  # config, weights, vocabulary
    _train_pair = QtCore.Signal(object, object, str)
    _save_run = QtCore.Signal(str, object)
    _open_run = QtCore.Signal(str)
    _sweep_gain = QtCore.Signal(int, object, object, object, int)
    _sweep_depth = QtCore.Signal(int, object, object, int, int)

    def __init__(self, cfg: Config | None = None, data_path: str | None = None):
        super().__init__()
        self.setWindowTitle("initscope: weight init and BatchNorm, layer by layer")
        self.cfg = cfg or default_config()
        self.data = None  # Dataset handle from the engine; never read here
        self.data_path = str(data_path or default_data_path())
        self.history = History()
        self.training = False
        self._stack_error: str | None = "no data yet"  # why Train is disabled, or None
        self.run_cfg: Config | None = None  # the config of the run on screen
        self.last_saved = ""
        self.history_from_file = False  # the panels show a run opened from a file (its weights are not in the worker)
        self.run_status = "ready"
        self.last_result: dict | None = None
        self.drawn_version = None
        self._drawn_snapshot = None
        self.dead_map_snapshot = None
        self.redraws = 0  # redraw passes that drew something (benchmarks/bench_gui.py reports their rate)
        self.preview_generation = 0
        self.preview_snapshot: Snapshot | None = None
        self._ref_loss = math.log(27)
        self._t_start = 0.0
        self._last_progress = None
        self._last_loss: float | None = None

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        self.controls = ControlPanel(self.cfg, devices)
        self.controls.changed.connect(self._config_changed)
        self.controls.openData.connect(self.open_data)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.controls.sizeHint().width() + 18)
        self.controls_scroll = scroll
        dock = QtWidgets.QDockWidget("Network and training", self)
        dock.setObjectName("controls")
        dock.setWidget(scroll)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.runs = RunsDock()
        self.runs.selectionChanged.connect(self._runs_selected)
        self.runs.compare_btn.clicked.connect(self.compare_with_one_change)
        runs_dock = QtWidgets.QDockWidget("Runs", self)
        runs_dock.setObjectName("runs")
        runs_dock.setWidget(self.runs)
        runs_dock.setFeatures(dock.features())
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, runs_dock)
        self.tabifyDockWidget(dock, runs_dock)
        dock.raise_()
        self.runs_dock = runs_dock
        self.active: dict[str, RunRecord] = {}  # the records the worker is writing to: "A" (and "B" for a pair)
        self.overlay: list[RunRecord] = []  # two or more selected runs drawn together
        self._overlay_key = None

        # panels: the overview shows loss, saturation, activations and update:data at once
        self.loss_panel = LossPanel()
        self.sat_panel = SeriesPanel("Tanh saturation", "saturated (%)")
        self.act_panel = HistPanel("Activations (latest snapshot)", "output value", "density")
        self.upd_panel = SeriesPanel("update:data (log10) per weight matrix", "log10 update:data", guide=-3.0)
        self.grad_panel = HistPanel("Gradients at each layer's output", "gradient", "density")
        self.ratio_panel = RatioBars()
        self.wgrad_panel = HistPanel("Weight gradients (latest snapshot)", "gradient", "density")
        self.panels = [self.loss_panel, self.sat_panel, self.act_panel, self.upd_panel, self.grad_panel,
                       self.ratio_panel, self.wgrad_panel]
        overview = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(overview)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(self.loss_panel, 0, 0)
        grid.addWidget(self.sat_panel, 0, 1)
        grid.addWidget(self.act_panel, 1, 0)
        grid.addWidget(self.upd_panel, 1, 1)
        grads = QtWidgets.QWidget()
        gg = QtWidgets.QGridLayout(grads)
        gg.setContentsMargins(0, 0, 0, 0)
        gg.addWidget(self.grad_panel, 0, 0, 1, 2)
        gg.addWidget(self.ratio_panel, 1, 0)
        gg.addWidget(self.wgrad_panel, 1, 1)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(overview, "Overview")
        self.tabs.addTab(grads, "Gradients")
        self.explorer = ExplorerTabs(self)
        self.tabs.addTab(self.explorer.sweeps_tab, "Init explorer")
        self.tabs.addTab(self.explorer.map_tab, "Dead neurons · BatchNorm")
        self.compare_table = QtWidgets.QTableWidget()
        self.compare_note = QtWidgets.QLabel("Select two or more runs in the Runs list to compare them layer by layer.")
        cmp = QtWidgets.QWidget()
        cml = QtWidgets.QVBoxLayout(cmp)
        cml.addWidget(self.compare_note)
        cml.addWidget(self.compare_table, 1)
        self.tabs.addTab(cmp, "Compare runs")
        self.explorer.set_gain(self.cfg.init.gain)
        self.tabs.currentChanged.connect(lambda _: self._force_redraw())

        self.hint_box = QtWidgets.QLabel()
        self.hint_box.setWordWrap(True)
        self.hint_box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.hint_box.setMinimumHeight(48)
        self.hint_box.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.hint_box.setStyleSheet("QLabel { background: #fffbe6; border: 1px solid #e6d9a8; padding: 4px; }")
        self.scenario = None
        self.scenario_index = 0
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("QLabel { background: #e8f1fb; border: 1px solid #b7cde8; padding: 6px; }")
        self.prev_btn = QtWidgets.QPushButton("◀ Previous")
        self.next_btn = QtWidgets.QPushButton("Next ▶")
        self.prev_btn.setShortcut(QtGui.QKeySequence("Ctrl+PgUp"))
        self.next_btn.setShortcut(QtGui.QKeySequence("Ctrl+PgDown"))
        self.prev_btn.clicked.connect(lambda: self.scenario_step(self.scenario_index - 1))
        self.next_btn.clicked.connect(lambda: self.scenario_step(self.scenario_index + 1))
        self.scenario_bar = QtWidgets.QWidget()
        sb = QtWidgets.QHBoxLayout(self.scenario_bar)
        sb.setContentsMargins(0, 0, 0, 0)
        sb.addWidget(self.prev_btn)
        sb.addWidget(self.caption, 1)
        sb.addWidget(self.next_btn)
        self.scenario_bar.hide()
        central = QtWidgets.QWidget()
        cl = QtWidgets.QVBoxLayout(central)
        cl.setContentsMargins(4, 4, 4, 4)
        cl.addWidget(self.scenario_bar)
        cl.addWidget(self.tabs, 1)
        cl.addWidget(self.hint_box)
        self.setCentralWidget(central)

        self._make_actions()
        self.status_label = QtWidgets.QLabel("ready")
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress_bar)

        # workers
        self.engine = Engine()
        self.engine_thread = start_in_thread(self.engine, "initscope-engine")
        self.worker = TrainWorker()
        self.worker_thread = start_in_thread(self.worker, "initscope-train")
        self.sweep_thread = start_in_thread(self.explorer.worker, "initscope-sweep")
        self._sweep_gain.connect(self.explorer.worker.gain)
        self._sweep_depth.connect(self.explorer.worker.depth)
        self._load.connect(self.engine.load)
        self._preview.connect(self.engine.preview)
        self._train.connect(self.worker.train)
        self._warm.connect(self.worker.warm)
        self._sample.connect(self.worker.sample)
        self._train_pair.connect(self.worker.train_pair)
        self.worker.pairStarted.connect(self._pair_started)
        self.worker.pairProgress.connect(self._pair_progress)
        self.worker.pairFinished.connect(self._pair_finished)
        self._save_run.connect(self.worker.save_run)
        self._open_run.connect(self.engine.open_run)
        self.worker.saved.connect(self._run_saved)
        self.worker.saveFailed.connect(self._file_failed)
        self.engine.runLoaded.connect(self.show_saved_run)
        self.engine.runFailed.connect(self._file_failed)
        self.engine.dataLoaded.connect(self._data_loaded)
        self.engine.dataFailed.connect(self._data_failed)
        self.engine.previewReady.connect(self._preview_ready)
        self.engine.previewFailed.connect(self._preview_failed)
        self.worker.started.connect(self._run_started)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._run_finished)
        self.worker.failed.connect(self._run_failed)
        self.worker.samples.connect(self._show_samples)

        self.preview_timer = QtCore.QTimer(self, singleShot=True, interval=PREVIEW_DEBOUNCE_MS)
        self.preview_timer.timeout.connect(self._request_preview)
        self.redraw_timer = QtCore.QTimer(self, interval=REDRAW_MS)
        self.redraw_timer.timeout.connect(self.redraw)
        self.redraw_timer.start()
        self._update_actions()
        self._validate()
        self._load.emit(self.data_path, self.cfg.model.block_size)
        self._warm.emit(self.data_path, self.cfg.model.block_size)

    # --- actions -------------------------------------------------------------------------
    def _make_actions(self) -> None:
        tb = self.addToolBar("Run")
        tb.setObjectName("run")
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)

        def act(text, shortcut, slot, tip):
            a = QtGui.QAction(text, self)
            a.setShortcut(QtGui.QKeySequence(shortcut))
            a.setToolTip(f"{tip} ({QtGui.QKeySequence(shortcut).toString()})")
            a.triggered.connect(slot)
            tb.addAction(a)
            return a

        self.train_act = act("Train", "Ctrl+Return", self.train, "train with the current settings")
        self.pause_act = act("Pause", "Ctrl+P", self.toggle_pause, "pause or resume the run")
        self.stop_act = act("Stop", "Ctrl+.", self.stop, "stop the run (keeps what was recorded)")
        self.reset_act = act("Reset", "Ctrl+R", self.reset, "re-initialise with the current settings")
        tb.addSeparator()
        self.sample_act = act("Sample names", "Ctrl+N", self.sample_names, "20 names from the trained model")
        tb.addSeparator()
        self.open_act = act("Open data…", "Ctrl+O", self.open_data, "load another word list")
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.open_act)
        menu.addSeparator()
        for text, key, slot in (("Open config…", "Ctrl+Shift+O", self.open_config), ("Save config…", "Ctrl+S", self.save_config)):
            a = QtGui.QAction(text, self, shortcut=QtGui.QKeySequence(key))
            a.triggered.connect(slot)
            menu.addAction(a)
        for text, key, slot in (("Open run…", "", self.open_run), ("Save run…", "", self.save_run),
                                ("Export panels (PNG + SVG)…", "", self.export_panels),
                                ("Export metrics (CSV)…", "", self.export_csv),
                                ("Export report (HTML)…", "", self.export_report)):
            a = QtGui.QAction(text, self)
            a.triggered.connect(slot)
            menu.addAction(a)
            if text.startswith("Save run"):
                self.save_run_act = a
        menu.addSeparator()
        scen = QtGui.QAction("Open scenario…", self)
        scen.triggered.connect(self.open_scenario)
        menu.addAction(scen)
        menu.addSeparator()
        quit_act = QtGui.QAction("Quit", self, shortcut=QtGui.QKeySequence("Ctrl+Q"), triggered=self.close)
        menu.addAction(quit_act)
        run_menu = self.menuBar().addMenu("&Run")
        for a in (self.train_act, self.pause_act, self.stop_act, self.reset_act, self.sample_act):
            run_menu.addAction(a)
        view = self.menuBar().addMenu("&View")
        self.present_act = QtGui.QAction("Presentation mode (large fonts and lines)", self, checkable=True)
        self.present_act.setShortcut(QtGui.QKeySequence("Ctrl+Shift+P"))
        self.present_act.toggled.connect(self.set_presentation)
        view.addAction(self.present_act)

    def _update_actions(self) -> None:
        valid = self.data is not None and self._stack_error is None
        self.train_act.setEnabled(not self.training and valid)
        self.pause_act.setEnabled(self.training)
        self.stop_act.setEnabled(self.training)
        self.reset_act.setEnabled(not self.training)
        self.sample_act.setEnabled(not self.training and self.last_result is not None
                                   and "samples" in self.last_result and not self.overlay)
        self.runs.compare_btn.setEnabled(not self.training and valid)
        self.pause_act.setText("Resume" if self.training and self.worker.paused else "Pause")

    def _validate(self) -> None:
        vocab = self.data.vocab.size if self.data is not None else 27
        try:
            validate_stack(self.cfg.model.layers, vocab)
            self._stack_error = None
            self.controls.stack.error.setText("")
        except UserError as e:
            self._stack_error = str(e)
            self.controls.stack.error.setText(f"⚠ {e}")
        self._update_actions()

    # --- config changes -> preview ------------------------------------------------------------
    def _config_changed(self, part: str) -> None:
        if part.startswith("preset:"):
            self.set_config(preset(part.split(":", 1)[1]))
            return
        self._validate()
        self.explorer.set_gain(self.cfg.init.gain)
        if part in ("model", "init", "train", "diag") and not self.training:
            self.preview_timer.start()

    def set_config(self, cfg: Config) -> None:
        self.cfg = cfg
        self.controls.show_config(cfg)
        self.explorer.set_gain(cfg.init.gain)
        self._validate()
        if not self.training:
            self.preview_timer.start()

    def _request_preview(self) -> None:
        if self._stack_error is not None or self.data is None:
            return
        self.preview_generation += 1
        self.engine.latest_generation = self.preview_generation
        self._preview.emit(self.preview_generation, self.cfg.copy())

    def _preview_ready(self, generation: int, snap: Snapshot, n_params: int) -> None:
        self.controls.stack.params.setText(f"{n_params:,} parameters")
        if generation != self.preview_generation or self.training:
            return
        self.preview_snapshot = snap
        if self.run_status in ("ready", "preview"):
            self._show_preview(snap)

    def _show_preview(self, snap: Snapshot) -> None:
        for panel in (self.loss_panel, self.sat_panel, self.upd_panel):
            panel.set_x_extent(None)
        self.run_status = "preview"
        self.history = History()
        self.history.set_init(snap)
        self.history.add_snapshot(snap)
        self.last_result = None
        self._ref_loss = snap.ref_loss
        self.status_label.setText(f"init preview: loss {snap.loss:.3f} at step 0 "
                                  f"(uniform guess {snap.ref_loss:.3f}) — press Train")
        self.progress_bar.setValue(0)
        self._update_actions()

    def _preview_failed(self, generation: int, msg: str) -> None:
        if generation == self.preview_generation:
            self.controls.stack.error.setText(f"⚠ {msg}")

    # --- config files ---------------------------------------------------------------------------
    def open_config(self) -> None:
        if self.training:
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a config", "", "JSON (*.json);;All files (*)")
        if path:
            self.load_config_file(path)

    def load_config_file(self, path: str) -> bool:
        """Load a config saved by the app or the CLI; a bad file gets a message and changes nothing."""
        try:
            cfg = Config.load(path)
        except UserError as e:
            QtWidgets.QMessageBox.warning(self, "Could not open the config", f"{e}\n\nThe current settings are kept.")
            return False
        self.set_config(cfg)
        return True

    def save_config(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the config", "initscope-config.json",
                                                        "JSON (*.json)")
        if path:
            try:
                self.cfg.save(path)
            except OSError as e:
                QtWidgets.QMessageBox.warning(self, "Could not save the config", str(e))

    # --- runs and exports --------------------------------------------------------------------------
    def save_run(self) -> None:
        if self.training or self.run_cfg is None or not len(self.history.loss) or self.history_from_file:
            QtWidgets.QMessageBox.information(self, "Save run", "Train (or stop) a run first; then save it. "
                                              "(A run opened from a file is saved already.)")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the run", "run.initscope", "Runs (*.initscope)")
        if path:
            self.save_run_to(path)

    def save_run_to(self, path: str) -> None:
        """The run on screen as plain data (weights as numpy); the worker thread writes the file."""
        run = self._saved_run()
        if run is None:
            QtWidgets.QMessageBox.information(self, "Save run", "This run has no weights to save (it failed).")
            return
        self._save_run.emit(path, run)

    def _saved_run(self):
        from initscope.core.runfile import SavedRun, history_arrays

        h = self.history
        arrays, names = history_arrays(h)
        r = self.last_result or {}
        if "state" not in r or h.init is None:
            return None
        return SavedRun(config=self.run_cfg, vocab=list(self.data.vocab.itos), data_path=self.data.path,
                       status=self.run_status, message=r.get("message", ""), steps=len(h.loss), losses=h.loss.data.copy(),
                       history=arrays, names=names, snapshots=[h.init] + [s for s in h.recent if s is not h.init],
                       split_losses=dict(r.get("losses", {})), samples=list(r.get("samples", [])),
                       hints=hints(h.latest) if h.latest else [], state_dict=dict(r["state"]))

    def export_report(self) -> None:
        if self.training or self.overlay:
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export an HTML report", "report.html", "HTML (*.html)")
        if path:
            self.export_report_to(path)

    def export_report_to(self, path: str) -> bool:
        """The same one-file HTML report as `initscope report`, for the run on screen."""
        from initscope.core.files import atomic_write_text
        from initscope.report import render_html

        run = self._saved_run()
        if run is None:
            QtWidgets.QMessageBox.information(self, "Export report", "Train (or open) a finished run first.")
            return False
        atomic_write_text(Path(path), render_html(run, source="initscope window"))
        self.statusBar().showMessage(f"wrote {path}", 8000)
        return True

    def _run_saved(self, path: str) -> None:
        self.last_saved = path
        self.statusBar().showMessage(f"saved the run to {path}", 8000)

    def _file_failed(self, msg: str) -> None:
        QtWidgets.QMessageBox.warning(self, "initscope", f"{msg}\n\nNothing was changed.")

    def open_run(self) -> None:
        if self.training:
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a run", "", "Runs (*.initscope);;All files (*)")
        if path:
            self._open_run.emit(path)

    def show_saved_run(self, run) -> None:
        """Show a saved run as it was: its config in the controls, its history in the panels."""
        from initscope.core.runfile import history_from_run

        if self.training:
            return
        self.run_status = run.status or "finished"
        self.set_config(run.config.copy())
        rec = RunRecord(name=f"{Path(run.data_path).stem or 'run'}: {run.config.name or 'custom'} (file)",
                        cfg=run.config, history=history_from_run(run), status=run.status or "finished",
                        result={"message": run.message, "steps": run.steps, "losses": run.split_losses,
                                "samples": run.samples,
                                "state": {k: v.numpy() for k, v in run.state_dict.items()}},
                        data_path=run.data_path, vocab=tuple(run.vocab), from_file=True)
        self.runs.add(rec, select=False)
        self.runs.select([rec])
        self.status_label.setText(f"saved run: {run.status} after {run.steps:,} steps ({run.config.name or 'custom'})")
        self._update_actions()
        self._force_redraw()

    def export_panels(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Export the panels to a folder")
        if folder:
            self.export_panels_to(folder)

    def export_panels_to(self, folder: str) -> list[str]:
        """Every panel (plot and legend) as PNG (pyqtgraph's ImageExporter) and SVG (Qt's QSvgGenerator:
        pyqtgraph 0.14's SVGExporter fails on the paths Qt 6.11 writes), named after its title."""
        import re

        from PySide6 import QtSvg
        from pyqtgraph.exporters import ImageExporter

        written = []
        for panel in self.panels + self.explorer.panels():
            title = panel.plot.titleLabel.text or "panel"
            stem = re.sub(r"[^a-z0-9]+", "-", re.sub(r"<[^>]+>", "", title).lower()).strip("-")
            scene = panel.view.scene()
            png = f"{folder}/{stem}.png"
            ImageExporter(scene).export(png)
            svg = f"{folder}/{stem}.svg"
            rect = scene.sceneRect()
            gen = QtSvg.QSvgGenerator()
            gen.setFileName(svg)
            gen.setSize(rect.size().toSize())
            gen.setViewBox(rect)
            gen.setTitle(title)
            painter = QtGui.QPainter(gen)
            scene.render(painter, rect, rect)
            painter.end()
            written += [png, svg]
        self.statusBar().showMessage(f"exported {len(written)} files to {folder}", 8000)
        return written

    def export_csv(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export metrics: prefix for the CSV files", "metrics",
                                                        "CSV prefix (*)")
        if path:
            self.export_csv_to(path.removesuffix(".csv"))

    def export_csv_to(self, prefix: str) -> list[str]:
        from initscope.core.files import atomic_write_text
        from initscope.core.runfile import metrics_csv

        loss_csv, layers_csv = metrics_csv(self.history)
        out = [f"{prefix}_loss.csv", f"{prefix}_layers.csv"]
        for path, text in zip(out, (loss_csv, layers_csv)):
            atomic_write_text(Path(path), text)
        self.statusBar().showMessage(f"wrote {out[0]} and {out[1]}", 8000)
        return out

    # --- scenarios and presentation ---------------------------------------------------------------
    def open_scenario(self) -> None:
        if self.training:
            return
        from initscope.core.scenario import SCENARIO_DIR

        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a scenario", str(SCENARIO_DIR),
                                                        "Scenarios (*.json);;All files (*)")
        if path:
            self.load_scenario_file(path)

    def load_scenario_file(self, path: str) -> bool:
        from initscope.core.scenario import load_scenario

        try:
            scenario = load_scenario(path)
        except UserError as e:
            QtWidgets.QMessageBox.warning(self, "Could not open the scenario", f"{e}\n\nNothing was changed.")
            return False
        self.set_scenario(scenario)
        return True

    def set_scenario(self, scenario) -> None:
        self.scenario = scenario
        self.scenario_bar.show()
        self.scenario_step(0)

    def scenario_step(self, i: int) -> None:
        """Load step i of the scenario: its config (ready to train) and its caption."""
        if self.scenario is None or self.training or not 0 <= i < len(self.scenario.steps):
            return
        self.scenario_index = i
        step = self.scenario.steps[i]
        self.set_config(step.config.copy())
        self.run_status = "ready"
        aim = f"<br><i>aim: {step.aim()}</i>" if step.targets else ""
        self.caption.setText(f"<b>{self.scenario.title}</b> — step {i + 1} of {len(self.scenario.steps)}<br>"
                             f"{step.caption}{aim}")
        self.prev_btn.setEnabled(i > 0)
        self.next_btn.setEnabled(i + 1 < len(self.scenario.steps))

    def set_presentation(self, on: bool) -> None:
        """One switch for a projector: bigger fonts everywhere and thicker plot lines."""
        app = QtWidgets.QApplication.instance()
        if not hasattr(self, "_base_point_size"):
            self._base_point_size = app.font().pointSizeF()
        font = app.font()
        font.setPointSizeF(self._base_point_size * (1.5 if on else 1.0))
        app.setFont(font)
        for panel in self.panels + self.explorer.panels():
            panel.set_scale(2.0 if on else 1.0, font.pointSizeF())
        self.controls.adjustSize()
        self.controls_scroll.setMinimumWidth(self.controls.sizeHint().width() + 18)
        self._force_redraw()

    # --- data -------------------------------------------------------------------------------
    def open_data(self) -> None:
        if self.training:
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a word list", str(self.data_path),
                                                        "Text files (*.txt);;All files (*)")
        if path:
            self.load_data(path)

    def load_data(self, path: str) -> None:
        self._pending_path = path
        self._load.emit(path, self.cfg.model.block_size)

    def _data_loaded(self, data) -> None:
        self.data = data
        self.data_path = data.path
        c = data.counts()
        self.controls.data_label.setText(
            f"<b>{data.path.rsplit('/', 1)[-1]}</b>: {len(data.words):,} words, vocabulary {data.vocab.size}<br>"
            f"{c['train']:,} / {c['val']:,} / {c['test']:,} train / val / test examples")
        self.controls.data_label.setToolTip(data.path)
        self._validate()
        if not self.training:
            self.run_status = "ready" if self.run_status == "preview" else self.run_status
            self.preview_timer.start()

    def _data_failed(self, msg: str) -> None:
        self.statusBar().showMessage(f"Could not load data: {msg}", 10_000)
        QtWidgets.QMessageBox.warning(self, "Could not load the word list", f"{msg}\n\nThe current data is kept.")

    # --- running ------------------------------------------------------------------------------
    def train(self) -> None:
        if self.training or self.data is None or self._stack_error is not None:
            return
        self._begin(self.cfg.train.steps)
        self.run_cfg = self.cfg.copy()
        self.history_from_file = False
        rec = self._new_record(self.run_cfg, f"Run {len(self.runs.records) + 1}: {self.run_cfg.name or 'custom'}")
        self.active = {"A": rec}
        self.history = rec.history
        self.runs.select([rec])
        self._train.emit(self.run_cfg, self.data.path)

    def _new_record(self, cfg: Config, name: str) -> RunRecord:
        rec = RunRecord(name=name, cfg=cfg, history=History(), data_path=self.data.path, vocab=tuple(self.data.vocab.itos))
        self.runs.add(rec, select=False)
        return rec

    def _begin(self, total_steps: int) -> None:
        self.training = True
        self.run_status = "running"
        self.last_result = None
        self.drawn_version = None
        self._last_progress = None
        self._t_start = time.perf_counter()
        self.controls.set_training(True)
        self.status_label.setText("starting…")
        self.progress_bar.setRange(0, max(total_steps, 1))
        self.progress_bar.setValue(0)
        self._update_actions()
        for panel in (self.loss_panel, self.sat_panel, self.upd_panel):
            panel.set_x_extent(total_steps)

    def compare_with_one_change(self) -> None:
        """Train the current settings (A) and A with one setting flipped (B) on identical minibatches."""
        if self.training or self.data is None or self._stack_error is not None:
            return
        dlg = CompareDialog(self.cfg.copy(), self)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.train_pair(*dlg.change())

    def train_pair(self, cfg_b: Config, change: str) -> None:
        if self.training or self.data is None or self._stack_error is not None:
            return
        try:
            validate_stack(cfg_b.model.layers, self.data.vocab.size)
        except UserError as e:
            QtWidgets.QMessageBox.warning(self, "Compare with one change", f"B is not a valid network: {e}")
            return
        cfg_a = self.cfg.copy()
        cfg_b.train.steps = cfg_a.train.steps
        self._begin(cfg_a.train.steps)
        self.run_cfg = cfg_a
        self.history_from_file = False
        n = len(self.runs.records)
        a = self._new_record(cfg_a, f"A{n + 1}: {cfg_a.name or 'custom'}")
        b = self._new_record(cfg_b, f"B{n + 1}: {change}")
        self.active = {"A": a, "B": b}
        self.history = a.history
        self.runs.select([a, b])
        self.runs_dock.raise_()
        self._train_pair.emit(cfg_a, cfg_b, self.data.path)

    def _pair_started(self, tag: str, snap: Snapshot) -> None:
        if tag in self.active:
            self.active[tag].history.set_init(snap)
            self._ref_loss = snap.ref_loss

    def _pair_progress(self, tag: str, p) -> None:
        rec = self.active.get(tag)
        if rec is None:
            return
        if len(p.losses):
            rec.history.add_losses(p.first_step, p.losses)
        if p.snapshot is not None:
            rec.history.add_snapshot(p.snapshot)
        if tag == "A":
            self._last_progress = p

    def _pair_finished(self, results: dict) -> None:
        for tag, (status, result) in results.items():
            rec = self.active.get(tag)
            if rec is not None:
                rec.finish(status, result)
                self.runs.refresh(rec)
        a = self.active.get("A")
        self.training = False
        self.run_status = a.status if a else "finished"
        self.last_result = a.result if a else None
        self.active = {}
        self.controls.set_training(False)
        self._status_text()
        self._update_actions()
        self._force_redraw()

    def _runs_selected(self, recs: list) -> None:
        """One run: show it as the window shows any run. Two or more: overlay them and compare layer by layer."""
        if len(recs) >= 2:
            self.overlay = recs
            self._force_redraw()
            return
        self.overlay = []
        self.loss_panel.single()
        if len(recs) == 1:
            rec = recs[0]
            self.history = rec.history
            self.run_cfg = rec.cfg
            self.history_from_file = rec.from_file
            self.run_status = rec.status
            self.last_result = rec.result or None
            for panel in (self.loss_panel, self.sat_panel, self.upd_panel):
                panel.set_x_extent(rec.cfg.train.steps)
            if rec.history.init is not None:
                self._ref_loss = rec.history.init.ref_loss
        self._update_actions()
        self._force_redraw()

    def _run_started(self, snap: Snapshot) -> None:
        self._pair_started("A", snap)

    def _on_progress(self, p) -> None:
        self._pair_progress("A", p)

    def _status_text(self) -> None:
        p = self._last_progress
        if p is None:
            return
        if len(p.losses):
            self._last_loss = float(p.losses[-1])
        loss = f"{self._last_loss:.4f}" if self._last_loss is not None else "-"
        eta = (p.total - p.step) / p.steps_per_sec if p.steps_per_sec > 0 else float("nan")
        eta_s = f"{int(eta // 60)}m{int(eta % 60):02d}s" if math.isfinite(eta) else "-"
        paused = "  (paused)" if self.worker.paused else ""
        self.status_label.setText(f"step {p.step:,} / {p.total:,}   loss {loss}   lr {p.lr:g}   "
                                  f"{p.steps_per_sec:,.0f} steps/s   ETA {eta_s}{paused}")
        self.progress_bar.setValue(p.step)

    def toggle_pause(self) -> None:
        if not self.training:
            return
        self.worker.resume() if self.worker.paused else self.worker.pause()
        self._update_actions()
        self._status_text()

    def stop(self) -> None:
        if self.training:
            self.worker.stop()

    def reset(self) -> None:
        if self.training:
            return
        self.run_status = "ready"
        self.last_result = None
        self._last_progress = None
        self._request_preview()

    def _run_finished(self, status: str, result: dict) -> None:
        self._pair_finished({"A": (status, result)})

    def _run_failed(self, msg: str) -> None:
        was = self.training
        self.training = False
        for rec in self.active.values():
            rec.finish("failed", {"message": msg})
            self.runs.refresh(rec)
        self.active = {}
        self.run_status = "failed"
        self.controls.set_training(False)
        self._update_actions()
        self.statusBar().showMessage(f"Run failed: {msg}", 15_000)
        if was:
            QtWidgets.QMessageBox.warning(self, "The run failed", f"{msg}\n\nWhat was recorded stays on screen.")
        self._force_redraw()

    def sample_names(self) -> None:
        if self.training or not self.last_result or "samples" not in self.last_result:
            return
        self._show_samples(self.last_result["samples"], first=True)

    def _show_samples(self, names: list, first: bool = False) -> None:
        if not first and self.last_result is not None:
            self.last_result["samples"] = names
        dlg = getattr(self, "_samples_dlg", None)
        if dlg is None:
            dlg = self._samples_dlg = QtWidgets.QDialog(self)
            dlg.setWindowTitle("Names sampled from the model")
            lay = QtWidgets.QVBoxLayout(dlg)
            dlg.text = QtWidgets.QPlainTextEdit(readOnly=True)
            again = QtWidgets.QPushButton("Sample 20 more")
            again.clicked.connect(self._sample_more)
            lay.addWidget(dlg.text)
            lay.addWidget(again)
            dlg.resize(320, 440)
        dlg.text.setPlainText("\n".join(names))
        dlg.show()
        dlg.raise_()

    def _sample_more(self) -> None:
        recs = self.runs.selected()
        if len(recs) == 1 and "state" in recs[0].result and not self.training:
            self._sample.emit(recs[0].cfg, recs[0].result["state"], recs[0].vocab)

    # --- drawing ------------------------------------------------------------------------------
    def _force_redraw(self) -> None:
        self.drawn_version = None
        self._drawn_snapshot = None

    def redraw(self) -> None:
        if self.training:
            self._status_text()
            self._update_actions()
        if self.tabs.currentIndex() == 2:
            self.explorer.redraw()
        if self.overlay:
            self._redraw_overlay()
            return
        h = self.history
        if (id(h), h.version) == self.drawn_version:
            return
        self.drawn_version = (id(h), h.version)
        self.redraws += 1
        tab = self.tabs.currentIndex()
        overview = tab == 0
        if overview:
            self.loss_panel.update_from(h, self._ref_loss)
        if tab > 1:  # the explorer tabs: only the dead-neuron map follows the run
            if tab == 3 and self.dead_map_snapshot is not h.latest:
                self.dead_map_snapshot = h.latest
                self.explorer.dead_map.show_snapshot(h.latest)
            if h.latest is not None:
                self._show_hints(h.latest)
            return
        # snapshot panels change only when a new snapshot arrived (every K steps), not with every loss chunk
        snap = h.latest
        key = (id(h), id(snap), overview)
        if key == self._drawn_snapshot:
            return
        self._drawn_snapshot = key
        block_of = self._run_blocks()
        if h.saturation is not None and len(h.snap_steps):
            steps = h.snap_steps.data
            tanh = [j for j, n in enumerate(h.layer_names) if n.endswith("Tanh")]
            if overview:
                self.sat_panel.update_series([h.layer_names[j] for j in tanh], steps, h.saturation.data[:, tanh],
                                             block_of, 100.0)
                self.upd_panel.update_series(h.matrix_names, steps, h.update.data, block_of)
        if snap is not None:
            layers = snap.layers
            if overview:
                self.act_panel.update_hists([s.name for s in layers], [s.hist for s in layers],
                                            [f"{s.name}<br>μ {s.mean:+.2f} σ {s.std:.2f} sat {s.saturation:.0%}"
                                             for s in layers], block_of)
            else:
                self.grad_panel.update_hists([s.name for s in layers], [s.grad_hist for s in layers],
                                             [f"{s.name}  σ {s.grad_std:.1e}" for s in layers], block_of)
                mats = [p for p in snap.params if p.is_matrix]
                self.ratio_panel.update_bars(snap, block_of)
                self.wgrad_panel.update_hists([p.name for p in mats], [p.grad_hist for p in mats],
                                              [f"{short_name(p.name)} σ {p.grad_std:.1e}" for p in mats],
                                              block_of)
            self._show_hints(snap)

    def _redraw_overlay(self) -> None:
        """Two or more runs: loss, saturation and update:data overlaid; the Compare tab's table side by side."""
        key = tuple((r.id, r.name, r.status, r.history.version) for r in self.overlay) + (self.tabs.currentIndex(),)
        if key == self._overlay_key:
            return
        self._overlay_key = key
        self.redraws += 1
        block_of = self._run_blocks()
        recs = [r for r in self.overlay if len(r.history.loss) or r.history.init is not None]
        self.loss_panel.overlay([(r.name, r.history.loss.data, r.history.loss_first_step) for r in recs])
        with_rows = [r for r in recs if r.history.saturation is not None and len(r.history.snap_steps)]
        sat, upd = [], []
        for r in with_rows:
            h = r.history
            tanh = [j for j, n in enumerate(h.layer_names) if n.endswith("Tanh")]
            sat.append((r.name, [h.layer_names[j] for j in tanh], h.snap_steps.data, h.saturation.data[:, tanh]))
            upd.append((r.name, h.matrix_names, h.snap_steps.data, h.update.data))
        self.sat_panel.set_x_extent(None)
        self.upd_panel.set_x_extent(None)
        self.sat_panel.overlay_series(sat, block_of, 100.0)
        self.upd_panel.overlay_series(upd, block_of)
        self._fill_compare_table(with_rows)
        first = next((r for r in recs if r.history.latest is not None), None)
        if first is not None:  # densities of one run only: several runs' lines would be unreadable
            snap = first.history.latest
            self.act_panel.update_hists([s.name for s in snap.layers], [s.hist for s in snap.layers],
                                        [f"{run_tag(first.name)} · {s.name}<br>σ {s.std:.2f} sat {s.saturation:.0%}"
                                         for s in snap.layers], block_of)
        lines = [f"Comparing {len(recs)} runs (line style = run): " + ", ".join(r.name for r in recs)]
        for r in recs:
            ls = r.result.get("losses") if r.result else None
            lines.append(f"• {r.name}: {r.status}" + (f", val {ls['val']:.4f}" if ls else ""))
        self.hint_box.setText("<br>".join(lines))

    def _fill_compare_table(self, recs: list) -> None:
        """Per-layer saturation / std / gradient std of each run at the latest snapshot step they all have."""
        t = self.compare_table
        if len(recs) < 2:
            t.clear()
            t.setRowCount(0)
            self.compare_note.setText("Select two or more runs that have snapshots.")
            return
        common = set(recs[0].history.snap_steps.data.tolist())
        for r in recs[1:]:
            common &= set(r.history.snap_steps.data.tolist())
        if not common:
            self.compare_note.setText("These runs share no snapshot step yet.")
            return
        step = max(common)
        self.compare_note.setText(f"Per layer at step {step:,} (the latest snapshot all selected runs have)")
        # rows are activation positions (the k-th activation of each run), so a stack with BatchNorm
        # (L2 Tanh) lines up with one without (L1 Tanh)
        depth = max(len(r.history.layer_names) for r in recs)
        cols = [(r, stat) for r in recs for stat in ("sat %", "std", "grad std")]
        t.setColumnCount(len(cols))
        t.setRowCount(depth)
        t.setHorizontalHeaderLabels([f"{r.name}\n{stat}" for r, stat in cols])
        t.setVerticalHeaderLabels([f"activation {k + 1}" for k in range(depth)])
        for c, (r, stat) in enumerate(cols):
            h = r.history
            row = int(np.nonzero(h.snap_steps.data == step)[0][-1])
            arr = {"sat %": h.saturation.data * 100, "std": h.act_std.data, "grad std": h.grad_std.data}[stat]
            for j, n in enumerate(h.layer_names):
                v = float(arr[row, j])
                text = f"{v:.1f}" if stat == "sat %" else (f"{v:.3f}" if stat == "std" else f"{v:.2e}")
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(f"{r.name}: {n}")
                t.setItem(j, c, item)
        t.resizeColumnsToContents()

    def _run_blocks(self) -> dict[int, int]:
        return blocks([s.kind for s in self.cfg.model.layers])

    def _show_hints(self, snap: Snapshot) -> None:
        lines = []
        r = self.last_result
        if self.run_status == "diverged" and r:
            lines.append(f"<b style='color:#b00020'>Run {r['message']}</b>")
        elif r and "losses" in r:
            ls = r["losses"]
            lines.append(f"<b>{self.run_status.capitalize()} after {r['steps']:,} steps:</b> train {ls['train']:.4f}"
                         f" · val {ls['val']:.4f} · test {ls['test']:.4f}   (Sample names: Ctrl+N)")
        said = hints(snap)
        where = "at init" if snap.step == 0 else f"at step {snap.step:,}"
        if said:
            lines += [f"• {h}" for h in said[:4]]
            if len(said) > 4:
                lines.append(f"… and {len(said) - 4} more")
        else:
            lines.append(f"No problems visible in the snapshot {where}.")
        self.hint_box.setText("<br>".join(lines))

    # --- closing ---------------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.redraw_timer.stop()
        self.worker.stop()
        self.explorer.worker.latest = -1  # a running sweep stops at its next point
        for th in (self.worker_thread, self.engine_thread, self.sweep_thread):
            th.quit()
        for th in (self.worker_thread, self.engine_thread, self.sweep_thread):
            if not th.wait(10_000):
                th.terminate()
                th.wait(2_000)
        self.worker.close()  # the training process: asked to quit, then joined
        super().closeEvent(event)
