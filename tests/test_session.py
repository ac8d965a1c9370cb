"""The window's state without a window (issue 21): core/session.py decides what is shown when, and says what
changed through its events."""

from dataclasses import replace

from initscope.core.config import LayerSpec, preset
from initscope.core.history import History
from initscope.core.messages import RunResult, RunStatus
from initscope.core.records import RunRecord
from initscope.core.session import Session

from conftest import tiny_config


def record(cfg, status="finished", **kw):
    return RunRecord("Run 1: x", cfg.copy(), History(), status=status, **kw)


def test_settings_are_normalised_validated_and_announced(small_data):
    s = Session(tiny_config())
    said = {n: [] for n in ("config", "stack_error", "data")}
    for n, got in said.items():
        getattr(s.events, n).connect(got.append)
    assert not s.cfg.model.layers[0].bias  # the bias rule: a Linear before BatchNorm has none, as every copy
    s.data = small_data
    assert said["data"] == [small_data] and s.validate() is None and s.can_train
    bad = tiny_config(layers=[LayerSpec("tanh"), LayerSpec("relu"), LayerSpec("linear", None)])
    s.set_config(bad)
    assert said["config"][-1] is s.cfg and s.stack_error and "ReLU" in s.stack_error
    assert said["stack_error"] == [s.stack_error] and not s.can_train
    assert [r.status for r in s.preview_records()] == ["invalid"] and s.sweep_problem() == s.stack_error
    s.set_config(tiny_config())
    assert s.stack_error is None and said["stack_error"][-1] is None
    s.workshop = True
    s.set_config(preset("deep-nobn"))
    assert s.cfg.train.steps == 20_000  # workshop length
    assert Session().sweep_problem() == "no data yet"


def test_a_preview_is_kept_only_for_the_current_settings_and_shown_only_when_nothing_else_must_stay():
    s = Session(tiny_config())
    old = record(replace(s.cfg, name="other"), status="preview")
    assert not s.preview_arrived(old) and s.preview is None  # of settings changed since
    pre = record(s.cfg, status="preview")
    assert s.preview_arrived(pre) and s.preview is pre
    s.shown = [record(s.cfg, from_file=True)]  # a run opened at the launch stays on screen
    assert not s.preview_arrived(record(s.cfg, status="preview"))
    s.shown = [pre]
    s.active = [record(s.cfg, status="running")]
    assert not s.preview_arrived(record(s.cfg, status="preview")) and s.training


def test_what_a_selection_shows():
    s = Session(tiny_config())
    a, b, live = record(s.cfg), record(s.cfg), record(s.cfg, status="running")
    assert s.on_selection([a, b]) == [a, b]
    assert s.on_selection([]) == []  # no preview yet: nothing (it is being computed)
    s.preview = record(s.cfg, status="preview")
    assert s.on_selection([]) == [s.preview]
    s.active = [live]
    assert s.on_selection([]) == [live]  # the run on screen was deleted while another trains: that one
    shown = []
    s.events.shown.connect(shown.append)
    s.shown = (a,)
    assert shown == [[a]] and s.shown == [a]
    assert s.run_name(7) == f"Run 7: {s.cfg.name or 'custom'}"


def test_the_session_imports_neither_qt_nor_torch():
    import subprocess
    import sys

    code = ("import sys; import initscope.core.session, initscope.core.records, initscope.core.layer_colors; "
            "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_action_states_follow_the_session_alone(small_data):
    from initscope.gui.actions import action_states

    s = Session(tiny_config())
    st = action_states(s)
    assert not st["train"] and st["reset"] and not st["pause"]  # no data yet
    s.data = small_data
    assert action_states(s)["train"] and not action_states(s)["sample"]
    done = record(s.cfg, result=RunResult(RunStatus.FINISHED, state={}))
    s.shown = [done]
    assert action_states(s)["sample"]
    live = record(s.cfg, status="running")
    s.active, s.shown = [live], [live]
    st = action_states(s, paused=True)
    assert not st["train"] and st["pause"] and st["stop"] and st["pause_text"] == "Resume" and st["scenario_locked"]
    assert not st["files"] and st["save_and_export"]
    live.phase = "stopping"
    assert not action_states(s)["pause"] and not action_states(s)["stop"]
