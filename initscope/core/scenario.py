"""Workshop scenarios: an ordered list of steps, each a config, a caption and the numbers to aim for.

    {"version": 1, "title": "...", "steps": [
        {"caption": "...", "preset": "original", "overrides": {"init": {"gain": 0.5}},
         "targets": {"val": 2.1682}}, ...]}

A step names a preset or carries a whole "config"; "overrides" are merged into it field by field, and the
result is validated like any config. Errors name the file and the step.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from initscope.core.assets import scenarios_dir
from initscope.core.config import ACTIVATIONS, MAX_BLOCKS, MAX_WIDTH, NORM_CHOICES, Config, deep_stack, preset
from initscope.core.errors import ConfigError
from initscope.core.files import MAX_JSON_DEPTH, json_depth_ok, read_json

SCENARIO_VERSION = 1
SCENARIO_DIR = scenarios_dir()  # installed package data, else the checkout (core/assets.py)


WORKSHOP_STEPS = 20_000  # "workshop length": a run that ends within a minute or two on a laptop
TARGET_NAMES = {"init_loss": "initial loss", "train": "train", "val": "val", "test": "test"}


def workshop_length(cfg: Config, steps: int = WORKSHOP_STEPS) -> Config:
    """cfg shortened to `steps`, its learning-rate decay moved to the same fraction of the run."""
    out = cfg.copy()
    if cfg.train.steps > steps:
        t = out.train
        if t.lr_decay_step:
            t.lr_decay_step = max(1, round(t.lr_decay_step * steps / cfg.train.steps))
        t.steps = steps
    return out


@dataclass
class ScenarioStep:
    caption: str
    config: Config
    targets: dict[str, float] = field(default_factory=dict)  # at the config's own length
    workshop_targets: dict[str, float] = field(default_factory=dict)  # measured at WORKSHOP_STEPS

    def aim(self, workshop: bool = False) -> str:
        """'initial loss ≈ 27, train ≈ 2.125, val ≈ 2.168' (at workshop length when asked and measured)."""
        t = self.workshop_targets if workshop and self.workshop_targets else self.targets
        return ", ".join(f"{TARGET_NAMES.get(k, k)} ≈ {v:.4g}" for k, v in t.items())


@dataclass
class Scenario:
    title: str
    steps: list[ScenarioStep]


def _merge(base: dict, over: dict, where: str) -> dict:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v, f"{where}.{k}")
        else:
            base[k] = v
    return base


def parse_scenario(d, name: str = "scenario") -> Scenario:
    if not isinstance(d, dict):
        raise ConfigError(f"{name}: expected a JSON object with 'title' and 'steps'")
    if not json_depth_ok(d):  # _merge recurses; a file is bounded by read_json, a dict from a caller here
        raise ConfigError(f"{name}: nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    unknown = set(d) - {"version", "title", "steps"}
    if unknown:
        raise ConfigError(f"{name}: unknown field {sorted(unknown)[0]!r}")
    if not isinstance(d.get("version", 1), int) or d.get("version", 1) > SCENARIO_VERSION:
        raise ConfigError(f"{name}: written for a newer initscope (scenario version {d.get('version')})")
    steps = d.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"{name}: 'steps' must be a non-empty list")
    out = []
    for i, s in enumerate(steps, start=1):
        where = f"{name}: step {i}"
        if not isinstance(s, dict):
            raise ConfigError(f"{where}: expected an object")
        bad = set(s) - {"caption", "preset", "config", "stack", "overrides", "targets", "workshop_targets"}
        if bad:
            raise ConfigError(f"{where}: unknown field {sorted(bad)[0]!r}")
        if not isinstance(s.get("caption"), str) or not s["caption"].strip():
            raise ConfigError(f"{where}: needs a 'caption' (text)")
        if ("preset" in s) == ("config" in s):
            raise ConfigError(f"{where}: give either 'preset' or 'config'")
        try:
            base = preset(s["preset"]).to_dict() if "preset" in s else dict(s["config"])
            over = s.get("overrides", {})
            if not isinstance(over, dict):
                raise ConfigError("'overrides' must be an object")
            if "stack" in s:  # the depth x width builder's stack, instead of 150 layers spelled out
                base["model"]["layers"] = [x.to_dict() for x in _stack(s["stack"])]
            cfg = Config.from_dict(_merge(base, json.loads(json.dumps(over)), "overrides"))
        except (ConfigError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: {e}") from None
        targets = {}
        for key in ("targets", "workshop_targets"):
            t = s.get(key, {})
            if not isinstance(t, dict) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in t.values()):
                raise ConfigError(f"{where}: '{key}' must map names to finite numbers")
            targets[key] = {k: float(v) for k, v in t.items()}
        out.append(ScenarioStep(caption=s["caption"].strip(), config=cfg, targets=targets["targets"],
                                workshop_targets=targets["workshop_targets"]))
    title = d.get("title", name)
    return Scenario(title=str(title), steps=out)


_STACK_KEYS = {"depth", "width", "activation", "norm", "residual"}


def _stack(d) -> list:
    """{"depth": 50, "width": 100, "activation": "tanh", "norm": "layernorm", "residual": false} ->
    config.deep_stack's layers (the side panel's depth x width builder)."""
    if not isinstance(d, dict) or set(d) - _STACK_KEYS or not {"depth", "width"} <= set(d):
        raise ConfigError(f"'stack' must be an object with depth and width (and activation, norm, residual); got {d!r}")
    depth, width = d["depth"], d["width"]
    if not (isinstance(depth, int) and 1 <= depth <= MAX_BLOCKS) or not (isinstance(width, int) and 1 <= width <= MAX_WIDTH):
        raise ConfigError(f"'stack': depth must be 1-{MAX_BLOCKS} and width 1-{MAX_WIDTH}; got {depth!r} x {width!r}")
    act, norm, res = d.get("activation", "tanh"), d.get("norm", "none"), d.get("residual", False)
    if act not in ACTIVATIONS or norm not in NORM_CHOICES or not isinstance(res, bool):
        raise ConfigError(f"'stack': activation must be one of {', '.join(ACTIVATIONS)}, norm one of "
                          f"{', '.join(NORM_CHOICES)}, residual true or false")
    return deep_stack(depth, width, activation=act, norm=norm, residual=res)


def load_scenario(path: str | Path) -> Scenario:
    return parse_scenario(read_json(path, ConfigError), str(path))


def shipped_scenarios() -> list[Path]:
    """The shipped scenarios, the lecture's walkthrough first."""
    return sorted(SCENARIO_DIR.glob("*.json"), key=lambda p: (p.name != "lecture.json", p.name))
