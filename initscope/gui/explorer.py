"""The init explorer tabs: gain and depth sweeps, the dead-neuron map, and BatchNorm in five points.

Sweeps run in their own worker thread and arrive gain by gain, so the curves draw progressively.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.bn_points import normalize
from initscope.core.config import _TITLES, ACTIVATIONS, NORM_CHOICES, TANH_GAIN, Config, flat_kinds
from initscope.core.theory import critical_gain, depth_curves, gain_curves, sweep_caption
from initscope.gui.help import HelpCornerRoom, corner_help_button
from initscope.gui.panels import PALETTE, Panel, block_color, blocks, fit_axis_title, fit_title, set_plot_text_size

if TYPE_CHECKING:
    from initscope.core.snapshot import Snapshot


class SweepWorker(QtCore.QObject):
    """Computes sweeps off the GUI thread; a newer request makes an older one stop at its next point."""

    gainPoint = QtCore.Signal(int, int, object, object)  # generation, index, names, [layers, 3] means
    gainDone = QtCore.Signal(int)
    depthDone = QtCore.Signal(int, object)  # generation, SweepResult
    failed = QtCore.Signal(str, str)  # which sweep (gain | depth), why

    def __init__(self):
        super().__init__()
        self.latest = 0  # set by the GUI thread

    @QtCore.Slot(int, object, object, object, int)
    def gain(self, generation: int, cfg: Config, data, gains: list, seeds: int) -> None:
        try:
            from initscope.core.sweeps import iter_gain_sweep  # torch: imported in this thread, not at start-up

            for i, names, arr in iter_gain_sweep(cfg, data, gains, seeds):
                if generation != self.latest:
                    return
                self.gainPoint.emit(generation, i, names, arr)
            self.gainDone.emit(generation)
        except Exception as e:  # noqa: BLE001
            self.failed.emit("gain", str(e))

    @QtCore.Slot(int, object, object, int, int, object)
    def depth(self, generation: int, cfg: Config, data, max_depth: int, seeds: int, residual: tuple = (False,)) -> None:
        try:
            width = next((s.width for s in cfg.model.layers if s.kind == "linear" and s.width), 100)
            act = next((t.kind for s in cfg.model.layers for t in (s.layers or [s]) if t.kind in ACTIVATIONS), "tanh")
            from initscope.core.sweeps import depth_sweep

            self.depthDone.emit(generation, depth_sweep(cfg, data, max_depth, width, act, seeds, NORM_CHOICES,
                                                        residual))
        except Exception as e:  # noqa: BLE001
            self.failed.emit("depth", str(e))


class StatusLine(QtWidgets.QLabel):
    """One line of status beside a sweep's buttons: its width never follows its text (a new text must not
    re-lay out the plots), and a text longer than the room ends in "…" (the tooltip has it whole)."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)

    def shown_text(self) -> str:
        return self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, ev) -> None:
        p = QtGui.QPainter(self)
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.WindowText))
        p.drawText(self.contentsRect(), int(self.alignment().value), self.shown_text())
        p.end()


