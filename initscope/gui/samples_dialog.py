"""Words (names, for names.txt) sampled from a trained run, with "Sample 20 more" (from the run's weights, in the trainer) and Close."""

from __future__ import annotations

from PySide6 import QtWidgets


class SamplesDialog(QtWidgets.QDialog):
    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Names sampled from the model")
        self.controller = controller
        self.rec = None  # the run whose names are shown
        self.text = QtWidgets.QPlainTextEdit(readOnly=True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.again = buttons.addButton("Sample 20 more", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.again.clicked.connect(self.more)
        buttons.rejected.connect(self.close)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.resize(320, 440)
        controller.samplesReady.connect(self._arrived)

    def show_run(self, rec) -> None:
        """The names the run sampled when it ended."""
        self.rec = rec
        # the words of the run's own list: "names" only for the lecture's names.txt
        src = (rec.data_path or "").replace("\\", "/").rsplit("/", 1)[-1] or "names.txt"
        kind = "Names" if src == "names.txt" else f"Words (like {src})"
        self.setWindowTitle(f"{kind} sampled from {rec.name}")
        self._show(rec.result.samples)

    def more(self) -> None:
        if self.rec is not None and self.rec.has_weights and not self.controller.training:
            self.controller.sample(self.rec)

    def _arrived(self, names: list) -> None:
        if self.rec is not None:
            self.rec.result.samples = names
        self._show(names)

    def _show(self, names: list[str]) -> None:
        self.text.setPlainText("\n".join(names))
        self.show()
        self.raise_()
