"""The pyqtgraph panels. Each is created once and redrawn from a History with setData, on a timer.

Colours follow the layer's block (a Linear and the BatchNorm / activation after it share one), so
"L0 Linear" in the update:data panel and "L2 Tanh" in the saturation panel are the same colour.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.diagnostics import Histogram, Snapshot
from initscope.core.history import History

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f"]
EMBED_COLOR = "#555555"
SMOOTH_BLOCK = 100  # steps averaged into one point of the smoothed loss
RUN_STYLES = [QtCore.Qt.PenStyle.SolidLine, QtCore.Qt.PenStyle.DashLine, QtCore.Qt.PenStyle.DotLine,
              QtCore.Qt.PenStyle.DashDotLine]  # overlaid runs differ by line style


def block_color(name: str, block_of: dict[int, int]) -> str:
    """Colour of a layer ("L2 Tanh", "L3 Linear.weight") by the Linear block it belongs to."""
    if name.startswith("embedding"):
        return EMBED_COLOR
    idx = int(name.split()[0][1:])
    return PALETTE[block_of.get(idx, idx) % len(PALETTE)]


def run_tag(name: str) -> str:
    """'A3: BatchNorm on' -> 'A3', for legends where the whole run name would not fit."""
    return name.split(":")[0].strip()[:12]


def short_name(param: str) -> str:
    """'L3 Linear.weight' -> 'L3', 'embedding' -> 'emb': for ticks and legends where space is short."""
    return "emb" if param.startswith("embedding") else param.split()[0]


def blocks(layer_kinds: list[str]) -> dict[int, int]:
    """Stack index -> block number: a new block starts at each Linear."""
    out, b = {}, -1
    for i, kind in enumerate(layer_kinds):
        if kind == "linear" or b < 0:
            b += 1
        out[i] = b
    return out


class Panel(QtWidgets.QWidget):
    """A titled pyqtgraph plot with an optional legend to its right, outside the data area."""

    def __init__(self, title: str, xlabel: str, ylabel: str, legend: bool = True, parent=None):
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(2, 2, 2, 2)
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0, title=title)
        self.plot.setLabel("bottom", xlabel)
        self.plot.setLabel("left", ylabel)
        # no grid: pyqtgraph's grid lines cost ~4x the rest of a panel's paint, time the trainer needs
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # "std (x0.001)" confuses more than it helps
        self.legend = None
        if legend:
            self.legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-12, sampleType=None)
            self.view.addItem(self.legend, row=0, col=1)
            self.view.ci.layout.setColumnMinimumWidth(1, 96)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.line_scale = 1.0  # presentation mode doubles it
        self.draws = 0  # how many times the panel redrew (for the responsiveness benchmark and tests)

    def set_series(self, names: list[str], colors: list[str], width: float, labels: list[str] | None = None,
                   styles: list | None = None) -> None:
        """(Re)create one curve per name only when the set of names changes."""
        if list(self.curves) == names:
            if labels and self.legend is not None:
                for (_, lab), text in zip(self.legend.items, labels):
                    if lab.text != text:  # setText re-lays out HTML: only when it changed
                        lab.setText(text)
            return
        for c in self.curves.values():
            self.plot.removeItem(c)
        if self.legend is not None:
            self.legend.clear()
        self.curves = {}
        for i, (n, col) in enumerate(zip(names, colors)):
            style = styles[i] if styles else QtCore.Qt.PenStyle.SolidLine
            c = self.plot.plot(pen=pg.mkPen(col, width=width * self.line_scale, style=style), name=None)
            c.base_width = width
            self.curves[n] = c
            if self.legend is not None:
                self.legend.addItem(c, labels[i] if labels else n)

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode: line widths x scale, axis and title text at point_size."""
        self.line_scale = scale
        font = QtGui.QFont()
        font.setPointSizeF(point_size)
        for side in ("left", "bottom"):
            ax = self.plot.getAxis(side)
            ax.setTickFont(font)
            ax.label.setFont(font)
        self.plot.titleLabel.setText(self.plot.titleLabel.text, size=f"{point_size * 1.1:.0f}pt")
        for c in self.curves.values():
            pen = pg.mkPen(c.opts["pen"])
            pen.setWidthF(c.base_width * scale)
            c.setPen(pen)

    def clear_series(self) -> None:
        self.set_series([], [], 1)

    def set_x_extent(self, total: int | None) -> None:
        """Fix the step axis to the whole run, so streaming data never re-lays out the axis (None: auto)."""
        if total:
            self.plot.enableAutoRange(x=False)
            self.plot.setXRange(0, total, padding=0.02)
        else:
            self.plot.enableAutoRange(x=True)


