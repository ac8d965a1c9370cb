"""A self-contained one-file HTML report of a saved run: tables, hints, samples and the panels as embedded PNGs.

The plots are drawn by pyqtgraph offscreen and exported with its ImageExporter, so the report shows what the
app shows. Qt is imported here only (not by `initscope run`).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path

import numpy as np

from initscope.core.diagnostics import Snapshot
from initscope.core.files import atomic_write_text
from initscope.core.runfile import SavedRun, load_run

SMOOTH = 100


def _png(plot_widget) -> str:
    from PySide6 import QtCore
    from pyqtgraph.exporters import ImageExporter

    exporter = ImageExporter(plot_widget.plotItem)
    exporter.parameters()["width"] = 720
    image = exporter.export(toBytes=True)
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return base64.b64encode(bytes(buf.data())).decode("ascii")


def _plots(run: SavedRun) -> list[tuple[str, str]]:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg

    from initscope.gui.app import make_app
    from initscope.gui.panels import block_color, blocks

    make_app()
    block_of = blocks([s.kind for s in run.config.model.layers])
    out = []

    def widget(title, xlabel, ylabel):
        w = pg.PlotWidget(title=title)
        w.resize(720, 360)
        w.setLabel("bottom", xlabel)
        w.setLabel("left", ylabel)
        w.addLegend(offset=(-10, 10), labelTextSize="8pt")
        return w

    n = len(run.losses)
    if n:
        w = widget("Loss", "step", "loss")
        w.plot(np.arange(n), run.losses, pen=pg.mkPen((31, 119, 180, 60)))
        k = n // SMOOTH
        if k:
            w.plot((np.arange(k) + 0.5) * SMOOTH, run.losses[: k * SMOOTH].reshape(k, SMOOTH).mean(1),
                   pen=pg.mkPen("#1f4e9a", width=2), name=f"mean of {SMOOTH} steps")
        ref = math.log(max(len(run.vocab), 1))
        w.addItem(pg.InfiniteLine(ref, angle=0, pen=pg.mkPen("#d62728", style=pg.QtCore.Qt.PenStyle.DashLine)))
        out.append(("Loss (dashed: a uniform guess, ln vocab)", _png(w)))
    steps = run.history.get("snap_steps")
    if steps is not None and len(steps) and "saturation" in run.history:
        w = widget("Tanh saturation", "step", "saturated (%)")
        for j, name in enumerate(run.names.get("layers", [])):
            if name.endswith("Tanh"):
                w.plot(steps, run.history["saturation"][:, j] * 100, pen=pg.mkPen(block_color(name, block_of), width=2),
                       name=name)
        out.append(("Tanh saturation per layer", _png(w)))
        w = widget("update:data (log10)", "step", "log10 update:data")
        for j, name in enumerate(run.names.get("matrices", [])):
            w.plot(steps, run.history["update"][:, j], pen=pg.mkPen(block_color(name, block_of), width=2),
                   name=name.removesuffix(".weight"))
        w.addItem(pg.InfiniteLine(-3, angle=0, pen=pg.mkPen("#444", style=pg.QtCore.Qt.PenStyle.DashLine)))
        out.append(("update:data per weight matrix (dashed: -3, healthy)", _png(w)))
    for snap, when in ((run.snapshots[0], "at init"), (run.snapshots[-1], f"at step {run.snapshots[-1].step:,}")):
        w = widget(f"Activations {when}", "output value", "density")
        for s in snap.layers:
            if s.hist is not None:
                w.plot(s.hist.centers(), s.hist.density(), pen=pg.mkPen(block_color(s.name, block_of), width=2),
                       name=s.name)
        out.append((f"Activation densities {when}", _png(w)))
        if len(run.snapshots) == 1:
            break
    return out


def _layer_table(snap: Snapshot) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s.name)}</td><td>{s.mean:+.3f}</td><td>{s.std:.3f}</td><td>{s.saturation:.1%}</td>"
        f"<td>{s.dead}/{s.width}</td><td>{s.grad_std:.2e}</td></tr>" for s in snap.layers)
    mats = "".join(
        f"<tr><td>{html.escape(p.name)}</td><td>{'x'.join(map(str, p.shape))}</td><td>{p.grad_data:.2e}</td>"
        f"<td>{p.update_data_log10:.2f}</td></tr>" for p in snap.params if p.is_matrix)
    return (f"<table><tr><th>layer</th><th>mean</th><th>std</th><th>saturated</th><th>dead</th><th>grad std</th></tr>"
            f"{rows}</table><table><tr><th>weight matrix</th><th>shape</th><th>grad:data</th>"
            f"<th>log10 update:data</th></tr>{mats}</table>")


def render_html(run: SavedRun, source: str = "") -> str:
    cfg = run.config
    title = f"initscope run: {cfg.name or 'custom config'}"
    losses = " · ".join(f"{k} {v:.4f}" for k, v in run.split_losses.items()) or "not evaluated"
    images = "".join(f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{b64}'>"
                     f"<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, b64 in _plots(run))
    hints = "".join(f"<li>{html.escape(h)}</li>" for h in run.hints) or "<li>none</li>"
    init, final = run.snapshots[0], run.snapshots[-1]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 1em .5em 0;display:inline-table;vertical-align:top}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}} th{{background:#f3f3f3}}
figure{{display:inline-block;margin:.5em}} img{{width:480px}} pre{{background:#f7f7f7;padding:1em;overflow:auto}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(source)} — status <b>{html.escape(run.status)}</b> after {run.steps:,} steps
{('(' + html.escape(run.message) + ')') if run.message else ''}; data {html.escape(run.data_path)}
(vocabulary {len(run.vocab)}).</p>
<h2>Split losses</h2><p>{losses}; initial loss {init.loss:.4f} vs {init.ref_loss:.4f} for a uniform guess.</p>
<h2>Panels</h2>{images}
<h2>Per layer at init (step 0)</h2>{_layer_table(init)}
<h2>Per layer at step {final.step:,}</h2>{_layer_table(final)}
<h2>Health hints</h2><ul>{hints}</ul>
<h2>Sampled names</h2><p>{html.escape(', '.join(run.samples)) or 'none'}</p>
<h2>Config</h2><pre>{html.escape(json.dumps(cfg.to_dict(), indent=1))}</pre>
</body></html>
"""


def write_report(run_path: str, out: str) -> None:
    run = load_run(run_path)
    atomic_write_text(Path(out), render_html(run, source=str(run_path)))
