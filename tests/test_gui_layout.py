"""Layouts that hold: at 1024x700, 1366x768 and 1920x1080, with and without presentation mode, on every tab,
with a preview, a trained run and two runs overlaid, no visible widget is cut by its parent, smaller than it
needs, or a plot squeezed below its layout's minimum (gui.layout_check walks the whole widget tree)."""

import pytest
from PySide6 import QtWidgets

from initscope.core.config import preset
from initscope.gui.layout_check import clipped_widgets

SIZES = [(1024, 700), (1366, 768), (1920, 1080)]


def settle(qtbot, ms=150):
    qtbot.wait(ms)


def check_all(d, qtbot, label):
    w = d.window
    problems = []
    for size in SIZES:
        for present in (False, True):
            w.resize(*size)
            w.present_act.setChecked(present)
            for tab in range(w.tabs.count()):
                w.tabs.setCurrentIndex(tab)
                inner = w.explorer.inner if w.tabs.currentWidget() is w.explorer.inner else None
                for sub in range(inner.count() if inner else 1):
                    if inner:
                        inner.setCurrentIndex(sub)
                    settle(qtbot)
                    d.render()
                    settle(qtbot, 50)
                    where = w.tabs.tabText(tab) + (f"/{inner.tabText(sub)}" if inner else "")
                    if (w.width(), w.height()) != size:  # a minimum size above the screen's pushes the window off it
                        problems.append(f"{label} {size} present={present} tab={where}: the window is "
                                        f"{w.width()}x{w.height()}")
                    for p in clipped_widgets(w):
                        problems.append(f"{label} {size} present={present} tab={where}: {p}")
    w.present_act.setChecked(False)
    w.tabs.setCurrentIndex(0)
    assert problems == [], "\n".join(problems[:20])


def test_nothing_is_clipped_at_any_size_or_mode(make_initscope_window, qtbot):
    d = make_initscope_window(preset("deep-nobn"))
    check_all(d, qtbot, "preview")
    a = d.train(200, every=100)
    d.set_batchnorm(True)
    b = d.train(200, every=100)
    check_all(d, qtbot, "run")
    d.select_runs(a, b)
    check_all(d, qtbot, "overlay")


def test_leaving_presentation_mode_restores_the_layout(make_initscope_window, qtbot):
    d = make_initscope_window(preset("deep-nobn"), size=(1366, 768))
    w = d.window
    settle(qtbot, 300)
    before = (w.controls_dock.width(), w.tabs.geometry(), w.hints.height(), QtWidgets.QApplication.font().pointSizeF())
    w.present_act.setChecked(True)
    settle(qtbot, 300)
    assert QtWidgets.QApplication.font().pointSizeF() == pytest.approx(before[3] * 1.5)
    assert w.hints.height() > before[2]  # the hint strip grows with its font (and stays fixed while shown)
    assert w.controls_scroll.viewport().width() >= w.controls.minimumSizeHint().width()
    w.present_act.setChecked(False)
    settle(qtbot, 300)
    after = (w.controls_dock.width(), w.tabs.geometry(), w.hints.height(), QtWidgets.QApplication.font().pointSizeF())
    assert after == before


def test_the_hint_strip_and_caption_keep_their_height(make_initscope_window, qtbot):
    from initscope.core.scenario import load_scenario, shipped_scenarios

    d = make_initscope_window(preset("deep-nobn"), size=(1366, 768))
    w = d.window
    w.set_scenario(load_scenario(shipped_scenarios()[0]))
    heights = set()
    for _ in range(len(w.scenario_bar.scenario.steps)):
        w.scenario_bar.next_btn.click()
        settle(qtbot, 60)
        d.render()
        heights.add((w.tabs.y(), w.tabs.height(), w.hints.height()))
    assert len(heights) == 1, heights  # captions of 1-3 lines and hints of any length: the panels never jump
