import json
import math
import subprocess
import sys

import pytest

from initscope.core.config import (
    PRESETS,
    Config,
    LayerSpec,
    deep_stack,
    default_config,
    preset,
    set_batchnorm,
    validate_stack,
)
from initscope.core.errors import ConfigError


@pytest.mark.parametrize("name", PRESETS)
def test_presets_round_trip_exactly(name, tmp_path):
    cfg = preset(name)
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg
    p = tmp_path / "c.json"
    cfg.save(p)
    assert Config.load(p) == cfg
    validate_stack(cfg.model.layers, 27)


def test_lecture_presets_follow_the_lecture():
    assert preset("original").init.scheme == "naive" and not preset("original").init.output_scaling
    assert preset("fix-softmax").init.output_factor == 0.01
    assert preset("fix-tanh").init.gain == 0.2
    assert math.isclose(preset("kaiming").init.gain, 5 / 3)
    bn = preset("batchnorm")
    assert bn.model.bn_momentum == 0.001 and [s.kind for s in bn.model.layers] == ["linear", "batchnorm", "tanh", "linear"]
    for name in ("deep-bn", "deep-nobn"):
        c = preset(name)
        assert sum(s.kind == "linear" for s in c.model.layers) == 6 and c.train.lr_decay_step == 150_000
    assert preset("deep-bn").model.layers[-1].kind == "batchnorm"


def mutate(path, value):
    d = default_config().to_dict()
    *parents, key = path.split(".")
    node = d
    for k in parents:
        node = node[k]
    node[key] = value
    return d


@pytest.mark.parametrize("path,value,expected", [
    ("train.bogus", 1, "unknown field 'train.bogus'"),
    ("train.lr", -0.1, "'train.lr'"),
    ("train.lr", float("nan"), "'train.lr': must be finite"),
    ("train.lr", "fast", "'train.lr': expected a number"),
    ("train.steps", -5, "'train.steps'"),
    ("train.batch_size", 0, "'train.batch_size'"),
    ("train.batch_size", True, "'train.batch_size': expected an integer"),
    ("train.device", "tpu", "'train.device'"),
    ("model.n_embd", 0, "'model.n_embd'"),
    ("model.layers", "deep", "'model.layers'"),
    ("init.scheme", "xavier", "'init.scheme'"),
    ("init.output_scaling", "yes", "'init.output_scaling'"),
    ("diag.snapshot_every", 0, "'diag.snapshot_every'"),
    ("version", 99, "newer initscope"),
])
def test_bad_fields_are_named(path, value, expected):
    with pytest.raises(ConfigError) as e:
        Config.from_dict(mutate(path, value))
    assert expected in str(e.value)


def test_bad_layer_field_is_named():
    d = default_config().to_dict()
    d["model"]["layers"][0]["width"] = 0
    with pytest.raises(ConfigError, match=r"model\.layers\[0\]\.width"):
        Config.from_dict(d)
    d["model"]["layers"][0] = {"kind": "conv"}
    with pytest.raises(ConfigError, match=r"model\.layers\[0\]\.kind"):
        Config.from_dict(d)


@pytest.mark.parametrize("layers,expected", [
    ([LayerSpec("tanh")], "at least one Linear"),
    ([LayerSpec("linear", 10), LayerSpec("tanh"), LayerSpec("linear", 26)], "L2 Linear: the output layer must have 27"),
    ([LayerSpec("linear", 10), LayerSpec("tanh"), LayerSpec("relu"), LayerSpec("linear", None)], "L2 ReLU: follows another activation"),
    ([LayerSpec("linear", 10), LayerSpec("batchnorm"), LayerSpec("batchnorm"), LayerSpec("linear", None)], "L2 BatchNorm: follows another BatchNorm"),
    ([LayerSpec("linear", None), LayerSpec("tanh")], "L1 Tanh: only a normalisation may follow"),
    ([LayerSpec("linear", None), LayerSpec("linear", None)], "L0 Linear: a hidden Linear needs a width"),
])
def test_invalid_stacks_name_the_layer(layers, expected):
    with pytest.raises(ConfigError) as e:
        validate_stack(layers, 27)
    assert expected in str(e.value)


