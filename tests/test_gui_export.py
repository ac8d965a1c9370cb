"""Panel export for slides: PNG at the requested width with the aspect kept, SVG, the clipboard, and
legends moved off the data (checked against the curves mapped to pixels point by point by Qt)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.gui import export


def _plot(qtbot, curves, size=(420, 300), offset=(-10, 10)) -> pg.PlotWidget:
    w = pg.PlotWidget(title="Loss <i>overlay</i>")
    w.addLegend(offset=offset)
    for i, (x, y) in enumerate(curves):
        w.plot(x, y, pen=pg.mkPen(pg.intColor(i), width=2), name=f"run {i}")
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    QtWidgets.QApplication.processEvents()
    return w


def _legend_rect(plot: pg.PlotItem) -> QtCore.QRectF:
    lg = plot.legend
    return lg.mapRectToItem(plot.getViewBox(), lg.boundingRect())


def _data_pixels_in(plot: pg.PlotItem, rect: QtCore.QRectF) -> int:
    """Points along every curve, 200 per segment, mapped one by one with Qt's own mapFromView."""
    vb = plot.getViewBox()
    n = 0
    for item in plot.listDataItems():
        x, y = item.getData()
        for k in range(len(x) - 1):
            for t in np.linspace(0, 1, 200):
                p = vb.mapFromView(QtCore.QPointF(x[k] + t * (x[k + 1] - x[k]), y[k] + t * (y[k + 1] - y[k])))
                n += rect.contains(p)
    return n


def test_legend_moves_to_a_free_corner(qtbot):
    x = np.linspace(0, 1, 30)
    # both runs fall from the top-left to the bottom-right: the default top-right corner is free of
    # them, so make it busy with a third curve along the top right
    w = _plot(qtbot, [(x, 1 - x), (x, 0.9 - x), (np.array([0.6, 1.0]), np.array([0.95, 0.95]))])
    plot = w.getPlotItem()
    assert _data_pixels_in(plot, _legend_rect(plot)) > 0  # where pyqtgraph put it, it hides data
    placed = export.legend_off_data(plot)
    assert placed == ["bottom-left"]
    QtWidgets.QApplication.processEvents()
    assert _data_pixels_in(plot, _legend_rect(plot)) == 0


def test_no_free_corner_gives_headroom(qtbot):
    x = np.linspace(0, 1, 12)
    curves = [(x, np.full_like(x, v)) for v in (0.02, 0.5, 0.98)] + [(np.array([0.0, 0.0]), np.array([0.0, 1.0])),
                                                                    (np.array([1.0, 1.0]), np.array([0.0, 1.0]))]
    w = _plot(qtbot, curves)
    plot = w.getPlotItem()
    top_before = plot.getViewBox().viewRange()[1][1]
    placed = export.legend_off_data(plot)
    assert placed[0].endswith("+headroom")
    QtWidgets.QApplication.processEvents()
    assert plot.getViewBox().viewRange()[1][1] > top_before
    assert _data_pixels_in(plot, _legend_rect(plot)) == 0


def test_export_puts_the_plot_back(qtbot, tmp_path):
    x = np.linspace(0, 1, 30)
    w = _plot(qtbot, [(x, x), (x, x ** 2)])
    plot = w.getPlotItem()
    rng, offset = plot.getViewBox().viewRange(), plot.legend.opts["offset"]
    widths = [c.opts["pen"].widthF() for c in plot.listDataItems()]
    export.export_png(w, tmp_path / "a.png", 800)
    assert plot.legend.opts["offset"] == offset
    assert np.allclose(plot.getViewBox().viewRange(), rng)
    assert [c.opts["pen"].widthF() for c in plot.listDataItems()] == widths
    assert [c.curve.opts["pen"].widthF() for c in plot.listDataItems()] == widths


def test_lines_keep_their_weight_when_enlarged(qtbot):
    """A 2 px line in a panel is 8 px thick in a picture 4x as wide (as on a high-DPI screen)."""
    w = pg.PlotWidget(background="w")
    w.plot([0, 1], [0.5, 0.5], pen=pg.mkPen((255, 0, 0), width=2))
    w.getPlotItem().hideAxis("left")
    w.getPlotItem().hideAxis("bottom")
    qtbot.addWidget(w)
    w.resize(200, 100)
    w.show()
    qtbot.waitExposed(w)
    src = w.getPlotItem().sceneBoundingRect()
    img = export.render_image(w, int(4 * src.width())).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    col = img.width() // 2
    red = [y for y in range(img.height()) if QtGui.QColor(img.pixel(col, y)).red() > 200
           and QtGui.QColor(img.pixel(col, y)).green() < 120]
    assert 6 <= len(red) <= 10, len(red)


@pytest.mark.parametrize("width", [export.DEFAULT_WIDTH, 1000])
def test_png_has_the_requested_width_and_the_aspect(qtbot, tmp_path, width):
    w = _plot(qtbot, [(np.arange(5), np.arange(5) ** 2)])
    path = export.export_png(w, tmp_path / "p.png", width)
    img = QtGui.QImage(str(path))
    src = w.getPlotItem().sceneBoundingRect()
    assert img.width() == width
    assert abs(img.height() - width * src.height() / src.width()) <= 1
    assert src.width() < width / 2  # much larger than the panel on screen


