"""Is anything on screen cut off? A generic walk over the visible widget tree, for tests and `screenshot`.

A widget is reported when it is visible and either (a) smaller than its minimum size hint (its text or
controls cannot fit), (b) not inside its parent's rectangle (its parent cuts it), or (c) under a panel's
floating "?". Widgets inside a
scroll area's viewport are exempt from (b): scrolling to them is how they are meant to be reached.
Plot contents (pyqtgraph's QGraphicsView children) are checked by their own tests, not here.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

# widgets whose minimum size hint is not a promise of their own (they elide, scroll or stretch by design)
_ELASTIC = (QtWidgets.QScrollBar, QtWidgets.QAbstractScrollArea, QtWidgets.QSplitterHandle, QtWidgets.QStatusBar,
            QtWidgets.QRubberBand, QtWidgets.QTabBar, QtWidgets.QStackedWidget, QtWidgets.QMenuBar)


def _scroll_viewport(w: QtWidgets.QWidget) -> QtWidgets.QWidget | None:
    """The scroll area viewport w lies in, if any."""
    p = w.parentWidget()
    while p is not None:
        if isinstance(p.parentWidget(), QtWidgets.QAbstractScrollArea) and p is p.parentWidget().viewport():
            return p
        p = p.parentWidget()
    return None


def _cut_sideways(w: QtWidgets.QWidget, viewport: QtWidgets.QWidget, tolerance: int) -> bool:
    """In a scroll area that cannot scroll sideways, a widget past the viewport's right edge is cut off."""
    area = viewport.parentWidget()
    if area.horizontalScrollBarPolicy() != QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff:
        return False
    left = w.mapTo(viewport, QtCore.QPoint(0, 0)).x()
    return left < -tolerance or left + w.width() > viewport.width() + tolerance


def clipped_widgets(root: QtWidgets.QWidget, tolerance: int = 1) -> list[str]:
    """One line per visible widget that is cut by its parent or smaller than its minimum size hint."""
    out = []
    for w in root.findChildren(QtWidgets.QWidget):
        if not w.isVisibleTo(root) or w.isWindow() or w.graphicsProxyWidget() is not None:
            continue
        parent = w.parentWidget()
        if isinstance(parent, _COMPOSITE):
            continue  # a spin box's line edit, a tab bar's scroll arrows: the composite is checked instead
        if _parked(w):
            continue  # in a dock tabified behind another: Qt parks it off the window until its tab is picked
        name = f"{type(w).__name__}({w.objectName() or _label(w)})"
        if isinstance(w, QtWidgets.QTabBar):
            tabs = sum(w.tabSizeHint(i).width() for i in range(w.count()))
            if tabs > w.width() + tolerance:
                out.append(f"{name}: its tabs need {tabs} px, it has {w.width()} (names cut or scrolled)")
            continue
        need = _needed(w)
        if need is not None and (w.width() + tolerance < need.width() or w.height() + tolerance < need.height()):
            out.append(f"{name}: {w.width()}x{w.height()} is smaller than it needs, {need.width()}x{need.height()}")
            continue
        viewport = _scroll_viewport(w)
        if viewport is not None:
            if _cut_sideways(w, viewport, tolerance):
                out.append(f"{name}: {w.width()} px wide, cut by the right edge of a scroll area that does not "
                           f"scroll sideways ({viewport.width()} px)")
            continue
        if parent is None or isinstance(parent, QtWidgets.QAbstractScrollArea):
            continue
        inside = parent.rect().adjusted(-tolerance, -tolerance, tolerance, tolerance)
        if not inside.contains(w.geometry()):
            g = w.geometry()
            out.append(f"{name}: {g.x()},{g.y()} {g.width()}x{g.height()} is cut by its parent "
                       f"{type(parent).__name__} ({parent.width()}x{parent.height()})")
    out += _clipped_plots(root, tolerance)
    out += _under_help_buttons(root, tolerance)
    return out


# what a floating "?" must never cover: something to read or to use
_CONTROLS = (QtWidgets.QAbstractButton, QtWidgets.QComboBox, QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox,
             QtWidgets.QAbstractSlider, QtWidgets.QLabel)


def _under_help_buttons(root: QtWidgets.QWidget, tolerance: int) -> list[str]:
    """A panel's "?" floats over its corner (gui.help.corner_help_button): a control or text it lies on is
    half hidden (it sat on the dead-neuron map's layer box, and on the train sweep's values field)."""
    out = []
    helps = [b for b in root.findChildren(QtWidgets.QToolButton)
             if getattr(b, "help_key", None) and b.isVisibleTo(root) and not _parked(b)]
    if not helps:
        return out
    controls = [w for w in root.findChildren(QtWidgets.QWidget)
                if isinstance(w, _CONTROLS) and w.isVisibleTo(root) and not _parked(w)
                and not getattr(w, "help_key", None) and not isinstance(w.parentWidget(), _COMPOSITE)
                and not (isinstance(w, QtWidgets.QLabel) and not w.text())]
    for b in helps:
        box = QtCore.QRect(b.mapTo(root, QtCore.QPoint(0, 0)), b.size()).adjusted(tolerance, tolerance,
                                                                                    -tolerance, -tolerance)
        for w in controls:
            if _scroll_viewport(w) is not None and _scroll_viewport(w) is not _scroll_viewport(b):
                continue  # scrolled content: what lies under the "?" depends on the scroll position
            if box.intersects(_drawn_rect(w).translated(w.mapTo(root, QtCore.QPoint(0, 0)))):
                out.append(f"the \"?\" of {b.help_key!r} lies on {type(w).__name__}({w.objectName() or _label(w)})")
    return out


