"""The Explorer's "Time" sub-tab: each layer's histograms over the whole run as an image (step on x, value on y,
the share of values as colour), TensorBoard's distributions and fastai's colorful dimension. One column per shown run (at
most MAX_RUNS), every image on one colour scale and, layer by layer, one value range, so two runs compare at a
glance. The saturation threshold (core/kinds.py) is marked on activation images; the scrubber's step is a
vertical line.

Images come from the replay rows (core/replay.py) and are cached per record and row count: moving the scrubber
moves a line, nothing is recomputed.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from initscope.core.kinds import family, output_marks
from initscope.core.messages import RunStatus
from initscope.gui.help import HelpCornerRoom, corner_help_button
from initscope.gui.panels import set_plot_text_size, short_name

MAX_RUNS = 3
MAX_LAYERS = 12  # a watched model's first activations (as the density panels draw them)
ROW_PX = 130  # a layer's row: its image's data area stays above the layout check's 100 px
KINDS = {"activations": "act", "gradients at layer outputs": "grad"}
COLOR_GAIN = 1000.0  # colour = log10(1 + 1000 x share): a 0.1% bin is visible beside a 40% spike at ±1


def colour_values(share: np.ndarray) -> np.ndarray:
    """What the colour encodes, from each bin's share of the row's values (0..1): log10(1 + 1000 share), 0..3."""
    return np.log10(1.0 + COLOR_GAIN * np.nan_to_num(share, nan=0.0))


def heat_layers(rec) -> list[int]:
    """Columns of the replay rows drawn: the activation layers (every layer where a stack has none), at most
    MAX_LAYERS."""
    t = rec.history.replay.template
    acts = [j for j, s in enumerate(t.layers) if family(s.kind) is not None and (not rec.watched or s.width)]
    return (acts or list(range(len(t.layers))))[:MAX_LAYERS]


REFRESH_MS = 100  # while shown, it draws the window's records at this rate (it is an Explorer sub-tab, which the
# window's redraw leaves to the explorer); nothing is recomputed unless the records changed


class HeatmapView(HelpCornerRoom, QtWidgets.QWidget):
    def __init__(self, parent=None, source=None):
        """source() -> the records to draw (the window's, at the scrubber's step); None: only render(recs) draws."""
        super().__init__(parent)
        self.source = source
        self.timer = QtCore.QTimer(self, interval=REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.kind = QtWidgets.QComboBox()
        self.kind.addItems(list(KINDS))
        self.kind.setToolTip("which histograms: the layers' outputs or the gradients at them")
        self.kind.currentIndexChanged.connect(lambda _: self.invalidate())
        self.note = QtWidgets.QLabel()
        self.note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Histograms of"))
        bar.addWidget(self.kind)
        bar.addWidget(self.note, 1)
        self.view = pg.GraphicsLayoutWidget()
        # rows of ROW_PX at least: a deep net's layers scroll rather than shrink below a readable height
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidget(self.view)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.scroll, 1)
        self.put_bar_above(bar)
        corner_help_button(self, "heatmaps")
        self.cmap = pg.colormap.get("viridis")
        self.plots: dict[tuple[int, int], pg.PlotItem] = {}  # (run column, layer row) -> plot
        self.images: dict[tuple[int, int], pg.ImageItem] = {}
        self.data: dict[tuple[int, int], tuple] = {}  # -> (steps, share image, lo, hi, layer name, run name)
        self.cursors: list[pg.InfiniteLine] = []
        self._cache: dict = {}
        self._key = None
        self._cursor = None
        self.point_size: float | None = None

    def invalidate(self) -> None:
        self._key = None
        self.refresh()

    def refresh(self) -> None:
        if self.source is not None and self.isVisible():
            self.render(self.source())

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if self.source is not None:
            self.timer.start()
            self.refresh()

    def hideEvent(self, ev) -> None:
        super().hideEvent(ev)
        self.timer.stop()

    def panels(self) -> list:
        return []

    def set_scale(self, scale: float, point_size: float) -> None:
        self.point_size = point_size if scale != 1.0 else None
        for p in self.plots.values():
            set_plot_text_size(p, self.point_size)

    def _images(self, rec, which: str) -> dict:
        """layer column -> (steps, share image), cached per record, kind and replay rows."""
        store = rec.history.replay
        key = (rec.id, which, id(store), len(store), int(store.steps[-1]) if len(store) else -1)
        if key not in self._cache:
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = {j: store.heatmap(which, j) for j in heat_layers(rec)}
        return self._cache[key]

    def render(self, recs: list) -> bool:
        which = KINDS[self.kind.currentText()]
        runs = [r for r in recs if len(r.history.replay) > 1 and r.status != RunStatus.INVALID][:MAX_RUNS]
        cursor = next((r.history.at_step for r in recs if getattr(r.history, "at_step", None) is not None), None)
        key = (which, tuple((r.id, id(r.history.replay), len(r.history.replay)) for r in runs))
        if key == self._key:
            if cursor != self._cursor:
                self._place_cursors(cursor)
            return False
        self._key = key
        self.view.clear()
        self.plots, self.images, self.data, self.cursors = {}, {}, {}, []
        if not runs:
            self.note.setText("nothing over time yet: train (an init preview is one snapshot), or open a run; a "
                              "file from before run format 4 keeps step 0 and its latest snapshots only")
            self.view.setMinimumHeight(0)
            self._cursor = None
            return True
        self.note.setText("colour: log10(1 + 1000 × share of the values in a bin), one scale for all images; "
                          "dashed: where saturation begins")
        per_run = [self._images(r, which) for r in runs]
        rows = max(len(heat_layers(r)) for r in runs)
        self.view.setMinimumHeight(rows * ROW_PX + 40)
        cells = []  # (row, column, record, layer column, steps, share, lo, hi)
        for i in range(rows):
            cols = [(c, r, heat_layers(r)[i]) for c, r in enumerate(runs) if i < len(heat_layers(r))]
            # one value range per layer row, whatever the run: the images compare bin for bin
            lo = min(per_run[c][j][2] for c, _, j in cols)
            hi = max(per_run[c][j][3] for c, _, j in cols)
            for c, r, j in cols:
                own = per_run[c][j]
                steps, share, _, _ = own if (own[2], own[3]) == (lo, hi) else r.history.replay.heatmap(which, j, lo=lo, hi=hi)
                cells.append((i, c, r, j, steps, share, lo, hi))
        # one colour scale for every image drawn: the 1st to the 99.5th percentile of all their values (the full
        # range spent most colours on the few bins at ±1 of a saturated tanh and left the rest one shade)
        vals = np.concatenate([colour_values(cell[5]).ravel() for cell in cells])
        levels = (float(np.percentile(vals, 1)), float(np.percentile(vals, 99.5))) if vals.size else (0.0, 1.0)
        if levels[1] <= levels[0]:
            levels = (levels[0], levels[0] + 1e-9)
        for i, c, r, j, steps, share, lo, hi in cells:
            self._add(i, c, r, j, steps, share, lo, hi, levels, which, last=i == rows - 1)
        self._cursor = None
        self._place_cursors(cursor)
        return True

    def _add(self, i, c, rec, j, steps, share, lo, hi, levels, which, last: bool) -> None:
        layer = rec.history.replay.template.layers[j]
        p = self.view.addPlot(row=i, col=c)
        p.hideButtons()
        if i == 0:
            p.setTitle(rec.name, size="9pt")
        p.setLabel("left", short_name(layer.name))  # the layer, beside its image: rows stay tall enough to read
        p.getAxis("left").setWidth(52)
        if last:
            p.setLabel("bottom", "step")
        else:
            p.getAxis("bottom").setStyle(showValues=False)
            p.getAxis("bottom").setHeight(4)
        img = pg.ImageItem(colour_values(share), levels=levels)
        img.setColorMap(self.cmap)
        x0 = float(steps[0]) if len(steps) else 0.0
        dx = float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0
        x1 = float(steps[-1]) + dx if len(steps) else 1.0
        img.setRect(QtCore.QRectF(x0, lo, max(x1 - x0, 1e-9), hi - lo))
        p.addItem(img)
        if which == "act":
            thr = rec.cfg.diag.saturation_threshold
            for v in output_marks(family(layer.kind), thr):
                if lo <= v <= hi:
                    p.addItem(pg.InfiniteLine(v, angle=0, pen=pg.mkPen("w", width=1, style=QtCore.Qt.PenStyle.DashLine)))
        line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ff5050", width=2))
        line.setVisible(False)
        p.addItem(line)
        self.cursors.append(line)
        p.setXRange(x0, x1, padding=0)
        p.setYRange(lo, hi, padding=0)
        if self.point_size is not None:
            set_plot_text_size(p, self.point_size)
        self.plots[(c, i)], self.images[(c, i)] = p, img
        self.data[(c, i)] = (steps, share, lo, hi, layer.name, rec.name)

    def _place_cursors(self, step) -> None:
        self._cursor = step
        for line in self.cursors:
            line.setVisible(step is not None)
            if step is not None:
                line.setValue(step)

    def plotted(self) -> dict[str, tuple[np.ndarray, np.ndarray, float, float]]:
        """What the tab draws: "run · layer" -> (steps, share image [steps, value bins], lo, hi)."""
        return {f"{run} · {layer}": (steps, share, lo, hi) for steps, share, lo, hi, layer, run in self.data.values()}
