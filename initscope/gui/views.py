"""The Overview and Gradients tabs: each renders the shown record(s) and nothing else.

One record: a run as it trains or as it ended, a run opened from a file, or the init preview (drawn as a
preview: the step-0 loss marker, one bar per layer, histograms). Two or more: their losses, saturation and
update:data overlaid, colour by layer in its own stack, line style by run. An invalid stack clears the panels.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6 import QtWidgets

from initscope.core.config import ACTIVATIONS
from initscope.core.errors import UserError
from initscope.core.kinds import describe, family
from initscope.core.messages import RunStatus
from initscope.gui.help import corner_help_button, set_help_key
from initscope.gui.panels import HistPanel, LossPanel, RatioBars, SeriesPanel, block_color, run_tag, short_name


def cfg_activation_kinds(cfg) -> set[str]:
    """The activation kinds of cfg's stack, residual branches included."""
    return {t.kind for s in cfg.model.layers for t in (s.layers or [s]) if t.kind in ACTIVATIONS}


def activation_kind_names(rec) -> set[str]:
    """The activation kinds of a record, lower case: its stack's (residual branches included), or a watched
    model's activation modules' ('gelu', 'leakyrelu', ...)."""
    if rec.watched:
        return {k.lower() for k in rec.layer_kinds if family(k) is not None}
    return cfg_activation_kinds(rec.cfg)


def saturation_help_key(kinds: set[str], watched: bool = False) -> str:
    if kinds == {"relu"}:
        return "saturation-relu"
    if kinds <= {"tanh"}:
        return "saturation-tanh"
    if not watched and kinds <= {"gelu", "silu", "sigmoid"}:
        return "saturation-gelu"
    return "saturation-any"  # any mix: every definition, as core/kinds.py has them


def activation_columns(names: list[str], kinds: list[str] | None = None) -> list[int]:
    """Columns of the history that belong to activation layers (saturation is defined for them only): by the
    name's kind word for the app's layers ("L2 Tanh"), by `kinds` for a watched model's."""
    if kinds is not None:
        return [j for j, k in enumerate(kinds[: len(names)]) if family(k) is not None]
    return [j for j, n in enumerate(names) if n.split()[-1].lower() in ACTIVATIONS]


def saturation_title(cfg, kinds: set[str] | None = None) -> tuple[str, str]:
    """The saturation panel follows the stack's activations: tanh |t| > threshold, ReLU exact zeros."""
    kinds = cfg_activation_kinds(cfg) if kinds is None else kinds
    thr = cfg.diag.saturation_threshold
    if kinds == {"relu"}:
        return "ReLU zeros", "% zero"
    if kinds == {"tanh"}:
        return "Tanh saturation", f"% |t|>{thr:g}"
    if len(kinds) == 1:  # GELU / SiLU: the flat negative tail; sigmoid: the flat ends (core/kinds.py)
        k = next(iter(kinds))
        return f"{ {'gelu': 'GELU', 'silu': 'SiLU', 'sigmoid': 'Sigmoid'}.get(k, k)} saturation", \
            f"% {describe(family(k), thr)}"
    if kinds:
        return "Saturation", "% saturated / zero"
    return "Saturation (none)", "%"


# While a run streams, the snapshot panels redraw at most 4 times a second: snapshots come 10 times a second, and
# each of the three panels' repaints cost the event loop 3-4 ms (measured over a 200k-step run); the loss still
# redraws at every frame, and a run's end, a click or a new record redraws at once.
SNAPSHOT_REDRAW_S = 0.25
DRAW_POINTS = 600  # per-step lines are drawn as at most this many block means: a panel's width, not the history


def series_of(h):
    """(steps, saturation rows, update:data rows) as drawn: from the per-step tier when the run recorded it, else
    the snapshot rows; either way as block means of at most DRAW_POINTS points. Thousands of wide line segments
    per repaint cost the window its frame rate: per-step lines did at once, and a preset's 2,000 snapshot rows
    did by its end (7.8 and 10.5 ms of paint for saturation and update:data at step 200,000)."""
    if h.step_saturation is not None and len(h.step_steps) > 1:
        steps, sat, upd = h.step_steps.data, h.step_saturation.data, h.step_update.data
    else:
        steps, sat, upd = h.snap_steps.data, h.saturation.data, h.update.data
    return block_means(steps), block_means(sat), block_means(upd)


