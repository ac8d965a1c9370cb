"""Names sampled from a trained model, with "Sample 20 more" and Close."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class SamplesDialog(QtWidgets.QDialog):
    moreRequested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Names sampled from the model")
        self.text = QtWidgets.QPlainTextEdit(readOnly=True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.again = buttons.addButton("Sample 20 more", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.again.clicked.connect(self.moreRequested)
        buttons.rejected.connect(self.close)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.resize(320, 440)

    def show_names(self, names: list[str]) -> None:
        self.text.setPlainText("\n".join(names))
        self.show()
        self.raise_()
