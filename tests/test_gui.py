"""The real window, driven through its widgets with the initscope_window fixture (offscreen).

Each test asserts what the window *draws* (panel data, colours, ranges, the status bar and hint strip),
read back through the driver's `plotted()`, not only that a slot ran.
"""

import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from initscope.core.config import LayerSpec, preset  # noqa: E402


def no_dialogs(monkeypatch) -> list:
    said = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: said.append(a[2]))
    monkeypatch.setattr(QtWidgets.QMessageBox, "information", lambda *a, **k: said.append(a[2]))
    return said


def x_range(panel):
    return panel.plot.viewRange()[0]


def assert_is_preview(d):
    """The window shows the init preview of the current settings, drawn as a preview."""
    rec = d.shown[0]
    assert len(d.shown) == 1 and rec.status == "preview" and rec.cfg == d.window.cfg
    snap = rec.history.init
    loss = d.plotted("loss")
    assert set(loss) == {"step 0"} and loss["step 0"][1][0] == pytest.approx(snap.loss)  # one marker, no line
    assert x_range(d.panel("loss"))[0] >= 0
    sat = d.plotted("saturation")  # one bar per activation layer, the snapshot's numbers
    acts = [s for s in snap.layers if s.kind in ("tanh", "relu")]
    assert d.panel("saturation").mode == "bars" and list(sat) == [s.name for s in acts]
    assert [v[1][0] for v in sat.values()] == pytest.approx([s.saturation * 100 for s in acts])
    lines = [k for k in d.plotted("activations") if not k.startswith("predicted")]
    assert len(lines) == len(snap.layers)  # activations, and norms and residual streams (without a saturation)
    for k, s in zip(lines, snap.layers):  # the snapshot's numbers, and the theory's std beside them (▲)
        sat = f" {s.saturation:.0%} {'zeros' if s.kind == 'relu' else 'sat'}" if s.kind in ("tanh", "relu") else ""
        assert k.startswith(f"{s.name}{sat}<br>σ {s.std:.2f} (▲ ")
    assert "init preview" in d.status_text()


# --- 1. every settings change shows the preview, also after a run ---------------------------------------------
def test_settings_changes_after_a_run_show_the_preview_and_keep_the_run(deep):
    run = deep.train(200, every=100)
    assert run.status == "finished" and deep.shown == [run]
    assert "finished 200 steps" in deep.status_text()
    c = deep.window.controls
    c.gain_picks[1].click()  # the "1" button
    deep.wait_preview()
    assert deep.window.cfg.init.gain == 1.0
    assert_is_preview(deep)
    assert deep.runs == [run] and deep.window.runs.selected() == []  # nothing in Runs looks selected
    c.gain_slider.setValue(250)  # the slider
    deep.wait_preview()
    assert deep.shown[0].cfg.init.gain == pytest.approx(2.5)
    deep.window.explorer.gainPicked.emit(0.5)  # a click in the gain sweep
    deep.wait_preview()
    assert deep.shown[0].cfg.init.gain == pytest.approx(0.5)
    c.lr.setValue(0.05)  # any other setting
    deep.wait_preview()
    assert deep.shown[0].cfg.train.lr == pytest.approx(0.05)
    assert_is_preview(deep)


# --- 2. reset and scenario steps: a preview on a 0..N step axis ------------------------------------------------
def test_reset_and_scenario_steps_draw_a_preview_on_a_non_negative_axis(deep):
    from initscope.core.scenario import load_scenario, shipped_scenarios

    deep.train(150, every=50)
    deep.window.reset_act.trigger()
    deep.wait_preview()
    assert_is_preview(deep)
    lo, hi = x_range(deep.panel("loss"))
    assert lo == 0 and hi == 150  # a short run's whole length
    deep.window.set_scenario(load_scenario(shipped_scenarios()[0]))
    deep.window.scenario_bar.next_btn.click()
    deep.wait_preview()
    assert deep.window.cfg.name == "fix-softmax"
    assert_is_preview(deep)
    lo, hi = x_range(deep.panel("loss"))
    assert lo == 0 and hi == 1000  # 200k planned steps: the axis starts with its minimum window
    for name in ("saturation", "update"):
        assert deep.panel(name).plot.viewRange()[0][0] > -1  # bars: layer positions, not negative steps


