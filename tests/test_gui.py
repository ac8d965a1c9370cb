"""The real window, driven through its widgets with qtbot (offscreen)."""

import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from initscope.core.config import preset  # noqa: E402
from initscope.gui.app import make_app  # noqa: E402
from initscope.gui.main_window import MainWindow  # noqa: E402


def first_sat(w):
    return w.preview_snapshot.layers[0].saturation


def wait_preview_change(qtbot, w, old):
    qtbot.waitUntil(lambda: w.preview_snapshot is not old, timeout=20_000)


def test_preview_shows_deep_nobn_saturation_and_batchnorm_settles_it(qtbot, win):
    assert 0.12 < first_sat(win) < 0.30
    old = win.preview_snapshot
    win.controls.batchnorm.setChecked(True)
    assert win.cfg.has_batchnorm and win.controls.stack.list.count() == 17
    wait_preview_change(qtbot, win, old)
    assert all(s.saturation < 0.06 for s in win.preview_snapshot.layers)
    qtbot.waitUntil(lambda: "L2 Tanh" in win.sat_panel.curves, timeout=5000)
    # the panel shows exactly the snapshot's numbers
    xs, ys = win.sat_panel.curves["L2 Tanh"].getData()
    assert ys[-1] == pytest.approx(win.preview_snapshot.layer("L2 Tanh").saturation * 100)


def test_gain_moves_saturation_the_right_way(qtbot, win):
    base = first_sat(win)
    old = win.preview_snapshot
    win.controls.gain.setValue(3.0)
    assert win.cfg.init.gain == 3.0 and win.controls.preset.currentIndex() == 0  # now a custom config
    wait_preview_change(qtbot, win, old)
    assert first_sat(win) > base + 0.1
    old = win.preview_snapshot
    win.controls.gain.setValue(0.5)
    wait_preview_change(qtbot, win, old)
    assert first_sat(win) < 0.02 and win.preview_snapshot.layers[-1].std < 0.2


def test_invalid_stack_disables_train_and_says_why(qtbot, win):
    st = win.controls.stack
    st.list.setCurrentRow(0)
    st._add("tanh")  # L1 becomes Tanh right after L0 Linear: fine; add another to make two in a row
    st.list.setCurrentRow(1)
    st._add("relu")
    assert "follows another activation" in st.error.text() and "L2 ReLU" in st.error.text()
    assert not win.train_act.isEnabled()
    st.list.setCurrentRow(2)
    st._remove()
    st.list.setCurrentRow(1)
    st._remove()
    assert st.error.text() == "" and win.train_act.isEnabled()


def test_presets_from_the_combo(qtbot, win):
    win.controls.preset.setCurrentText("deep-bn")
    assert win.cfg.name == "deep-bn" and win.controls.batchnorm.isChecked()
    win.controls.preset.setCurrentText("original")
    assert win.controls.scheme.currentText() == "naive" and not win.controls.out_scale.isChecked()
    qtbot.waitUntil(lambda: win.preview_snapshot.loss > 10, timeout=20_000)  # confidently wrong
    qtbot.waitUntil(lambda: "confidently wrong" in win.hint_box.text(), timeout=5000)


def train_short(qtbot, win, steps=600, every=100):
    win.controls.steps.setValue(steps)
    win.controls.every.setValue(every)
    assert win.cfg.train.steps == steps
    # wait on the window's own state: a qtbot signal blocker on a worker-thread signal runs in that thread
    win.train_act.trigger()
    qtbot.waitUntil(lambda: not win.training and win.last_result is not None, timeout=120_000)
    return win.run_status, win.last_result


