"""The "Train sweep" view: full training runs across one or two fields, run in worker processes off the GUI thread.

A grid of small loss curves (one cell per point, one line per seed) fills in as jobs finish; the summary plot
shows the final val loss against the swept value, one line per variant, with the seed spread (± std) as a band.
Clicking a summary point emits `run_requested(path)` with the saved run of that point's first seed, which the
main window opens with its ordinary "open run" path.

The view is standalone: it takes its base config and data path through `set_base_config`, owns its thread, and
never touches a widget from another thread (the runner only emits plain data).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from initscope.core.config import Config
from initscope.core.errors import UserError
from initscope.core.messages import RunStatus
from initscope.core.sweep_backends import LocalPool, default_workers, run_sweep
from initscope.core.train_sweep import (
    SWEEP_FIELDS,
    JobResult,
    SweepResults,
    SweepSpec,
    parse_values,
)
from initscope.gui.help import HelpCornerRoom
from initscope.gui.panels import set_plot_text_size
from initscope.gui.presentation import FONT_SCALE

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
DEFAULT_VALUES = {"gain": "0.25,0.5,1,5/3,2,3", "output_factor": "0.01,0.1,0.3,1", "depth": "1,2,4,8",
                  "width": "25,50,100,200", "lr": "0.01,0.03,0.1,0.3",
                  "scheme": "kaiming,naive,torch-default,xavier-normal,orthogonal,lsuv",
                  "batchnorm": "off,on", "norm": "none,batchnorm,layernorm,rmsnorm", "residual_scaling": "none,gpt2,zero"}
NO_FIELD = "(none)"
CELL_MIN = (170, 160)  # px: a small multiple's least size at the normal font (presentation: larger)
CELL_TITLE_SIZE = "8pt"  # the small multiples' titles (presentation mode: the axes' size x 1.1)


def _label(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class SweepRunner(QtCore.QObject):
    """Runs one sweep in its thread; emits each job's result and then the whole SweepResults (plain data)."""

    result = QtCore.Signal(object)  # JobResult
    done = QtCore.Signal(object)  # SweepResults
    failed = QtCore.Signal(str)

    def __init__(self, spec: SweepSpec, data_path: str | None, backend, save_dir: str):
        super().__init__()
        self.spec, self.data_path, self.backend, self.save_dir = spec, data_path, backend, save_dir

    @QtCore.Slot()
    def run(self) -> None:
        try:
            from initscope.core.data import load_dataset

            data = load_dataset(self.data_path, self.spec.base.model.block_size)
            with self.backend:
                out = run_sweep(self.spec, data, self.backend, self.save_dir,
                                lambda _results, res: self.result.emit(res))
            self.done.emit(out)
        except UserError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - shown in the view, never a crash of the window
            self.failed.emit(f"{type(e).__name__}: {e}")


