"""Panels as pictures fit for slides: PNG at a chosen width, SVG, or the clipboard; legends off the data.

Anything with a picture in it can be given: a pyqtgraph PlotItem (or any graphics item), a pyqtgraph view
(GraphicsLayoutWidget, PlotWidget: its whole layout, so a legend in its own column comes along), one of
the app's panels (an object with such a `.view`), or any other QWidget (a table, a caption).

PNGs are the scene rendered at a high device pixel ratio, so text and lines grow with the picture and a
300 px panel becomes a sharp 1600 px slide image, aspect kept (see _render_item for why not ImageExporter).
SVGs go through Qt's QSvgGenerator: pyqtgraph 0.14's SVGExporter fails on the paths Qt 6.11 writes.

Before a picture is taken, every legend that sits inside a plot (pyqtgraph's addLegend) is moved to the
corner where it covers no data; when every corner has data, the y range gets headroom for it. The plot
is put back as it was afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

DEFAULT_WIDTH = 1600  # px: a full-width image on a 1080p slide without upscaling
MIN_WIDTH, MAX_WIDTH = 200, 8000
LEGEND_MARGIN = 6  # px between a legend and the plot's edge

# corners in order of preference (pyqtgraph's own default first); (x, y) anchor of legend and view box
CORNERS = {"top-right": (1, 0), "top-left": (0, 0), "bottom-right": (1, 1), "bottom-left": (0, 1)}


# --- what to draw -----------------------------------------------------------------------------------------
def export_target(obj) -> QtWidgets.QGraphicsItem | QtWidgets.QWidget:
    """The graphics item (or plain widget) that stands for `obj` in a picture."""
    if isinstance(obj, pg.PlotWidget):
        return obj.getPlotItem()
    if isinstance(obj, pg.GraphicsView):
        return obj.centralWidget if obj.centralWidget is not None else obj
    if isinstance(obj, QtWidgets.QGraphicsItem):
        return obj
    view = getattr(obj, "view", None)
    if isinstance(view, pg.GraphicsView):  # the app's panels: a QWidget around one pyqtgraph view
        return export_target(view)
    if isinstance(obj, QtWidgets.QWidget):
        return obj
    raise TypeError(f"cannot export a {type(obj).__name__}: give a QWidget or a pyqtgraph item")


def plot_items(obj) -> list[pg.PlotItem]:
    """Every PlotItem drawn in obj's picture."""
    t = export_target(obj)
    if isinstance(t, pg.PlotItem):
        return [t]
    if isinstance(t, QtWidgets.QGraphicsItem):
        found, todo = [], [t]
        while todo:
            it = todo.pop()
            if isinstance(it, pg.PlotItem):
                found.append(it)
            else:
                todo.extend(it.childItems())
        return found
    return [v.centralWidget for v in t.findChildren(pg.GraphicsView) if isinstance(v.centralWidget, pg.PlotItem)]


def title_of(obj) -> str:
    """The panel's title as plain text ("" when it has none)."""
    for p in plot_items(obj):
        text = p.titleLabel.text if p.titleLabel.isVisible() else ""
        if text:
            return re.sub(r"<[^>]+>", "", text).strip()
    return ""


def file_stem(obj, fallback: str = "panel") -> str:
    """A file name from the title: "update:data (log10) per weight matrix" -> "update-data-log10-per-weight-matrix";
    a panel may name itself (`export_stem`: the sweeps' "Sat. %" became sat.png and sat-2.png)."""
    own = getattr(obj, "export_stem", None)
    stem = re.sub(r"[^a-z0-9]+", "-", (own or title_of(obj)).lower()).strip("-")
    return stem or fallback


def shown_caption(win) -> str:
    """The run(s) a window shows, for the corner of an exported picture ("" for the init preview)."""
    recs = [r for r in getattr(win, "shown", []) if not r.is_preview]
    return " · ".join(r.name for r in recs)


LANDSCAPE = 1.6  # width / height of a panel exported from a narrow column (a sweep's three plots side by side)


@contextmanager
def _landscape(target) -> Iterator[None]:
    """A panel taller than wide (a sweep's, 1600x2029 on a slide) laid out landscape for the picture, then put
    back as it was: text keeps its size, the plot gets the width."""
    if not isinstance(target, QtWidgets.QGraphicsWidget):
        yield
        return
    size = target.size()
    if size.width() <= 0 or size.height() <= 0.8 * size.width():
        yield
        return
    target.resize(QtCore.QSizeF(size.height() * LANDSCAPE, size.height()))
    lay = QtWidgets.QGraphicsWidget.layout(target)  # pyqtgraph's GraphicsLayout shadows layout() with its grid
    lay is not None and lay.activate()
    try:
        yield
    finally:
        target.resize(size)


