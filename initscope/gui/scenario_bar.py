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
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.caption.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.caption.setContentsMargins(6, 4, 6, 4)
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

    def fit(self) -> None:
        """Three lines of the current font (presentation mode changes it)."""
        lines = self.caption.fontMetrics().lineSpacing() * 3 + 14
        self.caption_scroll.setFixedHeight(max(lines, self.caption_scroll.verticalScrollBar().minimumSizeHint().height()))

    def set_scenario(self, scenario) -> None:
        self.scenario = scenario
        self.setVisible(scenario is not None)

    def valid(self, i: int) -> bool:
        return self.scenario is not None and 0 <= i < len(self.scenario.steps)

    def show_step(self, i: int, workshop: bool = False) -> None:
        """Step i's caption and what to aim for (measured at workshop length when that is on)."""
        self.index = i
        step = self.scenario.steps[i]
        aims = step.aim(workshop)
        length = " (workshop length)" if workshop and step.workshop_targets else ""
        aim = f"<br><i>aim{length}: {aims}</i>" if aims else ""
        self.caption.setText(f"<b>{self.scenario.title}</b> — step {i + 1} of {len(self.scenario.steps)}<br>"
                             f"{step.caption}{aim}")
        self.prev_btn.setEnabled(i > 0)
        self.next_btn.setEnabled(i + 1 < len(self.scenario.steps))
