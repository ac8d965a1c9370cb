"""What mean-field signal-propagation theory predicts for a freshly initialised net, layer by layer.

For wide layers at init every pre-activation is Gaussian over units and examples, with a variance `q`
that one recursion carries from layer to layer (Poole et al. 2016, "Exponential expressivity in deep
neural networks through transient chaos"; Schoenholz et al. 2017, "Deep information propagation"):

    q_l = var(W) * fan_in * E[x^2] + bias_std^2        x = the layer's input (the previous activation)

and gradients shrink or grow from layer to layer by chi = var(W) * fan_in * E[phi'(h)^2]. A BatchNorm
resets the variance to gamma^2 (1 at init). Everything here follows the app's own init policy
(`core/model.py:init_weights`): the embedding's N(0, 1) entries, kaiming's 1/fan_in or naive's 1, the
gain on every hidden Linear, the output layer's factor, the hidden and output bias std, a Linear before a
BatchNorm having no bias, and a stack ending in BatchNorm scaling that BatchNorm's gamma instead.

How it is computed: between two Linears every unit is a monotone function of one standard Gaussian z
(Linear output sqrt(q) z, then BatchNorm = an affine map, Tanh, ReLU), so a segment is a short list of
elementwise ops. Expectations over z use Gauss-Legendre panels split where tanh bends and where ReLU
kinks (found by bisection, since every op is nondecreasing). Plain Gauss-Hermite is the textbook choice,
but measured it is off by 5e-3 on E[sech^4] at q = 25 (the naive presets) even with 201 nodes, and by 3e-3
on E[relu] with 101: the kink and the narrow bend are not polynomial-like. The panels agree with a
400,000-point trapezoid rule to 1e-7 (tests/test_theory.py).

Beyond the lecture's kinds: GELU, SiLU and sigmoid are elementwise ops like tanh; LayerNorm and RMSNorm
normalise each example over its features, which for a wide layer of i.i.d. units is one affine map (q back to
1, up to eps); a residual addition starts a new segment, the stream taken as Gaussian with variance
q_stream + scale^2 q_branch (exact when both end at a Linear: the branch's last weights are independent of
the stream), and in the backward pass a stream's gradient is the sum of the identity path and the branch's,
independent, so their E[g^2] add. Orthogonal weights give the q map of i.i.d. weights of variance
1 / max(fan_in, fan_out); LSUV sets each hidden Linear's q to 1.

Approximations, stated: infinite width, infinite batch, weights and backward signals independent (the
"gradient independence" assumption). Through a BatchNorm the backward pass is taken per feature
(gamma / sigma of the feature over the batch) and its batch-coupling projection is left out; for ReLU +
BatchNorm this per-feature sigma excludes each unit's batch-mean offset, which is what gives the known
pi / (pi - 1) gradient growth per layer (Yang et al. 2019, "A mean field theory of batch normalization").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
from numpy.polynomial.legendre import leggauss

from initscope.core.config import ACTIVATIONS, NORMS, Config, ResolvedLayer, deep_stack
from initscope.core.errors import ConfigError
from initscope.core.kinds import TAIL_INPUT, family

BN_EPS = 1e-5  # torch.nn.BatchNorm1d's and LayerNorm's default, which Net uses
RMS_EPS = float(np.finfo(np.float32).eps)  # torch.nn.RMSNorm's eps=None: the dtype's eps
_ZMAX = 12.0  # |z| beyond 12 carries < 1e-32 of the Gaussian
_GL_X, _GL_W = leggauss(24)
_DENSE_Z = np.linspace(-_ZMAX, _ZMAX, 200_001)
_DENSE_W = np.exp(-0.5 * _DENSE_Z ** 2)
_DENSE_W /= _DENSE_W.sum()
_BENDS = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])  # where tanh's input bends it (and ReLU's kink)


@dataclass
class LayerPrediction:
    """The prediction for one activation layer (the same rows as the snapshot's LayerStats)."""

    index: int  # position in the layer stack
    name: str  # "L2 Tanh"
    kind: str  # "tanh" | "relu"
    q: float  # variance of the layer's input (its pre-activation)
    mean: float  # of the layer's output
    std: float
    saturation: float  # fraction: P(|tanh| > threshold) for tanh, P(out == 0) for ReLU
    chi: float  # var(W) * fan_in * E[(d out / d Linear output)^2]: the backward factor of this layer
    grad_ratio: float  # predicted gradient std at this layer's output / at the last activation layer's
    grad_std: float  # predicted gradient std of the batch-mean cross-entropy at this layer's output

    def to_dict(self) -> dict:
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in asdict(self).items()}


