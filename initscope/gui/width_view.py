"""The "Width" view: a coordinate check, standard parametrisation beside muP, run in worker processes off the GUI
thread (core/width.py does the work).

Two rows of small log-log plots, standard on top and muP below, one plot per step (mup's coord_check layout): x is
the width, y the mean |x| of a layer's output over the batch, one line per layer with its log-log slope at its right
end, the seeds' spread as a band. At step 0 the init-time theory (core/theory.mean_abs) is drawn dashed: it has no
width in it. The lines fill in as jobs finish. Clicking a point emits `run_requested(path)` with the saved run of
that width (its first seed), which the main window opens with its ordinary "open run" path.
"""

from __future__ import annotations

import math
import shutil
import tempfile

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from initscope.core.config import Config
from initscope.core.errors import UserError
from initscope.core.messages import RunStatus
from initscope.core.sweep_backends import LocalPool, default_workers
from initscope.core.width import (
    DEFAULT_BASE_WIDTH,
    FLAT,
    PARAMETRIZATIONS,
    WidthResults,
    WidthSpec,
    at_width,
    parse_widths,
    run_width_sweep,
)
from initscope.gui.help import HelpCornerRoom
from initscope.gui.panels import set_plot_text_size

PALETTE = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
OUTPUT_COLOR = "#d62728"
MAX_COLUMNS = 6  # steps shown: all of them up to T = 5, else six spread over 0..T (fewer where they do not fit)
CELL_MIN_W = 140  # px at the normal font: a narrower cell's data area fell under 60 px beside its axis
TITLES = {"standard": "standard", "mup": "muP"}
CELL_TITLE_SIZE = "8pt"


def shown_steps(steps: int, columns: int = MAX_COLUMNS) -> list[int]:
    """The steps that get a plot: 0..T when that is at most `columns`, else `columns` of them from 0 to T."""
    if steps + 1 <= columns:
        return list(range(steps + 1))
    return sorted({round(x) for x in np.linspace(0, steps, columns)})


class WidthRunner(QtCore.QObject):
    """Runs the sweeps (standard, then muP) in its thread; emits each job's result, then all results (plain data)."""

    result = QtCore.Signal(str, object)  # parametrization, WidthResult
    done = QtCore.Signal(object)  # {parametrization: WidthResults}
    failed = QtCore.Signal(str)

    def __init__(self, specs: dict[str, WidthSpec], data_path: str | None, backend, save_dir: str):
        super().__init__()
        self.specs, self.data_path, self.backend, self.save_dir = specs, data_path, backend, save_dir

    @QtCore.Slot()
    def run(self) -> None:
        try:
            from initscope.core.data import load_dataset

            first = next(iter(self.specs.values()))
            data = load_dataset(self.data_path, first.base.model.block_size)
            out = {}
            with self.backend:
                for par, spec in self.specs.items():
                    if self.backend.cancelled:
                        break
                    out[par] = run_width_sweep(spec, data, self.backend, self.save_dir,
                                               lambda _r, res, par=par: self.result.emit(par, res))
            self.done.emit(out)
        except UserError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - shown in the view, never a crash of the window
            self.failed.emit(f"{type(e).__name__}: {e}")