class CaptionLabel(QtWidgets.QLabel):
    """A word-wrapped caption `lines` lines tall in its current font, whatever its text: a new text never
    re-lays out the plots above it (a plain word-wrapped label's height follows its text), and presentation
    mode's larger font makes the lines taller (a FontChange event)."""

    def __init__(self, lines: int = 3, parent=None):
        super().__init__(parent)
        self.lines = lines
        self.setWordWrap(True)
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
        self.fit()

    def fit(self) -> None:
        m = self.contentsMargins()
        self.setFixedHeight(self.fontMetrics().lineSpacing() * self.lines + 2 * self.margin() + m.top() + m.bottom() + 2)

    def changeEvent(self, ev: QtCore.QEvent) -> None:
        super().changeEvent(ev)
        if ev.type() == QtCore.QEvent.Type.FontChange:
            self.fit()

    def text_fits(self) -> bool:
        """Does the whole text show at the label's current size?"""
        r = self.contentsRect().adjusted(self.margin(), self.margin(), -self.margin(), -self.margin())
        flags = int(self.alignment().value) | QtCore.Qt.TextFlag.TextWordWrap.value
        return self.fontMetrics().boundingRect(r, flags, self.text()).height() <= r.height()


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
        self.panels[2].plot.setLogMode(y=True)
        self.panels[2].plot.getAxis("left").setStyle(maxTextLevel=0)  # decade labels only: minor ones overlap
        # before a sweep, three decades (log10 units): an empty log axis spans one, and pyqtgraph then labels
        # its minor ticks 2..9, which ran together
        self.panels[2].plot.setYRange(-3, 0, padding=0)
        for p in self.panels:  # the sweep's range from the start: fitted to the marks alone, 5/3 sat on the edge, cut
            p.plot.setXRange(0.25, 3.0, padding=0.02)
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
        self.set_theory(cfg, vocab_size)

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
        for p, (col, scale) in zip(self.panels, ((0, 100.0), (1, 1.0), (2, 1.0))):
            p.set_series(names, [block_color(n, block_of) for n in names], 2)
            for j, n in enumerate(names):
                p.curves[n].setData(xs, table[:, j, col] * scale)  # lines only: symbols cost 5x to draw
            p.draws += 1

    def _draw_theory(self, block_of) -> None:
        self.theory_dirty = False
        for p, curves, (col, scale) in zip(self.panels, self.theory_curves, ((0, 100.0), (1, 1.0), (2, 1.0))):
            for j, n in enumerate(self.theory_names):
                pen = pg.mkPen(block_color(n, block_of), width=1.5, style=QtCore.Qt.PenStyle.DashLine)
                curves[n] = p.plot.plot(self.theory_gains, self.theory_values[:, j, col] * scale, pen=pen)
            p.draws += 1

    def _clicked(self, panel: Panel, ev) -> None:
        if not self.values:
            return
        pos = panel.plot.vb.mapSceneToView(ev.scenePos())
        done = [self.gains[k] for k in sorted(self.values)]
        nearest = min(done, key=lambda g: abs(g - pos.x()))
        self.gainPicked.emit(float(nearest))


DEPTH_NORM_LABELS = {"none": "no norm", "batchnorm": "BatchNorm", "layernorm": "LayerNorm", "rmsnorm": "RMSNorm"}