class LossPanel(Panel):
    def __init__(self, parent=None):
        super().__init__("Loss", "step", "loss (cross-entropy)", legend=False, parent=parent)
        self.raw = self.plot.plot(pen=pg.mkPen((31, 119, 180, 60), width=1))
        self.raw.setDownsampling(auto=True, method="peak")  # a long run costs what the screen shows
        self.raw.setClipToView(True)
        self.smooth = self.plot.plot(pen=pg.mkPen("#1f4e9a", width=2))
        self.start = pg.ScatterPlotItem(size=9, brush=pg.mkBrush("#d62728"), pen=None)
        self.plot.addItem(self.start)
        self.ref = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d62728", width=1, style=QtCore.Qt.PenStyle.DashLine),
                                   label="uniform guess {value:.2f}", labelOpts={"position": 0.85, "color": "#d62728"})
        self.plot.addItem(self.ref)
        self.logy = QtWidgets.QCheckBox("log y", self)
        self.logy.toggled.connect(self._log_toggled)
        self.logy.move(6, 4)
        self._smooth_n = 0
        self._smooth_buf = np.zeros(0)
        self._seen = 0  # losses already folded into the y range
        self._yr = [math.inf, -math.inf]

    def _fit_y(self, loss: np.ndarray, ref: float) -> None:
        """Grow the y range from new losses only (autoRange would rescan the whole history every frame)."""
        new = loss[self._seen:]
        self._seen = len(loss)
        fin = new[np.isfinite(new)]
        lo = min(self._yr[0], float(fin.min()) if len(fin) else math.inf, ref)
        hi = max(self._yr[1], float(fin.max()) if len(fin) else -math.inf, ref)
        if [lo, hi] != self._yr and math.isfinite(lo) and math.isfinite(hi):
            self._yr = [lo, hi]
            if not self.logy.isChecked():
                self.plot.setYRange(lo, hi, padding=0.05)

    def overlay(self, runs: list[tuple[str, np.ndarray, int]]) -> None:
        """Several runs' smoothed losses (name, losses, first step), one colour each; the single-run curves hide."""
        for item in (self.raw, self.smooth, self.start):
            item.setVisible(False)
        if self.legend is None:  # inside the plot, top right: only overlays need one
            self.legend = pg.LegendItem(offset=(-10, 30), labelTextSize="8pt")
            self.legend.setParentItem(self.plot.vb)
        self.legend.setVisible(True)
        names = [r[0] for r in runs]
        self.set_series(names, [PALETTE[k % len(PALETTE)] for k in range(len(runs))], 2, names)
        self.plot.enableAutoRange(y=True)
        for name, loss, first in runs:
            k = len(loss) // SMOOTH_BLOCK
            if k:
                xs = first + (np.arange(k) + 0.5) * SMOOTH_BLOCK
                self.curves[name].setData(xs, loss[: k * SMOOTH_BLOCK].reshape(k, SMOOTH_BLOCK).mean(1))
            else:
                self.curves[name].setData(np.arange(len(loss)) + first, loss)
        self.draws += 1

    def single(self) -> None:
        """Back to one run: its raw and smoothed curves."""
        if self.curves:
            self.clear_series()
        if self.legend is not None:
            self.legend.setVisible(False)
        for item in (self.raw, self.smooth, self.start):
            item.setVisible(True)

    def _log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self.plot.enableAutoRange(y=True) if on else self.plot.setYRange(*self._yr, padding=0.05)

    def update_from(self, h: History, ref_loss: float | None) -> None:
        if ref_loss is not None:
            self.ref.setValue(ref_loss)
        n = len(h.loss)
        if n == 0:
            self.raw.setData([], [])
            self.smooth.setData([], [])
            self._smooth_n, self._seen, self._yr = 0, 0, [math.inf, -math.inf]
            self.plot.enableAutoRange(y=True)
            snap = h.init
            self.start.setData([0], [snap.loss]) if snap else self.start.setData([], [])
            self.draws += 1
            return
        loss = h.loss.data
        steps = h.loss_steps()
        if n < self._seen:
            self._seen, self._yr = 0, [math.inf, -math.inf]
        self.plot.enableAutoRange(y=False)
        self._fit_y(loss, self.ref.value())
        self.raw.setData(steps, loss)
        # block means, extended incrementally: the smoothed curve's cost grows by one point per block
        full = n // SMOOTH_BLOCK
        if full < self._smooth_n:
            self._smooth_n = 0
        if full > self._smooth_n:
            seg = loss[self._smooth_n * SMOOTH_BLOCK: full * SMOOTH_BLOCK].reshape(-1, SMOOTH_BLOCK).mean(1)
            self._smooth_buf = np.concatenate([self._smooth_buf[: self._smooth_n], seg])
            self._smooth_n = full
        if self._smooth_n:
            xs = h.loss_first_step + (np.arange(self._smooth_n) + 0.5) * SMOOTH_BLOCK
            self.smooth.setData(xs, self._smooth_buf[: self._smooth_n])
        else:
            self.smooth.setData([], [])
        self.start.setData([steps[0]], [loss[0]])
        self.draws += 1


