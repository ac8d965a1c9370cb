"""The init explorer tabs, driven through the real window."""

import numpy as np
import pytest

from initscope.core.sweeps import gain_sweep, gain_values


def test_gain_sweep_runs_off_the_gui_thread_and_matches_the_core(qtbot, win):
    from PySide6 import QtCore

    ex = win.explorer
    win.tabs.setCurrentIndex(2)
    ex.seeds.setValue(4)
    ticks = []
    timer = QtCore.QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    ex.gain_btn.click()
    assert ex.status.text().startswith("sweeping")  # the click returned before the sweep finished
    qtbot.waitUntil(lambda: "done" in ex.status.text(), timeout=60_000)
    timer.stop()
    # on the GUI thread the sweep would block the loop: no tick until it ended; here the loop keeps turning
    assert len(ticks) >= 3
    qtbot.waitUntil(lambda: not ex.gain_view.dirty, timeout=5000)
    ref = gain_sweep(win.cfg, win.data, gain_values(0.25, 3.0, 24), seeds=4)
    xs, ys = ex.gain_view.panels[0].curves["L1 Tanh"].getData()
    assert np.allclose(xs, gain_values()) and np.allclose(ys, np.array(ref.layers[0]["saturation"]) * 100)


def test_picking_a_gain_sets_the_config(qtbot, win):
    ex = win.explorer
    ex.gain_view.gainPicked.emit(0.75)
    assert win.cfg.init.gain == pytest.approx(0.75) and win.controls.gain.value() == pytest.approx(0.75)
    assert ex.gain_view.marks[0].value() == pytest.approx(0.75)


def test_depth_sweep_draws_every_normalisation(qtbot, win):
    ex = win.explorer
    ex.seeds.setValue(1)
    ex.depth_btn.click()
    qtbot.waitUntil(lambda: ex.status.text() == "depth sweep done", timeout=120_000)
    assert list(ex.depth_view.std_panel.curves) == ["no norm", "BatchNorm", "LayerNorm", "RMSNorm"]
    for name in ("BatchNorm", "LayerNorm", "RMSNorm"):  # a norm before every tanh: std ~0.64 at any depth
        xs, ys = ex.depth_view.std_panel.curves[name].getData()
        assert list(xs) == list(range(1, 13)) and np.all(np.abs(ys - 0.64) < 0.05), name


def test_dead_neuron_map_shows_the_snapshot(qtbot, win):
    win.tabs.setCurrentIndex(3)
    dm = win.explorer.dead_map
    qtbot.waitUntil(lambda: dm.snapshot is not None and dm.layer.count() == 5, timeout=5000)
    s = dm.current()
    assert s.name == "L1 Tanh"
    assert np.array_equal(dm.image.image > 0, s.sat_map) and f"<b>{s.dead}</b> of 100" in dm.count.text()
    assert s.dead == int(s.sat_map.all(0).sum())


def test_five_points_stay_standardised_wherever_the_point_is_dragged(qtbot, win):
    bn5 = win.explorer.bn5
    for v in (-600, -150, 0, 37, 420, 600):
        bn5.slider.setValue(v)
        assert abs(bn5.out.mean()) < 1e-9 and abs(bn5.out.std() - 1) < 1e-3
        xs, _ = bn5.outputs.getData()
        assert np.allclose(xs, bn5.out)