class DepthSweepView(HelpCornerRoom, QtWidgets.QWidget):
    """The deepest layer's std and saturation as the stack deepens, one line per normalisation (none, BatchNorm,
    LayerNorm, RMSNorm) and, with "residual" ticked, per residual variant too (dotted); given the config,
    wide-net theory dashed beside each."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.std_panel = Panel("Std", "depth", "deepest layer")
        self.sat_panel = Panel("Sat. %", "depth", "deepest layer", legend=False)
        self.grad_panel = Panel("Grad std", "depth", "first layer", legend=False)
        # linear y: over depth the first layer's gradient std changes by a factor of a few, and pyqtgraph's log axis
        # labels every minor tick of a range under one decade, one over the other
        self.theory_curves: dict[tuple[str, str], pg.PlotDataItem] = {}  # (panel: std|sat|grad, variant)
        self.residual = QtWidgets.QCheckBox("and residual stacks (dotted)")
        self.residual.setToolTip("also sweep the residual version of each: a stem Linear, then pre-norm residual "
                                 "blocks x + [norm] -> Linear -> activation -> Linear (twice the time)")
        row = self.corner_layout = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for p in (self.std_panel, self.sat_panel, self.grad_panel):
            row.addWidget(p)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.residual)
        lay.addLayout(row, 1)

    def residual_variants(self) -> tuple[bool, ...]:
        return (False, True) if self.residual.isChecked() else (False,)

    @staticmethod
    def variants(d: dict) -> list[tuple[str, bool]]:
        """(norm, residual) of each line, in the sweep's order (a result from before norms: batchnorm's bool)."""
        seen: dict[tuple[str, bool], None] = {}
        for x in d["layers"]:
            seen[(x.get("norm", "batchnorm" if x["batchnorm"] else "none"), bool(x.get("residual", False)))] = None
        return list(seen)

    @staticmethod
    def variant_name(norm: str, residual: bool) -> str:
        return DEPTH_NORM_LABELS[norm] + (" residual" if residual else "")

    def show_result(self, res, cfg: Config | None = None, vocab_size: int = 27) -> None:
        """Draw a depth sweep; with the config it ran on, the theory for the same stacks (width from cfg's first
        hidden Linear, as the sweep builds them; activation from the sweep's layer names)."""
        d = res.to_dict()
        depths = np.array(d["depths"], float)
        variants = self.variants(d)
        names = [self.variant_name(*v) for v in variants]
        colors = [PALETTE[list(DEPTH_NORM_LABELS).index(n) % len(PALETTE)] for n, _ in variants]
        styles = [QtCore.Qt.PenStyle.DotLine if r else QtCore.Qt.PenStyle.SolidLine for _, r in variants]
        for p in (self.std_panel, self.sat_panel, self.grad_panel):
            p.set_series(names, colors, 2, names, styles)
        for (norm, res_on), name in zip(variants, names):
            layers = [x for x in d["layers"] if (x.get("norm", "batchnorm" if x["batchnorm"] else "none"),
                                                 bool(x.get("residual", False))) == (norm, res_on)]
            deepest = {k: [layers[i][k][i] for i in range(len(depths))] for k in ("std", "saturation")}
            first_grad = [layers[0]["grad_std"][i] for i in range(len(depths))]
            style = dict(symbol="o", symbolSize=5)
            self.std_panel.curves[name].setData(depths, np.array(deepest["std"], float), **style)
            self.sat_panel.curves[name].setData(depths, np.array(deepest["saturation"], float) * 100, **style)
            self.grad_panel.curves[name].setData(depths, np.array(first_grad, float), **style)
        self._draw_theory(d, cfg, vocab_size, variants, names, colors)
        for p in (self.std_panel, self.sat_panel, self.grad_panel):
            p.draws += 1

    def _draw_theory(self, d: dict, cfg: Config | None, vocab_size: int, variants, names, colors) -> None:
        panels = {"std": self.std_panel, "sat": self.sat_panel, "grad": self.grad_panel}
        for (key, _), c in self.theory_curves.items():
            panels[key].plot.removeItem(c)
        self.theory_curves = {}
        if cfg is None or not d["layers"]:
            return
        width = next((s.width for s in cfg.model.layers if s.kind == "linear" and s.width), 100)
        title = d["layers"][0]["name"].split()[0]
        act = next((k for k, t in _TITLES.items() if t == title and k in ACTIVATIONS), "tanh")
        depths = [int(x) for x in d["depths"]]
        for (norm, res_on), name, color in zip(variants, names, colors):
            t = depth_curves(cfg, depths, width, act, False, vocab_size, norm=norm, residual=res_on)
            pen = pg.mkPen(color, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
            for key, col, scale in (("std", 0, 1.0), ("sat", 1, 100.0), ("grad", 2, 1.0)):
                self.theory_curves[(key, name)] = panels[key].plot.plot(depths, t[:, col] * scale, pen=pen)
        if self.std_panel.legend is not None:
            self.std_panel.legend.addItem(self.theory_curves[("std", names[0])], "theory (dashed)")


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
            self.count.setText(self._why_empty())
            return
        self.image.setImage(s.sat_map.astype(np.uint8) * 255, levels=(0, 255))
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


class ExplorerTabs(QtCore.QObject):
    """Builds the two explorer tabs. The window hands it the current settings with `set_context(...)` and
    hears back through `gainPicked`; the sweeps run in a thread of its own.

    The Explorer tab holds four sub-tabs, each with its own button bar and status line: the gain sweep and
    the depth sweep at init (three plots each: stacked under one bar they were squeezed to 30-40 px tall at
    1024x700 in presentation mode), the train sweep and the width check (gui/width_view.py). One seeds value serves both at-init sweeps (each bar
    shows it; changing either changes both).

    A QObject living in the GUI thread, so the sweep worker's signals reach these slots queued (a plain
    object's methods, or a lambda, would run in the worker's thread and touch widgets from there)."""

    gainPicked = QtCore.Signal(float)  # a click on a gain-sweep point: use that gain
    runRequested = QtCore.Signal(str)  # a click on a train-sweep or width point: open that run file
    _sweep_gain = QtCore.Signal(int, object, object, object, int)
    _sweep_depth = QtCore.Signal(int, object, object, int, int, object)
    DONE_MARK = " ✓"  # on a sub-tab whose sweep finished while another sub-tab was shown, until it is shown

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cfg: Config | None = None
        self.data = None
        self.problem: str | None = "no data yet"  # why sweeps cannot run now, or None
        self.worker = SweepWorker()
        self.thread = None
        self.generation = 0  # of the gain sweep: a newer one stops an older one at its next point
        self.depth_generation = 0  # a depth sweep is one call: a newer one only makes an older one's result stale
        self.gain_running = False
        self.gain_view = GainSweepView()
        self.depth_view = DepthSweepView()
        self.dead_map = DeadNeuronMap()
        self.bn5 = BatchNormFivePoints()
        self.gain_btn = QtWidgets.QPushButton("Sweep gain")
        self.gain_btn.setToolTip("gains 0.25 → 3 (24 points), the current stack, at init")
        self.depth_btn = QtWidgets.QPushButton("Sweep depth")
        self.depth_btn.setToolTip("depth 1 → 12 blocks of the stack's Linear + activation, with each normalisation (none, BatchNorm, LayerNorm, RMSNorm)")
        self.seeds = self._seeds_box()
        self.depth_seeds = self._seeds_box()
        self.seeds.valueChanged.connect(self.depth_seeds.setValue)  # one value, shown in both bars
        self.depth_seeds.valueChanged.connect(self.seeds.setValue)
        # short texts: at 1024x700 in presentation mode a status line has about 340 px
        self.gain_status = self._status_line("at init, on the current stack")
        self.depth_status = self._status_line("at init, with each normalisation")
        self.status = self.gain_status  # the status line of the sweep asked for last
        gain_tab = self._sweep_page(self.gain_btn, self.seeds, self.gain_status, self.gain_view)
        depth_tab = self._sweep_page(self.depth_btn, self.depth_seeds, self.depth_status, self.depth_view)
        # the train sweep view imports torch, so it is built in start(), once the window is up
        self.train_view = None
        self.train_holder = QtWidgets.QWidget()
        QtWidgets.QVBoxLayout(self.train_holder).addWidget(QtWidgets.QLabel("starting…"))
        self.width_view = None  # the same: built in start()
        self.width_holder = QtWidgets.QWidget()
        QtWidgets.QVBoxLayout(self.width_holder).addWidget(QtWidgets.QLabel("starting…"))
        self.inner = QtWidgets.QTabWidget()
        self.inner.addTab(gain_tab, "Gain sweep")
        self.inner.addTab(depth_tab, "Depth sweep")
        self.inner.addTab(self.train_holder, "Train sweep")
        self.inner.addTab(self.width_holder, "Width")
        self.tab_names = [self.inner.tabText(i) for i in range(self.inner.count())]
        for i, tip in enumerate(("at init: every layer's saturation, std and gradient std across gains",
                                 "at init: the deepest layer's statistics as the stack deepens",
                                 "after training: final losses across a grid of settings",
                                 "a few steps at several widths: standard parametrisation against muP")):
            self.inner.setTabToolTip(i, tip)
        self.inner.currentChanged.connect(self._shown)
        self.sweeps_tab = self.inner
        other = QtWidgets.QSplitter()
        other.addWidget(self.dead_map)
        other.addWidget(self.bn5)
        other.setSizes([500, 500])
        self.map_tab = other
        for w, key in ((self.gain_view, "gain-sweep"), (self.depth_view, "depth-sweep"),
                       (self.dead_map, "dead-neurons"), (self.bn5, "batchnorm-five-points")):
            corner_help_button(w, key)  # a HelpCornerRoom's top row ends short of it
        self.scale = (1.0, QtWidgets.QApplication.font().pointSizeF())  # presentation mode's, for views made later
        self.gain_btn.clicked.connect(self.run_gain)
        self.depth_btn.clicked.connect(self.run_depth)
        self.gain_view.gainPicked.connect(self.gainPicked)
        self.worker.gainPoint.connect(self._gain_point)
        self.worker.gainDone.connect(self._gain_done)
        self.worker.depthDone.connect(self._depth_done)
        self.worker.failed.connect(self._failed)

    @staticmethod
    def _seeds_box() -> QtWidgets.QSpinBox:
        box = QtWidgets.QSpinBox()
        box.setRange(1, 50)
        box.setValue(6)
        box.setToolTip("init seeds averaged per point (gain and depth sweeps alike): more is smoother and slower")
        return box

    @staticmethod
    def _status_line(text: str) -> QtWidgets.QLabel:
        label = StatusLine(text)
        label.setToolTip(text)
        return label

    @staticmethod
    def _sweep_page(button, seeds, status, view) -> QtWidgets.QWidget:
        """One sub-tab: its view, with its button, the seeds and its status line above the plots."""
        bar = QtWidgets.QHBoxLayout()
        bar.setSpacing(6)  # not the gain view's 0, which a child layout would inherit
        for w in (button, QtWidgets.QLabel("seeds"), seeds):
            bar.addWidget(w)
        bar.addWidget(status, 1)
        view.put_bar_above(bar)
        return view

    def _set_status(self, label: QtWidgets.QLabel, text: str) -> None:
        label.setText(text)
        label.setToolTip(text)

    def _page_of(self, view: QtWidgets.QWidget) -> int:
        return self.inner.indexOf(view)

    def _finished(self, view: QtWidgets.QWidget) -> None:
        """A sweep ended: when its sub-tab is not the one shown, its tab says so until it is."""
        i = self._page_of(view)
        if i != self.inner.currentIndex():
            self.inner.setTabText(i, self.tab_names[i] + self.DONE_MARK)

    def _shown(self, i: int) -> None:
        if 0 <= i < len(self.tab_names):
            self.inner.setTabText(i, self.tab_names[i])

    def start(self) -> None:
        """The sweep thread (once torch is importable)."""
        from initscope.gui.worker import start_in_thread

        self.thread = start_in_thread(self.worker, "initscope-sweep")
        self._sweep_gain.connect(self.worker.gain)
        self._sweep_depth.connect(self.worker.depth)
        from initscope.gui.train_sweep import TrainSweepView

        self.train_view = TrainSweepView()
        lay = self.train_holder.layout()
        while lay.count():
            lay.takeAt(0).widget().deleteLater()
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.train_view)
        corner_help_button(self.train_view, "train-sweep")
        self.train_view.set_scale(*self.scale)  # presentation mode may be on already
        self.train_view.run_requested.connect(self.runRequested)
        from initscope.gui.width_view import WidthView

        self.width_view = WidthView()
        lay = self.width_holder.layout()
        while lay.count():
            lay.takeAt(0).widget().deleteLater()
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.width_view)
        corner_help_button(self.width_view, "width-check")
        self.width_view.set_scale(*self.scale)
        self.width_view.run_requested.connect(self.runRequested)
        self.width_view.finished.connect(lambda: self._finished(self.width_holder))
        if self.cfg is not None and self.data is not None:
            self.train_view.set_base_config(self.cfg, self.data.path)
            self.width_view.set_base_config(self.cfg, self.data.path, self.data.vocab.size)

    def set_context(self, cfg: Config, data, problem: str | None) -> None:
        """The window's current settings and data; `problem` says why sweeps cannot run now (None: they can)."""
        self.cfg, self.data, self.problem = cfg, data, problem
        self.gain_view.set_current(cfg.init.gain)
        if self.train_view is not None and data is not None:
            self.train_view.set_base_config(cfg, data.path)
        if self.width_view is not None and data is not None:
            self.width_view.set_base_config(cfg, data.path, data.vocab.size)

    def _ready(self, status: QtWidgets.QLabel, view: QtWidgets.QWidget) -> bool:
        self.status = status
        self.inner.setCurrentIndex(self._page_of(view))  # a sweep asked for is shown (a click is there already)
        if self.problem is not None or self.thread is None:
            self._set_status(status, self.problem or "starting…")
            return False
        return True

    def run_gain(self) -> None:
        if not self._ready(self.gain_status, self.gain_view):
            return
        self.generation += 1
        self.worker.latest = self.generation
        from initscope.core.sweeps import gain_values

        gains = gain_values(0.25, 3.0, 24)
        self.gain_view.start(gains, self.cfg.copy(), self.data.vocab.size)  # the theory lines at once
        self._set_status(self.gain_status, "sweeping gain…")
        self.gain_running = True
        self._sweep_gain.emit(self.generation, self.cfg.copy(), self.data, gains, self.seeds.value())

    def run_depth(self) -> None:
        """A depth sweep; one asked for while a gain sweep runs starts when that one ends (one sweep thread)."""
        if not self._ready(self.depth_status, self.depth_view):
            return
        self.depth_generation += 1
        self._set_status(self.depth_status, "queued after the gain sweep…" if self.gain_running else "sweeping depth…")
        self._depth_cfg = self.cfg.copy()  # the theory is drawn for the config the sweep ran on
        self._sweep_depth.emit(self.depth_generation, self.cfg.copy(), self.data, 12, self.depth_seeds.value(),
                               self.depth_view.residual_variants())

    @QtCore.Slot(int)
    def _gain_done(self, generation: int) -> None:
        if generation == self.generation:
            self.gain_running = False
            self._set_status(self.gain_status, "done: click a point to use its gain")
            if self.depth_status.text().startswith("queued"):
                self._set_status(self.depth_status, "sweeping depth…")
            self._finished(self.gain_view)

    @QtCore.Slot(str, str)
    def _failed(self, which: str, msg: str) -> None:
        if which == "gain":
            self.gain_running = False
        self._set_status(self.gain_status if which == "gain" else self.depth_status, f"{which} sweep failed: {msg}")

    @QtCore.Slot(int, int, object, object)
    def _gain_point(self, generation: int, i: int, names, arr) -> None:
        if generation != self.generation:
            return
        self.gain_view.add_point(i, names, arr)

    @QtCore.Slot(int, object)
    def _depth_done(self, generation: int, res) -> None:
        if generation != self.depth_generation:
            return
        self.depth_view.show_result(res, self._depth_cfg, self.data.vocab.size)
        self._set_status(self.depth_status, "depth sweep done")
        self._finished(self.depth_view)

    def panels(self) -> list[Panel]:
        return [*self.gain_view.panels, self.depth_view.std_panel, self.depth_view.sat_panel, self.depth_view.grad_panel]

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode for the views that are not Panels: the dead-neuron map, BatchNorm in five points and
        the train sweep (made once torch is ready: it takes the scale then)."""
        self.scale = (scale, point_size)
        for view in (self.dead_map, self.bn5, self.train_view, self.width_view):
            if view is not None:
                view.set_scale(scale, point_size)

    def redraw(self) -> None:
        """Called from the window's redraw timer while the Explorer tab is shown: sweep points are drawn at most at
        that rate."""
        self._lay_out_hidden_pages()
        v = self.gain_view
        if v.dirty and len(v.values) < len(v.gains):
            self._set_status(self.gain_status, f"sweeping gain… {len(v.values)}/{len(v.gains)}")
        if self.cfg is not None:
            v.draw(blocks(flat_kinds(self.cfg.model.layers)))

    def _lay_out_hidden_pages(self) -> None:
        """The sweep sub-tab not shown, laid out at the shown one's size: an export or presentation mode draws
        every panel, and a page Qt never showed (or showed at another window size) would be drawn at its old
        size. Shown and hidden again at once: nothing is painted between, and the tabs say nothing."""
        cur = self.inner.currentWidget()
        stale = [v for v in (self.gain_view, self.depth_view) if v is not cur and v.size() != cur.size()]
        if not stale or not self.inner.isVisible():
            return
        i = self.inner.currentIndex()
        self.inner.blockSignals(True)
        try:
            for v in stale:
                self.inner.setCurrentWidget(v)
            self.inner.setCurrentIndex(i)
        finally:
            self.inner.blockSignals(False)

    def close(self) -> None:
        if self.train_view is not None:
            self.train_view.shutdown()  # its workers stopped, its temporary run files removed
        if self.width_view is not None:
            self.width_view.shutdown()
        self.worker.latest = -1  # a running sweep stops at its next point
        if self.thread is not None:
            from initscope.gui.worker import stop_thread

            stop_thread(self.thread)
