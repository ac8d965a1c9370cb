"""Issue 11's GUI cases: a bad file, a bad path or a too-large config is one message and changes nothing; the
window stays usable."""

import json
import os
import signal
import zipfile

import pytest
from PySide6 import QtWidgets

from initscope.core.config import LayerSpec


@pytest.fixture
def said(monkeypatch):
    out = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: out.append(a[2]))
    monkeypatch.setattr(QtWidgets.QMessageBox, "information", lambda *a, **k: out.append(a[2]))
    return out


def _saved_run(d, tmp_path):
    d.train(100, every=50)
    path = tmp_path / "good.initscope"
    assert d.window.files.save_run_to(str(path))
    d.qtbot.waitUntil(lambda: d.window.files.last_saved == str(path), timeout=30_000)
    return path


def _rewrite_member(src, dst, name, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == name:
                data = change(data)
            zout.writestr(item, data)


def test_damaged_run_files_are_a_message_and_change_nothing(deep, tmp_path, said, qtbot):
    good = _saved_run(deep, tmp_path)
    cases = {
        "no_snapshots": ("snapshots.json", lambda b: b"[]"),
        "string_steps": ("manifest.json", lambda b: json.dumps({**json.loads(b), "steps": "abc"}).encode()),
        "history_shape": ("snapshots.json", lambda b: b"{}"),
    }
    w = deep.window
    for name, (member, change) in cases.items():
        bad = tmp_path / f"{name}.initscope"
        _rewrite_member(good, bad, member, change)
        before, runs, n = w.cfg.to_dict(), list(w.runs.records), len(said)
        w.open_run_file(str(bad))
        qtbot.waitUntil(lambda: len(said) > n, timeout=20_000)
        assert str(bad.name) in said[-1] or "run" in said[-1]
        assert w.cfg.to_dict() == before and w.runs.records == runs, name  # nothing taken from the file
    assert w.train_act.isEnabled()


def test_bad_config_and_scenario_files_and_bad_export_paths(deep, tmp_path, said):
    w = deep.window
    deep_json = tmp_path / "deep.json"
    deep_json.write_text("[" * 100_000 + "]" * 100_000)
    before = w.cfg.to_dict()
    assert not w.files.load_config_file(str(deep_json)) and "nested" in said[-1]
    assert not w.files.load_scenario_file(str(deep_json)) and "nested" in said[-1]
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert not w.files.load_config_file(str(fifo)) and "fifo" in said[-1].lower() or "regular" in said[-1]
    assert w.cfg.to_dict() == before
    deep.train(100, every=50)
    assert not w.files.export_report_to(str(tmp_path))  # a folder, not a file
    assert not w.files.export_report_to(str(tmp_path / "missing" / "r.html"))
    assert w.files.export_csv_to(str(tmp_path / "missing" / "m")) == []
    assert len(said) >= 6 and all("Traceback" not in s for s in said)


def test_a_fifo_word_list_is_refused_at_once_and_previews_go_on(deep, tmp_path, said, qtbot):
    fifo = tmp_path / "words"
    os.mkfifo(fifo)
    w = deep.window
    old = w.data
    w.load_data(str(fifo))
    qtbot.waitUntil(lambda: bool(said), timeout=10_000)
    assert w.data is old and "words" in said[-1]
    deep.set_gain(1.0)  # the engine thread is not blocked: previews still arrive
    assert deep.shown[0].cfg.init.gain == 1.0


def test_a_config_too_large_for_memory_is_refused_before_any_allocation(deep):
    w = deep.window
    layers = []
    for _ in range(120):  # within the schema's bounds, far past this machine's memory
        layers += [LayerSpec("linear", 4096), LayerSpec("tanh")]
    layers.append(LayerSpec("linear", None))
    w.controls._stack_edited(layers)
    deep.wait_preview()
    assert deep.shown[0].status == "invalid" and not w.train_act.isEnabled()
    assert "memory" in deep.hint_text().lower() and deep.plotted("loss") == {}


def test_a_killed_training_process_is_named_and_train_works_again(deep, said, qtbot):
    w = deep.window
    deep.start_training(5_000_000)
    qtbot.waitUntil(lambda: w.runs.records[-1].steps_done > 0, timeout=60_000)
    os.kill(w.controller.worker.remote.proc.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not w.training, timeout=20_000)
    assert w.runs.records[-1].status == "failed"
    assert any("signal 9" in s and "out of memory" not in s for s in said)
    run = deep.train(50)
    assert run.status == "finished"


# --- issue 20: outputs that are inputs, numbers, settings, run files ----------------------------------------

def test_the_file_menu_refuses_outputs_that_are_inputs_and_its_slots_never_raise(make_initscope_window, tmp_path,
                                                                                 said, qtbot):
    """Save config / Save run / Export report / Export metrics onto the word list the window trains on: one
    message, the file as it was (they replaced it before). Open config / scenario with a 10^400: a message."""
    from initscope.core.config import preset
    from initscope.core.data import default_data_path

    words = tmp_path / "x_loss.csv"  # a word list whose name is also what Export metrics would write for prefix x
    words.write_text(default_data_path().read_text())
    before = words.read_bytes()
    d = make_initscope_window(preset("deep-nobn"), data_path=str(words))
    w = d.window
    d.train(40, every=20)
    n = len(said)
    assert not w.files.save_config_to(str(words))
    assert not w.files.save_run_to(str(tmp_path / "." / words.name))
    assert not w.files.export_report_to(str(words))
    assert w.files.export_csv_to(str(tmp_path / "x")) == []
    assert len(said) == n + 4 and all("which the window reads" in s for s in said[n:]), said[n:]
    assert words.read_bytes() == before
    cfg_before = w.cfg.to_dict()
    huge = tmp_path / "huge.json"
    huge.write_text('{"train": {"lr": 1%s}}' % ("0" * 400))
    assert not w.files.load_config_file(str(huge)) and "must be finite" in said[-1]
    scen = tmp_path / "scenario.json"
    scen.write_text('{"version": 1, "title": "t", "steps": [{"caption": "a", "preset": "original", '
                    '"overrides": {"init": {"gain": 1%s}}}]}' % ("0" * 400))
    assert not w.files.load_scenario_file(str(scen)) and len(said) == n + 6
    assert w.cfg.to_dict() == cfg_before and w.train_act.isEnabled()


def test_a_run_file_saved_as_running_opens_as_interrupted_and_saves_again(deep, tmp_path, said, qtbot):
    good = _saved_run(deep, tmp_path)
    running = tmp_path / "running.initscope"
    _rewrite_member(good, running, "manifest.json", lambda b: json.dumps({**json.loads(b), "status": "running"}).encode())
    w = deep.window
    w.open_run_file(str(running))
    qtbot.waitUntil(lambda: any(r.status == "interrupted" for r in w.runs.records), timeout=20_000)
    rec = next(r for r in w.runs.records if r.status == "interrupted")
    assert w.shown == [rec]  # on screen as interrupted, not "starting..." forever
    again = tmp_path / "again.initscope"
    assert w.files.save_run_to(str(again))  # and it can be saved again
    qtbot.waitUntil(lambda: w.files.last_saved == str(again), timeout=30_000)
    from initscope.core.runfile import load_run

    assert load_run(again).status == "interrupted"


def test_settings_that_are_a_fifo_or_hold_a_huge_number_start_from_defaults(tmp_path):
    """A FIFO as settings.ini hung every launch; 10^400 in the remembered config crashed every launch."""
    import time

    from initscope.gui.settings import Settings

    fifo = tmp_path / "settings.ini"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    s = Settings(fifo)
    assert time.perf_counter() - t0 < 2 and "FIFO" in s.message and (tmp_path / "settings.ini.bad").exists()
    s2 = Settings(tmp_path / "other.ini")
    s2._set("config/json", '{"train": {"lr": 1%s}}' % ("0" * 400))
    s2.sync()
    s3 = Settings(tmp_path / "other.ini")
    assert s3.load_config() is None and "must be finite" in s3.message
