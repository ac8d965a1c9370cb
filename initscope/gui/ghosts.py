"""Ghosts: in a scenario, the run trained at the previous step stays in the loss and saturation panels as faint
grey lines, so "before and after the fix" is one picture. The scenario bar's "ghost" box turns them off.

Which run belongs to which step: a run started while the bar shows step i is step i's (its latest one). The
lines are the panels' own items beside their curves (the panels never remove what they did not add); they are
redrawn when the step, the box or that run's history changes, checked a few times a second.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from initscope.gui.views import activation_columns, block_means, series_of

GHOST_PEN = (120, 120, 120, 110)  # grey, mostly transparent: under the live curves
CHECK_MS = 200


class Ghosts(QtCore.QObject):
    def __init__(self, bar, loss_panel, sat_panel, parent=None):
        super().__init__(parent)
        self.bar, self.loss_panel, self.sat_panel = bar, loss_panel, sat_panel
        self.by_step: dict[tuple[int, int], object] = {}  # (id(scenario), step index) -> the run trained there
        self.loss_item = self._item(loss_panel.plot)
        self.sat_items: list[pg.PlotDataItem] = []
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._key = None
        self.timer = QtCore.QTimer(self, interval=CHECK_MS)
        self.timer.timeout.connect(self.update)
        self.timer.start()
        bar.ghosts.toggled.connect(lambda _: self.update())

    @staticmethod
    def _item(plot) -> pg.PlotDataItem:
        item = pg.PlotDataItem(pen=pg.mkPen(GHOST_PEN, width=2))
        item.setZValue(-10)
        plot.addItem(item, ignoreBounds=True)
        return item

    def record_trained(self, rec) -> None:
        """A run has started: it is the shown scenario step's."""
        if self.bar.scenario is not None and self.bar.isVisible():
            self.by_step[(id(self.bar.scenario), self.bar.index)] = rec
            self.update()

    def ghost(self):
        """The run whose ghost is drawn: the previous step's, when the box is on."""
        if self.bar.scenario is None or not self.bar.ghosts.isChecked():
            return None
        return self.by_step.get((id(self.bar.scenario), self.bar.index - 1))

    def update(self) -> None:
        rec = self.ghost()
        bars = getattr(self.sat_panel, "mode", "") == "bars"  # a preview's bars: no step axis to draw on
        key = ((id(rec), rec.history.version) if rec is not None else None, bars)
        if key == self._key:
            return
        self._key = key
        self.data = {}
        if rec is None or not len(rec.history.loss):
            self.loss_item.setData([], [])
            for item in self.sat_items:
                item.setData([], [])
            return
        h = rec.history
        loss = h.loss.data
        steps = h.loss_steps()
        x, y = block_means(steps.astype(np.float64)), block_means(loss.astype(np.float64))
        self.loss_item.setData(x, y)
        self.data["loss"] = (x, y)
        sat = []
        if h.saturation is not None and len(h.snap_steps) > 1 and not bars:
            cols = activation_columns(h.layer_names, rec.layer_kinds)
            s_steps, s_rows, _ = series_of(h)
            sat = [(h.layer_names[j], s_steps, s_rows[:, j] * 100.0) for j in cols]
        while len(self.sat_items) < len(sat):
            self.sat_items.append(self._item(self.sat_panel.plot))
        for item in self.sat_items[len(sat):]:
            item.setData([], [])
        for item, (name, xs, ys) in zip(self.sat_items, sat):
            item.setData(xs, ys)
            self.data[f"saturation · {name}"] = (xs, ys)

    def plotted(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The ghost lines drawn now: "loss" and "saturation · <layer>" -> (x, y)."""
        self.update()
        return dict(self.data)
