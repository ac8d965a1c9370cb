"""The Compare runs tab: per-layer statistics of two or more runs side by side, differences marked."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.gui.help import HelpCornerRoom, corner_help_button
from initscope.gui.views import activation_columns

STATS = (("sat %", "saturation", 100.0, "{:.1f}"), ("std", "act_std", 1.0, "{:.3f}"),
         ("grad std", "grad_std", 1.0, "{:.2e}"))
DIFF = QtGui.QColor("#fde2c8")  # a cell that differs from the first run by more than 20 %


PICK = ("Pick two or more runs that have snapshots: <b>Pick runs…</b> here, or Ctrl+click them in the Runs list "
        "(View › Side panel, Ctrl+B, when it is hidden).")


class CompareView(HelpCornerRoom, QtWidgets.QWidget):
    pickRequested = QtCore.Signal()  # "Pick runs…": the window asks which runs (presentation mode hides Runs)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.note = QtWidgets.QLabel(PICK)
        self.note.setWordWrap(True)
        self.pick_btn = QtWidgets.QPushButton("Pick runs…")
        self.pick_btn.clicked.connect(self.pickRequested)
        self.table = QtWidgets.QTableWidget()
        lay = QtWidgets.QVBoxLayout(self)
        self.corner_layout = QtWidgets.QHBoxLayout()  # the note ends short of the "?" (a long one ran under it)
        self.corner_layout.addWidget(self.pick_btn)
        self.corner_layout.addWidget(self.note, 1)
        lay.addLayout(self.corner_layout)
        lay.addWidget(self.table, 1)
        corner_help_button(self, "compare-runs")
        self._key = None

    def render(self, recs: list) -> None:
        key = tuple((r.id, r.name, r.history.version) for r in recs)
        if key == self._key:
            return
        self._key = key
        t = self.table
        rows = [r for r in recs if r.history.saturation is not None and len(r.history.snap_steps)]
        if len(rows) < 2:
            t.clear()
            t.setRowCount(0)
            t.setColumnCount(0)
            self.note.setText(PICK)
            return
        common = set(rows[0].history.snap_steps.data.tolist())
        for r in rows[1:]:
            common &= set(r.history.snap_steps.data.tolist())
        if not common:
            self.note.setText("These runs share no snapshot step yet.")
            return
        step = max(common)
        self.note.setText(f"Per activation layer at step {step:,} (the latest snapshot all selected runs have). "
                          f"The k-th activation of each run is lined up; shaded cells differ from the first run "
                          f"by more than 20 %.")
        # rows are activation positions, so a stack with BatchNorm (L2 Tanh) lines up with one without (L1 Tanh)
        cols_of = {r.id: activation_columns(r.history.layer_names, r.layer_kinds) for r in rows}
        depth = max(len(c) for c in cols_of.values())
        cols = [(r, stat) for r in rows for stat in STATS]
        t.setColumnCount(len(cols))
        t.setRowCount(depth)
        t.setHorizontalHeaderLabels([f"{r.name}\n{stat[0]}" for r, stat in cols])
        first = rows[0]
        t.setVerticalHeaderLabels([f"activation {k + 1}" + (f" ({first.history.layer_names[cols_of[first.id][k]]})"
                                   if k < len(cols_of[first.id]) else "") for k in range(depth)])
        ref: dict[tuple[int, str], float] = {}
        for c, (r, (label, attr, scale, fmt)) in enumerate(cols):
            h = r.history
            row = int(np.nonzero(h.snap_steps.data == step)[0][-1])
            arr = getattr(h, attr).data
            for k, j in enumerate(cols_of[r.id]):
                v = float(arr[row, j]) * scale
                item = QtWidgets.QTableWidgetItem(fmt.format(v))
                item.setToolTip(f"{r.name}: {h.layer_names[j]}")
                base = ref.setdefault((k, label), v)
                if r is not first and abs(v - base) > 0.2 * max(abs(base), 1e-12):
                    item.setBackground(DIFF)
                    item.setToolTip(item.toolTip() + f" (differs from {first.name}: {fmt.format(base)})")
                t.setItem(k, c, item)
        t.resizeColumnsToContents()
