"""Help in the app: a text for every panel (with the numbers the code really uses), the "?" button and
What's This, the shortcut list built from the window's actions, About with the versions."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pyqtgraph
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.config import TANH_GAIN, DiagConfig, InitConfig
from initscope.core.hints import DEFAULT_THRESHOLDS as TH
from initscope.gui import help as ghelp

SECTIONS = ("**What it shows.**", "**How it is computed.**", "**What healthy looks like.**",
            "**What the lecture says.**")


def test_every_panel_has_a_help_file_with_all_four_parts():
    for key in ghelp.PANELS:
        path = ghelp.help_path(key)
        assert path.is_file(), f"missing {path}"
        text = path.read_text(encoding="utf-8")
        for s in SECTIONS:
            assert s in text, f"{path.name} lacks {s}"
    shipped = {p.stem for p in ghelp.help_dir().glob("*.md")}
    assert shipped == set(ghelp.PANELS) | {ghelp.HOW_TO_READ}  # no text that no panel shows
    assert "# How to read initscope" in ghelp.help_text(ghelp.HOW_TO_READ)


def test_texts_quote_the_numbers_the_code_uses():
    """If a threshold in core/hints.py or a default in core/config.py changes, the text must change too."""
    t = {k: ghelp.help_text(k) for k in ghelp.PANELS}
    thr = DiagConfig().saturation_threshold
    assert f"> {thr:g}" in t["saturation-tanh"] and f"> {thr:g}" in t["dead-neurons"]
    assert f"{1 - thr ** 2:.2f}" in t["saturation-tanh"]  # tanh' = 1 - t² at the threshold
    assert f"**{TH.saturation:.0%}**" in t["saturation-tanh"]
    assert f"**{TH.collapse_std:g}**" in t["activations"]
    assert f"**{TH.update_high:g}**" in t["update-data"] and f"**{TH.update_low:g}**" in t["update-data"]
    assert f"**{TH.output_settle_steps:,} steps**" in t["update-data"]
    assert f"**{TH.dead_fraction:.0%}**" in t["dead-neurons"] and f"**{TH.dead_fraction:.0%}**" in t["saturation-relu"]
    assert "more than 1.0 above" in t["loss"] and TH.init_loss_excess == 1.0
    assert f"**{math.log(27):.2f}**" in t["loss"]
    assert f"{DiagConfig().hist_bins} equal bins" in t["activations"]
    assert "log10( std(lr x W.grad) / std(W) )" in t["update-data"]  # log10, as diagnostics.collect computes
    assert "std(W.grad) / std(W)" in t["grad-data"]
    assert TANH_GAIN == 5 / 3 and "5/3" in t["saturation-tanh"]
    assert f"x{InitConfig().output_factor:g}" in t["loss"]
    assert "1e-5" in t["batchnorm-five-points"]  # initscope.core.bn_points.EPS, BatchNorm1d's default
    from initscope.core import kinds

    # every saturation rule of core/kinds.py, with its numbers
    assert f"`|out| > {thr:g}`" in t["saturation-any"] and f"**{1 - thr:.2f}**" in t["saturation-any"]
    assert f"**{kinds.TAIL_INPUT:g}**" in t["saturation-any"] and "`out <= 0`" in t["saturation-any"]
    assert kinds.describe("sigmoid", thr) == f"out within {1 - thr:.2g} of 0 or 1"


def test_unknown_topic_is_refused():
    with pytest.raises(KeyError, match="no help topic"):
        ghelp.help_path("nonsense")
    with pytest.raises(KeyError):
        ghelp.help_button("nonsense")


def test_question_button_opens_the_panel_help_with_a_close_button(qtbot):
    panel = QtWidgets.QWidget()
    qtbot.addWidget(panel)
    b = ghelp.help_button("update-data", panel)
    panel.show()
    assert b.text() == "?"
    qtbot.mouseClick(b, QtCore.Qt.MouseButton.LeftButton)
    dlg = panel._initscope_help["update-data"]
    assert dlg.isVisible()
    assert "update:data" in dlg.windowTitle()
    assert "How it is computed." in dlg.text() and "log10" in dlg.text()
    qtbot.mouseClick(b, QtCore.Qt.MouseButton.LeftButton)
    assert panel._initscope_help["update-data"] is dlg  # raised again, not a second copy
    qtbot.mouseClick(dlg.close_button, QtCore.Qt.MouseButton.LeftButton)
    assert not dlg.isVisible()


def test_whats_this_carries_the_text(qtbot):
    w = QtWidgets.QLabel("grad:data")
    qtbot.addWidget(w)
    ghelp.set_whats_this(w, "grad-data")
    assert "std(W.grad) / std(W)" in QtGui.QTextDocumentFragment.fromHtml(w.whatsThis()).toPlainText()


def _window(qtbot):
    win = QtWidgets.QMainWindow()
    qtbot.addWidget(win)
    train = QtGui.QAction("&Train", win, shortcut=QtGui.QKeySequence("Ctrl+Return"))
    stop = QtGui.QAction("Stop", win, shortcut=QtGui.QKeySequence("Ctrl+."))
    plain = QtGui.QAction("Export panels…", win)  # no shortcut: not listed
    win.addActions([train, stop, plain])
    nxt = QtWidgets.QPushButton("Next", win)
    nxt.setShortcut(QtGui.QKeySequence("Ctrl+PgDown"))
    return win, [train, stop, plain], nxt


def test_shortcut_rows_come_from_actions_and_buttons(qtbot):
    _, acts, nxt = _window(qtbot)
    rows = ghelp.shortcut_rows([*acts, nxt, acts[0]])
    native = QtGui.QKeySequence.SequenceFormat.NativeText
    assert rows == [("Train", QtGui.QKeySequence("Ctrl+Return").toString(native)),
                    ("Stop", QtGui.QKeySequence("Ctrl+.").toString(native)),
                    ("Next", QtGui.QKeySequence("Ctrl+PgDown").toString(native))]
    md = ghelp.shortcuts_markdown([*acts, nxt])
    assert md.count("\n| ") == 2 + 3 and "| Ctrl+Return | Train |" in md and "Export panels" not in md


def test_help_menu_lists_shortcuts_at_open_time_and_about(qtbot):
    win, _, nxt = _window(qtbot)
    menu = ghelp.build_help_menu(win.menuBar(), win, lambda: [*win.actions(), nxt])
    titles = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert titles == ["How to read initscope", "Panels", "Keyboard shortcuts", "About initscope"]
    panels = next(a.menu() for a in menu.actions() if a.text() == "Panels")
    assert [a.text() for a in panels.actions()] == list(ghelp.PANELS.values())
    later = QtGui.QAction("Reset", win, shortcut=QtGui.QKeySequence("Ctrl+R"))
    win.addAction(later)  # added after the menu was built: still listed
    win.show()

    next(a for a in menu.actions() if a.text() == "Keyboard shortcuts").trigger()
    dlg = next(d for d in win.findChildren(ghelp.HelpDialog) if d.windowTitle() == "Keyboard shortcuts")
    text = dlg.text()
    for what in ("Train", "Stop", "Next", "Reset"):
        assert what in text
    assert "Export panels" not in text
    dlg.close_button.click()

    next(a for a in menu.actions() if a.text() == "About initscope").trigger()
    about = next(d for d in win.findChildren(ghelp.HelpDialog) if d.windowTitle() == "About initscope")
    import torch  # the test may import it; the app does not have to (see the next test)

    import initscope

    for v in (initscope.__version__, torch.__version__, QtCore.qVersion(), pyqtgraph.__version__):
        assert v in about.text()
    assert about.close_button is not None

    read = next(a for a in menu.actions() if a.text() == "How to read initscope")
    assert read.shortcut() == QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.HelpContents)
    read.trigger()
    assert "init preview" in win._initscope_help[ghelp.HOW_TO_READ].text()


def test_versions_do_not_import_torch():
    code = ("import sys; from initscope.gui.help import versions; v = versions(); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(v['torch'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    import torch

    assert out.stdout.strip() == torch.__version__


def test_corner_button_follows_the_panel_corner(qtbot):
    panel = QtWidgets.QWidget()
    qtbot.addWidget(panel)
    panel.resize(300, 200)
    b = ghelp.corner_help_button(panel, "loss")
    panel.show()
    qtbot.waitExposed(panel)
    assert b.geometry().right() == panel.width() - 1 - 2 and b.y() == 2
    panel.resize(500, 260)
    qtbot.waitUntil(lambda: b.geometry().right() == 500 - 1 - 2)
    assert "ln 27" in QtGui.QTextDocumentFragment.fromHtml(panel.whatsThis()).toPlainText()


def test_help_key_can_change(qtbot):
    """The saturation panel shows tanh or ReLU help depending on the stack."""
    panel = QtWidgets.QWidget()
    qtbot.addWidget(panel)
    b = ghelp.corner_help_button(panel, "saturation-tanh")
    panel.show()
    ghelp.set_help_key(b, "saturation-relu")
    assert "ReLU" in b.toolTip()
    assert "== 0" in QtGui.QTextDocumentFragment.fromHtml(panel.whatsThis()).toPlainText()
    b.click()
    dlg = panel._initscope_help["saturation-relu"]
    assert dlg.isVisible() and "zero" in dlg.text()
    with pytest.raises(KeyError):
        ghelp.set_help_key(b, "nonsense")
