"""Plain-sentence health hints from a snapshot. Every threshold lives here, in one documented place,
so the GUI and the CLI say the same thing."""

from __future__ import annotations

import math
from dataclasses import dataclass

from initscope.core import kinds, runaway
from initscope.core.snapshot import Snapshot


@dataclass(frozen=True)
class Thresholds:
    # tanh layers: the lecture calls ~5% saturation (|t| > 0.97) fine; by 15% gradients are visibly choked
    saturation: float = 0.15
    # the first activation layer takes the embedding's unit-variance rows through gain 5/3: the lecture's deep net
    # shows 20% there at init (measured here: 19% for the kaiming preset, 22% for deep-nobn), its healthy state
    first_saturation: float = 0.30
    # activation std below this: the signal is shrinking layer after layer (gain too small)
    collapse_std: float = 0.1
    # initial loss this far above ln(vocab): the output layer is confidently wrong (lecture: 27 vs 3.3)
    init_loss_excess: float = 1.0
    # log10(update:data) of a weight matrix: ~ -3 is healthy (lecture); above -1.5 too fast, below -4.5 barely moving
    update_high: float = -1.5
    update_low: float = -4.5
    # the output layer was scaled down on purpose, so its ratio starts high and settles (lecture): ignore it this long,
    # then warn only above output_update_high (x0.01 output weights, fix-softmax, are still near -1.3 at step 3,000)
    output_settle_steps: int = 1000
    output_update_high: float = -1.0
    # fraction of a layer's neurons saturated for every example of the batch (no gradient reaches them)
    dead_fraction: float = 0.05
    # measured at init vs wide-net theory (core/theory.py): one init of any preset (50 seeds tried) stays within
    # 11% of the predicted std and 12 points of saturation; beyond these the layer has left the theory's regime
    theory_std_rel: float = 0.4
    theory_saturation: float = 0.15
    # below this width, say "narrow layer" (finite-width noise) rather than "non-Gaussian input"
    theory_narrow_width: int = 32


DEFAULT_THRESHOLDS = Thresholds()


def hints(snap: Snapshot, th: Thresholds = DEFAULT_THRESHOLDS) -> list[str]:
    out: list[str] = []
    if not math.isfinite(snap.loss):
        return [f"loss is {snap.loss} at step {snap.step}: the run diverged; lower the learning rate"]
    if snap.step > 0 and snap.loss > runaway.LOSS_FACTOR * snap.ref_loss:
        out.append(f"loss {snap.loss:.4g} at step {snap.step} is far above a uniform guess ({snap.ref_loss:.2f}): "
                   "the run is diverging; lower the learning rate")
    tanh = [s.saturation for s in snap.layers if kinds.family(s.kind) == "tanh" and math.isfinite(s.saturation)]
    if snap.step > 0 and tanh and sum(tanh) / len(tanh) >= runaway.SATURATION:
        out.append(f"{sum(tanh) / len(tanh):.0%} of tanh outputs saturated at step {snap.step}: the run has blown up; "
                   "lower the learning rate or the gain")
    if snap.step == 0 and snap.loss > snap.ref_loss + th.init_loss_excess:
        out.append(f"initial loss {snap.loss:.1f} vs {snap.ref_loss:.2f} for a uniform guess: "
                   "the output layer is confidently wrong; scale it down")
    where = "at init" if snap.step == 0 else f"at step {snap.step:,}"
    acts = [s for s in snap.layers if kinds.family(s.kind) is not None]
    for s in snap.layers:
        fam = kinds.family(s.kind)
        if fam is None:  # a watched model's Linear, norm or other module: its output is not an activation
            continue
        first = s is acts[0]
        limit = th.first_saturation if first else th.saturation
        if fam in ("tanh", "sigmoid") and s.saturation > limit:
            role = (f" (the first layer: up to {th.first_saturation:.0%} is expected from the embedding's inputs)"
                    if first else f" (a few % is healthy, over {th.saturation:.0%} chokes the gradient)")
            out.append(f"{s.name}: {s.saturation:.0%} saturated {where}{role}; lower the gain or turn on BatchNorm")
        if s.std < th.collapse_std:
            out.append(f"{s.name}: std {s.std:.2f}; activations are collapsing, raise the gain")
        if s.width and s.dead / s.width >= th.dead_fraction:
            what = {"tanh": "saturated", "sigmoid": "saturated", "relu": "zero", "tail": "in the flat negative tail"}[fam]
            out.append(f"{s.name}: {s.dead} of {s.width} neurons {what} for every example (dead: no gradient flows)")
    matrices = [p for p in snap.params if p.is_matrix]
    for p in matrices:
        if not math.isfinite(p.update_data_log10) or snap.lr == 0:
            continue
        output = p is matrices[-1]
        if output and snap.step < th.output_settle_steps:
            continue  # expected: a scaled-down output layer starts high and settles (the help says so)
        layer = p.name.rsplit(".", 1)[0]
        if output and p.update_data_log10 > th.output_update_high:
            out.append(f"update:data of the output layer {layer} is {p.update_data_log10:.1f} on the log10 scale "
                       f"{where}, still far above -3: the learning rate is too high for it")
        elif not output and p.update_data_log10 > th.update_high:
            # the panel's own scale (log10), not "10^-1.4", which read as a typo on a slide
            out.append(f"update:data of {layer} is {p.update_data_log10:.1f} on the log10 scale (about -3 is "
                       "healthy); learning rate too high")
        elif p.update_data_log10 < th.update_low:
            out.append(f"update:data of {layer} is {p.update_data_log10:.1f} on the log10 scale (about -3 is "
                       "healthy); it barely learns, raise the learning rate")
    return out


def theory_hints(snap: Snapshot, predictions, th: Thresholds = DEFAULT_THRESHOLDS) -> list[str]:
    """Layers whose at-init std or saturation is far from the prediction (`core.theory.predict(cfg)`, matched by
    layer name): a narrow layer, or inputs far from the theory's Gaussian."""
    out: list[str] = []
    pred = {p.name: p for p in predictions}
    for s in snap.layers:
        p = pred.get(s.name)
        if p is None or not (math.isfinite(s.std) and math.isfinite(s.saturation)):
            continue
        off_std = p.std > 0 and abs(s.std / p.std - 1) > th.theory_std_rel
        off_sat = abs(s.saturation - p.saturation) > th.theory_saturation
        if not (off_std or off_sat):
            continue
        what = (f"std {s.std:.2f} vs {p.std:.2f}" if off_std else f"{s.saturation:.0%} saturated vs {p.saturation:.0%}")
        why = (f"a narrow layer ({s.width} wide) is far from the wide-net limit" if s.width < th.theory_narrow_width
               else "finite width compounds with depth, or its inputs are far from the Gaussian the theory assumes")
        out.append(f"{s.name}: {what} predicted by wide-net theory; {why}")
    return out
