import json

import pytest

from initscope.cli import main
from initscope.core.config import PRESETS
from initscope.core.errors import ConfigError
from initscope.core.scenario import load_scenario, parse_scenario, shipped_scenarios


def test_shipped_scenarios_load_and_validate():
    files = shipped_scenarios()
    assert files, "resources/scenarios/ ships the lecture walkthrough"
    for f in files:
        s = load_scenario(f)
        assert s.title and s.steps
    lecture = load_scenario(next(f for f in files if f.name == "lecture.json"))
    names = [st.config.name for st in lecture.steps]
    assert names[:5] == ["original", "fix-softmax", "fix-tanh", "kaiming", "batchnorm"]
    assert lecture.steps[4].targets["val"] == 2.1048
    deep = [(st.config.name, round(st.config.init.gain, 3)) for st in lecture.steps[5:]]
    assert deep == [(n, g) for n in ("deep-nobn", "deep-bn") for g in (0.5, 1.0, 1.667, 3.0)]
    assert all(st.config.name in PRESETS for st in lecture.steps)


@pytest.mark.parametrize("doc,expected", [
    ([], "expected a JSON object"),
    ({"steps": []}, "non-empty list"),
    ({"steps": [{"preset": "original"}]}, "step 1: needs a 'caption'"),
    ({"steps": [{"caption": "x"}]}, "step 1: give either 'preset' or 'config'"),
    ({"steps": [{"caption": "x", "preset": "nope"}]}, "step 1: unknown preset"),
    ({"steps": [{"caption": "x", "preset": "original", "overrides": {"train": {"lr": -1}}}]}, "step 1: config field 'train.lr'"),
    ({"steps": [{"caption": "x", "preset": "original", "targets": {"val": "low"}}]}, "finite numbers"),
    ({"version": 9, "steps": [{"caption": "x", "preset": "original"}]}, "newer initscope"),
])
def test_bad_scenarios_name_the_step(doc, expected):
    with pytest.raises(ConfigError) as e:
        parse_scenario(doc, "s.json")
    assert expected in str(e.value)


def test_cli_gui_bad_scenario_exits_2(tmp_path, capsys):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"steps": [{"caption": "x"}]}))
    assert main(["gui", "--scenario", str(p)]) == 2
    assert "step 1" in capsys.readouterr().err


def test_after_the_lecture_scenario_walks_from_depth_50_to_gpt2_scaling():
    from initscope.core.config import stack_norm

    s = load_scenario(next(f for f in shipped_scenarios() if f.name == "after-the-lecture.json"))
    steps = s.steps
    assert len(steps) == 6 and all(st.targets and st.workshop_targets for st in steps)
    assert [stack_norm(st.config.model.layers) for st in steps] == ["none", "batchnorm", "layernorm", "none",
                                                                   "layernorm", "layernorm"]
    blocks = [sum(x.kind == "residual" for x in st.config.model.layers) for st in steps]
    assert blocks == [0, 0, 0, 50, 50, 50]
    assert sum(x.kind == "tanh" for x in steps[0].config.model.layers) == 50 and steps[0].config.init.gain == 1.0
    assert [st.config.init.residual_scaling for st in steps] == ["none"] * 5 + ["gpt2"]
    assert all(st.config.train.steps == 3000 for st in steps)  # measured at their own length (tools/)
    # the residual nets train to a lower loss than the plain 50-deep ones in the same 3,000 steps
    assert max(st.targets["val"] for st in steps[3:]) < min(st.targets["val"] for st in steps[:3])


@pytest.mark.parametrize("stack,expected", [
    ({"depth": 0, "width": 10}, "depth must be"),
    ({"depth": 3}, "'stack' must be an object with depth and width"),
    ({"depth": 3, "width": 10, "norm": "groupnorm"}, "norm one of"),
    ({"depth": 3, "width": 10, "shape": "wide"}, "'stack' must be an object"),
])
def test_bad_stacks_in_a_scenario_name_the_step(stack, expected):
    with pytest.raises(ConfigError, match=f"step 1: .*{expected}"):
        parse_scenario({"steps": [{"caption": "x", "preset": "deep-nobn", "stack": stack}]})