# --- 3. log y keeps the curve and its ticks ----------------------------------------------------------------------
def test_log_y_on_a_run_and_on_the_preview(deep):
    deep.set_log_y(True)
    panel = deep.panel("loss")
    snap = deep.shown[0].history.init
    ylo, yhi = panel.plot.viewRange()[1]
    assert ylo < math.log10(snap.loss) < yhi  # the marker is inside the log10 range
    assert ylo < math.log10(snap.ref_loss) < yhi and panel.ref.value() == pytest.approx(math.log10(snap.ref_loss))
    axis = panel.plot.getAxis("left")
    assert any(len(t[1]) for t in axis.tickValues(ylo, yhi, 300))
    run = deep.train(300, every=100)
    loss = deep.plotted("loss")
    x, y, _ = loss["loss"]
    assert np.array_equal(y, run.history.loss.data) and panel.raw.isVisible()
    ylo, yhi = panel.plot.viewRange()[1]
    fin = run.history.loss.data
    assert ylo <= math.log10(fin.min()) and math.log10(fin.max()) <= yhi and yhi - ylo < 3
    assert any(len(t[1]) for t in axis.tickValues(ylo, yhi, 300))
    deep.set_log_y(False)
    ylo, yhi = panel.plot.viewRange()[1]
    assert ylo <= fin.min() and fin.max() <= yhi


# --- 4. a layer's colour belongs to its place in its own stack -----------------------------------------------------
def test_layer_colours_are_the_same_in_every_view_and_overlay(deep):
    a = deep.train(200, every=100)
    upd = deep.plotted("update")
    cols = {k: v[2] for k, v in upd.items()}
    assert len(set(cols.values())) == len(cols)  # emb, L0, L2, ..., L10: all different
    sat_a = {k: v[2] for k, v in deep.plotted("saturation").items()}
    assert sat_a["L1 Tanh"] == cols["L0"] and sat_a["L9 Tanh"] == cols["L8"]  # a Linear and its Tanh share one
    deep.set_batchnorm(True)
    b = deep.train(200, every=100)
    deep.select_runs(a, b)
    sat = deep.plotted("saturation")
    tag_a, tag_b = a.name.split(":")[0], b.name.split(":")[0]
    for layer, colour in sat_a.items():  # run A keeps its colours in the overlay
        assert sat[f"{tag_a} · {layer}"][2] == colour
    b_cols = [v[2] for k, v in sat.items() if k.startswith(tag_b)]
    assert len(set(b_cols)) == len(b_cols) == 5  # one colour per layer within run B too
    styles = {deep.panel("saturation").curves[f"{r.name} · L1 Tanh" if r is a else f"{r.name} · L2 Tanh"]
              .opts["pen"].style() for r in (a, b)}
    assert len(styles) == 2  # the runs differ by line style
    deep.select_runs(a)
    assert {k: v[2] for k, v in deep.plotted("saturation").items()} == sat_a  # unchanged after the overlay


