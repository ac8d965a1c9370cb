"""Training in a child process gives the same numbers as in-process, and obeys pause / stop."""

import threading
import time

import numpy as np
import pytest

from initscope.core.data import default_data_path, load_dataset
from initscope.core.errors import UserError
from initscope.core.remote import RemoteTrainer
from initscope.core.trainer import Trainer

from conftest import tiny_config


@pytest.fixture(scope="module")
def remote():
    r = RemoteTrainer()
    yield r
    r.close()
    assert not r.alive


def test_same_losses_as_in_process(remote):
    cfg = tiny_config(steps=120)
    chunks, inits = [], []
    status, result = remote.train(cfg, str(default_data_path()), on_init=inits.append,
                                  on_progress=lambda p: chunks.append(p.losses))
    local = Trainer(cfg, load_dataset(None, 3))
    local.train()
    assert status == "finished" and result["steps"] == 120
    assert np.array_equal(np.concatenate(chunks), local.losses)
    assert inits[0].step == 0 and set(result["losses"]) == {"train", "val", "test"} and len(result["samples"]) == 20
    assert remote.sample(3, seed=5) == remote.sample(3, seed=5)


def test_pause_and_stop_reach_the_child(remote):
    cfg = tiny_config(steps=10_000_000)
    seen = []
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", remote.train(cfg, str(default_data_path()),
                                                                         on_progress=lambda p: seen.append(p.step))))
    th.start()
    deadline = time.time() + 60
    while not seen and time.time() < deadline:
        time.sleep(0.01)
    remote.pause()
    time.sleep(0.3)
    n = len(seen)
    time.sleep(0.3)
    assert len(seen) == n and remote.paused
    remote.resume()
    while len(seen) < n + 3 and time.time() < deadline:
        time.sleep(0.01)
    assert len(seen) >= n + 3
    remote.stop()
    th.join(30)
    assert out["r"][0] == "stopped"


def test_user_errors_come_back_as_user_errors(remote, tmp_path):
    cfg = tiny_config(steps=5)
    cfg.train.device = "cuda:7"
    with pytest.raises(UserError, match="cuda"):
        remote.train(cfg, str(default_data_path()))
    bad = tmp_path / "bad.txt"
    bad.write_text("a\nb\n")
    with pytest.raises(UserError, match="only 2 words"):
        remote.load(str(bad), 3)
    assert remote.alive  # the child keeps serving after a user mistake
