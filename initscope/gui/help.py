"""Explanations in the app: a "?" on each panel, What's This, and the Help menu (how to read initscope,
the keyboard shortcuts, About).

The texts live in resources/help/KEY.md, one Markdown file per panel, not in code. Each says what the
panel shows, how it is computed, what healthy looks like and what the lecture says. The shortcut list
is built at run time from the window's own actions, so it cannot drift from them.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.assets import asset_path

# panel key -> title; resources/help/KEY.md holds its text
PANELS: dict[str, str] = {
    "loss": "Loss",
    "saturation-tanh": "Tanh saturation",
    "saturation-relu": "ReLU: zero outputs",
    "saturation-any": "Saturation of any activation (initscope.watch)",
    "saturation-gelu": "GELU / SiLU / sigmoid saturation",
    "activations": "Activations",
    "gradients": "Gradients at each layer's output",
    "grad-data": "grad:data per weight matrix",
    "update-data": "update:data per weight matrix",
    "weight-gradients": "Weight gradients",
    "gain-sweep": "Gain sweep",
    "depth-sweep": "Depth sweep",
    "dead-neurons": "Dead-neuron map",
    "batchnorm-five-points": "BatchNorm in five points",
    "compare-runs": "Compare runs",
    "train-sweep": "Train sweep",
    "width-check": "Width: standard vs muP",
    "heatmaps": "Time: histograms over time, as heatmaps",
    "scrubber": "The time scrubber",
}
HOW_TO_READ = "how-to-read"


def help_dir() -> Path:
    return asset_path("resources", "help")


def help_path(key: str) -> Path:
    if key not in PANELS and key != HOW_TO_READ:
        raise KeyError(f"no help topic {key!r}; known: {', '.join([*PANELS, HOW_TO_READ])}")
    return help_dir() / f"{key}.md"


def help_text(key: str) -> str:
    """The Markdown text of a panel (or of "how-to-read"). A missing file gives a one-line note, not an error:
    an install without its resources should still open the window."""
    path = help_path(key)
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"# {PANELS.get(key, key)}\n\nThe help text is missing from this installation ({path})."


def markdown_to_html(text: str) -> str:
    doc = QtGui.QTextDocument()
    doc.setMarkdown(text)
    return doc.toHtml()


# --- dialogs ----------------------------------------------------------------------------------------------
class HelpDialog(QtWidgets.QDialog):
    """A Markdown page with a Close button; not modal, so it can stay open beside the panels."""

    def __init__(self, title: str, markdown: str, parent: QtWidgets.QWidget | None = None, lines: int = 38):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.browser = QtWidgets.QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(markdown)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        self.close_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Close)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)
        # sized in characters and lines of the dialog's font, so presentation mode scales it too
        fm = self.fontMetrics()
        self.resize(fm.horizontalAdvance("x") * 92, fm.lineSpacing() * lines)

    def text(self) -> str:
        return self.browser.toPlainText()


def _window_of(widget: QtWidgets.QWidget | None) -> QtWidgets.QWidget | None:
    return widget.window() if widget is not None else None


def show_help(key: str, parent: QtWidgets.QWidget | None = None) -> HelpDialog:
    """Open (or raise) the help page of a panel. One dialog per topic and parent window."""
    owner = _window_of(parent)
    dialogs = getattr(owner, "_initscope_help", None) if owner is not None else None
    if owner is not None and dialogs is None:
        dialogs = owner._initscope_help = {}
    dlg = dialogs.get(key) if dialogs is not None else None
    if dlg is None:
        title = "How to read initscope" if key == HOW_TO_READ else f"{PANELS[key]}: help"
        dlg = HelpDialog(title, help_text(key), owner)
        if dialogs is not None:
            dialogs[key] = dlg
    dlg.show()
    dlg.raise_()
    return dlg


def help_button(key: str, parent: QtWidgets.QWidget | None = None) -> QtWidgets.QToolButton:
    """A small "?" button that opens the panel's help. Put it in the panel's header (or over its corner)."""
    help_path(key)  # an unknown key fails now, at wiring time, not when someone clicks
    b = QtWidgets.QToolButton(parent)
    b.setText("?")
    b.setAutoRaise(True)
    b.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
    b.clicked.connect(lambda: show_help(b.help_key, b))  # read at click time: set_help_key can change it
    set_help_key(b, key)
    return b


def set_help_key(button: QtWidgets.QToolButton, key: str) -> None:
    """Point a "?" button at another topic (the saturation panel switches between tanh and ReLU)."""
    help_path(key)
    button.help_key = key
    button.setToolTip(f"What does “{PANELS[key]}” show? (formula, what healthy looks like, the lecture)")
    button.setAccessibleName(f"Help: {PANELS[key]}")
    if getattr(button, "sets_whats_this", False) and button.parentWidget() is not None:
        set_whats_this(button.parentWidget(), key)


class _KeepInCorner(QtCore.QObject):
    """Keeps a child button in its parent's top-right corner as the parent resizes."""

    def __init__(self, button: QtWidgets.QAbstractButton, margin: int):
        super().__init__(button)
        self.button, self.margin = button, margin

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QtCore.QEvent.Type.Resize, QtCore.QEvent.Type.Show):
            self.place()
        return False

    def place(self) -> None:
        b, p = self.button, self.button.parentWidget()
        b.adjustSize()
        b.move(p.width() - b.width() - self.margin, self.margin)
        b.raise_()


def corner_help_button(panel: QtWidgets.QWidget, key: str, margin: int = 2) -> QtWidgets.QToolButton:
    """A "?" floating in the panel's top-right corner (one line to wire per panel), and What's This."""
    b = help_button(key, panel)
    b.sets_whats_this = True
    set_whats_this(panel, key)
    keeper = _KeepInCorner(b, margin)
    panel.installEventFilter(keeper)
    keeper.place()
    if isinstance(panel, HelpCornerRoom) and getattr(panel, "corner_layout", None) is not None:
        panel.reserve_corner()
    return b


