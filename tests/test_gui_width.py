"""The Width view (issue 25): both parametrisations run off the GUI thread, the plots draw what the runs measured
(mean over seeds, the seeds' band, the slope), step 0 carries the width-free theory, a click opens that width's
run, and bad input is one line in the view."""

from __future__ import annotations

import numpy as np
import pytest

from initscope.core.config import Config
from initscope.core.data import default_data_path, load_words, make_dataset

from conftest import wait_laid_out

SMALL = {"model": {"n_embd": 4, "layers": [{"kind": "linear", "width": 16}, {"kind": "tanh"},
                                           {"kind": "linear", "width": 16}, {"kind": "tanh"},
                                           {"kind": "linear", "width": None}]}}


@pytest.fixture
def words(tmp_path):
    p = tmp_path / "words.txt"
    p.write_text("\n".join(load_words(default_data_path())[:1500]) + "\n")
    return str(p)


@pytest.fixture
def view(qtbot):
    from initscope.gui.width_view import WidthView

    v = WidthView()
    qtbot.addWidget(v)
    v.resize(1200, 700)
    v.show()
    yield v
    v.shutdown()


def test_plots_draw_each_width_and_step_and_open_a_run(qtbot, view, words):
    from initscope.core.runfile import load_run
    from initscope.core.theory import mean_abs
    from initscope.core.width import WidthSpec, at_width, run_local

    cfg = Config.from_dict(SMALL)
    view.set_base_config(cfg, words, 27)
    view.widths.setText("16, 64")
    view.steps.setValue(2)
    view.seeds.setValue(2)
    view.base_width.setValue(16)
    view.workers.setValue(2)
    assert view.start()
    assert view.running and not view.run_btn.isEnabled()  # returned at once; the runs are in another thread
    qtbot.waitUntil(lambda: not view.running, timeout=120_000)
    assert view.status.text().startswith("done: 8 runs")

    data = make_dataset(load_words(words), 3, words)
    for par in ("standard", "mup"):
        want = run_local(WidthSpec(cfg, [16, 64], par, "adam", 0.01, 2, 2, 16), data)  # here, one by one
        m, (lo, hi), slopes = want.mean_abs(), want.spread(), want.slopes()
        for t in (0, 1, 2):
            drawn = view.plotted(par, t)
            assert set(drawn) == {"L0 Linear", "L2 Linear", "L4 Linear"}  # the Linears, by default
            for li, name in ((0, "L0 Linear"), (2, "L2 Linear"), (4, "L4 Linear")):
                x, y = drawn[name]
                np.testing.assert_array_equal(x, [16, 64])
                np.testing.assert_allclose(y, m[li, :, t], rtol=1e-6)
                bx, blo, bhi = view.band(par, t)[name]
                np.testing.assert_allclose(blo, lo[li, :, t], rtol=1e-6)
                np.testing.assert_allclose(bhi, hi[li, :, t], rtol=1e-6)
                assert view.slopes_shown(par, t)[name] == f"{slopes[li, t]:+.2f}"
    # step 0: the theory, one flat dashed line per Linear (muP's scaled readout: x sqrt(base / width))
    pred = mean_abs(at_width(cfg, 16), 27)
    x, y = view.theory_lines[("standard", 2)].xData, view.theory_lines[("standard", 2)].yData
    np.testing.assert_allclose(y, [pred[2], pred[2]])
    np.testing.assert_allclose(view.theory_lines[("mup", 4)].yData, [pred[4], pred[4] * 0.5])

    titles = {k: c.titleLabel.text for k, c in view.cells.items()}
    assert "dashed: theory, no width in it" in titles[("mup", 0)]
    assert f"hidden slopes {min(slopes[[0, 2], 2]):+.2f} to {max(slopes[[0, 2], 2]):+.2f}" in titles[("mup", 2)]
    assert "L4 Linear (output)" in view.key.text() and "Tanh" not in view.key.text()  # the colour key

    # the activations too, on request
    view.all_layers.setChecked(True)
    assert "L1 Tanh" in view.plotted("standard", 2) and "L1 Tanh (tanh)" in view.key.text()

    # a click on the 64-wide point of muP's hidden line opens that run
    line = view.lines[("mup", 2, 2)]
    with qtbot.waitSignal(view.run_requested, timeout=5000) as sig:
        line.sigPointsClicked.emit(line, line.scatter.points()[1:2], None)
    run = load_run(sig.args[0])
    assert [s.width for s in run.config.model.layers if s.kind == "linear"] == [64, 64, None]
    assert "mup" in run.message and run.steps == 2


@pytest.mark.parametrize("field,text,msg", [("widths", "0,64", "width 0"), ("widths", "64", "two different"),
                                            ("lr", "fast", "is not a number")])
def test_bad_input_is_one_line_in_the_view(view, words, field, text, msg):
    view.set_base_config(Config.from_dict(SMALL), words, 27)
    getattr(view, field).setText(text)
    assert not view.start()
    assert view.status.text().startswith("cannot run:") and msg in view.status.text()
    assert view.run_btn.isEnabled() and not view.running