class SeriesPanel(Panel):
    """One curve per layer over training steps (saturation %, log10 update:data)."""

    def __init__(self, title, ylabel, guide: float | None = None, parent=None):
        super().__init__(title, "step", ylabel, parent=parent)
        if guide is not None:
            line = pg.InfiniteLine(pos=guide, angle=0, pen=pg.mkPen("#444", width=1, style=QtCore.Qt.PenStyle.DashLine),
                                   label=f"{guide:g}: healthy", labelOpts={"position": 0.25, "color": "#444"})
            self.plot.addItem(line)

    def update_series(self, names: list[str], steps: np.ndarray, values: np.ndarray, block_of: dict[int, int],
                      scale: float = 1.0) -> None:
        labels = [short_name(n) if n.endswith(".weight") or n == "embedding" else n for n in names]  # legends are narrow
        self.set_series(names, [block_color(n, block_of) for n in names], 2, labels)
        self._draw_series(names, steps, values, block_of, scale)

    def overlay_series(self, runs: list[tuple[str, list[str], np.ndarray, np.ndarray]], block_of,
                       scale: float = 1.0) -> None:
        """Several runs at once: colour by layer, line style by run (solid, dashed, dotted, ...)."""
        names, colors, styles, labels = [], [], [], []
        for k, (run, layer_names, _, _) in enumerate(runs):
            for n in layer_names:
                names.append(f"{run} · {n}")
                colors.append(block_color(n, block_of))
                styles.append(RUN_STYLES[k % len(RUN_STYLES)])
                labels.append(f"{run_tag(run)} · {short_name(n) if n.endswith('.weight') or n == 'embedding' else n}")
        self.set_series(names, colors, 2, labels, styles)
        for run, layer_names, steps, values in runs:
            for j, n in enumerate(layer_names):
                self.curves[f"{run} · {n}"].setData(steps, values[:, j] * scale, symbol=None)
        self.draws += 1

    def _draw_series(self, names, steps, values, block_of, scale) -> None:
        single = len(steps) == 1  # the init preview: one point per layer, drawn as a marker
        for j, n in enumerate(names):
            c = self.curves[n]
            y = values[:, j] * scale
            if single:
                c.setData(steps, y, symbol="o", symbolSize=8, symbolBrush=block_color(n, block_of))
            else:
                c.setData(steps, y, symbol=None)
        self.draws += 1


class HistPanel(Panel):
    """Density lines, one per layer, from the latest snapshot (as the lecture plots them)."""

    def update_hists(self, names: list[str], hists: list[Histogram], labels: list[str], block_of) -> None:
        self.set_series(names, [block_color(n, block_of) for n in names], 2, labels)
        for n, hist in zip(names, hists):
            self.curves[n].setData(hist.centers(), hist.density())
        self.draws += 1


class RatioBars(Panel):
    """grad:data per weight matrix at the latest snapshot."""

    def __init__(self, parent=None):
        super().__init__("grad:data per weight matrix", "weight matrix", "std(grad) / std(weight)", legend=False,
                         parent=parent)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.plot.addItem(self.bars)

    def update_bars(self, snap: Snapshot, block_of) -> None:
        ps = [p for p in snap.params if p.is_matrix]
        vals = [p.grad_data if math.isfinite(p.grad_data) else 0.0 for p in ps]
        self.bars.setOpts(x=np.arange(len(ps)), height=vals, width=0.7,
                          brushes=[pg.mkBrush(block_color(p.name, block_of)) for p in ps])
        ticks = [(i, short_name(p.name)) for i, p in enumerate(ps)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(-0.6, len(ps) - 0.4, padding=0)
        self.plot.setYRange(0, max(vals + [1e-9]) * 1.1, padding=0)
        self.draws += 1