# --- legends off the data --------------------------------------------------------------------------------
def _inner_legends(plot: pg.PlotItem) -> list[pg.LegendItem]:
    vb = plot.getViewBox()
    return [c for c in vb.childItems() if isinstance(c, pg.LegendItem) and c.isVisible()]


def _pixel_data(plot: pg.PlotItem) -> tuple[np.ndarray, np.ndarray]:
    """(segments [n, 4], points [m, 2]) of every visible curve, marker and infinite line, in view-box pixels."""
    vb = plot.getViewBox()
    vb.updateMatrix()
    t = vb.childTransform()
    w, h = vb.width(), vb.height()

    def to_px(x, y):
        return t.m11() * x + t.m21() * y + t.dx(), t.m12() * x + t.m22() * y + t.dy()

    segs, pts = [], []
    for item in plot.getViewBox().addedItems:
        if not item.isVisible():
            continue
        if isinstance(item, pg.InfiniteLine):
            px, py = to_px(item.value(), item.value())
            segs.append([[0, py, w, py]] if item.angle % 180 == 0 else [[px, 0, px, h]])
            continue
        if isinstance(item, pg.PlotDataItem):
            x, y = item.getData()
            has_line = item.opts.get("pen") is not None and item.curve.isVisible()
            has_marks = item.opts.get("symbol") is not None
        elif isinstance(item, pg.PlotCurveItem):
            x, y = item.getData()
            has_line, has_marks = True, False
        elif isinstance(item, pg.ScatterPlotItem):
            x, y = item.getData()
            has_line, has_marks = False, True
        else:
            continue
        if x is None or len(x) == 0:
            continue
        px, py = to_px(np.asarray(x, float), np.asarray(y, float))
        if has_marks:
            ok = np.isfinite(px) & np.isfinite(py)
            pts.append(np.stack([px[ok], py[ok]], 1))
        if has_line and len(px) > 1:
            s = np.stack([px[:-1], py[:-1], px[1:], py[1:]], 1)
            segs.append(s[np.isfinite(s).all(1)])
    seg = np.concatenate([np.asarray(s, float).reshape(-1, 4) for s in segs]) if segs else np.zeros((0, 4))
    pt = np.concatenate(pts) if pts else np.zeros((0, 2))
    return seg, pt


