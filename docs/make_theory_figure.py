"""Render docs/theory_gain_sweep.png and print the README's theory-vs-measurement table.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_theory_figure.py
"""

from dataclasses import replace
from pathlib import Path

import torch

from initscope.core.config import preset
from initscope.core.data import load_dataset
from initscope.core.sweeps import _mean_over_seeds, gain_values, iter_gain_sweep
from initscope.core.theory import predict

SEEDS = 20


def figure(data, out: Path) -> None:
    from initscope.gui.app import make_app
    from initscope.gui.explorer import GainSweepView
    from initscope.gui.panels import blocks

    make_app()
    cfg = preset("deep-nobn")
    view = GainSweepView()
    view.resize(1500, 460)
    gains = gain_values(0.25, 3.0, 24)
    view.start(gains, cfg, data.vocab.size)
    view.set_current(cfg.init.gain)
    for i, names, arr in iter_gain_sweep(cfg, data, gains, SEEDS):
        view.add_point(i, names, arr)
    view.draw(blocks([s.kind for s in cfg.model.layers]))
    view.show()
    from PySide6 import QtWidgets

    QtWidgets.QApplication.processEvents()
    view.grab().save(str(out))


def table(data) -> str:
    rows = ["| gain | layer | saturation measured / predicted | std measured / predicted | gradient ratio measured / predicted |",
            "|---|---|---|---|---|"]
    for gain, label in ((1.0, "1"), (5 / 3, "5/3"), (3.0, "3")):
        cfg = preset("deep-nobn")
        cfg.init = replace(cfg.init, gain=gain)
        _, arr = _mean_over_seeds(cfg, data, SEEDS)
        for p, (sat, std, gstd) in zip(predict(cfg, data.vocab.size), arr):
            rows.append(f"| {label} | {p.name} | {sat:.1%} / {p.saturation:.1%} | {std:.3f} / {p.std:.3f} | "
                        f"{gstd / arr[-1, 2]:.2f} / {p.grad_ratio:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    torch.set_num_threads(1)
    data = load_dataset(None, 3)
    print(table(data))
    figure(data, Path(__file__).with_name("theory_gain_sweep.png"))
