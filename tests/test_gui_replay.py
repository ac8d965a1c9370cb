"""Replay in the window (issue 24): the time scrubber moves the panels, the tabs and the hint strip to step k;
the Over time tab draws the stored histograms; ghosts of the previous scenario step are drawn and toggled.
Two windows in all (each costs seconds)."""

import html

import numpy as np
import pytest
from PySide6 import QtCore

from initscope.gui.texts import hints_for


def _densities(snap):
    return {s.name: (s.hist.centers(), s.hist.density()) for s in snap.layers}


def test_scrubber_moves_every_panel_to_step_k_and_the_heatmaps_draw_the_stored_counts(deep, qtbot, tmp_path):
    rec = deep.train(300, every=50)
    h = rec.history
    assert deep.scrub_steps == [0, 50, 100, 150, 200, 250, 300]
    latest = deep.plotted("activations")

    # step k: the densities, the grad:data bars, the gradients and the hints are step 100's snapshot
    assert deep.set_step(120) == 100
    snap = h.replay.snapshot(h.replay.row_at(100))
    assert snap.step == 100
    acts = deep.plotted("activations")
    for s in snap.layers:
        label = next(k for k in acts if k.startswith(f"{s.name} "))
        x, y, _ = acts[label]
        assert np.allclose(x, s.hist.centers()) and np.allclose(y, s.hist.density())
    by_layer = lambda d: {k.split(" ")[0] + " " + k.split(" ")[1]: v for k, v in d.items()}  # noqa: E731
    now, before = by_layer(acts), by_layer(latest)
    assert set(now) == set(before) and any(not np.allclose(now[k][1], before[k][1]) for k in now)  # it moved
    bars = deep.plotted("grad:data")
    mats = [p for p in snap.params if p.is_matrix]
    assert np.allclose([bars[k][1][0] for k in bars], [p.grad_data for p in mats])
    grads = deep.plotted("gradients")
    for s in snap.layers:
        x, y, _ = next(v for k, v in grads.items() if k.startswith(f"{s.name} "))
        assert np.allclose(y, s.grad_hist.density())
    # the hint strip: the core's hints on step 100's snapshot (as at the latest, a different list)
    said, text = hints_for(rec, snap), deep.hint_text()
    assert all(html.escape(line) in text for line in said[:100])
    assert said != hints_for(rec, h.latest) or not said
    # the step axes mark k; the curves stay whole
    marks = [line.value() for line in deep.window.scrubber.markers.values() if line.isVisible()]
    assert marks == [100, 100, 100]
    x, _, _ = deep.plotted("loss")["loss"]
    assert x[-1] == 299

    # ← / → step it; at the end it follows the latest again
    deep.window.tabs.currentWidget().setFocus()
    qtbot.keyClick(deep.window.tabs.currentWidget(), QtCore.Qt.Key.Key_Right)
    assert deep.window.scrubber.held == 150
    qtbot.keyClick(deep.window.tabs.currentWidget(), QtCore.Qt.Key.Key_Left)
    qtbot.keyClick(deep.window.tabs.currentWidget(), QtCore.Qt.Key.Key_Left)
    assert deep.window.scrubber.held == 50
    assert deep.set_step(None) == 300 and deep.window.scrubber.held is None
    assert not any(line.isVisible() for line in deep.window.scrubber.markers.values())

    # Over time: one image per tanh layer; each column is that step's stored counts over their total
    maps = deep.heatmaps("activations")
    tanhs = [j for j, s in enumerate(h.replay.template.layers) if s.kind == "tanh"]
    assert len(maps) == len(tanhs) == 5
    for j in tanhs:
        name = h.replay.template.layers[j].name
        steps, share, lo, hi = maps[f"{rec.name} · {name}"]
        assert list(steps) == [0, 50, 100, 150, 200, 250, 300] and (lo, hi) == (-1.0, 1.0)
        counts = np.stack([h.replay.snapshot(r).layers[j].hist.counts for r in range(len(steps))]).astype(np.float64)
        assert np.allclose(share, counts / counts.sum(1, keepdims=True))
    # the image drawn is those shares' colours; the scrubber's step is a line on it
    img = deep.window.heatmaps.images[(0, 0)].image
    from initscope.gui.heatmap_view import colour_values

    assert np.allclose(img, colour_values(maps[f"{rec.name} · {h.replay.template.layers[tanhs[0]].name}"][1]))
    deep.set_step(200)
    assert all(c.isVisible() and c.value() == 200 for c in deep.window.heatmaps.cursors)
    grads = deep.heatmaps("gradients at layer outputs")
    assert len(grads) == 5 and all(np.allclose(v[1].sum(1), 1.0) for v in grads.values())

    # File > Export animation: one frame per snapshot of the shown tab, with a progress bar
    from PIL import Image

    from initscope.gui.animation import export_animation_to

    assert [a.text() for a in deep.window.file_acts if a.text().startswith("Export")][-2:] == [
        "Export report (HTML)…", "Export animation (GIF / MP4)…"]  # in the File menu, after the report
    assert export_animation_to(deep.window, str(tmp_path / "run.gif")) == 7
    with Image.open(tmp_path / "run.gif") as im:
        assert im.n_frames == 7
    assert "7 frames" in deep.window.statusBar().currentMessage()


