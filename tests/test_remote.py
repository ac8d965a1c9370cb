"""Training in a child process gives the same numbers as in-process, and obeys pause / stop."""

import threading
import time

import numpy as np
import pytest

from initscope.core.data import default_data_path, load_dataset
from initscope.core.errors import UserError
from initscope.core.messages import RunStatus
from initscope.core.remote import RemoteTrainer
from initscope.core.trainer import Trainer

from conftest import tiny_config

pytestmark = pytest.mark.slow  # each test starts a training process (torch imported there): seconds


@pytest.fixture(scope="module")
def remote():
    r = RemoteTrainer()
    yield r
    r.close()
    assert not r.alive


def test_same_losses_as_in_process(remote):
    cfg = tiny_config(steps=120)
    chunks, inits = [], []
    out = remote.train({"A": cfg}, str(default_data_path()), on_init=lambda tag, s: inits.append(s),
                       on_progress=lambda tag, p: chunks.append(p.losses))
    local = Trainer(cfg, load_dataset(None, 3))
    local.train()
    result = out["A"]
    assert list(out) == ["A"] and result.status is RunStatus.FINISHED and result.steps == 120
    assert np.array_equal(np.concatenate(chunks), local.losses)
    assert inits[0].step == 0 and set(result.losses) == {"train", "val", "test"} and len(result.samples) == 20
    for k, v in local.net.state_dict().items():
        assert np.array_equal(result.state[k], v.numpy())
    itos = local.data.vocab.itos
    assert remote.sample(cfg, result.state, itos, 3, seed=5) == remote.sample(cfg, result.state, itos, 3, seed=5)
    assert remote.sample(cfg, result.state, itos, 3, seed=5) == local.sample(3, seed=5)


def test_pair_trains_both_on_the_same_batches(remote):
    from initscope.core.config import deep_stack

    a = tiny_config(steps=60)
    b = tiny_config(deep_stack(2, 8, batchnorm=True), steps=60)
    seen = {"A": [], "B": []}
    out = remote.train({"A": a, "B": b}, str(default_data_path()), on_progress=lambda tag, p: seen[tag].append(p.step))
    assert out["A"].status is out["B"].status is RunStatus.FINISHED and out["A"].steps == out["B"].steps == 60
    assert seen["A"][-1] == seen["B"][-1] == 60
    # the same batches as a local pair with the shared batch seed
    data = load_dataset(None, 3)
    la, lb = Trainer(a, data, batch_seed=a.train.seed), Trainer(b, data, batch_seed=a.train.seed)
    la.train()
    lb.train()
    assert np.allclose(out["A"].losses["val"], la.split_loss("val"))
    assert np.allclose(out["B"].losses["val"], lb.split_loss("val"))


def test_pause_and_stop_reach_the_child(remote):
    cfg = tiny_config(steps=10_000_000)
    seen = []
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", remote.train({"A": cfg}, str(default_data_path()),
                                                                         on_progress=lambda t, p: seen.append(p.step))))
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
    assert out["r"]["A"].status is RunStatus.STOPPED


def test_user_errors_come_back_as_user_errors(remote, tmp_path):
    cfg = tiny_config(steps=5)
    cfg.train.device = "cuda:7"
    with pytest.raises(UserError, match="cuda"):
        remote.train({"A": cfg}, str(default_data_path()))
    bad = tmp_path / "bad.txt"
    bad.write_text("a\nb\n")
    with pytest.raises(UserError, match="only 2 words"):
        remote.load(str(bad), 3)
    assert remote.alive  # the child keeps serving after a user mistake


@pytest.mark.parametrize("server_ready", [True, False])
def test_a_training_process_comes_from_the_fork_server_once_it_is_ready_else_spawned(server_ready, monkeypatch,
                                                                                   tmp_path):
    """Forked from the fork server (torch already imported there) only once it is ready, so a relay thread never
    waits on the server's own start; the child works in the caller's folder, not the server's (a relative path
    names the same file), and trains as in-process."""
    from initscope.core import forkserver

    if not forkserver.available():
        pytest.skip("no fork server on this platform")
    if server_ready:
        assert forkserver.warm() and forkserver.ready()
    else:
        monkeypatch.setattr(forkserver, "_READY", [False])
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia"] * 20))
    monkeypatch.chdir(tmp_path)
    r = RemoteTrainer()
    try:
        assert r.start_method == ("forkserver" if server_ready else "spawn")
        assert "140 words" in r.load("words.txt", 3)
        cfg = tiny_config(steps=20)
        out = r.train({"A": cfg}, "words.txt")["A"]
        local = Trainer(cfg, load_dataset(str(words), 3))
        local.train()
        assert out.status is RunStatus.FINISHED and out.steps == 20
        assert np.allclose(out.losses["val"], local.split_loss("val"))
    finally:
        r.close()
    assert not r.alive
