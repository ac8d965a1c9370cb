"""Every figure the panels show, computed by the core and again by a few lines of plain torch."""

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from initscope.core.config import DiagConfig, LayerSpec
from initscope.core.diagnostics import Histogram, collect, forward_for_diagnostics
from initscope.core.model import ResidualBlock, build_net
from initscope.core.trainer import Trainer

from conftest import tiny_config


def plain_reference(net, x, y, lr, thr, bins):
    """The lecture's way: run the layers by hand, retain_grad, backward, SGD by hand, then the stats."""
    net = copy.deepcopy(net)
    h = net.embedding.weight[x].view(x.shape[0], -1)
    outs, ins = [], []

    def run(layer, h):
        ins.append(h)
        h = layer(h)
        h.retain_grad()
        outs.append(h)
        return h

    for layer in net.layers:
        if isinstance(layer, ResidualBlock):  # its branch layer by layer, then the stream after the addition
            stream = h
            for sub in layer.branch:
                h = run(sub, h)
            h = stream + layer.scale * h
            ins.append(None)
            h.retain_grad()
            outs.append(h)
        else:
            h = run(layer, h)
    loss = F.cross_entropy(h, y)
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= lr * p.grad
    layers = {}
    for name, spec, t, t_in in zip(net.names, net.specs, outs, ins):
        hist = None
        if spec.kind == "tanh":
            mask = t.abs() > thr
            hist = torch.histc(t.detach(), bins, -1, 1)
        elif spec.kind == "sigmoid":
            mask = (t < 1 - thr) | (t > thr)  # within 0.03 of 0 or 1
            hist = torch.histc(t.detach(), bins, 0, 1)
        elif spec.kind == "relu":
            mask = t == 0
        elif spec.kind in ("gelu", "silu"):
            mask = t_in < -3  # the flat negative tail, read from the activation's input
        elif spec.kind in ("batchnorm", "layernorm", "rmsnorm", "residual"):
            mask = None
            m = t.detach().abs().max()
            hist = torch.histc(t.detach(), bins, -m.item(), m.item())
        else:
            continue
        sat = math.nan if mask is None else mask.float().mean().item()
        dead = 0 if mask is None else int(mask.all(0).sum())
        layers[name] = dict(mean=t.mean().item(), std=t.std().item(), saturation=sat, dead=dead,
                            grad_mean=t.grad.mean().item(), grad_std=t.grad.std().item(), hist=hist)
    params = {}
    for name, p in net.named_params():
        params[name] = dict(grad_data=(p.grad.std() / p.data.std()).item(),
                            update=((lr * p.grad).std() / p.data.std()).log10().item(),
                            grad_mean=p.grad.mean().item())
    return loss.item(), layers, params


def test_snapshot_matches_plain_torch(small_data):
    layers = [LayerSpec("linear", 64), LayerSpec("tanh"), LayerSpec("linear", 64), LayerSpec("batchnorm"),
              LayerSpec("tanh"), LayerSpec("linear", 32), LayerSpec("relu"), LayerSpec("linear", None)]
    cfg = tiny_config(layers, steps=1)
    cfg.init.gain = 3.0  # make saturation large enough to matter
    cfg.diag.snapshot_every = 1
    tr = Trainer(cfg, small_data)
    peek = torch.Generator()
    peek.set_state(tr.gen.get_state())
    ix = torch.randint(0, tr.xtr.shape[0], (cfg.train.batch_size,), generator=peek)
    ref_loss, ref_layers, ref_params = plain_reference(tr.net, tr.xtr[ix], tr.ytr[ix], cfg.train.lr, 0.97, 50)
    snaps = []
    tr.train(lambda p: p.snapshot and snaps.append(p.snapshot))
    snap = snaps[0]
    assert snap.step == 0 and math.isclose(snap.loss, ref_loss, rel_tol=1e-6)
    assert [s.name for s in snap.layers] == ["L1 Tanh", "L3 BatchNorm", "L4 Tanh", "L6 ReLU"]
    _check_layers(snap, ref_layers)
    assert any(s.saturation > 0.1 for s in snap.layers)
    for p in snap.params:
        r = ref_params[p.name]
        assert math.isclose(p.grad_data, r["grad_data"], rel_tol=1e-5), p.name
        assert math.isclose(p.update_data_log10, r["update"], rel_tol=1e-5, abs_tol=1e-6), p.name
        # a mean that is zero in exact arithmetic (the output layer's) is float32 rounding noise: compare on the std's scale
        assert math.isclose(p.grad_mean, r["grad_mean"], rel_tol=1e-4, abs_tol=1e-5 * p.grad_std), p.name
        assert p.is_matrix == (len(p.shape) == 2)
    assert math.isclose(snap.ref_loss, math.log(27))


