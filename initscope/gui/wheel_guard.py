"""Scrolling a panel never changes a value: spin boxes, combo boxes and sliders ignore the mouse wheel
unless they have keyboard focus (click or Tab into one first, then the wheel works as usual).

One app-wide event filter covers every such widget, including those created later (dialogs, rebuilt
panels). A guarded widget also gets Qt.StrongFocus: the default, Qt.WheelFocus, would hand it the focus
on the very wheel event we mean to ignore. The ignored event is not consumed: Qt then offers it to the
parent, so the scroll area under the cursor scrolls on.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

# QSlider, not QAbstractSlider: a scroll bar must keep taking the wheel
GUARDED = (QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox, QtWidgets.QSlider)


def _guarded(obj: QtCore.QObject) -> bool:
    return isinstance(obj, GUARDED)


def _strong_focus(w: QtWidgets.QWidget) -> None:
    if w.focusPolicy() == QtCore.Qt.FocusPolicy.WheelFocus:
        w.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)


class WheelGuard(QtCore.QObject):
    """The event filter. Use install_wheel_guard() rather than creating one."""

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        t = event.type()
        if t == QtCore.QEvent.Type.Wheel:
            if _guarded(obj) and not obj.hasFocus():
                # ignored + filtered: the widget never sees it, and QApplication passes it to the parent
                event.ignore()
                return True
        elif t == QtCore.QEvent.Type.Polish and _guarded(obj):
            _strong_focus(obj)  # widgets created after install: set before they are first shown
        return False


def install_wheel_guard(app: QtWidgets.QApplication | None = None) -> WheelGuard:
    """Install the guard on the application (once; a second call returns the same guard) and give the
    widgets that already exist StrongFocus."""
    app = app or QtWidgets.QApplication.instance()
    guard = getattr(app, "_initscope_wheel_guard", None)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
        app._initscope_wheel_guard = guard
    for w in app.allWidgets():
        if _guarded(w):
            _strong_focus(w)
    return guard


def remove_wheel_guard(app: QtWidgets.QApplication | None = None) -> None:
    """Uninstall (tests share one QApplication). Focus policies already set stay as they are."""
    app = app or QtWidgets.QApplication.instance()
    guard = getattr(app, "_initscope_wheel_guard", None)
    if guard is not None:
        app.removeEventFilter(guard)
        app._initscope_wheel_guard = None
        guard.deleteLater()
