"""Mean-field predictions (core/theory.py) against closed forms, a brute-force integral and Monte Carlo nets.

The Monte Carlo nets are built by the app's own build_net (so the init policy is the app's), 2,000 wide,
3 seeds, batch 64, random contexts and targets; the tolerances below are about twice the largest
deviation measured with these seeds (stated next to each)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from initscope.core.config import LayerSpec, ModelConfig, deep_stack, preset
from initscope.core.model import build_net
from initscope.core.sweeps import _mean_over_seeds
from initscope.core.theory import bn_chi, critical_gain, predict, regime, theory_dict

# --- an independent integrator: the trapezoid rule on a fine grid ------------------------------------------
_Z = np.linspace(-14, 14, 400_001)
_PDF = np.exp(-_Z ** 2 / 2) / math.sqrt(2 * math.pi)


def gauss_mean(f) -> float:
    """E[f(z)], z ~ N(0, 1), brute force."""
    return float(np.trapezoid(f(_Z) * _PDF, _Z))


def phi_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def cfg_with(layers, n_embd=10, batch_size=32, **init):
    cfg = preset("deep-nobn")
    cfg.model = ModelConfig(block_size=3, n_embd=n_embd, layers=layers)
    cfg.init = replace(cfg.init, **init)
    cfg.train = replace(cfg.train, batch_size=batch_size)
    return cfg


# --- closed forms -------------------------------------------------------------------------------------------

def test_batchnorm_tanh_layers_are_the_closed_form_whatever_the_gain():
    sat = 2 * phi_cdf(-math.atanh(0.97))  # BatchNorm output ~ N(0, 1): P(|z| > atanh 0.97)
    std = math.sqrt(gauss_mean(lambda z: np.tanh(z) ** 2))
    assert sat == pytest.approx(0.0364, abs=5e-5) and std == pytest.approx(0.628, abs=5e-4)
    for gain in (0.5, 5 / 3, 3.0):
        cfg = preset("deep-bn")
        cfg.init = replace(cfg.init, gain=gain)
        preds = predict(cfg)
        assert len(preds) == 5
        for p in preds:
            # BN divides by sqrt(var + 1e-5): at gain 0.5 (var ~0.1) that shaves 1e-4 off the variance
            assert p.q == pytest.approx(1.0, abs=1.5e-4)
            assert p.saturation == pytest.approx(sat, abs=2e-5) and p.std == pytest.approx(std, abs=5e-5)


def test_relu_first_layer_closed_form_and_chi():
    # kaiming: q = gain^2 * E[x^2] with the embedding's N(0, 1) entries; ReLU of N(0, q)
    for gain in (0.5, 1.0, math.sqrt(2), 3.0):
        p = predict(cfg_with(deep_stack(3, 100, False, "relu"), gain=gain))
        q = gain ** 2
        assert p[0].q == pytest.approx(q, rel=1e-9)
        assert p[0].mean == pytest.approx(math.sqrt(q / (2 * math.pi)), rel=1e-7)
        assert p[0].std == pytest.approx(math.sqrt(q * (0.5 - 1 / (2 * math.pi))), rel=1e-7)
        assert p[0].saturation == pytest.approx(0.5, abs=1e-12)
        assert [x.chi for x in p] == pytest.approx([gain ** 2 / 2] * 3, rel=1e-9)
        # square hidden layers: the gradient ratio is the product of the chis above it
        assert p[0].grad_ratio == pytest.approx((gain ** 2 / 2), rel=1e-6)


def test_tanh_recursion_matches_a_brute_force_integral():
    # the q-recursion and chi written out by hand, integrals by the trapezoid rule; naive scheme with a bias
    # on a wide first layer gives q ~ 25, where Gauss-Hermite would be off by ~5e-3
    for scheme, gain, bias in (("kaiming", 5 / 3, 0.0), ("kaiming", 3.0, 0.5), ("naive", 0.9, 1.0)):
        cfg = cfg_with(deep_stack(4, 100, False, "tanh"), scheme=scheme, gain=gain, hidden_bias_std=bias)
        preds = predict(cfg)
        ex2 = 1.0  # the embedding
        fan_in = 30
        for p in preds:
            var_w = gain ** 2 / fan_in if scheme == "kaiming" else gain ** 2
            q = var_w * fan_in * ex2 + bias ** 2
            s = math.sqrt(q)
            ex2 = gauss_mean(lambda z, s=s: np.tanh(s * z) ** 2)
            chi = var_w * fan_in * gauss_mean(lambda z, s=s: (1 - np.tanh(s * z) ** 2) ** 2)
            sat = 2 * phi_cdf(-math.atanh(0.97) / s)
            assert (p.q, p.std, p.saturation, p.chi) == pytest.approx((q, math.sqrt(ex2), sat, chi), rel=1e-7, abs=1e-12)
            fan_in = 100
        # 100-wide square layers: gradient ratio = sqrt(product of the chis above)
        for k, p in enumerate(preds):
            assert p.grad_ratio == pytest.approx(math.sqrt(np.prod([x.chi for x in preds[k + 1:]])), rel=1e-7)


def test_saturation_threshold_follows_the_config():
    cfg = preset("deep-bn")
    cfg.diag = replace(cfg.diag, saturation_threshold=0.9)
    assert predict(cfg)[0].saturation == pytest.approx(2 * phi_cdf(-math.atanh(0.9)), abs=1e-5)


def test_output_scaling_only_moves_the_gradient_scale():
    a, b = preset("deep-nobn"), preset("deep-nobn")
    b.init = replace(b.init, output_factor=0.2)
    pa, pb = predict(a), predict(b)
    assert [p.std for p in pa] == [p.std for p in pb]
    assert [p.grad_ratio for p in pa] == pytest.approx([p.grad_ratio for p in pb])
    assert pb[-1].grad_std / pa[-1].grad_std == pytest.approx(2.0, rel=0.02)  # the softmax stays near-uniform


# --- critical gain -------------------------------------------------------------------------------------------

def test_critical_gain():
    assert critical_gain(preset("deep-nobn")) == pytest.approx(1.0)
    assert critical_gain(cfg_with(deep_stack(5, 100, False, "relu"))) == pytest.approx(math.sqrt(2))
    assert critical_gain(preset("deep-bn")) is None  # BatchNorm: the gain drops out of chi
    naive = cfg_with(deep_stack(3, 64, False, "tanh"), scheme="naive")
    assert critical_gain(naive) == pytest.approx(1 / 8)
    # with a hidden bias the fixed point moves off 0 and the critical gain above 1: chi(q*) = 1 there
    biased = cfg_with(deep_stack(3, 100, False, "tanh"), hidden_bias_std=0.3)
    gc = critical_gain(biased)
    assert 1.05 < gc < 2
    q = 1.0
    for _ in range(60):  # converges in ~40 iterations
        s = math.sqrt(q)
        q = gc ** 2 * gauss_mean(lambda z, s=s: np.tanh(s * z) ** 2) + 0.09
    s = math.sqrt(q)
    assert gc ** 2 * gauss_mean(lambda z, s=s: (1 - np.tanh(s * z) ** 2) ** 2) == pytest.approx(1.0, abs=1e-6)
    # deep in the net, chi tends to 1 at the critical gain, and crosses it on either side
    deep = lambda g: predict(cfg_with(deep_stack(30, 100, False, "tanh"), gain=g, hidden_bias_std=0.3))[-1].chi
    assert deep(gc * 0.9) < 1 < deep(gc * 1.1) and deep(gc) == pytest.approx(1.0, abs=0.01)
    assert "chaotic" in regime(preset("deep-nobn")) and "ordered" in regime(cfg_with(deep_stack(3, 100, False), gain=0.5))
    assert "BatchNorm" in regime(preset("deep-bn"))
    # BatchNorm + ReLU: the per-layer gradient growth pi / (pi - 1) (Yang et al. 2019)
    assert bn_chi("relu") == pytest.approx(math.pi / (math.pi - 1), rel=1e-7)


def test_theory_dict_shape():
    d = theory_dict(preset("deep-nobn"))
    assert d["critical_gain"] == pytest.approx(1.0) and d["config"]["name"] == "deep-nobn"
    assert [x["name"] for x in d["layers"]] == ["L1 Tanh", "L3 Tanh", "L5 Tanh", "L7 Tanh", "L9 Tanh"]
    assert set(d["layers"][0]) >= {"index", "name", "kind", "q", "mean", "std", "saturation", "chi", "grad_ratio"}
    assert d["layers"][-1]["grad_ratio"] == 1.0


# --- Monte Carlo: very wide nets built by the app -----------------------------------------------------------

def measure(cfg, seeds=3, vocab=27):
    """Mean over seeds of (mean, std, saturation, grad std) per activation layer, plain torch on build_net's net."""
    rows = []
    for s in range(seeds):
        g = torch.Generator().manual_seed(1000 + s)
        net = build_net(cfg, vocab, g)
        B = cfg.train.batch_size
        x = torch.randint(0, vocab, (B, cfg.model.block_size), generator=g)
        y = torch.randint(0, vocab, (B,), generator=g)
        h = net.embedding(x).flatten(1)
        acts = []
        for spec, layer in zip(net.specs, net.layers):
            h = layer(h)
            if spec.kind in ("tanh", "relu"):
                h.retain_grad()
                acts.append((spec.kind, h))
        F.cross_entropy(h, y).backward()
        r = []
        for kind, a in acts:
            sat = (a.abs() > 0.97) if kind == "tanh" else (a == 0)
            r.append([a.mean().item(), a.std().item(), sat.float().mean().item(), a.grad.std().item()])
        rows.append(r)
    return np.array(rows).mean(0)