# --- 5. the status bar speaks of the shown run, with live numbers ----------------------------------------------------
def test_status_bar_during_a_pair_pause_and_after_stop(deep, qtbot):
    from initscope.gui.runs import with_change

    deep.window.controls.steps.setValue(300)
    cfg_b, label = with_change(deep.window.cfg, "BatchNorm", True)
    deep.window.train_pair(cfg_b, label)
    qtbot.waitUntil(lambda: (deep.window.controller.active.get("A") is not None
                             and deep.window.controller.active["A"].progress is not None), timeout=60_000)
    text = deep.status_text()
    assert " / 300" in text and "finished" not in text  # the whole run's total, not a 25-step chunk's
    qtbot.waitUntil(lambda: not deep.window.training, timeout=120_000)
    a, b = deep.runs[-2:]
    assert a.status == b.status == "finished" and len(a.history.loss) == len(b.history.loss) == 300
    assert deep.shown == [a, b] and "comparing 2 runs" in deep.status_text()

    deep.start_training(5_000_000)
    qtbot.waitUntil(lambda: deep.window.runs.records[-1].steps_done >= 100, timeout=60_000)
    assert "ETA" in deep.status_text()
    deep.window.pause_act.trigger()
    qtbot.waitUntil(lambda: deep.window.pause_act.text() == "Resume", timeout=5000)
    text = deep.status_text()
    assert "paused at step" in text and "ETA" not in text
    qtbot.wait(300)
    n = deep.window.runs.records[-1].steps_done
    qtbot.wait(300)
    assert deep.window.runs.records[-1].steps_done == n  # nothing arrives while paused
    deep.window.pause_act.trigger()
    deep.window.stop_act.trigger()
    run = deep.wait_trained()
    assert run.status == "stopped"
    text = deep.status_text()
    assert "stopped at step" in text and "ETA" not in text and "init preview" not in text
    assert run.history.snap_steps.data[-1] == run.steps_done  # a snapshot at the final step, stopped or not


# --- 6. deleting the shown run, clicking a highlighted run ------------------------------------------------------------
def test_delete_the_shown_run_and_click_a_run_again(deep, qtbot):
    a = deep.train(100, every=50)
    assert deep.shown == [a]
    deep.window.runs.delete_selected()
    assert deep.runs == []
    deep.wait_preview()
    assert_is_preview(deep)
    assert "Finished" not in deep.hint_text()
    b = deep.train(100, every=50)
    deep.window.reset()  # the preview is shown; run b is not highlighted any more
    deep.wait_preview()
    assert deep.window.runs.selected() == []
    lw = deep.window.runs.list
    rect = lw.visualItemRect(lw.item(0))
    qtbot.mouseClick(lw.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    assert deep.shown == [b] and "finished 100 steps" in deep.status_text()
    qtbot.mouseClick(lw.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())  # again: still shown
    assert deep.shown == [b]


# --- 7. an invalid stack clears the panels and says why ------------------------------------------------------------------
def test_invalid_stack_clears_the_panels_and_says_why(deep):
    st = deep.window.controls.stack
    st.list.setCurrentRow(1)
    st._add("relu")  # L2 ReLU right after L1 Tanh
    assert "follows another activation" in st.error.text()
    assert not deep.window.train_act.isEnabled()
    for name in ("loss", "saturation", "activations", "update", "gradients", "grad:data"):
        assert deep.plotted(name) == {}, name
    hint = deep.hint_text()
    assert "Invalid layer stack" in hint and "L2 ReLU" in hint and "No problems" not in hint
    assert "invalid layer stack" in deep.status_text() and "press Train" not in deep.status_text()
    st.list.setCurrentRow(2)
    st._remove()
    deep.wait_preview()
    assert deep.window.train_act.isEnabled()
    assert_is_preview(deep)


# --- 8. the saturation panel follows the stack's activations -----------------------------------------------------------
def test_relu_and_mixed_stacks_title_and_draw_their_saturation(deep):
    c = deep.window.controls
    c.stack.act.setCurrentText("relu")
    c.stack.build_btn.click()
    deep.wait_preview()
    panel = deep.panel("saturation")
    assert panel.title == "ReLU zeros" and panel.plot.getAxis("left").labelText == "% zero"
    assert_is_preview(deep)
    snap = deep.shown[0].history.init
    assert all(0.3 < s.saturation < 0.7 for s in snap.layers if s.kind == "relu")  # about half are 0 at init
    layers = deep.window.cfg.model.layers
    layers[3] = LayerSpec("tanh")  # L3: Tanh instead of ReLU
    c._stack_edited(layers)
    deep.wait_preview()
    assert panel.title == "Saturation" and "zero" in panel.plot.getAxis("left").labelText
    assert set(deep.plotted("saturation")) == {"L1 ReLU", "L3 Tanh", "L5 ReLU", "L7 ReLU", "L9 ReLU"}
    run = deep.train(200, every=100)
    sat = deep.plotted("saturation")
    j = run.history.layer_names.index("L3 Tanh")
    assert np.allclose(sat["L3 Tanh"][1], run.history.saturation.data[:, j] * 100)  # the snapshot rows


# --- 9. the last snapshot is at the last step --------------------------------------------------------------------------
def test_final_snapshot_is_at_the_final_step_and_hints_say_so(deep):
    run = deep.train(300, every=200)
    assert list(run.history.snap_steps.data) == [0, 200, 300]
    assert deep.panel("activations").plot.getAxis("bottom").labelText == "output, step 300"
    assert "step 300" in deep.hint_text() or "Finished after 300 steps" in deep.hint_text()


# --- 10. closing mid-run asks, then closes the child first, fast ---------------------------------------------------------
def test_close_mid_run_asks_then_stops_the_child(initscope_window, qtbot, monkeypatch):
    d = initscope_window  # the default settings: the lecture's deep net with BatchNorm
    w = d.window
    d.start_training(5_000_000)
    qtbot.waitUntil(lambda: w.runs.records and w.runs.records[-1].steps_done >= 50, timeout=60_000)
    w.confirm_close = True
    answers = [QtWidgets.QMessageBox.StandardButton.No]
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: answers.pop(0))
    assert not w.close() and w.isVisible() and w.training  # "No": the run goes on
    answers.append(QtWidgets.QMessageBox.StandardButton.Yes)
    remote = w.controller.worker.remote
    assert w.close()  # how long it takes is benchmarks/bench_gui.py's to measure, not a test's under load
    assert all(th.isFinished() for th in w.controller.threads) and not remote.alive


