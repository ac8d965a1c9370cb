"""Every run of the session, kept for comparison: the Runs dock and the "Compare with one change" dialog.

A finished run keeps its whole loss curve (4 bytes a step), its snapshot rows (at most History.max_rows),
its step-0 and latest snapshots and its weights (4 bytes a parameter): about 4 MB per million steps plus
~1 MB, whatever its length. Delete runs you no longer need.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.config import ACTIVATIONS, SCHEMES, Config, deep_stack, set_batchnorm, stack_norm
from initscope.core.messages import RunStatus
from initscope.core.records import RunRecord  # noqa: F401 - the record moved to the core; imported from here too


class RunsDock(QtWidgets.QWidget):
    """The list of runs: select one to show it, two or more to overlay them; double-click to rename."""

    selectionChanged = QtCore.Signal(list)  # [RunRecord]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list[RunRecord] = []
        self._numbers = itertools.count(1)  # run numbers are never reused in a session, even after a delete
        self._deleted: list[tuple[int, RunRecord]] = []  # the last delete, for Undo: (position, record)
        self.list = QtWidgets.QListWidget()
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._emit)
        self.list.itemChanged.connect(self._renamed)
        self.delete_btn = QtWidgets.QPushButton("Delete")
        self.delete_btn.clicked.connect(self.delete_selected)
        self.delete_btn.setToolTip("Delete the selected runs (Delete key); Undo brings them back")
        QtGui.QShortcut(QtGui.QKeySequence.StandardKey.Delete, self.list, self.delete_selected,
                        context=QtCore.Qt.ShortcutContext.WidgetShortcut)
        self.undo_btn = QtWidgets.QPushButton("Undo delete")
        self.undo_btn.clicked.connect(self.undo_delete)
        self.undo_btn.setVisible(False)
        QtGui.QShortcut(QtGui.QKeySequence.StandardKey.Undo, self, self.undo_delete,
                        context=QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.compare_btn = QtWidgets.QPushButton("Compare with one change…")
        hint = QtWidgets.QLabel("Select two or more runs (Ctrl+click, Shift+click) to overlay them; double-click "
                                "to rename; Delete removes the selected runs.")
        hint.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.compare_btn)
        row.addWidget(self.delete_btn)
        lay.addLayout(row)
        lay.addWidget(self.undo_btn)
        lay.addWidget(hint)

    def pick_to_compare(self, parent=None) -> None:
        """A checklist of the runs (the Compare tab's Pick runs…: presentation mode hides this list); the runs
        ticked are selected here, which shows them."""
        dlg = QtWidgets.QDialog(parent or self)
        dlg.setWindowTitle("Compare runs")
        lst = QtWidgets.QListWidget()
        chosen = set(r.id for r in self.selected())
        for r in self.records:
            it = QtWidgets.QListWidgetItem(r.label())
            it.setData(QtCore.Qt.ItemDataRole.UserRole, r.id)
            it.setFlags(it.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(QtCore.Qt.CheckState.Checked if r.id in chosen else QtCore.Qt.CheckState.Unchecked)
            lst.addItem(it)
        box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(dlg.accept)
        box.rejected.connect(dlg.reject)
        lay = QtWidgets.QVBoxLayout(dlg)
        lay.addWidget(QtWidgets.QLabel("Tick the runs to compare (two or more):" if self.records else
                                       "No runs yet: train one (Train), or open a saved run (File › Open run…)."))
        lay.addWidget(lst)
        lay.addWidget(box)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            ids = {lst.item(i).data(QtCore.Qt.ItemDataRole.UserRole) for i in range(lst.count())
                   if lst.item(i).checkState() == QtCore.Qt.CheckState.Checked}
            self.select([r for r in self.records if r.id in ids])

    def next_number(self) -> int:
        """The number of the next run ("Run 7"): one more than any so far, deleted runs included."""
        return next(self._numbers)

    def unique_name(self, name: str, rec: RunRecord | None = None) -> str:
        """name, or "name (2)", "name (3)", ... when another run already has it (overlays key curves by name)."""
        taken = {r.name for r in self.records if r is not rec}
        out, k = name, 2
        while out in taken:
            out, k = f"{name} ({k})", k + 1
        return out

    def opened(self, path: str) -> RunRecord | None:
        """The record of a run already opened from this file (a second click on a sweep point opens no copy)."""
        import os

        real = os.path.realpath(path)
        return next((r for r in self.records if r.source == real and not r.followed), None)

    def add(self, rec: RunRecord, select: bool = True, row: int | None = None) -> None:
        if any(r is rec for r in self.records):  # the same record (not an equal one: a dataclass compares fields)
            return
        rec.name = self.unique_name(rec.name, rec)
        row = len(self.records) if row is None else row
        self.records.insert(row, rec)
        item = QtWidgets.QListWidgetItem(rec.label())
        item.setData(QtCore.Qt.ItemDataRole.UserRole, rec.id)
        item.setToolTip(rec.summary())
        item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable)
        self.list.blockSignals(True)
        self.list.insertItem(row, item)
        self.list.blockSignals(False)
        if select:
            self.list.clearSelection()
            item.setSelected(True)

    def select(self, recs: list[RunRecord], emit: bool = True) -> None:
        ids = {r.id for r in recs}
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            it = self.list.item(i)
            it.setSelected(it.data(QtCore.Qt.ItemDataRole.UserRole) in ids)
        self.list.blockSignals(False)
        if emit:
            self._emit()
        else:
            self._update_buttons()

    def refresh(self, rec: RunRecord) -> None:
        it = self._item(rec)
        if it is not None:
            self.list.blockSignals(True)
            it.setText(rec.label())
            it.setToolTip(rec.summary())
            self.list.blockSignals(False)

    def selected(self) -> list[RunRecord]:
        ids = [it.data(QtCore.Qt.ItemDataRole.UserRole) for it in self.list.selectedItems()]
        return [r for r in self.records if r.id in ids]

    def delete_selected(self) -> None:
        """Delete the selected runs (a training run stays); Undo delete brings back the last ones deleted."""
        gone = [(self.records.index(r), r) for r in self.selected() if r.status != RunStatus.RUNNING]
        if not gone:
            return
        for _, rec in gone:
            self.records.remove(rec)
            self.list.takeItem(self.list.row(self._item(rec)))
        self._deleted = gone
        n = len(gone)
        self.undo_btn.setText(f"Undo delete ({gone[0][1].name})" if n == 1 else f"Undo delete ({n} runs)")
        self.undo_btn.setVisible(True)
        self._emit()

    def undo_delete(self) -> None:
        if not self._deleted:
            return
        back, self._deleted = self._deleted, []
        for row, rec in back:  # in their old places, in the order they had
            self.add(rec, select=False, row=min(row, len(self.records)))
        self.undo_btn.setVisible(False)
        self.select([r for _, r in back])

    def rename(self, rec: RunRecord, name: str) -> None:
        """As a double-click and typing do (a name another run has gets " (2)")."""
        item = self._item(rec)
        if item is not None:
            item.setText(name)

    def _item(self, rec: RunRecord):
        for i in range(self.list.count()):
            if self.list.item(i).data(QtCore.Qt.ItemDataRole.UserRole) == rec.id:
                return self.list.item(i)
        return None

    def _renamed(self, item) -> None:
        rec = next((r for r in self.records if r.id == item.data(QtCore.Qt.ItemDataRole.UserRole)), None)
        if rec is None:
            return
        text = item.text().split(" — ")[0].strip()
        if text:
            rec.name = self.unique_name(text, rec)
        self.refresh(rec)
        self._emit()

    def _update_buttons(self) -> None:
        running = any(r.status == RunStatus.RUNNING for r in self.selected())
        self.delete_btn.setEnabled(bool(self.selected()) and not running)

    def _emit(self) -> None:
        self._update_buttons()
        self.selectionChanged.emit(self.selected())


CHANGES = ("gain", "output scaling", "BatchNorm", "init scheme", "learning rate", "depth")


def with_change(cfg: Config, what: str, value) -> tuple[Config, str]:
    """A copy of cfg with one setting changed, and a short label for it."""
    c = cfg.copy()
    if what == "gain":
        c.init = replace(c.init, gain=float(value))
        return c, f"gain {float(value):.3g}"
    if what == "output scaling":
        c.init = replace(c.init, output_scaling=bool(value))
        return c, f"output scaling {'on' if value else 'off'}"
    if what == "BatchNorm":
        layers = set_batchnorm(c.model.layers, bool(value))
        for i, s in enumerate(layers):
            if s.kind == "linear":
                s.bias = not (i + 1 < len(layers) and layers[i + 1].kind == "batchnorm")
        c.model = replace(c.model, layers=layers)
        return c, f"BatchNorm {'on' if value else 'off'}"
    if what == "init scheme":
        c.init = replace(c.init, scheme=str(value))
        return c, f"{value} init"
    if what == "learning rate":
        c.train = replace(c.train, lr=float(value))
        return c, f"lr {float(value):g}"
    if what == "depth":
        width = next((s.width for s in c.model.layers if s.kind == "linear" and s.width), 100)
        act = next((t.kind for s in c.model.layers for t in (s.layers or [s]) if t.kind in ACTIVATIONS), "tanh")
        c.model = replace(c.model, layers=deep_stack(int(value), width, activation=act, norm=stack_norm(c.model.layers),
                                                     residual=any(s.kind == "residual" for s in c.model.layers)))
        return c, f"depth {int(value)}"
    raise ValueError(what)


class CompareDialog(QtWidgets.QDialog):
    """Pick one setting to flip; the pair trains with the same seed and the same minibatches."""

    def __init__(self, cfg: Config, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Compare with one change")
        self.cfg = cfg
        self.what = QtWidgets.QComboBox()
        self.what.addItems(CHANGES)
        self.gain = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0.0, maximum=100.0, singleStep=0.1)
        self.gain.setValue(1.0 if abs(cfg.init.gain - 1.0) > 1e-6 else 5 / 3)
        self.onoff = QtWidgets.QCheckBox("on")
        self.scheme = QtWidgets.QComboBox()
        self.scheme.addItems([k for k in SCHEMES if k != cfg.init.scheme])  # a change: every scheme but A's
        self.lr = QtWidgets.QDoubleSpinBox(decimals=4, minimum=0.0, maximum=1000.0, singleStep=0.01)
        self.lr.setValue(cfg.train.lr * 10)
        self.depth = QtWidgets.QSpinBox(minimum=1, maximum=20)
        self.depth.setValue(10)
        self.stack = QtWidgets.QStackedWidget()
        for w in (self.gain, self.onoff, self.onoff_bn(), self.scheme, self.lr, self.depth):
            self.stack.addWidget(w)
        self.what.currentIndexChanged.connect(self._picked)
        self._picked(0)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Train the pair")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QtWidgets.QFormLayout(self)
        form.addRow(QtWidgets.QLabel("A is the current settings; B is A with one change. Both train with the same "
                                     "seed and the very same minibatches."))
        form.addRow("change", self.what)
        form.addRow("B's value", self.stack)
        form.addRow(buttons)

    @classmethod
    def ask(cls, cfg: Config, vocab_size: int, parent=None) -> tuple[Config, str] | None:
        """Show the dialog; (B's config, a label for the change), or None when cancelled. An invalid B is a
        message and the dialog again."""
        from initscope.core.errors import UserError

        dlg = cls(cfg, parent)
        while dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            cfg_b, label = dlg.change()
            try:
                cfg_b.model.resolve(vocab_size)  # validate_stack, then the widths
                return cfg_b, label
            except UserError as e:
                QtWidgets.QMessageBox.warning(parent, "Compare with one change", f"B is not a valid network: {e}")
        return None

    def onoff_bn(self) -> QtWidgets.QCheckBox:
        self.bn = QtWidgets.QCheckBox("on")
        self.bn.setChecked(not self.cfg.has_batchnorm)
        self.onoff.setChecked(not self.cfg.init.output_scaling)
        return self.bn

    def _picked(self, i: int) -> None:
        self.stack.setCurrentIndex(i)

    def value(self):
        i = self.what.currentIndex()
        return [self.gain.value(), self.onoff.isChecked(), self.bn.isChecked(), self.scheme.currentText(),
                self.lr.value(), self.depth.value()][i]

    def change(self) -> tuple[Config, str]:
        return with_change(self.cfg, self.what.currentText(), self.value())
