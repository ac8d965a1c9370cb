"""The report's pictures: a saved run's panels drawn by pyqtgraph offscreen, as base64 PNGs.

Kept in the GUI package so that initscope.report (HTML only) imports no Qt. Colours are those of the app:
a layer's colour follows its position in the run's own stack.
"""

from __future__ import annotations

import base64
import math
import os

import numpy as np

from initscope.core.config import flat_kinds
from initscope.core.history import SMOOTH_BLOCK, block_means
from initscope.core.kinds import family
from initscope.core.layer_colors import block_color, blocks, watched_blocks
from initscope.gui.envelope import PeakEnvelope
from initscope.gui.qapp import make_app

PICTURE_WIDTH = 720  # pixels: the exporter's width


def _png(plot_widget) -> str:
    from pyqtgraph.exporters import ImageExporter
    from PySide6 import QtCore

    from initscope.gui.export import legend_off_data

    legend_off_data(plot_widget.plotItem)  # the legend goes where no line is
    exporter = ImageExporter(plot_widget.plotItem)
    exporter.parameters()["width"] = PICTURE_WIDTH
    # an axis makes room for its tick labels when it first draws them, so a plot never shown drew its axis
    # titles over the ticks ("step" on "2000"): draw once, let the layout give the axes that room, then the picture
    exporter.export(toBytes=True)
    plot_widget.plotItem.layout.activate()
    image = exporter.export(toBytes=True)
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return base64.b64encode(bytes(buf.data())).decode("ascii")


def _envelope(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The window's min-max envelope of a whole series (gui/envelope.py), its incomplete last block folded too:
    at most ~4 points per pixel of the picture, however long the run."""
    env = PeakEnvelope(max_blocks=2 * PICTURE_WIDTH)
    env.update(y)
    x, v = env.xy(y)
    k = 2 * len(env.lo)
    if len(x) - k > 2:  # the steps after the last whole block: one more stroke
        tail = v[k:]
        x, v = np.append(x[:k], [x[k], x[k]]), np.append(v[:k], [np.min(tail), np.max(tail)])
    return x, v


def plot_images(run) -> list[tuple[str, str]]:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg

    make_app()
    block_of = watched_blocks(run.model) if run.watched else blocks(flat_kinds(run.config.model.layers))
    layer_kind = {n: k for n, k, _ in run.model.layers} if run.watched else {}
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
        # at the picture's resolution, as the window draws it: each block of steps as its min-max stroke (a 10 M-step
        # run drew every step: 420 s and 1.66 GB; issue 20), and means of at least SMOOTH_BLOCK steps, ~2 per pixel
        w.plot(*_envelope(run.losses), pen=pg.mkPen((31, 119, 180, 60)), connect="finite")
        smooth = max(SMOOTH_BLOCK, -(-n // (2 * PICTURE_WIDTH)))
        means = block_means(run.losses, smooth)
        if len(means):
            w.plot((np.arange(len(means)) + 0.5) * smooth, means, pen=pg.mkPen("#1f4e9a", width=2),
                   name=f"mean of {smooth:,} steps", connect="finite")
        ref = run.snapshots[0].ref_loss if run.watched and run.snapshots else math.log(max(len(run.vocab), 1))
        if math.isfinite(ref):
            w.addItem(pg.InfiniteLine(ref, angle=0, pen=pg.mkPen("#d62728", style=pg.QtCore.Qt.PenStyle.DashLine)))
        out.append(("Loss (dashed: a uniform guess, ln vocab)", _png(w)))
    steps = run.history.get("snap_steps")
    if steps is not None and len(steps) and "saturation" in run.history:
        w = widget("Saturation (Tanh |t| > threshold, ReLU zeros)", "step", "saturated (%)")
        for j, name in enumerate(run.names.get("layers", [])):
            if (family(layer_kind[name]) if run.watched else family(name.split()[-1])) is not None:
                w.plot(steps, run.history["saturation"][:, j] * 100, pen=pg.mkPen(block_color(name, block_of), width=2),
                       name=name, connect="finite")
        out.append(("Tanh saturation per layer", _png(w)))
        w = widget("update:data (log10)", "step", "log10 update:data")
        for j, name in enumerate(run.names.get("matrices", [])):
            w.plot(steps, run.history["update"][:, j], pen=pg.mkPen(block_color(name, block_of), width=2),
                   name=name.removesuffix(".weight"), connect="finite")  # -inf (a zero update): a gap
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
    if run.replay and run.snapshots:  # every kept snapshot: the Over time tab's heatmaps (issue 24)
        for kind in ("activations", "gradients at layer outputs"):
            out.append((f"{kind.capitalize()} over time (colour: log10(1 + 1000 x share of the values in a bin); "
                        "dashed: where saturation begins)", _heatmap_png(run, kind)))
    return out


def _heatmap_png(run, kind: str) -> str:
    """The Over time tab, drawn offscreen for one run and one kind of histogram."""
    from PySide6 import QtCore

    from initscope.core.config import Config
    from initscope.core.runfile import history_from_run
    from initscope.gui.heatmap_view import HeatmapView, heat_layers
    from initscope.gui.runs import RunRecord

    # the view reads a record's history, name, config (its threshold) and model only: no weights needed
    rec = RunRecord(run.config.name if run.config is not None else "watched", run.config or Config(),
                    history_from_run(run), status=run.status, model=run.model)
    view = HeatmapView()
    view.kind.setCurrentText(kind)
    view.resize(720, 60 + 110 * len(heat_layers(rec)))
    view.render([rec])
    image = view.grab().toImage()
    view.deleteLater()
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return base64.b64encode(bytes(buf.data())).decode("ascii")