# --- the rest of the window ----------------------------------------------------------------------------------------------
def test_preview_follows_batchnorm_and_gain(deep):
    assert 0.12 < deep.shown[0].history.init.layers[0].saturation < 0.30
    deep.set_batchnorm(True)
    assert deep.window.controls.stack.list.count() == 17
    assert all(v[1][0] < 6 for v in deep.plotted("saturation").values())
    deep.set_gain(3.0)
    assert deep.window.controls.preset.currentIndex() == 0  # now a custom config
    deep.set_batchnorm(False)
    assert deep.plotted("saturation")["L1 Tanh"][1][0] > 35


def test_presets_and_confidently_wrong_hint(deep):
    deep.set_preset("deep-bn")
    assert deep.window.controls.batchnorm.isChecked()
    deep.set_preset("original")
    assert deep.window.controls.scheme.currentText() == "naive" and not deep.window.controls.out_scale.isChecked()
    assert deep.plotted("loss")["step 0"][1][0] > 10
    assert "confidently wrong" in deep.hint_text()


def test_short_training_streams_into_the_panels(deep, qtbot):
    deep.window.controls.step_stats.setChecked(True)  # the per-step tier: saturation and update:data every step
    run = deep.train(600, every=100)
    assert run.status == "finished" and set(run.result.losses) == {"train", "val", "test"}
    h = run.history
    assert len(h.loss) == 600 and list(h.snap_steps.data) == [0, 100, 200, 300, 400, 500, 600]
    x, y, _ = deep.plotted("loss")["loss"]
    assert np.array_equal(y, h.loss.data) and x[0] == 0
    xs, ys, _ = deep.plotted("update")["L0"]  # every step (the per-step tier), not only the 7 snapshots
    j = h.matrix_names.index("L0 Linear.weight")
    assert list(xs) == list(range(600)) and np.allclose(ys, h.step_update.data[:, j])
    assert np.allclose(ys[::100], h.update.data[:-1, j], rtol=1e-4, atol=1e-6)  # the same numbers at snapshots
    assert deep.panel("loss").ref.value() == pytest.approx(math.log(27))
    assert "train" in deep.hint_text()
    bars = deep.plotted("grad:data")
    assert set(bars) == {"emb", "L0", "L2", "L4", "L6", "L8", "L10"}
    assert bars["L0"][1][0] == pytest.approx(h.latest.param("L0 Linear.weight").grad_data)
    assert deep.window.sample_act.isEnabled()
    deep.window.sample_act.trigger()
    first = list(run.result.samples)
    assert deep.window.samples.text.toPlainText().split("\n") == first
    deep.window.samples.again.click()
    qtbot.waitUntil(lambda: run.result.samples != first, timeout=30_000)
    assert len(run.result.samples) == 20