def _hits(seg: np.ndarray, pts: np.ndarray, rect: QtCore.QRectF) -> int:
    """How many segments cross and points lie in rect (each segment tested exactly, not sampled)."""
    x0, y0, x1, y1 = rect.left(), rect.top(), rect.right(), rect.bottom()
    n = 0
    if len(pts):
        n += int(((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)).sum())
    if len(seg):
        ax, ay, bx, by = seg.T
        outside = ((ax < x0) & (bx < x0)) | ((ax > x1) & (bx > x1)) | ((ay < y0) & (by < y0)) | ((ay > y1) & (by > y1))
        # the segment's line separates the rectangle's corners iff they are not all on one side of it
        side = [np.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
                for cx, cy in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
        s = np.stack(side, 1)
        one_side = (s > 0).all(1) | (s < 0).all(1)
        n += int((~outside & ~one_side).sum())
    return n


def _corner_rect(corner: str, size: QtCore.QSizeF, w: float, h: float, m: float) -> QtCore.QRectF:
    cx, cy = CORNERS[corner]
    x = m if cx == 0 else w - size.width() - m
    y = m if cy == 0 else h - size.height() - m
    return QtCore.QRectF(x, y, size.width(), size.height())


def _anchor(legend: pg.LegendItem, corner: str, m: float) -> None:
    cx, cy = CORNERS[corner]
    legend.setOffset((m if cx == 0 else -m, m if cy == 0 else -m))  # LegendItem anchors by the offset's signs


def legend_off_data(plot: pg.PlotItem, margin: float = LEGEND_MARGIN) -> list[str]:
    """Move each legend inside `plot` to a corner where it covers no curve, marker or guide line.

    When every corner has data, the y range grows so the top edge has room for the legend. Returns
    where each legend went ("top-left", ... or "top-right+headroom"); a plot whose legend lives
    outside its data area (the app's panels keep it in a column beside) is left alone: [].
    """
    placed = []
    vb = plot.getViewBox()
    w, h = vb.width(), vb.height()
    if w <= 0 or h <= 0:
        return placed
    for legend in _inner_legends(plot):
        size = legend.boundingRect().size()
        seg, pts = _pixel_data(plot)
        inflate = 3.0  # marker radius, and a line's width
        scores = {}
        for corner in CORNERS:
            r = _corner_rect(corner, size, w, h, margin).adjusted(-inflate, -inflate, inflate, inflate)
            scores[corner] = _hits(seg, pts, r)
        best = min(CORNERS, key=lambda c: scores[c])  # ties: the earlier (preferred) corner
        if scores[best] == 0:
            _anchor(legend, best, margin)
            placed.append(best)
            continue
        # no free corner: squeeze the data into the lower part of the view so the top band is free
        top = "top-left" if scores["top-left"] < scores["top-right"] else "top-right"
        band = size.height() + 2 * margin
        if band < 0.6 * h:
            (y0, y1) = vb.viewRange()[1]
            grow = (y1 - y0) * band / (h - band)
            if vb.state["yInverted"]:
                vb.setYRange(y0 - grow, y1, padding=0)
            else:
                vb.setYRange(y0, y1 + grow, padding=0)
        _anchor(legend, top, margin)
        placed.append(f"{top}+headroom")
    return placed


@contextmanager
def legends_off_data(obj) -> Iterator[list[str]]:
    """legend_off_data on every plot in obj for the duration of an export; the plots are put back after."""
    saved = []
    for plot in plot_items(obj):
        vb = plot.getViewBox()
        legends = [(lg, lg.opts["offset"], lg.pos()) for lg in _inner_legends(plot)]
        if legends:
            saved.append((vb, [list(r) for r in vb.viewRange()], list(vb.state["autoRange"]), legends))
    placed = []
    try:
        for plot in plot_items(obj):
            placed += legend_off_data(plot)
        yield placed
    finally:
        for vb, (xr, yr), auto, legends in saved:
            vb.setRange(xRange=xr, yRange=yr, padding=0)
            vb.enableAutoRange(x=auto[0], y=auto[1])
            for lg, offset, pos in legends:
                if offset is not None:
                    lg.setOffset(offset)
                else:  # it was placed by hand, not anchored
                    lg.opts["offset"] = None
                    lg.setPos(pos)


# --- pictures ---------------------------------------------------------------------------------------------
def _check_width(width: int) -> int:
    width = int(width)
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"export width must be {MIN_WIDTH}..{MAX_WIDTH} px, got {width}")
    return width


def render_image(obj, width: int = DEFAULT_WIDTH, place_legends: bool = True, caption: str = "") -> QtGui.QImage:
    """obj drawn `width` pixels wide, its aspect ratio kept (a portrait panel laid out landscape): the panel as
    a high-DPI screen would show it; `caption` (the run's name) in small grey text in its bottom-right corner."""
    width = _check_width(width)
    target = export_target(obj)
    with _landscape(target), legends_off_data(obj) if place_legends else _nothing():
        if isinstance(target, QtWidgets.QGraphicsItem):
            img = _render_item(target, width)
        else:
            img = _render_widget(target, width)
    if caption:
        _caption(img, caption)
    return img


