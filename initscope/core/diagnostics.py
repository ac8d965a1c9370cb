"""Per-layer and per-parameter statistics: the numbers every panel shows.

Computed only on snapshot steps, from tensors the forward pass kept (`Net.forward_keep`), with one
host transfer at the end. A Snapshot is plain data (floats and numpy arrays), safe to hand to
another thread and to keep.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from initscope.core.budget import ONE_HOT_MAX
from initscope.core.config import ACTIVATIONS, DiagConfig
from initscope.core.kinds import TAIL_INPUT, family
from initscope.core.model import Net

# the plain-data results live in a torch-free module (the window unpickles them before torch is imported)
from initscope.core.snapshot import Histogram, LayerStats, ParamStats, Snapshot, StepScalars


def _moments(sums: torch.Tensor, sumsq: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased std (as torch.std) from float64 sums and sums of squares."""
    mean = sums / n
    return mean, ((sumsq - sums * mean) / (n - 1)).clamp_min(0).sqrt()


def _param_moments(gs: list[torch.Tensor], ps: list[torch.Tensor], lay: "_Layout"):
    """Mean and std of each gradient, std of each parameter (float64, in parameter order).

    Matrices (the embedding, Linear weights): from sums and fused `_foreach_norm`s, a few ops for all of them;
    their means are small next to their stds, so sums of squares lose nothing. 1-D parameters (BatchNorm's
    gamma sits at 1 +- 1e-3) would cancel catastrophically that way: they get two passes (mean, then the
    centred squares), all in one small matmul each."""
    mats, vecs = lay.mats, lay.vecs
    xs = [gs[j] for j in mats] + [ps[j] for j in mats]
    sums = torch.stack([x.sum() for x in xs]).double()
    norms = torch.stack(torch._foreach_norm(xs)).double()
    mean_m, std_m = _moments(sums, norms * norms, lay.mat_n2)
    k = len(mats)
    parts_mean, parts_gstd, parts_dstd = [mean_m[:k]], [std_m[:k]], [std_m[k:]]
    if vecs:  # two passes over all of them at once: one flat (2, n) tensor and a one-hot element -> vector map
        flat = torch.stack([torch.cat([gs[j] for j in vecs]), torch.cat([ps[j] for j in vecs])]).double()
        n = lay.vec_n
        mean = lay.vec_sums(flat) / n  # (2, vectors)
        centred = flat - mean[:, lay.vcol]
        std = (lay.vec_sums(centred * centred) / (n - 1)).sqrt()
        parts_mean.append(mean[0])
        parts_gstd.append(std[0])
        parts_dstd.append(std[1])
    order = lay.param_order  # mats then vecs -> parameter order
    return (torch.cat(parts_mean)[order], torch.cat(parts_gstd)[order], torch.cat(parts_dstd)[order])


def _column_hist(x: torch.Tensor, col_seg: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, n: int,
                 bins: int, offset: torch.Tensor) -> torch.Tensor:
    """One histogram per group of columns of a (batch, width) tensor, over each group's [lo, hi], in one bincount.

    lo / hi are per group; scale and shift broadcast along the batch, so nothing of batch x width size is
    gathered. offset: col_seg * bins (the first bin of each column's group)."""
    scale = bins / (hi - lo).clamp_min(1e-12)
    pos = torch.addcmul((-lo * scale)[col_seg], x, scale[col_seg])  # (x - lo) / span * bins in one pass
    return _bincount(pos.clamp_(0, bins - 1).add_(offset), n * bins).view(n, bins)


