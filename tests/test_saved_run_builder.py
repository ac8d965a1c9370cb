"""One builder for an app run's file (issue 21, item 3): SavedRun.from_history, used by the CLI's --save-run and
the window's Save run. Both dropped the per-step tier (diag.step_stats) before."""

import numpy as np

from initscope.core.history import History
from initscope.core.runfile import STEP_KEYS, SavedRun, history_from_run, load_run, save_run
from initscope.core.trainer import Trainer

from conftest import tiny_config


def _cfg(steps=60):
    cfg = tiny_config(steps=steps)
    cfg.diag.step_stats = True  # the window's "every-step lines"
    cfg.diag.snapshot_every = 20
    return cfg


def test_a_run_with_every_step_lines_keeps_them_in_its_file(small_data, tmp_path):
    cfg = _cfg()
    t = Trainer(cfg, small_data)
    h = History()
    h.set_init(t.init_snapshot())
    t.train(h.add_progress)
    assert len(h.step_steps) == 60 and len(h.loss) == 60
    path = tmp_path / "r.initscope"
    save_run(path, SavedRun.from_history(h, config=cfg, vocab=small_data.vocab.itos, data_path=small_data.path,
                                         status=t.status, state_dict=t.net.state_dict()))
    run = load_run(path)
    for key, arr in zip(STEP_KEYS, h._step_arrays()):
        assert np.array_equal(run.step_history[key], arr.data), key
    back = history_from_run(run)
    assert np.array_equal(back.step_saturation.data, h.step_saturation.data)
    assert np.array_equal(back.loss.data, h.loss.data) and back.init.step == 0
    assert [s.step for s in run.snapshots] == [0] + [s.step for s in h.recent if s is not h.init]


def test_the_clis_save_run_keeps_the_per_step_tier(small_data, tmp_path):
    from initscope import cli

    cfg_path, path = tmp_path / "c.json", tmp_path / "r.initscope"
    cfg_path.write_text(_cfg(50).to_json())
    assert cli.main(["run", "--config", str(cfg_path), "--save-run", str(path), "--quiet", "--samples", "0"]) == 0
    run = load_run(path)
    assert len(run.step_history["step_steps"]) == 50 and run.step_history["step_saturation"].shape[0] == 50
    assert np.array_equal(run.step_history["step_steps"], np.arange(50))
