"""While a run streams, the Overview's snapshot panels (saturation, activations, update:data) redraw at most
SNAPSHOT_REDRAW_S apart and one a frame, so no frame pays for three repaints; the loss redraws every frame, and
a finished run or another record redraws everything at once."""

from __future__ import annotations

import types

import numpy as np
from test_history_hints import _snap

from initscope.core.config import preset
from initscope.core.history import History
from initscope.gui.runs import RunRecord
from initscope.gui.views import SNAPSHOT_REDRAW_S, OverviewView


def _record(status: str) -> RunRecord:
    h = History()
    h.set_init(_snap(step=0))
    for k in range(3):
        h.add_snapshot(_snap(step=100 * k, sat=0.1 * k))
    h.add_losses(0, np.full(300, 3.0, np.float32))
    return RunRecord("r", preset("deep-bn"), h, status=status)


def _draws(view: OverviewView) -> list[int]:
    return [p.draws for p in (view.loss_panel, view.sat_panel, view.act_panel, view.upd_panel)]


def test_a_streaming_run_redraws_one_snapshot_panel_a_frame_and_at_most_four_times_a_second(qapp, monkeypatch):
    import initscope.gui.views as views

    clock = [1000.0]  # the views' clock, moved by the test: no sleeping through the throttle
    monkeypatch.setattr(views, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    view = OverviewView()
    rec = _record("running")
    d0 = _draws(view)
    assert view.render([rec])
    assert np.subtract(_draws(view), d0).tolist() == [1, 1, 0, 0]  # the loss and saturation
    assert view.render([rec])  # the next frames: the other two, one each
    assert view.render([rec])
    assert np.subtract(_draws(view), d0).tolist() == [3, 1, 1, 1]
    assert not view.render([rec])  # nothing new: nothing drawn
    rec.history.add_snapshot(_snap(step=300, sat=0.5))
    rec.history.add_losses(300, np.full(100, 2.9, np.float32))
    d1 = _draws(view)
    assert view.render([rec])
    assert np.subtract(_draws(view), d1).tolist() == [1, 0, 0, 0]  # within SNAPSHOT_REDRAW_S: only the loss
    clock[0] += SNAPSHOT_REDRAW_S
    rec.history.add_losses(400, np.full(25, 2.9, np.float32))
    assert view.render([rec])
    assert np.subtract(_draws(view), d1).tolist() == [2, 1, 0, 0]  # and then the new snapshot, a panel a frame
    assert view.sat_panel.plotted()  # saturation lines with the new snapshot's row
    steps = next(iter(view.sat_panel.plotted().values()))[0]
    assert steps[-1] == 300


def test_a_finished_run_and_a_preview_redraw_every_panel_at_once(qapp):
    view = OverviewView()
    rec = _record("running")
    view.render([rec])  # saturation now, two panels pending
    rec.status = "finished"
    d0 = _draws(view)
    assert view.render([rec])
    assert np.subtract(_draws(view), d0).tolist() == [1, 1, 1, 1]  # the end of a run: everything, in one frame
    other = _record("finished")
    d1 = _draws(view)
    assert view.render([other])
    assert np.subtract(_draws(view), d1).tolist() == [1, 1, 1, 1]
