"""Issue 19: what a presenter and a plugin user hit in the window. Each test fails on the code before the fix.

Most checks need no main window (a panel, a function, a widget on its own); the flows that do share a few
windows, driven through the public driver (initscope.testing.WindowDriver) as a user of the plugin would.
"""

import math
import os
import threading

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.config import preset

from conftest import tiny_config


def no_dialogs(monkeypatch) -> list:
    said = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: said.append(a[2]))
    monkeypatch.setattr(QtWidgets.QMessageBox, "information", lambda *a, **k: said.append(a[2]))
    return said


def dark_rows(img: QtGui.QImage, x0: int, x1: int, y0: int, y1: int) -> list[bool]:
    """For each row y0..y1: does it hold a dark (text) pixel between x0 and x1?"""
    out = []
    for y in range(y0, y1):
        out.append(any(QtGui.QColor(img.pixel(x, y)).lightness() < 110 for x in range(x0, x1, 2)))
    return out


# --- no window -------------------------------------------------------------------------------------------------------
def test_first_window_size_leaves_room_for_the_window_managers_frame():
    """Item 1: sized by the available area alone, the title bar pushed the status bar off-screen."""
    from initscope.gui.app import GUESSED_FRAME, first_geometry

    for w, h in ((1366, 768 - 24), (1024, 700), (3000, 2000)):
        avail = QtCore.QRect(0, 24, w, h)
        g = first_geometry(avail, GUESSED_FRAME)
        left, top, right, bottom = GUESSED_FRAME
        frame = g.adjusted(-left, -top, right, bottom)
        assert avail.contains(frame), (w, h, frame)
        assert g.width() <= 1366 and g.height() <= 768
    big = first_geometry(QtCore.QRect(0, 0, 3000, 2000), GUESSED_FRAME)
    assert (big.width(), big.height()) == (1366, 768)  # a projector's size where there is room


