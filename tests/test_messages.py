"""Typed results (issue 21, item 4): RunStatus and RunResult go through the training process and reach the window's
records as the enum and the dataclass, for one run and for an A/B pair, on the one `train({tag: config})` path."""

import pickle

import numpy as np
import pytest

from initscope.core.messages import RUN_FILE_STATUSES, Progress, RunResult, RunStatus

from conftest import tiny_config


def _diverging(steps=200):
    """A net without BatchNorm at lr 1000: its tanh units saturate and the run-away check ends it at step 100."""
    cfg = tiny_config(steps=steps)
    cfg.model.layers = [s for s in cfg.model.layers if s.kind != "batchnorm"]
    cfg.train.lr = 1000.0
    return cfg


def test_status_words_are_the_old_strings_and_survive_pickle_and_json():
    import json

    for s in RunStatus:
        assert s == s.value and str(s) == s.value and f"{s}" == s.value  # messages, run files and the CLI say words
        assert pickle.loads(pickle.dumps(s)) is s
        assert json.loads(json.dumps({"status": s})) == {"status": s.value}
    assert {s for s in RunStatus if s.ended} == {RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.DIVERGED,
                                                   RunStatus.FAILED, RunStatus.ERROR, RunStatus.INTERRUPTED}
    with pytest.raises(ValueError):
        RunStatus("exploded")


def test_run_result_and_progress_coerce_words_and_pickle_whole():
    r = RunResult("diverged", "diverged at step 3", 4, state={"w": np.ones((2, 2), np.float32)})
    assert r.status is RunStatus.DIVERGED and r.has_weights and r.losses == {} and r.samples == []
    back = pickle.loads(pickle.dumps(r))
    assert back.status is RunStatus.DIVERGED and back.message == r.message and back.steps == 4
    assert np.array_equal(back.state["w"], r.state["w"]) and not RunResult(RunStatus.FAILED).has_weights
    p = Progress(5, 10, 0, np.zeros(5, np.float32), 0.1, 1.0, None, "evaluating", "val split (2 of 3)")
    assert p.status is RunStatus.EVALUATING


def test_a_run_file_says_the_same_words_it_always_did():
    from initscope.core.runfile import STATUSES

    assert STATUSES == ("ready", "running", "finished", "stopped", "diverged", "init-only", "preview", "interrupted")
    assert all(s in STATUSES for s in RUN_FILE_STATUSES)


@pytest.mark.slow
def test_single_and_pair_results_come_back_typed_from_the_child():
    from initscope.core.data import default_data_path, load_dataset
    from initscope.core.remote import RemoteTrainer
    from initscope.core.trainer import Trainer

    remote = RemoteTrainer(threads=1)
    try:
        seen = []
        one = remote.train({"A": tiny_config(steps=30)}, str(default_data_path()),
                           on_progress=lambda tag, p: seen.append((tag, p.status)))
        assert list(one) == ["A"] and isinstance(one["A"], RunResult) and one["A"].status is RunStatus.FINISHED
        assert {t for t, _ in seen} == {"A"} and all(type(s) is RunStatus for _, s in seen)
        assert RunStatus.EVALUATING in {s for _, s in seen}
        assert set(one["A"].losses) == {"train", "val", "test"} and one["A"].steps == 30 and one["A"].has_weights

        b = _diverging()
        pair = remote.train({"A": tiny_config(steps=200), "B": b}, str(default_data_path()))
        assert list(pair) == ["A", "B"]
        assert pair["A"].status is RunStatus.FINISHED and pair["A"].steps == 200
        assert pair["B"].status is RunStatus.DIVERGED and pair["B"].losses == {} and pair["B"].samples == []
        # the same end as in this process: the message names the step that stopped it
        local = Trainer(b, load_dataset(None, 3), batch_seed=b.train.seed)
        assert local.train() == RunStatus.DIVERGED and pair["B"].message == local.message
        assert pair["B"].steps == local.step
    finally:
        remote.close()


@pytest.mark.slow
def test_every_status_reaches_the_records_as_the_enum(qtbot, names_data):
    """The controller (what the window asks) on the one path: a pair ends finished and diverged, a single run
    stopped, a run the child refuses failed; each record's status and result are typed."""
    from initscope.gui.run_controller import RunController

    ctl = RunController()
    ended = []
    ctl.runEnded.connect(ended.append)
    with qtbot.waitSignal(ctl.backendReady, timeout=120_000):
        ctl.start()
    try:
        # the init preview comes from the training process too (README: previews in the training process)
        from initscope.core.model import count_params
        from initscope.core.trainer import Trainer

        with qtbot.waitSignal(ctl.dataLoaded, timeout=60_000):
            ctl.load_data(names_data.path, 3)
        previews = []
        ctl.previewReady.connect(previews.append)
        cfg = tiny_config()
        ctl.request_preview(cfg)
        qtbot.waitUntil(lambda: bool(previews), timeout=120_000)
        p, local = previews[0], Trainer(cfg, names_data).init_snapshot()
        assert p.status is RunStatus.PREVIEW and p.result is None and ctl.worker.remote.alive
        assert p.history.init.loss == local.loss and p.n_params == count_params(cfg, names_data.vocab.size)
        assert not hasattr(ctl.engine, "preview")  # one path: no preview in this process

        recs = ctl.train({"A": tiny_config(steps=200), "B": _diverging(steps=50)}, names_data,
                         {"A": "A1: tiny", "B": "B1: lr 1000"})
        assert recs[1].cfg.train.steps == 200  # a pair's curves end together: B trains A's steps
        qtbot.waitUntil(lambda: len(ended) == 1, timeout=120_000)
        a, b = ended[0]
        assert (a.status, b.status) == (RunStatus.FINISHED, RunStatus.DIVERGED)
        assert type(a.status) is RunStatus and type(b.status) is RunStatus
        assert isinstance(a.result, RunResult) and a.result.status is a.status and a.has_weights
        assert set(a.losses) == {"train", "val", "test"} and b.losses == {} and "diverged" in b.result.message

        long = ctl.train({"A": tiny_config(steps=1_000_000)}, names_data, {"A": "Run 2: long"})[0]
        qtbot.waitUntil(lambda: long.steps_done > 0, timeout=120_000)
        assert long.status is RunStatus.RUNNING and long.result is None
        ctl.stop()
        qtbot.waitUntil(lambda: len(ended) == 2, timeout=120_000)
        assert ended[1] == [long] and long.status is RunStatus.STOPPED and long.result.steps == long.steps_done

        bad = tiny_config(steps=10)
        bad.train.device = "cuda:7"  # refused in the child: a user mistake, one line
        failed = []
        ctl.runFailed.connect(failed.append)
        rec = ctl.train({"A": bad}, names_data, {"A": "Run 3: bad"})[0]
        qtbot.waitUntil(lambda: len(ended) == 3, timeout=120_000)
        assert rec.status is RunStatus.FAILED and "cuda" in rec.result.message and failed == [rec.result.message]
        assert not rec.has_weights
    finally:
        ctl.close()