def test_short_training_streams_into_the_panels(qtbot, win):
    status, result = train_short(qtbot, win)
    assert status == "finished" and set(result["losses"]) == {"train", "val", "test"}
    h = win.history
    assert len(h.loss) == 600 and list(h.snap_steps.data) == [0, 100, 200, 300, 400, 500]
    qtbot.waitUntil(lambda: win.loss_panel.raw.getData()[1] is not None
                    and len(win.loss_panel.raw.getData()[1]) == 600, timeout=5000)
    x, y = win.loss_panel.raw.getData()
    assert np.array_equal(y, h.loss.data)
    xs, ys = win.upd_panel.curves["L0 Linear.weight"].getData()
    assert np.allclose(ys, h.update.data[:, h.matrix_names.index("L0 Linear.weight")]) and len(xs) == 6
    assert win.loss_panel.ref.value() == pytest.approx(math.log(27))
    qtbot.waitUntil(lambda: "train" in win.hint_box.text(), timeout=5000)
    assert win.sample_act.isEnabled()
    first = list(win.last_result["samples"])
    win._sample_more()
    qtbot.waitUntil(lambda: win.last_result["samples"] != first, timeout=30_000)
    assert len(win.last_result["samples"]) == 20


def test_pause_resume_stop(qtbot, win):
    win.controls.steps.setValue(5_000_000)
    win.train_act.trigger()
    qtbot.waitUntil(lambda: len(win.history.loss) >= 100, timeout=60_000)
    assert not win.train_act.isEnabled() and win.stop_act.isEnabled()
    win.pause_act.trigger()
    qtbot.waitUntil(lambda: win.pause_act.text() == "Resume", timeout=5000)
    assert win.worker.paused
    qtbot.wait(400)  # chunks already on their way arrive; then nothing more while paused
    n = len(win.history.loss)
    qtbot.wait(400)
    assert len(win.history.loss) == n
    win.pause_act.trigger()
    assert not win.worker.paused
    qtbot.waitUntil(lambda: len(win.history.loss) > n + 100, timeout=30_000)
    win.stop_act.trigger()
    qtbot.waitUntil(lambda: not win.training and win.train_act.isEnabled(), timeout=30_000)
    assert win.run_status == "stopped"
    assert len(win.history.loss) > 0 and win.run_status == "stopped"


def test_divergence_arrives_as_a_message_and_keeps_the_history(qtbot, win, monkeypatch):
    from PySide6 import QtWidgets

    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: None)
    win.controls.stack.act.setCurrentText("relu")
    win.controls.stack.build_btn.click()
    assert win.cfg.model.layers[1].kind == "relu"
    win.controls.lr.setValue(1000.0)
    win.controls.scheme.setCurrentText("naive")
    win.controls.gain.setValue(10.0)
    win.controls.out_scale.setChecked(False)
    status, result = train_short(qtbot, win, steps=2000)
    assert status == "diverged" and "diverged at step" in result["message"]
    assert len(win.history.loss) > 0
    qtbot.waitUntil(lambda: "diverged" in win.hint_box.text(), timeout=5000)
    assert win.train_act.isEnabled()


def test_bad_data_file_keeps_the_old_data(qtbot, win, tmp_path, monkeypatch):
    from PySide6 import QtWidgets

    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    old = win.data
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01binary")
    win.load_data(str(bad))
    qtbot.waitUntil(lambda: bool(shown), timeout=20_000)
    assert win.data is old and "binary" in shown[0]
    good = tmp_path / "good.txt"
    good.write_text("\n".join(["anna", "bob", "carl", "dora", "emil", "fay", "gus", "hal", "ida", "jo", "kim"]))
    win.load_data(str(good))
    qtbot.waitUntil(lambda: win.data.path == str(good), timeout=20_000)
    assert win.data.vocab.size == len(set("annabobcarldoraemilfaygushalidajokim")) + 1
    assert "good.txt" in win.controls.data_label.text()


def test_close_mid_run_stops_the_worker(qtbot):
    make_app()
    w = MainWindow(preset("deep-bn"))
    w.show()
    qtbot.waitUntil(lambda: w.data is not None and w.preview_snapshot is not None, timeout=60_000)
    w.controls.steps.setValue(5_000_000)
    w.train_act.trigger()
    qtbot.waitUntil(lambda: len(w.history.loss) >= 50, timeout=60_000)
    w.close()
    assert w.worker_thread.isFinished() and w.engine_thread.isFinished()
    assert not w.worker.remote.alive  # the training process was stopped and joined


