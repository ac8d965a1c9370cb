"""The wheel guard: scrolling over an unfocused spin box, combo box or slider leaves its value alone
(and hands the event on); once focused, the wheel works as usual; scroll bars are never guarded."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.gui.wheel_guard import install_wheel_guard, remove_wheel_guard


def wheel(widget: QtWidgets.QWidget, up: bool = True) -> bool:
    """Send one wheel notch to the widget's centre; returns whether the widget accepted it."""
    pos = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
    ev = QtGui.QWheelEvent(pos, widget.mapToGlobal(pos), QtCore.QPoint(0, 0), QtCore.QPoint(0, 120 if up else -120),
                           QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                           QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(widget, ev)
    return ev.isAccepted()


@pytest.fixture
def form(qtbot):
    """A scrollable side panel: a line edit that holds the focus, then a spin box, a combo box, a slider.
    Starts without the guard (initscope's make_app installs it app-wide) and leaves it as the app wants it."""
    had_guard = getattr(QtWidgets.QApplication.instance(), "_initscope_wheel_guard", None) is not None
    remove_wheel_guard()
    area = QtWidgets.QScrollArea()
    inner = QtWidgets.QWidget()
    lay = QtWidgets.QVBoxLayout(inner)
    edit = QtWidgets.QLineEdit()
    spin = QtWidgets.QSpinBox()
    spin.setRange(1, 1000)
    spin.setValue(32)
    combo = QtWidgets.QComboBox()
    combo.addItems(["kaiming", "naive", "other"])
    combo.setCurrentIndex(1)
    slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(50)
    for w in (edit, spin, combo, slider):
        lay.addWidget(w)
    lay.addSpacing(2000)  # taller than the viewport, so the area has something to scroll
    area.setWidget(inner)
    area.resize(300, 200)
    qtbot.addWidget(area)
    area.show()
    qtbot.waitExposed(area)
    area.activateWindow()
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    yield area, edit, spin, combo, slider
    remove_wheel_guard()
    if had_guard:
        install_wheel_guard()


def test_unguarded_wheel_changes_an_unfocused_spin_box(form):
    """The problem the guard fixes (so the next test can fail): Qt's default changes the value."""
    _, _, spin, _, _ = form
    wheel(spin)
    assert spin.value() != 32


def test_unfocused_widgets_keep_their_value(form):
    _, edit, spin, combo, slider = form
    install_wheel_guard()
    for w in (spin, combo, slider):
        assert w.focusPolicy() == QtCore.Qt.FocusPolicy.StrongFocus
        assert not w.hasFocus()
        accepted = wheel(w, up=False)
        assert not accepted  # left for the parent (the scroll area) to take
    assert (spin.value(), combo.currentIndex(), slider.value()) == (32, 1, 50)
    assert edit.hasFocus()  # the wheel did not take the focus either


def test_focused_widgets_still_take_the_wheel(form, qtbot):
    _, _, spin, combo, slider = form
    install_wheel_guard()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    wheel(spin)
    assert spin.value() == 33
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus)
    wheel(combo, up=False)
    assert combo.currentIndex() == 2
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus)
    wheel(slider)
    assert slider.value() != 50


def test_scroll_bar_is_not_guarded(form):
    area, *_ = form
    install_wheel_guard()
    bar = area.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    wheel(bar, up=False)
    assert bar.value() > 0


def test_widgets_made_later_are_guarded(form, qtbot):
    install_wheel_guard()
    assert install_wheel_guard() is install_wheel_guard()  # installed once
    dlg = QtWidgets.QDialog()
    lay = QtWidgets.QVBoxLayout(dlg)
    edit = QtWidgets.QLineEdit()
    spin = QtWidgets.QDoubleSpinBox()
    spin.setValue(0.5)
    lay.addWidget(edit)
    lay.addWidget(spin)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    assert spin.focusPolicy() == QtCore.Qt.FocusPolicy.StrongFocus
    wheel(spin)
    assert spin.value() == 0.5
