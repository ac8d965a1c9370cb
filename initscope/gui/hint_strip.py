"""The hint strip under the panels: a fixed height that scrolls, so the panels above never jump."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

LINES = 4  # visible lines; more scroll
PRESENTATION_LINES = 3  # on a projector the plots need the height more
PAD = 2  # px above and below the text


class HintStrip(QtWidgets.QScrollArea):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.label.setContentsMargins(4, PAD, 4, PAD)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tint(self.viewport(), "#fffbe6")  # a palette, not a style sheet: style sheets stop the app font (presentation)
        tint(self.label, "#fffbe6")
        self.lines = LINES
        self.fit()

    def set_compact(self, on: bool) -> None:
        """One line fewer while a scenario's caption is shown above the plots: on a 1024x700 projector in
        presentation mode the caption's aim line and the plots' 100 px floor did not both fit."""
        self.compact = on
        self.fit()

    def fit(self) -> None:
        """Height for self.lines lines of the current font (presentation mode changes both)."""
        n = max(2, self.lines - 1) if getattr(self, "compact", False) else self.lines
        spacing = self.label.fontMetrics().lineSpacing()
        lines = spacing * n + 12
        bar = self.verticalScrollBar()
        container = bar.parentWidget()  # Qt's container around the bar needs a few px more than the bar itself
        need = max(bar.minimumSizeHint().height(), container.minimumSizeHint().height() if container else 0)
        height = max(lines, need + 2 * self.frameWidth())
        self.setFixedHeight(height)
        # the view ends where line n ends (its descent and leading are the gap below it); the height beyond n lines
        # goes above the text (presentation mode's compact strip is held up by the scroll bar's floor): below, it
        # showed the top half of line n + 1
        view = height - 2 * self.frameWidth()
        self.label.setContentsMargins(4, max(PAD, view - n * spacing), 4, PAD)

    def set_lines(self, lines: list[str]) -> None:
        text = "<br>".join(lines)
        if text != self.label.text():
            self.label.setText(text)

    def text(self) -> str:
        return self.label.text()


def tint(widget: QtWidgets.QWidget, color: str) -> None:
    """A background colour through the palette (a style sheet would pin the widget's font)."""
    pal = widget.palette()
    pal.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor(color))
    widget.setPalette(pal)
    widget.setAutoFillBackground(True)