def _check_layers(snap, ref_layers):
    assert [s.name for s in snap.layers] == list(ref_layers)
    for s in snap.layers:
        r = ref_layers[s.name]
        for key in ("mean", "std", "saturation", "grad_mean", "grad_std"):
            scale = r["grad_std"] if key.startswith("grad") else r["std"]
            if key == "saturation" and math.isnan(r[key]):
                assert math.isnan(s.saturation) and s.sat_map is None, s.name  # norms, streams: none defined
                continue
            assert math.isclose(getattr(s, key), r[key], rel_tol=1e-5, abs_tol=1e-6 * scale), (s.name, key)
        assert s.dead == r["dead"]
        if r["hist"] is not None:
            assert np.abs(s.hist.counts - r["hist"].numpy()).max() <= 1, s.name  # bin-edge rounding at most
            assert s.hist.counts.sum() == r["hist"].sum().item()


def test_snapshot_of_every_new_kind_matches_plain_torch(small_data):
    """LayerNorm, RMSNorm, GELU, SiLU, sigmoid and residual streams (pre-norm, BatchNorm inside a branch)."""
    res = lambda *ls, scale=1.0: LayerSpec("residual", scale=scale, layers=list(ls))  # noqa: E731
    layers = [LayerSpec("linear", 48), LayerSpec("layernorm"), LayerSpec("gelu"),
              res(LayerSpec("rmsnorm"), LayerSpec("linear", 64), LayerSpec("silu"), LayerSpec("linear", None)),
              res(LayerSpec("linear", None), LayerSpec("batchnorm"), LayerSpec("sigmoid"), LayerSpec("linear", None),
                  scale=0.5),
              LayerSpec("linear", 32), LayerSpec("silu"), LayerSpec("linear", None)]
    cfg = tiny_config(layers, steps=1)
    cfg.init.gain = 3.0  # the tails and flat ends get populated
    cfg.diag.snapshot_every = 1
    tr = Trainer(cfg, small_data)
    peek = torch.Generator()
    peek.set_state(tr.gen.get_state())
    ix = torch.randint(0, tr.xtr.shape[0], (cfg.train.batch_size,), generator=peek)
    ref_loss, ref_layers, ref_params = plain_reference(tr.net, tr.xtr[ix], tr.ytr[ix], cfg.train.lr, 0.97, 50)
    snaps = []
    tr.train(lambda p: p.snapshot and snaps.append(p.snapshot))
    snap = snaps[0]
    assert math.isclose(snap.loss, ref_loss, rel_tol=1e-6)
    assert [s.kind for s in snap.layers] == ["layernorm", "gelu", "rmsnorm", "silu", "residual", "batchnorm",
                                             "sigmoid", "residual", "silu"]
    _check_layers(snap, ref_layers)
    assert any(s.saturation > 0.02 for s in snap.layers if s.kind in ("gelu", "silu"))  # the tail rule ran
    for p in snap.params:
        assert math.isclose(p.grad_data, ref_params[p.name]["grad_data"], rel_tol=1e-5), p.name