def block_means(a: np.ndarray, points: int = DRAW_POINTS) -> np.ndarray:
    """Means of consecutive blocks of rows, so that at most about `points` rows remain (a short run: unchanged)."""
    n = len(a)
    b = -(-n // points)
    if b <= 1:
        return a
    k = n // b
    head = a[: k * b].reshape(k, b, *a.shape[1:]).mean(1)
    return np.concatenate([head, a[k * b:].mean(0, keepdims=True)]) if n > k * b else head


def _predictions(rec) -> list:
    from initscope.core.theory import predict

    if rec.watched:  # the wide-net theory describes the app's own stacks only
        return []
    try:
        return predict(rec.cfg, max(len(rec.vocab), 2), every_layer=True)
    except UserError:  # a stack being edited that cannot be resolved: no theory marks
        return []


def predicted_std(rec) -> dict[str, float]:
    """Layer name -> the wide-net theory's std of its output at init (core.theory, microseconds)."""
    return {p.name: p.std for p in _predictions(rec)}


def predicted_marks(rec) -> dict[str, np.ndarray]:
    """Layer name -> where its theory triangles go: ±σ around 0 for a symmetric output (tanh, norms); for an
    output with no negative mass (ReLU, sigmoid) mean and mean + σ, where its density is (±σ around 0 put
    ReLU's triangles on the empty negative side, one over the other)."""
    out = {}
    for p in _predictions(rec):
        fam = family(p.kind)
        out[p.name] = (np.array([p.mean, p.mean + p.std]) if fam in ("relu", "sigmoid")
                       else np.array([-p.std, p.std]))
    return out


def secondary_layers(snap) -> set[str]:
    """Norms and residual streams, drawn dashed without a legend entry where the stack has activations."""
    if not any(family(s.kind) is not None for s in snap.layers):
        return set()
    return {s.name for s in snap.layers if family(s.kind) is None}


def activation_label(s, predicted: float | None = None) -> str:
    """Two short legend lines: the layer and its saturation (activations only: a norm or a residual stream
    has none); mean and std (and the theory's std, ▲)."""
    theory = f" (▲ {predicted:.2f})" if predicted is not None else ""
    if family(s.kind) is None or not np.isfinite(s.saturation):  # a norm, a stream, a watched model's Linear
        return f"{s.name}<br>σ {s.std:.2f}{theory}"
    return f"{s.name} {s.saturation:.0%} {_sat_word(s.kind)}<br>σ {s.std:.2f}{theory}"


MAX_WATCHED_CURVES = 12  # a watched model's densities: more curves than this are unreadable on one plot


def drawn_layers(rec, snap) -> list:
    """The layers whose densities a panel draws: every layer of the app's stacks; of a watched model its
    activations (its Linears, norms and attention would bury them), or its first layers if it has none."""
    if not rec.watched:
        return snap.layers
    acts = [s for s in snap.layers if family(s.kind) is not None and s.width]
    return (acts or [s for s in snap.layers if s.width])[:MAX_WATCHED_CURVES]


def _sat_word(kind: str) -> str:
    return {"relu": "zeros", "tail": "tail"}.get(family(kind), "sat")


class OverviewView(QtWidgets.QWidget):
    """Loss, saturation, activations and update:data at once."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss_panel = LossPanel()
        self.sat_panel = SeriesPanel("Tanh saturation", "saturated (%)")
        self.act_panel = HistPanel("Activations", "output value", "")
        self.upd_panel = SeriesPanel("update:data", "log10 ratio", guide=-3.0)
        self.panels = [self.loss_panel, self.sat_panel, self.act_panel, self.upd_panel]
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(self.loss_panel, 0, 0)
        grid.addWidget(self.sat_panel, 0, 1)
        grid.addWidget(self.act_panel, 1, 0)
        grid.addWidget(self.upd_panel, 1, 1)
        self.help = {p: corner_help_button(p, key) for p, key in (
            (self.loss_panel, "loss"), (self.sat_panel, "saturation-tanh"), (self.act_panel, "activations"),
            (self.upd_panel, "update-data"))}
        self.loss_panel.logy.toggled.connect(lambda _: self.invalidate())
        self._key = self._snap_key = None
        self._snap_t = 0.0
        self._stagger: list = []  # snapshot panels still to draw, one a frame, while a run streams
        self._stagger_id = None

    def invalidate(self) -> None:
        self._key = self._snap_key = None
        self._stagger = []

    def _snapshots_changed(self, recs: list) -> bool:
        """Saturation, activations and update:data change with a new snapshot (or new per-step rows), not with
        every 25-step loss chunk: redrawing them per chunk cost most of the frame."""
        key = tuple((r.id, r.status, id(r.history.latest), len(r.history.snap_steps),
                     len(r.history.step_steps) if r.history.step_saturation is not None else 0) for r in recs)
        if key == self._snap_key:
            return False
        now = time.monotonic()
        streaming = all(r.status == RunStatus.RUNNING for r in recs)
        if streaming and self._snap_key is not None and now - self._snap_t < SNAPSHOT_REDRAW_S:
            return False  # drawn on a later frame, with whatever has arrived by then
        self._snap_key, self._snap_t = key, now
        return True

    def render(self, recs: list) -> bool:
        """Draw the records; False when nothing changed since the last call."""
        key = tuple((r.id, r.status, r.history.version, r.name) for r in recs)
        if self._stagger and not (len(recs) == 1 and recs[0].id == self._stagger_id and recs[0].status == RunStatus.RUNNING):
            self._stagger = []  # another record, or the run ended: its snapshot key changed too, all redraw now
        if key == self._key and not self._stagger:
            return False
        self._key = key
        if not recs or recs[0].status == RunStatus.INVALID:
            for p in self.panels:
                p.clear()
            return True
        if len(recs) == 1:
            self._single(recs[0])
        else:
            self._overlay(recs)
        return True

    def _single(self, rec) -> None:
        h = rec.history
        init = h.init
        ref = init.ref_loss if init is not None else float("nan") if rec.watched else float(np.log(max(len(rec.vocab), 2)))
        self.loss_panel.show_single(rec.id, h.loss.data, h.loss_first_step, init.loss if init else None, ref,
                                    rec.total_steps)
        if self._stagger:  # the rest of the last snapshot's panels, one a frame
            self._stagger.pop(0)()
            return
        if not self._snapshots_changed([rec]):
            return
        parts = [lambda: self._draw_saturation(rec), lambda: self._draw_activations(rec),
                 lambda: self._draw_update(rec)]
        if rec.status == RunStatus.RUNNING:  # one panel a frame: no frame pays for all three repaints
            parts.pop(0)()
            self._stagger, self._stagger_id = parts, rec.id
        else:
            for part in parts:
                part()

    def _draw_saturation(self, rec) -> None:
        h, cfg = rec.history, rec.cfg
        title, ylabel = saturation_title(cfg, activation_kind_names(rec))
        self.sat_panel.set_title(title)
        set_help_key(self.help[self.sat_panel], saturation_help_key(activation_kind_names(rec), rec.watched))
        self.sat_panel.plot.setLabel("left", ylabel)
        snap = h.latest
        if h.saturation is not None and len(h.snap_steps) > 1:
            cols = activation_columns(h.layer_names, rec.layer_kinds)
            steps, sat, _ = series_of(h)
            self.sat_panel.show_series([(rec.name, [h.layer_names[j] for j in cols], steps, sat[:, cols],
                                         rec.block_of)], 100.0, rec.total_steps)
        elif snap is not None:  # the preview, or a run before its second snapshot: one bar per layer
            acts = [s for s in snap.layers if family(s.kind) is not None]
            self.sat_panel.show_bars([s.name for s in acts], np.array([s.saturation for s in acts]),
                                     [block_color(s.name, rec.block_of) for s in acts], 100.0)
        else:
            self.sat_panel.clear()

    def _draw_update(self, rec) -> None:
        h = rec.history
        snap = h.latest
        if h.saturation is not None and len(h.snap_steps) > 1:
            steps, _, upd = series_of(h)
            self.upd_panel.show_series([(rec.name, h.matrix_names, steps, upd, rec.block_of)], 1.0, rec.total_steps)
        elif snap is not None:
            mats = [p for p in snap.params if p.is_matrix]
            self.upd_panel.show_bars([short_name(p.name) for p in mats], np.array([p.update_data_log10 for p in mats]),
                                     [block_color(p.name, rec.block_of) for p in mats])
        else:
            self.upd_panel.clear()

    def _draw_activations(self, rec) -> None:
        snap = rec.history.latest
        if snap is not None:
            pred = predicted_std(rec) if snap.step == 0 else {}
            marks = predicted_marks(rec) if pred else {}
            self.act_panel.set_title("Activations at init" if pred else "Activations")
            one_sided = any(family(s.kind) in ("relu", "sigmoid") for s in snap.layers)
            self.act_panel.set_xlabel(("output (▲ = theory: mean, mean+σ)" if one_sided else "output (▲ = theory ±σ)")
                                      if pred else f"output, step {snap.step:,}")
            layers = drawn_layers(rec, snap)
            self.act_panel.update_hists([s.name for s in layers], [s.hist for s in layers],
                                        [activation_label(s, pred.get(s.name)) for s in layers], rec.block_of, marks,
                                        secondary_layers(snap))
        else:
            self.act_panel.clear()

    def _overlay(self, recs: list) -> None:
        with_loss = [r for r in recs if len(r.history.loss) or r.history.init is not None]
        ref = next((r.history.init.ref_loss for r in recs if r.history.init is not None), float(np.log(27)))
        total = max(r.total_steps for r in recs)
        self.loss_panel.show_overlay([(r.name, r.history.loss.data, r.history.loss_first_step) for r in with_loss],
                                     ref, total)
        if not self._snapshots_changed(recs):
            return
        rows = [r for r in recs if r.history.saturation is not None and len(r.history.snap_steps)]
        sat, upd = [], []
        for r in rows:
            h = r.history
            cols = activation_columns(h.layer_names, r.layer_kinds)
            steps, s, u = series_of(h)
            sat.append((r.name, [h.layer_names[j] for j in cols], steps, s[:, cols], r.block_of))
            upd.append((r.name, h.matrix_names, steps, u, r.block_of))
        kinds = set().union(*(activation_kind_names(r) for r in recs))
        self.sat_panel.set_title("Saturation per layer" if len(kinds) != 1 else saturation_title(recs[0].cfg, kinds)[0])
        self.sat_panel.show_series(sat, 100.0, total)
        self.upd_panel.show_series(upd, 1.0, total)
        first = next((r for r in recs if r.history.latest is not None), None)
        if first is not None:  # densities of one run only: several runs' lines would be unreadable
            snap = first.history.latest
            self.act_panel.set_title(f"Activations of {run_tag(first.name)}")
            self.act_panel.set_xlabel(f"output value, step {snap.step:,}")
            layers = drawn_layers(first, snap)
            self.act_panel.update_hists([s.name for s in layers], [s.hist for s in layers],
                                        [activation_label(s) for s in layers], first.block_of,
                                        secondary=secondary_layers(snap))
        else:
            self.act_panel.clear()


class GradientsView(QtWidgets.QWidget):
    """Gradient densities at each layer's output, grad:data bars and weight-gradient densities of one record."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grad_panel = HistPanel("Gradients at layer outputs", "gradient", "")
        self.ratio_panel = RatioBars()
        self.wgrad_panel = HistPanel("Weight gradients", "gradient", "")
        self.panels = [self.grad_panel, self.ratio_panel, self.wgrad_panel]
        gg = QtWidgets.QGridLayout(self)
        gg.setContentsMargins(0, 0, 0, 0)
        gg.addWidget(self.grad_panel, 0, 0, 1, 2)
        gg.addWidget(self.ratio_panel, 1, 0)
        gg.addWidget(self.wgrad_panel, 1, 1)
        for p, key in ((self.grad_panel, "gradients"), (self.ratio_panel, "grad-data"),
                       (self.wgrad_panel, "weight-gradients")):
            corner_help_button(p, key)
        self._key = None
        self._t = 0.0

    def invalidate(self) -> None:
        self._key = None

    def render(self, recs: list) -> bool:
        rec = next((r for r in recs if r.history.latest is not None and r.status != RunStatus.INVALID), None)
        snap = rec.history.latest if rec is not None else None
        key = (rec.id if rec else None, id(snap))
        if key == self._key:
            return False
        now = time.monotonic()
        if (rec is not None and rec.status == RunStatus.RUNNING and self._key is not None and self._key[0] == key[0]
                and now - self._t < SNAPSHOT_REDRAW_S):
            return False  # a streaming run: at most 4 redraws a second (see SNAPSHOT_REDRAW_S)
        self._key, self._t = key, now
        if snap is None:
            for p in self.panels:
                p.clear()
            return True
        block_of = rec.block_of
        layers = drawn_layers(rec, snap)
        where = "at init" if snap.step == 0 else f"step {snap.step:,}"
        tag = run_tag(rec.name) if len(recs) > 1 else ""
        self.grad_panel.set_title("Gradients at layer outputs")
        for p in self.panels:  # several runs selected: these are the first one's (named on the axis)
            what = "matrix" if p is self.ratio_panel else "gradient"
            p.set_xlabel(f"{where}, {tag}" if tag else f"{what}, {where}")
        self.grad_panel.update_hists([s.name for s in layers], [s.grad_hist for s in layers],
                                     [f"{s.name}  σ {s.grad_std:.1e}" for s in layers], block_of,
                                     secondary=secondary_layers(snap))
        mats = [p for p in snap.params if p.is_matrix]
        self.ratio_panel.set_title("grad:data")
        self.ratio_panel.update_bars(snap, block_of)
        self.wgrad_panel.set_title("Weight gradients")
        self.wgrad_panel.update_hists([p.name for p in mats], [p.grad_hist for p in mats],
                                      [f"{short_name(p.name)} σ {p.grad_std:.1e}" for p in mats], block_of)
        return True
