"""The gain sweep at init: saturation, std and gradient std per layer against gain, with the wide-net theory."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from initscope.core.config import ACTIVATIONS, GAIN_RANGE, TANH_GAIN, Config
from initscope.core.theory import critical_gain, gain_curves, sweep_caption
from initscope.gui.help import HelpCornerRoom
from initscope.gui.labels import CaptionLabel
from initscope.gui.panels import Panel, block_color


class GainSweepView(HelpCornerRoom, QtWidgets.QWidget):
    """Saturation, std and gradient std per layer against gain; click a point to use that gain.

    Given the config, wide-net theory (core/theory.py) is drawn dashed beside each layer's measured line, in
    the layer's colour, the critical gain (chi = 1) is marked, and one line below says what order and chaos mean."""

    gainPicked = QtCore.Signal(float)
    THEORY_POINTS = 45  # the theory is smooth and cheap (~3 ms a gain): a finer line than the measured one
    CAPTION_TIP = "the wide-net theory's lines and the order/chaos boundary (the critical gain)"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.gains: list[float] = []
        self.values: dict[int, np.ndarray] = {}
        self.names: list[str] = []
        self.dirty = False
        self.panels = [Panel("Sat. %", "gain", ""),
                       Panel("Std", "gain", "std", legend=False),
                       Panel("Grad std", "gain", "log scale", legend=False)]
        for p, stem in zip(self.panels, ("saturation", "std", "grad-std")):
            p.export_stem = f"gain-sweep-{stem}"  # not "sat.png", "sat-2.png" beside the depth sweep's
        self.panels[2].plot.setLogMode(y=True)
        self.panels[2].plot.getAxis("left").setStyle(maxTextLevel=0)  # decade labels only: minor ones overlap
        # before a sweep, three decades (log10 units): an empty log axis spans one, and pyqtgraph then labels
        # its minor ticks 2..9, which ran together
        self.panels[2].plot.setYRange(-3, 0, padding=0)
        for p in self.panels:  # the sweep's range from the start: fitted to the marks alone, 5/3 sat on the edge, cut
            p.plot.setXRange(GAIN_RANGE[0], GAIN_RANGE[1], padding=0.02)
        self.marks = []
        self.critical_marks = []
        self.ref_marks = []
        self._base_pt = self.font().pointSizeF()
        for i, p in enumerate(self.panels):
            # the lines are the same in the three plots: named in the first only (in the narrower ones a name
            # beside a line in the middle is cut at the plot's edge, on one side or the other)
            def named(text, position, color):
                return dict(label=text, labelOpts={"position": position, "color": color}) if i == 0 else {}

            ref = pg.InfiniteLine(TANH_GAIN, angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine),
                                  **named("5/3", 0.95, "#666"))
            cur = pg.InfiniteLine(1.0, angle=90, pen=pg.mkPen("#d62728", width=2), **named("current", 0.85, "#d62728"))
            crit = pg.InfiniteLine(1.0, angle=90, pen=pg.mkPen("#2ca02c", width=1.5, style=QtCore.Qt.PenStyle.DashDotLine),
                                   **named("critical", 0.75, "#2ca02c"))
            crit.setVisible(False)
            p.plot.addItem(ref)
            self.ref_marks.append(ref)
            for m in (ref, cur, crit):
                self._label_side(m)
            p.plot.addItem(cur)
            p.plot.addItem(crit)
            self.marks.append(cur)
            self.critical_marks.append(crit)
            p.plot.scene().sigMouseClicked.connect(lambda ev, p=p: self._clicked(p, ev))
        self._mark_pt = self.marks[0].label.textItem.font().pointSizeF()
        # theory: gains, layer names and [gains, layers, 3] predicted (saturation, std, grad std); drawn once per sweep
        self.theory_gains = np.zeros(0)
        self.theory_names: list[str] = []
        self.theory_values = np.zeros((0, 0, 3))
        self.theory_curves: list[dict[str, pg.PlotDataItem]] = [{} for _ in self.panels]
        self.theory_dirty = False
        self.critical: float | None = None
        self.caption = CaptionLabel(3)
        self.caption.setToolTip(self.CAPTION_TIP)
        row = self.corner_layout = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for p in self.panels:
            row.addWidget(p)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(row, 1)
        lay.addWidget(self.caption)

    def changeEvent(self, ev: QtCore.QEvent) -> None:
        super().changeEvent(ev)
        if ev.type() == QtCore.QEvent.Type.FontChange:  # presentation mode: the 5/3, current, critical labels grow
            grow = 1 + (self.font().pointSizeF() / self._base_pt - 1) / 2  # half as much: they sit on narrow plots
            for m in (*self.marks, *self.critical_marks, *self.ref_marks):
                if getattr(m, "label", None) is None:
                    continue
                f = m.label.textItem.font()
                f.setPointSizeF(self._mark_pt * grow)
                m.label.setFont(f)

    @staticmethod
    def _label_side(mark: pg.InfiniteLine) -> None:
        """A line's label right of it, off the y axis, unless the line is in the right part of the gains swept."""
        if getattr(mark, "label", None) is None:
            return
        side = (0, 0.5) if mark.value() <= 2.2 else (1, 0.5)
        mark.label.anchors = [side, side]
        mark.label.updatePosition()

    def set_current(self, gain: float) -> None:
        for m in self.marks:
            m.setValue(gain)
            self._label_side(m)

    def start(self, gains: list[float], cfg: Config | None = None, vocab_size: int = 27) -> None:
        """A new sweep over `gains`; with cfg, its theory lines, critical gain and caption at once."""
        self.gains, self.values, self.names = gains, {}, []
        for p in self.panels:
            p.clear_series()
        if cfg is not None:  # a ReLU stack's "saturation" is its zero fraction: the title says which
            acts = {t.kind for s in cfg.model.layers for t in (s.layers or [s]) if t.kind in ACTIVATIONS}
            self.panels[0].set_title("Zero %" if acts == {"relu"} else "Sat. %")
        self.set_theory(cfg, vocab_size)

    def clear(self) -> None:
        """No sweep on screen (the settings it was for changed): curves, theory and critical mark go."""
        self.start([], None)
        self.dirty = False

    def set_theory(self, cfg: Config | None, vocab_size: int = 27) -> None:
        for p, curves in zip(self.panels, self.theory_curves):
            for c in curves.values():
                p.plot.removeItem(c)
            curves.clear()
        self.critical = None
        self.theory_names, self.theory_values = [], np.zeros((0, 0, 3))
        self.caption.setText("")
        self.caption.setToolTip(self.CAPTION_TIP)
        if cfg is not None and self.gains:
            self.theory_gains = np.linspace(min(self.gains), max(self.gains), self.THEORY_POINTS)
            self.theory_names, self.theory_values = gain_curves(cfg, list(self.theory_gains), vocab_size)
            self.critical = critical_gain(cfg)
            full = sweep_caption(cfg)  # short enough for three lines at 1024 px in presentation mode
            self.caption.setText(full)
            self.caption.setToolTip(full)
        shown = self.critical is not None and bool(self.gains) and min(self.gains) <= self.critical <= max(self.gains)
        for m in self.critical_marks:
            m.setVisible(shown)
            if shown:
                m.setValue(self.critical)
                self._label_side(m)
        self.theory_dirty = bool(self.theory_names)

    def add_point(self, i: int, names: list[str], arr: np.ndarray) -> None:
        """Store a point; `draw` (on the window's timer) puts what has arrived on screen."""
        self.values[i] = arr
        self.names = names
        self.dirty = True

    def draw(self, block_of) -> None:
        if self.theory_dirty:
            self._draw_theory(block_of)
        if not self.dirty or not self.values:
            return
        self.dirty = False
        names = self.names
        idx = sorted(self.values)
        xs = np.array([self.gains[k] for k in idx])
        table = np.stack([self.values[k] for k in idx])  # [points, layers, 3]
        key = [("wide-net theory (dashed)", QtCore.Qt.PenStyle.DashLine)] if self.theory_names else None
        for p, (col, scale) in zip(self.panels, ((0, 100.0), (1, 1.0), (2, 1.0))):
            # the first plot's legend also says what the dashed lines are (an exported picture has no caption)
            p.set_series(names, [block_color(n, block_of) for n in names], 2, style_key=key if p is self.panels[0] else None)
            for j, n in enumerate(names):
                p.curves[n].setData(xs, table[:, j, col] * scale)  # lines only: symbols cost 5x to draw
            p.draws += 1
        self.fit_y()

    def fit_y(self) -> None:
        """Every sweep plot fits its values (measured and theory): a fixed range hid a deep net's gradient std
        (1e-4..1e-3). Percentages start at 0, so a flat 50 % zero fraction does not look like a swing."""
        sat = [v[:, 0] for v in self.values.values()] + [self.theory_values[..., 0].ravel()]
        fin = np.concatenate([np.ravel(a) for a in sat]) * 100 if sat else np.zeros(0)
        fin = fin[np.isfinite(fin)]
        top = float(fin.max()) if len(fin) else 100.0
        self.panels[0].plot.setYRange(0, min(100.0, max(5.0, top * 1.1)), padding=0)
        for p in self.panels[1:]:
            p.plot.enableAutoRange(y=True)
            # now, not at the next paint (pyqtgraph's default): an export, or a read of the range, right after the
            # sweep's last points were drawn saw the range of the points before them (a CI run under load)
            p.plot.getViewBox().updateAutoRange()

    def _draw_theory(self, block_of) -> None:
        self.theory_dirty = False
        for p, curves, (col, scale) in zip(self.panels, self.theory_curves, ((0, 100.0), (1, 1.0), (2, 1.0))):
            for j, n in enumerate(self.theory_names):
                pen = pg.mkPen(block_color(n, block_of), width=1.5, style=QtCore.Qt.PenStyle.DashLine)
                curves[n] = p.plot.plot(self.theory_gains, self.theory_values[:, j, col] * scale, pen=pen)
            p.draws += 1
        self.fit_y()

    def _clicked(self, panel: Panel, ev) -> None:
        if not self.values:
            return
        pos = panel.plot.vb.mapSceneToView(ev.scenePos())
        done = [self.gains[k] for k in sorted(self.values)]
        nearest = min(done, key=lambda g: abs(g - pos.x()))
        self.gainPicked.emit(float(nearest))


def sweep_key(cfg: Config, data) -> tuple:
    """What a sweep's result depends on: the stack, the init but its gain (the gain sweep's own axis), the
    threshold and the word list."""
    return (cfg.model, replace(cfg.init, gain=0.0), cfg.diag.saturation_threshold, getattr(data, "path", None))