def test_dead_count_and_saturation_on_a_hand_made_tensor():
    cfg = tiny_config([LayerSpec("linear", 4), LayerSpec("tanh"), LayerSpec("linear", None)])
    net = build_net(cfg, 27)
    # 3 examples x 4 neurons: neuron 0 saturated everywhere, neuron 1 in two of three, 2 and 3 never
    out = torch.tensor([[0.99, -0.98, 0.1, 0.0],
                        [-0.995, 0.99, -0.2, 0.5],
                        [0.98, 0.3, 0.96, -0.5]], requires_grad=True)
    out.sum().backward()
    loss = torch.tensor(1.0)
    snap = collect(net, [out.detach(), out, out.detach()], loss, 0.1, 7, DiagConfig(saturation_threshold=0.97))
    s = snap.layers[0]
    assert s.dead == 1 and math.isclose(s.saturation, 5 / 12, rel_tol=1e-6)
    assert np.array_equal(s.sat_map, (out.abs() > 0.97).numpy()) and s.sat_map.all(0).sum() == s.dead
    assert math.isclose(s.grad_std, 0.0, abs_tol=1e-9) and math.isclose(s.grad_mean, 1.0)
    expected, _ = np.histogram(out.detach().numpy(), bins=50, range=(-1, 1))
    assert np.array_equal(s.hist.counts, expected) and expected[-1] == 4 and expected[0] == 2


def test_histogram_density_integrates_to_one():
    h = Histogram(np.array([1, 3, 4, 2], np.float32), -1.0, 1.0)
    assert math.isclose(float((h.density() * 0.5).sum()), 1.0)
    assert np.allclose(h.centers(), [-0.75, -0.25, 0.25, 0.75])


def test_init_snapshot_leaves_the_run_untouched(small_data):
    cfg = tiny_config(steps=30)
    a = Trainer(cfg, small_data)
    snap = a.init_snapshot()
    a.train()
    b = Trainer(cfg, small_data)
    b.train()
    assert np.array_equal(a.losses, b.losses)
    assert math.isclose(snap.loss, float(a.losses[0]), rel_tol=1e-6)  # same batch as step 0
    assert snap.step == 0


def test_deep_net_saturation_at_init_matches_the_lecture(names_data):
    from initscope.core.config import preset

    nobn = Trainer(preset("deep-nobn"), names_data).init_snapshot()
    sats = [s.saturation for s in nobn.layers]
    assert 0.12 < sats[0] < 0.30 and all(0.02 < s < 0.12 for s in sats[2:])
    bn = Trainer(preset("deep-bn"), names_data).init_snapshot()
    assert all(0.01 < s.saturation < 0.06 and 0.6 < s.std < 0.68 for s in bn.layers if s.kind == "tanh")


def test_five_point_batchnorm_matches_torch_and_is_standardised():
    from initscope.core.bn_points import normalize

    bn = torch.nn.BatchNorm1d(1)
    for outlier in (-50.0, -1.0, 0.3, 2.0, 80.0):
        xs = [-1.2, -0.3, 0.4, 1.1, outlier]
        mean, std, out = normalize(xs)
        ref = bn(torch.tensor(xs, dtype=torch.float64).view(5, 1).float()).detach().view(-1).numpy()
        assert np.allclose(out, ref, atol=1e-5)
        assert abs(out.mean()) < 1e-9 and abs(out.std() - 1) < 1e-4
        assert math.isclose(mean, float(np.mean(xs)))


