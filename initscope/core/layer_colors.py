"""Which colour a layer is drawn in, everywhere (panels, exports, the report): its block's in its own stack.
Plain Python and numpy, no Qt: RunRecord, the report and the tests use it as well as the panels."""

from __future__ import annotations

import numpy as np

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
           "#e6550d", "#31a354", "#756bb1", "#636363"]
EMBED_COLOR = "#555555"


def blocks(layer_kinds: list[str]) -> dict[int, int]:
    """Stack index -> block number: a new block starts at each Linear."""
    out, b = {}, -1
    for i, kind in enumerate(layer_kinds):
        if kind == "linear" or b < 0:
            b += 1
        out[i] = b
    return out


def layer_index(name: str) -> int | None:
    """'L2 Tanh' / 'L3 Linear.weight' -> 2 / 3; 'embedding' -> None."""
    head = name.split()[0] if name else ""
    if head.startswith("L") and head[1:].isdigit():
        return int(head[1:])
    return None


def watched_blocks(model) -> dict[str, int]:
    """A watched model's layer and parameter names -> block number: a new block starts at each module with a
    weight matrix (Linear, Conv, Embedding); activations and norms take the block of the layer before them."""
    out, b = {}, -1
    mats = {n.rsplit(".", 1)[0] for n, shape in model.params if len(shape) >= 2}
    for name, _kind, _width in model.layers:
        if name in mats or b < 0:
            b += 1
        out[name] = b
    for name, _shape in model.params:
        out[name] = out.get(name.rsplit(".", 1)[0], 0)
    return out


MAX_LEGEND = 12  # more entries than this squeeze a panel's data to a few pixels (a 12-block residual stack: 25)


def legend_subset(names: list[str], colors: list[str], most: int = MAX_LEGEND) -> list[str]:
    """The names that get a legend entry when there are too many: the first of each colour, then evenly
    spaced, the first and the last kept; the other lines are drawn, in their block's colour, without one."""
    first = list(dict.fromkeys(c for c in colors))
    picked = [names[colors.index(c)] for c in first]
    if len(picked) > most:
        idx = np.unique(np.linspace(0, len(picked) - 1, most).round().astype(int))
        picked = [picked[i] for i in idx]
    return picked


def block_color(name: str, block_of: dict) -> str:
    """Colour of a layer ("L2 Tanh", "L3 Linear.weight"; a watched model's "block.fc.weight") by the block it
    belongs to in its own stack."""
    if name in block_of:  # a watched model's names
        return PALETTE[block_of[name] % len(PALETTE)]
    idx = layer_index(name)
    if idx is None:
        return EMBED_COLOR
    return PALETTE[block_of.get(idx, idx) % len(PALETTE)]
