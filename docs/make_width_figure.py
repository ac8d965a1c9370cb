"""Render docs/width_lr_transfer.png and docs/width_check.png, and print the README's learning-rate transfer table.

Does the best learning rate stay put as the net widens? Every lecture preset, under the standard parametrisation
and under muP (Adam, base width 64), trains STEPS steps at each width x learning rate; the score is the val loss.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_width_figure.py      (about 7 minutes on 2 cores)
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_width_figure.py --from-json   (the table and figure
                                                                   again from docs/width_lr_transfer.json)
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from initscope.core.config import PRESETS, preset
from initscope.core.data import load_dataset
from initscope.core.sweep_backends import LocalPool
from initscope.core.width import WidthSpec

WIDTHS = [64, 256, 1024]
LRS = [0.001, 0.003, 0.01, 0.03, 0.1]
STEPS = 300
PARS = ("standard", "mup")
HERE = Path(__file__).parent


def sweep(data) -> dict:
    """{preset: {par: val[width][lr]}} (NaN: diverged), all jobs on one local pool."""
    jobs, where = [], {}
    for name in PRESETS:
        for par in PARS:
            for k, lr in enumerate(LRS):
                spec = WidthSpec(preset(name), WIDTHS, par, "adam", lr, STEPS, 1, evaluate=True)
                for job in spec.jobs():
                    where[len(jobs)] = (name, par, job.i, k)
                    jobs.append(replace(job, index=len(jobs)))
    out = {n: {p: np.full((len(WIDTHS), len(LRS)), np.nan) for p in PARS} for n in PRESETS}
    t0 = time.perf_counter()
    with LocalPool(2) as pool:
        for res in pool.run(jobs, data):
            name, par, i, k = where[res.index]
            if res.val is not None:
                out[name][par][i, k] = res.val
    print(f"{len(jobs)} runs in {time.perf_counter() - t0:.0f} s")
    return out


def best(vals: np.ndarray) -> list[float | None]:
    return [LRS[int(np.nanargmin(row))] if np.isfinite(row).any() else None for row in vals]


def regret(vals: np.ndarray) -> float:
    """What reusing the base width's best lr at the widest width costs: its val loss there minus the best one
    there (0: the tuned lr transfers; inf: it diverges there)."""
    b0 = best(vals)[0]
    if b0 is None or not np.isfinite(vals[-1]).any():
        return math.nan
    v = vals[-1, LRS.index(b0)]
    return float(v - np.nanmin(vals[-1])) if np.isfinite(v) else math.inf


def table(out: dict) -> str:
    rows = [f"| preset | standard: best lr at width {' / '.join(map(str, WIDTHS))} | cost of width {WIDTHS[0]}'s lr "
            f"at {WIDTHS[-1]} | muP: best lr | cost at {WIDTHS[-1]} |", "|---|---|---|---|---|"]
    for name in PRESETS:
        cells = []
        for par in PARS:
            b = best(out[name][par])
            cells.append(" / ".join("-" if x is None else f"{x:g}" for x in b))
            r = regret(out[name][par])
            cells.append("diverges" if r == math.inf else f"{r:.3f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def figure(out: dict, path: Path) -> None:
    """One row per preset, standard left and muP right: val loss against lr, one line per width, the best lr of
    each width marked; the title says what reusing the base width's best lr costs at the widest width."""
    import pyqtgraph as pg
    from PySide6 import QtWidgets

    from initscope.gui.app import make_app

    make_app()
    colors = ["#1f77b4", "#ff7f0e", "#d62728"]
    win = pg.GraphicsLayoutWidget()
    win.setBackground("w")
    win.resize(1000, 190 * len(PRESETS) + 60)
    for r, name in enumerate(PRESETS):
        for c, par in enumerate(PARS):
            vals = out[name][par]
            b = best(vals)
            p = win.addPlot(row=r, col=c)
            if r == 0 and c == 1:
                legend = p.addLegend(offset=(-10, 10), labelTextSize="8pt")  # before the lines: it lists later ones
                legend.setBrush(pg.mkBrush(255, 255, 255, 220))
            p.setLogMode(x=True, y=False)
            ax = p.getAxis("bottom")
            ax.setTicks([[(math.log10(v), f"{v:g}") for v in LRS]])
            ax.enableAutoSIPrefix(False)
            p.showGrid(x=True, y=True, alpha=0.25)
            r_ = regret(vals)
            cost = "diverges" if r_ == math.inf else f"{r_:.3f}"
            # red where reusing the base width's best lr at the widest width costs more than 0.02 nats
            p.setTitle(f"{name} · {'muP' if par == 'mup' else 'standard'} · cost at {WIDTHS[-1]}: {cost}",
                       size="9pt", color="#333" if r_ <= 0.02 else "#d62728")
            finite = vals[np.isfinite(vals)]
            if finite.size:
                lo = float(finite.min())
                p.setYRange(lo - 0.05, lo + 1.0, padding=0)  # the region where the best lrs are told apart
            for i, w in enumerate(WIDTHS):
                ok = np.isfinite(vals[i])
                p.plot(np.array(LRS)[ok], vals[i][ok], pen=pg.mkPen(colors[i], width=2), name=f"width {w}")
                if b[i] is not None:
                    k = LRS.index(b[i])
                    p.plot([b[i]], [vals[i, k]], pen=None, symbol="o", symbolSize=9, symbolBrush=colors[i])
            if c == 0:
                p.setLabel("left", "val loss")
            if r == len(PRESETS) - 1:
                p.setLabel("bottom", f"Adam lr ({STEPS} steps)")
    win.show()
    QtWidgets.QApplication.processEvents()
    win.grab().save(str(path))


def check_figure(data, path: Path) -> None:
    """The Width view itself after its default check (deep-nobn, Adam lr 0.01, 5 steps, widths 64..1024)."""
    from PySide6 import QtCore, QtWidgets

    from initscope.gui.app import make_app
    from initscope.gui.width_view import WidthView

    app = make_app()
    view = WidthView()
    view.resize(1400, 760)
    view.show()
    view.set_base_config(preset("deep-nobn"), None, data.vocab.size)
    view.workers.setValue(2)
    view.start()
    t = QtCore.QElapsedTimer()
    t.start()
    while view.running and t.elapsed() < 300_000:
        app.processEvents()
        QtCore.QThread.msleep(20)
    QtWidgets.QApplication.processEvents()
    view.grab().save(str(path))
    view.shutdown()


if __name__ == "__main__" and "--from-json" in sys.argv:
    d = json.loads((HERE / "width_lr_transfer.json").read_text())
    out = {n: {p: np.array([[np.nan if v is None else v for v in row] for row in d["val"][n][p]]) for p in PARS}
           for n in PRESETS}
    print(table(out))
    figure(out, HERE / "width_lr_transfer.png")
elif __name__ == "__main__":
    data = load_dataset(None, 3)
    check_figure(data, HERE / "width_check.png")
    out = sweep(data)
    (HERE / "width_lr_transfer.json").write_text(json.dumps(
        {"widths": WIDTHS, "lrs": LRS, "steps": STEPS, "optimizer": "adam", "base_width": 64,
         "val": {n: {p: [[None if not math.isfinite(v) else round(float(v), 4) for v in row] for row in out[n][p]]
                     for p in PARS} for n in PRESETS}}, indent=1) + "\n")
    print(table(out))
    figure(out, HERE / "width_lr_transfer.png")
