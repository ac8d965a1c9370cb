"""The pyqtgraph panels. Each is created once and redrawn from a History with setData, on a timer.

Colours: a layer's colour is a function of its position in its *own* stack (the Linear block it belongs to),
never of whatever config is in the controls, so a run looks the same in every panel, view and export.
Overlaid runs keep their layer colours and differ by line style.

Every panel can say what it draws now (`plotted()`: label -> (x, y, colour)), which is what the GUI tests
and the `initscope_window` fixture assert on.
"""

from __future__ import annotations

import math
import re
import types

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.history import SMOOTH_BLOCK, block_means
from initscope.core.layer_colors import (  # noqa: F401
    EMBED_COLOR,
    MAX_LEGEND,
    PALETTE,
    block_color,
    blocks,
    layer_index,
    legend_subset,
    watched_blocks,
)
from initscope.gui.envelope import PeakEnvelope

MIN_PLOT_WIDTH = 160  # px: narrower than this beside its legend, a plot takes the legend under it
MIN_STEP_WINDOW = 1000  # the step axis shows at least this many steps (or the whole run, if shorter)
RUN_STYLES = [QtCore.Qt.PenStyle.SolidLine, QtCore.Qt.PenStyle.DashLine, QtCore.Qt.PenStyle.DotLine,
              QtCore.Qt.PenStyle.DashDotLine]  # overlaid runs differ by line style
RUN_COLORS = ["#1f4e9a", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]  # one per overlaid run
GUIDE_STYLE = QtCore.Qt.PenStyle.DashDotDotLine  # a guide line (update:data's -3) is drawn unlike any run


def set_plot_text_size(plot: pg.PlotItem, point_size: float | None, title_size: str = "11pt") -> None:
    """Presentation mode for a plain pyqtgraph plot (not a Panel: the dead-neuron map, BatchNorm in five points,
    the train sweep's plots): its title, axis titles and ticks at point_size; None puts back title_size (the
    title's own) and the app font."""
    font = QtGui.QFont()
    if point_size is not None:
        font.setPointSizeF(point_size)
    for side in ("left", "bottom"):
        ax = plot.getAxis(side)
        ax.setTickFont(font if point_size is not None else None)
        ax.label.setFont(font)
        ax.resizeEvent()  # the axis title is placed by hand: move it to where its new size goes
    if plot.titleLabel.isVisible():
        plot.titleLabel.setText(plot.titleLabel.text,
                                size=title_size if point_size is None else f"{point_size * 1.1:.0f}pt")


def fit_axis_title(ax: pg.AxisItem, full: str, short: str) -> None:
    """An axis title that fits its axis: `full` when it does, else `short` (for plots that are not Panels;
    a Panel refits its own in fit_axis_labels)."""
    length = ax.height() if ax.orientation in ("left", "right") else ax.width()
    if ax.labelText != full:
        ax.setLabel(full)  # measured as drawn (the label's HTML is wider than its plain text)
    if ax.label.boundingRect().width() > length + 1:
        ax.setLabel(short)


def fit_title(plot: pg.PlotItem, full: str, short: str, room: float) -> None:
    """A plot title that fits `room` px (the view's width less the y axis): `full` when it does, else `short`."""
    lab = plot.titleLabel
    if lab.text != full:
        lab.setText(full)
    if lab.item.boundingRect().width() > room:
        lab.setText(short)


def run_tag(name: str) -> str:
    """'A3: BatchNorm on' -> 'A3', for legends where the whole run name would not fit."""
    return name.split(":")[0].strip()[:12]


def short_name(param: str) -> str:
    """'L3 Linear.weight' -> 'L3', 'embedding' -> 'emb': for ticks and legends where space is short."""
    return "emb" if param.startswith("embedding") else param.split()[0]


def _short_label(text: str) -> str:
    """'output (▲ = theory ±σ)' -> 'output'; 'gradient, step 300' -> 'gradient'."""
    return re.split(r" \(|, ", text, maxsplit=1)[0]


def _compact(label: str) -> str:
    """'L1 Tanh 22% sat<br>σ 0.76' -> 'L1 22%': the first line, without the layer kind and unit words."""
    first = label.split("<br>")[0]
    first = re.sub(r"^(L\d+) (Tanh|ReLU|Linear|BatchNorm1?d?)(\.weight)?\b", r"\1", first)  # only after a layer's index
    return re.sub(r" (sat|zeros)$", "", first).strip()


def _text_width(html: str, size: str) -> float:
    """Width in px of the widest line of a legend label (HTML with <br>) at a point size like "8pt"."""
    fm = QtGui.QFontMetricsF(_font(size))
    return max(fm.horizontalAdvance(line) for line in html.split("<br>"))


def _font(size: str) -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSizeF(float(size.removesuffix("pt")))
    return font


class CompactAxis(pg.AxisItem):
    """Large round ticks in thousands: "150k", not "150000" (at presentation mode's size, on a narrow plot,
    "50000100000150000" ran together)."""

    def tickStrings(self, values, scale, spacing):
        if spacing * scale >= 1000 and all(abs(v * scale) >= 1000 or v == 0 for v in values):
            return [f"{v * scale / 1000:g}k" if v else "0" for v in values]
        return super().tickStrings(values, scale, spacing)


