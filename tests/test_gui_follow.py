"""`initscope gui --follow FILE` / File > Follow a run…: a run that a script writes with initscope.watch, shown
live in every panel through the public fixture; the wait for a missing file, the end of the writer, its death."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from torch import nn

import initscope
from initscope.core.runfile import load_run


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 3))


def _steps(model, opt, scope, n, x, y):
    for _ in range(n):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        scope.step(loss)


def test_following_a_watched_run_shows_it_live_in_every_panel(initscope_window, qtbot, tmp_path):
    d = initscope_window
    path = tmp_path / "live.initscope"
    rec = d.follow(path)
    assert rec in d.runs and d.shown == [rec]
    assert "waiting for" in d.status_text() and str(path) in d.hint_text()  # says it waits for the file

    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    scope = initscope.watch(model, opt, save=path, every=10, flush_seconds=0.05, classes=3)
    _steps(model, opt, scope, 25, x, y)
    scope.flush()
    qtbot.waitUntil(lambda: rec.steps_done >= 25, timeout=10_000)
    assert rec.status == "running" and rec.watched and "watched" in rec.name
    loss = d.plotted("loss")
    drawn = next(v for v in loss.values() if len(v[0]) == 25)
    np.testing.assert_allclose(drawn[1], scope.history.loss.data[:25], rtol=1e-6)  # every step's loss, as recorded
    acts = d.plotted("activations")
    assert any(label.startswith("1") or "1 " in label for label in acts)  # the model's own layer names
    sat = d.plotted("saturation")
    assert sat and all(("1" in k or "3" in k) for k in sat)  # activations only: the Tanh "1" and the GELU "3"
    assert "following" in d.status_text() and "step 25" in d.status_text()

    _steps(model, opt, scope, 15, x, y)  # more steps: the window follows
    scope.flush()
    qtbot.waitUntil(lambda: rec.steps_done >= 40, timeout=10_000)
    # snapshots at 0, 10, 20, 30 (a streaming run's snapshot panels redraw at most 4 times a second)
    qtbot.waitUntil(lambda: max((len(v[0]) for v in d.plotted("update").values()), default=0) == 4, timeout=5_000)
    scope.close()
    qtbot.waitUntil(lambda: rec.status == "finished", timeout=10_000)
    assert not d.window.following.follower.following  # nothing more will come
    assert "finished" in d.status_text()


def test_following_notices_a_writer_that_died(initscope_window, qtbot, tmp_path):
    d = initscope_window
    path = tmp_path / "dies.initscope"
    script = (f"import os, torch, initscope\nfrom torch import nn\nm = nn.Sequential(nn.Linear(2, 4), nn.ReLU())\n"
              f"o = torch.optim.SGD(m.parameters(), lr=0.1)\ns = initscope.watch(m, o, save={str(path)!r})\n"
              f"for _ in range(5):\n    l = m(torch.randn(8, 2)).pow(2).mean(); o.zero_grad(); l.backward(); o.step(); s.step(l)\n"
              f"s.flush(wait=True)\nos._exit(0)\n")  # exits without closing: as if killed
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert load_run(path).status == "running"
    rec = d.follow(path)
    qtbot.waitUntil(lambda: rec.status == "interrupted", timeout=10_000)
    assert rec.steps_done == 5 and "interrupted" in d.status_text()


def test_an_opened_watched_run_can_be_exported_and_saved_again(initscope_window, qtbot, tmp_path):
    d = initscope_window
    path = tmp_path / "done.initscope"
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    with initscope.watch(model, opt, save=path, every=5) as scope:
        _steps(model, opt, scope, 12, x, y)
    d.window.open_run_file(str(path))
    qtbot.waitUntil(lambda: any(r.watched for r in d.runs), timeout=10_000)
    rec = next(r for r in d.runs if r.watched)
    assert d.shown == [rec] and rec.status == "finished"
    assert not d.window.sample_act.isEnabled()  # no weights: nothing to sample from
    assert d.window.files.export_report_to(str(tmp_path / "r.html"))
    assert "watched in its own training loop" in (tmp_path / "r.html").read_text()
    assert d.window.files.save_run_to(str(tmp_path / "again.initscope"))
    qtbot.waitUntil(lambda: (tmp_path / "again.initscope").exists(), timeout=10_000)
    again = load_run(tmp_path / "again.initscope")
    assert again.watched and again.steps == 12 and [s.step for s in again.snapshots] == [0, 5, 10]


def test_two_watched_runs_compare_by_their_activations(initscope_window, qtbot, tmp_path):
    d = initscope_window
    for lr, name in ((0.05, "slow"), (0.5, "fast")):
        model = _model()
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
        with initscope.watch(model, opt, save=tmp_path / f"{name}.initscope", every=5) as scope:
            _steps(model, opt, scope, 11, x, y)
        d.window.open_run_file(str(tmp_path / f"{name}.initscope"))
        qtbot.waitUntil(lambda name=name: any(name in r.name for r in d.runs), timeout=10_000)
    recs = [r for r in d.runs if r.watched]
    d.select_runs(*recs)
    d.show_tab("compare")
    d.render()
    table = d.window.compare.table
    assert table.rowCount() == 2  # the Tanh "1" and the GELU "3", lined up; the Linears are not activations
    h = recs[0].history
    col = [n for n in h.layer_names].index("3")
    sat_cell = table.item(1, 0).text()
    assert sat_cell == f"{h.saturation.data[-1, col] * 100:.1f}"  # the GELU's saturation at the shared step


def test_a_watched_run_without_classes_draws_no_uniform_guess(initscope_window, qtbot, tmp_path):
    d = initscope_window
    path = tmp_path / "noclasses.initscope"
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    with initscope.watch(model, opt, save=path, every=5) as scope:  # no classes=: ln(classes) unknown
        _steps(model, opt, scope, 12, x, y)
    d.window.open_run_file(str(path))
    qtbot.waitUntil(lambda: any(r.watched for r in d.runs), timeout=10_000)
    d.render()
    panel = d.panel("loss")
    assert not panel.ref.isVisible()  # no "uniform guess" line at a made-up value
    lo, hi = panel.plot.viewRange()[1]
    losses = scope.history.loss.data
    assert lo <= float(losses.min()) and float(losses.max()) <= hi  # the y range fits the losses themselves


def test_a_run_asked_for_before_the_engine_is_up_opens_once_it_is(qtbot, tmp_path):
    """`initscope gui --run FILE` asks as soon as the window is built, which on a real screen is before torch is
    imported in the background and the engine's thread starts: the request waits for the engine instead of
    going to a signal that nothing is connected to yet (the run used to never open)."""
    from initscope.gui.run_controller import RunController

    path = tmp_path / "early.initscope"
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with initscope.watch(model, opt, save=path, every=2) as scope:
        _steps(model, opt, scope, 4, torch.randn(16, 6), torch.randint(0, 3, (16,)))
    ctl = RunController()
    opened, failed = [], []
    ctl.runOpened.connect(opened.append)
    ctl.openFailed.connect(failed.append)
    ctl.start(import_now=False)
    try:
        ctl.open_run(str(path))
        ctl.open_run(str(path))  # asked twice before the answer: opened once
        assert not ctl.ready and not opened
        with qtbot.waitSignal(ctl.runOpened, timeout=120_000):
            ctl.start_import()
        qtbot.wait(200)
        assert not failed and len(opened) == 1
        rec = opened[0]
        assert rec.from_file and rec.watched and rec.model.cls == "Sequential" and len(rec.history.loss) == 4
    finally:
        ctl.close()