def test_divergence_is_a_message_and_keeps_the_history(deep, monkeypatch):
    no_dialogs(monkeypatch)
    c = deep.window.controls
    c.stack.act.setCurrentText("relu")
    c.stack.build_btn.click()
    c.lr.setValue(1000.0)
    c.scheme.setCurrentText("naive")
    c.gain.setValue(10.0)
    c.out_scale.setChecked(False)
    run = deep.train(2000)
    assert run.status == "diverged" and "diverged" in run.result.message
    assert len(run.history.loss) > 0 and "diverged" in deep.hint_text()
    assert deep.window.train_act.isEnabled()


def test_bad_data_file_keeps_the_old_data(deep, qtbot, tmp_path, monkeypatch):
    said = no_dialogs(monkeypatch)
    w = deep.window
    old = w.data
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01binary")
    w.load_data(str(bad))
    qtbot.waitUntil(lambda: bool(said), timeout=20_000)
    assert w.data is old and "binary" in said[0]
    good = tmp_path / "good.txt"
    good.write_text("\n".join(["anna", "bob", "carl", "dora", "emil", "fay", "gus", "hal", "ida", "jo", "kim"]))
    w.load_data(str(good))
    qtbot.waitUntil(lambda: w.data.path == str(good), timeout=20_000)
    assert w.data.vocab.size == len(set("annabobcarldoraemilfaygushalidajokim")) + 1
    assert "good.txt" in w.controls.data_label.text()


def test_screenshot_command_writes_a_png(tmp_path):
    import os
    import subprocess
    import sys

    from PySide6 import QtGui

    out = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "initscope", "screenshot", str(out), "--preset", "deep-bn",
                        "--steps", "300", "--size", "1024x700"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    assert "leaked" not in r.stderr and "Traceback" not in r.stderr, r.stderr  # a quiet exit
    img = QtGui.QImage(str(out))
    assert img.width() == 1024 and img.height() == 700


def test_config_files_round_trip_and_bad_ones_change_nothing(deep, tmp_path, monkeypatch):
    said = no_dialogs(monkeypatch)
    w = deep.window
    w.controls.gain.setValue(0.8)
    good = tmp_path / "c.json"
    assert w.files.save_config_to(str(good))
    deep.set_preset("deep-bn")
    assert w.files.load_config_file(str(good))
    assert w.cfg.init.gain == 0.8 and w.controls.gain.value() == 0.8 and not w.controls.batchnorm.isChecked()
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": {"lr": -1}}')
    before = w.cfg.to_dict()
    assert not w.files.load_config_file(str(bad))
    assert "train.lr" in said[0] and w.cfg.to_dict() == before