def test_screenshot_command_writes_a_png(tmp_path):
    import subprocess
    import sys

    from PySide6 import QtGui

    out = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "initscope", "screenshot", str(out), "--preset", "deep-bn",
                        "--steps", "300", "--size", "1366x768"], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    img = QtGui.QImage(str(out))
    assert img.width() == 1366 and img.height() == 768


def test_config_files_round_trip_and_bad_ones_change_nothing(qtbot, win, tmp_path, monkeypatch):
    from PySide6 import QtWidgets

    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    win.controls.gain.setValue(0.8)
    good = tmp_path / "c.json"
    win.cfg.save(good)
    win.controls.preset.setCurrentText("deep-bn")
    assert win.cfg.init.gain != 0.8
    assert win.load_config_file(str(good))
    assert win.cfg.init.gain == 0.8 and win.controls.gain.value() == 0.8 and not win.controls.batchnorm.isChecked()
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": {"lr": -1}}')
    before = win.cfg.to_dict()
    assert not win.load_config_file(str(bad))
    assert "train.lr" in shown[0] and win.cfg.to_dict() == before


def test_scenario_steps_and_presentation_mode(qtbot, win):
    from initscope.core.scenario import load_scenario, shipped_scenarios
    from PySide6 import QtWidgets

    win.set_scenario(load_scenario(shipped_scenarios()[0]))
    assert win.cfg.name == "original" and "step 1 of 13" in win.caption.text() and not win.prev_btn.isEnabled()
    win.next_btn.click()
    assert win.cfg.name == "fix-softmax" and win.controls.out_factor.value() == pytest.approx(0.01)
    qtbot.waitUntil(lambda: win.preview_snapshot.loss < 4, timeout=20_000)  # the step is loaded and previewed
    for _ in range(20):
        win.next_btn.click()
    assert win.scenario_index == 12 and not win.next_btn.isEnabled()
    assert win.cfg.name == "deep-bn" and win.cfg.init.gain == pytest.approx(3.0)
    size = QtWidgets.QApplication.instance().font().pointSizeF()
    win.present_act.setChecked(True)
    assert QtWidgets.QApplication.instance().font().pointSizeF() == pytest.approx(size * 1.5)
    assert all(c.opts["pen"].widthF() >= 2 * c.base_width for c in win.sat_panel.curves.values())
    win.present_act.setChecked(False)
    assert QtWidgets.QApplication.instance().font().pointSizeF() == pytest.approx(size)


def test_save_open_and_export_a_run(qtbot, win, tmp_path, monkeypatch):
    import csv
    import xml.etree.ElementTree as ET

    from PySide6 import QtGui, QtWidgets

    from initscope.core.runfile import load_run

    train_short(qtbot, win, steps=300)
    qtbot.waitUntil(lambda: win.last_result is not None, timeout=5000)
    path = str(tmp_path / "r.initscope")
    win.save_run_to(path)
    qtbot.waitUntil(lambda: win.last_saved == path, timeout=30_000)
    run = load_run(path)
    assert run.steps == 300 and np.array_equal(run.losses, win.history.loss.data)
    assert run.config == win.run_cfg and run.split_losses == win.last_result["losses"]

    other = MainWindow(preset("deep-bn"))
    qtbot.addWidget(other)
    other.show()
    other.show_saved_run(run)
    assert other.cfg.name == "deep-nobn" and other.run_status == "finished" and other.history_from_file
    qtbot.waitUntil(lambda: other.loss_panel.raw.getData()[1] is not None
                    and len(other.loss_panel.raw.getData()[1]) == 300, timeout=5000)
    assert np.array_equal(other.history.update.data, win.history.update.data)
    other.close()

    files = win.export_panels_to(str(tmp_path))
    pngs = [f for f in files if f.endswith(".png")]
    svgs = [f for f in files if f.endswith(".svg")]
    assert len(pngs) == len(svgs) >= 7
    assert all(not QtGui.QImage(f).isNull() for f in pngs)
    assert all(ET.parse(f).getroot().tag.endswith("svg") for f in svgs)
    loss_csv, layers_csv = win.export_csv_to(str(tmp_path / "m"))
    rows = list(csv.DictReader(open(loss_csv)))
    assert len(rows) == 300 and float(rows[0]["loss"]) == pytest.approx(float(win.history.loss.data[0]), rel=1e-6)
    layer_rows = list(csv.DictReader(open(layers_csv)))
    assert set(layer_rows[0]) == {"step", "name", "kind", "saturation", "act_std", "grad_std", "update_data_log10"}
    assert {r["name"] for r in layer_rows} >= {"L1 Tanh", "L0 Linear.weight"}

    report = tmp_path / "report.html"
    assert win.export_report_to(str(report))
    assert report.read_text().count("data:image/png;base64,") >= 4

    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    bad = tmp_path / "bad.initscope"
    bad.write_bytes(open(path, "rb").read()[:100])
    before = win.cfg.to_dict()
    win._open_run.emit(str(bad))
    qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
    assert "not an initscope run file" in shown[0] and win.cfg.to_dict() == before


