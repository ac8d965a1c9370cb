"""What a workshop presenter relies on (issue 10), through the real window: workshop length and its measured
aims, help on every panel, settings that persist, exports fit for slides, steady controls."""

import os
import subprocess
import sys

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.config import preset
from initscope.core.scenario import WORKSHOP_STEPS, load_scenario, shipped_scenarios, workshop_length

from conftest import wait_laid_out


def test_workshop_length_scales_the_decay_and_shows_measured_aims(make_initscope_window):
    cfg = preset("deep-bn")
    short = workshop_length(cfg)
    assert short.train.steps == WORKSHOP_STEPS == 20_000
    assert short.train.lr_decay_step / short.train.steps == pytest.approx(cfg.train.lr_decay_step / cfg.train.steps)
    scenario = load_scenario(shipped_scenarios()[0])
    assert all(step.workshop_targets for step in scenario.steps)  # every step has aims measured at 20k
    d = make_initscope_window(preset("deep-nobn"))
    w = d.window
    w.set_scenario(scenario)
    w.workshop_act.setChecked(True)
    assert w.cfg.train.steps == 20_000 and w.controls.steps.value() == 20_000
    caption = w.scenario_bar.caption.text()
    first = scenario.steps[0]
    assert "aim (workshop length)" in caption and f"{first.workshop_targets['val']:.4g}" in caption
    w.scenario_bar.next_btn.click()
    assert w.cfg.train.steps == 20_000 and w.cfg.name == "fix-softmax"
    w.workshop_act.setChecked(False)
    assert w.cfg.train.steps == 200_000 and f"{scenario.steps[1].targets['val']:.4g}" in w.scenario_bar.caption.text()


def test_every_panel_has_help_and_the_help_menu_has_shortcuts_and_about(deep, monkeypatch):
    from initscope.gui import help as helpmod

    w = deep.window
    ex = w.explorer
    for panel in w.overview.panels + w.gradients.panels + [ex.gain_view, ex.depth_view, ex.dead_map, ex.bn5, w.compare]:
        buttons = [b for b in panel.findChildren(QtWidgets.QToolButton) if getattr(b, "help_key", None)]
        assert buttons, f"no '?' on {getattr(panel, 'title', panel)}"
        assert helpmod.help_text(buttons[0].help_key).strip()
    menus = {a.text().replace("&", "") for a in w.menuBar().actions()}
    assert {"File", "Run", "View", "Help"} <= menus
    shown = []
    monkeypatch.setattr(helpmod.HelpDialog, "show", lambda self: shown.append(self.text()))
    help_menu = next(a.menu() for a in w.menuBar().actions() if a.text().replace("&", "") == "Help")
    for a in help_menu.actions():
        if a.text() in ("Keyboard shortcuts", "About initscope"):
            a.trigger()
    assert any("Ctrl+Return" in t or "Ctrl+Enter" in t for t in shown)  # Train's shortcut, from the actions
    assert any("pyqtgraph" in t and "torch" in t for t in shown)


def test_settings_persist_between_windows(make_initscope_window, tmp_path, qtbot):
    from initscope.gui.main_window import MainWindow
    from initscope.gui.settings import Settings

    path = tmp_path / "settings.ini"
    w = MainWindow(preset("deep-nobn"), settings=Settings(path))
    qtbot.addWidget(w)
    w.resize(1100, 720)
    w.show()
    w.controls.gain.setValue(0.8)
    w.present_act.setChecked(True)
    assert w.controls_dock.isHidden()  # folded away in presentation mode on a narrow window
    w.close()
    settings = Settings(path)
    assert settings.load_config().init.gain == pytest.approx(0.8) and settings.presentation
    w2 = MainWindow(settings.load_config(), settings=settings)
    qtbot.addWidget(w2)
    assert w2.present_act.isChecked() and w2.controls.gain.value() == pytest.approx(0.8)
    w2.present_act.setChecked(False)
    # the layout remembered is the one presentation mode left: the side panel is back
    assert w2.panel_act.isChecked() and not w2.controls_dock.isHidden()
    w2.close()
    path.write_text("this is not an ini file \x00\x01")
    damaged = Settings(path)
    assert damaged.message and damaged.load_config() is None  # defaults, and one line saying why


def test_exports_cover_every_tab_at_slide_width(deep, tmp_path):
    deep.train(200, every=100)
    files = deep.window.files.export_panels_to(str(tmp_path), width=1600)
    names = {os.path.basename(f) for f in files}
    assert any("dead" in n for n in names) and any("five" in n for n in names)  # the two extra tabs too
    pngs = [f for f in files if f.endswith(".png")]
    assert len(pngs) >= 12 and all(QtGui.QImage(f).width() == 1600 for f in pngs)