class _Panel(QtWidgets.QWidget):
    """Like the app's panels: a QWidget around a GraphicsLayoutWidget with the legend in its own column."""

    def __init__(self, title):
        super().__init__()
        self.view = pg.GraphicsLayoutWidget()
        self.plot = self.view.addPlot(row=0, col=0, title=title)
        self.legend = pg.LegendItem()
        self.view.addItem(self.legend, row=0, col=1)
        c = self.plot.plot([0, 1, 2], [2, 0, 1], pen="r")
        self.legend.addItem(c, "L1 Tanh")
        QtWidgets.QVBoxLayout(self).addWidget(self.view)
        self.check = QtWidgets.QCheckBox("log y", self)  # on-screen control: not part of the picture


def test_panel_exports_plot_and_legend_column(qtbot, tmp_path):
    p = _Panel("Tanh saturation")
    qtbot.addWidget(p)
    p.resize(400, 260)
    p.show()
    qtbot.waitExposed(p)
    assert export.export_target(p) is p.view.ci
    assert export.legend_off_data(p.plot) == []  # already beside the data
    img = export.render_image(p, 1600)
    assert img.width() == 1600
    whole, plot_only = p.view.ci.sceneBoundingRect(), p.plot.sceneBoundingRect()
    assert whole.width() > plot_only.width()  # the legend's column is in the picture
    assert abs(img.height() - 1600 * whole.height() / whole.width()) <= 1


def test_clipboard_holds_an_image_of_the_right_size(qtbot):
    w = _plot(qtbot, [(np.arange(5), np.arange(5))])
    QtGui.QGuiApplication.clipboard().clear()
    img = export.copy_to_clipboard(w, 1200)
    got = QtGui.QGuiApplication.clipboard().image()
    assert not got.isNull()
    assert (got.width(), got.height()) == (img.width(), img.height()) == (1200, img.height())
    assert img.height() > 100


def test_svg_is_written_with_the_title(qtbot, tmp_path):
    w = _plot(qtbot, [(np.arange(5), np.arange(5))])
    w.addItem(pg.ScatterPlotItem(x=[1, 2], y=[1, 2], size=12))
    path = export.export_svg(w, tmp_path / "p.svg")
    text = path.read_text()
    assert "<svg" in text and "Loss overlay" in text and "<path" in text
    assert "<image" not in text  # markers as vectors, not pyqtgraph's cached pixmaps


def test_plain_widget_renders_at_width(qtbot, tmp_path):
    t = QtWidgets.QTableWidget(3, 2)
    t.setItem(0, 0, QtWidgets.QTableWidgetItem("L1 Tanh"))
    qtbot.addWidget(t)
    t.resize(300, 150)
    t.show()
    qtbot.waitExposed(t)
    img = QtGui.QImage(str(export.export_png(t, tmp_path / "t.png", 900)))
    assert (img.width(), img.height()) == (900, 450)
    assert len(set(np.frombuffer(img.constBits(), np.uint32)[::97].tolist())) > 2  # something was drawn


def test_export_panels_names_files_after_titles(qtbot, tmp_path):
    panels = [_Panel("update:data (log10) per weight matrix"), _Panel("Loss"), _Panel("Loss")]
    for p in panels:
        qtbot.addWidget(p)
        p.resize(300, 200)
        p.show()
    names = sorted(f.name for f in export.export_panels(panels, tmp_path, 640))
    assert names == ["loss-2.png", "loss-2.svg", "loss.png", "loss.svg",
                     "update-data-log10-per-weight-matrix.png", "update-data-log10-per-weight-matrix.svg"]
    assert QtGui.QImage(str(tmp_path / "loss.png")).width() == 640


def test_width_out_of_range_is_refused(qtbot):
    w = _plot(qtbot, [(np.arange(3), np.arange(3))])
    with pytest.raises(ValueError, match="export width"):
        export.render_image(w, 50)


def test_panel_actions_copy_and_save_at_the_remembered_width(qtbot, tmp_path, monkeypatch):
    from initscope.gui.settings import Settings

    w = _plot(qtbot, [(np.arange(5), np.arange(5))])
    s = Settings(tmp_path / "settings.ini")
    s.export_width = 1000
    target = tmp_path / "out" / "loss-overlay"
    target.parent.mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, caption, start, flt: (str(target), flt)))
    copy, png, svg = export.export_actions(w, w, s)
    assert [a.text() for a in (copy, png, svg)] == ["Copy panel to clipboard", "Export panel as PNG…",
                                                   "Export panel as SVG…"]
    copy.trigger()
    assert QtGui.QGuiApplication.clipboard().image().width() == 1000
    png.trigger()
    assert QtGui.QImage(str(target) + ".png").width() == 1000
    svg.trigger()
    assert "<svg" in (tmp_path / "out" / "loss-overlay.svg").read_text()
    assert s.folder("export") == str(target.parent)
    export.add_to_plot_menu(w, [copy, png, svg])
    assert copy in w.getPlotItem().getViewBox().menu.actions()
