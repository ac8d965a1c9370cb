import math
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from initscope.core.config import LayerSpec, preset
from initscope.core.errors import ConfigError
from initscope.core.trainer import Trainer

from conftest import tiny_config


def test_same_config_same_losses_bit_for_bit(small_data):
    cfg = tiny_config(steps=120)
    a, b = Trainer(cfg, small_data), Trainer(cfg, small_data)
    a.train()
    b.train()
    assert len(a.losses) == 120 and np.array_equal(a.losses, b.losses)
    cfg.train.seed += 1
    c = Trainer(cfg, small_data)
    c.train()
    assert not np.array_equal(a.losses, c.losses)


def test_every_loss_recorded_and_snapshots_on_cadence(small_data):
    cfg = tiny_config(steps=95)
    cfg.diag.snapshot_every = 20
    events = []
    status = Trainer(cfg, small_data).train(events.append)
    assert status == "finished" and events[-1].status == "finished"
    got = np.concatenate([e.losses for e in events])
    assert len(got) == 95 and np.all(np.isfinite(got))
    firsts = [e.first_step for e in events if len(e.losses)]
    assert firsts == sorted(firsts) and firsts[0] == 0
    assert [e.snapshot.step for e in events if e.snapshot] == [0, 20, 40, 60, 80, 95]  # and the final step (issue 9)


def test_lr_schedule(small_data):
    cfg = tiny_config(steps=10)
    cfg.train.lr_decay_step, cfg.train.lr_decay_factor = 5, 0.1
    t = Trainer(cfg, small_data)
    assert t.lr_at(4) == 0.1 and math.isclose(t.lr_at(5), 0.01)
    t.train()
    assert math.isclose(t.opt.param_groups[0]["lr"], 0.01)


def test_loss_is_the_plain_cross_entropy(small_data):
    cfg = tiny_config(steps=1)
    t = Trainer(cfg, small_data)
    g = torch.Generator()
    g.set_state(t.gen.get_state())
    import copy

    net = copy.deepcopy(t.net)
    ix = torch.randint(0, t.xtr.shape[0], (16,), generator=g)
    expected = F.cross_entropy(net(t.xtr[ix]), t.ytr[ix]).item()
    t.train()
    assert math.isclose(float(t.losses[0]), expected, rel_tol=1e-6)


def test_pause_resume_stop_from_another_thread(small_data):
    cfg = tiny_config(steps=10_000_000)
    t = Trainer(cfg, small_data)
    reached = threading.Event()
    state = {}

    def on_progress(p):
        if p.step >= 100 and not reached.is_set():
            t.pause()
            reached.set()

    th = threading.Thread(target=lambda: state.setdefault("status", t.train(on_progress)))
    th.start()
    assert reached.wait(60)
    import time

    deadline = time.time() + 10
    while time.time() < deadline and not t.paused:
        time.sleep(0.01)
    step = t.step
    time.sleep(0.2)
    assert t.step <= step + 1  # paused within one step
    t.resume()
    deadline = time.time() + 30
    while t.step < step + 200 and time.time() < deadline:
        time.sleep(0.01)
    assert t.step >= step + 200
    t.stop()
    th.join(30)
    assert not th.is_alive() and state["status"] == "stopped"
    assert len(t.losses) == t.step  # every step's loss kept


def test_stop_while_paused(small_data):
    t = Trainer(tiny_config(steps=1_000_000), small_data)
    t.pause()
    th = threading.Thread(target=t.train)
    th.start()
    t.stop()
    th.join(30)
    assert not th.is_alive() and t.status == "stopped"


def test_divergence_stops_with_a_clear_status(small_data):
    cfg = tiny_config([LayerSpec("linear", 32), LayerSpec("relu"), LayerSpec("linear", None)], steps=500)
    cfg.train.lr = 1e3
    cfg.init.scheme, cfg.init.gain, cfg.init.output_scaling = "naive", 10.0, False
    events = []
    t = Trainer(cfg, small_data)
    assert t.train(events.append) == "diverged"
    assert "diverged at step" in t.message
    n = int(t.message.split("step ")[1].split(":")[0])
    assert len(t.losses) == n + 1 and not np.isfinite(t.losses[-1]) and np.all(np.isfinite(t.losses[:-1]))
    assert events[-1].status == "diverged"


def test_split_losses_match_direct_eval(small_data):
    cfg = tiny_config(steps=40)
    t = Trainer(cfg, small_data)
    t.train()
    x, y = small_data.splits["val"]
    t.net.eval()
    with torch.no_grad():
        direct = F.cross_entropy(t.net(x), y).item()
    t.net.train()
    assert math.isclose(t.split_loss("val"), direct, rel_tol=1e-5)


def test_calibrate_sets_population_statistics(small_data):
    cfg = preset("batchnorm")
    cfg.train.steps = 30
    t = Trainer(cfg, small_data)
    t.train()
    t.calibrate_batchnorm()
    with torch.no_grad():
        h = t.net.layers[0](t.net.embedding(t.xtr).flatten(1))
    bn = t.net.layers[1]
    assert torch.allclose(bn.running_mean, h.mean(0), atol=1e-4)
    assert torch.allclose(bn.running_var, h.var(0), rtol=1e-3)


def test_sampling_is_seeded(small_data):
    t = Trainer(tiny_config(steps=50), small_data)
    t.train()
    a, b = t.sample(5, seed=3), t.sample(5, seed=3)
    assert a == b and len(a) == 5 and all(set(w) <= set(small_data.vocab.itos[1:]) for w in a)


def test_cuda_asked_but_missing_is_a_clear_error(small_data):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = tiny_config()
    cfg.train.device = "cuda"
    with pytest.raises(ConfigError, match="CUDA is not available"):
        Trainer(cfg, small_data)


def test_an_ab_pair_sees_identical_minibatches(small_data, monkeypatch):
    """Two nets of different depth draw different amounts at init; with a shared batch seed their batches match."""
    from initscope.core.config import deep_stack

    a_cfg = tiny_config(steps=40)
    b_cfg = tiny_config(deep_stack(3, 8, batchnorm=False), steps=40)
    seen = {"a": [], "b": []}
    original = Trainer._batch_ix

    def recorder(tag):
        def batch_ix(self, gen):
            ix = original(self, gen)
            seen[tag].append(ix.clone())
            return ix
        return batch_ix

    for tag, cfg in (("a", a_cfg), ("b", b_cfg)):
        monkeypatch.setattr(Trainer, "_batch_ix", recorder(tag))
        Trainer(cfg, small_data, batch_seed=99).train()
    assert len(seen["a"]) == len(seen["b"]) == 40
    assert all(torch.equal(x, y) for x, y in zip(seen["a"], seen["b"]))
    # and without a shared batch seed the streams differ (the init draws differ)
    seen = {"a": [], "b": []}
    for tag, cfg in (("a", a_cfg), ("b", b_cfg)):
        monkeypatch.setattr(Trainer, "_batch_ix", recorder(tag))
        Trainer(cfg, small_data).train()
    assert not torch.equal(seen["a"][0], seen["b"][0])
