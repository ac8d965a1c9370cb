"""The status bar: one line about the shown record(s) and a progress bar while a run trains."""

from __future__ import annotations

from PySide6 import QtWidgets

from initscope.core.messages import RunStatus
from initscope.gui.texts import status_line


class StatusLine:
    def __init__(self, bar: QtWidgets.QStatusBar):
        self.label = QtWidgets.QLabel("starting…")
        # a changing text must never re-lay out the window
        self.label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(220)
        bar.addWidget(self.label, 1)
        bar.addPermanentWidget(self.progress)

    def show(self, recs: list, controller, train_ready: bool = True) -> None:
        text = status_line(recs, controller.paused, train_ready)
        if text != self.label.text():
            self.label.setText(text)
        active = controller.active.get("A")
        # only while a run trains: an ended run's line says how far it got, and at 1024 px in presentation mode a
        # full bar beside it cut that line (several runs compared: no one bar was right for all of them either)
        self.progress.setVisible(active is not None)
        if active is not None:
            total = max(active.total_steps, 1)
            p = active.progress
            if p is not None and p.status == RunStatus.EVALUATING:  # the final losses: one part per split
                total, done = 3, int(p.message.split("(")[-1].split()[0]) - 1 if "(" in p.message else 0
            else:
                done = p.step if p is not None else active.steps_done
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