def test_per_step_tier_matches_plain_torch_every_step(small_data):
    """diag.step_stats: every step's saturation, std, grad std and update:data, checked against the lecture's
    hand-written loop step by step, across snapshot steps and loss-chunk boundaries."""
    layers = [LayerSpec("linear", 24), LayerSpec("tanh"), LayerSpec("linear", 16), LayerSpec("batchnorm"),
              LayerSpec("tanh"), LayerSpec("linear", 12), LayerSpec("relu"), LayerSpec("linear", None)]
    cfg = tiny_config(layers, steps=60)
    cfg.init.gain = 3.0
    cfg.diag.snapshot_every = 7  # snapshot steps use the full forward; the tier must not notice
    cfg.diag.step_stats = True
    ref_tr = Trainer(cfg, small_data)  # the same net and generator, trained below by hand
    net, gen = copy.deepcopy(ref_tr.net), ref_tr.gen
    tr = Trainer(cfg, small_data)
    got, snaps = [], []

    def on_progress(p):
        if p.scalars is not None:
            got.append(p.scalars)
        if p.snapshot is not None and p.status == "running":
            snaps.append(p.snapshot)

    tr.train(on_progress)
    assert sum(len(s) for s in got) == 60 and got[0].first_step == 0
    assert [s.first_step for s in got] == sorted(s.first_step for s in got)
    sat = np.concatenate([s.saturation for s in got])
    std = np.concatenate([s.act_std for s in got])
    gstd = np.concatenate([s.grad_std for s in got])
    upd = np.concatenate([s.update_log10 for s in got])
    assert sat.shape == (60, 3) and upd.shape == (60, 5)  # 3 activations; embedding + 4 Linear weights

    xtr, ytr, lr, thr = ref_tr.xtr, ref_tr.ytr, cfg.train.lr, cfg.diag.saturation_threshold
    for step in range(60):
        ix = torch.randint(0, xtr.shape[0], (cfg.train.batch_size,), generator=gen)
        h = net.embedding.weight[xtr[ix]].view(len(ix), -1)
        acts = []
        for spec, layer in zip(net.specs, net.layers):
            h = layer(h)
            if spec.kind in ("tanh", "relu"):
                h.retain_grad()
                acts.append((spec.kind, h))
        loss = F.cross_entropy(h, ytr[ix])
        for p in net.parameters():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= lr * p.grad
        want_sat = [((t.abs() > thr) if k == "tanh" else (t == 0)).float().mean().item() for k, t in acts]
        n = acts[0][1].numel()
        np.testing.assert_allclose(sat[step], want_sat, atol=2.5 / n)  # a value at the threshold may flip
        np.testing.assert_allclose(std[step], [t.std().item() for _, t in acts], rtol=2e-3)
        np.testing.assert_allclose(gstd[step], [t.grad.std().item() for _, t in acts], rtol=2e-3)
        want_upd = [((lr * p.grad).std() / p.data.std()).log10().item() for _, p in net.named_params() if p.dim() == 2]
        np.testing.assert_allclose(upd[step], want_upd, atol=2e-3)
    # a full snapshot and the tier's row for the same step agree
    assert [s.step for s in snaps] == list(range(0, 60, 7))
    for snap in snaps:  # the tier's columns are the activation layers (the snapshot lists the BatchNorm too)
        acts = [x for x in snap.layers if x.kind in ("tanh", "relu")]
        assert len(acts) < len(snap.layers)
        np.testing.assert_allclose(sat[snap.step], [x.saturation for x in acts], atol=1e-6)
        np.testing.assert_allclose(gstd[snap.step], [x.grad_std for x in acts], rtol=1e-4)
        np.testing.assert_allclose(upd[snap.step], [x.update_data_log10 for x in snap.params if x.is_matrix], atol=1e-4)


def test_per_step_tier_is_off_by_default(small_data):
    cfg = tiny_config(steps=30)
    assert cfg.diag.step_stats is False
    seen = []
    Trainer(cfg, small_data).train(lambda p: seen.append(p.scalars))
    assert all(s is None for s in seen)