def test_runs_list_overlay_compare_rename_delete(qtbot, win):
    from initscope.gui.runs import with_change

    train_short(qtbot, win, steps=300)
    win.controls.batchnorm.setChecked(True)
    train_short(qtbot, win, steps=300)
    runs = win.runs
    assert len(runs.records) == 2 and all(r.status == "finished" for r in runs.records)
    a, b = runs.records
    runs.select([a, b])
    assert win.overlay == [a, b]
    qtbot.waitUntil(lambda: set(win.loss_panel.curves) == {a.name, b.name}, timeout=5000)
    assert f"{b.name} · L2 Tanh" in win.sat_panel.curves and f"{a.name} · L1 Tanh" in win.sat_panel.curves
    xs, ys = win.sat_panel.curves[f"{b.name} · L2 Tanh"].getData()
    j = b.history.layer_names.index("L2 Tanh")
    assert np.allclose(ys, b.history.saturation.data[:, j] * 100)
    t = win.compare_table
    assert t.columnCount() == 6 and "step 200" in win.compare_note.text()
    assert t.verticalHeaderItem(0).text() == "activation 1"  # a's L1 Tanh beside b's L2 Tanh
    assert float(t.item(0, 3).text()) == pytest.approx(b.history.saturation.data[-1, j] * 100, abs=0.05)
    assert float(t.item(0, 0).text()) == pytest.approx(a.history.saturation.data[-1, 0] * 100, abs=0.05)
    # rename and delete
    item = runs.list.item(0)
    item.setText("baseline")
    assert a.name == "baseline"
    runs.select([b])
    assert win.history is b.history and not win.overlay
    runs.delete_selected()
    assert runs.records == [a]

    # compare with one change: A = current settings, B = BatchNorm off; same steps, both finished
    cfg_b, label = with_change(win.cfg, "BatchNorm", False)
    win.train_pair(cfg_b, label)
    qtbot.waitUntil(lambda: not win.training, timeout=120_000)
    pa, pb = runs.records[-2:]
    assert pa.name.startswith("A") and pb.name.startswith("B") and "BatchNorm off" in pb.name
    assert pa.cfg.has_batchnorm and not pb.cfg.has_batchnorm
    assert len(pa.history.loss) == len(pb.history.loss) == 300
    assert win.overlay == [pa, pb] and pa.status == pb.status == "finished"


def test_runs_list_tooltip_has_config_and_final_losses(qtbot, win):
    train_short(qtbot, win, steps=200)
    rec = win.runs.records[-1]
    tip = win.runs.list.item(win.runs.list.count() - 1).toolTip()
    assert "Linear(100)" in tip and "gain 1.67" in tip and f"val {rec.result['losses']['val']:.4f}" in tip
    assert win.runs.list.item(win.runs.list.count() - 1).text().startswith(rec.name + " — finished")