class Panel(QtWidgets.QWidget):
    """A titled pyqtgraph plot with an optional legend to its right, outside the data area."""

    def __init__(self, title: str, xlabel: str, ylabel: str, legend: bool = True, parent=None):
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(2, 2, 2, 2)
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0, title=title,
                                                   axisItems={"bottom": CompactAxis("bottom")})
        self.title = title
        self.plot.hideButtons()  # pyqtgraph's "A" (auto-range) button popped up over the plot on every hover
        self.plot.setLabel("bottom", xlabel)
        self.plot.setLabel("left", ylabel)
        # no grid: pyqtgraph's grid lines cost ~4x the rest of a panel's paint, time the trainer needs
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # "std (x0.001)" confuses more than it helps

        self.legend = None
        self.legend_below = False  # a narrow panel puts its legend under the plot, in columns
        self._cols_asked = None  # the columns the last placement asked for (fewer may have fitted)
        if legend:
            # rows one text line apart: a label is its text line plus 8 px of margins, and the spacing takes back
            # 6 of them (a fixed pitch, whatever the font size). The legend keeps its own height (Fixed): stretched
            # to the plot's, its labels grew apart from their samples
            self.legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-6, sampleType=None)
            self.legend.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Fixed)
            self.view.addItem(self.legend, row=0, col=1)
            self.view.ci.layout.setAlignment(self.legend, QtCore.Qt.AlignmentFlag.AlignTop)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        # axis titles are refitted whenever an axis changes size, queued: a direct call could reach this panel while
        # it is being destroyed (the axes outlive it by a moment) and crash the interpreter at exit
        for side in ("left", "bottom"):
            self.plot.getAxis(side).geometryChanged.connect(self.fit_axis_labels, QtCore.Qt.ConnectionType.QueuedConnection)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.labels: dict[str, str] = {}
        self.line_scale = 1.0  # presentation mode doubles it
        self.point_size: float | None = None
        self.base_point_size = QtWidgets.QApplication.font().pointSizeF()
        self.title_size = self.plot.titleLabel.opts.get("size", "11pt")  # pyqtgraph's; a LabelItem keeps the last
        self.draws = 0  # how many times the panel redrew (for the responsiveness benchmark and tests)

    # --- legend placement: beside the plot when there is room, else under it ----------------------------------
    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self.place_legend()

    def fit_axis_labels(self) -> None:
        """A y-axis title longer than the axis would be cut: hide it then (the panel's title and its "?" still
        say what is plotted), show it again when there is room."""
        ax = self.plot.getAxis("left")
        text = ax.labelText
        if text:
            fits = ax.label.boundingRect().width() <= ax.height() + 1
            if fits != ax.label.isVisible():
                ax.showLabel(fits)
        # the x-axis title: its short form (before " (" or ", ") when the whole one is wider than the axis
        ax = self.plot.getAxis("bottom")
        full = getattr(self, "_full_xlabel", None)
        if full is None or (ax.labelText not in (full, _short_label(full))):
            full = self._full_xlabel = ax.labelText
        if not full:
            return
        short = _short_label(full)
        if ax.labelText != full and (short == full or ax.width() >= getattr(self, "_full_xlabel_px", 1e9)):
            ax.setLabel(full)
        if ax.labelText == full and ax.label.boundingRect().width() > ax.width() + 1:
            self._full_xlabel_px = ax.label.boundingRect().width()  # when the axis grows back past this
            ax.setLabel(short)

    def place_legend(self, force: bool = False) -> None:
        """Keep the legend off the data and inside the panel: to the right of the plot when the plot keeps at
        least MIN_PLOT_WIDTH px beside it, else in rows under the plot (as many columns as fit)."""
        if self.legend is None:
            return
        self._place_legend(force)
        # pyqtgraph's LegendItem moves itself to (0, 0) whenever its entries change (updateSize), on top of the
        # plot, until the layout around it runs again: run it now
        layout = self.view.ci.layout
        layout.invalidate()
        layout.activate()

    def _place_legend(self, force: bool) -> None:
        if not self.legend.items:  # an empty legend (the loss panel's for one run) gives the plot its room back
            self.legend.setMinimumWidth(0)
            self.legend.setVisible(False)
            self.legend_below = None  # placed afresh when it has entries again
            return
        self.legend.setVisible(True)
        wide = self.legend_labels
        label_w = max(_text_width(t, self.legend.opts["labelTextSize"]) for t in wide) + 28  # sample and spacing
        axis_w = self.plot.getAxis("left").width()
        title_w = self.plot.titleLabel.item.boundingRect().width()
        line_h = QtGui.QFontMetricsF(_font(self.legend.opts["labelTextSize"])).lineSpacing() + 2
        rows = [t.count("<br>") + 1 for t in wide]

        def column_h(n: int) -> float:  # the tallest column's height, the entries in n columns beside the plot
            per_col = math.ceil(len(rows) / n)
            return max(sum(rows[i:i + per_col]) for i in range(0, len(rows), per_col)) * line_h

        min_plot_w = max(axis_w + MIN_PLOT_WIDTH, title_w + 12)
        beside_h = self.view.height() - 40  # the plot's height beside a legend (title and step axis out)
        below, beside_cols = True, 1
        for n in (1, 2):  # beside the plot in one column, or two when one is taller than the plot
            if column_h(n) <= beside_h and self.view.width() - n * label_w - 40 >= min_plot_w:  # plot item, axis in
                below, beside_cols = False, n
                break
        compact = [_compact(t) for t in wide]  # under the plot: one short line per entry
        room_below = self.view.width() - 16  # under the plot the legend spans the axis too

        def columns(texts):
            return max(1, int(room_below // (max(_text_width(t, self.legend.opts["labelTextSize"]) for t in texts) + 30)))

        cols = columns(compact)
        if math.ceil(len(compact) / cols) * line_h > 0.2 * self.view.height():  # still too tall: names only
            compact = [t.split()[0] if layer_index(t.split()[0]) is not None or t.startswith("emb") else t
                       for t in compact]  # a layer's name says enough; "no BatchNorm" is not cut to "no"
            cols = columns(compact)
        if below:  # a legend in rows under a short plot can leave it a strip: two columns beside may leave more
            below_h = beside_h - math.ceil(len(compact) / cols) * line_h
            beside_w = self.view.width() - 2 * label_w - 40 - axis_w  # its data width beside two columns
            if column_h(2) <= beside_h and min(beside_w, beside_h) > min(room_below - axis_w, below_h):
                below, beside_cols = False, 2
        if not below:
            cols = beside_cols
        for (_, lab), full, short in zip(self.legend.items, wide, compact):
            text = short if below else full
            if lab.text != text:
                lab.setText(text)
        # beside: from the top of the data, under the title's row and the panel's "?" floating in the corner. Set
        # on every pass: the title and the "?" grow with presentation mode's fonts after the legend was placed
        top = 0.0
        if not below:
            corner = [b.sizeHint().height() + 4 for b in self.findChildren(QtWidgets.QToolButton)
                      if getattr(b, "help_key", None)]
            top = max([self.plot.titleLabel.boundingRect().height(), *corner])
        if self.legend.layout.getContentsMargins()[1] != top:
            self.legend.layout.setContentsMargins(0, top, 0, 0)
        # placed as asked last time, and still inside the panel (rows under a plot that narrowed, Ctrl+B in
        # presentation mode, ran past its right edge: the estimate of the columns had not changed)
        fits = not below or self.legend.columnCount <= 1 or self._legend_width() <= self.view.width() - 16
        if below == self.legend_below and self._cols_asked == cols and fits and not force:
            return
        self._cols_asked = cols
        # pyqtgraph's legend does not tell the layout how wide its labels are: say it, so no label is cut
        self.legend.setMinimumWidth(0 if below else cols * label_w)
        if below:  # as many columns as really fit (the legend's own spacing decides its width)
            self.legend.setColumnCount(cols)
            while cols > 1 and self._legend_width() > self.view.width() - 16:
                cols -= 1
                self.legend.setColumnCount(cols)
        self.legend_below = below
        layout = self.view.ci
        layout.removeItem(self.legend)
        if below:
            layout.addItem(self.legend, row=1, col=0)
            layout.layout.setColumnMinimumWidth(1, 0)
        else:
            layout.addItem(self.legend, row=0, col=1)
        layout.layout.setAlignment(self.legend, QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.legend.setColumnCount(cols)

    def _legend_width(self) -> float:
        """The legend's width in its columns, from its labels' drawn text: a label's size hint can lag its font
        (under X, rows of a legend under a narrowed plot ran past the panel's edge though the hint fitted)."""
        n, lay = max(1, self.legend.columnCount), self.legend.layout
        cols = [0.0] * n
        for i, (sample, label) in enumerate(self.legend.items):
            cols[i % n] = max(cols[i % n], sample.boundingRect().width() + label.item.boundingRect().width())
        left, _, right, _ = lay.getContentsMargins()
        drawn = sum(cols) + (2 * n - 1) * lay.horizontalSpacing() + left + right
        return max(drawn, lay.effectiveSizeHint(QtCore.Qt.SizeHint.PreferredSize).width())

    def set_xlabel(self, text: str) -> None:
        self._full_xlabel, self._full_xlabel_px = text, 1e9
        self.plot.setLabel("bottom", text)
        self.fit_axis_labels()

    def set_title(self, title: str) -> None:
        if title != self.title:
            self.title = title
            size = f"{self.point_size * 1.1:.0f}pt" if self.point_size else self.title_size
            self.plot.setTitle(title, size=size)

    def set_series(self, names: list[str], colors: list[str], width: float, labels: list[str] | None = None,
                   styles: list | None = None, legend_keys: list[str] | None = None,
                   style_key: list[tuple[str, object]] | None = None, legend_texts: dict | None = None) -> None:
        """(Re)create one curve per name only when the set of names or their colours/styles change.

        legend_keys: the curves that get a legend entry (default all); style_key: extra entries (text, pen
        style) drawn as grey samples, e.g. which line style is which run in an overlay."""
        styles = styles or [QtCore.Qt.PenStyle.SolidLine] * len(names)
        sig = [(n, c, s) for n, c, s in zip(names, colors, styles)], legend_keys, style_key
        if getattr(self, "_sig", None) == sig:
            if labels and self.legend is not None and [self.labels[n] for n in names] != list(labels):
                self.labels.update(zip(names, labels))
                keep = legend_texts or {}
                self._legend_src = [(keep.get(n, self.labels[n]),) for n in names
                                    if legend_keys is None or n in legend_keys] + [(t,) for t, _ in style_key or []]
                self.place_legend(force=True)  # sets the texts (full beside the plot, short under it)
            return
        self._sig = sig
        for c in self.curves.values():
            self.plot.removeItem(c)
        if self.legend is not None:
            self.legend.clear()
        self.curves, self.labels, self._legend_src = {}, {}, []
        for i, (n, col, style) in enumerate(sig[0]):
            c = self.plot.plot(pen=pg.mkPen(col, width=width * self.line_scale, style=style), name=None)
            c.base_width = width
            c.color = col
            self.curves[n] = c
            self.labels[n] = labels[i] if labels else n
            if self.legend is not None and (legend_keys is None or n in legend_keys):
                text = (legend_texts or {}).get(n, self.labels[n])
                self.legend.addItem(c, text)
                self._legend_src.append((text,))
        for text, style in (style_key or []) if self.legend is not None else []:
            sample = pg.PlotDataItem(pen=pg.mkPen("#555", width=width * self.line_scale, style=style))
            self.legend.addItem(sample, text)
            self._legend_src.append((text,))
        self.place_legend()

    @property
    def legend_labels(self) -> list[str]:
        return [k[0] for k in getattr(self, "_legend_src", [])]

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode: line widths x scale, axis and title text at point_size."""
        self.line_scale = scale
        # back to normal: the title's own default size again (a size computed from the app font came out
        # smaller than the title had before presentation mode: seen in the Xvfb presenter pass)
        self.point_size = point_size if scale != 1.0 else None
        set_plot_text_size(self.plot, self.point_size, self.title_size)
        if self.legend is not None:  # legend text grows as much as the axes' (it was half as much: too small to read)
            self.legend.opts["labelTextSize"] = f"{8 * point_size / self.base_point_size:.0f}pt"
            for _, label in self.legend.items:
                label.setText(label.text, size=self.legend.opts["labelTextSize"])
            self.place_legend(force=True)
        self.fit_axis_labels()
        for c in self.curves.values():
            pen = pg.mkPen(c.opts["pen"])
            pen.setWidthF(c.base_width * scale)
            c.setPen(pen)

    def clear_series(self) -> None:
        self.set_series([], [], 1)

    def set_steps_view(self, done: int, total: int | None) -> None:
        """The step axis follows the run: 0 to the steps done, at least MIN_STEP_WINDOW (or the whole run if
        shorter), never below 0, so a 200k-step run is readable from its first seconds."""
        window = MIN_STEP_WINDOW if not total else min(MIN_STEP_WINDOW, total)
        hi = max(done, window, 1)
        self.plot.enableAutoRange(x=False)
        self.plot.setLimits(xMin=0)
        if self.plot.viewRange()[0] != [0, hi]:
            self.plot.setXRange(0, hi, padding=0)

    def plotted(self) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        """What the panel draws now: legend label -> (x, y, colour), visible items with data only."""
        out = {}
        for n, c in self.curves.items():
            x, y = c.xData, c.yData  # the data as given (getData() is log10-mapped in log mode)
            if c.isVisible() and x is not None and len(x):
                out[self.labels.get(n, n)] = (np.asarray(x), np.asarray(y), c.color)
        return out


LOG_MANTISSAS = ([1], [1, 3], [1, 2, 5], [1, 2, 3, 5], list(range(1, 10)))  # sparse to dense


def readable_log_ticks(axis, min_val: float, max_val: float, size: float, std_ticks) -> list:
    """Log-y ticks that never run together: the densest of 1 / 1,3 / 1,2,5 / ... per decade whose labels fit
    the axis's height (pyqtgraph labels every minor tick of a range under a decade: "10¹, 9, 8, 7, 6" ran
    together in presentation mode and in the exported loss.png)."""
    font = axis.style.get("tickFont") or QtGui.QFont()
    room = max(2, int(size // (2.2 * QtGui.QFontMetrics(font).height())))
    best: list[float] = []
    for mant in LOG_MANTISSAS:
        vals = [math.log10(m) + k for k in range(math.floor(min_val) - 1, math.ceil(max_val) + 1) for m in mant]
        vals = [v for v in vals if min_val <= v <= max_val]
        if len(vals) > room and len(best) >= 2:
            break
        best = vals
    return [(None, best)]


def plain_log_tick_strings(axis, values, scale, spacing) -> list[str]:
    """"2", "3", "5", "10", "20": a loss reads as a number, not as 10^0.3."""
    return [f"{10 ** v:.3g}" for v in values]


class LossPanel(Panel):
    def __init__(self, parent=None):
        # a legend for an overlay's runs only (beside or under the plot, as every panel's): inside the data area
        # it lay on the curve of a run that stays at the uniform guess
        super().__init__("Loss", "step", "loss", legend=True, parent=parent)
        # opaque: (31, 119, 180) at alpha 60 over white. Translucent, it cost 3x the paint in the window (2.8 ms
        # against 0.9 ms a frame, measured in a 200k-step run): blending each stroke into the backing store
        self.raw = self.plot.plot(pen=pg.mkPen((202, 223, 237), width=1))
        # a long run costs what the screen shows, and each frame only what is new (gui/envelope.py)
        self.envelope = PeakEnvelope()
        self._env_key, self._env_n, self._src = None, 0, (np.zeros(0, np.float32), 0)
        self._feeding = False
        self.plot.vb.sigXRangeChanged.connect(self._zoomed)
        self.smooth = self.plot.plot(pen=pg.mkPen("#1f4e9a", width=2))
        # a PlotDataItem (not a bare ScatterPlotItem) so that log y maps it like the curves
        self.start = self.plot.plot(pen=None, symbol="o", symbolSize=9, symbolBrush="#d62728", symbolPen=None)
        self.ref = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d62728", width=1, style=QtCore.Qt.PenStyle.DashLine),
                                   label="uniform guess", labelOpts={"position": 0.98, "color": "#d62728",
                                                                   "anchors": [(1, 0), (1, 0)]})
        self.plot.addItem(self.ref)
        self.ref_loss = math.log(27)
        axis = self.plot.getAxis("left")  # this axis's log mode only: plain numbers, never crowded
        axis.logTickValues = types.MethodType(readable_log_ticks, axis)
        axis.logTickStrings = types.MethodType(plain_log_tick_strings, axis)
        self.logy = QtWidgets.QCheckBox("log y", self)
        self.logy.toggled.connect(self._log_toggled)
        self.logy.move(6, 4)
        self._smooth_n = 0
        self._smooth_buf = np.zeros(0)
        self._smooth_key = None
        self._yr = [math.inf, -math.inf]
        self._seen = 0
        self._fit_key = None

    def set_scale(self, scale: float, point_size: float) -> None:
        super().set_scale(scale, point_size)
        font = self.logy.font()
        font.setPointSizeF(point_size)
        self.logy.setFont(font)
        self.logy.adjustSize()  # placed by hand in the corner: it does not grow with the fonts by itself
        label_font = QtGui.QFont()
        label_font.setPointSizeF(point_size)
        self.ref.label.setFont(label_font)  # "uniform guess 3.30" grows with the rest

    # --- y range: linear or log10, always finite and including the uniform guess -----------------------
    def _set_ref(self, ref: float) -> None:
        self.ref_loss = ref
        # a watched model's run knows no number of classes unless told (watch(classes=...)): no line then
        self.ref.setVisible(math.isfinite(ref))
        if not math.isfinite(ref):
            return
        self.ref.label.setFormat(f"uniform guess {ref:.2f}")  # fixed text: in log y the line's value is log10
        self.ref.setValue(math.log10(ref) if self.logy.isChecked() and ref > 0 else ref)

    def _apply_y(self) -> None:
        lo, hi = self._yr
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return
        if self.logy.isChecked():
            lo, hi = max(lo, 1e-6), max(hi, 1e-6)
            lo, hi = math.log10(lo), math.log10(hi)
            span = 0.3  # at least a factor of 2 in log y, so the axis has ticks even for one point
        else:
            span = max(0.5, 0.2 * abs(hi))
        if hi - lo < span:
            mid = (hi + lo) / 2
            lo, hi = mid - span / 2, mid + span / 2
        self.plot.enableAutoRange(y=False)
        self.plot.setYRange(lo, hi, padding=0.05)
        self._place_ref_label(lo, hi)

    def _place_ref_label(self, lo: float, hi: float) -> None:
        """The "uniform guess" label at the right end, on the side of the line with room: below it when the line
        is in the upper half of the view, above it in the lower half (in the middle, above, it sat on the curves
        and was cut by the x axis)."""
        frac = (self.ref.value() - lo) / (hi - lo) if hi > lo else 0.5
        anchor = (1, 0) if frac > 0.5 else (1, 1)
        if self.ref.label.anchors != [anchor, anchor]:
            self.ref.label.anchors = [anchor, anchor]
            self.ref.label.updatePosition()

    def _fit_y(self, key, loss: np.ndarray) -> None:
        """Grow the y range from new losses only (autoRange would rescan the whole history every frame)."""
        if key != self._fit_key or len(loss) < self._seen:
            r = self.ref_loss if math.isfinite(self.ref_loss) else None  # no uniform guess known: the losses alone
            self._fit_key, self._seen, self._yr = key, 0, [r if r is not None else math.inf, r if r is not None else -math.inf]
        new = loss[self._seen:]
        self._seen = len(loss)
        fin = new[np.isfinite(new)]
        if len(fin):
            lo, hi = min(self._yr[0], float(fin.min())), max(self._yr[1], float(fin.max()))
            if [lo, hi] != self._yr:
                self._yr = [lo, hi]
        self._apply_y()

    def _log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self._set_ref(self.ref_loss)
        self._apply_y()

    # --- drawing ----------------------------------------------------------------------------------------
    def show_single(self, key, loss: np.ndarray, first_step: int, init_loss: float | None, ref: float,
                    total: int | None) -> None:
        """One run (or a preview: no losses yet, only the step-0 marker)."""
        if self.curves:
            self.clear_series()
        for item in (self.raw, self.smooth, self.start):
            item.setVisible(True)
        self._set_ref(ref)
        n = len(loss)
        if key != self._env_key or n < self._env_n:
            self.envelope.reset()
        self._env_key, self._env_n, self._src = key, n, (loss, first_step)
        self.envelope.update(loss)
        self._feeding = True  # the view follows the run: _zoomed need not feed the curve as well
        self.set_steps_view(first_step + n, total)
        self._feeding = False
        self._feed_raw()
        # block means, extended incrementally: the smoothed curve's cost grows by one point per block
        full = n // SMOOTH_BLOCK
        if key != self._smooth_key or full < self._smooth_n:
            self._smooth_key, self._smooth_n, self._smooth_buf = key, 0, np.zeros(0)
        if full > self._smooth_n:
            seg = block_means(loss[self._smooth_n * SMOOTH_BLOCK: full * SMOOTH_BLOCK])
            self._smooth_buf = np.concatenate([self._smooth_buf[: self._smooth_n], seg])
            self._smooth_n = full
        if self._smooth_n:
            xs = first_step + (np.arange(self._smooth_n) + 0.5) * SMOOTH_BLOCK
            self.smooth.setData(xs, self._smooth_buf[: self._smooth_n])
        else:
            self.smooth.setData([], [])
        y0 = float(loss[0]) if n else init_loss
        self.start.setData([first_step], [y0]) if y0 is not None and math.isfinite(y0) else self.start.setData([], [])
        pts = loss if n else np.array([y0 if y0 is not None else ref], np.float32)
        self._fit_y(key, pts)
        self.draws += 1

    def _feed_raw(self) -> None:
        """Every step of a short run, or of the steps in view when zoomed in; else the envelope of the run."""
        loss, first = self._src
        n = len(loss)
        if n <= 2 * self.envelope.max_blocks:
            self.raw.setData(first + np.arange(n), loss) if n else self.raw.setData([], [])
            return
        x0, x1 = self.plot.vb.viewRange()[0]
        span = x1 - x0
        if span <= self.envelope.max_blocks:  # zoomed in: the steps themselves, and a view's width either side
            i0, i1 = max(0, int(x0 - first - span)), min(n, int(x1 - first + span) + 1)
            self.raw.setData(first + np.arange(i0, i1), loss[i0:i1])
        else:
            self.raw.setData(*self.envelope.xy(loss, first))

    def _zoomed(self, *_) -> None:
        if not self._feeding and self.raw.isVisible() and self._env_n > 2 * self.envelope.max_blocks:
            self._feed_raw()

    def show_overlay(self, runs: list[tuple[str, np.ndarray, int]], ref: float, total: int | None) -> None:
        """Several runs' smoothed losses (name, losses, first step); the single-run curves hide."""
        for item in (self.raw, self.smooth, self.start):
            item.setVisible(False)
        self.raw.setData([], [])
        self._set_ref(ref)
        names = [r[0] for r in runs]
        self.set_series(names, [RUN_COLORS[k % len(RUN_COLORS)] for k in range(len(runs))], 2, names,
                        [RUN_STYLES[k % len(RUN_STYLES)] for k in range(len(runs))])
        self._yr = [ref, ref] if math.isfinite(ref) else [math.inf, -math.inf]
        done = 0
        for name, loss, first in runs:
            xs, ys = overlay_means(loss, first)
            self.curves[name].setData(xs, ys)
            fin = ys[np.isfinite(ys)]
            if len(fin):
                self._yr = [min(self._yr[0], float(fin.min())), max(self._yr[1], float(fin.max()))]
            done = max(done, first + len(loss))
        self._fit_key = None
        self.set_steps_view(done, total)
        self._apply_y()
        self.draws += 1

    def clear(self) -> None:
        for item in (self.raw, self.smooth, self.start):
            item.setData([], [])
        self._env_key, self._env_n, self._src = None, 0, (np.zeros(0, np.float32), 0)
        self.clear_series()
        self.draws += 1

    def plotted(self) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        out = super().plotted()
        for label, item, color in (("loss", self.raw, "#1f77b4"), (f"mean of {SMOOTH_BLOCK} steps", self.smooth,
                                   "#1f4e9a"), ("step 0", self.start, "#d62728")):
            x, y = item.xData, item.yData
            if item.isVisible() and x is not None and len(x):
                out[label] = (np.asarray(x), np.asarray(y), color)
        return out


def overlay_means(loss: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    """An overlaid run's smoothed loss: means of SMOOTH_BLOCK steps (fewer for a short run, so that it still
    draws a line), the last, partial block included, so the curve reaches the run's last step."""
    n = len(loss)
    if n == 0:
        return np.zeros(0), np.zeros(0, np.float32)
    b = max(1, min(SMOOTH_BLOCK, n // 10))
    k = -(-n // b)  # blocks, the last one partial
    starts = np.arange(k) * b
    ys = np.add.reduceat(loss.astype(np.float64), starts) / np.diff(np.append(starts, n))
    xs = first + starts + (np.diff(np.append(starts, n)) - 1) / 2
    return xs, ys.astype(np.float32)


class SeriesPanel(Panel):
    """One curve per layer over training steps (saturation %, log10 update:data); at init (a preview, one
    snapshot) one bar per layer instead, since a single step is not a line."""

    def __init__(self, title, ylabel, guide: float | None = None, parent=None):
        super().__init__(title, "step", ylabel, parent=parent)
        self.guide, self.guide_key = None, []
        if guide is not None:
            # named in the legend, not by a label on the line: a label there sits on the curves
            self.guide = pg.InfiniteLine(pos=guide, angle=0, pen=pg.mkPen("#444", width=1, style=GUIDE_STYLE))
            self.guide_key = [(f"{guide:g}: healthy", GUIDE_STYLE)]
            self.plot.addItem(self.guide)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.plot.addItem(self.bars)
        self.bars.setVisible(False)
        self.fixed_y: tuple[float, float] | None = None  # View › Fixed axes: saturation 0-100 % for presenting
        self.bar_data: dict[str, tuple[float, float, str]] = {}
        self.mode = "series"

    def _series_mode(self) -> None:
        if self.mode != "series":
            self.mode = "series"
            self.bars.setVisible(False)
            self.bar_data = {}
            self._bar_ticks = None
            self.plot.getAxis("bottom").setTicks(None)
            self.set_xlabel("step")

    def show_bars(self, labels: list[str], values: np.ndarray, colors: list[str], scale: float = 1.0) -> None:
        """At init: one bar per layer, x = layer, labelled with the layer's short name."""
        self.clear_series()
        self.mode = "bars"
        vals = np.nan_to_num(np.asarray(values, float) * scale, nan=0.0, posinf=0.0, neginf=0.0)
        x = np.arange(len(vals))
        # bars grow from 0 up (saturation) or from the bottom of the view down to a negative log10 value
        base = min(0.0, float(vals.min()) - 1.0) if len(vals) and vals.min() < 0 else 0.0
        self.bars.setOpts(x=x, y0=base, height=vals - base, width=0.7, brushes=[pg.mkBrush(c) for c in colors])
        self.bars.setVisible(True)
        self.bar_data = {lab: (float(i), float(v), c) for i, (lab, v, c) in enumerate(zip(labels, vals, colors))}
        self._bar_labels = list(labels)
        self._fit_bar_ticks()
        self.set_xlabel("layer (at init, step 0)")
        self.plot.setLimits(xMin=None)
        self.plot.enableAutoRange(x=False)
        self.plot.setXRange(-0.6, max(len(vals), 1) - 0.4, padding=0)
        lo = min(base, 0.0)
        hi = max(float(vals.max()) if len(vals) else 1.0, 0.0)
        if self.guide is not None:
            lo, hi = min(lo, self.guide.value() - 0.5), max(hi, self.guide.value() + 0.5)
        self.plot.enableAutoRange(y=False)
        if self.fixed_y is not None:
            lo, hi = self.fixed_y
        self.plot.setYRange(lo, hi if hi > lo else lo + 1, padding=0.05)
        self.draws += 1

    def fit_axis_labels(self) -> None:
        super().fit_axis_labels()
        if getattr(self, "mode", None) == "bars":
            self._fit_bar_ticks()

    def _fit_bar_ticks(self) -> None:
        """A bar's label under it, "L2 Tanh"; only "L2" where the full ones would run together (a narrow panel,
        presentation mode's larger ticks)."""
        labels = getattr(self, "_bar_labels", [])
        ax = self.plot.getAxis("bottom")
        fm = QtGui.QFontMetricsF(ax.style["tickFont"] or QtWidgets.QApplication.font())
        per_bar = ax.width() / max(1, len(labels))
        if labels and max(fm.horizontalAdvance(t) for t in labels) + 8 > per_bar:
            labels = [t.split()[0] for t in labels]
        if labels and max(fm.horizontalAdvance(t) for t in labels) + 8 > per_bar:  # still: every other one
            labels = [t if i % 2 == 0 else "" for i, t in enumerate(labels)]
        ticks = [[(i, lab) for i, lab in enumerate(labels)]]
        if getattr(self, "_bar_ticks", None) != ticks:
            self._bar_ticks = ticks
            ax.setTicks(ticks)

    def show_series(self, runs: list[tuple[str, list[str], np.ndarray, np.ndarray, dict]], scale: float = 1.0,
                    total: int | None = None) -> None:
        """runs: (run name, layer names, steps, values[rows, layers], the run's own block map). One run: the
        legend names layers; several: colour by layer, line style by run."""
        self._series_mode()
        many = len(runs) > 1
        names, colors, styles, labels = [], [], [], []
        for k, (run, layer_names, _, _, block_of) in enumerate(runs):
            for n in layer_names:
                short = short_name(n) if n.endswith(".weight") or n == "embedding" else n
                names.append(f"{run} · {n}" if many else n)
                colors.append(block_color(n, block_of))
                styles.append(RUN_STYLES[k % len(RUN_STYLES)])
                labels.append(f"{run_tag(run)} · {short}" if many else short)
        # several runs: the legend names the first run's layers (colour = layer) and which line is which run
        keys = [f"{runs[0][0]} · {n}" for n in runs[0][1]] if many else None
        if not many and len(names) > MAX_LEGEND:  # a deep stack: one entry per block colour, at most MAX_LEGEND
            keys = legend_subset(names, colors)
        # each colour is a position in the stack; the runs may name it differently (L2 without BatchNorm is L3
        # with it): say all the names, "L2/L3"
        texts = {f"{runs[0][0]} · {n}": "/".join(dict.fromkeys(short_name(r[1][j]) for r in runs if j < len(r[1])))
                 for j, n in enumerate(runs[0][1])} if many else None
        # the sample shows the line style; the text names the run ("Run 2", not "Run 2: dashed": a narrower legend)
        key = [(run_tag(r[0]), RUN_STYLES[k % len(RUN_STYLES)])
               for k, r in enumerate(runs)] if many else []
        self.set_series(names, colors, 2, labels, styles, keys, key + self.guide_key or None, texts)
        for c in self.curves.values():  # per-step lines: a long run costs what the screen shows
            if not getattr(c, "fast", False):  # once per curve: each call re-processes the curve's data
                c.setDownsampling(auto=True, method="peak")
                c.setClipToView(True)
                c.fast = True
        done, lo, hi = 0, math.inf, -math.inf
        for run, layer_names, steps, values, _ in runs:
            for j, n in enumerate(layer_names):
                y = values[:, j] * scale
                self.curves[f"{run} · {n}" if many else n].setData(steps, y)
                fin = y[np.isfinite(y)]
                if len(fin):
                    lo, hi = min(lo, float(fin.min())), max(hi, float(fin.max()))
            if len(steps):
                done = max(done, int(steps[-1]))
        self.set_steps_view(done, total)
        if self.fixed_y is not None:  # the same axis on every step of a talk: 68-78 % looked like a big swing
            self.plot.enableAutoRange(y=False)
            self.plot.setYRange(*self.fixed_y, padding=0.02)
        elif math.isfinite(lo):
            if self.guide is not None:
                lo, hi = min(lo, self.guide.value()), max(hi, self.guide.value())
            self.plot.enableAutoRange(y=False)
            self.plot.setYRange(lo, hi if hi > lo else lo + 1, padding=0.08)
        self.draws += 1

    def clear(self) -> None:
        self._series_mode()
        self.clear_series()
        self.draws += 1

    def plotted(self) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        if self.mode == "bars":
            return {lab: (np.array([x]), np.array([v]), c) for lab, (x, v, c) in self.bar_data.items()}
        return super().plotted()


class HistPanel(Panel):
    """Density lines, one per layer, from one snapshot (as the lecture plots them); optionally the wide-net
    theory's ±σ for each layer as triangles on the baseline (at init)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.markers = pg.ScatterPlotItem(symbol="t1", size=11, pen=pg.mkPen("#222", width=0.5))
        self.plot.addItem(self.markers)
        self.marker_data: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
        self.from_zero = False  # View › Fixed axes: densities from 0 (a band of 4-10 % exaggerated a flat curve)

    def update_hists(self, names: list[str], hists: list, labels: list[str], block_of,
                     predicted: dict[str, float] | None = None, secondary: set[str] | None = None) -> None:
        """predicted: layer name -> the theory's std of its output, drawn at ±std (or the two x positions of its
        triangles). secondary: layers drawn
        dashed and left out of the legend (norms and residual streams beside the activations: a deep-bn legend
        of 11 entries did not fit the 1366 x 768 presentation layout)."""
        secondary = secondary or set()
        styles = [QtCore.Qt.PenStyle.DashLine if n in secondary else QtCore.Qt.PenStyle.SolidLine for n in names]
        self.set_series(names, [block_color(n, block_of) for n in names], 2, labels, styles,
                        legend_keys=[n for n in names if n not in secondary] if secondary else None)
        for n, hist in zip(names, hists):
            self.curves[n].setData(hist.centers(), hist.density())
        self.marker_data = {}
        for n, at in (predicted or {}).items():  # a std (±std) or the two positions themselves
            xs = np.asarray([-at, at] if np.isscalar(at) else at, float)
            if n in self.curves and np.isfinite(xs).all():
                self.marker_data[f"predicted ±σ {n}"] = (xs, np.zeros(2), block_color(n, block_of))
        xs = [x for x, _, _ in self.marker_data.values()]
        self.markers.setData(np.concatenate(xs) if xs else [], np.zeros(2 * len(xs)),
                             brush=[pg.mkBrush(c) for _, _, c in self.marker_data.values() for _ in range(2)])
        self.plot.enableAutoRange()
        if self.from_zero:
            top = max((float(np.nanmax(h.density())) for h in hists if len(h.density())), default=1.0)
            self.plot.enableAutoRange(y=False)
            self.plot.setYRange(0, top if top > 0 and math.isfinite(top) else 1.0, padding=0.05)
        self.draws += 1

    def clear(self) -> None:
        self.clear_series()
        self.markers.setData([], [])
        self.marker_data = {}
        self.draws += 1

    def plotted(self) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        return {**super().plotted(), **self.marker_data}


class RatioBars(Panel):
    """grad:data per weight matrix at one snapshot."""

    def __init__(self, parent=None):
        super().__init__("grad:data per weight matrix", "weight matrix", "grad:data", legend=False,
                         parent=parent)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.plot.addItem(self.bars)
        self.bar_data: dict[str, tuple[float, float, str]] = {}

    def update_bars(self, snap, block_of) -> None:
        ps = [p for p in snap.params if p.is_matrix]
        vals = [p.grad_data if math.isfinite(p.grad_data) else 0.0 for p in ps]
        colors = [block_color(p.name, block_of) for p in ps]
        self.bars.setOpts(x=np.arange(len(ps)), height=vals, width=0.7, brushes=[pg.mkBrush(c) for c in colors])
        self.bar_data = {short_name(p.name): (float(i), float(v), c) for i, (p, v, c) in enumerate(zip(ps, vals, colors))}
        ticks = [(i, short_name(p.name)) for i, p in enumerate(ps)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(-0.6, len(ps) - 0.4, padding=0)
        self.plot.setYRange(0, max(vals + [1e-9]) * 1.1, padding=0)
        self.draws += 1

    def clear(self) -> None:
        self.bars.setOpts(x=[], height=[], width=0.7)
        self.bar_data = {}
        self.draws += 1

    def plotted(self) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        return {lab: (np.array([x]), np.array([v]), c) for lab, (x, v, c) in self.bar_data.items()}
