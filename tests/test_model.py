import math

import pytest
import torch
from torch import nn

from initscope.core.config import LayerSpec, preset
from initscope.core.model import Net, build_net, count_params
from initscope.core.trainer import Trainer

from conftest import tiny_config


def test_built_from_torch_nn_modules_and_no_bias_before_batchnorm():
    net = build_net(preset("deep-bn"), 27)
    kinds = [type(m) for m in net.layers]
    assert set(kinds) == {nn.Linear, nn.BatchNorm1d, nn.Tanh}
    assert isinstance(net.embedding, nn.Embedding)
    for i, m in enumerate(net.layers):
        if isinstance(m, nn.Linear):
            assert m.bias is None and isinstance(net.layers[i + 1], nn.BatchNorm1d)
    assert net.names[:3] == ["L0 Linear", "L1 BatchNorm", "L2 Tanh"]
    assert count_params(preset("deep-bn"), 27) == net.n_params()
    assert count_params(preset("deep-nobn"), 27) == build_net(preset("deep-nobn"), 27).n_params()


def test_kaiming_gain_and_output_scaling():
    torch.manual_seed(0)
    cfg = preset("deep-nobn")
    cfg.model.layers = [LayerSpec("linear", 2000), LayerSpec("tanh"), LayerSpec("linear", 2000), LayerSpec("tanh"),
                        LayerSpec("linear", None)]
    net = build_net(cfg, 27)
    w0, w2, w4 = net.layers[0].weight, net.layers[2].weight, net.layers[4].weight
    assert w0.std().item() == pytest.approx((5 / 3) / math.sqrt(30), rel=0.03)
    assert w2.std().item() == pytest.approx((5 / 3) / math.sqrt(2000), rel=0.03)
    assert w4.std().item() == pytest.approx(0.1 / math.sqrt(2000), rel=0.05)  # no gain, x0.1
    assert torch.all(net.layers[0].bias == 0)
    cfg.init.scheme = "naive"
    cfg.init.gain = 1.0
    cfg.init.output_scaling = False
    net = build_net(cfg, 27)
    assert net.layers[2].weight.std().item() == pytest.approx(1.0, rel=0.03)


def test_output_scaling_goes_to_the_last_batchnorm_gamma():
    net = build_net(preset("deep-bn"), 27)
    assert torch.allclose(net.layers[-1].weight, torch.full((27,), 0.1))
    assert torch.allclose(net.layers[1].weight, torch.ones(100))


def test_same_seed_same_weights():
    a, b = build_net(preset("deep-bn"), 27), build_net(preset("deep-bn"), 27)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_initial_losses(names_data):
    naive = Trainer(preset("original"), names_data).init_snapshot().loss
    assert 15 < naive < 40, naive  # "confidently wrong": the lecture saw ~27
    for name in ("kaiming", "deep-nobn", "deep-bn"):
        loss = Trainer(preset(name), names_data).init_snapshot().loss
        assert abs(loss - math.log(27)) < 0.05, (name, loss)


def test_forward_keep_matches_forward():
    cfg = tiny_config()
    net = Net(cfg, 27)
    x = torch.randint(0, 27, (8, 3))
    logits, outs = net.forward_keep(x)
    assert torch.allclose(net(x), logits) and len(outs) == len(cfg.model.layers)


# --- beyond the lecture ----------------------------------------------------------------------------------------

def _with_init(name, **init):
    from dataclasses import replace

    cfg = preset(name)
    cfg.init = replace(cfg.init, **init)
    return cfg


def test_new_kinds_are_torch_nn_modules_and_the_residual_block_adds():
    from initscope.core.model import ResidualBlock

    net = build_net(preset("resnet-preln"), 27)
    mods = {type(m) for _, m in net.flat}
    assert mods == {nn.Linear, nn.LayerNorm, nn.GELU, ResidualBlock}
    assert all(isinstance(m, nn.RMSNorm) for r, m in build_net(preset("deep-rms"), 27).flat if r.kind == "rmsnorm")
    for name in ("resnet-preln", "resnet-noln", "deep-ln", "deep-rms"):
        n = build_net(preset(name), 27)
        assert count_params(preset(name), 27) == n.n_params(), name
        for r, m in n.flat:
            if r.kind in ("layernorm", "rmsnorm"):
                assert torch.equal(m.weight, torch.ones(r.width))  # gamma 1, beta 0 at init
                assert r.kind == "rmsnorm" or torch.equal(m.bias, torch.zeros(r.width))  # RMSNorm: no beta
    # the block by hand: x + scale * branch(x), the branch being the flat entries between two additions
    block = net.layers[1]
    x = torch.randn(5, 100)
    assert torch.allclose(block(x), x + block.scale * block.branch(x))
    idx = torch.randint(0, 27, (8, 3))
    logits, outs = net.forward_keep(idx)
    assert torch.allclose(logits, net(idx)) and len(outs) == len(net.specs) == 63
    assert torch.allclose(outs[5], outs[0] + outs[4])  # L5 Residual = stem output + L4 (the branch's last Linear)