@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("gain", [0.5, 1.0, 5 / 3, 3.0])
def test_wide_nets_agree_with_the_prediction(act, gain):
    cfg = cfg_with(deep_stack(3, 2000, False, act), batch_size=64, gain=gain)
    m = measure(cfg)
    preds = predict(cfg)
    std_tol = 0.025 if act == "tanh" else 0.05  # measured max: 1.2 % tanh, 2.6 % ReLU (4th layer, gain 5/3)
    for p, (mean, std, sat, gstd) in zip(preds, m):
        assert std == pytest.approx(p.std, rel=std_tol)
        assert abs(mean - p.mean) <= std_tol * p.std  # tanh: 0; ReLU: a fixed multiple of the std
        assert sat == pytest.approx(p.saturation, abs=0.015)  # measured max 0.9 points
        assert gstd == pytest.approx(p.grad_std, rel=0.04)  # measured max 2.7 %
        assert gstd / m[-1, 3] == pytest.approx(p.grad_ratio, rel=0.04)  # measured max 2.0 %


def test_wide_batchnorm_net_forward_agrees():
    # forward only: through BatchNorm the per-layer gradient growth measures 1.11-1.15 against the
    # infinite-batch, per-feature prediction of 1.085 (the 27-token inputs are far from Gaussian per feature)
    cfg = cfg_with(deep_stack(3, 2000, True, "tanh"), batch_size=64)
    m = measure(cfg)
    for p, (mean, std, sat, gstd) in zip(predict(cfg), m):
        assert std == pytest.approx(p.std, rel=0.02) and sat == pytest.approx(p.saturation, abs=0.006)
    gr = m[:, 3] / m[-1, 3]
    assert np.all(np.diff(gr) < 0)  # the gradient grows toward the input, as predicted (chi = 1.18 > 1)


