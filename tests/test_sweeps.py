import json
import math

import numpy as np
import torch
import torch.nn.functional as F

from initscope.cli import main
from initscope.core.config import LayerSpec
from initscope.core.sweeps import depth_sweep, gain_sweep, gain_values

from conftest import tiny_config


def plain_init_stats(data, gain, seed, width=16, n_embd=4, thr=0.97, act="tanh"):
    """A by-hand net: the lecture's draws (C, then W as (fan_in, fan_out)), kaiming x gain, output x0.1."""
    g = torch.Generator().manual_seed(seed)
    vocab = data.vocab.size
    C = torch.randn((vocab, n_embd), generator=g)
    W1 = torch.randn((3 * n_embd, width), generator=g) / math.sqrt(3 * n_embd) * gain
    W2 = torch.randn((width, vocab), generator=g) / math.sqrt(width) * 0.1
    for t in (C, W1, W2):
        t.requires_grad_()
    x, y = data.splits["train"]
    ix = torch.randint(0, x.shape[0], (16,), generator=g)
    pre = C[x[ix]].view(16, -1) @ W1
    h = {"tanh": torch.tanh, "gelu": F.gelu, "sigmoid": torch.sigmoid}[act](pre)
    h.retain_grad()
    F.cross_entropy(h @ W2, y[ix]).backward()
    sat = {"tanh": h.abs() > thr, "gelu": pre < -3, "sigmoid": (h < 1 - thr) | (h > thr)}[act]
    return sat.float().mean().item(), h.std().item(), h.grad.std().item()


def test_gain_sweep_matches_plain_torch(small_data):
    cfg = tiny_config([LayerSpec("linear", 16, bias=False), LayerSpec("tanh"), LayerSpec("linear", None, bias=False)])
    gains = [0.5, 5 / 3, 3.0]
    res = gain_sweep(cfg, small_data, gains, seeds=3)
    assert [layer["name"] for layer in res.layers] == ["L1 Tanh"]
    layer = res.layers[0]
    for i, gain in enumerate(gains):
        ref = np.mean([plain_init_stats(small_data, gain, cfg.train.seed + k) for k in range(3)], axis=0)
        assert np.allclose([layer["saturation"][i], layer["std"][i], layer["grad_std"][i]], ref, rtol=1e-5, atol=1e-7)
    assert layer["saturation"][0] < layer["saturation"][1] < layer["saturation"][2]


def test_gain_sweep_works_for_every_activation(small_data):
    """GELU's saturation is its input's flat tail, sigmoid's its flat ends (core/kinds.py), measured as by hand."""
    from initscope.core.theory import critical_gain

    for act, title in (("gelu", "GELU"), ("sigmoid", "Sigmoid")):
        cfg = tiny_config([LayerSpec("linear", 16, bias=False), LayerSpec(act), LayerSpec("linear", None, bias=False)])
        gains = [1.0, 4.0]
        res = gain_sweep(cfg, small_data, gains, seeds=2)
        layer = res.layers[0]
        assert layer["name"] == f"L1 {title}"
        for i, gain in enumerate(gains):
            ref = np.mean([plain_init_stats(small_data, gain, cfg.train.seed + k, act=act) for k in range(2)], axis=0)
            assert np.allclose([layer["saturation"][i], layer["std"][i], layer["grad_std"][i]], ref, rtol=1e-5,
                               atol=1e-7)
        assert layer["saturation"][1] > 0  # gain 4 reaches the tail / the flat ends
        assert critical_gain(cfg) is not None


def test_gain_values_and_depth_shape(small_data):
    assert gain_values(0.25, 3.0, 24)[0] == 0.25 and len(gain_values()) == 24
    res = depth_sweep(tiny_config(), small_data, max_depth=3, width=8, seeds=2).to_dict()
    assert res["depths"] == [1, 2, 3] and len(res["layers"]) == 6
    first, third = res["layers"][0], res["layers"][2]
    assert all(v is not None for v in first["std"]) and third["std"][:2] == [None, None]
    assert res["layers"][3]["name"] == "Tanh 1 (BN)" and res["layers"][3]["batchnorm"] is True


def test_cli_sweep_writes_json(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["sweep", "gain", "--preset", "deep-bn", "--points", "3", "--seeds", "2", "--json-out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert len(d["gains"]) == 3 and len(d["layers"]) == 5
    assert all(0 <= s <= 1 for layer in d["layers"] for s in layer["saturation"])
    # BatchNorm holds every layer near 3% whatever the gain
    assert all(0.01 < s < 0.06 for layer in d["layers"] for s in layer["saturation"])
    assert main(["sweep", "gain", "--points", "1"]) == 2


def test_cli_depth_sweep_compares_norms_and_residual_stacks(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["sweep", "depth", "--max-depth", "2", "--seeds", "1", "--width", "32", "--norms", "none,layernorm",
                 "--residual", "--json-out", str(out)]) == 0
    d = json.loads(out.read_text())
    variants = [(x["norm"], x["residual"]) for x in d["layers"]]
    assert sorted(set(variants)) == [("layernorm", False), ("layernorm", True), ("none", False), ("none", True)]
    ln = [x for x in d["layers"] if x["norm"] == "layernorm" and not x["residual"]]
    assert ln[0]["name"] == "Tanh 1 (LN)" and all(abs(s - 0.63) < 0.06 for s in ln[0]["std"])  # after a LayerNorm
    assert main(["sweep", "depth", "--norms", "none,groupnorm"]) == 2
    err = capsys.readouterr().err
    assert "normalisations must be" in err and "Traceback" not in err
