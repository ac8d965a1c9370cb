"""Issue 21 (bindings from the schema): the side panel's numeric widgets take their ranges and defaults from
config.field_spec, write exactly one config field each, and say which one changed."""

import pytest

from initscope.core.config import field_bounds_open, field_spec, preset
from initscope.gui.controls import BINDINGS, INT_MAX, BigIntSpin, ControlPanel


@pytest.fixture
def panel(qtbot):
    p = ControlPanel(preset("deep-nobn"), ["cpu"])
    qtbot.addWidget(p)
    return p


def test_every_bound_widget_has_the_schemas_range_and_writes_its_field(panel):
    seen = []
    panel.changed.connect(seen.append)
    for attr, path, _, decimals in BINDINGS:
        section, name = path.split(".")
        default, lo, hi = field_spec(section, name)
        w = getattr(panel, attr)
        step = 10 ** -(decimals or 0)
        want_lo = (lo or 0) + (step if field_bounds_open(section, name) else 0)
        want_hi = hi if hi is not None else INT_MAX
        if isinstance(w, BigIntSpin):
            assert (w.lo, w.hi) == (lo, hi)
        else:
            assert w.minimum() == pytest.approx(want_lo) and w.maximum() == pytest.approx(min(want_hi, 1e300))
        old = getattr(getattr(panel.cfg, section), name)
        new = type(old)(w.maximum() if not isinstance(w, BigIntSpin) else w.hi)
        w.setValue(new)
        assert getattr(getattr(panel.cfg, section), name) == pytest.approx(new), path
        assert seen[-1] == path
    # the seed reaches the schema's 2**63 - 1 (a QSpinBox stopped at 2**31 - 1 and showed a clamped seed)
    cfg = preset("deep-nobn")
    cfg.train.seed = 2**63 - 1
    panel.show_config(cfg)
    assert panel.seed.value() == 2**63 - 1
    panel.seed.stepBy(-1)
    assert panel.cfg.train.seed == 2**63 - 2


def test_a_quick_pick_keeps_the_exact_gain_and_the_preset_name(panel):
    panel.show_config(preset("deep-nobn"))
    panel.gain_picks[1].click()  # 1
    assert panel.cfg.init.gain == 1.0 and panel.cfg.name == ""
    panel.gain_picks[0].click()  # 5/3: the preset again, by name, and exactly 5/3
    assert panel.cfg.init.gain == 5 / 3 and panel.cfg.name == "deep-nobn"
    assert panel.preset.currentText() == "deep-nobn"
    panel.gain.setValue(panel.gain.value())  # the box re-emitting its rounded 1.667 changes nothing
    assert panel.cfg.init.gain == 5 / 3
