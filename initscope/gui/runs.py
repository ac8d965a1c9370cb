"""Every run of the session, kept for comparison: the Runs dock and the "Compare with one change" dialog.

A finished run keeps its whole loss curve (4 bytes a step), its snapshot rows (at most History.max_rows),
its step-0 and latest snapshots and its weights (4 bytes a parameter): about 4 MB per million steps plus
~1 MB, whatever its length. Delete runs you no longer need.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from PySide6 import QtCore, QtWidgets

from initscope.core.config import (ACTIVATIONS, SCHEMES, Config, deep_stack, flat_kinds, set_batchnorm,
                                   stack_norm)
from initscope.core.history import History

_ids = itertools.count(1)
DONE = ("finished", "stopped", "diverged", "failed", "interrupted")


@dataclass
class RunRecord:
    """What the window shows: a run (training or done), a run opened from a file, or the init preview of the
    current settings (status "preview", never in the Runs list), or an invalid stack (status "invalid").
    Every panel, the status bar and the hint strip render from the shown record(s) and nothing else."""

    name: str
    cfg: Config
    history: History
    status: str = "running"  # preview | invalid | running | finished | stopped | diverged | failed
    result: dict = field(default_factory=dict)  # message, steps, losses, samples, state (numpy weights)
    data_path: str = ""
    vocab: tuple = ()
    from_file: bool = False
    id: int = field(default_factory=lambda: next(_ids))
    progress: object = None  # the latest Progress of a training run (step, total, lr, speed)
    message: str = ""  # why a stack is invalid, or how a run failed
    n_params: int = 0
    # a run watched in its user's own loop (initscope.watch): its layers and parameters; cfg is then only a
    # placeholder (name, steps) and nothing derived from the app's layer stack (theory, presets) applies
    model: object = None
    followed: str = ""  # the file a followed run is read from

    @property
    def watched(self) -> bool:
        return self.model is not None

    @property
    def block_of(self) -> dict:
        from initscope.gui.panels import blocks, watched_blocks

        if self.model is not None:
            return watched_blocks(self.model)
        return blocks(flat_kinds(self.cfg.model.layers))

    @property
    def total_steps(self) -> int:
        """The run's planned length (the step axes' extent): a watched run's is what it has done so far."""
        return max(len(self.history.loss), 1) if self.model is not None else self.cfg.train.steps

    @property
    def layer_kinds(self) -> list[str] | None:
        """Kinds of the history's layer columns, for a watched run (the app's names carry their kind)."""
        return [k for _, k, _ in self.model.layers] if self.model is not None else None

    @property
    def steps_done(self) -> int:
        return len(self.history.loss)

    @property
    def is_preview(self) -> bool:
        return self.status in ("preview", "invalid")

    def finish(self, status: str, result: dict) -> None:
        self.status, self.result = status, result
        while len(self.history.recent) > 1:  # a finished run keeps step 0 and its latest snapshot
            self.history.recent.popleft()

    def label(self) -> str:
        val = self.result.get("losses", {}).get("val")
        tail = f" · val {val:.4f}" if isinstance(val, float) else ""
        return f"{self.name} — {self.status}{tail}"

    def summary(self) -> str:
        if self.model is not None:
            m = self.model
            return (f"{m.cls}: {len(m.layers)} layers, {sum(_numel(s) for _, s in m.params):,} trainable parameters\n"
                    f"watched in its own training loop{' (' + self.followed + ')' if self.followed else ''}")
        c = self.cfg
        losses = self.result.get("losses", {})
        final = ("\n" + ", ".join(f"{k} {v:.4f}" for k, v in losses.items())) if losses else ""
        return (f"{' → '.join(s.label() for s in c.model.layers)}\n{c.init.scheme}, gain {c.init.gain:.3g}, "
                f"output x{c.init.output_factor if c.init.output_scaling else 1:g}; lr {c.train.lr:g}, "
                f"{c.train.steps:,} steps, seed {c.train.seed}{final}")


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class RunsDock(QtWidgets.QWidget):
    """The list of runs: select one to show it, two or more to overlay them; double-click to rename."""

    selectionChanged = QtCore.Signal(list)  # [RunRecord]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list[RunRecord] = []
        self.list = QtWidgets.QListWidget()
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._emit)
        self.list.itemChanged.connect(self._renamed)
        self.delete_btn = QtWidgets.QPushButton("Delete")
        self.delete_btn.clicked.connect(self.delete_selected)
        self.compare_btn = QtWidgets.QPushButton("Compare with one change…")
        hint = QtWidgets.QLabel("Select two or more runs (Ctrl+click) to overlay them; double-click to rename.")
        hint.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.compare_btn)
        row.addWidget(self.delete_btn)
        lay.addLayout(row)
        lay.addWidget(hint)

    def add(self, rec: RunRecord, select: bool = True) -> None:
        self.records.append(rec)
        item = QtWidgets.QListWidgetItem(rec.label())
        item.setData(QtCore.Qt.ItemDataRole.UserRole, rec.id)
        item.setToolTip(rec.summary())
        item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable)
        self.list.blockSignals(True)
        self.list.addItem(item)
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
        for rec in self.selected():
            if rec.status == "running":
                continue
            self.records.remove(rec)
            self.list.takeItem(self.list.row(self._item(rec)))
        self._emit()

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
            rec.name = text
        self.refresh(rec)
        self._emit()

    def _update_buttons(self) -> None:
        running = any(r.status == "running" for r in self.selected())
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
