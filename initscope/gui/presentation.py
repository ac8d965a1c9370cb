"""Presentation mode: one switch for a projector. Every font (controls, plot axes, titles, legends, hints,
captions, tables) 1.5x, plot lines 2x; the side panel widens to fit its larger controls. On a window narrower
than PANEL_BESIDE_PX the side panel folds away, so the plots take the width the audience reads them at (at
1024x700 it left them 70-90 px tall); Ctrl+B (View > Side panel, or the toolbar) brings it back. Leaving
presentation mode puts the window back exactly as it was (its saved dock and toolbar state)."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

FONT_SCALE = 1.5
LINE_SCALE = 2.0
PANEL_BESIDE_PX = 1600  # narrower: the side panel starts folded away in presentation mode


class Memory:
    """What presentation mode remembers to go back to (the window owns one: `win.presentation`)."""

    def __init__(self):
        self.base_point_size: float | None = None  # the app font's size before presentation mode
        self.layout_before = None  # (saved dock/toolbar state, side panel minimum width) while it is on
        self.fixed_before = False  # View › Fixed axes before it turned them on
        self.at_start = False  # `--present`: turned on once the remembered layout is in place


def set_presentation(win, on: bool) -> None:
    app = QtWidgets.QApplication.instance()
    mem = win.presentation
    if mem.base_point_size is None:
        mem.base_point_size = app.font().pointSizeF()
    if on and mem.layout_before is None:
        mem.layout_before = (win.saveState(), win.controls_scroll.minimumWidth())
        mem.fixed_before = win.fixed_act.isChecked()
        win.fixed_act.setChecked(True)  # the same axes on every step of a talk
    elif not on and mem.layout_before is not None:
        win.fixed_act.setChecked(mem.fixed_before)
    font = app.font()
    font.setPointSizeF(mem.base_point_size * (FONT_SCALE if on else 1.0))
    app.setFont(font)
    # the widgets hear of it through posted events: handled now, every widget is measured in the new font below,
    # and by a resize that follows at once (the window kept its presentation minimum width until they came)
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.ApplicationFontChange)
    # a dock draws its title in the platform's title font, taken when it was made, unless its own font differs
    # from the class's: give it one that does (its style strategy, invisible), and back to inheriting after
    for dock in (win.controls_dock, win.runs_dock):
        own = QtGui.QFont(font)
        own.setStyleStrategy(QtGui.QFont.StyleStrategy.PreferAntialias)
        dock.setFont(own if on else QtGui.QFont())
    for w in app.allWidgets():  # widgets with a font of their own (set before) follow the app font too
        if w.testAttribute(QtCore.Qt.WidgetAttribute.WA_SetFont) and w.window() is win:
            f = w.font()
            f.setPointSizeF(font.pointSizeF())
            w.setFont(f)
    for panel in win.all_panels():
        panel.set_scale(LINE_SCALE if on else 1.0, font.pointSizeF())
    win.explorer.set_scale(LINE_SCALE if on else 1.0, font.pointSizeF())
    from initscope.gui.hint_strip import LINES, PRESENTATION_LINES

    win.hints.lines = PRESENTATION_LINES if on else LINES
    win.hints.fit()
    from initscope.gui.actions import fix_pause_width

    for fit in (win.hints.fit, win.scenario_bar.fit, lambda: fix_pause_width(win)):  # once the new font is there
        QtCore.QTimer.singleShot(0, fit)
    _forget_cached_sizes(win)
    if on:  # once the new fonts have reached every widget (font changes arrive as events)
        QtCore.QTimer.singleShot(0, lambda: _fit_side_panel(win))
        if win.width() < PANEL_BESIDE_PX:
            win.panel_act.setChecked(False)
    elif mem.layout_before is not None:
        state, min_width = mem.layout_before
        mem.layout_before = None
        win.controls_scroll.setMinimumWidth(min_width)
        win.restoreState(state)
        win.panel_act.setChecked(not win.controls_dock.isHidden())  # as the restored layout has it
    win.force_redraw()


def _forget_cached_sizes(win) -> None:
    """A layout nested in a page that is not shown (another tab) keeps the sizes its widgets had when it was last
    laid out: after presentation mode, the train sweep's row of buttons kept its large minimum width, and the
    window could not be made 1024 px wide again until that tab was shown. The layouts' caches first, then each
    widget's own entry in its parent's layout; asked again, they measure the widgets in the new font."""
    for lay in win.findChildren(QtWidgets.QLayout):
        lay.invalidate()
    for w in win.findChildren(QtWidgets.QWidget):
        w.updateGeometry()


def _fit_side_panel(win) -> None:
    """Widen the side panel to its controls' new minimum: nothing in it is cut, and it never needs to scroll
    sideways."""
    if win.presentation.layout_before is None:
        return  # left presentation mode before this ran
    scroll = win.controls_scroll
    need = win.controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 2 * scroll.frameWidth() + 2
    scroll.setMinimumWidth(need)
    win.resizeDocks([win.controls_dock], [need], QtCore.Qt.Orientation.Horizontal)
