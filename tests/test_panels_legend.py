"""A deep stack's panel keeps a legend that fits: one entry per block colour, at most MAX_LEGEND; every line
is still drawn (a 12-block residual stack has 25 weight matrices, whose 26 entries squeezed update:data's data
to a few pixels at 1024x700)."""

from __future__ import annotations

import numpy as np

from initscope.core.config import LayerSpec
from initscope.gui.panels import MAX_LEGEND, SeriesPanel, legend_subset, short_name


def test_legend_subset_keeps_one_name_per_colour_then_thins_evenly():
    names = [f"L{i} Linear.weight" for i in range(25)]
    colors = [f"#{i // 2:06x}" for i in range(25)]  # two matrices per block colour, 13 colours
    keys = legend_subset(names, colors)
    assert len(keys) == MAX_LEGEND and keys[0] == names[0] and keys[-1] == names[24]
    assert len({colors[names.index(k)] for k in keys}) == len(keys)  # never two entries of one colour
    few = legend_subset(names[:6], colors[:6])
    assert few == [names[0], names[2], names[4]]


def test_a_deep_stacks_update_panel_draws_every_line_with_a_short_legend(qtbot):
    panel = SeriesPanel("update:data", "log10 ratio", guide=-3.0)
    qtbot.addWidget(panel)
    names = [f"L{2 * i} Linear.weight" for i in range(25)]
    block_of = {2 * i: i // 2 for i in range(25)}
    steps = np.arange(0, 300, 100)
    values = np.random.default_rng(0).normal(-3, 0.3, (len(steps), len(names)))
    panel.show_series([("run", names, steps, values, block_of)], 1.0, 300)
    drawn = panel.plotted()
    assert len([k for k in drawn if k.startswith("L")]) == 25  # every matrix is drawn
    entries = [t for (t,) in panel._legend_src if t.startswith("L")]
    assert 0 < len(entries) <= MAX_LEGEND
    np.testing.assert_allclose(drawn[short_name(names[7])][1], values[:, 7])


def test_a_branch_linear_says_it_takes_the_streams_width():
    block = LayerSpec("residual", layers=[LayerSpec("layernorm"), LayerSpec("linear", None), LayerSpec("gelu")])
    assert "Linear(stream)" in block.label() and LayerSpec("linear", None).label() == "Linear(vocab)"