def test_scenario_steps_and_presentation_mode(deep):
    from initscope.core.scenario import load_scenario, shipped_scenarios

    w = deep.window
    w.set_scenario(load_scenario(shipped_scenarios()[0]))
    bar = w.scenario_bar
    assert w.cfg.name == "original" and "step 1 of 13" in bar.caption.text() and not bar.prev_btn.isEnabled()
    bar.next_btn.click()
    assert w.cfg.name == "fix-softmax" and w.controls.out_factor.value() == pytest.approx(0.01)
    deep.wait_preview()
    assert deep.plotted("loss")["step 0"][1][0] < 4
    for _ in range(20):
        bar.next_btn.click()
    assert bar.index == 12 and not bar.next_btn.isEnabled() and w.cfg.name == "deep-bn"
    size = QtWidgets.QApplication.instance().font().pointSizeF()
    w.present_act.setChecked(True)
    assert QtWidgets.QApplication.instance().font().pointSizeF() == pytest.approx(size * 1.5)
    assert all(c.opts["pen"].widthF() >= 2 * c.base_width for c in deep.panel("activations").curves.values())
    w.present_act.setChecked(False)
    assert QtWidgets.QApplication.instance().font().pointSizeF() == pytest.approx(size)


def test_save_open_and_export_a_run(deep, make_initscope_window, qtbot, tmp_path, monkeypatch):
    import csv
    import xml.etree.ElementTree as ET

    from PySide6 import QtGui

    from initscope.core.runfile import load_run

    w = deep.window
    run = deep.train(300, every=100)
    path = str(tmp_path / "r.initscope")
    assert w.files.save_run_to(path)
    qtbot.waitUntil(lambda: w.files.last_saved == path, timeout=30_000)
    saved = load_run(path)
    assert saved.steps == 300 and np.array_equal(saved.losses, run.history.loss.data)
    assert saved.config == run.cfg and saved.split_losses == run.result.losses

    other = make_initscope_window(preset("deep-bn"))
    other.window.open_run_file(path)
    qtbot.waitUntil(lambda: other.shown and other.shown[0].from_file, timeout=20_000)
    opened = other.shown[0]
    assert other.window.cfg.name == "deep-nobn" and opened.status == "finished"
    assert np.array_equal(other.plotted("loss")["loss"][1], run.history.loss.data)
    assert np.array_equal(opened.history.update.data, run.history.update.data)
    assert "opened from a file" in other.status_text() and opened.name == "deep-nobn (from r.initscope)"

    files = w.files.export_panels_to(str(tmp_path))
    pngs = [f for f in files if f.endswith(".png")]
    svgs = [f for f in files if f.endswith(".svg")]
    assert len(pngs) == len(svgs) >= 7
    assert all(not QtGui.QImage(f).isNull() for f in pngs)
    assert all(ET.parse(f).getroot().tag.endswith("svg") for f in svgs)
    loss_csv, layers_csv = w.files.export_csv_to(str(tmp_path / "m"))
    rows = list(csv.DictReader(open(loss_csv)))
    assert len(rows) == 300 and float(rows[0]["loss"]) == pytest.approx(float(run.history.loss.data[0]), rel=1e-6)
    report = tmp_path / "report.html"
    assert w.files.export_report_to(str(report))
    assert report.read_text().count("data:image/png;base64,") >= 4

    said = no_dialogs(monkeypatch)
    assert w.files.export_panels_to(str(tmp_path / "missing")) == [] and "no such folder" in said[-1]
    bad = tmp_path / "bad.initscope"
    bad.write_bytes(open(path, "rb").read()[:100])
    before = w.cfg.to_dict()
    w.open_run_file(str(bad))
    qtbot.waitUntil(lambda: len(said) >= 2, timeout=10_000)
    assert "initscope run file" in said[-1] and w.cfg.to_dict() == before


