"""BatchNorm in five points: five inputs of one feature, one on a slider, and what normalising them does."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from initscope.core.bn_points import normalize
from initscope.gui.panels import fit_title, set_plot_text_size


class BatchNormFivePoints(QtWidgets.QWidget):
    """Five inputs of one feature, one on a slider; their batch mean and std, and the normalised outputs."""

    FIXED = (-1.2, -0.3, 0.4, 1.1)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(-600, 600)  # the fifth input x 100
        self.slider.setValue(200)
        self.slider.valueChanged.connect(self.update_points)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.view = pg.GraphicsLayoutWidget()
        self.plot = self.view.addPlot(title=self.TITLE[0])
        self.plot.setLabel("bottom", "value")
        self.plot.getAxis("left").setTicks([[(0, "outputs"), (1, "inputs")]])
        self.plot.setYRange(-0.35, 1.45)
        self.plot.setXRange(-6.5, 6.5)
        self.lines = [self.plot.plot(pen=pg.mkPen("#999", width=1)) for _ in range(5)]
        self.gauss_in = self.plot.plot(pen=pg.mkPen("#1f77b4", width=2), fillLevel=1.0, brush=(31, 119, 180, 40))
        self.gauss_out = self.plot.plot(pen=pg.mkPen("#2ca02c", width=2), fillLevel=0.0, brush=(44, 160, 44, 40))
        self.inputs = pg.ScatterPlotItem(size=12, brush=pg.mkBrush("#1f77b4"))
        self.outputs = pg.ScatterPlotItem(size=12, brush=pg.mkBrush("#2ca02c"))
        self.plot.addItem(self.inputs)
        self.plot.addItem(self.outputs)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("drag the fifth input:"))
        row.addWidget(self.slider, 1)
        lay.addLayout(row)
        lay.addWidget(self.label)
        self.out = np.zeros(5)
        self.update_points()

    TITLE = ("BatchNorm in five points", "BatchNorm")  # the short one where the long one is cut

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._fit_title()

    def _fit_title(self) -> None:
        fit_title(self.plot, *self.TITLE, room=self.view.width() - self.plot.getAxis("left").width() - 12)

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode: title, axes and the points grow with the rest."""
        set_plot_text_size(self.plot, point_size if scale != 1.0 else None)
        self._fit_title()
        for pts in (self.inputs, self.outputs):
            pts.setSize(12 * scale ** 0.5)
        for line in self.lines:
            line.setPen(pg.mkPen("#999", width=scale))
        for curve in (self.gauss_in, self.gauss_out):
            pen = pg.mkPen(curve.opts["pen"])
            pen.setWidthF(2 * scale)
            curve.setPen(pen)

    def values(self) -> list[float]:
        return [*self.FIXED, self.slider.value() / 100]

    def update_points(self) -> None:
        xs = self.values()
        mean, std, out = normalize(xs)
        self.out = out
        self.inputs.setData(xs, [1] * 5)
        self.outputs.setData(out, [0] * 5)
        for line, a, b in zip(self.lines, xs, out):
            line.setData([a, b], [1, 0])
        grid = np.linspace(-6.5, 6.5, 300)
        g_in = np.exp(-0.5 * ((grid - mean) / max(std, 1e-6)) ** 2)
        g_out = np.exp(-0.5 * grid ** 2)
        self.gauss_in.setData(grid, 1 + 0.35 * g_in)
        self.gauss_out.setData(grid, -0.3 + 0.3 * g_out)
        self.gauss_out.setFillLevel(-0.3)
        self.label.setText(f"batch mean {mean:+.2f}, std {std:.2f} → outputs "
                           + ", ".join(f"{v:+.2f}" for v in out)
                           + "   (mean 0, std 1: moving one input moves every output)")
