"""A self-contained one-file HTML report of a saved run: tables, hints, samples and the panels as embedded PNGs.

The plots are drawn by the GUI package (initscope.gui.report_images: pyqtgraph offscreen, so the report shows
what the app shows) and handed in as PNGs: this module imports no Qt.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from initscope.core.errors import UserError
from initscope.core.files import atomic_write_text
from initscope.core.runfile import SavedRun, load_run
from initscope.core.snapshot import Snapshot


def _n(x: float, spec: str) -> str:
    return format(x, spec) if math.isfinite(x) else "–"  # a watched model's Linear has no saturation; NaN is data


def _layer_table(snap: Snapshot) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s.name)}</td><td>{_n(s.mean, '+.3f')}</td><td>{_n(s.std, '.3f')}</td>"
        f"<td>{_n(s.saturation, '.1%')}</td><td>{s.dead}/{s.width}</td><td>{_n(s.grad_std, '.2e')}</td></tr>"
        for s in snap.layers)
    mats = "".join(
        f"<tr><td>{html.escape(p.name)}</td><td>{'x'.join(map(str, p.shape))}</td><td>{_n(p.grad_data, '.2e')}</td>"
        f"<td>{_n(p.update_data_log10, '.2f')}</td></tr>" for p in snap.params if p.is_matrix)
    return (f"<table><tr><th>layer</th><th>mean</th><th>std</th><th>saturated</th><th>dead</th><th>grad std</th></tr>"
            f"{rows}</table><table><tr><th>weight matrix</th><th>shape</th><th>grad:data</th>"
            f"<th>log10 update:data</th></tr>{mats}</table>")


def render_html(run: SavedRun, images: list[tuple[str, str]] = (), source: str = "") -> str:
    """The report as one HTML string; `images` are (caption, base64 PNG) pairs, drawn by the GUI package
    (initscope.gui.report_images) so that this module stays free of Qt."""
    cfg = run.config
    if run.watched:
        name = run.writer.get("name") or (run.model.cls if run.model else "model")
        title = f"initscope run: {name} (watched in its own training loop)"
    else:
        title = f"initscope run: {cfg.name or 'custom config'}"
    losses = " · ".join(f"{k} {v:.4f}" for k, v in run.split_losses.items()) or "not evaluated"
    images = "".join(f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{b64}'>"
                     f"<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, b64 in images)
    hints = "".join(f"<li>{html.escape(h)}</li>" for h in run.hints) or "<li>none</li>"
    if not run.snapshots:
        raise UserError("the run holds no snapshot yet: nothing to report")
    init, final = run.snapshots[0], run.snapshots[-1]
    about = (f"<h2>Model</h2><p>{html.escape(run.model.cls)}: {len(run.model.layers)} layers, "
             f"{len(run.model.params)} trainable parameters.</p>" if run.watched and run.model else
             f"<h2>Config</h2><pre>{html.escape(json.dumps(cfg.to_dict(), indent=1))}</pre>")
    data = "" if run.watched else f"; data {html.escape(run.data_path)} (vocabulary {len(run.vocab)})"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 1em .5em 0;display:inline-table;vertical-align:top}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}} th{{background:#f3f3f3}}
figure{{display:inline-block;margin:.5em}} img{{width:480px}} pre{{background:#f7f7f7;padding:1em;overflow:auto}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(source)} — status <b>{html.escape(run.status)}</b> after {run.steps:,} steps
{('(' + html.escape(run.message) + ')') if run.message else ''}{data}.</p>
<h2>Split losses</h2><p>{losses}; initial loss {_n(init.loss, '.4f')} vs {_n(init.ref_loss, '.4f')} for a uniform guess.</p>
<h2>Panels</h2>{images}
<h2>Per layer at init (step 0)</h2>{_layer_table(init)}
<h2>Per layer at step {final.step:,}</h2>{_layer_table(final)}
<h2>Health hints</h2><ul>{hints}</ul>
<h2>Sampled names</h2><p>{html.escape(', '.join(run.samples)) or 'none'}</p>
{about}
</body></html>
"""


def write_report(run_path: str, out: str, draw=None) -> None:
    """Load a run file and write its report; draw(run) -> images (None: a report without pictures)."""
    run = load_run(run_path)
    atomic_write_text(Path(out), render_html(run, draw(run) if draw else [], source=str(run_path)))