def test_runs_overlay_compare_table_rename_delete(deep):
    a = deep.train(300, every=100)
    deep.set_batchnorm(True)
    b = deep.train(300, every=100)
    deep.select_runs(a, b)
    assert deep.shown == [a, b]
    loss = deep.plotted("loss")
    assert set(loss) == {a.name, b.name}
    j = b.history.layer_names.index("L2 Tanh")
    tag_b = b.name.split(":")[0]
    assert np.allclose(deep.plotted("saturation")[f"{tag_b} · L2 Tanh"][1], b.history.saturation.data[:, j] * 100)
    deep.show_tab("compare")
    deep.render()
    t = deep.window.compare.table
    assert t.columnCount() == 6 and "step 300" in deep.window.compare.note.text()
    assert t.verticalHeaderItem(0).text() == "activation 1 (L1 Tanh)"  # a's L1 Tanh beside b's L2 Tanh
    assert float(t.item(0, 3).text()) == pytest.approx(b.history.saturation.data[-1, j] * 100, abs=0.05)
    assert t.item(0, 3).background().color().name() == "#fde2c8"  # BatchNorm changed the saturation: marked
    deep.window.runs.list.item(0).setText("baseline")
    assert a.name == "baseline"
    deep.select_runs(b)
    deep.window.runs.delete_selected()
    assert deep.runs == [a]
    tip = deep.window.runs.list.item(0).toolTip()
    assert "Linear(100)" in tip and f"val {a.result.losses['val']:.4f}" in tip


def test_long_per_step_lines_are_drawn_as_block_means():
    from initscope.gui.views import DRAW_POINTS, block_means

    a = np.arange(20_000, dtype=float).reshape(-1, 2)  # 10,000 rows, 2 columns
    m = block_means(a)
    assert len(m) <= DRAW_POINTS + 1 and np.allclose(m[0], a[:17].mean(0)) and np.allclose(m[-1], a[588 * 17:].mean(0))
    assert block_means(a[:300]) is not None and len(block_means(a[:300])) == 300  # short: every step