def test_the_side_panel_stays_put_and_open_data_is_off_while_training(deep, qtbot):
    w = deep.window
    bar = w.controls_scroll.verticalScrollBar()
    w.controls.steps.setFocus()
    bar.setValue(bar.maximum() // 3)
    before = bar.value()
    deep.start_training(5_000_000)
    qtbot.waitUntil(lambda: w.runs.records[-1].steps_done > 0, timeout=60_000)
    assert bar.value() == before
    assert not w.open_act.isEnabled() and not w.controls.open_btn.isEnabled()  # toolbar and side panel agree
    x_lo, x_hi = w.overview.loss_panel.plot.viewRange()[0]
    assert x_lo == 0 and x_hi < 200_000  # the step axis follows the run, not its 5M-step plan
    w.stop_act.trigger()
    deep.wait_trained()
    assert w.open_act.isEnabled()


def test_wheel_over_a_spin_box_scrolls_the_panel_not_the_value(deep):
    w = deep.window
    spin = w.controls.batch
    before = spin.value()
    ev = QtGui.QWheelEvent(QtCore.QPointF(5, 5), QtCore.QPointF(spin.mapToGlobal(QtCore.QPoint(5, 5))),
                           QtCore.QPoint(0, 0), QtCore.QPoint(0, -120), QtCore.Qt.MouseButton.NoButton,
                           QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(spin, ev)
    assert spin.value() == before


def test_screenshot_options_render_without_clipping(tmp_path):
    out = tmp_path / "shot.png"
    scenario = shipped_scenarios()[0]
    r = subprocess.run([sys.executable, "-m", "initscope", "screenshot", str(out), "--steps", "0", "--size",
                        "1024x700", "--present", "--tab", "overview", "--log-y", "--scenario", str(scenario),
                        "--step", "2"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    assert "clipped" not in r.stderr, r.stderr
    assert QtGui.QImage(str(out)).width() == 1024
    bad = subprocess.run([sys.executable, "-m", "initscope", "screenshot", str(out), "--scenario", str(scenario),
                          "--step", "99"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert bad.returncode == 2 and "--step 99" in bad.stderr and "Traceback" not in bad.stderr


def test_toggling_batchnorm_never_draws_a_legend_on_a_plot_in_between(deep, qtbot):
    # the presenter saw, for ~70 ms after the BatchNorm toggle, a legend drawn over the y ticks: every frame from
    # the toggle until the new preview has been on screen a few frames is painted and checked here
    from initscope.gui.layout_check import _clipped_plots

    win = deep.window
    win.resize(1366, 768)
    deep.train(300)  # legends of a run on every panel, then the toggle shows the preview of the other stack
    for on in (True, False):
        deep.set_batchnorm(on, wait=False)
        bad, frames_after = [], [0]

        def frame() -> bool:  # called on each poll of waitUntil: one painted frame, checked
            win.grab()  # what a screen would show now
            bad.extend(line for line in _clipped_plots(win, 1) if "legend" in line)
            shown = win.shown[0] if len(win.shown) == 1 else None
            if shown is not None and shown.status == "preview" and shown.cfg == win.cfg:
                frames_after[0] += 1
            return frames_after[0] >= 6

        qtbot.waitUntil(frame, timeout=30_000)
        assert not bad, bad


def test_presentation_mode_grows_titles_legends_and_labels_and_leaving_gives_their_sizes_back(deep, qtbot):
    # seen in a real X window: after leaving presentation mode the titles came back smaller than before, and
    # "uniform guess" never grew
    win = deep.window
    deep.train(300)
    loss = win.overview.loss_panel

    def sizes():
        titles = [p.plot.titleLabel.item.boundingRect().height() for p in win.overview.panels]
        legends = [p.legend.opts["labelTextSize"] for p in win.overview.panels if p.legend is not None]
        return titles, legends, loss.ref.label.textItem.boundingRect().height()

    before = sizes()
    win.set_presentation(True)
    wait_laid_out(qtbot, win)
    during = sizes()
    win.set_presentation(False)
    wait_laid_out(qtbot, win)
    after = sizes()
    assert all(d > b for d, b in zip(during[0], before[0]))  # every title grew
    assert all(float(d[:-2]) > float(b[:-2]) for d, b in zip(during[1], before[1]))  # every legend's text
    assert during[2] > before[2]  # the uniform-guess label
    assert after == before  # and all of it back as it was


def test_no_plot_shows_pyqtgraphs_auto_range_button(deep):
    # it popped up over the data on every hover (Xvfb presenter pass); the views follow the run by themselves
    panels = deep.window.all_panels()
    assert panels and all(p.plot.buttonsHidden for p in panels)