class HelpCornerRoom:
    """For a view with one floating "?" (gui.help.corner_help_button) in its top-right corner: its top row
    (`corner_layout`: plots, a button bar or a form) ends short of the "?", so it never sits on a title or a
    field. The room follows the font (presentation mode)."""

    corner_layout: QtWidgets.QLayout

    def reserve_corner(self) -> None:
        b = next((c for c in self.findChildren(QtWidgets.QToolButton, options=QtCore.Qt.FindChildOption.FindDirectChildrenOnly)
                  if getattr(c, "help_key", None)), None)
        self.corner_layout.setContentsMargins(0, 0, b.sizeHint().width() + 2 if b is not None else 0, 0)

    def put_bar_above(self, bar: QtWidgets.QBoxLayout) -> None:
        """A button bar above the plots, the "?" at its right end."""
        self.layout().insertLayout(0, bar)
        self.corner_layout = bar
        self.reserve_corner()

    def changeEvent(self, ev: QtCore.QEvent) -> None:
        super().changeEvent(ev)
        if ev.type() == QtCore.QEvent.Type.FontChange:
            QtCore.QTimer.singleShot(0, self.reserve_corner)  # once the button has its new font too


def set_whats_this(widget: QtWidgets.QWidget, key: str) -> None:
    """Shift+F1 / the What's This pointer on the widget shows the panel's help text."""
    widget.setWhatsThis(markdown_to_html(help_text(key)))


# --- shortcuts --------------------------------------------------------------------------------------------
Shortcutted = QtGui.QAction | QtWidgets.QAbstractButton


def shortcut_rows(items: Iterable[Shortcutted]) -> list[tuple[str, str]]:
    """(what, keys) for every action or button that has a shortcut, in the given order, without repeats.

    Keys are in the platform's native text (Ctrl+Return, ⌘↩ on macOS)."""
    rows: list[tuple[str, str]] = []
    seen = set()
    for it in items:
        if isinstance(it, QtGui.QAction):
            keys = it.shortcuts()
        else:
            keys = [it.shortcut()]
        text = ", ".join(k.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for k in keys if not k.isEmpty())
        if not text:
            continue
        what = it.text().replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".…").strip()
        if (what, text) not in seen:
            seen.add((what, text))
            rows.append((what, text))
    return rows


def shortcuts_markdown(items: Iterable[Shortcutted]) -> str:
    rows = shortcut_rows(items)
    lines = ["# Keyboard shortcuts", ""]
    if not rows:
        return "\n".join(lines + ["No shortcuts are defined."])
    lines += ["| Shortcut | Action |", "| --- | --- |"]
    for what, keys in rows:
        what, keys = (t.replace("|", r"\|") for t in (what, keys))  # a "|" would end the table cell
        lines.append(f"| {keys} | {what} |")
    return "\n".join(lines) + "\n"


# --- about ------------------------------------------------------------------------------------------------
def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of initscope and what it runs on. torch is not imported for this (it takes a second or
    more): its version comes from the installed metadata unless it is already loaded."""
    import pyqtgraph
    import PySide6

    import initscope

    torch = sys.modules.get("torch")
    return {
        "initscope": initscope.__version__,
        "torch": getattr(torch, "__version__", None) or _dist_version("torch"),
        "Qt": QtCore.qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pyqtgraph.__version__,
        "numpy": _dist_version("numpy"),
        "Python": platform.python_version(),
    }


def about_markdown() -> str:
    v = versions()
    rows = "\n".join(f"| {k} | {val} |" for k, val in v.items())
    return (f"# initscope {v['initscope']}\n\n"
            "See what weight initialisation and BatchNorm do to a neural network, layer by layer, "
            "before and while it trains. Built around Andrej Karpathy's *makemore part 3* lecture "
            "(Activations & Gradients, BatchNorm).\n\n"
            f"| Component | Version |\n| --- | --- |\n{rows}\n\nLicence: MIT.\n")


# --- the Help menu ----------------------------------------------------------------------------------------
def build_help_menu(menu_bar: QtWidgets.QMenuBar, parent: QtWidgets.QWidget,
                    shortcuts: Callable[[], Iterable[Shortcutted]] | None = None) -> QtWidgets.QMenu:
    """Add a Help menu: How to read initscope (F1), one page per panel, Keyboard shortcuts, About.

    `shortcuts` returns the actions and buttons to list, when the list is opened (so actions added
    later are in it); by default every QAction of `parent`."""
    menu = menu_bar.addMenu("&Help")
    read = menu.addAction("How to read initscope", lambda: show_help(HOW_TO_READ, parent))
    read.setShortcut(QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.HelpContents))
    panels = menu.addMenu("Panels")
    for key, title in PANELS.items():
        panels.addAction(title, lambda k=key: show_help(k, parent))
    menu.addAction("Keyboard shortcuts", lambda: show_shortcuts(parent, shortcuts))
    menu.addSeparator()
    menu.addAction("About initscope", lambda: show_about(parent))
    return menu


def show_shortcuts(parent: QtWidgets.QWidget | None,
                   shortcuts: Callable[[], Iterable[Shortcutted]] | None = None) -> HelpDialog:
    items = shortcuts() if shortcuts else (parent.findChildren(QtGui.QAction) if parent else [])
    dlg = HelpDialog("Keyboard shortcuts", shortcuts_markdown(items), _window_of(parent))
    dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg


def show_about(parent: QtWidgets.QWidget | None) -> HelpDialog:
    dlg = HelpDialog("About initscope", about_markdown(), _window_of(parent), lines=22)
    dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg
