"""initscope.watch / initscope.check on models initscope did not build: every statistic against a plain-torch
recomputation, hooks that leave no trace, bit-identical training, the run file (live, finished, after SIGKILL),
`initscope inspect`, and each bad input."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import initscope
from initscope.cli import main as cli_main
from initscope.core.errors import UserError
from initscope.core.runfile import live_status, load_run
from initscope.scope import WatchWarning

THR = 0.97
BINS = 50


@pytest.fixture(params=["compiled", "torch"])
def reduce_path(request, monkeypatch):
    """A snapshot's reductions on a CPU: the compiled kernel (core/fastreduce.py, numba: a dependency, so it must
    be there) or the torch ops it stands in for (what a GPU, or a model of other dtypes, uses)."""
    from initscope.core import fastreduce

    # a compile in flight (started by an earlier test) must end first: it would set the kernels mid-test
    kern = fastreduce.kernel(wait=True)
    if request.param == "compiled":
        assert kern is not None, "numba is a dependency: the compiled path must be there"
    else:
        monkeypatch.setattr(fastreduce, "_kernel", None)
        monkeypatch.setattr(fastreduce, "_tried", True)
    return request.param


class Zoo(nn.Module):
    """Every module kind the issue names, each applied once, plus a tuple-returning custom module."""

    class Pair(nn.Module):
        def forward(self, x):
            return x * 2.0, x.sum()

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.conv1 = nn.Conv1d(8, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm1d(8)
        self.sig = nn.Sigmoid()
        self.conv2 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.gn = nn.GroupNorm(2, 4)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8 * 6 + 4 * 8 * 6, 32)
        self.ln = nn.LayerNorm(32)
        self.tanh = nn.Tanh()
        self.fc2 = nn.Linear(32, 32)
        self.rms = nn.RMSNorm(32)
        self.gelu = nn.GELU()
        self.leaky = nn.LeakyReLU(0.1)
        self.silu = nn.SiLU()
        self.pair = Zoo.Pair()
        self.fc_ip = nn.Linear(32, 32)
        self.relu_ip = nn.ReLU(inplace=True)  # overwrites fc_ip's output: its statistics must be the Linear's
        self.head = nn.Linear(32, 5)

    def forward(self, idx):
        e = self.emb(idx)  # (B, 6, 8)
        a = self.sig(self.bn1(self.conv1(e.transpose(1, 2))))  # (B, 8, 6)
        b = self.relu(self.gn(self.bn2(self.conv2(e.unsqueeze(1)))))  # (B, 4, 6, 8)
        h = self.tanh(self.ln(self.fc(torch.cat([a.flatten(1), b.flatten(1)], 1))))
        h = self.silu(self.leaky(self.gelu(self.rms(self.fc2(h)))))
        h, _ = self.pair(h)
        return self.head(self.relu_ip(self.fc_ip(h)))


def _batch(seed=0, n=24):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (n, 6), generator=g), torch.randint(0, 5, (n,), generator=g)


def _sat(kind, x, y):
    """The saturation rules, written out independently of core/kinds.py."""
    if kind == "Tanh":
        return y.abs() > THR
    if kind == "Sigmoid":
        return (y < 1 - THR) | (y > THR)
    if kind in ("ReLU", "LeakyReLU"):
        return y <= 0
    if kind in ("GELU", "SiLU"):
        return x < -3
    return None


def _ref_hist(t, lo, hi):
    """Bin k holds lo + k w <= x < lo + (k + 1) w (the last one hi too), w = (hi - lo) / BINS, in float64 numpy:
    a gradient's exact zeros sit on the middle edge of its symmetric range and go to the bin above it."""
    x = t.detach().double().flatten().numpy()
    idx = np.floor((x - lo) / (hi - lo) * BINS).clip(0, BINS - 1).astype(int)
    return np.bincount(idx, minlength=BINS).astype(np.float32)


def _reference(model, opt, x, y):
    """One training step of `model` with plain forward hooks that copy every leaf's input and output as they are
    when the module returns, and catch the gradient at that output; then each statistic computed directly with
    torch (two-pass std, torch.histc)."""
    kept, grads_at, handles = {}, {}, []
    for name, mod in model.named_modules():
        if list(mod.children()):
            continue

        def hook(m, inp, out, name=name):
            o = out if isinstance(out, torch.Tensor) else out[0]
            if o.requires_grad:
                o.register_hook(lambda g, name=name: grads_at.__setitem__(name, g.clone()))
            kept[name] = (inp[0].detach().clone() if isinstance(inp[0], torch.Tensor) else None, o.detach().clone())
        handles.append(mod.register_forward_hook(hook))
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    for h in handles:
        h.remove()
    layers = {}
    for name, (inp, o) in kept.items():
        mod = dict(model.named_modules())[name]
        kind = type(mod).__name__
        od = o.detach()
        sat = _sat(kind, inp, od)
        ud = 1 if od.dim() in (4, 5) else od.dim() - 1
        lo, hi = (-1.0, 1.0) if kind == "Tanh" else (0.0, 1.0) if kind == "Sigmoid" else (od.min().item(), od.max().item())
        g = grads_at[name]
        gm = g.abs().max().item()
        layers[name] = {
            "kind": kind, "mean": od.mean().item(), "std": od.std().item(),
            "saturation": sat.float().mean().item() if sat is not None else math.nan,
            "dead": int(sat.movedim(ud, -1).reshape(-1, od.shape[ud]).all(0).sum()) if sat is not None else 0,
            "width": od.shape[ud], "hist": _ref_hist(od, lo, hi),
            "grad_mean": g.mean().item(), "grad_std": g.std().item(), "grad_hist": _ref_hist(g, -gm, gm),
        }
    params = {}
    for n, p in model.named_parameters():
        d = before[n].std().item()
        u = (p.detach() - before[n]).std().item()
        params[n] = {"grad_data": grads[n].std().item() / d if d > 0 else math.nan,
                     "update": (math.log10(u / d) if u > 0 else -math.inf) if d > 0 else math.nan}
    return loss.item(), layers, params