def _caption(img: QtGui.QImage, text: str) -> None:
    """Which run this is, where no axis is: the bottom-right corner, grey, a fiftieth of the picture tall."""
    p = QtGui.QPainter(img)
    p.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
    font = QtGui.QFont()
    font.setPixelSize(max(10, img.height() // 50))
    p.setFont(font)
    p.setPen(QtGui.QColor("#666666"))
    pad = font.pixelSize() // 2
    p.drawText(QtCore.QRect(pad, 0, img.width() - 2 * pad, img.height() - pad // 2),
               int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignBottom), text)
    p.end()


def _render_item(item: QtWidgets.QGraphicsItem, width: int) -> QtGui.QImage:
    """The scene under the item, drawn at device pixel ratio width / item width.

    Not pyqtgraph's ImageExporter: its export mode enlarges the axis text but leaves legend labels at
    their screen size (8 px tall in a 1600 px picture) and lines at 1-2 px. A high-DPI rendering scales
    all text alike; the cosmetic pens (curves, guide lines) are widened by the same factor meanwhile."""
    src = item.sceneBoundingRect()
    if src.width() <= 0 or src.height() <= 0:
        raise ValueError(f"cannot export an empty {type(item).__name__} (is it laid out?)")
    scale = width / src.width()
    img = QtGui.QImage(width, max(1, round(src.height() * scale)), QtGui.QImage.Format.Format_ARGB32)
    scene = item.scene()
    brush = scene.views()[0].backgroundBrush() if scene.views() else QtGui.QBrush()
    img.fill(brush.color() if brush.style() != QtCore.Qt.BrushStyle.NoBrush else QtCore.Qt.GlobalColor.transparent)
    img.setDevicePixelRatio(scale)
    painter = QtGui.QPainter(img)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
    # resolutionScale 1: the device pixel ratio already scales; export mode draws markers as vectors (not
    # from a 1x pixmap cache) and hides the plot's auto-range button
    with _wider_pens(item, scale), _export_mode(item, {"antialias": True, "painter": painter, "resolutionScale": 1.0}):
        scene.render(painter, QtCore.QRectF(0, 0, src.width(), src.height()), src)  # pyqtgraph prepares items first
    painter.end()
    img.setDevicePixelRatio(1.0)
    return img


@contextmanager
def _export_mode(item: QtWidgets.QGraphicsItem, opts: dict) -> Iterator[None]:
    """pyqtgraph's export mode on the item and everything under it (what its exporters do)."""
    items, todo = [], [item]
    while todo:
        it = todo.pop()
        if hasattr(it, "setExportMode"):
            items.append(it)
        todo.extend(it.childItems())
    for it in items:
        it.setExportMode(True, opts)
    try:
        yield
    finally:
        for it in items:
            it.setExportMode(False)


@contextmanager
def _wider_pens(item: QtWidgets.QGraphicsItem, scale: float) -> Iterator[None]:
    """Cosmetic pens are drawn in device pixels; widen them by `scale` so lines keep their weight."""
    changed: list[tuple[object, QtGui.QPen]] = []
    for plot in plot_items(item):
        for it in plot.getViewBox().addedItems:
            # a PlotDataItem hands its own pen to its curve on every data update: change it there
            if isinstance(it, pg.InfiniteLine):
                old = it.pen
            elif isinstance(it, (pg.PlotDataItem, pg.PlotCurveItem)):
                old = it.opts.get("pen")
            else:
                continue
            if isinstance(old, QtGui.QPen) and old.isCosmetic():
                pen = QtGui.QPen(old)
                pen.setWidthF(max(1.0, old.widthF()) * scale)
                it.setPen(pen)
                changed.append((it, old))
    try:
        yield
    finally:
        for it, old in changed:
            it.setPen(old)


@contextmanager
def _nothing() -> Iterator[list[str]]:
    yield []


def _render_widget(w: QtWidgets.QWidget, width: int) -> QtGui.QImage:
    """A plain widget, scaled by rendering at a higher device pixel ratio (text stays sharp)."""
    if w.width() <= 0 or w.height() <= 0:
        raise ValueError(f"cannot export an empty {type(w).__name__} ({w.width()}x{w.height()})")
    scale = width / w.width()
    img = QtGui.QImage(width, max(1, round(w.height() * scale)), QtGui.QImage.Format.Format_ARGB32)
    img.setDevicePixelRatio(scale)
    img.fill(w.palette().color(QtGui.QPalette.ColorRole.Window))
    w.render(img)
    img.setDevicePixelRatio(1.0)
    return img


def export_png(obj, path: str | Path, width: int = DEFAULT_WIDTH, caption: str = "") -> Path:
    path = Path(path)
    img = render_image(obj, width, caption=caption)
    if not img.save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


def export_svg(obj, path: str | Path, place_legends: bool = True) -> Path:
    """A vector picture at the panel's on-screen size (an SVG scales on the slide)."""
    from PySide6 import QtSvg

    path = Path(path)
    target = export_target(obj)
    with _landscape(target), legends_off_data(obj) if place_legends else _nothing():
        gen = QtSvg.QSvgGenerator()
        gen.setFileName(str(path))
        gen.setTitle(title_of(obj) or file_stem(obj))
        if isinstance(target, QtWidgets.QGraphicsItem):
            scene = target.scene()
            rect = target.sceneBoundingRect()
            gen.setSize(rect.size().toSize())
            gen.setViewBox(QtCore.QRectF(0, 0, rect.width(), rect.height()))
            painter = QtGui.QPainter(gen)
            with _export_mode(target, {"antialias": True, "painter": painter, "resolutionScale": 1.0}):
                scene.render(painter, QtCore.QRectF(0, 0, rect.width(), rect.height()), rect)
        else:
            gen.setSize(target.size())
            gen.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), target.size()))
            painter = QtGui.QPainter(gen)
            target.render(painter)
        painter.end()
    if not path.exists():
        raise OSError(f"could not write {path}")
    return path