def test_schemes_draw_what_they_say():
    W = 400
    layers = [LayerSpec("linear", W), LayerSpec("tanh"), LayerSpec("linear", 200), LayerSpec("tanh"), LayerSpec("linear", None)]

    def hidden(scheme, gain=1.0):
        cfg = tiny_config(layers)
        cfg.init.scheme, cfg.init.gain = scheme, gain
        net = build_net(cfg, 27)
        return [m for r, m in net.flat if r.kind == "linear" and not r.is_output]

    l0, l1 = hidden("torch-default")
    for lin in (l0, l1):  # nn.Linear's own draw: U(+-1/sqrt(fan_in)) for weight and bias
        bound = 1 / math.sqrt(lin.in_features)
        assert lin.weight.abs().max() <= bound and lin.bias.abs().max() <= bound
        assert lin.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
        ref = nn.Linear(lin.in_features, lin.out_features)  # torch's reset_parameters, another seed
        assert lin.weight.std().item() == pytest.approx(ref.weight.std().item(), rel=0.03)
    for scheme in ("xavier-normal", "xavier-uniform"):
        for lin in hidden(scheme, gain=1.5):
            want = 1.5 * math.sqrt(2 / (lin.in_features + lin.out_features))
            assert lin.weight.std().item() == pytest.approx(want, rel=0.03)
    for lin in hidden("orthogonal", gain=2.0):
        w = lin.weight / 2.0
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w  # orthonormal rows (or columns)
        assert torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-5)


def test_lsuv_gives_unit_variance_on_its_batch(small_data):
    cfg = tiny_config([LayerSpec("linear", 64), LayerSpec("tanh"), LayerSpec("linear", 64), LayerSpec("relu"),
                       LayerSpec("linear", None)])
    cfg.init.scheme, cfg.init.hidden_bias_std = "lsuv", 0.1
    x = small_data.splits["train"][0][:512]
    net = build_net(cfg, small_data.vocab.size, torch.Generator().manual_seed(0), x)
    h = net.embedding(x).flatten(1)
    for r, m in net.flat:  # plain forward: every hidden Linear's output has variance 1 on that batch
        h = m(h)
        if r.kind == "linear" and not r.is_output:
            assert h.var().item() == pytest.approx(1.0, abs=2e-3)
    # without a batch LSUV draws random contexts from the generator: same seed, same net
    a, b = (build_net(cfg, 27, torch.Generator().manual_seed(3)) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_residual_scaling_scales_each_branch_end():
    base = build_net(preset("resnet-preln"), 27)
    gpt2 = build_net(_with_init("resnet-preln", residual_scaling="gpt2"), 27)
    zero = build_net(_with_init("resnet-preln", residual_scaling="zero"), 27)
    for (r, a), (_, b), (_, z) in zip(base.flat, gpt2.flat, zero.flat):
        if r.kind != "linear":
            continue
        if r.branch_last_linear:  # same draws, scaled by 1/sqrt(2 x 12 blocks); zero: weight and bias 0
            assert torch.allclose(b.weight, a.weight / math.sqrt(24)) and torch.equal(b.bias, a.bias)
            assert not z.weight.any() and not z.bias.any()
        else:
            assert torch.equal(a.weight, b.weight) and torch.equal(a.weight, z.weight)
    idx = torch.randint(0, 27, (16, 3))
    _, outs = zero.forward_keep(idx)
    streams = [o for r, o in zip(zero.specs, outs) if r.kind == "residual"]
    assert all(torch.equal(s, outs[0]) for s in streams)  # every block starts as the identity


def test_old_seeds_draw_the_same_weights():
    """The kaiming / naive draws are unchanged by the new schemes: a seed means what it meant."""
    g = torch.Generator().manual_seed(5)
    net = build_net(preset("deep-nobn"), 27, g)
    g2 = torch.Generator().manual_seed(5)
    emb = torch.randn((27, 10), generator=g2)
    w0 = torch.randn((30, 100), generator=g2).T / math.sqrt(30) * (5 / 3)
    assert torch.equal(net.embedding.weight, emb) and torch.allclose(net.layers[0].weight, w0)


def test_layernorm_has_no_batch_dependence_and_batchnorm_has():
    """LayerNorm / RMSNorm normalise each example over its features: an example's output is the same alone
    (batch size 1, training mode) as inside a batch; BatchNorm's depends on the batch (and refuses a batch of 1)."""
    idx = torch.randint(0, 27, (16, 3), generator=torch.Generator().manual_seed(0))
    for name in ("deep-ln", "deep-rms", "resnet-preln"):
        net = build_net(preset(name), 27).train()
        full = net(idx)
        alone = torch.cat([net(idx[i:i + 1]) for i in range(len(idx))])
        assert torch.allclose(full, alone, atol=1e-6), name
    bn = build_net(preset("deep-bn"), 27).train()
    assert not torch.allclose(bn(idx)[:8], bn(idx[:8]), atol=1e-3)