def test_lecture_deep_net_within_finite_width_tolerance(small_data):
    # width 100, batch 32, 20 seeds on names.txt: measured max deviation std 2.3 %, saturation 1.7 points,
    # gradient std 2.5 %, gradient ratio 3.2 % (at gains 1, 5/3, 3)
    for gain in (1.0, 5 / 3, 3.0):
        cfg = preset("deep-nobn")
        cfg.init = replace(cfg.init, gain=gain)
        _, arr = _mean_over_seeds(cfg, small_data, 20)
        preds = predict(cfg, small_data.vocab.size)
        for p, (sat, std, gstd) in zip(preds, arr):
            assert std == pytest.approx(p.std, rel=0.04)
            assert sat == pytest.approx(p.saturation, abs=0.03)
            assert gstd == pytest.approx(p.grad_std, rel=0.05)
            assert gstd / arr[-1, 2] == pytest.approx(p.grad_ratio, rel=0.06)


def test_theory_is_qt_free():
    # its speed (predict's time per call) is a benchmark's to measure, not an assert under a loaded machine's clock
    import subprocess
    import sys

    code = ("import sys; from initscope.core.config import preset; from initscope.core.theory import predict;"
            "c = preset('deep-nobn'); predict(c);"
            "assert not any(m.split('.')[0] in ('PySide6', 'pyqtgraph') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- where it shows: CLI, run --steps 0, hints ---------------------------------------------------------------

def test_cli_theory_prints_and_writes_the_prediction(tmp_path, capsys):
    import json

    from initscope.cli import main

    out = tmp_path / "t.json"
    assert main(["theory", "--preset", "deep-nobn", "--gain", "3", "--json-out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "L9 Tanh" in text and "critical gain: 1" in text and "chaotic" in text
    d = json.loads(out.read_text())
    cfg = preset("deep-nobn")
    cfg.init = replace(cfg.init, gain=3.0)
    assert d["config"]["init"]["gain"] == 3.0 and d["critical_gain"] == pytest.approx(1.0)
    assert [x["saturation"] for x in d["layers"]] == pytest.approx([p.saturation for p in predict(cfg)])
    assert [x["grad_ratio"] for x in d["layers"]] == pytest.approx([p.grad_ratio for p in predict(cfg)])


@pytest.mark.parametrize("argv, says", [
    (["--gain", "-1"], "init.gain"),
    (["--gain", "inf"], "--gain"),
    (["--preset", "nope"], "unknown preset"),
    (["--config", "/no/such.json"], "no such file"),
    (["--json-out", "/no/such/dir/t.json"], "does not exist"),
    (["--vocab-size", "1"], "--vocab-size"),
])
def test_cli_theory_mistakes_are_one_line_and_exit_2(argv, says, capsys):
    from initscope.cli import main

    assert main(["theory", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1


def test_run_steps_0_shows_and_writes_the_prediction(tmp_path, capsys):
    import json

    from initscope.cli import main
    from initscope.core.data import default_data_path, load_words

    words = tmp_path / "names.txt"
    words.write_text("\n".join(load_words(default_data_path())[:2000]) + "\n")
    out = tmp_path / "r.json"
    assert main(["run", "--preset", "deep-nobn", "--data", str(words), "--steps", "0", "--samples", "0",
                 "--quiet", "--json-out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "measured vs predicted" in text
    preds = predict(preset("deep-nobn"))
    row = next(line for line in text.splitlines() if line.startswith("L1 Tanh") and "%" in line.split()[3])
    assert f"{preds[0].saturation:.1%}" in row and f"{preds[0].std:.3f}" in row
    layers = json.loads(out.read_text())["diagnostics"]["init"]["layers"]
    assert [x["predicted"]["std"] for x in layers] == pytest.approx([p.std for p in preds])
    assert set(layers[0]["predicted"]) == {"saturation", "std", "grad_ratio"}


def test_theory_hint_fires_on_a_narrow_layer_not_on_the_lecture_net(small_data):
    from initscope.core.diagnostics import step0_snapshot
    from initscope.core.hints import theory_hints

    def snap(cfg, seed):
        g = torch.Generator().manual_seed(seed)
        net = build_net(cfg, small_data.vocab.size, g)
        x, y = small_data.splits["train"]
        ix = torch.randint(0, x.shape[0], (cfg.train.batch_size,), generator=g)
        return step0_snapshot(net, x[ix], y[ix], 0.1, cfg.diag)

    lecture = preset("deep-nobn")
    for seed in range(5):
        assert theory_hints(snap(lecture, seed), predict(lecture, small_data.vocab.size)) == []
    # 3 wide, gain 3: each layer's std and saturation are at the mercy of 3 random rows
    narrow = cfg_with(deep_stack(5, 3, False, "tanh"), gain=3.0)
    said = [h for seed in range(5) for h in theory_hints(snap(narrow, seed), predict(narrow, small_data.vocab.size))]
    assert said and all("narrow layer (3 wide)" in h and "predicted by wide-net theory" in h for h in said)


@pytest.mark.parametrize("stack", ["act-then-bn", "linear-linear-mixed", "relu-bn"])
def test_other_stacks_agree_with_the_prediction(stack):
    # BatchNorm after an activation (units sharing one batch distribution), two Linears in a row with biases
    # and mixed activations, ReLU + BatchNorm (whose per-feature sigma excludes each unit's mean: pi/(pi-1))
    W = 1000
    layers = {
        "act-then-bn": [LayerSpec("linear", W, False), LayerSpec("tanh"), LayerSpec("batchnorm"),
                        LayerSpec("linear", W, False), LayerSpec("tanh"), LayerSpec("batchnorm"),
                        LayerSpec("linear", W, False), LayerSpec("tanh"), LayerSpec("linear", None)],
        "linear-linear-mixed": [LayerSpec("linear", W), LayerSpec("linear", W), LayerSpec("tanh"), LayerSpec("linear", W),
                                LayerSpec("relu"), LayerSpec("linear", W), LayerSpec("tanh"), LayerSpec("linear", None)],
        "relu-bn": deep_stack(3, W, True, "relu"),
    }[stack]
    cfg = cfg_with(layers, batch_size=128, gain=2.0 if stack == "act-then-bn" else 1.3, hidden_bias_std=0.2)
    m = measure(cfg)
    preds = predict(cfg)
    assert len(preds) == 3
    for p, (mean, std, sat, gstd) in zip(preds, m):  # measured max: std 1.4 %, saturation 1.0 point, grad 4.9 %
        assert std == pytest.approx(p.std, rel=0.03) and abs(mean - p.mean) <= 0.03 * p.std
        assert sat == pytest.approx(p.saturation, abs=0.025)
        assert gstd == pytest.approx(p.grad_std, rel=0.08)


# --- beyond the lecture: GELU / SiLU / sigmoid, LayerNorm / RMSNorm, residual streams, other schemes ----------

def _res(*layers, scale=1.0):
    return LayerSpec("residual", scale=scale, layers=list(layers))


def measure_every_layer(cfg, seeds=3, vocab=27):
    """Mean over seeds of (mean, std, saturation, grad std) per non-Linear entry, in the snapshot's order: plain
    torch over the net's modules, a residual block's branch run by hand and its addition taken as one entry."""
    from initscope.core.model import ResidualBlock

    rows = []
    for s in range(seeds):
        g = torch.Generator().manual_seed(1000 + s)
        net = build_net(cfg, vocab, g)
        B = cfg.train.batch_size
        x = torch.randint(0, vocab, (B, cfg.model.block_size), generator=g)
        y = torch.randint(0, vocab, (B,), generator=g)
        h = net.embedding(x).flatten(1)
        kept = []

        def run(mod, h):
            out = mod(h)
            if not isinstance(mod, torch.nn.Linear):
                out.retain_grad()
                kept.append((type(mod).__name__.lower(), h, out))
            return out

        for mod in net.layers:
            if isinstance(mod, ResidualBlock):
                stream = h
                for sub in mod.branch:
                    h = run(sub, h)
                h = stream + mod.scale * h
                h.retain_grad()
                kept.append(("residual", None, h))
            else:
                h = run(mod, h)
        F.cross_entropy(h, y).backward()
        r = []
        for kind, h_in, a in kept:
            sat = {"tanh": lambda: a.abs() > 0.97, "sigmoid": lambda: (a < 0.03) | (a > 0.97),
                   "relu": lambda: a <= 0, "gelu": lambda: h_in < -3, "silu": lambda: h_in < -3}.get(kind)
            r.append([a.mean().item(), a.std().item(), math.nan if sat is None else sat().float().mean().item(),
                      a.grad.std().item()])
        rows.append(r)
    return np.array(rows).mean(0)


def _agree(cfg, std_tol, sat_tol, grad_tol):
    m, preds = measure_every_layer(cfg), predict(cfg, every_layer=True)
    assert len(m) == len(preds)
    for p, (mean, std, sat, gstd) in zip(preds, m):
        assert std == pytest.approx(p.std, rel=std_tol), p.name
        assert abs(mean - p.mean) <= 0.03 * p.std + 1e-9, p.name
        assert (math.isnan(sat) and math.isnan(p.saturation)) or sat == pytest.approx(p.saturation, abs=sat_tol), p.name
        assert gstd == pytest.approx(p.grad_std, rel=grad_tol, abs=1e-12), p.name
    return preds


@pytest.mark.parametrize("act", ["gelu", "silu", "sigmoid"])
def test_wide_nets_with_modern_activations_agree(act):
    # measured max over these seeds: std 2.1 %, saturation 0.004, grad 0.8 %
    _agree(cfg_with(deep_stack(3, 2000, False, act), batch_size=64, gain=2.5), 0.045, 0.01, 0.03)


def test_modern_activation_kernels_match_a_brute_force_integral():
    from initscope.core.theory import _Phi

    for act, f in (("gelu", lambda v: v * _Phi(v)), ("silu", lambda v: v / (1 + np.exp(-v))),
                   ("sigmoid", lambda v: 1 / (1 + np.exp(-v)))):
        for gain in (0.7, 3.0):
            p = predict(cfg_with(deep_stack(2, 100, False, act), gain=gain))[0]
            s = gain  # kaiming on the embedding's N(0, 1): q = gain^2
            mean = gauss_mean(lambda z: f(s * z))
            std = math.sqrt(gauss_mean(lambda z: f(s * z) ** 2) - mean ** 2)
            assert (p.q, p.mean, p.std) == pytest.approx((s * s, mean, std), rel=1e-7, abs=1e-12)
            # sigmoid: out > 0.97 or < 0.03, i.e. |u| > logit(0.97) (core/kinds.py)
            sat = (phi_cdf(-3 / s) if act != "sigmoid" else 2 * phi_cdf(-math.log(0.97 / 0.03) / s))
            assert p.saturation == pytest.approx(sat, abs=1e-9)


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_layernorm_and_rmsnorm_bring_q_back_to_1_and_agree_with_wide_nets(norm):
    cfg = cfg_with(deep_stack(3, 2000, norm=norm, activation="gelu"), batch_size=64, gain=2.0, hidden_bias_std=0.3)
    preds = _agree(cfg, 0.03, 0.01, 0.05)  # measured max: std 1.2 %, saturation 0.0002, grad 2.4 %
    norms = [p for p in preds if p.kind == norm]
    assert len(norms) == 3 and all(p.std == pytest.approx(1.0, abs=1e-4) for p in norms)
    assert all(p.q > 1.5 for p in norms)  # what they normalise: gain 2 with a bias, far from 1
    acts = [p for p in preds if p.kind == "gelu"]
    assert all(a.q == pytest.approx(1.0, abs=1e-4) for a in acts)  # each GELU sees q = 1 again


@pytest.mark.parametrize("scheme", ["torch-default", "xavier-normal", "orthogonal", "lsuv"])
def test_other_schemes_agree_with_wide_nets(scheme):
    cfg = cfg_with(deep_stack(3, 1000, False, "tanh"), batch_size=64, scheme=scheme, gain=1.3)
    preds = _agree(cfg, 0.03, 0.01, 0.04)  # measured max at 2000 wide: std 1.1 %, saturation 0.001, grad 1.4 %
    if scheme == "lsuv":
        assert all(p.q == pytest.approx(1.0, rel=1e-9) for p in preds)  # unit variance into every tanh
    if scheme == "torch-default":
        assert preds[0].q == pytest.approx(1.3 ** 2 / 3 + 1 / 90, rel=1e-9)  # U(+-1/sqrt 30) weights and bias


@pytest.mark.parametrize("norm,scaling", [("layernorm", "gpt2"), ("none", "none"), ("layernorm", "zero")])
def test_residual_streams_agree_with_wide_nets(norm, scaling):
    cfg = cfg_with(deep_stack(4, 1000, norm=norm, activation="gelu", residual=True), batch_size=64,
                   scheme="torch-default", gain=1.0, residual_scaling=scaling)
    preds = _agree(cfg, 0.03, 0.01, 0.10)  # measured max: std 0.5 %, grad 4.5 %
    assert [p.kind for p in preds].count("residual") == 4


def test_residual_stream_q_grows_by_each_branch():
    """Pre-norm: every branch sees q = 1, so every block adds the same variance (std ~ sqrt(depth)); without
    norms the branch scales with the stream, so q grows by a (near-)constant factor; gpt2 divides each addition by 2n."""
    stream = lambda cfg: [p.q for p in predict(cfg, every_layer=True) if p.kind == "residual"]  # noqa: E731
    pre = stream(preset("resnet-preln"))
    steps = np.diff([_stem_q(preset("resnet-preln"))] + pre)
    # (equal up to LayerNorm's eps: var / (var + 1e-5) moves as the stream grows)
    assert len(pre) == 12 and np.allclose(steps, steps[0], rtol=1e-4) and steps[0] > 0
    no = stream(preset("resnet-noln"))
    ratios = np.array(no[1:]) / np.array(no[:-1])
    # near-constant factor (GELU is not exactly homogeneous and torch-default's biases add a fixed part)
    assert np.allclose(ratios, ratios[0], rtol=3e-3) and 1.02 < ratios[0] < 1.08
    g = preset("resnet-preln")
    g.init = replace(g.init, residual_scaling="gpt2")
    bias = 1 / 300  # the branch's last Linear keeps its torch-default bias, U(+-1/sqrt 100)
    assert np.allclose(np.diff([_stem_q(g)] + stream(g)), (steps[0] - bias) / 24 + bias, rtol=1e-4)
    z = preset("resnet-preln")
    z.init = replace(z.init, residual_scaling="zero")
    assert np.allclose(stream(z), _stem_q(z), rtol=1e-12)  # every block starts as the identity


def _stem_q(cfg):
    """q of the stem Linear's output (the stream before the first block): torch-default on the embedding."""
    return cfg.init.gain ** 2 / 3 + 1 / 90  # var U(+-1/sqrt 30) * 30 * E[x^2] = 1/3, plus the bias's 1/90


def test_theory_json_lists_norms_and_residual_streams(tmp_path):
    d = theory_dict(preset("resnet-preln"))
    kinds = [x["kind"] for x in d["layers"]]
    assert kinds.count("residual") == 12 and kinds.count("layernorm") == 13 and kinds.count("gelu") == 12
    assert all(set(x) >= {"index", "name", "kind", "q", "mean", "std", "saturation", "chi", "grad_ratio"}
               for x in d["layers"])
    assert all(x["saturation"] is None for x in d["layers"] if x["kind"] in ("residual", "layernorm"))
    assert d["critical_gain"] is None and "residual" in d["regime"]


def test_critical_gain_for_modern_activations():
    from initscope.core.theory import _chi_at_fixed_point, _Phi

    for act, f in (("gelu", lambda v: v * _Phi(v)), ("silu", lambda v: v / (1 + np.exp(-v))), ("sigmoid", None)):
        gc = critical_gain(cfg_with(deep_stack(3, 100, False, act)))
        assert gc is not None and 1 < gc < 11
        assert _chi_at_fixed_point(act, (gc * 0.97) ** 2, 0.0) < 1 < _chi_at_fixed_point(act, (gc * 1.03) ** 2, 0.0)
        if f is not None:
            # no stable q* > 0: below gc the signal fades to 0 (chi -> gain^2/4), above it grows without bound
            # (chi -> gain^2/2); the boundary is the gain that keeps q = 1: gain^2 E[phi(z)^2] = 1
            assert gc ** 2 * gauss_mean(lambda z: f(z) ** 2) == pytest.approx(1.0, abs=1e-6)
        else:
            assert _chi_at_fixed_point(act, gc ** 2, 0.0) == pytest.approx(1.0, abs=1e-6)  # a stable q*: chi = 1
    td = cfg_with(deep_stack(3, 100, False, "relu"), scheme="torch-default")
    assert critical_gain(td) == pytest.approx(math.sqrt(6))  # chi = gain^2 / 3 / 2
    for name in ("deep-ln", "deep-rms", "resnet-preln"):
        assert critical_gain(preset(name)) is None