# --- one segment: every unit a monotone function of one standard Gaussian z ---------------------------------

class _Segment:
    """A Linear's output sqrt(q) z followed by elementwise ops: ("bn", a_fwd, b, a_bwd), ("tanh",), ("relu",)."""

    def __init__(self, q: float, offset_var: float = 0.0):
        self.q = q
        self.offset_var = offset_var  # variance of each unit's batch mean (bias, inputs' nonzero mean)
        self.ops: list[tuple] = []
        self._nodes: tuple[int, np.ndarray, np.ndarray] | None = None

    def values(self, z: np.ndarray) -> list[np.ndarray]:
        """The value before each op and after the last one: len(ops) + 1 arrays."""
        v = math.sqrt(self.q) * z
        out = [v]
        for op in self.ops:
            v = _apply(op, v)
            out.append(v)
        return out

    def crossing(self, k: int, targets: np.ndarray) -> np.ndarray:
        """z at which the input of op k (k = len(ops): the end) first exceeds each target (bisection; +-ZMAX if never)."""
        if all(op[0] == "bn" for op in self.ops[:k]):  # still affine in z: solve directly
            a, b = math.sqrt(self.q), 0.0
            for op in self.ops[:k]:
                a, b = op[1] * a, op[1] * b + op[2]
            if a > 0:
                return np.clip((targets - b) / a, -_ZMAX, _ZMAX)
        lo = np.full(targets.shape, -_ZMAX)
        hi = np.full(targets.shape, _ZMAX)
        for _ in range(52):  # 24 / 2^52: below double precision
            mid = 0.5 * (lo + hi)
            above = self.values(mid)[k] > targets
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        return hi

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature nodes and weights for E over z ~ N(0, 1), with panel edges at every bend of the chain."""
        if self._nodes is not None and self._nodes[0] == len(self.ops):
            return self._nodes[1], self._nodes[2]
        edges = [np.arange(-_ZMAX, _ZMAX + 1e-9, 1.0)]
        for k, op in enumerate(self.ops):
            if op[0] != "bn" and self.monotone(k):  # after a GELU / SiLU the chain bends back: fixed panels
                edges.append(self.crossing(k, np.concatenate([-_BENDS[::-1], _BENDS[1:]])))
        e = np.unique(np.clip(np.concatenate(edges), -_ZMAX, _ZMAX))
        e = e[np.concatenate([[True], np.diff(e) > 1e-12])]
        a, b = e[:-1, None], e[1:, None]
        z = (0.5 * (b - a) * _GL_X + 0.5 * (a + b)).ravel()
        w = (0.5 * (b - a) * _GL_W).ravel() * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        w = w / w.sum()
        self._nodes = (len(self.ops), z, w)
        return z, w

    def monotone(self, k: int) -> bool:
        """The input of op k is nondecreasing in z: no GELU / SiLU (which dip below 0) before it."""
        return not any(op[0] in ("gelu", "silu") for op in self.ops[:k])

    def prob_above(self, k: int, ts: list[float]) -> list[float]:
        """P(input of op k > t) for each t: where the chain is nondecreasing in z, 1 - Phi(crossing); else
        by a 200,001-point rule."""
        t = np.array(ts, float)
        if not self.monotone(k):
            v = self.values(_DENSE_Z)[k]
            return [float(_DENSE_W @ (v > ti)) for ti in t]
        zc = self.crossing(k, t)
        top = self.values(np.full(t.shape, _ZMAX))[k]
        return [0.0 if (c >= _ZMAX and v <= ti) else 0.5 * math.erfc(c / math.sqrt(2)) for c, v, ti in zip(zc, top, t)]


def _Phi(v: np.ndarray) -> np.ndarray:
    """The standard normal CDF, elementwise (numpy has no erf; torch's, in float64). torch is imported here, not
    at the top: the window imports this module before torch is loaded (its launch waits for the first preview)."""
    import torch

    return 0.5 * (1.0 + torch.special.erf(torch.from_numpy(np.asarray(v, float) / math.sqrt(2))).numpy())


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))  # overflow-free


def _apply(op: tuple, v: np.ndarray) -> np.ndarray:
    k = op[0]
    if k == "bn":  # any affine norm op (BatchNorm, LayerNorm, RMSNorm in the wide limit)
        return op[1] * v + op[2]
    if k == "tanh":
        return np.tanh(v)
    if k == "relu":
        return np.maximum(v, 0.0)
    if k == "gelu":
        return v * _Phi(v)  # nn.GELU(approximate='none')
    if k == "silu":
        return v * _sigmoid(v)
    return _sigmoid(v)


def _deriv(op: tuple, v: np.ndarray) -> np.ndarray:
    """d op / d input at input v, as the backward pass sees it (BatchNorm: per-feature gamma / sigma)."""
    k = op[0]
    if k == "bn":
        return np.full_like(v, op[3])
    if k == "tanh":
        return 1.0 - np.tanh(v) ** 2
    if k == "relu":
        return (v > 0).astype(float)
    if k == "gelu":
        return _Phi(v) + v * np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)
    sg = _sigmoid(v)
    if k == "silu":
        return sg * (1.0 + v * (1.0 - sg))
    return sg * (1.0 - sg)


def _moments(seg: _Segment) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    z, w = seg.nodes()
    return z, w, seg.values(z)


# --- the whole stack ---------------------------------------------------------------------------------------

def _weight_var(scheme: str, fan_in: int, fan_out: int) -> float:
    """Variance per weight of a Linear under `scheme`, before the gain (init_weights' draws). Orthogonal rows
    or columns of unit norm act on a wide input like i.i.d. weights of variance 1/max(fan_in, fan_out)."""
    if scheme == "kaiming":
        return 1.0 / fan_in
    if scheme == "naive":
        return 1.0
    if scheme == "torch-default":
        return 1.0 / (3.0 * fan_in)  # U(+-1/sqrt(fan_in))
    if scheme in ("xavier-normal", "xavier-uniform"):
        return 2.0 / (fan_in + fan_out)
    return 1.0 / max(fan_in, fan_out)  # orthogonal, and LSUV's start


def _linear_plan(cfg: Config, flat: list[ResolvedLayer]) -> tuple[dict[int, dict], int | None, float]:
    """Per flat index of every Linear: fan_in, fan_out, weight variance and bias variance, as init_weights sets
    them (LSUV's hidden layers are marked: their scale comes from the forward pass); and the stack's closing
    norm (if any) with its gamma."""
    ini = cfg.init
    out_i = next(r.index for r in flat if r.kind == "linear" and r.is_output)
    norms = [r.index for r in flat if r.kind in NORMS]
    ends_in_norm = bool(norms) and norms[-1] > out_i
    n_blocks = sum(r.kind == "residual" for r in flat)
    plan = {}
    for r in flat:
        if r.kind != "linear":
            continue
        var_w = _weight_var(ini.scheme, r.fan_in, r.width)
        lsuv_target = None
        if not r.is_output:
            if ini.scheme == "lsuv":
                lsuv_target = 1.0
            else:
                var_w *= ini.gain ** 2
        elif ini.output_scaling and not ends_in_norm:
            var_w *= ini.output_factor ** 2
        if r.branch_last_linear and ini.residual_scaling == "gpt2":
            if lsuv_target is not None:
                lsuv_target /= 2 * n_blocks
            else:
                var_w /= 2 * n_blocks
        zero = r.branch_last_linear and ini.residual_scaling == "zero"
        if ini.scheme == "torch-default":
            bias_var = 1.0 / (3.0 * r.fan_in) if r.bias else 0.0
        else:
            bias_var = ((ini.hidden_bias_std if not r.is_output else ini.output_bias_std) ** 2) if r.bias else 0.0
        if zero:
            var_w, bias_var, lsuv_target = 0.0, 0.0, None
        plan[r.index] = {"fan_in": r.fan_in, "fan_out": r.width, "var_w": var_w, "bias_var": bias_var,
                         "lsuv": lsuv_target}
    gamma_last = ini.output_factor if ends_in_norm and ini.output_scaling else 1.0
    return plan, (norms[-1] if ends_in_norm else None), gamma_last


_SAMPLES: dict[int, np.ndarray] = {}


def _normal_sample(n: int) -> np.ndarray:
    if n not in _SAMPLES:  # fixed seed: the same config always gets the same number
        _SAMPLES[n] = np.random.default_rng(0).standard_normal((500, n))
    return _SAMPLES[n]


def _softmax_sq(seg: _Segment, pos: int, vocab_size: int) -> float:
    """E[sum_c p_c^2] of the softmax of vocab_size iid logits distributed as the segment's value at `pos`
    (fixed-seed sample)."""
    z = _normal_sample(vocab_size)
    logits = seg.values(z)[pos]
    logits = logits - logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    return float((p ** 2).sum(1).mean())


def _mean_sq(seg: _Segment, pos: int) -> tuple[float, float]:
    """(E[v], E[v^2]) of the segment's value at `pos`."""
    z, w = seg.nodes()
    v = seg.values(z)[pos]
    return float(w @ v), float(w @ (v * v))


def _forward(flat: list[ResolvedLayer], plan: dict, last_norm: int | None, gamma_last: float):
    """The forward recursion over the resolved stack: (segments, each segment's source, flat index -> where its
    output is (segment, position), where the last value is)."""
    # forward: a segment starts at each Linear (sqrt(q) z) and at each residual addition (the stream, taken
    # as Gaussian: exact when stream and branch both end at a Linear, the usual case); segment 0 is the
    # embedding (entries N(0, 1)). A value is located by (segment, position): before op `position`.
    segs: list[_Segment] = [_Segment(1.0)]
    source: list[tuple] = [("embedding",)]
    cur = (0, 0)
    at: dict[int, tuple[int, int]] = {}  # flat index -> where its output is
    block_in: tuple[int, int] = cur  # the stream where the current residual branch started
    starts = {r.block_start: r.index for r in flat if r.kind == "residual"}
    for r in flat:
        i = r.index
        if i in starts:
            block_in = cur
        k, pos = cur
        seg = segs[k]
        if r.kind == "linear":
            p = plan[i]
            ex, ex2 = _mean_sq(seg, pos)
            if p["lsuv"] is not None:  # LSUV: scaled on the batch so the output variance is its target
                base = p["var_w"] * p["fan_in"] * ex2 + p["bias_var"]
                factor = p["lsuv"] / base if base > 0 else 0.0
                p["var_w"] *= factor
                p["bias_var"] *= factor
            q = p["var_w"] * p["fan_in"] * ex2 + p["bias_var"]
            # each unit's batch mean: W_j . mean(x) plus its bias; BatchNorm subtracts it per feature
            offset = p["var_w"] * p["fan_in"] * ex * ex + p["bias_var"]
            segs.append(_Segment(q, min(offset, q)))
            source.append(("linear", i, k, pos))
            cur = (len(segs) - 1, 0)
        elif r.kind == "residual":
            bk, bpos = cur
            sk, spos = block_in
            es, es2 = _mean_sq(segs[sk], spos)
            eb, eb2 = _mean_sq(segs[bk], bpos)
            q = es2 + r.scale ** 2 * eb2 + 2 * r.scale * es * eb  # branch weights independent of the stream
            off = (segs[sk].offset_var if spos == 0 else 0.0) + r.scale ** 2 * (segs[bk].offset_var if bpos == 0 else 0.0)
            segs.append(_Segment(q, min(off, q)))
            source.append(("residual", i, sk, spos, bk, bpos, r.scale))
            cur = (len(segs) - 1, 0)
        elif r.kind in NORMS:
            if pos != len(seg.ops):
                raise AssertionError("a norm acts at its segment's end")  # values are appended in order
            gamma = gamma_last if i == last_norm else 1.0
            mean, ex2 = _mean_sq(seg, pos)
            var = ex2 - mean * mean
            if r.kind == "batchnorm" and pos == 0:
                # right after a Linear: per feature it sees the variance around its own mean
                var_feat = max(seg.q - seg.offset_var, 0.0)
                a_fwd = gamma * math.sqrt(var_feat / (var_feat + BN_EPS) / max(seg.q, 1e-300))
                seg.ops.append(("bn", a_fwd, -a_fwd * mean, gamma / math.sqrt(var_feat + BN_EPS)))
            elif r.kind == "rmsnorm":
                # per example over features: a wide layer's units are i.i.d., so the example's mean square is E[v^2]
                a = gamma / math.sqrt(max(ex2, 0.0) + RMS_EPS)
                seg.ops.append(("bn", a, 0.0, a))
            else:
                # BatchNorm after an activation; LayerNorm: per example over features, the same mean and
                # variance in the wide limit (its per-example projection in the backward pass is O(1/width))
                a = gamma / math.sqrt(max(var, 0.0) + BN_EPS)
                seg.ops.append(("bn", a, -a * mean, a))
            cur = (k, pos + 1)
        else:
            seg.ops.append((r.kind,))
            cur = (k, pos + 1)
        at[i] = cur

    return segs, source, at, cur


def mean_abs(cfg: Config, vocab_size: int = 27) -> list[float]:
    """Per stack layer: the predicted mean |output| at init, E|x| over units and examples (the width sweep's
    statistic). Nothing in the recursion depends on the width: only on fan-in x var(W), which the init fixes."""
    flat = cfg.model.resolve(vocab_size)
    plan, last_norm, gamma_last = _linear_plan(cfg, flat)
    segs, _, at, _ = _forward(flat, plan, last_norm, gamma_last)
    out = []
    for r in flat:
        k, j = at[r.index]
        z, w, vals = _moments(segs[k])
        out.append(float(w @ np.abs(vals[j])))
    return out


def predict(cfg: Config, vocab_size: int = 27, *, every_layer: bool = False) -> list[LayerPrediction]:
    """Per activation layer of cfg's stack (every_layer: per non-Linear entry, norms and residual streams
    too, as the snapshot lists them): the mean-field prediction at init (see the module docstring).

    vocab_size is the output width (27 for names.txt); the gradient scale also uses cfg.train.batch_size."""
    flat = cfg.model.resolve(vocab_size)
    plan, last_norm, gamma_last = _linear_plan(cfg, flat)
    thr = cfg.diag.saturation_threshold
    a_sat = math.atanh(thr)

    segs, source, at, cur = _forward(flat, plan, last_norm, gamma_last)

    # backward: E[g^2] at every position, from the loss down. The loss is the batch-mean cross-entropy,
    # so the logits' gradient is (softmax - onehot) / B with E|.|^2 = (1 - 2/V + E[sum p^2]) / B^2.
    # Gradients reach a segment at its end (the next Linear's W^T g, or the loss) and, for a residual
    # stream, where each branch starts (the identity path); the paths are independent (gradient
    # independence), so their E[g^2] add.
    B, V = cfg.train.batch_size, vocab_size
    fk, fpos = cur
    inject: list[list[tuple[int, float]]] = [[] for _ in segs]
    inject[fk].append((fpos, (1.0 - 2.0 / V + _softmax_sq(segs[fk], fpos, V)) / (B * B) / V))  # per logit
    gsq: list[np.ndarray] = [np.empty(0)] * len(segs)  # per segment: E[g^2] at each position
    for k in range(len(segs) - 1, -1, -1):
        seg = segs[k]
        z, w, vals = _moments(seg)
        n = len(seg.ops)
        out = np.zeros(n + 1)
        for p_in, G in inject[k]:
            d = np.ones_like(z)
            out[p_in] += G
            for j in range(p_in - 1, -1, -1):
                d = d * _deriv(seg.ops[j], vals[j])
                out[j] += float(w @ (d * d)) * G
        gsq[k] = out
        src = source[k]
        if src[0] == "linear":
            p = plan[src[1]]
            inject[src[2]].append((src[3], p["var_w"] * p["fan_out"] * out[0]))
        elif src[0] == "residual":
            inject[src[2]].append((src[3], out[0]))
            inject[src[4]].append((src[5], src[6] ** 2 * out[0]))

    preds: list[LayerPrediction] = []
    for r in flat:
        i = r.index
        if r.kind == "linear" or (not every_layer and r.kind not in ACTIVATIONS):
            continue
        k, j1 = at[i]
        seg = segs[k]
        z, w, vals = _moments(seg)
        g2 = gsq[k][j1]
        if r.kind == "residual":
            y = vals[0]
            mean = float(w @ y)
            q = float(w @ (y * y)) - mean * mean  # the stream's variance after the addition
            std = math.sqrt(max(q, 0.0))
            src = source[k]
            chi = float(gsq[src[2]][src[3]] / g2) if g2 > 0 else math.nan  # the block's backward factor
            preds.append(LayerPrediction(index=i, name=r.name, kind=r.kind, q=q, mean=mean, std=std,
                                         saturation=math.nan, chi=chi, grad_ratio=math.nan,
                                         grad_std=math.sqrt(max(g2, 0.0))))
            continue
        j = j1 - 1
        u, y = vals[j], vals[j1]
        q = float(w @ (u * u)) - float(w @ u) ** 2
        mean = float(w @ y)
        std = math.sqrt(max(float(w @ (y * y)) - mean * mean, 0.0))
        fam = family(r.kind) if r.kind in ACTIVATIONS else None
        if fam == "tanh":
            above, below = seg.prob_above(j, [a_sat, -a_sat])
            sat = above + 1.0 - below
        elif fam == "sigmoid":  # sigmoid(u) > thr or < 1 - thr: |u| > logit(thr) (core/kinds.py)
            s_sat = math.log(thr / (1.0 - thr))
            above, below = seg.prob_above(j, [s_sat, -s_sat])
            sat = above + 1.0 - below
        elif fam == "relu":
            sat = 1.0 - seg.prob_above(j, [0.0])[0]
        elif fam == "tail":
            sat = 1.0 - seg.prob_above(j, [TAIL_INPUT])[0]
        else:
            sat = math.nan
        # d out / d segment start: the ops from the segment's start up to and including this one
        d_in = np.ones_like(z)
        for jj in range(j + 1):
            d_in = d_in * _deriv(seg.ops[jj], vals[jj])
        src = source[k]
        scale = plan[src[1]]["var_w"] * plan[src[1]]["fan_in"] if src[0] == "linear" else 1.0
        chi = scale * float(w @ (d_in * d_in))
        preds.append(LayerPrediction(index=i, name=r.name, kind=r.kind, q=q, mean=mean, std=std,
                                     saturation=sat if math.isnan(sat) else min(max(sat, 0.0), 1.0), chi=chi,
                                     grad_ratio=math.nan, grad_std=math.sqrt(max(g2, 0.0))))
    acts = [p_ for p_ in preds if p_.kind in ACTIVATIONS]
    if preds:
        ref = (acts or preds)[-1].grad_std  # the last activation layer's
        for p_ in preds:
            p_.grad_ratio = p_.grad_std / ref if ref > 0 else math.nan
    return preds


# --- the order-to-chaos boundary ------------------------------------------------------------------------------

_E = np.arange(-_ZMAX, _ZMAX + 1e-9, 0.25)
_FIXED_Z = (0.5 * 0.25 * _GL_X + 0.5 * (_E[:-1, None] + _E[1:, None])).ravel()
_FIXED_W = (0.5 * 0.25 * np.broadcast_to(_GL_W, (len(_E) - 1, len(_GL_W)))).ravel() * np.exp(-0.5 * _FIXED_Z ** 2)
_FIXED_W = _FIXED_W / _FIXED_W.sum()


def _tanh_chi(g_eff: float, bias_std: float) -> float:
    """chi at the fixed point q* = g^2 E[tanh(sqrt(q*) z)^2] + bias^2 of a repeated Linear + Tanh block."""
    def tanh_mean(q: float, f) -> float:  # q* stays O(1) here: fixed quarter-wide panels are exact enough
        return float(_FIXED_W @ f(np.tanh(math.sqrt(q) * _FIXED_Z)))

    # q* solves q = g^2 E[tanh^2] + b^2; the right side is increasing and concave in q, so one crossing
    lo, hi = bias_std ** 2, g_eff ** 2 + bias_std ** 2
    if hi - lo < 1e-300:
        return g_eff ** 2
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if g_eff ** 2 * tanh_mean(mid, np.square) + bias_std ** 2 > mid:
            lo = mid
        else:
            hi = mid
    q = 0.5 * (lo + hi)
    if q < 1e-12:
        return g_eff ** 2  # the fixed point is q* = 0, where tanh'(0) = 1
    return g_eff ** 2 * tanh_mean(q, lambda t: (1.0 - t * t) ** 2)


def _chi_at_fixed_point(kind: str, g2: float, bias_var: float) -> float:
    """chi = g2 E[phi'(sqrt(q*) z)^2] at the fixed point of q = g2 E[phi(sqrt(q) z)^2] + bias_var, reached by
    iterating from q = 1 (q may run to 0 or to a large value: chi is taken there)."""
    op = (kind,)
    q = 1.0
    for _ in range(400):
        nq = g2 * float(_FIXED_W @ _apply(op, math.sqrt(q) * _FIXED_Z) ** 2) + bias_var
        nq = min(nq, 1e12)
        if abs(nq - q) <= 1e-12 * max(q, 1e-300) or nq < 1e-14:
            q = nq
            break
        q = nq
    return g2 * float(_FIXED_W @ _deriv(op, math.sqrt(max(q, 0.0)) * _FIXED_Z) ** 2)


def critical_gain(cfg: Config) -> float | None:
    """The gain at which chi = 1 at the fixed point of the variance recursion, for cfg's repeated hidden block.

    Kaiming: 1 for tanh without bias (q* = 0 up to gain 1, where chi = gain^2), higher with a hidden bias;
    sqrt(2) for ReLU (chi = gain^2 / 2 whatever q); 1 for a stack without activations; GELU, SiLU and sigmoid
    numerically, iterating q from 1: sigmoid has a stable q* where chi crosses 1; GELU and SiLU have no stable
    q* > 0 (E[phi^2] / q rises from 1/4 to 1/2), so below the boundary q fades to 0 (chi -> gain^2/4) and
    above it grows without bound (chi -> gain^2/2): the boundary is the gain that keeps q = 1. Other schemes: those divided by
    sqrt(var(W) fan_in) of the first hidden Linear (naive: sqrt(width); torch-default: 1/sqrt 3). None with a
    norm (it resets q every layer, so the gain drops out of chi), with residual blocks (the stream only
    grows: no fixed point), with LSUV (the gain does not apply) or with two kinds of activation."""
    try:
        flat = cfg.model.resolve(max(_vocab_guess(cfg), 2))
    except ConfigError:
        return None  # a stack being edited: no prediction until it is valid
    kinds = {r.kind for r in flat}
    acts = kinds & set(ACTIVATIONS)
    if kinds & set(NORMS) or "residual" in kinds or len(acts) > 1 or cfg.init.scheme == "lsuv":
        return None
    hidden = [r for r in flat if r.kind == "linear" and not r.is_output]
    scale = 1.0
    if cfg.init.scheme != "kaiming":
        if not hidden:
            return None
        w = hidden[0].width
        scale = math.sqrt(_weight_var(cfg.init.scheme, w, w) * w)
    if not acts:
        return 1.0 / scale
    kind = next(iter(acts))
    if kind == "relu":
        return math.sqrt(2.0) / scale
    has_bias = any(r.bias for r in hidden)
    if cfg.init.scheme == "torch-default":
        bias_var = 1.0 / (3.0 * hidden[0].width) if has_bias else 0.0
    else:
        bias_var = cfg.init.hidden_bias_std ** 2 if has_bias else 0.0
    if kind == "tanh" and bias_var == 0:
        return 1.0 / scale
    chi = (lambda g: _tanh_chi(g, math.sqrt(bias_var))) if kind == "tanh" else \
        (lambda g: _chi_at_fixed_point(kind, g * g, bias_var))
    lo, hi = 1e-3, 50.0  # chi rises through 1 once along the gain
    for _ in range(40):  # 5e4 in ratio / 2^40: 1e-8 relative
        mid = math.sqrt(lo * hi)
        if chi(mid) > 1.0:
            hi = mid
        else:
            lo = mid
    return math.sqrt(lo * hi) / scale


def _vocab_guess(cfg: Config) -> int:
    """The output width for resolving a stack where no vocabulary is at hand: an explicit output width, or 27."""
    outs = [s.width for s in cfg.model.layers if s.kind == "linear"]
    return outs[-1] if outs and outs[-1] is not None else 27


def bn_chi(kind: str) -> float:
    """The per-layer backward factor of a Linear + BatchNorm + activation block (square layers), any gain."""
    seg = _Segment(1.0)
    seg.ops.append((kind,))
    z, w = seg.nodes()
    y = seg.values(z)[1]
    dphi2 = float(w @ _deriv((kind,), z) ** 2)
    mean, ex2 = float(w @ y), float(w @ (y * y))
    return dphi2 / (ex2 - mean * mean)  # BN normalises by the per-feature variance around the mean


def _kinds(cfg: Config) -> set[str]:
    """Every kind in the stack, residual branches included."""
    out = set()
    for s in cfg.model.layers:
        out.add(s.kind)
        out |= {t.kind for t in s.layers or []}
    return out


def regime(cfg: Config) -> str:
    """One line on order and chaos for cfg's gain, as the gain sweep's caption says it."""
    gc = critical_gain(cfg)
    kinds = _kinds(cfg)
    if "residual" in kinds:
        return ("residual stream: each block adds its branch's variance to the stream (q grows block after block; "
                "pre-norm branches add a fixed amount, so the stream's std grows like sqrt(depth)); no fixed point")
    if kinds & {"layernorm", "rmsnorm"}:
        return ("LayerNorm / RMSNorm reset q to 1 per example after every Linear: the gain drops out of the "
                "forward pass, no order-to-chaos boundary")
    if "batchnorm" in kinds:
        act = next((k for k in ACTIVATIONS if k in kinds), None)
        extra = f"; gradients still grow x{math.sqrt(bn_chi(act)):.2f} per layer toward the input" if act else ""
        return f"BatchNorm resets q to 1 after every Linear: the gain drops out, no order-to-chaos boundary{extra}"
    if gc is None:
        return "no single critical gain for this stack" + (" (LSUV sets every layer's scale: the gain does not apply)"
                                                           if cfg.init.scheme == "lsuv" else "")
    side = ("ordered: chi < 1, the signal and gradients fade with depth" if cfg.init.gain < gc * (1 - 1e-9) else
            "chaotic: chi > 1, nearby inputs decorrelate and gradients grow toward the input"
            if cfg.init.gain > gc * (1 + 1e-9) else "critical: chi = 1, gradients keep their size with depth")
    return f"critical gain {gc:.3g} (chi = 1 at the fixed point of q); gain {cfg.init.gain:.3g} is {side}"


def theory_dict(cfg: Config, vocab_size: int = 27) -> dict:
    """The `initscope theory --json-out` document."""
    gc = critical_gain(cfg)
    return {"config": cfg.to_dict(), "layers": [p.to_dict() for p in predict(cfg, vocab_size, every_layer=True)],
            "critical_gain": gc, "regime": regime(cfg)}


def sweep_caption(cfg: Config) -> str:
    """The gain sweep's one line on order and chaos (the critical gain is what the vertical line marks)."""
    gc = critical_gain(cfg)
    kinds = _kinds(cfg)
    if "residual" in kinds:
        return "Dashed: wide-net theory. Residual stream: q grows block after block, no fixed point and no critical gain."
    if kinds & set(NORMS):
        name = "BatchNorm" if "batchnorm" in kinds else "LayerNorm / RMSNorm"
        return (f"Dashed: wide-net theory. {name} resets q to 1 after every Linear, so the gain drops out: "
                "no order-to-chaos boundary.")
    if gc is None:
        return "Dashed: wide-net theory. No single critical gain for this stack."
    if kinds & {"gelu", "silu", "sigmoid"}:
        return (f"Dashed: wide-net theory. Critical gain {gc:.3g} (chi = 1 at the fixed point of q): below it the "
                "signal and gradients fade with depth, above it they grow.")
    if "relu" in kinds:
        # chi = gain²/2 only where the scheme divides by sqrt(fan_in) (kaiming); naive's chi is gain² fan_in / 2
        chi = "chi = gain²/2 = 1" if cfg.init.scheme == "kaiming" else "chi = 1"
        return (f"Dashed: wide-net theory. Critical gain {gc:.3g} ({chi}): below it the signal and "
                "gradients shrink layer after layer, above it they grow.")
    return (f"Dashed: wide-net theory. Critical gain {gc:.3g} (chi = 1): below it order, signals and gradients fade "
            "with depth; above it chaos, tanh saturates, gradients grow toward the input.")


def with_gain(cfg: Config, gain: float) -> Config:
    return replace(cfg, init=replace(cfg.init, gain=gain))


def gain_curves(cfg: Config, gains: list[float], vocab_size: int = 27) -> tuple[list[str], np.ndarray]:
    """(layer names, array[gains, layers, 3]) of predicted saturation, std and gradient std: the sweep's columns."""
    rows, names = [], []
    for g in gains:
        preds = predict(with_gain(cfg, g), vocab_size)
        names = [p.name for p in preds]
        rows.append([[p.saturation, p.std, p.grad_std] for p in preds])
    return names, np.array(rows, float).reshape(len(gains), len(names), 3)


def depth_curves(cfg: Config, depths: list[int], width: int, activation: str, batchnorm: bool,
                 vocab_size: int = 27, *, norm: str | None = None, residual: bool = False) -> np.ndarray:
    """array[depths, 3]: the deepest activation layer's predicted std and saturation and the first one's
    gradient std, for cfg's init on `deep_stack(depth, width, batchnorm, activation, norm=, residual=)` (what
    sweeps.depth_sweep measures)."""
    out = []
    rs = cfg.init.residual_scaling if residual else "none"
    for d in depths:
        c = replace(cfg, model=replace(cfg.model, layers=deep_stack(d, width, batchnorm, activation, norm=norm,
                                                                    residual=residual)),
                    init=replace(cfg.init, residual_scaling=rs))
        preds = predict(c, vocab_size)
        out.append([preds[-1].std, preds[-1].saturation, preds[0].grad_std])
    return np.array(out, float)