def _bincount(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Counts of the float indices in [0, n) (truncated); NaN (a diverging run's values) goes to a dropped extra bin."""
    idx = idx.reshape(-1).nan_to_num_(nan=float(n)).long()
    return torch.bincount(idx, minlength=n + 1)[:n].to(torch.float32)


def _matrix_hists(gs: list[torch.Tensor], gm: torch.Tensor, bins: int, lay: "_Layout") -> torch.Tensor:
    """Histogram of each tensor over its own [-gm, gm], in one bincount: each tensor is scaled straight into
    its block of bins of a scratch buffer (no per-element gather of its range, no concatenation), the top
    edge clamped into the last bin. Values are >= 0, so truncation to integers is floor."""
    scale = (bins / 2) / gm
    for j, (x, a, out, c) in enumerate(zip(gs, scale.unbind(), lay.mat_views, lay.mat_centres)):
        torch.addcmul(c, x, a, out=out).clamp_(j * bins, j * bins + bins - 1)
    return _bincount(lay.mat_buf, len(gs) * bins).view(len(gs), bins)


def _abs_max(xs: list[torch.Tensor]) -> torch.Tensor:
    """max |x| of each tensor: two fused calls where torch has _foreach_max (2.4+); the CPU inf-norm
    (_foreach_norm(ord=inf)) is 5x slower than either."""
    if hasattr(torch, "_foreach_max"):
        return torch.stack(torch._foreach_max(torch._foreach_abs(xs)))
    return torch.stack([x.abs().amax() for x in xs])




class _Layout:
    """Index tensors that depend only on the net's shapes (column -> layer, element -> matrix), built once per
    net and reused by every snapshot: rebuilding them cost as much as a third of a snapshot."""

    def __init__(self, net: Net, outs: list[torch.Tensor], bins: int, acts_only: bool = False):
        dev = outs[0].device if outs else next(net.parameters()).device
        # the layers: every non-Linear entry (activations, norms, residual streams), or the activations only
        # (the per-step tier and the history's columns)
        self.act = [(i, spec.kind) for i, spec in enumerate(net.specs)
                    if spec.kind != "linear" and (not acts_only or spec.kind in ACTIVATIONS)]
        fams = [family(k) if k in ACTIVATIONS else None for _, k in self.act]
        widths = [outs[i].shape[1] for i, _ in self.act]
        n_l = len(widths)
        self.widths = widths
        self.col = torch.repeat_interleave(torch.arange(n_l, device=dev), torch.tensor(widths, dtype=torch.long, device=dev))
        self.col2 = torch.cat([self.col, self.col + n_l])  # outputs' columns, then gradients' (collect's og)
        self.col2_off = self.col2 * bins
        # histogram ranges: tanh [-1, 1], sigmoid [0, 1], ReLU [0, max], GELU / SiLU from their minimum
        # (-0.17, -0.28) to max; norms and streams +-max
        lo = {"tanh": -1.0, "sigmoid": 0.0, "relu": 0.0, "gelu": -0.2, "silu": -0.3}
        hi = {"tanh": 1.0, "sigmoid": 1.0}
        self.act_lo = torch.tensor([lo.get(k, 0.0) for _, k in self.act], device=dev)
        self.lo_sym = torch.tensor([k not in lo for _, k in self.act], device=dev, dtype=torch.bool)
        self.fixed_hi = torch.tensor([hi.get(k, math.nan) for _, k in self.act], device=dev)
        self.free_hi = torch.isnan(self.fixed_hi)
        # column -> layer sums: by a one-hot matmul while the table is small (fast), by index_add_ above that
        # (1000 x (Linear 100, Tanh) made a 0.8 GB table that the memory budget did not count; issue 20)
        self.n_l = n_l
        self.member = (nn.functional.one_hot(self.col, n_l).to(torch.float64)
                       if n_l and n_l * len(self.col) <= ONE_HOT_MAX else None)
        # saturation per family (core/kinds.py): column masks for the families present
        self.all_tanh = all(f == "tanh" for f in fams)
        self.tanh_and_none = "tanh" in fams and set(fams) <= {"tanh", None}
        self.fam_cols = {f: torch.tensor([g == f for g in fams], device=dev, dtype=torch.bool)[self.col]
                         for f in ("tanh", "sigmoid", "relu") if f in fams and n_l}
        starts = np.cumsum([0] + widths[:-1]).tolist()
        self.tail = [(j, i, starts[j]) for j, ((i, _), f) in enumerate(zip(self.act, fams)) if f == "tail"]
        self.has_sat = [f is not None for f in fams]
        # NaN for layers without a saturation (norms, residual streams): the saturation panel skips them
        self.sat_scale = torch.tensor([1.0 if h else math.nan for h in self.has_sat], dtype=torch.float64, device=dev)
        self.width_t = torch.tensor(widths, dtype=torch.float64, device=dev)
        named = net.named_params()
        self.mats = [j for j, (_, p) in enumerate(named) if p.dim() == 2]
        self.named = named
        self.mat_params = [named[j][1] for j in self.mats]
        # scratch for the weight-gradient histograms' bin indices (one float per matrix element)
        self.mat_buf = torch.empty(sum(named[j][1].numel() for j in self.mats), device=dev)
        ends = np.cumsum([named[j][1].numel() for j in self.mats]).tolist()
        self.mat_views = [self.mat_buf[a:b].view(named[j][1].shape)  # each matrix's block, shaped like it
                          for j, a, b in zip(self.mats, [0] + ends[:-1], ends)]
        self.mat_centres = [torch.tensor(bins / 2 + m * bins, device=dev) for m in range(len(self.mats))]
        self.vecs = [j for j, (_, p) in enumerate(named) if p.dim() != 2]
        numel = [p.numel() for _, p in named]
        vn = torch.tensor([numel[j] for j in self.vecs], dtype=torch.long, device=dev)
        vcol = torch.repeat_interleave(torch.arange(len(self.vecs), device=dev), vn)
        self.vcol = vcol
        self.vec_member = (nn.functional.one_hot(vcol, len(self.vecs)).to(torch.float64)
                           if self.vecs and len(self.vecs) * len(vcol) <= ONE_HOT_MAX else None)
        self.vec_n = vn.to(torch.float64)
        self.mat_n2 = torch.tensor([numel[j] for j in self.mats], dtype=torch.float64, device=dev).repeat(2)
        self.param_order = torch.argsort(torch.tensor(self.mats + self.vecs, device=dev))
        self.key = self.make_key(net, outs, bins)

    def layer_sums(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, columns) float64 -> (rows, layers): each layer's columns summed."""
        if self.member is not None:
            return x @ self.member
        return x.new_zeros(x.shape[0], self.n_l).index_add_(1, self.col, x)

    def vec_sums(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, elements of the 1-D parameters) float64 -> (rows, 1-D parameters): each one's elements summed."""
        if self.vec_member is not None:
            return x @ self.vec_member
        return x.new_zeros(x.shape[0], len(self.vecs)).index_add_(1, self.vcol, x)

    def saturated(self, o: torch.Tensor, outs: list[torch.Tensor], thr: float) -> torch.Tensor:
        """Bool (batch, columns): saturated units by each layer's family (core/kinds.py); False where none is
        defined. GELU / SiLU's rule reads the activation's input: the previous entry's output."""
        if self.all_tanh:
            return o.abs() > thr
        if self.tanh_and_none:  # the lecture's nets with their norms listed: one mask, no scratch tensor
            return (o.abs() > thr).logical_and_(self.fam_cols["tanh"])
        sat = torch.zeros(o.shape, dtype=torch.bool, device=o.device)
        if "tanh" in self.fam_cols:
            sat |= self.fam_cols["tanh"] & (o.abs() > thr)
        if "sigmoid" in self.fam_cols:
            sat |= self.fam_cols["sigmoid"] & ((2 * o - 1).abs() > thr)
        if "relu" in self.fam_cols:
            sat |= self.fam_cols["relu"] & (o <= 0)
        for j, i, start in self.tail:
            x = outs[i - 1] if i > 0 else outs.input  # type: ignore[attr-defined]
            sat[:, start:start + self.widths[j]] = x < TAIL_INPUT
        return sat

    @staticmethod
    def make_key(net: Net, outs: list[torch.Tensor], bins: int) -> tuple:
        # a Net never changes its parameters' shapes; the outputs' widths and device say if it is another one
        return (bins, tuple(o.shape[1] for o in outs), outs[0].device if outs else None)


def _layout(net: Net, outs: list[torch.Tensor], bins: int, acts_only: bool = False) -> _Layout:
    attr = "_diag_layout_acts" if acts_only else "_diag_layout"
    cached = getattr(net, attr, None)
    if cached is None or cached.key != _Layout.make_key(net, outs, bins):
        cached = _Layout(net, outs, bins, acts_only)
        net.__dict__[attr] = cached  # plain attribute: not a submodule, not in the state dict
    return cached


def collect(net: Net, outs: list[torch.Tensor], loss: torch.Tensor, lr: float, step: int,
            diag: DiagConfig) -> Snapshot:
    """Statistics of the kept layer outputs and of every parameter, after backward (and the update, if any).

    Layers are handled as the columns of one (batch, total width) tensor: their sums, sums of squares and
    saturated counts per layer come from one matmul against a column -> layer map, and histograms from one
    bincount for both kinds; parameter norms from fused `_foreach_norm` calls. A snapshot costs ~180 small ops
    and two transfers to the host (and one for the saturated map). update:data uses the weights as they are now, after the update, as the lecture does.
    """
    bins, thr = diag.hist_bins, diag.saturation_threshold
    lay = _layout(net, outs, bins)
    act = lay.act
    with torch.inference_mode():  # like no_grad, minus version counters and view tracking
        # --- activation layers --------------------------------------------------------------------
        n_l = len(act)
        dev = lay.width_t.device
        rows_t = torch.zeros(0, dtype=torch.float64, device=dev)  # layer rows, then parameter rows
        hists_t = torch.zeros(0, device=dev)  # layer histograms, then weight-gradient ones
        maps: list[np.ndarray | None] = [None] * n_l
        if n_l:
            os_ = [outs[i] for i, _ in act]  # under no_grad: no detach needed (each is one more op)
            gs_ = [outs[i].grad if outs[i].grad is not None else torch.zeros_like(outs[i]) for i, _ in act]
            o, g = torch.cat(os_, dim=1), torch.cat(gs_, dim=1)
            sat = lay.saturated(o, outs, thr)
            satf_col = sat.to(o.dtype)
            og = torch.cat([o, g], 1)  # outputs then gradients: 2 x layers groups of columns, handled as one
            w = o.shape[1]
            per_col = torch.cat([og.sum(0).view(2, w), (og * og).sum(0).view(2, w), satf_col.sum(0).view(1, w),
                                 satf_col.prod(0).view(1, w)])  # prod of 0/1: saturated for every example
            per_layer = lay.layer_sums(per_col.double())  # (6, layers): sums (out, grad), squares (out, grad), sat, dead
            counts = lay.width_t * o.shape[0]
            mean, std = _moments(per_layer[0:2], per_layer[2:4], counts)  # rows: outputs, gradients
            # per group: max |out| (ReLU's histogram range; tanh's is [-1, 1]) and max |grad|
            mx = og.new_zeros(2 * n_l).scatter_reduce(0, lay.col2, og.abs().amax(0), "amax", include_self=False)
            gm = mx[n_l:].clamp_min(1e-12)
            mo = mx[:n_l].clamp_min(1e-6)
            lo2 = torch.cat([torch.where(lay.lo_sym, -mo, lay.act_lo), -gm])
            hi2 = torch.cat([torch.where(lay.free_hi, mo, lay.fixed_hi), gm])
            hists = _column_hist(og, lay.col2, lo2, hi2, 2 * n_l, bins, lay.col2_off)
            # rows: mean (out, grad), std (out, grad), saturated fraction, dead, range (out lo, hi; grad lo, hi)
            ranges = torch.stack([lo2, hi2]).view(2, 2, n_l).transpose(0, 1).reshape(4, n_l).double()
            rows_t = torch.cat([mean, std, per_layer[4:5] / counts * lay.sat_scale, per_layer[5:6], ranges]).T.reshape(-1)
            hists_t = hists.reshape(-1)  # [kind, layer, bin]
            maps = np.split(sat.cpu().numpy(), np.cumsum(lay.widths)[:-1], axis=1)
        # --- parameters -----------------------------------------------------------------------------
        named = lay.named
        ps = [p for _, p in named]  # under no_grad: read as they are
        gs = [p.grad if p.grad is not None else torch.zeros_like(p) for _, p in named]
        pgmean, pgstd, dstd = _param_moments(gs, ps, lay)
        mats = lay.mats
        gm_mats = [gs[j] for j in mats]
        pgm = _abs_max(gm_mats).clamp_min(1e-12)  # max |grad| per matrix: the histogram's range
        # the ranges ride along as a last column (max |grad| is a float32 value, kept exactly)
        hist_gm = torch.cat([_matrix_hists(gm_mats, pgm, bins, lay), pgm.view(-1, 1).float()], 1)
        prow = torch.stack([dstd, pgmean, pgstd, pgstd / dstd, torch.log10(lr * pgstd / dstd)], 1)
        # two transfers to the host for every number of the snapshot: float64 scalars, float32 histograms
        rows = torch.cat([rows_t, prow.reshape(-1)]).cpu().numpy()
        hist = torch.cat([hists_t, hist_gm.reshape(-1)]).cpu().numpy()
        layer_rows, param_rows = rows[: 10 * n_l].reshape(n_l, 10), rows[10 * n_l:].reshape(-1, 5)
        layer_hists = hist[: 2 * n_l * bins].reshape(2, n_l, bins)
        hist_gm = hist[2 * n_l * bins:].reshape(len(mats), bins + 1)
        loss_v = float(loss)
    snap = Snapshot(step=step, loss=loss_v, lr=lr, ref_loss=math.log(net.vocab_size))
    for j, ((idx, kind), r) in enumerate(zip(act, layer_rows.tolist())):
        snap.layers.append(LayerStats(
            index=idx, name=net.names[idx], kind=kind, mean=r[0], std=r[2], saturation=r[4],
            dead=int(r[5]), width=lay.widths[j], hist=Histogram(layer_hists[0, j], r[6], r[7]),
            grad_mean=r[1], grad_std=r[3], grad_hist=Histogram(layer_hists[1, j], r[8], r[9]),
            sat_map=maps[j] if lay.has_sat[j] else None))
    hist_of = {j: (hist_gm[m, :-1], float(hist_gm[m, -1])) for m, j in enumerate(mats)}
    for j, ((name, p), r) in enumerate(zip(named, param_rows.tolist())):
        snap.params.append(ParamStats(
            name=name, shape=tuple(p.shape), is_matrix=j in hist_of, data_std=r[0], grad_mean=r[1],
            grad_std=r[2], grad_data=r[3], update_data_log10=r[4],
            grad_hist=Histogram(hist_of[j][0], -hist_of[j][1], hist_of[j][1]) if j in hist_of else None))
    return snap


def forward_for_diagnostics(net: Net, idx: torch.Tensor, all_layers: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Forward keeping every layer's output, with retain_grad on the layers `collect` reads (every non-Linear
    entry) or, all_layers False, on the activations only (the per-step tier's). Net.forward_keep retains all
    of them, Linears too, which costs more per step."""
    if all_layers:
        return net.run_flat(net.embedding(idx).flatten(1), _NOT_LINEAR)
    return net.run_flat(net.embedding(idx).flatten(1), _IS_ACTIVATION)


def _NOT_LINEAR(r) -> bool:
    return r.kind != "linear"


def _IS_ACTIVATION(r) -> bool:
    return r.kind in ACTIVATIONS


def bn_buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.named_buffers()}


def step0_snapshot(net: Net, x: torch.Tensor, y: torch.Tensor, lr: float, diag: DiagConfig) -> Snapshot:
    """What this init does: one forward and backward on a batch, no update, net left as it was."""
    saved = bn_buffers(net)  # a training-mode forward moves BatchNorm's running stats; put them back
    was_training = net.training
    net.train()
    net.zero_grad(set_to_none=True)
    logits, outs = forward_for_diagnostics(net, x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    snap = collect(net, outs, loss, lr, 0, diag)
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        for k, v in net.named_buffers():
            v.copy_(saved[k])
    net.train(was_training)
    return snap


# --- the per-step tier --------------------------------------------------------------------------------------
class StepStats:
    """The cheap per-step tier: saturation, std and gradient std per activation layer, update:data per weight
    matrix, every step, without a host sync.

    The step's forward is `forward_for_diagnostics` (activation gradients retained). Each step appends one row
    (a device tensor) to a pending list; `take()` reads the pending rows back in one transfer, with the loss
    chunk. A row costs about 60 small ops, sharing `collect`'s layout: activation outputs and gradients are
    the columns of one tensor, summed per layer by one matmul against the column -> layer map; matrix moments
    come from sums and one fused `_foreach_norm`, all in float64.
    """

    def __init__(self, net: Net, diag: DiagConfig):
        self.net, self.diag = net, diag
        self.n_layers = sum(spec.kind in ACTIVATIONS for spec in net.specs)
        self._rows: list[torch.Tensor] = []
        self._first: int | None = None

    @torch.inference_mode()
    def row(self, outs: list[torch.Tensor], lr: float) -> torch.Tensor:
        """[saturation, act std, grad std] per layer, then log10 update:data per matrix, as one device tensor.
        Call after backward and the update (update:data uses the weights after it, as the lecture does)."""
        lay = _layout(self.net, outs, self.diag.hist_bins, acts_only=True)
        thr = self.diag.saturation_threshold
        parts = []
        if lay.act:
            o = torch.cat([outs[i] for i, _ in lay.act], 1)
            g = torch.cat([outs[i].grad if outs[i].grad is not None else torch.zeros_like(outs[i])
                           for i, _ in lay.act], 1)
            sat = lay.saturated(o, outs, thr)
            og = torch.cat([o, g], 1)
            # per column: sums of out and grad, of their squares, saturated count; then per layer by one matmul
            sums = lay.layer_sums(torch.cat([og, og * og, sat.to(o.dtype)], 1).sum(0).view(5, -1).double())
            n = lay.width_t * o.shape[0]
            _, std = _moments(sums[0:2], sums[2:4], n)  # rows: outputs, gradients
            parts += [sums[4] / n, std.reshape(-1)]
        if lay.mats:
            mats = lay.mat_params
            xs = [p.grad if p.grad is not None else torch.zeros_like(p) for p in mats] + mats  # no_grad: as they are
            s = torch.stack([x.sum() for x in xs]).double()
            q = torch.stack(torch._foreach_norm(xs)).double()
            _, sd = _moments(s, q * q, lay.mat_n2)
            k = len(mats)
            parts.append(torch.log10(lr * sd[:k] / sd[k:]))
        return torch.cat(parts)

    def record(self, step: int, outs: list[torch.Tensor], lr: float) -> None:
        if self._first is None:
            self._first = step
        self._rows.append(self.row(outs, lr))

    def take(self) -> StepScalars | None:
        """The rows recorded since the last take, read back in one transfer (None when there are none)."""
        if not self._rows:
            return None
        a = torch.stack(self._rows).float().cpu().numpy()
        first = self._first
        self._rows, self._first = [], None
        n_l = self.n_layers
        return StepScalars(first, a[:, :n_l], a[:, n_l:2 * n_l], a[:, 2 * n_l:3 * n_l], a[:, 3 * n_l:])