def _clipped_plots(root: QtWidgets.QWidget, tolerance: int) -> list[str]:
    """Plots whose layout needs more room than their view has (the scene is cut at the view's edge), and
    titles or legend labels wider than the space they were given."""
    import pyqtgraph as pg

    out = []
    for view in root.findChildren(pg.GraphicsView):
        ci = getattr(view, "ci", None)
        if ci is None or not view.isVisibleTo(root):
            continue
        need = ci.effectiveSizeHint(QtCore.Qt.SizeHint.MinimumSize)
        titles = [i.titleLabel.text for i in ci.items if isinstance(i, pg.PlotItem)]
        if need.width() > view.width() + tolerance or need.height() > view.height() + tolerance:
            out.append(f"plot {titles[0] if titles else ''!r} needs {need.width():.0f}x{need.height():.0f} but its view is "
                       f"{view.width()}x{view.height()}")
        plots = [i for i in ci.items if isinstance(i, pg.PlotItem)]
        for item in ci.items:
            if isinstance(item, pg.LegendItem) and item.isVisible() and item.items:
                box = item.sceneBoundingRect().adjusted(tolerance, tolerance, -tolerance, -tolerance)
                for plot in plots:
                    if box.intersects(plot.vb.sceneBoundingRect()) or box.intersects(
                            plot.getAxis("left").sceneBoundingRect()):
                        out.append(f"legend of {plot.titleLabel.text!r} lies on its plot or axis")
                need_w = max(lab.item.boundingRect().width() for _, lab in item.items) + 20
                if item.width() + tolerance < need_w:
                    out.append(f"legend of {titles[0] if titles else ''!r}: {item.width():.0f} px for labels of "
                               f"{need_w:.0f} px")
            if isinstance(item, pg.PlotItem):
                vb = item.vb
                if vb.height() < MIN_DATA_PX or vb.width() < MIN_DATA_PX:
                    out.append(f"plot {item.titleLabel.text!r}: its data area is {vb.width():.0f}x{vb.height():.0f} px")
                for side in ("left", "bottom"):
                    ax = item.getAxis(side)
                    if ax.isVisible() and ax.label.isVisible():
                        text_w = ax.label.boundingRect().width()
                        length = ax.height() if side == "left" else ax.width()
                        if text_w > length + tolerance:
                            out.append(f"{side} axis label {ax.labelText!r} of {lab_title(item)!r} is {text_w:.0f} px "
                                       f"on a {length:.0f} px axis")
                lab = item.titleLabel
                if lab.isVisible() and lab.item.boundingRect().width() > item.width() + tolerance:
                    out.append(f"title {lab.text!r} is {lab.item.boundingRect().width():.0f} px in a "
                               f"{item.width():.0f} px plot")
    return out


def _drawn_rect(w: QtWidgets.QWidget) -> QtCore.QRect:
    """Where w draws, in its own coordinates: a label only where its text is (it may be wider than that)."""
    if not isinstance(w, QtWidgets.QLabel):
        return w.rect()
    text = w.text()
    if QtGui.Qt.mightBeRichText(text):
        text = QtGui.QTextDocumentFragment.fromHtml(text).toPlainText()
    flags = int(w.alignment().value) | (QtCore.Qt.TextFlag.TextWordWrap.value if w.wordWrap() else 0)
    # within the label: a longer line is cut or elided ("…") at its edge, not drawn past it
    return w.fontMetrics().boundingRect(w.contentsRect(), flags, text) & w.contentsRect()


def _parked(w: QtWidgets.QWidget) -> bool:
    while w is not None:
        if isinstance(w, QtWidgets.QDockWidget) and w.x() < 0:
            return True
        w = w.parentWidget()
    return False


def lab_title(plot) -> str:
    return plot.titleLabel.text


MIN_DATA_PX = 100  # a plot's data area smaller than this (squeezed by its legend or axes) shows nothing readable

_COMPOSITE = (QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox, QtWidgets.QTabBar)


def _needed(w: QtWidgets.QWidget) -> QtCore.QSize | None:
    """The size w needs to show all it has: its text for a button, else its minimum size hint."""
    if isinstance(w, _ELASTIC) or w.sizePolicy().horizontalPolicy() == QtWidgets.QSizePolicy.Policy.Ignored:
        return None
    if isinstance(w, QtWidgets.QAbstractButton) and not isinstance(w, (QtWidgets.QCheckBox, QtWidgets.QRadioButton)):
        fm = w.fontMetrics()
        return QtCore.QSize(fm.horizontalAdvance(w.text()) + 8, fm.height() + 2) if w.text() else None
    hint = w.minimumSizeHint()
    return hint if hint.isValid() else None


def _label(w: QtWidgets.QWidget) -> str:
    text = getattr(w, "text", None)
    t = text() if callable(text) else ""
    return (t or w.toolTip() or "")[:30].replace("\n", " ")


def settle(app: QtWidgets.QApplication, rounds: int = 5) -> None:
    """Let layouts and deferred resizes finish (offscreen, nothing paints until asked)."""
    for _ in range(rounds):
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
