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
