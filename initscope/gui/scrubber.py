"""The time scrubber: one slider, at the right of the status bar (under the panels and the hints), that moves
every panel, tab and the hint strip to snapshot k of the shown run(s). ▶ plays it, ←/→ step it (while the plots
or the tabs have the focus). At its right
end it follows the latest snapshot (a live run keeps streaming); anywhere else it holds that step.

The window draws what `apply(shown)` returns: the shown records themselves when following, else copies whose
history is `History.at(step)` (the same buffers, the snapshot at that step as the latest; core/history.py), so
every view draws step k with no code of its own. The step axes get a line at k. A copy is cached per record,
version and step: a redraw tick at the same step costs nothing, and the views redraw only when the step moves.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.gui.help import help_button, set_whats_this

PLAY_MS = 150  # ~7 snapshots a second: a 21-snapshot run plays in 3 s


class Scrubber(QtWidgets.QWidget):
    stepChanged = QtCore.Signal(object)  # the step held (int), or None: following the latest
    problemFound = QtCore.Signal(str)  # a shown run file's history of snapshots was damaged: one line saying so

    wanted = True  # the tab shown has something the scrubber moves (gui/replay_wiring.py sets it)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.steps = np.zeros(0, np.int64)  # the steps it can show: the shown runs' snapshots
        self.held: int | None = None  # None: follow the latest
        self._cache: dict = {}
        self.markers: dict[int, pg.InfiniteLine] = {}  # id(plot) -> its line at step k
        self.step_plots: list = []  # plots with a step axis (set by the window layout)
        self.play_btn = QtWidgets.QToolButton()
        self.play_btn.setText("▶")
        self.play_btn.setToolTip("play the run's snapshots from the one shown (again: pause)")
        self.play_btn.setAccessibleName("Play / pause the snapshots")
        self.play_btn.clicked.connect(self.toggle_play)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setToolTip("snapshot shown: drag back in time; at the right end it follows the latest (←/→ step)")
        self.slider.setAccessibleName("Snapshot shown")
        self.slider.valueChanged.connect(self._moved)
        self.label = QtWidgets.QLabel("latest")
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("step 1,000,000 of 1,000,000 ⚠"))
        self.problem = ""
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.play_btn)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.help = help_button("scrubber", self)  # in the row, not over a corner: the bar is one line tall
        lay.addWidget(self.help)
        set_whats_this(self, "scrubber")
        self.fit()
        self.timer = QtCore.QTimer(self, interval=PLAY_MS)
        self.timer.timeout.connect(self._advance)
        self.setEnabled(False)

    def fit(self) -> None:
        """One text line tall in the current font (presentation mode changes it): the buttons no taller."""
        h = self.label.fontMetrics().height() + 4
        for b in (self.play_btn, self.help):
            b.setFixedHeight(h)
        self.setFixedHeight(h)

    def changeEvent(self, ev: QtCore.QEvent) -> None:
        super().changeEvent(ev)
        if ev.type() == QtCore.QEvent.Type.FontChange:
            self.fit()

    def bind_keys(self, area: QtWidgets.QWidget) -> None:
        """←/→ step the scrubber while `area` (the tabs and this bar) has the focus; the side panel's fields keep
        their arrows."""
        ctx = QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut
        for key, d in ((QtCore.Qt.Key.Key_Left, -1), (QtCore.Qt.Key.Key_Right, 1)):
            sc = QtGui.QShortcut(QtGui.QKeySequence(key), area, context=ctx)
            sc.activated.connect(lambda d=d: self.step_by(d))

    # --- position ------------------------------------------------------------------------------------------
    @property
    def index(self) -> int:
        if self.held is None or not len(self.steps):
            return len(self.steps) - 1
        return max(int(np.searchsorted(self.steps, self.held, side="right")) - 1, 0)

    def set_step(self, step: int | None) -> int | None:
        """Show the snapshot at or before `step` (None or the last: follow the latest); returns the step shown."""
        if step is None or not len(self.steps) or step >= self.steps[-1]:
            self.held = None
        else:
            self.held = int(self.steps[max(int(np.searchsorted(self.steps, step, side="right")) - 1, 0)])
        self._sync()
        self.stepChanged.emit(self.held)
        return self.held if self.held is not None else (int(self.steps[-1]) if len(self.steps) else None)

    def step_by(self, d: int) -> None:
        if len(self.steps) > 1:
            i = min(max(self.index + d, 0), len(self.steps) - 1)
            self.set_step(int(self.steps[i]))

    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
        elif len(self.steps) > 1:
            if self.held is None:  # at the end: play from the start
                self.set_step(int(self.steps[0]))
            self.timer.start()
        self.play_btn.setText("⏸" if self.timer.isActive() else "▶")

    def _advance(self) -> None:
        if self.held is None:
            self.toggle_play()
        else:
            self.step_by(1)

    def _moved(self, i: int) -> None:
        if self._syncing or not len(self.steps):
            return
        self.set_step(int(self.steps[min(i, len(self.steps) - 1)]))

    _syncing = False

    def _sync(self) -> None:
        self._syncing = True
        self.slider.setRange(0, max(len(self.steps) - 1, 0))
        self.slider.setValue(self.index)
        self._syncing = False
        self.setEnabled(len(self.steps) > 1)
        # nothing to scrub (a preview, one snapshot): hidden, so the status line beside it keeps its room (at
        # 1024 px in presentation mode the preview's parameter count was cut)
        self.setVisible(self.wanted and len(self.steps) > 1)
        n = len(self.steps)
        shown = int(self.steps[self.index]) if n else 0
        where = "latest" if self.held is None else "held"
        self.label.setText((f"step {shown:,} ({where}, {self.index + 1} of {n})" if n > 1 else "one snapshot")
                           + (" ⚠" if self.problem else ""))
        self.label.setToolTip(self.problem or "the snapshot the panels show")

    # --- what the window draws ------------------------------------------------------------------------------
    def apply(self, recs: list) -> list:
        """The records as the views should draw them: as they are (following), or at the held step."""
        live = [r for r in recs if not r.is_preview]
        steps = np.unique(np.concatenate([r.history.snapshot_steps() for r in live])) if live else np.zeros(0, np.int64)
        problem = next((r.result.replay_problem for r in live if r.result is not None and r.result.replay_problem), "")
        if len(steps) != len(self.steps) or not np.array_equal(steps, self.steps) or problem != self.problem:
            if problem and problem != self.problem:
                self.problemFound.emit(problem)
            self.steps, self.problem = steps.astype(np.int64), problem
            if self.held is not None and (not len(steps) or self.held >= steps[-1]):
                self.held = None
            self._sync()
        step = self.held
        self._mark(step)
        if step is None:
            return recs
        out = []
        for r in recs:
            if r.is_preview:
                out.append(r)
                continue
            key = (r.id, r.history.version, step)
            if key not in self._cache:
                if len(self._cache) > 64:
                    self._cache.clear()
                self._cache[key] = replace(r, history=r.history.at(step))
            out.append(self._cache[key])
        return out

    def _mark(self, step) -> None:
        """A line at the held step on every step axis (hidden while following)."""
        for plot in self.step_plots:
            line = self.markers.get(id(plot))
            if line is None:
                line = self.markers[id(plot)] = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1.5,
                                                                                       style=QtCore.Qt.PenStyle.DotLine))
                line.setZValue(50)
                plot.addItem(line, ignoreBounds=True)
            line.setVisible(step is not None)
            if step is not None and line.value() != step:
                line.setValue(step)
