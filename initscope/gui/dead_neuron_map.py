"""The lecture's white-pixel image: saturated outputs over (examples x neurons) for one layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from initscope.gui.help import HelpCornerRoom
from initscope.gui.panels import fit_axis_title, set_plot_text_size

if TYPE_CHECKING:
    from initscope.core.snapshot import Snapshot


class DeadNeuronMap(HelpCornerRoom, QtWidgets.QWidget):
    """|out| > threshold over (examples x neurons) for one layer of the latest snapshot: white = saturated.
    Its layer row ends short of the panel's "?" (it sat on the combo box's arrow)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layer = QtWidgets.QComboBox()
        self.layer.currentIndexChanged.connect(lambda _: self._draw())
        self.count = QtWidgets.QLabel()
        self.count.setWordWrap(True)
        self.view = pg.GraphicsLayoutWidget()
        self.plot = self.view.addPlot(title="Dead-neuron map")
        # axis titles, long and short: the short ones where the long ones would be cut (presentation mode)
        self.axis_titles = {"bottom": ("neuron (white: saturated)", "neuron"), "left": ("example in the batch", "example")}
        for side, (full, _) in self.axis_titles.items():
            self.plot.setLabel(side, full)
            self.plot.getAxis(side).geometryChanged.connect(self._fit_axis_titles, QtCore.Qt.ConnectionType.QueuedConnection)
        self.plot.invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setBorder(pg.mkPen("#444", width=1))  # white (saturated) cells at the edge met the white page
        self.plot.addItem(self.image)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("layer"))
        top.addWidget(self.layer, 1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.count)
        self.corner_layout = top
        self.snapshot: Snapshot | None = None
        self.draws = 0

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode: the map's title and axes grow with the rest (the labels follow the app font)."""
        set_plot_text_size(self.plot, point_size if scale != 1.0 else None)
        self._fit_axis_titles()

    def _fit_axis_titles(self) -> None:
        for side, (full, short) in self.axis_titles.items():
            fit_axis_title(self.plot.getAxis(side), full, short)

    def show_snapshot(self, snap: Snapshot | None, threshold: float = 0.97) -> None:
        if snap is self.snapshot and snap is not None:
            return  # called on every redraw: only a new snapshot redraws the map
        self.snapshot, self.threshold = snap, threshold or 0.97
        names = [s.name for s in snap.layers if s.sat_map is not None] if snap else []
        if names != [self.layer.itemText(i) for i in range(self.layer.count())]:
            keep = self.layer.currentText()
            self.layer.blockSignals(True)
            self.layer.clear()
            self.layer.addItems(names)
            if keep in names:
                self.layer.setCurrentText(keep)
            self.layer.blockSignals(False)
        self._draw()

    def current(self):
        if self.snapshot is None or self.layer.currentIndex() < 0:
            return None
        return self.snapshot.layer(self.layer.currentText())

    def _draw(self) -> None:
        s = self.current()
        if s is None or s.sat_map is None:
            self.image.clear()
            self.view.setVisible(False)  # no empty axes reading "(x0.001) -500..500": the text says why
            self.count.setText(self._why_empty())
            return
        self.view.setVisible(True)
        self.image.setImage(s.sat_map.astype(np.uint8) * 255, levels=(0, 255))
        self.plot.autoRange(padding=0.02)
        what = f"saturated (|out| > {getattr(self, 'threshold', 0.97):g})" if s.kind == "tanh" else "zero"
        where = "at init" if self.snapshot.step == 0 else f"at step {self.snapshot.step:,}"
        self.count.setText(f"<b>{s.name}</b> {where}: {s.saturation:.1%} of outputs {what}; <b>{s.dead}</b> of "
                           f"{s.width} neurons {what} for every one of the {s.sat_map.shape[0]} examples "
                           "(dead: no gradient flows through them)")
        self.draws += 1


    def _why_empty(self) -> str:
        """Say why there is no map rather than draw empty axes: run files keep each layer's dead count, not the
        (examples x neurons) map, which only a snapshot taken in this window has."""
        snap = self.snapshot
        if snap is None:
            return "No snapshot on screen yet."
        acts = [s for s in snap.layers if s.width and s.saturation == s.saturation]  # activations: saturation not NaN
        counts = "; ".join(f"{s.name}: {s.dead} of {s.width} dead" for s in acts[:6])
        return ("No map for this run: a run file (opened, followed, or from a sweep) keeps each layer's count of "
                "dead neurons, not the map of a batch" + (f". {counts}" if counts else "") + ".")
