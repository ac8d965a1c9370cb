"""Labels that never re-lay out what is around them: a one-line status that elides, a caption of fixed lines."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


class ElidedLine(QtWidgets.QLabel):
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
