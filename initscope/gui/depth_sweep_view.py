"""The depth sweep at init: the deepest layer's statistics as the stack deepens, one line per normalisation."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from initscope.core.config import _TITLES, ACTIVATIONS, Config
from initscope.core.theory import depth_curves
from initscope.gui.help import HelpCornerRoom
from initscope.gui.panels import PALETTE, Panel

DEPTH_NORM_LABELS = {"none": "no norm", "batchnorm": "BatchNorm", "layernorm": "LayerNorm", "rmsnorm": "RMSNorm"}


class DepthSweepView(HelpCornerRoom, QtWidgets.QWidget):
    """The deepest layer's std and saturation as the stack deepens, one line per normalisation (none, BatchNorm,
    LayerNorm, RMSNorm) and, with "residual" ticked, per residual variant too (dotted); given the config,
    wide-net theory dashed beside each."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.std_panel = Panel("Std", "depth", "deepest layer")
        self.sat_panel = Panel("Sat. %", "depth", "deepest layer", legend=False)
        self.grad_panel = Panel("Grad std", "depth", "first layer", legend=False)
        for p, stem in ((self.std_panel, "std"), (self.sat_panel, "saturation"), (self.grad_panel, "grad-std")):
            p.export_stem = f"depth-sweep-{stem}"
        # linear y: over depth the first layer's gradient std changes by a factor of a few, and pyqtgraph's log axis
        # labels every minor tick of a range under one decade, one over the other
        self.theory_curves: dict[tuple[str, str], pg.PlotDataItem] = {}  # (panel: std|sat|grad, variant)
        self.residual = QtWidgets.QCheckBox("and residual stacks (dotted)")
        self.residual.setToolTip("also sweep the residual version of each: a stem Linear, then pre-norm residual "
                                 "blocks x + [norm] -> Linear -> activation -> Linear (twice the time)")
        row = self.corner_layout = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for p in (self.std_panel, self.sat_panel, self.grad_panel):
            row.addWidget(p)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.residual)
        lay.addLayout(row, 1)

    def residual_variants(self) -> tuple[bool, ...]:
        return (False, True) if self.residual.isChecked() else (False,)

    @staticmethod
    def variants(d: dict) -> list[tuple[str, bool]]:
        """(norm, residual) of each line, in the sweep's order (a result from before norms: batchnorm's bool)."""
        seen: dict[tuple[str, bool], None] = {}
        for x in d["layers"]:
            seen[(x.get("norm", "batchnorm" if x["batchnorm"] else "none"), bool(x.get("residual", False)))] = None
        return list(seen)

    @staticmethod
    def variant_name(norm: str, residual: bool) -> str:
        return DEPTH_NORM_LABELS[norm] + (" residual" if residual else "")

    def show_result(self, res, cfg: Config | None = None, vocab_size: int = 27) -> None:
        """Draw a depth sweep; with the config it ran on, the theory for the same stacks (width from cfg's first
        hidden Linear, as the sweep builds them; activation from the sweep's layer names)."""
        d = res.to_dict()
        depths = np.array(d["depths"], float)
        variants = self.variants(d)
        names = [self.variant_name(*v) for v in variants]
        colors = [PALETTE[list(DEPTH_NORM_LABELS).index(n) % len(PALETTE)] for n, _ in variants]
        styles = [QtCore.Qt.PenStyle.DotLine if r else QtCore.Qt.PenStyle.SolidLine for _, r in variants]
        for p in (self.std_panel, self.sat_panel, self.grad_panel):
            p.set_series(names, colors, 2, names, styles)
        for (norm, res_on), name in zip(variants, names):
            layers = [x for x in d["layers"] if (x.get("norm", "batchnorm" if x["batchnorm"] else "none"),
                                                 bool(x.get("residual", False))) == (norm, res_on)]
            deepest = {k: [layers[i][k][i] for i in range(len(depths))] for k in ("std", "saturation")}
            first_grad = [layers[0]["grad_std"][i] for i in range(len(depths))]
            style = dict(symbol="o", symbolSize=5)
            self.std_panel.curves[name].setData(depths, np.array(deepest["std"], float), **style)
            self.sat_panel.curves[name].setData(depths, np.array(deepest["saturation"], float) * 100, **style)
            self.grad_panel.curves[name].setData(depths, np.array(first_grad, float), **style)
        self._draw_theory(d, cfg, vocab_size, variants, names, colors)
        for p in (self.std_panel, self.sat_panel, self.grad_panel):
            p.draws += 1

    def clear(self) -> None:
        for p in (self.std_panel, self.sat_panel, self.grad_panel):
            p.clear_series()
            p.draws += 1
        self._draw_theory({"layers": []}, None, 27, [], [], [])

    def _draw_theory(self, d: dict, cfg: Config | None, vocab_size: int, variants, names, colors) -> None:
        panels = {"std": self.std_panel, "sat": self.sat_panel, "grad": self.grad_panel}
        for (key, _), c in self.theory_curves.items():
            panels[key].plot.removeItem(c)
        self.theory_curves = {}
        if cfg is None or not d["layers"]:
            return
        width = next((s.width for s in cfg.model.layers if s.kind == "linear" and s.width), 100)
        title = d["layers"][0]["name"].split()[0]
        act = next((k for k, t in _TITLES.items() if t == title and k in ACTIVATIONS), "tanh")
        depths = [int(x) for x in d["depths"]]
        for (norm, res_on), name, color in zip(variants, names, colors):
            t = depth_curves(cfg, depths, width, act, False, vocab_size, norm=norm, residual=res_on)
            pen = pg.mkPen(color, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
            for key, col, scale in (("std", 0, 1.0), ("sat", 1, 100.0), ("grad", 2, 1.0)):
                self.theory_curves[(key, name)] = panels[key].plot.plot(depths, t[:, col] * scale, pen=pen)
        if self.std_panel.legend is not None:
            self.std_panel.legend.addItem(self.theory_curves[("std", names[0])], "theory (dashed)")