def test_ghosts_of_the_previous_scenario_step_are_drawn_and_toggled(deep):
    from initscope.core.scenario import load_scenario, shipped_scenarios

    w = deep.window
    w.set_scenario(load_scenario(shipped_scenarios()[0]))
    deep.wait_preview()
    assert w.ghosts.plotted() == {}  # step 1 has no previous step
    first = deep.train(200, every=50)
    w.scenario_bar.next_btn.click()
    deep.wait_preview()
    ghost = w.ghosts.plotted()
    x, y = ghost["loss"]
    assert np.array_equal(x, np.arange(200)) and np.allclose(y, first.history.loss.data)
    assert w.ghosts.loss_item.isVisible() and w.ghosts.loss_item.xData is not None
    w.scenario_bar.ghosts.setChecked(False)
    assert w.ghosts.plotted() == {} and w.ghosts.loss_item.xData is None  # nothing drawn
    w.scenario_bar.ghosts.setChecked(True)
    second = deep.train(200, every=50)
    ghost = w.ghosts.plotted()  # the panels now draw the new run; the ghost is still the first one's
    assert np.allclose(ghost["loss"][1], first.history.loss.data)
    sat = {k: v for k, v in ghost.items() if k.startswith("saturation")}
    fh = first.history
    tanhs = [j for j, n in enumerate(fh.layer_names) if n.endswith("Tanh")]
    assert len(sat) == len(tanhs) >= 1
    for j in tanhs:
        xs, ys = sat[f"saturation · {fh.layer_names[j]}"]
        assert np.array_equal(xs, fh.snap_steps.data) and np.allclose(ys, fh.saturation.data[:, j] * 100)
    assert second is not first


def test_a_live_run_follows_the_latest_unless_the_scrubber_is_held_back(qtbot):
    """No window: the scrubber against a record whose history grows as a training run's does."""
    from test_replay import _snap

    from initscope.core.config import preset
    from initscope.core.history import History
    from initscope.gui.runs import RunRecord
    from initscope.gui.scrubber import Scrubber

    s = Scrubber()
    qtbot.addWidget(s)
    h = History()
    rec = RunRecord("live", preset("deep-nobn"), h, status="running")
    for k in range(3):
        h.add_snapshot(_snap(k * 100))
    assert s.apply([rec]) == [rec] and list(s.steps) == [0, 100, 200]  # following: the record itself
    assert s.set_step(150) == 100
    shown = s.apply([rec])[0]
    assert shown is not rec and shown.id == rec.id and shown.history.latest.step == 100
    h.add_snapshot(_snap(300))  # the run goes on: the slider grows, the view stays at step 100
    shown = s.apply([rec])[0]
    assert list(s.steps) == [0, 100, 200, 300] and shown.history.latest.step == 100
    assert s.slider.maximum() == 3 and s.slider.value() == 1 and "held" in s.label.text()
    s.slider.setValue(3)  # dragged to the right end: follows again
    assert s.held is None and s.apply([rec]) == [rec]
    h.add_snapshot(_snap(400))
    assert s.apply([rec]) == [rec] and s.slider.value() == 4  # and keeps following
    # a file whose history of snapshots was damaged: one line, once, and the ⚠ beside the slider says why
    said = []
    s.problemFound.connect(said.append)
    from initscope.core.messages import RunResult

    rec.result = RunResult(rec.status, replay_problem="its history of snapshots (replay.npz) is damaged (...)")
    s.apply([rec])
    s.apply([rec])
    assert said == [rec.result.replay_problem] and "⚠" in s.label.text()
    assert s.label.toolTip() == rec.result.replay_problem


def test_two_runs_side_by_side_on_one_colour_scale_and_one_value_range(qtbot):
    """No window: the Time view on two records whose gradient ranges differ."""
    from test_replay import _snap

    from initscope.core.config import preset
    from initscope.core.history import History
    from initscope.core.snapshot import Histogram
    from initscope.gui.heatmap_view import HeatmapView, colour_values
    from initscope.gui.runs import RunRecord

    view = HeatmapView()
    qtbot.addWidget(view)
    recs = []
    for name, width in (("A", 0.01), ("B", 0.04)):
        h = History()
        for k in range(4):
            s = _snap(k * 10, seed=len(recs))
            for layer in s.layers:
                layer.grad_hist = Histogram(layer.grad_hist.counts, -width, width)
            h.add_snapshot(s)
        recs.append(RunRecord(name, preset("deep-nobn"), h, status="finished"))
    view.kind.setCurrentText("gradients at layer outputs")
    view.render(recs)
    drawn = view.plotted()
    assert sorted(drawn) == ["A · L1 Tanh", "A · L3 Tanh", "B · L1 Tanh", "B · L3 Tanh"]
    for layer in ("L1 Tanh", "L3 Tanh"):
        (sa, ia, loa, hia), (sb, ib, lob, hib) = drawn[f"A · {layer}"], drawn[f"B · {layer}"]
        assert list(sa) == list(sb) == [0, 10, 20, 30]
        assert (loa, hia) == (lob, hib) == (-0.04, 0.04)  # one value range: B's, the wider
        assert np.allclose(ia.sum(1), 1.0) and np.allclose(ib.sum(1), 1.0)
        # A's values fill only the middle quarter of the shared range
        assert ia[:, : ia.shape[1] // 4].sum() == pytest.approx(0.0, abs=1e-9)
    levels = {tuple(np.round(img.levels, 9)) for img in view.images.values()}
    assert len(levels) == 1  # one colour scale for all four images
    lo, hi = levels.pop()
    values = np.concatenate([colour_values(v[1]).ravel() for v in drawn.values()])
    assert (lo, hi) == (round(float(np.percentile(values, 1)), 9), round(float(np.percentile(values, 99.5)), 9))