class WidthView(HelpCornerRoom, QtWidgets.QWidget):
    """Set widths, optimizer, lr and steps; run both parametrisations; read the slopes; click a width to open it."""

    run_requested = QtCore.Signal(str)
    finished = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cfg: Config | None = None
        self.data_path: str | None = None
        self.vocab_size = 27
        self.specs: dict[str, WidthSpec] = {}
        self.results: dict[str, WidthResults] = {}
        self._partial: dict[str, dict[int, object]] = {}
        self._thread: QtCore.QThread | None = None
        self._runner: WidthRunner | None = None
        self.backend = None
        self.save_dir: str | None = None
        self.scale, self.point_size = 1.0, None
        self._cols = MAX_COLUMNS
        self.cells: dict[tuple[str, int], pg.PlotItem] = {}
        self.lines: dict[tuple[str, int, int], pg.PlotDataItem] = {}  # (par, step, layer) -> mean line
        self.bands: dict[tuple[str, int, int], pg.FillBetweenItem] = {}
        self.slope_labels: dict[tuple[str, int, int], pg.TextItem] = {}
        self.theory_lines: dict[tuple[str, int], pg.PlotDataItem] = {}  # (par, layer) at step 0
        self._build()

    # --- layout ------------------------------------------------------------------
    def _build(self) -> None:
        self.widths = QtWidgets.QLineEdit("64,128,256,512,1024")
        self.widths.setToolTip("the hidden Linears' widths, comma-separated (at least two)")
        self.optimizer = QtWidgets.QComboBox()
        self.optimizer.addItems(["adam", "sgd"])
        self.lr = QtWidgets.QLineEdit("0.01")
        self.lr.setToolTip("the learning rate at the base width (muP scales it from there)")
        self.steps = QtWidgets.QSpinBox(minimum=1, maximum=1000, value=5)
        self.steps.setToolTip("training steps T; steps 0..T are measured")
        self.seeds = QtWidgets.QSpinBox(minimum=1, maximum=20, value=2)
        self.base_width = QtWidgets.QSpinBox(minimum=1, maximum=4096, value=DEFAULT_BASE_WIDTH)
        self.base_width.setToolTip("muP equals the standard parametrisation at this width")
        self.readout = QtWidgets.QComboBox()
        self.readout.addItems(["scaled", "zero"])
        self.readout.setToolTip("muP's output layer at init: scaled (mup's MuReadout) or zero")
        self.workers = QtWidgets.QSpinBox(minimum=1, maximum=256, value=default_workers())
        self.all_layers = QtWidgets.QCheckBox("activations too")
        self.all_layers.setToolTip("draw every layer's output, not only the Linears'")
        self.all_layers.toggled.connect(self._redraw_all)
        self.run_btn = QtWidgets.QPushButton("Run")
        self.run_btn.setToolTip("train every width under the standard parametrisation, then under muP")
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.run_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        self.status = QtWidgets.QLabel("standard vs muP: set widths, then Run")
        self.status.setWordWrap(True)
        # three short rows (none wider than the train sweep's): the view fits beside the side panel in presentation
        # mode at 1024 px (one row of steps, seeds, base, readout and workers made the window 1148 px wide)
        rows = []
        for pairs in ((("widths", self.widths), ("optimizer", self.optimizer), ("lr", self.lr)),
                      (("steps", self.steps), ("seeds", self.seeds), ("base", self.base_width)),
                      (("readout", self.readout), ("workers", self.workers))):
            row = QtWidgets.QHBoxLayout()
            for label, w in pairs:
                row.addWidget(QtWidgets.QLabel(label))
                row.addWidget(w, 2 if w is self.widths else 0)
            rows.append(row)
        rows[1].addStretch(1)
        for b in (self.run_btn, self.cancel_btn):
            rows[2].addWidget(b)
        rows[2].addStretch(1)
        self.grid = pg.GraphicsLayoutWidget()
        self.grid.setBackground("w")
        lay = QtWidgets.QVBoxLayout(self)
        for row in rows:
            lay.addLayout(row)
        self.corner_layout = rows[0]  # the first row ends short of the "?"
        lay.addWidget(self.status)
        self.key = QtWidgets.QLabel()  # which colour is which layer (one key for every plot)
        self.key.setWordWrap(True)
        key_row = QtWidgets.QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.all_layers)
        lay.addLayout(key_row)
        lay.addWidget(self.grid, 1)

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode: titles, axes and lines grow with the rest."""
        self.scale, self.point_size = scale, (point_size if scale != 1.0 else None)
        for cell in self.cells.values():
            set_plot_text_size(cell, self.point_size, title_size=CELL_TITLE_SIZE)
        for line in self.lines.values():
            line.setPen(pg.mkPen(line.opts["pen"].color(), width=1.5 * scale))
        if self.specs and self._columns() != self._cols:
            self._redraw_all()

    # --- API for the main window -----------------------------------------------------
    def set_base_config(self, cfg: Config, data_path: str | None, vocab_size: int = 27) -> None:
        self.cfg, self.data_path, self.vocab_size = cfg.copy(), data_path, vocab_size

    def make_specs(self) -> dict[str, WidthSpec]:
        """Both parametrisations from the form; a UserError naming the bad field."""
        if self.cfg is None:
            raise UserError("no config yet")
        try:
            lr = float(self.lr.text())
        except ValueError:
            raise UserError(f"lr: {self.lr.text()!r} is not a number") from None
        specs = {par: WidthSpec(self.cfg, parse_widths(self.widths.text()), par, self.optimizer.currentText(), lr,
                                self.steps.value(), self.seeds.value(), self.base_width.value(),
                                self.readout.currentText()) for par in PARAMETRIZATIONS}
        for s in specs.values():
            s.validate()
        return specs

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, backend=None) -> bool:
        """Run both sweeps (on `backend`, default a local pool of `workers`). False, with the reason shown, if
        refused."""
        if self.running:
            return False
        try:
            specs = self.make_specs()
        except UserError as e:
            self.status.setText(f"cannot run: {e}")
            return False
        self.specs, self.results = specs, {}
        self._partial = {par: {} for par in specs}
        if self.save_dir:
            shutil.rmtree(self.save_dir, ignore_errors=True)
        self.save_dir = tempfile.mkdtemp(prefix="initscope-width-")
        self.backend = backend or LocalPool(self.workers.value())
        self._setup_plots()
        n = sum(len(s.widths) * s.seeds for s in specs.values())
        self.status.setText(f"running {n} runs x {self.steps.value():,} steps on {self.backend.workers} workers…")
        self._thread = QtCore.QThread(self)
        self._runner = WidthRunner(specs, self.data_path, self.backend, self.save_dir)
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
        if self.backend is not None and self.running:
            self.backend.cancel()
            self.status.setText("cancelling…")

    def shutdown(self, timeout_ms: int = 15_000) -> None:
        """Cancel and wait for the thread (the window's closeEvent), then drop the saved runs."""
        self.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(timeout_ms)
        self._finish_thread()
        if self.save_dir:
            shutil.rmtree(self.save_dir, ignore_errors=True)
            self.save_dir = None

    # --- results arriving (GUI thread) ----------------------------------------------
    def current(self, par: str) -> WidthResults | None:
        """The results of one parametrisation so far (finished or not)."""
        spec = self.specs.get(par)
        if spec is None:
            return None
        if par in self.results:
            return self.results[par]
        res = WidthResults.of(spec, spec.jobs(self.save_dir))
        for r in self._partial.get(par, {}).values():
            res.add(r)
        return res

    def _on_result(self, par: str, res) -> None:
        self._partial.setdefault(par, {})[res.index] = res
        self._draw(par)
        done = sum(len(p) for p in self._partial.values())
        total = sum(len(s.widths) * s.seeds for s in self.specs.values())
        self.status.setText(f"{done} / {total} runs done")

    def _on_done(self, results: dict) -> None:
        self.results = dict(results)
        for par in self.results:
            self._draw(par)
        bad = [r for res in self.results.values() for r in res.results.values() if r.status != RunStatus.FINISHED]
        what = "cancelled" if self.backend is not None and self.backend.cancelled else "done"
        done = sum(res.done for res in self.results.values())
        self.status.setText(f"{what}: {done} runs" + (f", {len(bad)} failed or diverged ({bad[0].message})"
                                                      if bad else "") + "; click a point to open that width's run")
        self._finish_thread()

    def _on_failed(self, msg: str) -> None:
        self.status.setText(f"width check failed: {msg}")
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

    # --- drawing ----------------------------------------------------------------------
    def _setup_plots(self) -> None:
        self.grid.clear()
        self.cells, self.lines, self.bands, self.slope_labels, self.theory_lines = {}, {}, {}, {}, {}
        spec = next(iter(self.specs.values()))
        self._cols = self._columns()
        for r, par in enumerate(self.specs):
            for c, t in enumerate(shown_steps(spec.steps, self._cols)):
                cell = self.grid.addPlot(row=r, col=c)
                cell.setLogMode(x=True, y=True)
                cell.showGrid(x=True, y=True, alpha=0.25)
                cell.setTitle(self._title(par, t, None), size=CELL_TITLE_SIZE, color="#333")
                cell.disableAutoRange(axis="x")  # room on the right for the slopes: set in _draw
                if c == 0:
                    cell.setLabel("left", "mean |x|")
                if r == len(self.specs) - 1:
                    cell.setLabel("bottom", "width")
                cell.setMenuEnabled(False)
                set_plot_text_size(cell, self.point_size, title_size=CELL_TITLE_SIZE)
                self.cells[(par, t)] = cell
        self._draw_theory()
        res = WidthResults.of(spec, [])
        self.key.setText(" ".join(
            f"<span style='color:{self._color(res, li)}'>■ {res.names[li]} ({res.roles[li]})</span>"
            for li in self._layers(res)))

    def _columns(self) -> int:
        """As many step plots to a row as fit at a readable size (2 at least: step 0 and the last)."""
        return max(2, min(MAX_COLUMNS, int(self.grid.width() // (CELL_MIN_W * self.scale))))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        if self.specs and self._columns() != self._cols:
            self._redraw_all()

    def _layers(self, res: WidthResults) -> list[int]:
        """The layers drawn: the Linears (their outputs are what muP is about), or every layer."""
        if self.all_layers.isChecked():
            return list(range(len(res.names)))
        return [i for i, k in enumerate(res.kinds) if k == "linear"]

    def _color(self, res: WidthResults, li: int) -> str:
        if res.roles[li] == "output":
            return OUTPUT_COLOR
        return PALETTE[self._layers(res).index(li) % len(PALETTE)] if li in self._layers(res) else "#888"

    def _draw_theory(self) -> None:
        """Step 0: the wide-net theory's mean |x| per layer, which has no width in it (dashed, flat); under muP the
        scaled readout's logits are the standard ones x sqrt(base / width), and a zero readout has none."""
        from initscope.core.theory import mean_abs

        spec = next(iter(self.specs.values()))
        widths = np.array(sorted(set(spec.widths)), float)
        try:
            pred = mean_abs(at_width(spec.base, int(widths[0])), self.vocab_size)
        except Exception:  # noqa: BLE001 - a stack the theory does not cover: no dashed lines, the sweep still runs
            return
        res = WidthResults.of(spec, [])
        for par, s in self.specs.items():
            cell = self.cells[(par, 0)]
            for li in self._layers(res):
                y = np.full(len(widths), pred[li])
                if par == "mup" and res.roles[li] == "output":
                    if s.readout == "zero":
                        continue
                    y = y * np.sqrt(s.base_width / widths)
                if not (np.all(np.isfinite(y)) and np.all(y > 0)):
                    continue
                dash = pg.mkPen(self._color(res, li), width=1, style=QtCore.Qt.PenStyle.DashLine)
                line = cell.plot(widths, y, pen=dash)
                self.theory_lines[(par, li)] = line

    def _redraw_all(self) -> None:
        if not self.specs:
            return
        self._setup_plots()
        for par in self.specs:
            self._draw(par)

    def _draw(self, par: str) -> None:
        res = self.current(par)
        if res is None:
            return
        widths = np.array(res.spec.widths, float)
        order = np.argsort(widths)
        m, slopes = res.mean_abs(), res.slopes(shown_steps(res.spec.steps, self._cols))
        lo, hi = res.spread()
        for t in shown_steps(res.spec.steps, self._cols):
            cell = self.cells.get((par, t))
            if cell is None:
                continue
            for li in self._layers(res):
                y = m[li, order, t]
                ok = np.isfinite(y) & (y > 0)
                key = (par, t, li)
                color = self._color(res, li)
                if key not in self.lines:
                    line = cell.plot([], [], pen=pg.mkPen(color, width=1.5 * self.scale), symbol="o", symbolSize=5,
                                     symbolBrush=color, symbolPen=None, name=res.names[li])
                    line.sigPointsClicked.connect(lambda item, pts, _ev, par=par: self._clicked(par, pts))
                    self.lines[key] = line
                    low = cell.plot([], [], pen=None)
                    high = cell.plot([], [], pen=None)
                    band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(pg.mkColor(color).red(),
                                                                          pg.mkColor(color).green(),
                                                                          pg.mkColor(color).blue(), 50))
                    cell.addItem(band, ignoreBounds=True)  # its two edge curves carry its extent
                    self.bands[key] = band
                    label = pg.TextItem("", color=color, anchor=(0, 0.5))
                    cell.addItem(label, ignoreBounds=True)
                    self.slope_labels[key] = label
                self.lines[key].setData(widths[order][ok], y[ok])
                b_ok = ok & np.isfinite(lo[li, order, t]) & (lo[li, order, t] > 0)
                band = self.bands[key]
                band.curves[0].setData(widths[order][b_ok], lo[li, order, t][b_ok])
                band.curves[1].setData(widths[order][b_ok], hi[li, order, t][b_ok])
                s = slopes[li, t]
                label = self.slope_labels[key]
                if math.isfinite(s) and ok.any():
                    label.setText(f"{s:+.2f}")
                    label.setPos(math.log10(widths[order][ok][-1]), math.log10(y[ok][-1]))
                else:
                    label.setText("")
            lw = np.log10(widths)
            cell.setXRange(lw.min() - 0.08, lw.max() + 0.12 * (lw.max() - lw.min()) + 0.35, padding=0)
            self._width_ticks(cell, sorted(set(res.spec.widths)))
            self._spread_labels(par, t)
            hidden = [slopes[li, t] for li in range(len(res.names)) if res.roles[li] in ("input", "hidden")]
            cell.setTitle(self._title(par, t, hidden), size=CELL_TITLE_SIZE if self.point_size is None
                          else f"{self.point_size * 1.1:.0f}pt", color="#333")

    @staticmethod
    def _width_ticks(cell: pg.PlotItem, widths: list[int]) -> None:
        """A tick at every width (log mode's own ticks crowd a small plot with 2·10² labels); labels on the first,
        the last and, if there is room, the middle one."""
        keep = {0, len(widths) - 1, len(widths) // 2}
        major = [(math.log10(w), str(w)) for i, w in enumerate(widths) if i in keep]
        minor = [(math.log10(w), "") for i, w in enumerate(widths) if i not in keep]
        cell.getAxis("bottom").setTicks([major, minor])

    @staticmethod
    def _title(par: str, t: int, hidden_slopes) -> str:
        """'muP · step 3' over a second line: at step 0 that the theory has no width in it, later the range of
        the hidden Linears' slopes (the number the check is about)."""
        if t == 0:
            sub = "dashed: theory, no width in it"
        else:
            ok = [s for s in (hidden_slopes or []) if math.isfinite(s)]
            sub = f"hidden slopes {min(ok):+.2f} to {max(ok):+.2f}" if ok else "hidden slopes -"
            if ok and max(abs(s) for s in ok) > FLAT:  # red: a hidden layer grows (or shrinks) with width
                return f"{TITLES[par]} · step {t}<br><span style='color:#d62728'>{sub}</span>"
        return f"{TITLES[par]} · step {t}<br><span style='color:#666'>{sub}</span>"

    def _spread_labels(self, par: str, t: int) -> None:
        """Slope labels at their lines' right ends, pushed apart vertically where they would overlap."""
        items = [(lab.pos().y(), lab) for (p, tt, _), lab in self.slope_labels.items()
                 if p == par and tt == t and lab.toPlainText()]
        if len(items) < 2:
            return
        items.sort(key=lambda a: -a[0])  # from the top down: the top label stays at its line, lower ones give way
        cell = self.cells[(par, t)]
        cell.vb.updateAutoRange()  # the y range the new data gives, so the pixel size below is the drawn one
        px = cell.vb.viewPixelSize()[1]  # log10 units per pixel
        gap = 0.8 * items[0][1].textItem.boundingRect().height() * px  # a label's height (the text has padding)
        prev = math.inf
        for y, lab in items:
            prev = min(y, prev - gap)
            lab.setPos(lab.pos().x(), prev)

    # --- what is drawn (tests, exports) ---------------------------------------------------
    def plotted(self, par: str, step: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """layer name -> (widths, mean |x|) as drawn in the plot of (parametrisation, step)."""
        res = self.current(par)
        return {res.names[li]: (np.asarray(line.xData), np.asarray(line.yData))
                for (p, t, li), line in self.lines.items() if p == par and t == step}

    def band(self, par: str, step: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """layer name -> (widths, lowest, highest over seeds) as drawn."""
        res = self.current(par)
        out = {}
        for (p, t, li), band in self.bands.items():
            if p == par and t == step:
                lo_c, hi_c = band.curves
                out[res.names[li]] = (np.asarray(lo_c.xData), np.asarray(lo_c.yData), np.asarray(hi_c.yData))
        return out

    def slopes_shown(self, par: str, step: int) -> dict[str, str]:
        res = self.current(par)
        return {res.names[li]: label.toPlainText() for (p, t, li), label in self.slope_labels.items()
                if p == par and t == step}

    # --- clicking --------------------------------------------------------------------------
    def _clicked(self, par: str, pts) -> None:
        if not len(pts) or par not in self.specs:
            return
        x = pts[0].pos().x()  # log10(width): the plot is in log mode
        widths = self.specs[par].widths
        i = int(np.argmin([abs(math.log10(w) - x) for w in widths]))
        path = self.run_path(par, widths[i])
        if path:
            self.run_requested.emit(path)

    def run_path(self, par: str, width: int) -> str | None:
        """The saved run of that width under that parametrisation (its first seed), once it has finished."""
        res = self.current(par)
        if res is None:
            return None
        for job in res.jobs:
            r = res.results.get(job.index)
            if job.width == width and job.save_path and r is not None and getattr(r, "run_path", None):
                return r.run_path
        return None