def test_a_stack_without_hidden_linear_is_refused_in_the_view(view, words):
    view.set_base_config(Config.from_dict({"model": {"layers": [{"kind": "linear", "width": None}]}}), words, 27)
    assert not view.start()
    assert "no hidden Linear" in view.status.text()


def test_a_narrow_view_shows_fewer_steps_each_readable(qtbot, view, words):
    """Beside the side panel in presentation mode the view has about 540 px: six step plots a row would leave
    each under 60 px of data area, so it shows as many as fit (step 0 and the last among them)."""
    view.set_base_config(Config.from_dict(SMALL), words, 27)
    view.set_scale(1.5, 15)
    view.resize(540, 600)
    view.widths.setText("16,32")
    view.steps.setValue(5)
    view.seeds.setValue(1)
    view.workers.setValue(1)
    assert view.start()
    qtbot.waitUntil(lambda: not view.running, timeout=120_000)
    wait_laid_out(qtbot, view)
    steps = sorted({t for _, t in view.cells})
    assert steps[0] == 0 and steps[-1] == 5 and len(steps) < 6
    assert all(min(c.vb.width(), c.vb.height()) >= 60 for c in view.cells.values())
    view.resize(1500, 600)  # wide again: every step
    wait_laid_out(qtbot, view)
    assert sorted({t for _, t in view.cells}) == [0, 1, 2, 3, 4, 5]
    assert set(view.plotted("mup", 5)) == {"L0 Linear", "L2 Linear", "L4 Linear"}


def test_a_click_on_a_width_opens_that_run_in_the_window(make_initscope_window, qtbot):
    """Explorer > Width in the real window: a click on a point adds that width's run to the Runs list."""
    from initscope.core.config import preset

    d = make_initscope_window(preset("deep-nobn"))
    ex = d.window.explorer
    qtbot.waitUntil(lambda: ex.width_view is not None, timeout=60_000)
    d.show_tab("explorer:width")
    v = ex.width_view
    v.widths.setText("16,48")
    v.steps.setValue(2)
    v.seeds.setValue(1)
    v.workers.setValue(2)
    assert v.start()
    qtbot.waitUntil(lambda: not v.running, timeout=120_000)
    assert ex.inner.tabText(ex.inner.currentIndex()) == "Width"
    before = len(d.runs)
    line = v.lines[("standard", 2, 2)]
    line.sigPointsClicked.emit(line, line.scatter.points()[1:2], None)
    qtbot.waitUntil(lambda: len(d.runs) == before + 1, timeout=30_000)
    rec = d.runs[-1]
    assert [s.width for s in rec.cfg.model.layers if s.kind == "linear"] == [48] * 5 + [None]
    assert len(rec.history.loss) == 2


def test_help_quotes_the_numbers_the_code_uses():
    from initscope.core.width import DEFAULT_BASE_WIDTH, FLAT
    from initscope.gui.help import help_text

    text = help_text("width-check")
    assert f"({DEFAULT_BASE_WIDTH} by default)" in text and f"above\n  {FLAT:g} on a hidden layer" in text
    assert "no width in it" in text and "shrink" in text  # which lines are flat, which may shrink


def test_the_hint_strip_takes_a_run_without_split_losses():
    """A width check's saved run carries no split losses (a few steps, no evaluation): opened in the window, the
    hint strip indexed 'train' in them and raised in every redraw. (main's own fix of the same lines, which shows
    no loss line for such a run, passes this test too.)"""
    from initscope.core.config import preset
    from initscope.core.history import History
    from initscope.core.messages import RunResult, RunStatus
    from initscope.core.records import RunRecord
    from initscope.gui.texts import hint_lines

    def rec(name, losses):  # a real record (Qt-free since it moved to the core), as the window holds it
        return RunRecord(name, preset("deep-nobn"), History(), status="finished",
                         result=RunResult(RunStatus.FINISHED, losses=losses, steps=2))

    lines = hint_lines([rec("a", {})])
    assert lines and not any("train" in line or "val" in line for line in lines)
    lines = hint_lines([rec("a", {}), rec("b", {"train": 2.0, "val": 2.1, "test": 2.2})])
    assert lines[1] == "• a: finished" and lines[2] == "• b: finished, val 2.1000"


def test_cancel_stops_every_worker_and_the_muP_half(qtbot, view, words):
    import multiprocessing as mp
    import os

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    view.set_base_config(Config.from_dict(SMALL), words, 27)
    view.widths.setText("1024,2048")
    view.steps.setValue(1000)
    view.seeds.setValue(3)
    view.workers.setValue(2)
    assert view.start()
    qtbot.waitUntil(lambda: bool(getattr(view.backend, "pids", None)), timeout=60_000)
    pids = list(view.backend.pids)
    view.cancel_btn.click()
    qtbot.waitUntil(lambda: not view.running, timeout=30_000)
    assert view.status.text().startswith("cancelled")
    assert "mup" not in view.results  # the second sweep never started
    assert all(gone(p) for p in pids) and mp.active_children() == []
    assert view.run_btn.isEnabled() and not view.cancel_btn.isEnabled()
