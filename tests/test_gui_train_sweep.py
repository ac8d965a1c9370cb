"""The Train sweep view: runs off the GUI thread, draws what the runs measured, opens a run on click, cancels."""

import json
import multiprocessing as mp
import os

import numpy as np
import pytest

from initscope.core.config import Config
from initscope.core.data import default_data_path, load_words, make_dataset
from initscope.core.errors import UserError
from initscope.core.train_sweep import run_job

TINY = {"model": {"n_embd": 4, "layers": [{"kind": "linear", "width": 16}, {"kind": "tanh"},
                                          {"kind": "linear", "width": None}]},
        "train": {"steps": 30, "lr_decay_step": 0}, "diag": {"snapshot_every": 10}}


@pytest.fixture
def words(tmp_path):
    p = tmp_path / "words.txt"
    p.write_text("\n".join(load_words(default_data_path())[:1500]) + "\n")
    return str(p)


@pytest.fixture
def view(qtbot):
    from initscope.gui.train_sweep import TrainSweepView

    v = TrainSweepView()
    qtbot.addWidget(v)
    v.resize(1200, 600)
    v.show()
    yield v
    v.shutdown()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_summary_plot_draws_each_variants_final_val_loss(qtbot, view, words, tmp_path):
    from initscope.core.runfile import load_run

    view.set_base_config(Config.from_dict(TINY), words)
    view.param.setCurrentText("gain")
    view.values.setText("1, 5/3")
    view.param2.setCurrentText("batchnorm")
    assert view.values2.text() == "off,on"  # the field's usual values, filled in
    view.seeds.setValue(1)
    view.steps.setValue(30)
    view.workers.setValue(2)
    assert view.start()
    assert view.running and not view.run_btn.isEnabled()  # returned at once; the work is in another thread
    qtbot.waitUntil(lambda: not view.running, timeout=120_000)
    assert "done: 4 runs" in view.status.text()

    # independent: the same jobs run here, in this process, one by one
    data = make_dataset(load_words(words), 3, words)
    expect = {}
    for job in view.spec.jobs():
        expect.setdefault(job.value2, []).append((job.value, run_job(job, data).val))
    drawn = view.summary_data()
    assert set(drawn) == {"batchnorm=off", "batchnorm=on"}
    for v2, label in (("off", "batchnorm=off"), ("on", "batchnorm=on")):
        x, y = drawn[label]
        np.testing.assert_array_equal(x, [1.0, 5 / 3])
        np.testing.assert_array_equal(y, [val for _, val in expect[v2]])
        bx, lo, hi = view.band_data()[label]
        np.testing.assert_array_equal(bx, x)
        np.testing.assert_array_equal(lo, y)  # one seed: no spread
        np.testing.assert_array_equal(hi, y)
    assert all(len(c.listDataItems()) == 1 for c in view.cells.values())  # one loss curve per cell (one seed)

    # clicking the (5/3, on) point asks the window to open that run, saved in the runfile format
    line = view.lines["batchnorm=on"]
    with qtbot.waitSignal(view.run_requested, timeout=5000) as sig:
        line.sigPointsClicked.emit(line, line.scatter.points()[1:2], None)
    run = load_run(sig.args[0])
    assert run.config.init.gain == pytest.approx(5 / 3) and run.config.has_batchnorm and run.steps == 30

    out = tmp_path / "sweep.json"
    view.save_json(out)
    d = json.loads(out.read_text())
    assert d["param"] == "gain" and d["values2"] == ["off", "on"] and len(d["points"]) == 4
    before = view.summary_data()
    view.load_json(out)  # a saved sweep draws the same summary
    for label, (x, y) in view.summary_data().items():
        np.testing.assert_array_equal(x, before[label][0])
        np.testing.assert_array_equal(y, before[label][1])
    bad = tmp_path / "bad.json"
    bad.write_text('{"param": "gain"}')
    with pytest.raises(UserError, match="not a training sweep"):
        view.load_json(bad)
    png = tmp_path / "sweep.png"
    view.export_png(png)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cancel_stops_every_worker(qtbot, view, words):
    view.set_base_config(Config.from_dict(TINY), words)
    view.values.setText("0.5,1,2")
    view.seeds.setValue(1)
    view.steps.setValue(5_000_000)
    view.workers.setValue(2)
    assert view.start()
    qtbot.waitUntil(lambda: bool(view.backend.running), timeout=60_000)  # a worker is inside a run
    pids = list(view.backend.pids)
    view.cancel_btn.click()
    qtbot.waitUntil(lambda: not view.running, timeout=30_000)
    assert view.status.text().startswith("cancelled: 0 runs")
    assert all(_gone(p) for p in pids) and mp.active_children() == []
    assert view.run_btn.isEnabled() and not view.cancel_btn.isEnabled()


def test_seed_spread_is_the_band(qtbot, view, tmp_path):
    """A saved 2-seed sweep (no processes needed): the line is the seed mean, the band mean ± std."""
    vals = {(0.5, "off"): [2.9, 3.1], (0.5, "on"): [2.5, 2.6], (2.0, "off"): [2.7, 2.3], (2.0, "on"): [2.45, 2.55]}
    points = [{"value": v, "value2": v2, "runs": [{"seed": k, "train": x, "val": x, "status": "finished", "seconds": 1.0}
                                                  for k, x in enumerate(xs)]} for (v, v2), xs in vals.items()]
    d = {"param": "gain", "values": [0.5, 2.0], "param2": "batchnorm", "values2": ["off", "on"], "steps": 10,
         "seeds": 2, "points": points, "backend": "local", "workers": 2, "wall_seconds": 1.0}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(d))
    view.load_json(path)
    for v2 in ("off", "on"):
        x, lo, hi = view.band_data()[f"batchnorm={v2}"]
        xm, mean = view.summary_data()[f"batchnorm={v2}"]
        expect = [vals[(g, v2)] for g in (0.5, 2.0)]
        np.testing.assert_allclose(mean, [np.mean(e) for e in expect])
        np.testing.assert_allclose(lo, [np.mean(e) - np.std(e) for e in expect])
        np.testing.assert_allclose(hi, [np.mean(e) + np.std(e) for e in expect])
        np.testing.assert_array_equal(x, [0.5, 2.0])
        np.testing.assert_array_equal(xm, [0.5, 2.0])