def copy_to_clipboard(obj, width: int = DEFAULT_WIDTH) -> QtGui.QImage:
    """Put the panel on the clipboard as an image (paste straight into a slide). Returns the image."""
    img = render_image(obj, width)
    QtGui.QGuiApplication.clipboard().setImage(img)
    return img


def export_panels(panels: Iterable, folder: str | Path, width: int = DEFAULT_WIDTH, svg: bool = True,
                  caption: str = "") -> list[Path]:
    """Each panel as STEM.png (and STEM.svg), named after its title (or its own export_stem); a repeated name
    gets -2, -3, ... The PNGs carry `caption` (the run's name) in a corner."""
    folder = Path(folder)
    written: list[Path] = []
    used: dict[str, int] = {}
    for panel in panels:
        stem = file_stem(panel, type(panel).__name__.lower())
        used[stem] = used.get(stem, 0) + 1
        if used[stem] > 1:
            stem = f"{stem}-{used[stem]}"
        written.append(export_png(panel, folder / f"{stem}.png", width, caption))
        if svg:
            written.append(export_svg(panel, folder / f"{stem}.svg"))
    return written


# --- actions for a panel's menu ---------------------------------------------------------------------------
def export_actions(obj, parent: QtWidgets.QWidget, settings=None) -> list[QtGui.QAction]:
    """Copy to clipboard / Export as PNG… / Export as SVG… for one panel, ready for a context menu,
    a toolbar or pyqtgraph's plot menu (add_to_plot_menu). With a gui.settings.Settings, PNGs use its
    export_width and the file dialog starts in, and remembers, the "export" folder; without, 1600 px."""

    def width() -> int:
        return settings.export_width if settings is not None else DEFAULT_WIDTH

    def report(e: Exception) -> None:
        QtWidgets.QMessageBox.warning(parent, "Export", f"Could not export: {e}")

    def done(text: str) -> None:  # said where the user looks: the window's status bar
        bar = parent.statusBar() if isinstance(parent, QtWidgets.QMainWindow) else None
        bar is not None and bar.showMessage(text, 10_000)

    def copy() -> None:
        try:
            QtGui.QGuiApplication.clipboard().setImage(render_image(obj, width(), caption=shown_caption(parent)))
            done(f"copied {title_of(obj) or 'the panel'} to the clipboard")
        except (OSError, ValueError) as e:
            report(e)

    def save(kind: str) -> None:
        flt = "PNG image (*.png)" if kind == "png" else "SVG image (*.svg)"
        caption, name = f"Export panel as {kind.upper()}", f"{file_stem(obj)}.{kind}"
        if settings is not None:
            path = settings.save_file(parent, "export", caption, name, flt)
        else:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, caption, name, flt)
        if not path:
            return
        if not path.lower().endswith(f".{kind}"):
            path += f".{kind}"
        try:
            export_png(obj, path, width(), shown_caption(parent)) if kind == "png" else export_svg(obj, path)
            done(f"exported to {path}")
        except (OSError, ValueError) as e:
            report(e)

    acts = [QtGui.QAction("Copy panel to clipboard", parent), QtGui.QAction("Export panel as PNG…", parent),
            QtGui.QAction("Export panel as SVG…", parent)]
    acts[0].triggered.connect(copy)
    acts[1].triggered.connect(lambda: save("png"))
    acts[2].triggered.connect(lambda: save("svg"))
    return acts


def add_to_plot_menu(obj, actions: list[QtGui.QAction]) -> None:
    """Append the actions to the right-click menu of every plot in obj (pyqtgraph's ViewBox menu)."""
    for plot in plot_items(obj):
        menu = plot.getViewBox().menu
        if menu is not None:
            menu.addSeparator()
            menu.addActions(actions)