class TrainSweepView(HelpCornerRoom, QtWidgets.QWidget):
    """Pick a field and values, run, watch; click a summary point to open its run."""

    run_requested = QtCore.Signal(str)  # a saved .initscope run of the clicked point
    finished = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cfg: Config | None = None
        self.data_path: str | None = None
        self.spec: SweepSpec | None = None
        self.results: SweepResults | None = None
        self._partial: dict[int, JobResult] = {}
        self._thread: QtCore.QThread | None = None
        self._runner: SweepRunner | None = None
        self.backend = None
        self.save_dir: str | None = None
        self.scale, self.point_size = 1.0, None  # presentation mode's (set_scale)
        self._build()

    # --- layout ------------------------------------------------------------------
    def _build(self) -> None:
        self.param = QtWidgets.QComboBox()
        self.param.addItems(list(SWEEP_FIELDS))
        self.values = QtWidgets.QLineEdit(DEFAULT_VALUES["gain"])
        self._auto_values = self.values.text()  # the last text set for the user, not typed by them
        self.param2 = QtWidgets.QComboBox()
        self.param2.addItems([NO_FIELD, *SWEEP_FIELDS])
        self.values2 = QtWidgets.QLineEdit()
        self.seeds = QtWidgets.QSpinBox(minimum=1, maximum=20, value=2)
        self.steps = QtWidgets.QSpinBox(minimum=1, maximum=10_000_000, value=2000, singleStep=1000)
        self.steps.setGroupSeparatorShown(True)
        self.workers = QtWidgets.QSpinBox(minimum=1, maximum=256, value=default_workers())
        for w in (self.param, self.param2):
            w.setToolTip("\n".join(f"{k}: {v}" for k, v in SWEEP_FIELDS.items()))
        self.param.currentTextChanged.connect(lambda name: self._set_values(self._default_values(name)))
        self.param2.currentTextChanged.connect(
            lambda name: self.values2.setText("" if name == NO_FIELD else self._default_values(name)))
        self.run_btn = QtWidgets.QPushButton("Run sweep")
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        # short names: the row fits beside the side panel in presentation mode at 1024 px (the tooltips say more)
        self.save_btn = QtWidgets.QPushButton("Save…")
        self.save_btn.setToolTip("save the sweep's results (final losses per point and seed) as JSON")
        self.export_btn = QtWidgets.QPushButton("Export PNG…")
        self.export_btn.setToolTip("the summary plot and its key as a PNG, 1600 px wide, for slides")
        self.load_btn = QtWidgets.QPushButton("Open…")
        self.load_btn.setToolTip("show a sweep saved as JSON (Save…, or `initscope sweep train --json-out`)")
        self.cancel_btn.setEnabled(False)
        self.save_btn.setEnabled(False)
        self.export_btn.setEnabled(False)
        self.run_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        self.save_btn.clicked.connect(self._save_dialog)
        self.export_btn.clicked.connect(self._export_dialog)
        self.load_btn.clicked.connect(self._load_dialog)
        self.status = QtWidgets.QLabel("set a field and values, then Run sweep")
        self.status.setWordWrap(True)

        # three rows of fields and one of buttons: the plots keep room in presentation mode at 1024x700 (the
        # four-row form and two rows of buttons left them 20 px), and it all fits beside the side panel at 1024 px
        # (the run's sizes are a row of their own, not in the grid: aligned under the wide field boxes they made
        # the view too wide to sit beside the side panel in presentation mode at 1024 px)
        form = QtWidgets.QGridLayout()
        for row, pairs in enumerate(((("field", self.param), ("values", self.values)),
                                     (("and", self.param2), ("values", self.values2)))):
            for col, (label, w) in enumerate(pairs):
                form.addWidget(QtWidgets.QLabel(label), row, 2 * col)
                form.addWidget(w, row, 2 * col + 1)
        form.setColumnStretch(3, 1)
        sizes = QtWidgets.QHBoxLayout()
        for label, w in (("seeds", self.seeds), ("steps", self.steps), ("workers", self.workers)):
            sizes.addWidget(QtWidgets.QLabel(label))
            sizes.addWidget(w)
        sizes.addStretch(1)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.run_btn, self.cancel_btn, self.load_btn, self.save_btn, self.export_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.summary = pg.GraphicsLayoutWidget()
        self.summary.setBackground("w")
        self.summary_plot = self.summary.addPlot(row=0, col=0)
        self.summary_plot.showGrid(x=True, y=True, alpha=0.3)
        self.summary_plot.setLabel("left", "val loss")  # short: the title says "final"; the long one was cut at 1024x700
        self.summary_plot.setTitle("Final val loss", color="#333")  # mean over seeds; the band is ± one std
        # no axes before a sweep: empty, they read "(x0.001) -400..400"; a line says what will be drawn
        for side in ("left", "bottom"):
            self.summary_plot.hideAxis(side)
        self.empty_note = pg.TextItem("each value's final val loss appears here as its runs finish",
                                      color="#666", anchor=(0.5, 0.5))
        self.summary_plot.addItem(self.empty_note)
        self.summary_plot.setXRange(-1, 1, padding=0)
        self.summary_plot.setYRange(-1, 1, padding=0)
        # the variants' key under the plot, off the data (inside it, it sat on the lines); one variant has none
        self.legend = pg.LegendItem(labelTextSize="9pt")
        self.summary.addItem(self.legend, row=1, col=0)
        self.legend.setVisible(False)
        # the small multiples, as many to a row as fit at a readable size, the rest below (it scrolls): in a fixed
        # values x variants grid, six gains beside the side panel were 40 px wide, and two variants in
        # presentation mode at 1024x700 were 20 px tall
        self.grid = pg.GraphicsLayoutWidget()
        self.grid.setBackground("w")
        self.grid_scroll = QtWidgets.QScrollArea()
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.grid_scroll.setWidget(self.grid)
        self.grid_scroll.viewport().installEventFilter(self)
        self.grid_cols = 0
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(self.grid_scroll)
        split.addWidget(self.summary)
        split.setSizes([500, 500])
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        self.corner_layout = form  # the form ends short of the panel's "?" (it sat on the values field)
        lay.addLayout(sizes)
        lay.addLayout(buttons)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.lines: dict[str, pg.PlotDataItem] = {}  # variant label -> mean line
        self.bands: dict[str, pg.FillBetweenItem] = {}
        self.cells: dict[tuple[int, int], pg.PlotItem] = {}

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode: the plots' titles, axes, legend and lines grow with the rest; cells made by a
        later sweep take the same."""
        self.scale, self.point_size = scale, (point_size if scale != 1.0 else None)
        set_plot_text_size(self.summary_plot, self.point_size)
        size = "9pt" if self.point_size is None else f"{self.point_size:.0f}pt"
        self.legend.opts["labelTextSize"] = size
        for _, label in self.legend.items:
            label.setText(label.text, size=size)
        for line in self.lines.values():
            line.setPen(pg.mkPen(line.opts["pen"].color(), width=2 * scale))
            line.setSymbolSize(8 * scale ** 0.5)
        for cell in self.cells.values():
            self._scale_cell(cell)
        self.grid_cols = 0
        self._place_cells()

    def _scale_cell(self, cell: pg.PlotItem) -> None:
        set_plot_text_size(cell, self.point_size, title_size=CELL_TITLE_SIZE)
        cell.getAxis("left").setWidth(28 if self.point_size is None else None)  # narrow, unless its ticks grew
        for item in cell.listDataItems():
            item.setPen(pg.mkPen(item.opts["pen"].color(), width=self.scale))

    def _default_values(self, name: str) -> str:
        """The field's usual range, with the current setting in it, so a sweep starts around what is on screen."""
        text = DEFAULT_VALUES.get(name, "")
        cur = None
        if self.cfg is not None:
            cur = {"gain": self.cfg.init.gain, "output_factor": self.cfg.init.output_factor, "lr": self.cfg.train.lr,
                   "width": next((s.width for s in self.cfg.model.layers if s.kind == "linear" and s.width), None),
                   "depth": sum(s.kind == "residual" for s in self.cfg.model.layers)  # a residual stack: its blocks
                   or sum(s.kind == "linear" for s in self.cfg.model.layers) - 1}.get(name)
        if cur is None or cur <= 0:
            return text
        vals = parse_values(text)
        if not any(math.isclose(float(v), float(cur), rel_tol=1e-6) for v in vals):
            vals = sorted([*vals, cur])
            text = ",".join(_label(v) for v in vals)
        return text

    # --- API for the main window -----------------------------------------------------
    def set_base_config(self, cfg: Config, data_path: str | None) -> None:
        """The settings a sweep starts from (the window's current config and data file)."""
        self.cfg, self.data_path = cfg.copy(), data_path
        # once a sweep is on screen, or the user typed values, they stay: opening a clicked point (whose config
        # becomes the window's) reset the field, which then no longer matched the plot
        if self.spec is None and self.values.text() == self._auto_values:
            self.steps.setValue(min(cfg.train.steps, 2000) or 2000)
            self._set_values(self._default_values(self.param.currentText()))

    def _set_values(self, text: str) -> None:
        self._auto_values = text
        self.values.setText(text)

    def make_spec(self) -> SweepSpec:
        if self.cfg is None:
            raise UserError("no base config yet")
        p2 = self.param2.currentText()
        spec = SweepSpec(self.cfg, self.param.currentText(), parse_values(self.values.text()),
                         None if p2 == NO_FIELD else p2, [] if p2 == NO_FIELD else parse_values(self.values2.text()),
                         self.seeds.value(), self.steps.value())
        spec.validate()
        return spec

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, backend=None) -> bool:
        """Run the sweep set in the form (on `backend`, default a local pool of `workers`). False if refused."""
        if self.running:
            return False
        try:
            spec = self.make_spec()
        except UserError as e:
            self.status.setText(f"cannot run: {e}")
            return False
        self.spec, self.results, self._partial = spec, None, {}
        self._new_save_dir()
        self.backend = backend or LocalPool(self.workers.value())
        self._setup_plots(spec)
        n = len(spec.values) * len(spec.variants) * spec.seeds
        self.status.setText(f"running {n} runs x {spec.steps:,} steps on {self.backend.workers} workers…")
        self._thread = QtCore.QThread(self)
        self._runner = SweepRunner(spec, self.data_path, self.backend, self.save_dir)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.result.connect(self._on_result)
        self._runner.done.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._thread.start()
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        return True

    def cancel(self) -> None:
        """Stop every job; the finished ones stay drawn and can be saved."""
        if self.backend is not None and self.running:
            self.backend.cancel()
            self.status.setText("cancelling…")

    def shutdown(self, timeout_ms: int = 15_000) -> None:
        """Cancel and wait for the thread (the window calls this from closeEvent), then drop the saved runs."""
        self.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(timeout_ms)
        self._finish_thread()
        if self.save_dir:
            shutil.rmtree(self.save_dir, ignore_errors=True)
            self.save_dir = None

    def _new_save_dir(self) -> None:
        if self.save_dir:
            shutil.rmtree(self.save_dir, ignore_errors=True)
        self.save_dir = tempfile.mkdtemp(prefix="initscope-sweep-")

    # --- results arriving (GUI thread) ----------------------------------------------
    def _on_result(self, res: JobResult) -> None:
        self._partial[res.index] = res
        if self.spec is None:
            return
        results = SweepResults(self.spec, self.spec.jobs(self.save_dir))
        for r in self._partial.values():
            results.add(r)
        self._draw(results)
        total = len(results.jobs)
        self.status.setText(f"{len(self._partial)} / {total} runs done")

    def _on_done(self, results: SweepResults) -> None:
        self.results = results
        self._draw(results)
        failed = sum(r.status != RunStatus.FINISHED for r in results.results.values())
        what = "cancelled" if self.backend is not None and self.backend.cancelled else "done"
        self.status.setText(f"{what}: {results.done} runs in {results.wall_seconds:.1f} s"
                            + (f", {failed} failed or diverged" if failed else "") + "; click a point to open its run")
        self._finish_thread()

    def _on_failed(self, msg: str) -> None:
        self.status.setText(f"sweep failed: {msg}")
        self._finish_thread()

    def _finish_thread(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread.deleteLater()
            self._runner.deleteLater()
            self._thread = self._runner = None
            self.finished.emit()
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        has = bool(self._partial)
        self.save_btn.setEnabled(has)
        self.export_btn.setEnabled(has)

    # --- drawing ----------------------------------------------------------------------
    def _x(self, spec: SweepSpec) -> tuple[np.ndarray, list | None]:
        """Numeric values on their own axis; names (scheme, batchnorm) at 0, 1, ... with ticks."""
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec.values):
            return np.array([float(v) for v in spec.values]), None
        return np.arange(len(spec.values), dtype=float), [(i, _label(v)) for i, v in enumerate(spec.values)]

    def _variant_label(self, spec: SweepSpec, v2) -> str:
        return f"{spec.param2}={_label(v2)}" if spec.param2 else "val loss"

    def _setup_plots(self, spec: SweepSpec) -> None:
        self.summary_plot.clear()
        for side in ("left", "bottom"):
            self.summary_plot.showAxis(side)
        self.summary_plot.enableAutoRange()
        self.legend.clear()
        self.lines, self.bands = {}, {}
        _, ticks = self._x(spec)
        self.summary_plot.setLabel("bottom", spec.param)
        self.summary_plot.getAxis("bottom").setTicks([ticks] if ticks else None)
        for j, v2 in enumerate(spec.variants):
            color = PALETTE[j % len(PALETTE)]
            label = self._variant_label(spec, v2)
            lo, hi = pg.PlotCurveItem(pen=pg.mkPen(None)), pg.PlotCurveItem(pen=pg.mkPen(None))
            band = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(color + "40"))
            self.summary_plot.addItem(lo)
            self.summary_plot.addItem(hi)
            self.summary_plot.addItem(band)
            line = self.summary_plot.plot([], [], pen=pg.mkPen(color, width=2 * self.scale), symbol="o",
                                     symbolSize=8 * self.scale ** 0.5, symbolBrush=color, name=label)
            line.sigPointsClicked.connect(lambda _item, pts, _ev=None, j=j: self._clicked(j, pts))
            self.lines[label], self.bands[label] = line, band
            if len(spec.variants) > 1:
                self.legend.addItem(line, label)
        self.legend.setColumnCount(min(len(spec.variants), 3))
        self.legend.setVisible(len(spec.variants) > 1)
        self.grid.clear()
        self.cells = {}
        for j, v2 in enumerate(spec.variants):
            for i, v in enumerate(spec.values):
                title = f"{spec.param}={_label(v)}" + (f", {_label(v2)}" if spec.param2 else "")
                cell = pg.PlotItem()
                cell.setTitle(title, size=CELL_TITLE_SIZE)
                cell.setLogMode(y=False)
                cell.hideButtons()
                self._scale_cell(cell)
                self.cells[(i, j)] = cell
        self.grid_cols = 0
        self._place_cells()

    def _cell_size(self) -> tuple[int, int]:
        """The least size of a small multiple: a 100 px data area beside its axes, under its title; larger with
        presentation mode's fonts."""
        f = 1.0 if self.point_size is None else FONT_SCALE
        return round(CELL_MIN[0] * f), round(CELL_MIN[1] * f)

    def _place_cells(self) -> None:
        """The cells in reading order (variant by variant), as many to a row as fit the width."""
        if not self.cells:
            self.grid.setMinimumHeight(0)
            return
        w, h = self._cell_size()
        cols = max(1, min(len(self.cells), self.grid_scroll.viewport().width() // w))
        if cols != self.grid_cols:
            self.grid_cols = cols
            self.grid.clear()
            order = sorted(self.cells, key=lambda ij: (ij[1], ij[0]))
            for k, ij in enumerate(order):
                self.grid.addItem(self.cells[ij], row=k // cols, col=k % cols)
        self.grid.setMinimumHeight(-(-len(self.cells) // cols) * h)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.grid_scroll.viewport() and event.type() == QtCore.QEvent.Type.Resize:
            self._place_cells()
        return False

    def _draw(self, results: SweepResults) -> None:
        spec = results.spec
        xs, _ = self._x(spec)
        points = results.points()
        nv = len(spec.variants)
        for j, v2 in enumerate(spec.variants):
            label = self._variant_label(spec, v2)
            sel = [(xs[i], points[i * nv + j]) for i in range(len(spec.values))]
            sel = [(x, p) for x, p in sel if p.val_mean is not None]
            x = np.array([x for x, _ in sel], float)
            mean = np.array([p.val_mean for _, p in sel], float)
            std = np.array([p.val_std for _, p in sel], float)
            self.lines[label].setData(x, mean)
            band = self.bands[label]
            band.curves[0].setData(x, mean - std)
            band.curves[1].setData(x, mean + std)
        for (i, j), cell in self.cells.items():
            p = points[i * nv + j]
            cell.clear()
            for k, (_, r) in enumerate(p.runs):
                if r is None or not len(r.curve):
                    continue
                ok = np.isfinite(r.curve)
                color = "#d62728" if r.status != RunStatus.FINISHED else PALETTE[k % len(PALETTE)]
                cell.plot(r.curve_steps[ok], r.curve[ok], pen=pg.mkPen(color, width=self.scale))
            bad = [r for _, r in p.runs if r is not None and r.status != RunStatus.FINISHED]
            if bad:
                txt = pg.TextItem(bad[0].status, color="#d62728", anchor=(0, 0))
                cell.addItem(txt)
                cell.setToolTip(bad[0].message)

    def summary_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What the summary plot draws: variant label -> (x, mean val loss). For tests and exports."""
        return {label: tuple(np.asarray(a) for a in line.getData()) for label, line in self.lines.items()}

    def band_data(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """variant label -> (x, lower, upper) of the seed band."""
        out = {}
        for label, band in self.bands.items():
            x, lo = band.curves[0].getData()
            _, hi = band.curves[1].getData()
            out[label] = (np.asarray(x), np.asarray(lo), np.asarray(hi))
        return out

    # --- clicking, saving, exporting -----------------------------------------------------
    def _clicked(self, j: int, pts) -> None:
        if not len(pts) or self.spec is None:
            return
        x = pts[0].pos().x()
        xs, _ = self._x(self.spec)
        i = int(np.argmin(np.abs(xs - x)))
        path = self.run_path(i, j)
        if path:
            self.run_requested.emit(path)

    def run_path(self, i: int, j: int) -> str | None:
        """The saved run of point (value i, variant j): its first seed whose run file exists."""
        if self.spec is None:
            return None
        for job in self.spec.jobs(self.save_dir):
            if job.i == i and job.j == j and job.index in self._partial:
                path = self._partial[job.index].run_path
                if path and Path(path).is_file():
                    return path
        return None

    def current_results(self) -> SweepResults | None:
        if self.results is not None:
            return self.results
        if self.spec is None or not self._partial:
            return None
        res = SweepResults(self.spec, self.spec.jobs(self.save_dir))
        for r in self._partial.values():
            res.add(r)
        return res

    def save_json(self, path: str | Path) -> None:
        from initscope.core.files import atomic_write_text

        res = self.current_results()
        if res is None:
            raise UserError("no sweep results to save yet")
        atomic_write_text(Path(path), json.dumps(res.to_dict(), indent=1) + "\n")

    def load_json(self, path: str | Path) -> None:
        """Show a saved sweep (this view's Save, or `sweep train --json-out`): the summary plot; the grid stays empty
        (the JSON keeps final losses, not curves)."""
        from initscope.core.train_sweep import read_sweep_json

        results = read_sweep_json(path, self.cfg)  # the reader lives beside its writer, in the core
        spec = results.spec
        self.spec, self.results = spec, results
        self._partial = dict(results.results)
        self._setup_plots(spec)
        self._draw(results)
        self.status.setText(f"{path}: {results.done} runs x {spec.steps:,} steps")
        self.save_btn.setEnabled(True)
        self.export_btn.setEnabled(True)

    def export_png(self, path: str | Path, width: int = 1600) -> None:
        """The summary plot and its key as a PNG (pyqtgraph's exporter, widened for slides)."""
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(self.summary.ci)
        exporter.parameters()["width"] = width
        exporter.export(str(path))

    def _save_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save sweep", "sweep.json", "JSON (*.json)")
        if path:
            try:
                self.save_json(path)
            except UserError as e:
                self.status.setText(str(e))

    def _load_dialog(self) -> None:
        if self.running:
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load sweep", "", "JSON (*.json)")
        if path:
            try:
                self.load_json(path)
            except UserError as e:
                self.status.setText(str(e))

    def _export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export summary plot", "sweep.png", "PNG (*.png)")
        if path:
            self.export_png(path)