def _same(a: float, b: float, tol: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= tol


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_every_statistic_of_every_module_kind_matches_plain_torch(opt_name, reduce_path):
    torch.manual_seed(0)
    model = Zoo()
    ref_model = copy.deepcopy(model)
    make = (lambda m: torch.optim.SGD(m.parameters(), lr=0.1)) if opt_name == "sgd" else \
        (lambda m: torch.optim.Adam(m.parameters(), lr=1e-2))
    opt, ref_opt = make(model), make(ref_model)
    scope = initscope.watch(model, opt, every=1)
    snaps, refs, rooms = [], [], []
    # step 0 takes the first-step path, steps 1 and 2 the fused one: the same numbers both ways; step 2 works in
    # the buffers step 1 made (Recorder._room), so a buffer read after it was reused would show here
    for k in range(3):
        x, y = _batch(k)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        scope.step(loss)
        snaps.append(scope.latest)
        refs.append(_reference(ref_model, ref_opt, x, y))
        rooms.append({k: t.data_ptr() for k, t in scope.rec._rooms.items()})
    assert rooms[1] and rooms[2] == rooms[1]  # made once, then reused
    assert ("X" in rooms[1]) == (reduce_path == "compiled")  # the path asked for is the one that ran
    scope.close()
    assert scope.rec is None
    for snap, ref in zip(snaps, refs):
        _compare(snap, *ref)


def _compare(snap, ref_loss, ref_layers, ref_params):
    assert math.isclose(snap.loss, ref_loss, rel_tol=1e-6)
    assert [s.name for s in snap.layers] == list(ref_layers)  # every leaf module, qualified names, in order
    kinds_seen = {s.kind for s in snap.layers}
    assert {"Linear", "Conv1d", "Conv2d", "Embedding", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "RMSNorm",
            "GroupNorm", "Tanh", "Sigmoid", "ReLU", "LeakyReLU", "GELU", "SiLU", "Pair"} <= kinds_seen
    for s in snap.layers:
        r = ref_layers[s.name]
        assert s.kind == r["kind"] and s.width == r["width"], s.name
        for key in ("mean", "std", "grad_mean", "grad_std"):
            assert math.isclose(getattr(s, key), r[key], rel_tol=2e-4, abs_tol=1e-7), (s.name, key)
        if math.isnan(r["saturation"]):
            assert math.isnan(s.saturation), s.name
        else:
            assert math.isclose(s.saturation, r["saturation"], abs_tol=1e-7), s.name
        assert s.dead == r["dead"], s.name
        assert np.abs(s.hist.counts - r["hist"]).max() <= 1 and s.hist.counts.sum() == r["hist"].sum(), s.name
        assert np.abs(s.grad_hist.counts - r["grad_hist"]).max() <= 1, s.name
    for p in snap.params:
        r = ref_params[p.name]
        # a BatchNorm gamma at init (all ones) has data std 0: both ratios are undefined (NaN) on both sides
        assert _same(p.grad_data, r["grad_data"], 1e-4 * abs(r["grad_data"])), p.name
        # the actual update, measured around optimizer.step(): right for Adam as for SGD
        assert _same(p.update_data_log10, r["update"], 1e-4), p.name
        assert (p.grad_hist is not None) == (len(p.shape) >= 2)


def test_saturation_and_dead_units_on_hand_made_outputs(reduce_path):
    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))
            self.tanh, self.sig, self.relu, self.gelu = nn.Tanh(), nn.Sigmoid(), nn.ReLU(), nn.GELU()

        def forward(self, x):
            return self.tanh(x * self.w), self.sig(x * self.w), self.relu(x * self.w), self.gelu(x * self.w)

    x = torch.tensor([[5.0, -5.0, 0.0, -4.0], [6.0, 0.5, 0.0, -3.5]])  # 2 examples x 4 units
    res = initscope.check(Fixed(), x, quiet=True)
    s = {layer.kind: layer for layer in res.snapshot.layers}
    assert s["Tanh"].saturation == pytest.approx(5 / 8) and s["Tanh"].dead == 2  # |tanh| > .97 but at 0.5 and 0; units 0, 3
    assert s["Sigmoid"].saturation == pytest.approx(5 / 8) and s["Sigmoid"].dead == 2  # sigmoid(-3.5) = 0.029 < 0.03
    assert s["ReLU"].saturation == pytest.approx(5 / 8) and s["ReLU"].dead == 2  # units 2 and 3 never positive
    assert s["GELU"].saturation == pytest.approx(3 / 8) and s["GELU"].dead == 1  # inputs below -3: unit 3 in both


def _train(model, opt, x, y, steps, scope=None):
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if scope is not None:
            scope.step(loss)
        losses.append(loss.detach().clone())
    return torch.stack(losses)


def test_watching_changes_nothing_and_leaves_no_hook_or_reference(tmp_path):
    x, y = _batch(1)
    runs = []
    for watched in (False, True):
        torch.manual_seed(3)
        model = Zoo()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        scope = initscope.watch(model, opt, every=3, every_step="scalars", save=tmp_path / "r.initscope") if watched else None
        runs.append(_train(model, opt, x, y, 8, scope))
        if watched:
            assert len(scope.snapshots) == 3 and [s.step for s in scope.snapshots] == [0, 3, 6]
            scope.close()
            assert all(not m._forward_hooks for m in model.modules())
            assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
            import gc
            import weakref

            ref = weakref.ref(model)
            del model, opt
            gc.collect()
            assert ref() is None  # the closed scope (still alive here) holds no reference to the model
            assert scope.rec is None
    assert torch.equal(runs[0], runs[1])  # bit-identical losses with and without watching


def test_hooks_exist_only_on_recorded_steps():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    scope = initscope.watch(model, opt, every=4)
    hooked = []
    for k in range(9):
        hooked.append(bool(model[1]._forward_hooks))
        _train(model, opt, x, y, 1, scope)
    scope.close()
    assert hooked == [k % 4 == 0 for k in range(9)]