def test_weight_gradient_histograms_match_torch_histc(small_data):
    cfg = tiny_config(steps=1)
    cfg.diag.snapshot_every = 1
    tr = Trainer(cfg, small_data)
    snaps = []
    tr.train(lambda p: p.snapshot is not None and p.status == "running" and snaps.append(p.snapshot))
    grads = {}  # recompute the step-0 gradients by hand on a fresh copy of the same run
    ref = Trainer(cfg, small_data)
    ix = torch.randint(0, ref.xtr.shape[0], (cfg.train.batch_size,), generator=ref.gen)
    F.cross_entropy(ref.net(ref.xtr[ix]), ref.ytr[ix]).backward()
    for name, p in ref.net.named_params():
        grads[name] = p.grad
    checked = 0
    for ps in snaps[0].params:
        if not ps.is_matrix:
            assert ps.grad_hist is None
            continue
        g = grads[ps.name]
        m = g.abs().max().item()
        want = torch.histc(g, cfg.diag.hist_bins, -m, m).numpy()
        assert math.isclose(ps.grad_hist.hi, m, rel_tol=1e-6) and math.isclose(ps.grad_hist.lo, -m, rel_tol=1e-6)
        assert np.abs(ps.grad_hist.counts - want).max() <= 1  # bin-edge rounding at most
        assert ps.grad_hist.counts.sum() == g.numel()
        checked += 1
    assert checked == 4  # the embedding and three Linear weights


def test_a_nan_step_gives_a_diverged_run_not_a_crash(small_data):
    cfg = tiny_config(steps=50)
    cfg.train.lr = 1e38  # overflows to inf/NaN within a step or two
    cfg.diag.snapshot_every = 1
    cfg.diag.step_stats = True
    tr = Trainer(cfg, small_data)
    assert tr.train() == "diverged"
    assert "diverged" in tr.message


def test_a_copied_net_gets_the_same_snapshot(small_data):
    """collect caches index maps and a scratch buffer (with views into it) on the net: a deep copy (torch keeps
    the views of one storage together) gets the same numbers and writes to its own buffer."""
    cfg = tiny_config(steps=1)
    tr = Trainer(cfg, small_data)
    ix = torch.randint(0, tr.xtr.shape[0], (cfg.train.batch_size,), generator=tr.gen)

    def snap_of(net):
        logits, outs = forward_for_diagnostics(net, tr.xtr[ix])
        loss = F.cross_entropy(logits, tr.ytr[ix])
        loss.backward()
        return collect(net, outs, loss, 0.1, 0, cfg.diag)

    first = snap_of(tr.net)  # builds and caches the layout
    twin = copy.deepcopy(tr.net)
    twin.zero_grad(set_to_none=True)
    tr.net.zero_grad(set_to_none=True)
    a, b = snap_of(tr.net), snap_of(twin)
    for pa, pb, p0 in zip(a.params, b.params, first.params):
        if pa.grad_hist is not None:
            assert np.array_equal(pa.grad_hist.counts, pb.grad_hist.counts)
            assert np.array_equal(pa.grad_hist.counts, p0.grad_hist.counts)
            assert pa.grad_hist.counts.sum() == np.prod(pa.shape)


def test_stacks_without_activations_or_vectors(small_data):
    """No activation layer (nothing per layer) and no 1-D parameter (nothing for the two-pass path)."""
    for layers in ([LayerSpec("linear", None, bias=False)],
                   [LayerSpec("linear", 8), LayerSpec("batchnorm"), LayerSpec("linear", None)]):
        cfg = tiny_config(layers, steps=4)
        cfg.diag.snapshot_every = 1
        cfg.diag.step_stats = True
        snaps, rows = [], []
        status = Trainer(cfg, small_data).train(
            lambda p: (p.snapshot is not None and snaps.append(p.snapshot),
                       p.scalars is not None and rows.append(p.scalars)))
        # the BatchNorm is a snapshot layer (std ~1, no saturation defined); no activation layer anywhere
        assert status == "finished" and [x.kind for x in snaps[0].layers] == [s.kind for s in layers[1:-1]]
        assert all(math.isnan(x.saturation) and abs(x.std - 1) < 0.05 for x in snaps[0].layers)
        assert all(math.isfinite(p.update_data_log10) for p in snaps[1].params)
        assert sum(len(r) for r in rows) == 4 and rows[0].saturation.shape[1] == 0