def test_batchnorm_toggle_inserts_and_removes():
    plain = deep_stack(3, 50, batchnorm=False)
    on = set_batchnorm(plain, True)
    kinds = [s.kind for s in on]
    assert kinds == ["linear", "batchnorm", "tanh"] * 3 + ["linear", "batchnorm"]
    assert [s.kind for s in set_batchnorm(on, False)] == [s.kind for s in plain]
    assert default_config().with_batchnorm(False).has_batchnorm is False


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Config.load(bad)
    with pytest.raises(ConfigError, match="no such file"):
        Config.load(tmp_path / "nope.json")


def test_cli_bad_config_exits_2(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(mutate("train.lr", -1)))
    r = subprocess.run([sys.executable, "-m", "initscope", "run", "--config", str(p), "--steps", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "train.lr" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "initscope", "run", "--preset", "nope"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "unknown preset" in r.stderr and "Traceback" not in r.stderr


def test_a_config_without_gain_gets_its_stacks_default():
    d = default_config().to_dict()
    del d["init"]["gain"]
    assert Config.from_dict(d).init.gain == pytest.approx(5 / 3)
    d["model"]["layers"] = [{"kind": "linear", "width": 50}, {"kind": "relu"}, {"kind": "linear", "width": None}]
    assert Config.from_dict(d).init.gain == pytest.approx(math.sqrt(2))
    d["model"]["layers"] = [{"kind": "linear", "width": None}]
    assert Config.from_dict(d).init.gain == 1.0


# --- defaults and bounds declared once (issue 9) ------------------------------------------------------------

def test_config_defaults_agree():
    from dataclasses import replace

    assert Config() == Config.from_dict({}) == replace(default_config(), name="")
    assert Config.from_dict(Config().to_dict()) == Config()


def test_field_spec_is_what_the_parser_enforces():
    """For every bounded numeric field: its default parses, its bounds are accepted, just past them is refused."""
    from dataclasses import fields

    from initscope.core.config import SECTIONS, field_bounds_open, field_spec

    checked = 0
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            if "lo" not in f.metadata:
                continue
            default, lo, hi = field_spec(section, f.name)
            assert getattr(Config(), section).__dict__[f.name] == default
            is_int = isinstance(default, int)
            step = 1 if is_int else 1e-9 * max(1.0, abs(hi or 1.0))
            for value, ok in ((lo, not field_bounds_open(section, f.name)), (lo - step, False),
                              (hi, True), (None if hi is None else hi + step, False)):
                if value is None:
                    continue
                d = {section: {f.name: value}}
                if ok:
                    assert getattr(Config.from_dict(d), section).__dict__[f.name] == value, (section, f.name, value)
                else:
                    with pytest.raises(ConfigError, match=f"'{section}.{f.name}'"):
                        Config.from_dict(d)
            checked += 1
    assert checked >= 15
    assert field_spec("train", "lr") == (0.1, 0.0, 1000.0) and field_spec("train", "batch_size")[1] == 2
    with pytest.raises(KeyError):
        field_spec("train", "nope")


def test_no_bias_before_batchnorm_in_one_place():
    from initscope.core.config import bias_rule

    on = set_batchnorm(deep_stack(2, 8, batchnorm=False), True)
    assert [s.bias for s in on if s.kind == "linear"] == [False, False, False]
    off = set_batchnorm(on, False)
    assert [s.kind for s in off] == ["linear", "tanh", "linear", "tanh", "linear"]
    stack = [LayerSpec("linear", 8, bias=True), LayerSpec("batchnorm"), LayerSpec("tanh"), LayerSpec("linear")]
    assert [s.bias for s in bias_rule(stack)] == [False, True, True, True]
    parsed = Config.from_dict({"model": {"layers": [{"kind": "linear", "width": 8, "bias": True}, {"kind": "batchnorm"},
                                                    {"kind": "tanh"}, {"kind": "linear"}]}})
    assert parsed.model.layers[0].bias is False
    from initscope.core.model import Net

    net = Net(parsed, 27)  # the net agrees: no bias parameter before the BatchNorm
    assert net.layers[0].bias is None and net.layers[3].bias is not None


def test_config_from_args(tmp_path):
    from initscope.cli import load_config
    from initscope.core.config import config_from_args

    assert config_from_args() == default_config() and config_from_args(preset="kaiming") == preset("kaiming")
    p = tmp_path / "c.json"
    preset("batchnorm").save(p)
    assert config_from_args(config_path=p) == preset("batchnorm")
    import argparse

    assert load_config(argparse.Namespace(preset="original", config=None)) == preset("original")
    with pytest.raises(ConfigError, match="unknown preset"):
        config_from_args(preset="nope")


# --- beyond the lecture: norms, modern activations, residual blocks, init schemes -----------------------------

def _res(*layers, scale=1.0):
    return LayerSpec("residual", scale=scale, layers=list(layers))


def test_new_presets_are_what_they_say():
    from initscope.core.config import stack_norm

    for name, norm in (("deep-ln", "layernorm"), ("deep-rms", "rmsnorm")):
        c = preset(name)
        kinds = [s.kind for s in c.model.layers]
        assert kinds == ["linear", norm, "tanh"] * 5 + ["linear"] and stack_norm(c.model.layers) == norm
        assert all(s.bias for s in c.model.layers if s.kind == "linear")  # a bias before LayerNorm is not dead
    pre, no = preset("resnet-preln"), preset("resnet-noln")
    assert pre.init.scheme == no.init.scheme == "torch-default" and pre.init.gain == 1.0
    blocks = [s for s in pre.model.layers if s.kind == "residual"]
    assert len(blocks) == 12 and [t.kind for t in blocks[0].layers] == ["layernorm", "linear", "gelu", "linear"]
    assert [s.kind for s in pre.model.layers[-2:]] == ["layernorm", "linear"]  # the final LayerNorm (GPT's ln_f)
    assert all([t.kind for t in s.layers] == ["linear", "gelu", "linear"] for s in no.model.layers if s.kind == "residual")
    flat = pre.model.resolve(27)
    assert [r.name for r in flat[:6]] == ["L0 Linear", "L1 LayerNorm", "L2 Linear", "L3 GELU", "L4 Linear", "L5 Residual"]
    assert flat[5].block_start == 1 and flat[4].branch_last_linear and flat[4].width == 100
    assert "deep-ln" in subprocess.run([sys.executable, "-m", "initscope", "presets"], capture_output=True, text=True,
                                       timeout=120).stdout


def test_old_configs_save_as_before():
    """A stack of plain layers writes the same three keys per layer as before; a residual block its own."""
    d = preset("deep-bn").to_dict()
    assert all(set(x) == {"kind", "width", "bias"} for x in d["model"]["layers"])
    assert d["version"] == 1 and d["init"]["residual_scaling"] == "none"
    r = preset("resnet-preln").to_dict()["model"]["layers"][1]
    assert set(r) == {"kind", "scale", "layers"} and r["layers"][0] == {"kind": "layernorm", "width": None, "bias": True}


@pytest.mark.parametrize("layer,expected", [
    ({"kind": "conv"}, r"model\.layers\[0\]\.kind': must be one of"),
    ({"kind": "layernorm", "width": 0}, r"model\.layers\[0\]\.width': only a linear layer has a width"),
    ({"kind": "residual", "layers": []}, r"model\.layers\[0\]\.layers': a residual block needs a non-empty list"),
    ({"kind": "residual", "layers": [{"kind": "residual", "layers": [{"kind": "linear"}]}]}, "inside a residual branch"),
    ({"kind": "residual", "width": 4, "layers": [{"kind": "linear"}]}, r"\.width': a residual block has no width"),
    ({"kind": "residual", "scale": -1, "layers": [{"kind": "linear"}]}, r"\.scale': must be >= 0"),
    ({"kind": "tanh", "scale": 2}, r"\.scale': only a residual block"),
])
def test_bad_new_layers_get_one_line(layer, expected):
    d = default_config().to_dict()
    d["model"]["layers"][0] = layer
    with pytest.raises(ConfigError, match=expected) as e:
        Config.from_dict(d)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("layers,expected", [
    ([LayerSpec("linear", 10), _res(LayerSpec("linear", 20)), LayerSpec("linear", None)],
     "L2 Residual: its branch ends 20 wide but the stream is 10 wide"),
    ([LayerSpec("linear", 10), _res(LayerSpec("layernorm"), LayerSpec("gelu")), LayerSpec("linear", None)],
     "L3 Residual: its branch needs a Linear"),
    ([LayerSpec("linear", 10), LayerSpec("layernorm"), LayerSpec("rmsnorm"), LayerSpec("linear", None)],
     "L2 RMSNorm: follows another normalisation (L1 LayerNorm)"),
    ([LayerSpec("linear", 10), LayerSpec("gelu"), _res(LayerSpec("silu"), LayerSpec("linear", None)), LayerSpec("linear", None)],
     "L2 SiLU: follows another activation (L1 GELU)"),
    # a block straight on the embedding: the stream is 30 wide (10 x 3), known once the stack is resolved
    ([_res(LayerSpec("linear", 20)), LayerSpec("linear", None)], "L1 Residual: its branch ends 20 wide but the stream is 30"),
    ([LayerSpec("linear", None), _res(LayerSpec("linear", None))], "only a normalisation may follow the output Linear"),
])
def test_invalid_new_stacks_name_the_layer(layers, expected):
    cfg = default_config()
    cfg.model.layers = layers
    with pytest.raises(ConfigError) as e:
        cfg.model.resolve(27)  # validate_stack, then the widths (the embedding's 30 are known here)
    assert expected in str(e.value)


def test_residual_scaling_without_blocks_and_unknown_schemes_get_one_line(tmp_path):
    with pytest.raises(ConfigError, match="init.residual_scaling.*no residual block"):
        Config.from_dict(mutate("init.residual_scaling", "gpt2"))
    with pytest.raises(ConfigError, match="'init.scheme': must be one of kaiming, naive, torch-default"):
        Config.from_dict(mutate("init.scheme", "he"))
    d = preset("resnet-preln").to_dict()
    d["init"]["residual_scaling"] = "gpt2"
    assert Config.from_dict(d).init.residual_scaling == "gpt2"
    p = tmp_path / "c.json"
    bad = preset("resnet-noln").to_dict()
    bad["model"]["layers"][1]["layers"][-1]["width"] = 64  # the branch ends 64 wide on a 100-wide stream
    p.write_text(json.dumps(bad))
    r = subprocess.run([sys.executable, "-m", "initscope", "theory", "--config", str(p)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "its branch ends 64 wide but the stream is 100 wide" in r.stderr


def test_norm_choice_and_deep_stack_builders():
    from initscope.core.config import set_norm, stack_norm

    plain = deep_stack(3, 50)
    for norm in ("layernorm", "rmsnorm"):
        on = set_norm(plain, norm)
        assert [s.kind for s in on] == ["linear", norm, "tanh"] * 3 + ["linear"] and stack_norm(on) == norm
        assert [s.kind for s in set_norm(on, "none")] == [s.kind for s in plain]
        assert [s.kind for s in set_norm(on, "batchnorm")] == [s.kind for s in set_batchnorm(plain, True)]
    res = deep_stack(4, 64, activation="silu", norm="rmsnorm", residual=True)
    assert stack_norm(res) == "rmsnorm" and sum(s.kind == "residual" for s in res) == 4
    swapped = set_norm(res, "layernorm")
    assert [t.kind for t in swapped[1].layers] == ["layernorm", "linear", "silu", "linear"]
    bare = set_norm(res, "none")
    assert [t.kind for t in bare[1].layers] == ["linear", "silu", "linear"] and stack_norm(bare) == "none"
    bn = set_norm(res, "batchnorm")  # pre-BN branch: no rule to break (the Linear after it keeps its bias)
    assert [t.kind for t in bn[1].layers] == ["batchnorm", "linear", "silu", "linear"]
    with pytest.raises(ConfigError, match="normalisation must be one of"):
        set_norm(plain, "groupnorm")