def test_a_long_runs_snapshot_lines_are_drawn_as_block_means_too():
    # a preset's 200k steps give 2,000 snapshot rows: drawn as is, they cost 8-10 ms of paint per panel
    from test_history_hints import _snap

    from initscope.core.history import History
    from initscope.gui.views import DRAW_POINTS, series_of

    h = History()
    for k in range(2000):
        h.add_snapshot(_snap(step=100 * k, sat=k / 2000, upd=-3 - k / 1000))
    steps, sat, upd = series_of(h)
    assert len(steps) == len(sat) == len(upd) <= DRAW_POINTS + 1
    b = -(-2000 // DRAW_POINTS)  # rows per block
    assert np.isclose(steps[0], np.mean(100 * np.arange(b))) and np.isclose(sat[0, 0], np.mean(np.arange(b) / 2000))
    assert np.isclose(upd[-1, 0], h.update.data[(len(steps) - 1) * b:, 0].mean())
    short = History()
    for k in range(50):
        short.add_snapshot(_snap(step=100 * k))
    assert np.array_equal(series_of(short)[0], 100 * np.arange(50))  # a short run: every snapshot


def test_at_init_the_activation_panel_marks_the_theory_std(deep):
    from initscope.core.theory import predict

    drawn = deep.plotted("activations")
    snap = deep.shown[0].history.init
    for p in predict(deep.window.cfg, deep.window.data.vocab.size):
        x, y, colour = drawn[f"predicted ±σ {p.name}"]
        assert list(x) == pytest.approx([-p.std, p.std]) and list(y) == [0, 0]
        measured = snap.layer(p.name).std
        assert abs(measured - p.std) < 0.15 * p.std  # the lecture's width-100 net is close to the wide-net theory
        line = next(v for k, v in drawn.items() if k.startswith(p.name + " "))
        assert line[2] == colour  # the marker has its layer's colour
    run = deep.train(100, every=50)
    assert not any(k.startswith("predicted") for k in deep.plotted("activations"))  # theory is for init only
    assert run.history.latest.step == 100


def test_a_gain_sweep_click_while_training_changes_no_setting(deep):
    # the side panel is frozen while a run trains; a click in the gain sweep moved the gain box all the same
    c = deep.window.controls
    gain = deep.window.cfg.init.gain
    deep.start_training(200_000)
    deep.qtbot.waitUntil(lambda: deep.window.training, timeout=30_000)
    deep.window.explorer.gainPicked.emit(0.5)
    assert deep.window.cfg.init.gain == gain and c.gain.value() == pytest.approx(gain, abs=1e-3)  # 3 decimals shown
    assert not c.gain.isEnabled() and not c.out_factor.isEnabled()
    deep.window.stop()
    deep.wait_trained()
    deep.window.explorer.gainPicked.emit(0.5)  # after the run: it is the gain again
    deep.wait_preview()
    assert deep.window.cfg.init.gain == pytest.approx(0.5)


# --- beyond the lecture: the norm choice, residual stacks, the new kinds in the panels ---------------------------------
def test_norm_choice_residual_builder_and_panels_for_the_new_kinds(deep):
    from initscope.core.config import stack_norm

    c = deep.window.controls
    assert not c.batchnorm.isChecked() and c.norm.currentData() == "none"  # deep-nobn
    deep.set_batchnorm(True)
    assert c.norm.currentData() == "batchnorm"  # the lecture's toggle and the choice say the same
    c.norm.setCurrentIndex(c.norm.findData("layernorm"))
    deep.wait_preview()
    layers = deep.window.cfg.model.layers
    assert stack_norm(layers) == "layernorm" and not c.batchnorm.isChecked()
    assert [s.kind for s in layers] == ["linear", "layernorm", "tanh"] * 5 + ["linear"]
    assert_is_preview(deep)
    snap = deep.shown[0].history.init
    acts = deep.plotted("activations")
    for s in snap.layers:  # every LayerNorm is drawn at std ~1, and the saturation bars keep to the tanh layers
        if s.kind == "layernorm":
            x, y = acts[next(k for k in acts if k.startswith(s.name + "<br>"))][:2]
            assert abs(s.std - 1) < 0.01 and np.allclose(y, s.hist.density())
    assert set(deep.plotted("saturation")) == {s.name for s in snap.layers if s.kind == "tanh"}
    # the builder: 3 residual GELU blocks, pre-LayerNorm (the norm chosen), then gpt2 scaling
    st = c.stack
    st.depth.setValue(3)
    st.act.setCurrentText("gelu")
    st.residual.setChecked(True)
    st.build_btn.click()
    deep.wait_preview()
    layers = deep.window.cfg.model.layers
    assert [s.kind for s in layers] == ["linear", "residual", "residual", "residual", "layernorm", "linear"]
    assert [t.kind for t in layers[1].layers] == ["layernorm", "linear", "gelu", "linear"]
    assert st.list.item(1).text().startswith("L1–L5  Residual(")
    assert c.res_scaling.isEnabled()
    c.res_scaling.setCurrentText("gpt2")
    deep.wait_preview()
    assert deep.window.cfg.init.residual_scaling == "gpt2"
    snap = deep.shown[0].history.init
    assert [s.kind for s in snap.layers].count("residual") == 3
    panel = deep.panel("saturation")
    assert panel.title == "GELU saturation" and "input < -3" in panel.plot.getAxis("left").labelText
    assert set(deep.plotted("saturation")) == {s.name for s in snap.layers if s.kind == "gelu"}
    # back to a plain stack: residual scaling no longer applies and goes back to none
    st.residual.setChecked(False)
    st.build_btn.click()
    deep.wait_preview()
    assert deep.window.cfg.init.residual_scaling == "none" and not c.res_scaling.isEnabled()
    c.scheme.setCurrentText("orthogonal")
    deep.wait_preview()
    assert deep.window.cfg.init.scheme == "orthogonal" and deep.window.stack_error is None
