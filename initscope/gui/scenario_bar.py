"""The workshop scenario bar: Previous / caption / Next over a scenario's steps."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from initscope.gui.hint_strip import tint


class ScenarioBar(QtWidgets.QWidget):
    """Shows one step's caption; asks for another step with `stepRequested(i)` (the window loads it)."""

    stepRequested = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scenario = None
        self.index = 0
        self.training = False
        self._workshop = False
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.caption.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.caption.setContentsMargins(6, 2, 6, 2)
        tint(self.caption, "#e8f1fb")
        self.caption_scroll = QtWidgets.QScrollArea()  # a fixed height (3 lines) that scrolls: panels never jump
        self.caption_scroll.setWidget(self.caption)
        self.caption_scroll.setWidgetResizable(True)
        self.caption_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tint(self.caption_scroll.viewport(), "#e8f1fb")
        self.prev_btn = QtWidgets.QPushButton("◀ Previous")
        self.next_btn = QtWidgets.QPushButton("Next ▶")
        self.prev_btn.setShortcut(QtGui.QKeySequence("Ctrl+PgUp"))
        self.next_btn.setShortcut(QtGui.QKeySequence("Ctrl+PgDown"))
        self.ghosts = QtWidgets.QCheckBox("ghost")  # gui/ghosts.py draws them
        self.ghosts.setChecked(True)
        self.ghosts.setToolTip("keep the previous step's loss and saturation as faint grey lines (before and after)")
        self.prev_btn.clicked.connect(lambda: self.stepRequested.emit(self.index - 1))
        self.next_btn.clicked.connect(lambda: self.stepRequested.emit(self.index + 1))
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.prev_btn)
        lay.addWidget(self.caption_scroll, 1)
        lay.addWidget(self.next_btn)
        lay.addWidget(self.ghosts)
        self.hide()
        self.fit()

    MAX_LINES = 7  # a caption longer than this scrolls (the plots keep their room)

    def fit(self) -> None:
        """As tall as this step's caption at the current width and font, so that its aim line is not hidden (at
        three fixed lines it needed scrolling at 1366 px, and at 1024 in presentation mode); at least three lines
        (most steps: the panels keep their place), at most MAX_LINES. Sized for the longest step instead, a short
        step's caption left the deep net's plots under their 100 px floor at 1024x700 in presentation mode."""
        fm = self.caption.fontMetrics()
        need = fm.lineSpacing() * 3
        width = self.caption_scroll.viewport().width() - 12 - self.caption_scroll.verticalScrollBar().sizeHint().width()
        if self.scenario is not None and width > 50 and 0 <= self.index < len(self.scenario.steps):
            doc = QtGui.QTextDocument()
            doc.setDefaultFont(self.caption.font())
            doc.setDocumentMargin(0)
            doc.setHtml(self._text(self.index, self._workshop))
            doc.setTextWidth(width)
            lines = -(-int(doc.size().height()) // fm.lineSpacing())  # whole lines: 1-3 of them share one height
            need = max(need, lines * fm.lineSpacing())
        need = min(need, fm.lineSpacing() * self.MAX_LINES)
        self.caption_scroll.setFixedHeight(max(need + 8, self.caption_scroll.verticalScrollBar().minimumSizeHint().height()))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        if ev.size().width() != ev.oldSize().width():
            self.fit()

    def set_scenario(self, scenario) -> None:
        self.scenario = scenario
        self.setVisible(scenario is not None)
        self.fit()

    def valid(self, i: int) -> bool:
        return self.scenario is not None and 0 <= i < len(self.scenario.steps)

    def show_step(self, i: int, workshop: bool = False) -> None:
        """Step i's caption and what to aim for (measured at workshop length when that is on)."""
        self.index = i
        if workshop != self._workshop:
            self._workshop = workshop
            self.fit()
        self.caption.setText(self._text(i, workshop))
        self.fit()
        self.set_training(self.training)

    def _text(self, i: int, workshop: bool) -> str:
        step = self.scenario.steps[i]
        aims = step.aim(workshop)
        length = " (workshop length)" if workshop and step.workshop_targets else ""
        aim = f"<br><i>aim{length}: {aims}</i>" if aims else ""
        return f"<b>{self.scenario.title}</b> — step {i + 1} of {len(self.scenario.steps)}<br>{step.caption}{aim}"

    def set_training(self, on: bool) -> None:
        """While a run trains the steps cannot change (its settings are in use): the buttons say so."""
        self.training = on
        n = len(self.scenario.steps) if self.scenario is not None else 0
        tip = "stop the run first (Stop, Ctrl+.) to go to another step" if on else ""
        self.prev_btn.setEnabled(not on and self.index > 0)
        self.next_btn.setEnabled(not on and self.index + 1 < n)
        self.prev_btn.setToolTip(tip or "the previous step (Ctrl+PgUp)")
        self.next_btn.setToolTip(tip or "the next step (Ctrl+PgDown)")
