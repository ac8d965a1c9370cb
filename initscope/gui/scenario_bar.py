"""The workshop scenario bar: Previous / caption / Next over a scenario's steps."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


class ScenarioBar(QtWidgets.QWidget):
    """Shows one step's caption; asks for another step with `stepRequested(i)` (the window loads it)."""

    stepRequested = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scenario = None
        self.index = 0
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("QLabel { background: #e8f1fb; border: 1px solid #b7cde8; padding: 6px; }")
        self.prev_btn = QtWidgets.QPushButton("◀ Previous")
        self.next_btn = QtWidgets.QPushButton("Next ▶")
        self.prev_btn.setShortcut(QtGui.QKeySequence("Ctrl+PgUp"))
        self.next_btn.setShortcut(QtGui.QKeySequence("Ctrl+PgDown"))
        self.prev_btn.clicked.connect(lambda: self.stepRequested.emit(self.index - 1))
        self.next_btn.clicked.connect(lambda: self.stepRequested.emit(self.index + 1))
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.prev_btn)
        lay.addWidget(self.caption, 1)
        lay.addWidget(self.next_btn)
        self.hide()

    def set_scenario(self, scenario) -> None:
        self.scenario = scenario
        self.setVisible(scenario is not None)

    def valid(self, i: int) -> bool:
        return self.scenario is not None and 0 <= i < len(self.scenario.steps)

    def show_step(self, i: int) -> None:
        self.index = i
        step = self.scenario.steps[i]
        aim = f"<br><i>aim: {step.aim()}</i>" if step.targets else ""
        self.caption.setText(f"<b>{self.scenario.title}</b> — step {i + 1} of {len(self.scenario.steps)}<br>"
                             f"{step.caption}{aim}")
        self.prev_btn.setEnabled(i > 0)
        self.next_btn.setEnabled(i + 1 < len(self.scenario.steps))
