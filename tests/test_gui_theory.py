"""The explorer's theory lines: what the views draw is what core/theory.py predicts."""

import numpy as np
import pytest

from initscope.core.config import preset
from initscope.core.sweeps import depth_sweep, gain_values
from initscope.core.theory import critical_gain, depth_curves, gain_curves


def test_gain_sweep_draws_the_theory_critical_gain_and_caption(qtbot):
    from initscope.gui.explorer import GainSweepView
    from initscope.gui.panels import block_color

    view = GainSweepView()
    qtbot.addWidget(view)
    cfg = preset("deep-nobn")
    gains = gain_values(0.25, 3.0, 24)
    view.start(gains, cfg, 27)
    view.draw({})
    xs_ref = np.linspace(0.25, 3.0, view.THEORY_POINTS)
    names, ref = gain_curves(cfg, list(xs_ref), 27)
    assert names == ["L1 Tanh", "L3 Tanh", "L5 Tanh", "L7 Tanh", "L9 Tanh"]
    for panel, curves, (col, scale) in zip(view.panels, view.theory_curves, ((0, 100.0), (1, 1.0), (2, 1.0))):
        assert list(curves) == names
        for j, n in enumerate(names):
            xs, ys = curves[n].xData, curves[n].yData  # the data as given (the log panel shows log10 of it)
            assert np.allclose(xs, xs_ref) and np.allclose(ys, ref[:, j, col] * scale, rtol=1e-12)
            assert curves[n].opts["pen"].color().name() == block_color(n, {})  # the layer's own colour
    assert all(m.isVisible() and m.value() == pytest.approx(critical_gain(cfg)) for m in view.critical_marks)
    assert "Critical gain 1" in view.caption.text() and "chaos" in view.caption.text()
    # a new sweep on a BatchNorm stack: new lines, no critical gain
    bn = preset("deep-bn")
    view.start(gains, bn, 27)
    view.draw({})
    _, ref_bn = gain_curves(bn, list(xs_ref), 27)
    assert np.allclose(view.theory_curves[1]["L2 Tanh"].yData, ref_bn[:, 0, 1])
    assert len(view.panels[0].plot.listDataItems()) == 5  # the old lines were removed
    assert not any(m.isVisible() for m in view.critical_marks) and "BatchNorm" in view.caption.text()
    view.start(gains)  # no config: no theory
    assert view.theory_curves[0] == {} and view.caption.text() == ""


def test_depth_sweep_draws_the_theory(qtbot, small_data):
    from initscope.gui.explorer import DepthSweepView

    view = DepthSweepView()
    qtbot.addWidget(view)
    cfg = preset("deep-nobn")
    norms = ("none", "batchnorm", "layernorm", "rmsnorm")
    res = depth_sweep(cfg, small_data, max_depth=4, width=100, activation="tanh", seeds=1, norms=norms,
                      residual=(False, True))
    view.show_result(res, cfg, small_data.vocab.size)
    names = ["no norm", "BatchNorm", "LayerNorm", "RMSNorm"]
    assert list(view.std_panel.curves) == names + [f"{n} residual" for n in names]  # one line per variant
    for res_on in (False, True):
        for norm, name in zip(norms, names):
            name += " residual" if res_on else ""
            ref = depth_curves(cfg, [1, 2, 3, 4], 100, "tanh", False, small_data.vocab.size, norm=norm, residual=res_on)
            for key, col, scale in (("std", 0, 1.0), ("sat", 1, 100.0), ("grad", 2, 1.0)):
                c = view.theory_curves[(key, name)]
                assert list(c.xData) == [1, 2, 3, 4] and np.allclose(c.yData, ref[:, col] * scale, rtol=1e-12)
            # what the sweep measured is what the view draws
            layers = [x for x in res.layers if x["norm"] == norm and x["residual"] == res_on]
            assert np.allclose(view.std_panel.curves[name].yData, [layers[i]["std"][i] for i in range(4)])
    # with BatchNorm (or LayerNorm, or RMSNorm) every depth's last layer is the closed form: std 0.628
    for name in ("BatchNorm", "LayerNorm", "RMSNorm"):
        assert np.allclose(view.theory_curves[("std", name)].yData, 0.628, atol=1e-3)
    # measured and predicted agree on the plain stack within the lecture net's finite-width tolerance
    measured = view.std_panel.curves["no norm"].yData
    assert np.allclose(measured, view.theory_curves[("std", "no norm")].yData, rtol=0.15)
    for name in ("LayerNorm", "RMSNorm", "LayerNorm residual"):
        assert np.allclose(view.std_panel.curves[name].yData, view.theory_curves[("std", name)].yData, rtol=0.1)