def test_the_per_step_tier_matches_the_snapshots_and_plain_torch(reduce_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    ref = copy.deepcopy(model)
    opt, ref_opt = torch.optim.SGD(model.parameters(), lr=0.5), torch.optim.SGD(ref.parameters(), lr=0.5)
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    scope = initscope.watch(model, opt, every=5, every_step="scalars")
    _train(model, opt, x, y, 7, scope)
    scope.flush()
    h = scope.history
    assert list(h.step_steps.data) == list(range(7))
    for k in range(7):  # the same step of the same net, recomputed by hand
        outs = {}

        def keep(m, inp, o, i):
            o.retain_grad()
            outs[i] = o
        hs = [ref[i].register_forward_hook(lambda m, inp, o, i=i: keep(m, inp, o, i)) for i in range(5)]
        loss = nn.functional.cross_entropy(ref(x), y)
        ref_opt.zero_grad()
        loss.backward()
        w_before = [ref[i].weight.detach().clone() for i in (0, 2, 4)]
        ref_opt.step()
        for hh in hs:
            hh.remove()
        assert math.isclose(h.step_saturation.data[k, 1], (outs[1].abs() > THR).float().mean().item(), abs_tol=1e-6)
        assert math.isclose(h.step_saturation.data[k, 3], (outs[3] <= 0).float().mean().item(), abs_tol=1e-6)
        for i in (0, 2, 4):  # the per-step tier covers the activations; a Linear is in the snapshots only
            assert math.isnan(h.step_saturation.data[k, i]) and math.isnan(h.step_act_std.data[k, i])
        for i in (1, 3):
            assert math.isclose(h.step_act_std.data[k, i], outs[i].std().item(), rel_tol=1e-4)
            assert math.isclose(h.step_grad_std.data[k, i], outs[i].grad.std().item(), rel_tol=1e-4)
        for j, (i, wb) in enumerate(zip((0, 2, 4), w_before)):
            want = math.log10((ref[i].weight.detach() - wb).std().item() / wb.std().item())
            assert math.isclose(h.step_update.data[k, j], want, abs_tol=1e-4)
    scope.close()


def test_a_watched_run_file_opens_and_inspects_like_any_run(tmp_path, capsys):
    path = tmp_path / "runs" / "mine.initscope"  # the folder is made
    model = nn.Sequential(nn.Linear(5, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 5), torch.randint(0, 4, (32,))
    with initscope.watch(model, opt, save=path, every=10, classes=4) as scope:
        losses = _train(model, opt, x, y, 25, scope)
    run = load_run(path)
    assert run.watched and run.status == "finished" and run.steps == 25
    np.testing.assert_array_equal(run.losses, losses.numpy().astype(np.float32))
    assert [s.step for s in run.snapshots] == [0, 10, 20]
    assert [n for n, _, _ in run.model.layers] == ["0", "1", "2", "3"]
    assert [n for n, _ in run.model.params] == ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"]
    assert run.snapshots[0].ref_loss == pytest.approx(math.log(4))

    out = tmp_path / "snap.json"
    assert cli_main(["inspect", str(path), "--step", "15", "--json-out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["snapshot_step"] == 10 and d["status"] == "finished" and d["steps"] == 25 and d["source"] == "watch"
    gelu = d["layers"][1]
    s10 = run.snapshots[1].layers[1]
    assert gelu["name"] == "1" and gelu["kind"] == "GELU" and gelu["std"] == pytest.approx(s10.std)
    assert len(gelu["hist_edges"]) == len(gelu["hist_counts"]) + 1 == BINS + 1
    assert sum(gelu["hist_counts"]) == 32 * 16
    assert [p["name"] for p in d["params"]][0] == "0.weight"
    assert "0.weight" in capsys.readouterr().out  # the table is printed too
    # an app run inspects the same way, with the app's layer names
    app = tmp_path / "app.initscope"
    assert cli_main(["run", "--preset", "deep-bn", "--steps", "30", "--snapshot-every", "10", "--quiet",
                     "--samples", "0", "--save-run", str(app)]) == 0
    assert cli_main(["inspect", str(app), "--json-out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["source"] == "app" and d["snapshot_step"] == 30 and d["layers"][0]["name"].startswith("L")


@pytest.mark.slow  # a subprocess or a ray cluster: seconds, not in the quick loop
def _chunked_run(tmp_path, monkeypatch, steps=10):
    """A watched run with a snapshot every step, its replay rows in chunks of 4 (runfile.REPLAY_CHUNK)."""
    import initscope.core.runfile as runfile

    monkeypatch.setattr(runfile, "REPLAY_CHUNK", 4)
    path = tmp_path / "chunked.initscope"
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    scope = initscope.watch(model, opt, save=path, every=1, flush_seconds=3600)
    _train(model, opt, x, y, steps, scope)
    return scope, path, (model, opt, x, y)


def test_a_live_writer_deflates_only_the_replay_chunks_that_changed(tmp_path, monkeypatch):
    import zipfile

    scope, path, (model, opt, x, y) = _chunked_run(tmp_path, monkeypatch)
    scope.flush(wait=True)
    before = dict(scope._writer._replay)  # chunk -> (fingerprint, bytes) as written
    assert sorted(before) == [0, 1, 2]  # 10 snapshot rows in chunks of 4
    _train(model, opt, x, y, 1, scope)
    scope.flush(wait=True)
    after = scope._writer._replay
    assert after[0][1] is before[0][1] and after[1][1] is before[1][1]  # full, unchanged: not deflated again
    assert after[2][1] is not before[2][1]  # the chunk that took the new row
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert [n for n in names if n.startswith("replay")] == ["replay/0000.npz", "replay/0001.npz", "replay/0002.npz"]
    run = load_run(path)
    assert run.replay_problem == "" and list(run.replay["steps"]) == list(range(11))
    want = scope.history.replay.to_arrays()
    for k, v in want.items():
        assert np.array_equal(run.replay[k], v, equal_nan=True), k
    scope.close()
    run = load_run(path)
    assert run.status == "finished" and len(run.replay["steps"]) == len(scope.history.replay)


@pytest.mark.parametrize("damage", ["garbage", "gap", "other-bins"])
def test_a_damaged_replay_chunk_is_one_line_and_the_rest_opens(tmp_path, monkeypatch, damage, capsys):
    import io
    import zipfile

    scope, path, _ = _chunked_run(tmp_path, monkeypatch)
    scope.close()
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if damage == "garbage":
        members["replay/0001.npz"] = b"not numpy at all"
    elif damage == "gap":
        del members["replay/0001.npz"]
    else:  # one chunk's histograms have 2 bins: the chunks disagree
        with np.load(io.BytesIO(members["replay/0002.npz"])) as a:
            arrays = {k: a[k] for k in a.files}
        arrays["act_counts"] = arrays["act_counts"][..., :2]
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        members["replay/0002.npz"] = buf.getvalue()
    bad = tmp_path / "bad.initscope"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)
    run = load_run(bad)
    assert run.replay == {} and "replay/" in run.replay_problem and "\n" not in run.replay_problem
    assert run.steps == 10 and run.snapshots[-1].step == 9  # the rest of the run opened
    capsys.readouterr()
    assert cli_main(["inspect", str(bad), "--step", "5"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0]


def test_the_file_survives_sigkill_as_interrupted(tmp_path):
    path = tmp_path / "killed.initscope"
    script = textwrap.dedent(f"""
        import sys, torch, initscope
        from torch import nn
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        scope = initscope.watch(model, opt, save={str(path)!r}, every=5, flush_seconds=0.05)
        k = 0
        while True:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step(); scope.step(loss)
            k += 1
            if k == 300:
                scope.flush(wait=True)  # on disk: steps 0..299 at least, whatever the machine's load
                print("ready", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # training goes on, flushing, until the kill
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    run = load_run(path)
    assert run.status == "running" and live_status(run) == "interrupted"
    assert run.steps >= 300 and len(run.losses) == run.steps and np.isfinite(run.losses).all()
    assert run.snapshots[0].step == 0 and run.snapshots[-1].step <= run.steps
    # a kill during a write may leave the writer's temporary file; the next watch of that file clears it
    model = nn.Linear(2, 2)
    initscope.watch(model, save=path).close()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_an_exception_in_the_loop_leaves_an_interrupted_file(tmp_path):
    path = tmp_path / "x.initscope"
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(RuntimeError):
        with initscope.watch(model, opt, save=path) as scope:
            for k in range(4):
                loss = model(torch.randn(8, 3)).pow(2).mean()
                opt.zero_grad(); loss.backward(); opt.step(); scope.step(loss)
            raise RuntimeError("boom")
    run = load_run(path)
    assert run.status == "interrupted" and run.steps == 4 and "boom" in run.message


def test_bad_inputs_get_one_clear_line(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(UserError, match="already watched"):
        s1 = initscope.watch(model, opt)
        initscope.watch(model, opt)
    s1.close()
    initscope.watch(model, opt).close()  # once closed, it can be watched again
    for kwargs, what in (({"every": 0}, "every"), ({"every_step": "all"}, "every_step"), ({"bins": 2}, "bins"),
                         ({"save": tmp_path / "run.txt"}, ".initscope")):
        with pytest.raises(UserError, match=what):
            initscope.watch(model, opt, **kwargs)
    with pytest.raises(UserError, match="nn.Module"):
        initscope.watch("model")
    target = tmp_path / "real.initscope"
    target.write_bytes(b"keep me")
    link = tmp_path / "link.initscope"
    link.symlink_to(target)
    with pytest.raises(UserError, match="symbolic link"):
        initscope.watch(model, opt, save=link)
    assert target.read_bytes() == b"keep me"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if not os.access(ro, os.W_OK):  # root may write anywhere
        with pytest.raises(UserError, match="not writable"):
            initscope.watch(model, opt, save=ro / "r.initscope")
    # a step without a backward pass: said once, training goes on
    with initscope.watch(model, opt, every=1) as scope, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            model(torch.randn(4, 3))
            opt.zero_grad(set_to_none=True)
            scope.step(0.5)
    said = [str(w.message) for w in caught if issubclass(w.category, WatchWarning)]
    assert len([m for m in said if "backward" in m]) == 1


def test_frozen_parameters_nan_activations_and_a_bare_model(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with initscope.watch(model, opt, every=1, save=tmp_path / "f.initscope") as scope:
        x = torch.randn(8, 3)
        x[0, 0] = float("nan")  # NaN flows through every layer: recorded, hinted, never a crash
        for _ in range(2):
            loss = model(x).pow(2).mean()
            opt.zero_grad(); loss.backward(); opt.step(); scope.step(loss)
        snap = scope.latest
    assert [p.name for p in snap.params] == ["0.bias", "2.weight", "2.bias"]  # the frozen weight is left out
    assert math.isnan(snap.loss) and math.isnan(snap.layers[1].std)
    assert scope.hints() and "diverged" in scope.hints()[0]
    assert load_run(tmp_path / "f.initscope").steps == 2  # NaN statistics are data: the file still saves and opens

    class Bare(nn.Module):  # no submodules: the model itself is the one layer, plain tensor statistics
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 2))

        def forward(self, x):
            return x @ self.w

    bare = Bare()
    opt = torch.optim.SGD(bare.parameters(), lr=0.1)
    with initscope.watch(bare, opt, every=1) as scope:
        for _ in range(2):
            loss = bare(torch.randn(5, 3)).pow(2).mean()
            opt.zero_grad(); loss.backward(); opt.step(); scope.step(loss)
    assert [s.kind for s in scope.latest.layers] == ["Bare"] and scope.history.loss.n == 2


def test_disk_full_mid_run_warns_once_and_keeps_the_last_good_file(tmp_path, monkeypatch):
    import initscope.core.files as files

    path = tmp_path / "d.initscope"
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scope = initscope.watch(model, opt, save=path, every=2, flush_seconds=0)
    for _ in range(4):
        _train_one(model, opt, scope)
    scope.flush(wait=True)
    good = load_run(path).steps
    real = files.atomic_write_bytes

    def full(p, data):
        raise UserError(f"cannot write {p}: No space left on device")
    monkeypatch.setattr(files, "atomic_write_bytes", full)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(6):
            _train_one(model, opt, scope)
            time.sleep(0.02)
        scope.close()
    said = [str(w.message) for w in caught if issubclass(w.category, WatchWarning)]
    assert len(said) == 1 and "No space left" in said[0] and "training goes on" in said[0]
    assert scope.steps == 10  # training went on
    assert load_run(path).steps == good  # the file is the last good flush
    monkeypatch.setattr(files, "atomic_write_bytes", real)


def _train_one(model, opt, scope):
    loss = model(torch.randn(6, 3)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    scope.step(loss)


def test_histograms_of_huge_outputs_are_bounded(monkeypatch):
    import initscope.core.recorder as recorder

    monkeypatch.setattr(recorder, "HIST_SAMPLE", 1000)
    model = nn.Sequential(nn.Linear(10, 500), nn.Tanh())
    x = torch.randn(40, 10)
    res = initscope.check(model, x, quiet=True)
    tanh = res.snapshot.layers[1]
    assert 500 <= tanh.hist.counts.sum() <= 1000  # a strided sample of the 20,000 values
    with torch.no_grad():
        assert math.isclose(tanh.std, model(x).std().item(), rel_tol=1e-5)  # the moments still use every value


def test_check_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    state = copy.deepcopy(model.state_dict())
    res = initscope.check(model, (x, y), nn.functional.cross_entropy, quiet=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # BatchNorm's running statistics put back
    assert all(p.grad is None for p in model.parameters())
    d = res.to_json()
    assert [layer["name"] for layer in d["layers"]] == ["0", "1", "2", "3"]
    assert d["loss"] == pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-5)
    assert "0.weight" in res.table() and d["params"][0]["grad_data"] > 0


@pytest.mark.slow  # a subprocess or a ray cluster: seconds, not in the quick loop
def test_import_initscope_and_watch_import_no_qt():
    code = ("import sys, initscope, torch; from torch import nn; m = nn.Linear(2, 2); "
            "s = initscope.watch(m); s.close(); "
            "print(any(k.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6') for k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_wrappers_are_looked_through():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    model = nn.DataParallel(inner)  # on a machine without GPUs: a pass-through, as DDP or compile wrap a model
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with initscope.watch(model, opt, every=1) as scope:
        _train_one(model, opt, scope)
    assert [s.name for s in scope.latest.layers] == ["0", "1", "2"]  # the inner model's names, no "module."
    assert [p.name for p in scope.latest.params][0] == "0.weight"
    with pytest.raises(UserError, match="already watched"):  # the same inner model, wrapped or not
        with initscope.watch(inner, opt):
            initscope.watch(model, opt)



@pytest.mark.parametrize("every", [1, 100])
def test_update_is_measured_around_optimizer_step_even_when_the_loop_writes_to_weights(every, reduce_path):
    """The copy after one recorded step serves as the next one's copy before only while the parameters' version
    counters say nothing wrote to them: a loop that rescales a weight in place, or swaps its storage, between
    steps still gets the optimizer's own update (both tiers: snapshots every step, the per-step tier)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(24, 5), torch.randint(0, 3, (24,))
    scope = initscope.watch(model, opt, every=every, every_step="scalars")
    want = []
    for k in range(6):
        if k == 2:
            with torch.no_grad():
                model[0].weight.mul_(0.5)  # an in-place write outside optimizer.step()
        if k == 4:
            model[2].weight.data = model[2].weight.data.clone() * 2.0  # a new storage
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        before = [model[i].weight.detach().clone() for i in (0, 2, 4)]
        opt.step()
        want.append([math.log10((model[i].weight.detach() - b).std().item() / b.std().item())
                     for i, b in zip((0, 2, 4), before)])
        scope.step(loss)
    scope.flush()
    got = scope.history.step_update.data
    assert got.shape == (6, 3)
    np.testing.assert_allclose(got, np.array(want), atol=1e-4)
    if every == 1:
        for snap, w in zip(scope.snapshots, want):
            assert [p.update_data_log10 for p in snap.params if p.is_matrix] == pytest.approx(w, abs=1e-4)
    scope.close()


def test_histograms_packed_together_equal_one_by_one():
    from initscope.core.replay import pack_counts, pack_many

    rng = np.random.default_rng(0)
    counts = np.stack([rng.integers(0, 3000, 50), rng.integers(0, 200_000, 50), np.zeros(50, np.int64)]).astype(np.float32)
    packed, scales = pack_many(counts)
    for row, p, sc in zip(counts, packed, scales):
        p1, s1 = pack_counts(row)
        assert np.array_equal(p, p1) and sc == s1
    small = counts[[0, 2]]  # every count fits 16 bits: the fast path, scales of 1
    packed, scales = pack_many(small)
    assert packed.dtype == np.uint16 and np.array_equal(packed, small) and np.array_equal(scales, [1.0, 1.0])


@pytest.mark.parametrize("nan", [False, True])
def test_the_replay_rows_the_recorder_packs_equal_those_packed_from_its_snapshots(nan, reduce_path):
    """A snapshot's replay row comes from the recorder's host arrays, not from walking the Snapshot's objects:
    every field of every row must be what replay.pack_row makes of the Snapshot itself (NaN statistics, a frozen
    weight, vectors without histograms and every module kind included)."""
    from initscope.core.replay import KEYS, SnapshotStore

    torch.manual_seed(0)
    model = Zoo()
    model.fc2.weight.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x, y = _batch()
    with initscope.watch(model, opt, every=1) as scope:
        for k in range(4):
            out = model(x)
            if nan and k == 2:
                out = out * float("nan")
            loss = nn.functional.cross_entropy(out, y)
            opt.zero_grad(); loss.backward(); opt.step(); scope.step(loss)
    store = SnapshotStore()
    for snap in scope.snapshots:
        store.add(snap)
    got = scope.history.replay
    assert len(got) == len(store) == 4  # steps 0-3
    for key in KEYS:
        a, b = got.arrays[key].data, store.arrays[key].data
        assert a.dtype == b.dtype and a.shape == b.shape, key
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), key
    assert not nan or np.isnan(got.arrays["scalars"].data[2, 0])


class _Mix(nn.Module):
    """One activation of each family the per-step tier reduces differently (tanh, ReLU, sigmoid, GELU's input
    rule), all of one size; `twice` calls the tanh twice in a step (the general path)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.tanh = nn.Linear(6, 32), nn.Tanh()
        self.fc2, self.relu = nn.Linear(32, 32), nn.ReLU()
        self.fc3, self.sig = nn.Linear(32, 32), nn.Sigmoid()
        self.fc4, self.gelu = nn.Linear(32, 32), nn.GELU()
        self.head = nn.Linear(32, 3)
        self.twice = False

    def forward(self, x):
        h = self.tanh(self.fc1(x))
        if self.twice:
            h = self.tanh(h)
        h = self.relu(self.fc2(h)) - 0.3
        h = self.sig(self.fc3(h) * 3.0)
        return self.head(self.gelu(self.fc4(h) * 4.0))


def _tier_by_hand(ref, opt, x, y, events, k):
    """One training step of `ref` with the events of step k applied, and the per-step tier's numbers of that
    step recomputed with plain torch: {activation name: (saturation, std, grad std)}, [log10 update:data]."""
    acts = {"tanh": "Tanh", "relu": "ReLU", "sig": "Sigmoid", "gelu": "GELU"}
    calls: dict = {n: [] for n in acts}
    hs = []
    for n in acts:
        def keep(m, inp, o, n=n):
            o.retain_grad()
            calls[n].append((inp[0].detach().clone(), o))
        hs.append(getattr(ref, n).register_forward_hook(keep))
    ref.twice = "twice" in events.get(k, ())
    if "write" in events.get(k, ()):
        with torch.no_grad():
            ref.fc2.weight.mul_(0.5)
    loss = nn.functional.cross_entropy(ref(x), y)
    opt.zero_grad()
    loss.backward()
    before = [m.weight.detach().clone() for m in (ref.fc1, ref.fc2, ref.fc3, ref.fc4, ref.head)]
    opt.step()
    for h in hs:
        h.remove()
    out = {}
    for n, kind in acts.items():
        xin = torch.cat([c[0].flatten() for c in calls[n]])
        o = torch.cat([c[1].detach().flatten() for c in calls[n]])
        g = torch.cat([c[1].grad.flatten() for c in calls[n]])
        out[n] = (_sat(kind, xin, o).double().mean().item(), o.double().std().item(), g.double().std().item())
    upd = [math.log10((m.weight.detach() - b).double().std().item() / b.double().std().item())
           for m, b in zip((ref.fc1, ref.fc2, ref.fc3, ref.fc4, ref.head), before)]
    return out, upd


def _check_tier_against_torch(scope, model, opt, ref, ref_opt, x, y, steps, events):
    names = [i.name for i in scope.rec.layers]
    want = []
    for k in range(steps):
        model.twice = "twice" in events.get(k, ())
        if "write" in events.get(k, ()):
            with torch.no_grad():
                model.fc2.weight.mul_(0.5)  # the user writes a weight between steps (both models alike)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        scope.step(loss)
        if "flush" in events.get(k, ()):
            scope.flush()  # a flush mid-block: what waits in the rings is reduced now
        want.append(_tier_by_hand(ref, ref_opt, x, y, events, k))
    scope.flush()
    h = scope.history
    assert list(h.step_steps.data) == list(range(steps))
    for k, (acts, upd) in enumerate(want):
        for n, (sat, std, gstd) in acts.items():
            i = names.index(n)
            assert math.isclose(h.step_saturation.data[k, i], sat, abs_tol=1e-6), (k, n)
            assert math.isclose(h.step_act_std.data[k, i], std, rel_tol=1e-4), (k, n)
            assert math.isclose(h.step_grad_std.data[k, i], gstd, rel_tol=1e-4), (k, n)
        np.testing.assert_allclose(h.step_update.data[k], upd, atol=1e-4, err_msg=f"step {k}")


@pytest.mark.parametrize("ring_bytes", [None, 1])
def test_the_deferred_per_step_tier_matches_plain_torch_step_by_step(monkeypatch, ring_bytes, reduce_path):
    """The per-step tier's rows wait in rings and are reduced K steps at once: a flush in the middle of a block,
    snapshot steps in between, a weight the loop writes, a step that takes the general path (a layer called
    twice) and a new block after each, every row against plain torch. ring_bytes=1: a model too big for the
    rings (K = 1), reduced step by step."""
    import initscope.core.recorder as recorder

    if ring_bytes is not None:
        monkeypatch.setattr(recorder, "RING_BYTES", ring_bytes)
    blocks: list[int] = []
    run_block = recorder._ScalarPlan.run_block
    monkeypatch.setattr(recorder._ScalarPlan, "run_block", lambda self, c, R, U: blocks.append(c) or run_block(self, c, R, U))
    torch.manual_seed(3)
    model = _Mix()
    ref = copy.deepcopy(model)
    opt, ref_opt = torch.optim.Adam(model.parameters(), lr=3e-2), torch.optim.Adam(ref.parameters(), lr=3e-2)
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    scope = initscope.watch(model, opt, every=13, every_step="scalars")
    events = {5: ("flush",), 9: ("write",), 17: ("twice",), 18: ("twice",), 30: ("flush",), 31: ("write", "flush")}
    _check_tier_against_torch(scope, model, opt, ref, ref_opt, x, y, 44, events)
    plans = list(scope.rec._plans.values())
    if ring_bytes is None:
        assert max(p.K for p in plans) == recorder.RING_MAX and max(blocks) > 1  # deferred, in blocks
        assert sum(blocks) < 44 - 4  # (the snapshot steps and the general path's are not in the blocks)
    else:
        assert {p.K for p in plans} == {1} and not blocks  # step by step, as before deferral
    scope.close()


def test_the_deferred_tier_without_an_optimizer_and_when_full_blocks_end_the_run(monkeypatch, reduce_path):
    """No optimizer (no matrix ring: the activations alone are deferred), and a run whose last block is full
    exactly at close: every row against plain torch, and the rows of a closed scope are all in its file."""
    import initscope.core.recorder as recorder

    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 24), nn.Tanh(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 3))
    x, y = torch.randn(30, 6), torch.randint(0, 3, (30,))
    scope = initscope.watch(model, None, every=1000, every_step="scalars")
    K = None
    stds = []
    for k in range(1 + 2 * recorder.RING_MAX):  # step 0 is a snapshot, then 2 full blocks
        outs = {}
        hs = [model[i].register_forward_hook(lambda m, inp, o, i=i: [o.retain_grad(), outs.__setitem__(i, o)] and None)
              for i in (1, 3)]
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
                p.grad = None
        for h in hs:
            h.remove()
        stds.append([(outs[i].detach().std().item(), outs[i].grad.std().item(),
                      ((outs[i].abs() > THR) if i == 1 else (outs[i] <= 0)).float().mean().item()) for i in (1, 3)])
        scope.step(loss)  # (it lets go of the outputs' gradients: read above)
        K = K or max((p.K for p in scope.rec._plans.values()), default=None)
    assert K == recorder.RING_MAX and scope.rec._dc == 0  # the last block was reduced as it filled
    scope.close()
    h = scope.history
    assert len(h.step_steps) == len(stds)
    for k, row in enumerate(stds):
        for j, i in enumerate((1, 3)):
            std, gstd, sat = row[j]
            assert math.isclose(h.step_act_std.data[k, i], std, rel_tol=1e-4)
            assert math.isclose(h.step_grad_std.data[k, i], gstd, rel_tol=1e-4)
            assert math.isclose(h.step_saturation.data[k, i], sat, abs_tol=1e-6)
        assert np.isnan(h.step_update.data[k]).all()  # no optimizer: no update measured


@pytest.mark.parametrize("flush_seconds", [0.0, 3600.0])
def test_without_a_file_the_history_follows_every_flush_seconds(flush_seconds):
    """save=None: the losses and per-step rows held on the device reach `scope.history` every flush_seconds (not
    only at close: a notebook reads it mid-run, and a long run's held tensors would grow), and at once on flush()."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 5))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(24, 6), torch.randint(0, 5, (24,))
    scope = initscope.watch(model, opt, every=4, every_step="scalars", flush_seconds=flush_seconds)
    losses = []
    for _ in range(10):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        scope.step(loss)
    h = scope.history
    if flush_seconds == 0.0:  # every step drains: all ten losses are there, step by step
        assert np.allclose(h.loss.data, losses)
        assert h.step_saturation is not None and len(h.step_saturation) == 10
    else:
        assert len(h.loss) == 0  # held until the next flush
        scope.flush()
        assert np.allclose(scope.history.loss.data, losses)
    scope.close()


class _Shared(nn.Module):
    """One Tanh called twice (its rows combine: moments exactly, dead units in both calls), a ReLU on a 4-D
    output (units are channels), a GELU (saturation read from its input), and a layer never called (its
    parameters get no gradient: the parameters are then not read from one flat copy)."""

    def __init__(self, unused=True):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(12, 12), nn.Linear(12, 12), nn.Tanh()
        self.conv, self.relu, self.gelu = nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.GELU()
        self.head = nn.Linear(12 + 3 * 4 * 3, 4)
        self.unused = nn.Linear(3, 3) if unused else None

    def forward(self, x):
        h = self.act(self.fc2(self.act(self.fc1(x))))
        c = self.relu(self.conv(self.gelu(x.reshape(-1, 1, 4, 3) * 3)))
        return self.head(torch.cat([h, c.flatten(1)], 1))


@pytest.mark.parametrize("case", ["zoo", "shared", "nan-inf"])
def test_the_compiled_reductions_equal_the_torch_ones(case, monkeypatch):
    """Every number of a snapshot from the compiled kernel against the torch ops it stands in for, on the same
    step's tensors: histograms, ranges, saturation and dead units exactly; moments to float32 rounding (the
    kernel sums in float64)."""
    from initscope.core import fastreduce
    from initscope.core.recorder import Recorder

    assert fastreduce.kernel(wait=True) is not None
    seen, flat = [], []
    fast = Recorder._reduce_fast

    def both(self):
        got = fast(self)
        want = self._host_rows(self._reduce(full=True), 0.0)
        seen.append((got, want))
        flat.append(self._pre.get("flat_grads") is not None)
        return got

    monkeypatch.setattr(Recorder, "_reduce_fast", both)
    torch.manual_seed(3)
    if case == "zoo":
        model, x = Zoo(), _batch()[0]
        y = _batch()[1]
    else:
        model, x, y = _Shared(unused=case == "shared"), torch.randn(16, 12) * 2, torch.randint(0, 4, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with initscope.watch(model, opt, every=1) as scope:
        for k in range(3):
            out = model(x)
            if case == "nan-inf" and k == 1:
                with torch.no_grad():
                    model.fc1.weight[0, 0] = float("inf")  # an infinite weight: inf and NaN outputs downstream
            loss = nn.functional.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            scope.step(loss)
    assert len(seen) == 3
    # the parameters read in place from their flat copies, or (a parameter without a gradient) copied by size
    assert flat == [case != "shared"] * 3
    for (lrows, lh, prows, ph), (w_lrows, w_lh, w_prows, w_ph, _) in seen:
        exact = [3, 4, 5, 8]  # dead, lo, hi, grad lim
        np.testing.assert_array_equal(lrows[:, exact], w_lrows[:, exact])
        np.testing.assert_array_equal(lrows[:, 2], w_lrows[:, 2])  # saturation: the same counts over the same n
        for rows, want, pairs in ((lrows, w_lrows, [(0, 1), (6, 7)]), (prows, w_prows, [(1, 2)])):
            # stds to float32 rounding; means near 0 (a normalised output's) to a millionth of the std: the torch
            # path's float32 row means are off by ~1e-8 there, the kernel's float64 ones are not
            std_cols = [1, 7] if rows is lrows else [0, 2, 3]
            np.testing.assert_allclose(rows[:, std_cols], want[:, std_cols], rtol=2e-6, atol=1e-12, equal_nan=True)
            for m, sd in pairs:
                ok = np.isnan(want[:, m]) == np.isnan(rows[:, m])
                fin = np.isfinite(want[:, sd])
                assert ok.all() and (np.abs(rows[fin, m] - want[fin, m]) <= 1e-6 * want[fin, sd] + 1e-30).all()
        np.testing.assert_array_equal(lh, w_lh)
        np.testing.assert_array_equal(ph, w_ph)
    if case == "nan-inf":
        assert any(np.isnan(g[0]).any() for g, _ in seen[1:])  # the NaN really reached the rows


def test_the_kernels_codes_are_fastreduces():
    from initscope.core import _fastreduce_kernels as k
    from initscope.core import fastreduce as f

    assert (k.NO_HIST, k.FIXED, k.MINMAX, k.SYMMETRIC) == (f.NO_HIST, f.FIXED, f.MINMAX, f.SYMMETRIC)
    assert (k.SAT_TANH, k.SAT_SIGMOID, k.SAT_RELU) == (f.SAT_TANH, f.SAT_SIGMOID, f.SAT_RELU)


def _kernel_hist(x, mode, lo=0.0, hi=1.0, bins=BINS):
    """One row through the kernel: its histogram and its range."""
    from initscope.core import fastreduce

    kern = fastreduce.kernel(wait=True)[0]
    i64 = lambda v: np.array(v, np.int64)  # noqa: E731
    args = (i64([0]), i64([len(x)]), i64([0]), i64([0]), i64([0]), i64([0]), i64([1]), i64([1]), i64([0, 0]),
            i64([mode]), np.array([lo], np.float32), np.array([hi], np.float32))
    e = np.zeros(0, np.float32)  # no parameter rows
    out = kern(np.ascontiguousarray(x, np.float32), e, e, e, *args, 1, bins, np.float32(THR), np.float32(1 - THR),
               np.float32(-3.0))
    return out[6][0], out[3][0], out[4][0]


def _torch_hist(x, lo, hi, bins=BINS):
    """The torch path's bins: (x - lo) / (hi - lo) * bins in float32, clamped, NaN dropped."""
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    lo_t, w_t = torch.tensor(lo, dtype=torch.float32), torch.tensor(hi, dtype=torch.float32) - lo
    pos = (t - lo_t) / w_t * bins
    keep = ~pos.isnan()
    idx = pos[keep].clamp(0, bins - 1).long()
    return np.bincount(idx.numpy(), minlength=bins)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=300),
       st.sampled_from([2, 3]), st.integers(4, 1000),
       st.integers(0, 2**31 - 1))
def test_the_kernels_bins_are_the_torch_paths_on_any_values(values, mode, bins, seed):
    """Whatever the values (NaN, infinities, huge, tiny, values exactly on an edge or one ulp beside it): the
    kernel's histogram is the torch path's, bin for bin, for a range of its own (min..max) and a symmetric one."""
    x = np.array(values, np.float32)
    rng = np.random.default_rng(seed)
    fin = np.where(np.isfinite(x), x, 0).astype(np.float32)
    lo, hi = fin.min(), fin.max()
    if mode == 3:
        lim = max(abs(lo), abs(hi), np.float32(1e-12))
        lo, hi = -lim, lim
    else:
        hi = max(hi, np.float32(lo + np.float32(1e-6)))
    # values on the edges as float32 computes them, and one ulp either side
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.float32(hi - lo)
        edges = (np.float32(lo) + w * np.arange(bins + 1, dtype=np.float32) / np.float32(bins)).astype(np.float32)
    pick = edges[rng.integers(0, bins + 1, 40)]
    near = np.concatenate([pick, np.nextafter(pick, np.float32(np.inf)), np.nextafter(pick, np.float32(-np.inf))])
    x = np.concatenate([x, near[(near >= lo) & (near <= hi)]]).astype(np.float32)
    fin = np.where(np.isfinite(x), x, 0).astype(np.float32)
    got, k_lo, k_hi = _kernel_hist(x, mode, bins=bins)
    if mode == 3:
        lim = max(abs(fin.min()), abs(fin.max()), np.float32(1e-12))
        assert (k_lo, k_hi) == (-lim, lim)
    else:
        assert k_lo == fin.min() and k_hi == max(fin.max(), np.float32(fin.min() + np.float32(1e-6)))
    np.testing.assert_array_equal(got, _torch_hist(x, k_lo, k_hi, bins))


def _same_snapshot(a, b) -> None:
    """Every field of two Snapshots equal (NaN equal to NaN), their histograms bin for bin."""
    def eq(u, v):
        return (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v)) or u == v

    assert (a.step, a.loss, a.lr) == (b.step, b.loss, b.lr) or math.isnan(a.lr)
    assert len(a.layers) == len(b.layers) and len(a.params) == len(b.params)
    for s, t in zip(a.layers, b.layers):
        for f in ("index", "name", "kind", "mean", "std", "saturation", "dead", "width", "grad_mean", "grad_std"):
            assert eq(getattr(s, f), getattr(t, f)), (s.name, f)
        for h, g in ((s.hist, t.hist), (s.grad_hist, t.grad_hist)):
            assert (h.lo, h.hi) == (g.lo, g.hi) and np.array_equal(h.counts, g.counts)
    for p, q in zip(a.params, b.params):
        for f in ("name", "shape", "is_matrix", "data_std", "grad_mean", "grad_std", "grad_data", "update_data_log10"):
            assert eq(getattr(p, f), getattr(q, f)), (p.name, f)
        assert (p.grad_hist is None) == (q.grad_hist is None)
        if p.grad_hist is not None:
            assert np.array_equal(p.grad_hist.counts, q.grad_hist.counts)


def test_kept_snapshots_are_host_arrays_made_into_snapshots_when_read():
    """scope.snapshots keeps each snapshot as the numpy arrays it was made of, not as ~100 Python objects that
    every garbage collection walks: only the ring of the latest (History.recent) and step 0 stay as objects.
    Read back, each is the Snapshot the step made, field for field; thinning keeps the first and the latest."""
    import gc

    from initscope.core.snapshot import LayerStats

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    made = {}
    gc.collect()
    before = sum(type(o) is LayerStats for o in gc.get_objects())  # other tests' (this worker's) left alive
    with initscope.watch(model, opt, every=1, max_snapshots=64) as scope:
        for k in range(60):
            _train(model, opt, x, y, 1, scope)
            if k in (0, 5, 41, 59):
                made[k] = scope.latest
        gc.collect()
        alive = sum(type(o) is LayerStats for o in gc.get_objects()) - before
        ring = len(scope.history.recent)
        assert alive <= (ring + 1 + len(made)) * len(model), alive  # none kept for the other ~40 snapshots
        assert len(scope.snapshots) == 60 and scope.snapshots[-1] is scope.latest
        for k in (0, 5, 41, 59):
            _same_snapshot(scope.snapshots[k], made[k])
        assert [s.step for s in scope.snapshots[10:13]] == [10, 11, 12]
    with initscope.watch(model, opt, every=1, max_snapshots=8) as scope:
        _train(model, opt, x, y, 30, scope)
        steps = [s.step for s in scope.snapshots]
        assert len(steps) <= 8 and steps[0] == 0 and steps[-1] == 29 and steps == sorted(steps)


def test_the_kernels_are_compiled_once_for_the_types_the_recorder_passes():
    """The background compile (fastreduce._compile: warm) makes the one signature of each kernel that a watched
    run, its snapshots and its per-step tier call with: a real run adds none (another signature would be
    compiled in the middle of a user's loop, for seconds)."""
    from initscope.core import _fastreduce_kernels as k
    from initscope.core import fastreduce

    assert fastreduce.kernel(wait=True) is not None
    torch.manual_seed(0)
    model = _Mix()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    with initscope.watch(model, opt, every=5, every_step="scalars") as scope:
        _train(model, opt, x, y, 40, scope)
    kernels = (k.reduce_rows, k.finish, k.scalar_group, k.scalar_matrices)
    assert [len(f.signatures) for f in kernels] == [1, 1, 1, 1], [f.signatures for f in kernels]


def test_a_loop_does_not_wait_for_the_compile(monkeypatch):
    """While the kernels compile (the first use on a machine: seconds), snapshots take the torch path: the first
    step returns at once, with the same statistics."""
    import threading

    from initscope.core import fastreduce

    release = threading.Event()
    fastreduce.kernel(wait=True)  # a real compile in flight would set the kernels mid-test
    monkeypatch.setattr(fastreduce, "_kernel", None)
    monkeypatch.setattr(fastreduce, "_tried", False)
    monkeypatch.setattr(fastreduce, "_thread", None)
    monkeypatch.setattr(fastreduce, "_compile", lambda: release.wait(30))  # a compile that takes its time
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    t0 = time.perf_counter()
    with initscope.watch(model, opt, every=1) as scope:
        _train(model, opt, x, y, 3, scope)
        assert scope.rec._rooms and "X" not in scope.rec._rooms  # the torch path's buffers, not the kernel's
    assert time.perf_counter() - t0 < 10
    assert fastreduce._thread is not None and fastreduce._thread.is_alive()
    release.set()
    fastreduce._thread.join(30)
    assert [s.step for s in scope.snapshots] == [0, 1, 2]


def test_a_compile_that_fails_is_one_warning_and_the_torch_path_serves(monkeypatch):
    """numba present but broken (a wheel that does not load, an LLVM error): one warning naming it, and every
    snapshot still made, by the torch ops."""
    from initscope.core import _fastreduce_kernels as k
    from initscope.core import fastreduce

    def broken():
        raise ImportError("numba needs a newer numpy")

    fastreduce.kernel(wait=True)  # a real compile in flight would set the kernels mid-test
    monkeypatch.setattr(k, "warm", broken)
    for name, value in (("_kernel", None), ("_tried", False), ("_thread", None), ("_error", None)):
        monkeypatch.setattr(fastreduce, name, value)
    with pytest.warns(RuntimeWarning, match="compiled snapshot path is off .*numba needs a newer numpy") as got:
        assert fastreduce.kernel(wait=True) is None
        assert fastreduce.kernel(wait=True) is None  # said once
    assert len([w for w in got if "compiled" in str(w.message)]) == 1
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    with initscope.watch(model, opt, every=1) as scope:
        _train(model, opt, x, y, 3, scope)
    assert [s.step for s in scope.snapshots] == [0, 1, 2] and scope.latest.layers[1].saturation >= 0