def test_overlaid_runs_each_have_a_colour_and_a_curve_to_their_last_step(qtbot):
    """Item 6 and held-back 3: one dark blue for every run; 150-step runs drew no line, a 250-step run stopped
    at step 150."""
    from initscope.gui.panels import LossPanel, overlay_means

    rng = np.random.default_rng(0)
    runs = [(f"Run {k}", (3 - np.linspace(0, 1, n) + 0.1 * rng.standard_normal(n)).astype(np.float32), 0)
            for k, n in ((1, 150), (2, 150), (3, 250))]
    panel = LossPanel()
    qtbot.addWidget(panel)
    panel.show_overlay(runs, math.log(27), 250)
    drawn = panel.plotted()
    colours = [drawn[name][2] for name, _, _ in runs]
    assert len(set(colours)) == 3
    for name, loss, _ in runs:
        x, y = drawn[name][:2]
        assert len(x) >= 2 and x[-1] > 0.9 * len(loss)  # a line, to the run's last block
        assert y.mean() == pytest.approx(loss.mean(), rel=0.02)
    for n in (7, 150, 250, 3333):  # a loss equal to its step: each mean sits at its block's centre
        xs, ys = overlay_means(np.arange(n, dtype=np.float32), 0)
        assert np.allclose(xs, ys) and xs[-1] > n - 1 - max(1, min(100, n // 10)) and xs[0] >= 0


def test_the_uniform_guess_label_sits_where_there_is_room(qtbot):
    """Item 16: the label was centred above the line, over the curves and cut by the x axis."""
    from initscope.gui.panels import LossPanel

    panel = LossPanel()
    qtbot.addWidget(panel)
    loss = np.linspace(3.3, 2.0, 400).astype(np.float32)  # a run that learns: the line at the top of the view
    panel.show_single(1, loss, 0, 3.3, math.log(27), 400)
    assert panel.ref.label.anchors[0] == (1, 0)  # right end, below the line
    panel.show_single(2, np.linspace(3.3, 6.0, 400).astype(np.float32), 0, 3.3, math.log(27), 400)
    assert panel.ref.label.anchors[0] == (1, 1)  # the line low in the view: above it


def test_log_y_ticks_never_run_together(qtbot):
    """Item 15: pyqtgraph labels every minor tick of a range under a decade ("10¹, 9, 8, 7, 6")."""
    from initscope.gui.panels import LossPanel

    panel = LossPanel()
    qtbot.addWidget(panel)
    axis = panel.plot.getAxis("left")
    font_h = QtGui.QFontMetrics(axis.style.get("tickFont") or QtGui.QFont()).height()
    for lo, hi, px in ((2.0, 30.0, 150), (2.0, 4.0, 150), (1.5, 300.0, 400), (2.0, 12.0, 60)):
        levels = axis.logTickValues(math.log10(lo), math.log10(hi), px, [])
        vals = [v for _, vs in levels for v in vs]
        assert len(vals) >= 2
        gaps = np.diff(sorted(vals)) / (math.log10(hi) - math.log10(lo)) * px
        assert gaps.min() >= 1.2 * font_h, (lo, hi, px, vals)
        assert all(s.replace(".", "").isdigit() for s in axis.logTickStrings(vals, 1, 1))  # "2", "5", "10"


def test_status_says_paused_stopping_evaluating_and_the_diverged_step_as_the_hint_does():
    """Items 10 and 21, held-back 4 and 6."""
    from initscope.core.history import History
    from initscope.core.messages import Progress, RunResult, RunStatus
    from initscope.gui.runs import RunRecord
    from initscope.gui.texts import WAITING, hint_lines, status_line

    rec = RunRecord("Run 1: x", tiny_config(steps=3000), History())
    assert "paused at step 0" in status_line([rec], paused=True)  # paused before its first report: not "starting…"
    rec.progress = Progress(3000, 3000, 3000, np.zeros(0, np.float32), 0.1, 0.0, None, "evaluating", "val split (2 of 3)")
    assert "evaluating the final losses: val split (2 of 3)" in status_line([rec])
    assert rec.shown_status == "evaluating"
    rec.progress = Progress(120, 3000, 100, np.zeros(20, np.float32), 0.1, 10.0, None, "running")
    rec.phase = "stopping"
    assert "stopping at step 120" in status_line([rec]) and rec.label().endswith("stopping")
    rec.phase = "paused"
    other = RunRecord("Run 2: y", tiny_config(), History(), status="finished")
    assert "Run 1: x: paused" in " ".join(hint_lines([rec, other]))
    assert "paused" in rec.label()
    bad = RunRecord("Run 3: z", tiny_config(), History(), status="diverged")
    bad.history.add_losses(0, np.ones(101, np.float32))
    bad.finish(RunResult(RunStatus.DIVERGED, "diverged at step 100: loss is nan; lower the learning rate or fix the init"))
    assert "diverged at step 100" in status_line([bad]) and "step 101" not in status_line([bad])
    assert "diverged at step 100" in hint_lines([bad])[0]
    assert hint_lines([other], train_ready=False)[0] == WAITING


def test_pausing_reports_every_step_done(small_data):
    """Held-back 5: the trainer waited without flushing its pending 25-step chunk."""
    from initscope.core.trainer import Trainer

    t = Trainer(tiny_config(steps=100_000), small_data)
    seen = []
    th = threading.Thread(target=lambda: t.train(lambda p: seen.append(p.step)), daemon=True)
    th.start()
    try:
        for _ in range(2000):
            if t.step >= 37:
                break
            threading.Event().wait(0.005)
        t.pause()
        for _ in range(200):  # until the loop has reached the pause and reported
            threading.Event().wait(0.01)
            if seen and seen[-1] == t.step:
                break
        assert seen and seen[-1] == t.step
        at = t.step
        threading.Event().wait(0.1)
        assert t.step == at and seen[-1] == at  # paused: no step, and the status knows every one done
    finally:
        t.stop()
        th.join(10)


def test_the_final_evaluation_is_reported_split_by_split(small_data):
    """Item 10: a long word list's final losses took 15-20 s with "ETA 0m00s" on screen."""
    from initscope.core.remote import RemoteTrainer

    remote = RemoteTrainer(threads=1)
    try:
        said = []
        result = remote.train({"A": tiny_config(steps=30)}, "",
                              on_progress=lambda t, p: said.append((p.status, p.message)))["A"]
        assert result.status == "finished" and set(result.losses) == {"train", "val", "test"}
        evaluating = [m for s, m in said if s == "evaluating"]
        assert evaluating == ["train split (1 of 3)", "val split (2 of 3)", "test split (3 of 3)"]
        assert said.index(("evaluating", evaluating[0])) > max(i for i, (s, _) in enumerate(said) if s == "running")
    finally:
        remote.close()


def test_a_word_list_with_other_symbols_is_said_so():
    """Item 25: /usr/share/dict/words brought 70 symbols without a word."""
    from initscope.core.data import Vocab

    assert Vocab.from_words(["emma", "olivia"]).note() == ""
    note = Vocab.from_words(["Zoë", "o'neil", "Bob", "x-y", "r2d2"]).note()
    assert "capitals" in note and "accented" in note and "digits" in note and "'" in note and "-" in note
    v = Vocab.from_words(["Zoë", "o'neil", "Bob", "x-y", "r2d2"])
    assert f"ln {v.size} = {math.log(v.size):.2f}" in note


def test_relu_sweep_caption_names_chi_only_where_it_holds():
    """Item 19: "chi = gain²/2" printed for the naive scheme, whose chi depends on fan-in."""
    from dataclasses import replace

    from initscope.core.config import deep_stack
    from initscope.core.theory import sweep_caption

    cfg = preset("deep-nobn")
    cfg.model = replace(cfg.model, layers=deep_stack(5, 100, activation="relu"))
    assert "gain²/2" in sweep_caption(cfg)
    cfg.init = replace(cfg.init, scheme="naive")
    assert "gain²/2" not in sweep_caption(cfg) and "chi = 1" in sweep_caption(cfg)


def test_missing_qt_libraries_are_named_at_once_with_one_apt_line(monkeypatch, capsys):
    """Item 27: Qt's own error named only libxcb-cursor0 while two more were missing."""
    from initscope import cli
    from initscope.gui import qt_libs

    ldd = ("\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxcb-cursor.so.0 => not found\n"
           "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x7f)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxcb-keysyms.so.1 => not found\n\tlibxkbcommon-x11.so.0 => not found\n\tlibxcb-icccm.so.4 => not found\n")
    libs = qt_libs.parse_ldd(ldd)
    assert libs == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    msg = qt_libs.message(libs)
    assert "apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in msg
    assert qt_libs.missing() == []  # this machine has them (the suite's windows run)
    monkeypatch.setattr(qt_libs, "missing", lambda: libs)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert cli.main(["gui"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "libxcb-keysyms.so.1" in err[0] and "libxcb-keysyms1" in err[0]


def test_the_launch_shell_says_what_it_waits_for(qtbot):
    """Item 26: a grey shell for ~6 s on a loaded machine."""
    from initscope.gui.startup import _Shell

    shell = _Shell(lambda: None)
    qtbot.addWidget(shell)
    shell.resize(600, 300)
    img = shell.grab().toImage()
    assert any(dark_rows(img, 100, 500, 120, 180))  # text in the middle of the window


def test_exports_are_slide_ready(qtbot, tmp_path, monkeypatch):
    """Item 18: sat.png / sat-2.png, 1600x2029 portraits, no run name, dialogs starting in the scenarios folder."""
    from initscope.gui import settings as settings_mod
    from initscope.gui.explorer import DepthSweepView, GainSweepView
    from initscope.gui.export import export_panels, render_image

    gain, depth = GainSweepView(), DepthSweepView()
    for v in (gain, depth):
        qtbot.addWidget(v)
        v.resize(900, 420)
        v.show()
    qtbot.waitExposed(gain)
    written = export_panels([*gain.panels, depth.std_panel, depth.sat_panel, depth.grad_panel], tmp_path, 800,
                            svg=False, caption="Run 4: deep-nobn")
    names = sorted(p.name for p in written)
    assert names == sorted(["gain-sweep-saturation.png", "gain-sweep-std.png", "gain-sweep-grad-std.png",
                            "depth-sweep-std.png", "depth-sweep-saturation.png", "depth-sweep-grad-std.png"])
    assert gain.panels[0].height() > gain.panels[0].width()  # a narrow column on screen ...
    img = QtGui.QImage(str(tmp_path / "gain-sweep-saturation.png"))
    assert img.width() == 800 and img.height() < img.width()  # ... a landscape picture
    assert gain.panels[0].height() > gain.panels[0].width()  # and the panel is back as it was
    plain = render_image(gain.panels[1], 800)
    captioned = render_image(gain.panels[1], 800, caption="Run 4: deep-nobn")
    h, w = plain.height(), plain.width()
    corner = [(x, y) for x in range(w - 300, w, 3) for y in range(h - 30, h)]
    assert sum(plain.pixel(x, y) != captioned.pixel(x, y) for x, y in corner) > 20  # the run's name, bottom right
    starts = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda p, c, start, f: (starts.append(start), ("", ""))[1])
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", lambda p, c, start: starts.append(start) or "")
    settings_mod.get_save_file(None, None, "export", "Export", "loss.png", "PNG (*.png)")
    settings_mod.get_folder(None, None, "export", "Export")
    assert all(os.path.isdir(os.path.dirname(s) if s.endswith(".png") else s) for s in starts)
    assert not any("scenarios" in s for s in starts) and starts[0].endswith("loss.png")


def test_report_axis_titles_do_not_sit_on_the_tick_labels(tmp_path):
    """Item 17: "step" drawn over "2000" in the report's pictures (a plot never shown, exported once)."""
    import base64

    from initscope import cli
    from initscope.core.runfile import load_run
    from initscope.gui.report_images import plot_images

    cfg_path, path = tmp_path / "tiny.json", tmp_path / "r.initscope"
    cfg_path.write_text(tiny_config(steps=2500).to_json())
    assert cli.main(["run", "--config", str(cfg_path), "--save-run", str(path)]) == 0
    images = plot_images(load_run(path))
    img = QtGui.QImage.fromData(base64.b64decode(images[0][1]), "PNG")
    h = img.height()
    rows = dark_rows(img, 60, img.width() - 20, h - 70, h) + [False]
    bands, start = [], None
    for i, dark in enumerate(rows):
        if dark and start is None:
            start = i
        elif not dark and start is not None:
            bands.append((start, i))
            start = None
    (_, tick_end), (title_start, title_end) = bands[-2], bands[-1]
    # the axis title alone in the last band (one line of text), a clear gap under the tick labels: before the
    # fix the two merged into one band 16 rows tall with 2 blank rows above it
    assert title_end - title_start <= 13 and title_start - tick_end >= 5, bands


# --- widgets on their own --------------------------------------------------------------------------------------------
def test_train_sweep_keeps_its_values_and_has_no_axes_before_results(qtbot):
    """Item 20: before the first result the axes read "(x0.001) -400..400"; opening a clicked point reset the
    values field so that it no longer matched the plot."""
    from initscope.gui.train_sweep import TrainSweepView

    v = TrainSweepView()
    qtbot.addWidget(v)
    cfg = preset("deep-nobn")
    v.set_base_config(cfg, None)
    assert not v.summary_plot.getAxis("left").isVisible() and not v.summary_plot.getAxis("bottom").isVisible()
    v.values.setText("0.5,1,2")  # typed
    other = cfg.copy()
    other.init.gain = 2.5
    v.set_base_config(other, None)  # the window's config changed (a clicked point was opened)
    assert v.values.text() == "0.5,1,2"
    v2 = TrainSweepView()
    qtbot.addWidget(v2)
    v2.set_base_config(cfg, None)
    before = v2.values.text()
    v2.set_base_config(other, None)  # untouched by the user: it follows the settings
    assert v2.values.text() != before and "2.5" in v2.values.text().split(",")


def test_samples_and_data_label_name_the_word_list(qtbot):
    """Item 25: the samples dialog said "Names" for any list; the data box said nothing of its symbols."""
    from initscope.core.data import make_dataset
    from initscope.core.history import History
    from initscope.core.messages import RunResult, RunStatus
    from initscope.gui.controls import ControlPanel
    from initscope.gui.runs import RunRecord
    from initscope.gui.samples_dialog import SamplesDialog

    class Ctl(QtCore.QObject):
        samplesReady = QtCore.Signal(list)
        training = False

    dlg = SamplesDialog(Ctl())
    qtbot.addWidget(dlg)
    rec = RunRecord("Run 2: custom", tiny_config(), History(), status="finished", data_path="/usr/share/dict/words",
                    result=RunResult(RunStatus.FINISHED, samples=["Abe", "zoë"]))
    dlg.show_run(rec)
    assert "Names" not in dlg.windowTitle() and "words" in dlg.windowTitle() and "Run 2" in dlg.windowTitle()
    rec.data_path = ""
    dlg.show_run(rec)
    assert dlg.windowTitle().startswith("Names")
    panel = ControlPanel(preset("deep-nobn"), ["cpu"])
    qtbot.addWidget(panel)
    panel.show_data(make_dataset(["Zoë", "o'neil", "Bob", "anna", "emma"] * 20, 3, "/tmp/words"))
    assert "capitals" in panel.data_label.text() and "uniform guess" in panel.data_label.text()
    panel.show_data(make_dataset(["anna", "emma", "olivia"] * 20, 3, "/tmp/names.txt"))
    assert "⚠" not in panel.data_label.text()


# --- the window -------------------------------------------------------------------------------------------------------
@pytest.fixture
def small(make_initscope_window):
    """A driver on a small net (fast runs) with every-25-step snapshots."""
    cfg = tiny_config(steps=150)
    cfg.diag.snapshot_every = 25
    return make_initscope_window(cfg)


def test_runs_names_overlay_delete_undo_and_progress_bar(small, qtbot):
    """Items 6, 7, 8, 22; held-back 2, 3 and 7."""
    d = small
    r1 = d.train(150)
    r2 = d.train(150)
    d.select_runs(r1, r2)
    drawn = d.plotted("loss")
    assert drawn[r1.name][2] != drawn[r2.name][2]  # one colour each
    assert all(len(drawn[r.name][0]) >= 2 and drawn[r.name][0][-1] > 140 for r in (r1, r2))
    d.delete_runs(r2)
    assert d.runs == [r1] and d.window.runs.undo_btn.isVisible()
    r3 = d.train(150)
    assert r3.name.startswith("Run 3") and r3.name != r2.name  # numbers are not reused
    d.undo_delete()
    assert [r.name for r in d.runs] == [r1.name, r2.name, r3.name] and len({r.name for r in d.runs}) == 3
    assert d.rename_run(r3, r1.name) == f"{r1.name} (2)"  # names stay unique
    lw = d.window.runs.list
    d.select_runs(r2)
    lw.setFocus()
    qtbot.keyClick(lw, QtCore.Qt.Key.Key_Delete)  # the Delete key deletes
    assert r2 not in d.runs
    # a finished and a stopped run compared: no progress bar claims 100 %
    d.set_steps(100_000)
    d.start_training(100_000)
    d.wait_step(50)
    stopped = d.stop()
    assert stopped.status == "stopped"
    d.select_runs(r1, stopped)
    d.render()
    assert not d.window.status.progress.isVisible()
    # the preset already picked, picked again after a run: its preview, at once (the driver waited 30 s)
    d.set_preset("deep-nobn")
    d.set_steps(30)
    d.train(30)
    d.set_preset("deep-nobn")
    assert d.shown[0].status == "preview" and d.window.cfg.name == "deep-nobn"


def test_deleting_the_shown_run_while_another_trains_and_pausing(small, qtbot):
    """Held-back 1, 4, 5; items 4, 21."""
    from initscope.core.scenario import load_scenario, shipped_scenarios

    d = small
    old = d.train(100)
    d.set_steps(5_000_000)
    d.start_training(5_000_000)
    d.pause()  # at once: before the first report
    assert "starting" not in d.status_text() and "paused" in d.status_text()
    d.resume()
    d.wait_step(60)
    d.select_runs(old)
    assert d.shown == [old]
    d.delete_runs(old)
    running = d.window.controller.active["A"]
    assert d.shown == [running]  # not the deleted run
    button = d.window.findChild(QtWidgets.QToolBar, "run").widgetForAction(d.window.pause_act)
    width = button.width()
    d.pause()
    qtbot.wait(500)  # the trainer reaches the pause and reports what it did
    d.render()
    at = running.progress.step
    assert f"paused at step {at:,}" in d.status_text() and "paused" in d.window.runs.list.item(0).text()
    assert button.width() == width and d.window.pause_act.text() == "Resume"  # the toolbar did not shift
    d.window.set_scenario(load_scenario(shipped_scenarios()[0]))
    bar = d.window.scenario_bar
    d.render()
    assert not bar.next_btn.isEnabled() and "stop the run" in bar.next_btn.toolTip()
    stopped = d.stop()
    assert stopped.steps_done == at and d.shown == [stopped]  # paused at "at": no step left unreported
    assert bar.next_btn.isEnabled()


def test_settings_presets_opened_runs_fixed_axes_and_relu_markers(small, tmp_path, qtbot):
    """Items 9, 12, 13, 14, 23, 24."""
    d = small
    w = d.window
    run = d.train(60)
    path = tmp_path / "small.initscope"
    d.save_run(path)
    d.set_preset("kaiming")
    d.set_batchnorm(True)
    assert w.controls.preset.currentText() == "(custom)"
    d.set_batchnorm(False)
    assert w.controls.preset.currentText() == "kaiming" and w.cfg.name == "kaiming"  # found again
    w.controls.gain_picks[0].click()
    assert w.cfg.init.gain == 5 / 3  # exactly, not the box's 1.667
    kaiming = w.controls.stack.params.text()
    opened = d.open_run(path)
    assert w.controls.stack.params.text() == f"{run.parameter_count:,} parameters" != kaiming
    assert opened.parameter_count == run.parameter_count
    again = d.open_run(path)  # opened twice: the same record, no copy
    assert again is opened and sum(r is opened for r in d.runs) == 1
    d.show_tab("dead")
    d.render()
    assert not w.explorer.dead_map.view.isVisible() and "No map for this run" in w.explorer.dead_map.count.text()
    d.show_tab("overview")
    # fixed axes, on by presentation mode and back after it
    d.reset()
    d.train(60)
    w.fixed_act.setChecked(True)
    lo, hi = d.panel_info("saturation")["y_range"]
    assert lo <= 0 and hi >= 100
    assert d.panel_info("activations")["y_range"][0] <= 0
    w.fixed_act.setChecked(False)
    w.present_act.setChecked(True)
    assert w.fixed_act.isChecked()
    w.present_act.setChecked(False)
    assert not w.fixed_act.isChecked()
    info = d.panel_info("loss")
    assert info["title"] == "Loss" and info["xlabel"] == "step" and not info["log_y"]
    assert list(info["lines"].values()) == [pytest.approx(math.log(w.data.vocab.size))]
    # ReLU's theory triangles where its density is
    d.build_stack(3, 64, "relu")
    marks = {k: v for k, v in d.plotted("activations").items() if k.startswith("predicted") and "ReLU" in k}
    assert marks and all((x >= 0).all() and x[1] > x[0] for x, _, _ in marks.values())
    # the Compare tab's own picker (presentation mode hides the Runs list)
    assert "Pick runs" in d.compare_table()["note"]


def test_gain_sweep_fits_its_axes_and_forgets_other_settings(make_initscope_window, qtbot):
    """Items 2, 3 and 19."""
    d = make_initscope_window(preset("deep-nobn"))
    ex = d.window.explorer
    ex.seeds.setValue(1)
    d.show_tab("explorer:gain")
    ex.gain_btn.click()
    qtbot.waitUntil(lambda: not ex.gain_running, timeout=120_000)
    d.render()
    ex.redraw()
    grad = ex.gain_view.panels[2]
    lo, hi = grad.plot.getViewBox().viewRange()[1]  # log10 units
    ys = np.concatenate([c.yData for c in grad.curves.values()])
    assert (np.log10(ys) >= lo - 1e-6).all() and (np.log10(ys) <= hi + 1e-6).all()  # every value in view
    assert ys.max() < 1e-2  # the deep net's values, which the fixed 1e-3..1 range had hidden
    # a point drawn after the last paint: its range is there at once (an export right after a sweep reads it
    # before any paint; pyqtgraph's auto-range waits for one)
    v = ex.gain_view
    k = sorted(v.values)[0]
    v.add_point(k, v.names, v.values[k] * np.array([1.0, 1.0, 100.0]))
    ex.redraw()
    lo, hi = grad.plot.getViewBox().viewRange()[1]
    ys = np.concatenate([c.yData for c in grad.curves.values()])
    assert (np.log10(ys) <= hi + 1e-6).all() and np.log10(ys.max()) > -2
    sat_lo, _ = ex.gain_view.panels[0].plot.getViewBox().viewRange()[1]
    assert sat_lo <= 0
    d.set_preset("deep-bn")
    assert ex.gain_view.values == {} and all(not p.curves for p in ex.gain_view.panels)
    assert "settings changed" in ex.gain_status.text()
    d.build_stack(4, 64, "relu")
    ex.gain_btn.click()
    assert ex.gain_view.panels[0].title == "Zero %"
    qtbot.waitUntil(lambda: not ex.gain_running, timeout=120_000)
